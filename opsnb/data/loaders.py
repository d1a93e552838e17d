"""Load and validate the canonical tables of :mod:`opsnb.data.schemas`.

* :func:`read_file` reads a CSV/TXT (UTF-8, UTF-8 with BOM, GBK/GB18030), Excel or Parquet
  file, maps Chinese or English headers to canonical names, parses values such as ``3.2%``,
  ``¥1,234.50``, ``1.2万``, ``2024年6月18日`` or Excel serial dates, and validates the result
  against the table contract (every problem at once). The checks are vectorised
  (:func:`contract_problems`); :func:`pandera_schema` states the same contract for pandera.
* :func:`validate` does the same on a DataFrame; :func:`check_frame` checks one frame or one
  chunk of a file without raising (:mod:`opsnb.data.staging` reads big files in chunks).
* The DuckDB store that keeps the tables (:func:`~opsnb.data.store.open_store`,
  ``write_table``, ``read_table``) lives in :mod:`opsnb.data.store` and builds on this module.
* :func:`add_rates` derives conversion rate, AOV and refund rate from summed counts.

Problems raise :class:`~opsnb.errors.DataContractError` whose ``problems`` name the file, the
row *as numbered in the file* (CSV header = row 1, so the first data row is row 2; Excel: the
sheet row; Parquet: record 1, 2, ...), the column, the value and what was expected. Rows are
never dropped; unknown columns are dropped with a :class:`~opsnb.errors.DataQualityWarning`
unless the table keeps extra columns (``experiments``).

Concurrency: any number of processes may read the store at once through
``open_store(read_only=True)`` (papermill workers do); writing needs a single writer and no open
readers, because DuckDB locks the file for a read-write connection. Close writers promptly.

Example
-------
>>> df = read_file("生意参谋_流量来源.csv", "daily_metrics")   # doctest: +SKIP
>>> con = open_store(); write_table(con, "daily_metrics", df, mode="append")  # doctest: +SKIP
>>> week = read_table(con, "daily_metrics", start="2025-11-01", end="2025-11-07")  # doctest: +SKIP
>>> add_rates(week.groupby("channel")[["visitors", "buyers"]].sum())  # doctest: +SKIP
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.data.cells import (
    clean_strings,
    is_missing,
    parse_bools,
    parse_dates,
    parse_numbers,
    parse_strings,
)
from opsnb.data.rawfiles import BadLine, header_candidates, norm_header, read_raw
from opsnb.data.schemas import Column, Table, get_table
from opsnb.errors import DataContractError, DataProblem, DataQualityWarning

__all__ = [
    "read_file",
    "read_columns",
    "validate",
    "add_rates",
    "canonical_dtypes",
    "pandera_schema",
    "conform",
    "read_rows",
    "read_raw_rows",
    "show_value",
    "CheckedFrame",
    "check_frame",
    "contract_problems",
    "contract_error",
    "duplicate_problem",
    "warn_checked",
    "bad_line_error",
    "empty_file_error",
    "known_headers",
    "map_headers",
    "rule_columns",
    "rule_holds",
]

_NOT_NULL = "a value (this column may not be empty)"


# --------------------------------------------------------------------------------------------
# headers and values
# --------------------------------------------------------------------------------------------


def known_headers(table: Table) -> dict[str, str]:
    """Normalised header → canonical name, for every name and alias of ``table``."""
    out: dict[str, str] = {}
    for c in table.columns:
        for a in (c.name, *c.aliases):
            out.setdefault(norm_header(a), c.name)
    return out


def _accepted(col: Column) -> str:
    return ", ".join(dict.fromkeys((col.name, *col.aliases)))


def map_headers(
    frame: pd.DataFrame, table: Table, source: str
) -> tuple[dict[object, str], list[str], list[DataProblem]]:
    """(raw header → canonical name, unknown headers, problems) for the frame's columns
    (only its column labels are read)."""
    known = known_headers(table)
    mapping: dict[object, str] = {}
    seen: dict[str, object] = {}
    unknown: list[str] = []
    problems: list[DataProblem] = []
    for h in frame.columns:
        name = next((known[c] for c in header_candidates(h) if c in known), None)
        if name is None:
            unknown.append(h)
        elif name in seen:
            problems.append(
                DataProblem(
                    source,
                    None,
                    str(h),
                    None,
                    f"one column for {name!r}, but {seen[name]!r} and {h!r} "
                    "both name it; remove one",
                )
            )
        else:
            seen[name] = h
            mapping[h] = name
    others = [str(h) for h in unknown if str(h).strip()]
    hint = f"; unrecognised headers in the file: {', '.join(others)}" if others else ""
    for col in table.columns:
        if col.required and col.name not in seen:
            problems.append(
                DataProblem(
                    source,
                    None,
                    col.name,
                    None,
                    f"a column {col.name!r} (accepted headers: {_accepted(col)}{hint})",
                )
            )
    return mapping, unknown, problems


def _parse_column(
    raw: pd.Series, col: Column, changed: dict[int, str] | None = None
) -> tuple[pd.Series, dict[int, str]]:
    if col.dtype not in ("int", "float") and isinstance(raw.dtype, pd.StringDtype):
        if len(raw) >= 4096:  # dates, channels, statuses: parse each distinct cell once
            codes, uniques = pd.factorize(raw)
            if len(uniques) * 8 <= len(raw):
                return _parse_distinct(raw, codes, uniques, col, changed)
    return _parse_cells(raw, col, changed)


def _parse_distinct(raw, codes, uniques, col, changed):
    """:func:`_parse_cells` of the distinct cells, then one value (and problem) per row."""
    distinct = pd.Series(list(uniques) + [None], dtype=raw.dtype)
    codes = np.where(codes < 0, len(uniques), codes)
    fixed: dict[int, str] = {}
    values, bad = _parse_cells(distinct, col, fixed)
    out = values.take(codes).set_axis(raw.index)
    per_row: list[dict[int, str]] = []
    for found in (bad, fixed):
        rows: dict[int, str] = {}
        if found:
            hit = np.zeros(len(distinct), dtype=bool)
            hit[list(found)] = True
            rows = {int(i): found[int(codes[i])] for i in np.flatnonzero(hit[codes])}
        per_row.append(rows)
    if changed is not None:
        changed.update(per_row[1])
    return out, per_row[0]


def _parse_cells(
    raw: pd.Series, col: Column, changed: dict[int, str] | None = None
) -> tuple[pd.Series, dict[int, str]]:
    if col.dtype in ("int", "float"):
        return parse_numbers(
            raw, integer=col.dtype == "int", percent_ok=getattr(col, "percent", False)
        )
    if col.dtype in ("date", "datetime"):
        return parse_dates(raw, with_time=col.dtype == "datetime", month=col.name == "month")
    if col.dtype == "bool":
        return parse_bools(raw)
    text, fixed, bad = clean_strings(raw, ident=col.ident)
    if changed is not None:
        changed.update(fixed)
    return text, bad


def _parse_extra(raw: pd.Series) -> pd.Series:
    """Free-form extra column: numbers when every cell is a number, else text."""
    if raw.dtype.kind in "biufmM" or str(raw.dtype) == "boolean":
        return raw
    values, bad = parse_numbers(raw, integer=False, percent_ok=True)
    if bad or values.isna().all():
        return parse_strings(raw)
    if (values.dropna() == values.dropna().round()).all():
        return values.astype("Int64") if values.isna().any() else values.astype("int64")
    return values


def canonical_dtypes(df: pd.DataFrame, table: str | Table) -> pd.DataFrame:
    """Cast the contract columns of ``df`` to their canonical dtypes (in place; returns df).

    date/datetime → ``datetime64[us]`` (dates at midnight); int → ``int64`` (``Int64`` when a
    value is missing); float → ``float64``; str → ``str``; bool → ``bool`` (``boolean`` with
    missing values).
    """
    t = get_table(table) if isinstance(table, str) else table
    for col in t.columns:
        if col.name not in df.columns:
            continue
        s = df[col.name]
        if col.dtype in ("date", "datetime"):
            s = pd.to_datetime(s).astype("datetime64[us]")
            df[col.name] = s.dt.normalize() if col.dtype == "date" else s
        elif col.dtype == "int":
            df[col.name] = s.astype("Int64" if s.isna().any() else "int64")
        elif col.dtype == "float":
            df[col.name] = s.astype("float64")
        elif col.dtype == "bool":
            df[col.name] = s.astype("boolean" if s.isna().any() else "bool")
        else:
            df[col.name] = s.astype("str")
    return df


# --------------------------------------------------------------------------------------------
# pandera
# --------------------------------------------------------------------------------------------


def rule_columns(expr: str, table: Table) -> list[str]:
    """The contract columns named by rule expression ``expr``."""
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expr)
    return [n for n in dict.fromkeys(names) if n in table.column_names]


def _rule_check(expr: str, cols: list[str]):
    def check(df: pd.DataFrame) -> pd.Series:
        judged = df[cols].notna().all(axis=1)
        ok = pd.Series(True, index=df.index)
        if judged.any():
            ints = [c for c in cols if df[c].dtype.kind in "iu" or str(df[c].dtype) == "Int64"]
            sub = df.loc[judged, cols].astype({c: "float64" for c in ints})
            ok.loc[judged] = sub.eval(expr, engine="python").astype(bool)
        return ok

    return check


_COMPARISON = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=|<|>)\s*([A-Za-z_]\w*)\s*$")
_OPS = {"<=": np.less_equal, ">=": np.greater_equal, "<": np.less, ">": np.greater}


def rule_holds(df: pd.DataFrame, expr: str, cols: list[str]) -> np.ndarray:
    """Per row: the rule holds, or a value it needs is missing (not judged). ``a <= b`` of
    two number columns (most rules) is compared in numpy, anything else evaluated by pandas."""
    m = _COMPARISON.match(expr)
    if m and all(df[c].dtype.kind in "iuf" or str(df[c].dtype) == "Int64" for c in cols):
        a = df[m.group(1)].to_numpy(dtype="float64", na_value=np.nan)
        b = df[m.group(3)].to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            return np.isnan(a) | np.isnan(b) | _OPS[m.group(2)](a, b)
    return _rule_check(expr, cols)(df).to_numpy(dtype=bool)


def pandera_schema(table: str | Table, columns: Iterable[str] | None = None):
    """The pandera ``DataFrameSchema`` of a table contract (for the given present columns).

    Column checks: nullability, ``min``/``max`` and ``allowed``; frame checks: every rule whose
    columns are present and the unique key (later duplicates reported).
    """
    import pandera.pandas as pa

    t = get_table(table) if isinstance(table, str) else table
    present = list(t.column_names if columns is None else columns)
    cols = {}
    for c in t.columns:
        if c.name not in present:
            continue
        checks = []
        if c.min is not None and c.max is not None:
            checks.append(
                pa.Check.in_range(c.min, c.max, error=f"a number between {c.min:g} and {c.max:g}")
            )
        elif c.min is not None:
            checks.append(pa.Check.ge(c.min, error=f"a number ≥ {c.min:g}"))
        elif c.max is not None:
            checks.append(pa.Check.le(c.max, error=f"a number ≤ {c.max:g}"))
        if c.allowed:
            checks.append(pa.Check.isin(list(c.allowed), error=f"one of {' / '.join(c.allowed)}"))
        cols[c.name] = pa.Column(None, checks=checks, nullable=c.nullable, required=True)
    rules = []
    for name, expr, message in t.rules:
        rcols = rule_columns(expr, t)
        if rcols and all(c in present for c in rcols):
            rules.append(pa.Check(_rule_check(expr, rcols), name=name, error=message))
    unique = list(t.unique) if t.unique and all(c in present for c in t.unique) else None
    return pa.DataFrameSchema(
        cols,
        checks=rules,
        unique=unique,
        report_duplicates="exclude_first",
        strict=False,
        name=t.name,
    )


def show_value(v: object) -> object:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, (pd.Timestamp, datetime)):
        return v.strftime("%Y-%m-%d") if v == pd.Timestamp(v).normalize() else str(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


def _column_values(raw: pd.DataFrame, col: str) -> np.ndarray | None:
    return raw[col].to_numpy(dtype=object) if col in raw.columns else None


def contract_problems(
    typed: pd.DataFrame,
    raw: pd.DataFrame,
    table: Table,
    source: str,
    skip: set[tuple[int, str]],
    *,
    unique: bool = True,
) -> list[DataProblem]:
    """Problems of parsed cells against the contract, vectorised (the checks of
    :func:`pandera_schema`, with the same messages): nullability, ``min``/``max``, ``allowed``,
    then every rule whose columns are present, then (``unique``) the key, later duplicates
    naming the first row. ``typed`` and ``raw`` are indexed by file row; a cell in ``skip``
    (already reported) is not judged again, and each problem found is added to ``skip``."""
    problems: list[DataProblem] = []
    rows = typed.index.to_numpy()
    for c in table.columns:
        if c.name not in typed.columns:
            continue
        s = typed[c.name]
        null = s.isna().to_numpy()
        fails: list[tuple[np.ndarray, str]] = []
        if not c.nullable:
            fails.append((null, _NOT_NULL))
        if c.min is not None or c.max is not None:
            v = s.to_numpy(dtype="float64", na_value=np.nan)
            lo = -np.inf if c.min is None else c.min
            hi = np.inf if c.max is None else c.max
            out = ~null & ((v < lo) | (v > hi))
            if c.min is not None and c.max is not None:
                fails.append((out, f"a number between {c.min:g} and {c.max:g}"))
            elif c.min is not None:
                fails.append((out, f"a number ≥ {c.min:g}"))
            else:
                fails.append((out, f"a number ≤ {c.max:g}"))
        if c.allowed:
            fails.append(
                (~null & ~s.isin(list(c.allowed)).to_numpy(), f"one of {' / '.join(c.allowed)}")
            )
        cells = None
        for mask, expected in fails:
            for i in np.flatnonzero(mask):
                row = int(rows[i])
                if (row, c.name) in skip:
                    continue
                skip.add((row, c.name))
                if cells is None:
                    cells = _column_values(raw, c.name)
                value = show_value(None if cells is None else cells[i])
                problems.append(DataProblem(source, row, c.name, value, expected))
    for _name, expr, message in table.rules:
        rcols = rule_columns(expr, table)
        if not rcols or not all(c in typed.columns for c in rcols):
            continue
        ok = rule_holds(typed, expr, rcols)
        bad_rows = np.flatnonzero(~ok)
        if not len(bad_rows):
            continue
        cells = {c: _column_values(raw, c) for c in rcols}
        for i in bad_rows:
            row = int(rows[i])
            if any((row, c) in skip for c in rcols):
                continue  # a value already reported as bad is not judged again by a rule
            value = ", ".join(
                f"{c}={show_value(None if cells[c] is None else cells[c][i])}" for c in rcols
            )
            problems.append(DataProblem(source, row, rcols[0], value, message))
    keys = list(table.unique)
    if unique and keys and all(k in typed.columns for k in keys):
        dup = typed.duplicated(keys, keep="first").to_numpy()
        if dup.any():
            first = (
                pd.Series(rows, index=typed.index)
                .groupby([typed[k] for k in keys], dropna=False)
                .transform("min")
                .to_numpy()
            )
            for i in np.flatnonzero(dup):
                row = int(rows[i])
                vals = [typed[k].iat[i] for k in keys]
                if any((row, k) in skip for k in keys) or any(pd.isna(v) for v in vals):
                    continue  # a missing or bad key cell is reported on its own
                problems.append(duplicate_problem(table, source, row, vals, int(first[i])))
    return problems


def duplicate_problem(table: Table, source: str, row: int, key: list, first: int) -> DataProblem:
    """The problem of row ``row`` repeating key values ``key`` first seen at row ``first``."""
    value = ", ".join(str(show_value(v)) for v in key)
    names = ", ".join(table.unique)
    return DataProblem(source, row, names, value, f"a unique ({names}); duplicates row {first}")


# --------------------------------------------------------------------------------------------
# validate / read_file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedFrame:
    """One frame (a whole file, or one chunk of it) parsed and checked against a contract.

    ``typed``: parsed values indexed by file row (bad cells missing); ``problems``: every
    problem found (unsorted); ``dropped``: headers not in the contract (dropped unless the
    table keeps extra columns); ``changed``: {column: (cells changed, first row, cell before,
    cell after)} for cells whose invisible characters were removed; ``flagged``: the (row,
    column) cells already reported, which later checks (a key across chunks) do not judge.
    """

    typed: pd.DataFrame
    problems: list[DataProblem]
    dropped: list[str]
    changed: dict[str, tuple[int, int, str, str]]
    flagged: set[tuple[int, str]]


def check_frame(
    frame: pd.DataFrame,
    table: Table,
    source: str,
    rows: np.ndarray,
    *,
    unique: bool = True,
    headers: bool = True,
) -> CheckedFrame:
    """Parse and check ``frame`` (raw cells, headers as in the file; row ``i`` is file row
    ``rows[i]``) against ``table`` without raising. ``unique=False`` leaves the key to the
    caller (a file read in chunks checks it across chunks); ``headers=False`` leaves out the
    missing-column problems (reported once, for the first chunk)."""
    problems: list[DataProblem] = []
    mapping, unknown, header_problems = map_headers(frame, table, source)
    if headers:
        problems += header_problems
    raw = frame.rename(columns={h: n for h, n in mapping.items()})
    raw.index = pd.Index(rows, name="row")
    dropped = [str(h) for h in unknown if str(h).strip()]
    typed = pd.DataFrame(index=raw.index)
    skip: set[tuple[int, str]] = set()
    changes: dict[str, tuple[int, int, str, str]] = {}
    for col in table.columns:
        if col.name not in mapping.values():
            if not col.required:
                typed[col.name] = _parse_column(
                    pd.Series(np.nan, index=raw.index, dtype="str"), col
                )[0]
            continue
        changed: dict[int, str] = {}
        values, bad = _parse_column(raw[col.name], col, changed)
        typed[col.name] = values.set_axis(raw.index)
        if changed:
            first = min(changed)
            changes[col.name] = (
                len(changed),
                int(rows[first]),
                str(raw[col.name].iat[first]),
                str(values.iat[first]),
            )
        if bad:
            cells = raw[col.name].to_numpy(dtype=object)
            for pos, expected in bad.items():
                row = int(rows[pos])
                skip.add((row, col.name))
                problems.append(
                    DataProblem(source, row, col.name, show_value(cells[pos]), expected)
                )
    if table.extra_columns:
        for h in unknown:
            if str(h).strip():
                typed[str(h).strip()] = _parse_extra(raw[h])
    if len(typed):
        problems += contract_problems(typed, raw, table, source, skip, unique=unique)
    return CheckedFrame(typed, problems, dropped, changes, skip)


def warn_checked(
    table: Table,
    source: str,
    dropped: list[str],
    changed: dict[str, tuple[int, int, str, str]],
    stacklevel: int = 3,
) -> None:
    """The warnings of a checked file: columns dropped, invisible characters removed."""
    if dropped and not table.extra_columns:
        warnings.warn(
            f"{source}: columns not in table {table.name!r} were dropped: {', '.join(dropped)}",
            DataQualityWarning,
            stacklevel=stacklevel,
        )
    for name, (n, row, before, after) in changed.items():
        warnings.warn(
            f"{source}: invisible characters (NUL, zero-width, non-breaking or ideographic "
            f"spaces) removed from {n} cell(s) of column {name!r}; first at "
            f"row {row}: {before!r} → {after!r}",
            DataQualityWarning,
            stacklevel=stacklevel,
        )


def contract_error(table: Table, source: str, problems: list[DataProblem]) -> DataContractError:
    """The error listing ``problems`` by file row, then by the contract's column order."""
    order = {c: i for i, c in enumerate(table.column_names)}
    problems = sorted(
        problems,
        key=lambda p: (-1 if p.row is None else p.row, order.get(p.column or "", len(order))),
    )
    return DataContractError(
        f"{source} does not match table {table.name!r} ({table.zh_name}): "
        f"{len(problems)} problem(s)",
        problems,
    )


def conform(
    frame: pd.DataFrame, table: Table, source: str, rows: np.ndarray, stacklevel: int = 3
) -> pd.DataFrame:
    """Parse and check a whole frame (see :func:`check_frame`); warn, raise every problem at
    once, or return the typed frame (0-based index, canonical dtypes)."""
    checked = check_frame(frame, table, source, rows)
    warn_checked(table, source, checked.dropped, checked.changed, stacklevel + 1)
    if checked.problems:
        raise contract_error(table, source, checked.problems)
    return canonical_dtypes(checked.typed.reset_index(drop=True), table)


def validate(
    df: pd.DataFrame, table: str, *, source: str = "<frame>", first_row: int = 2
) -> pd.DataFrame:
    """Check ``df`` against table ``table`` and return it with canonical names and dtypes.

    Headers may be aliases; cells may be raw text ('1,234', '3.2%', '2024/6/18'). Row ``i``
    (0-based) of the frame is reported as row ``first_row + i``. Raises DataContractError
    listing every problem.
    """
    t = get_table(table)
    return conform(df, t, source, np.arange(first_row, first_row + len(df)))


def bad_line_error(source: str, exc: BadLine) -> DataContractError:
    """The error of a text line with more fields than the header."""
    return DataContractError(
        f"{source} cannot be read as a table",
        [
            DataProblem(
                source,
                exc.line,
                None,
                f"{exc.got} fields",
                f"{exc.expected} fields like the header (quote cells that contain the separator)",
            )
        ],
    )


def empty_file_error(source: str, table: Table) -> DataContractError:
    """The error of a file without a header row."""
    return DataContractError(
        f"{source} is empty",
        [
            DataProblem(
                source,
                1,
                None,
                None,
                "a header row naming the columns: "
                + ", ".join(c.name for c in table.columns if c.required),
            )
        ],
    )


def read_file(path: str | Path, table: str, *, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a CSV/TXT/XLSX/Parquet file as table ``table``: aliases mapped, values parsed,
    contract validated, canonical dtypes. Excel: ``sheet`` name or 0-based index (default: a
    sheet named like the table, else the first). Raises DataContractError listing every problem.
    """
    return read_rows(path, table, sheet)[0]


def read_rows(path: str | Path, table: str, sheet=None) -> tuple[pd.DataFrame, str, np.ndarray]:
    """read_file, also returning the source name and the file row of each returned row."""
    t = get_table(table)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    source = path.name
    frame, rows = read_raw_rows(path, t, source, sheet)
    return conform(frame, t, source, rows, stacklevel=5), source, rows


def read_raw_rows(path: Path, t: Table, source: str, sheet=None) -> tuple[pd.DataFrame, np.ndarray]:
    """The whole file as raw text cells under canonical headers, with each row's file row
    (title rows, footers, encodings and sheets handled by :func:`opsnb.data.rawfiles.read_raw`);
    a bad line or a file without a header is an error naming ``source``."""
    try:
        raw = read_raw(
            path,
            known_headers(t),
            sheet=sheet,
            sheet_names=(t.name, t.zh_name, t.zh_name.split()[-1]),
        )
    except BadLine as exc:
        raise bad_line_error(source, exc) from None
    if not len(raw.frame.columns):
        raise empty_file_error(source, t)
    return raw.frame, np.asarray(raw.rows, dtype=np.int64)


def read_columns(
    path: str | Path,
    columns: dict[str, tuple[str, str]],
    *,
    optional: tuple[str, ...] = (),
    nullable: tuple[str, ...] = (),
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read any file :func:`read_file` reads and type the columns a command names.

    For commands that work on *any* CSV (``opsnb detect --time-col``, ``opsnb rfm
    --customer-col``, ``opsnb ab --variant-col``): the same encodings, separators, value
    spellings and error reports as the table contracts, without a contract.

    ``columns`` maps an output name to ``(header in the file, kind)``, kind being ``str``,
    ``int``, ``float``, ``rate`` (a number that may be written 3.2%), ``date``, ``datetime`` or
    ``bool`` (true/false, 1/0, 是/否). Names in ``optional`` may be absent from the file; names
    in ``nullable`` may have empty cells (others may not). Returns the typed columns plus ``_row``, each row's number in the file. Raises
    :class:`DataContractError` listing every missing header and every unreadable cell.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = f.write_text("日期,金额\n20240618,\"¥1,234.50\"\n", encoding="utf-8")
    >>> read_columns(f, {"day": ("日期", "date"), "amount": ("金额", "float")})["amount"].tolist()
    [1234.5]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    source = str(path)
    known = {norm_header(h): h for h, _ in columns.values()}
    try:
        raw = read_raw(path, known, sheet=sheet)
    except BadLine as exc:
        raise bad_line_error(source, exc) from None
    frame = raw.frame
    by_norm = {norm_header(c): c for c in frame.columns}
    problems: list[DataProblem] = []
    out = pd.DataFrame(index=range(len(frame)))
    found = {
        name: header if header in frame.columns else by_norm.get(norm_header(header))
        for name, (header, _) in columns.items()
    }
    absent = [columns[n][0] for n, c in found.items() if c is None and n not in optional]
    if absent:
        have = ", ".join(map(repr, map(str, frame.columns)))
        raise DataContractError(
            f"{source}: missing column(s) {', '.join(map(repr, absent))}",
            [
                DataProblem(
                    source, None, h, None, f"a column with this header; the file has {have}"
                )
                for h in absent
            ],
        )
    for name, (_header, kind) in columns.items():
        col = found[name]
        if col is None:
            continue
        cells = frame[col].reset_index(drop=True)
        if name not in nullable:
            empty = is_missing(cells).to_numpy()
            problems += [
                DataProblem(source, int(raw.rows[i]), str(col), None, _NOT_NULL)
                for i in np.flatnonzero(empty)
            ]
        if kind == "str":
            out[name] = parse_strings(cells)
            continue
        if kind in ("int", "float", "rate"):
            values, bad = parse_numbers(cells, integer=kind == "int", percent_ok=kind == "rate")
        elif kind in ("date", "datetime"):
            values, bad = parse_dates(cells, with_time=kind == "datetime")
        elif kind == "bool":
            values, bad = parse_bools(cells)
        else:
            raise ValueError(
                f"kind of column {name!r} must be one of str, int, float, rate, "
                f"date, datetime, bool; got {kind!r}"
            )
        out[name] = pd.Series(values).reset_index(drop=True)
        problems += [
            DataProblem(source, int(raw.rows[i]), str(col), cells.iloc[i], exp)
            for i, exp in bad.items()
        ]
    if problems:
        problems.sort(key=lambda p: (p.row or 0, str(p.column)))
        raise DataContractError(f"{source}: {len(problems)} problem(s)", problems)
    out["_row"] = np.asarray(raw.rows, dtype="int64")
    return out


# --------------------------------------------------------------------------------------------
# derived rates
# --------------------------------------------------------------------------------------------

_RATES = (
    ("conversion_rate", "buyers", "visitors"),
    ("aov", "gmv", "orders"),
    ("refund_rate", "refund_orders", "orders"),
)


def add_rates(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with ``conversion_rate = buyers / visitors``, ``aov = gmv /
    orders`` and ``refund_rate = refund_orders / orders`` (each when its columns are present;
    NaN when the denominator is 0 or missing).

    Rates are ratios of sums: aggregate the counts first (per week, per channel...), then call
    this; never average daily rates.

    >>> rates = add_rates(pd.DataFrame({"visitors": [100, 0], "buyers": [5, 0]}))
    >>> rates["conversion_rate"].tolist()
    [0.05, nan]
    """
    out = df.copy()
    for name, num, den in _RATES:
        if num in out.columns and den in out.columns:
            n = pd.to_numeric(out[num]).astype("float64")
            d = pd.to_numeric(out[den]).astype("float64")
            out[name] = (n / d.where(d != 0)).astype("float64")
    return out


# --------------------------------------------------------------------------------------------
