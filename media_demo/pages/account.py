"""Account: sign in or create an account (side by side), or, when signed in, who and "Sign out"."""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.accounts import MIN_PASSWORD
from media_demo.articles import Corpus
from media_demo.components.layout import page_frame, page_header
from media_demo.pages.digest import digest_card
from media_demo.paper import PAPER_NAME
from media_demo.state.account import AccountState
from media_demo.state.reader import ReaderState


def _field(
    form: str,
    name: str,
    label: str,
    kind: str,
    autocomplete: str,
    error: rx.Var[str],
    hint: str = "",
    required: bool = True,
) -> rx.Component:
    """A labelled input; its hint and the form's error are announced with it."""
    field_id = f"{form}-{name}"
    described = " ".join(i for i in (f"{field_id}-hint" if hint else "", f"{form}-error") if i)
    return rx.el.div(
        rx.el.label(label, html_for=field_id, class_name="field-label"),
        rx.el.input(
            id=field_id,
            name=name,
            type=kind,
            auto_complete=autocomplete,
            required=required,
            aria_describedby=described,
            aria_invalid=rx.cond(error != "", "true", "false"),
            class_name="field-input",
            custom_attrs={"data-testid": field_id},
        ),
        rx.el.p(hint, id=f"{field_id}-hint", class_name="field-hint") if hint else rx.fragment(),
        class_name="field",
    )


def _error(form: str, error: rx.Var[str]) -> rx.Component:
    return rx.el.p(
        error,
        id=f"{form}-error",
        class_name=rx.cond(error != "", "form-error", "form-error form-error-empty"),
        role="alert",
        custom_attrs={"data-testid": f"{form}-error"},
    )


def _submit(form: str, label: str, busy_label: str, busy: rx.Var[bool]) -> rx.Component:
    """A form's submit button: says what is happening and cannot be pressed twice while it happens."""
    return rx.el.button(
        rx.cond(busy, busy_label, label),
        type="submit",
        disabled=busy,
        class_name="btn btn-solid btn-wide",
        custom_attrs={"data-testid": f"{form}-submit"},
    )


def _sign_in() -> rx.Component:
    error = AccountState.signin_error
    return rx.el.form(
        rx.el.h2("Sign in", class_name="form-title"),
        rx.el.p("Welcome back.", class_name="form-lede"),
        _field("signin", "email", "Email", "email", "email", error),
        _field("signin", "password", "Password", "password", "current-password", error),
        _error("signin", error),
        _submit("signin", "Sign in", "Signing in…", AccountState.signing_in),
        on_submit=AccountState.sign_in,
        class_name="account-form",
        aria_busy=AccountState.signing_in,
        custom_attrs={"data-testid": "signin-form"},
    )


def _sign_up() -> rx.Component:
    error = AccountState.signup_error
    return rx.el.form(
        rx.el.h2("Create an account", class_name="form-title"),
        rx.el.p("Free. Your reading follows you to every device where you sign in.", class_name="form-lede"),
        _field(
            "signup",
            "display_name",
            "Display name",
            "text",
            "nickname",
            error,
            hint="Shown at the top of the page. Leave empty to use the start of your email.",
            required=False,
        ),
        _field("signup", "email", "Email", "email", "email", error),
        _field(
            "signup",
            "password",
            "Password",
            "password",
            "new-password",
            error,
            hint=f"At least {MIN_PASSWORD} characters.",
        ),
        _error("signup", error),
        _submit("signup", "Create account", "Creating your account…", AccountState.signing_up),
        on_submit=AccountState.sign_up,
        class_name="account-form",
        aria_busy=AccountState.signing_up,
        custom_attrs={"data-testid": "signup-form"},
    )


def _signed_in() -> rx.Component:
    return rx.el.section(
        rx.el.p("Signed in as", class_name="field-label"),
        rx.el.p(ReaderState.account_name, class_name="account-who", custom_attrs={"data-testid": "account-name"}),
        rx.el.p(AccountState.email, class_name="account-email", custom_attrs={"data-testid": "account-email"}),
        rx.el.p(
            "What you read on any device where you are signed in counts once, everywhere: your recommendations "
            "and read marks follow you. Signing out gives this browser a fresh anonymous id, so nothing read "
            "here afterwards is added to your account.",
            class_name="privacy-text",
        ),
        rx.el.div(
            rx.el.button(
                rx.cond(AccountState.signing_out, "Signing out…", "Sign out"),
                type="button",
                on_click=AccountState.sign_out,
                disabled=AccountState.signing_out,
                class_name="btn btn-solid",
                custom_attrs={"data-testid": "account-signout"},
            ),
            rx.link("Your privacy choices", href=routes.PRIVACY, class_name="inline-link"),
            rx.cond(
                AccountState.is_editor,
                rx.link(
                    "Experiments dashboard",
                    href=routes.EXPERIMENTS,
                    class_name="inline-link",
                    custom_attrs={"data-testid": "account-experiments"},
                ),
            ),
            class_name="account-actions",
        ),
        class_name="account-card",
        custom_attrs={"data-testid": "account-signed-in"},
    )


def account_page(corpus: Corpus) -> rx.Component:
    return page_frame(
        corpus.categories,
        rx.el.div(
            page_header(
                "Account",
                rx.cond(ReaderState.account_name != "", "Your account", f"Sign in to {PAPER_NAME}"),
                "One account, every device: what you read on your phone shapes the picks on your laptop.",
            ),
            rx.cond(
                ReaderState.consent_known,
                rx.cond(
                    ReaderState.account_name != "",
                    rx.fragment(_signed_in(), digest_card(corpus.categories)),
                    rx.el.div(_sign_in(), _sign_up(), class_name="account-forms"),
                ),
                rx.el.p("Loading…", class_name="muted"),
            ),
            class_name="account-page",
            custom_attrs={"data-testid": "account"},
        ),
    )
