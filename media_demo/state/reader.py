"""The reader's state: identity cookies, context, tracking, and live recommendations."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import reflex as rx

from media_demo.newsroom import ReaderView, get_newsroom
from media_demo.personalise import ReaderContext
from media_demo.state.cards import RecommendationCard, TrendingCard
from media_demo.state.clients import OPEN_TABS
from media_demo.state.home import HomeState
from media_demo.tracking import Page, Reader, ReaderSession, is_domain_userid, new_domain_userid, touch_session
from media_demo.tracking.identity import SESSION_COOKIE, USER_COOKIE, USER_COOKIE_MAX_AGE

TRENDING_COUNT = 5
# What only the browser knows: where the reader came from and their time zone.
CLIENT_CONTEXT_SCRIPT = "[document.referrer || '', -new Date().getTimezoneOffset()]"


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
    segment: str = ""
    # Other real readers on this page in the last few minutes (pushed live as it changes).
    others_here: int = 0
    _previous_url: str = ""
    _client_context: list[Any] | None = None  # [document.referrer, tz offset], once per tab
    _landing_query: str = ""
    _pending_visit: list[str] = []
    _days_away: float | None = None

    def _reader(self) -> Reader:
        """The reader behind this tab, issuing or rotating ids as needed."""
        if not is_domain_userid(self.domain_userid):
            self.domain_userid = new_domain_userid()
        now = time.time()
        previous = ReaderSession.from_cookie(self.session)
        session = touch_session(previous, now)
        if previous is not None and session.index > previous.index:
            self._days_away = (now - previous.last_activity) / 86400
        self.session = session.to_cookie()
        return Reader(
            domain_userid=self.domain_userid,
            session=session,
            user_agent=self.router.headers.user_agent or None,
            ip_address=self.router.session.client_ip or None,
        )

    def _context(self) -> ReaderContext:
        """The reader's context: device, languages, the link and referrer that brought them, local hour."""
        referrer, offset = self._client_context or ["", None]
        return ReaderContext.from_request(
            user_agent=self.router.headers.user_agent or None,
            referrer=referrer or None,
            query=self._landing_query,
            accept_language=self.router.headers.accept_language or None,
            host=self.router.url.hostname,
            tz_offset_minutes=offset if isinstance(offset, int) and abs(offset) <= 14 * 60 else None,
        )

    def _refresh(self, view: ReaderView) -> None:
        newsroom = get_newsroom()
        self.read_slugs = list(view.attributes["articles_read"])
        self.recommendations = [RecommendationCard.of(r) for r in view.recommendations]
        self.recommendations_loaded = True
        self.segment = view.segment.name
        self.trending = [
            TrendingCard.of(article, readers)
            for slug, readers in newsroom.trending(TRENDING_COUNT)
            if (article := newsroom.corpus.get(slug)) is not None
        ]

    async def _track_visit(self, title: str, article_slug: str) -> None:
        newsroom = get_newsroom()
        reader = self._reader()
        token = self.router.session.client_token
        path = self.router.url.path or "/"
        OPEN_TABS.add(reader.domain_userid, token)
        OPEN_TABS.on_page(token, path)
        external = (self._client_context or [""])[0] if not self._previous_url else ""
        page = Page(url=str(self.router.url), title=title, referrer=self._previous_url or external or None)
        newsroom.tracker.page_view(reader, page)
        article = newsroom.corpus.get(article_slug) if article_slug else None
        if article is not None:
            newsroom.tracker.article_view(reader, page, article)
        self._previous_url = page.url
        view = newsroom.reader_view(reader.domain_userid, self._context(), reader.session.index, self._days_away)
        self._refresh(view)
        if path == "/":
            (await self.get_state(HomeState)).arrange(view.layout, view.segment)
        self.others_here = max(0, newsroom.readers_now(path) - 1) if article is not None else 0
        # The events are applied in memory already; wait for their group commit
        # so nothing the reader saw can be lost by a crash.
        await asyncio.to_thread(newsroom.log.flush)

    @rx.event
    async def visit(self, title: str, article_slug: str = ""):
        """Track this page view (and article view), then refresh the reader's panel.

        The first visit of a tab first asks the browser for its referrer and
        time zone, so the first page view carries them and the cold start can use them.
        """
        if self._client_context is None:
            self._pending_visit = [title, article_slug]
            self._landing_query = self.router.url.query
            return rx.call_script(CLIENT_CONTEXT_SCRIPT, callback=ReaderState.client_context)
        await self._track_visit(title, article_slug)

    @rx.event
    async def client_context(self, values: list[Any]):
        """The browser's answer to CLIENT_CONTEXT_SCRIPT: now track the visit that was waiting."""
        valid = isinstance(values, list) and len(values) == 2
        referrer = values[0] if valid and isinstance(values[0], str) else ""
        offset = values[1] if valid and isinstance(values[1], int) else None
        self._client_context = [referrer[:2048], offset]
        title, slug = self._pending_visit or ["", ""]
        self._pending_visit = []
        await self._track_visit(title, slug)
