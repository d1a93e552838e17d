"""Sections of the products and inventory notebook (06): each call displays one part.

The notebook stays thin: ``load_products`` (the store's product_daily, skus, inventory and
purchase_orders up to the plan day), then ``show_classes``, ``show_turnover``,
``forecast_skus``, ``make_plan`` with ``show_stockout_risks`` and ``show_slow_stock``,
``show_promo_plan``, ``write_plan`` (the 补货建议表 as Excel), ``show_summary`` (the 结论 /
Summary box under the title, filled last) and ``key_figures``.

The plan day is the last day with stock data on or before both ``as_of`` and the end of the
report period: the 补货建议表 is made from the stock of that evening. A section whose tables
are missing says so and returns None.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsnb.errors import ErrorCode
from opsnb.products.classify import PRODUCT_CLASSES, classify_products, sell_rate, turnover
from opsnb.products.demand import sales_with_stock
from opsnb.products.excel import plan_to_excel
from opsnb.products.forecast import forecast_demand
from opsnb.products.plots import plot_demand
from opsnb.products.replenish import (
    overstock_alerts,
    promo_stock,
    replenishment_plan,
    stockout_alerts,
)

__all__ = [
    "show_summary",
    "FAST_MODELS",
    "BIG_EVENTS",
    "ProductData",
    "load_products",
    "show_classes",
    "show_turnover",
    "forecast_skus",
    "make_plan",
    "show_stockout_risks",
    "show_slow_stock",
    "show_promo_plan",
    "write_plan",
    "key_figures",
]

FAST_MODELS = ("SeasonalNaive", "CrostonSBA", "TSB", "ADIDA", "IMAPA")
"""The notebook's default candidates: a second for a hundred SKUs (AutoETS and AutoTheta
take about a second per SKU; add them for a few smooth sellers)."""

BIG_EVENTS = {"618": ("618", "618"), "double11": ("双11", "Double 11")}
"""The promotions 大促备货 plans for, slug → (Chinese, English) name."""

_CLASS_COLORS = {"爆款": "#F8CBAD", "hit": "#F8CBAD", "滞销": "#FFE699", "slow": "#FFE699"}


@dataclass(frozen=True)
class ProductData:
    """What notebook 06 reads: ``sales`` (product_daily of the report period), ``stock``
    (:func:`~opsnb.products.demand.sales_with_stock` up to the plan day, every day the
    inventory covers), ``skus``, ``inventory`` (up to the plan day), ``purchase_orders``
    (None when the store has none) and ``plan_day``. A missing table is None."""

    sales: pd.DataFrame
    stock: pd.DataFrame | None
    skus: pd.DataFrame | None
    inventory: pd.DataFrame | None
    purchase_orders: pd.DataFrame | None
    plan_day: pd.Timestamp


def _names(ctx, items) -> str:
    return ("、" if ctx.lang == "zh" else ", ").join(str(i) for i in items)


def _n(x) -> str:
    return f"{x:,.0f}"


def load_products(ctx) -> ProductData | None:
    """The tables of notebook 06 (see :class:`ProductData`); None without ``product_daily``."""
    from opsnb.data.store import list_tables

    have = set(list_tables(ctx.con))
    if "product_daily" not in have:
        ctx.say(
            "商店数据里没有商品每日数据（product_daily），本报告无法生成：请用 `opsnb import` 导入商品报表。",
            "The store has no product_daily table, so this report is empty: import a product "
            "export with `opsnb import`.",
        )
        return None
    end = pd.Timestamp(min(ctx.as_of, ctx.period.end))
    inv = ctx.read_all("inventory") if "inventory" in have else None
    if inv is not None:
        inv = inv[pd.to_datetime(inv["date"]) <= end].reset_index(drop=True)
        if len(inv):
            end = min(end, pd.Timestamp(inv["date"].max()))
    skus = ctx.read_all("skus") if "skus" in have else None
    po = ctx.read_all("purchase_orders") if "purchase_orders" in have else None
    sales = ctx.read("product_daily", end=min(pd.Timestamp(ctx.period.end), end))
    stock = None
    if inv is not None and len(inv):
        pdl = ctx.read(
            "product_daily", start=inv["date"].min(), end=end, columns=["date", "sku", "units"]
        )
        stock = sales_with_stock(pdl, inv)
    missing = [t for t, v in (("skus", skus), ("inventory", inv)) if v is None or not len(v)]
    if missing:
        ctx.say(
            f"没有{_names(ctx, missing)}表：库存与补货部分会跳过（用 `opsnb load` 导入商品档案与库存）。",
            f"No {_names(ctx, missing)} table: the stock and replenishment sections are "
            "skipped (load the SKU master and stock with `opsnb load`).",
        )
    return ProductData(sales, stock, skus, inv, po, end.normalize())


def show_classes(ctx, data: ProductData | None, *, top: int = 10) -> pd.DataFrame | None:
    """爆款 / 潜力 / 平销 / 滞销 and ABC × XYZ over the report period, with the rule stated."""
    if data is None or data.sales.empty:
        ctx.say(
            "本期没有商品销售数据，跳过商品分层。", "No product sales in the period: no classes."
        )
        return None
    cls = classify_products(data.sales, lang=ctx.lang)
    ctx.say(
        "分层规则：一期内有销售的天数不足 10% 为**滞销**；否则 GMV 累计占比前 80% 的 A 类为**爆款**；"
        "否则后半期销量比前半期增长 ≥30% 或转化率在前 25% 的为**潜力**；其余为**平销**。"
        "XYZ 看日销量的变异系数：X ≤ 0.5，Y ≤ 1，Z 更大（越往 Z 越难预测）。",
        "The rule: **slow** when the SKU sold on fewer than 10 % of the period's days; "
        "otherwise **hit** when it is in ABC class A (the SKUs making the first 80 % of GMV); "
        "otherwise **potential** when units grew ≥ 30 % from the first to the second half or "
        "its conversion is in the top quarter; otherwise **steady**. XYZ is the coefficient "
        "of variation of daily units: X ≤ 0.5, Y ≤ 1, Z above (harder to forecast).",
    )
    order = [PRODUCT_CLASSES[k][0 if ctx.lang == "zh" else 1] for k in PRODUCT_CLASSES]
    g = cls.groupby("label").agg(skus=("sku", "size"), gmv=("gmv", "sum"), units=("units", "sum"))
    g = g.reindex(order).dropna(how="all").fillna(0)
    share_col = ctx.L("GMV 占比", "GMV share")
    g[share_col] = g["gmv"] / g["gmv"].sum()
    g = g.rename_axis(ctx.L("商品分层", "Class")).reset_index()
    ctx.table(
        g.rename(columns={"skus": ctx.L("SKU 数", "SKUs"), "units": ctx.L("销量", "Units")}),
        money=["gmv"],
        pct=[share_col],
        int_cols=[ctx.L("SKU 数", "SKUs"), ctx.L("销量", "Units")],
    )
    hit = cls[cls["product_class"] == "hit"]
    share = hit["gmv"].sum() / cls["gmv"].sum() if cls["gmv"].sum() > 0 else float("nan")
    ctx.say(
        f"{len(hit)} 个爆款贡献了 {ctx.pct(share)} 的 GMV；{int((cls['product_class'] == 'slow').sum())} 个滞销款几乎不动。",
        f"{len(hit)} hits make {ctx.pct(share)} of GMV; "
        f"{int((cls['product_class'] == 'slow').sum())} slow SKUs barely sell.",
    )
    mat = pd.crosstab(cls["abc"], cls["xyz"]).reindex(
        index=["A", "B", "C"], columns=["X", "Y", "Z"]
    )
    mat = mat.fillna(0).astype(int).rename_axis(None, axis=1).reset_index()
    ctx.table(
        mat.rename(columns={"abc": "ABC \\ XYZ"}),
        caption=("ABC × XYZ（SKU 数）", "ABC × XYZ (SKUs)"),
    )
    cols = ["sku", "label", "abc", "xyz", "gmv", "gmv_share", "units", "growth", "conversion_rate"]
    show = (
        cls[cols]
        .head(top)
        .rename(
            columns={
                "sku": ctx.L("商品ID", "SKU"),
                "label": ctx.L("分层", "Class"),
                "units": ctx.L("销量", "Units"),
                "growth": ctx.L("后半期增长", "Growth (2nd half)"),
                "gmv_share": share_col,
                "abc": "ABC",
                "xyz": "XYZ",
            }
        )
    )
    ctx.table(
        show,
        money=["gmv"],
        pct=[share_col, ctx.L("后半期增长", "Growth (2nd half)"), "conversion_rate"],
        int_cols=[ctx.L("销量", "Units")],
        highlight={ctx.L("分层", "Class"): _CLASS_COLORS},
        caption=(f"GMV 前 {top} 的商品", f"Top {top} SKUs by GMV"),
    )
    return cls


def show_turnover(ctx, data: ProductData | None, *, top: int = 10) -> pd.DataFrame | None:
    """动销率 (share of listed SKUs that sold) and 库存周转 over the report period."""
    if data is None or data.sales.empty:
        ctx.say(
            "本期没有商品销售数据，跳过动销率与周转。",
            "No product sales: no sell rate or turnover.",
        )
        return None
    listed = data.skus["sku"] if data.skus is not None else None
    sr = sell_rate(data.sales, listed)
    ctx.say(
        f"**动销率 {ctx.pct(sr.rate)}**：{sr.listed} 个在售 SKU 中 {sr.sold} 个本期有销售。",
        f"**Sell rate {ctx.pct(sr.rate)}**: {sr.sold} of {sr.listed} listed SKUs sold in the period.",
    )
    if data.inventory is None or not len(data.inventory):
        ctx.say("没有库存数据，跳过库存周转。", "No inventory data: no turnover.")
        return None
    cost = data.skus.set_index("sku")["unit_cost"] if data.skus is not None else None
    start = pd.Timestamp(ctx.period.start)
    inv = data.inventory[pd.to_datetime(data.inventory["date"]) >= start]
    t = turnover(data.sales, inv, unit_cost=cost)
    units, avg = t["units_sold"].sum(), t["avg_on_hand"].sum()
    days = int(t["days"].iloc[0]) if len(t) else 0
    rate = units / avg if avg > 0 else float("nan")
    ctx.say(
        f"全店库存周转率 {rate:.1f} 次（{days} 天内），即周转天数约 {days / rate:.0f} 天；"
        f"期末库存占用资金 {ctx.money(t['inventory_value'].sum())}。",
        f"Shop-wide stock turned {rate:.1f} times in {days} days, i.e. about "
        f"{days / rate:.0f} days of stock; the closing stock ties up "
        f"{ctx.money(t['inventory_value'].sum())}.",
    )
    slow = t[t["ending_on_hand"] > 0].sort_values(
        "turnover_days", ascending=False, na_position="first"
    )
    cols = [
        "sku",
        "units_sold",
        "avg_on_hand",
        "ending_on_hand",
        "turnover_days",
        "sell_through",
        "inventory_value",
    ]
    ctx.table(
        slow[cols]
        .head(top)
        .rename(
            columns={
                "sku": ctx.L("商品ID", "SKU"),
                "units_sold": ctx.L("销量", "Units sold"),
                "avg_on_hand": ctx.L("平均库存", "Avg on hand"),
                "ending_on_hand": ctx.L("期末库存", "Closing stock"),
                "turnover_days": ctx.L("周转天数", "Days of turnover"),
                "sell_through": ctx.L("售罄率", "Sell-through"),
                "inventory_value": ctx.L("库存金额", "Stock value"),
            }
        ),
        money=[ctx.L("库存金额", "Stock value")],
        pct=[ctx.L("售罄率", "Sell-through")],
        int_cols=[ctx.L("销量", "Units sold"), ctx.L("期末库存", "Closing stock")],
        caption=(
            f"周转最慢的 {top} 个商品（周转天数为空 = 本期没卖出）",
            f"The {top} slowest-turning SKUs (empty days = nothing sold)",
        ),
    )
    return t


def _models(models) -> tuple[str, ...]:
    if isinstance(models, str):
        return tuple(m.strip() for m in models.split(",") if m.strip()) or FAST_MODELS
    return tuple(models)


def _history(data: ProductData, days: int | None) -> pd.DataFrame:
    st = data.stock
    if days:
        st = st[st["date"] > data.plan_day - pd.Timedelta(days=int(days))]
    return st


def forecast_skus(
    ctx,
    data: ProductData | None,
    *,
    horizon: int | None = None,
    models=FAST_MODELS,
    levels=(80, 95),
    history_days: int = 400,
    show_sku: str | None = None,
):
    """Daily demand forecasts per SKU from the plan day (:func:`forecast_demand`): sales
    un-censored on stock-out days, promotion lifts from last year's events, model chosen per
    SKU by a rolling-origin backtest against seasonal naive (``models``: names or a
    comma-separated string). ``horizon`` defaults to the
    longest lead time + 2 weeks. Shows the backtest summary and one SKU's chart (``show_sku``,
    default the best seller with stock-outs)."""
    if data is None or data.stock is None or data.skus is None:
        ctx.say("没有库存或商品档案，跳过需求预测。", "No inventory or SKU master: no forecast.")
        return None
    h = int(horizon or np.ceil(data.skus["lead_time_days"].max()) + 14)
    hist = _history(data, history_days)
    fc = forecast_demand(
        hist,
        series_col="sku",
        time_col="date",
        value_col="units",
        horizon=h,
        levels=levels,
        models=_models(models),
        n_windows=2,
        stockout_col="stockout",
        promotions=True,
    )
    ch = fc.choice
    ok = ch[ch["error_code"] == ErrorCode.OK]
    better = int((ok["mase"] < ok["mase_seasonal_naive"]).sum())
    lv = max(fc.levels)
    cover = ctx.pct(ok[f"coverage_{lv}"].mean())
    ctx.say(
        f"对 {len(ch)} 个 SKU 逐一回测（{fc.n_windows} 个起点，每次预测 {h} 天），各选 MASE 最低的模型："
        f"MASE 中位数 {ok['mase'].median():.2f}（季节性朴素法 {ok['mase_seasonal_naive'].median():.2f}），"
        f"{better} 个 SKU 的模型胜过季节性朴素法，其余沿用它；{lv}% 区间的回测覆盖率 {cover}"
        + (
            "（偏窄，安全库存可能偏低）。"
            if ok[f"coverage_{lv}"].mean() < lv / 100 - 0.05
            else "。"
        ),
        f"Each of {len(ch)} SKUs was backtested ({fc.n_windows} origins, {h} days each) and "
        f"got the model with the lowest MASE: median MASE {ok['mase'].median():.2f} (seasonal "
        f"naive {ok['mase_seasonal_naive'].median():.2f}); on {better} SKUs a model beat "
        f"seasonal naive, the rest keep it; the {lv}% intervals covered {cover} of backtest days"
        + (
            " (too narrow: safety stock may be low)."
            if ok[f"coverage_{lv}"].mean() < lv / 100 - 0.05
            else "."
        ),
    )
    hs = fc.history
    cens = hs[hs["stockout"]]
    ctx.say(
        f"缺货会压低销量：{cens['series'].nunique()} 个 SKU 共有 {len(cens):,} 个缺货日，"
        f"当天卖出 {ctx.count(cens['value'].sum())} 件，按前后未缺货日的水平还原需求为 {ctx.count(cens['demand'].sum())} 件。"
        "预测用的是还原后的需求，不是被截断的销量。",
        f"Stock-outs censor sales: {cens['series'].nunique()} SKUs had {len(cens):,} stock-out "
        f"days selling {_n(cens['value'].sum())} units; from the in-stock days around them the "
        f"demand was about {_n(cens['demand'].sum())} units. The forecasts use that demand, "
        "not the censored sales.",
    )
    mix = ch["model"].value_counts()
    ctx.say(
        "选中的模型：" + "，".join(f"{m} {n}" for m, n in mix.items()) + "。",
        "Models chosen: " + ", ".join(f"{m} {n}" for m, n in mix.items()) + ".",
    )
    if show_sku is None:
        top = cens.groupby("series")["demand"].sum().sort_values(ascending=False)
        show_sku = top.index[0] if len(top) else ch["series"].iloc[0]
    ctx.show(plot_demand(fc, show_sku, lang=ctx.lang))
    return fc


def make_plan(ctx, data: ProductData | None, fc, **kw) -> pd.DataFrame | None:
    """The 补货建议表 (:func:`replenishment_plan`) as of the plan day; ``kw`` goes to it
    (``review_days``, ``cycle_service_level``, ``cover_days``)."""
    if data is None or fc is None:
        return None
    return replenishment_plan(fc.forecasts, data.skus, data.inventory, as_of=data.plan_day, **kw)


def show_stockout_risks(ctx, plan: pd.DataFrame | None, *, top: int = 10) -> pd.DataFrame | None:
    """缺货预警: SKUs projected to run out within lead time + review, earliest order-by first."""
    if plan is None:
        ctx.say("没有补货计划，跳过缺货预警。", "No replenishment plan: no stock-out alerts.")
        return None
    a = stockout_alerts(plan)
    if a.empty:
        ctx.say(
            "未来一个采购周期内没有 SKU 预计缺货。",
            "No SKU is projected to run out within its lead time and review period.",
        )
        return a
    late = a[a["order_by"] <= a["order_by"].min()]
    ctx.say(
        f"**{len(a)} 个 SKU 预计在采购周期 + 盘点周期内缺货**，影响 GMV 约 {ctx.money(a['gmv_at_risk'].sum())}；"
        f"最急的要在 {a['order_by'].min():%Y-%m-%d} 前下单（{_names(ctx, late['sku'].head(5))}）。",
        f"**{len(a)} SKUs are projected to run out within lead time + review**, about "
        f"{ctx.money(a['gmv_at_risk'].sum())} of GMV at risk; the most urgent must be ordered "
        f"by {a['order_by'].min():%Y-%m-%d} ({_names(ctx, late['sku'].head(5))}).",
    )
    cols = [
        "sku",
        "name",
        "on_hand",
        "in_transit",
        "demand_per_day",
        "stockout_date",
        "order_by",
        "order_qty",
        "gmv_at_risk",
    ]
    ctx.table(
        a[cols]
        .head(top)
        .rename(
            columns={
                "sku": ctx.L("商品ID", "SKU"),
                "name": ctx.L("商品名称", "Name"),
                "on_hand": ctx.L("可用库存", "On hand"),
                "in_transit": ctx.L("在途库存", "In transit"),
                "demand_per_day": ctx.L("日均需求", "Demand / day"),
                "stockout_date": ctx.L("预计缺货日", "Stock-out date"),
                "order_by": ctx.L("最晚下单日", "Order by"),
                "order_qty": ctx.L("建议补货量", "Order qty"),
                "gmv_at_risk": ctx.L("缺货影响GMV", "GMV at risk"),
            }
        ),
        money=[ctx.L("缺货影响GMV", "GMV at risk")],
        int_cols=[
            ctx.L("可用库存", "On hand"),
            ctx.L("在途库存", "In transit"),
            ctx.L("建议补货量", "Order qty"),
        ],
    )
    return a


def show_slow_stock(
    ctx, plan: pd.DataFrame | None, classes=None, *, top: int = 10
) -> pd.DataFrame | None:
    """滞销/积压: SKUs with more days of cover than the threshold, most money tied up first."""
    if plan is None:
        ctx.say("没有补货计划，跳过积压分析。", "No replenishment plan: no slow-stock list.")
        return None
    a = overstock_alerts(plan)
    total = plan["money_tied_up"].sum()
    if a.empty:
        ctx.say(
            "没有可售天数超过阈值的积压商品。", "No SKU has more days of cover than the threshold."
        )
        return a
    ctx.say(
        f"**{len(a)} 个 SKU 积压**：库存占用资金 {ctx.money(a['money_tied_up'].sum())}"
        f"（全店库存 {ctx.money(total)} 的 {ctx.pct(a['money_tied_up'].sum() / total)}），"
        f"其中超出需要的部分约 {ctx.money(a['excess_value'].sum())}。考虑清仓、搭售或停止补货。",
        f"**{len(a)} SKUs are overstocked**: {ctx.money(a['money_tied_up'].sum())} tied up "
        f"({ctx.pct(a['money_tied_up'].sum() / total)} of the shop's {ctx.money(total)} of "
        f"stock), of which about {ctx.money(a['excess_value'].sum())} is beyond need. Consider "
        "clearance, bundles or no more orders.",
    )
    a = a.replace([np.inf, -np.inf], np.nan)  # no demand: cover without end, shown as —
    if classes is not None:
        a = a.merge(classes[["sku", "label"]], on="sku", how="left")
    else:
        a["label"] = ""
    cols = [
        "sku",
        "name",
        "label",
        "on_hand",
        "demand_per_day",
        "days_of_cover",
        "money_tied_up",
        "excess_value",
    ]
    ctx.table(
        a[cols]
        .head(top)
        .rename(
            columns={
                "sku": ctx.L("商品ID", "SKU"),
                "name": ctx.L("商品名称", "Name"),
                "label": ctx.L("分层", "Class"),
                "on_hand": ctx.L("可用库存", "On hand"),
                "demand_per_day": ctx.L("日均需求", "Demand / day"),
                "days_of_cover": ctx.L("可售天数", "Days of cover"),
                "money_tied_up": ctx.L("库存占用资金", "Money tied up"),
                "excess_value": ctx.L("积压金额", "Excess value"),
            }
        ),
        money=[ctx.L("库存占用资金", "Money tied up"), ctx.L("积压金额", "Excess value")],
        int_cols=[ctx.L("可用库存", "On hand")],
    )
    return a


def _next_event(day: pd.Timestamp, event: str = ""):
    from opsnb.calendar import promotion_calendar

    cal = promotion_calendar(day, day + pd.Timedelta(days=400))
    cal = cal[cal["event"].isin([event] if event else list(BIG_EVENTS)) & (cal["start"] > day)]
    return None if cal.empty else cal.iloc[0]


def show_promo_plan(
    ctx,
    data: ProductData | None,
    *,
    event: str = "",
    models=FAST_MODELS,
    cycle_service_level: float = 0.95,
    top: int = 10,
) -> pd.DataFrame | None:
    """大促备货 for the next 618 / 双11 after the plan day (or ``event``): the event forecast
    (lifts from last year's same event) over the whole history, the stock each SKU needs and
    the last day to order it (start − lead time)."""
    if data is None or data.stock is None or data.skus is None:
        ctx.say(
            "没有库存或商品档案，跳过大促备货。", "No inventory or SKU master: no promotion plan."
        )
        return None
    ev = _next_event(data.plan_day, event)
    if ev is None:
        ctx.say(
            f"日历里找不到 {data.plan_day:%Y-%m-%d} 之后的大促，跳过。",
            "No big promotion after the plan day in the calendar.",
        )
        return None
    h = int((pd.Timestamp(ev["end"]) - data.plan_day).days)
    fc = forecast_demand(
        data.stock,
        series_col="sku",
        time_col="date",
        value_col="units",
        horizon=h,
        levels=(95,),
        models=_models(models),
        n_windows=1,
        stockout_col="stockout",
        promotions=True,
    )
    p = promo_stock(
        fc.forecasts,
        data.skus,
        data.inventory,
        start=ev["start"],
        end=ev["end"],
        event=ev["event"],
        as_of=data.plan_day,
        cycle_service_level=cycle_service_level,
    )
    zh, en = BIG_EVENTS.get(ev["event"], (ev["event"], ev["event"]))
    need = p[p["order_qty"] > 0]
    late = need[need["late"]]
    first = need["last_order_date"].min() if len(need) else None
    ctx.say(
        f"下一个大促是 **{zh}**（{ev['start']:%Y-%m-%d} 至 {ev['end']:%Y-%m-%d}）。按去年同期的提升预测，"
        f"大促期需求 {ctx.count(p['event_demand'].sum())} 件；{len(need)} 个 SKU 需要备货 {ctx.count(need['order_qty'].sum())} 件，"
        f"金额 {ctx.money(need['order_value'].sum())}"
        + (f"，最早的要在 {first:%Y-%m-%d} 前下单" if first is not None else "")
        + (f"；{len(late)} 个已过最晚下单日，需加急。" if len(late) else "。"),
        f"The next big promotion is **{en}** ({ev['start']:%Y-%m-%d} to {ev['end']:%Y-%m-%d}). "
        f"With last year's lift, event demand is {_n(p['event_demand'].sum())} units; "
        f"{len(need)} SKUs need {_n(need['order_qty'].sum())} more units "
        f"({ctx.money(need['order_value'].sum())})"
        + (f", the first to be ordered by {first:%Y-%m-%d}" if first is not None else "")
        + (f"; {len(late)} are past their last order date: expedite." if len(late) else "."),
    )
    cols = [
        "sku",
        "name",
        "event_demand",
        "safety_stock",
        "available_at_start",
        "order_qty",
        "order_value",
        "last_order_date",
    ]
    ctx.table(
        need.sort_values("order_value", ascending=False)[cols]
        .head(top)
        .rename(
            columns={
                "sku": ctx.L("商品ID", "SKU"),
                "name": ctx.L("商品名称", "Name"),
                "event_demand": ctx.L("大促期需求", "Event demand"),
                "safety_stock": ctx.L("安全库存", "Safety stock"),
                "available_at_start": ctx.L("开始时可用", "Available at start"),
                "order_qty": ctx.L("建议备货量", "Order qty"),
                "order_value": ctx.L("备货金额", "Order value"),
                "last_order_date": ctx.L("最晚下单日", "Last order date"),
            }
        ),
        money=[ctx.L("备货金额", "Order value")],
        int_cols=[
            ctx.L("大促期需求", "Event demand"),
            ctx.L("安全库存", "Safety stock"),
            ctx.L("开始时可用", "Available at start"),
            ctx.L("建议备货量", "Order qty"),
        ],
        caption=(f"备货金额前 {top} 的 SKU", f"Top {top} SKUs by order value"),
    )
    return p


def write_plan(ctx, plan, promo=None):
    """Write the 补货建议表 (and the 大促备货 sheet) to the run's output folder and say where."""
    if plan is None:
        ctx.say("没有补货计划，不生成补货建议表。", "No plan, so no replenishment sheet.")
        return None
    name = f"{ctx.L('补货建议表', 'replenishment-plan')}-{ctx.period.label}.xlsx"
    path = plan_to_excel(ctx.output_path(name), plan, promo, lang=ctx.lang)
    n = int((plan["order_qty"] > 0).sum())
    value = plan.loc[plan["order_qty"] > 0, "order_value"].sum()
    svc = plan["cycle_service_level"].mean()
    fr = plan["fill_rate"].mean()
    ctx.say(
        f"补货建议表（{path.name}）：{n} 个 SKU 建议下单，金额 {ctx.money(value)}。目标库存 = 采购周期 + 盘点周期内的需求 + 安全库存，"
        f"安全库存按预测误差和采购周期波动计算；平均周期服务水平 {ctx.pct(svc)}，对应订单满足率 {ctx.pct(fr)}（两者不同：前者是一个周期不缺货的概率，后者是需求被现货满足的比例）。",
        f"The replenishment sheet ({path.name}): {n} SKUs to order, {ctx.money(value)}. "
        "Order-up-to = demand over lead time + review period + safety stock, the safety stock "
        "from the forecast error and the lead-time spread; mean cycle service level "
        f"{ctx.pct(svc)}, fill rate {ctx.pct(fr)} (not the same thing: the chance a cycle has "
        "no stock-out vs the share of demand served from stock).",
    )
    return path


def key_figures(data, classes, plan, promo) -> dict:
    """Key figures for ``ctx.record`` (the index page and the ledger)."""
    out: dict = {}
    if data is not None:
        out["plan_day"] = data.plan_day.date().isoformat()
    if classes is not None:
        out["hits"] = int((classes["product_class"] == "hit").sum())
        out["slow_skus"] = int((classes["product_class"] == "slow").sum())
    if plan is not None:
        out["stockout_alerts"] = int((plan["alert"] == "stockout").sum())
        out["overstock_alerts"] = int((plan["alert"] == "overstock").sum())
        out["order_value"] = float(plan.loc[plan["order_qty"] > 0, "order_value"].sum())
        out["money_tied_up"] = float(plan["money_tied_up"].sum())
    if promo is not None:
        out["promo_order_value"] = float(promo["order_value"].sum())
    return out


def show_summary(ctx, data, classes, plan, promo, *, risks=None, slow=None) -> None:
    """The 结论 / Summary box of the products report: the :func:`key_figures` the report records
    (hits, slow SKUs, stock-out and overstock alerts, the order value and the money tied up)
    and what to do: order the most urgent SKUs by their order-by day (``risks``, from
    :func:`show_stockout_risks`), clear the overstock (``slow``, :func:`show_slow_stock`) and
    stock up for the promotion (``promo``). Without products data it says so in the box."""
    f = key_figures(data, classes, plan, promo)
    if data is None:
        ctx.summary(
            [],
            [
                (
                    "没有商品或库存数据，无法给出结论；各节说明了缺少的数据。",
                    "No product or stock data, so no conclusions; each section says what is missing.",
                )
            ],
        )
        return
    keys = (
        "hits",
        "slow_skus",
        "stockout_alerts",
        "overstock_alerts",
        "order_value",
        "money_tied_up",
    )
    kinds = {"stockout_alerts": "alert", "overstock_alerts": "warn"}
    items = [
        ctx.item(k, f[k], kind=kinds.get(k, "info") if f[k] else ("good" if k in kinds else "info"))
        for k in keys
        if k in f
    ][:5]
    actions = []
    if risks is not None and len(risks):
        first = risks["order_by"].min()
        urgent = risks[risks["order_by"] <= first]["sku"].head(5)
        actions.append(
            (
                f"{first:%Y-%m-%d} 前为 {_names(ctx, urgent)} 下单（{len(risks)} 个 SKU 预计缺货，影响 GMV 约 {ctx.money(risks['gmv_at_risk'].sum())}）。",
                f"Order {_names(ctx, urgent)} by {first:%Y-%m-%d} ({len(risks)} SKUs projected to run out, about {ctx.money(risks['gmv_at_risk'].sum())} of GMV at risk).",
            )
        )
    if slow is not None and len(slow):
        actions.append(
            (
                f"清理 {len(slow)} 个积压 SKU（超出需要约 {ctx.money(slow['excess_value'].sum())}）：清仓、搭售或停止补货。",
                f"Clear the {len(slow)} overstocked SKUs (about {ctx.money(slow['excess_value'].sum())} beyond need): clearance, bundles or no more orders.",
            )
        )
    if promo is not None and "promo_order_value" in f and f["promo_order_value"] > 0:
        actions.append(
            (
                f"为下一场大促备货 {ctx.money(f['promo_order_value'])}（见第 6 节的最晚下单日）。",
                f"Stock {ctx.money(f['promo_order_value'])} for the next big promotion (last order dates in section 6).",
            )
        )
    if "order_value" in f and f["order_value"] > 0:
        actions.append(
            (
                f"按补货建议表下单，合计 {ctx.money(f['order_value'])}。",
                f"Place the orders of the replenishment sheet, {ctx.money(f['order_value'])} in all.",
            )
        )
    if not actions:
        actions.append(
            (
                "库存健康：没有缺货、积压或备货任务。",
                "Stock is healthy: nothing to order, clear or stock up.",
            )
        )
    ctx.summary(items, actions)
