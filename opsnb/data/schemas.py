"""Data contracts: the canonical tables of opsnb, their columns, aliases and rules.

This module is pure description (no pandas import). :mod:`opsnb.data` turns each
:class:`Table` into a pandera schema, loads files against it and reports every problem at once.

Column names are snake_case; Chinese headers (and a few common English variants) are accepted
on load through ``aliases``. Rates (转化率, 客单价, 退款率) are never stored: they are derived
from counts (:func:`opsnb.data.add_rates`), so sums over days or channels stay right.

Tables
------
``daily_metrics``  one row per (date, channel): traffic, orders, GMV, refunds, ad spend.
``orders``         one row per order: who, when, which channel, amount, refund.
``order_items``    one row per order line: sku, qty, price.
``experiments``    one row per experiment unit (user/visitor/store): variant and metrics.
``plan``           表1 全周期计划表: tasks with owner, dates, budget and status.
``milestones``     表2 大促执行管控表: milestones with completion standard, owner, risk, response.
``targets``        goals per period, metric and channel (运营目标).
``market``         category and competitor indices per month and price band (市场数据).
``product_daily``  one row per (date, sku): product traffic, cart, buyers, units, GMV, refunds.
``skus``           商品档案: one row per SKU: name, category, price, cost, supplier, lead time, MOQ.
``inventory``      库存: one row per (date, sku): stock on hand and in transit at the day's end.
``purchase_orders`` 采购单: one row per purchase order line: ordered, expected, quantity.

Every table has a unique key (``Table.unique``): loading the same rows twice changes nothing,
and re-importing an overlapping export updates the rows with the same key (upsert).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Column",
    "Table",
    "TABLES",
    "get_table",
    "PLAN_STATUSES",
    "RISK_LEVELS",
    "ALL_CHANNELS",
    "DEMO_CHANNELS",
    "contracts_markdown",
]

Dtype = Literal["date", "datetime", "int", "float", "str", "bool"]

PLAN_STATUSES = ("未开始", "进行中", "已完成", "延期")
"""Allowed 表1 statuses: not started, in progress, done, delayed."""

RISK_LEVELS = ("无", "低", "中", "高")
"""Allowed 表2 risk levels: none, low, medium, high."""

ALL_CHANNELS = "全部"
"""Channel value meaning 'the whole shop' in targets."""

DEMO_CHANNELS = ("自然搜索", "付费推广", "抖音", "小红书", "直播", "老客/私域")


@dataclass(frozen=True)
class Column:
    """One column of a table.

    ``min``/``max`` bound numeric values (inclusive); ``allowed`` lists the permitted values of a
    text column; ``required`` columns must be present in a file, optional ones are added as
    missing when absent; ``nullable`` says whether a present column may have empty cells.
    ``percent`` lets a number column accept '3.2%' (stored as the fraction 0.032); elsewhere a
    percentage is an error (rates are derived from counts, never stored).
    """

    name: str
    dtype: Dtype
    description: str
    aliases: tuple[str, ...] = ()
    required: bool = True
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    percent: bool = False
    ident: bool = False  # an identifier kept exact as text ('3900…, 123.0 → 123; 1.0E+17 refused)


@dataclass(frozen=True)
class Table:
    """A canonical table: columns, unique key and cross-column rules.

    ``rules`` are (name, pandas-eval expression that must hold per row, message) triples, e.g.
    ``("buyers_le_visitors", "buyers <= visitors", "buyers ≤ visitors")``. Rows with a missing
    value in an expression's columns are not judged by that rule.
    """

    name: str
    zh_name: str
    description: str
    columns: tuple[Column, ...]
    unique: tuple[str, ...] = ()
    rules: tuple[tuple[str, str, str], ...] = ()
    extra_columns: bool = False  # True: unknown columns are kept (experiments' metrics)
    time_column: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def alias_map(self) -> dict[str, str]:
        """Lower-cased header → canonical name, for every name and alias."""
        out: dict[str, str] = {}
        for c in self.columns:
            for a in (c.name, *c.aliases):
                out[_norm_header(a)] = c.name
        return out


def _norm_header(h: str) -> str:
    return "".join(str(h).strip().lower().replace("（", "(").replace("）", ")").split())


_C = Column

DAILY_METRICS = Table(
    name="daily_metrics",
    zh_name="每日经营数据",
    description="One row per date and traffic source. Rates are derived, never stored.",
    time_column="date",
    columns=(
        _C("date", "date", "Calendar day.", ("日期", "统计日期", "day", "dt")),
        _C(
            "channel",
            "str",
            "Traffic source (流量来源).",
            ("渠道", "流量来源", "来源", "traffic_source", "source"),
        ),
        _C("visitors", "int", "Unique visitors (访客数, UV).", ("访客数", "访客", "uv"), min=0),
        _C(
            "buyers",
            "int",
            "Paying buyers (支付买家数).",
            ("买家数", "支付买家数", "成交人数", "支付人数"),
            min=0,
        ),
        _C(
            "orders",
            "int",
            "Paid orders (支付订单数).",
            ("订单数", "支付订单数", "成交订单数", "子订单数"),
            min=0,
        ),
        _C(
            "gmv",
            "float",
            "Paid amount in yuan (成交金额 / 支付金额).",
            ("成交金额", "支付金额", "销售额", "GMV", "gmv(元)"),
            min=0,
        ),
        _C(
            "refund_orders",
            "int",
            "Orders refunded (退款订单数).",
            ("退款订单数", "退款单数", "退款笔数"),
            min=0,
        ),
        _C(
            "refund_amount",
            "float",
            "Refunded amount in yuan (退款金额).",
            ("退款金额", "成功退款金额"),
            min=0,
        ),
        _C(
            "ad_spend",
            "float",
            "Paid-promotion spend in yuan (推广花费).",
            ("推广花费", "广告花费", "花费", "投放花费", "spend"),
            min=0,
            required=False,
            nullable=True,
        ),
        _C(
            "new_buyers",
            "int",
            "Buyers buying for the first time (新买家数).",
            ("新买家数", "新客数", "新客"),
            min=0,
            required=False,
            nullable=True,
        ),
        _C(
            "cart_users",
            "int",
            "Visitors who added to cart (加购人数), for the funnel.",
            ("加购人数", "加购"),
            min=0,
            required=False,
            nullable=True,
        ),
    ),
    unique=("date", "channel"),
    rules=(
        ("buyers_le_visitors", "buyers <= visitors", "buyers (买家数) ≤ visitors (访客数)"),
        ("buyers_le_orders", "buyers <= orders", "buyers (买家数) ≤ orders (订单数)"),
        (
            "refund_orders_le_orders",
            "refund_orders <= orders",
            "refund_orders (退款订单数) ≤ orders (订单数)",
        ),
        ("refund_le_gmv", "refund_amount <= gmv", "refund_amount (退款金额) ≤ gmv (成交金额)"),
        ("new_buyers_le_buyers", "new_buyers <= buyers", "new_buyers (新买家数) ≤ buyers (买家数)"),
        ("cart_users_le_visitors", "cart_users <= visitors", "cart_users (加购人数) ≤ visitors"),
    ),
)

ORDERS = Table(
    name="orders",
    zh_name="订单表",
    description="One row per paid order.",
    time_column="order_time",
    columns=(
        _C(
            "order_id",
            "str",
            "Order number (订单号).",
            ("订单号", "订单编号", "订单id"),
            ident=True,
        ),
        _C(
            "customer_id",
            "str",
            "Buyer id (买家id / 会员id).",
            ("买家id", "客户id", "会员id", "用户id", "customer", "user_id"),
            ident=True,
        ),
        _C(
            "order_time",
            "datetime",
            "Payment time (支付时间).",
            ("支付时间", "下单时间", "订单时间", "付款时间", "order_date", "date"),
        ),
        _C(
            "channel",
            "str",
            "Traffic source of the order.",
            ("渠道", "流量来源", "来源"),
            required=False,
            nullable=True,
        ),
        _C(
            "amount",
            "float",
            "Paid amount in yuan (实付金额).",
            ("实付金额", "支付金额", "订单金额", "金额"),
            min=0,
        ),
        _C(
            "refund_amount",
            "float",
            "Refunded amount in yuan (退款金额), 0 if none.",
            ("退款金额",),
            min=0,
            required=False,
            nullable=True,
        ),
    ),
    unique=("order_id",),
    rules=(("refund_le_amount", "refund_amount <= amount", "refund_amount ≤ amount (实付金额)"),),
)

ORDER_ITEMS = Table(
    name="order_items",
    zh_name="订单明细表",
    description="One row per order line.",
    columns=(
        _C("order_id", "str", "Order number (订单号).", ("订单号", "订单编号"), ident=True),
        _C(
            "sku",
            "str",
            "Product / SKU code (商品编码).",
            ("商品编码", "商品id", "sku编码", "货号", "stockcode"),
            ident=True,
        ),
        _C("qty", "int", "Units (数量).", ("数量", "购买数量", "quantity"), min=1),
        _C(
            "price", "float", "Unit price in yuan (单价).", ("单价", "商品单价", "unitprice"), min=0
        ),
        _C(
            "category",
            "str",
            "Product category (类目).",
            ("类目", "品类"),
            required=False,
            nullable=True,
        ),
    ),
    unique=("order_id", "sku"),
)

EXPERIMENTS = Table(
    name="experiments",
    zh_name="实验数据",
    description=(
        "One row per randomisation unit. Metric columns (e.g. converted, orders, gmv, refund) "
        "and pre-period covariates (e.g. pre_gmv) are free-form extra columns."
    ),
    time_column="assigned_at",
    extra_columns=True,
    columns=(
        _C(
            "unit_id",
            "str",
            "Randomisation unit (user, visitor, store).",
            ("用户id", "访客id", "单元id", "unit", "user_id"),
            ident=True,
        ),
        _C("experiment", "str", "Experiment id (实验名称).", ("实验", "实验名称", "实验id")),
        _C(
            "variant",
            "str",
            "Arm (组别), e.g. control / treatment.",
            ("组别", "分组", "版本", "variation", "group"),
        ),
        _C(
            "assigned_at",
            "datetime",
            "When the unit entered the experiment (进组时间).",
            ("进组时间", "分流时间", "timestamp"),
            required=False,
            nullable=True,
        ),
    ),
    unique=("experiment", "unit_id"),
)

PLAN = Table(
    name="plan",
    zh_name="表1 全周期计划表",
    description="The whole-cycle plan: one row per task.",
    time_column="start",
    columns=(
        _C("cycle", "str", "Cycle / phase (周期, e.g. 预热期).", ("周期", "阶段")),
        _C("goal", "str", "Goal the task serves (目标).", ("目标",)),
        _C("strategy", "str", "Strategy (策略).", ("策略",)),
        _C("task", "str", "Task (具体任务).", ("任务", "具体任务", "行动")),
        _C("owner", "str", "Owner (负责人).", ("负责人", "执行人")),
        _C("start", "date", "Start date (开始时间).", ("开始时间", "开始日期", "开始")),
        _C("end", "date", "Deadline (截止时间).", ("截止时间", "结束时间", "截止日期", "结束")),
        _C(
            "resources",
            "str",
            "Resources needed (所需资源).",
            ("所需资源", "资源"),
            required=False,
            nullable=True,
        ),
        _C(
            "budget",
            "float",
            "Budget in yuan (预算).",
            ("预算", "预算(元)"),
            min=0,
            required=False,
            nullable=True,
        ),
        _C(
            "status",
            "str",
            "未开始 / 进行中 / 已完成 / 延期.",
            ("状态", "完成状态", "进度"),
            allowed=PLAN_STATUSES,
        ),
        _C(
            "updated",
            "date",
            "Last status update (更新时间).",
            ("更新时间", "更新日期"),
            required=False,
            nullable=True,
        ),
    ),
    unique=("cycle", "task"),
    rules=(("end_after_start", "end >= start", "end (截止时间) on or after start (开始时间)"),),
)

MILESTONES = Table(
    name="milestones",
    zh_name="表2 大促执行管控表",
    description="Promotion control table: one row per milestone.",
    time_column="date",
    columns=(
        _C("milestone", "str", "Milestone (关键节点).", ("关键节点", "里程碑", "节点")),
        _C("date", "date", "Due date (时间).", ("时间", "日期", "截止时间")),
        _C("standard", "str", "Completion standard (完成标准).", ("完成标准", "标准")),
        _C("owner", "str", "Owner (负责人).", ("负责人",)),
        _C(
            "risk",
            "str",
            "Risk level 无 / 低 / 中 / 高 (风险等级).",
            ("风险等级", "风险"),
            allowed=RISK_LEVELS,
        ),
        _C(
            "response",
            "str",
            "Response plan (应对措施); empty means none yet.",
            ("应对措施", "应对方案", "预案"),
            required=False,
            nullable=True,
        ),
        _C(
            "done",
            "bool",
            "Whether the milestone was met (是否完成).",
            ("是否完成", "完成"),
            required=False,
            nullable=True,
        ),
    ),
    unique=("milestone", "date"),
)

TARGETS = Table(
    name="targets",
    zh_name="运营目标",
    description=(
        "Targets per period (2025-Q4, 2025-11), metric (gmv, visitors, conversion_rate, aov, "
        "new_user_conversion, repurchase_rate, refund_rate, ...) and channel (全部 = whole shop)."
    ),
    columns=(
        _C(
            "period",
            "str",
            "Period label: 2025, 2025-Q4, 2025-11 or a campaign name.",
            ("周期", "期间", "时间段"),
        ),
        _C("metric", "str", "Metric name (canonical, snake_case).", ("指标",)),
        _C("channel", "str", "Channel or 全部.", ("渠道", "流量来源")),
        _C(
            "target",
            "float",
            "Target value (rates as fractions: 0.15 for 15%).",
            ("目标值", "目标"),
            percent=True,
        ),
        _C("owner", "str", "Owner (负责人).", ("负责人",), required=False, nullable=True),
    ),
    unique=("period", "metric", "channel"),
    rules=(
        (
            "rate_target_within_0_1",
            "target >= 0 and target <= 1 or not metric.str.contains('rate|conversion')",
            "a rate target (metric *_rate / *conversion) between 0 and 1 (0%–100%)",
        ),
    ),
)

MARKET = Table(
    name="market",
    zh_name="市场数据",
    description=(
        "Category and competitor data per month and price band, as exported from platform tools "
        "(生意参谋 / 京东商智 indices). own_gmv is known only for the shop's own rows."
    ),
    time_column="month",
    columns=(
        _C("month", "date", "First day of the month (月份).", ("月份", "月", "日期")),
        _C("category", "str", "Category (类目).", ("类目", "品类")),
        _C(
            "competitor",
            "str",
            "Shop name; the shop's own rows are marked by is_own.",
            ("竞品", "竞争店铺", "店铺", "shop"),
        ),
        _C("is_own", "bool", "True for the shop's own rows (本店).", ("是否本店", "本店")),
        _C("price_band", "str", "Price band (价格带), e.g. '100-200'.", ("价格带", "价格区间")),
        _C(
            "avg_price",
            "float",
            "Average selling price (均价).",
            ("均价", "平均价格", "price"),
            min=0,
        ),
        _C(
            "sales_index",
            "float",
            "Platform sales index (成交金额指数 / 交易指数).",
            ("成交金额指数", "交易指数", "销售指数"),
            min=0,
        ),
        _C(
            "visitor_index",
            "float",
            "Platform visitor index (访客指数 / 流量指数).",
            ("访客指数", "流量指数"),
            min=0,
            required=False,
            nullable=True,
        ),
        _C(
            "listings",
            "int",
            "Products on sale in the band (在售商品数).",
            ("在售商品数", "商品数"),
            min=0,
            required=False,
            nullable=True,
        ),
        _C(
            "own_gmv",
            "float",
            "Known GMV (own shop only), for index calibration.",
            ("本店成交金额", "实际成交金额"),
            min=0,
            required=False,
            nullable=True,
        ),
    ),
    unique=("month", "category", "competitor", "price_band"),
)


def _count(name: str, description: str, aliases: tuple[str, ...], **kw) -> Column:
    return _C(name, "int", description, aliases, min=0, required=False, nullable=True, **kw)


PRODUCT_DAILY = Table(
    name="product_daily",
    zh_name="商品每日数据",
    description=(
        "One row per date and product (SKU, or the platform's product id when the export has no "
        "SKU level): traffic, add-to-cart, buyers, orders, units, GMV and refunds. Rates are "
        "derived, never stored."
    ),
    time_column="date",
    columns=(
        _C("date", "date", "Calendar day.", ("日期", "统计日期", "时间", "day", "dt")),
        _C(
            "sku",
            "str",
            "SKU or product id (商品ID / SKU编码).",
            ("sku编码", "sku", "skuid", "商品id", "商品编码", "货号"),
            ident=True,
        ),
        _C(
            "sku_name",
            "str",
            "Product or SKU name (商品名称).",
            ("商品名称", "sku名称", "商品标题", "商品名"),
            required=False,
            nullable=True,
        ),
        _C(
            "category",
            "str",
            "Category (类目), the leaf level when the export has several.",
            ("类目", "品类", "三级类目", "叶子类目"),
            required=False,
            nullable=True,
        ),
        _count("visitors", "Product visitors (商品访客数).", ("商品访客数", "访客数")),
        _count("page_views", "Product page views (商品浏览量).", ("商品浏览量", "浏览量")),
        _count("cart_users", "Add-to-cart users (加购人数).", ("加购人数", "加购客户数")),
        _count("buyers", "Paying buyers (支付买家数).", ("支付买家数", "成交客户数", "成交人数")),
        _count("orders", "Paid orders (支付订单数).", ("支付订单数", "成交单量", "支付子订单数")),
        _count("units", "Units paid (支付件数).", ("支付件数", "成交商品件数", "成交件数")),
        _C(
            "gmv",
            "float",
            "Paid amount in yuan (支付金额 / 成交金额).",
            ("支付金额", "成交金额", "销售额"),
            min=0,
        ),
        _C(
            "refund_amount",
            "float",
            "Refunded amount in yuan (退款金额), dated by refund success.",
            ("退款金额", "成功退款金额", "取消及售后退款金额"),
            min=0,
            required=False,
            nullable=True,
        ),
    ),
    unique=("date", "sku"),
    rules=(
        ("buyers_le_visitors", "buyers <= visitors", "buyers (支付买家数) ≤ visitors (访客数)"),
        ("buyers_le_orders", "buyers <= orders", "buyers (支付买家数) ≤ orders (订单数)"),
        ("orders_le_units", "orders <= units", "orders (订单数) ≤ units (件数)"),
    ),
)

SKUS = Table(
    name="skus",
    zh_name="商品档案",
    description=(
        "One row per SKU (商品档案): price, unit cost, supplier and the purchasing terms "
        "(lead time, MOQ, case pack) that the 补货建议表 needs."
    ),
    columns=(
        _C(
            "sku",
            "str",
            "SKU or product id (商品ID / SKU编码), as in product_daily.",
            ("商品id", "sku编码", "sku", "skuid", "商品编码", "货号"),
            ident=True,
        ),
        _C("name", "str", "Product name (商品名称).", ("商品名称", "sku名称", "商品名", "品名")),
        _C(
            "category",
            "str",
            "Category (类目).",
            ("类目", "品类"),
            required=False,
            nullable=True,
        ),
        _C(
            "price",
            "float",
            "Selling (list) price in yuan (售价).",
            ("售价", "销售价", "零售价", "吊牌价", "标价", "list_price"),
            min=0,
        ),
        _C(
            "unit_cost",
            "float",
            "Purchase cost per unit in yuan (成本价 / 采购价).",
            ("成本价", "采购价", "进货价", "单位成本", "成本", "cost"),
            min=0,
        ),
        _C(
            "supplier",
            "str",
            "Supplier (供应商).",
            ("供应商", "供货商", "厂家"),
            required=False,
            nullable=True,
        ),
        _C(
            "lead_time_days",
            "float",
            "Days from order to goods on hand (采购周期 / 交货期, in days).",
            ("采购周期", "采购周期(天)", "交货期", "交货周期", "到货周期", "lead_time"),
            min=0,
        ),
        _C(
            "lead_time_std_days",
            "float",
            "Standard deviation of the lead time in days (采购周期波动); empty when unknown.",
            ("采购周期波动", "采购周期标准差", "交货期波动"),
            min=0,
            required=False,
            nullable=True,
        ),
        _C(
            "moq",
            "int",
            "Minimum order quantity (起订量); empty means none.",
            ("起订量", "最小起订量", "最小订货量"),
            min=0,
            required=False,
            nullable=True,
        ),
        _C(
            "case_pack",
            "int",
            "Units per case (箱规): orders are whole cases; empty means 1.",
            ("箱规", "装箱数", "每箱数量", "箱装数"),
            min=1,
            required=False,
            nullable=True,
        ),
    ),
    unique=("sku",),
    rules=(
        (
            "unit_cost_le_price",
            "unit_cost <= price",
            "unit_cost (成本价) ≤ price (售价)",
        ),
    ),
)

INVENTORY = Table(
    name="inventory",
    zh_name="库存",
    description=(
        "Stock per day and SKU (库存快照), at the end of the day: on hand (可用库存) and ordered "
        "but not yet received (在途库存). A day with on_hand = 0 is a stock-out day: its sales "
        "are censored (demand was at least what sold). One row per day and SKU: a shop with "
        "several warehouses loads their total (warehouse then names the main one or is empty)."
    ),
    time_column="date",
    columns=(
        _C("date", "date", "Snapshot day (end of day).", ("日期", "统计日期", "库存日期", "day")),
        _C(
            "sku",
            "str",
            "SKU or product id (商品ID / SKU编码).",
            ("商品id", "sku编码", "sku", "skuid", "商品编码", "货号"),
            ident=True,
        ),
        _C(
            "on_hand",
            "int",
            "Units available to sell (可用库存).",
            ("可用库存", "可售库存", "现有库存", "库存", "库存数量", "实物库存"),
            min=0,
        ),
        _C(
            "in_transit",
            "int",
            "Units ordered, not yet received (在途库存); empty means 0.",
            ("在途库存", "在途", "在途数量", "采购在途"),
            min=0,
            required=False,
            nullable=True,
        ),
        _C(
            "warehouse",
            "str",
            "Warehouse (仓库), informational; empty when the shop has one stock.",
            ("仓库", "仓库名称", "发货仓"),
            required=False,
            nullable=True,
        ),
    ),
    unique=("date", "sku"),
)

PURCHASE_ORDERS = Table(
    name="purchase_orders",
    zh_name="采购单",
    description=(
        "Purchase order lines (采购单), optional: when each order was placed, when it is "
        "expected and, once in, when it arrived — the lead-time history."
    ),
    time_column="ordered",
    columns=(
        _C(
            "sku",
            "str",
            "SKU or product id (商品ID / SKU编码).",
            ("商品id", "sku编码", "sku", "skuid", "商品编码", "货号"),
            ident=True,
        ),
        _C("ordered", "date", "Order date (下单日期).", ("下单日期", "采购日期", "订货日期")),
        _C(
            "expected",
            "date",
            "Expected arrival (预计到货日期).",
            ("预计到货日期", "预计到货", "预计入库日期"),
        ),
        _C("qty", "int", "Units ordered (采购数量).", ("采购数量", "数量", "订货数量"), min=1),
        _C(
            "received",
            "date",
            "Actual arrival (实际到货日期); empty while in transit.",
            ("实际到货日期", "到货日期", "入库日期"),
            required=False,
            nullable=True,
        ),
    ),
    unique=("sku", "ordered"),
    rules=(
        (
            "expected_after_ordered",
            "expected >= ordered",
            "expected (预计到货日期) on or after ordered (下单日期)",
        ),
        (
            "received_after_ordered",
            "received >= ordered",
            "received (实际到货日期) on or after ordered (下单日期)",
        ),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        DAILY_METRICS,
        ORDERS,
        ORDER_ITEMS,
        EXPERIMENTS,
        PLAN,
        MILESTONES,
        TARGETS,
        MARKET,
        PRODUCT_DAILY,
        SKUS,
        INVENTORY,
        PURCHASE_ORDERS,
    )
}


def get_table(name: str) -> Table:
    """Return the table contract ``name``; raise ValueError listing the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}") from None


def contracts_markdown(tables: list[str] | None = None) -> str:
    """The data contracts as Markdown (``docs/data-contracts.md`` and ``opsnb tables``)."""
    out = [
        "# Data contracts",
        "",
        "Generated by `opsnb tables`. Headers are matched case- and space-insensitively; "
        "the Chinese and English aliases below are all accepted. Values such as `3.2%`, "
        "`1,234`, `¥1,234.50`, `1.2万` and dates as `2024-06-18`, `2024/6/18`, `20240618` or "
        "Excel serial numbers are read. Check a file with `opsnb validate TABLE FILE`.",
    ]
    for t in TABLES.values():
        if tables and t.name not in tables:
            continue
        uniq = f" Unique key: ({', '.join(t.unique)})." if t.unique else ""
        out += [
            "",
            f"## `{t.name}` — {t.zh_name}",
            "",
            f"{t.description}{uniq}",
            "",
            "| column | type | required | accepted headers | meaning | rule |",
            "|---|---|---|---|---|---|",
        ]
        for c in t.columns:
            rule = []
            if c.min is not None:
                rule.append(f"≥ {c.min:g}")
            if c.max is not None:
                rule.append(f"≤ {c.max:g}")
            if c.allowed:
                rule.append(" / ".join(c.allowed))
            out.append(
                f"| `{c.name}` | {c.dtype} | {'yes' if c.required else 'no'} | "
                f"{', '.join(c.aliases)} | {c.description} | {'; '.join(rule)} |"
            )
        if t.rules:
            out += ["", "Row rules: " + "; ".join(msg for _, _, msg in t.rules) + "."]
    return "\n".join(out) + "\n"
