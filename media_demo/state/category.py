"""A section front from the live corpus: one dynamic route (`/category/[section]`) for every section."""

from __future__ import annotations

import asyncio

import reflex as rx

from media_demo import routes
from media_demo.articles import Article, section_label
from media_demo.newsroom import get_newsroom
from media_demo.paper import PAPER_NAME, SECTION_BLURBS
from media_demo.state.cards import StoryCard, assign_changed, card_of
from media_demo.state.reader import ReaderState

LOADING, SHOWN, MISSING = "loading", "shown", "missing"
SECTION_STORIES = 60  # the newest of a section; the archive is reached through search and "More like this"


def section_stories(section: str) -> list[Article]:
    """The newest stories of one section, breaking ones first (blocking: reads the live corpus)."""
    stories = get_newsroom().corpus.latest(SECTION_STORIES, section)
    return sorted(stories, key=lambda a: not a.breaking)  # stable: newest first within each


class CategoryState(rx.State):
    """The section this tab shows: its lead story and the rest, newest first."""

    status: str = LOADING
    section: str = ""
    label: str = ""
    blurb: str = ""
    lead: StoryCard = StoryCard()
    stories: list[StoryCard] = []
    page_title: str = PAPER_NAME

    def _show(self, section: str, stories: list[Article]) -> None:
        known = bool(stories)
        label = section_label(section)
        assign_changed(
            self,
            status=SHOWN if known else MISSING,
            section=section if known else "",
            label=label if known else "",
            blurb=SECTION_BLURBS.get(section, "") if known else "",
            lead=card_of(stories[0]) if known else StoryCard(),
            stories=[card_of(a) for a in stories[1:]],
            page_title=f"{label} — {PAPER_NAME}" if known else f"Page not found — {PAPER_NAME}",
        )

    @rx.event
    async def open(self):
        """on_load: show the section the address names, then track the visit as any page does."""
        section = routes.path_argument(self.router.url.path, routes.CATEGORY_PREFIX).lower()
        stories = await asyncio.to_thread(section_stories, section)
        self._show(section, stories)
        reader = await self.get_state(ReaderState)  # the visit in this same event: one update to the page
        return await reader.visit(section_label(section) if stories else "Page not found")

    @rx.event
    async def reload(self):
        """A story of this section was published, changed or withdrawn while the tab showed it."""
        section = routes.path_argument(self.router.url.path, routes.CATEGORY_PREFIX).lower()
        self._show(section, await asyncio.to_thread(section_stories, section))
