"""Retrospective report (复盘报告): execution review, past campaigns, drafted summary, tables.

Builds on :mod:`opsnb.retro` (metrics, achievement, pace) and :mod:`opsnb.retro.lift`:
:func:`execution_review` judges 表1 / 表2 (plan tasks on time, milestone risks that
materialised); :func:`campaign_window`, :func:`campaign_summary`, :func:`past_campaigns` and
:func:`compare_campaigns` put a campaign beside earlier ones; :func:`draft_summary` writes the
summary sentences from the numbers; :func:`achievement_display` and :func:`export_excel` shape
the tables for the report and the workbook.

Split out of :mod:`opsnb.retro`, which still exposes every name here (``retro.draft_summary``).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from opsnb import drivers, plots
from opsnb.i18n import Labels
from opsnb.retro.lift import LiftResult
from opsnb.retro.review import METRICS, Projection, achievement, daily_dates, metric_value

__all__ = [
    "execution_review",
    "execution_display",
    "campaign_window",
    "campaign_summary",
    "past_campaigns",
    "draft_summary",
    "achievement_display",
    "FACTOR_NAMES",
    "compare_campaigns",
    "export_excel",
]


# ---------------------------------------------------------------------------------------------
# execution review (表1 / 表2)
# ---------------------------------------------------------------------------------------------


def execution_review(
    plan: pd.DataFrame, milestones: pd.DataFrame | None = None, *, as_of, lang: str = "zh"
) -> dict:
    """On-time completion, delays by owner and risks that materialised.

    A plan task is *due* when its ``end`` ≤ ``as_of``; it is *on time* when its status is
    已完成 and its last update (``updated``, else ``end``) is on or before ``end``; *late* when
    due and not on time (延期, still open, or finished after ``end``). A milestone's risk
    *materialised* when its date has passed and it was not met (``done`` false). When the plan
    has ``updated`` dates, tasks are judged as of the latest update (``summary["as_of"]``), since
    later statuses are unknown.

    Returns ``{"summary": dict, "by_owner": DataFrame(owner, tasks, due, on_time, late,
    days_late, on_time_rate), "late_tasks": DataFrame, "risks": DataFrame(milestone, date,
    owner, risk, response, materialised, no_response)}``.
    """
    L = Labels(lang)
    as_of = pd.Timestamp(as_of)
    p = plan.copy()
    if "updated" in p.columns and pd.to_datetime(p["updated"]).notna().any():
        # statuses are only known as of the plan's latest update: judge due dates then
        as_of = min(as_of, pd.to_datetime(p["updated"]).max())
    p["end"] = pd.to_datetime(p["end"])
    upd = (
        pd.to_datetime(p["updated"]) if "updated" in p.columns else pd.Series(pd.NaT, index=p.index)
    )
    done = p["status"].astype(str) == "已完成"
    finished = upd.fillna(p["end"])
    p["due"] = p["end"] <= as_of
    p["on_time"] = done & (finished <= p["end"])
    p["late"] = p["due"] & ~p["on_time"]
    ref = pd.Series(np.where(done, finished, as_of), index=p.index)
    p["days_late"] = np.where(p["late"], (pd.to_datetime(ref) - p["end"]).dt.days.clip(lower=0), 0)
    by = (
        p.groupby("owner")
        .agg(
            tasks=("task", "size"),
            due=("due", "sum"),
            on_time=("on_time", "sum"),
            late=("late", "sum"),
            days_late=("days_late", "sum"),
        )
        .reset_index()
    )
    by["on_time_rate"] = by["on_time"] / by["due"].where(by["due"] > 0)
    by = by.sort_values(["late", "days_late"], ascending=False).reset_index(drop=True)
    due = int(p["due"].sum())
    on_time_due = int((p["on_time"] & p["due"]).sum())
    summary = {
        "tasks": int(len(p)),
        "due": due,
        "on_time": on_time_due,
        "late": int(p["late"].sum()),
        "on_time_rate": on_time_due / due if due else float("nan"),
        "budget": float(pd.to_numeric(p.get("budget"), errors="coerce").fillna(0).sum())
        if "budget" in p.columns
        else float("nan"),
    }
    late_cols = [
        c for c in ("cycle", "task", "owner", "end", "status", "days_late") if c in p.columns
    ]
    late = p.loc[p["late"], late_cols].sort_values("days_late", ascending=False)
    risks = pd.DataFrame()
    if milestones is not None and len(milestones):
        m = milestones.copy()
        m["date"] = pd.to_datetime(m["date"])
        met = m["done"].fillna(False).astype(bool) if "done" in m.columns else False
        m["materialised"] = (m["date"] <= as_of) & ~met
        resp = m["response"] if "response" in m.columns else pd.Series("", index=m.index)
        m["no_response"] = resp.isna() | (resp.astype(str).str.strip().isin(["", "nan", "None"]))
        keep = [
            c
            for c in (
                "milestone",
                "date",
                "owner",
                "risk",
                "standard",
                "response",
                "materialised",
                "no_response",
            )
            if c in m.columns
        ]
        risks = m[keep].reset_index(drop=True)
        summary["milestones_due"] = int((m["date"] <= as_of).sum())
        summary["milestones_missed"] = int(m["materialised"].sum())
        summary["high_risk_materialised"] = int(
            (m["materialised"] & m["risk"].isin(["中", "高"])).sum()
        )
        summary["high_risk_without_response"] = int(((m["risk"] == "高") & m["no_response"]).sum())
    summary["label"] = L("按时完成率", "On-time completion rate")
    summary["as_of"] = as_of.date().isoformat()
    return {
        "summary": summary,
        "by_owner": by,
        "late_tasks": late.reset_index(drop=True),
        "risks": risks,
    }


def execution_display(execution: dict, lang: str = "zh") -> dict[str, pd.DataFrame]:
    """The execution review's tables as a report shows them, in ``lang``.

    ``by_owner``: owner, tasks, due, on_time, late, days_late, on_time_rate (display names).
    ``risks``: the milestones whose risk materialised, with risk levels in ``lang`` (High, ...),
    an empty response shown as "—" and no_response as 是/否 (Yes/No); the always-true
    materialised column is left out. Display only: the review's own frames are not changed.
    """
    from opsnb.i18n import COLUMN_LABELS, translate_plan_values

    L = Labels(lang)
    names = {c: L(*COLUMN_LABELS[c]) for c in COLUMN_LABELS}
    names["standard"] = L("完成标准", "Completion standard")
    names["response"] = L("应对措施", "Response plan")
    names["no_response"] = L("无应对措施", "No response plan")
    names["on_time_rate"] = L("按时完成率", "On-time rate")
    names["date"] = L("日期", "Date")
    by = execution["by_owner"].rename(columns=names)
    r = execution["risks"]
    if len(r):
        r = r[r["materialised"]].drop(columns="materialised")
        r = translate_plan_values(r, lang=lang, columns=("risk",))
        if "response" in r:
            r["response"] = r["response"].map(
                lambda v: "—" if v is None or v != v or not str(v).strip() else v
            )
        if "no_response" in r:
            r["no_response"] = r["no_response"].map(
                lambda v: L("是", "Yes") if v else L("否", "No")
            )
        if "date" in r:
            r["date"] = pd.to_datetime(r["date"]).dt.strftime("%Y-%m-%d")
    return {"by_owner": by, "risks": r.rename(columns=names).reset_index(drop=True)}


# ---------------------------------------------------------------------------------------------
# campaigns
# ---------------------------------------------------------------------------------------------


def campaign_window(
    event: str, year: int | None = None, *, calendar: pd.DataFrame | None = None
) -> tuple[pd.Timestamp, pd.Timestamp, str, str]:
    """(start, end, name_zh, name_en) of ``event`` (a calendar slug, e.g. double11) in ``year``."""
    from opsnb import calendar as cal

    if calendar is None:
        y = year or date.today().year
        calendar = cal.promotion_calendar(f"{y}-01-01", f"{y}-12-31")
    rows = calendar[calendar["event"].astype(str) == str(event)]
    if year is not None:
        rows = rows[pd.to_datetime(rows["start"]).dt.year == int(year)]
    if rows.empty:
        known = sorted(set(calendar["event"].astype(str)))
        raise ValueError(f"unknown campaign {event!r} in {year}; known: {', '.join(known)}")
    r = rows.iloc[-1]
    return (
        pd.Timestamp(r["start"]),
        pd.Timestamp(r["end"]),
        str(r.get("name_zh", event)),
        str(r.get("name_en", event)),
    )


def campaign_summary(daily: pd.DataFrame, start, end, *, baseline_days: int = 28) -> dict:
    """Key figures of one campaign window: gmv, orders, visitors, conversion_rate, aov,
    refund_rate, ad_spend, roas (gmv / ad_spend) and uplift (daily GMV versus the average day of
    the ``baseline_days`` before it)."""
    d = daily_dates(daily)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    w = daily[(d >= start) & (d <= end)]
    b = daily[(d < start) & (d >= start - pd.Timedelta(days=baseline_days))]
    out = {
        m: metric_value(w, m)
        for m in ("gmv", "orders", "visitors", "conversion_rate", "aov", "refund_rate")
    }
    out["ad_spend"] = metric_value(w, "ad_spend") if "ad_spend" in w.columns else np.nan
    out["roas"] = (
        out["gmv"] / out["ad_spend"] if out["ad_spend"] and out["ad_spend"] > 0 else np.nan
    )
    days_w = (end - start).days + 1
    base = metric_value(b, "gmv") / baseline_days if len(b) else np.nan
    out["uplift"] = (out["gmv"] / days_w) / base if base and base > 0 else np.nan
    out["days"] = days_w
    return out


def past_campaigns(
    daily: pd.DataFrame,
    *,
    before,
    n: int = 3,
    kinds=("promo",),
    min_days: int = 3,
    same_event: str | None = None,
    calendar: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The last ``n`` promotions (of at least ``min_days`` days) that ended before ``before`` and
    are covered by ``daily`` (plus the last ``same_event``, e.g. last year's double11), with
    :func:`campaign_summary` figures.

    Columns: event, name_zh, name_en, start, end, and the summary keys.
    """
    from opsnb import calendar as cal

    d = daily_dates(daily)
    if calendar is None:
        calendar = cal.promotion_calendar(d.min(), d.max())
    c = calendar[calendar["kind"].isin(list(kinds))].copy()
    c["start"], c["end"] = pd.to_datetime(c["start"]), pd.to_datetime(c["end"])
    c = c[(c["end"] < pd.Timestamp(before)) & (c["start"] - pd.Timedelta(days=28) >= d.min())]
    c = c[(c["end"] - c["start"]).dt.days + 1 >= min_days].sort_values("end")
    last = c.tail(n)
    if same_event:
        last = (
            pd.concat([c[c["event"] == same_event].tail(1), last])
            .drop_duplicates(["event", "start"])
            .sort_values("end")
        )
    c = last
    rows = []
    for _, r in c.iterrows():
        rows.append(
            dict(
                event=r["event"],
                name_zh=r["name_zh"],
                name_en=r["name_en"],
                start=r["start"],
                end=r["end"],
                **campaign_summary(daily, r["start"], r["end"]),
            )
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# drafted 复盘报告 summary and tables for display / Excel
# ---------------------------------------------------------------------------------------------


def draft_summary(
    *,
    achievement_table: pd.DataFrame | None = None,
    lift: LiftResult | None = None,
    attribution_summary: pd.DataFrame | None = None,
    execution: dict | None = None,
    projection: Projection | None = None,
    campaign_name: tuple[str, str] = ("活动", "the campaign"),
    comparison_label: str = "",
    lang: str = "zh",
) -> list[str]:
    """Sentences of the 复盘报告 summary, each built from the numbers passed in."""
    L = Labels(lang)
    m = lambda x: plots.format_money(x, lang)  # noqa: E731
    p = plots.format_pct
    out: list[str] = []
    a = (
        achievement_table
        if achievement_table is not None
        else achievement(pd.DataFrame(columns=["channel"]), pd.DataFrame(columns=["period"]), "")
    )
    tot = a[(a["metric"] == "gmv") & (a["channel"] == "全部")]
    if len(tot):
        r = tot.iloc[0]
        out.append(
            L(
                f"成交金额 {m(r.actual)}，目标 {m(r.target)}，达成率 {p(r.achievement)}（{r.status_name}）。",
                f"GMV was {m(r.actual)} against a target of {m(r.target)}: "
                f"{p(r.achievement)} achieved ({r.status_name.lower()}).",
            )
        )
    if projection is not None and projection.days_left > 0 and np.isfinite(projection.estimate):
        out.append(
            L(
                f"按当前进度，期末预计 {m(projection.estimate)}（{int(projection.level * 100)}% 区间 "
                f"{m(projection.ci_low)} – {m(projection.ci_high)}），达成目标的概率约 {p(projection.prob_reach_target, 0)}。",
                f"At the current pace the period should end at {m(projection.estimate)} "
                f"({int(projection.level * 100)}% interval {m(projection.ci_low)} – "
                f"{m(projection.ci_high)}); chance of reaching the target ≈ {p(projection.prob_reach_target, 0)}.",
            )
        )
    missed = a[(a["status"].isin(["missed", "behind"]))]
    if len(missed):
        names = "、".join(
            f"{r.metric_name}（{r.channel}）" if r.channel != "全部" else r.metric_name
            for r in missed.itertuples()
        )
        names_en = ", ".join(
            f"{r.metric_name} ({r.channel})" if r.channel != "全部" else r.metric_name
            for r in missed.itertuples()
        )
        out.append(L(f"未达成或落后的目标：{names}。", f"Targets missed or behind: {names_en}."))
    if attribution_summary is not None and len(attribution_summary):
        s = attribution_summary.sort_values("contribution", key=np.abs, ascending=False)
        top = s.iloc[0]
        zh, en = FACTOR_NAMES.get(top["factor"], (top["factor"], top["factor"]))
        change = s["contribution"].sum()
        out.append(
            L(
                f"与{comparison_label}相比成交金额变化 {'+' if change >= 0 else ''}{m(change)}，"
                f"其中{zh}贡献最大（{'+' if top.contribution >= 0 else ''}{m(top.contribution)}）。",
                f"Versus {comparison_label}, GMV changed by {'+' if change >= 0 else ''}{m(change)}; "
                f"{en.lower()} contributed most ({'+' if top.contribution >= 0 else ''}{m(top.contribution)}).",
            )
        )
    if lift is not None and not lift.error_code:
        nz, ne = campaign_name
        out.append(
            L(
                f"{nz}期间成交 {m(lift.actual)}，无活动基线约 {m(lift.counterfactual)}，增量 {m(lift.estimate)}"
                f"（{int(lift.level * 100)}% 区间 {m(lift.ci_low)} – {m(lift.ci_high)}，相对提升 {p(lift.relative)}）。",
                f"During {ne} GMV was {m(lift.actual)} against a counterfactual of about "
                f"{m(lift.counterfactual)}: {m(lift.estimate)} incremental ({int(lift.level * 100)}% interval "
                f"{m(lift.ci_low)} – {m(lift.ci_high)}, {p(lift.relative)} lift).",
            )
        )
        if lift.n_post:
            dip = lift.post_ci_high < 0
            out.append(
                L(
                    f"活动后 {lift.n_post} 天{'出现透支回落' if dip else '未见显著透支'}（{m(lift.post_estimate)}），"
                    f"净增量 {m(lift.net_estimate)}，推广花费 {m(lift.spend)}，增量 ROI {lift.roi:.2f}。",
                    f"The {lift.n_post} days after {'show a pull-forward dip' if dip else 'show no significant dip'} "
                    f"({m(lift.post_estimate)}); net incremental {m(lift.net_estimate)} for "
                    f"{m(lift.spend)} spend, incremental ROI {lift.roi:.2f}.",
                )
            )
    if execution is not None:
        s = execution["summary"]
        out.append(
            L(
                f"计划执行：到期任务 {s['due']} 项，按时完成 {s['on_time']} 项（{p(s['on_time_rate'])}），"
                f"延误 {s['late']} 项；关键节点未达成 {s.get('milestones_missed', 0)} 个。",
                f"Execution: {s['on_time']} of {s['due']} due tasks finished on time "
                f"({p(s['on_time_rate'])}), {s['late']} late; {s.get('milestones_missed', 0)} milestones missed.",
            )
        )
        by = execution["by_owner"]
        if len(by) and by.iloc[0]["late"] > 0:
            r = by.iloc[0]
            out.append(
                L(
                    f"延误最多的负责人：{r.owner}（{int(r.late)} 项，累计 {int(r.days_late)} 天）。",
                    f"Most delays: {r.owner} ({int(r.late)} tasks, {int(r.days_late)} days in all).",
                )
            )
    return out


FACTOR_NAMES = drivers.FACTOR_LABELS


def achievement_display(table: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """运营效果汇总表 with display column names; target and actual formatted per metric
    (money, %, counts), achievement as a fraction."""
    L = Labels(lang)

    def fmt(metric, x):
        if x != x:
            return "—"
        if metric in ("gmv", "ad_spend", "aov"):
            return plots.format_money(x, lang)
        if metric in METRICS and METRICS[metric][1] is not None:
            return plots.format_pct(x)
        return f"{x:,.0f}"

    return pd.DataFrame(
        {
            L("目标", "Goal"): table["metric_name"],
            L("流量来源", "Channel"): table["channel"].replace({"全部": L("全部", "All")}),
            L("负责人", "Owner"): table["owner"],
            L("目标值", "Target"): [fmt(m, x) for m, x in zip(table["metric"], table["target"])],
            L("实际值", "Actual"): [fmt(m, x) for m, x in zip(table["metric"], table["actual"])],
            L("达成率", "Achievement"): table["achievement"],
            L("状态", "Status"): table["status_name"],
        }
    )


def compare_campaigns(
    daily: pd.DataFrame, campaign: str, year: int, *, n: int = 3, lang: str = "zh"
) -> pd.DataFrame:
    """This campaign beside the last ``n`` promotions and the same campaign a year before.

    Columns: name, start, end, days, gmv, uplift, conversion_rate, aov, refund_rate, roas;
    the last row is this campaign.
    """
    L = Labels(lang)
    start, end, zh, en = campaign_window(campaign, year)
    past = past_campaigns(daily, before=start, n=n, same_event=campaign)
    rows = [
        dict(
            name=f"{L(r.name_zh, r.name_en)} {r.start.year}",
            start=r.start,
            end=r.end,
            **{
                k: getattr(r, k)
                for k in ("days", "gmv", "uplift", "conversion_rate", "aov", "refund_rate", "roas")
            },
        )
        for r in past.itertuples()
    ]
    now = campaign_summary(daily, start, end)
    rows.append(
        dict(
            name=L(f"{zh} {year}（本次）", f"{en} {year} (this one)"),
            start=start,
            end=end,
            **{
                k: now[k]
                for k in ("days", "gmv", "uplift", "conversion_rate", "aov", "refund_rate", "roas")
            },
        )
    )
    return pd.DataFrame(rows)


def export_excel(
    path,
    *,
    achievement: pd.DataFrame,
    attribution: pd.DataFrame | None = None,
    mix: pd.DataFrame | None = None,
    lift: LiftResult | None = None,
    execution: dict | None = None,
    past: pd.DataFrame | None = None,
    lang: str = "zh",
):
    """Write the retrospective's tables to one workbook (one sheet each); returns the path."""
    from pathlib import Path

    L = Labels(lang)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheets = {
        L("运营效果汇总表", "Results"): achievement_display(achievement, lang).assign(
            **{L("达成率", "Achievement"): achievement["achievement"].to_numpy()}
        )
    }
    if attribution is not None:
        sheets[L("归因", "Attribution")] = attribution
    if mix is not None:
        sheets[L("结构效应", "Mix")] = mix
    if lift is not None:
        sheets[L("活动增量", "Lift")] = lift.to_frame()
    if execution is not None:
        sheets[L("执行复盘", "Execution")] = execution["by_owner"]
        if len(execution["risks"]):
            sheets[L("风险", "Risks")] = execution["risks"]
    if past is not None:
        sheets[L("往期对比", "Past campaigns")] = past
    tmp = path.with_suffix(".tmp.xlsx")
    with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
        for name, df in sheets.items():
            df.to_excel(xw, sheet_name=name[:31], index=False)
    tmp.replace(path)
    return path
