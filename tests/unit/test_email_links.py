"""The e-mail digests' open pixel and tracked links: each address parsed back, and enriched as the collector would."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from media_demo.definitions import EMAIL_LINK_SCHEMA, EMAIL_OPEN_SCHEMA, REDIRECT_SCHEMA
from media_demo.settings import Settings
from media_demo.signals.engine.consent import email_app_id
from media_demo.signals.http.collector import redirect_payload, with_event_id
from media_demo.signals.ingest.enrich import InvalidPayloadError, enrich
from media_demo.signals.ingest.iglu import SchemaRegistry
from media_demo.tracking.email_links import click_url, open_pixel_url

API = "https://api.dailycurrent.example"
SITE = "https://dailycurrent.example"
DIGEST = "5b0c1f8e-2a44-4c3e-9d1b-7f6a5e4d3c21"
USER = "ada@example.org"


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.from_folder(Settings().schemas_dir)


def query(url: str) -> dict[str, str]:
    """The query of `url` as one value per name (failing if a name comes twice)."""
    values = parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in values.values()), values
    return {name: v[0] for name, v in values.items()}


def unbase64(text: str) -> Any:
    assert "=" not in text and "+" not in text and "/" not in text  # unpadded base64url: safe in a URL as is
    return orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def test_the_open_pixel_is_a_pixel_tracker_request_of_email_open(registry: SchemaRegistry) -> None:
    url = open_pixel_url(API + "/", "daily-current", USER, DIGEST)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "api.dailycurrent.example", "/i")
    params = query(url)
    assert {k: v for k, v in params.items() if k != "ue_px"} == {
        "tv": "no-js-0.1.0",
        "p": "web",
        "aid": "daily-current-email",
        "uid": USER,
        "e": "ue",
    }
    outer = unbase64(params["ue_px"])
    assert outer["schema"] == "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
    assert outer["data"] == {"schema": EMAIL_OPEN_SCHEMA, "data": {"digest_id": DIGEST}}

    # What the collector makes of it: the event id it adds, then a good `email_open` for the account.
    event = enrich(with_event_id(params), registry)
    assert (event.event_schema, event.event_data) == (EMAIL_OPEN_SCHEMA, {"digest_id": DIGEST})
    assert event.atomic["user_id"] == USER and event.atomic["app_id"] == email_app_id("daily-current")
    assert "domain_userid" not in event.atomic and uuid.UUID(event.atomic["event_id"]).version == 4


def test_a_story_link_redirects_through_the_collector_with_its_email_link(registry: SchemaRegistry) -> None:
    target = f"{SITE}/article/harbour-wall?utm_source=digest&utm_medium=email"
    url = click_url(API, target, "daily-current", USER, DIGEST, 2, "harbour-wall", "local-news")
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("api.dailycurrent.example", "/r/tp2")
    params = query(url)
    assert params["u"] == target  # its own query survives, encoded
    assert "e" not in params and "eid" not in params  # a fixed address: the collector picks the event and its id
    assert {k: params[k] for k in ("tv", "p", "aid", "uid")} == {
        "tv": "no-js-0.1.0",
        "p": "web",
        "aid": "daily-current-email",
        "uid": USER,
    }
    contexts = unbase64(params["cx"])
    assert contexts["schema"].startswith("iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-")
    link = {"digest_id": DIGEST, "position": 2, "slug": "harbour-wall", "section": "local-news"}
    assert contexts["data"] == [{"schema": EMAIL_LINK_SCHEMA, "data": link}]

    event = enrich(redirect_payload(params, params["u"]), registry)
    assert (event.event_schema, event.event_data) == (REDIRECT_SCHEMA, {"uri": target})
    assert event.entities == [{"schema": EMAIL_LINK_SCHEMA, "data": link}]
    assert event.atomic["v_tracker"] == "r-tp2"  # as Snowplow marks what came by the redirect
    assert event.atomic["user_id"] == USER and event.atomic["app_id"] == "daily-current-email"


def test_every_open_and_click_of_the_same_address_is_its_own_event(registry: SchemaRegistry) -> None:
    params = query(click_url(API, SITE + "/", "dc", USER, DIGEST, 1, "a", "world"))
    ids = {enrich(redirect_payload(params, params["u"]), registry).event_id for _ in range(3)}
    assert len(ids) == 3
    pixel = query(open_pixel_url(API, "dc", USER, DIGEST))
    assert len({enrich(with_event_id(pixel), registry).event_id for _ in range(3)}) == 3
    given = str(uuid.uuid4())
    assert with_event_id({**pixel, "eid": given})["eid"] == given  # an id the request has is kept


def test_a_redirect_that_names_its_own_event_records_it_with_the_redirect_as_an_entity(
    registry: SchemaRegistry,
) -> None:
    target = SITE + "/article/a"
    redirect = {"schema": REDIRECT_SCHEMA, "data": {"uri": target}}
    params = {"u": target, "e": "pv", "url": SITE + "/", "uid": USER, "eid": str(uuid.uuid4())}
    event = enrich(redirect_payload(params, params["u"]), registry)
    assert event.atomic["event_name"] == "page_view" and event.event_schema is None
    assert event.event_id == params["eid"]  # its own id is kept
    assert event.entities == [redirect]
    assert (event.atomic["v_tracker"], event.atomic["platform"]) == ("r-tp2", "web")

    # Its own entities stay, after the redirect's, whether sent plain (`co`) or base64 (`cx`).
    link = {"digest_id": DIGEST, "position": 1, "slug": "a", "section": "world"}
    contexts = {
        "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
        "data": [{"schema": EMAIL_LINK_SCHEMA, "data": link}],
    }
    encoded = base64.urlsafe_b64encode(orjson.dumps(contexts)).decode().rstrip("=")
    for extra in ({"co": orjson.dumps(contexts).decode()}, {"cx": encoded}):
        event = enrich(redirect_payload({**params, **extra, "p": "mob"}, target), registry)
        assert event.entities == [redirect, {"schema": EMAIL_LINK_SCHEMA, "data": link}]
        assert event.atomic["platform"] == "mob"
    # Entities that cannot be read are left for enrichment to refuse, with its reason.
    with pytest.raises(InvalidPayloadError, match="field 'cx' is not valid base64"):
        enrich(redirect_payload({**params, "cx": "%%%"}, target), registry)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"api_base": "api.dailycurrent.example"}, "api_base: must be an absolute http or https address"),
        ({"target": "/article/x"}, "target: must be an absolute http or https address"),
        ({"target": "javascript:alert(1)"}, "target: must be an absolute http or https address"),
        ({"target": "https://[site.example]/"}, "target: must be an absolute http or https address"),
        ({"app_id": ""}, "app_id: must be a non-empty string"),
        ({"user_id": " "}, "user_id: must be a non-empty string"),
        ({"digest_id": "digest-1"}, "digest_id: must be a UUID"),
        ({"position": 0}, "position: must be a whole number from 1"),
        ({"position": True}, "position: must be a whole number from 1"),
        ({"slug": ""}, "slug: must be a non-empty string"),
        ({"section": ""}, "section: must be a non-empty string"),
    ],
)
def test_a_link_builder_names_its_bad_argument(change: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "api_base": API,
        "target": SITE + "/",
        "app_id": "dc",
        "user_id": USER,
        "digest_id": DIGEST,
        "position": 1,
        "slug": "a",
        "section": "world",
    }
    with pytest.raises(ValueError, match=message):
        click_url(**{**arguments, **change})


def test_the_open_pixel_names_its_bad_argument() -> None:
    with pytest.raises(ValueError, match="digest_id: must be a UUID"):
        open_pixel_url(API, "dc", USER, "not-a-uuid")
    with pytest.raises(ValueError, match="api_base: must be an absolute http or https address"):
        open_pixel_url("ftp://api.example", "dc", USER, DIGEST)
