"""The consent banner: asked once per reader, on whichever page they land, until they choose.

Behavioural use is opt-in (unticked), contextual use is on unless turned off,
and the necessary cookies cannot be refused. "Reject all" is as prominent as
"Accept all": refusing must be as easy as agreeing.
"""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.signals.engine.consent import BEHAVIOURAL, CONTEXTUAL
from media_demo.state.privacy import PrivacyState
from media_demo.state.reader import ReaderState

# Each optional use: (scope, label, what it means in one line, ticked at first).
CHOICES = (
    (
        CONTEXTUAL,
        "Contextual",
        "Your device, the link you came from and your time of day pick stories. Nothing is kept.",
        True,
    ),
    (BEHAVIOURAL, "Behavioural", "What you read builds a profile for your recommendations and offers.", False),
)


def _choice(scope: str, label: str, meaning: str, checked: bool) -> rx.Component:
    return rx.el.label(
        rx.el.input(
            type="checkbox",
            name=scope,
            default_checked=checked,
            class_name="consent-check",
            custom_attrs={"data-testid": f"consent-{scope}"},
        ),
        rx.el.span(
            rx.el.span(label, class_name="consent-choice-name"),
            rx.el.span(meaning, class_name="consent-choice-meaning"),
            class_name="consent-choice-text",
        ),
        class_name="consent-choice",
    )


def _necessary() -> rx.Component:
    return rx.el.label(
        rx.el.input(type="checkbox", checked=True, disabled=True, read_only=True, class_name="consent-check"),
        rx.el.span(
            rx.el.span(
                "Necessary ", rx.el.span("Always on", class_name="consent-always"), class_name="consent-choice-name"
            ),
            rx.el.span(
                "Keeps the site working, you signed in and these choices remembered.",
                class_name="consent-choice-meaning",
            ),
            class_name="consent-choice-text",
        ),
        class_name="consent-choice consent-choice-fixed",
    )


def consent_banner() -> rx.Component:
    """Shown once the reader's consent is known to be undecided; gone the moment they choose."""
    return rx.cond(
        ReaderState.consent_known & ~ReaderState.consent_decided,
        rx.el.section(
            rx.el.form(
                rx.el.div(
                    rx.el.h2("Your reading, your choice", class_name="consent-title", id="consent-title"),
                    rx.el.p(
                        "We use a few cookies to run this site. With your permission we also tailor the paper "
                        "to you, from this visit alone or from what you read over time.",
                        class_name="consent-lede",
                    ),
                    rx.link(
                        "How we use your data",
                        href=routes.PRIVACY,
                        class_name="consent-policy",
                        custom_attrs={"data-testid": "consent-privacy-link"},
                    ),
                    class_name="consent-text",
                ),
                rx.el.fieldset(
                    rx.el.legend("What we may use", class_name="visually-hidden"),
                    _necessary(),
                    *[_choice(*choice) for choice in CHOICES],
                    class_name="consent-choices",
                ),
                rx.el.div(
                    rx.el.button(
                        "Save choices",
                        type="submit",
                        class_name="btn btn-quiet",
                        custom_attrs={"data-testid": "consent-save"},
                    ),
                    rx.el.button(
                        "Reject all",
                        type="button",
                        on_click=PrivacyState.reject_all,
                        class_name="btn btn-solid",
                        custom_attrs={"data-testid": "consent-reject-all"},
                    ),
                    rx.el.button(
                        "Accept all",
                        type="button",
                        on_click=PrivacyState.accept_all,
                        class_name="btn btn-solid",
                        custom_attrs={"data-testid": "consent-accept-all"},
                    ),
                    class_name="consent-actions",
                ),
                on_submit=PrivacyState.save_banner,
                class_name="consent-inner",
            ),
            class_name="consent",
            role="region",
            aria_labelledby="consent-title",
            custom_attrs={"data-testid": "consent-banner"},
        ),
    )
