"""表3 as a styled Excel workbook, with the 环比 / 同比 comparisons on a second sheet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from opsnb.monitoring.compare import COMPARISON_LABELS
from opsnb.sheets import (
    CHANGE,
    COUNT,
    DATE,
    MONEY,
    MONEY_CENTS,
    RATE,
    SMALL_RATE,
    column_format,
    save_book,
    write_sheet,
)

__all__ = ["export_excel"]


_ANOMALY_FILL = "FDE2E1"
_TABLE3_FORMATS = {
    "visitors": COUNT,
    "conversion_rate": SMALL_RATE,
    "refund_rate": SMALL_RATE,
    "aov": MONEY_CENTS,
    "gmv": MONEY,
    "gmv_dod": CHANGE,
    "gmv_wow": CHANGE,
    "gmv_yoy": CHANGE,
    "mtd_gmv": MONEY,
    "month_target": MONEY,
    "achievement": RATE,
    "time_progress": RATE,
    "date": DATE,
}


def _metric_format(metric: str) -> str:
    """Number format of one metric's values (the comparisons sheet has a metric per row)."""
    return _TABLE3_FORMATS.get(metric) or column_format(metric) or COUNT


def export_excel(
    table: pd.DataFrame,
    as_of,
    *,
    lang: str = "zh",
    out_dir=None,
    comparisons: pd.DataFrame | None = None,
) -> Path:
    """Write 表3 to ``out_dir/表3_<date>.xlsx`` (default ``<outputs>/03_daily_monitoring``;
    notebooks pass ``ctx.output_dir``), styled like 表1/表2: translated bold header on blue,
    number formats (counts, ¥, %, signed % changes), widths fitted to the content (CJK counted
    double), frozen header and first two columns, a filter, anomalous rows filled light red.
    Cells from the data that start with = + - @ tab or CR are written as text, never as
    formulas. ``comparisons`` (:func:`opsnb.monitoring.compare.day_comparisons`) adds a sheet."""
    from openpyxl import Workbook

    from opsnb import config
    from opsnb.i18n import Labels

    L = Labels(lang)
    out = Path(out_dir) if out_dir else config.outputs_dir() / "03_daily_monitoring"
    out.mkdir(parents=True, exist_ok=True)
    path = (
        out
        / f"{L('表3_每日数据监控', 'table3_daily_monitoring')}_{pd.Timestamp(as_of).date()}.xlsx"
    )
    names = {
        "note": L("异常说明", "Anomaly note"),
        "fix": L("整改建议", "Suggested fix"),
        "owner": L("负责人", "Owner"),
        **{
            f"gmv_{k}": f"{L('成交金额', 'GMV')} {L(*COMPARISON_LABELS[k])}"
            for k in ("dod", "wow", "yoy")
        },
        **{
            k: L(*COMPARISON_LABELS[k])
            for k in ("mtd_gmv", "month_target", "achievement", "time_progress")
        },
    }
    wb = Workbook()
    wb.remove(wb.active)
    anomalous = table["note"].fillna("").ne("") if "note" in table else None
    write_sheet(
        wb,
        L("表3", "Table 3"),
        table,
        headers=[names.get(c, L.col(c)) for c in table.columns],
        formats=_TABLE3_FORMATS,
        row_fills=None if anomalous is None else [_ANOMALY_FILL if a else None for a in anomalous],
        freeze="C2",
        wrap=("note",),
        lang=lang,
    )
    if comparisons is not None and len(comparisons):
        c = comparisons.drop(columns=["yoy_date"]).copy()
        per_row = [_metric_format(m) for m in c["metric"]]
        c["metric"] = [L.col(m) for m in c["metric"]]
        heads = {
            "channel": L.col("channel"),
            "metric": L("指标", "Metric"),
            "value": L("当日", "Day"),
            "prev_day": L("前一日", "Previous day"),
            "dod": L(*COMPARISON_LABELS["dod"]),
            "last_week": L("上周同日", "Same weekday last week"),
            "wow": L(*COMPARISON_LABELS["wow"]),
            "last_year": L("去年同期", "Last year"),
            "yoy": L(*COMPARISON_LABELS["yoy"]),
            "yoy_basis": L("同比口径", "Last-year basis"),
        }
        write_sheet(
            wb,
            L("环比同比", "Comparisons"),
            c,
            headers=heads,
            formats={
                **{k: per_row for k in ("value", "prev_day", "last_week", "last_year")},
                **{k: CHANGE for k in ("dod", "wow", "yoy")},
            },
            freeze="C2",
            lang=lang,
        )
    return save_book(wb, path)  # whole file, then renamed; formula-like text quoted
