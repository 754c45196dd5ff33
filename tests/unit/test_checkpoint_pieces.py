"""Checkpoints read in slices and written in pieces still restore exactly what a full replay builds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from media_demo.services import ingest as ingest_module
from media_demo.services.ingest import Ingest
from media_demo.signals.storage import checkpoints as checkpoints_module
from media_demo.signals.storage.event_log import EventLog
from tests.unit.test_ingest_service import HOME, Parts, build

Dump = tuple[dict[str, list[tuple[str, bytes]]], Any]


def _state(parts: Parts) -> Dump:
    """Every attribute state and the side state, comparable across instances."""
    memory = parts.memory
    engine = memory.engine
    states = {gid: sorted(engine.dump_states(gid)) for gid in engine.group_ids()}
    side = (memory.read_stats.dump(), sorted(map(str, memory.interventions.dump())), sorted(memory.consent.dump()))
    return states, side


def _replayed(path: Path) -> Dump:
    """The state a full replay of the log at `path` builds (its checkpoint cleared first)."""
    parts = build(path)
    try:
        parts.ingest.checkpoints.clear()
        parts.ingest.restore()
        return _state(parts)
    finally:
        parts.ingest.stop()
        parts.log.close()


def _restored(path: Path) -> tuple[Dump, int]:
    """The state a restart from the checkpoint and the log's tail builds; and the events replayed."""
    parts = build(path)
    try:
        replayed = parts.ingest.restore()
        return _state(parts), replayed
    finally:
        parts.ingest.stop()
        parts.log.close()


@pytest.fixture
def first(tmp_path: Path) -> Iterator[Parts]:
    parts = build(tmp_path / "events.db")
    parts.ingest.restore()
    yield parts
    parts.ingest.stop()  # a crash: no last checkpoint
    parts.log.close()


def test_events_between_the_slices_of_a_snapshot_do_not_break_the_cut(
    first: Parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers keep reading while the checkpoint reads their state one entry per hold: each entry written
    must be as it stands at the checkpoint's position, or a restart counts some events twice (or never)."""
    readers = [first.reader() for _ in range(6)]
    for reader in readers:
        first.tracker.page_view(reader, HOME)
    monkeypatch.setattr(ingest_module, "SNAPSHOT_SLICE", 1)
    monkeypatch.setattr(ingest_module, "SNAPSHOT_PASSES", 1)  # one pass in slices, then the last hold
    read, finish = Ingest._read, Ingest._finish
    views = iter(readers * 2)
    last_hold = False

    def read_then_collect(self: Ingest, items: list[Any], snap: Any) -> None:
        read(self, items, snap)
        if not last_hold and (reader := next(views, None)) is not None:  # between two slices: one more event
            first.tracker.page_view(reader, HOME)

    def finishing(self: Ingest, *args: Any) -> None:
        nonlocal last_hold
        last_hold = True
        finish(self, *args)

    monkeypatch.setattr(Ingest, "_read", read_then_collect)
    monkeypatch.setattr(Ingest, "_finish", finishing)
    first.ingest.checkpoint()
    monkeypatch.setattr(Ingest, "_read", read)
    assert last_hold
    first.tracker.page_view(readers[0], HOME)  # only in the log's tail
    first.log.flush()
    assert next(views, None) is None  # the events did land between slices
    path = tmp_path / "events.db"
    first.ingest.stop()
    first.log.close()

    restored, replayed = _restored(path)
    assert replayed == 1  # the checkpoint's position took in every event collected during the snapshot
    assert restored == _replayed(path)


class CrashError(Exception):
    """The process died between two of a checkpoint's transactions."""


def _dying_at(phase: str, nth: int, run: Callable[[Callable[[Connection], Any]], Any]) -> Callable[..., Any]:
    """`run`, but the `nth` job of `phase` (`_stage`, `_commit`, `_move`: `Checkpoints.save`'s steps) never runs."""
    seen = 0

    def dying(job: Callable[[Connection], Any]) -> Any:
        nonlocal seen
        if getattr(getattr(job, "func", None), "__name__", "") == phase:
            seen += 1
            if seen == nth:
                raise CrashError
        return run(job)

    return dying


@pytest.mark.parametrize(
    ("phase", "nth", "committed"),
    [("_stage", 1, False), ("_stage", 2, False), ("_commit", 1, False), ("_move", 1, True), ("_move", 2, True)],
)
def test_a_save_cut_short_restores_the_old_checkpoint_or_the_new_one_whole(
    first: Parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, phase: str, nth: int, committed: bool
) -> None:
    monkeypatch.setattr(checkpoints_module, "PIECE_ROWS", 4)  # several pieces to stage and to move
    readers = [first.reader() for _ in range(4)]
    for reader in readers:
        first.tracker.page_view(reader, HOME)
    first.ingest.checkpoint()
    for reader in readers:  # every entity changes again: the next checkpoint rewrites their rows
        first.tracker.page_view(reader, HOME)
    log: EventLog = first.log
    run_on_writer = log.run_on_writer
    monkeypatch.setattr(log, "run_on_writer", _dying_at(phase, nth, run_on_writer))
    with pytest.raises(CrashError):
        first.ingest.checkpoint()
    monkeypatch.setattr(log, "run_on_writer", run_on_writer)
    path = tmp_path / "events.db"
    first.ingest.stop()
    first.log.close()

    restored, replayed = _restored(path)
    assert restored == _replayed(path)  # never a mix of the two checkpoints' rows
    assert (replayed == 0) is committed  # the new one whole, or the old one and the log's tail

    again = build(path)  # the next save tidies up after the one cut short, and the result still holds
    try:
        again.ingest.restore()
        again.tracker.page_view(readers[0], HOME)
        again.ingest.checkpoint()
    finally:
        again.ingest.stop()
        again.log.close()
    restored, replayed = _restored(path)
    assert replayed == 0 and restored == _replayed(path)


def test_a_job_runs_on_the_writer_between_commits_and_its_error_reaches_the_caller(first: Parts) -> None:
    log = first.log
    assert log.run_on_writer(lambda connection: connection.exec_driver_sql("SELECT 41 + 1").scalar()) == 42

    def failing(_connection: Connection) -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        log.run_on_writer(failing)
    first.tracker.page_view(first.reader(), HOME)
    log.flush()  # the log commits on after a job failed
    assert log.counts()["good"] == 2


def test_once_the_log_is_closed_a_job_runs_on_a_connection_of_its_own(first: Parts) -> None:
    """A last checkpoint may come after the log closed (a shutdown in another order): it is still written."""
    first.log.close()
    assert first.log.run_on_writer(lambda connection: connection.exec_driver_sql("SELECT 7").scalar()) == 7
