"""The editors' experiments dashboard: each experiment's report, kept live while the page is open.

Only accounts with the editor role see it (`make editor EMAIL=...`); anyone else gets
the page's 403. The numbers are the ones `GET /api/experiments/<name>` returns,
formatted for people; the plots take their series as rows keyed `v0`..`v3` (one per
variant, in the definition's order, the control first).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from typing import Any

import reflex as rx

from media_demo import routes
from media_demo.accounts import EDITOR
from media_demo.experiments.report import ExperimentReport, Interval, VariantReport
from media_demo.newsroom import get_newsroom
from media_demo.state.cards import assign_changed
from media_demo.state.reader import ReaderState

REFRESH_SECONDS = 2.0
IDLE_MINUTES = 30  # an open dashboard stops refreshing after this long (a reload starts it again)
MAX_VARIANTS = 4  # the plots have a line per variant, v0..v3


def _percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value * 100:+.1f} %" if signed else f"{value * 100:.2f} %"


def _interval(interval: Interval | None, signed: bool = False) -> str:
    """`3.10 % (2.40 % to 3.80 %)`, or a dash while there is not enough data."""
    if interval is None or interval.value is None:
        return "–"
    if interval.low is None or interval.high is None:
        return _percent(interval.value, signed)
    return f"{_percent(interval.value, signed)} ({_percent(interval.low, signed)} to {_percent(interval.high, signed)})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _number(interval: Interval) -> str:
    if interval.value is None:
        return "–"
    if interval.low is None or interval.high is None:
        return f"{interval.value:.2f}"
    return f"{interval.value:.2f} ({interval.low:.2f} to {interval.high:.2f})"


@dataclasses.dataclass
class VariantRow:
    """One line of a variant table, as people read it."""

    name: str = ""
    strategy: str = ""
    control: bool = False
    share: str = ""
    readers: int = 0
    impressions: int = 0
    clicks: int = 0
    ctr: str = ""
    lift: str = ""
    lift_sequential: str = ""
    lift_cuped: str = ""
    chance: str = ""
    recirculation: str = ""
    returned: str = ""

    @classmethod
    def of(cls, v: VariantReport) -> VariantRow:
        return cls(
            name=v.name,
            strategy=v.strategy,
            control=v.control,
            share=f"{v.weight:.0%}",
            readers=v.readers,
            impressions=v.impressions,
            clicks=v.clicks,
            ctr=_interval(v.ctr),
            lift="control" if v.control else _interval(v.lift, signed=True),
            lift_sequential="control" if v.control else _interval(v.lift_sequential, signed=True),
            lift_cuped="control" if v.control else _interval(v.lift_cuped, signed=True),
            chance="–" if v.chance_to_beat is None else f"{v.chance_to_beat:.0%}",
            recirculation=f"{_number(v.recirculation)} · {_count(v.visits_with_click, 'visit')}",
            returned=f"{_interval(v.return_rate)} · {_count(v.return_readers, 'reader')} exposed 7+ days ago",
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 3)


def chart_rows(report: ExperimentReport) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(cumulative CTR rows, sequential lift rows), one per day, in percent; a variant is `v<i>`."""
    names = [v.name for v in report.variants]
    ctr: dict[str, dict[str, Any]] = {}
    lift: dict[str, dict[str, Any]] = {}
    for point in report.series:
        key = f"v{names.index(point.variant)}"
        row = ctr.setdefault(point.day, {"day": point.day})
        row[key] = _round(point.ctr.value)
        if point.ctr.low is not None and point.ctr.high is not None:
            row[f"{key}_band"] = [_round(point.ctr.low), _round(point.ctr.high)]
        if point.lift is not None and point.lift.value is not None:  # none until there is data enough for one
            lifted = lift.setdefault(point.day, {"day": point.day, "zero": 0})
            lifted[key] = _round(point.lift.value)
            if point.lift.low is not None and point.lift.high is not None:
                lifted[f"{key}_band"] = [_round(point.lift.low), _round(point.lift.high)]
    return list(ctr.values()), list(lift.values())


class ExperimentsState(rx.State):
    """What `/experiments` shows: the editor check, the list, and the selected experiment's report."""

    checked: bool = False
    allowed: bool = False
    signed_in: bool = False
    names: list[str] = []
    selected: str = ""
    hypothesis: str = ""
    status: str = ""
    started: str = ""
    readers: int = 0
    excluded: int = 0
    minimum_sample: int = 0
    srm_flagged: bool = False
    srm: str = ""
    enough_data: bool = False
    verdict: str = ""
    variant_names: list[str] = []
    variants: list[VariantRow] = []
    ctr_chart: list[dict[str, Any]] = []
    lift_chart: list[dict[str, Any]] = []
    updated_at: str = ""
    live: bool = False
    _generation: str = ""

    def _show(self, reports: list[ExperimentReport]) -> None:
        names = [r.name for r in reports]
        selected = self.selected if self.selected in names else (names[0] if names else "")
        report = next((r for r in reports if r.name == selected), None)
        assign_changed(self, names=names, selected=selected)
        if report is None:
            return
        ctr_rows, lift_rows = chart_rows(report)
        srm = (
            f"p = {report.srm_p_value:.3g}"
            + (" — the split is broken: do not trust these numbers" if report.srm_flagged else " — split as configured")
            if report.srm_p_value is not None
            else "no exposures yet"
        )
        assign_changed(
            self,
            hypothesis=report.hypothesis,
            status=report.status,
            started=report.start[:10],
            readers=report.readers,
            excluded=report.excluded_readers,
            minimum_sample=report.minimum_sample,
            srm_flagged=report.srm_flagged,
            srm=srm,
            enough_data=report.enough_data,
            verdict=report.verdict,
            variant_names=[v.name for v in report.variants][:MAX_VARIANTS],
            variants=[VariantRow.of(v) for v in report.variants],
            ctr_chart=ctr_rows,
            lift_chart=lift_rows,
        )
        self.updated_at = report.computed_at[11:19]

    def _on_dashboard(self) -> bool:
        return (self.router.url.path or "").rstrip("/") == routes.EXPERIMENTS

    @rx.event
    async def open(self):
        """on_load (after `ReaderState.visit`): check the editor role, show the reports, then keep them live."""
        room = get_newsroom()
        reader = await self.get_state(ReaderState)

        def editor_reports(who: Any) -> tuple[bool, bool, list[ExperimentReport]]:
            allowed = room.accounts.has_role(who.user_id, EDITOR)
            reports = room.experiments.reports() if allowed else []
            return bool(who.user_id), allowed, reports

        _reader, (signed_in, allowed, reports) = await reader._as_reader(editor_reports)
        self.checked, self.signed_in, self.allowed = True, signed_in, allowed
        if not allowed:
            return None
        self._show(reports)
        self._generation = uuid.uuid4().hex
        return ExperimentsState.watch(self._generation)

    @rx.event
    def select(self, name: str):
        """Show another experiment (the next refresh fills it in)."""
        if name in self.names:
            self.selected = name
            return ExperimentsState.refresh_now
        return None

    @rx.event
    async def refresh_now(self):
        """Recompute the selected experiment's report at once."""
        if not self.allowed:
            return
        room = get_newsroom()
        reports = await asyncio.to_thread(room.experiments.reports)
        self._show(reports)

    @rx.event(background=True)
    async def watch(self, generation: str):
        """Recompute the reports every `REFRESH_SECONDS` while this tab shows the dashboard: new exposures,
        impressions and clicks appear without a reload (only what changed is sent)."""
        room = get_newsroom()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            while loop.time() - started < IDLE_MINUTES * 60:
                async with self:
                    if generation != self._generation or not self._on_dashboard() or not self.allowed:
                        return
                    self.live = True
                await asyncio.sleep(REFRESH_SECONDS)
                reports = await asyncio.to_thread(room.experiments.reports)
                async with self:
                    if generation != self._generation:
                        return
                    self._show(reports)
        finally:
            with contextlib.suppress(Exception):  # the app may be shutting down
                async with self:
                    if generation == self._generation:
                        self.live = False
