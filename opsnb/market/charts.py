"""Charts of market research: category trends, price bands, index calibration, the funnel."""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsnb.market.indices import IndexCalibration

__all__ = ["plot_category_trend", "plot_price_bands", "plot_calibration", "plot_funnel"]


def plot_category_trend(trend: pd.DataFrame, *, lang: str = "zh", ax=None):
    """Monthly value and its seasonally adjusted line, one colour per category."""
    from opsnb import plots

    ax = plots.new_axes(ax)
    for i, (cat, t) in enumerate(trend.groupby("category")):
        c = plots.PALETTE[i % len(plots.PALETTE)]
        ax.plot(t["month"], t["value"], color=c, alpha=0.45, label=f"{cat}")
        ax.plot(
            t["month"],
            t["value_sa"],
            color=c,
            lw=2,
            label=f"{cat}（季节调整）" if lang == "zh" else f"{cat} (seasonally adjusted)",
        )
    plots.axis_units(ax, "money", lang=lang)
    ax.set_title("类目趋势" if lang == "zh" else "Category trend")
    ax.legend(fontsize=8)
    return ax


def plot_price_bands(table: pd.DataFrame, *, lang: str = "zh", ax=None):
    """Sales share (bars) per price band, opportunity bands highlighted; shops on a second axis."""
    from opsnb import plots

    ax = plots.new_axes(ax)
    colors = [plots.PALETTE[2] if o else plots.PALETTE[0] for o in table["opportunity"]]
    x = np.arange(len(table))
    ax.bar(x, table["sales_share"], color=colors)
    ax.set_xticks(x, table["price_band"], rotation=30)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax2 = ax.twinx()
    ax2.plot(x, table["shops"], color=plots.PALETTE[1], marker="o")
    plots.axis_units(ax2, "count", lang=lang)
    ax2.set_ylabel("竞争店铺数" if lang == "zh" else "Competing shops")
    ax2.grid(False)
    ax.set_ylabel("成交占比" if lang == "zh" else "Sales share")
    ax.set_title(
        "价格带：成交占比与竞争（绿色 = 机会价格带）"
        if lang == "zh"
        else "Price bands: sales share vs competition (green = opportunity)"
    )
    return ax


def plot_calibration(index, value, cal: IndexCalibration, *, lang: str = "zh", ax=None):
    """Own months (index vs known GMV) on log axes with the fitted monotone map."""
    from opsnb import plots

    ax = plots.new_axes(ax, figsize=(6, 4.2))
    ax.scatter(
        index,
        value,
        color=plots.PALETTE[0],
        zorder=3,
        label="本店月度" if lang == "zh" else "Own months",
    )
    grid = np.geomspace(max(cal.index_min, 1e-9), cal.index_max, 100)
    ax.plot(
        grid,
        cal.predict(grid),
        color=plots.PALETTE[1],
        label=(
            f"{cal.method}，留一 MAPE {cal.loo_mape:.1%}"
            if lang == "zh"
            else f"{cal.method}, leave-one-out MAPE {cal.loo_mape:.1%}"
        ),
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    plots.axis_units(ax, "count", lang=lang, axis="x")
    plots.axis_units(ax, "money", lang=lang)
    ax.set_xlabel("成交金额指数" if lang == "zh" else "Sales index")
    ax.set_ylabel("实际成交金额" if lang == "zh" else "Known GMV")
    ax.set_title("指数还原校准" if lang == "zh" else "Index calibration")
    ax.legend()
    return ax


def plot_funnel(fun: pd.DataFrame, *, lang: str = "zh", ax=None):
    """Overall conversion from the first stage, one line per channel."""
    from opsnb import plots

    ax = plots.new_axes(ax)
    stages = fun.attrs.get("stages") or list(dict.fromkeys(fun["stage"]))
    names = {
        "visitors": ("访客", "Visit"),
        "cart_users": ("加购", "Cart"),
        "order_users": ("下单", "Order"),
        "buyers": ("支付", "Pay"),
    }
    for i, (ch, f) in enumerate(fun.groupby("channel", sort=False)):
        ax.plot(
            range(len(stages)),
            f.set_index("stage").loc[stages, "overall_rate"],
            marker="o",
            color=plots.PALETTE[i % len(plots.PALETTE)],
            label=str(ch),
        )
    ax.set_xticks(
        range(len(stages)), [names.get(s, (s, s))[0 if lang == "zh" else 1] for s in stages]
    )
    ax.set_yscale("log")
    plots.axis_units(ax, "pct", lang=lang)
    ax.set_title(
        "渠道漏斗（相对访客）" if lang == "zh" else "Funnel by channel (share of visitors)"
    )
    ax.legend(fontsize=8, ncol=2)
    return ax
