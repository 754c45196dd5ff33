"""Reader accounts in the page: sign in, create an account, sign out.

Signing in only stores the session token in the `dc_account` cookie and goes
home: the next page view then carries the user_id, and that event is what
links this device to the account (identity stitching works from events).
Signing out gives the browser a new anonymous id, so whatever is read next
on a shared computer is not added to the account; the browser's consent
choice is carried over to the new id so the reader is not asked again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import reflex as rx

from media_demo import routes
from media_demo.accounts import EDITOR, AccountError
from media_demo.newsroom import get_newsroom
from media_demo.state.privacy import policy_url
from media_demo.state.reader import ReaderState

logger = logging.getLogger(__name__)

WRONG_CREDENTIALS = "Wrong email or password."  # never says which of the two was wrong
MISSING_CREDENTIALS = "Enter your email and password."
MAX_FIELD = 4096  # longer than any field the account store accepts; refused before any hashing


def _field(form_data: Any, name: str) -> str:
    """One text field of a submitted form; anything else (missing, not text, absurdly long) is empty."""
    value = form_data.get(name) if isinstance(form_data, dict) else None
    return value if isinstance(value, str) and len(value) <= MAX_FIELD else ""


class AccountState(rx.State):
    """The account page's forms (errors, busy flags) and the signed-in reader's email."""

    signin_error: str = ""
    signup_error: str = ""
    signing_in: bool = False
    signing_up: bool = False
    signing_out: bool = False
    email: str = ""
    is_editor: bool = False  # an editor's account card links to the newsroom's dashboards

    async def _sign_in_as(self, user_id: str, display_name: str):
        """Open a session for this browser; returns the redirect home (or None if the account vanished)."""
        token = await asyncio.to_thread(get_newsroom().accounts.open_session, user_id)
        reader_state = await self.get_state(ReaderState)
        reader_state.account_token = token
        reader_state.account_name = display_name
        return rx.redirect(routes.HOME)

    @rx.event
    async def open(self):
        """on_load of /account (after `ReaderState.visit`): clear old errors, show who is signed in."""
        self.signin_error = self.signup_error = ""
        self.signing_in = self.signing_up = self.signing_out = False
        accounts = get_newsroom().accounts

        def account_and_role(reader: Any) -> tuple[Any, bool]:
            if not reader.user_id:
                return None, False
            return accounts.get(reader.user_id), accounts.has_role(reader.user_id, EDITOR)

        _reader, (account, editor) = await (await self.get_state(ReaderState))._as_reader(account_and_role)
        self.email = account.email if account is not None else ""
        self.is_editor = account is not None and editor

    @rx.event
    async def sign_in(self, form_data: dict[str, Any]):
        """The sign-in form: check the password, then open a session and go home."""
        if self.signing_in:
            return
        email, password = _field(form_data, "email"), _field(form_data, "password")
        if not email.strip() or not password:
            self.signin_error = MISSING_CREDENTIALS
            return
        self.signin_error = ""
        self.signing_in = True
        yield
        try:
            account = await asyncio.to_thread(get_newsroom().accounts.authenticate, email, password)
            if account is None:
                self.signin_error = WRONG_CREDENTIALS
                return
            self.email = account.email
            yield await self._sign_in_as(account.user_id, account.display_name)
        except AccountError as exc:
            self.signin_error = str(exc)
        finally:
            self.signing_in = False

    @rx.event
    async def sign_up(self, form_data: dict[str, Any]):
        """The create-account form: create it (the store says what is wrong, if anything), then sign in."""
        if self.signing_up:
            return
        name = _field(form_data, "display_name").strip()
        email, password = _field(form_data, "email"), _field(form_data, "password")
        self.signup_error = ""
        self.signing_up = True
        yield
        try:
            account = await asyncio.to_thread(get_newsroom().accounts.create, email, password, name or None)
            self.email = account.email
            yield await self._sign_in_as(account.user_id, account.display_name)
        except AccountError as exc:
            self.signup_error = str(exc)
        finally:
            self.signing_up = False

    @rx.event
    async def sign_out(self):
        """End this browser's session and give it a new anonymous id, keeping its consent choice."""
        if self.signing_out:
            return
        self.signing_out = True
        room = get_newsroom()
        reader_state = await self.get_state(ReaderState)
        try:
            previous, token = reader_state._cookie_reader(), reader_state.account_token
            reader_state._reset_identity()
            reader = reader_state._cookie_reader()  # a new anonymous id, signed in to nothing
            page = reader_state._current_page("Sign out")
            url = policy_url(str(self.router.url))

            def sign_out_and_carry_consent() -> None:
                room.accounts.close_session(token)
                room.privacy.carry_consent(previous.domain_userid, reader, page, url)

            await asyncio.to_thread(sign_out_and_carry_consent)
            await reader_state._refresh_view()
            self.email, self.is_editor = "", False
        finally:
            self.signing_out = False
