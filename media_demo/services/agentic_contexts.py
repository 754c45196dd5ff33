"""Agentic context: the published event logs served from bounded per-session buffers.

Why buffers and not a query: the event log indexes events by (segment, reader), not by
session, so a session's events would need a scan of the newest segments per request. The
buffers (`SessionBuffers`, kept in `Memory`) are fed by `Ingest`'s `on_event` with each
live event as admitted (an event without behavioural consent is anonymised and has no
session, so it never enters), emptied by `Memory.forget` (deleted readers, withdrawn
consent) and `Memory.reset`. At start, and whenever the published set changes, they are
rebuilt from the newest `tail_events` of the log: no window is longer than an hour, and a
log that has seen more than `tail_events` events in its last hour starts with fewer.
"""

from __future__ import annotations

import logging
import threading

from snowplow_signals import EventLog as EventLogDefinition

from media_demo.signals.engine.event_logs import (
    CompiledEventLog,
    InvalidEventLogError,
    SessionBuffers,
    Window,
    compile_event_log,
)
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.storage.event_log import EventLog
from media_demo.signals.storage.registry import DefinitionRegistry

logger = logging.getLogger(__name__)

REBUILD_TAIL_EVENTS = 100_000


class AgenticContexts:
    """Keeps `buffers` serving the registry's published event logs."""

    def __init__(
        self,
        buffers: SessionBuffers,
        log: EventLog,
        registry: DefinitionRegistry,
        lock: threading.RLock,
        tail_events: int = REBUILD_TAIL_EVENTS,
    ) -> None:
        self._buffers, self._log, self._registry, self._lock = buffers, log, registry, lock
        self._tail = tail_events
        self._rebuilding = threading.Lock()

    def published(self) -> list[CompiledEventLog]:
        """The published event logs this engine can serve (one it cannot is logged and left out)."""
        compiled = []
        for definition in self._registry.definitions("event_log_published"):
            assert isinstance(definition, EventLogDefinition)
            try:
                compiled.append(compile_event_log(definition))
            except (InvalidEventLogError, ValueError, TypeError) as exc:
                logger.error("event log %r cannot be served: %s", definition.name, exc)
        return compiled

    def observe(self, event: CanonicalEvent) -> None:
        """`Ingest.on_event`: buffer a live event (under the memory's lock; cheap, never blocks on I/O)."""
        self._buffers.observe(event)

    def rebuild(self) -> int:
        """Serve the published set, buffers rebuilt from the log's tail; returns the events read.

        Like a backfill: the tail is read without the memory's lock into fresh buffers, then, under
        it (nothing can be collected), the events logged since are read and the fresh buffers
        swapped in. Readers deleted meanwhile are dropped from them at the swap (`adopt`).
        """
        with self._rebuilding:
            logs = self.published()
            fresh = self._buffers.fresh(logs)
            try:
                read = self._fill(fresh, bool(logs))
            except BaseException:
                self._buffers.abandon(fresh)  # the buffers served so far stay
                raise
            return read

    def _fill(self, fresh: SessionBuffers, any_logs: bool) -> int:
        read, last = 0, 0
        if any_logs:
            self._log.flush()
            last = max(0, self._log.position()[1] - self._tail)
            for seq, event in self._log.entries(after_seq=last):
                fresh.observe(event)
                last, read = seq, read + 1
        with self._lock:
            if any_logs:
                self._log.flush()  # every event collected so far is committed, and none can be until the swap
                for seq, event in self._log.entries(after_seq=last):
                    fresh.observe(event)
                    last, read = seq, read + 1
            self._buffers.adopt(fresh)
        return read

    def window(self, name: str, identifier: str) -> Window | None:
        """Session `identifier`'s entries of event log `name` in its window; None when it is not served."""
        return self._buffers.window(name, identifier)
