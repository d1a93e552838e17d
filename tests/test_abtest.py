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
def test_relative_lift_and_its_interval_come_from_the_delta_method():
    r = ab.compare_means(
        S(10_000, 10_000 * 50.0, 10_000 * (50.0**2 + 100.0)),
        S(10_000, 10_000 * 52.0, 10_000 * (52.0**2 + 100.0)),
    )
    assert r.rel_estimate == pytest.approx(0.04)
    se = math.sqrt(0.01 / 50**2 + 52**2 * 0.01 / 50**4)
    assert (r.rel_ci_high - r.rel_ci_low) / 2 == pytest.approx(1.96 * se, rel=1e-3)


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
    assert set(d["srm"]) == {"p_value", "counts", "flagged"}
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


def test_sequential_readout_ships_only_once_the_boundary_of_the_daily_looks_is_crossed():
    """Same data, same final z: at look 14 of a design planned for 14 days the O'Brien–Fleming
    boundary is ≈ 2.0; planned for 56 days (a quarter of the information) it is ≈ 4.3."""
    rng = np.random.default_rng(8)
    n = 14 * 1200
    df = pd.DataFrame(
        {
            "variant": rng.choice(["control", "treatment"], n),
            "assigned_at": pd.Timestamp("2025-09-01")
            + pd.to_timedelta(rng.integers(0, 14, n), unit="D"),
        }
    )
    df["converted"] = rng.random(n) < np.where(df["variant"] == "treatment", 0.066, 0.055)
    full = readout(
        df, metrics=["converted:proportion"], method="sequential", time_col="assigned_at"
    )
    early = readout(
        df,
        metrics=["converted:proportion"],
        method="sequential",
        time_col="assigned_at",
        planned_n=4 * n,
    )
    fixed = readout(df, metrics=["converted:proportion"])
    r, e, f = full.results.iloc[0], early.results.iloc[0], fixed.results.iloc[0]
    assert r["looks"] == 14 and r["method"].startswith("group-sequential-obf")
    assert f["p_value"] < r["p_value"] < 0.05 < e["p_value"]
    assert decide(full).decision == "ship" and "look 14" in decide(full).reason("en")
    assert decide(early).decision == "keep_running"
    assert "boundary has not been crossed" in decide(early).reason("en")
    m = readout(df, metrics=["converted:proportion"], method="msprt").results.iloc[0]
    assert m["method"].startswith("sequential-") and m["p_value"] > r["p_value"]
