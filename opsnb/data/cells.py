"""Parsing raw cells the way operations exports write them: missing, numbers, dates, booleans, text.

:func:`parse_numbers`, :func:`parse_dates`, :func:`parse_bools`, :func:`parse_strings` turn one
column of raw cells (as :func:`opsnb.data.rawfiles.read_raw` reads them) into a canonical dtype
and report every cell they cannot read; :func:`clean_strings` tidies identifiers and text.

Accepted values: ``1,234``, ``¥1,234.50`` / ``￥``, ``1.2万`` (×10 000), ``3亿``, ``3.2%``
(→ 0.032 where a percentage is allowed), empty / ``-`` / ``NA`` / ``null`` as missing (``inf``,
``NaN`` and numbers beyond the float range are refused, so are counts beyond 2**53); dates as
``2024-06-18``, ``2024/6/18``, ``2024.6.18``, ``20240618``, ``2024年6月18日``, unambiguous
``18/06/2024``, Excel serial numbers (``45461`` → 2024-06-18), with an optional time of day.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

__all__ = [
    "MISSING_TOKENS",
    "DATE_EXPECTED",
    "DATETIME_EXPECTED",
    "ID_EXPECTED_SCI",
    "is_missing",
    "drop_blank_records",
    "parse_numbers",
    "parse_dates",
    "parse_bools",
    "parse_strings",
    "clean_strings",
]


MISSING_TOKENS = frozenset(
    {"", "-", "--", "—", "——", "na", "n/a", "nan", "nat", "null", "none", "#n/a", "<na>"}
)
"""Cells read as missing (compared after stripping and lower-casing)."""

DATE_EXPECTED = "a date such as 2024-06-18, 2024/6/18, 20240618, 2024年6月18日 or an Excel date"
DATETIME_EXPECTED = "a date-time such as 2024-06-18 14:30:00 (or a date)"


_EXCEL_EPOCH = datetime(1899, 12, 30)


def drop_blank_records(frame: pd.DataFrame, rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """``frame`` (0-based index) and ``rows`` without the fully blank records (every cell
    missing; a row of dashes is data). Their row numbers are skipped, not reused."""
    blank = np.arange(len(frame))  # candidates: each column looks only at rows blank so far
    for c in frame.columns:
        if not len(blank):
            break
        s = frame[c].iloc[blank]
        blank = blank[is_missing(s).to_numpy() & ~_is_dash(s)]
    if len(blank) and len(frame.columns):
        keep = np.ones(len(frame), dtype=bool)
        keep[blank] = False
        frame, rows = frame.loc[keep], rows[keep]
    return frame.reset_index(drop=True), rows


def _as_text(s: pd.Series) -> pd.Series:
    """Raw cells as stripped text (NaN for None/NaN); numbers keep their natural spelling."""

    def one(v):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
            return np.nan
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    out = s.map(one).astype("str") if s.dtype == object or s.dtype.kind == "f" else s.astype("str")
    out = out.str.strip()
    # exports that protect long numbers from Excel write them as ="1234567890123"
    marked = out.str.startswith('="', na=False)
    if not marked.any():
        return out
    out = out.copy()
    out[marked] = out[marked].str.replace(r'^="(.*)"$', r"\1", regex=True)
    return out


_PLAIN_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"


def _to_float(text: pd.Series, missing: np.ndarray) -> np.ndarray:
    """``pd.to_numeric(text, errors="coerce")`` of the cells not ``missing``, as float64: Arrow
    casts the plain spellings (all of them at once when it can), pandas reads the others."""
    if not isinstance(text.dtype, pd.StringDtype) or len(text) < 64:
        return pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan, copy=True
        )
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(text.where(~missing).array)
    try:
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False).copy()
    except pa.ArrowInvalid:  # a cell Arrow does not read as a number: cast the plain ones
        pass
    plain = pc.fill_null(pc.match_substring_regex(arr, _PLAIN_NUMBER), False)
    values = pc.cast(pc.if_else(plain, arr, pa.scalar(None, arr.type)), pa.float64())
    values = values.to_numpy(zero_copy_only=False).copy()
    rest = ~plain.to_numpy(zero_copy_only=False) & ~missing
    if rest.any():
        values[rest] = pd.to_numeric(text[rest], errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
    return values


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
_MAX_EXACT = 2.0**53
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


def _plain_floats(s: pd.Series) -> np.ndarray | None:
    """float64 of an Arrow-backed text column when Arrow reads every cell as a finite number
    (missing cells null), else None. The common case of a big export, one cast."""
    if not isinstance(s.dtype, pd.StringDtype) or len(s) < 64:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        values = pc.cast(pa.array(s.array), pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
        return None
    return values.copy() if np.isfinite(values[~np.isnan(values)]).all() else None


def _text_numbers(
    s: pd.Series, what: str, *, integer: bool, percent_ok: bool
) -> tuple[np.ndarray, dict[int, str]]:
    """float64 values and {position: expected} of a column of text cells."""
    bad: dict[int, str] = {}
    text = _as_text(s)
    low = text.str.lower()
    missing = (text.isna() | low.isin(MISSING_TOKENS - {"nan"})).to_numpy()
    values = _to_float(text, missing)
    for i in np.flatnonzero(np.isinf(values)):  # 'inf', '-Infinity', '1e400''
        bad[i] = what + ", finite (got infinity or a number beyond the float range)"
    values[np.isinf(values)] = np.nan
    for i in np.flatnonzero(low.eq("nan").fillna(False).to_numpy(dtype=bool)):
        bad[i] = what + " (NaN is not a number; leave the cell empty when it is missing)"
    rest = np.isnan(values) & ~missing
    if rest.any():  # vectorised pass for the common '¥1,234.50' / '1,234'
        sub = text[rest]
        plain = sub.str.fullmatch(_MONEY, na=False)
        if plain.any():
            cleaned = sub[plain].str.replace(r"[¥￥$,]", "", regex=True)
            idx = np.flatnonzero(rest)[plain.to_numpy()]
            values[idx] = _to_float(cleaned, np.zeros(len(cleaned), dtype=bool))
    todo = np.flatnonzero(np.isnan(values) & ~missing)
    objs = s.to_numpy() if len(todo) else None
    seen: dict[str, tuple[float, bool] | None] = {}  # each distinct spelling parsed once
    for i in todo:
        if i in bad:
            continue
        v = objs[i]
        if isinstance(v, bool):
            bad[i] = what
            continue
        t = text.iat[i]
        parsed = seen[t] if t in seen else seen.setdefault(t, _parse_number_text(t))
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
        elif math.isinf(parsed[0]):
            bad[i] = what + ", finite (got a number beyond the float range)"
        else:
            values[i] = parsed[0]
    return values, bad


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
        for i in np.flatnonzero(np.isinf(values)):
            bad[i] = what + ", finite (inf is not a value)"
            values[i] = np.nan
    elif s.dtype.kind == "b" or str(s.dtype) == "boolean":
        values = np.full(len(s), np.nan)
        bad.update({i: what for i in np.flatnonzero(s.notna().to_numpy())})
        return pd.Series(values, index=s.index), bad
    else:
        fast = _plain_floats(s)
        if fast is not None:
            values = fast
        else:
            values, found = _text_numbers(s, what, integer=integer, percent_ok=percent_ok)
            bad.update(found)
    if integer:
        big = ~np.isnan(values) & (np.abs(values) > _MAX_EXACT)
        for i in np.flatnonzero(big):
            bad[i] = "an integer count below 2**53 (9,007,199,254,740,992), stored exactly"
            values[i] = np.nan
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


_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]"
)
_ODD_SPACE = re.compile("[\u00a0\u2000-\u200a\u202f\u205f\u3000]")
_SCI_ID = re.compile(r"^[-+]?\d(\.\d+)?e\+?\d+$", re.I)
_FLOAT_ID = re.compile(r"^(\d+)\.0+$")
ID_EXPECTED_SCI = (
    "an exact ID as text: {v} is how Excel shows a long number after rounding it to 15 digits; "
    "format the column as text (or export CSV) before saving"
)


def clean_strings(
    s: pd.Series, *, ident: bool = False
) -> tuple[pd.Series, dict[int, str], dict[int, str]]:
    """Text cells as :func:`parse_strings`, with invisible characters handled.

    NUL and control characters, zero-width characters and BOMs are removed; non-breaking and
    ideographic spaces become ordinary spaces (then stripped). ``ident`` columns (order ids,
    SKUs, customer ids) also lose Excel's text marker (``'3900…`` → ``3900…``) and a ``.0``
    added to a whole number (``123.0`` → ``123``); an id written in scientific notation
    (``1.0001E+17``) or read from Excel as a number beyond 2**53 is refused, because its digits
    are already lost. Returns (text, {position: what was changed}, {position: expected}).
    """
    text = parse_strings(s)
    changed: dict[int, str] = {}
    bad: dict[int, str] = {}
    raw = s.to_numpy() if s.dtype == object or s.dtype.kind == "f" else ()
    odd = text.str.contains(_INVISIBLE, na=False) | text.str.contains(_ODD_SPACE, na=False)
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        # stripping already removed odd spaces at the ends of a cell ('\u3000抖音'): report them too
        edges = s.astype("str").str.contains(
            f"^{_ODD_SPACE.pattern}|{_ODD_SPACE.pattern}$", na=False
        )
        for i in np.flatnonzero(edges.to_numpy() & text.notna().to_numpy()):
            changed[int(i)] = "invisible characters removed"
    if odd.any():
        fixed = text[odd].str.replace(_INVISIBLE, "", regex=True)
        fixed = fixed.str.replace(_ODD_SPACE, " ", regex=True).str.strip()
        for i in np.flatnonzero(odd.to_numpy()):
            changed[int(i)] = "invisible characters removed"
        text = text.copy()
        text[odd] = fixed.where(fixed != "")
    if ident:
        marked = text.str.startswith("'", na=False)
        if marked.any():
            text = text.copy()
            text[marked] = text[marked].str[1:]
        floaty = text.str.fullmatch(_FLOAT_ID, na=False)
        if floaty.any():
            text = text.copy()
            text[floaty] = text[floaty].str.replace(_FLOAT_ID, r"\1", regex=True)
        for i in np.flatnonzero(text.str.fullmatch(_SCI_ID, na=False).to_numpy()):
            bad[int(i)] = ID_EXPECTED_SCI.format(v=text.iat[i])
        for i, v in enumerate(raw):
            if isinstance(v, float) and not math.isnan(v) and abs(v) > _MAX_EXACT:
                bad[i] = (
                    "an exact ID as text: this id was stored in Excel as a number, which keeps "
                    "only 15 digits; format the column as text before exporting"
                )
    return text.astype("str"), changed, bad
