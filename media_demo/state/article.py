"""The story on an article page: one dynamic route (`/article/[slug]`) reads it from the live corpus.

A story published while the site runs is readable at once, in `make run` and in an
exported frontend alike: nothing about a story is compiled into the page.
"""

from __future__ import annotations

import asyncio
import dataclasses

import reflex as rx

from media_demo import routes
from media_demo.articles import Article
from media_demo.newsroom import get_newsroom
from media_demo.paper import PAPER_NAME
from media_demo.state.cards import StoryCard, assign_changed, card_of
from media_demo.state.reader import ReaderState

MORE_LIKE_THIS = 3
LOADING, SHOWN, GONE, MISSING = "loading", "shown", "gone", "missing"


@dataclasses.dataclass(frozen=True)
class Found:
    """What the article route found for a slug: the story, or the one that was withdrawn, and related stories."""

    status: str
    article: Article | None
    more: tuple[Article, ...] = ()


def find_story(slug: str) -> Found:
    """The published story at `slug` with its most similar published stories, or why there is none (blocking)."""
    room = get_newsroom()
    article = room.corpus.get(slug)
    if article is None:
        withdrawn = room.corpus.withdrawn(slug)
        return Found(GONE if withdrawn is not None else MISSING, withdrawn)
    more = []
    for other, _score in room.index.similar(slug, MORE_LIKE_THIS * 2) if slug in room.index else ():
        if (story := room.corpus.get(other)) is not None and len(more) < MORE_LIKE_THIS:
            more.append(story)
    return Found(SHOWN, article, tuple(more))


class ArticleState(rx.State):
    """The story this tab shows: its text, tags and "More like this", or why it cannot be shown."""

    status: str = LOADING
    story: StoryCard = StoryCard()
    body: str = ""
    tags: list[str] = []
    more_like_this: list[StoryCard] = []
    page_title: str = PAPER_NAME

    def _show(self, found: Found) -> None:
        article = found.article
        assign_changed(
            self,
            status=found.status,
            story=card_of(article) if article is not None else StoryCard(),
            body=article.body if found.status == SHOWN and article is not None else "",
            tags=list(article.tags) if found.status == SHOWN and article is not None else [],
            more_like_this=[card_of(a) for a in found.more],
            page_title=_title(found),
        )

    @rx.event
    async def open(self):
        """on_load: show the story the address names, then track the visit as any page does."""
        slug = routes.path_argument(self.router.url.path, routes.ARTICLE_PREFIX)
        found = await asyncio.to_thread(find_story, slug)
        self._show(found)
        # The visit runs in this same event (one update to the page, as a compiled page's on_load sent).
        reader = await self.get_state(ReaderState)
        if found.status == SHOWN and found.article is not None:
            return await reader.visit(found.article.title, found.article.slug)
        return await reader.visit("No longer available" if found.status == GONE else "Page not found")

    def story_withdrawn(self, slug: str) -> None:
        """Another story was unpublished: it leaves this page's "More like this" at once."""
        assign_changed(self, more_like_this=[card for card in self.more_like_this if card.slug != slug])

    @rx.event
    async def reload(self):
        """The story changed while this tab showed it (updated or unpublished): show what is there now."""
        slug = routes.path_argument(self.router.url.path, routes.ARTICLE_PREFIX)
        self._show(await asyncio.to_thread(find_story, slug))


def _title(found: Found) -> str:
    if found.status == SHOWN and found.article is not None:
        return f"{found.article.title} — {PAPER_NAME}"
    if found.status == GONE:
        return f"No longer available — {PAPER_NAME}"
    return f"Page not found — {PAPER_NAME}"
