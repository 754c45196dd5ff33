"""The newspaper frame: masthead, section navigation and footer."""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.articles import section_label
from media_demo.components.assistant import assistant_panel
from media_demo.components.consent_banner import consent_banner
from media_demo.components.offer import offer_card
from media_demo.components.search_box import search_form
from media_demo.paper import PAPER_NAME, TAGLINE
from media_demo.state.account import AccountState
from media_demo.state.reader import ReaderState


def account_links() -> rx.Component:
    """ "Sign in", or who is signed in and "Sign out"; nothing until the reader is known (no flash of the wrong one)."""
    return rx.el.div(
        rx.cond(
            ReaderState.recommendations_loaded,  # the first visit read back: the reader is known (engine or not)
            rx.cond(
                ReaderState.account_name != "",
                rx.fragment(
                    rx.link(
                        ReaderState.account_name,
                        href=routes.ACCOUNT,
                        class_name="account-name",
                        custom_attrs={"data-testid": "masthead-account"},
                    ),
                    rx.el.span("·", class_name="account-sep", aria_hidden="true"),
                    rx.el.button(
                        "Sign out",
                        type="button",
                        on_click=AccountState.sign_out,
                        disabled=AccountState.signing_out,
                        class_name="account-action",
                        custom_attrs={"data-testid": "masthead-signout"},
                    ),
                ),
                rx.link(
                    "Sign in",
                    href=routes.ACCOUNT,
                    class_name="account-action",
                    custom_attrs={"data-testid": "masthead-signin"},
                ),
            ),
        ),
        class_name="masthead-account",
    )


def masthead(categories: tuple[str, ...], active: str | rx.Var[str] = "") -> rx.Component:
    """The paper's name and the section navigation; `active` (a section, "home", or a state's var) is underlined."""

    def nav_link(label: str, href: str, key: str) -> rx.Component:
        if isinstance(active, rx.Var):  # a page whose section is known only once its story is loaded
            class_name: str | rx.Var[str] = rx.cond(active == key, "nav-link nav-active", "nav-link")
        else:
            class_name = "nav-link nav-active" if key == active else "nav-link"
        return rx.link(label, href=href, class_name=class_name, custom_attrs={"data-testid": "nav-link"})

    return rx.el.header(
        rx.el.div(
            rx.moment(format="dddd, D MMMM YYYY", class_name="masthead-date"),
            rx.link(rx.el.span(PAPER_NAME, class_name="paper-name"), href=routes.HOME, class_name="paper-link"),
            rx.el.div(
                account_links(),
                rx.el.span(TAGLINE, class_name="masthead-tagline"),
                search_form("search-form search-form-masthead"),
                class_name="masthead-side",
            ),
            class_name="masthead-top",
        ),
        rx.el.nav(
            nav_link("Home", routes.HOME, "home"),
            *[nav_link(section_label(c), routes.category_url(c), c) for c in categories],
            class_name="section-nav",
            aria_label="Sections",
        ),
        class_name="masthead",
    )


def footer() -> rx.Component:
    return rx.el.footer(
        rx.el.p(
            f"{PAPER_NAME} is a demonstration newsroom. Every story, person and place in it is invented; ",
            "with your permission, reading is tracked first-party with the Snowplow tracker protocol and never "
            "leaves this server.",
        ),
        rx.el.nav(
            rx.link(
                "Your data",
                href=routes.INSPECTOR,
                class_name="footer-link",
                custom_attrs={"data-testid": "footer-inspector"},
            ),
            rx.link(
                "Privacy",
                href=routes.PRIVACY,
                class_name="footer-link",
                custom_attrs={"data-testid": "footer-privacy"},
            ),
            rx.link(
                "Account",
                href=routes.ACCOUNT,
                class_name="footer-link",
                custom_attrs={"data-testid": "footer-account"},
            ),
            class_name="footer-links",
            aria_label="About you",
        ),
        class_name="footer",
    )


def page_header(
    kicker: str, title: str | rx.Var, standfirst: str, *extra: rx.Component, class_name: str = "page-header"
) -> rx.Component:
    """The opening of a page about the reader (account, privacy, their data): kicker, headline, standfirst."""
    return rx.el.header(
        rx.el.p(kicker, class_name="kicker"),
        rx.el.h1(title, class_name="headline"),
        rx.el.p(standfirst, class_name="standfirst"),
        *extra,
        class_name=class_name,
    )


def page_frame(categories: tuple[str, ...], content: rx.Component, active: str | rx.Var[str] = "") -> rx.Component:
    return rx.el.div(
        masthead(categories, active),
        rx.el.main(content, class_name="content"),
        footer(),
        offer_card(),
        assistant_panel(),
        consent_banner(),
        class_name="paper",
    )
