"""Period windows, ttl, type coercion and approximate distinct counts, by hand-computed expectations."""

from __future__ import annotations

import datetime as dt

import pytest
from snowplow_signals import AtomicProperty, Attribute, PageView, StreamAttributeGroup, domain_userid

from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.hll import HyperLogLog
from tests.factories import page_view

TITLE = AtomicProperty(name="page_title")


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def engine_with(*attributes: Attribute, ttl: dt.timedelta | None = None, clock: Clock) -> AttributeEngine:
    group = StreamAttributeGroup(
        name="g", version=1, attribute_key=domain_userid, owner="t@example.com", attributes=list(attributes), ttl=ttl
    )
    return AttributeEngine([group], clock=clock)


def test_a_30_minute_window_forgets_events_as_time_passes() -> None:
    clock = Clock()
    views = Attribute(
        name="views_30m", type="int32", events=[PageView()], aggregation="counter", period=dt.timedelta(minutes=30)
    )
    engine = engine_with(views, clock=clock)
    for minute in (0, 10, 20):
        engine.ingest(page_view("u1", minute * 60.0))
    clock.now = 25 * 60
    assert engine.get_attributes("g", "u1") == {"views_30m": 3}
    clock.now = 35 * 60  # the minute-0 view left the window
    assert engine.get_attributes("g", "u1") == {"views_30m": 2}
    clock.now = 51 * 60
    assert engine.get_attributes("g", "u1") == {"views_30m": 0}


def test_a_7_day_window_of_distinct_titles() -> None:
    clock = Clock()
    day = 86400.0
    titles = Attribute(
        name="titles_7d",
        type="string_list",
        events=[PageView()],
        aggregation="unique_list",
        property=TITLE,
        period=dt.timedelta(days=7),
    )
    engine = engine_with(titles, clock=clock)
    engine.ingest(page_view("u1", 0 * day, page_title="a"))
    engine.ingest(page_view("u1", 3 * day, page_title="b"))
    engine.ingest(page_view("u1", 6 * day, page_title="a"))
    clock.now = 6.5 * day
    assert engine.get_attributes("g", "u1") == {"titles_7d": ["b", "a"]}
    clock.now = 9.5 * day  # b (day 3) is still in, a was last seen on day 6
    assert engine.get_attributes("g", "u1") == {"titles_7d": ["b", "a"]}
    clock.now = 10.5 * day  # day 3 left the window
    assert engine.get_attributes("g", "u1") == {"titles_7d": ["a"]}


def test_a_window_keeps_a_bounded_number_of_buckets() -> None:
    clock = Clock()
    views = Attribute(
        name="v", type="int32", events=[PageView()], aggregation="counter", period=dt.timedelta(minutes=60)
    )
    engine = engine_with(views, clock=clock)
    for minute in range(0, 24 * 60, 5):  # a day of views every 5 minutes
        engine.ingest(page_view("u1", minute * 60.0))
    clock.now = 24 * 60 * 60.0
    state = engine._groups["g_v1"].states["u1"][0]
    assert len(state) <= 62
    assert engine.get_attributes("g", "u1") == {"v": 11}  # after 23:00 (exclusive): 23:05 ... 23:55


def test_ttl_expires_an_idle_entity_and_restarts_it() -> None:
    clock = Clock()
    views = Attribute(name="views", type="int32", events=[PageView()], aggregation="counter")
    engine = engine_with(views, ttl=dt.timedelta(hours=1), clock=clock)
    engine.ingest(page_view("u1", 0.0))
    engine.ingest(page_view("u1", 1800.0))
    clock.now = 3000.0
    assert engine.get_attributes("g", "u1") == {"views": 2}
    clock.now = 1800.0 + 3601
    assert engine.get_attributes("g", "u1") == {"views": 0}
    engine.ingest(page_view("u1", 9000.0))  # more than an hour after the last: starts afresh
    clock.now = 9000.0
    assert engine.get_attributes("g", "u1") == {"views": 1}


@pytest.mark.parametrize(
    ("type_", "aggregation", "values", "expected"),
    [
        ("int64", "sum", ["2", "3.0"], 5),
        ("double", "max", ["2", "7"], 7.0),
        ("string", "last", [1, 2], "2"),
        ("bool", "last", ["true"], True),
        ("int32_list", "unique_list", ["1", "2"], [1, 2]),
    ],
)
def test_results_are_coerced_to_the_declared_type(type_: str, aggregation: str, values: list, expected: object) -> None:
    clock = Clock(100)
    attribute = Attribute(name="x", type=type_, events=[PageView()], aggregation=aggregation, property=TITLE)
    engine = engine_with(attribute, clock=clock)
    for i, value in enumerate(values):
        engine.ingest(page_view("u1", float(i), page_title=value))
    result = engine.get_attributes("g", "u1")["x"]
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("true_count", [10, 128, 1_000, 20_000])
def test_approx_count_distinct_is_exact_when_small_and_close_when_large(true_count: int) -> None:
    state = None
    for i in range(true_count):
        state = HyperLogLog.add(state, f"reader-{i}")
        state = HyperLogLog.add(state, f"reader-{i // 2}")  # repeats must not count
    estimate = HyperLogLog.count(state)
    if true_count <= 128:
        assert estimate == true_count
    else:
        assert abs(estimate - true_count) / true_count < 0.08


def test_hll_merge_and_dump_round_trip() -> None:
    a = b = None
    for i in range(500):
        a = HyperLogLog.add(a, i)
    for i in range(250, 900):
        b = HyperLogLog.add(b, i)
    merged = HyperLogLog.merge(a, b)
    assert abs(HyperLogLog.count(merged) - 900) / 900 < 0.08
    assert HyperLogLog.count(HyperLogLog.load(HyperLogLog.dump(merged))) == HyperLogLog.count(merged)
    assert HyperLogLog.count(HyperLogLog.merge({1, 2}, {2, 3})) == 3
