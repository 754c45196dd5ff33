"""The e-mail digest's pages: the subscription card on /account, the preview, and the pages mail links open."""

from __future__ import annotations

from collections.abc import Sequence

import reflex as rx

from media_demo import routes
from media_demo.articles import Corpus, section_label
from media_demo.components.layout import page_frame, page_header
from media_demo.state.digest import BRIEFING_FIELD, DigestState
from media_demo.state.reader import ReaderState

STATUS_TEXT = {
    "pending": "Waiting for you to confirm: follow the link in the e-mail we sent you.",
    "confirmed": "You are subscribed. The digest starts with the sections you read most.",
    "unsubscribed": "You are unsubscribed: no digest is sent to you.",
}


def _error(testid: str) -> rx.Component:
    """What went wrong, announced at once; takes no room while nothing did."""
    return rx.el.p(
        DigestState.error,
        class_name=rx.cond(DigestState.error != "", "form-error", "form-error form-error-empty"),
        role="alert",
        custom_attrs={"data-testid": testid},
    )


def _frequency(value: str, label: str, meaning: str) -> rx.Component:
    return rx.el.label(
        rx.el.input(
            type="radio",
            name="frequency",
            value=value,
            default_checked=DigestState.frequency == value,
            class_name="consent-check",
            custom_attrs={"data-testid": f"digest-{value}"},
        ),
        rx.el.span(
            rx.el.span(label, class_name="consent-choice-name"),
            rx.el.span(meaning, class_name="consent-choice-meaning"),
            class_name="consent-choice-text",
        ),
        class_name="consent-choice",
    )


def _briefing(section: str) -> rx.Component:
    label = section_label(section)
    return rx.el.label(
        rx.el.input(
            type="checkbox",
            name=f"{BRIEFING_FIELD}{section}",
            default_checked=DigestState.briefings.contains(section),
            class_name="consent-check",
            custom_attrs={"data-testid": f"briefing-{section}"},
        ),
        rx.el.span(rx.el.span(label, class_name="consent-choice-name"), class_name="consent-choice-text"),
        class_name="consent-choice briefing-choice",
    )


def digest_card(sections: Sequence[str]) -> rx.Component:
    """Subscribe, change how often, unsubscribe; where the mails go when no mail server is set."""
    subscribed = DigestState.status == "confirmed"
    return rx.el.section(
        rx.el.h2("The Daily Current by e-mail", class_name="form-title"),
        rx.el.p(
            "A short digest of what is new in the sections you read, with the stories we would pick for you, "
            "and weekly briefings of the sections you follow. Double opt-in: nothing is sent until you confirm "
            "from the e-mail we send you.",
            class_name="privacy-text",
        ),
        rx.cond(
            DigestState.status != "",
            rx.el.p(
                rx.match(
                    DigestState.status,
                    ("pending", STATUS_TEXT["pending"]),
                    ("confirmed", STATUS_TEXT["confirmed"]),
                    STATUS_TEXT["unsubscribed"],
                ),
                class_name="digest-status",
                custom_attrs={"data-testid": "digest-status", "data-status": DigestState.status},
            ),
        ),
        rx.el.form(
            rx.el.fieldset(
                rx.el.legend("How often", class_name="field-label"),
                _frequency("daily", "Daily", "Once a day, at the same hour."),
                _frequency("weekly", "Weekly", "The week in one e-mail."),
                _frequency("none", "No digest", "Only the section briefings ticked below."),
                class_name="consent-choices digest-choices",
            ),
            rx.el.fieldset(
                rx.el.legend("Section briefings, every Friday", class_name="field-label"),
                rx.el.div(*[_briefing(section) for section in sections], class_name="briefing-grid"),
                class_name="consent-choices digest-choices",
            ),
            _error("digest-error"),
            rx.el.div(
                rx.el.button(
                    rx.cond(DigestState.busy, "Sending…", rx.cond(subscribed, "Save", "Subscribe")),
                    type="submit",
                    disabled=DigestState.busy,
                    class_name="btn btn-solid",
                    custom_attrs={"data-testid": "digest-subscribe"},
                ),
                rx.cond(
                    (DigestState.status == "confirmed") | (DigestState.status == "pending"),
                    rx.el.button(
                        "Unsubscribe",
                        type="button",
                        on_click=DigestState.unsubscribe,
                        disabled=DigestState.busy,
                        class_name="btn btn-danger",
                        custom_attrs={"data-testid": "digest-unsubscribe"},
                    ),
                ),
                rx.link("Preview your digest", href=routes.DIGEST_PREVIEW, class_name="inline-link"),
                class_name="account-actions",
            ),
            on_submit=DigestState.subscribe,
            aria_busy=DigestState.busy,
        ),
        rx.el.p(
            DigestState.notice,
            class_name="digest-notice",
            role="status",
            aria_live="polite",
            custom_attrs={"data-testid": "digest-notice"},
        ),
        rx.cond(
            DigestState.outbox,
            rx.el.p(
                "This server has no mail service set up (SMTP_URL), so its mails are written to data/outbox/ "
                "as .eml files instead of being sent.",
                class_name="field-hint",
            ),
        ),
        class_name="account-card digest-card",
        custom_attrs={"data-testid": "digest-card"},
    )


def digest_preview_page(corpus: Corpus) -> rx.Component:
    """The next digest as it would be sent now, in a frame (a mail's HTML is its own document)."""
    return page_frame(
        corpus.categories,
        rx.el.div(
            page_header("Account", "Your digest", "What your next e-mail would say, built from your reading now."),
            rx.cond(
                DigestState.error != "",
                rx.el.p(DigestState.error, class_name="form-error", role="alert"),
                rx.cond(
                    DigestState.preview_html != "",
                    rx.el.div(
                        rx.el.p(
                            rx.el.span("Subject: ", class_name="field-label"),
                            DigestState.preview_subject,
                            class_name="digest-subject",
                            custom_attrs={"data-testid": "digest-preview-subject"},
                        ),
                        rx.el.iframe(
                            src_doc=DigestState.preview_html,
                            title="Your digest",
                            class_name="digest-frame",
                            sandbox="allow-popups allow-popups-to-escape-sandbox",
                            custom_attrs={"data-testid": "digest-preview"},
                        ),
                    ),
                    rx.el.p("Loading…", class_name="muted"),
                ),
            ),
            rx.link("Back to your account", href=routes.ACCOUNT, class_name="inline-link"),
            class_name="account-page",
        ),
    )


def _link_page(corpus: Corpus, title: str, lede: str, button: str, handler: rx.EventHandler) -> rx.Component:
    return page_frame(
        corpus.categories,
        rx.el.div(
            page_header("E-mail", title, lede),
            rx.el.section(
                rx.cond(
                    DigestState.link_done,
                    rx.el.p(
                        DigestState.link_message,
                        class_name="account-who digest-done",
                        role="status",
                        custom_attrs={"data-testid": "email-link-done"},
                    ),
                    rx.el.div(
                        _error("email-link-error"),
                        rx.el.button(
                            button,
                            type="button",
                            on_click=handler,
                            class_name="btn btn-solid",
                            custom_attrs={"data-testid": "email-link-button"},
                        ),
                    ),
                ),
                rx.el.div(
                    rx.link("Front page", href=routes.HOME, class_name="inline-link"),
                    rx.cond(
                        ReaderState.account_name != "",
                        rx.link("Your account", href=routes.ACCOUNT, class_name="inline-link"),
                    ),
                    class_name="account-actions digest-links",
                ),
                class_name="account-card",
            ),
            class_name="account-page",
        ),
    )


def email_confirm_page(corpus: Corpus) -> rx.Component:
    """Where a confirmation mail's link lands: one button confirms."""
    return _link_page(
        corpus,
        "Confirm your digest",
        "One more click and the digest starts.",
        "Confirm my subscription",
        DigestState.confirm_link,
    )


def email_unsubscribe_page(corpus: Corpus) -> rx.Component:
    """Where a digest's unsubscribe link lands: one button, no sign-in."""
    return _link_page(
        corpus,
        "Unsubscribe",
        "Stop the digest: one click, no need to sign in.",
        "Unsubscribe",
        DigestState.unsubscribe_link,
    )
