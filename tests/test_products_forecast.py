"""Demand forecasts: interval coverage on simulated series, the Croston family against
statsforecast directly, un-censoring of stock-out days, promotion lifts and the backtest table.

statsforecast has no JIT since 2.0 (its models are compiled), so the cost is the import (about
3 s) and the fits; the default pipeline is fitted once per module (``fitted``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from opsnb.products.demand import (
    event_keys,
    infer_freq,
    regular_series,
    smape,
    uncensor_demand,
)
from opsnb.products.forecast import MODELS, demand_class, forecast_demand

H = 14
DAYS = pd.date_range("2024-01-01", periods=224, freq="D")


def _simulated(seed=7):
    """10 smooth weekly-seasonal Gaussian series (held-out truth: the last H days) and 4
    intermittent ones."""
    rng = np.random.default_rng(seed)
    week = 1 + 0.25 * np.sin(2 * np.pi * np.arange(len(DAYS)) / 7)
    rows = []
    for i in range(10):
        y = (30 + 5 * i) * week + rng.normal(0, 4, len(DAYS))
        rows.append(pd.DataFrame({"sku": f"smooth{i}", "date": DAYS, "units": y}))
    for i in range(4):
        y = (rng.random(len(DAYS)) < 0.25) * rng.poisson(4, len(DAYS))
        rows.append(pd.DataFrame({"sku": f"sparse{i}", "date": DAYS, "units": y.astype(float)}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def sales():
    return _simulated()


@pytest.fixture(scope="module")
def fitted(sales):
    train = sales[sales["date"] < DAYS[-H]]
    return forecast_demand(train, horizon=H, levels=(80, 95), n_windows=2)


def test_forecast_table_has_the_documented_columns_and_one_row_per_series_and_day(fitted):
    fc = fitted.forecasts
    assert list(fc.columns) == [
        "series", "timestamp", "forecast", "lo_80", "hi_80", "lo_95", "hi_95", "model",
        "event", "lift",
    ]  # fmt: skip
    assert len(fc) == 14 * H and fc.groupby("series").size().eq(H).all()
    assert fc["timestamp"].min() == DAYS[-H] and fitted.freq == "D" and fitted.season_length == 7
    assert (fc["lo_95"] <= fc["lo_80"]).all() and (fc["lo_80"] <= fc["forecast"]).all()
    assert (fc["forecast"] <= fc["hi_80"]).all() and (fc["hi_80"] <= fc["hi_95"]).all()
    assert (fc["lo_95"] >= 0).all()


def test_intervals_cover_held_out_demand_at_their_stated_level(fitted, sales):
    truth = sales[sales["date"] >= DAYS[-H]].rename(columns={"sku": "series", "date": "timestamp"})
    got = fitted.forecasts.merge(truth, on=["series", "timestamp"])
    smooth = got[got["series"].str.startswith("smooth")]
    assert len(smooth) == 10 * H
    for lv, tol in ((80, 0.09), (95, 0.05)):
        inside = (smooth["units"] >= smooth[f"lo_{lv}"]) & (smooth["units"] <= smooth[f"hi_{lv}"])
        assert abs(inside.mean() - lv / 100) <= tol, (lv, inside.mean())


def test_default_method_follows_the_demand_class_and_is_scored_against_seasonal_naive(fitted):
    # the default (models="auto") changed in issue 17: the SBC class picks the method (SBA for
    # intermittent demand, the ETS+Theta combination otherwise), no choice among seven models
    bt, ch = fitted.backtest, fitted.choice.set_index("series")
    smooth = ch.index.str.startswith("smooth")
    assert (ch.loc[smooth, "demand_class"] == "smooth").all()
    assert (ch.loc[~smooth, "demand_class"].isin(["intermittent", "lumpy"])).all()
    assert (ch.loc[~smooth, "adi"] >= 1.32).all() and (ch.loc[smooth, "adi"] < 1.32).all()
    assert (ch.loc[smooth, "model"] == "ETS+Theta").all()
    assert (ch.loc[~smooth, "model"] == "CrostonSBA").all()
    assert set(bt["model"]) == {"ETS+Theta", "CrostonSBA", "SeasonalNaive"}
    assert (
        bt.groupby("series").size().eq(2).all() and bt.groupby("series")["chosen"].sum().eq(1).all()
    )
    chosen = bt[bt["chosen"]].set_index("series")
    assert_allclose(ch["mase"], chosen["mase"].reindex(ch.index))
    sn = bt[bt["model"] == "SeasonalNaive"].set_index("series")["mase"]
    assert_allclose(ch["mase_seasonal_naive"], sn.reindex(ch.index))
    assert (ch.loc[smooth, "error_code"] == "").all() and ch.loc[smooth, "bias"].abs().max() < 0.1
    fc = fitted.forecasts.set_index("series")
    assert set(fc.loc[ch.index[smooth], "model"]) == {"ETS+Theta"}


def test_the_combination_is_the_mean_of_ets_and_theta_forecasts_and_bounds(sales):
    one = sales[sales["sku"] == "smooth3"]
    combo = forecast_demand(one, horizon=H, models=["ETS+Theta"], n_windows=1).forecasts
    ets = forecast_demand(one, horizon=H, models=["AutoETS"], n_windows=1).forecasts
    theta = forecast_demand(one, horizon=H, models=["AutoTheta"], n_windows=1).forecasts
    for col in ("forecast", "lo_80", "hi_80", "lo_95", "hi_95"):
        assert_allclose(combo[col], (ets[col] + theta[col]) / 2, rtol=1e-12)


def test_an_explicit_model_list_is_chosen_per_series_by_backtest_mase(sales):
    few = sales[sales["sku"].isin(["smooth0", "smooth5", "sparse0", "sparse1"])]
    res = forecast_demand(few, horizon=H, models=MODELS, n_windows=2)
    bt, ch = res.backtest, res.choice
    assert set(bt["model"]) == set(MODELS)
    best = bt.loc[bt.groupby("series")["mase"].idxmin(), ["series", "model"]]
    assert ch.set_index("series")["model"].to_dict() == dict(zip(best["series"], best["model"]))
    assert (ch["mase"] <= ch["mase_seasonal_naive"] + 1e-12).all()


def test_demand_class_uses_the_syntetos_boylan_croston_cutoffs():
    assert demand_class([5, 6, 5, 6, 5, 6]) == ("smooth", 1.0, pytest.approx(1 / 121))
    assert demand_class([1, 9, 1, 9])[0] == "erratic"
    assert demand_class([0, 4, 0, 4, 0, 4]) == ("intermittent", 2.0, 0.0)
    cls, adi, cv2 = demand_class([0, 1, 0, 0, 9, 0])
    assert (cls, adi, cv2) == ("lumpy", 3.0, pytest.approx(0.64))
    assert demand_class([0, 0, 0])[:2] == ("lumpy", float("inf"))


def test_croston_family_matches_statsforecast_directly(sales):
    from statsforecast import StatsForecast
    from statsforecast.models import ADIDA, IMAPA, TSB, CrostonSBA

    sparse = sales[sales["sku"].str.startswith("sparse")]
    direct = StatsForecast(
        models=[CrostonSBA(), TSB(alpha_d=0.1, alpha_p=0.1), ADIDA(), IMAPA()], freq="D"
    ).forecast(df=sparse.rename(columns={"sku": "unique_id", "date": "ds", "units": "y"}), h=H)
    for name in ("CrostonSBA", "TSB", "ADIDA", "IMAPA"):
        ours = forecast_demand(sparse, horizon=H, models=[name], levels=(80,), n_windows=2)
        assert (ours.forecasts["model"] == name).all()
        assert_allclose(ours.forecasts["forecast"], direct[name], rtol=1e-12)


def test_croston_sba_matches_the_textbook_recursion(sales):
    y = sales.loc[sales["sku"] == "sparse0", "units"].to_numpy()
    nz = np.flatnonzero(y)
    sizes, gaps = y[nz], np.diff(np.r_[-1, nz])
    z, p = sizes[0], gaps[0]
    for s, q in zip(sizes[1:], gaps[1:]):  # SES with alpha 0.1 on sizes and intervals
        z, p = z + 0.1 * (s - z), p + 0.1 * (q - p)
    ours = forecast_demand(sales[sales["sku"] == "sparse0"], horizon=3, models=["CrostonSBA"])
    assert_allclose(ours.forecasts["forecast"], 0.95 * z / p, rtol=1e-9)


def _stockout_series(seed=3):
    rng = np.random.default_rng(seed)
    n = 364
    week = 1 + 0.3 * np.sin(2 * np.pi * np.arange(n) / 7)
    demand = rng.poisson(20 * week).astype(float)
    out = np.zeros(n, bool)
    for s in rng.choice(np.arange(10, n - 10), 12, replace=False):  # 12 spells of 2-5 days
        out[s : s + rng.integers(2, 6)] = True
    sold = np.where(out, np.floor(demand * rng.uniform(0, 0.3, n)), demand)
    return demand, sold, out


def test_uncensoring_recovers_true_demand_on_stockout_days():
    demand, sold, out = _stockout_series()
    est = uncensor_demand(sold, out, season_length=7)
    assert out.sum() >= 30
    assert_allclose(est[~out], sold[~out])
    raw_gap = abs(sold[out].sum() / demand[out].sum() - 1)
    gap = abs(est[out].sum() / demand[out].sum() - 1)
    assert raw_gap > 0.7 and gap < 0.05, (raw_gap, gap)
    assert np.mean(np.abs(est[out] - demand[out])) < 0.35 * demand[out].mean()


def test_pipeline_forecasts_demand_not_censored_sales():
    demand, sold, out = _stockout_series()
    days = pd.date_range("2024-01-01", periods=len(sold))
    df = pd.DataFrame({"sku": "A", "date": days, "units": sold, "oos": out})
    plain = forecast_demand(df, horizon=7, models=["AutoETS"], n_windows=1)
    fixed = forecast_demand(df, horizon=7, models=["AutoETS"], n_windows=1, stockout_col="oos")
    assert fixed.choice["censored_periods"].iloc[0] == out.sum()
    assert abs(fixed.forecasts["forecast"].mean() / 20 - 1) < 0.08
    assert plain.forecasts["forecast"].mean() < fixed.forecasts["forecast"].mean()
    assert_allclose(fixed.history["demand"], uncensor_demand(sold, out, season_length=7))


def test_promotion_lift_from_last_years_event_is_applied_to_this_years():
    rng = np.random.default_rng(11)
    days = pd.date_range("2023-09-01", "2024-10-31")
    keys = event_keys(days)
    mult = np.where(keys == "double11@peak", 4.0, np.where(keys == "double11", 1.5, 1.0))
    y = rng.poisson(30 * mult).astype(float)
    df = pd.DataFrame({"sku": "A", "date": days, "units": y})
    fc = forecast_demand(df, horizon=14, models=["AutoETS"], n_windows=1, promotions=True)
    lifts = fc.lifts.set_index("event")["lift"]
    assert lifts["double11@peak"] == pytest.approx(4.0, rel=0.15)
    assert lifts["double11"] == pytest.approx(1.5, rel=0.1)
    f = fc.forecasts.set_index("timestamp")
    assert f.loc["2024-11-11", "event"] == "double11@peak"
    assert f.loc["2024-11-11", "forecast"] == pytest.approx(120, rel=0.15)
    assert f.loc["2024-11-05", "forecast"] == pytest.approx(45, rel=0.15)
    no = forecast_demand(df, horizon=14, models=["AutoETS"], n_windows=1)
    assert (no.forecasts["lift"] == 1).all() and no.lifts.empty


def test_weekly_data_and_short_series_are_handled():
    weeks = pd.date_range("2022-01-03", periods=130, freq="W-MON")
    rng = np.random.default_rng(5)
    df = pd.concat(
        [
            pd.DataFrame({"sku": "long", "week": weeks, "units": rng.poisson(50, 130)}),
            pd.DataFrame({"sku": "new", "week": weeks[-10:], "units": rng.poisson(5, 10)}),
        ]
    )
    assert infer_freq(df["week"]) == "W-MON"
    fc = forecast_demand(
        df, time_col="week", horizon=8, models=["AutoETS", "SeasonalNaive"], n_windows=2
    )
    assert fc.freq == "W-MON" and fc.season_length == 52
    ch = fc.choice.set_index("series")
    assert ch.loc["new", "error_code"] == "too_few_observations"
    assert ch.loc["new", "model"] == "HistoricAverage" and ch.loc["long", "error_code"] == ""
    assert fc.forecasts["timestamp"].min() == weeks[-1] + pd.Timedelta(weeks=1)


def test_regular_series_fills_missing_days_with_zero_up_to_the_last_day():
    df = pd.DataFrame(
        {
            "sku": ["a", "a", "b"],
            "date": ["2025-01-01", "2025-01-03", "2025-01-02"],
            "units": [2, 3, 1],
        }
    )
    got = regular_series(df, series_col="sku", time_col="date", value_col="units", freq="D")
    assert got["value"].tolist() == [2, 0, 3, 1, 0]
    assert got["series"].tolist() == ["a", "a", "a", "b", "b"]
    assert smape([0, 2], [0, 2]) == 0.0 and smape([1], [0]) == 2.0


def test_bad_arguments_raise_with_the_allowed_values(sales):
    with pytest.raises(ValueError, match="horizon"):
        forecast_demand(sales, horizon=0)
    with pytest.raises(ValueError, match="unknown model"):
        forecast_demand(sales, horizon=3, models=["Prophet"])
    with pytest.raises(ValueError, match="levels"):
        forecast_demand(sales, horizon=3, levels=(80, 120))
