"""An article: headline, standfirst, cover, body and "More like this", from the story's state.

One page serves every story (`/article/[slug]`): it shows the story once `ArticleState`
has found it, "no longer available" for an unpublished one, and the friendly not-found
text for a slug the newsroom never published.
"""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.components.layout import page_frame
from media_demo.components.sidebar import sidebar
from media_demo.components.story_card import story_card, story_kicker, story_meta
from media_demo.pages.not_found import not_found_section
from media_demo.state.article import GONE, MISSING, SHOWN, ArticleState
from media_demo.state.reader import ReaderState


def reading_now() -> rx.Component:
    """Other real readers on this story right now; nothing at all when there are none."""
    return rx.cond(
        ReaderState.others_here > 0,
        rx.el.p(
            rx.el.span(class_name="live-dot"),
            ReaderState.others_here,
            rx.cond(ReaderState.others_here == 1, " other reader", " other readers"),
            " on this story now",
            class_name="reading-now",
            custom_attrs={"data-testid": "reading-now"},
        ),
    )


def _story() -> rx.Component:
    card = ArticleState.story
    return rx.el.div(
        rx.el.article(
            story_kicker(card),
            rx.el.h1(card.title, class_name="headline"),
            rx.el.p(card.excerpt, class_name="standfirst"),
            story_meta(card),
            reading_now(),
            rx.el.figure(rx.el.img(src=card.cover, alt="", class_name="article-cover"), class_name="article-figure"),
            # Bodies come from editors and feeds: Markdown only, raw HTML shown as text, never run.
            rx.el.div(rx.markdown(ArticleState.body, use_raw=False), class_name="article-body"),
            rx.el.ul(rx.foreach(ArticleState.tags, lambda tag: rx.el.li(tag, class_name="tag")), class_name="tags"),
            class_name="story",
            custom_attrs={"data-testid": "article", "data-slug": card.slug},
        ),
        rx.cond(
            ArticleState.more_like_this.length() > 0,
            rx.el.section(
                rx.el.h2("More like this", class_name="section-title"),
                rx.el.div(rx.foreach(ArticleState.more_like_this, lambda c: story_card(c)), class_name="card-grid"),
                class_name="more-like-this",
            ),
        ),
        class_name="main-column",
    )


def _gone() -> rx.Component:
    return rx.el.section(
        rx.el.p("410", class_name="error-code"),
        rx.el.h1("This story is no longer available", class_name="headline"),
        rx.el.p(
            "“",
            ArticleState.story.title,
            "” was withdrawn by the newsroom. Your reading history still lists it; ",
            "today's paper is waiting on the front page.",
            class_name="standfirst",
        ),
        rx.link("← Back to the front page", href=routes.HOME, class_name="button-link"),
        class_name="not-found",
        custom_attrs={"data-testid": "story-gone", "data-slug": ArticleState.story.slug},
    )


def _loading() -> rx.Component:
    return rx.el.div(
        rx.el.div(class_name="skeleton skeleton-kicker"),
        rx.el.div(class_name="skeleton skeleton-headline"),
        rx.el.div(class_name="skeleton skeleton-line"),
        rx.el.div(class_name="skeleton skeleton-figure"),
        class_name="main-column story-loading",
        aria_busy="true",
        custom_attrs={"data-testid": "article-loading"},
    )


def article_page(categories: tuple[str, ...]) -> rx.Component:
    return page_frame(
        categories,
        rx.match(
            ArticleState.status,
            (MISSING, not_found_section()),
            (GONE, _gone()),
            (
                SHOWN,
                rx.el.div(_story(), sidebar(), class_name="with-sidebar"),
            ),
            rx.el.div(_loading(), sidebar(), class_name="with-sidebar"),
        ),
        active=ArticleState.story.category,
    )
