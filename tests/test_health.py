"""Data health (notebook 00): outlier screening against an explicit window computation, the
summary figures, and the report sections on a store with a duplicate and a missing day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opsnb.data import health

DAYS = pd.date_range("2025-03-01", "2025-04-30")  # 03-05..03-08 is the womens_day promotion


def _daily() -> pd.DataFrame:
    i = np.arange(len(DAYS))
    d = pd.DataFrame(
        {
            "date": DAYS,
            "channel": "抖音",
            "visitors": 1000.0 * (1 + 0.02 * (i % 5)),
            "gmv": 50_000.0 * (1 + 0.03 * (i % 4)),
        }
    )
    d.loc[d["date"] == "2025-03-07", "visitors"] = 9000.0  # promotion day: expected to be extreme
    d.loc[d["date"] == "2025-04-10", ["visitors", "gmv"]] = [20.0, 900.0]  # a tracking gap
    return d


def _window_z(values: np.ndarray, i: int) -> tuple[float, float]:
    """Typical level and robust z of day ``i`` by explicit windows: the 28 days i−14 … i+13
    (pandas' centred even window), at least 7 present; z = (log − median) / (1.4826·MAD)."""
    lv = np.log1p(values)

    def med(k, x):
        w = x[max(k - 14, 0) : k + 14]
        return np.median(w) if len(w) >= 7 else np.nan

    m = np.array([med(k, lv) for k in range(len(lv))])
    mad = np.array([med(k, np.abs(lv - m)) for k in range(len(lv))])
    return float(np.expm1(m[i])), float((lv[i] - m[i]) / (1.4826 * mad[i]))


def test_outlier_screen_flags_the_tracking_gap_and_leaves_out_the_promotion_day():
    daily = _daily()
    got = health.outlier_summary(daily, z=5.0)
    assert isinstance(got, health.OutlierScreen)
    gap = int(np.flatnonzero(DAYS == "2025-04-10")[0])
    rows = []
    for metric in ("visitors", "gmv"):
        typical, z = _window_z(daily[metric].to_numpy(), gap)
        rows.append(
            {
                "date": pd.Timestamp("2025-04-10"),
                "channel": "抖音",
                "metric": metric,
                "value": daily[metric].iloc[gap],
                "typical": typical,
                "robust_z": z,
                "event": "",
            }
        )
    expected = pd.DataFrame(rows)
    pd.testing.assert_frame_equal(got.to_frame(), expected, check_dtype=False, rtol=1e-9)
    assert got.to_dict() == {"outliers": 2, "excluded_event_days": 1, "z": 5.0}
    # with the promotion days included, 03-07 comes back (and nothing else)
    every = health.outlier_summary(daily, z=5.0, include_events=True)
    assert every.excluded_event_days == 0
    assert every.outliers[["date", "metric", "event"]].astype(str).values.tolist() == [
        ["2025-03-07", "visitors", "womens_day"],
        ["2025-04-10", "visitors", ""],
        ["2025-04-10", "gmv", ""],
    ]


def test_health_summary_counts_each_check():
    checks = pd.DataFrame({"check": ["a", "b", "c"], "status": ["ok", "fail", "n/a"]})
    screen = health.outlier_summary(_daily(), z=5.0)
    got = health.health_summary(
        _daily(), pd.DataFrame({"channel": ["抖音"] * 3}), pd.DataFrame(), checks, screen
    )
    assert got == health.HealthSummary(
        rows=61, missing_channel_days=3, duplicate_keys=0, failed_checks=1, outlier_days=2
    )
    assert got.to_dict() == {
        "rows": 61,
        "missing_channel_days": 3,
        "duplicate_keys": 0,
        "failed_checks": 1,
        "outlier_days": 2,
    }


@pytest.fixture()
def patchy_store(tmp_path):
    """daily_metrics for March–April 2025 with 04-02 missing and 04-03 loaded twice."""
    from opsnb.data.store import open_store, write_table

    d = _daily().assign(buyers=20, orders=20, refund_orders=0, refund_amount=0.0)
    d = d[d["date"] != "2025-04-02"]
    d = pd.concat([d, d[d["date"] == "2025-04-03"]], ignore_index=True)
    path = tmp_path / "patchy.duckdb"
    con = open_store(path)
    write_table(con, "daily_metrics", d, validate=False)
    con.close()
    return path


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_sections_name_the_missing_day_the_duplicate_and_the_outliers(
    monkeypatch, patchy_store, lang
):
    from IPython.display import HTML, Markdown

    from opsnb import report
    from opsnb.data import show as hs

    shown = []
    monkeypatch.setattr(report, "_display", lambda obj, **kw: shown.append(obj))
    ctx = report.setup(lang=lang, period="2025-03-01..2025-04-30", db_path=str(patchy_store))
    shown.clear()
    said = lambda: [o.data for o in shown if isinstance(o, (Markdown, HTML))]

    coverage = hs.show_coverage(ctx)
    assert coverage["table"].tolist() == ["daily_metrics"] and coverage["rows"].tolist() == [61]
    daily = ctx.read("daily_metrics")
    missing = hs.show_daily_coverage(ctx, daily)
    assert missing.astype(str).values.tolist() == [["抖音", "2025-04-02"]]
    dups = hs.show_duplicates(ctx, missing)
    assert dups.to_dict("records") == [
        {
            "table": "daily_metrics",
            "key": "date+channel",
            "value": "2025-04-03 00:00:00 / 抖音",
            "count": 2,
        }
    ]
    checks = hs.show_consistency(ctx)
    # no orders table: the GMV, order-count and order-line checks do not apply
    assert checks["status"].tolist() == ["n/a", "n/a", "ok", "ok", "ok", "n/a"]
    screen = hs.show_outliers(ctx, daily, z=5.0)
    assert screen.outliers["date"].astype(str).unique().tolist() == ["2025-04-10"]
    zh = lang == "zh"
    assert said() == [
        "周期 2025-03-01..2025-04-30 内共有 61 行每日数据，覆盖 1 个流量来源；缺失 1 个渠道·日。"
        if zh
        else "The period 2025-03-01..2025-04-30 has 61 daily rows over 1 traffic sources; 1 channel-days are missing.",
        "发现 1 组重复主键，请在源文件中去重后重新导入。"
        if zh
        else "1 duplicate keys found: deduplicate the source file and load it again.",
        '<div class="opsnb-note opsnb-info" style="border-left:4px solid #2F6FB7;padding:8px 12px;'
        'margin:8px 0;background:#f7f9fc">'
        + ("全部口径检查通过。" if zh else "All consistency checks pass.")
        + "</div>",
        "相对本渠道 28 天滚动中位数，稳健 z 分数超过 5 的非大促日记录共 2 条（另有 1 个大促/节假日的极端值属正常波动，未列出）。请逐条核对是否为埋点或录入问题。"
        if zh
        else "2 non-promotion records have a robust z-score above 5 against their channel's "
        "28-day rolling median (1 promotion or holiday days were extreme as expected and are "
        "not listed). Check each for tracking or data-entry problems.",
    ]


def _orders_store(tmp_path, amounts: dict[str, float], items: list[tuple[str, str, int, float]]):
    from opsnb.data.store import open_store, write_table

    n = len(amounts)
    orders = pd.DataFrame(
        {
            "order_id": list(amounts),
            "customer_id": [f"C{i}" for i in range(n)],
            "order_time": pd.date_range("2025-03-02 10:00", periods=n, freq="h"),
            "channel": "抖音",
            "amount": list(amounts.values()),
            "refund_amount": 0.0,
        }
    )
    lines = pd.DataFrame(items, columns=["order_id", "sku", "qty", "price"])
    con = open_store(tmp_path / "orders.duckdb")
    write_table(con, "orders", orders, validate=False)
    write_table(con, "order_items", lines, validate=False)
    return con


def test_items_check_names_the_orders_whose_lines_disagree_with_the_amount(tmp_path):
    amounts = {
        "A1": 100.0,  # 2 × 50: exact
        "A2": 1000.0,  # lines 1004.9: 0.49 % off, inside 0.5 %
        "A3": 1.0,  # lines 1.01: 0.01 yuan off, inside the 0.01 yuan floor
        "B1": 200.0,  # lines 180: 10 % off
        "B2": 1.0,  # lines 1.02: 0.02 yuan, above the floor and above 0.5 %
        "B3": 50.0,
        "B4": 60.0,
        "B5": 70.0,
        "B6": 80.0,
        "B7": 90.0,
        "N1": 10.0,  # no lines: not checked
    }
    items = [
        ("A1", "s1", 2, 50.0),
        ("A2", "s1", 1, 1000.0),
        ("A2", "s2", 1, 4.9),
        ("A3", "s1", 1, 1.01),
        ("B1", "s1", 3, 60.0),
        ("B2", "s1", 2, 0.51),
        ("B3", "s1", 1, 5.0),
        ("B4", "s1", 1, 6.0),
        ("B5", "s1", 1, 7.0),
        ("B6", "s1", 1, 8.0),
        ("B7", "s1", 1, 9.0),
    ]
    con = _orders_store(tmp_path, amounts, items)
    got = health.consistency_checks(con, pd.Timestamp("2025-03-01"), pd.Timestamp("2025-03-31"))
    row = got.set_index("check").loc["items_sum_equals_amount"]
    assert row.to_dict() == {
        "description_zh": "订单实付金额 = Σ 数量 × 单价（订单明细）",
        "description_en": "Order amount equals Σ qty × price of its order lines",
        "rows_checked": 10,
        "violations": 7,
        "status": "fail",
        "example": "order_id=B1; amount=200.0; items_total=180.0; also B2, B3, B4, B5, B6 and 1 more",
    }
    # no daily_metrics: the daily checks do not apply, the order-line check still runs
    assert got["status"].tolist() == ["n/a"] * 5 + ["fail"]
    # a wider relative tolerance (20 %) lets B1 (10 % off) and B2 (0.02 of 0.20 allowed) pass
    wide = health.consistency_checks(
        con, pd.Timestamp("2025-03-01"), pd.Timestamp("2025-03-31"), items_rel_tolerance=0.2
    )
    assert wide.set_index("check").loc["items_sum_equals_amount", "example"] == (
        "order_id=B3; amount=50.0; items_total=5.0; also B4, B5, B6, B7"
    )
    # outside the period nothing is checked
    before = health.consistency_checks(con, pd.Timestamp("2025-02-01"), pd.Timestamp("2025-02-28"))
    assert before.set_index("check").loc["items_sum_equals_amount"].tolist()[2:] == [
        0,
        0,
        "ok",
        "",
    ]
    con.close()


def test_demo_shop_order_lines_add_up_to_the_order_amounts(demo_db):
    from opsnb.data.store import open_store

    con = open_store(demo_db, read_only=True)
    first, last = con.execute("select min(order_time), max(order_time) from orders").fetchone()
    got = health.consistency_checks(con, first.date(), last.date())
    con.close()
    row = got.set_index("check").loc["items_sum_equals_amount"]
    assert row["status"] == "ok" and row["violations"] == 0 and row["example"] == ""
    assert row["rows_checked"] > 1000
    assert got["status"].tolist() == ["ok"] * 6
