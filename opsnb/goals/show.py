"""Goal report: the driver-tree chart and the goal tables in the report language.

:func:`plot_driver_tree` draws GMV → channels → visitors × conversion × AOV;
:func:`targets_table`, :func:`channel_targets_table`, :func:`feasibility_table` and
:func:`budget_table` rename and translate the tables of :mod:`opsnb.goals` for a report;
:func:`feasibility_summary` writes the feasibility verdict as one sentence from the numbers.

Split out of :mod:`opsnb.goals` (which builds the decomposition, feasibility and budget and
still exposes every name here, e.g. ``goals.targets_table``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from opsnb.goals.decompose import DRIVER_LABELS
from opsnb.i18n import Labels

if TYPE_CHECKING:  # pragma: no cover
    from opsnb.goals.decompose import Decomposition

__all__ = [
    "plot_driver_tree",
    "FLAG_LABELS",
    "targets_table",
    "channel_targets_table",
    "feasibility_table",
    "budget_table",
    "feasibility_summary",
]


# ------------------------------------------------------------------------------------------
# chart
# ------------------------------------------------------------------------------------------


def plot_driver_tree(decomposition: Decomposition, *, lang: str = "zh", ax=None):
    """The goal as a tree: GMV → channels → visitors × conversion × AOV (reference → target)."""
    from opsnb import plots

    L = Labels(lang)
    bc = decomposition.by_channel().sort_values("gmv", ascending=False).reset_index(drop=True)
    n = len(bc)
    ax = plots.new_axes(ax, figsize=(12, 0.75 * n + 1.6))
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.8, n - 0.2)
    money = lambda x: plots.format_money(x, lang)  # noqa: E731
    ys = [n - 1 - i for i in range(n)]
    mid = (n - 1) / 2
    root = (
        f"{L('成交金额目标', 'GMV goal')}\n{money(decomposition.total)}\n"
        f"{L('较基期', 'vs base')} {decomposition.growth:+.1%}"
    )
    box = dict(boxstyle="round,pad=0.4", fc="#EAF1FB", ec=plots.PALETTE[0])
    ax.text(0.9, mid, root, ha="center", va="center", fontsize=11, bbox=box, fontweight="bold")
    for y, (_, r) in zip(ys, bc.iterrows()):
        ax.plot([1.75, 2.35], [mid, y], color="#999999", lw=0.8)
        ax.text(
            2.4,
            y,
            f"{r['channel']}  {money(r['gmv'])} ({r['growth']:+.0%})",
            ha="left",
            va="center",
            fontsize=10,
            bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="#BBBBBB"),
        )
        parts = [
            f"{L('访客', 'Visitors')} {r['base_visitors']:,.0f}→{r['visitors']:,.0f}",
            f"{L('转化率', 'Conv.')} {r['base_conversion_rate']:.2%}→{r['conversion_rate']:.2%}",
            f"{L('客单价', 'AOV')} ¥{r['base_aov']:,.0f}→¥{r['aov']:,.0f}",
        ]
        ax.text(5.0, y, "  ×  ".join(parts), ha="left", va="center", fontsize=9)
    ax.set_title(
        L(
            "目标拆解：成交金额 = Σ 访客数 × 转化率 × 客单价",
            "Goal tree: GMV = Σ visitors × conversion × AOV",
        )
    )
    return ax


# ------------------------------------------------------------------------------------------
# report tables (display names in the report language)
# ------------------------------------------------------------------------------------------

_NAMES = {
    "channel": ("渠道", "Channel"),
    "month": ("月份", "Month"),
    "total": ("合计", "Total"),
    "driver": ("驱动因子", "Driver"),
    "base": ("参考期", "Reference"),
    "target": ("目标", "Target"),
    "required_change": ("所需变化", "Required change"),
    "hist_median": ("历史中位变化", "Past median change"),
    "hist_max": ("历史最大变化", "Past max change"),
    "percentile": ("历史分位", "Percentile"),
    "flag": ("判断", "Verdict"),
    "n_hist": ("历史样本数", "Past windows"),
    "base_gmv": ("参考期成交金额", "Reference GMV"),
    "gmv": ("目标成交金额", "Target GMV"),
    "growth": ("增长", "Growth"),
    "base_visitors": ("参考期访客数", "Reference visitors"),
    "visitors": ("目标访客数", "Target visitors"),
    "base_conversion_rate": ("参考期转化率", "Reference conversion"),
    "conversion_rate": ("目标转化率", "Target conversion"),
    "base_aov": ("参考期客单价", "Reference AOV"),
    "aov": ("目标客单价", "Target AOV"),
    "buyers": ("目标买家数", "Target buyers"),
    "cac": ("获客成本", "CAC"),
    "cost_per_visitor": ("单访客成本", "Cost per visitor"),
    "spend": ("所需推广花费", "Spend needed"),
    "extra_spend": ("新增花费", "Extra spend"),
    "extra_buyers": ("新增买家", "Extra buyers"),
    "roi": ("投产比", "ROI"),
    "source": ("成本来源", "Cost source"),
}
FLAG_LABELS = {
    "ok": ("可实现", "realistic"),
    "stretch": ("需努力", "stretch"),
    "unrealistic": ("不现实", "unrealistic"),
    "no_history": ("无历史", "no history"),
}
_SOURCES = {
    "history": ("历史投放", "history"),
    "seed": ("经验值", "seed"),
    "given": ("指定", "given"),
}


def _display(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    L = Labels(lang)
    return df.rename(columns={c: L(*_NAMES[c]) for c in df.columns if c in _NAMES})


def targets_table(
    decomposition: Decomposition, value: str = "gmv", *, lang: str = "zh"
) -> pd.DataFrame:
    """The 月度 × 渠道 target table of ``value`` with totals, for a report."""
    L = Labels(lang)
    p = decomposition.pivot(value).reset_index()
    p["channel"] = p["channel"].replace({"total": L(*_NAMES["total"])})
    p = p.rename(columns={"total": L(*_NAMES["total"])})
    p.columns.name = None
    return _display(p, lang)


def channel_targets_table(decomposition: Decomposition, *, lang: str = "zh") -> pd.DataFrame:
    """Per channel: reference and target visitors, conversion, AOV, GMV and growth."""
    bc = decomposition.by_channel()
    cols = [
        "channel",
        "base_visitors",
        "visitors",
        "base_conversion_rate",
        "conversion_rate",
        "base_aov",
        "aov",
        "base_gmv",
        "gmv",
        "growth",
    ]
    return _display(bc[cols], lang)


def feasibility_table(f: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """Feasibility rows with translated drivers and verdicts (percentile as 0-1)."""
    L = Labels(lang)
    t = f[
        ["channel", "driver", "required_change", "hist_median", "hist_max", "percentile", "flag"]
    ].copy()
    t["driver"] = t["driver"].map(lambda d: L(*DRIVER_LABELS[d]))
    t["percentile"] = t["percentile"] / 100.0
    t["flag"] = t["flag"].map(lambda x: L(*FLAG_LABELS[x]))
    return _display(t, lang)


def budget_table(b: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """Budget needs per paid channel for a report."""
    L = Labels(lang)
    t = b[
        [
            "channel",
            "cac",
            "cost_per_visitor",
            "visitors",
            "buyers",
            "extra_buyers",
            "spend",
            "extra_spend",
            "roi",
            "source",
        ]
    ].copy()
    t["source"] = t["source"].map(lambda s: L(*_SOURCES.get(s, (s, s))))
    return _display(t, lang)


def feasibility_summary(f: pd.DataFrame, *, lang: str = "zh") -> str:
    """One sentence naming the unrealistic and stretch driver changes, built from the numbers."""
    L = Labels(lang)
    bad = f[f["flag"] == "unrealistic"]
    hard = f[f["flag"] == "stretch"]
    nohist = f[f["flag"] == "no_history"]

    def items(rows):
        sep = "、" if lang == "zh" else "; "
        return sep.join(
            f"{r.channel} {L(*DRIVER_LABELS[r.driver])} {r.required_change:+.1%}"
            + (
                L(f"（历史最高 {r.hist_max:+.1%}）", f" (past max {r.hist_max:+.1%})")
                if r.hist_max == r.hist_max
                else ""
            )
            for r in rows.itertuples()
        )

    parts = []
    if len(bad):
        parts.append(
            L(
                f"超出历史、不现实的要求：{items(bad)}。",
                f"Beyond anything in the history (unrealistic): {items(bad)}.",
            )
        )
    if len(hard):
        parts.append(
            L(f"需要较大努力的要求：{items(hard)}。", f"Stretch requirements: {items(hard)}.")
        )
    if len(nohist):
        parts.append(
            L(
                f"{len(nohist)} 项缺少足够历史数据，无法判断。",
                f"{len(nohist)} items lack enough history to judge.",
            )
        )
    if not parts:
        parts.append(
            L(
                "所有渠道所需的变化都在历史常见范围内。",
                "Every required change is within the usual historical range.",
            )
        )
    return " ".join(parts)
