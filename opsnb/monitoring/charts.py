"""Trend charts of monitored series: actual, expected band and flagged points."""

from __future__ import annotations

import pandas as pd

from opsnb.monitoring.daily import TOTAL, MonitorResult

__all__ = ["plot_monitor", "plot_day"]


def plot_monitor(
    result: MonitorResult, channel: str, metric: str, *, lang: str = "zh", ax=None, days: int = 60
):
    """Actual, expected band and flagged points of one channel × metric over the last ``days``."""
    from opsnb.i18n import Labels
    from opsnb.plots import PALETTE, axis_units, metric_kind, new_axes

    ax = new_axes(ax)
    L = Labels(lang)
    s = result.scores
    s = s[
        (s["channel"] == channel)
        & (s["metric"] == metric)
        & (s["date"] > result.as_of - pd.Timedelta(days=days))
    ].sort_values("date")
    ax.fill_between(
        s["date"],
        s["lower"],
        s["upper"],
        color=PALETTE[0],
        alpha=0.15,
        label=L("预期区间", "Expected band"),
    )
    ax.plot(s["date"], s["expected"], color=PALETTE[0], lw=1, ls="--", label=L("预期", "Expected"))
    ax.plot(s["date"], s["actual"], color="#333333", lw=1.5, label=L("实际", "Actual"))
    f = s[s["is_anomaly"]]
    ax.scatter(f["date"], f["actual"], color=PALETTE[1], zorder=5, s=40, label=L("异常", "Anomaly"))
    axis_units(ax, metric_kind(metric), lang=lang)
    ax.set_title(f"{channel} · {L.col(metric)}")
    ax.legend(loc="upper left", fontsize=8)
    ax.tick_params(axis="x", labelrotation=30)
    return ax


def plot_day(
    result: MonitorResult, as_of, *, lang: str = "zh", days: int = 56, max_panels: int = 6
):
    """Trend charts (actual, expected band, flagged points) for the channel × metric series
    flagged on ``as_of`` (the shop's GMV when none); returns the Figure."""
    import matplotlib.pyplot as plt

    from opsnb.plots import use_theme

    use_theme()
    d = pd.Timestamp(as_of)
    al = (
        result.alerts[result.alerts["date"] == d]
        .drop_duplicates(["channel", "metric"])
        .head(max_panels)
    )
    pairs = list(zip(al["channel"], al["metric"])) or [(TOTAL, "gmv")]
    n = len(pairs)
    cols = 2 if n > 1 else 1
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 3.4 * rows), squeeze=False)
    sub = MonitorResult(
        result.scores[result.scores["date"] <= d],
        result.alerts,
        result.tests,
        result.discoveries,
        result.alpha,
        result.sensitivity,
        d,
    )
    for ax, (ch, m) in zip(axes.ravel(), pairs):
        plot_monitor(sub, ch, m, lang=lang, ax=ax, days=days)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
