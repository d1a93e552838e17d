"""Plots of step 06: a SKU's sales, un-censored demand and forecast with its interval.

Takes ``ax=None`` and returns the Axes; labels follow ``lang`` ("zh" or "en").
"""

from __future__ import annotations

import pandas as pd

from opsnb import plots
from opsnb.i18n import Labels

__all__ = ["plot_demand"]


def plot_demand(fc, sku: str, *, lang: str = "zh", ax=None, days: int = 120, level=None):
    """Daily sales of ``sku`` over the last ``days`` days of history, the demand un-censored on
    stock-out days (marked), and the forecast with its ``level`` interval (the widest by
    default). ``fc``: a :class:`~opsnb.products.forecast.DemandForecast`."""
    L = Labels(lang)
    ax = plots.new_axes(ax, figsize=(9, 3.6))
    h = fc.history[fc.history["series"] == str(sku)].tail(days)
    f = fc.forecasts[fc.forecasts["series"] == str(sku)]
    lv = max(fc.levels) if level is None and fc.levels else level
    ax.plot(h["timestamp"], h["value"], color=plots.PALETTE[7], lw=1, label=L("销量", "Sales"))
    out = h[h["stockout"]]
    if len(out):
        ax.scatter(
            out["timestamp"],
            out["demand"],
            color=plots.PALETTE[1],
            s=12,
            zorder=3,
            label=L("缺货日：还原后的需求", "Stock-out day: un-censored demand"),
        )
    if lv is not None and f"lo_{lv}" in f:
        ax.fill_between(
            pd.to_datetime(f["timestamp"]),
            f[f"lo_{lv}"],
            f[f"hi_{lv}"],
            color=plots.PALETTE[0],
            alpha=0.18,
            label=L(f"{lv}% 预测区间", f"{lv}% interval"),
        )
    ax.plot(
        pd.to_datetime(f["timestamp"]),
        f["forecast"],
        color=plots.PALETTE[0],
        lw=1.6,
        label=L("需求预测", "Forecast"),
    )
    ax.set_title(L(f"{sku}：销量、需求与预测", f"{sku}: sales, demand and forecast"))
    ax.set_ylabel(L("件/天", "units / day"))
    ax.legend(loc="upper left", fontsize=8)
    return ax
