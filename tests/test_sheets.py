"""The one workbook style (opsnb.sheets.write_sheet) and the CLI's Excel export (issue 18)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from workbooks import workbook_problems

from opsnb import sheets


def _cells(ws) -> list[tuple]:
    """(value, number format, fill) of every data cell, row by row."""
    return [
        tuple(
            (c.value, c.number_format, c.fill.fgColor.rgb[-6:] if c.fill.fill_type else None)
            for c in row
        )
        for row in ws.iter_rows(min_row=2)
    ]


def test_write_sheet_formats_colours_and_keeps_numbers_numbers(tmp_path):
    from openpyxl import load_workbook

    df = pd.DataFrame(
        {
            "channel": ["抖音", '=HYPERLINK("http://x","y")', "@SUM(1+1)"],
            "gmv": [1234.5, -50.0, np.nan],
            "conversion_rate": [0.0312, 0.0, 0.1],
            "achievement": [1.05, -0.2, 0.5],
            "orders": np.array([3, -2, 0], dtype="int64"),
            "date": pd.to_datetime(["2025-11-11", "2025-11-12", None]),
            "status": ["进行中", "延期", "已完成"],
            "severity": ["high", "medium", "low"],
            "done": [True, False, None],
        }
    )
    path = sheets.write_book(
        tmp_path / "t.xlsx",
        {"表": df},
        headers={"channel": "流量来源", "gmv": "成交金额"},
        row_fills=[None, "FDE2E1", None],
    )
    ws = load_workbook(path)["表"]
    assert [c.value for c in ws[1]] == ["流量来源", "成交金额", *df.columns[2:]]
    red, amber, green = "E4572E", "F3C969", "A8D5BA"
    p = "FDE2E1"
    m, r, s, n, d = sheets.MONEY, sheets.RATE, sheets.SMALL_RATE, sheets.COUNT, sheets.DATE
    assert _cells(ws) == [
        (
            ("抖音", "General", None),
            (1234.5, m, None),
            (0.0312, s, None),
            (1.05, r, None),
            (3, n, None),
            (dt.datetime(2025, 11, 11), d, None),
            ("进行中", "General", "5AA9C9"),
            ("high", "General", red),
            ("是", "General", None),
        ),
        (
            ('=HYPERLINK("http://x","y")', "General", p),
            (-50, m, p),  # a negative number stays a number
            (0, s, p),
            (-0.2, r, p),
            (-2, n, p),
            (dt.datetime(2025, 11, 12), d, p),
            ("延期", "General", red),
            ("medium", "General", amber),
            ("否", "General", p),
        ),
        (
            ("@SUM(1+1)", "General", None),
            (None, m, None),
            (0.1, s, None),
            (0.5, r, None),
            (0, n, None),
            (None, d, None),
            ("已完成", "General", "29A36A"),
            ("low", "General", green),
            (None, "General", None),
        ),
    ]
    quoted = [c.coordinate for row in ws.iter_rows() for c in row if c.quotePrefix]
    assert quoted == ["A3", "A4"] and ws["A3"].data_type == "s"
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:I4"
    assert ws.column_dimensions["A"].width == len('=HYPERLINK("http://x","y")') + 2
    assert ws.column_dimensions["B"].width == 2 * 4 + 2  # 成交金额: CJK counted double
    assert workbook_problems(path) == []


@pytest.mark.parametrize(
    ("name", "dtype", "expected"),
    [
        ("gmv", None, "¥#,##0"),
        ("order_value", "float64", "¥#,##0"),
        ("refund_rate", None, "0.00%"),
        ("fill_rate", None, "0.0%"),
        ("on_time_rate", None, "0.0%"),
        ("yoy", None, "+0.0%;-0.0%;0.0%"),
        ("visitors", "int64", "#,##0"),
        ("demand_per_day", "float64", "#,##0.0"),
        ("start", "datetime64[ns]", "yyyy-mm-dd"),
        ("owner", "object", None),
        ("late", "bool", None),
    ],
)
def test_column_format_follows_the_column_name_then_its_type(name, dtype, expected):
    assert sheets.column_format(name, None if dtype is None else np.dtype(dtype)) == expected


def test_cli_ledger_xlsx_export_is_styled_like_the_reports(tmp_path):
    from openpyxl import load_workbook
    from typer.testing import CliRunner

    from opsnb.cli import app
    from opsnb.run import ledger

    db = tmp_path / "store.duckdb"
    for i, (nb, gmv) in enumerate([("05_retrospective", 1_234_567.0), ("04_ab_test", -3.0)]):
        ledger.append(
            f"run-{i}",
            nb,
            {"period": "2025-Q4"},
            "2025-Q4",
            "double11" if i == 0 else None,
            {"gmv": gmv},
            decision="=HYPERLINK(1)" if i else "加大抖音投放",
            lessons=["预热期过短"],
            db_path=db,
            recorded_at=f"2025-11-2{i} 09:30:00",
        )
    out = tmp_path / "ledger.xlsx"
    res = CliRunner().invoke(app, ["ledger", "--db", str(db), "-o", str(out)])
    assert res.exit_code == 0, res.output
    ws = load_workbook(out)["ledger"]
    heads = [c.value for c in ws[1]]
    assert heads == list(ledger.read(db_path=db).columns)
    col = {h: i for i, h in enumerate(heads)}
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert [r[col["run_id"]] for r in rows] == ["run-0", "run-1"]
    assert [r[col["recorded_at"]] for r in rows] == [
        dt.datetime(2025, 11, 20, 9, 30),
        dt.datetime(2025, 11, 21, 9, 30),
    ]
    assert ws.cell(row=3, column=col["decision"] + 1).quotePrefix  # formula from data: text
    assert workbook_problems(out) == []
