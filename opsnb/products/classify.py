"""商品运营: ABC/XYZ, 爆款/潜力/平销/滞销, 动销率, turnover, sell-through and the per-SKU funnel.

Inputs use the ``product_daily`` columns (``date, sku, sku_name, category, visitors,
page_views, cart_users, buyers, orders, units, gmv, refund_amount``; a function needs only the
columns it names) and ``inventory`` (``date, sku, on_hand, in_transit``).

The rules, stated once:

- **ABC** by GMV: SKUs sorted by GMV; A while the cumulative share is within ``a_share`` (80 %)
  — the SKU that crosses it included —, B within ``b_share`` (95 %), C the rest.
- **XYZ** by demand variability: the coefficient of variation of daily units over the
  period (days without a row count 0): X ≤ ``x_cv`` (0.5), Y ≤ ``y_cv`` (1.0), Z above.
- **爆款 / 潜力 / 平销 / 滞销**: 滞销 (slow) when the SKU sold on fewer than ``slow_days``
  (10 %) of the period's days; otherwise 爆款 (hit) when ABC class A; otherwise 潜力
  (potential) when units grew by at least ``growth`` (30 %) from the first to the second half
  of the period or its conversion (buyers / visitors) is in the top quarter of SKUs; otherwise
  平销 (steady).
- **动销率** (sell rate): share of listed SKUs with at least one unit sold in the period.
- **周转率 / 周转天数**: units sold / average units on hand; days = period days / turnover.
- **sell-through**: units sold / (units sold + units on hand at the end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsnb.errors import ErrorCode
from opsnb.results import Result

__all__ = [
    "PRODUCT_CLASSES",
    "abc_xyz",
    "classify_products",
    "SellRate",
    "sell_rate",
    "turnover",
    "sku_funnel",
]

PRODUCT_CLASSES = {
    "hit": ("爆款", "hit"),
    "potential": ("潜力", "potential"),
    "steady": ("平销", "steady"),
    "slow": ("滞销", "slow"),
}
"""Class slug → (Chinese, English) label."""


def _daily_units(sales: pd.DataFrame) -> pd.DataFrame:
    """SKU × day matrix of units, every day of the range, 0 where no row."""
    d = sales.assign(
        date=pd.to_datetime(sales["date"]).dt.normalize(), sku=sales["sku"].astype(str)
    )
    wide = d.pivot_table(index="date", columns="sku", values="units", aggfunc="sum", fill_value=0)
    days = pd.date_range(wide.index.min(), wide.index.max(), freq="D")
    return wide.reindex(days, fill_value=0)


def abc_xyz(
    sales: pd.DataFrame,
    *,
    a_share: float = 0.8,
    b_share: float = 0.95,
    x_cv: float = 0.5,
    y_cv: float = 1.0,
) -> pd.DataFrame:
    """ABC by GMV × XYZ by the variability of daily units (rules in the module docstring).

    ``sales``: ``date, sku, units, gmv``. Returns one row per SKU, highest GMV first: ``sku,
    gmv, gmv_share, cum_share, abc, units, mean_daily_units, cv, xyz, sell_days, days``.
    """
    if not 0 < a_share < b_share <= 1:
        raise ValueError(f"need 0 < a_share < b_share ≤ 1; got {a_share}, {b_share}")
    wide = _daily_units(sales)
    gmv = sales.assign(sku=sales["sku"].astype(str)).groupby("sku")["gmv"].sum()
    out = pd.DataFrame({"gmv": gmv.reindex(wide.columns).fillna(0.0)})
    out = out.sort_values("gmv", ascending=False, kind="mergesort")
    total = out["gmv"].sum()
    out["gmv_share"] = out["gmv"] / total if total > 0 else np.nan
    out["cum_share"] = out["gmv_share"].cumsum()
    before = out["cum_share"] - out["gmv_share"]  # share of the SKUs ranked above
    out["abc"] = np.where(before < a_share, "A", np.where(before < b_share, "B", "C"))
    units = wide[out.index]
    out["units"] = units.sum().to_numpy(float)
    out["mean_daily_units"] = units.mean().to_numpy(float)
    sd = units.std(ddof=0).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["cv"] = np.where(out["mean_daily_units"] > 0, sd / out["mean_daily_units"], np.nan)
    out["xyz"] = np.where(out["cv"] <= x_cv, "X", np.where(out["cv"] <= y_cv, "Y", "Z"))
    out["sell_days"] = (units > 0).sum().to_numpy(int)
    out["days"] = len(units)
    return out.rename_axis("sku").reset_index()


def classify_products(
    sales: pd.DataFrame,
    *,
    slow_days: float = 0.1,
    growth: float = 0.3,
    lang: str = "zh",
    **abc_kw,
) -> pd.DataFrame:
    """爆款 / 潜力 / 平销 / 滞销 per SKU (rule in the module docstring).

    ``sales``: ``date, sku, units, gmv`` and optionally ``visitors, buyers``. Returns the
    :func:`abc_xyz` columns plus ``units_first_half, units_second_half, growth,
    conversion_rate, product_class`` (slug) and ``label`` (in ``lang``).
    """
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en'; got {lang!r}")
    base = abc_xyz(sales, **abc_kw)
    wide = _daily_units(sales)[base["sku"]]
    half = len(wide) // 2
    first = wide.iloc[:half].sum().to_numpy(float)
    second = wide.iloc[len(wide) - half :].sum().to_numpy(float) if half else first * 0
    base["units_first_half"] = first
    base["units_second_half"] = second
    with np.errstate(invalid="ignore", divide="ignore"):
        base["growth"] = np.where(
            first > 0, second / first - 1, np.where(second > 0, np.inf, np.nan)
        )
    if {"visitors", "buyers"} <= set(sales.columns):
        agg = (
            sales.assign(sku=sales["sku"].astype(str)).groupby("sku")[["visitors", "buyers"]].sum()
        )
        agg = agg.reindex(base["sku"])
        conv = (agg["buyers"] / agg["visitors"].where(agg["visitors"] > 0)).to_numpy(float)
    else:
        conv = np.full(len(base), np.nan)
    base["conversion_rate"] = conv
    top_conv = np.nanquantile(conv, 0.75) if np.isfinite(conv).any() else np.inf
    slow = base["sell_days"] < slow_days * base["days"]
    hit = ~slow & (base["abc"] == "A")
    potential = (
        ~slow & ~hit & ((base["growth"] >= growth) | (np.nan_to_num(conv, nan=-1) >= top_conv))
    )
    base["product_class"] = np.select(
        [slow, hit, potential], ["slow", "hit", "potential"], "steady"
    )
    i = 0 if lang == "zh" else 1
    base["label"] = base["product_class"].map(lambda c: PRODUCT_CLASSES[c][i])
    return base


@dataclass(frozen=True)
class SellRate(Result):
    """动销率: ``rate = sold / listed`` (SKUs with ≥ 1 unit sold over SKUs listed)."""

    rate: float
    sold: int
    listed: int
    error_code: str = ErrorCode.OK


def sell_rate(sales: pd.DataFrame, listed=None) -> SellRate:
    """动销率 over the rows of ``sales`` (``sku, units``). ``listed``: the SKUs on sale (e.g.
    ``skus["sku"]``); by default every SKU that appears in ``sales``. No listed SKU gives NaN
    and ``zero_denominator``."""
    units = sales.assign(sku=sales["sku"].astype(str)).groupby("sku")["units"].sum()
    pool = (
        pd.Index(pd.unique(pd.Series(listed, dtype=object).astype(str)))
        if listed is not None
        else units.index
    )
    sold = int((units.reindex(pool).fillna(0) > 0).sum())
    if len(pool) == 0:
        return SellRate(float("nan"), 0, 0, ErrorCode.ZERO_DENOMINATOR)
    return SellRate(sold / len(pool), sold, int(len(pool)))


def turnover(sales: pd.DataFrame, inventory: pd.DataFrame, *, unit_cost=None) -> pd.DataFrame:
    """库存周转 and sell-through per SKU over the period the sales cover.

    ``sales``: ``date, sku, units``; ``inventory``: ``date, sku, on_hand`` (daily or at least
    the period's end); ``unit_cost``: optional Series or dict sku → cost for money columns.
    Returns ``sku, units_sold, avg_on_hand, ending_on_hand, turnover, turnover_days,
    sell_through, days, inventory_value`` (ending stock at cost; NaN without costs).
    Zero average stock gives NaN turnover.
    """
    s = sales.assign(
        date=pd.to_datetime(sales["date"]).dt.normalize(), sku=sales["sku"].astype(str)
    )
    inv = inventory.assign(
        date=pd.to_datetime(inventory["date"]).dt.normalize(), sku=inventory["sku"].astype(str)
    )
    start, end = s["date"].min(), s["date"].max()
    days = int((end - start).days) + 1
    inv = inv[(inv["date"] >= start) & (inv["date"] <= end)].sort_values("date")
    sold = s.groupby("sku")["units"].sum()
    skus = sold.index.union(pd.Index(inv["sku"].unique()))
    avg = inv.groupby("sku")["on_hand"].mean().reindex(skus)
    ending = inv.groupby("sku")["on_hand"].last().reindex(skus)
    out = pd.DataFrame({"units_sold": sold.reindex(skus).fillna(0.0).astype(float)})
    out["avg_on_hand"] = avg.astype(float)
    out["ending_on_hand"] = ending.astype(float)
    out["turnover"] = out["units_sold"] / out["avg_on_hand"].where(out["avg_on_hand"] > 0)
    out["turnover_days"] = days / out["turnover"].where(out["turnover"] > 0)
    den = out["units_sold"] + out["ending_on_hand"]
    out["sell_through"] = out["units_sold"] / den.where(den > 0)
    out["days"] = days
    cost = pd.Series(unit_cost if unit_cost is not None else {}, dtype=float)
    cost.index = cost.index.astype(str)
    out["inventory_value"] = out["ending_on_hand"] * cost.reindex(skus).to_numpy(float)
    return out.rename_axis("sku").reset_index()


def sku_funnel(product_daily: pd.DataFrame, start, end) -> pd.DataFrame:
    """Per-SKU funnel (visitors → cart → buyers) over ``start..end`` and the change against
    the previous period of the same length.

    Returns ``sku, visitors, cart_users, buyers, cart_rate`` (cart / visitors), ``buy_rate``
    (buyers / cart), ``conversion_rate`` (buyers / visitors), and ``prev_<rate>``,
    ``<rate>_change`` (absolute, in rate points) for the three rates.
    """
    s, e = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if e < s:
        raise ValueError(f"end {e.date()} is before start {s.date()}")
    span = e - s + pd.Timedelta(days=1)
    d = product_daily.assign(
        date=pd.to_datetime(product_daily["date"]).dt.normalize(),
        sku=product_daily["sku"].astype(str),
    )
    cols = ["visitors", "cart_users", "buyers"]

    def rates(part):
        g = part.groupby("sku")[cols].sum().astype(float)
        g["cart_rate"] = g["cart_users"] / g["visitors"].where(g["visitors"] > 0)
        g["buy_rate"] = g["buyers"] / g["cart_users"].where(g["cart_users"] > 0)
        g["conversion_rate"] = g["buyers"] / g["visitors"].where(g["visitors"] > 0)
        return g

    cur = rates(d[(d["date"] >= s) & (d["date"] <= e)])
    prev = rates(d[(d["date"] >= s - span) & (d["date"] < s)]).reindex(cur.index)
    for r in ("cart_rate", "buy_rate", "conversion_rate"):
        cur[f"prev_{r}"] = prev[r]
        cur[f"{r}_change"] = cur[r] - prev[r]
    return cur.rename_axis("sku").reset_index()
