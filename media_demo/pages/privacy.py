"""Privacy: what each use of data means, the reader's choices, what is held about them, and deletion."""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.articles import Corpus
from media_demo.components.layout import page_frame, page_header
from media_demo.paper import PAPER_NAME
from media_demo.state.privacy import DeletedCount, PrivacyState
from media_demo.state.reader import ReaderState

DATE_FORMAT = "D MMMM YYYY [at] HH:mm"


def _switch(name: str, checked: rx.Var[bool], on_change: rx.EventHandler) -> rx.Component:
    return rx.el.input(
        type="checkbox",
        role="switch",
        name=name,
        id=f"privacy-{name}",
        checked=checked,
        on_change=on_change,
        class_name="switch",
        aria_describedby=f"privacy-{name}-meaning",
        custom_attrs={"data-testid": f"privacy-{name}"},
    )


def _scope(name: str, label: str, meaning: str, control: rx.Component) -> rx.Component:
    return rx.el.li(
        rx.el.label(label, html_for=f"privacy-{name}", class_name="scope-name"),
        rx.el.div(control, class_name="scope-control"),
        rx.el.p(meaning, class_name="scope-meaning", id=f"privacy-{name}-meaning"),
        class_name="scope",
    )


def _status() -> rx.Component:
    return rx.el.p(
        rx.cond(
            ReaderState.consent_decided & (PrivacyState.decided_at != ""),
            rx.fragment(
                PrivacyState.decided_how,
                " on ",
                rx.moment(PrivacyState.decided_at, format=DATE_FORMAT),
                ".",
            ),
            "You haven't chosen yet. Until you do, nothing you read is added to a profile.",
        ),
        class_name="privacy-status",
        custom_attrs={"data-testid": "privacy-status"},
    )


def _choices() -> rx.Component:
    contextual = rx.cond(PrivacyState.editing, PrivacyState.draft_contextual, ReaderState.allows_contextual)
    behavioural = rx.cond(PrivacyState.editing, PrivacyState.draft_behavioural, ReaderState.allows_behavioural)
    return rx.el.section(
        rx.el.h2("Your choices", class_name="section-title"),
        _status(),
        rx.el.ul(
            _scope(
                "necessary",
                "Necessary",
                "Your reader id, visit and sign-in cookies. They keep the site working and remember these "
                "choices; without your permission below, nothing you read is tied to them.",
                rx.el.span("Always on", class_name="scope-always"),
            ),
            _scope(
                "contextual",
                "Contextual",
                "Your kind of device, the link or campaign that brought you and your local time of day may "
                "choose which stories we suggest. Used for the page you are opening; nothing is kept.",
                _switch("contextual", contextual, PrivacyState.set_contextual),
            ),
            _scope(
                "behavioural",
                "Behavioural",
                "The stories you read build a reading profile: the sections you follow and what you read "
                "last. It orders the front page, fills “Recommended for you” and marks what you have read. "
                "Turn it off and the profile is deleted at once.",
                _switch("behavioural", behavioural, PrivacyState.set_behavioural),
            ),
            class_name="scopes",
        ),
        rx.el.div(
            rx.el.button(
                rx.cond(PrivacyState.saving, "Saving…", "Save choices"),
                type="button",
                on_click=PrivacyState.save,
                disabled=PrivacyState.saving,
                class_name="btn btn-solid",
                custom_attrs={"data-testid": "privacy-save"},
            ),
            rx.el.p(
                PrivacyState.notice,
                class_name="privacy-notice",
                role="status",
                custom_attrs={"data-testid": "privacy-notice"},
            ),
            class_name="privacy-save-row",
        ),
        class_name="privacy-section privacy-choices",
    )


def _fact(term: str, *description: rx.Component | str, testid: str) -> rx.Component:
    return rx.el.div(rx.el.dt(term), rx.el.dd(*description, custom_attrs={"data-testid": testid}))


def _held() -> rx.Component:
    profile = rx.cond(
        PrivacyState.profile_articles > 0,
        rx.fragment(
            rx.el.strong(PrivacyState.profile_articles),
            rx.cond(PrivacyState.profile_articles == 1, " story read", " stories read"),
            rx.cond(PrivacyState.profile_sections != "", rx.fragment(", in ", PrivacyState.profile_sections), ""),
            ".",
        ),
        rx.cond(
            ReaderState.allows_behavioural,
            "Empty so far: read a story and it starts here.",
            "None. Personalisation is off, so your reading is kept only as anonymous counts.",
        ),
    )
    account = rx.cond(
        PrivacyState.account_email != "",
        rx.fragment(
            "Signed in as ",
            rx.el.strong(PrivacyState.account_email),
            ". ",
            PrivacyState.linked_devices,
            rx.cond(PrivacyState.linked_devices == 1, " device", " devices"),
            " linked to your account, their reading counted as yours.",
        ),
        rx.fragment(
            "No account on this browser. ",
            rx.link("Sign in or create one", href=routes.ACCOUNT, class_name="inline-link"),
            " to carry your reading across devices.",
        ),
    )
    return rx.el.section(
        rx.el.h2("What we hold about you", class_name="panel-title"),
        rx.el.dl(
            _fact("Reading profile", profile, testid="privacy-profile"),
            _fact("Account", account, testid="privacy-account"),
            _fact(
                "Consent record",
                "Each choice you make and when you made it: the record we must keep of your consent.",
                testid="privacy-record",
            ),
            class_name="facts",
        ),
        rx.link(
            "See everything in Your data →",
            href=routes.INSPECTOR,
            class_name="inline-link privacy-more",
            custom_attrs={"data-testid": "privacy-inspector-link"},
        ),
        class_name="privacy-section privacy-held",
    )


def _delete() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Delete my data", class_name="section-title"),
        rx.el.p(
            "Deletes your reading history, your profile and your consent record, and, if you are signed in, "
            "your account and the reading of every device linked to it. Stories' read counts keep your reads "
            "only as anonymous numbers. This cannot be undone.",
            class_name="privacy-text",
        ),
        rx.alert_dialog.root(
            rx.alert_dialog.trigger(
                rx.el.button(
                    rx.cond(PrivacyState.deleting, "Deleting…", "Delete my data"),
                    type="button",
                    disabled=PrivacyState.deleting,
                    class_name="btn btn-danger",
                    custom_attrs={"data-testid": "privacy-delete"},
                ),
            ),
            rx.alert_dialog.content(
                rx.alert_dialog.title("Delete all your data?", class_name="dialog-title"),
                rx.alert_dialog.description(
                    "Everything we hold about you goes now, including your account if you are signed in. "
                    "You will be a new reader on your next page.",
                    class_name="dialog-text",
                ),
                rx.el.div(
                    rx.alert_dialog.cancel(
                        rx.el.button(
                            "Keep my data",
                            type="button",
                            class_name="btn btn-quiet",
                            custom_attrs={"data-testid": "privacy-delete-cancel"},
                        ),
                    ),
                    rx.alert_dialog.action(
                        rx.el.button(
                            "Delete everything",
                            type="button",
                            on_click=PrivacyState.delete_my_data,
                            class_name="btn btn-danger-solid",
                            custom_attrs={"data-testid": "privacy-delete-confirm"},
                        ),
                    ),
                    class_name="dialog-actions",
                ),
                class_name="dialog",
                custom_attrs={"data-testid": "privacy-delete-dialog"},
            ),
            open=PrivacyState.confirm_open,
            on_open_change=PrivacyState.set_confirm_open,
        ),
        rx.cond(
            PrivacyState.delete_error != "",
            rx.el.p(PrivacyState.delete_error, class_name="form-error", role="alert"),
        ),
        class_name="privacy-section privacy-danger",
    )


def _deleted_line(line: DeletedCount) -> rx.Component:
    return rx.el.li(
        rx.el.span(line.count, class_name="receipt-count"),
        rx.el.span(line.label, class_name="receipt-label"),
        class_name="receipt-line",
        custom_attrs={"data-testid": "deleted-count", "data-kind": line.kind, "data-count": line.count},
    )


def _deleted() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Your data has been deleted", class_name="deleted-title"),
        rx.el.p("Here is what we removed:", class_name="privacy-text"),
        rx.el.ul(rx.foreach(PrivacyState.receipt, _deleted_line), class_name="receipt"),
        rx.el.p(
            "This browser no longer carries a reader id. On your next page you are a new reader, and we will ask "
            "for your choices again.",
            class_name="privacy-text",
        ),
        rx.link("← Back to the front page", href=routes.HOME, class_name="button-link"),
        class_name="privacy-deleted",
        role="status",
        custom_attrs={"data-testid": "privacy-deleted"},
    )


def privacy_page(corpus: Corpus) -> rx.Component:
    return page_frame(
        corpus.categories,
        rx.el.div(
            page_header(
                "Privacy",
                "Your privacy choices",
                f"What {PAPER_NAME} collects, what it is for, and how to change your mind. "
                "Every change takes effect at once.",
            ),
            rx.cond(
                PrivacyState.deleted,
                _deleted(),
                rx.el.div(_choices(), _held(), _delete(), class_name="privacy-layout"),
            ),
            class_name="privacy",
            custom_attrs={"data-testid": "privacy"},
        ),
    )
