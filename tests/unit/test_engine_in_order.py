"""The engine's fast path for in-order events computes exactly what the general path computes.

`Aggregation.update_in_order` is used when an event is no earlier than the
entity's last event; streams here go back in time, tie and jump ahead, and the
states (not just the values read) must match an engine that never takes it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snowplow_signals import Attribute, Criteria, Criterion, Event, EventProperty, PageView, StreamAttributeGroup
from snowplow_signals import domain_userid as user_key

from media_demo.signals.engine.aggregations import AGGREGATIONS
from media_demo.signals.engine.attribute_engine import AttributeEngine
from tests.factories import page_view, self_describing

SCHEMA = "iglu:com.acme/play/jsonschema/1-0-0"
PLAY = Event(vendor="com.acme", name="play", version="1-0-0")
GENRE = EventProperty(vendor="com.acme", name="play", major_version=1, path="genre")
TAGS = EventProperty(vendor="com.acme", name="play", major_version=1, path="tags")


def attr(name: str, aggregation: str, type_: str = "string", **kwargs: object) -> Attribute:
    kwargs.setdefault("events", [PLAY])
    return Attribute(name=name, type=type_, aggregation=aggregation, **kwargs)  # type: ignore[arg-type]


ATTRIBUTES = [
    attr("plays", "counter", "int32"),
    attr("views", "counter", "int32", events=[PageView()]),
    attr("genres", "unique_list", "string_list", property=GENRE),
    attr("tag_lists", "unique_list", "string_list", property=TAGS),
    attr("first_genre", "first", property=GENRE),
    attr("last_genre", "last", property=GENRE),
    attr("top_genre", "most_frequent", property=GENRE),
    attr("rock_plays", "counter", "int32", criteria=Criteria(all=[Criterion.eq(GENRE, "rock")])),
    attr("since_last", "time_since_last", "double"),
    attr("genres_1h", "unique_list", "string_list", property=GENRE, period=dt.timedelta(hours=1)),
    attr("last_genre_1h", "last", property=GENRE, period=dt.timedelta(hours=1)),
]


def group(ttl: dt.timedelta | None) -> StreamAttributeGroup:
    return StreamAttributeGroup(
        name="order", version=1, attribute_key=user_key, owner="t@example.com", attributes=ATTRIBUTES, ttl=ttl
    )


event_spec = st.tuples(
    st.sampled_from(["u1", "u2"]),
    st.integers(min_value=-1800, max_value=1800),  # seconds from the previous event: back, tie or ahead
    st.one_of(
        st.just(None),  # a page view
        st.fixed_dictionaries(
            {},
            optional={
                "genre": st.sampled_from(["rock", "jazz", "pop"]),
                "tags": st.lists(st.sampled_from(["a", "b"]), max_size=2),
            },
        ),
    ),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(specs=st.lists(event_spec, max_size=40), with_ttl=st.booleans())
def test_in_order_fast_path_matches_the_general_path(
    specs: list, with_ttl: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    definition = group(dt.timedelta(minutes=20) if with_ttl else None)
    events, now = [], 1_700_000_000.0
    for user, step, data in specs:
        now += step
        event = page_view(user, now) if data is None else self_describing(SCHEMA, data, user=user, timestamp=now)
        events.append(event)
    clock = now + 60
    fast = AttributeEngine([definition], clock=lambda: clock)
    with monkeypatch.context() as patch:
        for cls in AGGREGATIONS.values():
            patch.setattr(cls, "update_in_order", None, raising=False)
        general = AttributeEngine([definition], clock=lambda: clock)
    for event in events:
        assert fast.ingest(event) == general.ingest(event)
    assert dict(fast.dump_states("order_v1")) == dict(general.dump_states("order_v1"))
    for user in ("u1", "u2"):
        assert fast.get_attributes("order", user) == general.get_attributes("order", user)
