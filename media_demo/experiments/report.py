"""An experiment's report: per-variant numbers, lifts with honest intervals, SRM, a verdict, and series to plot.

Built from each exposed reader's outcome (`UnitOutcome`s, which the experiments service
reads from the attribute engine) with the statistics module. The verdict reads the always-valid sequential
interval, so an editor may look every day without inflating false positives, and
there is none before every variant has the experiment's minimum sample. A sample
ratio mismatch overrides everything: the split is broken, so no lift can be trusted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from media_demo.experiments.definitions import Experiment
from media_demo.experiments.outcomes import UnitOutcome, VisitOutcome
from media_demo.experiments.statistics import (
    Estimate,
    Lift,
    MetricSums,
    chance_to_beat_control,
    cuped,
    estimate,
    relative_lift,
    sample_ratio_mismatch,
    sequential_lift,
)

ALPHA = 0.05
RETURN_DAYS = 7


@dataclass(frozen=True)
class Interval:
    """A value with its interval (None where there is not enough data to say)."""

    value: float | None
    low: float | None
    high: float | None

    @classmethod
    def of(cls, source: Estimate | Lift) -> Interval:
        """The value and bounds of a statistics result."""
        return cls(source.value, source.low, source.high)


@dataclass(frozen=True)
class VariantReport:
    """One variant's numbers; the lifts compare it with the control (None on the control itself)."""

    name: str
    strategy: str
    weight: float
    control: bool
    readers: int  # exposed readers analysed (one variant only)
    impressions: int
    clicks: int
    ctr: Interval
    lift: Interval | None  # relative CTR lift, fixed-horizon delta method
    lift_sequential: Interval | None  # the same, always valid (what the verdict reads)
    lift_cuped: Interval | None  # fixed-horizon, CUPED-adjusted with reads before exposure
    chance_to_beat: float | None  # Bayesian probability that its CTR beats the control's
    recirculation: Interval  # stories read per visit with a panel click
    visits_with_click: int
    return_rate: Interval  # share of readers exposed 7+ days ago who came back within 7 days
    return_readers: int


@dataclass(frozen=True)
class SeriesPoint:
    """Cumulative CTR of one variant over readers first exposed up to `day`, with its interval."""

    day: str
    variant: str
    readers: int
    ctr: Interval
    lift: Interval | None  # sequential relative lift against the control at that day


@dataclass(frozen=True)
class ExperimentReport:
    """Everything the dashboard and `GET /api/experiments/<name>` show about one experiment."""

    name: str
    hypothesis: str
    status: str  # scheduled | running | stopped
    start: str
    stop: str | None
    minimum_sample: int
    readers: int
    excluded_readers: int  # saw more than one variant (e.g. signed in on a device exposed anonymously)
    srm_p_value: float | None
    srm_flagged: bool
    enough_data: bool
    verdict: str
    variants: tuple[VariantReport, ...]
    series: tuple[SeriesPoint, ...]
    computed_at: str


def _ctr_sums(outcomes: Iterable[UnitOutcome], covariate: bool = False) -> MetricSums:
    rows = list(outcomes)
    return MetricSums.from_arrays(
        [o.clicks for o in rows],
        [o.impressions for o in rows],
        [o.reads_before for o in rows] if covariate else None,
    )


def _status(experiment: Experiment, now: dt.datetime) -> str:
    if now < experiment.start:
        return "scheduled"
    return "running" if experiment.running(now) else "stopped"


def _percent(value: float) -> str:
    return f"{value * 100:+.1f} %"


def verdict(experiment: Experiment, variants: Sequence[VariantReport], srm_flagged: bool, srm_p: float | None) -> str:
    """The plain-language conclusion, from the sequential interval, never before the minimum sample."""
    if srm_flagged:
        return (
            f"Sample ratio mismatch (p = {srm_p:.2g}): readers are not split as configured, so no result"
            " can be trusted. Check assignment and tracking before reading any number here."
        )
    smallest = min(v.readers for v in variants)
    if smallest < experiment.minimum_sample:
        return (
            f"Not enough data yet: {smallest} of the {experiment.minimum_sample} exposed readers"
            " each variant needs before a verdict."
        )
    control = variants[0]
    lines = []
    for variant in variants[1:]:
        lift = variant.lift_sequential
        if lift is None or lift.value is None or lift.low is None or lift.high is None:
            lines.append(f"{variant.name}: not enough clicks yet to compare with {control.name}.")
            continue
        interval = f"95 % interval {_percent(lift.low)} to {_percent(lift.high)}, sequential test"
        if lift.low > 0:
            lines.append(f"{variant.name} beats {control.name}: {_percent(lift.value)} CTR, {interval}.")
        elif lift.high < 0:
            lines.append(f"{variant.name} loses to {control.name}: {_percent(lift.value)} CTR, {interval}.")
        else:
            lines.append(
                f"No clear difference yet between {variant.name} and {control.name}:"
                f" {_percent(lift.value)} CTR, {interval}."
            )
    return " ".join(lines)


def _day(outcome: UnitOutcome) -> dt.date:
    return dt.datetime.fromtimestamp(outcome.first_exposed_at, dt.UTC).date()


def _series(experiment: Experiment, by_variant: dict[str, list[UnitOutcome]]) -> list[SeriesPoint]:
    """Cumulative CTR per variant by day of first exposure (and the sequential lift), oldest first.

    Each day's sums are computed once and added to the days before (sums add up), so a month-long
    experiment costs one pass over its readers, not one per day.
    """
    daily: dict[str, dict[dt.date, list[UnitOutcome]]] = {name: {} for name in by_variant}
    for name, rows in by_variant.items():
        for outcome in rows:
            daily[name].setdefault(_day(outcome), []).append(outcome)
    days = sorted({day for by_day in daily.values() for day in by_day})
    running = {name: MetricSums() for name in by_variant}
    points = []
    control = experiment.control.name
    for day in days:
        for name in running:
            if rows_of_day := daily[name].get(day):
                running[name] = running[name] + _ctr_sums(rows_of_day)
        for variant in experiment.variants:
            current = running[variant.name]
            lift = None
            if variant.name != control:
                lift = Interval.of(sequential_lift(running[control], current, ALPHA))
            points.append(SeriesPoint(day.isoformat(), variant.name, current.n, Interval.of(estimate(current)), lift))
    return points


def build_report(
    experiment: Experiment, outcomes: Sequence[UnitOutcome], visits: Sequence[VisitOutcome], now: dt.datetime
) -> ExperimentReport:
    """The report of `experiment` from its readers' outcomes and its visits with a click, as of `now`."""
    names = [v.name for v in experiment.variants]
    analysed = [o for o in outcomes if len(set(o.variants_seen) | {o.variant}) == 1 and o.variant in names]
    by_variant: dict[str, list[UnitOutcome]] = {name: [] for name in names}
    for outcome in analysed:
        by_variant[outcome.variant].append(outcome)
    control_rows = by_variant[experiment.control.name]
    control_sums = _ctr_sums(control_rows)
    adjusted = cuped([_ctr_sums(by_variant[name], covariate=True) for name in names], ALPHA)
    cutoff = now.timestamp() - RETURN_DAYS * 86400
    reports = []
    for i, variant in enumerate(experiment.variants):
        rows = by_variant[variant.name]
        sums = _ctr_sums(rows)
        is_control = i == 0
        old_enough = [o for o in rows if o.first_exposed_at <= cutoff]
        reads = [v.reads for v in visits if v.variant == variant.name]
        reports.append(
            VariantReport(
                name=variant.name,
                strategy=variant.strategy,
                weight=variant.weight,
                control=is_control,
                readers=len(rows),
                impressions=sum(o.impressions for o in rows),
                clicks=sum(o.clicks for o in rows),
                ctr=Interval.of(estimate(sums, ALPHA)),
                lift=None if is_control else Interval.of(relative_lift(control_sums, sums, ALPHA)),
                lift_sequential=None if is_control else Interval.of(sequential_lift(control_sums, sums, ALPHA)),
                lift_cuped=(
                    None
                    if is_control
                    else Interval.of(relative_lift(adjusted.estimates[0], adjusted.estimates[i], ALPHA))
                ),
                chance_to_beat=None if is_control else chance_to_beat_control(control_sums, sums).chance,
                recirculation=Interval.of(estimate(MetricSums.from_arrays(reads), ALPHA)),
                visits_with_click=len(reads),
                return_rate=Interval.of(estimate(MetricSums.from_arrays([float(o.returned) for o in old_enough]))),
                return_readers=len(old_enough),
            )
        )
    counts = [len(by_variant[name]) for name in names]
    srm = sample_ratio_mismatch(counts, [v.weight for v in experiment.variants]) if sum(counts) else None
    srm_flagged = bool(srm and srm.flagged)
    srm_p = srm.p_value if srm else None
    enough = min(counts) >= experiment.minimum_sample
    return ExperimentReport(
        name=experiment.name,
        hypothesis=experiment.hypothesis,
        status=_status(experiment, now),
        start=experiment.start.isoformat(),
        stop=experiment.stop.isoformat() if experiment.stop else None,
        minimum_sample=experiment.minimum_sample,
        readers=len(analysed),
        excluded_readers=len(outcomes) - len(analysed),
        srm_p_value=srm_p,
        srm_flagged=srm_flagged,
        enough_data=enough and not srm_flagged,
        verdict=verdict(experiment, reports, srm_flagged, srm_p),
        variants=tuple(reports),
        series=tuple(_series(experiment, by_variant)),
        computed_at=now.isoformat(timespec="seconds"),
    )
