"""Reading raw files and parsing cell values the way operations exports write them.

Used by :mod:`opsnb.data`; nothing here knows about pandera or DuckDB.

* :func:`read_raw` reads CSV / TXT (UTF-8, UTF-8 with BOM, GBK/GB18030), Excel (.xlsx) and
  Parquet into a frame of raw cells plus the row number of each record *as numbered in the file*
  (CSV header = row 1; Excel = the sheet row). A title or notes block above the header is skipped
  by finding the header row; fully blank lines are not records.
* :func:`parse_numbers`, :func:`parse_dates`, :func:`parse_bools`, :func:`parse_strings` turn
  one column of raw cells into a canonical dtype and report every cell they cannot read.

Accepted values: ``1,234``, ``¥1,234.50`` / ``￥``, ``1.2万`` (×10 000), ``3亿``, ``3.2%``
(→ 0.032 where a percentage is allowed), empty / ``-`` / ``NA`` / ``null`` as missing; dates as
``2024-06-18``, ``2024/6/18``, ``2024.6.18``, ``20240618``, ``2024年6月18日``, unambiguous
``18/06/2024``, Excel serial numbers (``45461`` → 2024-06-18), with an optional time of day.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "MISSING_TOKENS",
    "RawFile",
    "read_raw",
    "decode_text",
    "norm_header",
    "is_missing",
    "parse_numbers",
    "parse_dates",
    "parse_bools",
    "parse_strings",
    "DATE_EXPECTED",
    "DATETIME_EXPECTED",
]

MISSING_TOKENS = frozenset(
    {"", "-", "--", "—", "——", "na", "n/a", "nan", "nat", "null", "none", "#n/a", "<na>"}
)
"""Cells read as missing (compared after stripping and lower-casing)."""

DATE_EXPECTED = "a date such as 2024-06-18, 2024/6/18, 20240618, 2024年6月18日 or an Excel date"
DATETIME_EXPECTED = "a date-time such as 2024-06-18 14:30:00 (or a date)"
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
SUFFIXES = TEXT_SUFFIXES + EXCEL_SUFFIXES + (".parquet", ".pq")

_EXCEL_EPOCH = datetime(1899, 12, 30)


# --------------------------------------------------------------------------------------------
# headers
# --------------------------------------------------------------------------------------------


def norm_header(h: object) -> str:
    """Header as compared with aliases: NFKC (full-width → ASCII), lower case, no spaces or '*'."""
    s = unicodedata.normalize("NFKC", str(h)).replace("\ufeff", "")
    return "".join(s.strip().lower().replace("*", "").split())


_UNIT_SUFFIX = re.compile(r"[(\[](元|%|个|人|次|单|件|万元|rmb|cny|yuan)[)\]]$")


def header_candidates(h: object) -> list[str]:
    """Normalised header, then the same without a unit suffix such as '(元)' or '(%)'."""
    n = norm_header(h)
    out = [n]
    stripped = _UNIT_SUFFIX.sub("", n)
    if stripped != n and stripped:
        out.append(stripped)
    return out


# --------------------------------------------------------------------------------------------
# raw files
# --------------------------------------------------------------------------------------------


@dataclass
class RawFile:
    """Raw cells of a file: ``frame`` (object/str cells, header as read), ``rows`` (file row of
    each record), ``encoding`` (text files) and ``notes`` (what was skipped, for messages)."""

    frame: pd.DataFrame
    rows: np.ndarray
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)


def decode_text(raw: bytes) -> tuple[str, str]:
    """Decode bytes as UTF-8 (BOM or not), else GB18030 (a superset of GBK/GB2312)."""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"cannot decode the file as UTF-8 or GBK/GB18030 (byte {exc.start}); "
            "save it as UTF-8 CSV"
        ) from None


def _find_header(rows: list[list[object]], known: dict[str, str], limit: int = 15) -> int:
    """Index of the header row: the first of the first ``limit`` rows matching most known names."""
    best, best_i = 0, 0
    for i, row in enumerate(rows[:limit]):
        hits = {
            known.get(c)
            for cell in row
            if cell is not None and str(cell).strip()
            for c in header_candidates(cell)
        } - {None}
        if len(hits) > best:
            best, best_i = len(hits), i
    return best_i


def _sniff_sep(line: str, suffix: str) -> str | None:
    if suffix == ".tsv":
        return "\t"
    counts = {sep: line.count(sep) for sep in (",", "\t", ";", "|")}
    sep, n = max(counts.items(), key=lambda kv: kv[1])
    if n > 0:
        return sep
    return None if suffix == ".txt" else ","  # None: split on runs of whitespace


def _read_text(path: Path, known: dict[str, str]) -> RawFile:
    text, encoding = decode_text(path.read_bytes())
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        return RawFile(pd.DataFrame(), np.array([], dtype=int), encoding)
    head_lines = lines[:15]
    sep = _sniff_sep(next((ln for ln in head_lines if ln.strip()), ""), path.suffix.lower())
    if sep is None:
        head_rows = [ln.split() for ln in head_lines]
    else:
        head_rows = list(csv.reader(io.StringIO("\n".join(head_lines)), delimiter=sep))
    h = _find_header(head_rows, known)
    kwargs = dict(header=0, skiprows=h, dtype=str, keep_default_na=False, skip_blank_lines=False)
    try:
        if sep is None:
            frame = pd.read_csv(io.StringIO(text), sep=r"\s+", engine="python", **kwargs)
        else:
            frame = pd.read_csv(io.StringIO(text), sep=sep, **kwargs)
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            raise _BadLine(int(m.group(2)), int(m.group(1)), int(m.group(3))) from None
        raise
    rows = np.arange(h + 2, h + 2 + len(frame))
    notes = [f"skipped {h} line(s) above the header"] if h else []
    return RawFile(frame, rows, encoding, notes)


class _BadLine(Exception):
    def __init__(self, line: int, expected: int, got: int):
        self.line, self.expected, self.got = line, expected, got
        super().__init__(f"line {line}: expected {expected} fields, saw {got}")


def _sheet_rows(path: Path, sheet: str | int | None, names: tuple[str, ...]) -> list[list]:
    import openpyxl

    small = path.stat().st_size < 5_000_000
    wb = openpyxl.load_workbook(path, read_only=not small, data_only=True)
    try:
        if sheet is None:
            norm = {norm_header(n) for n in names}
            ws = next((w for w in wb.worksheets if norm_header(w.title) in norm), wb.worksheets[0])
        elif isinstance(sheet, int) or (
            isinstance(sheet, str) and sheet.isdigit() and sheet not in wb.sheetnames
        ):
            idx = int(sheet)
            if not 0 <= idx < len(wb.worksheets):
                raise ValueError(f"sheet index {idx} out of range; sheets: {wb.sheetnames}")
            ws = wb.worksheets[idx]
        elif sheet in wb.sheetnames:
            ws = wb[sheet]
        else:
            raise ValueError(f"no sheet {sheet!r} in {path.name}; sheets: {wb.sheetnames}")
        rows = [list(r) for r in ws.iter_rows(min_row=1, values_only=True)]
        if small:  # merged cells (周期 spanning several tasks): every cell takes the anchor value
            for rng in ws.merged_cells.ranges:
                value = ws.cell(rng.min_row, rng.min_col).value
                for r in range(rng.min_row, rng.max_row + 1):
                    for c in range(rng.min_col, rng.max_col + 1):
                        if r - 1 < len(rows) and c - 1 < len(rows[r - 1]):
                            rows[r - 1][c - 1] = value
        return rows
    finally:
        wb.close()


def _read_excel(path: Path, known: dict[str, str], sheet, names) -> RawFile:
    rows = _sheet_rows(path, sheet, names)
    if not rows:
        return RawFile(pd.DataFrame(), np.array([], dtype=int))
    h = _find_header(rows, known)
    header = rows[h]
    width = max(len(r) for r in rows)
    header = list(header) + [None] * (width - len(header))
    body = [list(r) + [None] * (width - len(r)) for r in rows[h + 1 :]]
    names_ = [("" if v is None else str(v).strip()) for v in header]
    frame = pd.DataFrame(body, columns=range(width), dtype=object)
    frame.columns = names_
    notes = [f"skipped {h} row(s) above the header"] if h else []
    return RawFile(frame, np.arange(h + 2, h + 2 + len(body)), None, notes)


def read_raw(
    path: Path, known: dict[str, str], *, sheet=None, sheet_names: tuple[str, ...] = ()
) -> RawFile:
    """Read ``path`` into raw cells. ``known`` maps normalised headers to canonical names (used
    to find the header row); ``sheet_names`` are preferred Excel sheet titles.

    Fully blank records are removed (their numbers are skipped in ``rows``); columns with an
    empty header and no values (trailing separators) are removed.
    """
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        raw = _read_text(path, known)
    elif suffix in EXCEL_SUFFIXES:
        raw = _read_excel(path, known, sheet, sheet_names)
    elif suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
        raw = RawFile(frame.reset_index(drop=True), np.arange(1, len(frame) + 1))
    elif suffix == ".xls":
        raise ValueError(f"{path.name}: old .xls workbooks are not supported; save as .xlsx or CSV")
    else:
        raise ValueError(
            f"{path.name}: unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)}"
        )
    frame = raw.frame
    if len(frame.columns):
        blank = np.ones(len(frame), dtype=bool)
        for c in frame.columns:
            blank &= is_missing(frame[c]).to_numpy() & ~_is_dash(frame[c])
        keep_cols = [c for c in frame.columns if str(c).strip() or not is_missing(frame[c]).all()]
        if blank.any():
            frame, raw.rows = frame.loc[~blank], raw.rows[~blank]
        raw.frame = frame[keep_cols].reset_index(drop=True)
    return raw


# --------------------------------------------------------------------------------------------
# cells
# --------------------------------------------------------------------------------------------


def _as_text(s: pd.Series) -> pd.Series:
    """Raw cells as stripped text (NaN for None/NaN); numbers keep their natural spelling."""

    def one(v):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
            return np.nan
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    out = s.map(one).astype("str") if s.dtype == object or s.dtype.kind == "f" else s.astype("str")
    out = out.str.replace("\u3000", " ").str.strip()
    # exports that protect long numbers from Excel write them as ="1234567890123"
    return out.str.replace(r'^="(.*)"$', r"\1", regex=True)


def is_missing(s: pd.Series) -> pd.Series:
    """True where a raw cell counts as missing (empty, '-', 'NA', 'null', NaN, ...)."""
    if s.dtype.kind in "biufcmM":
        return s.isna()
    text = _as_text(s)
    return text.isna() | text.str.lower().isin(MISSING_TOKENS)


def _is_dash(s: pd.Series) -> np.ndarray:
    """Cells that are literally a dash: a row of dashes is data (all missing), not a blank line."""
    if s.dtype.kind in "biufcmM":
        return np.zeros(len(s), dtype=bool)
    text = _as_text(s)
    return text.isin(["-", "--", "—", "——"]).to_numpy()


_NUM = re.compile(
    r"^(?P<s1>[-+−])?(?:¥|￥|\$|rmb|cny)?(?P<s2>[-+−])?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?P<exp>e[-+]?\d+)?"
    r"(?P<unit>%|‰|万元|亿元|万|亿|元|w)?$"
)
_MONEY = r"[-+]?[¥￥$]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_MULT = {"万": 10_000, "万元": 10_000, "w": 10_000, "亿": 100_000_000, "亿元": 100_000_000, "元": 1}


def _parse_number_text(t: str) -> tuple[float, bool] | None:
    """(value, is_percent) for one text cell, or None when it is not a number."""
    t = unicodedata.normalize("NFKC", t).lower().replace(" ", "").replace("，", ",")
    if t.startswith("(") and t.endswith(")"):  # accounting negative: (1,234.50)
        inner = _parse_number_text(t[1:-1])
        return None if inner is None else (-inner[0], inner[1])
    m = _NUM.match(t)
    if not m:
        return None
    try:
        value = Decimal(m.group("num").replace(",", "") + (m.group("exp") or ""))
    except InvalidOperation:
        return None
    unit = m.group("unit") or ""
    pct = unit in ("%", "‰")
    if pct:
        value /= 100 if unit == "%" else 1000
    else:
        value *= _MULT.get(unit, 1)
    if (m.group("s1") or m.group("s2") or "") in ("-", "−"):
        value = -value
    return float(value), pct


def parse_numbers(
    s: pd.Series, *, integer: bool, percent_ok: bool
) -> tuple[pd.Series, dict[int, str]]:
    """Parse a column of raw cells as numbers.

    Returns (float64 values with NaN for missing/bad cells, {position: expected} for bad cells).
    ``integer`` rejects fractions; ``percent_ok`` accepts '3.2%' as 0.032 (else it is an error).
    """
    what = "an integer count" if integer else "a number"
    bad: dict[int, str] = {}
    if s.dtype.kind in "biuf":
        values = s.astype("float64").to_numpy(copy=True)
    elif s.dtype.kind == "b" or str(s.dtype) == "boolean":
        values = np.full(len(s), np.nan)
        bad.update({i: what for i in np.flatnonzero(s.notna().to_numpy())})
        return pd.Series(values, index=s.index), bad
    else:
        text = _as_text(s)
        missing = (text.isna() | text.str.lower().isin(MISSING_TOKENS)).to_numpy()
        objs = s.to_numpy()
        values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan, copy=True
        )
        rest = np.isnan(values) & ~missing
        if rest.any():  # vectorised pass for the common '¥1,234.50' / '1,234'
            sub = text[rest]
            plain = sub.str.fullmatch(_MONEY, na=False)
            if plain.any():
                cleaned = sub[plain].str.replace(r"[¥￥$,]", "", regex=True)
                idx = np.flatnonzero(rest)[plain.to_numpy()]
                values[idx] = pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype="float64")
        for i in np.flatnonzero(np.isnan(values) & ~missing):
            v = objs[i]
            if isinstance(v, bool):
                bad[i] = what
                continue
            parsed = _parse_number_text(text.iat[i])
            if parsed is None:
                bad[i] = what + (
                    " (write 1234.5, 1,234.5, ¥1,234.50, 1.2万 or 3.2%)"
                    if percent_ok
                    else " (write 1234.5, 1,234.5, ¥1,234.50 or 1.2万)"
                )
            elif parsed[1] and not percent_ok:
                bad[i] = (
                    what + ", not a percentage (rates are derived from counts)"
                    if integer
                    else what + ", not a percentage"
                )
            else:
                values[i] = parsed[0]
        values[np.isinf(values)] = np.nan
    if integer:
        frac = ~np.isnan(values) & (values != np.round(values))
        for i in np.flatnonzero(frac):
            bad[i] = "a whole number (an integer count)"
            values[i] = np.nan
    return pd.Series(values, index=s.index), bad


_YMD = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ tT]*(\d{1,2})[:：时](\d{1,2})"
    r"(?:[:：分](\d{1,2})(?:\.(\d{1,6}))?秒?)?)?$"
)
_ISO = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
_VECTOR_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y年%m月%d日")
_DMY = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?:[ tT]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_YM = re.compile(r"^(\d{4})[-/.年](\d{1,2})月?$")


def _excel_serial(x: float) -> datetime | None:
    if 1 <= x < 100_000:
        return _EXCEL_EPOCH + timedelta(days=float(x))
    return None


def _parse_date_value(v: object, *, month: bool) -> datetime | str | None:
    """datetime, or an error suffix string, or None for not-a-date."""
    if isinstance(v, datetime):
        return v
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        x = float(v)
        if x.is_integer() and 19000101 <= x <= 21001231:
            return _parse_date_value(str(int(x)), month=month)
        return _excel_serial(x)
    t = unicodedata.normalize("NFKC", str(v)).strip()
    try:
        if re.fullmatch(r"\d{8}", t):
            return datetime.strptime(t, "%Y%m%d")
        if re.fullmatch(r"\d{1,5}(\.\d+)?", t):
            return _excel_serial(float(t))
        m = _YMD.match(t)
        if m:
            y, mo, d, hh, mm, ss, frac = m.groups()
            return datetime(
                int(y),
                int(mo),
                int(d),
                int(hh or 0),
                int(mm or 0),
                int(ss or 0),
                int((frac or "0").ljust(6, "0")),
            )
        m = _DMY.match(t)
        if m:
            a, b, y, hh, mm, ss = m.groups()
            a, b = int(a), int(b)
            if a <= 12 and b <= 12 and a != b:
                return "ambiguous day/month order; write it as 2024-06-18"
            d, mo = (a, b) if a > 12 else (b, a)
            return datetime(int(y), mo, d, int(hh or 0), int(mm or 0), int(ss or 0))
        m = _YM.match(t) if month else None
        if m:
            return datetime(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        return "a real calendar date"
    return None


def parse_dates(
    s: pd.Series, *, with_time: bool, month: bool = False
) -> tuple[pd.Series, dict[int, str]]:
    """Parse raw cells as dates (normalised to midnight) or date-times (``with_time``).

    ``month`` also accepts '2024-06' / '2024年6月' and normalises every value to the 1st of
    its month. Returns (datetime64[us] values with NaT for missing/bad, {position: expected}).
    """
    expected = DATETIME_EXPECTED if with_time else DATE_EXPECTED
    bad: dict[int, str] = {}
    if s.dtype.kind == "M":
        out = (
            s.astype("datetime64[us]")
            if getattr(s.dt, "tz", None) is None
            else s.dt.tz_localize(None).astype("datetime64[us]")
        )
    else:
        if s.dtype.kind in "iuf":
            missing = s.isna().to_numpy()
            values = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[us]")
        else:
            text = _as_text(s)
            missing = (text.isna() | text.str.lower().isin(MISSING_TOKENS)).to_numpy()
            iso = text.where(~missing & text.str.match(_ISO, na=False).to_numpy())
            values = pd.to_datetime(iso, format="ISO8601", errors="coerce").to_numpy(
                dtype="datetime64[us]", copy=True
            )
            for fmt in _VECTOR_FORMATS:  # vectorised passes for the common Chinese spellings
                rest = np.isnat(values) & ~missing
                if not rest.any():
                    break
                got = pd.to_datetime(text[rest], format=fmt, errors="coerce").to_numpy(
                    dtype="datetime64[us]"
                )
                values[np.flatnonzero(rest)] = got
        todo = np.flatnonzero(np.isnat(values) & ~missing)
        objs = s.to_numpy()
        cache: dict[object, object] = {}
        for i in todo:
            v = objs[i]
            key = (type(v), v) if not isinstance(v, float) or not math.isnan(v) else None
            if key not in cache:
                cache[key] = _parse_date_value(v, month=month)
            r = cache[key]
            if isinstance(r, datetime):
                values[i] = np.datetime64(r, "us")
            elif isinstance(r, str):
                bad[i] = f"{expected} ({r})"
            else:
                bad[i] = expected
        out = pd.Series(values, index=s.index, dtype="datetime64[us]")
    if month:
        out = out.dt.to_period("M").dt.to_timestamp().astype("datetime64[us]")
    elif not with_time:
        out = out.dt.normalize()
    return out, bad


_TRUE = {"true", "t", "yes", "y", "1", "1.0", "是", "对", "√", "✓", "✔", "已完成", "完成", "有"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", "否", "不是", "错", "×", "✗", "✘", "未完成", "无"}


def parse_bools(s: pd.Series) -> tuple[pd.Series, dict[int, str]]:
    """Parse raw cells as booleans (true/false, yes/no, 1/0, 是/否, √/×); nullable ``boolean``."""
    if s.dtype.kind == "b" or str(s.dtype) == "boolean":
        return s.astype("boolean"), {}
    text = _as_text(s)
    low = text.str.lower()
    missing = (text.isna() | low.isin(MISSING_TOKENS - {"none"})).to_numpy()
    out = pd.array([pd.NA] * len(s), dtype="boolean")
    is_true, is_false = low.isin(_TRUE).to_numpy(), low.isin(_FALSE).to_numpy()
    out[is_true] = True
    out[is_false] = False
    bad = {
        int(i): "yes/no (是/否, true/false, 1/0)"
        for i in np.flatnonzero(~missing & ~is_true & ~is_false)
    }
    return pd.Series(out, index=s.index), bad


def parse_strings(s: pd.Series) -> pd.Series:
    """Raw cells as stripped text (pandas ``str`` dtype); missing tokens become NaN.

    Whole numbers read from Excel as floats keep their natural spelling (536365, not 536365.0).
    """
    text = _as_text(s)
    text = text.where(~text.str.lower().isin(MISSING_TOKENS))
    return text.astype("str")
