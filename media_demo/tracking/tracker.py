"""Server-side tracking of what readers do, through the official snowplow-tracker."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from snowplow_tracker import PageView, SelfDescribing, SelfDescribingJson, Subject, Tracker
from snowplow_tracker.typing import EmitterProtocol

from media_demo.articles import Article
from media_demo.definitions import ARTICLE_SCHEMA, INTERACTION_SCHEMA
from media_demo.signals.engine.consent import CONSENT_SCHEMA, NECESSARY, OPTIONAL_SCOPES
from media_demo.tracking.identity import ReaderSession


@dataclass(frozen=True, slots=True)
class Reader:
    """Who did something: the first-party ids that travel on every event."""

    domain_userid: str
    session: ReaderSession
    user_agent: str | None = None
    ip_address: str | None = None
    user_id: str | None = None  # set while the reader is signed in: links this device to their account

    def subject(self) -> Subject:
        """The tracker `Subject` that puts these ids on an event (the tracker's own would be the server's)."""
        subject = (
            Subject()
            .set_platform("web")
            .set_domain_user_id(self.domain_userid)
            .set_domain_session_id(self.session.session_id)
            .set_domain_session_index(self.session.index)
        )
        if self.user_id:
            subject.set_user_id(self.user_id)
        if self.user_agent:
            subject.set_useragent(self.user_agent)
        if self.ip_address:
            subject.set_ip_address(self.ip_address)
        return subject


@dataclass(frozen=True, slots=True)
class Page:
    """Where it happened."""

    url: str
    title: str
    referrer: str | None = None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/" if parts.scheme and parts.netloc else url


CONSENT_VERSION = "1.0"  # of the privacy page; a new version asks readers again


class NewsroomTracker:
    """Tracks page views and article views for readers of The Daily Current."""

    def __init__(self, emitter: EmitterProtocol, app_id: str, namespace: str = "daily-current-server") -> None:
        self._tracker = Tracker(namespace=namespace, emitters=emitter, app_id=app_id)

    def page_view(self, reader: Reader, page: Page) -> str | None:
        """Track a page view; returns the event id."""
        event = PageView(page_url=page.url, page_title=page.title, referrer=page.referrer)
        event.event_subject = reader.subject()
        return self._tracker.track(event)

    def article_view(self, reader: Reader, page: Page, article: Article) -> str | None:
        """Track the `article_detail` self-describing event; returns the event id."""
        data = {
            "slug": article.slug,
            "title": article.title,
            "category": article.category,
            "author": article.author,
            "reading_minutes": article.reading_minutes,
        }
        event = SelfDescribing(event_json=SelfDescribingJson(ARTICLE_SCHEMA, data))
        event.event_subject = reader.subject()
        # Page fields ride on self-describing events too, as in the browser tracker.
        event.payload.add("url", page.url)
        event.payload.add("page", page.title)
        return self._tracker.track(event)

    def intervention_interaction(
        self, reader: Reader, page: Page, intervention: str, action: str, intervention_id: str | None = None
    ) -> str | None:
        """Track that the reader saw, clicked or dismissed an intervention (they become attributes)."""
        data = {"intervention": intervention, "action": action, "intervention_id": intervention_id}
        event = SelfDescribing(event_json=SelfDescribingJson(INTERACTION_SCHEMA, data))
        event.event_subject = reader.subject()
        event.payload.add("url", page.url)
        event.payload.add("page", page.title)
        return self._tracker.track(event)

    def consent(self, reader: Reader, page: Page, scopes: set[str] | frozenset[str], policy_url: str) -> str | None:
        """Track the reader's consent choice as Snowplow's enhanced-consent `consent_preferences` event.

        Everything optional chosen is `allow_all`, nothing optional `deny_all`, anything
        between `allow_selected`; withdrawing is choosing less than before (`withdrawn`
        is tracked by `withdraw`).
        """
        chosen = {s for s in scopes if s in OPTIONAL_SCOPES}
        kind = "allow_all" if chosen == set(OPTIONAL_SCOPES) else "allow_selected" if chosen else "deny_all"
        return self._consent_event(reader, page, kind, [NECESSARY, *sorted(chosen)], policy_url)

    def withdraw(self, reader: Reader, page: Page, policy_url: str) -> str | None:
        """Track that the reader withdrew every optional consent."""
        return self._consent_event(reader, page, "withdrawn", [NECESSARY], policy_url)

    def _consent_event(self, reader: Reader, page: Page, kind: str, scopes: list[str], policy_url: str) -> str | None:
        data = {
            "eventType": kind,
            "basisForProcessing": "consent",
            "consentUrl": policy_url,
            "consentVersion": CONSENT_VERSION,
            "consentScopes": scopes,
            "domainsApplied": [_origin(policy_url)],
            "gdprApplies": None,
        }
        event = SelfDescribing(event_json=SelfDescribingJson(CONSENT_SCHEMA, data))
        event.event_subject = reader.subject()
        event.payload.add("url", page.url)
        event.payload.add("page", page.title)
        return self._tracker.track(event)

    def flush(self) -> None:
        """Send whatever the emitter still holds (the in-process one holds nothing)."""
        self._tracker.flush()
