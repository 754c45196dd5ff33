"""Events in: admitted, applied to the in-memory views, logged; the state checkpointed; groups backfilled.

`collect` is the one way an event gets in (the in-process tracker, the HTTP collector):
enrich, admit (anonymised without consent), apply to `Memory`, append to the log.
`restore` rebuilds memory at start from the last checkpoint and the log's tail;
a thread checkpoints what changed every few seconds. `publish` and `backfill` add an
attribute group and compute it over the log without holding the lock (`GroupBackfill`).

What an applied event means beyond the views is someone else's: consent withdrawn goes
to `on_withdrawal` (privacy), each live event to the `on_event` listeners (the reader
change feed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from snowplow_signals import RuleIntervention, StreamAttributeGroup

from media_demo import side_state
from media_demo.definitions import ARTICLE_EVENT, ARTICLE_VENDOR
from media_demo.services.backfill import GroupBackfill
from media_demo.services.memory import Memory
from media_demo.services.yielding import let_waiting_threads_run
from media_demo.signals.engine.consent import BEHAVIOURAL, anonymised
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.interventions import InterventionBus
from media_demo.signals.engine.plans import group_id
from media_demo.signals.ingest.enrich import enrich_or_bad
from media_demo.signals.ingest.iglu import SchemaRegistry
from media_demo.signals.storage.checkpoints import Checkpoints, fingerprint
from media_demo.signals.storage.event_log import EventLog

logger = logging.getLogger(__name__)

# A backfill reads the log without the lock, pass after pass, until a pass finds at most this many
# new events; only the events after that (those collected during the last pass) are applied under the lock.
BACKFILL_EVENTS_UNDER_LOCK = 2_000
BACKFILL_PASSES = 20  # then the rest is applied under the lock however many it is
# A checkpoint reads what changed in slices of this many entries per hold of the memory's lock (~1-2 ms each),
# pass after pass, until a pass finds at most `SNAPSHOT_UNDER_LOCK` entries changed meanwhile: those are read
# in the last hold, which is the checkpoint's position. Reading all ~5,000 at once held the lock ~35 ms.
SNAPSHOT_SLICE = 200
SNAPSHOT_UNDER_LOCK = 400
SNAPSHOT_PASSES = 4  # then the rest is read in the last hold however many it is

Item = tuple[str, Any]  # what a checkpoint reads: (group id, entity) of the engine, or ("@", a side-state change)
SIDE = "@"

EventListener = Callable[[CanonicalEvent], None]
Withdrawal = Callable[[str, bool], None]


@dataclass
class _Snapshot:
    """A checkpoint's reading of the changed state: as of `last_seq`, once the log has `ticket` durable."""

    states: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (group id, entity) -> state
    side: dict[tuple[str, str], bytes | None] = field(default_factory=dict)  # side-state rows; None: delete
    side_changes: dict[tuple[str, str], side_state.Change] = field(default_factory=dict)  # row key -> its change
    ticket: int = 0
    last_seq: int = 0
    prints: str = ""


class Ingest:
    """Applies events to `memory` and keeps it durable: the log, checkpoints, backfills."""

    def __init__(
        self,
        memory: Memory,
        log: EventLog,
        schemas: SchemaRegistry,
        checkpoints: Checkpoints,
        bus: InterventionBus,
        checkpoint_interval: float,
    ) -> None:
        self._memory, self._log, self._schemas, self._bus = memory, log, schemas, bus
        self.checkpoints = checkpoints
        self._interval = checkpoint_interval
        self._restoring = False  # replayed events update memory but deliver nothing and delete nothing
        self._dirty: dict[str, set[str]] = {}  # group id -> entities changed since the last checkpoint
        self._unsaved_rows: dict[tuple[str, str], bytes | None] = {}  # side-state rows a failed checkpoint held
        self._backfills: dict[str, GroupBackfill] = {}  # by group id: the groups being backfilled
        self._checkpointing = threading.Lock()
        # While a checkpoint runs: the entities forgotten meanwhile (see `_snapshot` and `checkpoint`)
        self._forgotten: set[str] | None = None
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._listeners: list[EventListener] = []
        self._withdrawal: Withdrawal | None = None

    # --- wiring ---------------------------------------------------------------------------------------------------

    def on_event(self, listener: EventListener) -> Callable[[], None]:
        """Call `listener(event)` after each live event is applied (never for replayed ones); returns the
        unsubscribe function. It runs under the memory's lock, in the applying thread: it must not block."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def on_withdrawal(self, handler: Withdrawal) -> None:
        """`handler(domain_userid, replaying)` when a reader withdraws behavioural consent (under the lock)."""
        self._withdrawal = handler

    # --- start and stop -------------------------------------------------------------------------------------------

    def restore(self) -> int:
        """Rebuild memory from the last checkpoint plus the log's tail; returns the events replayed."""
        memory = self._memory
        restored = self.checkpoints.load(memory.engine, other_prefix=side_state.PREFIX)
        after_seq = 0
        if restored is not None:
            after_seq, raw, rows = restored
            extra = orjson.loads(raw)
            side_state.restore_rows(rows, *memory.side_state)
            if isinstance(extra, dict) and "read_stats" in extra:  # written before entries were kept one by one
                side_state.restore_legacy(extra, *memory.side_state)
        replayed = 0
        self._restoring = True
        try:
            with memory.lock:
                for event in self._log.events(after_seq=after_seq):
                    self._apply(event)
                    replayed += 1
        finally:
            self._restoring = False
        return replayed

    def start(self) -> None:
        """Checkpoint what changed every `checkpoint_interval` seconds, in a thread, until `stop`."""
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="checkpointer", daemon=True)
        self._checkpointer.start()

    def stop(self) -> None:
        """Stop the checkpoint thread (without a last checkpoint: `close` writes one)."""
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join()

    def close(self) -> None:
        """Stop the checkpoint thread and write a last checkpoint."""
        self.stop()
        self.checkpoint()

    # --- events in ------------------------------------------------------------------------------------------------

    def collect(self, payload: Mapping[str, Any]) -> int:
        """Accept one tracker payload: enrich, apply if good, log either way.

        Returns the event-log ticket; `log.wait_durable(ticket)` blocks until it is
        committed, which is when it may be acknowledged.
        """
        result = enrich_or_bad(payload, self._schemas)
        with self._memory.lock:
            if isinstance(result, CanonicalEvent):
                result = self._apply(result)
            return self._log.append(result)

    def _apply(self, event: CanonicalEvent) -> CanonicalEvent:
        """Update every in-memory view of the events (attributes, read and co-read counts, consent, identity links).

        The event is first admitted: anonymised when its reader has not consented to profiling.
        That is enforced here, below every route in (collector, in-process tracker, replay), so
        no code path can profile a reader without consent. Returns the event as admitted: what the
        log keeps. Called with the memory's lock held.
        """
        memory = self._memory
        event = event if memory.consent.may_profile(event) else anonymised(event)
        choice = memory.consent.observe(event)
        memory.links.observe(event)
        changed = memory.engine.ingest(event)
        for gid, entity in changed:
            self._dirty.setdefault(gid, set()).add(entity)
        fired = memory.interventions.evaluate(event, changed)
        if fired and not self._restoring:
            self._bus.publish(fired)
        if event.key == (ARTICLE_VENDOR, ARTICLE_EVENT) and event.event_data:
            reader = event.atomic.get("domain_userid") or None  # None: a read that counts for no one
            memory.read_stats.observe(event.event_data["slug"], reader, event.timestamp)
            if reader is not None:  # an anonymised read (no behavioural consent) co-reads with nothing
                memory.coreads.observe(event.event_data["slug"], reader)
        if choice is not None and self._withdrawal is not None:
            before, after = choice
            if before is not None and before.allows(BEHAVIOURAL) and not after.allows(BEHAVIOURAL):
                self._withdrawal(event.atomic["domain_userid"], self._restoring)
        if not self._restoring:
            for listener in tuple(self._listeners):
                try:
                    listener(event)
                except Exception:  # a listener whose loop has gone must not break ingestion
                    logger.exception("an event listener failed")
        return event

    @property
    def last_seq(self) -> int:
        """The seq of the latest good event appended to the log (the next is one more)."""
        return self._log.position()[1]

    # --- forgetting -----------------------------------------------------------------------------------------------

    def forget(self, entities: set[str], readers: set[str], through_seq: int) -> int:
        """Drop these entities' state (in memory, in the checkpoint, in running backfills: there as built by
        the events up to `through_seq`); returns how many (group, entity) states there were."""
        with self._memory.lock:
            profiles = self._memory.forget(entities, readers)
            for backfill in self._backfills.values():
                backfill.forget(entities, through_seq)
            for changed in self._dirty.values():
                changed -= entities
            for key in [key for key in self._unsaved_rows if key[1] in entities]:
                del self._unsaved_rows[key]
            if self._forgotten is not None:
                self._forgotten |= entities
            if not self._restoring:
                self.checkpoints.forget(entities)
            return profiles

    # --- checkpoints ----------------------------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """Write the state changed since the last checkpoint (and where it stands) to the database.

        One at a time; what a failed write held is written by the next one. Neither step stalls the
        collector for long: the state is read in slices (`_snapshot`), and written in short
        transactions on the log's own writer, between its group commits (`Checkpoints.save`).
        """
        memory = self._memory
        with self._checkpointing:
            snap = self._snapshot()
            pending = self._unsaved_rows
            pending.update(snap.side)
            states: dict[str, list[tuple[str, bytes]]] = {}
            for (gid, entity), raw in snap.states.items():
                states.setdefault(gid, []).append((entity, raw))
            try:
                self._log.wait_durable(snap.ticket)  # never record a position the log has not reached
                self.checkpoints.save(
                    states,
                    snap.last_seq,
                    snap.prints,
                    b"{}",
                    [(group, entity, raw) for (group, entity), raw in pending.items() if raw is not None],
                    [key for key, raw in pending.items() if raw is None],
                    run=self._log.run_on_writer,
                )
            except BaseException:
                with memory.lock:  # the next checkpoint writes these entities' states again
                    for gid, entity in snap.states:
                        self._dirty.setdefault(gid, set()).add(entity)
                raise
            else:
                pending.clear()
            finally:
                with memory.lock:
                    late, self._forgotten = self._forgotten or set(), None
                    if late:  # forgotten while the rows were written, which may have put some of theirs back
                        self.checkpoints.forget(late)
                        self._reread(late, snap)

    def _reread(self, entities: set[str], snap: _Snapshot) -> None:
        """What `memory` holds now for these entities, taken from the snapshot, goes to the next checkpoint
        (`checkpoint` deleted their rows after writing them: they were forgotten meanwhile). Lock held."""
        engine = self._memory.engine
        for gid, entity in snap.states:
            if entity in entities and engine.has_state(gid, entity):
                self._dirty.setdefault(gid, set()).add(entity)
        changes = [change for key, change in snap.side_changes.items() if key[1] in entities]
        self._unsaved_rows.update(side_state.rows_of(changes, *self._memory.side_state))

    def _take(self) -> list[Item]:
        """What changed since the last call, named (lock held; cheap: nothing is read yet)."""
        dirty, self._dirty = self._dirty, {}
        items: list[Item] = [(gid, entity) for gid, entities in dirty.items() for entity in entities]
        items += [(SIDE, change) for change in side_state.take_changed(*self._memory.side_state)]
        return items

    def _read(self, items: list[Item], snap: _Snapshot) -> None:
        """Serialise these entries as they are now into `snap`, a later read replacing an earlier (lock held)."""
        engine = self._memory.engine
        known = set(engine.group_ids())
        changes = []
        for gid, key in items:
            if gid == SIDE:
                changes.append(key)
                continue
            dumped = next(iter(engine.dump_states(gid, (key,))), None) if gid in known else None
            if dumped is None:  # its state went (forgotten) since an earlier pass read it
                snap.states.pop((gid, key), None)
            else:
                snap.states[gid, key] = dumped[1]
        side = self._memory.side_state
        for change in changes:
            for row_key, raw in side_state.rows_of((change,), *side):
                snap.side[row_key] = raw
                snap.side_changes[row_key] = change

    def _definitions(self) -> str:
        """The fingerprint a checkpoint is taken with (lock held). A group being backfilled is left out: a restart
        from this checkpoint must not take its partial state for the whole (the definitions then differ, so the
        log is replayed)."""
        engine = self._memory.engine
        return fingerprint(g for g in engine.groups if group_id(g.name, g.version or 1) not in self._backfills)

    def _snapshot(self) -> _Snapshot:
        """The changed state as of one log position, read without holding the lock for long.

        Like a backfill: the entries changed since the last checkpoint are read in slices, the lock
        released between them, while events go on changing some of them. Every entry an event changes
        meanwhile is marked changed again, so the next pass reads it again (and so on, while each pass
        finds fewer); the last pass reads what is left and takes the log's position in one hold. So each
        entry written is as it stands at that position: read then, or read earlier and untouched since
        (a test holds a slow snapshot to that). Reading entries as of different positions, each slice
        with its own, would not do: a restart cannot replay "from the oldest" without counting the events
        between twice for the entries read later.
        """
        memory = self._memory
        snap = _Snapshot()
        with memory.lock:
            self._forgotten = set()
            items = self._take()
            definitions = self._definitions()
        for _ in range(SNAPSHOT_PASSES):
            for start in range(0, len(items), SNAPSHOT_SLICE):
                if start:
                    let_waiting_threads_run()
                with memory.lock:
                    self._read(items[start : start + SNAPSHOT_SLICE], snap)
            with memory.lock:
                items = self._take()
                if len(items) <= SNAPSHOT_UNDER_LOCK:
                    self._finish(items, snap, definitions)
                    return snap
        with memory.lock:
            self._finish(self._take(), snap, definitions)
        return snap

    def _finish(self, items: list[Item], snap: _Snapshot, definitions: str) -> None:
        """The snapshot's last hold: read what is left, then what an earlier pass read but may no longer hold
        (a definition published, an entity forgotten), and take the position (lock held)."""
        self._read(items, snap)
        snap.prints = self._definitions()
        stale: list[Item] = []
        if snap.prints != definitions:  # a group's definition changed: its states may have been rebuilt
            stale += list(snap.states)
        forgotten, self._forgotten = self._forgotten or set(), set()
        if forgotten:  # their rows were deleted; what the events since built for them (if anything) is read now
            stale += [key for key in snap.states if key[1] in forgotten]
            stale += [(SIDE, change) for key, change in snap.side_changes.items() if key[1] in forgotten]
            for key in [key for key in snap.side if key[1] in forgotten]:
                del snap.side[key]
        self._read(stale, snap)
        snap.ticket, snap.last_seq = self._log.position()

    def _checkpoint_loop(self) -> None:
        while not self._stop.wait(self._interval):
            if self._dirty:
                try:
                    self.checkpoint()
                except Exception:  # keep serving: the log alone is enough to recover
                    logger.exception("checkpoint failed")

    # --- definitions ----------------------------------------------------------------------------------------------

    def publish(self, group: StreamAttributeGroup) -> bool:
        """Have the engine evaluate `group`; True when it is new or changed (and needs a backfill)."""
        with self._memory.lock:  # `collect` iterates the engine's groups
            changed = self._memory.engine.publish(group)
            running = self._backfills.get(group_id(group.name, group.version or 1))
            if changed and running is not None:
                running.cancel()  # it was building the previous definition's state
            return changed

    def publish_intervention(self, rule: RuleIntervention) -> None:
        """Evaluate `rule` from the next event on (ValueError if it reads unknown attributes)."""
        with self._memory.lock:
            self._memory.interventions.publish(rule)

    def backfill(self, group: StreamAttributeGroup) -> int:
        """Compute a newly published group over the whole event log; returns the events replayed.

        The stored events are streamed, in seq order, through the group's evaluators in an
        engine of its own (`GroupBackfill`), without the lock: pages and the collector go on
        meanwhile, their events updating the group live. Then, under the lock (nothing can be
        collected), the events logged since the last one read are applied, and the state built
        is swapped in for the live one. Every logged event is in it exactly once: each is
        applied once, in seq order, from the one log; what live ingestion built meanwhile is
        dropped. A reset, or a new definition of the group published meanwhile, cancels it.
        """
        gid = group_id(group.name, group.version or 1)
        memory = self._memory
        with memory.lock:
            job = GroupBackfill(memory.engine.definition(gid))
            if (previous := self._backfills.get(gid)) is not None:
                previous.cancel()
            self._backfills[gid] = job
        try:
            for _ in range(BACKFILL_PASSES):
                self._log.flush()
                if job.catch_up(self._log.entries(after_seq=job.position)) <= BACKFILL_EVENTS_UNDER_LOCK:
                    break
            with memory.lock:
                if job.cancelled:
                    return job.replayed
                self._log.flush()  # every event collected so far is committed, and none can be until the swap
                job.catch_up(self._log.entries(after_seq=job.position))
                job.finish()
                self._dirty.setdefault(gid, set()).update(memory.engine.adopt_states(gid, job.engine))
        finally:
            with memory.lock:
                if self._backfills.get(gid) is job:
                    del self._backfills[gid]
        return job.replayed

    # --- reset ----------------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every event: the log, the checkpoint and memory (`/micro/reset`, for tests).

        Not while a checkpoint runs: it would write what it read before the reset after it."""
        with self._checkpointing, self._memory.lock:
            for backfill in self._backfills.values():
                backfill.cancel()  # built from the events being deleted
            self._backfills = {}
            self._log.reset()
            self.checkpoints.clear()
            self._memory.reset()
            self._dirty = {}
            self._unsaved_rows = {}
