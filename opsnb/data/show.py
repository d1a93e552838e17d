"""Sections of the data-health notebook (00): each call displays one part through a report context.

The notebook stays thin: read the period's ``daily_metrics``, then ``show_coverage``,
``show_daily_coverage``, ``show_duplicates``, ``show_consistency`` and ``show_outliers`` in that
order, and record :func:`opsnb.data.health.health_summary`. ``ctx`` is the notebook's report
context (:func:`opsnb.report.setup`).
"""

from __future__ import annotations

import pandas as pd

from opsnb.data.health import (
    OutlierScreen,
    consistency_checks,
    duplicate_keys,
    missing_days,
    outlier_summary,
    plot_coverage,
    table_coverage,
)

__all__ = [
    "show_coverage",
    "show_daily_coverage",
    "show_duplicates",
    "show_consistency",
    "show_outliers",
]


def show_coverage(ctx) -> pd.DataFrame:
    """Rows and days covered per store table (:func:`~opsnb.data.health.table_coverage`), with
    the table's Chinese name in a zh report and its store name in an en one."""
    coverage = table_coverage(ctx.con)
    ctx.table(
        coverage.drop(columns=["zh_name"] if ctx.lang == "en" else ["table"]),
        pct=["coverage"],
        int_cols=["rows", "days_with_data", "days_in_range"],
    )
    return coverage


def show_daily_coverage(ctx, daily: pd.DataFrame) -> pd.DataFrame:
    """Daily rows, traffic sources and missing channel-days of the period, and the heat map of
    days with data. Returns the missing (channel, date) pairs
    (:func:`~opsnb.data.health.missing_days`)."""
    missing = missing_days(ctx.con, ctx.period.start, ctx.period.end)
    n_channels = daily["channel"].nunique()
    ctx.say(
        f"周期 {ctx.period} 内共有 {len(daily):,} 行每日数据，覆盖 {n_channels} 个流量来源；缺失 {len(missing)} 个渠道·日。",
        f"The period {ctx.period} has {len(daily):,} daily rows over {n_channels} traffic "
        f"sources; {len(missing)} channel-days are missing.",
    )
    if daily.empty:
        ctx.say(
            "本期没有每日数据，不画覆盖热力图。",
            "There are no daily rows in the period, so there is no coverage heat map.",
        )
    else:
        ctx.show(plot_coverage(daily, lang=ctx.lang))
    return missing


def show_duplicates(ctx, missing: pd.DataFrame) -> pd.DataFrame:
    """The missing channel-days (when any) and the duplicate keys of every table, with what to do
    about duplicates. Returns the duplicates (:func:`~opsnb.data.health.duplicate_keys`)."""
    if len(missing):
        ctx.table(missing, caption=("缺失的渠道·日", "Missing channel-days"))
    dups = duplicate_keys(ctx.con)
    if len(dups):
        ctx.table(dups, caption=("重复的主键", "Duplicate keys"))
        ctx.say(
            f"发现 {len(dups)} 组重复主键，请在源文件中去重后重新导入。",
            f"{len(dups)} duplicate keys found: deduplicate the source file and load it again.",
        )
    else:
        ctx.say("没有重复的主键。", "No duplicate keys.")
    return dups


def show_consistency(ctx) -> pd.DataFrame:
    """The 口径 checks of the period (:func:`~opsnb.data.health.consistency_checks`), coloured by
    status, and a note naming the failed ones. Returns the checks."""
    checks = consistency_checks(ctx.con, ctx.period.start, ctx.period.end)
    shown = checks.drop(columns=["description_en" if ctx.lang == "zh" else "description_zh"])
    ctx.table(
        shown,
        int_cols=["rows_checked", "violations"],
        highlight={"status": {"ok": "#d4edda", "fail": "#f8d7da"}},
    )
    failed = checks[checks["status"] == "fail"]
    if failed.empty:
        ctx.note("全部口径检查通过。", "All consistency checks pass.", kind="info")
    else:
        ctx.note(
            "未通过的检查：" + "、".join(failed["description_zh"]),
            "Failed checks: " + "; ".join(failed["description_en"]),
            kind="alert",
        )
    return checks


def show_outliers(ctx, daily: pd.DataFrame, *, z: float = 5.0, top: int = 30) -> OutlierScreen:
    """Outlier screening (:func:`~opsnb.data.health.outlier_summary`): how many records stand out
    and how many promotion days were left out, then the first ``top`` records to check."""
    screen = outlier_summary(daily, z=z)
    out = screen.outliers
    ctx.say(
        f"相对本渠道 28 天滚动中位数，稳健 z 分数超过 {z:g} 的非大促日记录共 {len(out)} 条（另有 {screen.excluded_event_days} 个大促/节假日的极端值属正常波动，未列出）。请逐条核对是否为埋点或录入问题。",
        f"{len(out)} non-promotion records have a robust z-score above {z:g} against their "
        f"channel's 28-day rolling median ({screen.excluded_event_days} promotion or holiday "
        "days were extreme as expected and are not listed). Check each for tracking or "
        "data-entry problems.",
    )
    if len(out):
        ctx.table(
            out.head(top)
            .drop(columns=["event"])
            .assign(metric=lambda d: d["metric"].map(ctx.L.col)),
            int_cols=["value", "typical"],
        )
    return screen
