"""Market research: seasonality-adjusted growth, price bands, index calibration, funnel, economics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import isotonic_regression
from statsmodels.stats.proportion import proportions_ztest
from statsmodels.stats.rates import confint_poisson

from opsnb import market as mk
from opsnb.errors import ErrorCode

SEASON = np.array([0.8, 0.6, 0.9, 1.0, 1.0, 1.3, 0.9, 0.9, 1.0, 1.0, 1.6, 1.0])


def _market(months=36, growth=0.01, seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2023-01-01", periods=months, freq="MS")
    rows = []
    shops = [("本店", True), ("竞品A", False), ("竞品B", False), ("竞品C", False)]
    bands = {"0-50": (0.2, 40), "50-100": (0.35, 10), "100-200": (0.3, 60), "200+": (0.15, 30)}
    for t, m in enumerate(idx):
        level = 1000 * (1 + growth) ** t * SEASON[m.month - 1]
        for shop, own in shops:
            for band, (share, listings) in bands.items():
                if band == "50-100" and shop == "竞品C":
                    continue  # a band with fewer shops
                gmv = level * share * (0.5 if own else 1.0) * rng.uniform(0.99, 1.01)
                rows.append(
                    {
                        "month": m,
                        "category": "女装",
                        "competitor": shop,
                        "is_own": own,
                        "price_band": band,
                        "avg_price": 80.0,
                        "sales_index": 3.0 * gmv**0.6,
                        "visitor_index": 50.0,
                        "listings": listings,
                        "own_gmv": gmv if own else np.nan,
                        "_gmv": gmv,
                    }
                )
    return pd.DataFrame(rows)


def test_seasonally_adjusted_mom_recovers_underlying_growth():
    m = _market(months=36, growth=0.01)
    m["value"] = m["_gmv"]
    tr = mk.category_trend(m, value="value")
    assert tr["seasonal_adjusted"].all()
    # YoY of a 1 %/month trend with fixed seasonality is 1.01**12 − 1 in every month
    assert tr["yoy"].dropna().to_numpy() == pytest.approx(1.01**12 - 1, abs=0.01)
    # raw MoM swings with the season; adjusted MoM is close to 1 %
    assert tr["mom"].dropna().abs().max() > 0.3
    assert np.median(tr["mom_sa"].dropna()) == pytest.approx(0.01, abs=0.004)
    assert tr["mom_sa"].dropna().abs().max() < 0.05
    assert tr.groupby(tr["month"].dt.month)["seasonal_factor"].first().to_numpy() == pytest.approx(
        SEASON / SEASON.mean(), rel=0.03
    )


def test_short_history_is_not_seasonally_adjusted():
    tr = mk.category_trend(_market(months=14), value="sales_index")
    assert not tr["seasonal_adjusted"].any() and (tr["seasonal_factor"] == 1).all()
    assert tr["yoy"].notna().sum() == 2


def test_price_band_table_flags_high_share_low_competition_band():
    t = mk.price_band_table(_market(months=3), value="_gmv")
    assert list(t["price_band"]) == ["0-50", "50-100", "100-200", "200+"]  # numeric order
    assert t["sales_share"].sum() == pytest.approx(1)
    row = t.set_index("price_band")
    assert row.loc["50-100", "shops"] == 2 and row.loc["0-50", "shops"] == 3
    assert row["opportunity"].to_dict() == {
        "0-50": False,
        "50-100": True,
        "100-200": False,
        "200+": False,
    }
    assert row.loc["50-100", "own_share"] == pytest.approx(0.5 / 2.5, rel=0.02)


def test_isotonic_fit_matches_scipy_and_power_fit_recovers_exponent():
    rng = np.random.default_rng(2)
    gmv = rng.uniform(1e4, 1e6, 30)
    idx = 3.0 * gmv**0.6 * rng.lognormal(0, 0.02, 30)
    cal = mk.calibrate_index(idx, gmv, method="power")
    assert cal.monotone and cal.exponent == pytest.approx(1 / 0.6, rel=0.03)
    assert cal.loo_mape < 0.06 and cal.loo_mape >= cal.in_sample_mape
    iso = mk.calibrate_index(idx, gmv, method="isotonic")
    o = np.argsort(idx)
    ref = isotonic_regression(gmv[o]).x
    assert iso.knots_y == pytest.approx(ref)
    assert mk.calibrate_index(idx, gmv).method == "power"  # auto: the smooth law wins here


def test_leave_one_out_mape_by_hand():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    y = np.array([10.0, 19.0, 42.0, 80.0, 170.0])
    cal = mk.calibrate_index(x, y, method="power")
    errs = []
    for i in range(5):
        m = np.arange(5) != i
        k, c = np.polyfit(np.log(x[m]), np.log(y[m]), 1)
        errs.append(abs(np.exp(c) * x[i] ** k - y[i]) / y[i])
    assert cal.loo_mape == pytest.approx(np.mean(errs))


def test_calibration_degenerate_and_non_monotone_cases():
    assert mk.calibrate_index([1, 2], [3, 4]).error_code == ErrorCode.TOO_FEW_OBSERVATIONS
    dec = mk.calibrate_index([1, 2, 3, 4, 5], [50, 40, 30, 20, 10], method="power")
    assert not dec.monotone
    assert mk.calibrate_index([1, 2, 3, 4, 5], [50, 40, 30, 20, 10]).method == "isotonic"
    with pytest.raises(ValueError, match="'power', 'isotonic' or 'auto'"):
        mk.calibrate_index([1, 2, 3, 4], [1, 2, 3, 4], method="spline")


def test_calibration_from_market_estimates_competitors_and_flags_extrapolation():
    m = _market(months=12)
    cal = mk.calibrate_from_market(m)
    est = mk.apply_calibration(m, cal)
    comp = est[~est["is_own"]]
    inside = comp[~comp["extrapolated"]]
    assert len(inside) > 0 and comp["extrapolated"].any()  # competitors are bigger than us
    assert (abs(inside["est_gmv"] / inside["_gmv"] - 1) < 0.05).all()
    own = est[est["is_own"]]
    assert (own["est_gmv"] == own["own_gmv"]).all()
    cc = mk.competitor_comparison(est)
    assert cc["share"].sum() == pytest.approx(1) and cc["is_own"].sum() == 1


def _daily():
    return pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-01", "2025-01-02"] * 2),
            "channel": ["抖音", "抖音", "小红书", "小红书"],
            "visitors": [1000, 1000, 500, 500],
            "cart_users": [100, 120, 80, 70],
            "buyers": [20, 30, 20, 10],
            "orders": [22, 30, 21, 10],
            "gmv": [2000.0, 3000.0, 2500.0, 1500.0],
            "ad_spend": [1000.0, 1500.0, 0.0, 0.0],
            "new_buyers": [10, 15, 5, 5],
            "refund_orders": [0, 0, 0, 0],
            "refund_amount": [0.0] * 4,
        }
    )


def test_funnel_rates_and_change_match_statsmodels():
    cur = _daily()
    prev = cur.assign(buyers=[10, 10, 20, 10])
    f = mk.funnel(cur, prev)
    assert f.attrs["stages"] == ["visitors", "cart_users", "buyers"]  # no order_users column
    dy = f[f["channel"] == "抖音"].set_index("stage")
    assert dy.loc["cart_users", "step_rate"] == pytest.approx(220 / 2000)
    assert dy.loc["buyers", "drop_off"] == pytest.approx(1 - 50 / 220)
    assert dy.loc["buyers", "overall_rate"] == pytest.approx(50 / 2000)
    assert dy.loc["buyers", "change_pp"] == pytest.approx((50 / 220 - 20 / 220) * 100)
    _, p = proportions_ztest([50, 20], [220, 220])
    assert dy.loc["buyers", "p_value"] == pytest.approx(p)
    tot = f[f["channel"] == "全部"].set_index("stage")
    assert tot.loc["buyers", "users"] == 80


def test_channel_economics_intervals_and_payback():
    d = _daily()
    orders = pd.DataFrame(
        {
            "order_id": list("abcdefg"),
            "customer_id": ["u1", "u1", "u2", "u2", "u3", "u4", "u4"],
            "order_time": pd.to_datetime(
                [
                    "2025-01-01",
                    "2025-02-03",
                    "2025-01-02",
                    "2025-03-05",
                    "2025-03-01",
                    "2025-01-02",
                    "2025-01-20",
                ]
            ),
            "channel": ["抖音", "抖音", "抖音", "抖音", "抖音", "小红书", "小红书"],
            "amount": [200.0, 300.0, 100.0, 600.0, 100.0, 50.0, 50.0],
            "refund_amount": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        }
    )
    e = mk.channel_economics(d, orders, margin=0.5).set_index("channel")
    dy = e.loc["抖音"]
    assert dy["cac"] == pytest.approx(2500 / 25)
    lo, hi = confint_poisson(25, 1, method="exact-c")
    assert (dy["cac_low"], dy["cac_high"]) == pytest.approx((2500 / hi, 2500 / lo))
    assert dy["roas"] == pytest.approx(2.0) and dy["roi"] == pytest.approx(0.0)
    assert dy["roas_low"] <= 2.0 <= dy["roas_high"]
    # ratio estimator over 2 days: residuals g - 2 s are 0 and 0 → zero width
    assert dy["roas_high"] - dy["roas_low"] == pytest.approx(0.0, abs=1e-9)
    # cohort months (margin 0.5): month 0: u1 100, u2 50 (u3 joins in 2025-03, span 0) ...
    # customers acquired on 抖音: u1, u2 (span 2), u3 (span 0) → month0 mean (100+50+50)/3,
    # month1 mean 150/2, month2 mean 300/2 → cumulative 66.7, 141.7, 291.7; CAC 100 → 2 months
    assert dy["payback_months"] == 2.0
    assert dy["payback_low"] <= 2.0 <= dy["payback_high"] or np.isnan(dy["payback_high"])
    xhs = e.loc["小红书"]
    assert np.isnan(xhs["cac"]) and xhs["error_code"] == ErrorCode.ZERO_DENOMINATOR
    assert xhs["conversion_rate"] == pytest.approx(30 / 1000)
    with pytest.raises(ValueError, match="margin"):
        mk.channel_economics(d, margin=0)
