"""Words a manager reads in report tables (issue 18): no Python ``True``/``False``."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest

from opsnb import report
from opsnb.periods import parse_period


def _ctx(lang: str) -> report.Context:
    return report.Context(
        lang=lang,
        period=parse_period("2025-11"),
        db_path=Path("/nonexistent.duckdb"),
        shop="demo",
        as_of=dt.date(2025, 11, 30),
        title="t",
    )


def _cells(html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)
        ]
        for r in rows
    ]


@pytest.mark.parametrize(("lang", "yes", "no"), [("zh", "是", "否"), ("en", "yes", "no")])
def test_table_shows_booleans_as_words_in_the_report_language(monkeypatch, lang, yes, no):
    shown = []
    monkeypatch.setattr(report, "_display", lambda obj, **kw: shown.append(obj))
    df = pd.DataFrame(
        {
            "metric": ["gmv", "orders", "visitors"],
            "flagged": [True, False, True],
            "srm": pd.Series([False, None, True], dtype=object),
            "ok": pd.array([True, pd.NA, False], dtype="boolean"),
            "n": [1, 2, 3],
        }
    )
    _ctx(lang).table(df, highlight={"flagged": {True: "#fdd"}})
    html = shown[0].to_html()
    assert _cells(html)[1:] == [
        ["gmv", yes, no, yes, "1"],
        ["orders", no, "—", "—", "2"],
        ["visitors", yes, yes, no, "3"],
    ]
    assert "True" not in html and "False" not in html
    # the colours stay keyed by the data's booleans
    rule = re.search(r"\}?\s*([^{}]*)\{\s*background-color: #fdd;\s*\}", html).group(1)
    assert sorted(re.findall(r"row\d_col\d", rule)) == ["row0_col1", "row2_col1"]


def test_count_columns_round_a_mean_of_counts_to_the_nearest_whole(monkeypatch):
    # 01's price bands: listings are a monthly mean (459.92 read as 459 before, as 459.92 without
    # int_cols); the header says it is a monthly mean
    shown = []
    monkeypatch.setattr(report, "_display", lambda obj, **kw: shown.append(obj))
    df = pd.DataFrame({"listings": [459.92, 12.5, 3.0, None], "shops": [5, 5, 4, 1]})
    _ctx("zh").table(df, int_cols=["listings", "shops"])
    cells = _cells(shown[0].to_html())
    assert cells[0][-2:] == ["月均在售商品数", "店铺数"]
    assert [r[-2:] for r in cells[1:]] == [["460", "5"], ["12", "5"], ["3", "4"], ["—", "1"]]
