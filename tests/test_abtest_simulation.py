"""Simulation checks: A/A false-positive rates, peeking, CUPED, delta method vs bootstrap.

Data are generated vectorised as sufficient statistics (sums over units), so thousands of
experiments run in seconds; the statistics are then computed by the library's core functions.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from opsnb import abtest as ab
from opsnb.abtest.bayes import bayes_from_result, bayes_proportions
from opsnb.abtest.sequential import always_valid_bounds, mixing_variance, sequential_from_result

ALPHA = 0.05
N_SIMS = 4000  # binomial sd of a 5 % rate over 4000 tests: 0.34 percentage points


def _props(rng, sims=N_SIMS, n=2000, p=0.1):
    xc, xt = rng.binomial(n, p, sims), rng.binomial(n, p, sims)
    return [
        (ab.SampleStats.from_counts(a, n), ab.SampleStats.from_counts(b, n)) for a, b in zip(xc, xt)
    ]


def _gamma_pairs(rng, sims=N_SIMS, n=300):
    """Per-unit revenue y (gamma, skewed), orders x (denominator / covariate correlated with y)."""
    out = []
    for _arm in range(2):
        x = rng.poisson(2.0, (sims, n)) + 1.0
        y = x * rng.gamma(2.0, 25.0, (sims, n))
        out.append(
            [
                ab.PairStats(n, *v)
                for v in zip(y.sum(1), (y * y).sum(1), x.sum(1), (x * x).sum(1), (x * y).sum(1))
            ]
        )
    return list(zip(*out))


def _rate(flags) -> float:
    return float(np.mean(flags))


def test_aa_false_positive_rate_of_fixed_horizon_methods_is_five_percent():
    rng = np.random.default_rng(20240101)
    props = _props(rng)
    pairs = _gamma_pairs(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rates = {
            "z-test": _rate([ab.compare_proportions(c, t).p_value < ALPHA for c, t in props]),
            "welch": _rate(
                [
                    ab.compare_means(
                        ab.SampleStats(c.n, c.sum_y, c.sum_y2),
                        ab.SampleStats(t.n, t.sum_y, t.sum_y2),
                    ).p_value
                    < ALPHA
                    for c, t in pairs
                ]
            ),
            "delta-ratio": _rate([ab.compare_ratios(c, t).p_value < ALPHA for c, t in pairs]),
            "cuped": _rate([ab.compare_means_cuped(c, t).p_value < ALPHA for c, t in pairs]),
            "bayes-gaussian": _rate(
                [
                    not (
                        ALPHA / 2
                        < bayes_from_result(ab.compare_ratios(c, t)).chance_to_win
                        < 1 - ALPHA / 2
                    )
                    for c, t in pairs
                ]
            ),
        }
    print("A/A false-positive rates:", rates)
    for method, rate in rates.items():
        assert 0.04 <= rate <= 0.06, (method, rate)


def test_aa_false_positive_rate_of_beta_binomial_chance_to_win_is_five_percent():
    rng = np.random.default_rng(7)
    wins = np.array([bayes_proportions(c, t).chance_to_win for c, t in _props(rng, sims=2500)])
    rate = _rate((wins > 1 - ALPHA / 2) | (wins < ALPHA / 2))
    print("A/A bayes-beta rate:", rate)
    assert 0.04 <= rate <= 0.06


def _daily_aa(rng, sims=4000, days=28, per_day=300, p=0.1):
    n = per_day * np.arange(1, days + 1)
    xc = rng.binomial(per_day, p, (sims, days)).cumsum(1)
    xt = rng.binomial(per_day, p, (sims, days)).cumsum(1)
    pc, pt = xc / n, xt / n
    return pt - pc, pc * (1 - pc) / n + pt * (1 - pt) / n


def test_sequential_keeps_the_error_rate_under_daily_peeking_where_naive_peeking_does_not():
    """28 daily looks, stop at the first 'significant' one. The naive z-test inflates the
    false-positive rate to about 25 %; the always-valid mSPRT stays below 5 % (it is
    conservative with discrete looks — typically 1-2 % — which is the price of peeking freely)."""
    d, v = _daily_aa(np.random.default_rng(11))
    naive = _rate((np.abs(d / np.sqrt(v)) > 1.959964).any(axis=1))
    tau2 = mixing_variance(v[:, -1:], ALPHA)  # fixed in advance from the planned final size
    half, p = always_valid_bounds(d, v, tau2, ALPHA)
    seq = _rate((p < ALPHA).any(axis=1))
    seq_ci = _rate(((d - half > 0) | (d + half < 0)).any(axis=1))
    print(f"daily peeking, 28 looks: naive {naive:.4f}, sequential {seq:.4f}")
    assert naive > 0.15
    assert seq <= ALPHA and seq_ci == pytest.approx(seq, abs=1e-9)


def test_sequential_result_matches_the_vectorised_bounds():
    c, t = ab.SampleStats.from_counts(300, 3000), ab.SampleStats.from_counts(350, 3000)
    f = ab.compare_proportions(c, t)
    s = sequential_from_result(f, tau2=1e-4)
    half, p = always_valid_bounds(f.estimate, f.se**2, 1e-4)
    assert s.ci_high - s.estimate == pytest.approx(float(half)) and s.p_value == pytest.approx(
        float(p)
    )


def test_cuped_reduces_variance_and_stays_unbiased():
    rng = np.random.default_rng(3)
    sims, n, effect = 3000, 400, 2.0
    plain, cuped, vr = [], [], []
    for arm_effect in (0.0, effect):
        pre = rng.normal(100, 20, (sims, n))
        y = 0.8 * pre + rng.normal(0, 10, (sims, n)) + arm_effect
        plain.append(y.mean(1))
        cuped.append(
            [
                ab.PairStats(n, *s)
                for s in zip(
                    y.sum(1), (y * y).sum(1), pre.sum(1), (pre * pre).sum(1), (pre * y).sum(1)
                )
            ]
        )
    est = np.array([ab.compare_means_cuped(c, t) for c, t in zip(*cuped)], dtype=object)
    cuped_est = np.array([r.estimate for r in est])
    vr = np.array([r.variance_reduction for r in est])
    plain_est = plain[1] - plain[0]
    assert cuped_est.mean() == pytest.approx(effect, abs=3 * cuped_est.std() / np.sqrt(sims))
    assert cuped_est.var() < 0.5 * plain_est.var()
    # reported variance reduction matches the one observed across experiments
    assert vr.mean() == pytest.approx(1 - cuped_est.var() / plain_est.var(), abs=0.05)
    covered = np.mean([r.ci_low <= effect <= r.ci_high for r in est])
    assert 0.93 <= covered <= 0.97


def test_delta_method_interval_agrees_with_a_bootstrap():
    rng = np.random.default_rng(5)
    n = 3000
    arms = []
    for scale in (25.0, 27.0):
        x = rng.poisson(1.5, n) + 1.0
        arms.append((x * rng.gamma(2.0, scale, n), x))
    res = ab.compare_ratios(*(ab.PairStats.from_values(y, x) for y, x in arms))
    boots = []
    for y, x in arms:
        idx = rng.integers(0, n, (2000, n))
        boots.append(y[idx].sum(1) / x[idx].sum(1))
    diff = boots[1] - boots[0]
    assert res.se == pytest.approx(diff.std(ddof=1), rel=0.06)
    lo, hi = np.quantile(diff, [0.025, 0.975])
    width = res.ci_high - res.ci_low
    assert res.ci_low == pytest.approx(lo, abs=0.06 * width)
    assert res.ci_high == pytest.approx(hi, abs=0.06 * width)


@pytest.mark.parametrize("experiment", ["detail_page_v2", "coupon_10off"])
def test_demo_experiment_true_effect_is_inside_the_interval(demo_shop, experiment):
    from opsnb.abtest.analysis import readout

    units = demo_shop.experiments[demo_shop.experiments["experiment"] == experiment]
    truth = demo_shop.experiment_truth.set_index(["experiment", "metric"]).loc[experiment]
    ro = readout(
        units,
        control="control",
        alpha=0.01,
        correction="none",
        metrics=[
            "converted:proportion",
            "orders:mean",
            "gmv:mean",
            "aov:mean:gmv/orders",
            "refund_rate:mean:refunded/converted",
        ],
        covariates={"gmv": "pre_gmv"},
    )
    assert not ro.srm.flagged
    res = ro.results.set_index("metric")
    for metric, row in res.iterrows():
        true = truth.loc[metric, "true_abs_effect"]
        assert row["ci_low"] <= true <= row["ci_high"], (
            experiment,
            metric,
            true,
            row["ci_low"],
            row["ci_high"],
        )
    assert res.loc["gmv", "variance_reduction"] > 0.02
