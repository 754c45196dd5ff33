"""A backfill built outside the newsroom's lock counts every logged event exactly once.

The group's state is built from the log in an engine of its own while events keep
arriving; the events logged meanwhile are applied under the lock and the state is
swapped in. These tests stop the backfill mid-read (a wrapper around the log's
`entries`), collect, forget and withdraw meanwhile, and compare the result with the
group computed from scratch over the log as it ends up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from snowplow_signals import AtomicProperty, Attribute, PageView, StreamAttributeGroup, domain_userid

from media_demo.newsroom import Newsroom
from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.integration.conftest import POLICY_URL, grant

WAIT = 15.0


def habits(pages: str = "page_views") -> StreamAttributeGroup:
    return StreamAttributeGroup(
        name="habits",
        version=1,
        attribute_key=domain_userid,
        owner="tests@dailycurrent.example",
        attributes=[
            Attribute(name=pages, type="int32", events=[PageView()], aggregation="counter"),
            Attribute(
                name="last_title",
                type="string",
                events=[PageView()],
                aggregation="last",
                property=AtomicProperty(name="page_title"),
            ),
        ],
    )


def new_reader(room: Newsroom) -> Reader:
    reader = Reader(new_domain_userid(), touch_session(None, time.time()))
    grant(room, reader)
    return reader


def views(room: Newsroom, reader: Reader, count: int, title: str = "Page") -> None:
    for i in range(count):
        room.tracker.page_view(reader, Page(url=f"http://localhost:3000/p/{i}", title=f"{title} {i}"))


def page_views(room: Newsroom, group: StreamAttributeGroup, reader: Reader) -> int:
    (row,) = room.read_attributes(group.name, 1, [reader.domain_userid], ["page_views"])
    return row["page_views"]


AT_END = -1  # a pause after the pass's last entry, however many it read (perhaps none)


class PausedLog:
    """The newsroom's log, except that the backfill's reading stops in the passes listed in `pauses`
    ({pass: entries read before the pause, or AT_END}; the first pass is 1)."""

    def __init__(self, room: Newsroom, pauses: dict[int, int] | None = None) -> None:
        self.original = room.log.entries
        self.pauses, self.calls = pauses or {1: 5}, 0
        self.reached = threading.Event()
        self.resume = threading.Event()
        room.log.entries = self.entries  # type: ignore[method-assign]

    def entries(self, after_seq: int = 0, batch_size: int = 5000) -> Iterator[tuple[int, CanonicalEvent]]:
        self.calls += 1
        pause_at = self.pauses.get(self.calls)
        for n, entry in enumerate(self.original(after_seq, batch_size)):
            if n == pause_at:
                self._pause()
            yield entry
        if pause_at == AT_END:
            self._pause()

    def _pause(self) -> None:
        self.reached.set()
        assert self.resume.wait(WAIT), "the test never let the backfill go on"

    def hold(self) -> None:
        """Wait until the backfill is stopped mid-read; the next `go` lets it on."""
        assert self.reached.wait(WAIT), "the backfill never reached its pause"

    def go(self) -> None:
        self.reached.clear()
        self.resume.set()
        self.resume = threading.Event()


def backfill_in_thread(room: Newsroom, group: StreamAttributeGroup) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            assert room.publish(group)
            outcome["replayed"] = room.backfill(group)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="backfill")
    thread.start()
    return thread, outcome


def from_scratch(room: Newsroom, group: StreamAttributeGroup, entities: list[str]) -> list[dict[str, Any]]:
    """The group computed over the whole log as it now stands, in an engine of its own."""
    room.log.flush()
    engine = AttributeEngine([group])
    for event in room.log.events():
        engine.ingest(event)
    return [engine.get_attributes(group.name, e, 1) for e in entities]


def keep_reading(room: Newsroom, reader: Reader, stop: threading.Event) -> Callable[[], int]:
    """Page views of `reader`, one after another in a thread, until `stop`; returns a join giving the count."""
    sent = [0]

    def run() -> None:
        while not stop.is_set():
            views(room, reader, 1, "Continuous")
            sent[0] += 1
            time.sleep(0.001)

    thread = threading.Thread(target=run, name="reader")
    thread.start()

    def join() -> int:
        thread.join()
        return sent[0]

    return join


def test_events_collected_during_a_backfill_count_exactly_once(newsroom: Newsroom) -> None:
    room = newsroom
    early, late, steady = new_reader(room), new_reader(room), new_reader(room)
    views(room, early, 2500)  # more than is applied under the lock: the backfill reads in several passes
    views(room, late, 3)
    group = habits()
    paused = PausedLog(room, {1: 100, 2: AT_END})
    stop = threading.Event()
    steady_sent = keep_reading(room, steady, stop)  # throughout: some of its events land in every phase
    try:
        thread, outcome = backfill_in_thread(room, group)
        paused.hold()  # first pass, 100 events in: the group is published and takes live events
        views(room, early, 7)
        views(room, late, 11)
        newcomer = new_reader(room)
        views(room, newcomer, 5)
        paused.go()
        paused.hold()  # second pass read (a few events, or none: the last without the lock); these are read under it
        views(room, early, 13)
        views(room, newcomer, 1)
        paused.go()
        thread.join(WAIT)
        passes = paused.calls
    finally:
        stop.set()
        sent = steady_sent()
    assert not thread.is_alive() and "error" not in outcome, outcome

    assert page_views(room, group, early) == 2500 + 7 + 13
    assert page_views(room, group, late) == 3 + 11
    assert page_views(room, group, newcomer) == 5 + 1
    assert page_views(room, group, steady) == sent  # whether read by the backfill, under the lock or live
    readers = [r.domain_userid for r in (early, late, steady, newcomer)]
    assert room.read_attributes(group.name, 1, readers, ["page_views", "last_title"]) == from_scratch(
        room, group, readers
    )
    assert outcome["replayed"] >= 2500 + 3 + 7 + 11 + 5 + 13 + 1
    assert passes == 3  # two passes without the lock, and the last one under it


def test_readers_forgotten_or_withdrawn_during_a_backfill_are_not_brought_back(newsroom: Newsroom) -> None:
    room = newsroom
    forgotten, withdrawn, kept = new_reader(room), new_reader(room), new_reader(room)
    for reader in (forgotten, withdrawn, kept):
        views(room, reader, 40)
    group = habits()
    paused = PausedLog(room)  # their events are read before they go
    thread, outcome = backfill_in_thread(room, group)
    paused.hold()
    room.privacy.forget_reader([forgotten.domain_userid])
    room.tracker.withdraw(withdrawn, Page(url="http://localhost:3000/privacy", title="Privacy"), POLICY_URL)
    grant(room, withdrawn)  # and changes their mind: what they read from now on counts again
    views(room, withdrawn, 2)
    paused.go()
    thread.join(WAIT)
    assert not thread.is_alive() and "error" not in outcome, outcome

    assert page_views(room, group, forgotten) == 0
    assert not room.memory.engine.has_state("habits_v1", forgotten.domain_userid)
    assert page_views(room, group, withdrawn) == 2
    assert page_views(room, group, kept) == 40
    readers = [r.domain_userid for r in (forgotten, withdrawn, kept)]
    assert room.read_attributes(group.name, 1, readers, ["page_views", "last_title"]) == from_scratch(
        room, group, readers
    )


def test_a_reset_during_a_backfill_cancels_it(newsroom: Newsroom) -> None:
    room = newsroom
    before = new_reader(room)
    views(room, before, 30)
    group = habits()
    paused = PausedLog(room)
    thread, outcome = backfill_in_thread(room, group)
    paused.hold()
    room.reset()
    after = new_reader(room)
    views(room, after, 4)
    paused.go()
    thread.join(WAIT)
    assert not thread.is_alive() and "error" not in outcome, outcome

    assert page_views(room, group, before) == 0  # the log it was built from is gone
    assert page_views(room, group, after) == 4


def test_a_group_published_again_with_another_definition_cancels_the_backfill_of_the_first(
    newsroom: Newsroom,
) -> None:
    room = newsroom
    reader = new_reader(room)
    views(room, reader, 30)
    first, second = habits(), habits(pages="pages")
    paused = PausedLog(room)
    thread, outcome = backfill_in_thread(room, first)
    paused.hold()
    assert room.publish(second)
    paused.go()
    thread.join(WAIT)
    assert not thread.is_alive() and "error" not in outcome, outcome
    assert room.backfill(second) >= 30
    (row,) = room.read_attributes("habits", 1, [reader.domain_userid], ["pages"])
    assert row == {"pages": 30}


def test_a_checkpoint_taken_during_a_backfill_is_not_used_for_the_group(newsroom: Newsroom) -> None:
    room = newsroom
    reader = new_reader(room)
    views(room, reader, 30)
    group = habits()
    paused = PausedLog(room)
    thread, outcome = backfill_in_thread(room, group)
    paused.hold()
    room.ingest.checkpoint()  # the group holds only live events yet: a restart must replay the log, not load this
    with_group = AttributeEngine([*room.memory.engine.groups])
    assert room.checkpoints.load(with_group) is None
    paused.go()
    thread.join(WAIT)
    assert not thread.is_alive() and "error" not in outcome, outcome
    room.ingest.checkpoint()
    restarted = AttributeEngine([*room.memory.engine.groups])
    assert room.checkpoints.load(restarted) is not None
    assert restarted.get_attributes("habits", reader.domain_userid, 1)["page_views"] == 30


@pytest.mark.parametrize("count", [0, 1])
def test_a_backfill_of_a_log_with_nothing_to_read_is_quick_and_empty(newsroom: Newsroom, count: int) -> None:
    reader = new_reader(newsroom)
    views(newsroom, reader, count)
    group = habits()
    assert newsroom.publish(group)
    assert newsroom.backfill(group) == 1 + count  # the consent event and the page views
    assert page_views(newsroom, group, reader) == count
