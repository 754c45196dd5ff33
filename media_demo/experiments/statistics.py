"""Experiment statistics from per-variant sums: estimates, lifts, sequential intervals, Bayes, SRM, CUPED.

The unit of randomisation is the reader. Each reader contributes a numerator x (clicks, reads), a
denominator y (impressions, visits; y = 1 for a plain per-reader mean) and optionally a
pre-exposure covariate c (reads before the reader entered the experiment). Everything here works
from the sums of those values and their products per variant (`MetricSums`), which a dashboard can
keep incrementally and combine with `+`, as GrowthBook computes its statistics from SQL sums.

Methods, and where they come from:

* A variant's metric is the ratio of means sum_x / sum_y. Its standard error comes from the delta
  method on the pair of per-reader means (Deng, Knoblich & Lu 2018, "Applying the delta method in
  metric analytics"; GrowthBook's ratio metrics), so readers who see many impressions count once,
  not once per impression: clicks within one reader are correlated and an impression-level
  binomial interval would be too narrow.
* Relative lift (treatment / control - 1) gets a delta-method standard error
  Var = se_T^2 / m_C^2 + m_T^2 se_C^2 / m_C^4 (GrowthBook's relative-effect formula), and a normal
  interval. Intervals use normal quantiles rather than Student-t: every interval here is already an
  asymptotic (delta-method) one, and the two differ by under 1 % once a variant has ~100 readers.
* The always-valid interval is the asymptotic confidence sequence of Waudby-Smith, Arbour,
  Sinha, Kennedy & Ramdas ("Time-uniform central limit theory and asymptotic confidence
  sequences", 2023), the method GrowthBook uses for sequential testing. It is a boundary in the
  Robbins/Howard et al. mixture style, with one tuning parameter: the total number of readers at
  which the sequence should be narrowest (see `sequential_lift`).
* The chance to beat control is the posterior probability that the relative lift is positive under
  a Gaussian model of the lift estimate with, by default, a flat (improper, uninformative) prior,
  as GrowthBook's Bayesian engine has done since 2024; an optional Gaussian prior shrinks it.
* The sample-ratio-mismatch check is Pearson's chi-squared goodness-of-fit test of the exposure
  counts against the configured weights (scipy.stats.chisquare), flagged at p < 0.001.
* CUPED (Deng, Xu, Kohavi & Walker 2013) subtracts theta * (c_mean_variant - c_mean_all) from each
  variant's metric, with theta estimated on all variants' readers pooled. For a ratio metric it is
  applied to the metric's linearisation (x - R y) / mean_y, so it composes with the delta method.

Nothing here returns NaN. When a variant has too few readers, no denominator or no variation yet,
the result carries `reason` ("not enough data: ...") and None where a number cannot be given.
Impossible input (negative counts, alpha outside (0, 1), weights not summing to 1...) raises
ValueError naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special, stats

SRM_THRESHOLD = 0.001
"""A sample-ratio mismatch is flagged below this p-value: rare enough under a healthy split
(1 in 1,000 checks) that a flag almost always means broken assignment or tracking."""

DEFAULT_SEQUENTIAL_TUNING = 5000
"""Total readers (all arms) at which the confidence sequence is narrowest unless told otherwise;
GrowthBook's default too. Set it to the experiment's expected size."""

_SUM_FIELDS = ("sum_x", "sum_x2", "sum_y", "sum_y2", "sum_xy", "sum_c", "sum_c2", "sum_xc", "sum_yc")

# Relative tolerance for the checks that sums are consistent (a variance cannot be negative).
_TOLERANCE = 1e-9


def _check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")


@lru_cache(maxsize=64)
def _z(alpha: float) -> float:
    """The two-sided normal critical value z_{1 - alpha/2}."""
    return float(special.ndtri(1.0 - alpha / 2.0))


def _as_array(values: Iterable[float]) -> np.ndarray:
    return np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=float)


def _normal_pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _normal_cdf(z: float) -> float:
    return float(special.ndtr(z))


# --------------------------------------------------------------------------------------------------
# Sufficient statistics
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSums:
    """Per-variant sums of each reader's numerator x, denominator y and pre-exposure covariate c.

    Sums, not readers, so a dashboard can keep them incrementally and combine days, shards or
    batches with `+`. A plain per-reader mean has y = 1 for every reader (`mean_metric`,
    or `from_arrays` without `y`). Readers with y = 0 (exposed, no impressions) still count in n.
    The covariate sums stay 0 when CUPED is not used.
    """

    n: int = 0
    sum_x: float = 0.0
    sum_x2: float = 0.0
    sum_y: float = 0.0
    sum_y2: float = 0.0
    sum_xy: float = 0.0
    sum_c: float = 0.0
    sum_c2: float = 0.0
    sum_xc: float = 0.0
    sum_yc: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int | np.integer):
            raise ValueError(f"n must be a whole number of readers, got {self.n!r}")
        if self.n < 0:
            raise ValueError(f"n must not be negative, got {self.n}")
        object.__setattr__(self, "n", int(self.n))
        for name in _SUM_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int | float | np.integer | np.floating) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("sum_x2", "sum_y", "sum_y2", "sum_c2"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.n == 0:
            nonzero = [name for name in _SUM_FIELDS if getattr(self, name) != 0]
            if nonzero:
                raise ValueError(f"n is 0 but {', '.join(nonzero)} are not: sums of no readers are 0")
            return
        # Cauchy-Schwarz: n * sum(v^2) >= sum(v)^2, else the sums cannot come from real readers.
        for total, squares in (("sum_x", "sum_x2"), ("sum_y", "sum_y2"), ("sum_c", "sum_c2")):
            s, s2 = getattr(self, total), getattr(self, squares)
            if self.n * s2 < s * s * (1.0 - _TOLERANCE) - _TOLERANCE:
                raise ValueError(f"{squares} is too small for {total} over n={self.n} (a variance would be negative)")

    @classmethod
    def from_arrays(
        cls,
        x: Iterable[float],
        y: Iterable[float] | None = None,
        covariate: Iterable[float] | None = None,
    ) -> MetricSums:
        """Sums over readers, one entry per reader in each array.

        Args:
            x: each reader's numerator (e.g. clicks).
            y: each reader's denominator (e.g. impressions), not negative; None for a mean metric (y = 1).
            covariate: each reader's pre-exposure value for CUPED (e.g. reads before exposure); None: 0.
        """
        xs = _as_array(x)
        if xs.ndim != 1:
            raise ValueError("x must be one value per reader")
        ys = np.ones_like(xs) if y is None else _as_array(y)
        cs = np.zeros_like(xs) if covariate is None else _as_array(covariate)
        for name, values in (("y", ys), ("covariate", cs)):
            if values.shape != xs.shape:
                raise ValueError(f"{name} must have one value per reader, like x ({len(xs)}), got shape {values.shape}")
        for name, values in (("x", xs), ("y", ys), ("covariate", cs)):
            if not np.all(np.isfinite(values)):
                raise ValueError(f"{name} must be finite numbers")
        if np.any(ys < 0):
            raise ValueError("y (the denominator, e.g. impressions) must not be negative")
        return cls(
            n=len(xs),
            sum_x=float(xs.sum()),
            sum_x2=float(xs @ xs),
            sum_y=float(ys.sum()),
            sum_y2=float(ys @ ys),
            sum_xy=float(xs @ ys),
            sum_c=float(cs.sum()),
            sum_c2=float(cs @ cs),
            sum_xc=float(xs @ cs),
            sum_yc=float(ys @ cs),
        )

    @classmethod
    def reader(cls, x: float, y: float = 1.0, covariate: float = 0.0) -> MetricSums:
        """One reader's contribution, to add to a running total as readers are counted."""
        return cls.from_arrays([x], [y], [covariate])

    @classmethod
    def mean_metric(
        cls, n: int, sum_x: float, sum_x2: float, sum_c: float = 0.0, sum_c2: float = 0.0, sum_xc: float = 0.0
    ) -> MetricSums:
        """Sums for a plain per-reader mean (every reader's denominator is 1)."""
        return cls(n, sum_x, sum_x2, float(n), float(n), sum_x, sum_c, sum_c2, sum_xc, sum_c)

    def __add__(self, other: MetricSums) -> MetricSums:
        if not isinstance(other, MetricSums):
            return NotImplemented
        return MetricSums(self.n + other.n, *(getattr(self, k) + getattr(other, k) for k in _SUM_FIELDS))

    def _moments(self) -> _Moments:
        """Means and sample (n - 1) covariances; call only with n >= 2."""
        n = self.n
        mean_x, mean_y, mean_c = self.sum_x / n, self.sum_y / n, self.sum_c / n

        def cov(s_ab: float, s_a: float, s_b: float) -> float:
            return (s_ab - s_a * s_b / n) / (n - 1)

        return _Moments(
            n=n,
            mean_x=mean_x,
            mean_y=mean_y,
            mean_c=mean_c,
            var_x=max(cov(self.sum_x2, self.sum_x, self.sum_x), 0.0),
            var_y=max(cov(self.sum_y2, self.sum_y, self.sum_y), 0.0),
            var_c=max(cov(self.sum_c2, self.sum_c, self.sum_c), 0.0),
            cov_xy=cov(self.sum_xy, self.sum_x, self.sum_y),
            cov_xc=cov(self.sum_xc, self.sum_x, self.sum_c),
            cov_yc=cov(self.sum_yc, self.sum_y, self.sum_c),
        )


@dataclass(frozen=True)
class _Moments:
    n: int
    mean_x: float
    mean_y: float
    mean_c: float
    var_x: float
    var_y: float
    var_c: float
    cov_xy: float
    cov_xc: float
    cov_yc: float

    @property
    def ratio(self) -> float:
        return self.mean_x / self.mean_y

    @property
    def unit_variance(self) -> float:
        """Per-reader variance of the linearised ratio (x - R y) / mean_y (delta method)."""
        r = self.ratio
        v = (self.var_x - 2.0 * r * self.cov_xy + r * r * self.var_y) / (self.mean_y * self.mean_y)
        return max(v, 0.0)

    @property
    def unit_cov_c(self) -> float:
        """Per-reader covariance of the linearised ratio with the covariate."""
        return (self.cov_xc - self.ratio * self.cov_yc) / self.mean_y


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A variant's metric (e.g. CTR): value, standard error and a 1 - alpha confidence interval.

    `value`, `se`, `low` and `high` are None when the data cannot give them; `reason` then says
    why. `theta` is the CUPED coefficient used (0.0 when unadjusted).
    """

    n: int
    value: float | None
    se: float | None
    low: float | None
    high: float | None
    alpha: float
    reason: str | None = None
    theta: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether value, se and interval are all available."""
        return self.reason is None


@dataclass(frozen=True)
class Lift:
    """Treatment against control: relative (T / C - 1) or absolute (T - C) effect, with its interval.

    `sequential` intervals and p-values are always valid: they may be checked after every new
    reader without inflating false positives. `p_value` tests "no effect" (two-sided). `se` is
    the delta-method standard error either way; only the interval's width differs.
    """

    value: float | None
    se: float | None
    low: float | None
    high: float | None
    p_value: float | None
    alpha: float
    relative: bool
    sequential: bool
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the interval is available."""
        return self.reason is None

    @property
    def significant(self) -> bool:
        """Whether the interval excludes no effect (0)."""
        return self.low is not None and self.high is not None and (self.low > 0.0 or self.high < 0.0)


@dataclass(frozen=True)
class GaussianPrior:
    """A normal prior on the relative lift.

    The default (mean 0, sd 0.3) is weak: it only doubts lifts beyond about +-60 %. A tighter one,
    e.g. sd 0.05 when past experiments rarely moved CTR by more than 10 %, tempers early swings.
    """

    mean: float = 0.0
    sd: float = 0.3

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean):
            raise ValueError(f"prior mean must be finite, got {self.mean!r}")
        if not (math.isfinite(self.sd) and self.sd > 0.0):
            raise ValueError(f"prior sd must be a positive finite number, got {self.sd!r}")


@dataclass(frozen=True)
class ChanceToBeat:
    """The posterior of the relative lift: chance it is positive, its credible interval and the risks.

    `risk_treatment` is the expected relative loss from shipping the treatment if it is in fact
    worse (E[max(0, -lift)]); `risk_control` the expected gain forgone by keeping control.
    """

    chance: float | None
    posterior_mean: float | None
    posterior_sd: float | None
    low: float | None
    high: float | None
    risk_treatment: float | None
    risk_control: float | None
    alpha: float
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the posterior is available."""
        return self.reason is None


@dataclass(frozen=True)
class SampleRatioMismatch:
    """Chi-squared check of exposures against the configured split; `flagged` at p < 0.001."""

    statistic: float | None
    p_value: float | None
    flagged: bool
    expected: tuple[float, ...]
    reason: str | None = None


@dataclass(frozen=True)
class CupedResult:
    """CUPED-adjusted estimates, one per variant in the order given, and the pooled theta.

    `variance_reduction` is the pooled fraction of per-reader variance removed (about the squared
    correlation between the metric and the covariate); 0 when no adjustment was possible.
    """

    estimates: tuple[Estimate, ...]
    theta: float
    variance_reduction: float
    reason: str | None = None


# --------------------------------------------------------------------------------------------------
# Per-variant estimate
# --------------------------------------------------------------------------------------------------


def _not_enough(sums: MetricSums) -> str | None:
    """Why a variant cannot yet give a mean and a standard error, or None if it can."""
    if sums.n == 0:
        return "not enough data: no readers yet"
    if sums.sum_y == 0:
        return "not enough data: no denominator yet (e.g. no impressions)"
    if sums.n < 2:
        return "not enough data: one reader gives no variance"
    return None


def _interval(value: float, se: float, n: int, alpha: float, theta: float = 0.0) -> Estimate:
    if se <= 0.0:
        return Estimate(n, value, None, None, None, alpha, "not enough data: no variation between readers yet", theta)
    half = _z(alpha) * se
    return Estimate(n, value, se, value - half, value + half, alpha, None, theta)


def estimate(sums: MetricSums, alpha: float = 0.05) -> Estimate:
    """A variant's ratio metric sum_x / sum_y with its delta-method standard error and normal interval.

    For a mean metric (y = 1) this is the sample mean with s / sqrt(n). For CTR it accounts for
    clicks being correlated within a reader.
    """
    _check_alpha(alpha)
    reason = _not_enough(sums)
    if reason is not None:
        value = sums.sum_x / sums.sum_y if sums.sum_y > 0 else None
        return Estimate(sums.n, value, None, None, None, alpha, reason)
    m = sums._moments()
    return _interval(m.ratio, math.sqrt(m.unit_variance / m.n), m.n, alpha)


def _as_estimate(arm: MetricSums | Estimate, name: str) -> Estimate:
    if isinstance(arm, Estimate):
        return arm
    if isinstance(arm, MetricSums):
        return estimate(arm)
    raise ValueError(f"{name} must be MetricSums or an Estimate, got {type(arm).__name__}")


# --------------------------------------------------------------------------------------------------
# Lifts
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Effect:
    value: float
    variance: float
    n: int


def _effect(control: Estimate, treatment: Estimate, relative: bool) -> _Effect | str:
    """The effect and its delta-method variance, or why it cannot be computed."""
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm.value is None or arm.se is None:
            return f"{arm.reason or 'not enough data'} (in {name})"
    assert control.value is not None and control.se is not None
    assert treatment.value is not None and treatment.se is not None
    mc, sc, mt, st = control.value, control.se, treatment.value, treatment.se
    n = control.n + treatment.n
    if relative and mc == 0.0:
        return "not enough data: the control's mean is 0, so a relative lift is undefined"
    if relative:
        value, variance = mt / mc - 1.0, st * st / (mc * mc) + mt * mt * sc * sc / mc**4
    else:
        value, variance = mt - mc, st * st + sc * sc
    if not variance > 0.0:
        return "not enough data: no variation between readers yet"
    return _Effect(value, variance, n)


def _fixed(control: Estimate, treatment: Estimate, alpha: float, relative: bool) -> Lift:
    _check_alpha(alpha)
    effect = _effect(control, treatment, relative)
    if isinstance(effect, str):
        return Lift(None, None, None, None, None, alpha, relative, False, effect)
    se = math.sqrt(effect.variance)
    half = _z(alpha) * se
    p = 2.0 * _normal_cdf(-abs(effect.value) / se)
    return Lift(effect.value, se, effect.value - half, effect.value + half, p, alpha, relative, False)


def relative_lift(control: MetricSums | Estimate, treatment: MetricSums | Estimate, alpha: float = 0.05) -> Lift:
    """Relative lift treatment / control - 1 with a fixed-horizon delta-method interval and p-value.

    Valid when looked at once, at a sample size fixed in advance; for a dashboard checked as data
    arrives use `sequential_lift`. Pass `Estimate`s (e.g. from `cuped`) to use adjusted means.
    """
    return _fixed(_as_estimate(control, "control"), _as_estimate(treatment, "treatment"), alpha, True)


def absolute_lift(control: MetricSums | Estimate, treatment: MetricSums | Estimate, alpha: float = 0.05) -> Lift:
    """Absolute difference treatment - control (e.g. CTR points) with a fixed-horizon interval and p-value."""
    return _fixed(_as_estimate(control, "control"), _as_estimate(treatment, "treatment"), alpha, False)


def sequential_rho_squared(alpha: float, tuning: float) -> float:
    """The confidence sequence's mixing parameter rho^2 that makes it narrowest at `tuning` readers.

    Waudby-Smith et al. give rho^2 = (-2 ln alpha + ln(-2 ln alpha + 1)) / t* as a close closed-form
    approximation of the width-minimising value at time t*.
    """
    _check_alpha(alpha)
    if not (isinstance(tuning, int | float) and math.isfinite(tuning) and tuning > 0):
        raise ValueError(f"tuning must be a positive number of readers, got {tuning!r}")
    log_term = -2.0 * math.log(alpha)
    return (log_term + math.log(log_term + 1.0)) / tuning


def sequential_half_width(unit_sd: float, n: int, alpha: float, rho_squared: float) -> float:
    """Half-width of the asymptotic confidence sequence at n readers for per-reader sd `unit_sd`.

    sd * sqrt(2 (n rho^2 + 1) / (n^2 rho^2) * ln(sqrt(n rho^2 + 1) / alpha)): a normal-mixture
    boundary that holds for all n at once, asymptotically.
    """
    a = n * rho_squared + 1.0
    return unit_sd * math.sqrt(2.0 * a / (n * n * rho_squared) * math.log(math.sqrt(a) / alpha))


def sequential_lift(
    control: MetricSums | Estimate,
    treatment: MetricSums | Estimate,
    alpha: float = 0.05,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    relative: bool = True,
) -> Lift:
    """Lift with an always-valid (anytime) interval and p-value, safe to check every day.

    The probability that the interval ever misses the true lift, over every look however many, is
    at most alpha (asymptotically), so peeking and stopping early do not inflate false positives.
    It treats the experiment as a stream of n = n_C + n_T readers whose per-reader standard
    deviation is s = se * sqrt(n), with se the fixed-horizon delta-method standard error.

    Args:
        control: the control's sums or estimate.
        treatment: the treatment's sums or estimate.
        alpha: 1 - coverage, uniformly over time.
        tuning: the total readers (both arms) at which the interval is narrowest, ideally the
            number expected when the decision is made. Any value keeps the guarantee, only the
            width changes: at alpha = 0.05 the interval is 1.55x the fixed-horizon one at the
            tuning size, 1.65x at ten times more readers and 2x at ten times fewer. GrowthBook's
            default, 5,000, suits a few days of a small site.
        relative: relative lift (default) or absolute difference.

    The p-value is the smallest level at which the sequence, with rho fixed by `alpha` and
    `tuning`, excludes 0: p <= alpha exactly when the interval excludes 0, and it stays valid
    under peeking.
    """
    rho2 = sequential_rho_squared(alpha, tuning)
    effect = _effect(_as_estimate(control, "control"), _as_estimate(treatment, "treatment"), relative)
    if isinstance(effect, str):
        return Lift(None, None, None, None, None, alpha, relative, True, effect)
    n = effect.n
    unit_var = effect.variance * n
    half = sequential_half_width(math.sqrt(unit_var), n, alpha, rho2)
    a = n * rho2 + 1.0
    exponent = effect.value**2 * n * n * rho2 / (2.0 * unit_var * a)
    p = min(1.0, math.sqrt(a) * math.exp(-exponent))
    se = math.sqrt(effect.variance)
    return Lift(effect.value, se, effect.value - half, effect.value + half, p, alpha, relative, True)


# --------------------------------------------------------------------------------------------------
# Bayesian chance to beat control
# --------------------------------------------------------------------------------------------------


def chance_to_beat_control(
    control: MetricSums | Estimate,
    treatment: MetricSums | Estimate,
    prior: GaussianPrior | None = None,
    alpha: float = 0.05,
) -> ChanceToBeat:
    """Posterior probability that the treatment's relative lift is positive, with risks and interval.

    The relative-lift estimate is treated as normal around the true lift with its delta-method
    variance (the Gaussian effect model GrowthBook's Bayesian engine uses). With `prior=None` the
    prior is flat (improper, uninformative): the posterior is N(estimate, se^2), the chance equals
    1 - (one-sided p-value) and the credible interval matches `relative_lift`'s. A `GaussianPrior`
    on the lift is combined conjugately (precision-weighted), shrinking noisy early lifts to its mean.

    Args:
        control: the control's sums or estimate.
        treatment: the treatment's sums or estimate.
        prior: a normal prior on the relative lift, or None for a flat prior.
        alpha: 1 - credibility of the interval.
    """
    _check_alpha(alpha)
    effect = _effect(_as_estimate(control, "control"), _as_estimate(treatment, "treatment"), relative=True)
    if isinstance(effect, str):
        return ChanceToBeat(None, None, None, None, None, None, None, alpha, effect)
    if prior is None:
        mean, sd = effect.value, math.sqrt(effect.variance)
    else:
        precision = 1.0 / effect.variance + 1.0 / prior.sd**2
        mean = (effect.value / effect.variance + prior.mean / prior.sd**2) / precision
        sd = 1.0 / math.sqrt(precision)
    z = mean / sd
    chance = _normal_cdf(z)
    density = _normal_pdf(z)
    risk_treatment = sd * density - mean * _normal_cdf(-z)  # E[max(0, -lift)]
    risk_control = sd * density + mean * chance  # E[max(0, lift)]
    half = _z(alpha) * sd
    return ChanceToBeat(chance, mean, sd, mean - half, mean + half, risk_treatment, risk_control, alpha)


# --------------------------------------------------------------------------------------------------
# Sample ratio mismatch
# --------------------------------------------------------------------------------------------------


def sample_ratio_mismatch(
    observed: Sequence[int], weights: Sequence[float], threshold: float = SRM_THRESHOLD
) -> SampleRatioMismatch:
    """Pearson chi-squared test that exposures per variant match the configured split.

    A mismatch means assignment or tracking is broken (a variant crashes, bots land in one arm,
    events are lost), and then no lift can be trusted. Flagged below `threshold` (0.001), so a
    healthy experiment is flagged about once in 1,000 checks. The chi-squared approximation needs
    expected counts of about 5 or more per variant; below that the p-value is rough.

    Args:
        observed: readers exposed per variant (whole numbers, not negative).
        weights: the configured share of each variant, positive, summing to 1.
        threshold: the p-value below which to flag.
    """
    if not (0.0 < threshold < 1.0):
        raise ValueError(f"threshold must be strictly between 0 and 1, got {threshold!r}")
    if len(observed) != len(weights):
        raise ValueError(f"observed and weights must have one entry per variant ({len(observed)} != {len(weights)})")
    if len(observed) < 2:
        raise ValueError("observed must have at least two variants")
    counts: list[int] = []
    for count in observed:
        if isinstance(count, bool) or not isinstance(count, int | np.integer | float | np.floating):
            raise ValueError(f"observed must hold whole numbers, got {count!r}")
        if not (math.isfinite(count) and count == int(count)):
            raise ValueError(f"observed must hold whole numbers, got {count!r}")
        if count < 0:
            raise ValueError(f"observed must not be negative, got {count!r}")
        counts.append(int(count))
    shares: list[float] = []
    for weight in weights:
        if not (isinstance(weight, int | float | np.integer | np.floating) and math.isfinite(weight) and weight > 0):
            raise ValueError(f"weights must be positive numbers (leave out a variant with no traffic), got {weight!r}")
        shares.append(float(weight))
    if abs(sum(shares) - 1.0) > 1e-6:
        raise ValueError(f"weights must sum to 1, got {sum(shares)!r}")
    total = sum(counts)
    expected = tuple(total * share / sum(shares) for share in shares)
    if total == 0:
        return SampleRatioMismatch(None, None, False, expected, "not enough data: no exposures yet")
    statistic, p_value = stats.chisquare(counts, f_exp=expected)
    return SampleRatioMismatch(float(statistic), float(p_value), bool(p_value < threshold), expected)


# --------------------------------------------------------------------------------------------------
# CUPED
# --------------------------------------------------------------------------------------------------


def cuped(variants: Sequence[MetricSums], alpha: float = 0.05) -> CupedResult:
    """Variance reduction with each reader's pre-exposure covariate (CUPED), for all variants at once.

    Each variant's metric becomes R_v - theta * (c_mean_v - c_mean_all). Because the covariate is
    measured before exposure, randomisation makes c_mean_v estimate the same value in every
    variant, so the adjustment removes noise without bias; the per-reader variance becomes
    Var(u) - 2 theta Cov(u, c) + theta^2 Var(c), where u is the metric's linearisation. theta is the
    pooled within-variant regression slope of u on c (the common-slope ANCOVA coefficient), the
    variance-minimising choice shared by every variant. Pass the returned estimates to
    `relative_lift`, `absolute_lift`, `sequential_lift` or `chance_to_beat_control`.

    Ignored, as is usual: the estimation noise in theta and in the pooled covariate mean (its
    effect on a relative lift scales with the lift itself and vanishes under no effect).

    Args:
        variants: every variant's sums (control first, by convention), covariate sums included.
        alpha: 1 - coverage of each estimate's interval.
    """
    _check_alpha(alpha)
    if len(variants) == 0:
        raise ValueError("variants must hold at least one variant's sums")
    for i, sums in enumerate(variants):
        if not isinstance(sums, MetricSums):
            raise ValueError(f"variants[{i}] must be MetricSums, got {type(sums).__name__}")
    usable = [(i, s._moments()) for i, s in enumerate(variants) if _not_enough(s) is None]
    cross = sum((m.n - 1) * m.unit_cov_c for _, m in usable)
    spread = sum((m.n - 1) * m.var_c for _, m in usable)
    total_n = sum(s.n for s in variants)
    if not usable or spread <= 0.0:
        reason = "no adjustment: the covariate does not vary" if usable else "not enough data: no variant has readers"
        return CupedResult(tuple(estimate(s, alpha) for s in variants), 0.0, 0.0, reason)
    theta = cross / spread
    mean_c_all = sum(s.sum_c for s in variants) / total_n
    before = sum((m.n - 1) * m.unit_variance for _, m in usable)
    estimates: list[Estimate] = []
    after = 0.0
    for sums in variants:
        if _not_enough(sums) is not None:
            estimates.append(estimate(sums, alpha))
            continue
        m = sums._moments()
        unit_var = max(m.unit_variance - 2.0 * theta * m.unit_cov_c + theta * theta * m.var_c, 0.0)
        after += (m.n - 1) * unit_var
        value = m.ratio - theta * (m.mean_c - mean_c_all)
        estimates.append(_interval(value, math.sqrt(unit_var / m.n), m.n, alpha, theta))
    reduction = 1.0 - after / before if before > 0 else 0.0
    return CupedResult(tuple(estimates), theta, reduction)
