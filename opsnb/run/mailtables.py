"""Report tables made to fit a mail: long tables cut to their first rows, wide ones split.

Gmail clips a mail whose HTML is over about 102 kB, and a mail window is about 800 px wide
with no CSS media queries to turn rows into cards. So the email-safe copy of a report
(:func:`opsnb.run.mailhtml.email_safe_html`) rewrites its tables with :func:`fit_tables`:

* a table of more than ``max_rows`` rows keeps its first ``max_rows`` and says so under it
  ("showing the first 10 of 31 rows; the full table is in the attached Excel"); the whole
  table goes into that workbook (:func:`tables_workbook`, one sheet per cut table, the cells
  as the report shows them, formula-safe through :mod:`opsnb.sheets`);
* a table of more than ``max_cols`` columns becomes several tables side by side in reading
  order, each repeating the leading label columns (channel, date …) so every part reads on
  its own: 17 columns of 表3 become three tables of at most 8.

Examples
--------
>>> from bs4 import BeautifulSoup
>>> rows = "".join(f"<tr><td>渠道{i}</td><td>{i}</td></tr>" for i in range(12))
>>> soup = BeautifulSoup(f"<table><thead><tr><th>渠道</th><th>访客数</th></tr></thead>"
...                      f"<tbody>{rows}</tbody></table>", "html.parser")
>>> cut = fit_tables(soup, max_rows=10, lang="zh", workbook_name="r-tables.xlsx")
>>> len(soup.find_all("tr")), cut[0].sheet, len(cut[0].rows)
(11, '表1', 12)
"""

from __future__ import annotations

import copy
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MAIL_MAX_ROWS", "MAIL_MAX_COLS", "MailTable", "fit_tables", "tables_workbook"]

MAIL_MAX_ROWS = 10
"""Rows of a table shown in a mail; the rest are in the attached workbook."""
MAIL_MAX_COLS = 8
"""Columns of one table in a mail (about 90 px each in an 800 px mail window)."""
MAX_KEY_COLS = 2
"""Leading label columns repeated in every part of a split table."""

_NUMBER = re.compile(
    r"^[−+-]?[¥$€£]?\s*[\d,]*\.?\d+\s*(%|‰|万|亿|k|m|bn|×|x|pp|百分点|天|days?)?$", re.I
)
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class MailTable:
    """A table that was cut for the mail, in full: ``sheet`` (its sheet name in the
    workbook), ``header`` (column labels) and ``rows`` (every row's cell texts)."""

    sheet: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _text(cell) -> str:
    return re.sub(r"\s+", " ", cell.get_text(" ")).strip() if cell is not None else ""


def _own_rows(table) -> list:
    return [tr for tr in table.find_all("tr") if tr.find_parent("table") is table]


def _spans(table) -> bool:
    return any(
        str(c.get(a, "1")).strip() not in ("", "1")
        for c in table.find_all(["td", "th"])
        for a in ("colspan", "rowspan")
    )


def _split_head(table) -> tuple[list, list]:
    rows = _own_rows(table)
    head = [tr for tr in rows if tr.parent.name == "thead"]
    if not head and rows and not rows[0].find("td", recursive=False):
        head = rows[:1]
    return head, [tr for tr in rows if tr not in head]


def _cells(tr) -> list:
    return tr.find_all(["td", "th"], recursive=False)


def _sheet_name(table, n: int, lang: str, used: set[str]) -> str:
    cap = table.find("caption")
    name = _text(cap)
    if not name:
        prev = table.find_previous(["h2", "h3", "h4"])
        name = _text(prev).rstrip("¶").strip() if prev else ""
    name = _SHEET_BAD.sub(" ", name).strip() or (f"表{n}" if lang == "zh" else f"Table {n}")
    name = name[:31]
    base, k = name, 2
    while name.lower() in used:
        suffix = f" ({k})"
        name, k = base[: 31 - len(suffix)] + suffix, k + 1
    used.add(name.lower())
    return name


def _note(soup, shown: int, total: int, workbook: str, sheet: str, lang: str):
    p = soup.new_tag("p", attrs={"class": "opsnb-mail-cut"})
    p["style"] = "font-size:12px;color:#52606d;margin:-8px 0 16px"
    if lang == "zh":
        p.string = f"仅显示前 {shown} 行（共 {total} 行），完整表格见附件 {workbook}（工作表「{sheet}」）。"
    else:
        p.string = (
            f"Showing the first {shown} of {total} rows; the full table is in the attached "
            f"{workbook} (sheet “{sheet}”)."
        )
    return p


def _key_cols(body_rows, n_cols: int, max_cols: int) -> int:
    """How many leading columns are labels (mostly text, not numbers): repeated in each part."""
    k = 0
    while k < min(MAX_KEY_COLS, max_cols - 2, n_cols - 1):
        texts = [_text(_cells(tr)[k]) for tr in body_rows if len(_cells(tr)) > k]
        texts = [t for t in texts if t not in ("", "—", "-")]
        if not texts or sum(bool(_NUMBER.match(t)) for t in texts) > len(texts) / 2:
            break
        k += 1
    return max(k, 1)


def _split_columns(soup, table, max_cols: int) -> list:
    """``table`` as parts of at most ``max_cols`` columns (it must have no spans)."""
    head, body = _split_head(table)
    n_cols = max((len(_cells(tr)) for tr in head + body), default=0)
    if n_cols <= max_cols:
        return [table]
    k = _key_cols(body, n_cols, max_cols)
    others = list(range(k, n_cols))
    n_parts = math.ceil(len(others) / (max_cols - k))
    size = math.ceil(len(others) / n_parts)
    parts = []
    caption = _text(table.find("caption"))
    for i in range(n_parts):
        keep = set(range(k)) | set(others[i * size : (i + 1) * size])
        part = copy.copy(table)
        if i and part.get("id"):
            del part["id"]
        for tr in _own_rows(part):
            for j, cell in enumerate(_cells(tr)):
                if j not in keep:
                    cell.decompose()
        cap = part.find("caption")
        if cap is not None and caption:
            cap.string = f"{caption} ({i + 1}/{n_parts})"
        parts.append(part)
    return parts


def fit_tables(
    soup,
    *,
    lang: str = "zh",
    max_rows: int | None = MAIL_MAX_ROWS,
    max_cols: int | None = MAIL_MAX_COLS,
    workbook_name: str = "tables.xlsx",
) -> list[MailTable]:
    """Cut long and split wide tables of ``soup`` (a BeautifulSoup document) in place.

    Returns the tables that lost rows, in full, for :func:`tables_workbook`; their note
    names ``workbook_name``. ``None`` for ``max_rows`` / ``max_cols`` keeps every row /
    column. Tables in the page footer and nested tables are left as they are.
    """
    cut: list[MailTable] = []
    used: set[str] = set()
    tables = [
        t
        for t in soup.find_all("table")
        if t.find_parent("footer") is None and t.find_parent("table") is None
    ]
    for table in tables:
        head, body = _split_head(table)
        note = None
        if max_rows is not None and len(body) > max_rows:
            sheet = _sheet_name(table, len(cut) + 1, lang, used)
            header = tuple(_text(c) for c in _cells(head[-1])) if head else ()
            rows = tuple(tuple(_text(c) for c in _cells(tr)) for tr in body)
            cut.append(MailTable(sheet=sheet, header=header, rows=rows))
            for tr in body[max_rows:]:
                tr.decompose()
            note = _note(soup, max_rows, len(body), workbook_name, sheet, lang)
        parts = (
            _split_columns(soup, table, max_cols)
            if max_cols is not None and not _spans(table)
            else [table]
        )
        anchor = table
        for part in parts:
            if part is not table:
                anchor.insert_after(part)
                anchor = part
        if parts[0] is not table:
            table.decompose()
        if note is not None:
            anchor.insert_after(note)
    return cut


def tables_workbook(tables: Sequence[MailTable]) -> bytes:
    """An ``.xlsx`` with one sheet per table (header row frozen, columns sized to the text),
    every cell written as text that cannot turn into a formula."""
    import pandas as pd
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    from opsnb.sheets import write_frame

    wb = Workbook()
    wb.remove(wb.active)
    for t in tables:
        ws = wb.create_sheet(t.sheet)
        width = max([len(t.header), *(len(r) for r in t.rows)], default=0)
        header = list(t.header) + [""] * (width - len(t.header))
        frame = pd.DataFrame([list(r) + [""] * (width - len(r)) for r in t.rows])
        write_frame(ws, frame, header=header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="EEF2F7")
        ws.freeze_panes = "A2"
        for j in range(width):
            longest = max(
                (_display_width(str(r[j])) for r in [header, *t.rows] if j < len(r)), default=8
            )
            ws.column_dimensions[ws.cell(row=1, column=j + 1).column_letter].width = min(
                60, max(8, longest + 2)
            )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _display_width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
