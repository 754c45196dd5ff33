"""The experiment statistics: worked examples with known answers, then seeded simulations.

Worked examples check each formula against a hand computation or an independent one (scipy's
tests, a least-squares fit, a bootstrap, numerical integration). Simulations check what the
formulas are for: 95 % intervals cover the true effect 95 % of the time, the sequential interval
survives daily peeking where the fixed one does not, SRM flags a broken split and rarely a fair
one, CUPED narrows intervals without bias, and the chance to beat control is calibrated.
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from media_demo.experiments.statistics import (
    ChanceToBeat,
    CupedResult,
    Estimate,
    GaussianPrior,
    Lift,
    MetricSums,
    SampleRatioMismatch,
    absolute_lift,
    chance_to_beat_control,
    cuped,
    estimate,
    relative_lift,
    sample_ratio_mismatch,
    sequential_half_width,
    sequential_lift,
    sequential_rho_squared,
)

Z95 = 1.959963984540054
SIMULATIONS = 2000
# 95 % coverage over 2,000 experiments has a standard error of 0.49 points: 93-97 is +-4 of them.
COVERAGE_RANGE = (0.93, 0.97)


# --------------------------------------------------------------------------------------------------
# Helpers: per-experiment sums from simulated readers (rows are experiments, columns readers)
# --------------------------------------------------------------------------------------------------


def batch_sums(x: np.ndarray, y: np.ndarray | None = None, c: np.ndarray | None = None) -> list[MetricSums]:
    """One MetricSums per row, from the readers in that row (vectorised, unlike from_arrays)."""
    x = x.astype(float)
    y = np.ones_like(x) if y is None else y.astype(float)
    c = np.zeros_like(x) if c is None else c.astype(float)
    columns = [
        x.sum(1),
        (x * x).sum(1),
        y.sum(1),
        (y * y).sum(1),
        (x * y).sum(1),
        c.sum(1),
        (c * c).sum(1),
        (x * c).sum(1),
        (y * c).sum(1),
    ]
    return [MetricSums(x.shape[1], *(float(col[i]) for col in columns)) for i in range(x.shape[0])]


def ctr_readers(
    rng: np.random.Generator, shape: tuple[int, ...], multiplier: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Readers with Poisson impressions, their own click propensity (Beta), binomial clicks.

    Returns (clicks, impressions, propensity). The true CTR is E[clicks] / E[impressions] =
    E[propensity] * multiplier = 0.1 * multiplier, since propensity and impressions are independent.
    Propensities vary between readers, so clicks are correlated within a reader.
    """
    impressions = rng.poisson(4.0, shape) + 1
    propensity = rng.beta(1.0, 9.0, shape)
    clicks = rng.binomial(impressions, np.minimum(propensity * multiplier, 1.0))
    return clicks, impressions, propensity


def covers(result: Lift | Estimate, truth: float) -> bool:
    assert result.low is not None and result.high is not None
    return result.low <= truth <= result.high


def no_nans(result: object) -> None:
    for f in fields(result):  # type: ignore[arg-type]
        value = getattr(result, f.name)
        if isinstance(value, float):
            assert math.isfinite(value), f"{f.name} is {value}"


# --------------------------------------------------------------------------------------------------
# MetricSums
# --------------------------------------------------------------------------------------------------


def test_sums_from_arrays_add_up_like_the_concatenated_readers() -> None:
    rng = np.random.default_rng(0)
    x, y, c = rng.poisson(2, 50), rng.poisson(5, 50), rng.poisson(3, 50)
    whole = MetricSums.from_arrays(x, y, c)
    halves = MetricSums.from_arrays(x[:20], y[:20], c[:20]) + MetricSums.from_arrays(x[20:], y[20:], c[20:])
    one_by_one = MetricSums()
    for xi, yi, ci in zip(x, y, c, strict=True):
        one_by_one = one_by_one + MetricSums.reader(float(xi), float(yi), float(ci))
    for other in (halves, one_by_one):
        assert other.n == whole.n == 50
        for f in fields(MetricSums):
            assert getattr(other, f.name) == pytest.approx(getattr(whole, f.name))
    assert whole.sum_xy == float(x @ y) and whole.sum_yc == float(y @ c)


def test_mean_metric_sums_have_a_denominator_of_one_per_reader() -> None:
    x, c = [3.0, 0.0, 5.0, 1.0], [2.0, 1.0, 4.0, 0.0]
    by_hand = MetricSums.mean_metric(4, sum(x), sum(v * v for v in x), sum(c), sum(v * v for v in c), 6.0 + 0 + 20 + 0)
    assert by_hand == MetricSums.from_arrays(x, covariate=c)


# --------------------------------------------------------------------------------------------------
# Worked examples: per-variant estimate
# --------------------------------------------------------------------------------------------------


def test_mean_metric_estimate_is_the_sample_mean_with_s_over_root_n() -> None:
    # x = 1, 2, 3, 4: mean 2.5, sample variance 5/3, se = sqrt(5/12) = 0.6454972.
    result = estimate(MetricSums.from_arrays([1, 2, 3, 4]))
    assert result.value == pytest.approx(2.5)
    assert result.se == pytest.approx(0.6454972244)
    assert result.low == pytest.approx(2.5 - Z95 * 0.6454972244)
    assert result.high == pytest.approx(2.5 + Z95 * 0.6454972244)
    assert result.ok and result.n == 4
    sample = np.random.default_rng(1).exponential(3.0, 500)
    assert estimate(MetricSums.from_arrays(sample)).se == pytest.approx(stats.sem(sample))


def test_ratio_estimate_by_hand_on_three_readers() -> None:
    # Readers (clicks, impressions) = (1, 2), (0, 3), (2, 4): CTR = 3 / 9 = 1/3. Linearised
    # u = (x - y/3) / 3 = 1/9, -1/3, 2/9 with sample variance 7/81, so se = sqrt(7/81 / 3) = sqrt(7/243).
    result = estimate(MetricSums.from_arrays([1, 0, 2], [2, 3, 4]))
    assert result.value == pytest.approx(1 / 3)
    assert result.se == pytest.approx(math.sqrt(7 / 243))


def test_ctr_with_one_impression_per_reader_is_the_wald_interval() -> None:
    # 30 clicks from 100 readers who saw one story each: a binomial proportion, se = sqrt(p(1-p)/(n-1)).
    clicks = [1] * 30 + [0] * 70
    result = estimate(MetricSums.from_arrays(clicks, [1] * 100), alpha=0.10)
    se = math.sqrt(0.3 * 0.7 / 99)
    assert result.value == pytest.approx(0.3)
    assert result.se == pytest.approx(se)
    assert result.high == pytest.approx(0.3 + stats.norm.ppf(0.95) * se)


def test_ratio_standard_error_matches_an_independent_delta_method_and_the_bootstrap() -> None:
    rng = np.random.default_rng(2)
    clicks, impressions, _ = ctr_readers(rng, (3000,))
    result = estimate(MetricSums.from_arrays(clicks, impressions))
    # Independent delta method: gradient of mean_x / mean_y times the covariance of the two means.
    mx, my = clicks.mean(), impressions.mean()
    gradient = np.array([1 / my, -mx / my**2])
    covariance = np.cov(np.vstack([clicks, impressions])) / len(clicks)
    assert result.se == pytest.approx(math.sqrt(gradient @ covariance @ gradient), rel=1e-9)
    # The bootstrap (resampling readers) agrees to within its own noise.
    draws = rng.integers(0, len(clicks), (2000, len(clicks)))
    boot = clicks[draws].sum(1) / impressions[draws].sum(1)
    assert result.se == pytest.approx(boot.std(ddof=1), rel=0.06)
    # ...while treating impressions as independent trials understates it.
    assert result.se is not None and result.se > 1.1 * math.sqrt(mx / my * (1 - mx / my) / impressions.sum())


# --------------------------------------------------------------------------------------------------
# Worked examples: lifts
# --------------------------------------------------------------------------------------------------


def _arm(value: float, se: float, n: int = 10_000) -> Estimate:
    return Estimate(n=n, value=value, se=se, low=None, high=None, alpha=0.05)


def test_relative_lift_by_hand() -> None:
    # Control 0.100 (se 0.004), treatment 0.110 (se 0.005): lift 10 %,
    # variance 0.005^2 / 0.1^2 + 0.11^2 * 0.004^2 / 0.1^4 = 0.0025 + 0.001936 = 0.004436.
    result = relative_lift(_arm(0.100, 0.004), _arm(0.110, 0.005))
    se = math.sqrt(0.004436)
    assert result.value == pytest.approx(0.1)
    assert result.se == pytest.approx(se)
    assert (result.low, result.high) == pytest.approx((0.1 - Z95 * se, 0.1 + Z95 * se))
    assert result.p_value == pytest.approx(0.133245, abs=2e-6)  # 2 * (1 - Phi(0.1 / 0.0666033))
    assert result.relative and not result.sequential and not result.significant


def test_relative_lift_agrees_with_fiellers_interval_on_a_large_experiment() -> None:
    rng = np.random.default_rng(3)
    control = MetricSums.from_arrays(rng.poisson(3.0, 20_000))
    treatment = MetricSums.from_arrays(rng.poisson(3.15, 20_000))
    result = relative_lift(control, treatment)
    c, t = estimate(control), estimate(treatment)
    assert c.value is not None and c.se is not None and t.value is not None and t.se is not None
    # Fieller: the ratio q with (t - q c)^2 = z^2 (se_t^2 + q^2 se_c^2), solved for q, minus 1.
    a = c.value**2 - Z95**2 * c.se**2
    b = -2 * c.value * t.value
    cc = t.value**2 - Z95**2 * t.se**2
    roots = sorted((-b + sign * math.sqrt(b * b - 4 * a * cc)) / (2 * a) - 1 for sign in (-1, 1))
    assert (result.low, result.high) == pytest.approx(roots, abs=2e-4)
    assert result.significant and result.low is not None and result.low > 0


def test_absolute_lift_is_welchs_statistic_for_a_mean_metric() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.exponential(2.0, 300), rng.exponential(2.3, 200)
    result = absolute_lift(MetricSums.from_arrays(a), MetricSums.from_arrays(b))
    welch = stats.ttest_ind(b, a, equal_var=False)
    assert result.value == pytest.approx(b.mean() - a.mean())
    assert result.value is not None and result.se is not None
    assert result.value / result.se == pytest.approx(welch.statistic)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(welch.statistic)))


def test_sequential_boundary_by_hand() -> None:
    # alpha 0.05, tuning 5,000: rho^2 = (5.991465 + ln 6.991465) / 5000 = 7.936157 / 5000.
    rho2 = sequential_rho_squared(0.05, 5000)
    assert rho2 == pytest.approx(7.936157 / 5000, rel=1e-6)
    # At n = 5,000: half-width / sd = sqrt(2 * 8.936157 / (5000^2 * rho2) * ln(sqrt(8.936157) / 0.05)).
    # = sqrt(17.872314 / 39680.785 * ln 59.78682) = sqrt(0.00045040 * 4.090789) = 0.0429244.
    assert sequential_half_width(1.0, 5000, 0.05, rho2) == pytest.approx(0.0429244, rel=1e-5)
    # That is 1.55x the fixed-horizon 1.96 / sqrt(5000) = 0.0277181: the price of peeking freely.
    assert sequential_half_width(1.0, 5000, 0.05, rho2) / (Z95 / math.sqrt(5000)) == pytest.approx(1.5486, abs=1e-3)


def test_sequential_rho_is_close_to_the_width_minimising_one_at_the_tuning_size() -> None:
    for alpha, tuning in ((0.05, 5000), (0.10, 800), (0.01, 100_000)):
        best = optimize.minimize_scalar(
            lambda log_rho2, a=alpha, t=tuning: sequential_half_width(1.0, t, a, math.exp(log_rho2)),
            bounds=(-25, 5),
            method="bounded",
        )
        ours = sequential_half_width(1.0, tuning, alpha, sequential_rho_squared(alpha, tuning))
        assert ours == pytest.approx(best.fun, rel=2e-3)
        # ...and the choice matters: 100x off in rho^2 costs over 10 % of width.
        for factor in (0.01, 100):
            worse = sequential_half_width(1.0, tuning, alpha, factor * sequential_rho_squared(alpha, tuning))
            assert ours < 0.9 * worse


def test_sequential_lift_is_wider_and_its_p_value_matches_its_interval() -> None:
    control, treatment = _arm(0.100, 0.002, 20_000), _arm(0.108, 0.002, 20_000)
    fixed = relative_lift(control, treatment)
    seq = sequential_lift(control, treatment, tuning=40_000)
    assert seq.value == fixed.value and seq.se == fixed.se and seq.sequential
    # Both arms' readers count: at n = 40,000 = tuning, n rho^2 = 7.936157 as in the example above, so
    # the half-width is sqrt(2 * 8.936157 / 7.936157 * 4.090789) = 3.035211 standard errors, where
    # the variance is 0.002^2 / 0.1^2 + 0.108^2 * 0.002^2 / 0.1^4 = 0.00086656.
    assert seq.high is not None and seq.value is not None
    assert seq.high - seq.value == pytest.approx(3.035211 * math.sqrt(0.00086656), rel=1e-5)
    assert seq.low is not None and fixed.low is not None and seq.high is not None and fixed.high is not None
    assert seq.low < fixed.low and seq.high > fixed.high
    assert seq.p_value is not None and fixed.p_value is not None and seq.p_value > fixed.p_value
    # p <= alpha exactly when the interval excludes 0, whatever the effect size.
    for lift in np.linspace(0.0, 0.12, 49):
        result = sequential_lift(control, _arm(0.100 * (1 + lift), 0.002, 20_000), tuning=40_000)
        assert result.p_value is not None
        assert (result.p_value <= 0.05) == result.significant
    # The absolute version has the same shape around the difference.
    absolute = sequential_lift(control, treatment, tuning=40_000, relative=False)
    assert absolute.value == pytest.approx(0.008) and not absolute.relative


def test_chance_to_beat_with_a_flat_prior_is_one_minus_the_one_sided_p_value() -> None:
    control, treatment = _arm(0.100, 0.004), _arm(0.110, 0.005)
    result = chance_to_beat_control(control, treatment)
    lift = relative_lift(control, treatment)
    assert lift.p_value is not None and lift.se is not None
    assert result.chance == pytest.approx(1 - lift.p_value / 2)
    assert result.chance == pytest.approx(stats.norm.cdf(0.1 / math.sqrt(0.004436)))
    assert (result.low, result.high) == pytest.approx((lift.low, lift.high))
    assert (result.posterior_mean, result.posterior_sd) == pytest.approx((0.1, lift.se))


def test_chance_to_beat_with_a_gaussian_prior_by_hand() -> None:
    # Estimate 0.1 with variance 0.004436; prior N(0, 0.05^2), precision 400.
    # Posterior precision 1/0.004436 + 400 = 625.4283; mean = (0.1 / 0.004436) / 625.4283 = 0.0360441.
    result = chance_to_beat_control(_arm(0.100, 0.004), _arm(0.110, 0.005), GaussianPrior(0.0, 0.05))
    precision = 1 / 0.004436 + 400
    assert result.posterior_mean == pytest.approx(0.1 / 0.004436 / precision)
    assert result.posterior_mean == pytest.approx(0.0360441, rel=1e-5)
    assert result.posterior_sd == pytest.approx(1 / math.sqrt(precision))
    assert result.chance == pytest.approx(stats.norm.cdf(0.0360441 * math.sqrt(precision)), rel=1e-5)
    # Risks are E[max(0, -lift)] and E[max(0, lift)] under the posterior: check by integration.
    mean, sd = result.posterior_mean, result.posterior_sd
    assert mean is not None and sd is not None
    density = stats.norm(mean, sd).pdf
    loss_if_shipped = integrate.quad(lambda v: -v * density(v), -1, 0)[0]
    gain_forgone = integrate.quad(lambda v: v * density(v), 0, 1)[0]
    assert result.risk_treatment == pytest.approx(loss_if_shipped, rel=1e-6)
    assert result.risk_control == pytest.approx(gain_forgone, rel=1e-6)


def test_sample_ratio_mismatch_by_hand() -> None:
    # 50 / 30 / 20 against thirds: chi^2 = (16.67^2 + 3.33^2 + 13.33^2) / 33.33 = 14, and with two
    # degrees of freedom the tail is exp(-14 / 2) = 0.000912: flagged.
    result = sample_ratio_mismatch([50, 30, 20], [1 / 3, 1 / 3, 1 / 3])
    assert result.statistic == pytest.approx(14.0)
    assert result.p_value == pytest.approx(math.exp(-7))
    assert result.flagged and result.expected == pytest.approx((100 / 3,) * 3)
    # A 48/52 split of 20,000 exposures: chi^2 = 2 * 400^2 / 10,000 = 32, p = 1.5e-8.
    skewed = sample_ratio_mismatch([9600, 10400], [0.5, 0.5])
    assert skewed.statistic == pytest.approx(32.0)
    assert skewed.p_value == pytest.approx(stats.chi2.sf(32, 1)) and skewed.flagged
    assert skewed.p_value == pytest.approx(stats.chisquare([9600, 10400]).pvalue)
    for fair in ([10_000, 10_000], [10_080, 9_920], [2_010, 7_990]):
        weights = [0.2, 0.8] if fair[0] < 5000 else [0.5, 0.5]
        assert not sample_ratio_mismatch(fair, weights).flagged


def test_cuped_on_a_mean_metric_is_the_common_slope_regression() -> None:
    # theta is the within-variant slope of the metric on the covariate, and the adjusted difference
    # is the treatment coefficient of y ~ 1 + treated + covariate (ANCOVA), solved here by least squares.
    rng = np.random.default_rng(5)
    activity = rng.gamma(2.0, 1.0, 400)
    covariate = rng.poisson(7 * activity)
    treated = np.arange(400) >= 250
    reads = rng.poisson(7 * activity * np.where(treated, 1.1, 1.0))
    control = MetricSums.from_arrays(reads[~treated], covariate=covariate[~treated])
    treatment = MetricSums.from_arrays(reads[treated], covariate=covariate[treated])
    result = cuped([control, treatment])
    design = np.column_stack([np.ones(400), treated, covariate])
    (_, effect, slope), *_ = np.linalg.lstsq(design, reads, rcond=None)
    assert result.theta == pytest.approx(slope)
    adjusted_c, adjusted_t = result.estimates
    assert adjusted_t.value is not None and adjusted_c.value is not None
    assert adjusted_t.value - adjusted_c.value == pytest.approx(effect)
    assert absolute_lift(adjusted_c, adjusted_t).value == pytest.approx(effect)
    # Each arm's standard error is that of its readers' adjusted values y - theta * c.
    for arm, estimate_ in zip((~treated, treated), result.estimates, strict=True):
        adjusted = reads[arm] - slope * covariate[arm]
        assert estimate_.se == pytest.approx(stats.sem(adjusted))
        assert estimate_.theta == pytest.approx(slope)
    assert 0.3 < result.variance_reduction < 1


def test_cuped_on_a_ratio_metric_adjusts_the_linearised_metric() -> None:
    rng = np.random.default_rng(6)
    clicks, impressions, propensity = ctr_readers(rng, (2, 600))
    covariate = rng.poisson(30 * propensity)
    arms = [MetricSums.from_arrays(clicks[i], impressions[i], covariate[i]) for i in range(2)]
    result = cuped(arms)
    # Independently: per-reader linearised values u = (x - R y) / mean_y per arm, pooled slope on c.
    u = [
        (clicks[i] - clicks[i].sum() / impressions[i].sum() * impressions[i]) / impressions[i].mean() for i in range(2)
    ]
    centred_c = [covariate[i] - covariate[i].mean() for i in range(2)]
    theta = sum(float(u[i] @ centred_c[i]) for i in range(2)) / sum(float(cc @ cc) for cc in centred_c)
    assert result.theta == pytest.approx(theta)
    for i in range(2):
        assert result.estimates[i].value == pytest.approx(
            clicks[i].sum() / impressions[i].sum() - theta * (covariate[i].mean() - covariate.mean())
        )
        assert result.estimates[i].se == pytest.approx(stats.sem(u[i] - theta * covariate[i]))
        plain = estimate(arms[i])
        assert plain.se is not None and result.estimates[i].se is not None
        assert result.estimates[i].se < plain.se


# --------------------------------------------------------------------------------------------------
# Edge cases and errors
# --------------------------------------------------------------------------------------------------


def test_a_variant_without_readers_says_not_enough_data() -> None:
    empty, some = MetricSums(), MetricSums.from_arrays([1, 0, 2], [3, 2, 4])
    assert estimate(empty).reason == "not enough data: no readers yet" and estimate(empty).value is None
    results: list[Lift | ChanceToBeat] = [
        relative_lift(empty, some),
        relative_lift(some, empty),
        absolute_lift(empty, some),
        sequential_lift(empty, some),
        chance_to_beat_control(some, empty),
    ]
    for result in results:
        assert not result.ok and result.reason is not None and result.reason.startswith("not enough data")
        no_nans(result)
    assert relative_lift(some, empty).reason == "not enough data: no readers yet (in treatment)"


def test_no_clicks_anywhere_gives_a_value_but_no_interval() -> None:
    no_clicks = MetricSums.from_arrays([0] * 50, [3] * 50)
    result = estimate(no_clicks)
    assert result.value == 0.0 and result.se is None and result.reason is not None
    assert "no variation" in result.reason
    clicked = MetricSums.from_arrays([1, 0] * 25, [3] * 50)
    for lift in (
        relative_lift(no_clicks, clicked),
        relative_lift(clicked, no_clicks),
        sequential_lift(clicked, clicked),
    ):
        no_nans(lift)
    assert relative_lift(clicked, no_clicks).reason is not None
    # A control with clicks but a mean of exactly 0 cannot have a relative lift; absolute is fine.
    signed = MetricSums.from_arrays([1.0, -1.0, 2.0, -2.0])
    assert relative_lift(signed, clicked).reason == (
        "not enough data: the control's mean is 0, so a relative lift is undefined"
    )
    assert absolute_lift(signed, clicked).ok


def test_estimates_without_spread_give_no_lift_rather_than_dividing_by_zero() -> None:
    flat = Estimate(n=100, value=0.1, se=0.0, low=0.1, high=0.1, alpha=0.05)
    for result in (relative_lift(flat, flat), absolute_lift(flat, flat), sequential_lift(flat, flat)):
        assert result.reason == "not enough data: no variation between readers yet"
    assert chance_to_beat_control(flat, flat).chance is None


def test_sums_accept_numpy_numbers_and_store_plain_ones() -> None:
    sums = MetricSums(np.int64(3), np.float32(2.0), np.int64(2))
    assert type(sums.n) is int and type(sums.sum_x) is float and type(sums.sum_x2) is float
    assert sums == MetricSums(3, 2.0, 2.0)


def test_one_reader_or_no_impressions_is_not_enough() -> None:
    assert estimate(MetricSums.reader(1, 2)).reason == "not enough data: one reader gives no variance"
    assert estimate(MetricSums.reader(1, 2)).value == 0.5
    assert estimate(MetricSums.from_arrays([0, 0], [0, 0])).reason == (
        "not enough data: no denominator yet (e.g. no impressions)"
    )


def test_srm_with_no_exposures_yet_is_not_flagged() -> None:
    result = sample_ratio_mismatch([0, 0], [0.5, 0.5])
    assert result == SampleRatioMismatch(None, None, False, (0.0, 0.0), "not enough data: no exposures yet")


def test_cuped_without_a_covariate_leaves_the_estimates_alone() -> None:
    arms = [MetricSums.from_arrays([1, 2, 3]), MetricSums.from_arrays([2, 3, 5]), MetricSums()]
    result = cuped(arms)
    assert result == CupedResult(
        tuple(estimate(a) for a in arms), 0.0, 0.0, "no adjustment: the covariate does not vary"
    )
    # A variant with no readers yet stays "not enough data" while the others are adjusted.
    with_cov = [
        MetricSums.from_arrays([1, 2, 3], covariate=[0, 1, 3]),
        MetricSums.from_arrays([2, 3, 5], covariate=[1, 1, 4]),
    ]
    adjusted = cuped([*with_cov, MetricSums()])
    assert adjusted.reason is None and adjusted.estimates[0].ok and adjusted.estimates[2].reason is not None


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: MetricSums(n=-1), "n must not be negative"),
        (lambda: MetricSums(n=2.5), "n must be a whole number"),  # type: ignore[arg-type]
        (lambda: MetricSums(n=0, sum_x=1.0), "n is 0 but sum_x"),
        (lambda: MetricSums(n=2, sum_x=4.0, sum_x2=1.0), "sum_x2 is too small"),
        (lambda: MetricSums(n=2, sum_y=-1.0), "sum_y must not be negative"),
        (lambda: MetricSums(n=2, sum_x=float("nan")), "sum_x must be a finite number"),
        (lambda: MetricSums.from_arrays([1, 2], [1, -1]), "y .* must not be negative"),
        (lambda: MetricSums.from_arrays([1, 2], [1]), "y must have one value per reader"),
        (lambda: MetricSums.from_arrays([1, 2], covariate=[1, 2, 3]), "covariate must have one value per reader"),
        (lambda: estimate(MetricSums(), alpha=0.0), "alpha must be"),
        (lambda: relative_lift(MetricSums(), MetricSums(), alpha=1.5), "alpha must be"),
        (lambda: relative_lift("control", MetricSums()), "control must be MetricSums"),  # type: ignore[arg-type]
        (lambda: sequential_lift(MetricSums(), MetricSums(), tuning=0), "tuning must be"),
        (lambda: GaussianPrior(0.0, 0.0), "prior sd must be"),
        (lambda: sample_ratio_mismatch([10, -1], [0.5, 0.5]), "observed must not be negative"),
        (lambda: sample_ratio_mismatch([10, 1.5], [0.5, 0.5]), "observed must hold whole numbers"),
        (lambda: sample_ratio_mismatch([10, 10], [0.5, 0.6]), "weights must sum to 1"),
        (lambda: sample_ratio_mismatch([10, 10], [1.0, 0.0]), "weights must be positive"),
        (lambda: sample_ratio_mismatch([10, 10, 10], [0.5, 0.5]), "observed and weights must have one entry"),
        (lambda: sample_ratio_mismatch([10], [1.0]), "at least two variants"),
        (lambda: sample_ratio_mismatch([10, 10], [0.5, 0.5], threshold=0), "threshold must be"),
        (lambda: cuped([]), "variants must hold at least one"),
    ],
)
def test_impossible_input_raises_a_value_error_naming_the_argument(make: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()  # type: ignore[operator]


# --------------------------------------------------------------------------------------------------
# Simulations: coverage of the fixed-horizon intervals
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("true_lift", [0.0, 0.10], ids=["A/A", "A/B"])
def test_ctr_lift_intervals_cover_the_true_effect_95_percent_of_the_time(true_lift: float) -> None:
    rng = np.random.default_rng(10 + int(true_lift * 100))
    readers = 1000
    clicks_c, impressions_c, _ = ctr_readers(rng, (SIMULATIONS, readers))
    clicks_t, impressions_t, _ = ctr_readers(rng, (SIMULATIONS, readers), 1 + true_lift)
    controls, treatments = batch_sums(clicks_c, impressions_c), batch_sums(clicks_t, impressions_t)
    relative = np.mean([covers(relative_lift(c, t), true_lift) for c, t in zip(controls, treatments, strict=True)])
    absolute = np.mean(
        [covers(absolute_lift(c, t), 0.1 * true_lift) for c, t in zip(controls, treatments, strict=True)]
    )
    ctr = np.mean([covers(estimate(t), 0.1 * (1 + true_lift)) for t in treatments])
    assert COVERAGE_RANGE[0] <= relative <= COVERAGE_RANGE[1], relative
    assert COVERAGE_RANGE[0] <= absolute <= COVERAGE_RANGE[1], absolute
    assert COVERAGE_RANGE[0] <= ctr <= COVERAGE_RANGE[1], ctr
    # Treating every impression as an independent trial (ignoring readers) is too narrow here:
    # clicks of one reader share a propensity. This is what the delta method is for.
    naive = []
    for c, t in zip(controls, treatments, strict=True):
        pc, pt = c.sum_x / c.sum_y, t.sum_x / t.sum_y
        se = math.sqrt(pc * (1 - pc) / c.sum_y + pt * (1 - pt) / t.sum_y)
        naive.append(abs(pt - pc - 0.1 * true_lift) <= Z95 * se)
    assert np.mean(naive) < 0.92


# --------------------------------------------------------------------------------------------------
# Simulations: daily peeking
# --------------------------------------------------------------------------------------------------


DAYS, READERS_PER_DAY = 14, 150  # per arm: 2,100 readers each by day 14


@pytest.mark.parametrize("true_lift", [0.0, 0.10], ids=["A/A", "A/B"])
def test_sequential_interval_keeps_its_coverage_under_daily_peeking(true_lift: float) -> None:
    rng = np.random.default_rng(20 + int(true_lift * 100))
    # Each day's new readers, per arm and experiment, as one MetricSums per experiment.
    days: list[list[list[MetricSums]]] = []  # [arm][day][experiment]
    for multiplier in (1.0, 1 + true_lift):
        clicks, impressions, _ = ctr_readers(rng, (SIMULATIONS, DAYS, READERS_PER_DAY), multiplier)
        days.append([batch_sums(clicks[:, day], impressions[:, day]) for day in range(DAYS)])
    tuning = 2 * DAYS * READERS_PER_DAY  # the total expected at the last look
    sequential_ok = np.ones(SIMULATIONS, bool)
    fixed_ok = np.ones(SIMULATIONS, bool)
    fixed_final = np.ones(SIMULATIONS, bool)
    for s in range(SIMULATIONS):
        control, treatment = MetricSums(), MetricSums()
        for day in range(DAYS):  # the dashboard adds the day's sums and looks
            control, treatment = control + days[0][day][s], treatment + days[1][day][s]
            sequential_ok[s] &= covers(sequential_lift(control, treatment, tuning=tuning), true_lift)
            fixed = covers(relative_lift(control, treatment), true_lift)
            fixed_ok[s] &= fixed
        fixed_final[s] = fixed
    # Always valid: it covers the truth at all 14 looks in at least 95 % of experiments
    # (it is conservative with only 14 looks; the guarantee is for every reader).
    assert sequential_ok.mean() >= 0.95, sequential_ok.mean()
    # The fixed-horizon interval is right at one planned look but misses on some day far more often.
    assert COVERAGE_RANGE[0] <= fixed_final.mean() <= COVERAGE_RANGE[1], fixed_final.mean()
    assert fixed_ok.mean() < 0.88, fixed_ok.mean()


# --------------------------------------------------------------------------------------------------
# Simulations: sample ratio mismatch
# --------------------------------------------------------------------------------------------------


def test_srm_flags_a_48_52_split_and_rarely_a_fair_one() -> None:
    rng = np.random.default_rng(30)
    exposures = 20_000
    fair = rng.binomial(exposures, 0.5, SIMULATIONS)
    fair_results = [sample_ratio_mismatch([int(a), exposures - int(a)], [0.5, 0.5]) for a in fair]
    p_values = np.array([r.p_value for r in fair_results], dtype=float)
    # Under a fair split the p-value is uniform (up to the binomial's discreteness), so the flag
    # rate is about 0.1 %: 2 of 2,000 expected, at most 8 allowed (Poisson tail < 0.1 %).
    assert stats.kstest(p_values, "uniform").pvalue > 0.001
    assert sum(r.flagged for r in fair_results) <= 8
    skewed = rng.binomial(exposures, 0.48, SIMULATIONS)
    flagged = np.mean([sample_ratio_mismatch([int(a), exposures - int(a)], [0.5, 0.5]).flagged for a in skewed])
    assert flagged > 0.97, flagged  # power against chi^2 noncentrality 32 at p < 0.001 is 0.99
    # Three unequal arms, fair: still uniform.
    counts = rng.multinomial(9000, [0.2, 0.3, 0.5], SIMULATIONS)
    three = np.array(
        [sample_ratio_mismatch(list(map(int, row)), [0.2, 0.3, 0.5]).p_value for row in counts], dtype=float
    )
    assert stats.kstest(three, "uniform").pvalue > 0.001 and np.sum(three < 0.001) <= 8


# --------------------------------------------------------------------------------------------------
# Simulations: CUPED
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("true_lift", [0.0, 0.10], ids=["A/A", "A/B"])
def test_cuped_reduces_variance_without_bias_on_reads_per_reader(true_lift: float) -> None:
    rng = np.random.default_rng(40 + int(true_lift * 100))
    readers = 500
    plain, adjusted, adjusted_se, covered = [], [], [], []
    arms_readers = []
    for multiplier in (1.0, 1 + true_lift):
        activity = rng.gamma(2.0, 0.5, (SIMULATIONS, readers))  # how much each reader reads
        before = rng.poisson(7 * activity)  # reads in the week before exposure
        after = rng.poisson(7 * activity * multiplier)  # reads in the week after
        arms_readers.append(batch_sums(after, c=before))
    for control, treatment in zip(*arms_readers, strict=True):
        plain.append(relative_lift(control, treatment).value)
        result = cuped([control, treatment])
        lift = relative_lift(*result.estimates)
        adjusted.append(lift.value)
        adjusted_se.append(lift.se)
        covered.append(covers(lift, true_lift))
    plain_, adjusted_ = np.array(plain, float), np.array(adjusted, float)
    # Unbiased: the mean adjusted lift is the true lift within 3 Monte Carlo standard errors.
    assert abs(adjusted_.mean() - true_lift) < 3 * adjusted_.std() / math.sqrt(SIMULATIONS)
    # Narrower: the covariate explains much of each reader's reading (variance cut by over 40 %).
    assert adjusted_.var() < 0.6 * plain_.var()
    # Honest: the reported standard error matches the spread of the estimates, and intervals cover.
    assert np.mean(np.array(adjusted_se, float)) == pytest.approx(adjusted_.std(), rel=0.06)
    assert COVERAGE_RANGE[0] <= np.mean(covered) <= COVERAGE_RANGE[1], np.mean(covered)


def test_cuped_on_ctr_covers_and_narrows() -> None:
    rng = np.random.default_rng(50)
    readers, true_lift = 800, 0.10
    arms = []
    for multiplier in (1.0, 1 + true_lift):
        clicks, impressions, propensity = ctr_readers(rng, (SIMULATIONS, readers), multiplier)
        before = rng.poisson(40 * propensity)  # keen clickers read more before the experiment
        arms.append(batch_sums(clicks, impressions, before))
    plain_se, adjusted, covered = [], [], []
    for control, treatment in zip(*arms, strict=True):
        result = cuped([control, treatment])
        lift = relative_lift(*result.estimates)
        plain_se.append(relative_lift(control, treatment).se)
        adjusted.append(lift.value)
        covered.append(covers(lift, true_lift))
    assert abs(np.mean(adjusted) - true_lift) < 3 * np.std(adjusted) / math.sqrt(SIMULATIONS)
    assert np.std(adjusted) < 0.95 * np.mean(np.array(plain_se, float))
    assert COVERAGE_RANGE[0] <= np.mean(covered) <= COVERAGE_RANGE[1], np.mean(covered)


# --------------------------------------------------------------------------------------------------
# Simulations: Bayesian chance to beat control
# --------------------------------------------------------------------------------------------------


def test_chance_to_beat_control_is_uniform_under_no_effect() -> None:
    # With a flat prior and no true effect, the chance is as likely to be anywhere in (0, 1):
    # "95 % chance to beat control" happens in 5 % of A/A tests, no more.
    rng = np.random.default_rng(60)
    clicks_c, impressions_c, _ = ctr_readers(rng, (SIMULATIONS, 1000))
    clicks_t, impressions_t, _ = ctr_readers(rng, (SIMULATIONS, 1000))
    chances = np.array(
        [
            chance_to_beat_control(c, t).chance
            for c, t in zip(batch_sums(clicks_c, impressions_c), batch_sums(clicks_t, impressions_t), strict=True)
        ],
        float,
    )
    assert stats.kstest(chances, "uniform").pvalue > 0.001
    assert 0.035 <= np.mean(chances > 0.95) <= 0.065


def test_chance_to_beat_control_is_calibrated_when_the_prior_is_right() -> None:
    # True lifts drawn from N(0, 0.05^2); with that prior, of the experiments given chance p,
    # a fraction p truly beat control. A flat prior is overconfident on the same data.
    rng = np.random.default_rng(70)
    true_lifts = rng.normal(0.0, 0.05, SIMULATIONS)
    clicks_c, impressions_c, _ = ctr_readers(rng, (SIMULATIONS, 1000))
    # Each treatment experiment multiplies its readers' propensities by its own 1 + lift.
    impressions_t = rng.poisson(4.0, (SIMULATIONS, 1000)) + 1
    propensity = rng.beta(1.0, 9.0, (SIMULATIONS, 1000)) * (1 + true_lifts[:, None])
    clicks_t = rng.binomial(impressions_t, np.minimum(propensity, 1.0))
    controls, treatments = batch_sums(clicks_c, impressions_c), batch_sums(clicks_t, impressions_t)
    prior = GaussianPrior(0.0, 0.05)
    informed = np.array([chance_to_beat_control(c, t, prior).chance for c, t in zip(controls, treatments, strict=True)])
    flat = np.array([chance_to_beat_control(c, t).chance for c, t in zip(controls, treatments, strict=True)])
    won = true_lifts > 0

    def worst_bin_gap(chances: np.ndarray) -> float:
        gaps = []
        for low, high in ((0.0, 0.1), (0.1, 0.3), (0.3, 0.7), (0.7, 0.9), (0.9, 1.0)):
            inside = (chances >= low) & (chances < high)
            if inside.sum() >= 50:
                mean = chances[inside].mean()
                gaps.append(abs(won[inside].mean() - mean) / math.sqrt(mean * (1 - mean) / inside.sum()))
        return max(gaps)

    assert worst_bin_gap(informed) < 3.5
    assert worst_bin_gap(flat) > 4.0


def test_srm_false_positive_rate_and_power_over_every_possible_split() -> None:
    # Not sampled but summed: run the check on every first-arm count k of 20,000 exposures that has
    # any probability, and add up the binomial probabilities of the flagged ones.
    exposures = 20_000
    counts = np.arange(8_500, 11_501)  # outside this both tails are below 1e-50
    flagged = np.array([sample_ratio_mismatch([int(k), exposures - int(k)], [0.5, 0.5]).flagged for k in counts])
    false_positive_rate = stats.binom.pmf(counts[flagged], exposures, 0.5).sum()
    power_at_48_52 = stats.binom.pmf(counts[flagged], exposures, 0.48).sum()
    assert false_positive_rate == pytest.approx(0.001, rel=0.05)
    assert power_at_48_52 > 0.99
