"""Event logs: matching, projection, the window, the bounds, forgetting, the JSON and narrative answers."""

from __future__ import annotations

from typing import Any

import pytest
from snowplow_signals import (
    AgenticContextResponse,
    EventLog,
    EventLogAtomicProperty,
    EventLogEntityProperty,
    EventLogEvent,
    EventLogEventProperty,
    EventSelection,
    LinkAttributeKey,
    domain_sessionid,
)

from media_demo.definitions import ARTICLE_SCHEMA
from media_demo.signals.engine.event_logs import (
    InvalidEventLogError,
    SessionBuffers,
    compile_event_log,
    iso_millis,
    make_window,
    narrative,
    response_document,
)
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.storage.registry import InvalidDefinitionError, parse_definition
from tests.factories import SNOWPLOW, article_view, page_view

NOW = 1_700_000_000.0
ARTICLE_VENDOR, ARTICLE_NAME = ARTICLE_SCHEMA.split(":", 1)[1].split("/")[:2]


def journey(max_events: int = 3, max_age_seconds: int = 600, prompt: str | None = "Be brief.") -> EventLog:
    return EventLog(
        name="journey",
        attribute_key=domain_sessionid,
        max_events=max_events,
        max_age_seconds=max_age_seconds,
        prompt=prompt,
        events=[
            EventSelection(
                event=EventLogEvent(vendor=SNOWPLOW, name="page_view", version="1-0-0"),
                properties=[EventLogAtomicProperty(name="page_title"), EventLogAtomicProperty(name="page_urlpath")],
            ),
            EventSelection(
                event=EventLogEvent(vendor=ARTICLE_VENDOR, name=ARTICLE_NAME, major_version=1),
                properties=[
                    EventLogEventProperty(vendor=ARTICLE_VENDOR, name=ARTICLE_NAME, major_version=1, path="$.slug"),
                    EventLogEventProperty(
                        vendor=ARTICLE_VENDOR,
                        name=ARTICLE_NAME,
                        major_version=1,
                        path="category",
                        output_name="section",
                    ),
                    EventLogEntityProperty(
                        vendor="com.example", name="paywall", major_version=1, path="$.offer.name", index=1
                    ),
                ],
            ),
        ],
    )


def view(session: str, at: float, title: str, reader: str = "r1", **atomic: Any) -> CanonicalEvent:
    return page_view(reader, at, domain_sessionid=session, page_title=title, page_urlpath="/" + title.lower(), **atomic)


def buffers(*logs: EventLog, **bounds: Any) -> SessionBuffers:
    return SessionBuffers([compile_event_log(log) for log in logs], clock=lambda: NOW, **bounds)


def test_entries_project_atomic_event_and_entity_properties_of_matching_events_only() -> None:
    log = compile_event_log(journey())
    read = article_view("fog-bell", "culture", timestamp=NOW)
    read.entities = [
        {"schema": "iglu:com.example/paywall/jsonschema/1-0-0", "data": {"offer": {"name": "first"}}},
        {"schema": "iglu:com.example/paywall/jsonschema/1-0-2", "data": {"offer": {"name": "second"}}},
    ]
    assert log.entry(read) == {
        "event_name": ARTICLE_NAME,
        "tstamp": iso_millis(NOW),
        "slug": "fog-bell",
        "section": "culture",
        "name": "second",  # the entity at index 1, its path's last step as the key
    }
    assert log.entry(view("s1", NOW + 0.25, "Home")) == {
        "event_name": "page_view",
        "tstamp": "2023-11-14T22:13:20.250Z",
        "page_title": "Home",
        "page_urlpath": "/home",
    }
    assert log.entry(page_view("r1", NOW, event_version="2-0-0")) is None  # the selection pins 1-0-0
    assert log.entry(page_view("r1", NOW, event_name="link_click")) is None


def test_a_major_version_pin_matches_any_minor_and_patch_of_that_major_only() -> None:
    log = compile_event_log(journey())
    other = article_view("x", "news", timestamp=NOW)
    other.atomic["event_version"] = "1-3-9"
    assert log.entry(other) is not None
    other.atomic["event_version"] = "2-0-0"
    assert log.entry(other) is None
    other.atomic["event_version"] = "11-0-0"  # "1-" is the prefix, not "1"
    assert log.entry(other) is None


def test_the_window_is_the_newest_max_events_within_max_age_oldest_first() -> None:
    store = buffers(journey(max_events=3, max_age_seconds=600))
    for at, title in [(NOW - 900, "Too-old"), (NOW - 300, "A"), (NOW - 200, "B"), (NOW - 100, "C"), (NOW - 50, "D")]:
        store.observe(view("s1", at, title))
    store.observe(view("s2", NOW - 10, "Other-session"))
    window = store.window("journey", "s1")
    assert window is not None
    assert [e["page_title"] for e in window.entries] == ["B", "C", "D"]
    assert window.started_at_ms == int((NOW - 200) * 1000)
    # Age is judged at read time: later, fewer remain.
    store.clock = lambda: NOW + 520
    later = store.window("journey", "s1")
    assert later is not None and [e["page_title"] for e in later.entries] == ["D"]
    # A session with nothing buffered: empty, the window's start as started_at_ms; an unknown log: None.
    empty = store.window("journey", "nobody")
    assert empty is not None and empty.entries == [] and empty.started_at_ms == int((NOW + 520 - 600) * 1000)
    assert store.window("nope", "s1") is None


def test_events_arriving_out_of_order_are_read_in_time_order() -> None:
    log = compile_event_log(journey(max_events=5))
    buffered = [(NOW - 5, {"event_name": "page_view", "n": 2}), (NOW - 9, {"event_name": "page_view", "n": 1})]
    window = make_window(log, "s1", buffered, NOW)
    assert [e["n"] for e in window.entries] == [1, 2]


def test_events_without_a_session_and_unmatched_events_are_never_buffered() -> None:
    store = buffers(journey())
    anonymous = page_view("r1", NOW)  # no domain_sessionid: what an anonymised event looks like
    store.observe(anonymous)
    store.observe(page_view("r1", NOW, domain_sessionid="s1", event_name="link_click"))
    assert len(store) == 0 and store.entry_count == 0


def test_buffers_stay_bounded_by_sessions_entries_and_age() -> None:
    store = buffers(journey(max_events=2), max_sessions=3, max_entries=5)
    for i in range(10):
        store.observe(view("s1", NOW - i, f"T{i}"))
    assert store.entry_count == 2  # max_events per session and log
    for s in range(2, 6):
        store.observe(view(f"s{s}", NOW, "X"))
    assert len(store) == 3 and store.entry_count == 3  # the least recently fed sessions went
    assert store.window("journey", "s1").entries == []  # type: ignore[union-attr]
    store.observe(view("s5", NOW, "Y"))
    store.observe(view("s4", NOW, "Y"))
    store.observe(view("s3", NOW, "Y"))
    assert store.entry_count <= 5
    # Sessions quiet for longer than any window can reach are dropped as new events come.
    store.clock = lambda: NOW + 4000
    store.observe(view("fresh", NOW + 4000, "Z"))
    assert len(store) == 1 and store.entry_count == 1
    # An event older than any window is not buffered at all.
    store.observe(view("stale", NOW, "old"))
    assert len(store) == 1


def test_forgetting_by_session_device_or_user_empties_their_sessions() -> None:
    store = buffers(journey())
    store.observe(view("s1", NOW, "A", reader="r1"))
    store.observe(view("s2", NOW, "B", reader="r1"))
    store.observe(view("s3", NOW, "C", reader="r2", user_id="u2"))
    store.observe(view("s4", NOW, "D", reader="r3"))
    assert store.forget({"r1"}) == 2
    assert store.forget({"u2"}) == 1
    assert store.forget({"s4"}) == 1
    assert len(store) == 0 and store.entry_count == 0


def test_a_replacement_built_meanwhile_drops_readers_forgotten_before_it_is_adopted() -> None:
    live = buffers(journey())
    live.observe(view("s1", NOW, "Old"))
    fresh = live.fresh([compile_event_log(journey())])
    fresh.observe(view("s1", NOW, "A", reader="gone"))
    fresh.observe(view("s2", NOW, "B", reader="kept"))
    live.forget({"gone"})
    live.adopt(fresh)
    assert live.window("journey", "s1").entries == []  # type: ignore[union-attr]
    assert [e["page_title"] for e in live.window("journey", "s2").entries] == ["B"]  # type: ignore[union-attr]


def test_the_json_answer_validates_as_the_sdk_response_and_the_narrative_is_deterministic() -> None:
    store = buffers(journey(max_events=5))
    store.observe(view("s1", NOW - 125, "Home"))
    store.observe(in_session(article_view("fog-bell", "culture", timestamp=NOW - 5), "s1"))
    window = store.window("journey", "s1")
    assert window is not None
    document = response_document(window)
    response = AgenticContextResponse.model_validate(document)
    assert (response.name, response.version, response.identifier, response.attribute_key) == (
        "journey",
        1,
        "s1",
        "domain_sessionid",
    )
    assert response.prompt == "Be brief."
    assert ARTICLE_NAME < "page_view"  # (equal counts: by name)
    assert response.summary == f"2 events over 2 min: 1 {ARTICLE_NAME}, 1 page_view."
    assert [e["event_name"] for e in response.events] == ["page_view", ARTICLE_NAME]
    text = narrative(window)
    assert text == (
        "Recent activity in session s1 (event log journey v1)\n"
        "Instructions: Be brief.\n"
        f"Summary: 2 events over 2 min: 1 {ARTICLE_NAME}, 1 page_view.\n"
        '1. 2023-11-14 22:11:15.000 UTC page_view: page_title="Home", page_urlpath="/home"\n'
        f'2. 2023-11-14 22:13:15.000 UTC {ARTICLE_NAME}: slug="fog-bell", section="culture"\n'
    )
    assert narrative(window) == text
    empty = store.window("journey", "nobody")
    assert empty is not None
    assert response_document(empty)["summary"] == "No matching events in the last 10 min."
    assert narrative(empty).endswith("Summary: No matching events in the last 10 min.\n")


def in_session(event: CanonicalEvent, session: str) -> CanonicalEvent:
    event.atomic["domain_sessionid"] = session
    return event


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"attribute_key": LinkAttributeKey(name="domain_userid")}, "attribute_key.name"),
        (
            {
                "events": [
                    EventSelection(
                        event=EventLogEvent(event_specification_id="spec-1"),
                        properties=[EventLogAtomicProperty(name="page_title")],
                    )
                ]
            },
            "events.0.event.event_specification_id",
        ),
        (
            {
                "events": [
                    EventSelection(
                        event=EventLogEvent(name="page_view"),
                        properties=[
                            EventLogAtomicProperty(name="page_title"),
                            EventLogAtomicProperty(name="page_urlpath", output_name="page_title"),
                        ],
                    )
                ]
            },
            "events.0.properties.1.output_name",
        ),
        (
            {
                "events": [
                    EventSelection(
                        event=EventLogEvent(name="page_view"),
                        properties=[EventLogAtomicProperty(name="page_title", output_name="tstamp")],
                    )
                ]
            },
            "events.0.properties.0.output_name",
        ),
    ],
)
def test_what_the_engine_cannot_serve_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    log = journey().model_copy(update=change)
    with pytest.raises(InvalidEventLogError) as caught:
        compile_event_log(log)
    assert caught.value.field == field
    with pytest.raises(InvalidDefinitionError) as refused:
        parse_definition("event_log", log.model_dump(mode="json", exclude_none=True))
    assert field in str(refused.value)


def test_the_sdk_model_limits_are_refused_by_the_registry() -> None:
    body = journey().model_dump(mode="json", exclude_none=True)
    too_many = {**body, "events": [body["events"][0]] * 21}
    with pytest.raises(InvalidDefinitionError) as caught:
        parse_definition("event_log", too_many)
    assert caught.value.errors[0]["loc"] == ["events"]
    wide = {**body, "events": [{**body["events"][0], "properties": [{"type": "atomic", "name": "page_title"}] * 51}]}
    with pytest.raises(InvalidDefinitionError) as caught:
        parse_definition("event_log", wide)
    assert caught.value.errors[0]["loc"][:3] == ["events", 0, "properties"]
    assert parse_definition("event_log", body).model_dump(mode="json", exclude_none=True) == body
