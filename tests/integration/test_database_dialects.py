"""The dialect helpers of storage/database.py give the same answers on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from media_demo.signals.engine.events import BadEvent
from media_demo.signals.storage.checkpoints import StateRow
from media_demo.signals.storage.database import (
    BIG_INT,
    contains_text,
    json_text,
    open_database,
    table_of,
    upsert,
)
from media_demo.signals.storage.event_log import BadEventRow, EventLog, EventRow, LogMarkRow
from tests.factories import page_view

pytestmark = pytest.mark.each_database


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    table_of(StateRow).create(engine)
    table_of(LogMarkRow).create(engine)
    table_of(BadEventRow).create(engine)
    table_of(EventRow).create(engine)
    yield engine
    engine.dispose()


def test_upsert_replaces_taken_keys_and_keeps_the_last_of_repeated_ones(engine: Engine) -> None:
    table = table_of(StateRow)
    with engine.begin() as connection:
        upsert(connection, table, [{"group_id": "g", "entity": "a", "state": b"1"}])
        upsert(
            connection,
            table,
            [
                {"group_id": "g", "entity": "a", "state": b"2"},
                {"group_id": "g", "entity": "b", "state": b"3"},
                {"group_id": "g", "entity": "b", "state": b"4"},
            ],
        )
        upsert(connection, table, [])
        rows = connection.execute(select(table.c.entity, table.c.state).order_by(table.c.entity)).all()
    assert [(entity, bytes(state)) for entity, state in rows] == [("a", b"2"), ("b", b"4")]


def test_a_big_int_column_holds_seqs_past_32_bits(engine: Engine) -> None:
    assert isinstance(table_of(LogMarkRow).c.value.type, type(BIG_INT))
    with engine.begin() as connection:
        upsert(connection, table_of(LogMarkRow), [{"name": "max_seq", "value": 2**40 + 1}])
        assert connection.execute(select(col(LogMarkRow.value))).scalar() == 2**40 + 1


def test_json_text_reads_a_nested_field_of_a_stored_body_or_null(engine: Engine) -> None:
    body = orjson.dumps({"atomic": {"domain_sessionid": "s-1", "se_value": 2.5}})
    row = {"seq": 1, "segment": 0, "event_id": "e", "derived_tstamp": 0.0, "body": body}
    with engine.begin() as connection:
        connection.execute(table_of(EventRow).insert(), [row])
        found = connection.execute(
            select(
                json_text(col(EventRow.body), "atomic", "domain_sessionid"),
                json_text(col(EventRow.body), "atomic", "user_id"),
            )
        ).one()
    assert tuple(found) == ("s-1", None)
    with pytest.raises(ValueError, match="identifiers"):
        json_text(col(EventRow.body), "atomic", "x') OR 1=1 --")


def test_contains_text_is_exact_case_sensitive_and_has_no_wildcards(engine: Engine) -> None:
    texts = ["duid=ABC", "duid=abc", "100%_done", "1000 done"]
    with engine.begin() as connection:
        connection.execute(
            table_of(BadEventRow).insert(),
            [{"received_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "reason": "r", "payload": text} for text in texts],
        )

        def matching(needle: str) -> list[str]:
            query = select(col(BadEventRow.payload)).where(contains_text(BadEventRow.payload, needle))
            return sorted(connection.execute(query).scalars())

        assert matching("abc") == ["duid=abc"]
        assert matching("%_") == ["100%_done"]
        assert matching("0 d") == ["1000 done"]


def test_a_nul_in_a_payload_neither_stops_the_log_nor_hides_the_reader_from_deletion(database_url: str) -> None:
    log = EventLog(database_url, flush_interval=0.01)
    try:
        user = "user\x00one"
        event = page_view(str(uuid.uuid4()), page_title="nul\x00title", user_id=user)
        log.append(event)
        log.append(BadEvent(received_at=0.0, reason=f"bad uid {user}", payload=f'{{"uid":"{user}"}}'))
        log.flush(timeout=5)
        assert log.counts() == {"good": 1, "bad": 1}
        (stored,) = log.reader_events(event.atomic["domain_userid"])
        assert stored.atomic["page_title"] == "nul\x00title"  # the body keeps it: JSON escapes it
        assert log.forget([], [user]) == {"events": 1, "bad_events": 1}
    finally:
        log.close()
