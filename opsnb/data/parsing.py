"""Reading raw files and parsing cell values the way operations exports write them.

Used by :mod:`opsnb.data`; nothing here knows about pandera or DuckDB.

* :func:`read_raw` reads CSV / TXT (UTF-8, UTF-8 with BOM, GBK/GB18030, UTF-16), Excel (.xlsx,
  .xlsm, .xls through python-calamine; an ".xls" that is really an HTML or text table, as some
  platform back-ends write, is read as what it is) and Parquet into a frame of raw cells plus the
  row number of each record *as numbered in the file* (CSV header = row 1; Excel = the sheet
  row). A title or notes block above the header is skipped by finding the header row; merged
  header cells take their anchor's value; 合计/总计/汇总 rows right under the header or at the end
  and 数据说明/数据来源/注 notes at the end are skipped (and said so in ``notes``); fully blank
  lines are not records.
* :func:`parse_numbers`, :func:`parse_dates`, :func:`parse_bools`, :func:`parse_strings` turn
  one column of raw cells into a canonical dtype and report every cell they cannot read.

Accepted values: ``1,234``, ``¥1,234.50`` / ``￥``, ``1.2万`` (×10 000), ``3亿``, ``3.2%``
(→ 0.032 where a percentage is allowed), empty / ``-`` / ``NA`` / ``null`` as missing (``inf``,
``NaN`` and numbers beyond the float range are refused, so are counts beyond 2**53); dates as
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
    "peek_rows",
    "drop_blank_records",
    "CsvLayout",
    "plain_csv_layout",
    "BadLine",
    "decode_text",
    "norm_header",
    "is_missing",
    "parse_numbers",
    "parse_dates",
    "parse_bools",
    "parse_strings",
    "clean_strings",
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
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb")
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
    each record), ``encoding`` (text files), ``notes`` (what was skipped, for messages) and
    ``title`` (the text of the rows above the header: report name, shop, date range)."""

    frame: pd.DataFrame
    rows: np.ndarray
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)
    title: list[str] = field(default_factory=list)


def decode_text(raw: bytes) -> tuple[str, str]:
    """Decode bytes as UTF-16 (with a BOM, or NUL bytes in every other position), else UTF-8
    (BOM or not), else GB18030 (a superset of GBK/GB2312)."""
    head = raw[:2000]
    utf16 = None
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        utf16 = "utf-16"
    elif len(head) >= 4 and head[1::2].count(0) > 0.4 * len(head[1::2]):
        utf16 = "utf-16-le"
    elif len(head) >= 4 and head[0::2].count(0) > 0.4 * len(head[0::2]):
        utf16 = "utf-16-be"
    if utf16:
        try:
            return raw.decode(utf16).lstrip("\ufeff"), "utf-16"
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"the file looks like UTF-16 but byte {exc.start} is not; save it as UTF-8 CSV"
            ) from None
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"cannot decode the file as UTF-8, UTF-16 or GBK/GB18030 (byte {exc.start}); "
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


_TOTAL = re.compile(r"^(合计|总计|汇总|小计|总和|全部|全店|total|sum|grandtotal)[:：]?$", re.I)
_NOTE = re.compile(
    r"^(数据说明|数据来源|数据更新|说明|备注|注[:：释]|注意|温馨提示|提示|免责|统计口径|\*|※|#)"
)


def _first_cell(cells: list) -> str:
    for c in cells:
        if c is not None and str(c).strip():
            return unicodedata.normalize("NFKC", str(c)).strip().replace(" ", "")
    return ""


def _extra_rows(rows: list[list], header: int) -> tuple[list[int], list[str]]:
    """Indexes of total / note rows (right under the header, or a block at the end) and notes."""
    drop: list[int] = []
    first = next((i for i in range(header + 1, len(rows)) if _first_cell(rows[i])), None)
    if first is not None and _TOTAL.match(_first_cell(rows[first])):
        drop.append(first)
    tail: list[int] = []
    for i in range(len(rows) - 1, header, -1):
        cell = _first_cell(rows[i])
        if not cell:
            continue
        if _TOTAL.match(cell) or _NOTE.match(cell):
            tail.append(i)
        else:
            break
    drop += [i for i in sorted(tail) if i not in drop]
    notes = []
    for i in drop:
        what = "a total row" if _TOTAL.match(_first_cell(rows[i])) else "a note"
        notes.append(f"skipped {what} ({_first_cell(rows[i])[:20]}…) at row {i + 1}")
    return drop, notes


def _sniff_sep(line: str, suffix: str) -> str | None:
    if suffix == ".tsv":
        return "\t"
    counts = {sep: line.count(sep) for sep in (",", "\t", ";", "|")}
    sep, n = max(counts.items(), key=lambda kv: kv[1])
    if n > 0:
        return sep
    return None if suffix == ".txt" else ","  # None: split on runs of whitespace


def _split(lines: list[str], sep: str | None) -> list[list[str]]:
    if sep is None:
        return [ln.split() for ln in lines]
    return [next(csv.reader([ln], delimiter=sep), []) for ln in lines]


def _read_text(path: Path, known: dict[str, str], text: str | None = None) -> RawFile:
    encoding = None
    if text is None:
        text, encoding = decode_text(path.read_bytes())
    lines = re.split(r"\r\n|\n|\r", text)
    if not any(line.strip() for line in lines):
        return RawFile(pd.DataFrame(), np.array([], dtype=int), encoding)
    head_lines = lines[:15]
    suffix = ".txt" if path.suffix.lower() == ".xls" else path.suffix.lower()
    data_line = max(head_lines, key=lambda ln: max(ln.count(c) for c in ",\t;|"))
    sep = _sniff_sep(data_line, suffix)
    head_rows = _split(head_lines, sep)
    h = _find_header(head_rows, known)
    # totals and notes: the line under the header and a block at the end (scanned from the end)
    tail_start = len(lines)
    while tail_start > h + 1:
        line = lines[tail_start - 1]
        if line.strip():
            cell = _first_cell(_split([line], sep)[0])
            if cell and not (_TOTAL.match(cell) or _NOTE.match(cell)):
                break
        tail_start -= 1
    probe = {i: lines[i] for i in range(h, min(h + 3, len(lines)))}
    probe.update({i: lines[i] for i in range(tail_start, len(lines))})
    order = sorted(probe)
    cells = _split([probe[i] for i in order], sep)
    sparse: list[list] = [[] for _ in range(len(lines))]
    for i, c in zip(order, cells):
        sparse[i] = c
    drop, notes = _extra_rows(sparse, h)
    if drop:
        lines = list(lines)
        for i in drop:
            lines[i] = ""
        text = "\n".join(lines)
    kwargs = dict(header=0, skiprows=h, dtype=str, keep_default_na=False, skip_blank_lines=False)
    # memory: the split lines and the decoded text go before pandas builds the cells (a str
    # with one CJK character takes 2 bytes per character, a StringIO copy of it 4)
    del lines, sparse, probe
    buf = io.BytesIO(text.encode("utf-8"))
    del text
    try:
        if sep is None:
            frame = pd.read_csv(buf, sep=r"\s+", engine="python", encoding="utf-8", **kwargs)
        else:
            frame = pd.read_csv(buf, sep=sep, encoding="utf-8", **kwargs)
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            raise _BadLine(int(m.group(2)), int(m.group(1)), int(m.group(3))) from None
        raise
    rows = np.arange(h + 2, h + 2 + len(frame))
    notes = ([f"skipped {h} line(s) above the header"] if h else []) + notes
    title = [" ".join(c for c in r if c and c.strip()) for r in head_rows[:h]]
    return RawFile(frame, rows, encoding, notes, [t for t in title if t])


class _BadLine(Exception):
    def __init__(self, line: int, expected: int, got: int):
        self.line, self.expected, self.got = line, expected, got
        super().__init__(f"line {line}: expected {expected} fields, saw {got}")


BadLine = _BadLine
"""Raised by :func:`read_raw` for a text line with more fields than the header."""


def _cell(v: object) -> object:
    """Excel stores every number as a double: whole ones (below 2**53, exact) become ints."""
    if v == "":
        return None
    if isinstance(v, float) and v.is_integer() and abs(v) <= 2.0**53:
        return int(v)
    return v


_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_HAS_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _uncached_formulas(path: Path, sheet: str, limit: int = 5) -> tuple[list[str], int]:
    """Cells of ``sheet`` (an .xlsx / .xlsm) holding a formula but no saved value, as
    ``("C3 (=C2*2)", ...)`` (at most ``limit``) and their count.

    python-calamine reads the value Excel saved with each formula; a file written by a program
    that does not calculate (openpyxl, some exporters) saves none, and the cell would silently
    read as empty. A formula whose saved result is an empty string (``t="str"``) is a value.
    """
    import posixpath
    import zipfile
    from xml.etree import ElementTree as ET

    try:
        with zipfile.ZipFile(path) as z:
            wb = ET.fromstring(z.read("xl/workbook.xml"))
            rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
            targets = {r.get("Id"): r.get("Target") for r in rels}
            rid = next(
                (
                    s.get(f"{_REL_NS}id")
                    for s in wb.iter(f"{_MAIN_NS}sheet")
                    if s.get("name") == sheet
                ),
                None,
            )
            target = targets.get(rid)
            if not target:
                return [], 0
            part = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
            part = posixpath.normpath(part)
            with z.open(part) as fh:
                if not any(
                    _HAS_FORMULA.search(chunk) for chunk in iter(lambda: fh.read(1 << 20), b"")
                ):
                    return [], 0
            found, n = [], 0
            with z.open(part) as fh:
                for _, el in ET.iterparse(fh):
                    if el.tag != f"{_MAIN_NS}c":
                        continue
                    f, v = el.find(f"{_MAIN_NS}f"), el.find(f"{_MAIN_NS}v")
                    if f is not None and (v is None or not v.text) and el.get("t") != "str":
                        n += 1
                        if len(found) < limit:
                            found.append(f"{el.get('r')} (={f.text or ''})")
                    el.clear()
            return found, n
    except (KeyError, zipfile.BadZipFile, ET.ParseError):
        return [], 0  # not an OOXML package calamine read: nothing more to say


def _sheet_rows(path: Path, sheet: str | int | None, names: tuple[str, ...]) -> list[list]:
    """Cell values of one sheet (python-calamine: .xlsx, .xlsm, .xls, .xlsb); merged cells
    (周期 spanning several tasks, a header group over several columns) take the anchor's value."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        raise ValueError(
            f"{path.name}: cannot read this workbook ({type(exc).__name__}: {exc}); "
            "open it in Excel or WPS and save it again as .xlsx, or export CSV"
        ) from None
    sheetnames = list(wb.sheet_names)
    if sheet is None:
        norm = {norm_header(n) for n in names}
        name = next((n for n in sheetnames if norm_header(n) in norm), sheetnames[0])
    elif isinstance(sheet, int) or (
        isinstance(sheet, str) and sheet.isdigit() and sheet not in sheetnames
    ):
        idx = int(sheet)
        if not 0 <= idx < len(sheetnames):
            raise ValueError(f"sheet index {idx} out of range; sheets: {sheetnames}")
        name = sheetnames[idx]
    elif sheet in sheetnames:
        name = sheet
    else:
        raise ValueError(f"no sheet {sheet!r} in {path.name}; sheets: {sheetnames}")
    ws = wb.get_sheet_by_name(name)
    rows = [[_cell(v) for v in r] for r in ws.to_python(skip_empty_area=False)]
    if path.suffix.lower() in (".xlsx", ".xlsm") and any(v is None for r in rows for v in r):
        cells, n = _uncached_formulas(path, name)
        if n:
            more = f" and {n - len(cells)} more" if n > len(cells) else ""
            raise ValueError(
                f"{path.name}, sheet {name!r}: {n} formula cell(s) without a saved value: "
                f"{', '.join(cells)}{more}; they would read as empty. The file was written by "
                "a program that does not calculate formulas: open it in Excel or WPS, let it "
                "calculate and save it again (or export CSV)"
            )
    for (a, b), (c, d) in ws.merged_cell_ranges or []:
        if a < len(rows) and b < len(rows[a]):
            value = rows[a][b]
            for r in range(a, min(c, len(rows) - 1) + 1):
                for col in range(b, min(d, len(rows[r]) - 1) + 1):
                    rows[r][col] = value
    return rows


def _html_rows(text: str) -> list[list]:
    """Rows of the first table of an HTML page (the '.xls' some back-ends send)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    table = soup.find("table")
    out: list[list] = []
    for tr in (table or soup).find_all("tr"):
        row: list = []
        for cell in tr.find_all(["td", "th"]):
            value = cell.get_text(" ", strip=True)
            row += [value] * int(cell.get("colspan", 1) or 1)
        out.append(row)
    return out


def _frame_of_rows(rows: list[list], known: dict[str, str], encoding=None) -> RawFile:
    if not rows:
        return RawFile(pd.DataFrame(), np.array([], dtype=int), encoding)
    h = _find_header(rows, known)
    drop, extra_notes = _extra_rows(rows, h)
    header = rows[h]
    width = max(len(r) for r in rows)
    header = list(header) + [None] * (width - len(header))
    idx = [i for i in range(h + 1, len(rows)) if i not in set(drop)]
    body = [list(rows[i]) + [None] * (width - len(rows[i])) for i in idx]
    names_ = [("" if v is None else str(v).strip()) for v in header]
    frame = pd.DataFrame(body, columns=range(width), dtype=object)
    frame.columns = names_
    notes = ([f"skipped {h} row(s) above the header"] if h else []) + extra_notes
    title = [" ".join(str(c) for c in r if c is not None and str(c).strip()) for r in rows[:h]]
    rownums = np.asarray([i + 1 for i in idx], dtype=int)
    return RawFile(frame, rownums, encoding, notes, [t for t in title if t])


def _read_excel(path: Path, known: dict[str, str], sheet, names) -> RawFile:
    if path.suffix.lower() == ".xls":
        head = path.read_bytes()[:8]
        if head != b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":  # not an OLE2 workbook: text or HTML
            text, encoding = decode_text(path.read_bytes())
            if text.lstrip()[:1] == "<":
                return _frame_of_rows(_html_rows(text), known, encoding)
            return _read_text(path, known, text)
    return _frame_of_rows(_sheet_rows(path, sheet, names), known)


def peek_rows(path: Path, n: int = 15) -> list[list[str]]:
    """The first ``n`` rows of a file as text cells (to recognise an export by its headers)."""
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        raw = path.read_bytes()
        if suffix == ".xls" and raw[:8] != b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            text, _ = decode_text(raw)
            if text.lstrip()[:1] == "<":
                rows = _html_rows(text)[:n]
                return [["" if c is None else str(c) for c in r] for r in rows]
        else:
            rows = _sheet_rows(path, None, ())[:n]
            return [["" if c is None else str(c) for c in r] for r in rows]
    elif suffix in (".parquet", ".pq"):
        return [[str(c) for c in pd.read_parquet(path).columns]]
    else:
        text, _ = decode_text(path.read_bytes())
    lines = re.split(r"\r\n|\n|\r", text)[:n]
    sep = _sniff_sep(max(lines, key=lambda ln: max(ln.count(c) for c in ",\t;|")), ".csv")
    return _split(lines, sep)


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
    else:
        raise ValueError(
            f"{path.name}: unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)}"
        )
    frame = raw.frame
    if len(frame.columns):
        keep_cols = [c for c in frame.columns if str(c).strip() or not is_missing(frame[c]).all()]
        frame, raw.rows = drop_blank_records(frame, raw.rows)
        raw.frame = frame[keep_cols]
    return raw


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


@dataclass(frozen=True)
class CsvLayout:
    """A plain delimited text file: UTF-8 (a BOM allowed), the header on line 1, no title,
    total or note rows; ``sep`` is its separator and ``header`` its header cells."""

    sep: str
    header: tuple[str, ...]


def plain_csv_layout(path: Path, known: dict[str, str], probe: int = 1 << 16) -> CsvLayout | None:
    """The layout of ``path`` when it is a plain delimited text file that can be read record by
    record (see :class:`CsvLayout`), else None (the whole-file reader of :func:`read_raw` then
    handles title rows, totals, GBK, UTF-16 or whitespace-separated text).

    Only the first and last ``probe`` bytes are read. Cells that turn out later not to be
    UTF-8, or a record that does not fit the header, are for the reader to notice."""
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        return None
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(probe)
        f.seek(max(0, size - probe))
        tail = f.read(probe)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head:
        return None
    cut = head if size <= probe else head[: head.rfind(b"\n") + 1]
    try:
        text = cut.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    lines = re.split(r"\r\n|\n|\r", text)
    head_lines = [ln for ln in lines[:15]]
    if len(head_lines) < 2 or not head_lines[0].strip():
        return None
    data_line = max(head_lines, key=lambda ln: max(ln.count(c) for c in ",\t;|"))
    sep = _sniff_sep(data_line, suffix)
    if sep is None:
        return None
    head_rows = _split(head_lines, sep)
    if _find_header(head_rows, known) != 0:
        return None
    header = head_rows[0]
    if len(header) < 2 or any(not h.strip() for h in header) or len(set(header)) != len(header):
        return None
    first = next((r for r in head_rows[1:] if _first_cell(r)), None)
    if first is not None and _TOTAL.match(_first_cell(first)):
        return None
    tail_text = tail.decode("utf-8", "ignore")
    tail_lines = [ln for ln in re.split(r"\r\n|\n|\r", tail_text)[1:] if ln.strip()]
    if tail_lines:
        cell = _first_cell(_split([tail_lines[-1]], sep)[0])
        if _TOTAL.match(cell) or _NOTE.match(cell):
            return None
    return CsvLayout(sep, tuple(header))


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
