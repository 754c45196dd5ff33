"""Consent and deletion: the reader's choices recorded, a withdrawn profile dropped, a reader forgotten.

A choice is a Snowplow enhanced-consent event, tracked like every other (so the
consent record is part of the log); the engine applies it and, when behavioural consent
goes, drops the profile (`EngineEraser.withdraw`, called by `Ingest`). `forget_reader`
deletes everything held about a reader, through an `Eraser`: `EngineEraser` where the
engine is this process, `RemoteEraser` (`media_demo.services.remote_reads`) in a UI worker
of a cluster. Then the `on_forget` listeners are told, for what the services do not hold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from media_demo.accounts import Accounts
from media_demo.mail.store import SubscriptionStore
from media_demo.services.engine_reads import EngineReads
from media_demo.services.ingest import Ingest
from media_demo.services.memory import Memory
from media_demo.services.reader_views import ReaderViews
from media_demo.signals.engine.consent import BEHAVIOURAL, CONSENT_EVENT, Consent
from media_demo.signals.storage.event_log import EventLog
from media_demo.tracking import NewsroomTracker, Page, Reader

logger = logging.getLogger(__name__)

ForgetListener = Callable[[frozenset[str], frozenset[str]], None]


@dataclass(frozen=True)
class PrivacySummary:
    """What is held about one reader, in the privacy page's terms."""

    consent: Consent | None
    articles_read: int
    categories_read: list[str]
    account_email: str
    linked_devices: int


class Eraser(Protocol):
    """Deletes a reader wherever the engine keeps them."""

    def forget_reader(self, domain_userids: set[str], user_id: str | None) -> tuple[dict[str, int], set[str]]:
        """Delete everything of these devices and this account (with every device linked to it); returns
        what was deleted, by kind, and every device that went."""
        ...


class Privacy:
    """Who may be profiled, and the right to be forgotten."""

    def __init__(
        self,
        reads: EngineReads,
        views: ReaderViews,
        accounts: Accounts,
        tracker: NewsroomTracker,
        eraser: Eraser,
    ) -> None:
        self._reads, self._views, self._accounts, self._tracker = reads, views, accounts, tracker
        self._eraser = eraser
        self._forget_listeners: list[ForgetListener] = []

    def consent_of(self, domain_userid: str) -> Consent | None:
        """The reader's current consent choice; None until they make one."""
        return self._reads.consent_of(domain_userid)

    def linked_devices(self, user_id: str) -> list[str]:
        """The devices (`domain_userid`s) a signed-in reader used, in link order."""
        return self._reads.devices(user_id)

    def choose(self, reader: Reader, page: Page, scopes: set[str], policy_url: str) -> Consent | None:
        """Record the reader's choice (blocking: the event is committed when it returns); returns their consent.

        Choosing no optional use after allowing behavioural use is a withdrawal (`withdrawn`):
        their profile is dropped at once.
        """
        before = self.consent_of(reader.domain_userid)
        if before is not None and before.allows(BEHAVIOURAL) and not scopes:
            self._tracker.withdraw(reader, page, policy_url)
        else:
            self._tracker.consent(reader, page, scopes, policy_url)
        self._reads.settle()
        return self.consent_of(reader.domain_userid)

    def carry_consent(self, previous_domain_userid: str, reader: Reader, page: Page, policy_url: str) -> None:
        """The new id of a browser (signed out) keeps the choice its previous id made, if any (blocking)."""
        consent = self.consent_of(previous_domain_userid)
        if consent is not None:
            self._tracker.consent(reader, page, set(consent.scopes), policy_url)
            self._reads.settle()

    def summary(self, domain_userid: str, user_id: str | None) -> PrivacySummary:
        """What the privacy page shows a reader about what is held on them (blocking: one call in a worker
        thread; in a cluster the attributes come from the Signals API)."""
        attributes = self._views.attributes(domain_userid, user_id)
        account = self._accounts.get(user_id) if user_id else None
        return PrivacySummary(
            consent=self.consent_of(domain_userid),
            articles_read=int(attributes.get("article_read_count") or 0),
            categories_read=[str(c) for c in attributes.get("categories_read") or ()],
            account_email=account.email if account is not None else "",
            linked_devices=len(self.linked_devices(user_id)) if user_id else 0,
        )

    def forget_reader(self, domain_userids: Iterable[str] = (), user_id: str | None = None) -> dict[str, int]:
        """Delete a reader: their events, profiles, consent, identity links, account and sessions.

        With a `user_id`, every device linked to it goes too. Article popularity keeps
        their reads as anonymous counts. Afterwards the database holds no copy of their ids
        and memory no state keyed by them. Returns what was deleted, by kind.
        """
        deleted, devices = self._eraser.forget_reader(set(domain_userids), user_id)
        self.forgotten(frozenset(devices), frozenset({user_id} if user_id else ()))
        return deleted

    def forgotten(self, domain_userids: frozenset[str], user_ids: frozenset[str]) -> None:
        """Tell the `on_forget` listeners that these readers were deleted (here, or by the engine service)."""
        for callback in tuple(self._forget_listeners):
            try:
                callback(domain_userids, user_ids)
            except Exception:  # one listener's failure must not undo or hide the deletion
                logger.exception("a listener for forgotten readers failed")

    def on_forget(self, callback: ForgetListener) -> Callable[[], None]:
        """Call `callback(domain_userids, user_ids)` after each deletion; returns the unsubscribe function.

        For what these services do not hold themselves (the UI's per-tab state). The callback
        runs in the deleting thread: it must only hand the ids over, never block.
        """
        self._forget_listeners.append(callback)
        return lambda: self._forget_listeners.remove(callback) if callback in self._forget_listeners else None


class EngineEraser:
    """Deletion where the engine is this process: its memory, event log and accounts."""

    def __init__(
        self,
        memory: Memory,
        ingest: Ingest,
        log: EventLog,
        accounts: Accounts,
        subscriptions: SubscriptionStore,
        forget_batch: Callable[[set[str]], int],
    ) -> None:
        self._memory, self._ingest, self._log, self._accounts = memory, ingest, log, accounts
        self._subscriptions = subscriptions
        self._forget_batch = forget_batch  # batch rows, features and the log's Parquet export

    def withdraw(self, domain_userid: str, replaying: bool) -> None:
        """Consent withdrawn: the reader's behavioural profile goes at once, their consent record stays.

        Their stored events go too (all but the consent events), so no backfill or restart
        can rebuild the profile; the device is unlinked from any account. Called by `Ingest`
        while it applies the withdrawal, under the lock; when `replaying`, only memory changes.
        """
        sessions: set[str] = set()
        if not replaying:
            sessions = self._log.reader_sessions([domain_userid])
            self._log.delete_events(domain_userid, keep_event_names=(CONSENT_EVENT,))
        self._memory.links.forget(domain_userids=[domain_userid])
        # The withdrawal being applied is logged right after: what it built goes as well.
        self._ingest.forget({domain_userid} | sessions, {domain_userid}, through_seq=self._ingest.last_seq + 1)
        if not replaying:
            self._forget_batch({domain_userid} | sessions)

    def forget_reader(self, domain_userids: set[str], user_id: str | None) -> tuple[dict[str, int], set[str]]:
        """Everything goes under the engine's lock; then the checkpoint is rewritten without them and the
        database scrubbed (secure delete, WAL truncated)."""
        memory = self._memory
        with memory.lock:
            devices = set(domain_userids)
            users = {user_id} if user_id else set()
            if user_id:
                devices.update(memory.links.devices(user_id))
            sessions = self._log.reader_sessions(devices)
            deleted = self._log.forget(devices, users)
            entities = devices | sessions | users
            profiles = self._ingest.forget(entities, devices, through_seq=self._ingest.last_seq)
            memory.consent.forget(devices)
            memory.links.forget(user_ids=users, domain_userids=devices)
            accounts = int(self._accounts.delete(user_id) > 0) if user_id else 0
            mail = self._subscriptions.forget(user_id) if user_id else 0  # no digest can go to them again
            batch = self._forget_batch(entities)
        self._ingest.checkpoint()  # rewrite the checkpoint's extra state without them
        self._log.scrub()
        summary = {
            **deleted,
            "profiles": profiles,
            "batch_rows": batch,
            "devices": len(devices),
            "accounts": accounts,
            "email": mail,
        }
        return summary, devices
