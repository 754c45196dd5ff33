"""The search page (`/search?q=`): the archive searched for this reader, tracked as Snowplow's site search."""

from __future__ import annotations

from urllib.parse import quote_plus

import reflex as rx

from media_demo import routes
from media_demo.newsroom import get_newsroom
from media_demo.paper import PAPER_NAME
from media_demo.recommend.search import clean_query
from media_demo.state.cards import StoryCard, assign_changed
from media_demo.state.reader import ReaderState
from media_demo.tracking import Page

RESULTS = 20


class SearchState(rx.State):
    """What this tab searched for and found."""

    query: str = ""
    results: list[StoryCard] = []
    total: int = 0
    personalised: bool = False
    searched: bool = False
    page_title: str = f"Search — {PAPER_NAME}"

    @rx.event
    def submit(self, form: dict[str, str]):
        """The search box: go to the results page for what was typed (nothing for an empty box)."""
        query = clean_query(str(form.get("q", "")))
        if query:
            return rx.redirect(f"{routes.SEARCH}?q={quote_plus(query)}")
        return None

    @rx.event
    async def open(self):
        """on_load: track the page view, then search and track the search (off the event loop)."""
        query = clean_query(self.router.url.query_parameters.get("q", ""))
        reader_state = await self.get_state(ReaderState)
        visit = await reader_state.visit(f"Search: {query}" if query else "Search")
        assign_changed(self, query=query, page_title=f"{query or 'Search'} — {PAPER_NAME}")
        if not query:
            assign_changed(self, results=[], total=0, personalised=False, searched=False)
            return visit
        views = get_newsroom().views
        page = Page(url=str(self.router.url), title=f"Search: {query}")
        _reader, found = await reader_state._as_reader(lambda reader: views.search(reader, page, query, RESULTS))
        assign_changed(
            self,
            results=[StoryCard.of(hit.article, excerpt=hit.snippet) for hit in found.hits],
            total=found.total,
            personalised=found.personalised,
            searched=True,
        )
        return visit
