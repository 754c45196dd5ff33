"""Search results: the archive's stories for a query, best first, and whether the reader's taste ranked them."""

from __future__ import annotations

import reflex as rx

from media_demo.components.layout import page_frame
from media_demo.components.search_box import search_form
from media_demo.components.sidebar import sidebar
from media_demo.components.story_card import story_card
from media_demo.state.search import SearchState


def _summary() -> rx.Component:
    return rx.el.p(
        rx.cond(
            SearchState.total > 0,
            rx.fragment(
                SearchState.total,
                rx.cond(SearchState.total == 1, " story matches ", " stories match "),
                "“",
                SearchState.query,
                "”",
                rx.cond(SearchState.personalised, ", ranked with your reading in mind.", "."),
            ),
            rx.fragment("Nothing in the archive matches “", SearchState.query, "”. Try fewer or other words."),
        ),
        class_name="search-summary",
        custom_attrs={"data-testid": "search-summary", "data-total": SearchState.total},
    )


def search_page(categories: tuple[str, ...]) -> rx.Component:
    return page_frame(
        categories,
        rx.el.div(
            rx.el.div(
                rx.el.header(
                    rx.el.h1("Search", class_name="section-heading"),
                    search_form("search-form search-form-page", SearchState.query),
                    class_name="section-header",
                ),
                rx.cond(SearchState.searched, _summary()),
                rx.el.div(
                    rx.foreach(SearchState.results, lambda card: story_card(card)),
                    class_name="card-grid search-results",
                    custom_attrs={"data-testid": "search-results"},
                ),
                class_name="main-column",
            ),
            sidebar(),
            class_name="with-sidebar",
        ),
        active="search",
    )
