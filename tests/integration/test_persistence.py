"""Stop and restart: a reader's profile and recommendations come back from the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from snowplow_signals import SignalsSandbox
from snowplow_tracker import Emitter, PagePing, StructuredEvent, Subject, Tracker
from sqlalchemy import delete, update
from sqlmodel import col

from media_demo.api import recommendations_document
from media_demo.articles import Corpus
from media_demo.newsroom import Newsroom, get_index
from media_demo.settings import Settings
from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.storage.checkpoints import CheckpointRow, Checkpoints, StateRow
from media_demo.signals.storage.database import open_database
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.integration.conftest import API_TOKEN, eventually, grant, running
from tests.integration.test_protocol_roundtrip import VALUES, expected, read_back, struct_values

pytestmark = pytest.mark.each_database


def test_a_new_newsroom_on_the_same_file_has_the_same_profiles(settings: Settings, corpus: Corpus) -> None:
    first = Newsroom(settings, corpus, get_index())
    readers = [Reader(new_domain_userid(), touch_session(None, time.time())) for _ in range(3)]
    for i, reader in enumerate(readers):
        grant(first, reader)
        for article in corpus.articles[i * 5 : i * 5 + 4]:
            page = Page(url=f"http://localhost:3000/article/{article.slug}", title=article.title)
            first.tracker.page_view(reader, page)
            first.tracker.article_view(reader, page, article)
    before = {r.domain_userid: first.views.attributes(r.domain_userid) for r in readers}
    recommendations_before = {r.domain_userid: recommendations_document(first.views, r.domain_userid) for r in readers}
    trending_before = first.views.trending(10)
    first.close()  # commits what is pending

    second = Newsroom(settings, corpus, get_index())
    try:
        assert second.replayed == 0  # close() wrote a checkpoint: nothing to replay
        for reader in readers:
            assert second.views.attributes(reader.domain_userid) == before[reader.domain_userid]
            assert before[reader.domain_userid]["article_read_count"] == 4
            after = recommendations_document(second.views, reader.domain_userid)
            assert after["recommendations"] == recommendations_before[reader.domain_userid]["recommendations"]
        assert second.views.trending(10) == trending_before
    finally:
        second.close()


def test_bad_payloads_are_kept_with_their_reason(newsroom: Newsroom) -> None:
    newsroom.collect({"e": "pv", "eid": "not-a-uuid", "duid": new_domain_userid()})
    newsroom.log.flush()
    assert newsroom.log.counts() == {"good": 0, "bad": 1}
    (bad,) = newsroom.log.bad_events()
    assert "eid" in bad.reason and "not-a-uuid" in bad.payload


def _read(room: Newsroom, reader: Reader, articles: list) -> None:
    if room.privacy.consent_of(reader.domain_userid) is None:
        grant(room, reader)
    for article in articles:
        page = Page(url=f"http://localhost:3000/article/{article.slug}", title=article.title)
        room.tracker.page_view(reader, page)
        room.tracker.article_view(reader, page, article)


def test_checkpoint_plus_tail_equals_a_full_replay(settings: Settings, corpus: Corpus) -> None:
    first = Newsroom(settings, corpus, get_index())
    readers = [Reader(new_domain_userid(), touch_session(None, time.time())) for _ in range(4)]
    for i, reader in enumerate(readers):
        _read(first, reader, list(corpus.articles[i : i + 3]))
    first.ingest.checkpoint()
    for i, reader in enumerate(readers[1:]):
        _read(first, reader, list(corpus.articles[10 + i : 12 + i]))
    # A crash: the log is committed, the last events are not in any checkpoint.
    first.ingest.stop()
    first.log.close()

    second = Newsroom(settings, corpus, get_index())
    try:
        assert second.replayed == 3 * 2 * 2
        scratch = AttributeEngine(second.memory.engine.groups)
        for event in second.log.events():
            scratch.ingest(event)
        for reader in readers:
            restored = second.views.attributes(reader.domain_userid)
            assert restored == scratch.get_attributes("reader_profile", reader.domain_userid)
            assert restored["article_read_count"] == (3 if reader is readers[0] else 5)
        assert second.memory.read_stats.dump() == first.memory.read_stats.dump()
    finally:
        second.close()


def test_a_checkpoint_is_ignored_when_the_definitions_changed(settings: Settings, corpus: Corpus) -> None:
    first = Newsroom(settings, corpus, get_index())
    reader = Reader(new_domain_userid(), touch_session(None, time.time()))
    _read(first, reader, list(corpus.articles[:2]))
    first.close()
    fewer_categories = Corpus([a for a in corpus if a.category != "sport"])
    second = Newsroom(settings, fewer_categories, get_index())
    try:
        assert second.replayed == 5  # consent + 4 events; a different reader_profile group: rebuilt from the log
        assert "sport_read_count" not in second.views.attributes(reader.domain_userid)
    finally:
        second.close()


def _side_state(room: Newsroom) -> tuple:
    """Everything kept beside the attributes, as plain data."""
    interventions, consent = (
        sorted(map(str, room.memory.interventions.dump())),
        sorted(map(str, room.memory.consent.dump())),
    )
    return room.memory.read_stats.dump(), interventions, consent, room.memory.links.dump()


def test_a_checkpoint_writes_only_what_changed_since_the_last_one(settings: Settings, corpus: Corpus) -> None:
    room = Newsroom(settings, corpus, get_index())
    saved: list[tuple[int, int]] = []
    save = room.checkpoints.save

    def counting_save(*args, **kwargs) -> None:  # (states written, side rows written)
        states, rows = args[0], args[4]
        saved.append((sum(len(pairs) for pairs in states.values()), len(rows)))
        save(*args, **kwargs)

    room.checkpoints.save = counting_save  # type: ignore[method-assign]
    try:
        readers = [Reader(new_domain_userid(), touch_session(None, time.time())) for _ in range(40)]
        for i, reader in enumerate(readers):
            _read(room, reader, list(corpus.articles[i % 20 : i % 20 + 3]))
        room.ingest.checkpoint()
        _read(room, readers[0], [corpus.articles[30]])  # one more story for one reader
        room.ingest.checkpoint()
        (_, first_rows), (states, rows) = saved
        assert first_rows >= 40 * 3  # every (story, reader) pair, consent and intervention state once
        assert states <= 6 and rows <= 7  # then only that reader's and that story's entries (one per intervention rule)
    finally:
        room.close()


def test_side_state_comes_back_from_the_checkpoint_as_it_was(settings: Settings, corpus: Corpus) -> None:
    first = Newsroom(settings, corpus, get_index())
    readers = [Reader(new_domain_userid(), touch_session(None, time.time())) for _ in range(5)]
    for i, reader in enumerate(readers):
        _read(first, reader, list(corpus.articles[i : i + 4]))
    signed_in = Reader(readers[0].domain_userid, readers[0].session, user_id="grace@example.org")
    _read(first, signed_in, [corpus.articles[20]])  # links the device to the account
    first.privacy.forget_reader([readers[1].domain_userid])  # its reads stay, anonymously
    before = _side_state(first)
    assert before[3] == {"grace@example.org": [readers[0].domain_userid]}
    first.close()

    second = Newsroom(settings, corpus, get_index())
    try:
        assert second.replayed == 0
        assert _side_state(second) == before
    finally:
        second.close()


def test_a_checkpoint_from_before_entry_by_entry_rows_is_still_read(settings: Settings, corpus: Corpus) -> None:
    first = Newsroom(settings, corpus, get_index())
    readers = [Reader(new_domain_userid(), touch_session(None, time.time())) for _ in range(3)]
    for i, reader in enumerate(readers):
        _read(first, reader, list(corpus.articles[i : i + 2]))
    before = _side_state(first)
    legacy = orjson.dumps(
        {
            "read_stats": first.memory.read_stats.dump(),
            "interventions": first.memory.interventions.dump(),
            "consent": first.memory.consent.dump(),
            "links": first.memory.links.dump(),
        }
    )
    first.close()
    with first.log.engine.begin() as connection:  # as an older version left it: all in `extra`, no rows
        connection.execute(delete(StateRow).where(col(StateRow.group_id).startswith("@")))
        connection.execute(update(CheckpointRow).values(extra=legacy))

    second = Newsroom(settings, corpus, get_index())
    try:
        assert second.replayed == 0 and _side_state(second) == before
        second.ingest.checkpoint()  # now written entry by entry
    finally:
        second.close()
    third = Newsroom(settings, corpus, get_index())
    try:
        assert _side_state(third) == before
    finally:
        third.close()


def test_typed_atomic_values_come_back_typed_after_a_restart_and_a_replay(settings: Settings, corpus: Corpus) -> None:
    """Numbers stay numbers and booleans booleans in the log, and attributes over them come back equal,
    from the checkpoint and from a full replay of the log."""
    reader = new_domain_userid()
    with running(settings, corpus) as (room, url):
        sandbox = SignalsSandbox(api_url=url, sandbox_token=API_TOKEN)
        sandbox.publish([struct_values()])
        parts = urlsplit(url)
        emitter = Emitter(parts.hostname or "", protocol="http", port=parts.port, method="post", batch_size=1)
        subject = (
            Subject()
            .set_platform("web")
            .set_domain_user_id(reader)
            .set_domain_session_index(4)
            .set_screen_resolution(1920, 1080)
            .set_viewport(1280, 720)
            .set_color_depth(24)
        )
        tracker = Tracker(namespace="persist", emitters=emitter, app_id="persist", subject=subject)
        for value in VALUES:
            tracker.track(StructuredEvent(category="video", action="play", label="trailer", value=value))
        tracker.track(PagePing(page_url="http://localhost:3000/", min_x=0, max_x=5, min_y=-3, max_y=800))
        # The pixel route as a browser tracker sends its flags: text "1"/"0" that become booleans.
        flags = {"e": "pp", "eid": str(uuid.uuid4()), "duid": reader, "cookie": "1", "f_pdf": "0", "ds": "1265x4012"}
        assert httpx.get(f"{url}/i", params=flags).status_code == 200
        tracker.flush()
        eventually(lambda: _assert_events(room, reader, len(VALUES) + 2))
        events = {e.event_id: e.atomic for e in room.log.reader_events(reader)}
        attributes = read_back(sandbox, reader)
    assert attributes == expected(VALUES, len(VALUES))
    flagged = events[flags["eid"]]
    assert (flagged["br_cookies"], flagged["br_features_pdf"], flagged["doc_height"]) == (True, False, 4012)

    with running(settings, corpus) as (room, url):  # from the checkpoint written at close
        assert room.replayed == 0
        assert read_back(SignalsSandbox(api_url=url, sandbox_token=API_TOKEN), reader) == attributes

    engine = open_database(settings.database_url)  # lose the checkpoint: rebuilt from the log alone
    Checkpoints(engine).clear()
    engine.dispose()
    with running(settings, corpus) as (room, url):
        assert room.replayed >= len(events)
        replayed = {e.event_id: e.atomic for e in room.log.reader_events(reader)}
        assert replayed == events
        assert {i: _types(a) for i, a in replayed.items()} == {i: _types(a) for i, a in events.items()}
        assert read_back(SignalsSandbox(api_url=url, sandbox_token=API_TOKEN), reader) == attributes
    typed = [a for a in events.values() if "se_value" in a]
    assert {(type(a["se_value"]), type(a["domain_sessionidx"]), type(a["dvce_screenwidth"])) for a in typed} == {
        (float, int, int)
    }


def _assert_events(room: Newsroom, reader: str, count: int) -> None:
    assert len(room.log.reader_events(reader)) == count


def _types(atomic: dict[str, Any]) -> dict[str, type]:
    return {name: type(value) for name, value in atomic.items()}
