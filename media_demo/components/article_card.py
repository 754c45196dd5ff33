"""Article cards, built at compile time from the corpus (static, cheap to render)."""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.articles import Article
from media_demo.state.reader import ReaderState


def read_mark(slug: str) -> rx.Component:
    """A small "Read" mark, shown once this reader has read the article."""
    return rx.cond(
        ReaderState.read_slugs.contains(slug),
        rx.el.span("✓ Read", class_name="read-mark", custom_attrs={"data-testid": "read-indicator"}),
    )


def published_label(article: Article) -> str:
    return f"{article.published.day} {article.published:%B %Y}"


def meta_line(article: Article) -> rx.Component:
    return rx.el.div(
        rx.el.span(article.author, class_name="byline-author"),
        rx.el.span("·", class_name="sep"),
        rx.el.time(published_label(article), date_time=article.published.isoformat()),
        rx.el.span("·", class_name="sep"),
        rx.el.span(f"{article.reading_minutes} min read"),
        read_mark(article.slug),
        class_name="meta",
    )


def kicker(article: Article) -> rx.Component:
    return rx.link(article.category_label, href=routes.category_url(article.category), class_name="kicker")


def article_card(article: Article, variant: str = "standard") -> rx.Component:
    """A story teaser: `lead` (large), `standard` (grid) or `compact` (text only)."""
    image = rx.link(
        rx.el.img(
            src=routes.cover_url(article.slug),
            alt="",
            loading="lazy" if variant != "lead" else "eager",
            class_name="card-image",
        ),
        href=routes.article_url(article.slug),
        class_name="card-image-link",
        tab_index=-1,
        aria_hidden="true",
    )
    return rx.el.article(
        image if variant != "compact" else rx.fragment(),
        rx.el.div(
            kicker(article),
            rx.link(
                rx.el.h3(article.title, class_name="card-title"),
                href=routes.article_url(article.slug),
                class_name="card-title-link",
            ),
            rx.el.p(article.excerpt, class_name="card-excerpt") if variant != "compact" else rx.fragment(),
            meta_line(article),
            class_name="card-text",
        ),
        class_name=f"card card-{variant}",
        custom_attrs={"data-testid": "article-card", "data-slug": article.slug, "data-category": article.category},
    )
