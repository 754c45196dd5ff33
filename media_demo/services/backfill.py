"""A newly published attribute group computed over the event log without stopping the app.

`GroupBackfill` builds the group's state in an attribute engine of its own, from the
log's events in seq order, with no lock of the app's held: pages and the collector keep
running meanwhile. Whoever runs it applies the few events that arrived meanwhile under
the app's lock and swaps the state in (`AttributeEngine.adopt_states`).

Readers forgotten while it runs (deletion, consent withdrawn) are forgotten in its
state too, at the point of the stream where the app forgot them: `forget(entities,
through_seq)` erases what the events up to `through_seq` built for them, before any
later event is applied, as live ingestion and a replay do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from snowplow_signals import StreamAttributeGroup

from media_demo.services.yielding import let_waiting_threads_run
from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.plans import group_id

# Every this many events (about 2 ms of work) the backfill lets threads waiting for the GIL run.
YIELD_EVERY = 256


class GroupBackfill:
    """One group's state, built from the log's events above `position` as they are handed over."""

    def __init__(self, group: StreamAttributeGroup) -> None:
        self.group = group
        self.gid = group_id(group.name, group.version or 1)
        self.engine = AttributeEngine([group])
        self.position = 0  # the seq of the last event applied
        self.replayed = 0
        self.cancelled = False
        self._forgets: list[tuple[int, frozenset[str]]] = []  # (through seq, entities), lowest seq first
        self._forgets_lock = threading.Lock()

    def catch_up(self, entries: Iterable[tuple[int, CanonicalEvent]]) -> int:
        """Apply `entries` ((seq, event), in seq order, above `position`); returns how many.

        Stops early once cancelled. A forget whose `through_seq` is below an event's seq
        is applied before that event: any forget registered before the event was read has
        a lower `through_seq` than the event's seq, so none is missed.
        """
        applied = 0
        ingest = self.engine.ingest
        for seq, event in entries:
            if self.cancelled:
                break
            if self._forgets and self._forgets[0][0] < seq:
                self._forget_through(seq - 1)
            ingest(event)
            self.position = seq
            applied += 1
            if applied % YIELD_EVERY == 0:
                let_waiting_threads_run()
        self.replayed += applied
        return applied

    def forget(self, entities: Iterable[str], through_seq: int) -> None:
        """Erase what the events up to `through_seq` built for `entities` (the app forgot them there)."""
        with self._forgets_lock:
            self._forgets.append((through_seq, frozenset(entities)))
            self._forgets.sort(key=lambda forget: forget[0])

    def finish(self) -> None:
        """Apply the forgets still pending: call once every event has been handed over."""
        self._forget_through(None)

    def cancel(self) -> None:
        """The state would be wrong (the log was reset, the group changed): stop, and swap nothing in."""
        self.cancelled = True

    def _forget_through(self, seq: int | None) -> None:
        with self._forgets_lock:
            cut = len(self._forgets) if seq is None else sum(1 for through, _ in self._forgets if through <= seq)
            due, self._forgets = self._forgets[:cut], self._forgets[cut:]
        for _through, entities in due:
            self.engine.forget(entities)
