"""Ingest throughput: the engine in memory, and durable ingest into the event log on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url

from media_demo.definitions import READER_GROUP, reader_profile_group
from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.storage.database import insert_rows
from media_demo.signals.storage.event_log import EVENT_COLUMNS, MAX_BATCH, SEGMENT_BITS, EventLog, log_rows
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.benchmarks.common import PlainDictProfiles, bench_settings, rate, synthetic_events
from tests.servers import PostgresServer, start_postgres

EVENTS = 200_000
INGEST_RUNS = 3
READERS = 10_000
DURABLE_EVENTS = 100_000
PER_EVENT_COMMITS = 10_000  # the one-commit-per-event baseline is slow: fewer rows, same events/s measure
PG_PER_EVENT_COMMITS = 2_000  # on PostgreSQL each commit waits for its WAL fsync
COLLECT_READERS = 400  # ~8.5k tracker payloads through Newsroom.collect
NEWSROOM_SECONDS = 5.0  # the Newsroom paths stop after this long, so `make bench` stays bounded
DURABLE_TARGET = 50_000
T = TypeVar("T")
GROWN_LOG = 1_000_000  # events already in the log for the "growing log" lines
INSERT = (
    "INSERT INTO events (seq, segment, event_id, event_name, domain_userid, user_id, derived_tstamp, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def bench_ingest() -> None:
    """Engine ingest in memory, beside the hand-written dict baseline (best of 3)."""
    categories = list(get_corpus().categories)
    events = synthetic_events(EVENTS, READERS)
    engine_rates, baseline_rates = [], []
    for _ in range(INGEST_RUNS):  # interleaved, so both see the same machine load
        baseline = PlainDictProfiles(categories)
        baseline_rates.append(rate(baseline.ingest, events))
        engine = AttributeEngine([reader_profile_group(categories)])
        engine_rates.append(rate(engine.ingest, events))
    same = same_attributes(engine, baseline)
    engine_best, baseline_best = max(engine_rates), max(baseline_rates)
    attributes = len(reader_profile_group(categories).attributes)
    print(f"\n## Engine ingest, in process ({EVENTS:,} events, {READERS:,} readers, {attributes} attributes)")
    print(f"  attribute engine (SDK definitions): {engine_best:>12,.0f} events/s")
    print(f"  baseline, hand-written dicts:       {baseline_best:>12,.0f} events/s")
    print(f"  ratio engine/baseline:              {engine_best / baseline_best:>12.2f}   (best of {INGEST_RUNS} each)")
    print(f"  both computed the same {attributes} attribute values for all {same:,} readers (checked after timing)")


def same_attributes(engine: AttributeEngine, baseline: PlainDictProfiles) -> int:
    """Raise unless the engine and the baseline hold the same attribute values for every reader; returns how many."""
    for user in baseline.profiles:
        expected, got = baseline.attributes(user), engine.get_attributes(READER_GROUP, user)
        if got != expected:
            raise AssertionError(f"engine and baseline disagree for {user}: {got} != {expected}")
    if engine.entities(READER_GROUP) != len(baseline.profiles):
        raise AssertionError("engine and baseline hold different readers")
    return len(baseline.profiles)


def _rows(events: Sequence[CanonicalEvent], first_seq: int = 1) -> list[tuple[Any, ...]]:
    """The `events` rows EventLog writes for these events, numbered from `first_seq`."""
    return log_rows(list(enumerate(events, start=first_seq)))[0]


def _renumbered(rows: list[tuple[Any, ...]], offset: int) -> list[tuple[Any, ...]]:
    return [(row[0] + offset, (row[0] + offset) >> SEGMENT_BITS, *row[2:]) for row in rows]


def grown_log(path: Path, events: Sequence[CanonicalEvent], plain_index: bool = False) -> None:
    """A log already holding `GROWN_LOG` events (these events again and again, new seqs), by plain executemany.

    With `plain_index`, the reader is indexed the way earlier versions did (`domain_userid`
    alone) instead of by (segment, reader): for the comparison line only; EventLog would migrate it.
    """
    connection = _sqlite(path)
    if plain_index:
        connection.execute("DROP INDEX ix_events_segment_reader")
        connection.execute("CREATE INDEX ix_events_domain_userid ON events (domain_userid)")
    rows = _rows(events)
    for offset in range(0, GROWN_LOG, len(rows)):
        with connection:
            connection.executemany(INSERT, _renumbered(rows, offset)[: GROWN_LOG - offset])
    connection.close()


def _sqlite(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the event log's pragmas, on a file whose tables EventLog created."""
    EventLog(f"sqlite:///{path}").close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def group_commit(url: str, events: Sequence[CanonicalEvent]) -> tuple[float, int]:
    """`EventLog.append` every event, then `flush`: (events/s committed, number of commits)."""
    log = EventLog(url)
    commits = 0

    def count(_connection: Any) -> None:
        nonlocal commits
        commits += 1

    sa_event.listen(log.engine, "commit", count)
    gc.collect()
    start = time.perf_counter()
    for event in events:
        log.append(event)
    log.flush(timeout=600)
    elapsed = time.perf_counter() - start
    log.close()
    return len(events) / elapsed, commits


def commit_per_event(path: Path, events: Sequence[CanonicalEvent]) -> float:
    """Baseline: plain sqlite3, same table and rows, one transaction per event."""
    connection = _sqlite(path)
    start = time.perf_counter()
    for row in _rows(events):
        connection.execute(INSERT, row)
        connection.commit()
    elapsed = time.perf_counter() - start
    connection.close()
    return len(events) / elapsed


def one_transaction(path: Path, events: Sequence[CanonicalEvent]) -> float:
    """SQLite alone: plain sqlite3 `executemany` of every row, built beforehand, in a single transaction."""
    connection = _sqlite(path)
    rows = _rows(events)
    start = time.perf_counter()
    with connection:
        connection.executemany(INSERT, rows)
    elapsed = time.perf_counter() - start
    connection.close()
    return len(events) / elapsed


def batched_into_grown_log(path: Path, events: Sequence[CanonicalEvent]) -> float:
    """sqlite3 `executemany` after the grown log's rows, a commit per `MAX_BATCH` rows (a busy writer's batches)."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    rows = _rows(events, connection.execute("SELECT max(seq) FROM events").fetchone()[0] + 1)
    start = time.perf_counter()
    for first in range(0, len(rows), MAX_BATCH):
        with connection:
            connection.executemany(INSERT, rows[first : first + MAX_BATCH])
    elapsed = time.perf_counter() - start
    connection.close()
    return len(events) / elapsed


def drive(fn: Callable[[T], Any], items: Iterable[T], seconds: float) -> int:
    """Call `fn` on each item until all are done or `seconds` have passed; returns how many were done."""
    deadline = time.perf_counter() + seconds
    done = 0
    for item in items:
        fn(item)
        done += 1
        if done % 500 == 0 and time.perf_counter() > deadline:
            break
    return done


def engine_and_log(folder: str, events: Sequence[CanonicalEvent], url: str | None = None) -> tuple[float, int]:
    """What `Ingest.collect` does after enrichment (`_apply` + `log.append` under the lock), then `flush`.

    Time-boxed to `NEWSROOM_SECONDS`: (events/s committed, events done).
    """
    room = Newsroom(bench_settings(folder, "engine_and_log", url), get_corpus(), get_index())
    lock, apply, append = room.memory.lock, room.ingest._apply, room.log.append

    def one(event: CanonicalEvent) -> None:
        with lock:
            apply(event)
            append(event)

    gc.collect()
    try:
        start = time.perf_counter()
        done = drive(one, events, NEWSROOM_SECONDS)
        room.log.flush()
        elapsed = time.perf_counter() - start
    finally:
        room.close()
    return done / elapsed, done


class _Collecting:
    """A tracker emitter that keeps each payload as the in-process emitter would send it."""

    def __init__(self, sink: list[dict[str, str]]) -> None:
        self.sink = sink

    def input(self, payload: dict[str, Any]) -> None:
        self.sink.append({k: str(v) for k, v in payload.items() if v is not None})

    def flush(self) -> None: ...


def tracker_payloads(room: Newsroom, readers: int, seed: int = 5) -> list[dict[str, str]]:
    """Real snowplow-tracker payloads: per reader a home page view, then page view + article view per story."""
    rng = random.Random(seed)
    articles = room.corpus.articles
    payloads: list[dict[str, str]] = []
    room.tracker._tracker.emitters = [_Collecting(payloads)]
    for _ in range(readers):
        reader = Reader(new_domain_userid(), touch_session(None, time.time()), "Mozilla/5.0 (bench)", "10.0.0.1")
        room.tracker.page_view(reader, Page(url="http://localhost:3000/", title="The Daily Current"))
        for article in rng.sample(articles, rng.randint(5, 15)):
            page = Page(url=f"http://localhost:3000/article/{article.slug}", title=article.title)
            room.tracker.page_view(reader, page)
            room.tracker.article_view(reader, page, article)
    return payloads


def full_collect(folder: str, url: str | None = None) -> tuple[float, int, int, dict[str, int]]:
    """`Newsroom.collect` (enrich + engine + log) of tracker payloads, then `flush`, time-boxed.

    Returns (events/s committed, payloads done, payloads made, logged good/bad counts).
    """
    room = Newsroom(bench_settings(folder, "collect", url), get_corpus(), get_index())
    try:
        payloads = tracker_payloads(room, COLLECT_READERS)
        gc.collect()
        start = time.perf_counter()
        done = drive(room.collect, payloads, NEWSROOM_SECONDS)
        room.log.flush()
        elapsed = time.perf_counter() - start
        counts = room.log.counts()
    finally:
        room.close()
    return done / elapsed, done, len(payloads), counts


def _psycopg(url: str) -> psycopg.Connection:
    """A plain psycopg connection to the database of a SQLAlchemy URL whose tables EventLog created."""
    EventLog(url).close()
    return psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))


def pg_commit_per_event(url: str, events: Sequence[CanonicalEvent]) -> float:
    """Baseline: plain psycopg, same table and rows, one INSERT and one commit per event."""
    marks = ", ".join(["%s"] * len(EVENT_COLUMNS))
    insert = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({marks})"
    with _psycopg(url) as connection:
        rows = _rows(events)
        start = time.perf_counter()
        for row in rows:
            connection.execute(insert, row)
            connection.commit()
        return len(rows) / (time.perf_counter() - start)


def pg_one_transaction(url: str, events: Sequence[CanonicalEvent], copy: bool) -> float:
    """PostgreSQL alone: every row, built beforehand, in one transaction, by COPY (what EventLog does)
    or by psycopg's pipelined `executemany` (what it did first)."""
    with _psycopg(url) as connection:
        rows = _rows(events)
        start = time.perf_counter()
        with connection.transaction(), connection.cursor() as cursor:
            if copy:
                insert_rows(cursor, "postgresql", "events", EVENT_COLUMNS, rows)
            else:
                marks = ", ".join(["%s"] * len(EVENT_COLUMNS))
                cursor.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({marks})", rows)
        return len(rows) / (time.perf_counter() - start)


def durable_ingest_postgresql(events: Sequence[CanonicalEvent]) -> None:
    """The same paths into a private PostgreSQL (tests/servers.py), each into a new database; skipped,
    saying why, when no server can be started."""
    try:
        server = start_postgres()
    except RuntimeError as exc:
        print(f"\n## Durable ingest to PostgreSQL: skipped ({str(exc).splitlines()[0]})")
        return
    try:
        results = _postgresql_runs(server, events)
        with server.admin() as connection:
            version = connection.execute("SHOW server_version").fetchone()
    finally:
        server.stop()
    grouped, commits, per_event, copied, executemany, with_engine, applied, collected = results
    print(
        f"\n## Durable ingest to PostgreSQL {version[0] if version else ''} (a private server on loopback, "
        f"fsync and synchronous_commit on: an acknowledged event survives a killed app; psycopg {psycopg.__version__})"
    )
    print(_line("EventLog.append + group commit (flush)", grouped, f"committed; {commits} commits, best of 2"))
    print(_line("baseline, psycopg, one commit per event", per_event, f"{PG_PER_EVENT_COMMITS:,} events"))
    print(f"  {'ratio group commit / per-event commit':<42}{grouped / per_event:>10.2f}")
    print(_line("PostgreSQL alone: COPY, 1 commit", copied, "rows built beforehand: what EventLog writes with"))
    print(_line("PostgreSQL alone: executemany, 1 commit", executemany, "psycopg's pipelined executemany"))
    print(_line("engine ingest + log append, committed", with_engine, f"as above; {applied:,} events"))
    print(_line("Newsroom.collect of tracker payloads", collected, "as above"))


def _postgresql_runs(server: PostgresServer, events: Sequence[CanonicalEvent]) -> tuple[Any, ...]:
    runs = []
    for _ in range(2):
        with server.database() as url:
            runs.append(group_commit(url, events))
    grouped, commits = max(runs)
    with server.database() as url:
        per_event = pg_commit_per_event(url, events[:PG_PER_EVENT_COMMITS])
    with server.database() as url:
        copied = pg_one_transaction(url, events, copy=True)
    with server.database() as url:
        executemany = pg_one_transaction(url, events, copy=False)
    with tempfile.TemporaryDirectory() as folder:
        with server.database() as url:
            with_engine, applied = engine_and_log(folder, events, url)
        with server.database() as url:
            collected, _done, _made, _counts = full_collect(folder, url)
    return grouped, commits, per_event, copied, executemany, with_engine, applied, collected


def bench_durable_ingest() -> None:
    """Durable ingest into SQLite: group commits beside one commit per event, then the fuller paths;
    then the same into PostgreSQL when a server can be started."""
    events = synthetic_events(DURABLE_EVENTS, READERS, seed=8)
    with tempfile.TemporaryDirectory() as folder:
        runs = [group_commit(f"sqlite:///{Path(folder) / f'group{i}.db'}", events) for i in range(2)]
        grouped, commits = max(runs)
        per_event = commit_per_event(Path(folder) / "per_event.db", events[:PER_EVENT_COMMITS])
        ceiling = one_transaction(Path(folder) / "one_transaction.db", events)
        grown_log(Path(folder) / "grown.db", events)
        grown, grown_commits = group_commit(f"sqlite:///{Path(folder) / 'grown.db'}", events)
        segmented = batched_into_grown_log(Path(folder) / "grown.db", events)
        grown_log(Path(folder) / "plain.db", events, plain_index=True)
        plain = batched_into_grown_log(Path(folder) / "plain.db", events)
        with_engine, applied = engine_and_log(folder, events)
        collected, payloads, made, counts = full_collect(folder)
    print(
        f"\n## Durable ingest to SQLite (WAL, synchronous=NORMAL: survives a killed process, not a power cut; "
        f"sqlite {sqlite3.sqlite_version})"
    )
    print(f"  {DURABLE_EVENTS:,} canonical events (tests/factories), {READERS:,} readers")
    print(f"  target ≥ {DURABLE_TARGET:,} events/s durable; the Newsroom paths stop after {NEWSROOM_SECONDS:.0f} s")
    print(_line("EventLog.append + group commit (flush)", grouped, f"committed; {commits} commits, best of 2"))
    print(_line("baseline, sqlite3, one commit per event", per_event, f"{PER_EVENT_COMMITS:,} events"))
    print(f"  {'ratio group commit / per-event commit':<42}{grouped / per_event:>10.2f}")
    print(_line("SQLite alone: executemany, 1 commit", ceiling, "rows built beforehand: no serialising, no thread"))
    print(f"  into a log already holding {GROWN_LOG:,} events:")
    print(_line("EventLog.append + group commit (flush)", grown, f"committed; {grown_commits} commits"))
    note = f"sqlite3 executemany, a commit per {MAX_BATCH:,} rows"
    print(_line("reader index by (segment, reader)", segmented, note))
    print(_line("earlier schema, reader index alone", plain, note + ": what segments avoid"))
    note = f"Ingest._apply (every app group, interventions) + append; {applied:,} events"
    print(_line("engine ingest + log append, committed", with_engine, note))
    print(
        _line(
            "Newsroom.collect of tracker payloads",
            collected,
            f"{payloads:,} of {made:,} payloads, enrichment included; logged {counts['good']:,} good, "
            f"{counts['bad']:,} bad",
        )
    )
    durable_ingest_postgresql(events)


def _line(label: str, events_per_second: float, note: str) -> str:
    return f"  {label + ':':<42}{events_per_second:>10,.0f} events/s  ({note})"
