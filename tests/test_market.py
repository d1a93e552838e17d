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


# ---------------------------------------------------------------------------------------------
# The notebook sections (opsnb.market.show) on stores and files that lack parts of the data
# ---------------------------------------------------------------------------------------------


def _shop_frames(seed=1):
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", "2025-12-31")
    daily = pd.DataFrame(
        [
            {
                "date": d,
                "channel": ch,
                "visitors": 1000,
                "cart_users": 120,
                "buyers": 20,
                "orders": 20,
                "gmv": 2000.0,
                "refund_orders": 0,
                "refund_amount": 0.0,
                "ad_spend": 500.0 if ch == "抖音" else 0.0,
                "new_buyers": 8,
            }
            for d in days
            for ch in ("抖音", "自然搜索")
        ]
    )
    rows = []
    for i in range(300):
        day = int(rng.integers(0, 700))
        ch = "抖音" if i % 2 else "自然搜索"
        while day < len(days):
            rows.append((f"o{len(rows)}", f"u{i}", days[day], ch, float(rng.gamma(4, 30))))
            if rng.random() < 0.4:
                break
            day += int(rng.exponential(40)) + 1
    orders = pd.DataFrame(
        rows, columns=["order_id", "customer_id", "order_time", "channel", "amount"]
    ).assign(refund_amount=0.0)
    return daily, orders


@pytest.fixture()
def small_store(tmp_path):
    """A store with daily_metrics and orders only: no market table, no order_items."""
    from opsnb.data.store import open_store, write_table

    daily, orders = _shop_frames()
    path = tmp_path / "small.duckdb"
    con = open_store(path)
    write_table(con, "daily_metrics", daily)
    write_table(con, "orders", orders)
    con.close()
    return path


def _report(monkeypatch, **setup):
    """A real report context whose displays are collected (markdown as text)."""
    from IPython.display import Markdown

    from opsnb import report

    shown = []
    monkeypatch.setattr(report, "_display", lambda obj, **kw: shown.append(obj))
    ctx = report.setup(shop="测试店", **setup)
    shown.clear()
    said = lambda: [o.data for o in shown if isinstance(o, Markdown)]
    return ctx, shown, said


def test_sections_without_market_or_item_tables_say_why_and_the_rest_run(monkeypatch, small_store):
    from opsnb.market import show as ms
    from opsnb.market.clv import CLVResult

    ctx, shown, said = _report(monkeypatch, lang="zh", period="2025-Q4", db_path=str(small_store))
    data = ms.load_market_data(ctx, channels=[])
    assert (data.market_gap, data.items_gap, data.traffic_gap, data.orders_gap) == (
        "no_table",
        "no_table",
        "",
        "",
    )
    skipped = [
        ms.show_category_trend(ctx, data),
        ms.show_price_bands(ctx, data),
        ms.show_competitors(ctx, data, ["竞品A"]),
        ms.show_basket(ctx, data),
    ]
    assert skipped == [None] * 4
    no_market = "本节跳过：数据库中没有 market 表（市场（类目与竞品指数）），可用 `opsnb load market 文件` 导入。"
    assert said() == [no_market] * 3 + [
        "本节跳过：数据库中没有 order_items 表（商品明细），可用 `opsnb load order_items 文件` 导入。"
    ]
    assert len(shown) == 4  # nothing but the four sentences
    shown.clear()
    ms.show_excluded(ctx, data)  # the store: no exclusion note at all
    assert shown == []
    fun = ms.show_funnel(ctx, data)
    assert list(dict.fromkeys(fun["stage"])) == ["visitors", "cart_users", "buyers"]
    assert said()[-1] == (
        "全店流失最大的环节是进入“加购”（流失 88.0%）。"  # 1 − 120/1000
        "数据只有访客、加购和支付人数，所以漏斗为 访客 → 加购 → 支付（缺少下单人数）。"
    )
    econ = ms.show_channel_economics(ctx, data, margin=0.3)
    assert set(econ["channel"]) == {"抖音", "自然搜索"}
    seg = ms.show_rfm(ctx, data)
    coh = ms.show_cohorts(ctx, data)
    ltv = ms.show_clv(ctx, data, coh, horizon_days=365, margin=0.3)
    assert isinstance(ltv, CLVResult) and ltv.error_code == ""
    # the store's orders are aggregated in DuckDB, never loaded: the sections count the
    # customers of the whole history up to the period's end
    assert data.orders is None and data.items is None
    _, orders = _shop_frames()
    n = orders.loc[orders["order_time"] < "2026-01-01", "customer_id"].nunique()
    assert ctx.records["customers"] == n and int(seg["customers"].sum()) == n
    assert ctx.records["mean_clv"] == pytest.approx(ltv.mean_clv)
    assert coh["cohort"].min() == "2025-01"  # the last 12 months before the period's end


def test_channels_list_limits_orders_and_traffic(monkeypatch, small_store):
    from opsnb.market import show as ms

    ctx, _, _ = _report(monkeypatch, lang="en", period="2025-11", db_path=str(small_store))
    data = ms.load_market_data(ctx, channels=["抖音"])
    assert set(data.daily["channel"]) == {"抖音"} and data.channels == ("抖音",)
    assert data.daily_prev["date"].min() == pd.Timestamp("2025-10-02")  # 30 days before
    # the customer sections read the 抖音 orders before 2025-12-01 from the store in SQL: the
    # same tables as the pandas functions on those rows
    daily, orders = _shop_frames()
    mine = orders[(orders["channel"] == "抖音") & (orders["order_time"] < "2025-12-01")]
    end = pd.Timestamp("2025-12-01")
    pd.testing.assert_frame_equal(
        ms.show_rfm(ctx, data), mk.rfm_segments(mk.rfm(mine, as_of=end, lang="en"), lang="en")
    )
    every = mk.cohorts(mine, end=pd.Timestamp("2025-11-30"))
    pd.testing.assert_frame_equal(
        ms.show_cohorts(ctx, data), every[every["cohort"] >= "2024-12"], rtol=1e-12
    )
    assert ctx.records["repurchase_rate"] == mk.repurchase_rate(mine)
    pd.testing.assert_frame_equal(
        ms.show_channel_economics(ctx, data, margin=0.3),
        mk.channel_economics(data.daily, mine, margin=0.3),
    )
    both = ms.load_market_data(ctx, channels="抖音, 自然搜索")  # a comma string works too
    assert set(both.daily["channel"]) == {"抖音", "自然搜索"}


def test_rfm_cohorts_and_clv_read_the_customers_from_the_store_once_per_run(
    monkeypatch, small_store
):
    import dataclasses

    from opsnb.market import customers_sql
    from opsnb.market import show as ms

    calls = []

    def counted(*args, **kw):
        calls.append(kw["where"])
        return customers_sql.customer_totals_sql(*args, **kw)

    monkeypatch.setattr(ms, "customer_totals_sql", counted)
    ctx, _, _ = _report(monkeypatch, lang="zh", period="2025-Q4", db_path=str(small_store))
    data = ms.load_market_data(ctx)
    seg = ms.show_rfm(ctx, data)
    ltv = ms.show_clv(ctx, data, ms.show_cohorts(ctx, data))
    assert calls == ["order_time < ?"]
    assert ctx.records["customers"] == int(seg["customers"].sum()) == ltv.n_customers
    # a new run (or a replace() with other channels) reads afresh
    ms.show_rfm(ctx, dataclasses.replace(data, channels=("抖音",)))
    assert calls == ["order_time < ?", "order_time < ? AND channel IN (?)"]


def test_orders_file_without_items_skips_market_traffic_and_basket_in_english(
    monkeypatch, tmp_path
):
    from opsnb.market import show as ms

    _, orders = _shop_frames()
    f = tmp_path / "orders.csv"
    orders.rename(columns={"customer_id": "buyer", "order_time": "day", "amount": "paid"}).assign(
        paid=lambda d: d["paid"].where(d.index != 0, -5.0)  # one refund row, excluded
    ).to_csv(f, index=False)
    # no store at all: an orders file must not need one
    ctx, shown, said = _report(
        monkeypatch, lang="en", period="2025", db_path=str(tmp_path / "none.duckdb")
    )
    data = ms.load_market_data(
        ctx, orders_file=str(f), orders_columns="customer=buyer,date=day,amount=paid"
    )
    ms.show_excluded(ctx, data)
    assert said() == [
        "## Data note: excluded rows",
        f"1 rows of {f} were excluded (reasons above); {len(orders) - 1:,} orders from "
        f"{orders['customer_id'].nunique():,} customers remain for customer analytics.",
    ]
    shown.clear()
    for section in (
        ms.show_category_trend,
        ms.show_price_bands,
        ms.show_competitors,
        ms.show_funnel,
        ms.show_channel_economics,
        ms.show_basket,
    ):
        assert section(ctx, data) is None
    market = f"Section skipped: orders come from the file {f}, which has no market data (category and competitor indices)."
    traffic = f"Section skipped: orders come from the file {f}, which has no traffic data (daily metrics)."
    items = (
        f"Section skipped: the file {f} has no item lines (map its sku, qty and price columns "
        "in orders_columns)."
    )
    assert said() == [market] * 3 + [traffic] * 2 + [items]
    assert ms.show_rfm(ctx, data) is not None and ctx.records["customers"] == 300
