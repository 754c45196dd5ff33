"""The newsroom's experiments: the definitions in `data/experiments/`, checked against the real strategies.

A variant names a recommendation strategy (`media_demo.recommend.strategies`) and its
parameters; `exploration` among them is the share of slots the serving policy fills
at random (so impressions carry propensities below 1 and the logs allow off-policy
evaluation of other strategies later). Everything else goes to the strategy, which
refuses what it does not know.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from media_demo.experiments.definitions import Experiment, Variant, load_experiments
from media_demo.personalise.segments import SEGMENTS
from media_demo.recommend.strategies import STRATEGIES, Strategy, build_strategy
from media_demo.settings import DATA_DIR

EXPERIMENTS_DIR = DATA_DIR / "experiments"
EXPLORATION = "exploration"
MAX_EXPLORATION = 0.5  # above this the panel is mostly random: an experiment, not a product


def _exploration(params: Mapping[str, Any]) -> float:
    value = params.get(EXPLORATION, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= MAX_EXPLORATION:
        raise ValueError(f"{EXPLORATION}: must be a number from 0 to {MAX_EXPLORATION}, got {value!r}")
    return float(value)


def variant_policy(variant: Variant) -> tuple[Strategy, float]:
    """The strategy a variant serves and its exploration share (ValueError naming a bad parameter)."""
    exploration = _exploration(variant.params)
    rest = {k: v for k, v in variant.params.items() if k != EXPLORATION}
    return build_strategy(variant.strategy, rest), exploration


def _checked(name: str) -> Callable[[Mapping[str, Any]], object]:
    """What `parse_experiment` calls to check a variant's parameters for strategy `name`."""

    def check(params: Mapping[str, Any]) -> object:
        _exploration(params)
        return STRATEGIES[name]({k: v for k, v in params.items() if k != EXPLORATION})

    return check


def load_catalogue(folder: Path = EXPERIMENTS_DIR) -> list[Experiment]:
    """Every experiment in `folder`, validated (ExperimentError naming the file and field otherwise)."""
    factories = {name: _checked(name) for name in STRATEGIES}
    return load_experiments(folder, factories, [segment.name for segment in SEGMENTS])
