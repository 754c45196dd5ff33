"""The durable event log: good and bad events in SQLite or PostgreSQL through sqlmodel.

Writes are group-committed by one writer thread: callers append and may wait
until their events are durable (`wait_durable`, blocking), or ask to be called
back when they are (`on_durable`, for an event loop), and every waiting caller
shares one commit.
SQLite runs in WAL mode with `synchronous=NORMAL`, which survives a killed
process (kill -9) without losing a committed transaction; so does PostgreSQL's
acknowledged commit.

Readers can be forgotten (`forget`, `delete_events`): `secure_delete` makes SQLite
overwrite deleted rows with zeros, and `scrub` rewrites the file and empties the WAL,
so none of a deleted reader's identifiers remains in the database files (on PostgreSQL
`scrub` rewrites the tables: see `database.vacuum` for what that reaches). Seqs are
assigned here, never reused: deleting the newest events must not let later events
take their seqs, which checkpoints (`position`) point at.

A reader's events are indexed by (segment, reader), the segment being the seq's
block of 65,536: new rows only touch the newest segment's part of the index, so
ingest does not slow down as the log grows (a plain index on the reader id touched
a random page of the whole index per row: 68k rows/s into an empty log, 27k into a
1M-event log). Lookups probe each segment, newest first.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import orjson
from sqlalchemy import Connection, Index, delete, inspect, or_, text, update
from sqlmodel import Field, Session, SQLModel, col, func, select

from media_demo.signals.engine.events import BadEvent, CanonicalEvent
from media_demo.signals.storage.database import (
    BIG_INT,
    LOG_PRAGMAS,
    contains_text,
    insert_rows,
    json_text,
    keeps_wal,
    nul_free,
    open_database,
    stores_nul,
    table_of,
    upsert,
    vacuum,
    wal_checkpoint,
)


class EventRow(SQLModel, table=True):
    """One good event, stored as its canonical JSON plus columns to filter on."""

    __tablename__ = "events"

    seq: int | None = Field(default=None, primary_key=True, sa_type=BIG_INT, sa_column_kwargs={"autoincrement": False})
    segment: int = 0  # seq >> SEGMENT_BITS: the first column of the reader indexes (see the module docstring)
    event_id: str
    event_name: str | None = Field(default=None)
    domain_userid: str | None = Field(default=None)  # one reader's events (inspector, deletion)
    user_id: str | None = Field(default=None)  # a signed-in reader's events on any device (deletion)
    derived_tstamp: float
    body: bytes

    __table_args__ = (
        Index("ix_events_segment_reader", "segment", "domain_userid"),
        # Only signed-in readers' events carry a user_id: a partial index costs the other inserts nothing.
        Index(
            "ix_events_segment_user",
            "segment",
            "user_id",
            sqlite_where=text("user_id IS NOT NULL"),
            postgresql_where=text("user_id IS NOT NULL"),
        ),
    )


class BadEventRow(SQLModel, table=True):
    """A payload that failed validation, with the reason."""

    __tablename__ = "bad_events"

    id: int | None = Field(default=None, primary_key=True)
    received_at: dt.datetime
    reason: str
    payload: str


class LogMarkRow(SQLModel, table=True):
    """What the log must remember beyond its rows: `max_seq`, the highest seq ever used,
    so that after the newest events are deleted a restart does not hand their seqs out again."""

    __tablename__ = "event_log_marks"

    name: str = Field(primary_key=True)
    value: int = Field(sa_type=BIG_INT)


logger = logging.getLogger(__name__)
T = TypeVar("T")
# Told when a ticket is durable: None, or the error that stopped the log from committing it.
DurableCallback = Callable[[BaseException | None], None]
INSERT_CHUNK = 1000  # rows built and handed to the driver at a time, within one commit
MAX_BATCH = 5000  # events per group commit before the writer is woken early
# Shortest time between two group commits that someone waits for. A commit's fixed cost (its transaction,
# its WAL pages) is ~200 µs of CPU whatever it holds: at 500 one-event requests/s, committing each at once
# cost as much as enriching it. Waiting until 5 ms after the previous commit began gathers a few requests
# per commit under load, and delays nothing when commits are rarer than that.
MIN_COMMIT_GAP = 0.005
# Committed bytes after which the checkpoint thread copies the WAL into the database file: about
# SQLite's own auto-checkpoint (1,000 pages), which would otherwise run inside a commit, with its fsyncs.
CHECKPOINT_BYTES = 4_000_000
CHECKPOINT_SECONDS = 1.0  # and at least this often, for what the registry, accounts and state checkpoints write
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite (UTC here)
IN_CHUNK = 500  # ids per `IN (...)` list, well under SQLite's limit on bound parameters
MAX_SEQ = "max_seq"
# The columns of the rows `log_rows` makes, in their order.
EVENT_COLUMNS = ("seq", "segment", "event_id", "event_name", "domain_userid", "user_id", "derived_tstamp", "body")
BAD_EVENT_COLUMNS = ("received_at", "reason", "payload")
SEGMENT_BITS = 16  # 65,536 seqs per segment: its part of the reader index stays a few MB


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def _ids(values: Collection[str]) -> list[str]:
    """Distinct non-empty ids, sorted (an empty id would match every payload). A lone string is refused:
    iterated, its characters would each be an id, and one letter matches most bad events."""
    if isinstance(values, str | bytes):
        raise TypeError(f"ids: expected a collection of strings, got {type(values).__name__}")
    return sorted({v for v in values if v})


def _spellings(identifier: str) -> set[str]:
    """How an id can appear in a bad event's raw text: as is, JSON-escaped, or URL-encoded (a GET query)."""
    return {
        identifier,
        orjson.dumps(identifier).decode()[1:-1],
        quote(identifier, safe=""),
        quote_plus(identifier, safe=""),
    } - {""}


def log_rows(batch: Sequence[tuple[int, CanonicalEvent | BadEvent]]) -> tuple[list[tuple], list[tuple]]:
    """The `events` rows of the good events and the `bad_events` rows of the bad ones, in order."""
    good, bad = [], []
    for seq, event in batch:
        if isinstance(event, CanonicalEvent):
            atomic = event.atomic
            name, reader, user = atomic.get("event_name"), atomic.get("domain_userid"), atomic.get("user_id")
            segment = seq >> SEGMENT_BITS
            good.append((seq, segment, event.event_id, name, reader, user, event.timestamp, event.to_json()))
        else:
            received = dt.datetime.fromtimestamp(event.received_at, tz=dt.UTC).strftime(SQLITE_TIME)
            bad.append((received, event.reason, event.payload))
    return good, bad


class EventLog:
    """Append-only log of good and bad events with group commits."""

    def __init__(self, url: str, flush_interval: float = 0.05) -> None:
        self.engine = open_database(url, LOG_PRAGMAS)
        SQLModel.metadata.create_all(
            self.engine, tables=[table_of(EventRow), table_of(BadEventRow), table_of(LogMarkRow)]
        )
        self._migrate()
        self._flush_interval = flush_interval
        self._nul_free = not stores_nul(self.engine)  # PostgreSQL: NULs in text columns are replaced
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        self._select_after = f"SELECT seq, body FROM events WHERE seq > {mark} ORDER BY seq LIMIT {mark}"
        self._lock = threading.Condition(threading.Lock())  # (a plain lock: `append` takes it once per event)
        # Held by whoever writes: the writer's group commits, and forget/reset, which commit what is
        # pending and then delete with nothing able to slip in between. Taken before `_lock`, never after.
        self._commit_mutex = threading.Lock()
        self._pending: list[tuple[int, CanonicalEvent | BadEvent]] = []  # (seq, event); seq 0 for a bad event
        self._appended = 0  # tickets handed out
        self._durable = 0  # tickets committed
        self._waiting = 0  # callers blocked in wait_durable
        # (ticket, order, callback) of `on_durable`, lowest ticket first; the order breaks ties between callbacks
        self._callbacks: list[tuple[int, int, DurableCallback]] = []
        self._callback_order = itertools.count()
        # Other writers' short transactions (`run_on_writer`), run by the writer between its group commits.
        self._jobs: deque[tuple[Callable[[Connection], Any], Future[Any]]] = deque()
        self._good_appended = 0  # good events among them: their seqs follow base_seq in order
        self._unchecked = 0  # bytes committed since the last checkpoint (roughly: the rows' text)
        with Session(self.engine) as session:
            top = session.exec(select(func.max(EventRow.seq))).one() or 0
            marked = session.get(LogMarkRow, MAX_SEQ)
        self.base_seq: int = max(top, marked.value if marked else 0)
        self._error: BaseException | None = None
        self._closed = False
        # The writer's own connection, kept between group commits (under `_commit_mutex`): checking one out of
        # the pool and back per commit cost about 60 µs, as much as a one-event commit's SQLite work.
        self._writer_connection: Connection | None = None
        self._writer = threading.Thread(target=self._write_loop, name="event-log-writer", daemon=True)
        self._writer.start()
        # Only SQLite's WAL is the log's to checkpoint (PostgreSQL's server does its own).
        self._checkpointer: threading.Thread | None = None
        if keeps_wal(self.engine):
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="event-log-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _migrate(self) -> None:
        """Bring a database made by an earlier version up to date: the `user_id` column (filled from
        the bodies), the `segment` column, and exactly the indexes of `EventRow`. Earlier versions
        indexed `domain_userid`, `user_id`, `event_id` and `event_name` on their own: each made
        every insert touch a random page of an index as large as the log, so they go."""
        columns = {c["name"] for c in inspect(self.engine).get_columns("events")}
        indexes = {i["name"] for i in inspect(self.engine).get_indexes("events") if i["name"]}  # (not SQLite's own)
        wanted = {i.name for i in table_of(EventRow).indexes if i.name}
        if {"user_id", "segment"} <= columns and indexes == wanted:
            return
        with self.engine.begin() as connection:
            if "user_id" not in columns:
                connection.exec_driver_sql("ALTER TABLE events ADD COLUMN user_id TEXT")
                connection.execute(update(EventRow).values(user_id=json_text(col(EventRow.body), "atomic", "user_id")))
            if "segment" not in columns:
                connection.exec_driver_sql("ALTER TABLE events ADD COLUMN segment INTEGER NOT NULL DEFAULT 0")
                connection.exec_driver_sql(f"UPDATE events SET segment = seq >> {SEGMENT_BITS}")
            for name in sorted(indexes - wanted):
                connection.exec_driver_sql(f'DROP INDEX IF EXISTS "{name}"')
            for index in table_of(EventRow).indexes:
                index.create(connection, checkfirst=True)
        logger.info("event log: migrated the events table (user_id, segment, segmented reader indexes)")

    def _as_stored(self, ids: list[str]) -> list[str]:
        """Ids as the text columns hold them (`nul_free` on PostgreSQL), sorted, to look rows up by."""
        return sorted({nul_free(i) for i in ids}) if self._nul_free else ids

    def _segments(self, connection: Connection) -> list[int]:
        """Every segment that can hold a committed event, newest first."""
        top = connection.execute(select(func.max(EventRow.seq))).scalar() or 0
        return list(range(top >> SEGMENT_BITS, -1, -1))

    def append(self, event: CanonicalEvent | BadEvent) -> int:
        """Queue one event for the next group commit; returns its ticket."""
        with self._lock:
            if self._closed:
                raise RuntimeError("event log is closed")
            seq = 0
            if isinstance(event, CanonicalEvent):
                self._good_appended += 1
                seq = self.base_seq + self._good_appended
            self._pending.append((seq, event))
            self._appended += 1
            if len(self._pending) >= MAX_BATCH:
                self._lock.notify_all()
            return self._appended

    def wait_durable(self, ticket: int, timeout: float = 10.0) -> None:
        """Block until the event with `ticket` (and all before it) is committed."""
        with self._lock:
            self._waiting += 1  # someone waits: the writer commits now instead of at the next interval
            self._lock.notify_all()
            try:
                done = self._lock.wait_for(lambda: self._durable >= ticket or self._error is not None, timeout)
            finally:
                self._waiting -= 1
            if not done:
                raise TimeoutError(f"event log: commit of ticket {ticket} took over {timeout}s")
            if self._error is not None and self._durable < ticket:
                raise RuntimeError("event log: commit failed") from self._error

    def on_durable(self, ticket: int, callback: DurableCallback) -> None:
        """Call `callback(None)` once the event with `ticket` (and all before it) is committed, or
        `callback(error)` if the log gives up on it: the non-blocking `wait_durable`, for an event loop.

        It runs in the thread that committed (the writer's, usually), or at once in this one when the
        ticket is durable already; it must be quick and must not block (hand the answer to a loop).
        """
        with self._lock:
            if self._durable < ticket and self._error is None:
                heapq.heappush(self._callbacks, (ticket, next(self._callback_order), callback))
                self._lock.notify_all()  # someone waits: the writer commits now instead of at the next interval
                return
            error = None if self._durable >= ticket else self._failure()
        callback(error)

    def run_on_writer(self, job: Callable[[Connection], T], timeout: float = 30.0) -> T:
        """Run `job(connection)` in one transaction on the writer's thread and connection, right after a
        group commit, and return what it returned (or raise what it raised).

        For a short write that must not hold up the log's commits (a checkpoint's pieces): on SQLite a
        transaction of another connection holds the one write lock, and a group commit that meets it waits
        in SQLite's busy handler, which sleeps in steps of up to 100 ms, then may find the lock taken again
        by the next piece. Here the two take turns: one job per group commit, no lock waits. Keep each job
        to a few milliseconds: acknowledgements wait for it. Once the log is closed there is no writer to
        take turns with: the job runs here, on a connection of its own.
        """
        future: Future[T] = Future()
        with self._lock:
            closed = self._closed
            if not closed:
                self._jobs.append((job, future))
                self._lock.notify_all()
        if closed:
            with self.engine.begin() as connection:
                return job(connection)
        return future.result(timeout)

    def _run_job(self) -> None:
        """Run the oldest job of `run_on_writer`, if any, in a transaction of the writer's connection
        (`_commit_mutex` held)."""
        with self._lock:
            if not self._jobs:
                return
            job, future = self._jobs.popleft()
        if not future.set_running_or_notify_cancel():
            return
        if self._writer_connection is None:
            self._writer_connection = self.engine.connect()
        connection = self._writer_connection
        try:
            with connection.begin():
                result = job(connection)
        except BaseException as exc:
            if connection.invalidated or connection.closed:
                self._writer_connection = None
            future.set_exception(exc)
            return
        future.set_result(result)

    def _failure(self) -> RuntimeError:
        failure = RuntimeError("event log: commit failed")
        failure.__cause__ = self._error
        return failure

    def _due_callbacks(self) -> list[tuple[DurableCallback, BaseException | None]]:
        """Take the callbacks whose tickets are durable, or all of them once the log has failed (`_lock` held)."""
        due: list[tuple[DurableCallback, BaseException | None]] = []
        while self._callbacks and (self._callbacks[0][0] <= self._durable or self._error is not None):
            ticket, _order, callback = heapq.heappop(self._callbacks)
            due.append((callback, None if ticket <= self._durable else self._failure()))
        return due

    @staticmethod
    def _call(due: list[tuple[DurableCallback, BaseException | None]]) -> None:
        for callback, error in due:
            try:
                callback(error)
            except Exception:  # one waiter's failure must not keep the others (or the writer) waiting
                logger.exception("event log: a durability callback failed")

    def flush(self, timeout: float = 10.0) -> None:
        """Commit everything appended so far."""
        with self._lock:
            ticket = self._appended
        self.wait_durable(ticket, timeout)

    def close(self) -> None:
        """Commit what is pending and stop the writer."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.notify_all()
        self._writer.join()
        if self._checkpointer is not None:
            self._checkpointer.join()
        with self._commit_mutex:
            if self._writer_connection is not None:
                self._writer_connection.close()
                self._writer_connection = None
        self.engine.dispose()

    def _commit_due(self) -> bool:
        """Commit early when someone waits for durability or a batch is full; else every interval."""
        waited_for = self._waiting or self._callbacks
        return (
            self._closed or bool(self._jobs) or bool(self._pending and (waited_for or len(self._pending) >= MAX_BATCH))
        )

    def _gathered(self, since: float) -> bool:
        """Whether a commit wanted now may go ahead: `MIN_COMMIT_GAP` after the last one began, or sooner
        when a batch is full or the log is closing (`_lock` held)."""
        return self._closed or len(self._pending) >= MAX_BATCH or time.monotonic() >= since + MIN_COMMIT_GAP

    def _write_loop(self) -> None:
        failures = 0
        last_commit = 0.0  # when the last group commit began (monotonic)
        while True:
            with self._lock:
                self._lock.wait_for(self._commit_due, timeout=self._flush_interval)
                # Under load, let the events of the next few milliseconds join this commit (see MIN_COMMIT_GAP).
                self._lock.wait_for(functools.partial(self._gathered, last_commit), timeout=MIN_COMMIT_GAP)
                closing = self._closed
            last_commit = time.monotonic()
            try:
                with self._commit_mutex:
                    self._commit_pending()
                    self._run_job()  # (after the commit: acknowledgements first)
            except Exception as exc:
                # The batch went back to the front of the queue: nothing is acknowledged before it
                # commits, and one "database is locked" must not stop the log for good.
                failures += 1
                logger.exception("event log: group commit failed (attempt %d)", failures)
                if closing and failures >= 5:
                    logger.error("event log: giving up on %d uncommitted events at shutdown", len(self._pending))
                    with self._lock:
                        self._error = exc
                        self._lock.notify_all()
                        due = self._due_callbacks()
                        jobs, self._jobs = list(self._jobs), deque()
                    self._call(due)
                    for _job, future in jobs:
                        if future.set_running_or_notify_cancel():
                            future.set_exception(self._failure())
                    return
                time.sleep(min(2.0, 0.05 * 2**failures))
                continue
            failures = 0
            with self._lock:
                if closing and not self._pending and not self._jobs:
                    return

    def _commit_pending(self) -> None:
        """Commit every queued event as one transaction and mark its tickets durable (`_commit_mutex` held).

        On failure the events go back to the front of the queue, ahead of any appended meanwhile.
        """
        with self._lock:
            batch, self._pending = self._pending, []
            last_ticket = self._appended
        written = 0
        if batch:
            try:
                written = self._commit(batch)
            except BaseException:
                with self._lock:
                    self._pending[:0] = batch
                raise
        with self._lock:
            self._durable = max(self._durable, last_ticket)
            self._unchecked += written
            self._lock.notify_all()
            due = self._due_callbacks()
        self._call(due)

    def _checkpoint_due(self) -> bool:
        return self._closed or self._unchecked >= CHECKPOINT_BYTES

    def _checkpoint_loop(self) -> None:
        """Copy committed pages from the WAL into the database file every `CHECKPOINT_BYTES` of events
        or `CHECKPOINT_SECONDS`, whichever comes first (with nothing new, a checkpoint costs nothing).

        In a thread of its own, so no commit (and no tracker waiting for its acknowledgement)
        waits for a checkpoint's copying and fsyncs; SQLite runs it without holding the GIL.
        PASSIVE: it never blocks readers or the writer, and a checkpoint that could not finish
        is completed by the next. SQLite checkpoints once more when the last connection closes.
        """
        while True:
            with self._lock:
                self._lock.wait_for(self._checkpoint_due, timeout=CHECKPOINT_SECONDS)
                if self._closed:
                    return
                self._unchecked = 0
            try:
                wal_checkpoint(self.engine, "PASSIVE")
            except Exception:
                logger.exception("event log: WAL checkpoint failed; the next one will try again")

    @contextmanager
    def _exclusive(self, timeout: float) -> Iterator[None]:
        """Hold the writer off, with everything appended so far committed: for deletions."""
        if not self._commit_mutex.acquire(timeout=timeout):
            raise TimeoutError(f"event log: the writer stayed busy over {timeout}s")
        try:
            self._commit_pending()
            yield
        finally:
            self._commit_mutex.release()

    def _commit(self, batch: list[tuple[int, CanonicalEvent | BadEvent]]) -> int:
        """One transaction for the whole batch, rows passed straight to the driver (the hot path).

        Rows are built and inserted `INSERT_CHUNK` at a time: building a whole large batch first
        allocates all its rows at once, and fresh memory costs more than memory a chunk freed
        (78-84k rows/s in chunks against 60-73k at once, measured). Returns roughly how many
        bytes it wrote (the bodies and payloads), for `_checkpoint_loop`.
        """
        written, dialect = 0, self.engine.dialect.name
        if self._writer_connection is None:
            self._writer_connection = self.engine.connect()
        connection = self._writer_connection
        try:
            with connection.begin():
                cursor = connection.connection.cursor()  # the driver's own: no per-row work in SQLAlchemy
                try:
                    for start in range(0, len(batch), INSERT_CHUNK):
                        good, bad = log_rows(batch[start : start + INSERT_CHUNK])
                        if self._nul_free:
                            good = [tuple(map(nul_free, row)) for row in good]
                            bad = [tuple(map(nul_free, row)) for row in bad]
                        insert_rows(cursor, dialect, "events", EVENT_COLUMNS, good)
                        insert_rows(cursor, dialect, "bad_events", BAD_EVENT_COLUMNS, bad)
                        written += sum(len(row[-1]) for row in good) + sum(len(row[-1]) for row in bad)
                finally:
                    cursor.close()
        except BaseException:
            self._writer_connection = None  # a failed connection is not reused: the next commit takes a fresh one
            connection.close()
            raise
        return written

    def position(self) -> tuple[int, int]:
        """(ticket, seq) of the latest append: once `ticket` is durable, the log holds every
        good event up to `seq`. Seqs are given at append, in order: the starting seq plus
        the good events appended since (one writer process)."""
        with self._lock:
            return self._appended, self.base_seq + self._good_appended

    def events(self, batch_size: int = 5000, after_seq: int = 0) -> Iterator[CanonicalEvent]:
        """Every committed good event with a seq above `after_seq`, in arrival order."""
        return (event for _seq, event in self.entries(after_seq, batch_size))

    def raw_chunks(self, after_seq: int = 0, batch_size: int = 50_000) -> Iterator[list[tuple[int, bytes]]]:
        """(seq, stored JSON) of every committed good event above `after_seq`, a chunk at a time, undecoded:
        what the batch engine exports to Parquet (decoding each event here would cost more than the export)."""
        last = after_seq
        while True:
            with self.engine.connect() as connection:
                cursor = connection.connection.cursor()
                try:
                    rows = cursor.execute(self._select_after, (last, batch_size)).fetchall()
                finally:
                    cursor.close()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def entries(self, after_seq: int = 0, batch_size: int = 5000) -> Iterator[tuple[int, CanonicalEvent]]:
        """(seq, event) of every committed good event with a seq above `after_seq`, in seq order.

        Each batch is read in a transaction of its own, so a long read (a backfill) holds no
        snapshot between batches: deletions, `scrub` and WAL checkpoints go ahead meanwhile.
        Seqs are committed in the order they are handed out, so a later call `after_seq` the
        last seq seen misses nothing committed since. The rows come from the driver as plain
        tuples, which the garbage collector stops tracking: a million of them read in a row do
        not set off the full collections (which pause every thread) that row objects would.
        """
        for rows in self.raw_chunks(after_seq, batch_size):
            for seq, body in rows:
                yield seq, CanonicalEvent.from_json(body)

    def bad_events(self, limit: int = 100) -> list[BadEventRow]:
        """The most recent bad events, newest first."""
        with Session(self.engine) as session:
            return list(session.exec(select(BadEventRow).order_by(col(BadEventRow.id).desc()).limit(limit)).all())

    def counts(self) -> dict[str, int]:
        """How many good and bad events are committed."""
        with Session(self.engine) as session:
            good = session.exec(select(func.count()).select_from(EventRow)).one()
            bad = session.exec(select(func.count()).select_from(BadEventRow)).one()
        return {"good": good, "bad": bad}

    def recent_events(self, limit: int = 100) -> list[CanonicalEvent]:
        """The most recent committed good events, newest first (what `/micro/good` lists)."""
        with Session(self.engine) as session:
            bodies = session.exec(select(EventRow.body).order_by(col(EventRow.seq).desc()).limit(limit)).all()
        return [CanonicalEvent.from_json(body) for body in bodies]

    def reset(self, timeout: float = 10.0) -> None:
        """Delete every good and bad event, pending ones included (Snowplow Micro's reset, for tests).

        Commits what is pending first, so events appended before the reset do not
        reappear after it. Seqs start again from 1. The in-memory views built from the
        log are the caller's to reset (`Newsroom.reset`).
        """
        with self._exclusive(timeout):
            with self.engine.begin() as connection:
                connection.execute(delete(EventRow))
                connection.execute(delete(BadEventRow))
                connection.execute(delete(LogMarkRow))
            with self._lock:
                # Events appended during the delete count from the new start, as if appended after it.
                self.base_seq, self._good_appended = 0, 0
                renumbered = []
                for seq, e in self._pending:
                    if isinstance(e, CanonicalEvent):
                        self._good_appended += 1
                        seq = self._good_appended
                    renumbered.append((seq, e))
                self._pending = renumbered

    def reader_events(self, domain_userid: str, limit: int = 50) -> list[CanonicalEvent]:
        """One reader's most recent committed good events, newest first (the inspector's feed):
        one index probe per segment, newest segment first, until `limit` are found."""
        bodies: list[bytes] = []
        reader = nul_free(domain_userid) if self._nul_free else domain_userid
        with Session(self.engine) as session:
            for segment in self._segments(session.connection()):
                if len(bodies) >= limit:
                    break
                bodies += session.exec(
                    select(EventRow.body)
                    .where(EventRow.segment == segment, EventRow.domain_userid == reader)
                    .order_by(col(EventRow.seq).desc())
                    .limit(limit - len(bodies))
                ).all()
        return [CanonicalEvent.from_json(body) for body in bodies]

    def reader_bad_events(self, domain_userid: str, limit: int = 50) -> list[BadEventRow]:
        """The most recent bad events whose payload names this reader (`"duid":"<id>"`), newest first.

        Bad events keep only their raw payload, so this is a text match (a scan of the
        bad events, which are few). The id must be a canonical UUID (ValueError otherwise):
        only hex digits and dashes reach the LIKE pattern, so none of its wildcards.
        """
        import uuid

        try:
            valid = str(uuid.UUID(domain_userid)) == domain_userid.lower()
        except (TypeError, ValueError, AttributeError):
            valid = False
        if not valid:
            raise ValueError(f"domain_userid: must be a UUID, got {domain_userid!r}")
        pattern = f'%"duid":"{domain_userid.lower()}"%'
        with Session(self.engine) as session:
            rows = session.exec(
                select(BadEventRow)
                .where(col(BadEventRow.payload).like(pattern))
                .order_by(col(BadEventRow.id).desc())
                .limit(limit)
            ).all()
        return list(rows)

    # The right to be forgotten: a reader's rows go, and `scrub` makes sure no copy stays in the files.

    def forget(
        self, domain_userids: Collection[str], user_ids: Collection[str] = (), timeout: float = 10.0
    ) -> dict[str, int]:
        """Delete every event of these readers: good events by `domain_userid` or `user_id`, and bad
        events whose payload or reason contains any of the ids (bad events keep only raw text).

        Everything appended before the call is committed first, under the same hold on the
        writer, so a just-appended event of the reader cannot be written after the delete.
        Follow with `scrub`, which clears every copy left in the files. Returns {"events": n, "bad_events": m}.
        """
        duids, uids = _ids(domain_userids), _ids(user_ids)
        needles = self._as_stored(sorted({s for i in (*duids, *uids) for s in _spellings(i)}))
        duids, uids = self._as_stored(duids), self._as_stored(uids)
        events = bad = 0
        with self._exclusive(timeout), self.engine.begin() as connection:
            self._mark_max_seq(connection)
            segments = col(EventRow.segment).in_(self._segments(connection))
            for column, ids in ((col(EventRow.domain_userid), duids), (col(EventRow.user_id), uids)):
                for chunk in _chunks(ids):
                    events += connection.execute(delete(EventRow).where(segments, column.in_(chunk))).rowcount
            for chunk in _chunks(needles):
                matches = [contains_text(c, n) for n in chunk for c in (BadEventRow.payload, BadEventRow.reason)]
                bad += connection.execute(delete(BadEventRow).where(or_(*matches))).rowcount
        return {"events": events, "bad_events": bad}

    def delete_events(self, domain_userid: str, keep_event_names: Collection[str] = (), timeout: float = 10.0) -> int:
        """Delete one reader's good events except those named in `keep_event_names` (a withdrawn
        consent: the behavioural events go, the consent events stay as the record). Commits
        what is pending first, as `forget` does; returns the events deleted."""
        if not domain_userid:
            return 0
        if isinstance(keep_event_names, str):
            raise TypeError("keep_event_names: expected a collection of event names, got a str")
        condition = col(EventRow.domain_userid) == (nul_free(domain_userid) if self._nul_free else domain_userid)
        if keep_event_names:
            name = col(EventRow.event_name)
            condition &= or_(name.is_(None), name.not_in(sorted(keep_event_names)))
        with self._exclusive(timeout), self.engine.begin() as connection:
            self._mark_max_seq(connection)
            segments = col(EventRow.segment).in_(self._segments(connection))
            return connection.execute(delete(EventRow).where(segments, condition)).rowcount

    def reader_sessions(self, domain_userids: Collection[str], user_ids: Collection[str] = ()) -> set[str]:
        """The `domain_sessionid`s in these readers' stored events (pending ones committed first),
        so the caller can forget state kept by session as well."""
        self.flush()
        sessions: set[str] = set()
        session_id = select(json_text(col(EventRow.body), "atomic", "domain_sessionid")).distinct()
        with self.engine.connect() as connection:
            segments = col(EventRow.segment).in_(self._segments(connection))
            for column, ids in ((col(EventRow.domain_userid), domain_userids), (col(EventRow.user_id), user_ids)):
                for chunk in _chunks(self._as_stored(_ids(ids))):
                    rows = connection.execute(session_id.where(segments, column.in_(chunk)))
                    sessions.update(sid for (sid,) in rows if sid)
        return sessions

    def scrub(self, attempts: int = 5) -> None:
        """Rewrite the database so no deleted row survives anywhere in its files: call after `forget`.

        On PostgreSQL the tables are rewritten (VACUUM FULL), which does not reach the server's own
        WAL: see `database.vacuum` for what it guarantees. On SQLite, `secure_delete` zeroes a row
        where it lies when deleted, but not the stale copies an earlier page split or merge left
        in pages' unused space, nor the WAL's older page images: a test found a forgotten id in
        an index page's gap after deleting. So VACUUM rebuilds the file from the live rows (under a
        second for 100k events, 70 MB, with the writer held off meanwhile: appends still queue; the
        WAL briefly grows to the file's size), then a TRUNCATE checkpoint moves the result into the
        file and empties the WAL.
        Forget several readers, then scrub once.
        Raises RuntimeError when readers keep the checkpoint from finishing after `attempts` tries.
        """
        with self._commit_mutex:
            vacuum(self.engine)
            for attempt in range(attempts):
                busy, _frames, _copied = wal_checkpoint(self.engine, "TRUNCATE")
                if not busy:
                    return
                time.sleep(0.05 * (attempt + 1))
        raise RuntimeError(f"event log: the WAL checkpoint stayed busy after {attempts} attempts")

    def _mark_max_seq(self, connection: Connection) -> None:
        """Remember the highest seq used before deleting, in case the newest events are among those deleted."""
        top = connection.execute(select(func.max(EventRow.seq))).scalar()
        marked = connection.execute(select(LogMarkRow.value).where(LogMarkRow.name == MAX_SEQ)).scalar()
        if top is not None and (marked is None or top > marked):
            upsert(connection, table_of(LogMarkRow), [{"name": MAX_SEQ, "value": top}])
