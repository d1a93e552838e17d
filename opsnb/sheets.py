"""Spreadsheets opsnb writes: cells that stay data (the OWASP CSV-injection rule) and one look.

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

One look for every workbook the kit writes (表1/表2, 表3, the retrospective, the 补货建议表,
CLI exports): :func:`write_sheet` writes a frame through :func:`write_frame` and
:func:`style_sheet` gives it a bold white-on-blue header, a frozen header row, a filter, number
formats (:data:`MONEY` ``¥#,##0``, :data:`RATE` ``0.0%``, :data:`COUNT` ``#,##0``,
:data:`DATE` ``yyyy-mm-dd``; chosen per column by :func:`column_format`), status, risk and
severity cells coloured (:data:`VALUE_FILLS`), optional row fills (anomalies, alerts) and
column widths fitted to the content (CJK counted double). Numbers are written as numbers
(``-3`` stays a number; only text is ever quoted), missing values as empty cells.
:func:`save_book` writes a workbook whole, then renames it, so readers never see half a file;
:func:`write_book` does both for a workbook of plain frames (CLI exports, demo files).

Examples
--------
>>> safe_cell("=1+1"), safe_cell("抖音"), safe_cell(-3)
("'=1+1", '抖音', -3)
>>> column_format("gmv"), column_format("fill_rate"), column_format("wow")
('¥#,##0', '0.0%', '+0.0%;-0.0%;0.0%')
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opsnb.i18n import PLAN_STATUS_LABELS, RISK_LABELS, SEVERITY_LABELS, Labels
from opsnb.plots import RISK_COLORS, STATUS_COLORS

__all__ = [
    "FORMULA_PREFIXES",
    "is_risky",
    "safe_cell",
    "safe_frame",
    "write_frame",
    "protect_book",
    "protect_xlsx",
    "HEADER_FILL",
    "MONEY",
    "MONEY_CENTS",
    "RATE",
    "SMALL_RATE",
    "CHANGE",
    "COUNT",
    "DECIMAL",
    "DATE",
    "DATETIME",
    "MONEY_COLUMNS",
    "RATE_COLUMNS",
    "CHANGE_COLUMNS",
    "STATUS_COLUMNS",
    "VALUE_FILLS",
    "display_width",
    "cell_value",
    "column_format",
    "style_sheet",
    "write_sheet",
    "save_book",
    "write_book",
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


# ------------------------------------------------------------------------------------------
# one look for every workbook: header, formats, fills, widths, frozen header
# ------------------------------------------------------------------------------------------

HEADER_FILL = "2F6FB7"
"""Header row fill (white bold text on the kit's blue)."""
MONEY = "¥#,##0"
MONEY_CENTS = "¥#,##0.00"
RATE = "0.0%"
SMALL_RATE = "0.00%"
"""Rates of a few percent (conversion, refund), where one decimal hides the change."""
CHANGE = "+0.0%;-0.0%;0.0%"
"""Signed relative change (环比, 同比, lift)."""
COUNT = "#,##0"
DECIMAL = "#,##0.0"
DATE = "yyyy-mm-dd"
DATETIME = "yyyy-mm-dd hh:mm"

MONEY_COLUMNS = frozenset(
    {
        "gmv",
        "aov",
        "budget",
        "open_budget",
        "ad_spend",
        "refund_amount",
        "revenue",
        "cost",
        "incremental_gmv",
        "mtd_gmv",
        "month_target",
        "order_value",
        "gmv_at_risk",
        "gmv_at_risk_channels",
        "money_tied_up",
        "excess_value",
        "base_gmv",
        "target_gmv",
        "actual_gmv",
        "expected_gmv",
    }
)
"""Column names (of opsnb's tables) holding yuan: written as :data:`MONEY`."""
RATE_COLUMNS = frozenset(
    {
        "achievement",
        "time_progress",
        "share",
        "fill_rate",
        "cycle_service_level",
        "on_time_rate",
        "completion_rate",
    }
)
"""Column names holding a fraction shown as a percentage (also every ``*_rate`` column)."""
CHANGE_COLUMNS = frozenset({"dod", "wow", "yoy", "gmv_dod", "gmv_wow", "gmv_yoy", "lift_pct"})
"""Column names holding a signed relative change: written as :data:`CHANGE`."""
STATUS_COLUMNS = ("status", "risk", "severity", "flag", "level")
"""Columns whose cells are coloured by their label (:data:`VALUE_FILLS`) unless told otherwise."""

_FLAG_COLORS = {"已逾期": "#E4572E", "overdue": "#E4572E", "有延误风险": "#F3C969"}
_FLAG_COLORS["slipping"] = "#F3C969"


def _value_fills() -> dict[str, str]:
    fills: dict[str, str] = {}
    for labels, colors in ((PLAN_STATUS_LABELS, STATUS_COLORS), (RISK_LABELS, RISK_COLORS)):
        for key, pair in labels.items():
            for text in pair:
                fills[text] = colors[key]
    for code, pair in SEVERITY_LABELS.items():
        color = RISK_COLORS[pair[0]]  # 高 / 中 / 低: the risk colours
        for text in (code, *pair, code.capitalize()):
            fills[text] = color
    fills.update(_FLAG_COLORS)
    return {k: v.lstrip("#").upper() for k, v in fills.items()}


VALUE_FILLS: dict[str, str] = _value_fills()
"""Cell fill (hex RGB) per displayed label, both languages: plan statuses 未开始/进行中/已完成/延期
(:data:`opsnb.plots.STATUS_COLORS`), risk 无/低/中/高 (:data:`opsnb.plots.RISK_COLORS`),
severity high/medium/low 高/中/低 (the risk colours) and the plan flags 已逾期/有延误风险."""


def display_width(value: Any) -> int:
    """Characters a cell shows, CJK (and full-width) characters counted two."""
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def cell_value(value: Any, lang: str = "zh") -> Any:
    """``value`` as openpyxl should store it: numpy scalars as Python numbers, NaN / inf / NA /
    NaT as an empty cell, Timestamps as dates (datetimes when they carry a time, time zone
    dropped), booleans as 是/否 (yes/no); strings and numbers otherwise unchanged."""
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return Labels(lang)("是", "yes") if value else Labels(lang)("否", "no")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is not None:
            value = value.tz_localize(None)
        return value.to_pydatetime().date() if value == value.normalize() else value.to_pydatetime()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


def column_format(name: Any, dtype=None) -> str | None:
    """The number format of a column of an opsnb table, from its name (money, rates,
    changes: :data:`MONEY_COLUMNS`, :data:`RATE_COLUMNS`, ``*_rate``, :data:`CHANGE_COLUMNS`)
    or else its dtype (integers :data:`COUNT`, floats :data:`DECIMAL`, datetimes
    :data:`DATE`); None for text."""
    n = str(name)
    if n in MONEY_COLUMNS:
        return MONEY
    if n in ("conversion_rate", "refund_rate"):
        return SMALL_RATE
    if n in RATE_COLUMNS or n.endswith("_rate"):
        return RATE
    if n in CHANGE_COLUMNS:
        return CHANGE
    if dtype is None:
        return None
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_integer_dtype(dtype):
        return COUNT
    if pd.api.types.is_float_dtype(dtype):
        return DECIMAL
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return DATE
    return None


def _shown(value: Any, fmt: str | None) -> str:
    """Roughly the text Excel shows for ``value`` in ``fmt`` (for column widths)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, dt.datetime) and fmt != DATE:
            return "2025-01-01 00:00"
        if isinstance(value, (dt.date, dt.datetime)):
            return "2025-01-01"
        return "" if value is None else str(value)
    if fmt and "%" in fmt:
        return f"{value * 100:+.2f}%"
    decimals = 2 if fmt and fmt.endswith(".00") else 1 if fmt and fmt.endswith(".0") else 0
    if not fmt or fmt == "General":
        return str(value)
    return ("¥" if "¥" in fmt else "") + f"{value:,.{decimals}f}"


def style_sheet(
    ws,
    *,
    formats: Mapping[int, str | Sequence[str | None] | None] | None = None,
    fills: Mapping[int, Mapping[str, str]] | None = None,
    row_fills: Sequence[str | None] | None = None,
    freeze: str = "A2",
    wrap: Sequence[int] = (),
    max_width: int = 60,
) -> None:
    """Give the worksheet ``ws`` (header in row 1, data below) the kit's look.

    ``formats`` maps a column number (1-based) to a number format, or to one format per data
    row (a column mixing money and rates); number and date cells of other columns get
    :data:`COUNT` / :data:`DECIMAL` / :data:`DATE` by their type. ``fills`` maps a column
    number to {label: hex colour} for its cells; ``row_fills`` gives one colour (or None) per
    data row. Header bold white on :data:`HEADER_FILL`, ``freeze`` (default the header row),
    a filter, ``wrap`` columns wrapped, widths fitted to header and content (CJK counted
    double, between 8 and ``max_width``)."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    formats, fills = dict(formats or {}), dict(fills or {})
    ncol, nrow = ws.max_column, ws.max_row
    widths = {j: display_width(ws.cell(row=1, column=j).value) for j in range(1, ncol + 1)}
    paint: dict[str, PatternFill] = {}

    def fill(color: str) -> PatternFill:
        color = color.lstrip("#").upper()
        if color not in paint:
            paint[color] = PatternFill("solid", fgColor=color)
        return paint[color]

    for i, row in enumerate(ws.iter_rows(min_row=2, max_row=nrow, max_col=ncol)):
        row_color = row_fills[i] if row_fills is not None and i < len(row_fills) else None
        for j, cell in enumerate(row, start=1):
            v = cell.value
            fmt = formats.get(j)
            if fmt is not None and not isinstance(fmt, str):
                fmt = fmt[i] if i < len(fmt) else None
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                cell.number_format = fmt or (COUNT if isinstance(v, int) else DECIMAL)
            elif isinstance(v, dt.datetime):
                cell.number_format = fmt if fmt in (DATE, DATETIME) else DATETIME
            elif isinstance(v, dt.date):
                cell.number_format = DATE
            elif fmt:
                cell.number_format = fmt
            if row_color:
                cell.fill = fill(row_color)
            if j in fills and isinstance(v, str) and v in fills[j]:
                cell.fill = fill(fills[j][v])
            if j in wrap:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            if i < 500:
                widths[j] = max(widths[j], display_width(_shown(v, cell.number_format)))
    head = fill(HEADER_FILL)
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = head
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for j, w in widths.items():
        ws.column_dimensions[get_column_letter(j)].width = min(max(w + 2, 8), max_width)
    ws.freeze_panes = freeze
    ws.auto_filter.ref = ws.dimensions


def write_sheet(
    wb,
    title: str,
    df,
    *,
    headers: Mapping[str, str] | Sequence[str] | None = None,
    formats: Mapping[str, str | Sequence[str | None] | None] | None = None,
    fills: Mapping[str, Mapping[str, str]] | None = None,
    row_fills: Sequence[str | None] | None = None,
    freeze: str = "A2",
    wrap: Sequence[str] = (),
    lang: str = "zh",
    max_width: int = 60,
):
    """A new worksheet ``title`` (cut to Excel's 31 characters) in ``wb`` holding ``df``,
    styled by :func:`style_sheet`; returns it.

    ``headers``: display names, a list or {column: name} (other columns keep their name).
    ``formats``: {column: number format or one per row}; columns not named get
    :func:`column_format` (by name, then dtype). ``fills``: {column: {label: colour}}; the
    :data:`STATUS_COLUMNS` get :data:`VALUE_FILLS` unless given. Values pass through
    :func:`cell_value`; text from the data that a spreadsheet would evaluate is written as
    quoted text (:func:`write_frame`)."""
    ws = wb.create_sheet(str(title)[:31])
    cols = list(df.columns)
    if headers is None:
        names = [str(c) for c in cols]
    elif isinstance(headers, Mapping):
        names = [str(headers.get(c, c)) for c in cols]
    else:
        names = [str(h) for h in headers]
    write_frame(ws, df, header=names, convert=lambda v: cell_value(v, lang))
    given = dict(formats or {})
    fmts = {j: given[c] if c in given else column_format(c, df[c].dtype)
            for j, c in enumerate(cols, start=1)}  # fmt: skip
    given_fills = dict(fills or {})
    by_col = {
        j: given_fills.get(c, VALUE_FILLS if c in STATUS_COLUMNS else None)
        for j, c in enumerate(cols, start=1)
    }
    style_sheet(
        ws,
        formats={j: f for j, f in fmts.items() if f is not None},
        fills={j: f for j, f in by_col.items() if f},
        row_fills=row_fills,
        freeze=freeze,
        wrap=[j for j, c in enumerate(cols, start=1) if c in wrap],
        max_width=max_width,
    )
    return ws


def save_book(wb, path: str | Path) -> Path:
    """Save the openpyxl workbook ``wb`` to ``path`` whole (written beside it, then renamed:
    readers never see half a file), any formula-like text from data quoted first
    (:func:`protect_book`); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    protect_book(wb)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    wb.save(tmp)
    tmp.replace(path)
    return path


def write_book(path: str | Path, frames: Mapping[str, Any], *, lang: str = "zh", **options) -> Path:
    """A workbook at ``path`` with one :func:`write_sheet` sheet per ``{title: frame}``
    (``options`` passed to each), saved by :func:`save_book`; returns the path."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for title, df in frames.items():
        write_sheet(wb, title, df, lang=lang, **options)
    return save_book(wb, path)
