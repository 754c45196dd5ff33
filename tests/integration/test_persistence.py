"""Stop and restart: a reader's profile and recommendations come back from SQLite."""

from __future__ import annotations

import time

from media_demo.articles import Corpus
from media_demo.newsroom import Newsroom, get_index
from media_demo.settings import Settings
from media_demo.signals import AttributeEngine
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.integration.conftest import grant


def test_a_new_newsroom_on_the_same_file_has_the_same_profiles(settings: Settings, corpus: Corpus) -> None:
    first = Newsroom(settings, corpus, get_index())
    readers = [Reader(new_domain_userid(), touch_session(None, time.time())) for _ in range(3)]
    for i, reader in enumerate(readers):
        grant(first, reader)
        for article in corpus.articles[i * 5 : i * 5 + 4]:
            page = Page(url=f"http://localhost:3000/article/{article.slug}", title=article.title)
            first.tracker.page_view(reader, page)
            first.tracker.article_view(reader, page, article)
    before = {r.domain_userid: first.attributes(r.domain_userid) for r in readers}
    recommendations_before = {r.domain_userid: first.recommendations_document(r.domain_userid) for r in readers}
    trending_before = first.trending(10)
    first.close()  # commits what is pending

    second = Newsroom(settings, corpus, get_index())
    try:
        assert second.replayed == 0  # close() wrote a checkpoint: nothing to replay
        for reader in readers:
            assert second.attributes(reader.domain_userid) == before[reader.domain_userid]
            assert before[reader.domain_userid]["article_read_count"] == 4
            after = second.recommendations_document(reader.domain_userid)
            assert after["recommendations"] == recommendations_before[reader.domain_userid]["recommendations"]
        assert second.trending(10) == trending_before
    finally:
        second.close()


def test_bad_payloads_are_kept_with_their_reason(newsroom: Newsroom) -> None:
    newsroom.collect({"e": "pv", "eid": "not-a-uuid", "duid": new_domain_userid()})
    newsroom.log.flush()
    assert newsroom.log.counts() == {"good": 0, "bad": 1}
    (bad,) = newsroom.log.bad_events()
    assert "eid" in bad.reason and "not-a-uuid" in bad.payload


def _read(room: Newsroom, reader: Reader, articles: list) -> None:
    if room.consent_of(reader.domain_userid) is None:
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
    first.checkpoint()
    for i, reader in enumerate(readers[1:]):
        _read(first, reader, list(corpus.articles[10 + i : 12 + i]))
    # A crash: the log is committed, the last events are not in any checkpoint.
    first._stop.set()
    first.log.close()

    second = Newsroom(settings, corpus, get_index())
    try:
        assert second.replayed == 3 * 2 * 2
        scratch = AttributeEngine(second.engine.groups)
        for event in second.log.events():
            scratch.ingest(event)
        for reader in readers:
            restored = second.attributes(reader.domain_userid)
            assert restored == scratch.get_attributes("reader_profile", reader.domain_userid)
            assert restored["article_read_count"] == (3 if reader is readers[0] else 5)
        assert second.read_stats.dump() == first.read_stats.dump()
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
        assert "sport_read_count" not in second.attributes(reader.domain_userid)
    finally:
        second.close()
