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
    assert checks["status"].tolist() == ["n/a", "n/a", "ok", "ok", "ok"]  # no orders table
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
