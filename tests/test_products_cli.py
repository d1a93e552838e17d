"""`opsnb forecast` and `opsnb replenish` on plain CSVs: output columns, the pipeline's numbers,
bad files → file, row and column with exit 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from opsnb.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def sales_csv(tmp_path_factory):
    rng = np.random.default_rng(4)
    days = pd.date_range("2025-01-01", periods=120)
    df = pd.concat(
        [
            pd.DataFrame(
                {"商品ID": "A", "日期": days.strftime("%Y%m%d"), "销量": rng.poisson(12, 120)}
            ),
            pd.DataFrame(
                {"商品ID": "B", "日期": days.strftime("%Y%m%d"), "销量": rng.poisson(1, 120)}
            ),
        ]
    )
    path = tmp_path_factory.mktemp("cli") / "sales.csv"
    df.to_csv(path, index=False, encoding="gbk")
    return path


@pytest.fixture(scope="module")
def forecast_csv(sales_csv):
    out = sales_csv.parent / "fc.csv"
    res = runner.invoke(
        app,
        [
            "forecast", str(sales_csv), "--series-col", "商品ID", "--time-col", "日期",
            "--value-col", "销量", "--horizon", "21", "--level", "80,95", "--output", str(out),
            "--backtest", str(sales_csv.parent / "bt.csv"),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return out


def test_forecast_writes_series_timestamp_forecast_and_interval_columns(forecast_csv, sales_csv):
    from opsnb.products.forecast import forecast_demand

    got = pd.read_csv(forecast_csv)
    assert list(got.columns) == [
        "series", "timestamp", "forecast", "lo_80", "hi_80", "lo_95", "hi_95", "model"
    ]  # fmt: skip
    assert len(got) == 42 and got["timestamp"].iloc[0] == "2025-05-01"
    raw = pd.read_csv(sales_csv, encoding="gbk", dtype={"日期": str})
    raw["日期"] = pd.to_datetime(raw["日期"])
    lib = forecast_demand(raw, series_col="商品ID", time_col="日期", value_col="销量", horizon=21)
    np.testing.assert_allclose(got["forecast"], lib.forecasts["forecast"], rtol=1e-9)
    assert got["model"].tolist() == lib.forecasts["model"].tolist()
    bt = pd.read_csv(sales_csv.parent / "bt.csv")
    assert bt["series"].tolist() == ["A", "B"] and {"mase", "mase_seasonal_naive"} <= set(
        bt.columns
    )


def test_forecast_bad_cell_names_file_row_and_column(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("sku,date,units\nA,2025-01-01,3\nA,2025-01-02,three\n", encoding="utf-8")
    res = runner.invoke(
        app,
        ["forecast", str(f), "--series-col", "sku", "--time-col", "date", "--value-col", "units",
         "--horizon", "7", "--output", str(tmp_path / "o.csv")],
    )  # fmt: skip
    assert res.exit_code == 2
    assert f"{f}, row 3, column 'units'" in res.output and "three" in res.output
    res = runner.invoke(
        app,
        ["forecast", str(f), "--series-col", "商品", "--time-col", "date", "--value-col", "units",
         "--horizon", "7", "--output", str(tmp_path / "o.csv")],
    )  # fmt: skip
    assert res.exit_code == 2 and "missing column(s) '商品'" in res.output
    res = runner.invoke(
        app,
        ["forecast", str(f), "--series-col", "sku", "--time-col", "date", "--value-col", "units",
         "--horizon", "7", "--level", "80,150", "--output", str(tmp_path / "o.csv")],
    )  # fmt: skip
    assert res.exit_code == 1 and "--level" in res.output


def test_replenish_writes_the_plan_from_the_forecast_file(forecast_csv, tmp_path):
    from opsnb.products.replenish import PLAN_COLUMNS, replenishment_plan

    skus = tmp_path / "skus.csv"
    skus.write_text(
        "sku,name,price,unit_cost,lead_time_days,moq,case_pack\nA,保温杯,99,40,5,50,10\nB,杯套,19,5,10,,\n",
        encoding="utf-8",
    )
    inv = tmp_path / "inv.csv"
    inv.write_text(
        "date,sku,on_hand,in_transit\n2025-04-30,A,30,0\n2025-04-30,B,400,\n", encoding="utf-8"
    )
    out = tmp_path / "plan.csv"
    res = runner.invoke(
        app,
        ["replenish", str(forecast_csv), "--skus", str(skus), "--inventory", str(inv),
         "--output", str(out), "--review-days", "7", "--service-level", "0.95"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out)
    assert list(got.columns) == PLAN_COLUMNS
    fc = pd.read_csv(forecast_csv)
    lib = replenishment_plan(
        fc,
        pd.read_csv(skus, dtype={"sku": str}),
        pd.read_csv(inv, dtype={"sku": str}),
        level=95,
    )
    np.testing.assert_allclose(got["order_up_to"], lib["order_up_to"], rtol=1e-9)
    assert got["order_qty"].tolist() == lib["order_qty"].tolist()
    a = got.set_index("sku").loc["A"]
    assert a.order_qty >= 50 and a.order_qty % 10 == 0 and a.alert == "stockout"
    assert got.set_index("sku").loc["B", "alert"] == "overstock"


def test_replenish_bad_inventory_file_exits_2_with_row_and_column(forecast_csv, tmp_path):
    skus = tmp_path / "skus.csv"
    skus.write_text("sku,lead_time_days\nA,5\n", encoding="utf-8")
    inv = tmp_path / "inv.csv"
    inv.write_text("sku,on_hand\nA,lots\n", encoding="utf-8")
    res = runner.invoke(
        app,
        ["replenish", str(forecast_csv), "--skus", str(skus), "--inventory", str(inv),
         "--output", str(tmp_path / "p.csv")],
    )  # fmt: skip
    assert res.exit_code == 2 and f"{inv}, row 2, column 'on_hand'" in res.output


def test_weekly_csv_with_its_own_column_names_forecasts_weeks_and_plans_per_day(tmp_path):
    """A weekly export (周一 dates, 货号/周/件数): the forecast is weekly, and the plan spreads
    each week over its seven days (a weekly forecast is not read as a daily one)."""
    from opsnb.products.replenish import daily_forecasts, forecast_sigma

    weeks = pd.date_range("2023-01-02", periods=110, freq="W-MON")
    rng = np.random.default_rng(8)
    f = tmp_path / "weekly.csv"
    pd.concat(
        [
            pd.DataFrame(
                {"货号": "W1", "周": weeks.strftime("%Y/%m/%d"), "件数": rng.poisson(70, 110)}
            ),
            pd.DataFrame(
                {"货号": "W2", "周": weeks.strftime("%Y/%m/%d"), "件数": rng.poisson(7, 110)}
            ),
        ]
    ).to_csv(f, index=False, encoding="utf-8")
    out = tmp_path / "wfc.csv"
    res = runner.invoke(
        app,
        ["forecast", str(f), "--series-col", "货号", "--time-col", "周", "--value-col", "件数",
         "--horizon", "6", "--output", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "freq W-MON" in res.output
    fc = pd.read_csv(out)
    assert len(fc) == 12 and fc["timestamp"].iloc[0] == str(
        (weeks[-1] + pd.Timedelta(weeks=1)).date()
    )
    w1 = fc[fc["series"] == "W1"]
    assert 50 < w1["forecast"].mean() < 90  # units per week, not per day
    skus = tmp_path / "skus.csv"
    skus.write_text("sku,lead_time_days\nW1,7\nW2,7\n", encoding="utf-8")
    inv = tmp_path / "inv.csv"
    inv.write_text("sku,on_hand\nW1,20\nW2,500\n", encoding="utf-8")
    plan = tmp_path / "plan.csv"
    res = runner.invoke(
        app,
        ["replenish", str(out), "--skus", str(skus), "--inventory", str(inv), "--output",
         str(plan), "--review-days", "7"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    got = pd.read_csv(plan).set_index("sku")
    want = w1["forecast"].iloc[:2].sum() / 14  # lead time + review = 14 days = the first 2 weeks
    assert got.loc["W1", "demand_per_day"] == pytest.approx(want, rel=1e-9)
    assert got.loc["W1", "alert"] == "stockout" and got.loc["W2", "alert"] == "overstock"
    daily = daily_forecasts(fc.assign(sigma=forecast_sigma(fc)))
    assert len(daily) == 12 * 7
    total = daily.groupby("series")["forecast"].sum().to_numpy()
    np.testing.assert_allclose(total, fc.groupby("series")["forecast"].sum(), rtol=1e-12)
    var = (daily["sigma"] ** 2).groupby(daily["series"]).sum().to_numpy()
    np.testing.assert_allclose(var, (forecast_sigma(fc) ** 2).groupby(fc["series"]).sum())


def test_bad_weekly_cell_names_file_row_and_column(tmp_path):
    f = tmp_path / "bad_weekly.csv"
    f.write_text(
        "货号,周,件数\nW1,2025-01-06,3\nW1,2025-01-13,\nW1,2025-13-20,4\n", encoding="utf-8"
    )
    res = runner.invoke(
        app,
        ["forecast", str(f), "--series-col", "货号", "--time-col", "周", "--value-col", "件数",
         "--horizon", "4", "--output", str(tmp_path / "o.csv")],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert f"{f}, row 3, column '件数'; expected a value" in res.output
    assert f"{f}, row 4, column '周': got '2025-13-20'" in res.output
