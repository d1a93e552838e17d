"""Sections of the market-research notebook (01): each call displays one part through a report context.

The notebook stays thin: :func:`load_market_data` reads everything once (the store, or an
orders file), then ``show_excluded``, ``show_category_trend``, ``show_price_bands``,
``show_competitors``, ``show_funnel``, ``show_channel_economics``, ``show_rfm``,
``show_cohorts``, ``show_clv`` and ``show_basket`` in that order, and last
:func:`show_summary` (the 结论 / Summary box under the title, from what the sections recorded
and returned). A section whose data are
missing (no ``market`` or ``daily_metrics`` table, no ``order_items``, an orders file without
market or traffic data) says why in the report and returns None. ``ctx`` is the notebook's
report context (:func:`opsnb.report.setup`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from opsnb.data.store import list_tables
from opsnb.errors import ErrorCode
from opsnb.market.basket import association_rules
from opsnb.market.charts import plot_calibration, plot_category_trend, plot_funnel, plot_price_bands
from opsnb.market.clv import (
    CLVResult,
    clv_from_orders,
    clv_from_summary,
    customer_summary_from_totals,
)
from opsnb.market.customers import (
    cohorts,
    load_orders_file,
    plot_cohort_heatmap,
    plot_rfm_segments,
    repurchase_rate,
    rfm,
    rfm_from_summary,
    rfm_segments,
)
from opsnb.market.customers_sql import cohorts_sql, customer_totals_sql
from opsnb.market.economics import channel_economics, funnel
from opsnb.market.indices import (
    IndexCalibration,
    apply_calibration,
    calibrate_from_market,
    competitor_comparison,
)
from opsnb.market.orders_sql import basket_lines_sql, payback_curves_sql
from opsnb.market.trends import category_trend, previous_period, price_band_table

__all__ = [
    "MarketData",
    "load_market_data",
    "show_excluded",
    "show_category_trend",
    "show_price_bands",
    "show_competitors",
    "show_funnel",
    "show_channel_economics",
    "show_rfm",
    "show_cohorts",
    "show_clv",
    "show_basket",
    "show_summary",
]

# why a section has no data: "" (it has), an orders file instead of the store, no such table in
# the store, no rows in the period, an orders file without item lines
OK, FROM_FILE, NO_TABLE, NO_ROWS, NO_ITEMS_IN_FILE = (
    "",
    "orders_file",
    "no_table",
    "no_rows",
    "no_items",
)


@dataclass(frozen=True)
class MarketData:
    """Everything notebook 01 reads, once, with the reason when a part is missing.

    ``start``/``end``: the report period as timestamps, ``end`` exclusive (the day after the
    period). ``orders``/``items``: for an ``orders_file``, its orders before ``end`` (the whole
    history: RFM, cohorts and CLV look back) and order items (order_id, sku, …); None for the
    store, whose ``orders`` (before ``end``, ``channel`` in the chosen channels) and
    ``order_items`` tables the sections aggregate in DuckDB, reading only the columns and rows
    each needs (the per-customer totals RFM, the repurchase rate and CLV share are read once
    per run); ``excluded``: rows dropped from ``orders_file`` (reason, rows, amount, note),
    None for the store. ``estimates``: market rows of the chosen category with ``est_gmv`` from
    ``calibration`` (fitted on the shop's own months of every category, ``own_months``);
    ``daily``/``daily_prev``: daily_metrics of the period and of the period before.
    ``*_gap`` says why a part is None: "" (present), "orders_file", "no_table", "no_rows" or
    "no_items" (an orders file without item lines). ``channels``: the channels kept (empty:
    all).
    """

    start: pd.Timestamp
    end: pd.Timestamp
    orders: pd.DataFrame | None = field(default=None, repr=False)
    items: pd.DataFrame | None = field(default=None, repr=False)
    excluded: pd.DataFrame | None = field(default=None, repr=False)
    estimates: pd.DataFrame | None = field(default=None, repr=False)
    own_months: pd.DataFrame | None = field(default=None, repr=False)
    calibration: IndexCalibration | None = None
    daily: pd.DataFrame | None = field(default=None, repr=False)
    daily_prev: pd.DataFrame | None = field(default=None, repr=False)
    orders_file: str = ""
    category: str = ""
    channels: tuple[str, ...] = ()
    orders_gap: str = OK
    items_gap: str = OK
    market_gap: str = OK
    traffic_gap: str = OK
    # what several sections read from the store, read once (a replace() starts afresh)
    _shared: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def period_orders(self) -> pd.DataFrame | None:
        """The orders inside the report period (of an orders file; None for the store)."""
        return None if self.orders is None else self.orders[self.orders["order_time"] >= self.start]

    def in_period(self, frame: pd.DataFrame, col: str = "month") -> pd.DataFrame:
        """Rows of ``frame`` whose ``col`` falls in the report period."""
        return frame[(frame[col] >= self.start) & (frame[col] < self.end)]


def load_market_data(
    ctx,
    *,
    category: str = "",
    channels: Iterable[str] | str | None = None,
    orders_file: str = "",
    orders_columns: str = "",
) -> MarketData:
    """Read the inputs of notebook 01 from the store (or orders and items from ``orders_file``,
    see :func:`opsnb.market.customers.load_orders_file`; it has no market or traffic data).

    ``category`` limits the market sections to one 类目 (empty: all); ``channels`` limits orders
    and daily metrics to those traffic sources (empty or None: all). Tables the store lacks are
    not an error: the sections that need them say so.
    """
    start = pd.Timestamp(ctx.period.start)
    end = pd.Timestamp(ctx.period.end) + pd.Timedelta(days=1)
    if orders_file:
        orders, items, excluded = load_orders_file(orders_file, orders_columns)
        orders = orders[orders["order_time"] < end]
        return MarketData(
            start=start,
            end=end,
            orders=orders,
            items=items,
            excluded=excluded,
            orders_file=orders_file,
            category=category,
            orders_gap=OK if len(orders) else NO_ROWS,
            items_gap=OK if items is not None else NO_ITEMS_IN_FILE,
            market_gap=FROM_FILE,
            traffic_gap=FROM_FILE,
        )
    chan = _names(channels) or None
    # the reads below share this cell's connection; without DuckDB's progress bar, which a
    # slow read (a busy machine) would otherwise leave in the report as a widget
    ctx.con.execute("SET enable_progress_bar = false")
    tables = set(list_tables(ctx.con))
    kw: dict = {"orders_gap": NO_TABLE, "items_gap": NO_TABLE}
    if "orders" in tables:  # the sections aggregate the orders in SQL: here only whether any
        where, params = _orders_where(end, chan or ())
        n = ctx.con.execute(f"SELECT count(*) FROM orders WHERE {where}", params).fetchone()[0]
        kw.update(orders_gap=OK if n else NO_ROWS)
    if "order_items" in tables:
        kw.update(items_gap=OK)
    kw.update(_market_part(ctx, category, tables))
    kw.update(_traffic_part(ctx, chan, tables))
    return MarketData(start=start, end=end, category=category, channels=tuple(chan or ()), **kw)


def _orders_where(end: pd.Timestamp, channels, start: pd.Timestamp | None = None):
    """(where, params) selecting the store's orders before ``end`` (and from ``start``) in
    ``channels`` (empty: all)."""
    where, params = "order_time < ?", [end.to_pydatetime()]
    if start is not None:
        where, params = f"order_time >= ? AND {where}", [start.to_pydatetime(), *params]
    if channels:
        where += f" AND channel IN ({', '.join('?' * len(channels))})"
        params += list(channels)
    return where, params


def _store_orders(data: MarketData) -> tuple[str, list] | None:
    """(where, params) selecting the orders the customer sections read from the store's
    ``orders`` table (None for an orders file): they aggregate there in SQL."""
    return None if data.orders_file else _orders_where(data.end, data.channels)


def _customer_totals(ctx, data: MarketData) -> pd.DataFrame:
    """Per-customer totals of the store's orders (:func:`customer_totals_sql`), read once per
    run: RFM, the repurchase rate and CLV all start from them. Near-tied totals are summed
    again in the order ``ctx.read_all`` gives, so the scores are those of the pandas path."""
    if "totals" not in data._shared:
        where, params = _store_orders(data)
        data._shared["totals"] = customer_totals_sql(
            ctx.con, "orders", where=where, params=params, row_order="order_time, order_id"
        )
    return data._shared["totals"]


def _market_part(ctx, category: str, tables: set[str]) -> dict:
    if "market" not in tables:
        return {"market_gap": NO_TABLE}
    in_period = ctx.read("market")
    if category:
        in_period = in_period[in_period["category"] == category]
    if in_period.empty:
        return {"market_gap": NO_ROWS}
    every = ctx.read_all("market")
    cal = calibrate_from_market(every)
    est = apply_calibration(every, cal)
    return {
        "estimates": est[est["category"] == category] if category else est,
        "own_months": every.query("is_own and own_gmv == own_gmv"),
        "calibration": cal,
    }


def _traffic_part(ctx, chan, tables: set[str]) -> dict:
    if "daily_metrics" not in tables:
        return {"traffic_gap": NO_TABLE}
    daily = ctx.read("daily_metrics", channels=chan)
    if daily.empty:
        return {"traffic_gap": NO_ROWS}
    s, e = previous_period(ctx.period.start, ctx.period.end)
    prev = ctx.read("daily_metrics", channels=chan, start=s.date(), end=e.date())
    return {"daily": daily, "daily_prev": prev}


def _names(values: Iterable[str] | str | None) -> list[str]:
    """A list parameter as names; a comma-separated string is split (``"抖音, 小红书"``)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = values.split(",")
    return [str(v).strip() for v in values if str(v).strip()]


_WHAT = {
    "orders": ("订单", "orders"),
    "order_items": ("商品明细", "order items"),
    "market": ("市场（类目与竞品指数）", "market data (category and competitor indices)"),
    "daily_metrics": ("流量（每日指标）", "traffic data (daily metrics)"),
}


def _skipped(ctx, data: MarketData, table: str, gap: str) -> None:
    """Say why a section is left out."""
    zh, en = _WHAT[table]
    if gap == FROM_FILE:
        ctx.say(
            f"本节跳过：订单来自文件 {data.orders_file}，没有{zh}数据。",
            f"Section skipped: orders come from the file {data.orders_file}, which has no {en}.",
        )
    elif gap == NO_ITEMS_IN_FILE:
        ctx.say(
            f"本节跳过：文件 {data.orders_file} 没有商品明细（需要 sku、qty、price 列的映射）。",
            f"Section skipped: the file {data.orders_file} has no item lines (map its sku, qty "
            "and price columns in orders_columns).",
        )
    elif gap == NO_TABLE:
        ctx.say(
            f"本节跳过：数据库中没有 {table} 表（{zh}），可用 `opsnb load {table} 文件` 导入。",
            f"Section skipped: the store has no {table} table ({en}); import it with "
            f"`opsnb load {table} FILE`.",
        )
    else:
        cat_zh = f"、类目 {data.category}" if data.category and table == "market" else ""
        cat_en = f" in category {data.category}" if data.category and table == "market" else ""
        ctx.say(
            f"本节跳过：{table} 表在周期 {ctx.period}{cat_zh} 内没有数据。",
            f"Section skipped: the {table} table has no rows for {ctx.period}{cat_en}.",
        )


def show_excluded(ctx, data: MarketData) -> None:
    """For an orders file: the rows excluded and why, and what remains (nothing for the store)."""
    ex = data.excluded
    if ex is None:
        return
    ctx.h2("数据说明：剔除的记录", "Data note: excluded rows")
    ctx.table(ex, int_cols=["rows"], money=["amount"])
    n_rows = int(ex["rows"].sum())
    n_orders = len(data.orders)
    n_cust = data.orders["customer_id"].nunique()
    ctx.say(
        f"文件 {data.orders_file} 中共剔除 {n_rows:,} 行（原因见上表），保留 {n_orders:,} 笔订单、{n_cust:,} 位客户用于客户分析。",
        f"{n_rows:,} rows of {data.orders_file} were excluded (reasons above); {n_orders:,} "
        f"orders from {n_cust:,} customers remain for customer analytics.",
    )


def show_category_trend(ctx, data: MarketData) -> pd.DataFrame | None:
    """Monthly estimated GMV per category up to the period's end, with YoY and seasonally
    adjusted MoM of the last month. Returns the :func:`~opsnb.market.research.category_trend`."""
    if data.estimates is None:
        return _skipped(ctx, data, "market", data.market_gap)
    est = data.estimates
    trend = category_trend(est[est["month"] < data.end], value="est_gmv")
    ctx.show(plot_category_trend(trend, lang=ctx.lang))
    last = list(trend.groupby("category").tail(1).itertuples())
    ctx.say(
        "；".join(
            f"{r.category} {r.month:%Y-%m} 同比 {ctx.pct(r.yoy)}，季节调整后环比 {ctx.pct(r.mom_sa)}"
            for r in last
        )
        + "（估算成交额，由本店指数校准换算）。",
        "; ".join(
            f"{r.category} {r.month:%Y-%m}: YoY {ctx.pct(r.yoy)}, seasonally adjusted MoM "
            f"{ctx.pct(r.mom_sa)}"
            for r in last
        )
        + " (estimated GMV from the calibrated index).",
    )
    return trend


def show_price_bands(ctx, data: MarketData) -> pd.DataFrame | None:
    """Sales share against competition per price band in the period, naming the opportunity
    bands. Returns the :func:`~opsnb.market.research.price_band_table`."""
    if data.estimates is None:
        return _skipped(ctx, data, "market", data.market_gap)
    bands = price_band_table(data.in_period(data.estimates), value="est_gmv")
    ctx.table(
        bands,
        money=["sales"],
        pct=["sales_share", "listings_share", "own_share"],
        int_cols=["shops", "listings"],  # a monthly mean of counts, read as a count
        highlight={"opportunity": {True: "#DFF2E6"}},
    )
    ctx.show(plot_price_bands(bands, lang=ctx.lang))
    opp = list(bands[bands["opportunity"]].itertuples())
    if opp:
        ctx.say(
            "机会价格带："
            + "、".join(
                f"{r.price_band}（成交占比 {ctx.pct(r.sales_share)}，{r.shops} 家竞店）"
                for r in opp
            )
            + "——成交占比高而竞争少，可优先布局。",
            "Opportunity bands: "
            + ", ".join(
                f"{r.price_band} ({ctx.pct(r.sales_share)} of sales, {r.shops} competing shops)"
                for r in opp
            )
            + " — high share, low competition.",
        )
    else:
        ctx.say(
            "没有同时满足“成交占比高、竞争少”的价格带。",
            "No band combines a high sales share with low competition.",
        )
    return bands


def show_competitors(
    ctx, data: MarketData, competitors: Iterable[str] | str = ()
) -> pd.DataFrame | None:
    """The index calibration chart, then our shop against ``competitors`` (empty: every shop)
    on calibrated GMV in the period, with our share and rank; records
    ``calibration_loo_mape`` and ``own_market_share``. Returns the
    :func:`~opsnb.market.research.competitor_comparison` rows shown."""
    if data.estimates is None:
        return _skipped(ctx, data, "market", data.market_gap)
    cal = data.calibration
    own = data.own_months
    ctx.show(plot_calibration(own["sales_index"], own["own_gmv"], cal, lang=ctx.lang))
    cc = competitor_comparison(data.in_period(data.estimates))
    comp = _names(competitors)
    if comp:
        cc = cc[cc["is_own"] | cc["competitor"].isin(comp)]
    ctx.table(cc, money=["value"], pct=["share", "growth", "extrapolated_share"])
    share = float(cc.loc[cc["is_own"], "share"].sum())
    rank = int(cc.reset_index(drop=True).index[cc["is_own"].to_numpy()][0]) + 1
    ctx.say(
        f"指数还原采用 {cal.method} 单调拟合（{cal.n} 个本店月度点，留一法 MAPE {ctx.pct(cal.loo_mape)}）；本店估算份额 {ctx.pct(share)}，排名第 {rank}。超出本店指数范围的估算为外推，误差可能更大（见“外推占比”列）。",
        f"Indices are mapped to GMV with a monotone {cal.method} fit ({cal.n} own months, "
        f"leave-one-out MAPE {ctx.pct(cal.loo_mape)}); our estimated share is {ctx.pct(share)}, "
        f"rank {rank}. Estimates beyond our own index range are extrapolations "
        "(see the Extrapolated share column).",
    )
    ctx.record(calibration_loo_mape=cal.loo_mape, own_market_share=share)
    return cc


_STAGE_ZH = {"visitors": "访客", "cart_users": "加购", "order_users": "下单", "buyers": "支付"}
_STAGE_EN = {"visitors": "visit", "cart_users": "cart", "order_users": "order", "buyers": "pay"}


def show_funnel(ctx, data: MarketData) -> pd.DataFrame | None:
    """Funnel per channel against the previous period, naming the shop-wide step that loses the
    most users. Returns the :func:`~opsnb.market.research.funnel`."""
    if data.daily is None:
        return _skipped(ctx, data, "daily_metrics", data.traffic_gap)
    prev = data.daily_prev if len(data.daily_prev) else None
    fun = funnel(data.daily, prev)
    ctx.show(plot_funnel(fun, lang=ctx.lang))
    names = _STAGE_ZH if ctx.lang == "zh" else _STAGE_EN
    ctx.table(
        fun.assign(stage=fun["stage"].map(lambda s: names.get(s, s))),
        pct=["step_rate", "drop_off", "overall_rate", "prev_step_rate"],
        int_cols=["users"],
    )
    stages = list(dict.fromkeys(fun["stage"]))  # in funnel order
    steps = fun[fun["stage"] != stages[0]]
    worst = steps[steps["channel"] == "全部"].sort_values("drop_off").iloc[-1]
    if stages == ["visitors", "cart_users", "buyers"]:
        made_zh = "数据只有访客、加购和支付人数，所以漏斗为 访客 → 加购 → 支付（缺少下单人数）。"
        made_en = (
            " The data hold visitors, cart users and paying buyers, so the funnel is "
            "visit → cart → pay (no order-placed count)."
        )
    else:
        made_zh = "漏斗为 " + " → ".join(_STAGE_ZH.get(s, s) for s in stages) + "。"
        made_en = " The funnel is " + " → ".join(_STAGE_EN.get(s, s) for s in stages) + "."
    ctx.say(
        f"全店流失最大的环节是进入“{_STAGE_ZH.get(worst.stage, worst.stage)}”（流失 {ctx.pct(worst.drop_off)}）。{made_zh}",
        f"The largest shop-wide drop-off is into '{_STAGE_EN.get(worst.stage, worst.stage)}' ({ctx.pct(worst.drop_off)} "
        f"lost).{made_en}",
    )
    return fun


def show_channel_economics(ctx, data: MarketData, *, margin: float = 0.3) -> pd.DataFrame | None:
    """CAC, ROI and payback per channel, naming the cheapest and the dearest paid channel.
    Returns the :func:`~opsnb.market.research.channel_economics`."""
    if data.daily is None:
        return _skipped(ctx, data, "daily_metrics", data.traffic_gap)
    sql = _store_orders(data)
    if sql is None or data.orders_gap == NO_TABLE:
        econ = channel_economics(data.daily, data.orders, margin=margin)
    else:  # the payback curves aggregated in DuckDB
        where, params = sql
        curves = payback_curves_sql(ctx.con, "orders", margin=margin, where=where, params=params)
        econ = channel_economics(data.daily, margin=margin, curves=curves)
    ctx.table(
        econ,
        money=["ad_spend", "gmv", "cac", "cac_low", "cac_high"],
        pct=["conversion_rate", "roi", "roi_low", "roi_high"],
        int_cols=["buyers", "new_buyers"],
    )
    paid = econ.dropna(subset=["cac"]).sort_values("cac")
    if paid.empty:
        ctx.say(
            "本期没有投放花费，无法计算 CAC。", "No ad spend in the period: CAC cannot be computed."
        )
        return econ
    lo, hi = paid.iloc[0], paid.iloc[-1]
    ctx.say(
        "投放渠道中获客成本最低的是 "
        f"{lo.channel}（CAC {ctx.money(lo.cac)}，95% 区间 {ctx.money(lo.cac_low)}–{ctx.money(lo.cac_high)}，转化率 {ctx.pct(lo.conversion_rate, 2)}），最高的是 {hi.channel}（CAC {ctx.money(hi.cac)}，转化率 {ctx.pct(hi.conversion_rate, 2)}）。毛利率按 {ctx.pct(margin)} 计。",
        f"Among paid channels {lo.channel} acquires cheapest (CAC {ctx.money(lo.cac)}, 95% "
        f"interval {ctx.money(lo.cac_low)}–{ctx.money(lo.cac_high)}, conversion "
        f"{ctx.pct(lo.conversion_rate, 2)}) and {hi.channel} is dearest (CAC "
        f"{ctx.money(hi.cac)}, conversion {ctx.pct(hi.conversion_rate, 2)}). Margin assumed "
        f"{ctx.pct(margin)}.",
    )
    return econ


def show_rfm(ctx, data: MarketData) -> pd.DataFrame | None:
    """RFM segments of the customers up to the period's end, with how the scores are made;
    records ``customers`` and ``top_segment_revenue_share``. Returns the
    :func:`~opsnb.market.customers.rfm_segments` summary."""
    if data.orders_gap:
        return _skipped(ctx, data, "orders", data.orders_gap)
    sql = _store_orders(data)
    if sql is None:
        table = rfm(data.orders, as_of=data.end, lang=ctx.lang)
    else:  # the per-customer totals from one DuckDB pass
        table = rfm_from_summary(_customer_totals(ctx, data), as_of=data.end, lang=ctx.lang)
    seg = rfm_segments(table, lang=ctx.lang)
    ctx.table(
        seg,
        money=["monetary", "avg_monetary"],
        pct=["customer_share", "revenue_share"],
        int_cols=["customers"],
    )
    ctx.show(plot_rfm_segments(seg, lang=ctx.lang))
    top = seg.iloc[0]
    ctx.say(
        f"{top.segment} 占客户 {ctx.pct(top.customer_share)}，贡献成交额 {ctx.pct(top.revenue_share)}。评分方法：R/F/M 各按五分位打分（5 = 最好，R 反向），并列客户取并列组最低名次的分位；高/低以各分数的均值为界。",
        f"{top.segment}: {ctx.pct(top.customer_share)} of customers, "
        f"{ctx.pct(top.revenue_share)} of revenue. Scores are quintiles (5 = best, recency "
        "reversed); tied customers share the quintile of the tie group's lowest rank; high/low "
        "splits at each score's mean.",
    )
    ctx.record(customers=len(table), top_segment_revenue_share=float(top.revenue_share))
    return seg


def show_cohorts(ctx, data: MarketData, *, months: int = 12) -> pd.DataFrame | None:
    """Retention heat map of the first-purchase cohorts of the last ``months`` months, month-1
    retention and the repurchase rate; records ``month1_retention`` and ``repurchase_rate``.
    Returns those cohorts (:func:`~opsnb.market.customers.cohorts` rows)."""
    if data.orders_gap:
        return _skipped(ctx, data, "orders", data.orders_gap)
    end = data.end
    sql = _store_orders(data)
    if sql is None:
        coh = cohorts(data.orders, end=end - pd.Timedelta(days=1))
        rep = repurchase_rate(data.orders)
    else:
        where, params = sql
        coh = cohorts_sql(
            ctx.con, "orders", where=where, params=params, end=end - pd.Timedelta(days=1)
        )
        totals = _customer_totals(ctx, data)  # RFM's: customers with two or more days
        rep = int((totals["frequency"] >= 2).sum()) / len(totals)
    coh = coh[coh["cohort"] >= (end - pd.DateOffset(months=months)).strftime("%Y-%m")]
    ctx.show(plot_cohort_heatmap(coh, lang=ctx.lang))
    m1 = float(coh.loc[coh["months_since_first"] == 1, "retention_rate"].mean())
    ctx.say(
        f"近 12 个月各首购队列次月留存率平均 {ctx.pct(m1)}；全部客户复购率（至少两个不同购买日）{ctx.pct(rep)}。",
        f"Month-1 retention averages {ctx.pct(m1)} over the last 12 monthly cohorts; "
        f"{ctx.pct(rep)} of all customers bought on two or more days.",
    )
    ctx.record(month1_retention=m1, repurchase_rate=rep)
    return coh


def show_clv(
    ctx,
    data: MarketData,
    cohort_table: pd.DataFrame | None,
    *,
    horizon_days: int = 365,
    margin: float = 0.3,
    max_customers: int = 20_000,
    n_draws: int = 50,
) -> CLVResult | None:
    """Empirical value per cohort customer (from :func:`show_cohorts`), then predictive CLV
    (BG/NBD + Gamma-Gamma, :func:`~opsnb.market.clv.clv_from_orders`) with the BG/NBD
    parameters; records ``mean_clv``, ``mean_clv_low`` and ``mean_clv_high``."""
    if data.orders_gap or cohort_table is None:
        return _skipped(ctx, data, "orders", data.orders_gap or NO_ROWS)
    ctx.show(plot_cohort_heatmap(cohort_table, value="cum_gmv_per_customer", lang=ctx.lang))
    kw = dict(
        horizon_days=horizon_days, margin=margin, max_customers=max_customers, n_draws=n_draws
    )
    if _store_orders(data) is None:
        ltv = clv_from_orders(data.orders, as_of=data.end, **kw)
    else:  # fitted on the per-customer totals RFM read
        totals = _customer_totals(ctx, data)
        ltv = clv_from_summary(customer_summary_from_totals(totals, as_of=data.end), **kw)
    if ltv.error_code:
        few = ltv.error_code == ErrorCode.TOO_FEW_OBSERVATIONS
        ctx.say(
            f"{'客户或复购太少' if few else '模型没有收敛'}，无法拟合 BG/NBD（{ltv.n_fitted:,} 位客户），本节不估算预测终身价值。",
            f"BG/NBD could not be fitted ({'too few customers or repeat purchases' if few else 'no convergence'}; "
            f"{ltv.n_fitted:,} customers): no predictive lifetime value.",
        )
        return ltv
    ctx.table(ltv.bg.to_frame(), caption=("BG/NBD 参数（周）", "BG/NBD parameters (weeks)"))
    ctx.say(
        f"BG/NBD + {ltv.spend_model}：未来 {horizon_days} 天每位客户的预期毛利 {ctx.money(ltv.mean_clv)}（参数不确定性 95% 区间 {ctx.money(ltv.mean_clv_low)}–{ctx.money(ltv.mean_clv_high)}），平均存活概率 {ctx.pct(ltv.mean_p_alive)}；拟合用 {ctx.count(ltv.n_fitted)} / {ctx.count(ltv.n_customers)} 位客户。",
        f"BG/NBD + {ltv.spend_model}: expected margin per customer over the next {horizon_days} "
        f"days {ctx.money(ltv.mean_clv)} (95% parameter interval {ctx.money(ltv.mean_clv_low)}"
        f"–{ctx.money(ltv.mean_clv_high)}); mean P(alive) {ctx.pct(ltv.mean_p_alive)}; fitted "
        f"on {ltv.n_fitted:,} of {ltv.n_customers:,} customers.",
    )
    ctx.record(
        mean_clv=ltv.mean_clv, mean_clv_low=ltv.mean_clv_low, mean_clv_high=ltv.mean_clv_high
    )
    return ltv


def show_basket(ctx, data: MarketData, *, top: int = 10) -> pd.DataFrame | None:
    """The ``top`` item pairs by lift in the period's orders (every valid line of an orders file,
    guest checkouts included), naming the strongest. Returns the
    :func:`~opsnb.market.basket.association_rules`."""
    if data.items_gap:
        return _skipped(ctx, data, "order_items", data.items_gap)
    items = data.items
    if data.excluded is None:  # the store: the (order, sku) lines of the period's orders
        if data.orders_gap == NO_TABLE:
            return _skipped(ctx, data, "orders", data.orders_gap)
        where, params = _orders_where(data.end, data.channels, start=data.start)
        items = basket_lines_sql(ctx.con, where=where, params=params)
    rules = association_rules(items, min_support=0.001, min_lift=1.0, top=top)
    ctx.table(
        rules,
        pct=["support", "confidence", "antecedent_support", "consequent_support"],
        int_cols=["count"],
    )
    if rules.empty:
        ctx.say("没有达到支持度阈值的商品组合。", "No item pair reaches the support threshold.")
        return rules
    r = rules.iloc[0]
    n_orders = items["order_id"].nunique()
    ctx.say(
        f"提升度最高的规则：买 {r.antecedent} 的订单有 {ctx.pct(r.confidence)} 也买 {r.consequent}，是随机搭配的 {r.lift:.1f} 倍（{int(r['count'])} 单，共 {ctx.count(n_orders)} 单），适合做搭配推荐或组合装。",
        f"Top rule by lift: {ctx.pct(r.confidence)} of orders with {r.antecedent} also hold "
        f"{r.consequent}, {r.lift:.1f}× chance ({int(r['count'])} of {n_orders:,} orders) — a "
        "bundle or cross-sell candidate.",
    )
    return rules


def show_summary(
    ctx,
    *,
    bands: pd.DataFrame | None = None,
    funnel_table: pd.DataFrame | None = None,
    economics: pd.DataFrame | None = None,
    segments: pd.DataFrame | None = None,
    rules: pd.DataFrame | None = None,
) -> None:
    """The 结论 / Summary box of the market study: the figures the sections recorded
    (own market share, top segment's revenue share, month-1 retention, repurchase rate, mean
    CLV; a section that had no data has none) and what to do, from the tables the sections
    returned: the opportunity price bands, the cheapest paid channel, the leakiest funnel step,
    the top bundle. Sections without data add no line."""
    rec = ctx.records
    keys = (
        "own_market_share",
        "top_segment_revenue_share",
        "month1_retention",
        "repurchase_rate",
        "mean_clv",
    )
    items = [ctx.item(k, rec[k]) for k in keys if rec.get(k) is not None]
    actions = []
    if bands is not None and len(bands) and bands["opportunity"].any():
        opp = bands[bands["opportunity"]]["price_band"].astype(str)
        actions.append(
            (
                f"优先在机会价格带 {'、'.join(opp)} 布局新品（成交占比高、竞争少）。",
                f"Launch into the opportunity price bands {', '.join(opp)} first (high share, low competition).",
            )
        )
    if economics is not None and len(economics.dropna(subset=["cac"])) > 1:
        paid = economics.dropna(subset=["cac"]).sort_values("cac")
        lo, hi = paid.iloc[0], paid.iloc[-1]
        actions.append(
            (
                f"把预算向获客成本最低的 {lo.channel}（{ctx.money(lo.cac)}）倾斜，复核最高的 {hi.channel}（{ctx.money(hi.cac)}）。",
                f"Shift budget towards {lo.channel}, the cheapest paid channel (CAC {ctx.money(lo.cac)}); review {hi.channel}, the dearest ({ctx.money(hi.cac)}).",
            )
        )
    if funnel_table is not None and len(funnel_table):
        stages = list(dict.fromkeys(funnel_table["stage"]))
        steps = funnel_table[
            (funnel_table["stage"] != stages[0]) & (funnel_table["channel"] == "全部")
        ]
        if len(steps):
            w = steps.sort_values("drop_off").iloc[-1]
            actions.append(
                (
                    f"优化进入“{_STAGE_ZH.get(w.stage, w.stage)}”的环节：全店流失 {ctx.pct(w.drop_off)}，是漏斗中最大的一步。",
                    f"Work on the step into '{_STAGE_EN.get(w.stage, w.stage)}': {ctx.pct(w.drop_off)} of users are lost there, the largest drop in the funnel.",
                )
            )
    if segments is not None and len(segments):
        top = segments.iloc[0]
        actions.append(
            (
                f"维护 {top.segment}：占客户 {ctx.pct(top.customer_share)}，贡献成交额 {ctx.pct(top.revenue_share)}。",
                f"Look after {top.segment}: {ctx.pct(top.customer_share)} of customers, {ctx.pct(top.revenue_share)} of revenue.",
            )
        )
    if rules is not None and len(rules):
        r = rules.iloc[0]
        actions.append(
            (
                f"试推 {r.antecedent} + {r.consequent} 搭配或组合装（提升度 {r.lift:.1f}）。",
                f"Try a {r.antecedent} + {r.consequent} bundle or cross-sell (lift {r.lift:.1f}).",
            )
        )
    if not items and not actions:
        actions.append(
            (
                "本期没有可汇总的市场或客户数据，各节说明了缺少的数据。",
                "There is no market or customer data to sum up; each section says what is missing.",
            )
        )
    ctx.summary(items, actions)
