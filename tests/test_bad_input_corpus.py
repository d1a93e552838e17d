"""The adversarial-input corpus: every table, every column, every way a cell can be wrong.

Built from the table contracts and real rows of the demo store, so a new column or table is
covered the day it is declared. Each bad cell must be refused with the file, its row and its
column; each invisible character must be removed *and reported*; valid rows must read back
unchanged, whatever the encoding. Nothing may pass silently changed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from opsnb.data.loaders import read_file
from opsnb.data.schemas import get_table
from opsnb.errors import DataContractError, DataQualityWarning, OpsnbError

TABLES = (
    "daily_metrics",
    "orders",
    "order_items",
    "experiments",
    "plan",
    "milestones",
    "targets",
    "market",
    "product_daily",
    "skus",
    "inventory",
    "purchase_orders",
)
INVISIBLE = ("a\x00b", "抖\u200b音", "\u3000x", "y\u00a0")


def bad_values(table: str) -> list[tuple[str, str]]:
    """(column, raw cell) pairs that the contract of ``table`` must refuse."""
    out: list[tuple[str, str]] = []
    for c in get_table(table).columns:
        vals: list[str] = []
        non_negative = c.min is not None and c.min >= 0
        if c.dtype == "int":
            vals = ["abc", "1.5", "1e400", "inf", "nan", "99999999999999999999"]
            vals += ["-1"] if non_negative else []
        elif c.dtype == "float":
            vals = ["abc", "inf", "-inf", "1e400", "nan"] + (["-1"] if non_negative else [])
        elif c.dtype in ("date", "datetime"):
            vals = ["2024-13-45", "not a date"]
        elif c.dtype == "bool":
            vals = ["maybe"]
        elif c.dtype == "str" and c.allowed:
            vals = ["不存在的值"]
        if c.required and not c.nullable:
            vals.append("")
        out += [(c.name, v) for v in vals]
    return out


def invisible_values(table: str) -> list[tuple[str, str]]:
    """(key column, cell with invisible characters) pairs: removed, and said so."""
    t = get_table(table)
    keys = [c.name for c in t.columns if c.dtype == "str" and c.name in t.unique]
    return [(k, v) for k in keys for v in INVISIBLE]


def valid_rows(db: Path, table: str) -> pd.DataFrame:
    """Real rows of ``table`` from the demo store, as the text a platform export would hold."""
    t = get_table(table)
    with duckdb.connect(str(db), read_only=True) as con:
        df = con.execute(f'SELECT * FROM "{table}" LIMIT 40').df()
    cols = [c for c in t.column_names if c in df.columns]
    cols += [c for c in df.columns if c not in cols] if t.extra_columns else []
    out = df[cols].copy()
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            timed = (s.dt.normalize() != s).any()
            out[c] = s.dt.strftime("%Y-%m-%d %H:%M:%S" if timed else "%Y-%m-%d")
        elif pd.api.types.is_bool_dtype(s):
            out[c] = s.map({True: "true", False: "false"})
    return out.astype(object).where(out.notna(), "")


def write_batches(base, cases, folder: Path, stem: str):
    """Spread ``cases`` over copies of ``base``, one mutated cell per row; yields (path, {row: case})."""
    n = len(base)
    for b in range(0, len(cases), n):
        df, where = base.copy(), {}
        for i, (col, value) in enumerate(cases[b : b + n]):
            df.iloc[i, df.columns.get_loc(col)] = value
            where[i + 2] = (col, value)  # line 1 is the header
        path = folder / f"{stem}_{b // n}.csv"
        df.to_csv(path, index=False)
        yield path, where


def read_quietly(path: Path, table: str):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = read_file(path, table)
    return df, [str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)]


@pytest.mark.parametrize("table", TABLES)
def test_every_bad_cell_is_refused_naming_file_row_and_column(demo_db, tmp_path, table):
    cases = bad_values(table)
    assert cases, f"no adversarial values derived for {table}"
    base = valid_rows(demo_db, table)
    missed = []
    for path, where in write_batches(base, cases, tmp_path, table):
        with pytest.raises(DataContractError) as err:
            read_quietly(path, table)
        found = {(p.row, p.column) for p in err.value.problems if p.file == path.name}
        missed += [(row, cv) for row, cv in where.items() if (row, cv[0]) not in found]
    assert missed == [], f"{table}: bad cells not refused at their row and column: {missed}"


@pytest.mark.parametrize("table", [t for t in TABLES if invisible_values(t)])
def test_invisible_characters_in_keys_are_removed_and_reported(demo_db, tmp_path, table):
    cases = invisible_values(table)
    base = valid_rows(demo_db, table)
    for path, where in write_batches(base, cases, tmp_path, table):
        df, said = read_quietly(path, table)
        for col in {c for c, _ in where.values()}:
            rows = [r for r, (c, _) in where.items() if c == col]
            assert any(
                path.name in m and f"{len(rows)} cell(s) of column {col!r}" in m for m in said
            ), f"{table}.{col}: invisible characters removed without saying so: {said}"
        for row, (col, value) in where.items():
            clean = value.replace("\x00", "").replace("\u200b", "")
            assert df[col].iat[row - 2] == clean.replace("\u3000", "").replace("\u00a0", "")


@pytest.mark.parametrize("table", TABLES)
def test_valid_rows_read_back_unchanged_in_utf8_gbk_and_utf16(demo_db, tmp_path, table):
    base = valid_rows(demo_db, table)
    paths = {}
    for enc in ("utf-8", "gbk", "utf-16"):
        paths[enc] = tmp_path / f"{table}_{enc}.csv"
        base.to_csv(paths[enc], index=False, encoding=enc, errors="strict")
    frames = {enc: read_quietly(p, table) for enc, p in paths.items()}
    ref, said = frames["utf-8"]
    assert said == []
    for enc, (df, _) in frames.items():
        pd.testing.assert_frame_equal(df, ref, obj=f"{table} read as {enc}")
    with duckdb.connect(str(demo_db), read_only=True) as con:
        stored = con.execute(f'SELECT * FROM "{table}" LIMIT 40').df()
    for col in ref.columns.intersection(stored.columns):
        got, want = (frame[col].map(_cell).tolist() for frame in (ref, stored))
        assert got == want, f"{table}.{col} changed on the way in"


def _cell(v):
    return None if v is None or v is pd.NA or v is pd.NaT or v != v else str(v)


@pytest.mark.parametrize("table", TABLES)
def test_a_missing_required_column_is_named(demo_db, tmp_path, table):
    required = [c.name for c in get_table(table).columns if c.required]
    path = tmp_path / f"{table}_missing.csv"
    valid_rows(demo_db, table).drop(columns=required[-1]).to_csv(path, index=False)
    with pytest.raises(DataContractError) as err:
        read_quietly(path, table)
    assert path.name in str(err.value) and required[-1] in str(err.value)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20])
def test_empty_or_binary_file_is_refused_naming_the_file(tmp_path, content):
    path = tmp_path / "daily.csv"
    path.write_bytes(content)
    with pytest.raises((OpsnbError, ValueError)) as err:
        read_quietly(path, "daily_metrics")
    assert "daily.csv" in str(err.value)


def test_corrupt_workbook_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "plan.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip archive")
    with pytest.raises((OpsnbError, ValueError)) as err:
        read_quietly(path, "plan")
    assert "plan.xlsx" in str(err.value)
