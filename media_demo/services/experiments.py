"""Experiments at run time: who is in which variant, what the panel shows them, and what happened.

`decide` is called by the reader views for every personalised panel: the running
experiment of the slot (at most one), whether the reader belongs to its audience
(or was already exposed: a reader who has seen a variant stays in), and the
variant by hash, from the reader's attributes (`EngineReads`). The report is built here
from each exposed unit's metrics, which an `Outcomes` source reads from wherever the
attribute engine is: `EngineOutcomes` in the process that holds it. An experiment keeps
every reader it exposed, so a report's cost grows with it: it is read from the engine a
chunk at a time and shared between callers, recomputed at a rate its cost bounds.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Protocol, TypeVar

from media_demo.experiments.assignment import Assignment, assign
from media_demo.experiments.attributes import VISITS_SUFFIX, group_name, visit_group
from media_demo.experiments.catalogue import variant_policy
from media_demo.experiments.definitions import Experiment
from media_demo.experiments.outcomes import UnitOutcome, VisitOutcome
from media_demo.experiments.report import ExperimentReport, build_report
from media_demo.recommend.strategies import Strategy
from media_demo.services.engine_reads import EngineReads
from media_demo.services.memory import Memory
from media_demo.services.yielding import let_waiting_threads_run

RETURN_WINDOW_SECONDS = 7 * 86400.0
OUTCOMES_CHUNK = 64  # entities read per hold of the memory lock (~0.8 ms here): what a report can make a page wait
REPORT_COST_RATIO = 10.0  # a report is reused until ten times what computing it took has passed (see `report`)
Row = TypeVar("Row")
USER_ID, DOMAIN_USERID = "user_id", "domain_userid"


@dataclass(frozen=True)
class Decision:
    """What decides one reader's panel: the experiment, their variant, and its serving policy."""

    experiment: Experiment
    assignment: Assignment
    strategy: Strategy
    exploration: float
    unit_kind: str  # which id was hashed, as the exposure event records it: `user_id` or `domain_userid`


@dataclass(frozen=True)
class _KeptReport:
    """The last report of an experiment, and what it cost: how long it may be given out again."""

    report: ExperimentReport
    finished: float  # the timer when it was computed
    cost: float  # seconds computing it took


class Outcomes(Protocol):
    """Every exposed unit's metrics and every clicked visit of one experiment, read from the attribute engine."""

    def units(self, experiment: Experiment, now: float) -> list[UnitOutcome]:
        """Every exposed unit's metrics, one per reader (an account's devices summed)."""
        ...

    def visits(self, experiment: Experiment) -> list[VisitOutcome]:
        """Every visit with a click on the experiment's panel."""
        ...


class Experiments:
    """The experiments the newsroom runs: who sees which variant (`reads`), and their reports (`outcomes`)."""

    def __init__(
        self,
        experiments: Sequence[Experiment],
        reads: EngineReads,
        outcomes: Outcomes,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
        cost_ratio: float = REPORT_COST_RATIO,
    ) -> None:
        self.all = list(experiments)
        self._by_name = {e.name: e for e in self.all}
        self._reads, self._outcomes = reads, outcomes
        self._clock, self._timer, self._cost_ratio = clock, timer, cost_ratio
        self._computing = threading.Lock()
        self._kept: dict[str, _KeptReport] = {}

    def unexposed_groups(self, domain_userid: str) -> set[str]:
        """The groups of every experiment this browser was never exposed to: they say nothing about the
        reader, so the inspector leaves them out."""
        return {
            name
            for e in self.all
            if not (domain_userid and self._reads.has_state(group_name(e), 1, domain_userid))
            for name in (group_name(e), group_name(e, VISITS_SUFFIX))
        }

    def get(self, name: str) -> Experiment | None:
        """The experiment called `name`, if the newsroom has it."""
        return self._by_name.get(name)

    def running(self, slot: str = "recommendations") -> Experiment | None:
        """The experiment deciding `slot` now (definitions guarantee there is at most one)."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        return next((e for e in self.all if e.slot == slot and e.running(now)), None)

    def decide(
        self, domain_userid: str, user_id: str | None, segment: str, device: str, behavioural: bool
    ) -> Decision | None:
        """The experiment and variant behind this reader's panel, or None (no experiment, or not in it).

        Blocking: it reads whether the reader was exposed, and to which variant.
        """
        experiment = self.running()
        if experiment is None:
            return None
        row = self._reads.entity_attributes(group_name(experiment), 1, domain_userid, ["exposures"])
        exposed = bool(row["exposures"])
        audience = experiment.audience
        if not exposed:  # once exposed a reader stays in, whatever their segment or device becomes
            if audience.consent == "behavioural" and not behavioural:
                return None
            if audience.segment and audience.segment != segment:
                return None
            if audience.device != "any" and audience.device != device:
                return None
        unit = user_id or domain_userid
        recorded = self._recorded_variant(experiment, domain_userid, user_id)
        # A reader already exposed keeps that variant, even when signing in changes the id that is hashed.
        assignment = Assignment(experiment.name, recorded, unit) if recorded else assign(experiment, unit)
        if assignment is None:
            return None
        variant = experiment.variant(assignment.variant)
        assert variant is not None  # assign() only returns the experiment's own variants
        strategy, exploration = variant_policy(variant)
        return Decision(experiment, assignment, strategy, exploration, USER_ID if user_id else DOMAIN_USERID)

    def _recorded_variant(self, experiment: Experiment, domain_userid: str, user_id: str | None) -> str | None:
        """The variant this reader was first exposed to, on this device or any linked to their account (from
        their exposure events, through the engine: no assignment table), if they were exposed at all."""
        devices = [*self._reads.devices(user_id), domain_userid] if user_id else [domain_userid]
        name = group_name(experiment)
        earliest: tuple[float, str] | None = None
        for device in dict.fromkeys(devices):
            row = self._reads.entity_attributes(name, 1, device, ["exposures", "variant", "since_first_exposure"])
            if row["exposures"] and experiment.variant(row["variant"] or "") is not None:
                age = float(row["since_first_exposure"] or 0.0)
                if earliest is None or age > earliest[0]:
                    earliest = (age, row["variant"])
        return earliest[1] if earliest else None

    def returning(self, experiment: Experiment, domain_userid: str, session_index: int) -> bool:
        """Whether an exposure now is a return: a later visit than the first exposure's, within 7 days of it."""
        row = self._reads.entity_attributes(
            group_name(experiment), 1, domain_userid, ["exposures", "first_session", "since_first_exposure"]
        )
        if not row["exposures"] or row["first_session"] is None:
            return False
        return session_index > row["first_session"] and (row["since_first_exposure"] or 0.0) <= RETURN_WINDOW_SECONDS

    def outcomes(self, experiment: Experiment) -> list[UnitOutcome]:
        """Every exposed unit's outcome, a signed-in reader's devices summed into their account (blocking)."""
        return self._outcomes.units(experiment, self._clock())

    def reports(self) -> list[ExperimentReport]:
        """Every experiment's report now, in definition order (blocking)."""
        return [self.report(experiment) for experiment in self.all]

    def report(self, experiment: Experiment) -> ExperimentReport:
        """The experiment's report: per-variant numbers, lifts, SRM, verdict and series (blocking).

        Computing one walks every reader the experiment ever exposed, so it is shared: every caller
        (each open dashboard, the API) gets the last one until `cost_ratio` times what it took has
        passed, and one computation runs at a time (a caller arriving meanwhile waits and gets its
        result). However large the experiment, reports cost about 1 / (1 + ratio) of a core at most:
        a small one is recomputed within milliseconds, a month-long one every few seconds. Its
        `computed_at` says when.
        """
        with self._computing:
            kept = self._kept.get(experiment.name)
            if kept is not None and self._timer() - kept.finished < kept.cost * self._cost_ratio:
                return kept.report
            started = self._timer()
            now = datetime.fromtimestamp(self._clock(), UTC)
            with collector_resting():
                report = build_report(experiment, self.outcomes(experiment), self.visits(experiment), now)
            finished = self._timer()
            self._kept[experiment.name] = _KeptReport(report, finished, finished - started)
            return report

    def visits(self, experiment: Experiment) -> list[VisitOutcome]:
        """Every visit with a click on the experiment's panel (recirculation is reads per such visit)."""
        return self._outcomes.visits(experiment)


class EngineOutcomes:
    """`Outcomes` from the attribute engine in this process's `Memory`.

    An experiment holds every reader it ever exposed, so its walk is read `chunk` entities per hold
    of the memory lock: readers' pages, which need the same lock, wait for one chunk at most.
    """

    def __init__(self, memory: Memory, chunk: int = OUTCOMES_CHUNK) -> None:
        self._memory, self._chunk = memory, chunk

    def _walk(self, name: str, read: Callable[[Memory, str, str], Row | None]) -> list[Row]:
        """`read(memory, group, entity)` for every entity of the group, `chunk` of them per hold of the lock.

        Each entity is read whole under the lock; one event landing between two chunks changes at most
        that reader's row, which a live report shows at its next refresh anyway. Rows are made compact
        as they are read (the engine's attribute dicts die at once): a month of readers' rows would
        otherwise pile up and set off the garbage collector's full pass, a pause for every request.
        """
        with self._memory.lock:
            entities = self._memory.engine.entity_ids(name)
        rows: list[Row] = []
        for start in range(0, len(entities), self._chunk):
            if start:
                let_waiting_threads_run()
            with self._memory.lock:
                for entity in entities[start : start + self._chunk]:
                    if (row := read(self._memory, name, entity)) is not None:
                        rows.append(row)
        return rows

    def units(self, experiment: Experiment, now: float) -> list[UnitOutcome]:
        """Every exposed unit's metrics, one per reader (an account's devices summed)."""
        units: dict[str, UnitOutcome] = {}
        for outcome in self._walk(group_name(experiment), partial(_device_outcome, now=now)):
            earlier = units.get(outcome.unit)
            units[outcome.unit] = outcome if earlier is None else _merge(earlier, outcome)
        return sorted(units.values(), key=lambda o: o.first_exposed_at)

    def visits(self, experiment: Experiment) -> list[VisitOutcome]:
        """Every visit with a click on the experiment's panel."""
        return self._walk(visit_group(experiment).name, _clicked_visit)


@contextmanager
def collector_resting() -> Iterator[None]:
    """The garbage collector paused while a report is computed (or, on the engine service, its outcomes sent).

    A report holds one outcome per exposed reader until it is built: collections meanwhile would
    move them to the oldest generation, and enough of them there sets off a full pass over
    everything the process holds (about 0.4 s with 50,000 readers' attributes, every page waiting).
    Paused, they are freed by reference counting before any collection sees them. Nothing here
    makes reference cycles; the few the pages make meanwhile wait for the report (seconds at most:
    the engine service's answer, in a cluster, is given up on after 2 s).
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _device_outcome(memory: Memory, group: str, device: str, now: float) -> UnitOutcome | None:
    """A device's outcome if it was exposed, under its unit: the account when signed in, whichever device."""
    row = memory.engine.get_attributes(group, device, 1)
    if not row["exposures"]:
        return None
    return UnitOutcome(
        unit=memory.links.user_of(device) or device,
        variant=row["variant"] or "",
        variants_seen=tuple(row["variants_seen"] or ()),
        first_exposed_at=now - float(row["since_first_exposure"] or 0.0),
        exposures=int(row["exposures"]),
        impressions=int(row["impressions"]),
        clicks=int(row["clicks"]),
        returned=bool(row["returns"]),
        reads_before=int(row["reads_before"] or 0),
    )


def _clicked_visit(memory: Memory, group: str, session: str) -> VisitOutcome | None:
    row = memory.engine.get_attributes(group, session, 1)
    return VisitOutcome(row["variant"], int(row["clicks"]), int(row["reads"])) if row["clicks"] else None


def _merge(a: UnitOutcome, b: UnitOutcome) -> UnitOutcome:
    """One account's outcome from two of its devices."""
    first = a if a.first_exposed_at <= b.first_exposed_at else b
    seen = tuple(dict.fromkeys((*a.variants_seen, *b.variants_seen)))
    return UnitOutcome(
        unit=a.unit,
        variant=first.variant,
        variants_seen=seen,
        first_exposed_at=first.first_exposed_at,
        exposures=a.exposures + b.exposures,
        impressions=a.impressions + b.impressions,
        clicks=a.clicks + b.clicks,
        returned=a.returned or b.returned,
        reads_before=first.reads_before,
    )
