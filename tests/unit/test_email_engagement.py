"""The `email_engagement` group over the events the digests' addresses produce, enriched as the collector does."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl, urlsplit

from media_demo.definitions import EMAIL_GROUP, email_engagement_group
from media_demo.settings import Settings
from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.http.collector import redirect_payload, with_event_id
from media_demo.signals.ingest.enrich import enrich
from media_demo.signals.ingest.iglu import SchemaRegistry
from media_demo.tracking import InProcessEmitter, NewsroomTracker
from media_demo.tracking.email_links import click_url, open_pixel_url

API, SITE, APP = "https://api.example", "https://site.example", "daily-current"
REGISTRY = SchemaRegistry.from_folder(Settings().schemas_dir)


def opened(user: str, digest: str) -> CanonicalEvent:
    params = dict(parse_qsl(urlsplit(open_pixel_url(API, APP, user, digest)).query))
    return enrich(with_event_id(params), REGISTRY)


def clicked(user: str, digest: str, position: int, slug: str, section: str) -> CanonicalEvent:
    url = click_url(API, f"{SITE}/article/{slug}", APP, user, digest, position, slug, section)
    params = dict(parse_qsl(urlsplit(url).query))
    return enrich(redirect_payload(params, params["u"]), REGISTRY)


def sent(user: str, digest: str) -> CanonicalEvent:
    payloads: list[dict[str, str]] = []
    NewsroomTracker(InProcessEmitter(payloads.append), APP).email_sent(user, digest, "daily", ["world", "sport"], 6)
    return enrich(payloads[0], REGISTRY)


def test_digests_sent_opened_and_clicked_become_the_accounts_attributes() -> None:
    engine = AttributeEngine([email_engagement_group()])
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        sent("ada", first),
        opened("ada", first),
        opened("ada", first),  # the mail client loads the pixel again: still one digest opened
        clicked("ada", first, 1, "harbour-wall", "local"),
        sent("ada", second),
        opened("ada", second),
        clicked("ada", second, 3, "rates-rise", "business"),
        clicked("ada", second, 1, "ferry-returns", "local"),
        sent("bob", second),
    ]
    for event in events:
        engine.ingest(event)
    assert engine.get_attributes(EMAIL_GROUP, "ada") == {
        "digests_received": 2,
        "digests_opened": 2,
        "email_clicks": 3,
        "last_email_click": "ferry-returns",
        "favourite_email_section": "local",
    }
    assert engine.get_attributes(EMAIL_GROUP, "bob")["digests_received"] == 1
    assert engine.get_attributes(EMAIL_GROUP, "bob")["digests_opened"] == 0


def test_only_redirects_with_an_email_link_count_as_clicks() -> None:
    engine = AttributeEngine([email_engagement_group()])
    params = {"u": f"{SITE}/", "uid": "ada", "aid": "daily-current-email", "p": "web"}
    plain = enrich(redirect_payload(params, params["u"]), REGISTRY)  # a redirect from somewhere else
    engine.ingest(plain)
    values = engine.get_attributes(EMAIL_GROUP, "ada")
    assert (values["email_clicks"], values["last_email_click"], values["favourite_email_section"]) == (0, None, None)


def test_email_events_are_the_accounts_not_a_devices() -> None:
    event = sent("ada", str(uuid.uuid4()))
    assert event.atomic["user_id"] == "ada" and event.atomic["app_id"] == "daily-current-email"
    assert event.atomic["platform"] == "srv" and "domain_userid" not in event.atomic
    assert event.event_data is not None and event.event_data["sections"] == ["world", "sport"]
