"""A/B statistics checked against scipy/statsmodels reference numbers and hand-built cases."""

from __future__ import annotations

import dataclasses
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from opsnb import abtest as ab
from opsnb.abtest import power as pw
from opsnb.abtest.analysis import (
    arm_stats_from_frame,
    arm_stats_sql,
    coerce_numeric,
    compare_means_cuped_from_frame,
    compare_proportions_from_frame,
    compare_ratios_from_frame,
    parse_metric,
    readout,
    readout_duckdb,
    srm_check_from_frame,
)
from opsnb.abtest.bayes import bayes_means, bayes_proportions
from opsnb.abtest.decision import decide, segment_breakdown
from opsnb.abtest.sequential import sequential_proportions
from opsnb.errors import (
    DataContractError,
    ErrorCode,
    ParameterError,
    SampleRatioMismatchWarning,
    SmallSampleWarning,
)

sys.path.insert(0, str(Path(__file__).parent / "reference"))
import abtest_reference as REF  # noqa: E402
import relative_intervals as RI  # noqa: E402

S = ab.SampleStats


# --------------------------------------------------------------------------- reference values
@pytest.mark.parametrize("row", REF.PROPORTIONS)
def test_proportions_match_statsmodels_ztest_and_newcombe(row):
    xc, nc, xt, nt, z, p, lo, hi, p_larger = row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        r = ab.compare_proportions(S.from_counts(xc, nc), S.from_counts(xt, nt))
        r1 = ab.compare_proportions(
            S.from_counts(xc, nc), S.from_counts(xt, nt), alternative="larger"
        )
    assert_allclose([r.statistic, r.p_value, r.ci_low, r.ci_high], [z, p, lo, hi], rtol=1e-9)
    assert_allclose(r1.p_value, p_larger, rtol=1e-9)
    assert r1.ci_high == math.inf and r1.ci_low > r.ci_low


def test_welch_matches_scipy_ttest_ind():
    t, df, p, lo, hi, p_larger = REF.WELCH
    c, tr = S.from_values(REF.WELCH_CONTROL), S.from_values(REF.WELCH_TREATMENT)
    r = ab.compare_means(c, tr)
    assert_allclose([r.statistic, r.p_value, r.ci_low, r.ci_high], [t, p, lo, hi], rtol=1e-9)
    assert_allclose(ab.compare_means(c, tr, alternative="larger").p_value, p_larger, rtol=1e-9)


def test_srm_matches_scipy_chisquare_and_flags_below_one_in_a_thousand():
    r = ab.srm_check([5120, 4880])
    assert_allclose([r.statistic, r.p_value], REF.SRM_2, rtol=1e-12)
    assert not r.flagged
    with pytest.warns(SampleRatioMismatchWarning, match="sample ratio mismatch"):
        r3 = ab.srm_check({"a": 3000, "b": 3100, "c": 2820}, threshold=0.002)
    assert_allclose([r3.statistic, r3.p_value], REF.SRM_3, rtol=1e-12)
    assert r3.flagged
    r2 = ab.srm_check([2100, 7900], [20, 80])
    assert_allclose([r2.statistic, r2.p_value], REF.SRM_20_80, rtol=1e-12)


def test_holm_and_bh_match_statsmodels_multipletests():
    assert_allclose(ab.correct_pvalues(REF.PVALUES, "holm"), REF.HOLM, rtol=1e-12)
    assert_allclose(ab.correct_pvalues(REF.PVALUES, "bh"), REF.BH, rtol=1e-12)
    out = ab.correct_pvalues([0.01, np.nan, 0.04], "holm")
    assert np.isnan(out[1])
    assert_allclose(out[[0, 2]], [0.02, 0.04])


def test_power_matches_statsmodels():
    assert_allclose(
        pw.power_proportions(0.05, 0.005, 20000, difference="absolute"), REF.POWER_PROP, rtol=1e-10
    )
    assert_allclose(pw.power_means(2.0, 0.1, 3000), REF.POWER_MEANS, rtol=1e-10)
    n = pw.sample_size_means(1.0, 0.1)
    assert n == math.ceil(REF.N_MEANS)
    mde = pw.mde_means(1.0, REF.N_MEANS)
    assert_allclose(mde, 0.1, rtol=1e-3)
    n_p = pw.sample_size_proportions(0.05, 0.1)
    assert_allclose(pw.power_proportions(0.05, 0.1, n_p), 0.8, atol=1e-3)
    assert_allclose(pw.mde_proportions(0.05, n_p), 0.1, rtol=1e-3)


def test_duration_uses_recent_real_daily_traffic():
    days = pd.date_range("2025-01-01", periods=60)
    traffic = pd.Series(np.r_[np.full(32, 100.0), np.full(28, 1000.0)], index=days)
    d = pw.duration_days(5000, traffic, arms=2)
    assert d.daily_units == 1000 and d.days == pytest.approx(10.0)
    assert pw.duration_days(5000, traffic, already=4000).days == pytest.approx(6.0)
    assert pw.duration_days(5000, 0).error_code == ErrorCode.NO_HISTORY


# --------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("row", RI.SCORE)
def test_relative_interval_of_proportions_is_the_score_interval_of_the_reported_test(row):
    """The issue's examples: 100/1000 vs 130/1000 (p 0.035) had a delta-method interval
    [-1.9 %, +61.9 %]; 3/200 vs 9/200 had [-188 %, +588 %], below -100 %."""
    xc, nc, xt, nt, p, lo, hi = row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        r = ab.compare_proportions(S.from_counts(xc, nc), S.from_counts(xt, nt))
    assert_allclose([r.p_value, r.rel_ci_low, r.rel_ci_high], [p, lo, hi], rtol=1e-9)
    assert -1 < r.rel_ci_low < r.rel_estimate < r.rel_ci_high
    assert (r.rel_ci_low > 0) == (r.p_value < 0.05)


def test_relative_interval_of_means_is_fieller_with_the_welch_quantile():
    c, t = S.from_values(REF.WELCH_CONTROL), S.from_values(REF.WELCH_TREATMENT)
    r = ab.compare_means(c, t)
    assert_allclose([r.rel_ci_low, r.rel_ci_high], RI.WELCH_FIELLER, rtol=1e-9)
    assert r.rel_estimate == pytest.approx(t.mean / c.mean - 1)


@pytest.mark.parametrize("row", RI.FIELLER_UNPOOLED)
def test_sequential_relative_interval_is_fieller_with_the_sequential_multiplier(row):
    """One group-sequential look with all of α (boundary z_0.975) inverts the unpooled Wald
    test: its relative interval is the closed-form Fieller interval, NaN when unbounded."""
    xc, nc, xt, nt, lo, hi = row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        f = ab.compare_proportions(S.from_counts(xc, nc), S.from_counts(xt, nt))
    g = ab.group_sequential_from_result(f)
    if lo is None:
        assert math.isnan(g.rel_ci_low) and math.isnan(g.rel_ci_high)
    else:
        assert_allclose([g.rel_ci_low, g.rel_ci_high], [lo, hi], rtol=1e-9)


@pytest.mark.parametrize("row", RI.BETA_RATIO)
def test_bayes_relative_interval_comes_from_the_beta_posterior_of_the_ratio(row):
    xc, nc, xt, nt, lo, hi = row
    r = bayes_proportions(S.from_counts(xc, nc), S.from_counts(xt, nt))
    assert_allclose([r.rel_ci_low, r.rel_ci_high], [lo, hi], rtol=1e-7)
    assert (r.rel_ci_low > 0) == (r.chance_to_win > 0.975)


def _excludes_zero(r) -> bool:
    return bool(r.rel_ci_low > 0 or r.rel_ci_high < 0)


def test_relative_interval_excludes_zero_exactly_when_the_same_test_rejects():
    """Across a grid straddling every method's significance boundary: the relative interval
    excludes 0 exactly when that method's own test rejects (p < α, or for Bayesian results a
    chance to win outside [α/2, 1 - α/2])."""
    from opsnb.abtest.bayes import bayes_from_result
    from opsnb.abtest.sequential import sequential_from_result

    seen = {}

    def check(name, r, significant):
        assert _excludes_zero(r) == significant, (name, r)
        seen.setdefault(name, set()).add(significant)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        for xt in range(60, 180, 2):
            for xc, n in ((100, 1000), (20, 160)):
                c, t = S.from_counts(xc, n), S.from_counts(round(xt * xc / 100), n)
                f = ab.compare_proportions(c, t)
                check("z-test", f, f.p_value < 0.05)
                m = sequential_from_result(f, planned_n=4 * n)
                check("msprt", m, m.p_value < 0.05)
                info = float(ab.information(n, n))
                g = ab.group_sequential_from_result(f, [info / 4, info], planned=2 * info)
                check("group-sequential", g, g.p_value < 0.05)
                b = bayes_proportions(c, t)
                check("bayes-beta", b, not 0.025 <= b.chance_to_win <= 0.975)
        for lift in np.linspace(-0.12, 0.12, 61):
            c = S(400, 400 * 10.0, 400 * (100.0 + 9.0))
            t = S(300, 300 * 10 * (1 + lift), 300 * ((10 * (1 + lift)) ** 2 + 16.0))
            w = ab.compare_means(c, t)
            check("welch", w, w.p_value < 0.05)
            for prior_sd in (math.inf, 0.5):
                b = bayes_from_result(w, prior_sd=prior_sd)
                check(f"bayes-gaussian-{prior_sd}", b, not 0.025 <= b.chance_to_win <= 0.975)
    assert all(v == {True, False} for v in seen.values()), seen


def test_degenerate_inputs_return_nan_with_error_code():
    empty = ab.compare_proportions(S.from_counts(0, 0), S.from_counts(3, 10))
    assert empty.error_code == ErrorCode.EMPTY_ARM and math.isnan(empty.p_value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        flat = ab.compare_means(S(5, 50.0, 500.0), S(5, 50.0, 500.0))
        zero = ab.compare_proportions(S.from_counts(0, 100), S.from_counts(0, 100))
        one = ab.compare_means(S(1, 3.0, 9.0), S(5, 50.0, 520.0))
        ratio = ab.compare_ratios(
            ab.PairStats(40, 10, 10, 0, 0, 0), ab.PairStats(40, 10, 10, 5, 5, 5)
        )
    assert flat.error_code == ErrorCode.ZERO_VARIANCE and math.isnan(flat.ci_low)
    assert zero.error_code == ErrorCode.ZERO_VARIANCE and math.isnan(zero.p_value)
    assert one.error_code == ErrorCode.TOO_FEW_OBSERVATIONS
    assert ratio.error_code == ErrorCode.ZERO_DENOMINATOR and math.isnan(ratio.estimate)


def test_small_arms_warn():
    with pytest.warns(SmallSampleWarning):
        ab.compare_means(S.from_values([1, 2, 3, 4]), S.from_values([2, 3, 4, 5]))


def test_results_are_frozen_and_convert_to_dict_and_frame():
    r = ab.compare_proportions(S.from_counts(100, 1000), S.from_counts(130, 1000))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.p_value = 0.5
    assert r.to_dict()["estimate"] == pytest.approx(0.03)
    assert list(r.to_frame().columns) == list(r.to_dict())


def test_bad_arguments_name_the_allowed_values():
    with pytest.raises(ValueError, match="two-sided"):
        ab.compare_means(S(3, 3, 5), S(3, 3, 5), alternative="bigger")
    with pytest.raises(ValueError, match="holm"):
        ab.correct_pvalues([0.1], "bonferonni")
    with pytest.raises(ParameterError, match="proportion"):
        parse_metric("gmv:median")
    with pytest.raises(ValueError, match="difference"):
        pw.power_proportions(0.1, 0.1, 100, difference="ratio")


def test_parse_metric_reads_ratio_and_marks_refund_rate_lower_is_better():
    m = parse_metric("aov:mean:gmv/orders")
    assert (m.kind, m.column, m.denominator) == ("ratio", "gmv", "orders")
    r = parse_metric("refund_rate:proportion:refund_orders/orders")
    assert r.lower_is_better and r.kind == "ratio"
    assert parse_metric("gmv:mean", {"gmv": "pre_gmv"}).covariate == "pre_gmv"


def test_bayes_beta_chance_to_win_matches_monte_carlo():
    r = bayes_proportions(S.from_counts(100, 1000), S.from_counts(130, 1000))
    rng = np.random.default_rng(3)
    a, b = rng.beta(101, 901, 400_000), rng.beta(131, 871, 400_000)
    assert r.chance_to_win == pytest.approx((b > a).mean(), abs=3e-3)
    assert r.risk == pytest.approx(np.maximum(a - b, 0).mean(), rel=0.05)


def test_bayes_means_flat_prior_equals_normal_p_value_and_proper_prior_shrinks():
    c, t = S(400, 400 * 10.0, 400 * 104.0), S(400, 400 * 10.4, 400 * (10.4**2 + 4))
    f = ab.compare_means(c, t)
    b = bayes_means(c, t)
    assert b.chance_to_win == pytest.approx(1 - f.p_value / 2, abs=2e-3)  # t vs normal
    shrunk = bayes_means(c, t, prior_sd=0.1)
    assert (
        abs(shrunk.estimate) < abs(b.estimate)
        and shrunk.ci_high - shrunk.ci_low < b.ci_high - b.ci_low
    )


def test_sequential_interval_is_wider_than_fixed_horizon_and_contains_estimate():
    c, t = S.from_counts(100, 1000), S.from_counts(130, 1000)
    f = ab.compare_proportions(c, t)
    s = sequential_proportions(c, t)
    assert s.ci_low < f.ci_low and s.ci_high > f.ci_high and s.ci_low < s.estimate < s.ci_high
    assert s.p_value > f.p_value


# --------------------------------------------------------------------------- frames and SQL
def _units(n=4000, seed=1, lift=0.0):
    rng = np.random.default_rng(seed)
    v = rng.choice(["control", "treatment"], n)
    pre = rng.gamma(1.5, 40, n)
    conv = rng.random(n) < np.where(v == "treatment", 0.08 * (1 + lift), 0.08)
    orders = conv * rng.integers(1, 3, n)
    gmv = orders * rng.gamma(3, 30, n) + 0.2 * pre
    return pd.DataFrame(
        {
            "unit_id": np.arange(n).astype(str),
            "variant": v,
            "converted": conv,
            "orders": orders,
            "gmv": gmv,
            "pre_gmv": pre,
            "refund_orders": np.minimum(orders, rng.random(n) < 0.02),
            "channel": rng.choice(["抖音", "直播", "自然搜索"], n),
        }
    )


METRICS = [
    "converted:proportion",
    "gmv:mean",
    "aov:mean:gmv/orders",
    "refund_rate:proportion:refund_orders/orders",
]


def test_duckdb_sums_equal_pandas_sums_on_parquet(tmp_path):
    df = _units()
    path = tmp_path / "units.parquet"
    df.to_parquet(path)
    a = arm_stats_from_frame(df, "variant", METRICS, cap=0.99)
    b = arm_stats_sql(str(path), "variant", METRICS, cap=0.99)
    cols = ["units", "n", "sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy"]
    assert a[["variant", "metric"]].equals(b[["variant", "metric"]])
    assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), rtol=1e-9)
    ra = readout(df, metrics=METRICS, covariates={"gmv": "pre_gmv"})
    rb = readout_duckdb(str(path), metrics=METRICS, covariates={"gmv": "pre_gmv"})
    assert_allclose(ra.results["p_value"], rb.results["p_value"], rtol=1e-8)


def test_frame_wrappers_equal_the_core_functions():
    df = _units()
    c, t = df[df.variant == "control"], df[df.variant == "treatment"]
    r = compare_proportions_from_frame(df, "variant", "converted", "control")
    core = ab.compare_proportions(
        S.from_counts(c.converted.sum(), len(c)), S.from_counts(t.converted.sum(), len(t))
    )
    assert r.p_value == pytest.approx(core.p_value) and r.ci_low == pytest.approx(core.ci_low)
    rr = compare_ratios_from_frame(df, "variant", "gmv", "orders", "control")
    core_r = ab.compare_ratios(
        ab.PairStats.from_values(c.gmv, c.orders), ab.PairStats.from_values(t.gmv, t.orders)
    )
    assert rr.estimate == pytest.approx(core_r.estimate) and rr.se == pytest.approx(core_r.se)
    rc = compare_means_cuped_from_frame(df, "variant", "gmv", "pre_gmv", "control")
    assert 0.02 < rc.variance_reduction < 1
    assert srm_check_from_frame(df, "variant").counts == {"control": len(c), "treatment": len(t)}


def test_unit_col_aggregates_sessions_and_rejects_units_in_two_arms():
    sessions = pd.DataFrame(
        {
            "user": ["u1", "u1", "u2", "u3", "u3", "u4"],
            "variant": ["A", "A", "A", "B", "B", "B"],
            "converted": [0, 1, 0, 1, 1, 0],
            "gmv": [0, 10, 0, 5, 7, 0],
        }
    )
    st = arm_stats_from_frame(
        sessions, "variant", ["converted:proportion", "gmv:mean"], unit_col="user"
    )
    conv = st[st.metric == "converted"].set_index("variant")
    assert conv.loc["A", "n"] == 2 and conv.loc["A", "sum_y"] == 1 and conv.loc["B", "sum_y"] == 1
    assert st[st.metric == "gmv"].set_index("variant").loc["B", "sum_y2"] == 144
    bad = sessions.assign(variant=["A", "B", "A", "B", "B", "B"])
    with pytest.raises(DataContractError, match="more than one variant"):
        arm_stats_from_frame(bad, "variant", ["converted:proportion"], unit_col="user")


def test_boolean_text_is_read_as_zero_one_and_bad_cells_are_located():
    df = pd.DataFrame({"c": ["TRUE", "false", "是", "否", "1", "0", "", "yes"]})
    assert coerce_numeric(df, ["c"])["c"].tolist()[:6] == [1, 0, 1, 0, 1, 0]
    with pytest.raises(DataContractError) as e:
        coerce_numeric(pd.DataFrame({"c": ["1", "maybe", "0"]}), ["c"], source="x.csv")
    assert "x.csv, row 3, column 'c'" in str(e.value)


def test_unknown_control_or_missing_column_is_reported():
    df = _units(200)
    with pytest.raises(ParameterError, match="variants are"):
        readout(df, control="ctrl", metrics=["converted:proportion"])
    with pytest.raises(DataContractError, match="missing column"):
        readout(df, metrics=["clicks:proportion"])


def test_capping_shrinks_heavy_tail_variance():
    df = _units(4000)
    df.loc[df.index[:5], "gmv"] = 1e6
    raw = readout(df, metrics=["gmv:mean"]).results.iloc[0]
    cap = readout(df, metrics=["gmv:mean"], cap=0.99).results.iloc[0]
    assert cap["ci_high"] - cap["ci_low"] < (raw["ci_high"] - raw["ci_low"]) / 5


def test_readout_to_dict_has_the_cli_json_keys():
    d = readout(_units(), metrics=METRICS, covariates={"gmv": "pre_gmv"}).to_dict()
    assert set(d["srm"]) == {"p_value", "counts", "flagged", "threshold"}
    assert d["srm"]["threshold"] == 0.001 and d["design"]["design"] == "fixed"
    keys = {
        "metric",
        "variant",
        "n_control",
        "n_treatment",
        "control_mean",
        "treatment_mean",
        "abs_lift",
        "rel_lift",
        "ci_low",
        "ci_high",
        "rel_ci_low",
        "rel_ci_high",
        "p_value",
        "chance_to_win",
        "risk",
        "method",
    }
    assert all(keys <= set(r) for r in d["results"]) and len(d["results"]) == 4
    assert d["results"][0]["chance_to_win"] is None  # NaN → null in JSON


# --------------------------------------------------------------------------- decisions
def test_decision_ships_a_clear_winner_and_says_why():
    ro = readout(_units(40_000, lift=0.25), metrics=METRICS)
    d = decide(ro)
    assert d.decision == "ship" and d.variant == "treatment"
    assert "converted" in d.reason("en") and "上线" in d.reason("zh")


def test_decision_blocks_a_winner_that_raises_refunds():
    df = _units(40_000, lift=0.25)
    t = (df.variant == "treatment") & (df.orders > 0)
    df.loc[t, "refund_orders"] = df.loc[t, "orders"]  # every treatment order refunded
    d = decide(readout(df, metrics=METRICS))
    assert d.decision == "dont_ship" and d.metric == "refund_rate"


def test_decision_keeps_running_when_underpowered_and_counts_days():
    d = decide(readout(_units(2000), metrics=METRICS), daily_units=500)
    assert d.decision == "keep_running" and d.days_left > 0 and "天" in d.reason("zh")


def test_decision_is_inconclusive_when_powered_but_flat_or_when_srm():
    big = _units(300_000, seed=5)
    d = decide(readout(big, metrics=["converted:proportion"]), mde=0.1)
    assert d.decision == "inconclusive" and "small" in d.reason("en")
    skew = pd.concat([big, big[big.variant == "treatment"].iloc[:5000]])
    with pytest.warns(SampleRatioMismatchWarning):
        d2 = decide(readout(skew, metrics=["converted:proportion"]))
    assert d2.decision == "inconclusive" and "SRM" in d2.reason("zh")


def test_segment_breakdown_corrects_over_all_segments():
    out = segment_breakdown(_units(), "channel", metrics=["converted:proportion"])
    assert set(out["segment"]) == {"抖音", "直播", "自然搜索"}
    assert (out["p_adjusted"] >= out["p_value"]).all() and "3 segment" in out.attrs["scope"]


def test_decision_names_a_significantly_worse_arm_even_when_no_arm_wins():
    rng = np.random.default_rng(3)
    n = 3000
    v = np.repeat(["A", "B", "C"], n)
    p = np.where(v == "B", 0.06, 0.08)  # B is much worse, C equal to control
    df = pd.DataFrame({"variant": v, "converted": rng.random(3 * n) < p})
    d = decide(readout(df, control="A", metrics=["converted:proportion"]), mde=0.1)
    assert d.decision in ("keep_running", "inconclusive")
    assert "B" in d.reason("en") and "significantly worse" in d.reason("en")
    assert "B" in d.reason("zh") and "显著更差" in d.reason("zh")
    assert "(C)" in d.reason("en") and "C" not in d.reason("en").split("significantly worse")[0]


def _daily_units(seed=8, days=14, per_day=1200, rates=(0.055, 0.066)):
    rng = np.random.default_rng(seed)
    n = days * per_day
    df = pd.DataFrame(
        {
            "variant": rng.choice(["control", "treatment"], n),
            "assigned_at": pd.Timestamp("2025-09-01")
            + pd.to_timedelta(rng.integers(0, days, n), unit="D"),
        }
    )
    df["converted"] = rng.random(n) < np.where(df["variant"] == "treatment", rates[1], rates[0])
    return df


def test_sequential_readout_ships_only_once_the_boundary_of_the_planned_daily_looks_is_crossed():
    """Same data, same final z: at look 14 of a design planned for 14 days the O'Brien–Fleming
    boundary is ≈ 2.0 (the final analysis); planned for 56 days (a quarter of the plan) it is
    ≈ 4.3. (Before issue 20 `sequential` without a plan treated the last look as the planned
    end; now it needs the plan and is the always-valid mSPRT without one.)"""
    df = _daily_units()
    n = len(df)
    kw = dict(metrics=["converted:proportion"], method="sequential", time_col="assigned_at")
    full = readout(df, planned_days=14, **kw)
    early = readout(df, planned_n=4 * n, **kw)
    by_days = readout(df, planned_days=56, **kw)
    fixed = readout(df, metrics=["converted:proportion"])
    r, e, f = full.results.iloc[0], early.results.iloc[0], fixed.results.iloc[0]
    assert r["looks"] == 14 and r["method"].startswith("group-sequential-obf")
    assert r["info_fraction"] == 1.0 and e["info_fraction"] == pytest.approx(0.25)
    assert by_days.results.iloc[0]["info_fraction"] == pytest.approx(0.25)
    assert f["p_value"] < r["p_value"] < 0.05 < e["p_value"]
    d = decide(full)
    assert d.decision == "ship" and "plan is complete (look 14" in d.reason("en")
    assert "may stop" not in d.reason("en")
    de = decide(early)
    assert de.decision == "keep_running"
    assert "boundary has not been crossed at 25% of the planned information" in de.reason("en")
    m = readout(df, metrics=["converted:proportion"], method="msprt").results.iloc[0]
    assert m["method"].startswith("sequential-") and m["p_value"] > r["p_value"]


def test_sequential_without_a_plan_is_the_always_valid_msprt_and_says_so():
    df = _daily_units()
    ro = readout(df, metrics=["converted:proportion"], method="sequential", time_col="assigned_at")
    r = ro.results.iloc[0]
    assert ro.plan.design == "msprt" and not ro.plan.has_plan and ro.plan.tuning_n == 5000
    assert r["method"] == "sequential-z-test" and r["looks"] == 14
    assert ro.to_dict()["design"]["design"] == "msprt"
    msprt = readout(df, metrics=["converted:proportion"], method="msprt").results.iloc[0]
    assert r["p_value"] == pytest.approx(msprt["p_value"]) and r["ci_low"] == msprt["ci_low"]
    d = decide(ro)
    if d.decision == "ship":
        assert "always-valid (mSPRT) interval excludes 0 at look 14" in d.reason("en")


def test_an_aa_like_result_at_p_004_does_not_read_ship_under_daily_sequential_looks():
    """1 in 25 A/A tests ends like this (fixed-horizon p ≈ 0.04): the old default read "Ship …
    the sequential boundary is crossed"; the always-valid design keeps running."""
    rows = []
    for k in range(14):
        day = pd.Timestamp("2025-09-01") + pd.Timedelta(days=k)
        for arm, conv in (("control", 71), ("treatment", 77 + k % 2)):  # 994 vs 1085 of 10 010
            rows.append(
                pd.DataFrame(
                    {
                        "variant": arm,
                        "converted": np.arange(715) < conv,
                        "assigned_at": day,
                    }
                )
            )
    df = pd.concat(rows, ignore_index=True)
    fixed = readout(df, metrics=["converted:proportion"]).results.iloc[0]
    assert 0.03 < fixed["p_value"] < 0.05
    ro = readout(df, metrics=["converted:proportion"], method="sequential", time_col="assigned_at")
    d = decide(ro, daily_units=1430)
    assert d.decision != "ship" and "stop now" not in d.reason("en")
    assert "no early stop" in d.reason("en") and "不能提前下结论" in d.reason("zh")


def test_group_sequential_needs_a_plan_and_planned_days_needs_daily_looks():
    df = _daily_units(days=3, per_day=300)
    with pytest.raises(ParameterError, match="needs a plan"):
        readout(df, method="group_sequential", time_col="assigned_at")
    with pytest.raises(ParameterError, match="planned_days needs the assignment-time column"):
        readout(df, method="sequential", planned_days=14)
    with pytest.raises(ParameterError, match="planned_n must be a positive number"):
        readout(df, method="sequential", planned_n=-5)
    ok = readout(df, method="group_sequential", planned_n=4000, spending="pocock")
    assert ok.results.iloc[0]["method"].startswith("group-sequential-pocock")


def test_srm_threshold_is_a_parameter_of_the_readout():
    df = pd.DataFrame({"variant": ["control"] * 5120 + ["treatment"] * 4880, "converted": 0})
    df.loc[::7, "converted"] = 1
    assert not readout(df).srm.flagged  # p = 0.016 > 0.001
    with pytest.warns(SampleRatioMismatchWarning):
        ro = readout(df, srm_alpha=0.05)
    assert ro.srm.flagged and ro.srm.threshold == 0.05 and ro.to_dict()["srm"]["threshold"] == 0.05
    assert decide(ro).decision == "inconclusive"
    with pytest.raises(ParameterError, match="srm_alpha"):
        readout(df, srm_alpha=1.5)


def test_duckdb_reads_the_boolean_spellings_of_the_pandas_path_from_csv(tmp_path):
    rng = np.random.default_rng(12)
    n = 800
    conv = rng.random(n) < 0.3
    spell = {
        True: ["TRUE", "true", "1", "是", "yes", "1.0"],
        False: ["FALSE", "false", "0", "否", "no", "0.0"],
    }
    df = pd.DataFrame(
        {
            "variant": rng.choice(["A", "B"], n),
            "converted": [spell[bool(c)][i % 6] for i, c in enumerate(conv)],
            "gmv": [f"{v:,.2f}" for v in conv * rng.gamma(3, 400, n)],  # thousands separators
        }
    )
    df.loc[5, "gmv"] = ""  # a unit without the metric
    path = tmp_path / "units.csv"
    df.to_csv(path, index=False)
    metrics = ["converted:proportion", "gmv:mean"]
    a = arm_stats_from_frame(df, "variant", metrics)
    b = arm_stats_sql(str(path), "variant", metrics)
    cols = ["units", "n", "sum_y", "sum_y2", "n_missing", "sum_y_missing"]
    assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), rtol=1e-12)
    assert b.loc[b.metric == "converted", "sum_y"].sum() == conv.sum()
    ra = readout(df, control="A", metrics=metrics).results
    rb = readout_duckdb(str(path), control="A", metrics=metrics).results
    assert_allclose(ra["p_value"], rb["p_value"], rtol=1e-10)
    bad = path.read_text().splitlines()
    bad[4] = bad[4].replace(bad[4].split(",")[1], "maybe", 1)
    (tmp_path / "bad.csv").write_text("\n".join(bad) + "\n")
    with pytest.raises(DataContractError) as e:
        readout_duckdb(str(tmp_path / "bad.csv"), control="A", metrics=metrics)
    assert "bad.csv, row 5, column 'converted'" in str(e.value) and "maybe" in str(e.value)


def _new_users_carry_the_effect(n=20_000, seed=20):
    """The issue's case: 40 % new users without a pre-period carry the whole effect."""
    rng = np.random.default_rng(seed)
    parts = []
    for arm, effect in (("A", 0.0), ("B", 2.875)):
        new = rng.random(n) < 0.4
        pre = np.where(new, np.nan, rng.gamma(2.0, 10.0, n))
        y = np.where(
            new, 15 + rng.normal(0, 10, n) + effect, 0.9 * np.nan_to_num(pre) + rng.normal(0, 8, n)
        )
        parts.append(pd.DataFrame({"variant": arm, "gmv": y, "pre_gmv": pre}))
    return pd.concat(parts, ignore_index=True)


def test_cuped_keeps_units_without_a_covariate_and_matches_ols_with_hc2_errors():
    """Reference: statsmodels OLS gmv ~ 1 + arm + pre_gmv (0 where missing) + missing, HC2 —
    the same fit, so the estimates agree to rounding; the CUPED standard error (variance of
    the adjusted values per arm) equals HC2 up to O(1/n) leverage terms."""
    import statsmodels.api as sm

    df = _new_users_carry_the_effect()
    ro = readout(df, control="A", metrics=["gmv:mean"], covariates={"gmv": "pre_gmv"})
    r = ro.results.iloc[0]
    t = (df["variant"] == "B").astype(float)
    miss = df["pre_gmv"].isna().astype(float)
    x = sm.add_constant(np.column_stack([t, df["pre_gmv"].fillna(0.0), miss]))
    fit = sm.OLS(df["gmv"], x).fit(cov_type="HC2")
    assert r["method"] == "cuped" and r["n_control"] + r["n_treatment"] == len(df)
    assert r["n_missing_covariate"] == miss.sum()
    assert r["abs_lift"] == pytest.approx(fit.params.iloc[1], rel=1e-10)
    assert r["se"] == pytest.approx(fit.bse.iloc[1], rel=2e-4)
    plain = readout(df, control="A", metrics=["gmv:mean"]).results.iloc[0]
    assert r["ci_low"] < 0.4 * 2.875 < r["ci_high"] and r["se"] < plain["se"]
    # the old behaviour (dropping units without a covariate) estimated the effect on the others
    complete = df.dropna()
    dropped = ab.compare_means_cuped(
        *(ab.PairStats.from_values(g["gmv"], g["pre_gmv"]) for _, g in complete.groupby("variant"))
    )
    assert abs(dropped.estimate) < 3 * dropped.se and dropped.ci_high < r["ci_low"]


def test_cuped_with_gaps_is_the_same_from_pairstats_frames_and_duckdb(tmp_path):
    df = _new_users_carry_the_effect(n=3000, seed=4)
    a, b = (df[df.variant == v] for v in ("A", "B"))
    core = ab.compare_means_cuped(
        ab.PairStats.from_values(a.gmv, a.pre_gmv, missing="indicator"),
        ab.PairStats.from_values(b.gmv, b.pre_gmv, missing="indicator"),
    )
    frame = compare_means_cuped_from_frame(df, "variant", "gmv", "pre_gmv", "A")
    path = tmp_path / "gaps.parquet"
    df.to_parquet(path)
    sql = readout_duckdb(
        str(path), control="A", metrics=["gmv:mean"], covariates={"gmv": "pre_gmv"}
    ).results.iloc[0]
    assert_allclose(
        [frame.estimate, frame.se, sql["abs_lift"], sql["se"]],
        [core.estimate, core.se] * 2,
        rtol=1e-9,
    )
    assert core.n_missing_covariate == df.pre_gmv.isna().sum() == sql["n_missing_covariate"]
    with pytest.raises(ValueError, match="indicator"):
        ab.PairStats.from_values(a.gmv, a.pre_gmv, missing="fill")
