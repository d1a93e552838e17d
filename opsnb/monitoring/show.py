"""What notebook 03 shows from a :class:`opsnb.monitoring.MonitorResult`: the daily report 表3
(每日数据监控表) with 环比 / 较上周同期 / 同比 / month-to-date against the target, anomaly notes,
suggested fixes and owners, the open incidents with their age and deadlines, the alert list,
trend charts with the expected band, drafted 异常数据整改报告, the styled Excel export and,
last, :func:`show_summary`, the 结论 / Summary box under the report's title.
Chinese and English (``lang``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from opsnb.i18n import SEVERITY_LABELS, Labels
from opsnb.monitoring.charts import plot_day, plot_monitor
from opsnb.monitoring.compare import COMPARISON_LABELS, day_comparisons
from opsnb.monitoring.daily import TOTAL, MonitorResult, root_cause
from opsnb.monitoring.excel import export_excel
from opsnb.monitoring.findings import (
    TABLE3_COMPARISONS,
    DaySummary,
    alert_list,
    daily_report,
    day_summary,
    draft_rectification,
    rectification_drafts,
)

__all__ = [
    "show_summary",
    "daily_report",
    "draft_rectification",
    "plot_monitor",
    "day_summary",
    "alert_list",
    "rectification_drafts",
    "plot_day",
    "export_excel",
    "DaySummary",
    "show_table3",
    "show_excel",
    "show_alerts",
    "show_trends",
    "show_root_cause",
    "show_drafts",
    "show_incidents",
    "incident_table",
    "TABLE3_COMPARISONS",
]


def _people(ctx, owners: dict | None) -> dict[str, str]:
    """channel → name from the ``owners`` parameter, then the targets' owners."""
    from opsnb.monitoring.incidents import resolve_owners

    return {ch: o.name for ch, o in resolve_owners(owners, _targets(ctx)).items() if o.name}


# ------------------------------------------------------------------ report sections (notebook 03)


def _targets(ctx) -> pd.DataFrame | None:
    try:
        return ctx.read_all("targets")
    except Exception:  # noqa: BLE001 - no targets table in the store: the columns stay empty
        return None


def show_table3(
    ctx,
    result: MonitorResult,
    as_of,
    daily: pd.DataFrame | None = None,
    *,
    owners: dict | None = None,
) -> tuple[DaySummary, pd.DataFrame]:
    """表3 每日数据监控表 with its headline sentence (how GMV at risk is counted), GMV 环比 /
    较上周同期 / 同比 and month to date against the monthly target when ``daily`` is given, and
    the shop total's comparisons per metric; returns the day's summary and the table. Owners
    are named as in the incident table (``owners``, then the targets' owners)."""
    s = day_summary(result, as_of)
    ctx.h2("表3 每日数据监控表", "Table 3: daily monitoring")
    ctx.say(
        f"{s.date}：共检验 {s.tests} 项（指标×渠道），发现 {s.alerts} 项异常，其中高风险 {s.high} 项，"
        f"影响金额 {ctx.money(s.gmv_at_risk)}（全店成交金额与预期之差），异常渠道缺口合计 "
        f"{ctx.money(s.gmv_at_risk_channels)}（每个渠道日只计一次，不按指标重复相加）。"
        f"多重检验按 Benjamini–Hochberg 控制错误发现率 {s.alpha:.1%}。",
        f"{s.date}: {s.tests} tests (metrics × channels), {s.alerts} anomalies, {s.high} high-severity, "
        f"GMV at risk {ctx.money(s.gmv_at_risk)} (the shop's GMV gap versus its expected value); "
        f"flagged channels' gaps {ctx.money(s.gmv_at_risk_channels)} (each channel-day counted once, "
        f"not once per metric). Benjamini–Hochberg keeps the false-discovery rate at {s.alpha:.1%}.",
    )
    if s.tests == 0:
        days = int(pd.to_datetime(result.scores["date"]).nunique()) if len(result.scores) else 0
        ctx.note(
            f"没有可检验的指标：异常检测需要至少 28 天的历史数据，当前库中只有 {days} 天。继续每天导入数据，满 28 天后开始检测。",
            f"Nothing could be tested: anomaly detection needs at least 28 days of history and the store holds {days}. Keep importing daily; testing starts on day 28.",
            kind="alert",
        )
    targets = _targets(ctx) if daily is not None else None
    t3 = daily_report(
        result, as_of, lang=ctx.lang, daily=daily, targets=targets, people=_people(ctx, owners)
    )
    L = ctx.L
    shown = t3.rename(
        columns={
            **{
                f"gmv_{k}": f"{L('成交', 'GMV ')}{L(*COMPARISON_LABELS[k])}"
                for k in ("dod", "wow", "yoy")
            },
            **{
                k: L(*COMPARISON_LABELS[k])
                for k in ("mtd_gmv", "month_target", "achievement", "time_progress")
            },
        }
    )
    new = [c for c in shown.columns if c not in t3.columns]
    ctx.table(
        shown,
        pct=[
            "conversion_rate",
            "refund_rate",
            *[
                c
                for c in new
                if c
                not in (L(*COMPARISON_LABELS["mtd_gmv"]), L(*COMPARISON_LABELS["month_target"]))
            ],
        ],
        money=[
            "gmv",
            "aov",
            *[
                c
                for c in new
                if c in (L(*COMPARISON_LABELS["mtd_gmv"]), L(*COMPARISON_LABELS["month_target"]))
            ],
        ],
        int_cols=["visitors"],
        translate=True,
    )
    if daily is not None:
        _say_comparisons(ctx, daily, as_of, t3, targets)
    return s, t3


def _say_comparisons(ctx, daily, as_of, t3: pd.DataFrame, targets) -> None:
    from opsnb.monitoring.compare import same_day_last_year

    ly, basis = same_day_last_year(as_of)
    tot = t3[t3["channel"] == TOTAL]
    if basis:
        ctx.say(
            f"同比按去年同一大促日（{basis}，{ly.date()}）比较，不按同一日历日。",
            f"Year on year compares with last year's same event day ({basis}, {ly.date()}), not the same calendar date.",
        )
    if len(tot) and pd.notna(tot["achievement"].iloc[0]):
        r = tot.iloc[0]
        ahead = r["achievement"] >= r["time_progress"]
        ctx.say(
            f"本月累计成交 {ctx.money(r['mtd_gmv'])}，月度目标 {ctx.money(r['month_target'])}，达成 {ctx.pct(r['achievement'])}，"
            f"时间进度 {ctx.pct(r['time_progress'])}：{'领先' if ahead else '落后'}于进度。",
            f"Month to date {ctx.money(r['mtd_gmv'])} of a {ctx.money(r['month_target'])} target: {ctx.pct(r['achievement'])} achieved "
            f"with {ctx.pct(r['time_progress'])} of the month gone, {'ahead of' if ahead else 'behind'} pace.",
        )
    else:
        ctx.say(
            "本月没有月度成交目标（targets 表中 period=YYYY-MM、metric=gmv 的行），目标达成列为空。",
            "No monthly GMV target for this month (targets rows with period YYYY-MM, metric gmv): the target columns are empty.",
        )


def show_excel(ctx, table: pd.DataFrame, as_of, daily: pd.DataFrame | None = None) -> Path:
    """Write 表3 (and, with ``daily``, the per-metric comparisons) as styled Excel into the
    run's output folder and say where it is."""
    cmp_ = day_comparisons(daily, as_of) if daily is not None else None
    xlsx = export_excel(table, as_of, lang=ctx.lang, out_dir=ctx.output_dir, comparisons=cmp_)
    ctx.say(
        f"Excel 版：`{xlsx.name}`（与报告同在输出目录）。",
        f"Excel copy: `{xlsx.name}` (in the output folder next to the report).",
    )
    return xlsx


def show_alerts(ctx, result: MonitorResult, as_of, *, owners: dict | None = None) -> None:
    """The alert list with its 24 h / 48 h deadlines; owners named as in the incident table
    (``owners`` parameter, then the targets' owners)."""
    ctx.h2("异常清单与期限", "Anomaly list and deadlines")
    ctx.say(
        "高风险：24小时内提交应对方案；所有确认的异常：48小时内提交异常数据整改报告。",
        "High severity: response plan within 24 h; every confirmed anomaly: rectification report within 48 h.",
    )
    _say_calendar(ctx, result, as_of)
    al = alert_list(result, as_of, lang=ctx.lang, people=_people(ctx, owners))
    if al.empty:
        ctx.say("今日没有异常。", "No anomalies today.")
    else:
        ctx.table(al, translate=False, money=[ctx.L("影响金额", "GMV at risk")])


def _say_calendar(ctx, result: MonitorResult, as_of) -> None:
    """Which calendar the day was read with (parameters ``country`` and ``events``), and the
    calendar day it is, if any."""
    cal = result.calendar
    if cal is None or not len(cal):
        ctx.say(
            "未使用节假日/大促日历：每一天按普通日比较。",
            "No calendar: every day is compared as an ordinary day.",
        )
        return
    n = len(result.shop_events)
    names = "、".join(result.shop_events[:3]) + ("…" if n > 3 else "")
    zh = ["电商大促（618、双11 等）"] if result.promotions else []
    en = ["the promotion calendar (618, Double 11, …)"] if result.promotions else []
    if result.country:
        zh.append(f"{result.country} 法定节假日")
        en.append(f"{result.country} public holidays")
    if n:
        zh.append(f"店铺活动 {n} 个（{names}）")
        en.append(
            f"{n} shop event{'s' if n > 1 else ''} ({', '.join(result.shop_events[:3])}{', …' if n > 3 else ''})"
        )
    sc = result.scores
    today = sc.loc[(sc["date"] == pd.Timestamp(as_of)) & (sc["event"] != ""), "event"]
    day_zh = day_en = ""
    if len(today):
        row = cal[cal["event"] == today.iloc[0]].head(1)
        zh_name = row["name_zh"].iloc[0] if len(row) else today.iloc[0]
        en_name = row["name_en"].iloc[0] if len(row) else today.iloc[0]
        day_zh, day_en = f"今天是日历日：{zh_name}。", f" Today is a calendar day: {en_name}."
    ctx.say(
        f"日历：{' + '.join(zh)}（参数 country、events、promotions）。日历内的日子与往年同一活动日比较；没有往年数据时，"
        f"节假日用更宽的区间，大促只对下跌报警。{day_zh}",
        f"Calendar: {' + '.join(en)} (parameters country, events, promotions). A calendar day is compared with the "
        f"same event in past years; without a past, a holiday gets a wider band and a promotion alarms "
        f"only on a fall.{day_en}",
    )


def show_trends(ctx, result: MonitorResult, as_of) -> None:
    """Trend panels of the day's anomalous series with their expected bands."""
    ctx.h2("趋势与预期区间", "Trends and expected bands")
    ctx.say(
        "灰线为实际值，蓝色带为因果基线的预期区间（大促日按去年同期倍数），橙点为异常。",
        "Dark line: actual; blue band: the causal baseline's expected range (promotion days scaled by last year's event); orange: anomalies.",
    )
    ctx.show(plot_day(result, as_of, lang=ctx.lang))


def show_root_cause(ctx, daily: pd.DataFrame, as_of, result: MonitorResult | None = None) -> None:
    """Root-cause waterfall: the day's GMV against its expected, event-aware value (the anomaly
    test's baseline, from ``result``), by channel × factor; the typical same weekday without."""
    from opsnb.drivers import plot_waterfall

    dec = root_cause(daily, as_of, result=result, lang=ctx.lang)
    if dec.attrs.get("baseline") == "typical":
        ctx.h2(
            "根因拆解：成交金额较同周几均值的变化",
            "Root cause: GMV versus the typical same weekday",
        )
    else:
        ctx.h2("根因拆解：成交金额较预期的差距", "Root cause: GMV versus the expected day")
        ctx.say(
            "基线与异常检验相同：因果预期值，大促日按大促预期（如双11对比预期的双11），不是普通工作日。",
            "The baseline is the anomaly test's: the causal expected value, promotion days against an expected promotion day (an expected 双11, not a weekday).",
        )
    top = dec.iloc[0]
    ctx.say(
        f"全店成交金额变化 {ctx.money(dec['contribution'].sum())}，最大贡献：{top['label']}（{ctx.money(top['contribution'])}）。",
        f"Shop GMV changed by {ctx.money(dec['contribution'].sum())}; largest part: {top['label']} ({ctx.money(top['contribution'])}).",
    )
    ctx.show(plot_waterfall(dec, lang=ctx.lang))


def show_drafts(ctx, result: MonitorResult, daily: pd.DataFrame, as_of) -> None:
    """Drafts of the 异常数据整改报告 the day's alerts owe (:func:`rectification_drafts`)."""
    ctx.h2("异常数据整改报告（草稿）", "Anomaly rectification reports (drafts)")
    ctx.md(rectification_drafts(result, daily, as_of, lang=ctx.lang))


_STATUS_LABELS = {
    "new": ("新发", "new"),
    "ongoing": ("持续", "ongoing"),
    "resolved": ("已恢复", "resolved"),
    "closed": ("已关闭", "closed"),
}
_FAMILY_LABELS = {
    "sales": ("成交", "sales"),
    "refund": ("退款", "refunds"),
    "data": ("埋点/口径", "tracking"),
}


def incident_table(incidents: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """Incidents as the report lists them (translated headers and values): id, channel,
    family, metrics, status, severity, opened, age (days), GMV at risk, owner, deadlines,
    overdue flags, acknowledged by."""
    from opsnb.i18n import Labels

    L = Labels(lang)
    x = incidents
    due = lambda s: pd.to_datetime(s).dt.strftime("%Y-%m-%d").fillna("—")  # noqa: E731
    flag = lambda b: L("逾期", "OVERDUE") if b else ""  # noqa: E731
    return pd.DataFrame(
        {
            L("编号", "ID"): x["incident_id"],
            L("流量来源", "Traffic source"): x["channel"],
            L("类别", "Kind"): [L(*_FAMILY_LABELS.get(f, (f, f))) for f in x["family"]],
            L("指标", "Metrics"): [
                ", ".join(L.col(m) for m in str(ms).split(",") if m) for ms in x["metrics"]
            ],
            L("状态", "Status"): [L(*_STATUS_LABELS.get(v, (v, v))) for v in x["status"]],
            L("严重程度", "Severity"): [
                L(*SEVERITY_LABELS[v]) if v in SEVERITY_LABELS else v for v in x["severity"]
            ],
            L("开始", "Since"): due(x["opened_on"]),
            L("持续天数", "Age (days)"): x["age_days"].astype(int),
            L("影响金额", "GMV at risk"): x["gmv_at_risk"].round(0),
            L("负责人", "Owner"): x["owner"].fillna(""),
            L("应对方案截止", "Response plan due"): [
                f"{d} {flag(o)}".strip()
                for d, o in zip(due(x["response_due"]), x["response_overdue"])
            ],
            L("整改报告截止", "Report due"): [
                f"{d} {flag(o)}".strip() for d, o in zip(due(x["report_due"]), x["report_overdue"])
            ],
            L("确认人", "Acknowledged by"): x["acknowledged_by"].fillna(""),
        }
    )


def show_incidents(
    ctx, result: MonitorResult, as_of, *, owners: dict | None = None, quiet_days: int = 2
) -> pd.DataFrame:
    """Open incidents with their age, owner and deadlines (overdue flagged), and those resolved
    on the day, as kept by the daily loop in the store (:mod:`opsnb.monitoring.incidents`);
    returns every incident as it stands on ``as_of``."""
    from opsnb.monitoring.incidents import current_incidents, load_incidents, resolve_owners

    stored, actions = load_incidents(ctx.db_path)
    inc = current_incidents(
        result,
        as_of,
        stored=stored,
        actions=actions,
        owners=resolve_owners(owners, _targets(ctx)),
        quiet_days=quiet_days,
    )
    d = pd.Timestamp(as_of)
    ctx.h2("异常事件跟踪", "Incidents")
    open_ = inc[inc["status"].isin(("new", "ongoing"))].sort_values("opened_on")
    done = inc[(inc["status"] == "resolved") & (inc["resolved_on"] == d)]
    n_new = int((open_["status"] == "new").sum())
    over = int((open_["response_overdue"] | open_["report_overdue"]).sum())
    ctx.say(
        f"未关闭事件 {len(open_)} 个（今日新发 {n_new} 个，逾期 {over} 个）；今日恢复 {len(done)} 个"
        f"（连续 {quiet_days} 天无异常即视为恢复）。同一渠道同类异常（成交/退款/埋点）合并为一个事件。",
        f"{len(open_)} open incidents ({n_new} new today, {over} overdue); {len(done)} resolved today "
        f"(after {quiet_days} quiet days). Alerts on the same channel and kind (sales/refunds/tracking) extend one incident.",
    )
    at_risk = ctx.L("影响金额", "GMV at risk")
    if len(open_):
        ctx.table(incident_table(open_, lang=ctx.lang), translate=False, money=[at_risk])
    if len(done):
        ctx.table(
            incident_table(done, lang=ctx.lang),
            translate=False,
            money=[at_risk],
            caption=("今日恢复", "Resolved today"),
        )
    return inc


def show_summary(
    ctx,
    summary: DaySummary,
    table3: pd.DataFrame,
    incidents: pd.DataFrame,
    result: MonitorResult,
    as_of,
) -> None:
    """The 结论 / Summary box of the daily report: anomalies (high-severity among them), GMV at
    risk, open incidents and the month's achievement against time gone — the figures of
    :func:`show_table3` (``summary``, ``table3``) and :func:`show_incidents` — then what to do:
    one line per alert of the day from :func:`alert_list` (fix, owner, deadlines)."""
    s = summary
    open_ = incidents[incidents["status"].isin(("new", "ongoing"))] if len(incidents) else incidents
    items = [
        ctx.item("monitor_alerts", s.alerts, kind="alert" if s.alerts else "good"),
        ctx.item("monitor_high", s.high, kind="alert" if s.high else "good"),
        ctx.item("monitor_gmv_at_risk", s.gmv_at_risk, kind="warn" if s.gmv_at_risk else "info"),
        ctx.kpi("未关闭事件", "Open incidents", ctx.count(len(open_))),
    ]
    tot = (
        table3[table3["channel"] == TOTAL] if "achievement" in table3.columns else table3.iloc[0:0]
    )
    behind = False
    if len(tot) and pd.notna(tot["achievement"].iloc[0]):
        r = tot.iloc[0]
        behind = r["achievement"] < r["time_progress"]
        items.append(
            ctx.kpi(
                "本月目标达成",
                "Month to date vs target",
                ctx.pct(r["achievement"]),
                note_zh=f"时间进度 {ctx.pct(r['time_progress'])}",
                note_en=f"{ctx.pct(r['time_progress'])} of the month gone",
                kind="warn" if behind else "good",
            )
        )
    actions = []
    for lang in ("zh", "en"):
        al = alert_list(result, as_of, lang=lang)
        L = Labels(lang)
        lines = []
        for row in al.itertuples(index=False):
            # columns: date, channel, metric, actual, expected, change, at risk, severity, owner,
            # response due, report due (see alert_list)
            _, ch, metric, _, _, change, _, sev, owner, resp, rep = row
            due = (
                L(
                    f"应对方案 {resp} 前、整改报告 {rep} 前",
                    f"response plan by {resp}, report by {rep}",
                )
                if resp != "—"
                else L(f"整改报告 {rep} 前", f"report by {rep}")
            )
            lines.append(f"{ch} {metric} {change}{L.paren(sev)}{L.colon}{owner}{L.comma}{due}")
        actions.append(lines)
    todo = [(zh + "。", en + ".") for zh, en in zip(*actions)]
    if not todo:
        todo.append(("今日无异常，照常运营。", "No anomaly today: business as usual."))
    if behind:
        todo.append(
            (
                "本月成交落后于时间进度：在周会上核对各渠道的追赶计划。",
                "Month-to-date GMV is behind pace: review each channel's catch-up plan at the weekly meeting.",
            )
        )
    ctx.summary(items, todo)
