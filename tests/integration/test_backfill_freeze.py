"""Publishing an attribute group over a large log freezes no page.

A backfill streams the whole event log through the new group. It used to do that
holding the newsroom's lock, so every page event (which tracks and reads under
that lock) waited for the whole log: seconds over a million events. Here a group
is backfilled over a 1,000,000-event log in a thread, as the Signals API's publish
route runs it, while a reader's page events run as the Reflex handler runs them
(`asyncio.to_thread(room.views.visit, ...)`); each must complete in under 200 ms.

Before the backfill was taken out of the lock, one page event waited the whole
backfill (8.6 s here) and the test failed on it. Quiet, the slowest page event
takes 50-90 ms, most of it a full garbage collection over the growing states
(which stops every thread); on a 2-core machine running the rest of the suite
beside it, that one pause has reached 233 ms. So a backfill is tried up to
`ATTEMPTS` times (each a new version of the group) and one must keep every page
under the limit: a frozen page (the lock held through the backfill) fails them all.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from snowplow_signals import AtomicProperty, Attribute, PageView, StreamAttributeGroup, domain_userid

from media_demo.articles import Corpus
from media_demo.newsroom import Newsroom, get_index
from media_demo.settings import Settings
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.integration.conftest import API_TOKEN, grant
from tests.loop_watch import run_apart

LOG_EVENTS = 1_000_000
LOG_READERS = 50_000
PAGE_EVENT_LIMIT_SECONDS = 0.2
PAUSE_BETWEEN_PAGES_SECONDS = 0.05
ATTEMPTS = 3
TRENDING = 5  # as `ReaderState` asks
SNOWPLOW = "com.snowplowanalytics.snowplow"


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


async def page_events(room: Newsroom, reader: Reader, slug: str, until: threading.Event) -> list[float]:
    """Seconds each page event took, page after page, until `until` is set (and once more after)."""
    page = Page(url=f"http://localhost:3000/article/{slug}", title=slug)
    took = []
    while True:
        last = until.is_set()
        started = time.perf_counter()
        await asyncio.to_thread(room.views.visit, reader, page, slug, None, None, TRENDING)
        took.append(time.perf_counter() - started)
        if last:
            return took
        await asyncio.sleep(PAUSE_BETWEEN_PAGES_SECONDS)


def backfill_beside_page_events(
    room: Newsroom, group: StreamAttributeGroup, reader: Reader, slug: str
) -> tuple[list[float], int, float]:
    """Publish and backfill `group` in a thread while the reader's page events run: (their seconds,
    events replayed, seconds the publish and backfill took)."""
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
    return took, replayed, seconds


def test_page_events_stay_fast_while_a_group_is_backfilled_over_a_million_events(
    tmp_path: Path, corpus: Corpus
) -> None:
    room = Newsroom(Settings(media_demo_db=tmp_path / "events.db", signals_api_token=API_TOKEN), corpus, get_index())
    try:
        for event in history(LOG_EVENTS, LOG_READERS):  # the event log's own append and group commits
            room.log.append(event)
        room.log.flush(timeout=300)
        reader = Reader(new_domain_userid(), touch_session(None, time.time()))
        grant(room, reader)
        slug = corpus.articles[0].slug
        room.views.visit(reader, Page(url="http://localhost:3000/", title="Home"))  # warm: the first page is not timed

        summaries: list[str] = []
        pages = 1  # the warm-up page above
        for version in range(1, ATTEMPTS + 1):
            # As `get_newsroom()` does once the app's newsroom is built: a full collection of this test process's
            # whole heap (pytest, the corpus, the index, an earlier attempt's states) takes 150-300 ms on a
            # 2-core machine and stops every thread.
            gc.collect()
            gc.freeze()
            group = habits(version)
            took, replayed, seconds = backfill_beside_page_events(room, group, reader, slug)
            pages += len(took)
            summary = (
                f"{len(took)} page events during a {seconds:.1f} s backfill of {replayed:,} events: "
                f"median {statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms"
            )
            print(summary)
            summaries.append(summary)
            assert replayed >= LOG_EVENTS
            # The group holds the whole history: every one of the first reader's page views, and the reader's own.
            (history_reader, live_reader) = room.read_attributes(
                group.name, version, ["history-0", reader.domain_userid], ["page_views"]
            )
            assert history_reader == {"page_views": LOG_EVENTS // LOG_READERS}
            assert live_reader == {"page_views": pages}
            if max(took) < PAGE_EVENT_LIMIT_SECONDS:
                assert len(took) >= 10, f"the backfill was too short to measure anything: {summary}"
                break
        else:
            raise AssertionError("a page event waited too long in every backfill:\n" + "\n".join(summaries))
    finally:
        gc.unfreeze()
        room.close()
