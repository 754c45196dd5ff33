"""The durable event log: good and bad events in SQLite through sqlmodel.

Writes are group-committed by one writer thread: callers append and may wait
until their events are durable, and every waiting caller shares one commit.
SQLite runs in WAL mode with `synchronous=NORMAL`, which survives a killed
process (kill -9) without losing a committed transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy import event as sa_event
from sqlmodel import Field, Session, SQLModel, create_engine, func, select

from media_demo.signals.events import BadEvent, CanonicalEvent


class EventRow(SQLModel, table=True):
    """One good event, stored as its canonical JSON plus columns to filter on."""

    __tablename__ = "events"

    seq: int | None = Field(default=None, primary_key=True)
    event_id: str
    event_name: str | None = Field(default=None)
    domain_userid: str | None = Field(default=None, index=True)  # one reader's events (inspector, deletion)
    derived_tstamp: float
    body: bytes


class BadEventRow(SQLModel, table=True):
    """A payload that failed validation, with the reason."""

    __tablename__ = "bad_events"

    id: int | None = Field(default=None, primary_key=True)
    received_at: dt.datetime
    reason: str
    payload: str


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


logger = logging.getLogger(__name__)
MAX_BATCH = 5000  # events per group commit before the writer is woken early
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite (UTC here)


class EventLog:
    """Append-only log of good and bad events with group commits."""

    def __init__(self, url: str, flush_interval: float = 0.05) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, connect_args={"check_same_thread": False} if "sqlite" in url else {})
        if url.startswith("sqlite"):
            sa_event.listen(self.engine, "connect", _sqlite_pragmas)
        SQLModel.metadata.create_all(self.engine, tables=[EventRow.__table__, BadEventRow.__table__])
        self._flush_interval = flush_interval
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_event = (
            "INSERT INTO events (event_id, event_name, domain_userid, derived_tstamp, body) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark})"
        )
        self._insert_bad = f"INSERT INTO bad_events (received_at, reason, payload) VALUES ({mark}, {mark}, {mark})"
        self._lock = threading.Condition()
        self._pending: list[CanonicalEvent | BadEvent] = []
        self._appended = 0  # tickets handed out
        self._durable = 0  # tickets committed
        self._waiting = 0  # callers blocked in wait_durable
        self._good_appended = 0  # good events among them: their seqs follow base_seq in order
        with Session(self.engine) as session:
            self.base_seq: int = session.exec(select(func.max(EventRow.seq))).one() or 0
        self._error: BaseException | None = None
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="event-log-writer", daemon=True)
        self._writer.start()

    def append(self, event: CanonicalEvent | BadEvent) -> int:
        """Queue one event for the next group commit; returns its ticket."""
        with self._lock:
            if self._closed:
                raise RuntimeError("event log is closed")
            self._pending.append(event)
            self._appended += 1
            if isinstance(event, CanonicalEvent):
                self._good_appended += 1
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
        self.engine.dispose()

    def _commit_due(self) -> bool:
        """Commit early when someone waits for durability or a batch is full; else every interval."""
        return self._closed or bool(self._pending and (self._waiting or len(self._pending) >= MAX_BATCH))

    def _write_loop(self) -> None:
        failures = 0
        batch: list[CanonicalEvent | BadEvent] = []
        while True:
            with self._lock:
                self._lock.wait_for(self._commit_due, timeout=self._flush_interval)
                batch, self._pending = batch + self._pending, []
                last_ticket = self._appended
                closing = self._closed
            if batch:
                try:
                    self._commit(batch)
                except Exception:
                    # Keep the batch and try again: nothing is acknowledged before it commits,
                    # and one "database is locked" must not stop the log for good.
                    failures += 1
                    logger.exception("event log: commit of %d events failed (attempt %d)", len(batch), failures)
                    if closing and failures >= 5:
                        logger.error("event log: giving up on %d uncommitted events at shutdown", len(batch))
                        return
                    time.sleep(min(2.0, 0.05 * 2**failures))
                    continue
                failures = 0
                batch = []
            with self._lock:
                self._durable = last_ticket
                self._lock.notify_all()
            if closing and not self._pending:
                return

    def _commit(self, batch: list[CanonicalEvent | BadEvent]) -> None:
        """One transaction for the whole batch, rows passed straight to the driver (the hot path)."""
        good = [
            (e.event_id, e.atomic.get("event_name"), e.atomic.get("domain_userid"), e.timestamp, e.to_json())
            for e in batch
            if isinstance(e, CanonicalEvent)
        ]
        bad = [
            (dt.datetime.fromtimestamp(e.received_at, tz=dt.UTC).strftime(SQLITE_TIME), e.reason, e.payload)
            for e in batch
            if isinstance(e, BadEvent)
        ]
        with self.engine.begin() as connection:
            if good:
                connection.exec_driver_sql(self._insert_event, good)
            if bad:
                connection.exec_driver_sql(self._insert_bad, bad)

    def position(self) -> tuple[int, int]:
        """(ticket, seq) of the latest append: once `ticket` is durable, the log holds every
        good event up to `seq`. A single writer process inserts in append order, so the
        seq is the starting seq plus the good events appended since."""
        with self._lock:
            return self._appended, self.base_seq + self._good_appended

    def events(self, batch_size: int = 5000, after_seq: int = 0) -> Iterator[CanonicalEvent]:
        """Every committed good event with a seq above `after_seq`, in arrival order."""
        last = after_seq
        with Session(self.engine) as session:
            while True:
                rows = session.exec(
                    select(EventRow.seq, EventRow.body)
                    .where(EventRow.seq > last)
                    .order_by(EventRow.seq)
                    .limit(batch_size)
                ).all()
                if not rows:
                    return
                for _seq, body in rows:
                    yield CanonicalEvent.from_json(body)
                last = rows[-1][0]

    def bad_events(self, limit: int = 100) -> list[BadEventRow]:
        """The most recent bad events, newest first."""
        with Session(self.engine) as session:
            return list(session.exec(select(BadEventRow).order_by(BadEventRow.id.desc()).limit(limit)).all())

    def counts(self) -> dict[str, int]:
        """How many good and bad events are committed."""
        with Session(self.engine) as session:
            good = session.exec(select(func.count()).select_from(EventRow)).one()
            bad = session.exec(select(func.count()).select_from(BadEventRow)).one()
        return {"good": good, "bad": bad}

    def recent_events(self, limit: int = 100) -> list[CanonicalEvent]:
        """The most recent committed good events, newest first (what `/micro/good` lists)."""
        with Session(self.engine) as session:
            bodies = session.exec(select(EventRow.body).order_by(EventRow.seq.desc()).limit(limit)).all()
        return [CanonicalEvent.from_json(body) for body in bodies]

    def reset(self, timeout: float = 10.0) -> None:
        """Delete every good and bad event, pending ones included (Snowplow Micro's reset, for tests).

        Commits what is pending first, so events appended before the reset do not
        reappear after it. The in-memory views built from the log are the caller's
        to reset (`Newsroom.reset`).
        """
        self.flush(timeout)
        with self.engine.begin() as connection:
            connection.execute(delete(EventRow))
            connection.execute(delete(BadEventRow))
        with self._lock:
            self.base_seq, self._good_appended = 0, 0

    def reader_events(self, domain_userid: str, limit: int = 50) -> list[CanonicalEvent]:
        """One reader's most recent committed good events, newest first (the inspector's feed)."""
        with Session(self.engine) as session:
            bodies = session.exec(
                select(EventRow.body)
                .where(EventRow.domain_userid == domain_userid)
                .order_by(EventRow.seq.desc())
                .limit(limit)
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
                .where(BadEventRow.payload.like(pattern))
                .order_by(BadEventRow.id.desc())
                .limit(limit)
            ).all()
        return list(rows)
