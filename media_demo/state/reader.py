"""The reader's state: identity cookies, context, tracking, and live recommendations."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import reflex as rx
from reflex.istate.data import RouterData

from media_demo import routes
from media_demo.accounts import DEFAULT_SESSION_TTL, Account
from media_demo.newsroom import get_newsroom
from media_demo.personalise import ReaderContext
from media_demo.services.reader_views import ReaderView, ShownPanel
from media_demo.signals.engine.consent import BEHAVIOURAL, CONTEXTUAL
from media_demo.state.cards import RecommendationCard, TrendingCard, assign_changed
from media_demo.state.clients import OPEN_TABS
from media_demo.state.home import HomeState
from media_demo.state.read_marks import next_marks
from media_demo.tracking import Page, Reader, ReaderSession, new_domain_userid, touch_session
from media_demo.tracking.identity import (
    SESSION_COOKIE,
    SIGNATURE_COOKIE,
    USER_COOKIE,
    USER_COOKIE_MAX_AGE,
    is_signed_domain_userid,
    sign_domain_userid,
)

ACCOUNT_COOKIE = "dc_account"
ACCOUNT_COOKIE_MAX_AGE = int(DEFAULT_SESSION_TTL)  # the sign-in cookie lasts as long as the session it holds

T = TypeVar("T")

TRENDING_COUNT = 5
# What only the browser knows: where the reader came from and their time zone.
CLIENT_CONTEXT_SCRIPT = "[document.referrer || '', -new Date().getTimezoneOffset()]"


# A websocket reconnect runs the page's on_load again (Reflex rehydrates), as a reload
# does: only the page itself can tell the two apart. Each tracked view leaves its id on
# the page (gone with a reload; a navigation changes the history entry it names), and a
# second visit of the same URL asks for it before tracking.
def mark_tracked_script(view_id: str) -> str:
    """Leave `view_id` on the page, with the history entry it was tracked for."""
    return f"window.__dcTrackedView = {{view: '{view_id}', entry: (history.state && history.state.key) || null}}"


def is_tracked_script(view_id: str) -> str:
    """True in the browser when this document, on this history entry, already had view `view_id` tracked."""
    return (
        f"(t => !!t && t.view === '{view_id}' && t.entry === ((history.state && history.state.key) || null))"
        "(window.__dcTrackedView)"
    )


class ReaderState(rx.State):
    """Who is reading, what they have read, and what to recommend next.

    Every page's `on_load` calls `visit`, which tracks the page view (and the
    article view) through the Snowplow tracker, then reads the reader's
    fresh attributes back: the panel changes without a reload.
    """

    domain_userid: str = rx.Cookie("", name=USER_COOKIE, max_age=USER_COOKIE_MAX_AGE, same_site="lax")
    duid_signature: str = rx.Cookie("", name=SIGNATURE_COOKIE, max_age=USER_COOKIE_MAX_AGE, same_site="lax")
    session: str = rx.Cookie("", name=SESSION_COOKIE, max_age=USER_COOKIE_MAX_AGE, same_site="lax")
    account_token: str = rx.Cookie("", name=ACCOUNT_COOKIE, max_age=ACCOUNT_COOKIE_MAX_AGE, same_site="lax")
    # Who is signed in (empty when nobody): shown in the masthead.
    account_name: str = ""
    # The reader's consent, from the ledger: the banner shows until they choose.
    consent_known: bool = False
    consent_decided: bool = False
    allows_behavioural: bool = False
    allows_contextual: bool = True
    # Whether the panel used their reading history; when not, why (shown to them).
    personalised: bool = False
    not_personalised_reason: str = ""
    engine_unavailable: bool = False  # the engine service could not be asked: the panel says so
    # The "✓ Read" marks: the stories read when this tab last got them whole, and those read since.
    read_slugs: list[str] = []
    read_since: list[str] = []
    recommendations: list[RecommendationCard] = []
    recommendations_loaded: bool = False
    # A new id for every panel shown (the browser reports each one it sees once).
    panel_id: str = ""
    _panel: ShownPanel | None = None  # the panel on the page: what its impression and clicks log
    _panel_logged: bool = False
    _page: list[str] = ["", ""]  # the url and title of the page the panel is on, as tracked
    trending: list[TrendingCard] = []
    segment: str = ""
    # Other real readers on this page in the last few minutes (pushed live as it changes).
    others_here: int = 0
    _previous_url: str = ""
    _client_context: list[Any] | None = None  # [document.referrer, tz offset], once per tab
    _landing_query: str = ""
    _pending_visit: list[str] = []
    _tracked_view: str = ""  # the id of the last page view tracked, left on the page too
    _days_away: float | None = None
    _user_id: str = ""

    def _issue_reader_id(self) -> None:
        """A new anonymous id for this browser, signed so it cannot be swapped for someone else's."""
        self.domain_userid = new_domain_userid()
        self.duid_signature = sign_domain_userid(self.domain_userid, get_newsroom().cookie_secret)
        self.session = ""

    def _check_signature(self) -> None:
        """Replace an id cookie this server did not sign (edited, or from before signing)."""
        if not is_signed_domain_userid(self.domain_userid, self.duid_signature, get_newsroom().cookie_secret):
            self._issue_reader_id()

    def _cookie_reader(self, router: RouterData | None = None) -> Reader:
        """The reader behind this tab as its cookies say, issuing or rotating ids as needed.

        An id cookie without our signature (edited, or from before signing) is replaced
        by a new one: a browser can only ever act as the reader it was given. The
        signed-in account is not looked up here (a database read): `_as_reader` does it
        off the event loop. `router` is this event's router data when the caller already read it
        (each `self.router` assembles it anew).
        """
        self._check_signature()
        now = time.time()
        previous = ReaderSession.from_cookie(self.session)
        session = touch_session(previous, now)
        if previous is not None and session.index > previous.index:
            self._days_away = (now - previous.last_activity) / 86400
        self.session = session.to_cookie()
        router = router if router is not None else self.router
        return Reader(
            domain_userid=self.domain_userid,
            session=session,
            user_agent=router.headers.user_agent or None,
            ip_address=router.session.client_ip or None,
        )

    async def _as_reader(self, work: Callable[[Reader], T], reader: Reader | None = None) -> tuple[Reader, T]:
        """Run `work` for this tab's reader in one worker thread, with its signed-in account looked up there too.

        Every handler that acts as the reader comes through here, so its blocking work
        (the account store, the newsroom's lock, a remote Signals API) happens once, at
        its edge, and never on Reflex's event loop. `reader` is this tab's `_cookie_reader()`
        when the caller needed it first. Returns the signed-in reader and `work`'s result.
        """
        reader = reader or self._cookie_reader()
        token = self.account_token
        accounts = get_newsroom().accounts

        def signed_in_work() -> tuple[Account | None, Reader, T]:
            account = accounts.session_account(token) if token else None
            signed_in = dataclasses.replace(reader, user_id=account.user_id if account is not None else None)
            return account, signed_in, work(signed_in)

        account, signed_in, result = await asyncio.to_thread(signed_in_work)
        self._user_id = account.user_id if account is not None else ""
        self.account_name = account.display_name if account is not None else ""
        return signed_in, result

    def _context(self, router: RouterData) -> ReaderContext:
        """The reader's context: device, languages, the link and referrer that brought them, local hour."""
        referrer, offset = self._client_context or ["", None]
        headers = router.headers
        return ReaderContext.from_request(
            user_agent=headers.user_agent or None,
            referrer=referrer or None,
            query=self._landing_query,
            accept_language=headers.accept_language or None,
            host=router.url.hostname,
            tz_offset_minutes=offset if isinstance(offset, int) and abs(offset) <= 14 * 60 else None,
        )

    def _refresh(self, view: ReaderView, trending: list[tuple[str, int]]) -> None:
        """Show `view` and the trending list (only what changed is sent to the page)."""
        newsroom = get_newsroom()
        panel = view.shown_panel()
        if panel is None or self._panel is None or panel.log.panel_id != self._panel.log.panel_id:
            self._panel, self._panel_logged = panel, False
        consent = view.consent
        marks = next_marks(self.read_slugs, view.attributes["articles_read"])
        assign_changed(
            self,
            consent_known=not view.unavailable,  # the engine away: no banner, no note about their choice
            consent_decided=consent is not None,
            allows_behavioural=consent is not None and consent.allows(BEHAVIOURAL),
            allows_contextual=consent is None or consent.allows(CONTEXTUAL),
            personalised=view.personalised,
            not_personalised_reason=view.reason or "",
            engine_unavailable=view.unavailable,
            read_slugs=marks.shown,
            read_since=marks.since,
            recommendations=[RecommendationCard.of(r) for r in view.recommendations],
            panel_id=view.panel.panel_id if view.panel is not None and view.shown else "",
            recommendations_loaded=True,
            segment=view.segment.name,
            trending=[
                TrendingCard.of(article, readers)
                for slug, readers in trending
                if (article := newsroom.corpus.get(slug)) is not None
            ],
        )

    async def _track_visit(self, title: str, article_slug: str, router: RouterData | None = None) -> rx.event.EventSpec:
        """Track the page view; returns the script that marks the page as tracked.

        `router` is this event's router data when the caller already read it, as for `_cookie_reader`.
        """
        newsroom = get_newsroom()
        router = router if router is not None else self.router
        token = router.session.client_token
        path = router.url.path or "/"
        external = (self._client_context or [""])[0] if not self._previous_url else ""
        page = Page(url=str(router.url), title=title, referrer=self._previous_url or external or None)
        context, reader = self._context(router), self._cookie_reader(router)
        days_away = self._days_away  # as the cookies just told
        OPEN_TABS.add(reader.domain_userid, token)  # before the visit: an intervention it fires can reach this tab
        OPEN_TABS.on_page(token, path)
        reader, visit = await self._as_reader(
            lambda signed_in: newsroom.views.visit(signed_in, page, article_slug, context, days_away, TRENDING_COUNT),
            reader,
        )
        self._previous_url = page.url
        self._page = [page.url, page.title]
        self._refresh(visit.view, visit.trending)
        if path == "/":
            (await self.get_state(HomeState)).arrange(visit.view.layout, visit.view.segment)
        assign_changed(self, others_here=max(0, visit.readers_here - 1))
        self._tracked_view = uuid.uuid4().hex
        return rx.call_script(mark_tracked_script(self._tracked_view))

    def _panel_page(self) -> Page:
        """The page the panel is on, as its page view was tracked."""
        url, title = self._page
        return Page(url=url or str(self.router.url), title=title)

    def _current_page(self, title: str) -> Page:
        return Page(url=str(self.router.url), title=title, referrer=self._previous_url or None)

    async def _refresh_view(self) -> None:
        """Re-read the reader's attributes and consent after a change made outside `visit`."""
        router = self.router
        views, context = get_newsroom().views, self._context(router)
        path = router.url.path or "/"
        reading = path.removeprefix(routes.ARTICLE_PREFIX) if path.startswith(routes.ARTICLE_PREFIX) else ""
        _reader, (view, trending) = await self._as_reader(
            lambda signed_in: views.refresh(
                signed_in.domain_userid, context, signed_in.session.index, signed_in.user_id, TRENDING_COUNT, reading
            ),
            self._cookie_reader(router),
        )
        self._refresh(view, trending)
        if path == "/":
            (await self.get_state(HomeState)).arrange(view.layout, view.segment)

    def _reset_identity(self) -> None:
        """Forget this browser's ids (signed out, or data deleted): the next page issues new ones."""
        self._issue_reader_id()
        self.account_token = ""
        self.account_name = ""
        self._user_id = ""
        self._previous_url = ""
        self._tracked_view = ""

    def _clear_identity(self) -> None:
        """The reader's data was deleted: hold no id at all and show nothing of theirs.

        Unlike `_reset_identity`, no new id is issued here: the next page visit does
        that, so the reader then starts as a brand-new visitor (and is asked again).
        """
        self.domain_userid = ""
        self.duid_signature = ""
        self.session = ""
        self.account_token = ""
        self.account_name = ""
        self._user_id = ""
        self._previous_url = ""
        self._tracked_view = ""
        self._days_away = None
        self.consent_known = False
        self.consent_decided = False
        self.allows_behavioural = False
        self.allows_contextual = True
        self.personalised = False
        self.not_personalised_reason = ""
        self.read_slugs = []
        self.read_since = []
        self.recommendations = []
        self.recommendations_loaded = False
        self.segment = ""

    @rx.event
    async def visit(self, title: str, article_slug: str = ""):
        """Track this page view (and article view), then refresh the reader's panel.

        The first visit of a tab first asks the browser for its referrer and
        time zone, so the first page view carries them and the cold start can use them.
        """
        # Before anything else in this on_load reads the id (the first visit waits for the browser,
        # and the page's other on_load handlers run meanwhile): never leave a forged one in place.
        self._check_signature()
        router = self.router
        url = router.url
        if self._client_context is None:
            self._pending_visit = [title, article_slug]
            self._landing_query = url.query
            return rx.call_script(CLIENT_CONTEXT_SCRIPT, callback=ReaderState.client_context)
        if self._tracked_view and str(url) == self._previous_url:  # a reconnect, a reload or a re-click
            self._pending_visit = [title, article_slug]
            return rx.call_script(is_tracked_script(self._tracked_view), callback=ReaderState.same_url_visit)
        return await self._track_visit(title, article_slug, router)

    @rx.event
    async def same_url_visit(self, tracked: bool):
        """The page's answer to `is_tracked_script`: track the waiting visit unless this page already was."""
        title, slug = self._pending_visit or ["", ""]
        self._pending_visit = []
        if tracked is True:  # the websocket reconnected: no new view, but what changed meanwhile is shown
            await self._refresh_view()
            return None
        return await self._track_visit(title, slug)

    @rx.event
    async def client_context(self, values: list[Any]):
        """The browser's answer to CLIENT_CONTEXT_SCRIPT: now track the visit that was waiting."""
        valid = isinstance(values, list) and len(values) == 2
        referrer = values[0] if valid and isinstance(values[0], str) else ""
        offset = values[1] if valid and isinstance(values[1], int) else None
        self._client_context = [referrer[:2048], offset]
        title, slug = self._pending_visit or ["", ""]
        self._pending_visit = []
        return await self._track_visit(title, slug)

    def story_withdrawn(self, slug: str) -> None:
        """A story was unpublished: take it out of this tab's panels at once (its next page reads them anew)."""
        assign_changed(
            self,
            recommendations=[card for card in self.recommendations if card.slug != slug],
            trending=[card for card in self.trending if card.slug != slug],
        )

    @rx.event
    async def panel_seen(self, panel_id: str):
        """The browser shows panel `panel_id`: log its impression (and the experiment's exposure), once."""
        # `panel_id`, a plain string var set together with `_panel`, names it: compared first, a report of
        # an older panel returns without reading `_panel`, which Reflex wraps in a proxy at every read.
        if panel_id != self.panel_id or self._panel_logged or not self.domain_userid:
            return  # an older panel, or already logged
        panel = self._panel
        if panel is None:
            return
        self._panel_logged = True
        views, page = get_newsroom().views, self._panel_page()
        await self._as_reader(lambda reader: views.panel_seen(reader, page, panel))

    @rx.event
    async def recommendation_clicked(self, slug: str, panel_id: str):
        """A recommendation of panel `panel_id` was clicked (the link then opens the story)."""
        if panel_id != self.panel_id or not self.domain_userid:
            return
        panel = self._panel
        if panel is None:
            return
        unlogged, self._panel_logged = not self._panel_logged, True  # a click proves the panel was seen
        views, page = get_newsroom().views, self._panel_page()

        def log_click(reader: Reader) -> None:
            if unlogged:
                views.panel_seen(reader, page, panel)
            views.panel_clicked(reader, page, panel, slug)

        await self._as_reader(log_click)
