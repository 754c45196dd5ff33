"""ReaderViews: what a page shows a reader, the trending list, and the reader change feed."""

from __future__ import annotations

import datetime as dt
import time

from media_demo.newsroom import Newsroom
from media_demo.personalise import ReaderContext
from media_demo.services.reader_views import NO_CONSENT_YET
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.integration.conftest import grant, read


def new_reader(user_id: str | None = None) -> Reader:
    return Reader(new_domain_userid(), touch_session(None, time.time()), user_id=user_id)


def test_a_visit_tracks_the_page_and_reads_back_what_it_shows(newsroom: Newsroom) -> None:
    views = newsroom.views
    reader = new_reader()
    grant(newsroom, reader)
    article = newsroom.corpus.articles[0]
    page = Page(url=f"http://localhost:3000/article/{article.slug}", title=article.title)
    visit = views.visit(reader, page, article.slug, trending=3)
    assert newsroom.log.counts()["good"] == 3  # consent, page view, article view: committed on return
    assert visit.view.attributes["articles_read"] == [article.slug]
    assert visit.view.personalised and visit.view.consent is not None
    assert visit.readers_here == 1
    assert visit.trending == [(article.slug, 1)]
    assert article.slug not in {r.article.slug for r in visit.view.recommendations}


def test_a_reader_without_a_choice_gets_a_first_visits_view_and_why(newsroom: Newsroom) -> None:
    view = newsroom.views.reader_view(new_domain_userid())
    assert not view.personalised and view.reason == NO_CONSENT_YET and view.consent is None
    fresh, trending = newsroom.views.refresh(new_domain_userid(), None, 1, None, 5)
    assert not fresh.personalised and trending == []


def test_a_signed_in_readers_devices_read_as_one(newsroom: Newsroom) -> None:
    laptop, phone = new_reader("ada@example.org"), new_reader("ada@example.org")
    read(newsroom, laptop, newsroom.corpus.articles[0].slug)
    read(newsroom, phone, newsroom.corpus.articles[1].slug)
    merged = newsroom.views.attributes(phone.domain_userid, "ada@example.org")
    assert merged["article_read_count"] == 2
    (row,) = newsroom.read_attributes("reader_profile", 1, ["ada@example.org"], ["article_read_count"], stitched=True)
    assert row == {"article_read_count": 2}


def test_watchers_hear_their_readers_events_until_they_stop_or_the_reader_is_forgotten(newsroom: Newsroom) -> None:
    views = newsroom.views
    reader, other = new_reader(), new_reader()
    heard: list[str] = []
    unwatch = views.watch_reader(reader.domain_userid, lambda: heard.append("news"))
    grant(newsroom, other)
    grant(newsroom, reader)
    assert heard == ["news"]
    unwatch()
    grant(newsroom, reader)
    assert heard == ["news"]
    views.watch_reader(reader.domain_userid, lambda: heard.append("again"))
    newsroom.privacy.forget_reader([reader.domain_userid])
    grant(newsroom, reader)
    assert heard == ["news"]  # the deletion dropped the watcher with the rest
    assert views.reader_events(reader.domain_userid, 10)  # the new choice is in the log already


def test_the_story_on_screen_is_never_recommended_beside_itself_to_a_reader_without_history(
    newsroom: Newsroom,
) -> None:
    """Without kept reads the panel is the most-read (or contextual) list: the story being read is left out."""
    story = newsroom.corpus.articles[2]
    for _ in range(3):  # the most-read story, so the plain cold start would name it first
        read(newsroom, new_reader(), story.slug)
    other = newsroom.corpus.articles[4]
    read(newsroom, new_reader(), other.slug)
    newsroom.log.flush()
    page = Page(url=f"http://localhost:3000/article/{story.slug}", title=story.title)
    assert newsroom.views.reader_view(new_domain_userid()).recommendations[0].article.slug == story.slug
    contexts = (None, ReaderContext(at=dt.datetime(2026, 12, 6, 9, tzinfo=dt.UTC), local_hour=9))
    for context in contexts:
        visit = newsroom.views.visit(new_reader(), page, story.slug, context)  # no consent: no history
        assert not visit.view.personalised
        shown = [r.article.slug for r in visit.view.recommendations]
        assert shown and story.slug not in shown
        if context is None:
            assert shown == [other.slug]  # the next most-read
        refreshed, _ = newsroom.views.refresh(new_domain_userid(), context, 1, None, 5, reading=story.slug)
        assert story.slug not in {r.article.slug for r in refreshed.recommendations}
