"""A section front: the newest stories of one section, from its state (`/category/[section]`)."""

from __future__ import annotations

import reflex as rx

from media_demo.components.layout import page_frame
from media_demo.components.sidebar import sidebar
from media_demo.components.story_card import story_card
from media_demo.pages.not_found import not_found_section
from media_demo.state.category import MISSING, SHOWN, CategoryState


def _section() -> rx.Component:
    return rx.el.div(
        rx.el.div(
            rx.el.header(
                rx.el.h1(
                    CategoryState.label, class_name="section-heading", custom_attrs={"data-testid": "section-heading"}
                ),
                rx.el.p(CategoryState.blurb, class_name="section-blurb"),
                class_name="section-header",
            ),
            story_card(CategoryState.lead, "lead"),
            rx.el.div(rx.foreach(CategoryState.stories, lambda c: story_card(c)), class_name="card-grid"),
            class_name="main-column",
        ),
        sidebar(),
        class_name="with-sidebar",
    )


def category_page(categories: tuple[str, ...]) -> rx.Component:
    return page_frame(
        categories,
        rx.match(
            CategoryState.status,
            (MISSING, not_found_section()),
            (SHOWN, _section()),
            rx.el.div(
                rx.el.div(class_name="main-column story-loading", aria_busy="true"),
                sidebar(),
                class_name="with-sidebar",
            ),
        ),
        active=CategoryState.section,
    )
