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


# --------------------------------------------------------------------------- daily peeking, A/A
DAYS = 28
_WEEK = np.array([1.0, 0.9, 0.95, 1.0, 1.2, 1.8, 1.6])  # weekend traffic swings


def _daily_traffic(base=300):
    """Units entering each arm per day (52/48 split), the same in every simulated test."""
    per_day = np.round(base * np.tile(_WEEK, DAYS // 7)).astype(int)
    return np.round(per_day * 0.52).astype(int), np.round(per_day * 0.48).astype(int)


def _aa_looks(rng, sims, traffic, p=0.1):
    """Cumulative A/A results at each daily look: difference, its unpooled variance, units."""
    nc, nt = np.cumsum(traffic[0]), np.cumsum(traffic[1])
    xc = rng.binomial(traffic[0], p, (sims, DAYS)).cumsum(1)
    xt = rng.binomial(traffic[1], p, (sims, DAYS)).cumsum(1)
    pc, pt = xc / nc, xt / nt
    return pt - pc, pc * (1 - pc) / nc + pt * (1 - pt) / nt, nc, nt, xc, xt


def _significant_at_each_look(plan, d, v, nc, nt, alpha=ALPHA):
    """What `opsnb ab` run on day k (data of days 1..k, one look a day) calls significant,
    for every simulated test and day: the readout's own formulas, vectorised over tests."""
    out = np.zeros(d.shape, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(d.shape[1]):
            if plan.design == "msprt":
                p = _msprt_p(plan, d[:, k], v[:, k], float(nc[k] + nt[k]), k + 1, alpha)
                out[:, k] = p < alpha
            else:
                c = _gs_bound(plan, nc[: k + 1], nt[: k + 1], alpha)
                out[:, k] = np.abs(d[:, k] / np.sqrt(v[:, k])) >= c
    return out


def _msprt_p(plan, d, v, n_now, day, alpha=ALPHA):
    """Always-valid p-value of the current look, τ² tuned as the readout tunes it."""
    from opsnb.abtest.design import planned_units
    from opsnb.abtest.sequential import planned_mixing_variance

    planned = planned_units(plan, n_now, float(day))
    tau2 = planned_mixing_variance(v, n_now, planned if planned == planned else None, alpha)
    return always_valid_bounds(d, v, tau2, alpha)[1]


def _gs_bound(plan, nc, nt, alpha=ALPHA):
    """Boundary of the current (last) daily look of a group-sequential plan."""
    from opsnb.abtest.design import spending_clock
    from opsnb.abtest.groupseq import information, spending_boundaries

    info = information(nc, nt)
    clock = spending_clock(plan, info, float(nc[-1] + nt[-1]), np.arange(1, len(nc) + 1))
    return spending_boundaries(info, alpha=alpha, spending=plan.spending, **clock).z_bounds[-1]


TOTAL = int(sum(x.sum() for x in _daily_traffic()))
CLI_DESIGNS = [  # (label, method, planned_n, planned_days, spending): every sequential CLI option
    ("sequential, no plan (mSPRT)", "sequential", None, None, "obf"),
    ("msprt, --planned-n", "msprt", TOTAL, None, "obf"),
    ("msprt, --planned-days", "msprt", None, DAYS, "obf"),
    ("sequential, --planned-n (OBF)", "sequential", TOTAL, None, "obf"),
    ("sequential, --planned-days (OBF)", "sequential", None, DAYS, "obf"),
    ("group_sequential pocock, --planned-n", "group_sequential", TOTAL, None, "pocock"),
    ("group_sequential pocock, --planned-days", "group_sequential", None, DAYS, "pocock"),
]
N_PEEK = 20_000


@pytest.mark.parametrize("label, method, planned_n, planned_days, spending", CLI_DESIGNS)
def test_aa_with_daily_peeking_stays_at_or_below_alpha_for_every_sequential_cli_method(
    label, method, planned_n, planned_days, spending
):
    """20 000 A/A tests (conversion 10 %, about 8 600 units over 28 days with weekend swings and
    a 52/48 split), looked at every day as `opsnb ab --method ... --time-col` would be, stopped
    at the first significant look. Monte-Carlo SE of a 5 % rate: sqrt(0.05 · 0.95 / 20 000) =
    0.15 percentage points, so designs that spend exactly α may read up to 5 % + 3 SE = 5.46 %;
    the always-valid mSPRT is conservative and must stay below 5 % outright."""
    from opsnb.abtest.design import sequential_plan

    plan = sequential_plan(method, planned_n, planned_days, spending)
    traffic = _daily_traffic()
    d, v, nc, nt, _, _ = _aa_looks(np.random.default_rng(2026), N_PEEK, traffic)
    rate = _rate(_significant_at_each_look(plan, d, v, nc, nt).any(axis=1))
    se = np.sqrt(rate * (1 - rate) / N_PEEK)
    print(f"A/A daily peeking, {label}: {rate:.4f} (SE {se:.4f}), design {plan.design}")
    if plan.design == "msprt":
        assert rate <= ALPHA
    else:
        assert 0.035 <= rate <= ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / N_PEEK)


def test_group_sequential_bounds_treating_every_look_as_the_last_are_naive_peeking():
    """Why a plan is required: the old default computed the boundary as if each daily look were
    the planned end, which spends all of α at every look (about 20 % false positives with 28
    looks, close to the naive fixed-horizon test)."""
    from opsnb.abtest.groupseq import information, spending_boundaries

    traffic = _daily_traffic()
    d, v, nc, nt, _, _ = _aa_looks(np.random.default_rng(7), 5000, traffic)
    z = np.abs(d / np.sqrt(v))
    info = information(nc, nt)
    c = np.array([spending_boundaries(info[: k + 1]).z_bounds[-1] for k in range(DAYS)])
    old = _rate((z >= c).any(axis=1))
    naive = _rate((z >= 1.959964).any(axis=1))
    print(f"every look treated as final: {old:.4f}; naive: {naive:.4f}")
    assert old > 0.15 and naive > 0.15


def _units_until(day, traffic, xc, xt):
    """Unit-level frame of one simulated test up to ``day`` (first units of a day convert)."""
    import pandas as pd

    rows = []
    for k in range(day):
        for arm, n_day, x_cum in (("A", traffic[0], xc), ("B", traffic[1], xt)):
            conv = int(x_cum[k] - (x_cum[k - 1] if k else 0))
            rows.append(
                pd.DataFrame(
                    {
                        "variant": arm,
                        "converted": np.arange(n_day[k]) < conv,
                        "assigned_at": pd.Timestamp("2025-09-01") + pd.Timedelta(days=k),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("label, method, planned_n, planned_days, spending", CLI_DESIGNS[::2])
def test_the_peeking_simulation_computes_what_the_readout_computes(
    label, method, planned_n, planned_days, spending
):
    """The vectorised simulation above is the readout's arithmetic: on one simulated test, the
    readout of days 1..k gives the same significance, p-value (mSPRT) or boundary
    (group-sequential) as the simulation at look k."""
    from opsnb.abtest.analysis import readout
    from opsnb.abtest.design import sequential_plan

    plan = sequential_plan(method, planned_n, planned_days, spending)
    traffic = _daily_traffic(60)
    d, v, nc, nt, xc, xt = _aa_looks(np.random.default_rng(5), 1, traffic)
    sig = _significant_at_each_look(plan, d, v, nc, nt)
    for k in (3, 16, DAYS):
        r = readout(
            _units_until(k, traffic, xc[0], xt[0]),
            control="A",
            metrics=["converted:proportion"],
            method=method,
            planned_n=planned_n,
            planned_days=planned_days,
            spending=spending,
            time_col="assigned_at",
        ).results.iloc[0]
        assert r["looks"] == k and r["abs_lift"] == pytest.approx(d[0, k - 1], abs=1e-12)
        n_now = float(nc[k - 1] + nt[k - 1])
        if plan.design == "msprt":
            p = float(_msprt_p(plan, d[0, k - 1], v[0, k - 1], n_now, k))
            assert r["p_value"] == pytest.approx(p, rel=1e-9)
        else:
            c = _gs_bound(plan, nc[:k], nt[:k])
            assert (r["ci_high"] - r["ci_low"]) / 2 / r["se"] == pytest.approx(c, rel=1e-9)
            share = n_now / planned_n if planned_n else k / planned_days
            assert r["info_fraction"] == pytest.approx(share, rel=1e-9)
        assert (r["p_value"] < ALPHA) == bool(sig[0, k - 1])
