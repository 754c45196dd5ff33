"""The load test's floor: what Reflex alone costs for the newspaper's page events (`make loadtest ARGS=--floor`).

A Reflex app with the newspaper's routes, state classes, events and deltas, doing none of its work:
no tracking, no attribute engine, no recommender, no database. Each page event sends what a
newspaper page sends, in the same order and of the same types and sizes (the router and cookie
vars, `is_hydrated`, the page's content with the reader's panel and "Trending now", the script that
marks the view, the answer to the panel's `panel_seen`), built from the same story corpus and card
dataclasses. Its CPU per page event, measured in the same run as the newspaper's, is the least a
page of this shape can cost on this machine with this Reflex; the newspaper's own work is the rest.

What stands in for the work is as cheap as it can be: "Trending now" counts views in a dict, the
panel shows the stories after the last one read, "More like this" the next stories of the section; as
the newspaper does, a var is assigned (and sent) only when its value changed.
"""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from collections import Counter
from typing import Any

import reflex as rx

from media_demo import routes
from media_demo.articles import Article, load_corpus
from media_demo.paper import PAPER_NAME
from media_demo.recommend import Recommendation
from media_demo.settings import ARTICLES_DIR
from media_demo.state.cards import RecommendationCard, StoryCard, TrendingCard, assign_changed, card_of

# The newspaper's browser-side scripts, spelled as its pages spell them so the same simulated readers answer them
# (not imported: importing `media_demo.state.reader` would register the newspaper's states in this app).
CLIENT_CONTEXT_SCRIPT = "[document.referrer || '', -new Date().getTimezoneOffset()]"
COOKIE_AGE = 60 * 60 * 24 * 365
PANEL, MORE_LIKE_THIS, TRENDING = 3, 3, 5  # as many as the newspaper shows
HOME_TEASERS, HOME_LATEST = 4, 10


def mark_tracked_script(view_id: str) -> str:
    """The script a newspaper page runs after a tracked view (the load test's readers recognise it)."""
    return f"window.__dcTrackedView = {{view: '{view_id}', entry: (history.state && history.state.key) || null}}"


CORPUS = load_corpus(ARTICLES_DIR)
STORIES: tuple[Article, ...] = CORPUS.articles
BY_SLUG = {a.slug: a for a in STORIES}
NEXT = {a.slug: [STORIES[(i + k) % len(STORIES)] for k in range(1, PANEL + 1)] for i, a in enumerate(STORIES)}
SECTION = {c: CORPUS.latest(len(STORIES), c) for c in CORPUS.categories}
VIEWS: Counter[str] = Counter()  # this process's story views: what stands in for "Trending now"
SESSIONS = itertools.count(1)


def more_like(article: Article) -> list[Article]:
    others = [a for a in SECTION[article.category] if a.slug != article.slug]
    return others[:MORE_LIKE_THIS]


class HomeState(rx.State):
    """The front page's layout, set once per tab as the newspaper's is for a new reader."""

    featured: StoryCard = StoryCard()
    teasers: list[StoryCard] = []
    latest: list[StoryCard] = []
    above: list[str] = []

    def arrange(self) -> None:
        if self.above:
            return
        featured, *rest = STORIES
        self.featured = card_of(featured)
        self.teasers = [card_of(a) for a in rest[:HOME_TEASERS]]
        self.latest = [card_of(a) for a in rest[HOME_TEASERS : HOME_TEASERS + HOME_LATEST]]
        self.above = [featured.slug, *(a.slug for a in rest[:HOME_TEASERS])]


class ReaderState(rx.State):
    """The reader's identity cookies, consent, panel and "Trending now", as the newspaper's `ReaderState` has them."""

    domain_userid: str = rx.Cookie("", name="dc_duid", max_age=COOKIE_AGE, same_site="lax")
    duid_signature: str = rx.Cookie("", name="dc_duid_sig", max_age=COOKIE_AGE, same_site="lax")
    session: str = rx.Cookie("", name="dc_session", max_age=COOKIE_AGE, same_site="lax")
    account_name: str = ""
    consent_known: bool = False
    consent_decided: bool = False
    allows_behavioural: bool = False
    personalised: bool = False
    not_personalised_reason: str = "no behavioural consent yet: the reader has not made a choice"
    segment: str = ""
    recommendations: list[RecommendationCard] = []
    recommendations_loaded: bool = False
    panel_id: str = ""
    trending: list[TrendingCard] = []
    _client_context: list[Any] | None = None
    _pending_visit: list[str] = []
    _session_id: str = ""
    _pages: int = 0
    _last_read: str = ""

    def _touch_session(self) -> None:
        """What the newspaper's cookie reader does on every event: the session cookie, renewed; the account, read."""
        if not self.domain_userid:
            self.domain_userid = str(uuid.uuid4())
            self.duid_signature = hashlib.blake2b(self.domain_userid.encode(), digest_size=16).hexdigest()
        if not self._session_id:
            self._session_id = str(uuid.uuid4())
        self.session = f"{self._session_id}.{next(SESSIONS) % 1000}.{int(time.time())}"
        self.account_name = ""

    @rx.event
    async def visit(self, title: str, article_slug: str = ""):
        """on_load: the first page of a tab asks the browser for its context first, as the newspaper's does."""
        if self._client_context is None:
            if not self.domain_userid:
                self._touch_session()
            self._pending_visit = [title, article_slug]
            return rx.call_script(CLIENT_CONTEXT_SCRIPT, callback=ReaderState.client_context)
        return await self._show(title, article_slug)

    @rx.event
    async def client_context(self, values: list[Any]):
        self._client_context = list(values) if isinstance(values, list) else []
        title, slug = self._pending_visit or ["", ""]
        self._pending_visit = []
        return await self._show(title, slug)

    async def _show(self, title: str, slug: str):
        self._touch_session()
        self._pages += 1
        if slug:
            VIEWS[slug] += 1
            self._last_read = slug
        recommendations = [
            RecommendationCard.of(Recommendation(a, "Popular with readers", "popular"))
            for a in NEXT[self._last_read or STORIES[0].slug]
        ]
        assign_changed(
            self,
            trending=[TrendingCard.of(BY_SLUG[s], n) for s, n in VIEWS.most_common(TRENDING)],
            recommendations=recommendations,
            recommendations_loaded=True,
            segment="new_visitor" if self._pages < 3 else "casual_reader",
        )
        self.panel_id = uuid.uuid4().hex
        if title == "Home":
            (await self.get_state(HomeState)).arrange()
        return rx.call_script(mark_tracked_script(uuid.uuid4().hex))

    @rx.event
    def panel_seen(self, panel_id: str):
        """The page shows the panel: the newspaper logs its impression (here: nothing) through its cookie reader."""
        if panel_id == self.panel_id:
            self._touch_session()


class ArticleState(rx.State):
    """The story on an article page."""

    status: str = "loading"
    story: StoryCard = StoryCard()
    body: str = ""
    tags: list[str] = []
    more_like_this: list[StoryCard] = []
    page_title: str = PAPER_NAME

    @rx.event
    async def open(self):
        slug = routes.path_argument(self.router.url.path, routes.ARTICLE_PREFIX)
        article = CORPUS.get(slug)
        if article is None:
            assign_changed(self, status="missing", page_title=f"Page not found — {PAPER_NAME}")
            return await (await self.get_state(ReaderState)).visit("Page not found")
        assign_changed(
            self,
            status="shown",
            story=card_of(article),
            body=article.body,
            tags=list(article.tags),
            more_like_this=[card_of(a) for a in more_like(article)],
            page_title=f"{article.title} — {PAPER_NAME}",
        )
        return await (await self.get_state(ReaderState)).visit(article.title, slug)


class CategoryState(rx.State):
    """A section page: its lead story and the rest."""

    status: str = "loading"
    section: str = ""
    label: str = ""
    lead: StoryCard = StoryCard()
    stories: list[StoryCard] = []
    page_title: str = PAPER_NAME

    @rx.event
    async def open(self):
        section = routes.path_argument(self.router.url.path, routes.CATEGORY_PREFIX).lower()
        stories = SECTION.get(section, [])
        label = stories[0].category_label if stories else ""
        assign_changed(
            self,
            status="shown" if stories else "missing",
            section=section,
            label=label,
            lead=card_of(stories[0]) if stories else StoryCard(),
            stories=[card_of(a) for a in stories[1:]],
            page_title=f"{label} — {PAPER_NAME}",
        )
        return await (await self.get_state(ReaderState)).visit(label or "Page not found")


class PrivacyState(rx.State):
    """The consent banner's "Accept all"."""

    @rx.event
    async def accept_all(self):
        reader = await self.get_state(ReaderState)
        reader.consent_known = reader.consent_decided = reader.allows_behavioural = reader.personalised = True
        reader.not_personalised_reason = ""


def page(*children: rx.Component) -> rx.Component:
    return rx.box(rx.text(ReaderState.panel_id), rx.text(ReaderState.consent_decided), *children)


app = rx.App()
app.add_page(page(rx.text(HomeState.featured.title)), route=routes.HOME, on_load=ReaderState.visit("Home"))
app.add_page(page(rx.text(ArticleState.body)), route=routes.ARTICLE_ROUTE, on_load=ArticleState.open)
app.add_page(page(rx.text(CategoryState.label)), route=routes.CATEGORY_ROUTE, on_load=CategoryState.open)
