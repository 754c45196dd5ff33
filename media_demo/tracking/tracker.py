"""Server-side tracking of what readers do, through the official snowplow-tracker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from snowplow_tracker import PageView, SelfDescribing, SelfDescribingJson, Subject, Tracker
from snowplow_tracker.typing import EmitterProtocol

from media_demo.articles import Article
from media_demo.definitions import (
    ANSWER_SCHEMA,
    ARTICLE_SCHEMA,
    CLICK_SCHEMA,
    EMAIL_SENT_SCHEMA,
    EXPOSURE_SCHEMA,
    IMPRESSION_SCHEMA,
    INTERACTION_SCHEMA,
    QUESTION_SCHEMA,
    SEARCH_SCHEMA,
)
from media_demo.signals.engine.consent import (
    CONSENT_SCHEMA,
    EMAIL_MARKETING,
    NECESSARY,
    OPTIONAL_SCOPES,
    email_app_id,
)
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


@dataclass(frozen=True, slots=True)
class PanelLog:
    """What every impression and click of one recommendations panel says about where it came from."""

    panel_id: str  # a UUID per panel shown: ties its clicks to its impression
    strategy: str
    experiment: str | None = None
    variant: str | None = None

    def as_data(self) -> dict[str, Any]:
        """The fields the impression and click schemas share."""
        return {
            "panel_id": self.panel_id,
            "strategy": self.strategy,
            "experiment": self.experiment,
            "variant": self.variant,
        }


CONSENT_VERSION = "1.0"  # of the privacy page; a new version asks readers again


class NewsroomTracker:
    """Tracks page views and article views for readers of The Daily Current."""

    def __init__(self, emitter: EmitterProtocol, app_id: str, namespace: str = "daily-current-server") -> None:
        self._tracker = Tracker(namespace=namespace, emitters=emitter, app_id=app_id)
        # The e-mail channel is an app of its own in the logs (and in the consent ledger's policies).
        self._email = Tracker(namespace=f"{namespace}-email", emitters=emitter, app_id=email_app_id(app_id))

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
        return self._self_describing(reader, page, ARTICLE_SCHEMA, data)

    def _self_describing(self, reader: Reader, page: Page, schema: str, data: dict[str, Any]) -> str | None:
        """Track one self-describing event of ours on `page` (page fields ride along, as in the browser tracker)."""
        event = SelfDescribing(event_json=SelfDescribingJson(schema, data))
        event.event_subject = reader.subject()
        event.payload.add("url", page.url)
        event.payload.add("page", page.title)
        return self._tracker.track(event)

    def experiment_exposure(
        self,
        reader: Reader,
        page: Page,
        experiment: str,
        variant: str,
        unit: str,
        *,
        returning: bool,
        reads_before: int,
    ) -> str | None:
        """Track that a reader in an experiment saw the slot it decides.

        `unit` says which id was hashed (`user_id` or `domain_userid`), `returning` whether this
        is a later visit within 7 days of their first exposure, `reads_before` the articles they
        had read by now (CUPED's covariate, kept from the first exposure).
        """
        data = {
            "experiment": experiment,
            "variant": variant,
            "slot": "recommendations",
            "unit": unit,
            "returning": returning,
            "reads_before": reads_before,
        }
        return self._self_describing(reader, page, EXPOSURE_SCHEMA, data)

    def recommendation_impression(
        self,
        reader: Reader,
        page: Page,
        panel: PanelLog,
        items: Sequence[tuple[str, int, float]],
    ) -> str | None:
        """Track a panel of recommendations the reader saw: each (slug, position, propensity)."""
        data = {
            **panel.as_data(),
            "items": [{"slug": slug, "position": position, "propensity": p} for slug, position, p in items],
        }
        return self._self_describing(reader, page, IMPRESSION_SCHEMA, data)

    def recommendation_click(
        self, reader: Reader, page: Page, panel: PanelLog, slug: str, position: int, propensity: float
    ) -> str | None:
        """Track a click on one recommendation of a panel the reader was shown."""
        data = {**panel.as_data(), "slug": slug, "position": position, "propensity": propensity}
        return self._self_describing(reader, page, CLICK_SCHEMA, data)

    def site_search(self, reader: Reader, page: Page, query: str, total_results: int, shown: int) -> str | None:
        """Track Snowplow's `site_search` event: the query (as one term, lowercased), results found and shown.

        Like the page view whose URL carries the query, it is logged for every reader; only a reader
        with behavioural consent gets it in their profile ("searched for"), as with every event.
        """
        data = {"terms": [query.lower()[:200]], "totalResults": total_results, "pageResults": shown}
        return self._self_describing(reader, page, SEARCH_SCHEMA, data)

    def assistant_question(
        self,
        reader: Reader,
        page: Page,
        question_id: str,
        intent: str,
        length: int,
        uses_history: bool,
        words: tuple[str, str] | None = None,
    ) -> str | None:
        """Track a question to the assistant; `words` (the question and its topic) only with behavioural consent."""
        question, topic = words or (None, None)
        data = {
            "question_id": question_id,
            "intent": intent,
            "length": length,
            "page_path": urlsplit(page.url).path or "/",
            "uses_history": uses_history,
            "topic": topic or None,
            "question": question,
        }
        return self._self_describing(reader, page, QUESTION_SCHEMA, data)

    def assistant_answer(
        self,
        reader: Reader,
        page: Page,
        question_id: str,
        intent: str,
        generator: str,
        timings: tuple[int, int | None],
        cited: Sequence[str],
        fell_back: bool,
    ) -> str | None:
        """Track the assistant's answer: who wrote it, `timings` (total and first-text ms), the stories it cited."""
        latency_ms, first_text_ms = timings
        data = {
            "question_id": question_id,
            "intent": intent,
            "generator": generator,
            "latency_ms": latency_ms,
            "first_text_ms": first_text_ms,
            "cited": list(cited)[:20],
            "fell_back": fell_back,
        }
        return self._self_describing(reader, page, ANSWER_SCHEMA, data)

    def intervention_interaction(
        self, reader: Reader, page: Page, intervention: str, action: str, intervention_id: str | None = None
    ) -> str | None:
        """Track that the reader saw, clicked or dismissed an intervention (they become attributes)."""
        data = {"intervention": intervention, "action": action, "intervention_id": intervention_id}
        return self._self_describing(reader, page, INTERACTION_SCHEMA, data)

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

    def email_consent(self, user_id: str, granted: bool, policy_url: str, reader: Reader | None = None) -> str | None:
        """Track e-mail marketing consent, a purpose of its own (`EMAIL_MARKETING`), for the account:
        `allow_selected` when the reader confirms a subscription, `withdrawn` when mail stops. From the
        reader's device when there is one (a click on the account page), else for the account alone (a
        link in a mail, opened anywhere). It decides nothing about profiling on any device."""
        kind = "allow_selected" if granted else "withdrawn"
        if reader is not None:
            return self._consent_event(reader, Page(policy_url, "E-mail digest"), kind, [EMAIL_MARKETING], policy_url)
        event = SelfDescribing(
            event_json=SelfDescribingJson(CONSENT_SCHEMA, _consent_data(kind, [EMAIL_MARKETING], policy_url))
        )
        event.event_subject = Subject().set_platform("srv").set_user_id(user_id)
        return self._tracker.track(event)

    def _consent_event(self, reader: Reader, page: Page, kind: str, scopes: list[str], policy_url: str) -> str | None:
        event = SelfDescribing(event_json=SelfDescribingJson(CONSENT_SCHEMA, _consent_data(kind, scopes, policy_url)))
        event.event_subject = reader.subject()
        event.payload.add("url", page.url)
        event.payload.add("page", page.title)
        return self._tracker.track(event)

    def email_sent(self, user_id: str, digest_id: str, frequency: str, sections: list[str], stories: int) -> str | None:
        """Track that a digest was handed to the mail server (`email_sent`, under the e-mail app id).

        Server-side, for the subscriber's account: `user_id` and no device, as the mail's
        open pixel and links report back (`media_demo.tracking.email_links`). `sections`
        in the order the digest showed them, `stories` how many it held.
        """
        data = {"digest_id": digest_id, "frequency": frequency, "sections": list(sections), "stories": stories}
        event = SelfDescribing(event_json=SelfDescribingJson(EMAIL_SENT_SCHEMA, data))
        event.event_subject = Subject().set_platform("srv").set_user_id(user_id)
        return self._email.track(event)

    def flush(self) -> None:
        """Send whatever the emitter still holds (the in-process one holds nothing)."""
        self._tracker.flush()


def _consent_data(kind: str, scopes: list[str], policy_url: str) -> dict[str, Any]:
    """The `consent_preferences` event's data (Snowplow's enhanced consent)."""
    return {
        "eventType": kind,
        "basisForProcessing": "consent",
        "consentUrl": policy_url,
        "consentVersion": CONSENT_VERSION,
        "consentScopes": scopes,
        "domainsApplied": [_origin(policy_url)],
        "gdprApplies": None,
    }
