"""Durability without a blocked thread: `EventLog.on_durable` and the collector's `Intake`.

A collector answers 200 only once the request's events are committed: these check that the
callback and the awaited future come after the commit (never before), at once for what is
already durable, and that a failure reaches the request instead of hanging it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from media_demo.signals.http.intake import Intake
from media_demo.signals.storage.event_log import EventLog
from tests.factories import page_view
from tests.loop_watch import run_apart


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EventLog]:
    # A long interval: nothing is committed unless someone waits for it.
    opened = EventLog(f"sqlite:///{tmp_path / 'log.db'}", flush_interval=30.0)
    yield opened
    opened.close()


def test_on_durable_calls_back_after_the_commit_and_at_once_when_already_committed(log: EventLog) -> None:
    ticket = log.append(page_view("reader-1"))
    heard: list[tuple[BaseException | None, int]] = []
    done = threading.Event()

    def callback(error: BaseException | None) -> None:
        heard.append((error, log.counts()["good"]))  # what is committed when the callback runs
        done.set()

    log.on_durable(ticket, callback)
    assert done.wait(5), "no callback: a waiting callback must make the writer commit before its interval"
    assert heard == [(None, 1)]

    log.on_durable(ticket, lambda error: heard.append((error, -1)))  # durable already: called here, now
    assert heard[-1] == (None, -1)


def test_callbacks_are_called_for_their_own_tickets_only(log: EventLog) -> None:
    first = log.append(page_view("reader-1"))
    called: list[int] = []
    log.on_durable(first + 1, lambda _error: called.append(first + 1))  # not appended yet
    log.on_durable(first, lambda _error: called.append(first))
    log.flush()
    assert called == [first]
    log.append(page_view("reader-2"))
    log.flush()
    assert called == [first, first + 1]


def test_intake_answers_after_the_commit_in_arrival_order(log: EventLog) -> None:
    intake = Intake()
    order: list[str] = []

    def collect(name: str) -> int:
        order.append(name)
        return log.append(page_view(name))

    async def run() -> int:
        await asyncio.gather(*(intake.submit(log, lambda n=n: collect(n), timeout=5) for n in ("a", "b", "c")))
        return log.counts()["good"]

    assert run_apart(run()) == 3  # all committed when the requests are answered
    assert order == ["a", "b", "c"]


def test_intake_passes_on_a_failed_collect_and_goes_on_with_the_others(log: EventLog) -> None:
    intake = Intake()

    def broken() -> int:
        raise ValueError("engine refused it")

    async def run() -> None:
        with pytest.raises(ValueError, match="engine refused it"):
            await intake.submit(log, broken, timeout=5)
        await intake.submit(log, lambda: log.append(page_view("reader-1")), timeout=5)

    run_apart(run())
    assert log.counts()["good"] == 1


def test_intake_reports_a_closed_log_instead_of_hanging(log: EventLog) -> None:
    intake = Intake()
    log.close()

    async def run() -> None:
        with pytest.raises(RuntimeError, match="closed"):
            await intake.submit(log, lambda: log.append(page_view("reader-1")), timeout=5)

    run_apart(run())
