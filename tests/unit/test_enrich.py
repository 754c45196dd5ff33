"""Enrichment of real tracker payloads into canonical events, and of bad ones into bad events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from snowplow_tracker import PageView, SelfDescribing, SelfDescribingJson, Subject, Tracker
from snowplow_tracker.events import Event

from media_demo.articles import Article
from media_demo.definitions import ARTICLE_SCHEMA
from media_demo.signals.engine.events import BadEvent, CanonicalEvent
from media_demo.signals.ingest.enrich import InvalidPayloadError, enrich, enrich_or_bad
from media_demo.signals.ingest.iglu import SchemaRegistry
from media_demo.tracking import InProcessEmitter, NewsroomTracker, Page, Reader, ReaderSession

ROOT = Path(__file__).resolve().parents[2]
SNOWPLOW = "com.snowplowanalytics.snowplow"
DUID = "6d1c2f0e-8a43-4b5e-9f2d-1c0b7a6e5d41"
SID = "0b9e1f7a-3c2d-4e5f-8a9b-7c6d5e4f3a21"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"
PAGE_URL = "https://dailycurrent.example/article/comet-tail?ref=home#comments"
COLLECTOR_TIME = 1_800_000_000.0
ARTICLE_DATA = {
    "slug": "comet-tail",
    "title": "Comet tail lengthens near the sun",
    "category": "science",
    "author": "Ada Vale",
    "reading_minutes": 3,
}

Payload = dict[str, str]


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.from_folder(ROOT / "data" / "schemas")


def subject() -> Subject:
    return (
        Subject()
        .set_platform("web")
        .set_domain_user_id(DUID)
        .set_domain_session_id(SID)
        .set_domain_session_index(3)
        .set_useragent(USER_AGENT)
    )


def track(event: Event, *, encode_base64: bool = True) -> tuple[Payload, str]:
    """Track `event` with the real tracker into an in-process emitter: (payload, event id)."""
    sink: list[Payload] = []
    tracker = Tracker(
        namespace="test", emitters=InProcessEmitter(sink.append), app_id="daily-current", encode_base64=encode_base64
    )
    event_id = tracker.track(event)
    assert len(sink) == 1
    assert event_id is not None
    return sink[0], event_id


def page_view_payload(**kwargs: Any) -> Payload:
    event = PageView(page_url=PAGE_URL, page_title="Comet tail", event_subject=subject(), **kwargs)
    return track(event)[0]


def article_payload(
    data: dict[str, Any] | None = None, *, schema: str = ARTICLE_SCHEMA, encode_base64: bool
) -> Payload:
    event = SelfDescribing(SelfDescribingJson(schema, ARTICLE_DATA if data is None else data), event_subject=subject())
    return track(event, encode_base64=encode_base64)[0]


# -------------------------------------------------------------------- page views


def test_page_view_atomic_fields(registry: SchemaRegistry) -> None:
    payload, event_id = track(PageView(page_url=PAGE_URL, page_title="Comet tail", event_subject=subject()))
    event = enrich(payload, registry, collector_time=COLLECTOR_TIME)
    a = event.atomic
    assert event.event_id == event_id
    assert (a["event"], a["event_vendor"], a["event_name"], a["event_version"]) == (
        "page_view",
        SNOWPLOW,
        "page_view",
        "1-0-0",
    )
    assert event.key == (SNOWPLOW, "page_view")
    assert a["domain_userid"] == DUID
    assert a["domain_sessionid"] == SID
    assert a["domain_sessionidx"] == 3
    assert a["useragent"] == USER_AGENT
    assert a["app_id"] == "daily-current"
    assert a["platform"] == "web"
    assert a["name_tracker"] == "test"
    assert a["v_tracker"].startswith("py-")
    assert a["page_title"] == "Comet tail"
    assert a["page_url"] == PAGE_URL
    assert a["page_urlscheme"] == "https"
    assert a["page_urlhost"] == "dailycurrent.example"
    assert a["page_urlport"] == 443
    assert a["page_urlpath"] == "/article/comet-tail"
    assert a["page_urlquery"] == "ref=home"
    assert a["page_urlfragment"] == "comments"
    assert event.event_schema is None
    assert event.event_data is None
    assert event.entities == []


def test_page_view_referrer_parts(registry: SchemaRegistry) -> None:
    payload = page_view_payload(referrer="http://search.example:8080/results?q=comet")
    a = enrich(payload, registry, collector_time=COLLECTOR_TIME).atomic
    assert a["page_referrer"] == "http://search.example:8080/results?q=comet"
    assert (a["refr_urlhost"], a["refr_urlport"], a["refr_urlpath"], a["refr_urlquery"]) == (
        "search.example",
        8080,
        "/results",
        "q=comet",
    )


def test_enrich_or_bad_returns_the_canonical_event_for_a_good_payload(registry: SchemaRegistry) -> None:
    payload = page_view_payload()
    result = enrich_or_bad(payload, registry, collector_time=COLLECTOR_TIME)
    assert isinstance(result, CanonicalEvent)
    assert result.atomic == enrich(payload, registry, collector_time=COLLECTOR_TIME).atomic


def test_canonical_event_json_round_trip(registry: SchemaRegistry) -> None:
    event = enrich(article_payload(encode_base64=True), registry, collector_time=COLLECTOR_TIME)
    assert CanonicalEvent.from_json(event.to_json()) == event


# ------------------------------------------------------------ self-describing events


@pytest.mark.parametrize(("encode_base64", "field", "other"), [(True, "ue_px", "ue_pr"), (False, "ue_pr", "ue_px")])
def test_article_detail_event(registry: SchemaRegistry, encode_base64: bool, field: str, other: str) -> None:
    payload = article_payload(encode_base64=encode_base64)
    assert field in payload
    assert other not in payload
    event = enrich(payload, registry, collector_time=COLLECTOR_TIME)
    a = event.atomic
    assert (a["event"], a["event_vendor"], a["event_name"], a["event_version"]) == (
        "unstruct",
        "com.dailycurrent",
        "article_detail",
        "1-0-0",
    )
    assert event.key == ("com.dailycurrent", "article_detail")
    assert event.event_schema == ARTICLE_SCHEMA
    assert event.event_data == ARTICLE_DATA
    assert a["domain_userid"] == DUID


def test_unpadded_base64_is_accepted(registry: SchemaRegistry) -> None:
    # The JavaScript tracker sends base64url without '=' padding.
    for extra in range(3):  # one of three consecutive lengths needs padding
        data = {**ARTICLE_DATA, "title": ARTICLE_DATA["title"] + "!" * extra}
        payload = article_payload(data, encode_base64=True)
        if payload["ue_px"].endswith("="):
            break
    assert payload["ue_px"].endswith("=")
    payload["ue_px"] = payload["ue_px"].rstrip("=")
    assert enrich(payload, registry, collector_time=COLLECTOR_TIME).event_data == data


def test_newsroom_tracker_article_view_carries_page_fields(registry: SchemaRegistry) -> None:
    sink: list[Payload] = []
    tracker = NewsroomTracker(InProcessEmitter(sink.append), app_id="daily-current")
    article = Article(
        slug="comet-tail",
        title="Comet tail lengthens near the sun",
        excerpt="Astronomers follow a comet.",
        category="science",
        author="Ada Vale",
        published=dt.date(2026, 9, 15),
        reading_minutes=3,
        tags=("space",),
        body="Body text.",
    )
    reader = Reader(DUID, ReaderSession(SID, 2, COLLECTOR_TIME), user_agent=USER_AGENT)
    event_id = tracker.article_view(reader, Page(url=PAGE_URL, title="Comet tail"), article)
    [payload] = sink
    event = enrich(payload, registry, collector_time=COLLECTOR_TIME)
    assert event.event_id == event_id
    assert event.event_data == ARTICLE_DATA
    assert event.atomic["page_urlpath"] == "/article/comet-tail"
    assert event.atomic["page_title"] == "Comet tail"
    assert event.atomic["domain_sessionidx"] == 2


@pytest.mark.parametrize(("encode_base64", "field", "other"), [(True, "cx", "co"), (False, "co", "cx")])
def test_contexts_become_entities(registry: SchemaRegistry, encode_base64: bool, field: str, other: str) -> None:
    entity = {"slug": "comet-tail", "title": "Comet tail", "category": "science"}
    event = PageView(page_url=PAGE_URL, event_subject=subject(), context=[SelfDescribingJson(ARTICLE_SCHEMA, entity)])
    payload, _ = track(event, encode_base64=encode_base64)
    assert field in payload
    assert other not in payload
    enriched = enrich(payload, registry, collector_time=COLLECTOR_TIME)
    assert enriched.entities == [{"schema": ARTICLE_SCHEMA, "data": entity}]
    assert enriched.atomic["event_name"] == "page_view"


def test_invalid_context_entity_is_a_bad_event(registry: SchemaRegistry) -> None:
    event = PageView(
        page_url=PAGE_URL, event_subject=subject(), context=[SelfDescribingJson(ARTICLE_SCHEMA, {"title": "x"})]
    )
    payload, _ = track(event)
    with pytest.raises(InvalidPayloadError, match=r"article_detail.*slug"):
        enrich(payload, registry, collector_time=COLLECTOR_TIME)


# -------------------------------------------------------------------- timestamps


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_derived_timestamp_uses_true_timestamp_when_given(registry: SchemaRegistry) -> None:
    true_ms = 1_700_000_000_123
    payload = page_view_payload(true_timestamp=true_ms)
    assert payload["ttm"] == str(true_ms)
    event = enrich(payload, registry, collector_time=COLLECTOR_TIME)
    assert event.timestamp == pytest.approx(1_700_000_000.123, abs=1e-6)
    assert event.atomic["true_tstamp"] == "2023-11-14T22:13:20.123Z"
    assert event.atomic["derived_tstamp"] == "2023-11-14T22:13:20.123Z"
    assert event.atomic["collector_tstamp"] == iso(COLLECTOR_TIME)


def test_derived_timestamp_is_device_created_time_without_sent_time(registry: SchemaRegistry) -> None:
    payload = page_view_payload()
    assert "ttm" not in payload
    assert "stm" not in payload
    event = enrich(payload, registry, collector_time=COLLECTOR_TIME)
    created = int(payload["dtm"]) / 1000
    assert event.timestamp == created
    assert event.atomic["dvce_created_tstamp"] == iso(created)
    assert event.atomic["derived_tstamp"] == iso(created)
    assert "true_tstamp" not in event.atomic


def test_derived_timestamp_corrects_device_clock_with_sent_time(registry: SchemaRegistry) -> None:
    # Created 5 s before it was sent, by a device whose clock is years behind the collector.
    payload = {**page_view_payload(), "dtm": "1000000000000", "stm": "1000000005000"}
    event = enrich(payload, registry, collector_time=COLLECTOR_TIME)
    assert event.timestamp == COLLECTOR_TIME - 5
    assert event.atomic["derived_tstamp"] == iso(COLLECTOR_TIME - 5)
    assert event.atomic["dvce_sent_tstamp"] == iso(1_000_000_005)


def test_derived_timestamp_is_collector_time_without_any_device_time(registry: SchemaRegistry) -> None:
    payload = {k: v for k, v in page_view_payload().items() if k != "dtm"}
    event = enrich(payload, registry, collector_time=COLLECTOR_TIME)
    assert event.timestamp == COLLECTOR_TIME
    assert event.atomic["derived_tstamp"] == iso(COLLECTOR_TIME)


# -------------------------------------------------------------------- bad payloads

Mutation = Callable[[], Payload]


def without(payload: Payload, *names: str) -> Payload:
    missing = [n for n in names if n not in payload]
    assert not missing, f"the tracker payload has no {missing}"
    return {k: v for k, v in payload.items() if k not in names}


def plain_article() -> Payload:
    return article_payload(encode_base64=False)


BAD_PAYLOADS: dict[str, tuple[Mutation, str]] = {
    "missing e": (lambda: without(page_view_payload(), "e"), "field 'e' (event type) is missing"),
    "bad eid": (
        lambda: {**page_view_payload(), "eid": "not-a-uuid"},
        "field 'eid' (event_id) must be a UUID, got 'not-a-uuid'",
    ),
    "missing eid": (lambda: without(page_view_payload(), "eid"), "field 'eid' (event_id) is missing"),
    "no user id": (
        lambda: without(page_view_payload(), "duid"),
        "no user identifier: one of 'duid', 'uid' or 'nuid' is required",
    ),
    "bad base64": (
        lambda: {**without(article_payload(encode_base64=True), "ue_px"), "ue_px": "a"},
        "field 'ue_px' is not valid base64",
    ),
    "non-ascii base64": (
        lambda: {**without(article_payload(encode_base64=True), "ue_px"), "ue_px": "é"},
        "field 'ue_px' is not valid base64",
    ),
    "bad JSON": (lambda: {**plain_article(), "ue_pr": '{"schema": '}, "field 'ue_pr' is not valid JSON"),
    "bad context JSON": (lambda: {**page_view_payload(), "co": "[oops"}, "field 'co' is not valid JSON"),
    "no event JSON": (
        lambda: without(plain_article(), "ue_pr"),
        "self-describing event without 'ue_pr' or 'ue_px'",
    ),
    "not self-describing": (
        lambda: {**plain_article(), "ue_pr": '{"slug": "comet-tail"}'},
        "field 'ue_pr/ue_px' must be a self-describing JSON with 'schema' and 'data'",
    ),
    "unknown schema": (
        lambda: article_payload(schema="iglu:com.acme/unknown_thing/jsonschema/1-0-0", encode_base64=False),
        "unknown schema iglu:com.acme/unknown_thing/jsonschema/1-0-0",
    ),
    "malformed schema URI": (
        lambda: article_payload(schema="com.acme/unknown_thing/1-0-0", encode_base64=False),
        "not an Iglu schema URI: 'com.acme/unknown_thing/1-0-0'",
    ),
    "schema-invalid data": (
        lambda: article_payload({k: v for k, v in ARTICLE_DATA.items() if k != "slug"}, encode_base64=False),
        f"{ARTICLE_SCHEMA}: data must contain ['slug'] properties",
    ),
    "schema-invalid type": (
        lambda: article_payload({**ARTICLE_DATA, "reading_minutes": "three"}, encode_base64=True),
        f"{ARTICLE_SCHEMA}: data.reading_minutes must be integer",
    ),
    "unknown event type": (lambda: {**page_view_payload(), "e": "zz"}, "unknown event type e='zz'"),
    "over-long field": (
        lambda: {**page_view_payload(), "url": "https://dailycurrent.example/" + "a" * 10_000},
        "field 'url' (page_url) is longer than 10000 characters",
    ),
    "bad session index": (
        lambda: {**page_view_payload(), "vid": "third"},
        "field 'vid' (domain_sessionidx) must be an integer",
    ),
    "bad timestamp": (
        lambda: {**page_view_payload(), "dtm": "yesterday"},
        "field 'dtm' (dvce_created_tstamp) must be epoch milliseconds, got 'yesterday'",
    ),
}


@pytest.fixture(params=list(BAD_PAYLOADS), ids=list(BAD_PAYLOADS))
def bad(request: pytest.FixtureRequest) -> tuple[Payload, str]:
    make, reason = BAD_PAYLOADS[request.param]
    return make(), reason


def test_bad_payload_raises_with_a_clear_reason(registry: SchemaRegistry, bad: tuple[Payload, str]) -> None:
    payload, reason = bad
    with pytest.raises(InvalidPayloadError) as excinfo:
        enrich(payload, registry, collector_time=COLLECTOR_TIME)
    assert reason in str(excinfo.value)


def test_bad_payload_becomes_a_bad_event_that_keeps_the_payload(
    registry: SchemaRegistry, bad: tuple[Payload, str]
) -> None:
    payload, reason = bad
    result = enrich_or_bad(payload, registry, collector_time=COLLECTOR_TIME)
    assert isinstance(result, BadEvent)
    assert reason in result.reason
    assert orjson.loads(result.payload) == payload
    assert result.received_at == COLLECTOR_TIME


@pytest.mark.parametrize("identifier", ["uid", "nuid", "tnuid"])
def test_any_one_user_identifier_is_enough(registry: SchemaRegistry, identifier: str) -> None:
    payload = {**without(page_view_payload(), "duid"), identifier: "reader-42"}
    event = enrich(payload, registry, collector_time=COLLECTOR_TIME)
    target = "user_id" if identifier == "uid" else "network_userid"
    assert event.atomic[target] == "reader-42"
    assert "domain_userid" not in event.atomic


def test_field_of_exactly_the_maximum_length_is_accepted(registry: SchemaRegistry) -> None:
    payload = {**page_view_payload(), "page": "t" * 2000}
    assert enrich(payload, registry, collector_time=COLLECTOR_TIME).atomic["page_title"] == "t" * 2000


def test_bad_event_keeps_non_string_values(registry: SchemaRegistry) -> None:
    payload: dict[str, Any] = {"e": "pv", "eid": 12, "duid": DUID}
    result = enrich_or_bad(payload, registry, collector_time=COLLECTOR_TIME)
    assert isinstance(result, BadEvent)
    assert result.reason == "field 'eid' (event_id) must be a UUID, got 12"
    assert orjson.loads(result.payload) == payload
