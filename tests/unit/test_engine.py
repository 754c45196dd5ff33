"""The attribute engine: SDK groups compiled and evaluated incrementally per entity."""

from __future__ import annotations

import pytest
from snowplow_signals import (
    AtomicProperty,
    Attribute,
    Criteria,
    Criterion,
    Event,
    PageView,
    StreamAttributeGroup,
    domain_sessionid,
    domain_userid,
)

from media_demo.definitions import READER_GROUP, reader_profile_group
from media_demo.signals.engine.attribute_engine import AttributeEngine
from tests.factories import article_view, page_view

CATEGORIES = ["business", "sport", "technology"]


@pytest.fixture
def engine() -> AttributeEngine:
    return AttributeEngine([reader_profile_group(CATEGORIES)])


def test_unseen_reader_gets_defaults(engine: AttributeEngine) -> None:
    attrs = engine.get_attributes(READER_GROUP, "nobody")
    assert attrs["page_view_count"] == 0
    assert attrs["articles_read"] == []
    assert attrs["article_last_read"] is None
    assert attrs["most_read_category"] is None
    assert attrs["technology_read_count"] == 0


def test_one_counter_per_corpus_category(engine: AttributeEngine) -> None:
    names = set(engine.get_attributes(READER_GROUP, "x"))
    assert {f"{c}_read_count" for c in CATEGORIES} <= names
    assert "culture_read_count" not in names


def test_reading_updates_the_reader_profile(engine: AttributeEngine) -> None:
    events = [
        page_view("u1", 1),
        article_view("chip-plant", "business", "u1", 2),
        page_view("u1", 3),
        article_view("battery-farm", "technology", "u1", 4),
        article_view("sodium-cells", "technology", "u1", 5),
        article_view("chip-plant", "business", "u1", 6),
        article_view("derby-draw", "sport", "u1", 7),
    ]
    for event in events:
        engine.ingest(event)
    attrs = engine.get_attributes(READER_GROUP, "u1")
    assert attrs["page_view_count"] == 2
    assert attrs["article_read_count"] == 5
    assert attrs["articles_read"] == ["battery-farm", "sodium-cells", "chip-plant", "derby-draw"]
    assert attrs["article_last_read"] == "derby-draw"
    assert attrs["categories_read"] == ["technology", "business", "sport"]
    assert attrs["most_read_category"] == "business"  # 2 each; business was seen first
    assert (attrs["business_read_count"], attrs["technology_read_count"], attrs["sport_read_count"]) == (2, 2, 1)


def test_readers_are_kept_apart(engine: AttributeEngine) -> None:
    engine.ingest(article_view("a", "sport", "u1", 1))
    engine.ingest(article_view("b", "business", "u2", 1))
    assert engine.get_attributes(READER_GROUP, "u1")["articles_read"] == ["a"]
    assert engine.get_attributes(READER_GROUP, "u2")["articles_read"] == ["b"]
    assert engine.entities(READER_GROUP) == 2


def test_ingest_reports_only_what_changed(engine: AttributeEngine) -> None:
    assert engine.ingest(page_view("u1")) == [("reader_profile_v1", "u1")]
    assert engine.ingest(page_view(None)) == []  # type: ignore[arg-type]
    unrelated = page_view("u1", event_vendor="com.acme", event_name="search")
    assert engine.ingest(unrelated) == []


def test_events_without_the_attribute_key_are_ignored(engine: AttributeEngine) -> None:
    event = page_view("u1")
    del event.atomic["domain_userid"]
    engine.ingest(event)
    assert engine.entities(READER_GROUP) == 0


def _group(*attributes: Attribute, key=domain_userid, name: str = "g", version: int = 1) -> StreamAttributeGroup:
    return StreamAttributeGroup(
        name=name, version=version, attribute_key=key, owner="test@example.com", attributes=list(attributes)
    )


def test_empty_event_list_means_every_event() -> None:
    engine = AttributeEngine([_group(Attribute(name="events", type="int32", events=[], aggregation="counter"))])
    engine.ingest(page_view("u1"))
    engine.ingest(article_view("a", "sport", "u1"))
    assert engine.get_attributes("g", "u1") == {"events": 2}


def test_event_version_is_respected() -> None:
    v2 = Event(vendor="com.snowplowanalytics.snowplow", name="page_view", version="2-0-0")
    engine = AttributeEngine([_group(Attribute(name="v2_views", type="int32", events=[v2], aggregation="counter"))])
    engine.ingest(page_view("u1"))
    assert engine.get_attributes("g", "u1") == {"v2_views": 0}


def test_criteria_filter_events_per_attribute() -> None:
    title = AtomicProperty(name="page_title")
    engine = AttributeEngine(
        [
            _group(
                Attribute(
                    name="pricing_views",
                    type="int32",
                    events=[PageView()],
                    aggregation="counter",
                    criteria=Criteria(all=[Criterion.like(title, "%Pricing%")]),
                ),
                Attribute(
                    name="titles", type="string_list", events=[PageView()], aggregation="unique_list", property=title
                ),
            )
        ]
    )
    for t in ["Home", "Pricing plans", "Pricing FAQ", None]:
        engine.ingest(page_view("u1", page_title=t) if t else page_view("u1"))
    assert engine.get_attributes("g", "u1") == {"pricing_views": 2, "titles": ["Home", "Pricing plans", "Pricing FAQ"]}


def test_groups_keyed_by_session() -> None:
    engine = AttributeEngine(
        [
            _group(
                Attribute(name="views", type="int32", events=[PageView()], aggregation="counter"), key=domain_sessionid
            )
        ]
    )
    engine.ingest(page_view("u1", domain_sessionid="s1"))
    engine.ingest(page_view("u1", domain_sessionid="s1"))
    engine.ingest(page_view("u1", domain_sessionid="s2"))
    assert engine.get_attributes("g", "s1") == {"views": 2}
    assert engine.get_attributes("g", "s2") == {"views": 1}


def test_default_value_and_selected_attributes() -> None:
    engine = AttributeEngine(
        [
            _group(
                Attribute(name="views", type="int32", events=[PageView()], aggregation="counter"),
                Attribute(
                    name="last_title",
                    type="string",
                    events=[PageView()],
                    aggregation="last",
                    property=AtomicProperty(name="page_title"),
                    default_value="(none)",
                ),
            )
        ]
    )
    assert engine.get_attributes("g", "u1") == {"views": 0, "last_title": "(none)"}
    assert engine.get_attributes("g", "u1", attributes=["views"]) == {"views": 0}


def test_versions_are_separate_and_latest_is_the_default() -> None:
    views = Attribute(name="views", type="int32", events=[PageView()], aggregation="counter")
    engine = AttributeEngine([_group(views, version=1), _group(views, version=2)])
    engine.ingest(page_view("u1"))
    assert engine.get_attributes("g", "u1", version=1) == {"views": 1}
    assert engine.get_attributes("g", "u1") == {"views": 1}
    assert {g.version for g in engine.groups} == {1, 2}


def test_unknown_group_is_a_key_error(engine: AttributeEngine) -> None:
    with pytest.raises(KeyError, match="unknown attribute group 'nope'"):
        engine.get_attributes("nope", "u1")


def test_value_aggregation_without_property_is_rejected() -> None:
    with pytest.raises(ValueError, match="needs a property"):
        AttributeEngine([_group(Attribute(name="x", type="string", events=[PageView()], aggregation="last"))])


def test_time_since_uses_the_engine_clock() -> None:
    now = [1000.0]
    attribute = Attribute(
        name="since", type="double", events=[PageView()], aggregation="time_since_last", time_unit="s"
    )
    engine = AttributeEngine([_group(attribute)], clock=lambda: now[0])
    engine.ingest(page_view("u1", timestamp=400.0))
    assert engine.get_attributes("g", "u1") == {"since": 600.0}
    now[0] = 1600.0
    assert engine.get_attributes("g", "u1") == {"since": 1200.0}
