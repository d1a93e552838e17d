"""The vectorised anomaly engine: calibration, causality, rates, events, BH, frequencies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from opsnb.monitoring import anomaly as A
from opsnb.monitoring.kernels import bh_adjust, binom_two_sided, cusum
from opsnb.monitoring.scoring import EngineConfig, score_counts, score_rates, score_ratios

WEEK = np.array([1.0, 0.95, 0.9, 0.92, 1.05, 1.25, 1.3])


def _null_counts(S=30, T=400, seed=1):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=T)
    base = rng.uniform(50, 20000, S)
    trend = np.exp(np.linspace(0, 0.3, T))
    mu = (
        base[:, None]
        * WEEK[dates.day_of_week][None, :]
        * trend[None, :]
        * np.exp(rng.normal(0, 0.05, (S, T)))
    )
    return dates, rng.poisson(mu).astype(float)


def test_false_alarm_rate_on_anomaly_free_counts_is_within_target():
    # Target (documented in opsnb.monitoring): ≤ 0.5 % of series-days flagged and ≤ 10 % of days
    # with any alert among 30 series, at the default sensitivity (BH alpha 0.01).
    dates, Y = _null_counts()
    r = score_counts(Y, 7)
    flags = (bh_adjust(r["p_value"]) <= 0.01) | r["level_shift"]
    warm = flags[:, 60:]
    assert warm.mean() <= 0.005
    assert warm.any(axis=0).mean() <= 0.10
    z = r["z"][:, 60:]
    assert 0.85 < np.nanstd(z) < 1.2  # the robust scale is calibrated


def test_injected_spike_and_drop_are_found_and_do_not_drag_the_baseline():
    dates, Y = _null_counts(S=5, T=200, seed=3)
    Y2 = Y.copy()
    Y2[0, 120:127] *= 0.3  # a week-long tracking outage
    Y2[1, 150] *= 2.5
    r = score_counts(Y2, 7)
    flags = bh_adjust(r["p_value"]) <= 0.01
    assert flags[0, 120:127].all()
    assert flags[1, 150]
    # after the outage the expected value is back near the clean series' expectation
    r0 = score_counts(Y, 7)
    assert np.allclose(r["expected"][0, 130:140], r0["expected"][0, 130:140], rtol=0.05)


def test_appending_future_data_never_changes_past_decisions():
    dates, Y = _null_counts(S=8, T=300, seed=5)
    Y[2, 200:] *= 1.8
    full = score_counts(Y, 7)
    for cut in (150, 205, 260):
        part = score_counts(Y[:, :cut], 7)
        for k in ("expected", "z", "p_value", "lower", "upper"):
            np.testing.assert_array_equal(part[k], full[k][:, :cut])
        np.testing.assert_array_equal(part["level_shift"], full["level_shift"][:, :cut])
    rng = np.random.default_rng(2)
    N = rng.integers(100, 5000, (4, 300)).astype(float)
    X = rng.binomial(N.astype(int), 0.03).astype(float)
    fr = score_rates(X, N, 7)
    pr = score_rates(X[:, :180], N[:, :180], 7)
    np.testing.assert_array_equal(pr["p_value"], fr["p_value"][:, :180])


def _shifted_counts(seed: int, S: int = 40, T: int = 200) -> np.ndarray:
    """Anomaly-free counts with a +20 % level shift from day 120 and a −20 % day 141."""
    _, Y = _null_counts(S=S, T=T, seed=seed)
    Y = np.round(Y * np.where(np.arange(T) >= 120, 1.2, 1.0))
    Y[:, 141] = np.round(Y[:, 141] * 0.8)
    return Y


@pytest.mark.parametrize("seed", [11, 12])
def test_a_drop_three_weeks_after_a_level_shift_is_judged_against_the_new_level(seed):
    # issue 15: the old baseline took weeks to follow the shift and its days read as a heavy
    # tail (ν = 3), so the −20 % day was found in 7 and 10 of 40 series; restarted at the
    # CUSUM alarm, 24 and 24 of 40 (22 and 23 with shift_return: the drop moves back toward
    # the ordinary baseline), other days after the shift still below alpha
    Y = _shifted_counts(seed)
    r = score_counts(Y, 7)
    flags = (r["p_value"] <= 0.01) | r["level_shift"]
    assert flags[:, 120:127].any(axis=1).mean() >= 0.85  # the shift itself is called
    assert flags[:, 141].mean() >= 0.45
    assert np.delete(flags[:, 127:], 141 - 127, axis=1).mean() <= 0.01
    assert np.median(r["nu"][:, 127:]) >= 8


@pytest.mark.parametrize("seed", [5, 6])
def test_the_end_of_a_temporary_shift_is_not_a_spike(seed):
    # two weeks at −20 % (a stock-out until the restock, the holiday weeks): CUSUM restarts the
    # baseline at the lower level, and the return to the old level read as a rise against it
    # on 34 % / 43 % of the next two weeks' series-days; judged against the ordinary baseline too,
    # 1.4 % / 0.9 %
    _, Y = _null_counts(S=40, T=220, seed=seed)
    t = np.arange(220)
    Y = np.round(Y * np.where((t >= 120) & (t < 134), 0.8, 1.0))
    r = score_counts(Y, 7)
    flags = (r["p_value"] <= 0.01) | r["level_shift"]
    assert flags[:, 120:127].any(axis=1).mean() >= 0.85  # the dip is called
    assert flags[:, 134:148].mean() <= 0.03
    old = score_counts(Y, 7, config=EngineConfig(shift_return=False))
    assert ((old["p_value"] <= 0.01) | old["level_shift"])[:, 134:148].mean() >= 0.25


def test_a_restarted_baseline_never_changes_past_decisions():
    Y = _shifted_counts(13, S=8)
    full = score_counts(Y, 7)
    off = score_counts(Y, 7, config=EngineConfig(shift_restart=False))
    assert not np.allclose(full["expected"][:, 127:], off["expected"][:, 127:])  # restarted
    for cut in (124, 130, 150, 175):
        part = score_counts(Y[:, :cut], 7)
        for k in ("expected", "z", "p_value", "nu"):
            np.testing.assert_array_equal(part[k], full[k][:, :cut])
        np.testing.assert_array_equal(part["level_shift"], full["level_shift"][:, :cut])


def test_a_shift_in_the_first_weeks_leaves_no_day_unscored():
    # a change point before the baseline has a seasonal term has no reference cycle: no
    # restart (a restart against it left 119 of 4 800 series-days without a p-value)
    _, Y = _null_counts(S=40, T=120, seed=21)
    Y = np.round(Y * np.where(np.arange(120) >= 22, 1.3, 1.0))
    r = score_counts(Y, 7)
    off = score_counts(Y, 7, config=EngineConfig(shift_restart=False))
    np.testing.assert_array_equal(np.isnan(r["p_value"]), np.isnan(off["p_value"]))


def test_an_outage_is_not_taken_for_a_new_level():
    dates, Y = _null_counts(S=5, T=200, seed=3)
    Y[0, 120:127] *= 0.3  # a week at a third: stays anomalous every day (no restart)
    r, off = score_counts(Y, 7), score_counts(Y, 7, config=EngineConfig(shift_restart=False))
    np.testing.assert_array_equal(r["p_value"][0], off["p_value"][0])


def test_small_channel_rate_does_not_alarm_on_noise_but_large_channel_catches_shift():
    rng = np.random.default_rng(7)
    T = 200
    small_n = np.full((200, T), 50.0)
    small_x = rng.binomial(50, 0.02, (200, T)).astype(float)
    r = score_rates(small_x, small_n, 7)
    p = r["p_value"][:, 60:]
    # calibrated or conservative: P(p < 0.01) ≤ 0.01 (discreteness makes it conservative)
    assert np.nanmean(p < 0.01) <= 0.012
    assert np.nanmean(p < 0.05) <= 0.06
    big_n = np.full((1, T), 50000.0)
    big_x = rng.binomial(50000, 0.02, (1, T)).astype(float)
    big_x[0, 150] = rng.binomial(50000, 0.016)
    rb = score_rates(big_x, big_n, 7)
    assert rb["p_value"][0, 150] < 1e-6
    assert np.nanmedian(rb["p_value"][0, 60:150]) > 0.2


def test_rate_over_dispersion_is_estimated_and_widens_the_interval():
    rng = np.random.default_rng(11)
    T = 300
    n = np.full((1, T), 40000.0)
    p = np.clip(0.03 * np.exp(rng.normal(0, 0.08, T)), 0, 1)  # day-to-day extra variation
    x = rng.binomial(40000, p)[None, :].astype(float)
    r = score_rates(x, n, 7)
    # beta-binomial ρ ≈ var(p)/(p(1-p)) ≈ (0.03·0.08)²/0.0291 ≈ 2e-4
    assert 5e-5 < np.nanmedian(r["rho"][0, 100:]) < 6e-4
    assert np.nanmean(r["p_value"][0, 60:] < 0.01) < 0.03


def test_rate_p_value_equals_binomial_test_without_dispersion():
    p = binom_two_sided(
        np.array([3.0, 10.0, 0.0]), np.array([50.0, 100.0, 20.0]), np.array([0.02, 0.05, 0.1])
    )
    for (x, n, p0), got in zip([(3, 50, 0.02), (10, 100, 0.05), (0, 20, 0.1)], p):
        ref = min(1.0, 2 * min(stats.binom.cdf(x, n, p0), stats.binom.sf(x - 1, n, p0)))
        assert got == pytest.approx(ref, rel=1e-9)


def test_bh_adjust_matches_statsmodels_per_column_with_nan():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    P = rng.uniform(0, 1, (12, 5)) ** 3
    P[3, 1] = np.nan
    Q = bh_adjust(P)
    for j in range(5):
        ok = ~np.isnan(P[:, j])
        ref = multipletests(P[ok, j], method="fdr_bh")[1]
        np.testing.assert_allclose(Q[ok, j], ref, rtol=1e-12)
    assert np.isnan(Q[3, 1])


def test_promotion_like_last_year_is_not_flagged_but_a_weak_one_is():
    rng = np.random.default_rng(4)
    dates = pd.date_range("2023-09-01", "2025-01-31")
    T = len(dates)
    cal = pd.DataFrame(
        {
            "event": ["double11", "double11"],
            "start": pd.to_datetime(["2023-11-01", "2024-11-01"]),
            "end": pd.to_datetime(["2023-11-11", "2024-11-11"]),
            "peak": pd.to_datetime(["2023-11-11", "2024-11-11"]),
        }
    )
    keys = A.event_keys(dates, cal)
    lift = np.ones(T)
    on = keys != ""
    lift[on] = np.linspace(1.5, 6.0, 11).tolist() * 2
    mu = 3000 * WEEK[dates.day_of_week] * lift * np.exp(np.linspace(0, 0.2, T))
    Y = rng.poisson(np.vstack([mu, mu])).astype(float)
    Y[1, on & (dates.year == 2024)] *= 0.5  # a weak 双11 in the second series
    r = score_counts(Y, 7, times=dates, keys=keys)
    q = bh_adjust(r["p_value"])
    ev24 = on & (dates.year == 2024)
    assert (q[0, ev24] > 0.01).all()  # normal 双11: no alarm
    assert (q[1, ev24] <= 0.01).mean() >= 0.8  # weak 双11: flagged
    assert np.isnan(r["p_value"][0, on & (dates.year == 2023)]).all()  # no reference: not scored
    # without the calendar the normal 双11 would be flagged
    r_nocal = score_counts(Y[:1], 7)
    assert (bh_adjust(r_nocal["p_value"])[0, ev24] <= 0.01).sum() >= 5


@pytest.mark.parametrize(
    "freq,season", [("D", 7), ("h", 24), ("5min", 288), ("W-MON", 52), ("30s", 2880)]
)
def test_season_is_inferred_from_timestamps(freq, season):
    t = pd.date_range("2024-01-01", periods=50, freq=freq)
    t = t.delete([5, 6, 20])  # gaps
    assert A.infer_season(A.infer_step(t)) == season


def test_detect_handles_hourly_gaps_and_returns_one_row_per_input_row():
    rng = np.random.default_rng(9)
    t = pd.date_range("2024-01-01", periods=24 * 30, freq="h")
    hour = t.hour.to_numpy()
    y = 100 + 50 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 5, len(t))
    y[600] += 150
    df = pd.DataFrame({"ts": t + pd.Timedelta(seconds=1), "v": y}).drop(index=[10, 11, 300])
    out = A.detect(df, time_col="ts", value_col="v")
    assert list(out.columns) == A.DETECT_COLUMNS
    assert len(out) == len(df)
    flagged = out.loc[out.is_anomaly == 1, "timestamp"]
    assert (t[600] + pd.Timedelta(seconds=1)) in set(flagged)
    assert out.is_anomaly.mean() < 0.02  # one series: BH is p ≤ 0.01 itself, plus CUSUM
    assert (out.score.dropna() >= 0).all()


def test_rows_in_any_order_get_the_same_scores_as_rows_in_grid_order():
    # rows sorted by series then time are read off the grid as it is; any other order by index
    rng = np.random.default_rng(12)
    t = pd.date_range("2024-01-01", periods=90)
    df = pd.DataFrame(
        {
            "series": np.repeat(["a", "b", "c"], len(t)),
            "timestamp": np.tile(t, 3),
            "value": rng.poisson(np.repeat([50.0, 400.0, 3000.0], len(t))).astype(float),
        }
    )
    df.loc[[70, 160, 250], "value"] *= 3
    ordered = A.detect(df, series_col="series")
    shuffled = df.sample(frac=1.0, random_state=3)
    again = A.detect(shuffled, series_col="series")
    pd.testing.assert_frame_equal(
        again.set_index(shuffled.index).sort_index(), ordered, check_exact=True
    )
    assert ordered["is_anomaly"].sum() >= 3


def test_duplicated_timestamps_warn_and_are_scored_against_the_same_baseline():
    from opsnb.errors import DataQualityWarning

    t = pd.date_range("2024-01-01", periods=120)
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"t": t, "v": rng.poisson(1000, 120).astype(float)})
    df = pd.concat(
        [df.iloc[:100], pd.DataFrame({"t": [t[99]], "v": [3000.0]}), df.iloc[100:]],
        ignore_index=True,
    )
    with pytest.warns(DataQualityWarning, match="rows 101"):
        out = A.detect(df, time_col="t", value_col="v")
    assert len(out) == len(df)
    assert out.is_anomaly.iloc[100] == 1 and out.value.iloc[100] == 3000.0
    assert out.expected.iloc[99] == out.expected.iloc[100]
    assert out.is_anomaly.iloc[99] == 0


def test_cusum_is_calibrated_to_autocorrelated_residuals():
    # AR(1) day noise (φ = 0.6), no anomaly: CUSUM on raw z alarmed in 16 % of 100 series after
    # warm-up; whitened by the causal lag-1 autocorrelation it should (almost) never alarm.
    rng = np.random.default_rng(12)
    S, T = 100, 400
    e = np.zeros((S, T))
    eps = rng.normal(0, 0.05, (S, T))
    for t in range(1, T):
        e[:, t] = 0.6 * e[:, t - 1] + eps[:, t]
    dates = pd.date_range("2024-01-01", periods=T)
    Y = np.round(20000 * WEEK[dates.day_of_week][None, :] * np.exp(e))
    r = score_counts(Y, 7)
    assert r["level_shift"][:, 60:].any(axis=1).mean() <= 0.03
    raw, _ = cusum(r["z"][:, 60:], k=0.75, h=8.0, clip=3.0)
    assert raw.any(axis=1).mean() >= 0.05  # the unwhitened statistic does drift


def test_detect_alerts_once_per_incident_and_keeps_every_flagged_row():
    rng = np.random.default_rng(5)
    t = pd.date_range("2024-01-01", periods=24 * 30, freq="h")
    y = 1000 + 300 * np.sin(2 * np.pi * t.hour.to_numpy() / 24) + rng.normal(0, 20, len(t))
    y[300:310] *= 3  # one ten-hour incident, before CAD takes the hourly series over (row 500)
    df = pd.DataFrame({"ts": t, "v": y})
    out = A.detect(df, time_col="ts", value_col="v")
    inc = out.iloc[300:310]
    assert inc["flagged"].sum() >= 8
    assert inc["is_anomaly"].sum() == 1 and inc["is_anomaly"].iloc[0] == 1
    assert (out["is_anomaly"] <= out["flagged"]).all()
    every = A.detect(df, time_col="ts", value_col="v", alerts="all")
    assert (every["is_anomaly"] == out["flagged"]).all()
    # onsets are causal too: the same on a prefix (across the hand-over to CAD at row 500)
    part = A.detect(df.iloc[:505], time_col="ts", value_col="v")
    pd.testing.assert_frame_equal(part, out.iloc[:505])
    with pytest.raises(ValueError, match="alerts must be one of"):
        A.detect(df, time_col="ts", value_col="v", alerts="some")


def test_aov_ratio_uses_the_days_orders_and_catches_a_30pct_drop_without_noise_alarms():
    rng = np.random.default_rng(11)
    T = 240
    orders = np.vstack([rng.poisson(400, T), rng.poisson(20, T)]).astype(float)
    # each order's value lognormal (CV ≈ 0.6): GMV = sum of the day's orders
    gmv = np.array(
        [[rng.lognormal(np.log(200), 0.55, int(n)).sum() for n in row] for row in orders]
    )
    gmv[0, 200:202] *= 0.7  # wrong coupon: AOV −30 % for two days on the big channel
    r = score_ratios(gmv, orders, 7)
    q = bh_adjust(r["p_value"])
    assert (q[0, 200:202] <= 0.01).all()
    quiet = np.ones(T, bool)
    quiet[200:202] = False
    assert (q[:, 60:][:, quiet[60:]] <= 0.01).mean() < 0.01  # noise: (almost) no alarm
    # the interval scales with 1/√orders: the small channel's is much wider
    width = np.log(r["upper"] / r["lower"])[:, 100:200].mean(axis=1)
    assert width[1] / width[0] == pytest.approx(np.sqrt(400 / 20), rel=0.25)
    # dispersion κ² ≈ per-order squared CV (lognormal σ=0.55 → e^{σ²}−1 ≈ 0.35)
    assert np.nanmedian(r["kappa2"][0, 100:200]) == pytest.approx(np.expm1(0.55**2), rel=0.3)


def _null_family(kind: str, S: int = 120, T: int = 200, seed: int = 0) -> np.ndarray:
    """Anomaly-free daily series with a weekly pattern: Poisson counts, lognormal (10 %),
    heavy-tailed (log-scale t₅ × 0.1) and autocorrelated (log-scale AR(1), φ = 0.5) noise."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(200, 5000, S)[:, None] * WEEK[np.arange(T) % 7][None, :]
    if kind == "poisson":
        return rng.poisson(base).astype(float)
    if kind == "lognormal":
        e = rng.normal(0, 0.1, (S, T))
    elif kind == "t5":
        e = 0.1 * rng.standard_t(5, (S, T))
    else:
        x, e = rng.normal(0, 0.1 * np.sqrt(0.75), (S, T)), np.zeros((S, T))
        for t in range(1, T):
            e[:, t] = 0.5 * e[:, t - 1] + x[:, t]
    return np.round(base * np.exp(e))


@pytest.mark.parametrize("kind", ["poisson", "lognormal", "t5", "ar1"])
def test_p_values_and_bands_are_calibrated_on_anomaly_free_series(kind):
    # 120 series × 144 scored days = 17 280 points per family. Binomial Monte-Carlo SE of the
    # observed rate (independent points): 0.08 pp at 1 %, 0.17 pp at 5 %; the bounds allow ~±5 SE
    # plus the estimation error of ν on short histories. Known residual gap: t₅ runs at
    # ~1.5-1.8 % for nominal 1 % (ν is read as ~9 from 200 days; the audit found 0.38 % before,
    # 0.014 % for Poisson), so its bound is wider and stated here rather than hidden.
    V = _null_family(kind)
    r = score_counts(V, 7)
    p, v = r["p_value"][:, 56:], V[:, 56:]
    hi1, hi5, lo_cover = (0.02, 0.066, 0.979) if kind == "t5" else (0.013, 0.056, 0.986)
    assert np.isfinite(p).all()
    assert 0.006 <= np.mean(p < 0.01) <= hi1
    assert 0.035 <= np.mean(p < 0.05) <= hi5
    cover = np.mean((v >= r["lower"][:, 56:]) & (v <= r["upper"][:, 56:]))
    assert lo_cover <= cover <= 0.994  # the 1 − alpha band (alpha 0.01)


def test_tail_is_read_from_the_series_history():
    heavy, light = _null_family("t5", S=60), _null_family("lognormal", S=60)
    nu_h = np.median(score_counts(heavy, 7)["nu"][:, 150:])
    nu_l = np.median(score_counts(light, 7)["nu"][:, 150:])
    assert nu_h < 12 < 50 < nu_l


def test_second_month_scale_is_free_of_the_weekly_pattern():
    # issue 15: until the seasonal term exists (day ~35) residuals hold the weekly pattern and
    # they stayed in the scale window until day ~91, so a −15 % day 70 of a Poisson series
    # (noise 1.5–7 %) was found in 5 of 40 series; on the same-weekday spread (widened by the
    # young baseline's error) in 35 of 40, with no null day of days 49–90 at p < 0.01. A
    # lognormal 10 % series (residual scale mostly the smaller one) stays calibrated.
    V = _null_family("poisson", S=40, T=100, seed=5)
    V[:, 70] = np.round(V[:, 70] * 0.85)
    r = score_counts(V, 7)
    assert np.mean(r["p_value"][:, 70] < 0.01) >= 0.75
    null = np.r_[49:70, 71:91]
    assert np.mean(r["p_value"][:, null] < 0.01) <= 0.005
    light = _null_family("lognormal", S=40, T=100, seed=5)
    r2 = score_counts(light, 7)
    assert np.mean(r2["p_value"][:, null] < 0.01) <= 0.01


def test_a_new_incident_after_a_quiet_gap_is_a_new_alert():
    # Christmas flagged on 25-26 Dec, New Year on 1 Jan: five quiet days, a new page
    day = pd.Timedelta(days=1)
    assert A.quiet_steps(day, 7) == 2
    assert A.quiet_steps(pd.Timedelta(hours=1), 24) == 6
    assert A.quiet_steps(pd.Timedelta(minutes=5), 288) == 72
    flags = np.zeros(20, bool)
    flags[[3, 4, 10, 12, 15]] = True
    on = A.alert_onsets(flags, A.quiet_steps(day, 7))
    # 12 is 2 days after 10: the same incident; 15 is 3 days after 12 (Good Friday to Easter
    # Monday): a new one
    assert np.flatnonzero(on).tolist() == [3, 10, 15]


def _onsets_reference(flags, z, quiet, escalate):
    """alert_onsets with a strength, one series, written as plain loops (independent reading)."""
    out, last, peak, sign = [], None, 0.0, 0.0
    for t, (f, zt) in enumerate(zip(flags, z)):
        zt = 0.0 if not np.isfinite(zt) else float(zt)
        alert = False
        if f:
            if last is None or t - last > quiet:
                alert, peak = True, abs(zt)
            else:
                worse = abs(zt) > 0 and abs(zt) >= escalate * peak
                flip = np.sign(zt) * sign < 0
                alert = worse or flip
                peak = max(peak, abs(zt))
            if alert:
                sign = np.sign(zt)
            last = t
        out.append(alert)
    return np.array(out)


def test_alert_escalation_matches_a_plain_loop_reading():
    rng = np.random.default_rng(11)
    F = rng.random((30, 80)) < 0.2
    Z = rng.normal(0, 4, (30, 80))
    Z[rng.random((30, 80)) < 0.05] = np.nan
    got = A.alert_onsets(F, 4, Z, 1.5)
    want = np.array([_onsets_reference(F[s], Z[s], 4, 1.5) for s in range(30)])
    np.testing.assert_array_equal(got, want)
    # without a strength, only onsets: a subset
    assert not (A.alert_onsets(F, 4) & ~got).any()


def test_a_day_much_worse_than_its_incident_is_alerted_again():
    # Christmas Eve flagged, Christmas Day far lower: a second alert; the day after is quieter
    rng = np.random.default_rng(2)
    dates = pd.date_range("2024-09-02", "2024-12-31")
    y = rng.poisson(5000 * WEEK[dates.day_of_week]).astype(float)
    at = {d: dates.get_loc(pd.Timestamp(d)) for d in ("2024-12-24", "2024-12-25", "2024-12-26")}
    y[at["2024-12-24"]] *= 0.8
    y[at["2024-12-25"]] *= 0.45
    y[at["2024-12-26"]] *= 0.8
    out = A.detect(pd.DataFrame({"date": dates, "v": y}), time_col="date", value_col="v")
    assert out["flagged"].iloc[list(at.values())].tolist() == [1, 1, 1]
    assert out["is_anomaly"].iloc[list(at.values())].tolist() == [1, 1, 0]
    # an hourly grid keeps one alert per incident (NAB's onset rule, cross-validated there)
    hours = pd.date_range("2024-09-02", periods=24 * 18, freq="h")
    y = rng.poisson(3000 * (1 + 0.5 * np.sin(2 * np.pi * np.arange(len(hours)) / 24)))
    y = y.astype(float)
    y[402] *= 0.7
    y[403] *= 0.3
    out = A.detect(pd.DataFrame({"t": hours, "v": y}), time_col="t", value_col="v")
    assert out["flagged"].iloc[402:404].tolist() == [1, 1]
    assert out["is_anomaly"].iloc[402:404].tolist() == [1, 0]


def test_single_day_spike_and_drop_are_caught_from_28_days_without_a_calendar():
    rng = np.random.default_rng(4)
    T = 42
    dates = pd.date_range("2025-03-03", periods=T)
    y = rng.poisson(2000 * WEEK[dates.day_of_week]).astype(float)
    y[30] *= 0.45  # a storm
    y[36] *= 1.8  # a marathon
    out = A.detect(pd.DataFrame({"date": dates, "v": y}), time_col="date", value_col="v")
    assert np.flatnonzero(out["is_anomaly"]).tolist() == [30, 36]


def test_past_exceedance_counts_strictly_past_values_at_least_as_large():
    from opsnb.monitoring.kernels import past_exceedance

    rng = np.random.default_rng(3)
    A = rng.normal(size=(3, 40))
    A[1, [5, 17]] = np.nan
    k, n = past_exceedance(A, 6)
    for s in range(3):
        for t in range(40):
            w = A[s, max(0, t - 6) : t].astype(np.float32)
            w = w[np.isfinite(w)]
            assert n[s, t] == len(w)
            want = np.sum(w >= np.float32(A[s, t])) if np.isfinite(A[s, t]) else 0
            assert k[s, t] == want


def test_rolling_median_and_sum_are_those_of_the_strictly_past_window():
    from opsnb.monitoring.kernels import past_window

    rng = np.random.default_rng(8)
    X = rng.normal(size=(4, 60)) * 100
    X[rng.random(X.shape) < 0.2] = np.nan
    X[2, 10:25] = np.nan  # a long gap: partial windows in the middle of a series
    at = rng.random(X.shape) < 0.4
    for window, mp in [(1, 1), (7, 3), (28, 14), (56, 5)]:
        med, med_at = past_window(X, window, mp), past_window(X, window, mp, at=at)
        total, mean = past_window(X, window, mp, "sum"), past_window(X, window, mp, "mean")
        for s in range(4):
            for t in range(60):
                w = X[s, max(0, t - window) : t]
                w = w[np.isfinite(w)]
                if len(w) < min(mp, window):
                    assert np.isnan([med[s, t], total[s, t], mean[s, t], med_at[s, t]]).all()
                    continue
                srt = np.sort(w.astype(np.float32))  # medians sort float32 windows
                want = 0.5 * (float(srt[(len(w) - 1) // 2]) + float(srt[len(w) // 2]))
                assert med[s, t] == want
                assert med_at[s, t] == want if at[s, t] else np.isnan(med_at[s, t])
                np.testing.assert_allclose(
                    [total[s, t], mean[s, t]], [w.sum(), w.mean()], rtol=1e-12, atol=1e-9
                )


def test_same_phase_median_narrowed_to_a_mask_is_the_full_median_there():
    from opsnb.monitoring.kernels import past_same_phase

    rng = np.random.default_rng(11)
    X = rng.normal(size=(5, 100))
    X[rng.random(X.shape) < 0.15] = np.nan
    at = rng.random(X.shape) < 0.3
    full = past_same_phase(X, 7, 6, 3)
    narrow = past_same_phase(X, 7, 6, 3, at=at)
    np.testing.assert_array_equal(narrow[at], full[at])
    assert np.isnan(narrow[~at]).all()
    assert np.isfinite(full[at]).sum() > 50  # the medians compared are mostly real numbers


def test_a_quantised_series_does_not_alarm_on_what_it_does_every_day():
    # CPU share on a 0.066 grid, as NAB's ec2_cpu_utilization files (MAD 0): every step off the
    # mode is many robust σ away; the series' own rank of |z| says it happens all the time
    rng = np.random.default_rng(5)
    y = 0.134 + 0.066 * rng.choice([0, 0, 0, 0, 0, 0, 0, 0, 1, 1], size=(1, 2000))
    y[0, 1500] = 2.0  # a real incident
    on = score_counts(y, 1)["p_value"][0, 200:] < 1e-3
    off = score_counts(y, 1, config=EngineConfig(rank_margin=None))["p_value"][0, 200:] < 1e-3
    assert off.sum() > 300  # without the rank: one point in five is an "anomaly"
    assert on[1300] and on.sum() <= off.sum() / 10  # with it: the incident, few others


# ------------------------------------------------------------------------------------------
# calendar days without a past (issue 15): a shop outside China under the default calendar
# ------------------------------------------------------------------------------------------


def _shop_outside_china(start, T, seed, changes):
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=T)
    mu = 3000 * WEEK[dates.day_of_week] * np.exp(rng.normal(0, 0.03, T))
    for day, factor in changes.items():
        mu[dates.get_loc(pd.Timestamp(day))] *= factor
    return dates, rng.poisson(mu).astype(float)


def _flags_with_default_calendar(dates, y):
    from opsnb.calendar import shop_calendar

    cal = shop_calendar(dates[0], dates[-1])  # the default: promotions + China's holidays
    frame = pd.DataFrame({"date": dates, "v": y})
    out = A.detect(frame, time_col="date", value_col="v", events=cal)
    return out, [str(d.date()) for d in out.loc[out["flagged"] == 1, "timestamp"]]


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_a_first_year_618_day_at_half_a_normal_day_is_an_anomaly_and_its_lift_is_not(seed):
    # no 618 last year: the lift is unknown but a promotion does not halve a day (the engine
    # gave every first-year promotion day a free pass: p-value NaN)
    dates, y = _shop_outside_china("2025-03-01", 110, seed, {"2025-06-05": 0.5, "2025-06-18": 3})
    out, flags = _flags_with_default_calendar(dates, y)
    assert flags == ["2025-06-05"]
    peak = out[out["timestamp"] == "2025-06-18"].iloc[0]
    assert np.isnan(peak["p_value"]) and np.isnan(peak["upper"]) and peak["lower"] > 0


def test_a_shop_that_ignores_618_keeps_its_baseline_through_the_month():
    # the 30 days of a first 618 that look like ordinary days feed the baseline: a −15 % day
    # inside 618 and a −20 % day a week after it are found, nothing else (the month used to be
    # masked: the drop inside was not scored and the weeks after alarmed on a stale baseline)
    dates, y = _shop_outside_china("2025-03-01", 130, 0, {"2025-06-10": 0.85, "2025-06-25": 0.8})
    _, flags = _flags_with_default_calendar(dates, y)
    assert flags == ["2025-06-10", "2025-06-25"]


def test_a_holiday_the_calendar_knows_without_past_gets_a_wider_band_not_a_free_pass():
    # 1 January is a China holiday; this shop has no January history: a −50 % day is found,
    # from a series that starts the week before its first 双11 (a month of calendar days)
    dates, y = _shop_outside_china("2024-10-15", 100, 0, {"2025-01-01": 0.5})
    _, flags = _flags_with_default_calendar(dates, y)
    assert flags == ["2025-01-01"]
    # the band of a first-year holiday is the ordinary day's widened by the event spread
    from opsnb.calendar import shop_calendar

    keys = A.event_keys(dates, shop_calendar(dates[0], dates[-1]))
    sc = score_counts(y[None, :], 7, times=dates, keys=keys)["scale"][0]
    i = dates.get_loc(pd.Timestamp("2025-01-01"))
    assert keys[i].startswith("holiday_cn_new_year") and keys[i - 1] == ""
    assert sc[i] ** 2 == pytest.approx(sc[i - 1] ** 2 + EngineConfig().event_spread ** 2, rel=0.1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_shop_closed_on_one_weekday_from_day_one_raises_no_alarm_on_its_closed_days(seed):
    # Closed every Sunday (0) from the first day: until the weekly term holds that phase the
    # closed days were scored against the open days' level (−100 %, flagged from week 4 on), and
    # kept out of pass 2 and inflating its scale. A −60 % open day in week 9 is still caught.
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-03-03", periods=91)
    y = rng.poisson(300 * WEEK[dates.day_of_week]).astype(float)
    closed = dates.day_of_week == 6
    y[closed] = 0.0
    y[59] = np.round(y[59] * 0.4)  # a Thursday
    out = A.detect(pd.DataFrame({"date": dates, "v": y}), time_col="date", value_col="v")
    flagged = out["is_anomaly"].to_numpy(dtype=bool)
    assert not flagged[closed].any()
    assert flagged[59]
    r = score_counts(y[None, :], 7)
    assert (np.abs(r["expected"][0, closed][3:]) < 0.5).all()  # from the fourth closed day on
