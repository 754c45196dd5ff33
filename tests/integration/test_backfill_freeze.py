"""Publishing an attribute group over a large log freezes no page.

A backfill streams the whole event log through the new group. It used to do that
holding the newsroom's lock, so every page event (which tracks and reads under
that lock) waited for the whole log: seconds over a million events. Here a group
is backfilled over a 1,000,000-event log in a thread, as the Signals API's publish
route runs it, while a reader's page events run as the Reflex handler runs them.

What is checked is the shape, not a speed (that is `make bench`'s backfill
section): pages keep completing all through the backfill, and none waits for a
large share of it. With the lock held through the backfill, the first page event
after the publish waited the whole backfill (8.6 s here), so only one or two
completed and the slowest took nearly all of it. How fast a page is on a busy
2-core machine varies tenfold (a full garbage collection stops every thread), so
no absolute limit is asserted.
"""

from __future__ import annotations

import gc
import statistics
import time
from pathlib import Path

from media_demo.articles import Corpus
from media_demo.newsroom import Newsroom, get_index
from media_demo.settings import Settings
from media_demo.tracking import Page
from tests.benchmarks.backfill import backfill_beside_page_events, fill, habits, reader_with_consent
from tests.integration.conftest import API_TOKEN

LOG_EVENTS = 1_000_000
LOG_READERS = 50_000
MIN_PAGES_DURING = 10
LONGEST_SHARE = 0.25  # of the backfill's duration: the most any one page may wait


def test_pages_go_on_while_a_group_is_backfilled_over_a_million_events(tmp_path: Path, corpus: Corpus) -> None:
    room = Newsroom(Settings(media_demo_db=tmp_path / "events.db", signals_api_token=API_TOKEN), corpus, get_index())
    try:
        fill(room, LOG_EVENTS, LOG_READERS)
        reader = reader_with_consent(room)
        slug = corpus.articles[0].slug
        room.views.visit(reader, Page(url="http://localhost:3000/", title="Home"))  # warm: the first page is not timed
        gc.collect()
        group = habits(1)

        started = time.perf_counter()
        run = backfill_beside_page_events(room, group, reader, slug)
        summary = (
            f"{len(run.took)} page events during a {run.seconds:.1f} s backfill of {run.replayed:,} events: "
            f"median {statistics.median(run.took) * 1000:.0f} ms, max {max(run.took) * 1000:.0f} ms "
            f"(all in {time.perf_counter() - started:.1f} s)"
        )
        print(summary)

        assert run.replayed >= LOG_EVENTS
        assert len(run.took) >= MIN_PAGES_DURING, f"pages stopped during the backfill: {summary}"
        assert max(run.took) < LONGEST_SHARE * run.seconds, f"a page waited for the backfill: {summary}"
        # The group holds the whole history: every one of the first reader's page views, and the reader's own.
        (history_reader, live_reader) = room.read_attributes(
            group.name, 1, ["history-0", reader.domain_userid], ["page_views"]
        )
        assert history_reader == {"page_views": LOG_EVENTS // LOG_READERS}
        assert live_reader == {"page_views": 1 + len(run.took)}  # the warm-up, then the timed ones
    finally:
        room.close()
