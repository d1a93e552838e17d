"""Reading raw files into raw cells, with each record's row number as numbered in the file.

:func:`read_raw` reads CSV / TXT (UTF-8, UTF-8 with BOM, GBK/GB18030, UTF-16), Excel (.xlsx,
.xlsm, .xls through python-calamine; an ".xls" that is really an HTML or text table, as some
platform back-ends write, is read as what it is) and Parquet into a frame of raw cells plus the
row number of each record *as numbered in the file* (CSV header = row 1; Excel = the sheet
row). A title or notes block above the header is skipped by finding the header row
(:func:`norm_header`, :func:`header_candidates`); merged header cells take their anchor's
value; 合计/总计/汇总 rows right under the header or at the end and 数据说明/数据来源/注 notes at
the end are skipped (and said so in ``notes``); fully blank lines are not records.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.data.cells import drop_blank_records, is_missing

__all__ = [
    "RawFile",
    "read_raw",
    "peek_rows",
    "CsvLayout",
    "plain_csv_layout",
    "BadLine",
    "decode_text",
    "norm_header",
    "header_candidates",
    "TEXT_SUFFIXES",
    "EXCEL_SUFFIXES",
    "SUFFIXES",
]


TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb")
SUFFIXES = TEXT_SUFFIXES + EXCEL_SUFFIXES + (".parquet", ".pq")


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
