"""The check of a plain chunk in Arrow compute: the fast path of :mod:`opsnb.data.staging`.

Most records of a big export are plain: ``2024-06-18``, ``自然搜索``, ``1234``, ``1234.5``.
:func:`check_plain` checks one chunk of raw text cells (an Arrow table, empty cells null)
against a contract with vectorised Arrow and numpy passes and returns its typed columns, the
same values and Arrow types that :func:`opsnb.data.loaders.check_frame` followed by
:func:`~opsnb.data.loaders.canonical_dtypes` gives. It returns None as soon as a cell needs
more than that: a spelling the full parsers read (``¥1,234.50``, ``2024/6/18``, ``1.2万``),
an empty or bad cell where the contract wants a value, a value out of range or not allowed, a
rule that fails, a fully blank record. The caller then checks that chunk with ``check_frame``,
so every problem is still named by file row, column and value, with the same message.

Text and date columns are dictionary-encoded first, so their (few) distinct cells are parsed
once, by the same :func:`opsnb.data.cells.clean_strings` as the full path.

Example
-------
>>> import pyarrow as pa                                                     # doctest: +SKIP
>>> raw = pa.table({"日期": ["2024-06-18"] * 64, "渠道": ["抖音"] * 64, ...})  # doctest: +SKIP
>>> typed = check_plain(raw, get_table("daily_metrics"), {"日期": "date", "渠道": "channel", ...})
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsnb.data.cells import clean_strings
from opsnb.data.loaders import rule_columns, rule_holds
from opsnb.data.schemas import Column, Table

__all__ = ["MIN_PLAIN_ROWS", "arrow_type", "check_plain"]

MIN_PLAIN_ROWS = 64
"""Chunks of fewer records take the full path (whose number parser differs below this size)."""

_DATE = r"^\d{4}-\d{2}-\d{2}$"
_DATE_RANGE = ("1900-01-01", "2200-01-01")  # well inside every parser's range
_MAX_EXACT = 2.0**53


def arrow_type(col: Column):
    """The Arrow type of a typed contract column as staged (pandas' canonical dtype in Arrow)."""
    import pyarrow as pa

    return {
        "date": pa.timestamp("us"),
        "datetime": pa.timestamp("us"),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
    }.get(col.dtype, pa.large_string())


def _one(cells):
    """One Arrow array of a column's cells (a chunked column combined)."""
    return cells.combine_chunks() if hasattr(cells, "combine_chunks") else cells


def _numbers(raw, col: Column):
    """(Arrow values, float64 with NaN for empty cells) of a plain number column, or None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:  # the cast of parse_numbers' own fast path, so the same values
        values = pc.cast(raw, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    v = values.to_numpy(zero_copy_only=False)
    null = np.isnan(v)
    if int(null.sum()) != raw.null_count:
        return None  # a 'nan' cell, which the full path reports
    if null.any() and not col.nullable:
        return None
    ok = v[~null]
    if not np.isfinite(ok).all():
        return None
    if col.dtype == "int" and ((np.abs(ok) > _MAX_EXACT).any() or (ok != np.round(ok)).any()):
        return None
    if (col.min is not None and (ok < col.min).any()) or (
        col.max is not None and (ok > col.max).any()
    ):
        return None
    if col.allowed and not pd.Series(ok).isin(list(col.allowed)).all():
        return None
    if col.dtype == "int":
        values = pc.cast(values, pa.int64())  # whole and below 2**53: exact
    return values, v


def _dates(raw, col: Column):
    """The dates of a column of plain ISO dates (``2024-06-18``) as timestamps, or None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if (raw.null_count and not col.nullable) or col.name == "month":
        return None  # a month column is normalised to the 1st by the full parsers
    enc = pc.dictionary_encode(_one(raw))
    cells = enc.dictionary
    if len(cells) and not pc.all(pc.match_substring_regex(cells, _DATE)).as_py():
        return None
    try:
        days = pc.cast(cells, pa.date32())
    except pa.ArrowInvalid:  # not a calendar date: the full path says so
        return None
    if len(days):
        d = days.to_numpy(zero_copy_only=False)
        lo, hi = (np.datetime64(x, "D") for x in _DATE_RANGE)
        if d.min() < lo or d.max() >= hi:
            return None
    return pc.take(pc.cast(days, pa.timestamp("us")), enc.indices)


def _texts(raw, col: Column):
    """A text column whose distinct cells :func:`~opsnb.data.cells.clean_strings` keeps
    as they are (no invisible characters, no missing tokens, an allowed value), or None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if raw.null_count and not col.nullable:
        return None
    enc = pc.dictionary_encode(_one(raw))
    cells = enc.dictionary
    distinct = pd.Series(cells.to_pylist(), dtype="str")
    text, changed, bad = clean_strings(distinct, ident=col.ident)
    if changed or bad or text.isna().any():
        return None
    if col.allowed and not text.isin(list(col.allowed)).all():
        return None
    if not text.eq(distinct).all():
        return None  # stripped: left to the full path, which says which cells changed
    return pc.cast(raw, pa.large_string())


def check_plain(raw, table: Table, mapping: dict[str, str]):
    """The typed Arrow table of chunk ``raw`` (text cells under the file's headers, empty
    cells null) when every cell is plain and the chunk passes the contract of ``table``, else
    None. ``mapping``: file header → canonical name (:func:`~opsnb.data.loaders.map_headers`).

    Columns come in contract order, absent optional columns as nulls, each with the type of
    :func:`arrow_type`; headers not in ``mapping`` are left out (the caller warns of them)."""
    import pyarrow as pa

    n = raw.num_rows
    if n < MIN_PLAIN_ROWS or table.extra_columns:
        return None
    by_name = {name: raw.column(h) for h, name in mapping.items()}
    arrays, numbers, full = [], {}, False
    for col in table.columns:
        cells = by_name.get(col.name)
        if cells is None:
            if col.required or not col.nullable:
                return None  # the full path reports the column, or its empty cells
            arrays.append(pa.nulls(n, arrow_type(col)))
            continue
        if col.dtype in ("int", "float"):
            got = _numbers(cells, col)
            if got is None:
                return None
            values, numbers[col.name] = got
        elif col.dtype == "date":
            values = _dates(cells, col)
        elif col.dtype == "str":
            values = _texts(cells, col)
        else:
            return None  # date-times and yes/no cells: the full parsers
        if values is None:
            return None
        full = full or not values.null_count
        arrays.append(values)
    if not full:
        return None  # a record may be blank: the full path drops it
    for _name, expr, _message in table.rules:
        cols = rule_columns(expr, table)
        if not cols or not all(c in by_name for c in cols):
            continue
        if not all(c in numbers for c in cols):
            return None
        if not rule_holds(pd.DataFrame({c: numbers[c] for c in cols}), expr, cols).all():
            return None
    return pa.Table.from_arrays(arrays, names=table.column_names)
