"""Where the tracker's payloads go: straight into the engine, or to a collector."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import orjson
from snowplow_tracker import AsyncEmitter
from snowplow_tracker.emitters import PAYLOAD_DATA_SCHEMA

logger = logging.getLogger(__name__)
TP2_PATH = "/com.snowplowanalytics.snowplow/tp2"
MAX_PENDING = 100_000  # payloads kept through a collector outage; past this the oldest are dropped (logged)
MAX_RETRY_DELAY = 30.0
NUDGE_SECONDS = 0.25  # the soonest a new event brings the next try during an outage

PayloadSink = Callable[[dict[str, Any]], Any]
PROTOCOLS: dict[str, Literal["http", "https"]] = {"http": "http", "https": "https"}


class InProcessEmitter:
    """A snowplow-tracker emitter that hands each payload to a function, no HTTP.

    The payload is exactly what would travel to a collector, so the engine
    parses it with the same code as the HTTP collector route.
    """

    def __init__(self, sink: PayloadSink) -> None:
        self._sink = sink
        self.last_result: Any = None

    def input(self, payload: dict[str, Any]) -> None:
        """Hand one payload to the sink at once (the tracker calls this for each event)."""
        # The tracker protocol sends every value as a string; so do we.
        self.last_result = self._sink({k: str(v) for k, v in payload.items() if v is not None})

    def flush(self) -> None:
        """Nothing is buffered: each payload was delivered in `input`."""

    def sync_flush(self) -> None:
        """Nothing is buffered: each payload was delivered in `input`."""

    def async_flush(self) -> None:
        """Nothing is buffered: each payload was delivered in `input`."""


def http_emitter(collector_url: str) -> AsyncEmitter:
    """A standard POST emitter for a real Snowplow collector (`https://host[:port]`).

    Asynchronous, so a slow collector never blocks the page's event handler.
    """
    parts = urlsplit(collector_url if "://" in collector_url else f"https://{collector_url}")
    if not parts.hostname:
        raise ValueError(f"SNOWPLOW_COLLECTOR_URL: no host in {collector_url!r}")
    # (The tracker refuses any other scheme too, with a ValueError that does not say which.)
    protocol = PROTOCOLS.get(parts.scheme or "https")
    if protocol is None:
        raise ValueError(f"SNOWPLOW_COLLECTOR_URL: the scheme must be http or https, got {parts.scheme!r}")
    return AsyncEmitter(
        parts.hostname,
        protocol=protocol,
        port=parts.port,
        method="post",
        batch_size=1,
    )


class CollectorEmitter:
    """Sends each payload to a collector at once, and returns when the collector has taken it.

    For a UI worker of a cluster: the engine's collector answers only once an event is
    applied and committed, so when a tracking call returns, the page can read its effect
    back. snowplow-tracker's own `Emitter` sends synchronously too, but holds one lock
    for the whole process while it does, over a new connection per request: here every
    thread sends at once over pooled keep-alive connections.

    A payload the collector did not take (unreachable, 5xx, too slow) is kept and re-sent,
    in order, by a background thread with back-off; while some are waiting, new ones queue
    behind them, so an outage of the engine loses nothing the worker tracked (up to
    `MAX_PENDING`). A 4xx is final: the collector kept the payload as a bad event.
    """

    def __init__(self, collector_url: str, timeout: float = 2.0) -> None:
        self.endpoint = collector_url.rstrip("/") + TP2_PATH
        self._http = httpx.Client(timeout=timeout, limits=httpx.Limits(max_keepalive_connections=16))
        self._pending: collections.deque[dict[str, str]] = collections.deque()
        self._lock = threading.Condition()
        self._closed = False
        self._kept = 0  # payloads ever kept for the retrier: a new one nudges it to try at once
        self._retrier = threading.Thread(target=self._retry_loop, name="collector-retry", daemon=True)
        self._retrier.start()

    @property
    def pending(self) -> int:
        """Payloads waiting for the collector to come back."""
        with self._lock:
            return len(self._pending)

    def input(self, payload: dict[str, Any]) -> None:
        """Send one payload now (blocking until the collector answers, at most the timeout)."""
        event = {k: str(v) for k, v in payload.items() if v is not None}
        with self._lock:
            if self._pending:  # an outage is under way: keep the order, the retrier sends it
                self._keep(event)
                return
        if not self._send([event]):
            with self._lock:
                self._keep(event)

    def _keep(self, event: dict[str, str]) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()
            logger.error(
                "collector %s unreachable: %d payloads waiting, the oldest dropped", self.endpoint, MAX_PENDING
            )
        self._pending.append(event)
        self._kept += 1
        self._lock.notify_all()

    def _send(self, events: list[dict[str, str]]) -> bool:
        """POST `events` as one batch; True when the collector took them (or refused them for good)."""
        sent = str(int(time.time() * 1000))
        body = orjson.dumps({"schema": PAYLOAD_DATA_SCHEMA, "data": [{**e, "stm": sent} for e in events]})
        try:
            answer = self._http.post(self.endpoint, content=body, headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            logger.warning("collector %s: %s; the events are kept and re-sent", self.endpoint, exc or type(exc))
            return False
        if answer.status_code >= 500:
            logger.warning(
                "collector %s answered %d; the events are kept and re-sent", self.endpoint, answer.status_code
            )
            return False
        if answer.status_code >= 400:
            logger.error("collector %s refused %d events: %s", self.endpoint, len(events), answer.text[:200])
        return True

    def _retry_loop(self) -> None:
        delay = 0.1
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._pending or self._closed)
                if self._closed and not self._pending:
                    return
                batch = list(self._pending)[:100]
                seen = self._kept  # anything kept after this is news for `_back_off`
            if self._send(batch):
                with self._lock:
                    for _ in batch:
                        self._pending.popleft()
                    self._lock.notify_all()
                delay = 0.1
                continue
            if self._closed:
                logger.error("collector %s unreachable at shutdown: %d events not sent", self.endpoint, len(batch))
                return
            self._back_off(delay, seen)
            delay = min(MAX_RETRY_DELAY, delay * 2)

    def _back_off(self, delay: float, seen: int) -> None:
        """Wait `delay` seconds before the next try, or less when a reader tracked something new since the
        `seen`-th kept payload (at the soonest after NUDGE_SECONDS): the collector may be back, and that
        reader's page waits on it."""
        time.sleep(NUDGE_SECONDS)
        with self._lock:
            self._lock.wait_for(lambda: self._kept != seen or self._closed, timeout=max(0.0, delay - NUDGE_SECONDS))

    def flush(self) -> None:
        """Nothing to do: each payload was sent in `input` (those waiting are the retrier's)."""

    def sync_flush(self) -> None:
        """Wait up to the client's timeout for payloads kept through an outage to go."""
        deadline = time.monotonic() + 5.0
        with self._lock:
            self._lock.wait_for(lambda: not self._pending, timeout=max(0.0, deadline - time.monotonic()))

    def async_flush(self) -> None:
        """Nothing to do: the retrier sends whatever is waiting."""

    def close(self) -> None:
        """Stop the retrier after one last try at what is waiting."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._retrier.join(timeout=10)
        self._http.close()
