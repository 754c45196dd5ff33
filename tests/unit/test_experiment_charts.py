"""The dashboard's plot rows: a lift the statistics could not estimate is left out, not drawn as nothing."""

from __future__ import annotations

from types import SimpleNamespace

from media_demo.experiments.report import Interval, SeriesPoint
from media_demo.state.experiments import chart_rows


def report(*points: SeriesPoint) -> SimpleNamespace:
    return SimpleNamespace(variants=[SimpleNamespace(name="control"), SimpleNamespace(name="coread")], series=points)


def test_an_undefined_lift_gives_no_lift_row_and_a_defined_one_is_plotted_in_percent() -> None:
    early = report(
        SeriesPoint("2026-12-01", "control", 1, Interval(0.0, None, None), None),
        SeriesPoint("2026-12-01", "coread", 1, Interval(0.0, None, None), Interval(None, None, None)),
    )
    ctr, lift = chart_rows(early)  # type: ignore[arg-type]
    assert ctr == [{"day": "2026-12-01", "v0": 0.0, "v1": 0.0}] and lift == []

    later = report(
        SeriesPoint("2026-12-02", "control", 40, Interval(0.1, 0.05, 0.15), None),
        SeriesPoint("2026-12-02", "coread", 40, Interval(0.2, 0.12, 0.28), Interval(1.0, -0.2, 2.2)),
    )
    _ctr, lift = chart_rows(later)  # type: ignore[arg-type]
    assert lift == [{"day": "2026-12-02", "zero": 0, "v1": 100.0, "v1_band": [-20.0, 220.0]}]
