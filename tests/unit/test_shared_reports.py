"""An experiment's report is shared: reused until ten times its cost has passed, one computation at a time.

The outcomes source here is a stand-in for the engine whose every walk "takes" a chosen number of
seconds on a fake timer, so the reuse rule is checked exactly, without sleeping.
"""

from __future__ import annotations

import gc
import threading
from typing import cast

import pytest

from media_demo.experiments.definitions import Experiment
from media_demo.experiments.outcomes import UnitOutcome, VisitOutcome
from media_demo.services.engine_reads import EngineReads
from media_demo.services.experiments import REPORT_COST_RATIO, Experiments
from tests.unit.test_experiment_report import experiment, outcome


class Timer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlowOutcomes:
    """Each walk advances the timer by `cost` seconds and can be held at a gate."""

    def __init__(self, timer: Timer, cost: float) -> None:
        self.timer, self.cost, self.walks = timer, cost, 0
        self.collector_on: list[bool] = []
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()
        self.walking = threading.Event()

    def units(self, experiment: Experiment, now: float) -> list[UnitOutcome]:
        self.walks += 1
        self.collector_on.append(gc.isenabled())
        if self.fail:
            raise RuntimeError("the engine went away")
        self.walking.set()
        self.gate.wait(5.0)
        self.timer.now += self.cost
        return [outcome(f"reader-{self.walks}", "control", 1, 3, 1)]

    def visits(self, experiment: Experiment) -> list[VisitOutcome]:
        return []


def shared(cost: float) -> tuple[Experiments, SlowOutcomes, Timer]:
    timer = Timer()
    outcomes = SlowOutcomes(timer, cost)
    return Experiments([experiment()], cast(EngineReads, None), outcomes, timer=timer), outcomes, timer


def test_a_report_is_reused_until_ten_times_its_cost_has_passed() -> None:
    experiments, outcomes, timer = shared(cost=0.5)
    first = experiments.report(experiments.all[0])
    assert outcomes.walks == 1
    timer.now += 0.5 * REPORT_COST_RATIO - 0.01
    assert experiments.report(experiments.all[0]) is first and outcomes.walks == 1
    timer.now += 0.02
    assert experiments.report(experiments.all[0]) is not first and outcomes.walks == 2


def test_a_cheap_report_is_computed_afresh_as_soon_as_time_moves() -> None:
    experiments, outcomes, timer = shared(cost=0.001)
    experiments.report(experiments.all[0])
    timer.now += 0.011
    experiments.report(experiments.all[0])
    assert outcomes.walks == 2


def test_callers_arriving_during_a_computation_wait_for_it_and_share_it() -> None:
    experiments, outcomes, _timer = shared(cost=0.5)
    outcomes.gate.clear()
    got = []
    callers = [threading.Thread(target=lambda: got.append(experiments.report(experiments.all[0]))) for _ in range(3)]
    callers[0].start()
    assert outcomes.walking.wait(5.0)
    for caller in callers[1:]:
        caller.start()
    outcomes.gate.set()
    for caller in callers:
        caller.join(5.0)
    assert outcomes.walks == 1 and len(got) == 3 and got[0] is got[1] is got[2]


def test_the_garbage_collector_rests_while_a_report_is_computed_and_resumes_after() -> None:
    """A report's one-object-per-reader outcomes must not reach the oldest generation (a full pass there
    pauses every page): no collection runs while they live, and the collector is back on after, even
    when the computation fails."""
    experiments, outcomes, timer = shared(cost=0.5)
    assert gc.isenabled()
    experiments.report(experiments.all[0])
    assert outcomes.collector_on == [False] and gc.isenabled()
    outcomes.fail = True
    timer.now += 100.0
    with pytest.raises(RuntimeError):
        experiments.report(experiments.all[0])
    assert outcomes.collector_on == [False, False] and gc.isenabled()
