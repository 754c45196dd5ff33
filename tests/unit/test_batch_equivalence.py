"""Property test: the streaming engine and the polars batch engine agree on random event streams.

The same events go through `AttributeEngine` one at a time and, exported as the
batch engine reads them (`frame_of`: canonical JSON, fields pulled out by polars),
through `compute_group`; every attribute of every reader must be equal.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snowplow_signals import (
    AtomicProperty,
    Attribute,
    Criteria,
    Criterion,
    Event,
    EventProperty,
    PagePing,
    PageView,
    StreamAttributeGroup,
    StructuredEvent,
    domain_userid,
)

from media_demo.signals.batch.compute import compute_group
from media_demo.signals.batch.events import frame_of
from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.plans import compile_group
from media_demo.signals.ingest.enrich import enrich
from media_demo.signals.ingest.iglu import SchemaRegistry
from tests.factories import page_view, self_describing

SCHEMA = "iglu:com.acme/play/jsonschema/1-0-0"
PLAY = Event(vendor="com.acme", name="play", version="1-0-0")
GENRE = EventProperty(vendor="com.acme", name="play", major_version=1, path="genre")
SECONDS = EventProperty(vendor="com.acme", name="play", major_version=1, path="seconds")
TITLE = AtomicProperty(name="page_title")


def attr(name: str, aggregation: str, type_: str = "string", **kwargs) -> Attribute:
    return Attribute(name=name, type=type_, aggregation=aggregation, **kwargs)


ATTRIBUTES = [
    attr("events", "counter", "int32", events=[]),
    attr("views", "counter", "int32", events=[PageView()]),
    attr("plays_rock", "counter", "int32", events=[PLAY], criteria=Criteria(all=[Criterion.eq(GENRE, "rock")])),
    attr("long_plays", "counter", "int32", events=[PLAY], criteria=Criteria(all=[Criterion.gte(SECONDS, 60)])),
    attr(
        "odd_titles",
        "counter",
        "int32",
        events=[PageView()],
        criteria=Criteria(any=[Criterion.like(TITLE, "%1"), Criterion.in_list(TITLE, ["t2", "t4"])]),
    ),
    attr("untitled", "counter", "int32", events=[PageView()], criteria=Criteria(all=[Criterion.is_null(TITLE)])),
    attr(
        "not_jazz",
        "counter",
        "int32",
        events=[PLAY],
        criteria=Criteria(all=[Criterion.neq(GENRE, "jazz"), Criterion.is_not_null(GENRE)]),
    ),
    attr("total_seconds", "sum", "double", events=[PLAY], property=SECONDS),
    attr("shortest", "min", "double", events=[PLAY], property=SECONDS),
    attr(
        "longest", "max", "double", events=[PLAY], property=SECONDS, criteria=Criteria(all=[Criterion.lt(SECONDS, 300)])
    ),
    attr("average", "mean", "double", events=[PLAY], property=SECONDS),
    attr("first_genre", "first", events=[PLAY], property=GENRE),
    attr("last_title", "last", events=[PageView()], property=TITLE, default_value="none"),
    attr("genres", "unique_list", "string_list", events=[PLAY], property=GENRE),
    attr("top_genre", "most_frequent", events=[PLAY], property=GENRE),
    attr("rare_genre", "least_frequent", events=[PLAY], property=GENRE),
    attr("genre_counts", "category_count", "dict", events=[PLAY], property=GENRE),
    attr("distinct_titles", "approx_count_distinct", "int32", events=[PageView()], property=TITLE),
    attr("since_first", "time_since_first", "double", events=[], time_unit="min"),
    attr("since_last_play", "time_since_last", "double", events=[PLAY], time_unit="s"),
    attr("views_10m", "counter", "int32", events=[PageView()], period=dt.timedelta(minutes=10)),
    attr("genres_1h", "unique_list", "string_list", events=[PLAY], property=GENRE, period=dt.timedelta(hours=1)),
    attr("top_genre_1h", "most_frequent", events=[PLAY], property=GENRE, period=dt.timedelta(hours=1)),
    attr("seconds_30m", "sum", "int64", events=[PLAY], property=SECONDS, period=dt.timedelta(minutes=30)),
]


def group(ttl: dt.timedelta | None = None) -> StreamAttributeGroup:
    return StreamAttributeGroup(
        name="sink", version=1, attribute_key=domain_userid, owner="t@example.com", attributes=ATTRIBUTES, ttl=ttl
    )


event_spec = st.tuples(
    st.sampled_from(["u1", "u2", "u3"]),
    st.integers(min_value=0, max_value=900),  # seconds after the previous event (0 = a tie)
    st.one_of(
        st.tuples(st.just("view"), st.sampled_from([None, "t1", "t2", "t3", "t4", "t11"])),
        st.tuples(
            st.just("play"),
            st.fixed_dictionaries(
                {},
                optional={
                    "genre": st.sampled_from(["rock", "jazz", "pop", "folk"]),
                    "seconds": st.one_of(st.integers(0, 400), st.floats(0, 400, allow_nan=False), st.just("n/a")),
                },
            ),
        ),
    ),
)


def build(specs: list) -> list:
    events, now = [], 1_700_000_000.0
    for user, step, (kind, payload) in specs:
        now += step
        if kind == "view":
            events.append(page_view(user, now, **({"page_title": payload} if payload else {})))
        else:
            events.append(self_describing(SCHEMA, payload, user=user, timestamp=now))
    return events


def recompute(definition: StreamAttributeGroup, events: list, now: float) -> dict:
    """The batch engine's values over `events`, exported in arrival order."""
    frame = frame_of((seq, event.to_json()) for seq, event in enumerate(events, start=1))
    return compute_group(definition, frame.lazy(), now).rows


def assert_same(streamed: dict, batch: dict) -> None:
    assert streamed.keys() == batch.keys()
    for name, value in streamed.items():
        if isinstance(value, float):
            assert batch[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
        else:
            assert batch[name] == value, name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(event_spec, max_size=60), later=st.integers(0, 7200), with_ttl=st.booleans())
def test_streaming_equals_batch_recompute(specs: list, later: int, with_ttl: bool) -> None:
    definition = group(dt.timedelta(minutes=20) if with_ttl else None)
    events = build(specs)
    now = (events[-1].timestamp if events else 1_700_000_000.0) + later
    engine = AttributeEngine([definition], clock=lambda: now)
    for event in events:
        engine.ingest(event)
    batch = recompute(definition, events, now)
    defaults = engine.get_attributes("sink", "nobody")
    for user in ["u1", "u2", "u3"]:
        assert_same(engine.get_attributes("sink", user), batch.get(user, defaults))


def test_recompute_on_a_hand_made_stream() -> None:
    events = build(
        [
            ("u1", 0, ("view", "t1")),
            ("u1", 10, ("play", {"genre": "rock", "seconds": 100})),
            ("u1", 10, ("play", {"genre": "jazz", "seconds": 20})),
            ("u1", 0, ("play", {"genre": "rock", "seconds": "n/a"})),
        ]
    )
    result = recompute(group(), events, events[-1].timestamp + 60)["u1"]
    assert result["events"] == 4
    assert result["plays_rock"] == 2
    assert result["total_seconds"] == 120.0
    assert result["genres"] == ["jazz", "rock"]
    assert result["genre_counts"] == {"rock": 2, "jazz": 1}
    assert result["top_genre"] == "rock"
    assert result["since_first"] == pytest.approx(80 / 60)
    assert compile_group(group()).id == "sink_v1"


# Typed atomic fields, as enrichment gives them from real tracker text: floats, ints and booleans.
REGISTRY = SchemaRegistry.from_folder(Path(__file__).resolve().parents[2] / "data" / "schemas")
SE_VALUE = AtomicProperty(name="se_value")
COOKIES = AtomicProperty(name="br_cookies")
SCROLL = AtomicProperty(name="pp_yoffset_max")
TYPED = StreamAttributeGroup(
    name="typed",
    version=1,
    attribute_key=domain_userid,
    owner="t@example.com",
    attributes=[
        attr("value_sum", "sum", "double", events=[StructuredEvent()], property=SE_VALUE),
        attr("value_min", "min", "double", events=[StructuredEvent()], property=SE_VALUE),
        attr("value_max", "max", "double", events=[StructuredEvent()], property=SE_VALUE),
        attr("value_mean", "mean", "double", events=[StructuredEvent()], property=SE_VALUE),
        attr("value_last", "last", "double", events=[StructuredEvent()], property=SE_VALUE),
        attr("value_top", "most_frequent", "double", events=[StructuredEvent()], property=SE_VALUE),
        attr("over_2", "counter", "int32", events=[], criteria=Criteria(all=[Criterion.gt(SE_VALUE, 2)])),
        attr("in_set", "counter", "int32", events=[], criteria=Criteria(all=[Criterion.in_list(SE_VALUE, [1, 2.5])])),
        attr("with_cookies", "counter", "int32", events=[], criteria=Criteria(all=[Criterion.eq(COOKIES, True)])),
        attr("no_cookies", "counter", "int32", events=[], criteria=Criteria(all=[Criterion.eq(COOKIES, False)])),
        attr("deep", "counter", "int32", events=[PagePing()], criteria=Criteria(all=[Criterion.gte(SCROLL, 100)])),
        attr("deepest", "max", "int32", events=[PagePing()], property=SCROLL),
        attr("sessions", "max", "int32", events=[], property=AtomicProperty(name="domain_sessionidx")),
        attr("labels", "category_count", "dict", events=[StructuredEvent()], property=AtomicProperty(name="se_label")),
    ],
)
tracker_spec = st.tuples(
    st.sampled_from(["u1", "u2"]),
    st.one_of(
        st.fixed_dictionaries(
            {"e": st.just("se"), "se_ca": st.just("c"), "se_ac": st.just("a")},
            optional={
                "se_va": st.one_of(
                    st.sampled_from(["1", "2", "2.5", "3", "-0.5", "1e1", "null"]),
                    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
                ),
                "se_la": st.sampled_from(["x", "y"]),
            },
        ),
        st.fixed_dictionaries({"e": st.just("pp")}, optional={"pp_may": st.integers(-50, 500).map(str)}),
    ),
    st.dictionaries(st.sampled_from(["cookie", "vid"]), st.sampled_from(["0", "1", "7"]), max_size=2),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(tracker_spec, max_size=40))
def test_streaming_equals_batch_on_typed_atomic_fields(specs: list) -> None:
    events = []
    for i, (user, params, device) in enumerate(specs):
        device = {k: v for k, v in device.items() if not (k == "cookie" and v == "7")}
        ids = {"eid": str(uuid.UUID(int=i + 1)), "duid": user, "dtm": str(1_700_000_000_000 + i)}
        payload = {**ids, **params, **device}
        events.append(enrich(payload, REGISTRY, collector_time=1_700_000_100.0))
    now = 1_700_000_200.0
    engine = AttributeEngine([TYPED], clock=lambda: now)
    for event in events:
        engine.ingest(event)
    batch = recompute(TYPED, events, now)
    defaults = engine.get_attributes("typed", "nobody")
    for user in ["u1", "u2"]:
        assert_same(engine.get_attributes("typed", user), batch.get(user, defaults))
