"""The experiment report: who is analysed, the daily series, the return rate and when a verdict may be given.

The statistics have their own tests (`test_experiment_statistics.py`); these check that the report
feeds them the right readers. The series is checked against a direct computation: for each day,
every analysed reader first exposed on or before it.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media_demo.experiments.definitions import Experiment, parse_experiment
from media_demo.experiments.outcomes import UnitOutcome, VisitOutcome
from media_demo.experiments.report import ALPHA, Interval, build_report
from media_demo.experiments.statistics import MetricSums, estimate, sequential_lift
from tests.unit.test_experiment_definitions import SEGMENTS, STRATEGIES

NOW = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
DAY = 86400.0


def experiment(minimum_sample: int = 10) -> Experiment:
    document: dict[str, Any] = {
        "name": "panel-test",
        "hypothesis": "Co-read picks get more clicks.",
        "start": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        "minimum_sample": minimum_sample,
        "variants": [
            {"name": "control", "strategy": "current", "weight": 0.5},
            {"name": "coread", "strategy": "coread", "weight": 0.5},
        ],
    }
    return parse_experiment(document, "panel.toml", STRATEGIES, SEGMENTS)


def outcome(unit: str, variant: str, days_ago: float, impressions: int, clicks: int, **changes: Any) -> UnitOutcome:
    values: dict[str, Any] = {
        "unit": unit,
        "variant": variant,
        "variants_seen": (variant,),
        "first_exposed_at": NOW.timestamp() - days_ago * DAY,
        "exposures": impressions,
        "impressions": impressions,
        "clicks": clicks,
        "returned": False,
        "reads_before": 0,
    }
    return UnitOutcome(**{**values, **changes})


def random_outcomes(seed: int, readers: int, days: int) -> list[UnitOutcome]:
    rng = random.Random(seed)
    rows = []
    for i in range(readers):
        impressions = rng.randint(0, 12)
        rows.append(
            outcome(
                f"reader-{i}",
                rng.choice(["control", "coread"]),
                rng.uniform(0, days),
                impressions,
                rng.randint(0, impressions),
                returned=rng.random() < 0.3,
                reads_before=rng.randint(0, 9),
            )
        )
    return sorted(rows, key=lambda o: o.first_exposed_at)


def day_of(row: UnitOutcome) -> dt.date:
    return dt.datetime.fromtimestamp(row.first_exposed_at, dt.UTC).date()


def sums(rows: list[UnitOutcome]) -> MetricSums:
    return MetricSums.from_arrays([r.clicks for r in rows], [r.impressions for r in rows])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), readers=st.integers(1, 120), days=st.integers(1, 20))
def test_each_day_of_the_series_holds_every_reader_first_exposed_by_then(seed: int, readers: int, days: int) -> None:
    rows = random_outcomes(seed, readers, days)
    report = build_report(experiment(), rows, [], NOW)
    days_seen = sorted({day_of(r) for r in rows})
    assert [p.day for p in report.series] == [d.isoformat() for d in days_seen for _ in ("control", "coread")]
    for point in report.series:
        upto = [r for r in rows if day_of(r).isoformat() <= point.day]
        mine = [r for r in upto if r.variant == point.variant]
        assert point.readers == len(mine)
        assert point.ctr == Interval.of(estimate(sums(mine), ALPHA))
        if point.variant == "control":
            assert point.lift is None
        else:
            control = [r for r in upto if r.variant == "control"]
            assert point.lift == Interval.of(sequential_lift(sums(control), sums(mine), ALPHA))


def test_a_reader_who_saw_two_variants_is_counted_but_not_analysed() -> None:
    rows = [
        outcome("a", "control", 1, 4, 1),
        outcome("b", "coread", 1, 3, 2),
        outcome("moved", "control", 1, 5, 5, variants_seen=("control", "coread")),
    ]
    report = build_report(experiment(), rows, [], NOW)
    assert (report.readers, report.excluded_readers) == (2, 1)
    by_name = {v.name: v for v in report.variants}
    assert (by_name["control"].readers, by_name["control"].impressions, by_name["control"].clicks) == (1, 4, 1)
    assert (by_name["coread"].readers, by_name["coread"].impressions, by_name["coread"].clicks) == (1, 3, 2)
    assert sum(p.readers for p in report.series) == 2


def test_the_return_rate_counts_only_readers_exposed_a_week_ago_or_more() -> None:
    rows = [
        outcome("old-back", "control", 9, 2, 0, returned=True),
        outcome("old-gone", "control", 8, 2, 0),
        outcome("new-back", "control", 2, 2, 0, returned=True),  # too recent to say whether a week brings them back
    ]
    control = build_report(experiment(), rows, [], NOW).variants[0]
    assert control.return_readers == 2
    assert control.return_rate.value == pytest.approx(0.5)


def test_recirculation_is_reads_per_visit_with_a_click_in_that_variant() -> None:
    visits = [VisitOutcome("control", 1, 3), VisitOutcome("control", 2, 1), VisitOutcome("coread", 1, 4)]
    control, coread = build_report(experiment(), [outcome("a", "control", 1, 2, 1)], visits, NOW).variants
    assert (control.visits_with_click, control.recirculation.value) == (2, pytest.approx(2.0))
    assert (coread.visits_with_click, coread.recirculation.value) == (1, pytest.approx(4.0))


def test_no_verdict_before_each_variant_has_the_minimum_sample() -> None:
    rows = random_outcomes(7, 40, 5)
    smallest = min(sum(r.variant == name for r in rows) for name in ("control", "coread"))
    waiting = build_report(experiment(minimum_sample=smallest + 1), rows, [], NOW)
    assert not waiting.enough_data
    assert waiting.verdict.startswith(f"Not enough data yet: {smallest} of the {smallest + 1}")
    ready = build_report(experiment(minimum_sample=smallest), rows, [], NOW)
    assert ready.enough_data and not ready.verdict.startswith("Not enough data yet")
