"""A UI worker follows what happens in the engine service: its `/api/engine/feed` Server-Sent Events.

Three kinds of notice: an intervention fired (put on this worker's bus, which delivers it
to the tabs connected here: each worker hears every one, each tab is on one worker),
readers forgotten (their tab states are wiped), readers whose events were just applied
(their open inspectors refresh). A dropped connection is reopened with back-off; notices
missed meanwhile are not replayed: an intervention is an offer of the moment, a deletion
also wipes the tab states it finds in the shared store when it is made, and an inspector
refreshes on its next event.

The stream is read with httpx in a thread of its own and parsed here: the format is four
kinds of line (`event:`, `data:`, a comment, a blank line ending a notice).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import orjson

from media_demo.services.remote_reads import EngineClient, fired_intervention
from media_demo.signals.engine.interventions import FiredIntervention

logger = logging.getLogger(__name__)
FEED_PATH = "/api/engine/feed"
READ_TIMEOUT_SECONDS = 30.0  # the engine sends a keep-alive comment every 10 s: silence this long is a dead link
MAX_BACKOFF_SECONDS = 10.0


def notices(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) of each notice in a stream of SSE lines; comments and unnamed events are skipped."""
    kind, data = "", list[str]()
    for line in lines:
        if not line:
            if kind and data:
                yield kind, orjson.loads("\n".join(data))
            kind, data = "", list[str]()
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            kind = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())


class EngineFeed:
    """Follows the engine's feed in a daemon thread and hands each notice to its handler."""

    def __init__(
        self,
        client: EngineClient,
        on_intervention: Callable[[FiredIntervention], Any],
        on_forgotten: Callable[[frozenset[str], frozenset[str]], None],
        on_applied: Callable[[list[str]], None],
    ) -> None:
        self._client = client
        self._handlers: dict[str, Callable[[Any], None]] = {
            "intervention": lambda doc: on_intervention(fired_intervention(doc)),
            "forgotten": lambda doc: on_forgotten(frozenset(doc["devices"]), frozenset(doc["users"])),
            "applied": lambda readers: on_applied([str(r) for r in readers]),
        }
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, name="engine-feed", daemon=True)

    @property
    def connected(self) -> bool:
        """Whether the feed is open now."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the feed is open (True), or `timeout` seconds pass (False)."""
        return self._connected.wait(timeout)

    def start(self) -> None:
        """Start following."""
        self._thread.start()

    def close(self) -> None:
        """Stop following (the open stream is closed at once)."""
        self._stop.set()
        response = self._response
        if response is not None:
            response.close()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self._follow()
                backoff = 0.1
            except Exception as exc:  # the engine is down or restarting: try again, never give up
                if self._stop.is_set():
                    return
                logger.warning("engine feed %s: %s; reconnecting in %.1f s", self._client.base_url, exc, backoff)
            self._connected.clear()
            self._stop.wait(backoff)
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)

    def _follow(self) -> None:
        timeout = httpx.Timeout(5.0, read=READ_TIMEOUT_SECONDS)
        with self._client.stream(FEED_PATH, timeout) as response:
            self._response = response
            response.raise_for_status()
            self._connected.set()
            for kind, data in notices(response.iter_lines()):
                handler = self._handlers.get(kind)
                if handler is None:
                    continue
                try:
                    handler(data)
                except Exception:  # one bad notice must not stop the feed
                    logger.exception("engine feed: handling a %r notice failed", kind)
        self._response = None
