"""Page events while editors watch an experiment that has exposed 50,000 readers.

An experiment keeps every reader it exposed, and its report walks them all: each open
dashboard asks for one every 2 s (`ExperimentsState.REFRESH_SECONDS`), and the walk reads
the attribute engine under the lock readers' pages need. A reader's page events run here as
the Reflex handler runs them (`asyncio.to_thread(room.views.visit, ...)`), three times in the
same run: with nothing else running (the baseline); while three dashboards refresh as the
code before did (the whole walk in one hold of the lock, recomputed for every refresh:
`EngineOutcomes(chunk=everything)`, `cost_ratio=0`); and while they refresh as the newsroom
now does (a chunk of readers per hold, one report shared until ten times its cost has
passed). Run on its own with `python -m tests.benchmarks.experiment_reports`; `make bench`
runs it with the others.
"""

from __future__ import annotations

import gc
import random
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from media_demo.experiments.assignment import assign
from media_demo.experiments.definitions import Experiment
from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.services.experiments import EngineOutcomes, Experiments
from media_demo.settings import Settings
from media_demo.signals.engine.consent import BEHAVIOURAL, CONTEXTUAL
from media_demo.tracking import Page, PanelLog, Reader, new_domain_userid, touch_session
from tests.benchmarks.api_latency import GcPauses
from tests.benchmarks.backfill import POLICY_URL, page_events, reader_with_consent
from tests.benchmarks.common import latency_line, scratch_batch
from tests.factories import coread_experiment
from tests.loop_watch import run_apart

BENCH_EXPOSED_READERS = 50_000
DASHBOARDS = 3
REFRESH_SECONDS = 2.0  # as `ExperimentsState.REFRESH_SECONDS`
WATCH_SECONDS = 20.0
CLICK_RATE = 0.3
FLUSH_EVERY = 1000
HOME = Page(url="http://localhost:3000/", title="Home")


def expose(room: Newsroom, experiment: Experiment, readers: int, seed: int = 11) -> None:
    """`readers` readers who accepted tracking, each exposed once to their variant's panel, some clicking it,
    tracked through the newsroom's tracker as `ReaderViews.panel_seen` and `panel_clicked` track them."""
    rng = random.Random(seed)
    slugs = [a.slug for a in room.corpus.articles]
    for i in range(readers):
        if i % FLUSH_EVERY == 0:  # pages wait for their commits: a fill that never did would run far ahead of them
            room.log.flush(timeout=300)
        reader = Reader(new_domain_userid(), touch_session(None, time.time()))
        room.tracker.consent(reader, HOME, {BEHAVIOURAL, CONTEXTUAL}, POLICY_URL)
        assignment = assign(experiment, reader.domain_userid)
        assert assignment is not None
        variant = experiment.variant(assignment.variant)
        assert variant is not None
        log = PanelLog(uuid.uuid4().hex, variant.strategy, experiment.name, variant.name)
        items = [(slug, position, 1.0) for position, slug in enumerate(rng.sample(slugs, 4), start=1)]
        room.tracker.experiment_exposure(
            reader, HOME, experiment.name, variant.name, "domain_userid", returning=False, reads_before=0
        )
        room.tracker.recommendation_impression(reader, HOME, log, items)
        if rng.random() < CLICK_RATE:
            slug, position, propensity = rng.choice(items)
            room.tracker.recommendation_click(reader, HOME, log, slug, position, propensity)
    room.log.flush(timeout=300)


@dataclass(frozen=True)
class Watched:
    """What page events measured while dashboards refreshed, and what the dashboards cost."""

    took: list[float]  # each page event's seconds
    reports: int  # reports the dashboards received
    computed: int  # of which computed (the others shared)
    cpu_share: float  # the dashboards' CPU over the wall time, summed over their threads
    gc: str  # the garbage collections meanwhile (a full one pauses every thread)


def watch_beside_page_events(
    room: Newsroom, experiments: Experiments, reader: Reader, slug: str, dashboards: int = DASHBOARDS
) -> Watched:
    """`dashboards` threads asking for every report each `REFRESH_SECONDS` while the reader's page events run."""
    stop = threading.Event()
    lock = threading.Lock()
    counts = {"reports": 0, "cpu": 0.0}
    kept: set[int] = set()

    def dashboard(offset: float) -> None:
        stop.wait(offset)  # editors did not all open the page at the same instant
        while not stop.is_set():
            started = time.thread_time()
            reports = experiments.reports()
            with lock:
                counts["reports"] += len(reports)
                counts["cpu"] += time.thread_time() - started
                kept.update(id(r) for r in reports)
            stop.wait(REFRESH_SECONDS)

    threads = [
        threading.Thread(target=dashboard, args=(i * REFRESH_SECONDS / dashboards,), name=f"dashboard-{i}")
        for i in range(dashboards)
    ]
    with GcPauses() as pauses:
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        threading.Timer(WATCH_SECONDS, stop.set).start()
        took = run_apart(page_events(room, reader, slug, stop))
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    return Watched(took, int(counts["reports"]), len(kept), counts["cpu"] / wall, pauses.summary())


def bench_experiment_reports() -> None:
    """Page-event latency while dashboards watch a large experiment, before and now, beside quiet pages."""
    print(f"\n== page events while {DASHBOARDS} dashboards watch an experiment of {BENCH_EXPOSED_READERS:,} readers ==")
    corpus = get_corpus()
    with tempfile.TemporaryDirectory() as folder:
        experiments_dir = Path(folder) / "experiments"
        experiments_dir.mkdir()
        (experiments_dir / "bench.toml").write_text(coread_experiment("bench-panel"), encoding="utf-8")
        database = Path(folder) / "events.db"
        settings = Settings(
            media_demo_db=database,
            database_url=f"sqlite:///{database}",
            experiments_dir=experiments_dir,
            **scratch_batch(Path(folder)),
        )
        room = Newsroom(settings, corpus, get_index())
        try:
            experiment = room.experiments.all[0]
            started = time.perf_counter()
            expose(room, experiment, BENCH_EXPOSED_READERS)
            print(f"  ({BENCH_EXPOSED_READERS:,} readers exposed in {time.perf_counter() - started:.0f} s)")
            reader = reader_with_consent(room)
            slug = corpus.articles[0].slug
            room.views.visit(reader, HOME)  # warm
            gc.collect()
            whole_walk = EngineOutcomes(room.memory, chunk=BENCH_EXPOSED_READERS * 10)
            before = Experiments(room.experiments.all, room.reads, whole_walk, cost_ratio=0.0)
            quiet = watch_beside_page_events(room, room.experiments, reader, slug, dashboards=0)
            old = watch_beside_page_events(room, before, reader, slug)
            now = watch_beside_page_events(room, room.experiments, reader, slug)
            for label, watched in (
                ("baseline: page events, no dashboard open", quiet),
                ("before: one hold per walk, a report per refresh", old),
                ("now: a chunk per hold, one shared report", now),
            ):
                print(latency_line(f"{label} ({len(watched.took)} pages)", [t * 1000 for t in watched.took]))
                dashboards = (
                    f"{watched.reports} reports to the dashboards, {watched.computed} computed, using"
                    f" {watched.cpu_share:.0%} of a core; "
                    if watched.reports
                    else ""
                )
                print(f"    {dashboards}{watched.gc}")
        finally:
            room.close()


if __name__ == "__main__":
    bench_experiment_reports()
