"""Experiments at run time: who is in which variant, what the panel shows them, and what happened.

`decide` is called by the reader views for every personalised panel: the running
experiment of the slot (at most one), whether the reader belongs to its audience
(or was already exposed: a reader who has seen a variant stays in), and the
variant by hash, from the reader's attributes (`EngineReads`). The report is built here
from each exposed unit's metrics, which an `Outcomes` source reads from wherever the
attribute engine is: `EngineOutcomes` in the process that holds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from media_demo.experiments.assignment import Assignment, assign
from media_demo.experiments.attributes import VISITS_SUFFIX, group_name, visit_group
from media_demo.experiments.catalogue import variant_policy
from media_demo.experiments.definitions import Experiment
from media_demo.experiments.outcomes import UnitOutcome, VisitOutcome
from media_demo.experiments.report import ExperimentReport, build_report
from media_demo.recommend.strategies import Strategy
from media_demo.services.engine_reads import EngineReads
from media_demo.services.memory import Memory

RETURN_WINDOW_SECONDS = 7 * 86400.0
USER_ID, DOMAIN_USERID = "user_id", "domain_userid"


@dataclass(frozen=True)
class Decision:
    """What decides one reader's panel: the experiment, their variant, and its serving policy."""

    experiment: Experiment
    assignment: Assignment
    strategy: Strategy
    exploration: float
    unit_kind: str  # which id was hashed, as the exposure event records it: `user_id` or `domain_userid`


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
    ) -> None:
        self.all = list(experiments)
        self._by_name = {e.name: e for e in self.all}
        self._reads, self._outcomes = reads, outcomes
        self._clock = clock

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
        """The experiment's report now: per-variant numbers, lifts, SRM, verdict and series (blocking)."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        return build_report(experiment, self.outcomes(experiment), self.visits(experiment), now)

    def visits(self, experiment: Experiment) -> list[VisitOutcome]:
        """Every visit with a click on the experiment's panel (recirculation is reads per such visit)."""
        return self._outcomes.visits(experiment)


class EngineOutcomes:
    """`Outcomes` from the attribute engine in this process's `Memory`."""

    def __init__(self, memory: Memory) -> None:
        self._memory = memory

    def units(self, experiment: Experiment, now: float) -> list[UnitOutcome]:
        """Every exposed unit's metrics, one per reader (an account's devices summed)."""
        name = group_name(experiment)
        with self._memory.lock:  # a signed-in reader's unit is their account, whichever device they used
            engine, links = self._memory.engine, self._memory.links
            rows = [
                (links.user_of(device) or device, engine.get_attributes(name, device, 1))
                for device in engine.entity_ids(name)
            ]
        units: dict[str, UnitOutcome] = {}
        for unit, row in rows:
            if not row["exposures"]:
                continue
            seen = tuple(row["variants_seen"] or ())
            outcome = UnitOutcome(
                unit=unit,
                variant=row["variant"] or "",
                variants_seen=seen,
                first_exposed_at=now - float(row["since_first_exposure"] or 0.0),
                exposures=int(row["exposures"]),
                impressions=int(row["impressions"]),
                clicks=int(row["clicks"]),
                returned=bool(row["returns"]),
                reads_before=int(row["reads_before"] or 0),
            )
            earlier = units.get(unit)
            units[unit] = outcome if earlier is None else _merge(earlier, outcome)
        return sorted(units.values(), key=lambda o: o.first_exposed_at)

    def visits(self, experiment: Experiment) -> list[VisitOutcome]:
        """Every visit with a click on the experiment's panel."""
        name = visit_group(experiment).name
        with self._memory.lock:
            engine = self._memory.engine
            rows = [engine.get_attributes(name, session, 1) for session in engine.entity_ids(name)]
        return [VisitOutcome(row["variant"], int(row["clicks"]), int(row["reads"])) for row in rows if row["clicks"]]


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
