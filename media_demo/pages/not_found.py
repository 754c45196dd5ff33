"""The friendly 404 page for unknown articles, sections and paths."""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.components.layout import page_frame


def not_found_section() -> rx.Component:
    """What a reader sees for an address the newsroom does not know (also inside the story and section routes)."""
    return rx.el.section(
        rx.el.p("404", class_name="error-code"),
        rx.el.h1("We couldn't find that page", class_name="headline"),
        rx.el.p(
            "The story or section may have moved, or the link may be mistyped. "
            "Today's paper is waiting on the front page.",
            class_name="standfirst",
        ),
        rx.link("← Back to the front page", href=routes.HOME, class_name="button-link"),
        class_name="not-found",
        custom_attrs={"data-testid": "not-found"},
    )


def not_found_page(categories: tuple[str, ...]) -> rx.Component:
    return page_frame(categories, not_found_section())
