"""Consent: what each reader allows, and the rule that keeps unconsented events out of profiles.

Choices arrive as Snowplow enhanced-consent events (`consent_preferences`),
so the ledger is a function of the event log like every attribute: a restart
replays the same choices. Per app id, a policy says whether events need the
reader's behavioural consent before they may build a profile; the app's
own app always does, its e-mail app (`email_app_id`) does not (see
`ConsentLedger`), other apps (teams using the engine as a local Signals)
are profiled as Signals would unless settings say otherwise.

An event that may not be profiled is still kept, anonymised the way
Snowplow's anonymous tracking does it: every identifier is removed, so it can
count towards non-personal aggregates (article popularity) and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from media_demo.signals.engine.events import CanonicalEvent

CONSENT_VENDOR = "com.snowplowanalytics.snowplow"
CONSENT_EVENT = "consent_preferences"
CONSENT_SCHEMA = f"iglu:{CONSENT_VENDOR}/{CONSENT_EVENT}/jsonschema/1-0-0"

NECESSARY = "necessary"  # cookies that keep the site and these choices working; always on
CONTEXTUAL = "contextual"  # the current request (device, referrer, campaign, local time) may pick stories
BEHAVIOURAL = "behavioural"  # what the reader reads may build a profile, recommendations and offers
OPTIONAL_SCOPES = (CONTEXTUAL, BEHAVIOURAL)
# A scope this ledger does not govern: the reader's double opt-in to the e-mail digests. Recorded as a
# `consent_preferences` event of its own, which decides nothing here (see `scopes_of`).
EMAIL_MARKETING = "email_marketing"
EMAIL_APP_SUFFIX = "-email"

Policy = Literal["require_consent", "profile"]
REQUIRE_CONSENT: Policy = "require_consent"
PROFILE: Policy = "profile"

# Atomic fields that identify a person or a device (what anonymous tracking leaves out).
IDENTIFIERS = (
    "domain_userid",
    "domain_sessionid",
    "domain_sessionidx",
    "user_id",
    "network_userid",
    "user_ipaddress",
    "user_fingerprint",
    "mac_address",
    "useragent",
    "refr_domain_userid",
)
# Entities that carry the same identifiers (the JavaScript tracker's session entity).
IDENTIFYING_ENTITIES = ("iglu:com.snowplowanalytics.snowplow/client_session/",)


@dataclass(frozen=True, slots=True)
class Consent:
    """One reader's current choice: the scopes they allow, how they said it, and when."""

    scopes: frozenset[str]
    event_type: str
    at: float

    def allows(self, scope: str) -> bool:
        """Whether the reader allows `scope` (e.g. `BEHAVIOURAL` before the app profiles them)."""
        return scope in self.scopes

    def as_json(self) -> dict[str, Any]:
        """The choice as JSON, scopes sorted so equal choices print alike."""
        return {"scopes": sorted(self.scopes), "event_type": self.event_type, "at": self.at}


def email_app_id(app_id: str) -> str:
    """The app id of an app's e-mails (`daily-current-email`): mail traffic is an app of its own in the logs."""
    return f"{app_id}{EMAIL_APP_SUFFIX}"


def scopes_of(event_type: str, scopes: Iterable[str]) -> frozenset[str] | None:
    """The scopes an enhanced-consent event leaves the reader with; None when it decides nothing.

    `allow_all` grants every optional scope; `deny_all`, `withdrawn` and `expired`
    keep only the necessary one; `allow_selected` and `implicit_consent` grant the
    listed scopes this site knows; `pending` (a banner shown, not answered) changes nothing.

    Nor does an event about other scopes only (`EMAIL_MARKETING` given or withdrawn,
    with or without `necessary`, which is always on and so says nothing by itself):
    it answers another question, and must not reset the device's profiling scopes.
    """
    scopes = tuple(scopes)
    named = set(scopes) - {NECESSARY}
    if named and named.isdisjoint(OPTIONAL_SCOPES):
        return None
    if event_type == "allow_all":
        return frozenset((NECESSARY, *OPTIONAL_SCOPES))
    if event_type in ("deny_all", "withdrawn", "expired"):
        return frozenset((NECESSARY,))
    if event_type in ("allow_selected", "implicit_consent"):
        return frozenset({NECESSARY, *(s for s in scopes if s in OPTIONAL_SCOPES)})
    return None


def is_consent_event(event: CanonicalEvent) -> bool:
    """Whether `event` records a consent choice (enhanced consent's `consent_preferences`)."""
    return event.key == (CONSENT_VENDOR, CONSENT_EVENT)


def anonymised(event: CanonicalEvent) -> CanonicalEvent:
    """A copy of `event` with every identifier removed (the page, time and content stay)."""
    atomic = {name: value for name, value in event.atomic.items() if name not in IDENTIFIERS}
    entities = [e for e in event.entities if not str(e.get("schema", "")).startswith(IDENTIFYING_ENTITIES)]
    return CanonicalEvent(
        atomic=atomic,
        timestamp=event.timestamp,
        event_schema=event.event_schema,
        event_data=event.event_data,
        entities=entities,
    )


class ConsentLedger:
    """Each reader's latest consent (by `domain_userid`) and the per-app-id policy.

    The own app (`own_app_id`) always requires behavioural consent. Its e-mail app
    (`email_app_id(own_app_id)`) is profiled unless `policies` say otherwise: those
    events (digests sent, opened, clicked) exist only for readers who confirmed
    the digest by double opt-in with e-mail marketing consent, and they carry the
    account's `user_id` but no device, so no device's choice could admit them.
    """

    def __init__(self, policies: Mapping[str, Policy] | None = None, own_app_id: str | None = None) -> None:
        self._policies: dict[str, Policy] = dict(policies or {})
        if own_app_id is not None:
            self._policies[own_app_id] = REQUIRE_CONSENT  # the app's own readers: never without consent
            self._policies.setdefault(email_app_id(own_app_id), PROFILE)  # opted in to the mails
        self._choices: dict[str, Consent] = {}
        self._changed: set[str] = set()  # readers whose choice changed since `take_changed`

    def policy(self, app_id: str | None) -> Policy:
        """What events of `app_id` need: Signals profiles everything, so that is the default."""
        return self._policies.get(app_id or "", PROFILE)

    def get(self, domain_userid: str | None) -> Consent | None:
        """The reader's current consent; None when they have not decided yet."""
        return self._choices.get(domain_userid) if domain_userid else None

    def observe(self, event: CanonicalEvent) -> tuple[Consent | None, Consent] | None:
        """Record a consent event; returns (before, after) when it changed the reader's choice."""
        reader = event.atomic.get("domain_userid")
        data = event.event_data or {}
        if not reader or not is_consent_event(event):
            return None
        scopes = scopes_of(str(data.get("eventType", "")), data.get("consentScopes") or ())
        if scopes is None:
            return None
        before = self._choices.get(reader)
        if before is not None and event.timestamp < before.at:
            return None  # a late, older choice never overrides a newer one
        after = Consent(scopes, str(data["eventType"]), event.timestamp)
        self._choices[reader] = after
        self._changed.add(reader)
        return before, after

    def may_profile(self, event: CanonicalEvent) -> bool:
        """Whether `event` may reach attributes keyed by a person: consent events always may
        (recording a choice is a legal duty), others when their app's policy or the reader's
        behavioural consent allows it."""
        if self.policy(event.atomic.get("app_id")) == PROFILE or is_consent_event(event):
            return True
        consent = self.get(event.atomic.get("domain_userid"))
        return consent is not None and consent.allows(BEHAVIOURAL)

    def forget(self, domain_userids: Iterable[str]) -> None:
        """Drop these readers' choices (a deleted reader); the next checkpoint deletes their rows."""
        for reader in domain_userids:
            self._choices.pop(reader, None)
            self._changed.add(reader)

    def take_changed(self) -> set[str]:
        """The readers whose choice changed (or went) since the last call: what a checkpoint must rewrite."""
        changed, self._changed = self._changed, set()
        return changed

    def restore(self, domain_userid: str, doc: list[Any]) -> None:
        """Put back one reader's choice from `dump_one`."""
        scopes, kind, at = doc
        self._choices[domain_userid] = Consent(frozenset(scopes), kind, at)

    def dump_one(self, domain_userid: str) -> list[Any] | None:
        """One reader's choice, JSON-ready; None when they have none."""
        choice = self._choices.get(domain_userid)
        return None if choice is None else [sorted(choice.scopes), choice.event_type, choice.at]

    def dump(self) -> list[list[Any]]:
        """Every reader's choice as JSON rows, for `load`."""
        return [[reader, sorted(c.scopes), c.event_type, c.at] for reader, c in self._choices.items()]

    def load(self, doc: list[list[Any]]) -> None:
        """Replace every choice with `dump`'s rows (an old whole-document checkpoint); all count as changed."""
        self._choices = {reader: Consent(frozenset(scopes), kind, at) for reader, scopes, kind, at in doc}
        self._changed = set(self._choices)  # all of it still to be written entry by entry
