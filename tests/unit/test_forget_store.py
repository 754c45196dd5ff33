"""Forgetting a reader in the store: their rows go, and no byte of their ids stays in the database files."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlmodel import Session, select

from media_demo.signals.engine.events import BadEvent
from media_demo.signals.engine.hll import EXACT_LIMIT, HyperLogLog, _hash
from media_demo.signals.storage import event_log
from media_demo.signals.storage.checkpoints import Checkpoints, StateRow
from media_demo.signals.storage.event_log import EventLog
from tests.factories import page_view, self_describing

CONSENT_SCHEMA = "iglu:com.snowplowanalytics.snowplow/consent_withdrawn/jsonschema/1-0-0"


def _uid(name: str) -> str:
    return f"{name}-{uuid.uuid4()}"


def _file_bytes(db: Path) -> bytes:
    """Everything SQLite keeps on disk for this database: the file, its WAL and its shared-memory index."""
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "log.db"


@pytest.fixture
def log(db: Path) -> Iterator[EventLog]:
    log = EventLog(f"sqlite:///{db}", flush_interval=0.01)
    yield log
    log.close()


def _bad(text: str) -> BadEvent:
    return BadEvent(reason="schema violation", payload=text, received_at=time.time())


def test_forgotten_reader_leaves_no_bytes_in_the_database_files(db: Path, log: EventLog) -> None:
    a_duid, a_uid, a_sid = str(uuid.uuid4()), _uid("alice"), str(uuid.uuid4())
    b_duid, b_sid = str(uuid.uuid4()), str(uuid.uuid4())
    # Enough interleaved events to split pages in the table and both indexes.
    for i in range(400):
        log.append(page_view(a_duid, float(i), user_id=a_uid, domain_sessionid=a_sid, page_title=f"A {i}"))
        log.append(page_view(b_duid, float(i), domain_sessionid=b_sid, page_title=f"B {i}"))
    for reader in (a_duid, b_duid):
        log.append(_bad(orjson.dumps({"e": "pv", "duid": reader, "eid": "nope"}).decode()))
    log.flush()
    checkpoints = Checkpoints(log.engine)
    states = [(a_duid, b'{"n": 1}'), (a_sid, b'{"n": 2}'), (a_uid, b'{"n": 3}'), (b_duid, b'{"n": 4}')]
    checkpoints.save({"reader": states}, last_seq=800, prints="test")
    log.scrub()
    before = _file_bytes(db)
    assert a_duid.encode() in before and a_uid.encode() in before and a_sid.encode() in before

    assert log.reader_sessions([a_duid]) == {a_sid}
    assert log.forget([a_duid], [a_uid]) == {"events": 400, "bad_events": 1}
    assert checkpoints.forget([a_duid, a_uid, a_sid]) == 3

    assert log.reader_events(a_duid) == []
    assert len(log.reader_events(b_duid, limit=1000)) == 400
    assert [orjson.loads(row.payload)["duid"] for row in log.bad_events()] == [b_duid]
    with Session(log.engine) as session:
        assert session.exec(select(StateRow.entity)).all() == [b_duid]

    log.scrub()
    for stage in ("scrubbed", "closed"):
        on_disk = _file_bytes(db)
        for forgotten in (a_duid, a_uid, a_sid):
            assert forgotten.encode() not in on_disk, f"{forgotten} still on disk once {stage}"
        assert b_duid.encode() in on_disk and b_sid.encode() in on_disk
        log.close()


def test_delete_events_keeps_the_named_events(log: EventLog) -> None:
    reader, other = str(uuid.uuid4()), str(uuid.uuid4())
    log.append(page_view(reader, 1.0))
    log.append(self_describing(CONSENT_SCHEMA, {"all": True}, user=reader, timestamp=2.0))
    log.append(page_view(reader, 3.0, event_name=None))  # no name: not kept
    log.append(page_view(other, 4.0))
    assert log.delete_events(reader, keep_event_names={"consent_withdrawn"}) == 2
    assert [e.atomic["event_name"] for e in log.reader_events(reader)] == ["consent_withdrawn"]
    assert len(log.reader_events(other)) == 1
    assert log.delete_events(reader) == 1
    assert log.reader_events(reader) == []
    assert log.delete_events("") == 0


def test_reader_sessions_by_domain_userid_or_user_id(log: EventLog) -> None:
    reader, signed_in, other = str(uuid.uuid4()), _uid("bob"), str(uuid.uuid4())
    log.append(page_view(reader, 1.0, domain_sessionid="s1"))
    log.append(page_view(reader, 2.0, domain_sessionid="s2"))
    log.append(page_view(reader, 3.0))  # no session id
    log.append(page_view("another-device", 4.0, user_id=signed_in, domain_sessionid="s3"))
    log.append(page_view(other, 5.0, domain_sessionid="s4"))
    assert log.reader_sessions([reader]) == {"s1", "s2"}  # pending events included
    assert log.reader_sessions([reader], [signed_in]) == {"s1", "s2", "s3"}
    assert log.reader_sessions([]) == set()


def test_forget_commits_pending_events_first(log: EventLog, db: Path) -> None:
    slow = EventLog(f"sqlite:///{db.with_name('slow.db')}", flush_interval=60.0)  # nothing commits by itself
    try:
        reader, other = str(uuid.uuid4()), str(uuid.uuid4())
        slow.append(page_view(reader, 1.0))
        slow.append(page_view(other, 2.0))
        slow.append(_bad(f'{{"duid":"{reader}"}}'))
        assert slow.counts() == {"good": 0, "bad": 0}
        assert slow.forget([reader]) == {"events": 1, "bad_events": 1}
        slow.flush()
        assert slow.counts() == {"good": 1, "bad": 0}
        assert slow.reader_events(reader) == []
    finally:
        slow.close()


def test_ids_with_like_wildcards_match_only_themselves(log: EventLog) -> None:
    wild, tame = "a%b_c", "axxbyc"  # LIKE '%a%b_c%' would match both
    for reader in (wild, tame):
        log.append(page_view(reader, 1.0, user_id=f"u_{reader}"))
        log.append(_bad(f'{{"duid":"{reader}"}}'))
    assert log.forget([wild], [f"u_{wild}"]) == {"events": 1, "bad_events": 1}
    assert len(log.reader_events(tame)) == 1
    assert [row.payload for row in log.bad_events()] == [f'{{"duid":"{tame}"}}']


def test_forget_matches_escaped_ids_in_bad_payloads_and_reasons(log: EventLog) -> None:
    uid = 'ann "the reader"@example.com'
    log.append(_bad(orjson.dumps({"uid": uid}).decode()))  # JSON-escaped quotes
    log.append(_bad("e=pv&uid=ann+%22the+reader%22%40example.com"))  # a GET query string
    log.append(BadEvent(reason=f"field 'uid' is too long: {uid}", payload="{}", received_at=time.time()))
    log.append(_bad('{"uid": "someone else"}'))
    assert log.forget([], [uid]) == {"events": 0, "bad_events": 3}
    assert log.counts()["bad"] == 1


def test_empty_ids_and_lone_strings_are_refused_or_ignored(log: EventLog) -> None:
    log.append(page_view("", 1.0))
    log.append(_bad("anything"))
    assert log.forget([""], [""]) == {"events": 0, "bad_events": 0}
    with pytest.raises(TypeError):
        log.forget("abc")  # would forget every id containing "a", "b" or "c"
    with pytest.raises(TypeError):
        Checkpoints(log.engine).forget("abc")
    assert log.counts() == {"good": 1, "bad": 1}


def test_seqs_are_not_reused_after_the_newest_events_are_forgotten(db: Path) -> None:
    log = EventLog(f"sqlite:///{db}", flush_interval=0.01)
    keep, gone = str(uuid.uuid4()), str(uuid.uuid4())
    log.append(page_view(keep, 1.0))
    log.append(page_view(gone, 2.0))
    log.append(page_view(gone, 3.0))
    log.forget([gone])
    log.append(page_view(keep, 4.0))
    _, seq = log.position()
    assert seq == 4
    log.flush()
    assert [e.timestamp for e in log.events(after_seq=3)] == [4.0]
    log.forget([keep])  # the log is empty now; a restart must still start after seq 4
    log.close()
    reopened = EventLog(f"sqlite:///{db}", flush_interval=0.01)
    try:
        assert reopened.position()[1] == 4
        reopened.append(page_view(keep, 5.0))
        reopened.flush()
        assert [e.timestamp for e in reopened.events(after_seq=4)] == [5.0]
        reopened.reset()
        assert reopened.position()[1] == 0  # a reset starts the seqs again
        reopened.append(page_view(keep, 6.0))
        reopened.flush()
        assert [e.timestamp for e in reopened.events()] == [6.0]
        assert reopened.position()[1] == 1
    finally:
        reopened.close()


def test_an_old_database_gets_user_id_segments_and_the_segmented_indexes(db: Path) -> None:
    events = [page_view("d1", 1.0, user_id="u-1"), page_view("d2", 2.0)]
    with sqlite3.connect(db) as connection:
        connection.execute(
            "CREATE TABLE events (seq INTEGER NOT NULL PRIMARY KEY, event_id VARCHAR NOT NULL, event_name VARCHAR, "
            "domain_userid VARCHAR, derived_tstamp FLOAT NOT NULL, body BLOB NOT NULL)"
        )
        for column in ("domain_userid", "event_id", "event_name"):  # as versions before the segments did
            connection.execute(f"CREATE INDEX ix_events_{column} ON events ({column})")
        connection.executemany(
            "INSERT INTO events (event_id, event_name, domain_userid, derived_tstamp, body) VALUES (?, ?, ?, ?, ?)",
            [(e.event_id, "page_view", e.atomic["domain_userid"], e.timestamp, e.to_json()) for e in events],
        )
    connection.close()
    log = EventLog(f"sqlite:///{db}", flush_interval=0.01)
    try:
        with log.engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT domain_userid, user_id, segment FROM events ORDER BY seq").all()
            indexes = {row[1] for row in connection.exec_driver_sql("PRAGMA index_list(events)")}
        assert [tuple(r) for r in rows] == [("d1", "u-1", 0), ("d2", None, 0)]
        assert indexes == {"ix_events_segment_reader", "ix_events_segment_user"}  # the old indexes are gone
        log.append(page_view("d3", 3.0, user_id="u-1"))
        assert log.position()[1] == 3
        assert log.forget([], ["u-1"]) == {"events": 2, "bad_events": 0}
        assert [e.atomic["domain_userid"] for e in log.events()] == ["d2"]
    finally:
        log.close()
    EventLog(f"sqlite:///{db}").close()  # opening again: nothing left to migrate


def test_scrub_clears_rows_deleted_before_secure_delete(db: Path) -> None:
    EventLog(f"sqlite:///{db}").close()
    marker = _uid("deleted-long-ago")
    insert = "INSERT INTO bad_events (received_at, reason, payload) VALUES ('2024-01-01 00:00:00.000000', 'x', ?)"
    for statement, args in ((insert, (marker,)), ("DELETE FROM bad_events", ())):
        with sqlite3.connect(db) as connection:  # as an older version of the app did: no secure_delete
            connection.execute("PRAGMA secure_delete=OFF")
            connection.execute(statement, args)
        connection.close()
    assert marker.encode() in _file_bytes(db)  # the freed cell still holds it
    log = EventLog(f"sqlite:///{db}")
    try:
        log.scrub()
        assert marker.encode() not in _file_bytes(db)
    finally:
        log.close()


# The HyperLogLog behind "N reading now" counts readers' ids: it must keep none of them.


def test_hll_exact_mode_holds_hashes_not_values() -> None:
    state = None
    for i in range(50):
        state = HyperLogLog.add(state, f"reader-x{i}")
    assert isinstance(state, set) and all(isinstance(h, int) for h in state)
    assert "reader-x" not in repr(state)
    dumped = orjson.dumps(HyperLogLog.dump(state))
    assert b"reader-x" not in dumped
    assert HyperLogLog.count(state) == 50
    assert HyperLogLog.load(orjson.loads(dumped)) == state


@pytest.mark.parametrize("n", [1, EXACT_LIMIT, EXACT_LIMIT + 1, 1_000])
def test_hll_counts_match_counting_the_values(n: int) -> None:
    """Before hashing, the exact mode counted the values and the registers were built from their hashes:
    the same counts, whether built by adds or by merges."""
    values = [f"reader-{i}" for i in range(n)]
    state = a = b = None
    for i, value in enumerate(values):
        state = HyperLogLog.add(state, value)
        if i % 2:
            a = HyperLogLog.add(a, value)
        else:
            b = HyperLogLog.add(b, value)
    registers = bytearray(1024)
    for value in values:
        h = _hash(value)
        registers[h >> 54] = max(registers[h >> 54], 54 - (h & ((1 << 54) - 1)).bit_length() + 1)
    expected = n if n <= EXACT_LIMIT else HyperLogLog.count(registers)
    assert HyperLogLog.count(state) == HyperLogLog.count(HyperLogLog.merge(a, b)) == expected
    assert HyperLogLog.count(HyperLogLog.load(orjson.loads(orjson.dumps(HyperLogLog.dump(state))))) == expected


def test_hll_loads_the_old_dump_of_raw_values() -> None:
    old = {"exact": ["reader-1", "reader-2", 3, None]}
    state = HyperLogLog.load(old)
    assert state == {_hash("reader-1"), _hash("reader-2"), _hash(3), _hash(None)}
    assert HyperLogLog.count(HyperLogLog.add(state, "reader-1")) == 4  # a value seen before is not new
    assert HyperLogLog.count(HyperLogLog.add(state, "reader-5")) == 5


def test_reader_lookups_and_deletes_cover_every_segment(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With 4 seqs per segment, one reader's events span many segments: all are found, newest first, and deleted."""
    monkeypatch.setattr(event_log, "SEGMENT_BITS", 2)
    log = EventLog(f"sqlite:///{db}", flush_interval=0.01)
    try:
        for i in range(30):
            log.append(page_view("a" if i % 3 == 0 else "b", float(i), user_id="u-a" if i % 3 == 0 else None))
        log.flush()
        with log.engine.connect() as connection:
            segments = connection.exec_driver_sql("SELECT DISTINCT segment FROM events ORDER BY 1").scalars().all()
        assert segments == list(range(8))  # seqs 1..30
        assert [e.timestamp for e in log.reader_events("a", limit=4)] == [27.0, 24.0, 21.0, 18.0]
        assert len(log.reader_events("a", limit=50)) == 10
        assert log.forget([], ["u-a"]) == {"events": 10, "bad_events": 0}
        assert log.reader_events("a") == []
        assert log.delete_events("b") == 20
        assert log.counts()["good"] == 0
    finally:
        log.close()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT body FROM events WHERE segment = 0 AND domain_userid = 'a' ORDER BY seq DESC LIMIT 5",
        "DELETE FROM events WHERE segment IN (0, 1) AND domain_userid IN ('a', 'b')",
        "DELETE FROM events WHERE segment IN (0, 1) AND user_id IN ('u-a', 'u-b')",
    ],
)
def test_reader_queries_search_the_segmented_indexes(log: EventLog, query: str) -> None:
    """The shapes of `reader_events`, `forget` and `delete_events`: an index search, never a scan of the log."""
    with log.engine.connect() as connection:
        plan = " ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
    assert "SEARCH events USING INDEX ix_events_segment_" in plan, plan


def test_the_checkpoint_thread_moves_committed_pages_into_the_database_file(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits leave checkpointing to the log's own thread (auto-checkpoint is off): it must still happen."""
    monkeypatch.setattr(event_log, "CHECKPOINT_BYTES", 20_000)
    log = EventLog(f"sqlite:///{db}", flush_interval=0.01)
    try:
        with log.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        empty = db.stat().st_size
        for i in range(300):
            log.append(page_view(f"reader-{i}", float(i), page_title="x" * 200))
        log.flush()
        deadline = time.monotonic() + 10
        while db.stat().st_size == empty and time.monotonic() < deadline:
            time.sleep(0.05)
        assert db.stat().st_size > empty + 60_000  # the rows reached the file itself, not only the WAL
    finally:
        log.close()
