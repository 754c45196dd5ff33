"""Stop and restart: a reader's profile and recommendations come back from SQLite."""

from __future__ import annotations

import time

from media_demo.articles import Corpus
from media_demo.newsroom import Newsroom, get_index
from media_demo.settings import Settings
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session


def test_a_new_newsroom_on_the_same_file_has_the_same_profiles(settings: Settings, corpus: Corpus) -> None:
    first = Newsroom(settings, corpus, get_index())
    readers = [Reader(new_domain_userid(), touch_session(None, time.time())) for _ in range(3)]
    for i, reader in enumerate(readers):
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
        assert second.replayed == 3 * 4 * 2
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
