"""The daily loop's pieces: the clock, data readiness, 表3 comparisons, one money figure per
channel-day, root cause against the expected day, the styled 表3 Excel."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from opsnb.periods import is_relative, parse_period, shop_today


def test_relative_periods_resolve_from_today_in_the_shops_time_zone(monkeypatch):
    monkeypatch.delenv("OPSNB_TODAY", raising=False)
    late = dt.datetime(2025, 9, 27, 17, 30, tzinfo=dt.timezone.utc)  # 01:30 on 09-28 in Beijing
    assert shop_today(now=late) == dt.date(2025, 9, 28)
    assert shop_today(now=late, tz="Europe/London") == dt.date(2025, 9, 27)
    monkeypatch.setenv("OPSNB_TODAY", "2025-09-28")
    assert parse_period("yesterday").start == dt.date(2025, 9, 27)
    assert shop_today("2025-10-01") == dt.date(2025, 10, 1)  # --today wins
    p = parse_period("mtd", as_of="2025-09-28")
    assert (p.start, p.end) == (dt.date(2025, 9, 1), dt.date(2025, 9, 27))
    assert is_relative("yesterday") and is_relative("mtd") and not is_relative("2025-Q4")


def test_resolve_period_params_reads_relative_periods_from_the_clock_not_the_store():
    from opsnb.run.runner import period_folder, resolve_period_params

    nb = "03_daily_monitoring"  # as_of defaults to "latest": still read from today
    v = resolve_period_params(nb, {"period": "yesterday"}, today=dt.date(2025, 9, 28))
    assert v["period"] == "2025-09-27" and period_folder(v) == "2025-09-27"
    v = resolve_period_params(nb, {"period": "last-week"}, today=dt.date(2025, 9, 28))
    assert (
        v["period"] == "2025-09-15..2025-09-21" and period_folder(v) == "2025-09-15_to_2025-09-21"
    )
    assert resolve_period_params(nb, {"period": "2025-Q4"})["period"] == "2025-Q4"


def test_a_missing_day_fails_with_a_clear_message(tmp_path):
    import duckdb

    from opsnb.errors import DataNotReadyError
    from opsnb.report import require_day

    db = tmp_path / "s.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create table daily_metrics as select date '2025-09-26' as date, 'a' as channel")
    con.close()
    assert require_day(db, "2025-09-26") == dt.date(2025, 9, 26)
    with pytest.raises(
        DataNotReadyError, match="no daily_metrics for 2025-09-27; latest is 2025-09-26"
    ):
        require_day(db, "2025-09-27")


@lru_cache(maxsize=1)
def _shop():
    from opsnb.demo.shop import generate

    return generate(start="2024-09-01", end="2025-11-12", scale=0.5)


@lru_cache(maxsize=1)
def _res():
    from opsnb.monitoring.daily import monitor

    return monitor(_shop().daily_metrics)


def test_day_comparisons_match_hand_computed_values_and_use_the_same_event_day():
    from opsnb.monitoring.compare import day_comparisons, month_to_date, same_day_last_year

    assert same_day_last_year("2025-11-11") == (pd.Timestamp("2024-11-11"), "double11")
    assert same_day_last_year("2025-07-01") == (pd.Timestamp("2024-07-01"), "")
    # the lunar new year moves: 年货节's peak day of 2025 maps to 2024's peak day
    assert same_day_last_year("2025-01-17") == (pd.Timestamp("2024-01-29"), "new_year_festival")
    dm = _shop().daily_metrics
    c = day_comparisons(dm, "2025-11-11").set_index(["channel", "metric"])
    g = dm.groupby("date")["gmv"].sum()
    tot = c.loc[("全部", "gmv")]
    assert tot["value"] == pytest.approx(g[pd.Timestamp("2025-11-11")])
    assert tot["dod"] == pytest.approx(
        g[pd.Timestamp("2025-11-11")] / g[pd.Timestamp("2025-11-10")] - 1
    )
    assert tot["wow"] == pytest.approx(
        g[pd.Timestamp("2025-11-11")] / g[pd.Timestamp("2025-11-04")] - 1
    )
    assert tot["yoy"] == pytest.approx(
        g[pd.Timestamp("2025-11-11")] / g[pd.Timestamp("2024-11-11")] - 1
    )
    d = dm[(dm.date == "2025-11-11") & (dm.channel == "抖音")].iloc[0]
    assert c.loc[("抖音", "conversion_rate"), "value"] == pytest.approx(d.buyers / d.visitors)
    targets = pd.DataFrame(
        {"period": ["2025-11"], "metric": ["gmv"], "channel": ["全部"], "target": [1e7]}
    )
    m = month_to_date(dm, "2025-11-11", targets).set_index("channel").loc["全部"]
    mtd = g[pd.Timestamp("2025-11-01") : pd.Timestamp("2025-11-11")].sum()
    assert m["mtd_gmv"] == pytest.approx(mtd) and m["achievement"] == pytest.approx(mtd / 1e7)
    assert m["time_progress"] == pytest.approx(11 / 30) and m["pace"] == pytest.approx(
        mtd / 1e7 / (11 / 30)
    )


def test_gmv_at_risk_counts_a_channel_day_once_however_many_metrics_fired():
    from opsnb.monitoring.daily import gmv_at_risk

    res = _res()
    al = res.alerts[res.alerts.channel != "全部"]
    multi = al[al.family == "sales"].groupby(["date", "channel"]).filter(lambda g: len(g) >= 2)
    assert len(multi), "the demo has channel-days where several sales metrics fire"
    for (day, ch), g in multi.groupby(["date", "channel"]):
        gap = res.scores[
            (res.scores.date == day) & (res.scores.channel == ch) & (res.scores.metric == "gmv")
        ]
        want = abs(gap.actual.item() - gap.expected.item())
        np.testing.assert_allclose(g["gmv_at_risk"], want)  # the same figure on every metric
        m = gmv_at_risk(res, day)
        assert m.by_channel[ch] == pytest.approx(
            want
            + al[(al.date == day) & (al.channel == ch) & (al.family == "refund")][
                "gmv_at_risk"
            ].sum()
        )
        tot = res.scores[
            (res.scores.date == day) & (res.scores.channel == "全部") & (res.scores.metric == "gmv")
        ]
        assert m.shop == pytest.approx(abs(tot.actual.item() - tot.expected.item()))


def test_root_cause_of_a_weak_double11_is_against_the_expected_double11():
    from opsnb.monitoring.daily import root_cause

    dm, res = _shop().daily_metrics, _res()
    vs_expected = root_cause(dm, "2025-11-11", result=res)
    vs_weekday = root_cause(dm, "2025-11-11")
    assert vs_expected.attrs["baseline"] == "expected" and vs_weekday.attrs["baseline"] == "typical"
    # against a typical weekday every channel is up (the 双11 lift); against the expected 双11 the
    # weak live stream (直播 at about half its expected GMV) is the largest shortfall
    assert vs_weekday.groupby("channel")["contribution"].sum().gt(0).all()
    by = vs_expected.groupby("channel")["contribution"].sum()
    assert by.idxmin() == "直播" and by["直播"] < 0
    exp = res.scores[
        (res.scores.date == "2025-11-11")
        & (res.scores.channel != "全部")
        & (res.scores.metric == "gmv")
    ]
    actual = dm.loc[dm.date == "2025-11-11", "gmv"].sum()
    assert vs_expected["contribution"].sum() == pytest.approx(
        actual - exp["expected"].sum(), rel=1e-9
    )


def test_table3_has_comparisons_and_a_styled_formula_safe_excel(tmp_path):
    from openpyxl import load_workbook

    from opsnb.monitoring.compare import day_comparisons
    from opsnb.monitoring.show import TABLE3_COMPARISONS, daily_report, export_excel

    dm, res = _shop().daily_metrics, _res()
    t3 = daily_report(res, "2025-11-11", daily=dm)
    assert list(t3.columns) == [
        "date",
        "channel",
        "visitors",
        "conversion_rate",
        "aov",
        "gmv",
        "refund_rate",
        *TABLE3_COMPARISONS,
        "note",
        "fix",
        "owner",
    ]
    t3.loc[0, "note"] = '=HYPERLINK("http://x")'  # data that looks like a formula
    path = export_excel(
        t3, "2025-11-11", out_dir=tmp_path, comparisons=day_comparisons(dm, "2025-11-11")
    )
    wb = load_workbook(path)
    ws = wb["表3"]
    heads = [c.value for c in ws[1]]
    assert heads[:2] == ["日期", "流量来源"] and "成交金额 环比" in heads and "目标达成率" in heads
    assert ws.freeze_panes == "C2" and ws.auto_filter.ref
    col = {h: i + 1 for i, h in enumerate(heads)}
    note = ws.cell(row=2, column=col["异常说明"])
    assert note.data_type == "s" and note.value.startswith("=HYPERLINK")
    assert ws.cell(row=2, column=col["转化率"]).number_format == "0.00%"
    assert ws.cell(row=2, column=col["成交金额 环比"]).number_format == "+0.0%;-0.0%;0.0%"
    flagged = [i for i, n in enumerate(t3["note"], start=2) if n]
    assert ws.cell(row=flagged[0], column=1).fill.fgColor.rgb.endswith("FDE2E1")
    assert "环比同比" in wb.sheetnames


def _stub_runs(monkeypatch, tmp_path):
    """Replace the notebook runner by a recorder (the daily loop's logic, not papermill)."""
    from opsnb.run import runner
    from opsnb.run.runner import RunResult

    calls = []

    def fake(nb, params, *, output_dir, render, today):
        calls.append((nb.stem, params, render))
        html = tmp_path / f"{nb.stem}.html"
        html.write_text("<html></html>", encoding="utf-8")
        return RunResult(nb.stem, nb.stem, "ok", None, str(html), str(html), None, params, 0.0)

    monkeypatch.setattr(runner, "run_notebook", fake)
    return calls


def _store(path, tables):
    from opsnb.data.store import open_store, write_table

    con = open_store(path)
    try:
        for name in tables:
            write_table(con, name, getattr(_shop(), name), mode="replace", validate=False)
    finally:
        con.close()
    return path


def test_daily_renders_the_inventory_notebook_when_the_store_has_stock(tmp_path, monkeypatch):
    from opsnb.run.daily import INVENTORY_DAYS, run_daily

    calls = _stub_runs(monkeypatch, tmp_path)
    db = _store(tmp_path / "s.duckdb", ["daily_metrics", "product_daily", "skus", "inventory"])
    r = run_daily(today="2025-11-12", db=db, output_dir=tmp_path / "out", params_file=None)
    assert r.exit_code == 0, r.lines()
    assert [c[0] for c in calls] == ["03_daily_monitoring", "06_inventory"]
    p06 = calls[1][1]
    assert INVENTORY_DAYS == 28
    assert (p06["period"], p06["as_of"], p06["db_path"]) == (
        "2025-10-15..2025-11-11",
        "2025-11-11",
        str(db.resolve()),
    )
    assert r.inventory_html_path.endswith("06_inventory.html") and not r.inventory_skipped
    assert f"  inventory report {r.inventory_html_path}" in r.lines()
    # the params file's notebooks list restricts the run; daily.yaml lists both
    only03 = tmp_path / "only03.yaml"
    only03.write_text("notebooks: [03_daily_monitoring]\n", encoding="utf-8")
    r = run_daily(today="2025-11-12", db=db, output_dir=tmp_path / "out", params_file=only03)
    assert calls[-1][0] == "03_daily_monitoring" and r.exit_code == 0
    assert r.inventory_skipped == "06_inventory is not in the params file's notebooks list"
    from opsnb import config

    shipped = config.params_dir() / "daily.yaml"
    calls.clear()
    r = run_daily(today="2025-11-12", db=db, output_dir=tmp_path / "out", params_file=shipped)
    assert [c[0] for c in calls] == ["03_daily_monitoring", "06_inventory"], r.lines()
    assert calls[1][1]["shop"] == "旗舰店" and calls[1][1]["period"] == "2025-10-15..2025-11-11"


def test_daily_skips_the_inventory_notebook_with_the_reason_without_stock(tmp_path, monkeypatch):
    from opsnb.run.daily import inventory_ready, run_daily

    calls = _stub_runs(monkeypatch, tmp_path)
    db = _store(tmp_path / "s.duckdb", ["daily_metrics", "product_daily"])
    r = run_daily(today="2025-11-12", db=db, output_dir=tmp_path / "out")
    assert [c[0] for c in calls] == ["03_daily_monitoring"] and r.exit_code == 0
    assert r.inventory_skipped == (
        "the store has no skus, inventory table(s) (load the SKU master and stock with "
        "`opsnb load` or `opsnb import`)"
    )
    assert f"  inventory report skipped: {r.inventory_skipped}" in r.lines()
    _store(db, ["skus", "inventory"])
    assert inventory_ready(db, dt.date(2025, 11, 11)) == ""
    assert inventory_ready(db, dt.date(2020, 1, 1)) == (
        "the inventory table has no stock on or before 2020-01-01"
    )
    r = run_daily(today="2025-11-12", db=db, output_dir=tmp_path / "out", report=False)
    assert r.inventory_skipped == "no reports in this run (--no-report)" and r.exit_code == 0


def test_daily_reads_the_shops_country_and_events_from_its_parameters(tmp_path, monkeypatch):
    from opsnb.errors import ParameterError
    from opsnb.run.daily import run_daily

    calls = _stub_runs(monkeypatch, tmp_path)
    db = _store(tmp_path / "s.duckdb", ["daily_metrics"])
    p = tmp_path / "shop.yaml"
    p.write_text("country: XX\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"shop.yaml: parameter 'country'.*ISO code"):
        run_daily(today="2025-11-12", db=db, output_dir=tmp_path / "out", params_file=p)
    assert not calls
    p.write_text(
        "country: HK\npromotions: false\n"
        "events:\n  - {event: 店庆, start: 2025-11-08, end: 2025-11-10}\n",
        encoding="utf-8",
    )
    from opsnb.monitoring import daily as D

    seen, real = [], D.monitor
    monkeypatch.setattr(D, "monitor", lambda *a, **k: seen.append(k) or real(*a, **k))
    r = run_daily(today="2025-11-12", db=db, output_dir=tmp_path / "out", params_file=p)
    assert r.exit_code == 0, r.lines()
    # the morning's monitoring and the rendered report read the same calendar
    assert seen[0]["country"] == "HK" and seen[0]["events"][0]["event"] == "店庆"
    assert seen[0]["promotions"] is False
    assert calls[0][1]["country"] == "HK" and calls[0][1]["events"][0]["event"] == "店庆"


def test_root_cause_on_a_first_shop_event_falls_back_to_a_typical_day():
    """A shop event the series has no past of has no expected rates that day: the day is
    explained against a typical weekday instead of failing the report."""
    from opsnb.monitoring.daily import expected_day, monitor, root_cause

    dm = _shop().daily_metrics
    first = [{"event": "店庆", "start": "2025-08-18", "end": "2025-08-19"}]
    res = monitor(dm, as_of="2025-08-19", events=first)
    assert expected_day(res, "2025-08-19").empty
    rc = root_cause(dm, "2025-08-19", result=res)
    assert rc.attrs["baseline"] == "typical" and len(rc)
    assert rc["contribution"].sum() == pytest.approx(
        rc.attrs["gmv_after"] - rc.attrs["gmv_before"], rel=1e-9
    )
