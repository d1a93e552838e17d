"""The Arrow-compute check of plain chunks (issue 16): a file staged through it gives exactly
the staged table of the full parsers, and any cell it does not know as plain sends its chunk
to the full parsers, so problems keep their file row, column, value and message.

Files are a few hundred rows, in chunks of 100 records (above ``MIN_PLAIN_ROWS``).
"""

from __future__ import annotations

import warnings

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from opsnb import data
from opsnb.data import fastcheck, staging
from opsnb.data.schemas import Column, Table
from opsnb.errors import DataContractError, DataQualityWarning

HEADER = "日期,渠道,访客数,买家数,订单数,成交金额,退款订单数,退款金额,推广花费\n"
CHUNKS = dict(chunk_rows=100, chunk_bytes=1 << 20, stream_min_bytes=0)


def _rows(n: int) -> list[str]:
    """``n`` plain daily rows: three channels, consecutive days, ad spend empty every 7th."""
    days = pd.date_range("2024-01-01", periods=n).strftime("%Y-%m-%d")
    return [
        f"{d},{('自然搜索', '抖音', 'Paid Search')[i % 3]},{100 + i},5,6,{1000 + i / 4},1,"
        f"{i % 10},{'' if i % 7 == 0 else i * 0.5}\n"
        for i, d in enumerate(days)
    ]


def _staged(path, *, plain: bool, monkeypatch, spill=None):
    """(staged frame ordered by file row, its DuckDB column types, problems, which chunks were
    plain) of ``path``, through the Arrow check of plain chunks or (``plain=False``) the full
    parsers only; staged in a temporary table, or as Parquet in folder ``spill``."""
    calls = []

    def spy(*args):
        got = fastcheck.check_plain(*args)
        calls.append(got is not None)
        return got if plain else None

    monkeypatch.setattr(staging, "check_plain", spy)
    con = duckdb.connect()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            try:
                staged = staging.stage_file(con, path, "daily_metrics", spill=spill, **CHUNKS)
            except DataContractError as exc:
                return None, None, [str(p) for p in exc.problems], calls
        frame = con.execute(f"SELECT * FROM {staged.relation} ORDER BY __row").df()
        types = con.execute(f"DESCRIBE {staged.relation}").fetchall()
        return frame, types, None, calls
    finally:
        con.close()
        monkeypatch.undo()


def test_a_plain_file_stages_the_same_table_as_the_full_parsers(tmp_path, monkeypatch):
    path = tmp_path / "plain.csv"
    path.write_text(HEADER + "".join(_rows(450)), encoding="utf-8")
    fast, fast_types, _, calls = _staged(path, plain=True, monkeypatch=monkeypatch)
    assert calls == [True] * 4 + [False]  # the last chunk, 50 rows, below MIN_PLAIN_ROWS
    full, full_types, _, _ = _staged(path, plain=False, monkeypatch=monkeypatch)
    assert fast_types == full_types
    pd.testing.assert_frame_equal(fast, full)
    spill = tmp_path / "spill"
    spill.mkdir()
    parq, parq_types, _, _ = _staged(path, plain=True, monkeypatch=monkeypatch, spill=spill)
    assert parq_types == full_types  # the Parquet stage reads back the same table
    pd.testing.assert_frame_equal(parq, full)
    assert fast["ad_spend"].isna().sum() == 65  # empty cells staged as nulls, like the parsers
    want = data.read_file(path, "daily_metrics")
    got = data.canonical_dtypes(fast.drop(columns="__row"), "daily_metrics")
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


# a cell of row 150 (file row 152, the second chunk) that is not plain, or plain but wrong
CELLS = {
    "money": (5, '"¥1,234.50"'),
    "slashed date": (0, "2024/05/30"),
    "not a calendar date": (0, "2024-02-30"),
    "year 1800": (0, "1800-01-01"),
    "padded channel": (1, " 抖音"),
    "zero-width channel": (1, "抖\u200b音"),
    "dash channel": (1, "-"),
    "empty visitors": (2, ""),
    "nan visitors": (2, "nan"),
    "fraction of a count": (3, "5.5"),
    "negative amount": (7, "-3"),
    "buyers above visitors": (3, "999999"),
    "infinite amount": (5, "1e400"),
    "ten thousands": (5, "1.2万"),
    "dash ad spend": (8, "-"),
    "percent": (2, "3%"),
}


@pytest.mark.parametrize("case", sorted(CELLS))
def test_a_cell_that_is_not_plain_sends_its_chunk_to_the_full_parsers(case, tmp_path, monkeypatch):
    col, cell = CELLS[case]
    rows = _rows(300)
    cells = rows[150].rstrip("\n").split(",")
    cells[col] = cell
    rows[150] = ",".join(cells) + "\n"
    path = tmp_path / "cell.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    spill = tmp_path / "spill"  # chunks through both paths in one Parquet file
    spill.mkdir()
    fast, fast_types, fast_problems, calls = _staged(
        path, plain=True, monkeypatch=monkeypatch, spill=spill
    )
    assert calls == [True, False, True]
    full, full_types, full_problems, _ = _staged(path, plain=False, monkeypatch=monkeypatch)
    assert fast_problems == full_problems
    if fast is None:
        assert full_problems[0].startswith("cell.csv, row 152, column ")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            with pytest.raises(DataContractError) as exc:
                data.read_file(path, "daily_metrics")
        assert [str(p) for p in exc.value.problems] == fast_problems
    else:
        assert fast_types == full_types
        pd.testing.assert_frame_equal(fast, full)


def test_check_plain_types_a_chunk_or_declines_it():
    t = data.get_table("daily_metrics")
    mapping = {"日期": "date", "渠道": "channel", "访客数": "visitors", "买家数": "buyers"}
    mapping |= {"订单数": "orders", "成交金额": "gmv", "退款订单数": "refund_orders"}
    mapping |= {"退款金额": "refund_amount"}
    n = 64
    raw = pa.table(
        {
            "日期": ["2024-06-18"] * (n - 1) + ["2024-06-19"],
            "渠道": ["抖音"] * n,
            "访客数": ["100"] * n,
            "买家数": ["5"] * n,
            "订单数": ["6"] * n,
            "成交金额": ["10.25"] * n,
            "退款订单数": ["0"] * n,
            "退款金额": [None] * (n - 1) + ["1"],
        }
    )
    got = fastcheck.check_plain(raw, t, mapping)
    assert got is None  # refund_amount may not be empty
    raw = raw.set_column(7, "退款金额", pa.array(["1"] * n))
    got = fastcheck.check_plain(raw, t, mapping)
    day = pd.Timestamp("2024-06-18")
    want = pa.table(
        {
            "date": pa.array([day] * (n - 1) + [day + pd.Timedelta(days=1)], pa.timestamp("us")),
            "channel": pa.array(["抖音"] * n, pa.large_string()),
            "visitors": pa.array([100] * n, pa.int64()),
            "buyers": pa.array([5] * n, pa.int64()),
            "orders": pa.array([6] * n, pa.int64()),
            "gmv": pa.array([10.25] * n, pa.float64()),
            "refund_orders": pa.array([0] * n, pa.int64()),
            "refund_amount": pa.array([1.0] * n, pa.float64()),
            "ad_spend": pa.nulls(n, pa.float64()),
            "new_buyers": pa.nulls(n, pa.int64()),
            "cart_users": pa.nulls(n, pa.int64()),
        }
    )
    assert got.equals(want)
    assert fastcheck.check_plain(raw.slice(0, n - 1), t, mapping) is None  # too few records
    for name in ("day", "month"):  # a month is the 1st of its month: the full parsers say so
        cols = (Column(name, "date", ""), Column("n", "int", ""))
        days = pa.table({"d": ["2024-06-18"] * n, "n": ["1"] * n})
        got = fastcheck.check_plain(days, Table("t", "", "", cols), {"d": name, "n": "n"})
        assert (got is None) == (name == "month")
    no_channel = {h: c for h, c in mapping.items() if c != "channel"}  # a required column
    assert fastcheck.check_plain(raw.drop_columns(["渠道"]), t, no_channel) is None


def test_one_connection_stages_file_after_file_as_table_or_parquet(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text(HEADER + "".join(_rows(120)), encoding="utf-8")
    con = duckdb.connect()
    try:
        counts = []
        for spill in (tmp_path, None, None, tmp_path, tmp_path):
            staged = staging.stage_file(con, path, "daily_metrics", spill=spill, **CHUNKS)
            counts.append(con.execute(f"SELECT count(*) FROM {staged.relation}").fetchall()[0])
    finally:
        con.close()
    assert counts == [(120,)] * 5


# ------------------------------------------------------------------------------------------
# the commands stage as Parquet beside the store, and leave nothing there
# ------------------------------------------------------------------------------------------


def test_load_stages_beside_the_store_and_removes_a_killed_loads_stage(tmp_path):
    from typer.testing import CliRunner

    from opsnb.cli import app

    path = tmp_path / "plain.csv"
    path.write_text(HEADER + "".join(_rows(300)), encoding="utf-8")
    db = tmp_path / "s.duckdb"
    stale = tmp_path / "s.duckdb.stage-killed"  # what a killed load leaves
    stale.mkdir()
    (stale / f"{staging.STAGE}.parquet").write_bytes(b"PAR1")
    got = CliRunner().invoke(app, ["load", "daily_metrics", str(path), "--db", str(db)])
    assert got.stdout == (
        "loaded 300 rows into daily_metrics: 300 inserted, 0 updated, 0 unchanged "
        "(300 rows in the store)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.csv", "s.duckdb"]
