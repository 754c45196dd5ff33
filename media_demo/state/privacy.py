"""Consent and privacy: the banner's answer, the privacy page's choices, and "delete my data".

Every choice is tracked as a Snowplow enhanced-consent event through the
newsroom's tracker, so the consent record is part of the event log like
everything else; the engine applies it at once (withdrawing behavioural
consent drops the profile), and the reader's panel is re-read right away.
The reader is always the one `ReaderState` vouches for (signed id cookie),
never an id sent by the browser.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any
from urllib.parse import urlsplit

import reflex as rx

from media_demo import routes
from media_demo.articles import section_label
from media_demo.newsroom import get_newsroom
from media_demo.signals.engine.consent import BEHAVIOURAL, CONTEXTUAL
from media_demo.signals.engine.timestamps import iso_seconds
from media_demo.state.clients import OPEN_TABS
from media_demo.state.reader import ACCOUNT_COOKIE, ReaderState
from media_demo.state.tabs import wipe_tab
from media_demo.tracking.identity import SESSION_COOKIE, SIGNATURE_COOKIE, USER_COOKIE

logger = logging.getLogger(__name__)

BANNER_TITLE = "Consent banner"
PAGE_TITLE = "Privacy"
# How a reader's latest choice reads back to them, by enhanced-consent event type.
CHOICE_WORDS = {
    "allow_all": "You accepted all uses",
    "allow_selected": "You chose which uses to allow",
    "deny_all": "You rejected all optional uses",
    "withdrawn": "You withdrew your consent to personalisation",
    "implicit_consent": "Your choice was implied by your settings",
    "expired": "Your earlier choice expired",
}
# What `Privacy.forget_reader` counted, in the reader's words: (one, several). Unlisted kinds show by name.
DELETED_WORDS = {
    "events": ("reading event", "reading events"),
    "bad_events": ("rejected tracker request", "rejected tracker requests"),
    "profiles": ("attribute profile", "attribute profiles"),
    "devices": ("linked device", "linked devices"),
    "accounts": ("account, with its sign-ins", "accounts, with their sign-ins"),
}
COOKIES = (USER_COOKIE, SIGNATURE_COOKIE, SESSION_COOKIE, ACCOUNT_COOKIE)
# Expires the reader's cookies in the browser. Not `rx.remove_cookie`: in Reflex 0.10 each removal
# re-runs the page's initial events (hydrate and on_load), which would at once track this page as a
# new reader and replace the deletion receipt; the reader should become new on their *next* page.
EXPIRE_COOKIES_SCRIPT = "".join(f"document.cookie = '{name}=; Max-Age=0; Path=/; SameSite=Lax';" for name in COOKIES)


@dataclasses.dataclass
class DeletedCount:
    """One line of the deletion receipt."""

    kind: str = ""
    label: str = ""
    count: int = 0


def policy_url(page_url: str) -> str:
    """The absolute address of this site's privacy page: the `consentUrl` every consent event carries."""
    parts = urlsplit(page_url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return f"{origin}{routes.PRIVACY}"


def scopes_from_form(form_data: Any) -> set[str]:
    """The optional scopes ticked in a submitted form (any other field or value is ignored)."""
    if not isinstance(form_data, dict):
        return set()
    return {scope for scope in (CONTEXTUAL, BEHAVIOURAL) if form_data.get(scope) in ("on", True, "true")}


def receipt(counts: dict[str, int]) -> list[DeletedCount]:
    """The deletion counts as lines for the reader: events always, other kinds when there were any."""
    lines = []
    for kind, count in counts.items():
        if count or kind == "events":
            name = kind.replace("_", " ")
            one, several = DELETED_WORDS.get(kind, (name, name))
            lines.append(DeletedCount(kind, one if count == 1 else several, int(count)))
    return lines


class PrivacyState(rx.State):
    """The reader's consent choices (banner and /privacy), what is held about them, and its deletion."""

    # The toggles on /privacy: while `editing`, the drafts; otherwise the page shows the stored choice.
    editing: bool = False
    draft_contextual: bool = True
    draft_behavioural: bool = False
    saving: bool = False
    notice: str = ""
    # The stored choice, in words, and when it was made (ISO 8601; shown in the reader's time zone).
    decided_how: str = ""
    decided_at: str = ""
    # What is held about the reader.
    summarised: bool = False
    profile_articles: int = 0
    profile_sections: str = ""
    account_email: str = ""
    linked_devices: int = 0
    # Deletion.
    confirm_open: bool = False
    deleting: bool = False
    deleted: bool = False
    receipt: list[DeletedCount] = []
    delete_error: str = ""

    async def _summarise(self, reader_state: ReaderState) -> None:
        """Read what the newsroom holds about this tab's reader into the page."""
        privacy = get_newsroom().privacy
        _reader, summary = await reader_state._as_reader(
            lambda reader: privacy.summary(reader.domain_userid, reader.user_id)
        )
        consent = summary.consent
        self.decided_how = CHOICE_WORDS.get(consent.event_type, "You made a choice") if consent else ""
        self.decided_at = iso_seconds(consent.at) if consent else ""
        self.profile_articles = summary.articles_read
        self.profile_sections = ", ".join(section_label(c) for c in summary.categories_read)
        self.account_email = summary.account_email
        self.linked_devices = summary.linked_devices
        self.summarised = True

    async def _choose(self, scopes: set[str], title: str) -> None:
        """Record the reader's choice as a consent event, then show its effect everywhere at once.

        Choosing to stop behavioural use with nothing optional left is a withdrawal
        (`withdrawn`); the engine drops the reader's profile when it sees either.
        """
        reader_state = await self.get_state(ReaderState)
        privacy, page = get_newsroom().privacy, reader_state._current_page(title)
        url = policy_url(str(self.router.url))
        await reader_state._as_reader(lambda reader: privacy.choose(reader, page, scopes, url))
        await reader_state._refresh_view()
        await self._summarise(reader_state)

    # ----------------------------------------------------------------- the banner

    @rx.event
    async def accept_all(self):
        """Banner: allow every optional use."""
        await self._choose({CONTEXTUAL, BEHAVIOURAL}, BANNER_TITLE)

    @rx.event
    async def reject_all(self):
        """Banner: allow nothing optional (only what keeps the site working)."""
        await self._choose(set(), BANNER_TITLE)

    @rx.event
    async def save_banner(self, form_data: dict[str, Any]):
        """Banner: allow exactly the uses ticked."""
        await self._choose(scopes_from_form(form_data), BANNER_TITLE)

    # ----------------------------------------------------------------- the privacy page

    @rx.event
    async def open(self):
        """on_load of /privacy (after `ReaderState.visit`): a fresh page showing the reader as they are now."""
        self.editing = False
        self.saving = False
        self.notice = ""
        self.confirm_open = False
        self.deleting = False
        self.deleted = False
        self.receipt = []
        self.delete_error = ""
        await self._summarise(await self.get_state(ReaderState))

    async def _start_editing(self) -> None:
        if not self.editing:
            reader_state = await self.get_state(ReaderState)
            self.draft_contextual = reader_state.allows_contextual
            self.draft_behavioural = reader_state.allows_behavioural
            self.editing = True
        self.notice = ""

    @rx.event
    async def set_contextual(self, value: bool):
        """Toggle contextual use (saved only with `save`)."""
        if isinstance(value, bool):
            await self._start_editing()
            self.draft_contextual = value

    @rx.event
    async def set_behavioural(self, value: bool):
        """Toggle behavioural use (saved only with `save`)."""
        if isinstance(value, bool):
            await self._start_editing()
            self.draft_behavioural = value

    @rx.event
    async def save(self):
        """Store the toggles as the reader's choice and say what changed."""
        if self.saving:
            return
        reader_state = await self.get_state(ReaderState)
        if self.editing:
            contextual, behavioural = self.draft_contextual, self.draft_behavioural
        else:
            contextual, behavioural = reader_state.allows_contextual, reader_state.allows_behavioural
        had_behavioural = reader_state.consent_decided and reader_state.allows_behavioural
        self.saving = True
        yield
        try:
            scopes = {s for s, on in ((CONTEXTUAL, contextual), (BEHAVIOURAL, behavioural)) if on}
            await self._choose(scopes, PAGE_TITLE)
        finally:
            self.saving = False
        self.editing = False
        if had_behavioural and not behavioural:
            self.notice = "Saved. Personalisation is off and your reading profile has been deleted."
        elif behavioural and not had_behavioural:
            self.notice = "Saved. From your next story, your picks will follow what you read."
        else:
            self.notice = "Saved. Your choices are up to date."

    @rx.event
    def set_confirm_open(self, value: bool):
        """Open or close the "delete my data" confirmation."""
        if isinstance(value, bool) and not self.deleting:
            self.confirm_open = value

    @rx.event
    async def delete_my_data(self):
        """Delete everything held about this reader (and their account when signed in), then forget this browser.

        The cookies are emptied and then expired, so the next page starts a brand-new reader.
        """
        if self.deleting or self.deleted:
            return
        self.confirm_open = False
        self.deleting = True
        self.delete_error = ""
        yield
        reader_state = await self.get_state(ReaderState)
        forget_reader = get_newsroom().privacy.forget_reader
        try:  # the signed id of this browser (never one it sent unsigned), and its account when signed in
            reader, counts = await reader_state._as_reader(
                lambda reader: forget_reader([reader.domain_userid], reader.user_id)
            )
        except Exception:
            logger.exception("deleting a reader's data failed")
            self.deleting = False
            self.delete_error = "We could not finish deleting your data. Nothing was kept back on purpose: try again."
            return
        OPEN_TABS.forget(reader.domain_userid)
        if self.parent_state is not None:  # every copy of their data in this tab but this page's receipt
            wipe_tab(self.parent_state, keep=(PrivacyState,))
        self.receipt = receipt(counts)
        self.editing = False
        self.summarised = False
        self.decided_how = self.decided_at = self.account_email = self.profile_sections = ""
        self.profile_articles = self.linked_devices = 0
        self.deleting = False
        self.deleted = True
        yield rx.call_script(EXPIRE_COOKIES_SCRIPT)
