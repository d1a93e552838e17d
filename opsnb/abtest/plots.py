"""Plots of an A/B readout: a forest plot of lifts and the cumulative lift with sequential bounds.

Both take ``ax=None`` and return the Axes; labels follow ``lang`` ("zh" or "en").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsnb import plots
from opsnb.i18n import Labels

__all__ = ["plot_forest", "plot_cumulative_lift"]


def plot_forest(results: pd.DataFrame, *, lang: str = "zh", ax=None, relative: bool = True):
    """Relative (or absolute) lift of every metric × arm with its interval; rows significant
    after the multiple-testing correction in colour (green better, red worse), others grey.
    ``results``: the table of a readout."""
    L = Labels(lang)
    ax = plots.new_axes(ax, figsize=(8, 0.5 * len(results) + 1.6))
    est, lo, hi = (
        ("rel_lift", "rel_ci_low", "rel_ci_high") if relative else ("abs_lift", "ci_low", "ci_high")
    )
    r = results.reset_index(drop=True)
    y = np.arange(len(r))[::-1]
    names = r["metric"].astype(str).map(L.col)  # the results table's metric names
    labels = [
        f"{m} · {v}" if r["variant"].nunique() > 1 else m for m, v in zip(names, r["variant"])
    ]
    for yi, (_, row) in zip(y, r.iterrows()):
        p_adj = row.get("p_adjusted", np.nan)
        if p_adj == p_adj and not str(row.get("method", "")).startswith("bayes"):
            sig = p_adj < row.get("alpha", 0.05)  # same rule as the decision (corrected)
        else:
            sig = row[lo] > 0 or row[hi] < 0
        good = (row[est] > 0) != bool(row.get("lower_is_better", False))
        color = (plots.PALETTE[2] if good else plots.PALETTE[1]) if sig else plots.PALETTE[7]
        lo_v = row[lo] if np.isfinite(row[lo]) else row[est]
        hi_v = row[hi] if np.isfinite(row[hi]) else row[est]
        ax.plot([lo_v, hi_v], [yi, yi], color=color, lw=2.5, solid_capstyle="round")
        ax.plot(row[est], yi, "o", color=color, ms=7)
        text = plots.format_pct(row[est]) if relative else f"{row[est]:,.3g}"
        ax.annotate(
            text,
            (row[est], yi),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize=9,
            color=color,
        )
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.8, len(r) - 0.2)
    if relative:
        ax.xaxis.set_major_formatter(lambda x, _: f"{x * 100:.0f}%")
    ax.set_xlabel(
        L(
            "相对提升（实验组 / 对照组 − 1）及区间",
            "Relative lift (treatment / control − 1) and interval",
        )
        if relative
        else L("绝对差异及区间", "Absolute difference and interval")
    )
    ax.set_title(
        L(
            "各指标提升（绿色 = 显著变好，红色 = 显著变差）",
            "Lift by metric (green = significantly better, red = significantly worse)",
        )
    )
    return ax


def plot_cumulative_lift(cum: pd.DataFrame, *, lang: str = "zh", ax=None, variant=None):
    """Cumulative absolute lift per daily look with the naive fixed-horizon interval and the
    sequential interval (group-sequential repeated CI or mSPRT, per ``cum.attrs["design"]``),
    marking the first boundary crossing. ``cum``: from
    :func:`opsnb.abtest.decision.cumulative_lift_from_frame`.

    The lift is treatment − control: in percentage points for a proportion metric
    (``cum.attrs["kind"]``), else in the metric's own unit; the title and the y axis say which.
    """
    L = Labels(lang)
    ax = plots.new_axes(ax)
    if variant is None and len(cum):
        variant = cum["variant"].iloc[0]
    c = cum[cum["variant"] == variant].sort_values("date").copy()
    metric = L.col(cum.attrs["metric"]) if cum.attrs.get("metric") else ""  # display name
    pp = cum.attrs.get("kind") == "proportion"
    if pp:  # absolute difference of two proportions: percentage points
        for col in ("abs_lift", "ci_low", "ci_high", "seq_ci_low", "seq_ci_high"):
            c[col] = c[col] * 100
    if cum.attrs.get("design", "group_sequential") == "msprt":
        lab = L("序贯区间（mSPRT，可随时查看）", "Always-valid interval (mSPRT, peek any time)")
    else:
        sp = {"obf": "O'Brien–Fleming", "pocock": "Pocock"}.get(cum.attrs.get("spending"), "")
        lab = L(
            f"序贯边界（{sp} 型 α 消耗，重复置信区间）",
            f"Sequential bounds ({sp}-type α spending, repeated CI)",
        )
    ax.fill_between(
        c["date"], c["seq_ci_low"], c["seq_ci_high"], color=plots.PALETTE[0], alpha=0.15, label=lab
    )
    if "crossed" in c and c["crossed"].any():
        first = c[c["crossed"]].iloc[0]
        ax.plot(
            first["date"],
            first["abs_lift"],
            "D",
            color=plots.PALETTE[2],
            ms=8,
            label=L("首次越过边界", "First boundary crossing"),
        )
    ax.plot(
        c["date"],
        c["ci_low"],
        "--",
        color=plots.PALETTE[7],
        lw=1,
        label=L(
            "固定样本区间（每天看会虚高显著）",
            "Fixed-horizon interval (inflates under daily peeking)",
        ),
    )
    ax.plot(c["date"], c["ci_high"], "--", color=plots.PALETTE[7], lw=1)
    ax.plot(
        c["date"],
        c["abs_lift"],
        color=plots.PALETTE[0],
        lw=2,
        label=L("累计差异", "Cumulative difference"),
    )
    ax.axhline(0, color="black", lw=1)
    ax.set_xlabel(L("日期", "Date"))
    if pp:
        ax.yaxis.set_major_formatter(lambda y, _: f"{y:+.1f}" if y else "0")
        unit = L("百分点", "percentage points")
    else:
        unit = (
            L(f"{metric} 的绝对差异", f"absolute difference in {metric}")
            if metric
            else L("绝对差异", "absolute difference")
        )
    ax.set_ylabel(L(f"实验组 − 对照组（{unit}）", f"Treatment − control ({unit})"))
    what = f"{metric} " if metric else ""
    ax.set_title(
        L(
            f"{what}累计提升（{unit}；{variant}，共 {len(c)} 次查看）",
            f"Cumulative lift{' in ' + metric if metric else ''} ({unit}; {variant}, "
            f"{len(c)} looks)",
        )
    )
    ax.legend(loc="best", fontsize=9)
    ax.figure.autofmt_xdate()
    return ax
