"""Home: the featured story, the latest stories by section, and the live sidebar."""

from __future__ import annotations

import reflex as rx

from media_demo.articles import Article, Corpus
from media_demo.components.article_card import article_card
from media_demo.components.layout import page_frame
from media_demo.components.sidebar import sidebar

LATEST_PER_TAB = 6
SECONDARY_STORIES = 3


def _tab_articles(corpus: Corpus, category: str | None) -> list[Article]:
    """A tab's stories: for "All sections", those after the featured block."""
    if category is None:
        return list(corpus.articles[1 + SECONDARY_STORIES : 1 + SECONDARY_STORIES + LATEST_PER_TAB])
    return corpus.latest(LATEST_PER_TAB, category)


def _latest(corpus: Corpus) -> rx.Component:
    tabs = [("all", "All sections", None), *[(c, c.capitalize(), c) for c in corpus.categories]]
    return rx.el.section(
        rx.el.h2("Latest", class_name="section-title"),
        rx.tabs.root(
            rx.tabs.list(
                *[
                    rx.tabs.trigger(label, value=key, custom_attrs={"data-testid": f"latest-tab-{key}"})
                    for key, label, _ in tabs
                ],
                class_name="latest-tabs",
            ),
            *[
                rx.tabs.content(
                    rx.el.div(
                        *[article_card(a) for a in _tab_articles(corpus, category)],
                        class_name="card-grid",
                    ),
                    value=key,
                )
                for key, _, category in tabs
            ],
            default_value="all",
        ),
        class_name="latest",
        custom_attrs={"data-testid": "latest"},
    )


def home_page(corpus: Corpus) -> rx.Component:
    featured, *rest = corpus.articles
    return page_frame(
        corpus.categories,
        rx.el.div(
            rx.el.div(
                rx.el.section(
                    article_card(featured, "lead"),
                    rx.el.div(
                        *[article_card(a, "compact") for a in rest[:SECONDARY_STORIES]], class_name="lead-secondary"
                    ),
                    class_name="lead-block",
                    aria_label="Featured",
                ),
                _latest(corpus),
                class_name="main-column",
            ),
            sidebar(),
            class_name="with-sidebar",
        ),
        active="home",
    )
