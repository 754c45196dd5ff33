"""Each aggregation against hand-computed expectations."""

from __future__ import annotations

import pytest

from media_demo.signals.engine.aggregations import MAX_VALUES, make_aggregation


def run(name: str, values: list, timestamps: list[float] | None = None, now: float = 0.0, unit: str | None = None):
    aggregation = make_aggregation(name, unit)
    state = None
    for value, timestamp in zip(values, timestamps or range(len(values)), strict=True):
        state = aggregation.update(state, value, float(timestamp))
    return aggregation.result(state, now)


def test_counter_counts_events() -> None:
    assert run("counter", [None, None, None]) == 3


def test_sum_min_max_mean_on_numbers_and_numeric_strings() -> None:
    values = [3, "4.5", 1, 10]
    assert run("sum", values) == pytest.approx(18.5)
    assert run("min", values) == 1
    assert run("max", values) == 10
    assert run("mean", values) == pytest.approx(18.5 / 4)


def test_numeric_aggregations_skip_values_that_are_not_numbers() -> None:
    assert run("sum", [2, "two", 3]) == 5
    assert run("mean", ["x"]) is None


def test_first_and_last_follow_event_time_not_arrival_order() -> None:
    values, times = ["b", "a", "c"], [20, 10, 30]
    assert run("first", values, times) == "a"
    assert run("last", values, times) == "c"
    assert run("last", ["late-arrival-but-old", "x"], [50, 40]) == "late-arrival-but-old"


def test_last_ties_go_to_the_later_arrival() -> None:
    assert run("last", ["one", "two"], [5, 5]) == "two"
    assert run("first", ["one", "two"], [5, 5]) == "one"


def test_unique_list_is_ordered_by_when_each_value_was_last_seen() -> None:
    assert run("unique_list", ["a", "b", "a", "c"]) == ["b", "a", "c"]


def test_unique_list_handles_out_of_order_events() -> None:
    assert run("unique_list", ["a", "b", "c"], [10, 30, 20]) == ["a", "c", "b"]


def test_unique_list_keeps_the_100_most_recent_values() -> None:
    values = [f"v{i}" for i in range(MAX_VALUES + 5)]
    result = run("unique_list", values)
    assert len(result) == MAX_VALUES
    assert result[0] == "v5" and result[-1] == f"v{MAX_VALUES + 4}"


def test_most_and_least_frequent_break_ties_by_first_seen() -> None:
    values = ["tech", "sport", "sport", "tech", "arts"]
    assert run("most_frequent", values) == "tech"
    assert run("least_frequent", values) == "arts"
    assert run("most_frequent", ["x", "y", "y"]) == "y"


def test_category_count_counts_each_value() -> None:
    assert run("category_count", ["a", "b", "a"]) == {"a": 2, "b": 1}


def test_category_maps_keep_at_most_100_values_dropping_the_rarest() -> None:
    values = ["common"] * 3 + [f"rare{i}" for i in range(MAX_VALUES)]
    result = run("category_count", values)
    assert len(result) == MAX_VALUES
    assert result["common"] == 3
    assert "rare0" not in result


def test_approx_count_distinct_counts_distinct_values() -> None:
    assert run("approx_count_distinct", ["a", "b", "a", "c", "b"]) == 3


def test_time_since_first_and_last_in_the_requested_unit() -> None:
    times = [600, 60, 1200]
    assert run("time_since_first", [None] * 3, times, now=3660, unit="min") == pytest.approx(60)
    assert run("time_since_last", [None] * 3, times, now=3600, unit="s") == pytest.approx(2400)
    assert run("time_since_last", [None], [0], now=7200, unit="h") == pytest.approx(2)


def test_unknown_aggregation_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown aggregation 'median'"):
        make_aggregation("median")
