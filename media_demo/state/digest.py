"""The e-mail digest in the pages: the account page's subscription card, the preview, and the two link pages.

The confirmation and unsubscribe links of a mail open a page with one button rather than acting on
load: mail scanners fetch links to check them, and a fetch must neither confirm nor unsubscribe
anyone. Neither page needs a sign-in: the signed token says whose subscription it is.
"""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from media_demo.mail.store import FREQUENCIES, NO_DIGEST, Subscription
from media_demo.newsroom import get_newsroom
from media_demo.services.digests import DigestError, describe
from media_demo.state.reader import ReaderState

NOT_SIGNED_IN = "Sign in to subscribe to the digest."
BRIEFING_FIELD = "briefing-"  # the account card's checkbox of a section's briefing: "briefing-<section>"


class DigestState(rx.State):
    """The signed-in reader's subscription, and what the link pages did."""

    status: str = ""  # "", "pending", "confirmed" or "unsubscribed"
    frequency: str = "daily"  # or "weekly", or "none" (briefings only)
    briefings: list[str] = []  # the sections whose weekly briefing the reader gets
    notice: str = ""  # what just happened, announced politely
    error: str = ""
    busy: bool = False
    outbox: bool = False  # mails are written to a folder (no SMTP_URL): say so rather than pretend
    preview_subject: str = ""
    preview_html: str = ""
    link_done: bool = False
    link_message: str = ""

    async def _user_id(self) -> str:
        reader_state = await self.get_state(ReaderState)
        reader, _ = await reader_state._as_reader(lambda _reader: None)
        return reader.user_id or ""

    @rx.event
    async def open(self):
        """on_load of /account: the subscription as it stands."""
        self.notice = self.error = ""
        self.busy = False
        room = get_newsroom()
        self.outbox = not room.settings.smtp_url
        user_id = await self._user_id()
        subscription = await asyncio.to_thread(room.digests.subscription, user_id) if user_id else None
        self._show(subscription)

    def _show(self, subscription: Subscription | None) -> None:
        self.status = subscription.status if subscription is not None else ""
        active = subscription is not None and subscription.status != "unsubscribed"
        self.frequency = subscription.frequency if subscription is not None and active else "daily"
        self.briefings = list(subscription.briefings) if subscription is not None and active else []

    @rx.event
    async def subscribe(self, form_data: dict[str, Any]):
        """Save the card: the digest's frequency (or none) and the briefings ticked. Someone not yet confirmed
        gets a confirmation mail; nothing is sent before its link is followed."""
        if self.busy:
            return
        data = form_data if isinstance(form_data, dict) else {}
        frequency = data.get("frequency")
        if frequency not in (*FREQUENCIES, NO_DIGEST):
            self.error = "Choose daily, weekly or no digest."
            return
        briefings = sorted(
            str(k).removeprefix(BRIEFING_FIELD) for k, v in data.items() if str(k).startswith(BRIEFING_FIELD) and v
        )
        self.busy, self.error, self.notice = True, "", ""
        yield
        try:
            user_id = await self._user_id()
            if not user_id:
                self.error = NOT_SIGNED_IN
                return
            was = self.status
            subscription = await asyncio.to_thread(get_newsroom().digests.choose, user_id, str(frequency), briefings)
            self._show(subscription)
            if subscription.status == "confirmed":
                self.notice = "Saved." if was == "confirmed" else "You are subscribed."
            elif subscription.status == "pending":
                self.notice = "Almost done: we sent you an e-mail. Follow its link to confirm; nothing is sent before."
            else:
                self.notice = "You are unsubscribed. No more e-mail will be sent."
        except DigestError as exc:
            self.error = str(exc)
        finally:
            self.busy = False

    @rx.event
    async def unsubscribe(self):
        """Stop the digest at once (and record the withdrawn e-mail consent)."""
        if self.busy:
            return
        self.busy, self.error = True, ""
        yield
        try:
            reader_state = await self.get_state(ReaderState)
            reader, _ = await reader_state._as_reader(lambda _reader: None)
            if reader.user_id:
                await asyncio.to_thread(get_newsroom().digests.unsubscribe, reader.user_id, reader)
                self.status, self.briefings = "unsubscribed", []
                self.notice = "You are unsubscribed. No more digests will be sent."
        finally:
            self.busy = False

    @rx.event
    async def open_preview(self):
        """on_load of /account/digest-preview: the next digest as it would be sent now."""
        self.preview_subject = self.preview_html = self.error = ""
        user_id = await self._user_id()
        if not user_id:
            self.error = NOT_SIGNED_IN
            return
        try:
            mail = await asyncio.to_thread(get_newsroom().digests.preview, user_id)
        except DigestError as exc:
            self.error = str(exc)
            return
        self.preview_subject, self.preview_html = mail.subject, mail.html

    @rx.event
    def open_link_page(self):
        """on_load of the link pages: nothing done yet."""
        self.link_done, self.link_message, self.error = False, "", ""

    @rx.event
    async def confirm_link(self):
        """The confirmation page's button: start the subscription the link's token names."""
        token = self.router.url.query_parameters.get("token", "")
        reader_state = await self.get_state(ReaderState)
        reader, _ = await reader_state._as_reader(lambda _reader: None)  # signed in here, or not: either works
        try:
            subscription = await asyncio.to_thread(get_newsroom().digests.confirm, token, reader)
        except DigestError as exc:
            self.error = str(exc)
            return
        self.link_done = True
        self._show(subscription)
        self.link_message = f"You are subscribed to the {describe(subscription)}. Thank you."

    @rx.event
    async def unsubscribe_link(self):
        """The unsubscribe page's button: end the subscription the link's token names (no sign-in)."""
        token = self.router.url.query_parameters.get("token", "")
        try:
            await asyncio.to_thread(get_newsroom().digests.unsubscribe_with, token)
        except DigestError as exc:
            self.error = str(exc)
            return
        self.link_done = True
        self.link_message = "You are unsubscribed. No more digests will be sent to you."
