"""What every workbook opsnb writes must look like, read back with openpyxl (issue 18).

:func:`workbook_problems` lists what is wrong with one ``.xlsx``; the notebook runs
(tests/test_notebooks.py), the injection runs (tests/test_injection.py), the demo files
(tests/test_demo.py) and the CLI exports (tests/test_sheets.py) all assert it finds nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from opsnb import sheets

NUMERIC_TEXT = re.compile(r"^\s*[-+]?[¥$]?\s*\d[\d,]*(\.\d+)?\s*(%|万|亿|元|k|K)?\s*$")
"""Text a reader takes for a number: '12', '-3.5', '1,234', '12.3%', '¥3660.00万'."""
NAMES_THAT_ARE_NUMBERS = {"618"}
"""Text that is a name (the 618 promotion), not a number."""

MONEY = {sheets.MONEY}
CENTS = {sheets.MONEY_CENTS}
RATE = {sheets.RATE}
SMALL = {sheets.SMALL_RATE}
CHANGE = {sheets.CHANGE}
EXPECTED_FORMATS: dict[str, set[str]] = {
    **dict.fromkeys(["成交金额", "GMV", "本月累计成交", "Month-to-date GMV"], MONEY),
    **dict.fromkeys(["月度目标", "Monthly target", "预算(元)", "Budget (¥)", "预算"], MONEY),
    **dict.fromkeys(["补货金额", "备货金额", "Order value", "缺货影响GMV", "GMV at risk"], MONEY),
    **dict.fromkeys(["库存占用资金", "Money tied up", "积压金额", "Excess value"], MONEY),
    **dict.fromkeys(["贡献", "Contribution", "估计值", "Estimate", "活动花费", "Spend"], MONEY),
    **dict.fromkeys(["净增量", "Net lift", "无活动预测", "Counterfactual"], MONEY),
    **dict.fromkeys(["客单价", "AOV"], CENTS),
    **dict.fromkeys(["转化率", "Conversion rate", "退款率", "Refund rate"], SMALL),
    **dict.fromkeys(["达成率", "Achievement", "目标达成率", "Target achieved"], RATE),
    **dict.fromkeys(["时间进度", "Month elapsed", "周期服务水平", "Cycle service level"], RATE),
    **dict.fromkeys(["订单满足率", "Fill rate", "按时完成率", "On-time rate"], RATE),
    **dict.fromkeys(["环比", "同比", "较上周同期", "成交金额 环比", "成交金额 同比"], CHANGE),
    **dict.fromkeys(["vs previous day", "vs last year", "GMV vs previous day"], CHANGE),
    **dict.fromkeys(
        ["建议补货量", "Order qty", "访客数", "Visitors", "任务数", "Tasks"], {"#,##0"}
    ),
}
"""Header → allowed number formats of its number cells (both languages)."""
DATE_FORMATS = {sheets.DATE, sheets.DATETIME}


def workbook_problems(path: str | Path) -> list[str]:
    """Everything in the workbook at ``path`` that breaks the house style: a sheet without a
    frozen header row, filter or data; a header cell not bold white on blue; a used column
    without a width or narrower than its header (up to 40); a text cell that reads as a
    number; a number or date cell in the General format; a money / rate / change column
    (:data:`EXPECTED_FORMATS`) in another format. Also the headers seen, for coverage."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    path = Path(path)
    wb = load_workbook(path)
    bad: list[str] = []
    for ws in wb.worksheets:
        where = f"{path.name}!{ws.title}"
        if ws.max_row < 1 or ws.max_column < 1:
            bad.append(f"{where}: empty sheet")
            continue
        if not ws.freeze_panes or not ws.freeze_panes.endswith("2"):
            bad.append(f"{where}: header row not frozen ({ws.freeze_panes!r})")
        if not ws.auto_filter.ref:
            bad.append(f"{where}: no filter")
        heads = [c.value for c in ws[1]]
        for j, c in enumerate(ws[1], start=1):
            if c.value in (None, ""):
                bad.append(f"{where}!{c.coordinate}: empty header")
            if not (c.font.b and str(c.font.color.rgb).endswith("FFFFFF")):
                bad.append(f"{where}!{c.coordinate}: header not bold white")
            if not str(c.fill.fgColor.rgb).endswith(sheets.HEADER_FILL):
                bad.append(f"{where}!{c.coordinate}: header fill {c.fill.fgColor.rgb}")
            width = ws.column_dimensions[get_column_letter(j)].width
            need = min(sheets.display_width(c.value) + 2, 40)
            if width is None or width < max(need, 8):
                bad.append(f"{where}: column {c.value!r} width {width} < {need}")
        for row in ws.iter_rows(min_row=2):
            for c in row:
                v, head = c.value, heads[c.column - 1]
                if isinstance(v, str):
                    if NUMERIC_TEXT.match(v) and v not in NAMES_THAT_ARE_NUMBERS:
                        bad.append(f"{where}!{c.coordinate} ({head}): number as text {v!r}")
                elif isinstance(v, (dt.date, dt.datetime)):
                    if c.number_format not in DATE_FORMATS:
                        bad.append(f"{where}!{c.coordinate} ({head}): date as {c.number_format}")
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    if c.number_format == "General":
                        bad.append(f"{where}!{c.coordinate} ({head}): number in General")
                    allowed = EXPECTED_FORMATS.get(str(head))
                    if allowed and c.number_format not in allowed:
                        bad.append(
                            f"{where}!{c.coordinate} ({head}): {c.number_format!r}, "
                            f"expected {sorted(allowed)}"
                        )
                elif isinstance(v, bool):
                    bad.append(f"{where}!{c.coordinate} ({head}): TRUE/FALSE, not 是/否")
    return bad


def headers_of(path: str | Path) -> set[str]:
    """Every header of every sheet of the workbook at ``path``."""
    from openpyxl import load_workbook

    return {str(c.value) for ws in load_workbook(path).worksheets for c in ws[1]}
