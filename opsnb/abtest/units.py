"""Reading a unit-level experiment file: text-preserving columns, then numbers and booleans.

:func:`coerce_numeric` accepts the spellings of :data:`BOOL_VALUES` and names the file, row and
column of any other text (:class:`~opsnb.errors.DataContractError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.errors import DataContractError, DataProblem

__all__ = ["load_units", "coerce_numeric", "BOOL_VALUES"]


BOOL_VALUES = {
    "true": 1.0,
    "false": 0.0,
    "1": 1.0,
    "0": 0.0,
    "是": 1.0,
    "否": 0.0,
    "yes": 1.0,
    "no": 0.0,
    "1.0": 1.0,
    "0.0": 0.0,
}
"""Text read as 0/1 (case-insensitive): TRUE/FALSE, true/false, 1/0, 是/否, yes/no — by the
pandas path (:func:`coerce_numeric`) and the DuckDB path (:func:`arm_stats_sql`) alike."""


def load_units(path: str | Path, *, sheet=None) -> pd.DataFrame:
    """Read a unit-level experiment file as text-preserving columns; :func:`coerce_numeric`
    converts the metric columns.

    CSV/TXT go through the loaders' reader (UTF-8, UTF-8 with BOM, GBK/GB18030; comma, tab or
    whitespace separated); ``.xlsx`` and ``.parquet`` are read as they are. The index holds each
    row's number in the file (``file_row``), so errors name the right row even after filtering.
    """
    from opsnb.data.rawfiles import read_raw

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"experiment file not found: {p}")
    suf = p.suffix.lower()
    if suf == ".parquet":
        df = pd.read_parquet(p)
        rows = np.arange(1, len(df) + 1)
    elif suf in (".xlsx", ".xls"):
        df = pd.read_excel(p, sheet_name=sheet or 0, dtype=str, engine="calamine")
        rows = np.arange(2, len(df) + 2)
    else:
        raw = read_raw(p, {})
        df, rows = raw.frame, raw.rows
    df = df.reset_index(drop=True)
    df.columns = [str(c).strip() for c in df.columns]
    df.index = pd.Index(np.asarray(rows, dtype=np.int64), name="file_row")
    return df


def coerce_numeric(
    df: pd.DataFrame, columns: Sequence[str], *, source: str = "<frame>", first_row: int = 2
) -> pd.DataFrame:
    """Return ``df`` with ``columns`` as float: numbers, booleans and TRUE/FALSE/1/0/是/否 text.

    Empty cells become NaN (a unit without that metric). Anything else raises
    :class:`DataContractError` naming the file, row (as numbered in the file) and column.
    """
    problems: list[DataProblem] = []
    out = df.copy()
    for col in columns:
        if col not in df.columns:
            problems.append(
                DataProblem(
                    source, None, col, None, f"a column named {col!r} (columns: {list(df.columns)})"
                )
            )
            continue
        s = df[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out[col] = s.astype(float)
            continue
        text = s.astype(str).str.strip()
        mapped = text.str.lower().map(BOOL_VALUES)
        num = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
        val = mapped.where(mapped.notna(), num)
        blank = text.isin(["", "nan", "NaN", "None", "<NA>"]) | s.isna()
        bad = val.isna() & ~blank
        for i in np.flatnonzero(bad.to_numpy())[:50]:
            row = int(df.index[i]) if df.index.name == "file_row" else first_row + int(i)
            problems.append(
                DataProblem(
                    source, row, col, s.iloc[i], "a number or TRUE/FALSE, true/false, 1/0, 是/否"
                )
            )
        out[col] = val.astype(float)
    if problems:
        raise DataContractError(f"{source}: metric columns must be numeric or boolean", problems)
    return out
