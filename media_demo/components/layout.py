"""The newspaper frame: masthead, section navigation and footer."""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.components.offer import offer_card

PAPER_NAME = "The Daily Current"
TAGLINE = "News that learns what you read"


def masthead(categories: tuple[str, ...], active: str = "") -> rx.Component:
    def nav_link(label: str, href: str, key: str) -> rx.Component:
        return rx.link(
            label,
            href=href,
            class_name="nav-link nav-active" if key == active else "nav-link",
            custom_attrs={"data-testid": "nav-link"},
        )

    return rx.el.header(
        rx.el.div(
            rx.moment(format="dddd, D MMMM YYYY", class_name="masthead-date"),
            rx.link(rx.el.span(PAPER_NAME, class_name="paper-name"), href=routes.HOME, class_name="paper-link"),
            rx.el.span(TAGLINE, class_name="masthead-tagline"),
            class_name="masthead-top",
        ),
        rx.el.nav(
            nav_link("Home", routes.HOME, "home"),
            *[nav_link(c.capitalize(), routes.category_url(c), c) for c in categories],
            class_name="section-nav",
            aria_label="Sections",
        ),
        class_name="masthead",
    )


def footer() -> rx.Component:
    return rx.el.footer(
        rx.el.p(
            f"{PAPER_NAME} is a demonstration newsroom. Every story, person and place in it is invented; ",
            "reading is tracked first-party with the Snowplow tracker protocol and never leaves this server.",
        ),
        rx.el.nav(
            rx.link(
                "Your data",
                href=routes.INSPECTOR,
                class_name="footer-link",
                custom_attrs={"data-testid": "footer-inspector"},
            ),
            class_name="footer-links",
            aria_label="About you",
        ),
        class_name="footer",
    )


def page_frame(categories: tuple[str, ...], content: rx.Component, active: str = "") -> rx.Component:
    return rx.el.div(
        masthead(categories, active),
        rx.el.main(content, class_name="content"),
        footer(),
        offer_card(),
        class_name="paper",
    )
