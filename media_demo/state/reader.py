"""The reader's state: identity cookies, tracking, and live recommendations."""

from __future__ import annotations

import asyncio
import time

import reflex as rx

from media_demo.newsroom import Newsroom, get_newsroom
from media_demo.state.cards import RecommendationCard, TrendingCard
from media_demo.state.clients import OPEN_TABS
from media_demo.tracking import Page, Reader, ReaderSession, is_domain_userid, new_domain_userid, touch_session
from media_demo.tracking.identity import SESSION_COOKIE, USER_COOKIE, USER_COOKIE_MAX_AGE

TRENDING_COUNT = 5


class ReaderState(rx.State):
    """Who is reading, what they have read, and what to recommend next.

    Every page's `on_load` calls `visit`, which tracks the page view (and the
    article view) through the Snowplow tracker, then reads the reader's
    fresh attributes back: the panel changes without a reload.
    """

    domain_userid: str = rx.Cookie("", name=USER_COOKIE, max_age=USER_COOKIE_MAX_AGE, same_site="lax")
    session: str = rx.Cookie("", name=SESSION_COOKIE, max_age=USER_COOKIE_MAX_AGE, same_site="lax")
    read_slugs: list[str] = []
    recommendations: list[RecommendationCard] = []
    recommendations_loaded: bool = False
    trending: list[TrendingCard] = []
    # Other real readers on this page in the last few minutes (pushed live as it changes).
    others_here: int = 0
    _previous_url: str = ""

    def _reader(self) -> Reader:
        """The reader behind this tab, issuing or rotating ids as needed."""
        if not is_domain_userid(self.domain_userid):
            self.domain_userid = new_domain_userid()
        session = touch_session(ReaderSession.from_cookie(self.session), time.time())
        self.session = session.to_cookie()
        return Reader(
            domain_userid=self.domain_userid,
            session=session,
            user_agent=self.router.headers.user_agent or None,
            ip_address=self.router.session.client_ip or None,
        )

    def _refresh(self, newsroom: Newsroom) -> None:
        attributes = newsroom.attributes(self.domain_userid)
        self.read_slugs = list(attributes["articles_read"])
        picks = newsroom.recommendations(self.domain_userid, attributes=attributes)  # one read, even when remote
        self.recommendations = [RecommendationCard.of(r) for r in picks]
        self.recommendations_loaded = True
        self.trending = [
            TrendingCard.of(article, readers)
            for slug, readers in newsroom.trending(TRENDING_COUNT)
            if (article := newsroom.corpus.get(slug)) is not None
        ]

    @rx.event
    async def visit(self, title: str, article_slug: str = ""):
        """Track this page view (and article view), then refresh the reader's panel."""
        newsroom = get_newsroom()
        reader = self._reader()
        OPEN_TABS.add(reader.domain_userid, self.router.session.client_token)
        path = self.router.url.path or "/"
        OPEN_TABS.on_page(self.router.session.client_token, path)
        page = Page(url=str(self.router.url), title=title, referrer=self._previous_url or None)
        newsroom.tracker.page_view(reader, page)
        article = newsroom.corpus.get(article_slug) if article_slug else None
        if article is not None:
            newsroom.tracker.article_view(reader, page, article)
        self._previous_url = page.url
        self._refresh(newsroom)
        self.others_here = max(0, newsroom.readers_now(path) - 1) if article is not None else 0
        # The events are applied in memory already; wait for their group commit
        # so nothing the reader saw can be lost by a crash.
        await asyncio.to_thread(newsroom.log.flush)
