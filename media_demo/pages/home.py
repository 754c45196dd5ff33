"""Home: the featured story, teasers and the latest stories by section, arranged for this reader."""

from __future__ import annotations

import reflex as rx

from media_demo.articles import Corpus
from media_demo.components.layout import page_frame
from media_demo.components.sidebar import sidebar
from media_demo.components.story_card import story_card
from media_demo.state.cards import StoryCard
from media_demo.state.home import HomeState, SectionTab


def _grid(stories: rx.Var[list[StoryCard]]) -> rx.Component:
    return rx.el.div(rx.foreach(stories, lambda card: story_card(card)), class_name="card-grid")


def _latest() -> rx.Component:
    def trigger(tab: rx.Var[SectionTab]) -> rx.Component:
        return rx.tabs.trigger(tab.label, value=tab.key, custom_attrs={"data-testid": "latest-tab"})

    def content(tab: rx.Var[SectionTab]) -> rx.Component:
        # The tabs are shared by every reader; what this reader already has above is left out here, in the
        # page, and the stylesheet shows the first PER_SECTION of the rest (`.section-grid`).
        cards = rx.foreach(
            tab.stories,
            lambda card: rx.cond(HomeState.above.contains(card.slug), rx.fragment(), story_card(card)),
        )
        return rx.tabs.content(rx.el.div(cards, class_name="card-grid section-grid"), value=tab.key)

    return rx.el.section(
        rx.el.h2("Latest", class_name="section-title"),
        rx.tabs.root(
            rx.tabs.list(
                rx.tabs.trigger("All sections", value="all", custom_attrs={"data-testid": "latest-tab"}),
                rx.foreach(HomeState.section_order, lambda key: trigger(HomeState.section_tabs[key])),
                class_name="latest-tabs",
            ),
            rx.tabs.content(_grid(HomeState.latest), value="all"),
            rx.foreach(HomeState.section_order, lambda key: content(HomeState.section_tabs[key])),
            value=HomeState.active_tab,
            on_change=HomeState.choose_tab,
        ),
        class_name="latest",
        custom_attrs={"data-testid": "latest"},
    )


def home_page(corpus: Corpus) -> rx.Component:
    return page_frame(
        corpus.categories,
        rx.el.div(
            rx.el.div(
                rx.el.section(
                    story_card(HomeState.featured, "lead"),
                    rx.el.div(
                        rx.foreach(HomeState.teasers, lambda c: story_card(c, "compact")), class_name="lead-secondary"
                    ),
                    class_name="lead-block",
                    aria_label="Featured",
                    custom_attrs={"data-testid": "featured", "data-segment": HomeState.segment},
                ),
                _latest(),
                class_name="main-column",
            ),
            sidebar(),
            class_name="with-sidebar",
        ),
        active="home",
    )
