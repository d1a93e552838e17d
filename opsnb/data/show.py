"""Sections of the data-health notebook (00): each call displays one part through a report context.

The notebook stays thin: read the period's ``daily_metrics``, then ``show_coverage``,
``show_daily_coverage``, ``show_duplicates``, ``show_consistency`` and ``show_outliers`` in that
order, then :func:`show_summary` (it fills the 结论 / Summary box that ``report.setup`` put under
the title) and record :func:`opsnb.data.health.health_summary`. ``ctx`` is the notebook's report
context (:func:`opsnb.report.setup`).
"""

from __future__ import annotations

import pandas as pd

from opsnb.data.health import (
    HealthSummary,
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
    "show_summary",
    "CHECK_STATUS_LABELS",
]

CHECK_STATUS_LABELS = {"ok": ("通过", "ok"), "fail": ("未通过", "failed"), "n/a": ("不适用", "n/a")}
"""Display names of a 口径 check's status."""


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
    # the description is the check's name in the reader's language; the snake_case key stays
    # in the returned frame (and the Excel/ledger), not in the report
    shown = checks.drop(
        columns=["check", "description_en" if ctx.lang == "zh" else "description_zh"]
    ).assign(status=lambda d: d["status"].map(lambda v: ctx.L(*CHECK_STATUS_LABELS.get(v, (v, v)))))
    ok, fail = (ctx.L(*CHECK_STATUS_LABELS[k]) for k in ("ok", "fail"))
    ctx.table(
        shown,
        int_cols=["rows_checked", "violations"],
        highlight={"status": {ok: "#d4edda", fail: "#f8d7da"}},
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


def show_summary(ctx, summary: HealthSummary, checks: pd.DataFrame) -> None:
    """The 结论 / Summary box of the data-health report: the counts of
    :func:`~opsnb.data.health.health_summary` (the figures the report records) and what to fix
    before any analysis, in that order: duplicates, failed 口径 checks, missing days, outliers."""
    s = summary

    def kind(n: int, bad: str = "alert") -> str:
        return "good" if n == 0 else bad

    items = [
        ctx.item("rows", s.rows),
        ctx.item(
            "missing_channel_days",
            s.missing_channel_days,
            kind=kind(s.missing_channel_days, "warn"),
        ),
        ctx.item("duplicate_keys", s.duplicate_keys, kind=kind(s.duplicate_keys)),
        ctx.item("failed_checks", s.failed_checks, kind=kind(s.failed_checks)),
        ctx.item("outlier_days", s.outlier_days, kind=kind(s.outlier_days, "warn")),
    ]
    actions = []
    if s.duplicate_keys:
        actions.append(
            (
                f"在源文件中去除 {s.duplicate_keys} 组重复主键后重新导入。",
                f"Deduplicate the {s.duplicate_keys} duplicate keys in the source file and load it again.",
            )
        )
    if s.failed_checks:
        failed = checks[checks["status"] == "fail"]
        actions.append(
            (
                "核对未通过的口径检查：" + "、".join(failed["description_zh"]) + "。",
                "Check the failed consistency checks: " + "; ".join(failed["description_en"]) + ".",
            )
        )
    if s.missing_channel_days:
        actions.append(
            (
                f"补导缺失的 {s.missing_channel_days} 个渠道·日（见第二节）。",
                f"Export and load the {s.missing_channel_days} missing channel-days (section 2).",
            )
        )
    if s.outlier_days:
        actions.append(
            (
                f"逐条核对 {s.outlier_days} 条异常值记录是否为埋点或录入问题（见第四节）。",
                f"Check the {s.outlier_days} outlier records for tracking or data-entry problems (section 4).",
            )
        )
    if not actions:
        actions.append(
            (
                "数据完整、口径一致，可以开始分析。",
                "The data is complete and consistent: go ahead with the analysis.",
            )
        )
    ctx.summary(items, actions)
