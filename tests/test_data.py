"""Data contracts: loaders (encodings, formats, aliases, value spellings), validation messages,
the DuckDB store, derived rates and the `validate` / `load` commands."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsnb import data
from opsnb.errors import DataContractError, DataQualityWarning

FIX = Path(__file__).resolve().parent / "fixtures"
GOOD, BAD = FIX / "good", FIX / "bad"

EXPECTED_DAILY = pd.DataFrame(
    {
        "date": pd.to_datetime(
            ["2024-06-18", "2024-06-19", "2024-06-20", "2024-06-21", "2024-06-22"]
        ).astype("datetime64[us]"),
        "channel": pd.array(["自然搜索", "抖音", "直播", "付费推广", "小红书"], dtype="str"),
        "visitors": np.array([1234, 12000, 800, 2000, 300], dtype="int64"),
        "buyers": np.array([50, 20, 40, 60, 0], dtype="int64"),
        "orders": np.array([55, 22, 41, 66, 0], dtype="int64"),
        "gmv": [12345.5, 3000.0, 4100.5, 6600.0, 0.0],
        "refund_orders": np.array([2, 0, 1, 3, 0], dtype="int64"),
        "refund_amount": [100.0, 0.0, 10.5, 300.0, 0.0],
        "ad_spend": [np.nan, 500.0, np.nan, 1200.0, np.nan],
        "new_buyers": pd.array([pd.NA] * 5, dtype="Int64"),
        "cart_users": pd.array([pd.NA] * 5, dtype="Int64"),
    }
)


def test_chinese_headers_and_ops_spellings_load_to_canonical_frame():
    df = data.read_file(GOOD / "daily_metrics_zh.csv", "daily_metrics")
    pd.testing.assert_frame_equal(df, EXPECTED_DAILY)


def test_whitespace_separated_txt_with_english_headers():
    df = data.read_file(GOOD / "daily_metrics_en.txt", "daily_metrics")
    pd.testing.assert_frame_equal(df, EXPECTED_DAILY)


def test_store_round_trip_keeps_canonical_dtypes(tmp_path):
    df = data.read_file(GOOD / "daily_metrics_zh.csv", "daily_metrics")
    con = data.open_store(tmp_path / "sub" / "s.duckdb")
    assert data.write_table(con, "daily_metrics", df).inserted == 5
    pd.testing.assert_frame_equal(data.read_table(con, "daily_metrics"), df)
    one = data.read_table(
        con, "daily_metrics", start="2024-06-19", end="2024-06-20", channels=["直播"]
    )
    assert one["channel"].tolist() == ["直播"]


def test_add_rates_divides_counts_and_gives_nan_for_zero_denominators():
    df = data.add_rates(EXPECTED_DAILY)
    assert df["conversion_rate"].iloc[0] == pytest.approx(50 / 1234)
    assert df["aov"].iloc[1] == pytest.approx(3000 / 22)
    assert df["refund_rate"].iloc[3] == pytest.approx(3 / 66)
    assert np.isnan(df["aov"].iloc[4]) and np.isnan(df["refund_rate"].iloc[4])
    assert df["conversion_rate"].iloc[4] == 0.0


# ------------------------------------------------------------------------------------------
# encodings and formats
# ------------------------------------------------------------------------------------------


def _zh_text() -> str:
    return (GOOD / "daily_metrics_zh.csv").read_text(encoding="utf-8-sig")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_are_detected(tmp_path, encoding):
    path = tmp_path / f"daily_{encoding}.csv"
    path.write_text(_zh_text().replace("¥", "￥"), encoding=encoding)  # ¥ (U+00A5) is not in GBK
    pd.testing.assert_frame_equal(data.read_file(path, "daily_metrics"), EXPECTED_DAILY)


def _write_xlsx(
    path: Path,
    rows: list[list],
    *,
    title: str | None = None,
    sheet="数据",
    merge: str | None = None,
) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "说明"
    ws["A1"] = "this sheet is notes"
    ws = wb.create_sheet(sheet)
    if title:
        ws.append([title])
    for r in rows:
        ws.append(r)
    if merge:
        ws.merge_cells(merge)
    wb.save(path)


def test_xlsx_with_title_row_real_dates_and_percent_cells(tmp_path):
    from datetime import datetime

    rows = [
        [
            "日期",
            "渠道",
            "访客数",
            "买家数",
            "订单数",
            "成交金额",
            "退款订单数",
            "退款金额",
            "推广花费",
        ],
        [datetime(2024, 6, 18), "自然搜索", 1234, 50, 55, 12345.5, 2, 100, None],
        ["2024/6/19", "抖音", "1.2万", 20, 22, "¥3,000", 0, 0, 500],
        [20240620, "直播", 800.0, 40, 41, 4100.5, 1, 10.5, "-"],
        ["2024年6月21日", "付费推广", 2000, 60, 66, 6600, 3, 300, "1,200.00"],
        [45465, "小红书", 300, 0, 0, 0, 0, 0, None],
    ]
    path = tmp_path / "daily.xlsx"
    _write_xlsx(path, rows, title="生意参谋 流量来源 2024-06-18 至 2024-06-22")
    df = data.read_file(path, "daily_metrics", sheet="数据")
    pd.testing.assert_frame_equal(df, EXPECTED_DAILY)
    # problems carry the sheet row: title = row 1, header = row 2, first data row = row 3
    rows[3][3] = 900
    _write_xlsx(path, rows, title="生意参谋")
    with pytest.raises(DataContractError) as err:
        data.read_file(path, "daily_metrics", sheet=1)
    assert [str(p) for p in err.value.problems] == [
        "daily.xlsx, row 5, column 'buyers': got 'buyers=900, visitors=800'; "
        "expected buyers (买家数) ≤ visitors (访客数)",
        "daily.xlsx, row 5, column 'buyers': got 'buyers=900, orders=41'; "
        "expected buyers (买家数) ≤ orders (订单数)",
    ]


def test_xlsx_unknown_sheet_names_the_sheets(tmp_path):
    path = tmp_path / "d.xlsx"
    _write_xlsx(path, [["日期"]])
    with pytest.raises(ValueError, match=r"no sheet 'x' in d.xlsx; sheets: \['说明', '数据'\]"):
        data.read_file(path, "daily_metrics", sheet="x")


def test_xlsx_plan_sheet_found_by_table_name_and_merged_cycle_cells_filled(tmp_path):
    rows = [
        ["周期", "目标", "策略", "具体任务", "负责人", "开始时间", "截止时间", "预算", "状态"],
        ["预热期", "蓄水", "种草", "达人笔记", "王敏", "2024-05-20", "2024-05-31", 20000, "进行中"],
        [None, "蓄水", "召回", "短信召回", "李强", "2024-05-25", "2024-06-01", None, "已完成"],
        ["爆发期", "成交", "直播", "618直播", "张伟", "2024-06-18", "2024-06-18", "5千", "未开始"],
    ]
    path = tmp_path / "plan.xlsx"
    _write_xlsx(path, rows, sheet="表1 全周期计划表", merge="A2:A3")
    with pytest.raises(DataContractError) as err:  # sheet chosen by name, not the first sheet
        data.read_file(path, "plan")
    assert [str(p) for p in err.value.problems] == [
        "plan.xlsx, row 4, column 'budget': got '5千'; expected a number "
        "(write 1234.5, 1,234.5, ¥1,234.50 or 1.2万)"
    ]
    rows[3][7] = 5000
    _write_xlsx(path, rows, sheet="表1 全周期计划表", merge="A2:A3")
    df = data.read_file(path, "plan")
    assert df["cycle"].tolist() == ["预热期", "预热期", "爆发期"]
    assert df["budget"].tolist()[0] == 20000.0 and np.isnan(df["budget"].iloc[1])
    assert df["updated"].isna().all() and str(df["updated"].dtype) == "datetime64[us]"


def test_parquet_round_trip(tmp_path):
    path = tmp_path / "d.parquet"
    EXPECTED_DAILY.to_parquet(path)
    pd.testing.assert_frame_equal(data.read_file(path, "daily_metrics"), EXPECTED_DAILY)


def test_unsupported_extension_names_the_accepted_ones(tmp_path):
    path = tmp_path / "d.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match=r"unsupported file type '\.json'; use one of \.csv"):
        data.read_file(path, "daily_metrics")


# ------------------------------------------------------------------------------------------
# the bad-input corpus: every problem of a file at once, with the file's row numbers
# ------------------------------------------------------------------------------------------

from reference.data_messages import EXPECTED as BAD_MESSAGES  # noqa: E402


@pytest.mark.parametrize("name", sorted(BAD_MESSAGES))
def test_bad_file_reports_every_problem(name):
    table, expected = BAD_MESSAGES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        with pytest.raises(DataContractError) as err:
            data.read_file(BAD / name, table)
    assert [str(p) for p in err.value.problems] == expected
    assert all(p.file == name for p in err.value.problems)


def test_every_bad_fixture_has_expected_messages():
    assert sorted(p.name for p in BAD.iterdir()) == sorted(BAD_MESSAGES)


def test_blank_lines_keep_file_row_numbers(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        "日期,渠道,访客数,买家数,订单数,成交金额,退款订单数,退款金额\n"
        "2024-06-18,a,10,1,1,10,0,0\n\n\n"
        "2024-06-19,a,10,1,1,10,0,0\n"
        "2024-06-20,a,10,-,1,10,0,0\n",
        encoding="utf-8",
    )
    with pytest.raises(DataContractError) as err:
        data.read_file(path, "daily_metrics")
    assert [(p.row, p.column, p.value) for p in err.value.problems] == [(6, "buyers", "-")]


def test_notes_above_the_header_are_skipped(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        "# 生意参谋导出\n统计时间：2024-06-18\n"
        "日期,渠道,访客数,买家数,订单数,成交金额,退款订单数,退款金额\n"
        "2024-06-18,a,10,11,11,10,0,0\n",
        encoding="utf-8",
    )
    with pytest.raises(DataContractError) as err:
        data.read_file(path, "daily_metrics")
    assert [(p.row, p.column) for p in err.value.problems] == [(4, "buyers")]


def test_unknown_columns_warn_and_are_dropped_but_experiments_keep_them(tmp_path):
    path = GOOD / "daily_metrics_zh.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["支付转化率"] = "3%"
    with pytest.warns(DataQualityWarning, match="dropped: 支付转化率"):
        df = data.validate(frame, "daily_metrics", source="x.csv")
    assert list(df.columns) == list(EXPECTED_DAILY.columns)
    exp = pd.DataFrame(
        {
            "用户ID": ["u1", "u2", "u3"],
            "实验名称": ["e1"] * 3,
            "组别": ["control", "treatment", "treatment"],
            "converted": ["1", "0", "1"],
            "gmv": ["¥1,200", "0", "35.5"],
            "segment": ["新客", "老客", "-"],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        out = data.validate(exp, "experiments")
    assert list(out.columns) == [
        "unit_id",
        "experiment",
        "variant",
        "assigned_at",
        "converted",
        "gmv",
        "segment",
    ]
    assert out["converted"].dtype == "int64" and out["gmv"].tolist() == [1200.0, 0.0, 35.5]
    assert out["segment"].isna().tolist() == [False, False, True]


def test_two_headers_for_one_column_is_an_error():
    frame = pd.DataFrame(
        {
            "日期": ["2024-06-18"],
            "渠道": ["a"],
            "访客数": ["1"],
            "访客": ["1"],
            "买家数": ["1"],
            "订单数": ["1"],
            "成交金额": ["1"],
            "退款订单数": ["0"],
            "退款金额": ["0"],
        }
    )
    with pytest.raises(DataContractError) as err:
        data.validate(frame, "daily_metrics")
    assert str(err.value.problems[0]) == (
        "<frame>, column '访客'; expected one column for "
        "'visitors', but '访客数' and '访客' both name it; "
        "remove one"
    )


# ------------------------------------------------------------------------------------------
# value spellings
# ------------------------------------------------------------------------------------------


def _targets(values: list[str], metric="gmv") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "周期": [f"2024-{i + 1:02d}" for i in range(len(values))],
            "指标": [metric] * len(values),
            "渠道": ["全部"] * len(values),
            "目标值": values,
        }
    )


@pytest.mark.parametrize(
    "text, value",
    [
        ("1234", 1234.0),
        ("1,234", 1234.0),
        ("¥1,234.50", 1234.5),
        ("￥1,234.50", 1234.5),
        (" 1 234 ", 1234.0),
        ("1.2万", 12000.0),
        ("1.2万元", 12000.0),
        ("3亿", 3e8),
        ("1234元", 1234.0),
        ("-12.5", -12.5),
        ("(1,234.50)", -1234.5),
        ("１２３４", 1234.0),
        ("3.2%", 0.032),
        ("25‰", 0.025),
        ("1e3", 1000.0),
    ],
)
def test_number_spellings(text, value):
    assert data.validate(_targets([text]), "targets")["target"].iloc[0] == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "-", "--", "NA", "n/a", "null", "None", "#N/A", "nan"])
def test_missing_spellings_in_optional_column(text):
    frame = _targets(["1"])
    frame["负责人"] = text
    assert data.validate(frame, "targets")["owner"].isna().all()


@pytest.mark.parametrize(
    "text",
    [
        "2024-06-18",
        "2024/6/18",
        "2024.6.18",
        "20240618",
        "2024年6月18日",
        "18/06/2024",
        "45461",
        "45461.75",
        "2024-06-18 15:30:00",
        "2024-06-18T08:00",
    ],
)
def test_date_spellings_normalise_to_midnight(text):
    frame = pd.DataFrame(
        {"关键节点": ["m"], "时间": [text], "完成标准": ["s"], "负责人": ["o"], "风险等级": ["低"]}
    )
    out = data.validate(frame, "milestones")
    assert out["date"].iloc[0] == pd.Timestamp("2024-06-18")
    assert out["date"].dtype == "datetime64[us]"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-06-18 10:02:11", "2024-06-18 10:02:11"),
        ("2024/6/18 10:05", "2024-06-18 10:05:00"),
        ("2024年6月18日 10:05:30", "2024-06-18 10:05:30"),
        ("45461.5", "2024-06-18 12:00:00"),
        ("2024-06-18", "2024-06-18 00:00:00"),
    ],
)
def test_datetime_spellings(text, expected):
    frame = pd.DataFrame({"订单号": ["1"], "买家ID": ["c"], "支付时间": [text], "实付金额": ["1"]})
    out = data.validate(frame, "orders")
    assert out["order_time"].iloc[0] == pd.Timestamp(expected)


def test_market_month_accepts_year_month():
    frame = pd.DataFrame(
        {
            "月份": ["2024-06", "2024年7月", "2024-08-15"],
            "类目": ["c"] * 3,
            "竞品": ["a", "a", "a"],
            "是否本店": ["是", "否", "TRUE"],
            "价格带": ["100-200"] * 3,
            "均价": ["150"] * 3,
            "交易指数": ["1,000"] * 3,
        }
    )
    out = data.validate(frame, "market")
    assert out["month"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-06-01",
        "2024-07-01",
        "2024-08-01",
    ]
    assert out["is_own"].tolist() == [True, False, True] and out["is_own"].dtype == bool


def test_validate_numbers_rows_from_first_row():
    frame = _targets(["1", "x"])
    with pytest.raises(DataContractError) as err:
        data.validate(frame, "targets", source="t.xlsx", first_row=10)
    assert [(p.file, p.row) for p in err.value.problems] == [("t.xlsx", 11)]


def test_typed_frames_pass_through_unchanged():
    again = data.validate(EXPECTED_DAILY, "daily_metrics")
    pd.testing.assert_frame_equal(again, EXPECTED_DAILY)


# ------------------------------------------------------------------------------------------
# DuckDB store
# ------------------------------------------------------------------------------------------


@pytest.fixture()
def store(tmp_path):
    con = data.open_store(tmp_path / "store" / "opsnb.duckdb")
    yield con
    con.close()


def test_store_filters_dates_inclusively_and_by_channel(store):
    data.write_table(store, "daily_metrics", EXPECTED_DAILY)
    got = data.read_table(store, "daily_metrics", start="2024-06-19", end="2024-06-21")
    assert got["date"].dt.day.tolist() == [19, 20, 21]
    got = data.read_table(
        store,
        "daily_metrics",
        end=pd.Timestamp("2024-06-19"),
        channels="自然搜索",
        columns=["date", "channel", "visitors"],
    )
    assert list(got.columns) == ["date", "channel", "visitors"]
    assert got["visitors"].tolist() == [1234]
    assert data.read_table(store, "daily_metrics", channels=[]).empty


def test_datetime_time_column_takes_the_whole_end_day(store):
    orders = pd.DataFrame(
        {
            "order_id": ["a", "b", "c"],
            "customer_id": ["x", "y", "z"],
            "order_time": ["2024-06-17 23:59:59", "2024-06-18 23:59:59", "2024-06-19 00:00:00"],
            "amount": [1.0, 2.0, 3.0],
        }
    )
    data.write_table(store, "orders", orders)
    got = data.read_table(store, "orders", start="2024-06-18", end="2024-06-18")
    assert got["order_id"].tolist() == ["b"]
    assert got["order_time"].dtype == "datetime64[us]"


def test_append_adds_rows_and_refuses_keys_already_stored(store):
    data.write_table(store, "daily_metrics", EXPECTED_DAILY.iloc[:3])
    added = data.write_table(store, "daily_metrics", EXPECTED_DAILY.iloc[3:], mode="append")
    assert (added.inserted, added.total) == (2, 5)
    pd.testing.assert_frame_equal(data.read_table(store, "daily_metrics"), EXPECTED_DAILY)
    with pytest.raises(DataContractError) as err:
        data.write_table(
            store,
            "daily_metrics",
            EXPECTED_DAILY.iloc[[1, 4]],
            mode="append",
            source="again.csv",
            rows=[3, 9],
        )
    assert [str(p) for p in err.value.problems] == [
        "again.csv, row 3, column 'date, channel': got '2024-06-19, 抖音'; expected a (date, "
        "channel) not already in the store table 'daily_metrics' (re-import to update (upsert): "
        "`opsnb import` or `opsnb load`)",
        "again.csv, row 9, column 'date, channel': got '2024-06-22, 小红书'; expected a (date, "
        "channel) not already in the store table 'daily_metrics' (re-import to update (upsert): "
        "`opsnb import` or `opsnb load`)",
    ]
    assert data.store_summary(store)["rows"].tolist() == [5]  # nothing written
    replaced = data.write_table(store, "daily_metrics", EXPECTED_DAILY.iloc[:1], mode="replace")
    assert (replaced.inserted, replaced.removed, replaced.total) == (1, 5, 1)


def test_write_validates_contract_tables(store):
    bad = EXPECTED_DAILY.copy()
    bad.loc[2, "buyers"] = 10_000
    with pytest.raises(DataContractError, match="row 4, column 'buyers'"):
        data.write_table(store, "daily_metrics", bad)
    assert "daily_metrics" not in data.store_summary(store)["table"].tolist()


def test_non_contract_tables_need_validate_false(store):
    ledger = pd.DataFrame({"run": ["r1"], "date": pd.to_datetime(["2024-06-18"]), "gmv": [1.0]})
    with pytest.raises(ValueError, match="pass validate=False"):
        data.write_table(store, "ledger", ledger)
    assert data.write_table(store, "ledger", ledger, validate=False, mode="append").total == 1
    more = ledger.assign(run="r2", note="new column")
    data.write_table(store, "ledger", more, mode="append", validate=False)
    got = data.read_table(store, "ledger", start="2024-06-18", end="2024-06-18")
    assert got["run"].tolist() == ["r1", "r2"] and got["note"].isna().tolist() == [True, False]


def test_store_summary_and_errors_for_unknown_names(store):
    data.write_table(store, "daily_metrics", EXPECTED_DAILY)
    data.write_table(
        store, "demo_anomalies", pd.DataFrame({"anomaly_id": [1]}), validate=False, mode="append"
    )
    s = data.store_summary(store)
    assert s.to_dict("records") == [
        {
            "table": "daily_metrics",
            "rows": 5,
            "first_date": pd.Timestamp("2024-06-18"),
            "last_date": pd.Timestamp("2024-06-22"),
        },
        {"table": "demo_anomalies", "rows": 1, "first_date": pd.NaT, "last_date": pd.NaT},
    ]
    with pytest.raises(ValueError, match="no table 'plan' in the store; tables: daily_metrics"):
        data.read_table(store, "plan")
    with pytest.raises(ValueError, match=r"has no column\(s\) \['uv'\]"):
        data.read_table(store, "daily_metrics", columns=["uv"])
    with pytest.raises(ValueError, match="mode must be 'upsert', 'append' or 'replace'"):
        data.write_table(store, "daily_metrics", EXPECTED_DAILY, mode="merge")
    with pytest.raises(ValueError, match="mode='upsert' needs the key columns of 'ledger'"):
        data.write_table(store, "ledger", pd.DataFrame({"run": ["r1"]}), validate=False)


def test_read_only_store_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="no store at"):
        data.open_store(tmp_path / "none.duckdb", read_only=True)


def test_several_processes_read_the_store_at_once(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "s.duckdb"
    con = data.open_store(path)
    data.write_table(con, "daily_metrics", EXPECTED_DAILY)
    con.close()
    code = (
        "import sys, time; from opsnb import data; "
        "con = data.open_store(sys.argv[1], read_only=True); time.sleep(1); "
        "print(len(data.read_table(con, 'daily_metrics')))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [o[0].strip() for o in outs] == ["5", "5"], outs


# ------------------------------------------------------------------------------------------
# rates
# ------------------------------------------------------------------------------------------


def test_rates_of_aggregates_are_ratios_of_sums_not_means_of_rates():
    weekly = EXPECTED_DAILY[["visitors", "buyers", "orders", "gmv", "refund_orders"]].sum()
    rates = data.add_rates(weekly.to_frame().T)
    assert rates["conversion_rate"].iloc[0] == pytest.approx(170 / 16334)
    assert rates["conversion_rate"].iloc[0] != pytest.approx(
        data.add_rates(EXPECTED_DAILY)["conversion_rate"].mean()
    )


def test_add_rates_handles_missing_counts_and_skips_absent_columns():
    df = pd.DataFrame(
        {
            "visitors": pd.array([10, pd.NA], dtype="Int64"),
            "buyers": pd.array([1, 1], dtype="Int64"),
        }
    )
    out = data.add_rates(df)
    assert out["conversion_rate"].tolist()[0] == 0.1 and np.isnan(out["conversion_rate"].iloc[1])
    assert "aov" not in out.columns and "conversion_rate" not in df.columns


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------


def _cli(*args):
    from typer.testing import CliRunner

    from opsnb.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_validate_ok_and_problems():
    ok = _cli("validate", "daily_metrics", GOOD / "daily_metrics_zh.csv")
    assert ok.exit_code == 0 and ok.stdout.strip() == "OK: 5 rows"
    bad = _cli("validate", "daily_metrics", BAD / "daily_duplicates.csv")
    assert bad.exit_code == 2
    lines = BAD_MESSAGES["daily_duplicates.csv"][1]
    assert all(f"  - {line}" in bad.stderr for line in lines)
    unknown = _cli("validate", "nosuch", BAD / "daily_duplicates.csv")
    assert unknown.exit_code == 1 and "known tables: daily_metrics" in unknown.stderr


def test_cli_validate_prints_dropped_column_warning(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        _zh_text().replace("推广花费", "推广花费,备注").replace("\n2", ",x\n2"), encoding="utf-8"
    )
    res = _cli("validate", "daily_metrics", path)
    assert res.exit_code == 0, res.output
    assert "warning: d.csv: columns not in table 'daily_metrics' were dropped: 备注" in res.stderr


def test_cli_load_upserts_by_key_and_replace_needs_yes(tmp_path):
    db = tmp_path / "db" / "s.duckdb"
    first = _cli("load", "daily_metrics", GOOD / "daily_metrics_zh.csv", "--db", db)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == (
        "loaded 5 rows into daily_metrics: 5 inserted, 0 updated, 0 unchanged (5 rows in the store)"
    )
    again = _cli("load", "daily_metrics", GOOD / "daily_metrics_en.txt", "--db", db)
    assert again.exit_code == 0, again.output  # same keys: updated or unchanged, never doubled
    assert again.stdout.strip().endswith("(5 rows in the store)")
    refused = _cli("load", "daily_metrics", GOOD / "daily_metrics_en.txt", "--db", db, "--replace")
    assert refused.exit_code == 1 and "add --yes to confirm" in refused.stderr
    replaced = _cli(
        "load", "daily_metrics", GOOD / "daily_metrics_en.txt", "--db", db, "--replace", "--yes"
    )
    assert replaced.exit_code == 0
    assert "(5 rows in the store)" in replaced.stdout and "removed 5 rows" in replaced.stdout
    bad = _cli("load", "daily_metrics", BAD / "daily_negative_counts.csv", "--db", db)
    assert bad.exit_code == 2 and "row 2, column 'visitors': got '-1000'" in bad.stderr
    con = data.open_store(db, read_only=True)
    assert data.store_summary(con)["rows"].tolist() == [5]
    con.close()


def test_excel_protected_ids_and_missing_keys_are_reported_once(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text(
        '订单号,买家ID,支付时间,实付金额\n="4012345678901234",c1,2024-06-18,10\n'
        ",c2,2024-06-18,10\n-,c3,2024-06-18,10\n",
        encoding="utf-8",
    )
    with pytest.raises(DataContractError) as err:
        data.read_file(path, "orders")
    assert [(p.row, p.column, p.expected) for p in err.value.problems] == [
        (3, "order_id", "a value (this column may not be empty)"),
        (4, "order_id", "a value (this column may not be empty)"),
    ]
    path.write_text(
        '订单号,买家ID,支付时间,实付金额\n="4012345678901234",c1,2024-06-18,10\n', encoding="utf-8"
    )
    assert data.read_file(path, "orders")["order_id"].tolist() == ["4012345678901234"]


def test_writer_lock_gives_a_clear_error(tmp_path):
    import subprocess
    import sys

    from opsnb.errors import OpsnbError

    path = tmp_path / "s.duckdb"
    data.open_store(path).close()
    code = (
        "import sys, time; from opsnb import data; con = data.open_store(sys.argv[1]); "
        "print('open', flush=True); time.sleep(30)"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "open"
        with pytest.raises(OpsnbError, match="stayed locked for 0.5 s by another process"):
            data.open_store(path, read_only=True, wait=0.5)
    finally:
        writer.kill()
        writer.wait()


def test_reader_waits_for_a_short_writer_to_finish(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "s.duckdb"
    data.open_store(path).close()
    code = (
        "import sys, time; from opsnb import data; con = data.open_store(sys.argv[1]); "
        "print('open', flush=True); time.sleep(1.0); con.close()"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "open"
        con = data.open_store(path, read_only=True, wait=30)  # a ledger append, say, then done
        con.close()
    finally:
        writer.kill()
        writer.wait()


# ------------------------------------------------------------------------------------------
# every good fixture loads, and keeps its rows
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(GOOD.iterdir()), ids=lambda p: p.name)
def test_good_fixtures_load_every_row(path):
    table = path.stem.rsplit("_", 1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        df = data.read_file(path, table)
    n_lines = sum(1 for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip())
    assert len(df) == n_lines - 1


def test_chinese_plan_and_targets_values():
    plan = data.read_file(GOOD / "plan_zh.csv", "plan")
    assert plan["budget"].tolist()[:3] == [20000.0, 5000.0, 15000.0]
    assert np.isnan(plan["budget"].iloc[3]) and plan["status"].iloc[2] == "进行中"
    targets = data.read_file(GOOD / "targets_zh.csv", "targets")
    assert targets["target"].tolist() == pytest.approx([1.5e7, 0.032, 0.08, 1.2e6])
    ms = data.read_file(GOOD / "milestones_zh.csv", "milestones")
    assert ms["done"].tolist() == [True, False, True] and ms["response"].isna().tolist()[2]
    orders = data.read_file(GOOD / "orders_zh.csv", "orders")
    assert orders["order_id"].tolist()[0] == "202406180001"
    assert orders["order_time"].tolist()[2] == pd.Timestamp("2024-06-18 21:30")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(deadline=None)  # the first example pays lazy imports; on a busy CI machine > 200 ms
@given(st.integers(min_value=0, max_value=10**12))
def test_thousands_separators_and_yuan_sign_read_back_exactly(n):
    frame = _targets([f"{n:,}", f"¥{n:,}.50", f"{n / 10000}万"])
    got = data.validate(frame, "targets")["target"].tolist()
    assert got[0] == n and got[1] == n + 0.5 and got[2] == pytest.approx(n, rel=1e-12)


# ------------------------------------------------------------------------------------------
# read_columns: the one reader behind the commands that take any CSV
# ------------------------------------------------------------------------------------------


def test_read_columns_types_named_columns_and_reports_every_bad_cell(tmp_path):
    f = tmp_path / "x.csv"
    f.write_bytes(
        '日期,客户,金额,是否新客\n20240618,c1,"¥1,234.50",是\n2024/6/19,c2,abc,否\n'
        "2024-06-20,,3.5,1\n".encode("gb18030")
    )
    spec = {
        "day": ("日期", "date"),
        "cust": ("客户", "str"),
        "amt": ("金额", "float"),
        "new": ("是否新客", "bool"),
    }
    with pytest.raises(DataContractError) as e:
        data.read_columns(f, spec)
    got = {(p.row, p.column) for p in e.value.problems}
    assert got == {(3, "金额"), (4, "客户")}
    f.write_text('日期,客户,金额\n20240618,c1,"¥1,234.50"\n45462,c2,1.2万\n', encoding="utf-8")
    df = data.read_columns(
        f,
        {
            "day": ("日期", "date"),
            "cust": ("客户", "str"),
            "amt": ("金额", "float"),
            "flag": ("标记", "bool"),
        },
        optional=("flag",),
    )
    assert df["amt"].tolist() == [1234.5, 12000.0] and df["_row"].tolist() == [2, 3]
    assert df["day"].dt.strftime("%Y-%m-%d").tolist() == ["2024-06-18", "2024-06-19"]
    with pytest.raises(DataContractError, match="missing column"):
        data.read_columns(f, {"day": ("date", "date")})


def _formula_daily(path, cached: str | None = None) -> None:
    """A daily sheet whose 成交金额 of the second day is the formula =F3*2, saved by openpyxl,
    which does not calculate: no saved value (``<v/>``), unless ``cached`` is patched in."""
    import zipfile

    rows = [
        ["日期", "渠道", "访客数", "买家数", "订单数", "成交金额", "退款订单数", "退款金额"],
        ["2024-06-18", "自然搜索", 1234, 50, 55, 12345.5, 2, 100],
        ["2024-06-19", "抖音", 12000, 20, 22, "=F2*2", 0, 0],
        ["2024-06-20", "直播", 800, 40, 41, "=F2+F3", 1, 10.5],
    ]
    _write_xlsx(path, rows)
    if cached is None:
        return
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = "xl/worksheets/sheet2.xml"
    parts[sheet] = parts[sheet].replace(b"<v />", f"<v>{cached}</v>".encode())
    with zipfile.ZipFile(path, "w") as z:
        for n, b in parts.items():
            z.writestr(n, b)


def test_xlsx_formula_without_saved_value_is_an_error_naming_sheet_and_cells(tmp_path):
    path = tmp_path / "daily.xlsx"
    _formula_daily(path)
    expected = (
        "daily.xlsx, sheet '数据': 2 formula cell(s) without a saved value: F3 (=F2*2), "
        "F4 (=F2+F3); they would read as empty. The file was written by a program that does "
        "not calculate formulas: open it in Excel or WPS, let it calculate and save it again "
        "(or export CSV)"
    )
    with pytest.raises(ValueError) as err:
        data.read_file(path, "daily_metrics", sheet="数据")
    assert str(err.value) == expected
    res = _cli("validate", "daily_metrics", path, "--sheet", "数据")
    assert res.exit_code == 1 and " ".join(res.stderr.split()) == f"error: {expected}"
    # the same formulas with the values Excel saves: read as those values
    _formula_daily(path, cached="24691")
    df = data.read_file(path, "daily_metrics", sheet="数据")
    assert df["gmv"].tolist() == [12345.5, 24691.0, 24691.0]
