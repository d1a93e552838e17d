"""Spreadsheet cells that stay data: the OWASP CSV-injection rule, in one place.

A store cell such as ``=HYPERLINK("http://x","y")``, ``=cmd|' /C calc'!A0`` or ``@SUM(1+1)``
(a channel name, a plan owner, a task) must reach a workbook or a CSV as the text it is, never
as a formula that Excel or WPS evaluates when the file is opened or the cell edited. Every
writer of a sheet fed by data goes through this module:

* :func:`safe_cell` — for CSV: a string starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets
  a leading apostrophe (OWASP's rule; spreadsheets show it as text).
* :func:`safe_frame` — :func:`safe_cell` over every text cell and column name of a frame.
* :func:`write_frame` — rows of a frame into an openpyxl worksheet, such strings written as
  text cells with Excel's *quote prefix* (the invisible apostrophe a user types): the sheet
  shows ``=HYPERLINK(...)`` and never evaluates it.
* :func:`protect_book` / :func:`protect_xlsx` — the same for a workbook written by someone else
  (``DataFrame.to_excel``, ``pd.ExcelWriter``): any formula or risky text cell becomes quoted
  text. opsnb writes no formulas of its own, so every formula found came from data.

Examples
--------
>>> safe_cell("=1+1"), safe_cell("抖音"), safe_cell(-3)
("'=1+1", '抖音', -3)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "FORMULA_PREFIXES",
    "is_risky",
    "safe_cell",
    "safe_frame",
    "write_frame",
    "protect_book",
    "protect_xlsx",
]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection)."""


def is_risky(value: Any) -> bool:
    """True for a string a spreadsheet could evaluate (it starts with a formula prefix)."""
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def safe_cell(value: Any) -> Any:
    """``value`` for a CSV cell: risky strings get a leading apostrophe, the rest is unchanged."""
    return "'" + value if is_risky(value) else value


def safe_frame(df):
    """A copy of ``df`` with :func:`safe_cell` applied to every text cell and column name
    (numbers, dates and NaN are left as they are, so ``-3`` stays a number)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or str(s.dtype) in ("string", "str", "category"):
            if str(s.dtype) == "category":
                s = s.astype(object)
            out[col] = s.map(safe_cell)
    out.columns = [safe_cell(c) for c in out.columns]
    return out


def _quote(cell, text: str) -> None:
    cell.value = text
    cell.data_type = "s"  # openpyxl made '=...' a formula: store it as a string
    cell.quotePrefix = True


def write_frame(ws, df, *, header: list | None = None, convert=None) -> None:
    """Append ``df`` to the openpyxl worksheet ``ws``: an optional header row, then the rows.

    ``convert`` maps each value before writing (e.g. Timestamps to dates). Risky strings are
    written as quoted text (see the module docstring), everything else as openpyxl would."""
    if header is not None:
        ws.append(list(header))
        for cell in ws[ws.max_row]:
            if is_risky(cell.value):
                _quote(cell, cell.value)
    for row in df.itertuples(index=False):
        values = [convert(v) for v in row] if convert else list(row)
        ws.append(values)
        r = ws.max_row
        for j, v in enumerate(values, start=1):
            if is_risky(v):
                _quote(ws.cell(row=r, column=j), v)


def protect_book(wb) -> int:
    """Turn every formula and risky text cell of the openpyxl workbook ``wb`` into quoted
    text; returns how many cells were changed."""
    n = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                v = cell.value
                if cell.data_type == "f" or is_risky(v):
                    if not isinstance(v, str):  # ArrayFormula and the like
                        v = str(getattr(v, "text", v))
                    if not cell.quotePrefix or cell.data_type != "s":
                        _quote(cell, v)
                        n += 1
    return n


def protect_xlsx(path: str | Path) -> Path:
    """:func:`protect_book` on a saved ``.xlsx`` (rewritten in place when anything changed)."""
    from openpyxl import load_workbook

    path = Path(path)
    wb = load_workbook(path)
    if protect_book(wb):
        wb.save(path)
    return path
