"""Off-policy estimates of a candidate strategy's clicks per panel, from panels another policy showed.

The logs hold, for each panel a logging policy showed (`serve` with exploration), the article
in each slot, its propensity (the marginal probability that the logging policy put that
article in that slot for that reader) and whether it was clicked. The candidate is
deterministic: for the same reader and inputs it would have shown `target[k]` in slot k.

Estimator: **item-position IPS**. Under the position-based click model (whether slot k is
clicked depends on the reader, the article in slot k and k, not on the other slots) a
panel's expected clicks are the sum over slots of the expected clicks of its (article, slot)
pairs, so each slot can be importance-weighted on its own:

    IPS   = (1/N) Σ_i Σ_k 1[logged_ik = target_ik] / p_ik · click_ik
    SNIPS = Σ_k  Σ_i w_ik click_ik / Σ_i w_ik,   w_ik = 1[logged_ik = target_ik] / p_ik

IPS is unbiased when every target article has p_ik > 0 (the logging policy explores every
eligible article at every slot); SNIPS trades a small bias for less variance. A whole-slate
estimator would need the candidate's exact three-article panel to have been shown, which
uniform exploration almost never does. The intervals are normal ones: from the variance of
the per-panel terms for IPS, by the delta method for SNIPS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats


@dataclass(frozen=True)
class LoggedPanel:
    """One panel the logging policy showed, and what the candidate would have shown in its place."""

    logged: tuple[str, ...]  # the article in each slot, slot 1 first
    propensities: tuple[float, ...]  # the logging policy's propensity of each
    clicks: tuple[bool, ...]
    target: tuple[str, ...]  # the candidate's article for each slot (it may have fewer slots)

    def __post_init__(self) -> None:
        if not len(self.logged) == len(self.propensities) == len(self.clicks):
            raise ValueError("logged, propensities and clicks: one of each per slot")
        if any(not 0.0 < p <= 1.0 for p in self.propensities):
            raise ValueError(f"propensities: each must be in (0, 1], got {self.propensities}")


@dataclass(frozen=True)
class Estimate:
    """A value with its confidence interval (`level`, two-sided)."""

    value: float
    low: float
    high: float
    level: float = 0.95

    def contains(self, value: float) -> bool:
        """Whether `value` lies within the interval."""
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"


def _weights(panels: Sequence[LoggedPanel], slots: int) -> tuple[np.ndarray, np.ndarray]:
    """(N x slots) importance weights and clicks; 0 where the slot is missing or the articles differ."""
    weights = np.zeros((len(panels), slots))
    clicks = np.zeros((len(panels), slots))
    for i, panel in enumerate(panels):
        for k in range(min(slots, len(panel.logged), len(panel.target))):
            if panel.logged[k] == panel.target[k]:
                weights[i, k] = 1.0 / panel.propensities[k]
                clicks[i, k] = float(panel.clicks[k])
    return weights, clicks


def _normal(value: float, se: float, level: float) -> Estimate:
    z = float(scipy_stats.norm.ppf(0.5 + level / 2))
    return Estimate(value, value - z * se, value + z * se, level)


def ips(panels: Sequence[LoggedPanel], slots: int = 3, level: float = 0.95) -> Estimate:
    """The candidate's clicks per panel by item-position IPS, with a normal interval."""
    if not panels:
        raise ValueError("panels: at least one logged panel is needed")
    weights, clicks = _weights(panels, slots)
    terms = (weights * clicks).sum(axis=1)
    se = float(terms.std(ddof=1) / np.sqrt(len(terms))) if len(terms) > 1 else float("inf")
    return _normal(float(terms.mean()), se, level)


def snips(panels: Sequence[LoggedPanel], slots: int = 3, level: float = 0.95) -> Estimate:
    """The candidate's clicks per panel by self-normalised IPS (per slot), with a delta-method interval."""
    if not panels:
        raise ValueError("panels: at least one logged panel is needed")
    weights, clicks = _weights(panels, slots)
    mean_weight = weights.mean(axis=0)
    safe = np.where(mean_weight > 0, mean_weight, 1.0)
    per_slot = np.where(mean_weight > 0, (weights * clicks).mean(axis=0) / safe, 0.0)
    influence = (weights * (clicks - per_slot) / safe).sum(axis=1)  # each panel's first-order share of the error
    n = len(panels)
    se = float(influence.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    return _normal(float(per_slot.sum()), se, level)
