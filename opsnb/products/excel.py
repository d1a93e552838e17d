"""The 补货建议表 as a styled Excel workbook (for buyers and suppliers).

One sheet with the replenishment plan (:func:`opsnb.products.replenish.replenishment_plan`)
and, when given, one with the 大促备货 plan (:func:`opsnb.products.replenish.promo_stock`):
bold coloured header, frozen header row, filter, widths fitted to the content (CJK counted
double), number formats (units as integers, money as ¥#,##0, rates as percentages, dates as
yyyy-mm-dd) and alert rows coloured (缺货 red, 积压 amber). Text that comes from the data and
starts with ``= + - @``, a tab or a carriage return is written as text, never as a formula.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from opsnb.i18n import Labels
from opsnb.sheets import COUNT, MONEY, RATE, save_book, write_sheet

__all__ = ["PLAN_HEADERS", "PROMO_HEADERS", "plan_to_excel"]

PLAN_HEADERS = {
    "sku": ("商品ID", "SKU"),
    "name": ("商品名称", "Name"),
    "alert": ("预警", "Alert"),
    "order_qty": ("建议补货量", "Order qty"),
    "order_value": ("补货金额", "Order value"),
    "order_by": ("最晚下单日", "Order by"),
    "stockout_date": ("预计缺货日", "Stock-out date"),
    "on_hand": ("可用库存", "On hand"),
    "in_transit": ("在途库存", "In transit"),
    "inventory_position": ("库存位置", "Inventory position"),
    "lead_time_days": ("采购周期(天)", "Lead time (days)"),
    "review_days": ("盘点周期(天)", "Review (days)"),
    "demand_per_day": ("日均需求", "Demand / day"),
    "sigma_per_day": ("日需求标准差", "Sigma / day"),
    "demand_over_protection": ("保护期需求", "Demand over L+R"),
    "safety_stock": ("安全库存", "Safety stock"),
    "order_up_to": ("目标库存", "Order-up-to level"),
    "cycle_service_level": ("周期服务水平", "Cycle service level"),
    "fill_rate": ("订单满足率", "Fill rate"),
    "days_of_cover": ("可售天数", "Days of cover"),
    "gmv_at_risk": ("缺货影响GMV", "GMV at risk"),
    "money_tied_up": ("库存占用资金", "Money tied up"),
    "excess_value": ("积压金额", "Excess value"),
}
PROMO_HEADERS = {
    "sku": ("商品ID", "SKU"),
    "name": ("商品名称", "Name"),
    "event": ("大促", "Event"),
    "event_start": ("开始", "Start"),
    "event_end": ("结束", "End"),
    "pre_event_demand": ("大促前需求", "Demand before"),
    "event_demand": ("大促期需求", "Event demand"),
    "safety_stock": ("安全库存", "Safety stock"),
    "stock_needed": ("需备库存", "Stock needed"),
    "available_at_start": ("开始时可用", "Available at start"),
    "order_qty": ("建议备货量", "Order qty"),
    "order_value": ("备货金额", "Order value"),
    "last_order_date": ("最晚下单日", "Last order date"),
    "late": ("已来不及", "Late"),
}
_INT = {"order_qty", "on_hand", "in_transit", "inventory_position", "safety_stock", "order_up_to"}
_INT |= {"pre_event_demand", "event_demand", "stock_needed", "available_at_start"}
_INT |= {"demand_over_protection"}
_MONEY = {"order_value", "gmv_at_risk", "money_tied_up", "excess_value"}
_PCT = {"cycle_service_level", "fill_rate"}
_ALERT_FILL = {"stockout": "F8CBAD", "overstock": "FFE699"}


def _sheet(wb, title: str, df: pd.DataFrame, headers: dict, lang: str, alerts=None):
    """One sheet in the kit's workbook style (:func:`opsnb.sheets.write_sheet`): units
    :data:`~opsnb.sheets.COUNT`, money :data:`~opsnb.sheets.MONEY`, rates
    :data:`~opsnb.sheets.RATE`, alert rows filled."""
    L = Labels(lang)
    formats = {c: COUNT for c in _INT} | {c: MONEY for c in _MONEY} | {c: RATE for c in _PCT}
    return write_sheet(
        wb,
        title,
        df,
        headers={c: L(*headers[c]) for c in df.columns if c in headers},
        formats={c: f for c, f in formats.items() if c in df.columns},
        row_fills=None if alerts is None else [_ALERT_FILL.get(a) for a in alerts],
        freeze="C2",
        lang=lang,
        max_width=40,
    )


def plan_to_excel(path, plan: pd.DataFrame, promo: pd.DataFrame | None = None, *, lang="zh"):
    """Write the 补货建议表 (and the 大促备货 sheet) to ``path``; return the path.

    ``plan``: :data:`opsnb.products.replenish.PLAN_COLUMNS` rows, written SKUs to order first
    (earliest order-by date, then order value); ``promo``: :data:`PROMO_COLUMNS` rows.
    """
    from openpyxl import Workbook

    L = Labels(lang)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    wb.remove(wb.active)
    p = plan.assign(_o=plan["order_qty"] > 0).sort_values(
        ["_o", "order_by", "order_value"], ascending=[False, True, False], kind="mergesort"
    )
    alerts = p["alert"].tolist()
    labels = {"stockout": L("缺货预警", "stock-out"), "overstock": L("积压", "overstock"), "": ""}
    p = p.assign(alert=p["alert"].map(labels).fillna(""))
    cols = [c for c in PLAN_HEADERS if c in p.columns]
    _sheet(wb, L("补货建议表", "Replenishment plan"), p[cols], PLAN_HEADERS, lang, alerts)
    if promo is not None and len(promo):
        q = promo.sort_values(["order_value"], ascending=False, kind="mergesort").copy()
        q["late"] = q["late"].map(lambda v: L("是", "yes") if v else "")
        cols = [c for c in PROMO_HEADERS if c in q.columns]
        _sheet(wb, L("大促备货", "Promotion stock"), q[cols], PROMO_HEADERS, lang)
    return save_book(wb, path)
