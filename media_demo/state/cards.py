"""The small, serialisable shapes that Reflex states send to the page."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import reflex as rx

from media_demo import routes
from media_demo.articles import Article
from media_demo.articles.cover_urls import cover_src
from media_demo.recommend import Recommendation


def story_cover(slug: str) -> str:
    """The cover a page shows: the shipped file beside the frontend, else the one the backend drew and keeps
    (at the backend's address as the frontend was built with it, read when asked: a test harness sets it late).

    The configuration is read only for a drawn cover: reading it costs more than building the rest of a card.
    """
    return cover_src(slug, lambda: rx.config.get_config().api_url)


def assign_changed(state: Any, **values: Any) -> None:
    """Set only the vars of a Reflex state whose value differs: an unchanged var is not sent to the page again.

    Every assignment marks a var dirty, and a dirty list of cards is serialised into the
    event's delta: most page events change the front page's layout or the panels not at all.
    """
    for name, value in values.items():
        if getattr(state, name) != value:
            setattr(state, name, value)


@dataclasses.dataclass
class StoryCard:
    """A story teaser, with everything the card shows."""

    slug: str = ""
    title: str = ""
    excerpt: str = ""
    kicker: str = ""
    category: str = ""
    category_label: str = ""
    category_href: str = ""
    author: str = ""
    published: str = ""
    published_label: str = ""
    reading_minutes: int = 0
    cover: str = ""
    href: str = ""

    @classmethod
    def of(cls, article: Article, kicker: str = "", excerpt: str = "", cover: str = "") -> StoryCard:
        return cls(
            slug=article.slug,
            title=article.title,
            excerpt=excerpt or article.excerpt,
            kicker=kicker or article.category_label,
            category=article.category,
            category_label=article.category_label,
            category_href=routes.category_url(article.category),
            author=article.author,
            published=article.published.isoformat(),
            published_label=f"{article.published.day} {article.published:%B %Y}",
            reading_minutes=article.reading_minutes,
            cover=cover or story_cover(article.slug),
            href=routes.article_url(article.slug),
        )


@functools.lru_cache(maxsize=4096)
def card_of(article: Article, kicker: str = "", excerpt: str = "", cover: str = "") -> StoryCard:
    """`StoryCard.of`, built once per article and variant: the pages list the same stories on every visit.

    Articles are immutable, so a card never goes stale; cards are only ever replaced in a state,
    never changed in place, so sharing one between tabs is safe (and an unchanged list compares
    equal by identity, element by element).
    """
    return StoryCard.of(article, kicker, excerpt, cover)


@dataclasses.dataclass
class RecommendationCard:
    """One item of the "Recommended for you" panel."""

    slug: str = ""
    title: str = ""
    category: str = ""
    category_label: str = ""
    excerpt: str = ""
    reason: str = ""
    kind: str = ""
    href: str = ""
    cover: str = ""

    @classmethod
    def of(cls, recommendation: Recommendation) -> RecommendationCard:
        a = recommendation.article
        return cls(
            slug=a.slug,
            title=a.title,
            category=a.category,
            category_label=a.category_label,
            excerpt=a.excerpt,
            reason=recommendation.reason,
            kind=recommendation.kind,
            href=routes.article_url(a.slug),
            cover=story_cover(a.slug),
        )


@dataclasses.dataclass
class TrendingCard:
    """One line of "Trending now": an article and how many people really read it."""

    slug: str = ""
    title: str = ""
    category_label: str = ""
    href: str = ""
    readers: int = 0

    @classmethod
    def of(cls, article: Article, readers: int) -> TrendingCard:
        return cls(
            slug=article.slug,
            title=article.title,
            category_label=article.category_label,
            href=routes.article_url(article.slug),
            readers=readers,
        )
