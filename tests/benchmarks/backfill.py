"""Page events while an attribute group is backfilled over a large log, beside the same page events quiet.

A backfill streams the whole event log through a newly published group, in a
thread, as the Signals API's publish route runs it. Pages must go on meanwhile:
each page event here runs as the Reflex handler runs it
(`asyncio.to_thread(room.views.visit, ...)`), first with nothing else running
(the baseline), then during a backfill. Run on its own with
`python -m tests.benchmarks.backfill`; `make bench` runs it with the others.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from snowplow_signals import AtomicProperty, Attribute, PageView, StreamAttributeGroup, domain_userid

from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.settings import Settings
from media_demo.signals.engine.consent import BEHAVIOURAL, CONTEXTUAL
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.benchmarks.common import latency_line, scratch_batch
from tests.loop_watch import run_apart

BENCH_LOG_EVENTS = 1_000_000
BENCH_LOG_READERS = 50_000
PAUSE_BETWEEN_PAGES_SECONDS = 0.05
QUIET_PAGES = 100
TRENDING = 5  # as `ReaderState` asks
SNOWPLOW = "com.snowplowanalytics.snowplow"
POLICY_URL = "http://localhost:3000/privacy"


def habits(version: int) -> StreamAttributeGroup:
    """A new group over page views, published once the log is full."""
    return StreamAttributeGroup(
        name="habits_over_history",
        version=version,
        attribute_key=domain_userid,
        owner="tests@dailycurrent.example",
        attributes=[
            Attribute(name="page_views", type="int32", events=[PageView()], aggregation="counter"),
            Attribute(
                name="last_path",
                type="string",
                events=[PageView()],
                aggregation="last",
                property=AtomicProperty(name="page_urlpath"),
            ),
        ],
    )


def history(count: int, readers: int) -> Iterator[CanonicalEvent]:
    """`count` page views spread over `readers` readers and 500 paths, a second apart, built lazily."""
    start = time.time() - count
    for i in range(count):
        atomic = {
            "event_id": f"00000000-0000-4000-8000-{i:012x}",
            "event": "page_view",
            "event_vendor": SNOWPLOW,
            "event_name": "page_view",
            "event_version": "1-0-0",
            "domain_userid": f"history-{i % readers}",
            "page_urlpath": f"/article/story-{i % 500}",
        }
        yield CanonicalEvent(atomic, start + i)


def fill(room: Newsroom, count: int, readers: int) -> None:
    """Append `count` history events to the room's log, as the collector would, and wait until committed."""
    for event in history(count, readers):
        room.log.append(event)
    room.log.flush(timeout=300)


async def page_events(room: Newsroom, reader: Reader, slug: str, until: threading.Event | int) -> list[float]:
    """Seconds each page event took, page after page: `until` pages, or until the event is set (and once more)."""
    page = Page(url=f"http://localhost:3000/article/{slug}", title=slug)
    took: list[float] = []
    while True:
        last = len(took) + 1 >= until if isinstance(until, int) else until.is_set()
        started = time.perf_counter()
        await asyncio.to_thread(room.views.visit, reader, page, slug, None, None, TRENDING)
        took.append(time.perf_counter() - started)
        if last:
            return took
        await asyncio.sleep(PAUSE_BETWEEN_PAGES_SECONDS)


@dataclass(frozen=True)
class Backfilled:
    """What one backfill beside page events measured."""

    took: list[float]  # each page event's seconds, the last one started after the backfill ended
    replayed: int  # events the backfill streamed through the group
    seconds: float  # the publish and backfill, end to end


def backfill_beside_page_events(room: Newsroom, group: StreamAttributeGroup, reader: Reader, slug: str) -> Backfilled:
    """Publish and backfill `group` in a thread while the reader's page events run."""
    finished = threading.Event()
    outcome: dict[str, object] = {}

    def publish_and_backfill() -> None:  # what `POST /api/v1/registry/attribute_groups` runs in its thread
        try:
            started = time.perf_counter()
            assert room.publish(group)
            outcome["replayed"] = room.backfill(group)
            outcome["seconds"] = time.perf_counter() - started
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            finished.set()

    backfill = threading.Thread(target=publish_and_backfill, name="backfill")
    backfill.start()
    took = run_apart(page_events(room, reader, slug, finished))
    backfill.join()
    assert "error" not in outcome, outcome
    replayed, seconds = outcome["replayed"], outcome["seconds"]
    assert isinstance(replayed, int) and isinstance(seconds, float)
    return Backfilled(took, replayed, seconds)


def reader_with_consent(room: Newsroom) -> Reader:
    """A new reader who has accepted tracking, so their page events are tracked and read back."""
    reader = Reader(new_domain_userid(), touch_session(None, time.time()))
    home = Page(url="http://localhost:3000/", title="Home")
    room.tracker.consent(reader, home, {BEHAVIOURAL, CONTEXTUAL}, POLICY_URL)
    return reader


def bench_backfill() -> None:
    """Page-event latency during a backfill over a million-event log, beside the same reader's quiet pages."""
    print(f"\n== page events during a backfill over {BENCH_LOG_EVENTS:,} logged events ==")
    corpus = get_corpus()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "events.db"
        settings = Settings(media_demo_db=database, database_url=f"sqlite:///{database}", **scratch_batch(Path(folder)))
        room = Newsroom(settings, corpus, get_index())
        try:
            started = time.perf_counter()
            fill(room, BENCH_LOG_EVENTS, BENCH_LOG_READERS)
            print(f"  (log filled in {time.perf_counter() - started:.0f} s)")
            reader = reader_with_consent(room)
            slug = corpus.articles[0].slug
            room.views.visit(reader, Page(url="http://localhost:3000/", title="Home"))  # warm
            gc.collect()
            quiet = run_apart(page_events(room, reader, slug, QUIET_PAGES))
            during = backfill_beside_page_events(room, habits(1), reader, slug)
            print(latency_line(f"baseline: {len(quiet)} page events, nothing else running", [t * 1000 for t in quiet]))
            print(
                latency_line(
                    f"{len(during.took)} page events during the {during.seconds:.1f} s backfill",
                    [t * 1000 for t in during.took],
                )
            )
            print(f"  backfill: {during.replayed:,} events replayed, {during.replayed / during.seconds:,.0f} events/s")
        finally:
            room.close()


if __name__ == "__main__":
    bench_backfill()
