"""Where the tracker's payloads go: straight into the engine, or to a collector."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

from snowplow_tracker import AsyncEmitter

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
