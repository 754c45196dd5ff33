"""The search box: in the masthead of every page and atop the results."""

from __future__ import annotations

import reflex as rx

from media_demo.state.search import SearchState


def search_form(class_name: str = "search-form", query: rx.Var[str] | str = "") -> rx.Component:
    """A search box (in the masthead and atop the results): Enter goes to `/search?q=`.

    `query` fills the box (the results page shows what was searched for, ready to refine); the box stays
    the browser's own while typing, and is drawn anew, keyed by the query, when another search lands.
    """
    return rx.el.form(
        rx.el.input(
            name="q",
            type="search",
            placeholder="Search the archive",
            aria_label="Search the archive",
            class_name="search-input",
            default_value=query,
            key=query,
            custom_attrs={"data-testid": "search-input", "enterKeyHint": "search"},
        ),
        rx.el.button(
            "Search", type="submit", class_name="search-button", custom_attrs={"data-testid": "search-submit"}
        ),
        on_submit=SearchState.submit,
        reset_on_submit=False,
        role="search",
        class_name=class_name,
    )
