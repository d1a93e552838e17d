"""Files checked in chunks (issue 19): the same problems, rows and columns as a whole-file read,
keys checked across chunks, and one verdict for `opsnb validate` and `opsnb load`.

Chunks are made tiny (a few records, a few dozen bytes) so that every fixture spans many of
them and the tests stay fast; the whole-file reader (`data.read_file`) is the reference.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from opsnb import data
from opsnb.data import staging
from opsnb.errors import DataContractError, DataQualityWarning

FIX = Path(__file__).resolve().parent / "fixtures"
GOOD, BAD = FIX / "good", FIX / "bad"
TINY = dict(chunk_rows=2, chunk_bytes=40, stream_min_bytes=0)
HEADER = "日期,渠道,访客数,买家数,订单数,成交金额,退款订单数,退款金额\n"

from reference.data_messages import EXPECTED as BAD_MESSAGES  # noqa: E402


def _daily(n: int) -> list[str]:
    """``n`` valid daily rows: one channel, consecutive days from 2024-01-01."""
    days = pd.date_range("2024-01-01", periods=n).strftime("%Y-%m-%d")
    return [f'{d},自然搜索,{100 + i},5,6,"¥1,{i % 1000:03d}.50",1,10\n' for i, d in enumerate(days)]


def _problems(fn) -> list[str] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        try:
            fn()
        except DataContractError as exc:
            return [str(p) for p in exc.problems]
    return None


def _stage(path, table="daily_metrics", **kw):
    con = duckdb.connect()
    try:
        staged = staging.stage_file(con, path, table, **{**TINY, **kw})
        frame = con.execute(f"SELECT * FROM {staged.relation} ORDER BY __row").df()
        return staged, frame
    finally:
        con.close()


@pytest.mark.parametrize("name", sorted(BAD_MESSAGES))
def test_every_bad_fixture_read_in_chunks_gives_the_whole_file_problems(name):
    table, expected = BAD_MESSAGES[name]
    assert _problems(lambda: _stage(BAD / name, table)) == expected


@pytest.mark.parametrize("path", sorted(GOOD.iterdir()), ids=lambda p: p.name)
def test_every_good_fixture_read_in_chunks_stages_the_whole_file_frame(path):
    table = path.stem.rsplit("_", 1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        staged, frame = _stage(path, table)
        want = data.read_file(path, table)
    got = data.canonical_dtypes(frame.drop(columns="__row"), table)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert staged.rows == len(want)
    if path.suffix == ".csv" and table != "experiments":  # plain CSV: streamed
        assert staged.chunks == len(want)  # every line is longer than the 40-byte blocks


def test_a_bad_value_in_a_late_chunk_is_named_by_file_row_and_column(tmp_path):
    rows = _daily(60)
    rows[57] = rows[57].replace(",5,6,", ",5,6.5,")  # file row 59
    path = tmp_path / "late.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    expected = [
        "late.csv, row 59, column 'orders': got '6.5'; expected a whole number (an integer count)"
    ]
    assert _problems(lambda: _stage(path, chunk_rows=4, chunk_bytes=100)) == expected
    assert _problems(lambda: data.read_file(path, "daily_metrics")) == expected


def test_a_key_repeated_in_a_later_chunk_names_the_first_row(tmp_path):
    rows = _daily(40)
    rows[35] = rows[1]  # row 37 repeats row 3 (2024-01-02, 自然搜索), chunks apart
    path = tmp_path / "dup.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    expected = [
        "dup.csv, row 37, column 'date, channel': got '2024-01-02, 自然搜索'; "
        "expected a unique (date, channel); duplicates row 3"
    ]
    assert _problems(lambda: _stage(path, chunk_rows=3, chunk_bytes=64)) == expected
    assert _problems(lambda: data.read_file(path, "daily_metrics")) == expected


def test_blank_lines_and_a_long_line_keep_file_rows_across_chunks(tmp_path):
    rows = _daily(30)
    rows[5:5] = ["\n", "   \n"]  # file rows 7 and 8 are blank: later rows keep their numbers
    rows[26] = rows[26].replace(",10\n", ",x\n").replace("自然搜索", "抖音")  # row 28
    path = tmp_path / "blank.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    got = _problems(lambda: _stage(path, chunk_rows=3, chunk_bytes=50))
    assert got == _problems(lambda: data.read_file(path, "daily_metrics"))
    assert got == [
        "blank.csv, row 28, column 'refund_amount': got 'x'; expected a number "
        "(write 1234.5, 1,234.5, ¥1,234.50 or 1.2万)"
    ]
    rows[20] = rows[20].replace(",10\n", ",10,99\n")  # row 22: one field too many
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    got = _problems(lambda: _stage(path, chunk_rows=3, chunk_bytes=50))
    assert got == _problems(lambda: data.read_file(path, "daily_metrics"))
    assert got == [
        "blank.csv, row 22: got '9 fields'; expected 8 fields like the header "
        "(quote cells that contain the separator)"
    ]


def test_a_short_record_or_gbk_text_falls_back_to_the_whole_file_reader(tmp_path):
    rows = _daily(12)
    rows[9] = "2024-01-10,自然搜索,1\n"  # cells missing: the whole-file reader reads them empty
    path = tmp_path / "short.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    got = _problems(lambda: _stage(path))
    assert got == _problems(lambda: data.read_file(path, "daily_metrics"))
    assert got[0].startswith("short.csv, row 11, column 'buyers': got ''; expected a value")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes((HEADER + "".join(_daily(12))).encode("gb18030"))
    staged, frame = _stage(gbk)
    assert (staged.rows, staged.chunks) == (12, 1)  # read whole
    assert frame["__row"].tolist() == list(range(2, 14))


def test_parquet_is_read_by_batches_with_the_key_checked_across_them(tmp_path):
    frame = data.read_file(GOOD / "daily_metrics_zh.csv", "daily_metrics")
    path = tmp_path / "d.parquet"
    pd.concat([frame, frame.iloc[[1]]]).to_parquet(path)
    expected = _problems(lambda: data.read_file(path, "daily_metrics"))
    assert expected == [
        "d.parquet, row 6, column 'date, channel': got '2024-06-19, 抖音'; "
        "expected a unique (date, channel); duplicates row 2"
    ]
    assert _problems(lambda: _stage(path)) == expected
    frame.to_parquet(path)
    staged, _ = _stage(path)
    assert (staged.rows, staged.chunks) == (5, 3)


# ------------------------------------------------------------------------------------------
# the commands: one verdict, loads all or nothing
# ------------------------------------------------------------------------------------------


@pytest.fixture()
def tiny_chunks(monkeypatch):
    monkeypatch.setattr(staging, "CHUNK_ROWS", 3)
    monkeypatch.setattr(staging, "CHUNK_BYTES", 64)
    monkeypatch.setattr(staging, "STREAM_MIN_BYTES", 0)


def _cli(*args):
    from typer.testing import CliRunner

    from opsnb.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_validate_and_load_give_one_verdict_and_a_failed_load_writes_nothing(tmp_path, tiny_chunks):
    db = tmp_path / "s.duckdb"
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "".join(_daily(20)), encoding="utf-8")
    assert _cli("validate", "daily_metrics", good).stdout == "OK: 20 rows\n"
    first = _cli("load", "daily_metrics", good, "--db", db)
    assert first.stdout == (
        "loaded 20 rows into daily_metrics: 20 inserted, 0 updated, 0 unchanged "
        "(20 rows in the store)\n"
    )
    again = _cli("load", "daily_metrics", good, "--db", db)
    assert again.stdout == (
        "loaded 20 rows into daily_metrics: 0 inserted, 0 updated, 20 unchanged "
        "(20 rows in the store)\n"
    )
    rows = _daily(30)
    rows[3] = rows[3].replace(",105,", ",105000,")  # an update in the first chunk ...
    rows[25] = rows[2]  # ... and a key repeated in a late one: the whole load is refused
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "".join(rows), encoding="utf-8")
    checked = _cli("validate", "daily_metrics", bad)
    loaded = _cli("load", "daily_metrics", bad, "--db", db)
    assert checked.exit_code == loaded.exit_code == 2
    assert checked.stderr == loaded.stderr
    assert "bad.csv, row 27, column 'date, channel': got '2024-01-03, 自然搜索'; " in loaded.stderr
    con = data.open_store(db, read_only=True)
    try:
        stored = data.read_table(con, "daily_metrics")
    finally:
        con.close()
    assert (len(stored), int(stored["visitors"].iloc[3])) == (20, 103)  # as before the load


def test_a_block_parsed_on_two_threads_still_numbers_blank_and_long_lines(tmp_path, monkeypatch):
    rows = _daily(21_000)  # ~1.5 MB: one block, parsed in two halves

    def whole(*args):
        raise AssertionError("read whole instead of in blocks")

    monkeypatch.setattr(staging, "_whole", whole)  # only the block reader may run here
    rows[15_000] = "  \n"  # file row 15 002: blank
    rows[18_000] = rows[18_000].replace(",5,6,", ",x,6,")  # row 18 002
    path = tmp_path / "big.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    assert path.stat().st_size > 1 << 20
    got = _problems(lambda: _stage(path, chunk_rows=staging.CHUNK_ROWS, chunk_bytes=4 << 20))
    assert got[0] == (
        "big.csv, row 18002, column 'buyers': got 'x'; expected an integer count "
        "(write 1234.5, 1,234.5, ¥1,234.50 or 1.2万)"
    )
    monkeypatch.undo()
    assert got == _problems(lambda: data.read_file(path, "daily_metrics"))
    # a long line holding quotes may be a cell with a line break: the whole-file reader decides
    rows[19_000] = rows[19_000].replace(",10\n", ",10,1\n")  # row 19 002: one field too many
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    got = _problems(lambda: _stage(path, chunk_rows=staging.CHUNK_ROWS, chunk_bytes=4 << 20))
    assert got == [
        "big.csv, row 19002: got '9 fields'; expected 8 fields like the header "
        "(quote cells that contain the separator)"
    ]
