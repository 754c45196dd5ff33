"""Which variant a reader sees: a hash of the experiment's salt and the reader's id, nothing stored.

The same reader always lands in the same place, on every process and after every
restart, so no assignment table has to be kept, shared or deleted. Two hashes give
each reader two independent points in [0, 1): readers whose first point is below
the experiment's traffic share enter, and their second point falls into one
variant's share of the weights. Changing the salt re-randomises everyone; ramping
the traffic share up or down only adds or removes readers, and nobody who stays in
changes variant.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from media_demo.experiments.definitions import Experiment, Variant

_SCALE = float(2**64)


@dataclass(frozen=True)
class Assignment:
    """A reader's place in an experiment."""

    experiment: str
    variant: str
    unit: str  # the id that was hashed: the account's user_id when signed in, else the browser's domain_userid


def unit_point(salt: str, unit: str) -> float:
    """A reader's uniform point in [0, 1) for this salt (SHA-256: stable across processes and Python versions)."""
    digest = hashlib.sha256(f"{salt}\x1f{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def pick_variant(experiment: Experiment, point: float) -> Variant:
    """The variant whose share of the cumulative weights holds `point` (in [0, 1))."""
    edge = 0.0
    for variant in experiment.variants:
        edge += variant.weight
        if point < edge:
            return variant
    return experiment.variants[-1]  # rounding: weights summing to 0.999... still place every point


def assign(experiment: Experiment, unit: str) -> Assignment | None:
    """The variant `unit` sees, or None when the traffic share leaves them out of the experiment."""
    if not unit:
        raise ValueError("unit: a reader id is needed to assign a variant")
    if unit_point(f"{experiment.hash_salt}:traffic", unit) >= experiment.traffic:
        return None
    variant = pick_variant(experiment, unit_point(f"{experiment.hash_salt}:variant", unit))
    return Assignment(experiment.name, variant.name, unit)
