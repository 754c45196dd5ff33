"""Story cards: one component for teasers built at compile time and those the state sends."""

from __future__ import annotations

import reflex as rx

from media_demo.state.cards import StoryCard
from media_demo.state.reader import ReaderState


def _read_mark(slug: rx.Var[str]) -> rx.Component:
    return rx.cond(
        ReaderState.read_slugs.contains(slug) | ReaderState.read_since.contains(slug),
        rx.el.span("✓ Read", class_name="read-mark", custom_attrs={"data-testid": "read-indicator"}),
    )


def story_meta(card: StoryCard) -> rx.Component:
    return rx.el.div(
        rx.el.span(card.author, class_name="byline-author"),
        rx.el.span("·", class_name="sep"),
        rx.el.time(card.published_label, date_time=card.published),
        rx.el.span("·", class_name="sep"),
        rx.el.span(card.reading_minutes, " min read"),
        _read_mark(card.slug),
        class_name="meta",
    )


def story_kicker(card: StoryCard) -> rx.Component:
    return rx.link(card.kicker, href=card.category_href, class_name="kicker")


def story_card(card: StoryCard, variant: str = "standard") -> rx.Component:
    """A teaser: `lead` (large), `standard` (grid) or `compact` (text only)."""
    image = rx.link(
        rx.el.img(src=card.cover, alt="", class_name="card-image", loading="eager" if variant == "lead" else "lazy"),
        href=card.href,
        class_name="card-image-link",
        tab_index=-1,
        aria_hidden="true",
    )
    return rx.el.article(
        image if variant != "compact" else rx.fragment(),
        rx.el.div(
            story_kicker(card),
            rx.link(rx.el.h3(card.title, class_name="card-title"), href=card.href, class_name="card-title-link"),
            rx.el.p(card.excerpt, class_name="card-excerpt") if variant != "compact" else rx.fragment(),
            story_meta(card),
            class_name="card-text",
        ),
        class_name=f"card card-{variant}",
        custom_attrs={"data-testid": "article-card", "data-slug": card.slug, "data-category": card.category},
    )
