"""A section front: every story of one category, newest first."""

from __future__ import annotations

import reflex as rx

from media_demo.articles import Corpus, section_label
from media_demo.components.layout import page_frame
from media_demo.components.sidebar import sidebar
from media_demo.components.story_card import story_card
from media_demo.state.cards import StoryCard

CATEGORY_BLURBS = {
    "technology": "Batteries, software, satellites and the machines that run on them.",
    "business": "Companies, markets, jobs and the money that moves between them.",
    "science": "Discoveries from the deep sea to deep space.",
    "health": "Medicine, research and how we look after ourselves.",
    "culture": "Film, music, books, games and the stages where they live.",
    "sport": "Results, records and the stories behind them.",
}


def category_page(corpus: Corpus, category: str) -> rx.Component:
    lead, *rest = corpus.in_category(category)
    return page_frame(
        corpus.categories,
        rx.el.div(
            rx.el.div(
                rx.el.header(
                    rx.el.h1(
                        section_label(category),
                        class_name="section-heading",
                        custom_attrs={"data-testid": "section-heading"},
                    ),
                    rx.el.p(CATEGORY_BLURBS.get(category, ""), class_name="section-blurb"),
                    class_name="section-header",
                ),
                story_card(StoryCard.of(lead), "lead"),
                rx.el.div(*[story_card(StoryCard.of(a)) for a in rest], class_name="card-grid"),
                class_name="main-column",
            ),
            sidebar(),
            class_name="with-sidebar",
        ),
        active=category,
    )
