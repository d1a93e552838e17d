"""Sections of the retrospective notebook (05, 复盘报告): each call shows one part through a report context.

The notebook stays thin: it computes with :mod:`opsnb.retro.review` (achievement, pace,
attribution) and :mod:`opsnb.retro.execution`, then calls ``show_achievement``, ``show_pace``,
``show_attribution``, ``show_mix``, ``show_gap_to_target``, ``show_lift``, ``show_did``,
``show_execution``, ``show_past_campaigns`` and ``show_lessons`` in that order, and ends with
:func:`show_summary` (the 结论 / Summary box under the title, filled last), :func:`write_workbook`
and :func:`record_key_figures`. A section without data says so in the
report. :func:`achievement_display` and :func:`export_excel` shape the tables for the report and
the workbook.
"""

from __future__ import annotations

import pandas as pd

from opsnb import drivers, plots
from opsnb.i18n import Labels
from opsnb.retro.campaigns import CampaignWindow, campaign_window, compare_campaigns
from opsnb.retro.execution import ExecutionReview, execution_display
from opsnb.retro.lift import DidResult, LiftResult, did_lift, plot_lift, promotion_lift
from opsnb.retro.review import (
    ACHIEVEMENT_LABELS,
    METRICS,
    Attribution,
    Projection,
    achievement_total,
    plot_pace,
    target_frame,
)
from opsnb.retro.summary import FACTOR_NAMES, draft_summary
from opsnb.sheets import (
    CHANGE,
    COUNT,
    DECIMAL,
    MONEY,
    MONEY_CENTS,
    RATE,
    SMALL_RATE,
    save_book,
    write_sheet,
)

__all__ = [
    "period_or_last_year",
    "reviewed_until",
    "reviewed_campaign",
    "show_achievement",
    "show_pace",
    "show_attribution",
    "show_mix",
    "show_gap_to_target",
    "show_lift",
    "show_did",
    "show_execution",
    "show_past_campaigns",
    "show_lessons",
    "write_workbook",
    "record_key_figures",
    "achievement_display",
    "export_excel",
    "key_figures",
    "show_summary",
    "TARGET_SOURCE",
]

TARGET_SOURCE = (
    "目标取自 targets 表（运营计划中录入的本期目标），不是 02 目标拆解按增长率推算的目标；两者不同时，02 报告列出差距。",
    "Targets come from the targets table (the plan's targets for the period), not from the "
    "growth goal of the decomposition (02); when the two differ, the 02 report shows the gap.",
)
"""Where the GMV target of the review comes from (said in section 1 and the summary box)."""


# ---------------------------------------------------------------------------------------------
# the period and campaign reviewed
# ---------------------------------------------------------------------------------------------


def period_or_last_year(ctx, text: str = ""):
    """The period ``text`` names (2024-Q4, 2024-11-01..2024-11-30), or the report period a year
    earlier when ``text`` is empty."""
    from opsnb.periods import parse_period

    return parse_period(text) if text else ctx.period.last_year()


def reviewed_until(ctx):
    """The last day reviewed: the period's end, or ``as_of`` while the period is still running."""
    return min(ctx.period.end, ctx.as_of)


def reviewed_campaign(ctx, campaign: str) -> CampaignWindow | None:
    """The calendar window of ``campaign`` (double11, 618, ...) in the year the report period
    ends; None when no campaign is reviewed (``campaign`` empty)."""
    return campaign_window(campaign, ctx.period.end.year) if campaign else None


# ---------------------------------------------------------------------------------------------
# 1-3: achievement, pace, attribution
# ---------------------------------------------------------------------------------------------


def show_achievement(ctx, achievement: pd.DataFrame) -> None:
    """运营效果汇总表: how many targets are met, then the table."""
    good = int(achievement["status"].isin(["achieved", "on_track"]).sum())
    ctx.say(
        f"{ctx.period} 共 {len(achievement)} 个目标，{good} 个已达成或进度正常；"
        "退款率等“越低越好”的指标按 目标 ÷ 实际 计算达成率。",
        f"{ctx.period} has {len(achievement)} target{'' if len(achievement) == 1 else 's'}; "
        f"{good} {'is' if good == 1 else 'are'} achieved or on track. "
        "For lower-is-better metrics such as the refund rate, achievement is target ÷ actual.",
    )
    ctx.say(*TARGET_SOURCE)
    ctx.table(
        achievement_display(achievement, ctx.lang),
        pct=[ctx.L("达成率", "Achievement")],
        translate=False,
        caption=("运营效果汇总表", "Results against targets"),
    )


def show_pace(ctx, pace: pd.DataFrame, projection: Projection) -> None:
    """GMV to date against the plan to date, the projected end of a running period, the chart."""
    until = reviewed_until(ctx)
    seen = pace["pace"].dropna()
    if seen.empty:
        ctx.say(
            f"截至 {until} 本期还没有成交数据，无法比较目标进度。",
            f"By {until} the period has no GMV yet, so there is no pace to compare.",
        )
        return
    p = projection
    now = ctx.pct(seen.iloc[-1])
    ctx.say(
        f"截至 {until} 累计成交 {ctx.money(p.actual_to_date)}，为同期计划进度的 {now}（目标按去年每日走势分摊）。"
        + (
            f"按当前节奏期末预计 {ctx.money(p.estimate)}（95% 区间 {ctx.money(p.ci_low)} – {ctx.money(p.ci_high)}）。"
            if p.days_left
            else "本期已结束。"
        ),
        f"By {until} GMV reached {ctx.money(p.actual_to_date)}, {now} of the plan to date "
        "(target spread by last year's daily shape). "
        + (
            f"At this pace the period ends at {ctx.money(p.estimate)} (95% interval "
            f"{ctx.money(p.ci_low)} – {ctx.money(p.ci_high)})."
            if p.days_left
            else "The period is over."
        ),
    )
    ctx.show(plot_pace(pace, p, lang=ctx.lang))


def show_attribution(ctx, attribution: Attribution, compared, comparison) -> None:
    """The exact channel × factor split of the GMV change versus ``compared`` (the part of the
    ``comparison`` period actually compared, see :func:`opsnb.retro.review.comparison_window`)."""
    factor, contribution = attribution.top_factor()
    zh, en = FACTOR_NAMES[factor]
    cut = compared.end < comparison.end
    cut_zh = f"（本期尚未结束，取对比期的前 {compared.days} 天）" if cut else ""
    cut_en = (
        f" (the period is still running: the first {compared.days} days of the comparison period)"
        if cut
        else ""
    )
    change = ctx.money(attribution.change)
    ctx.say(
        f"与对比期 {compared}{cut_zh} 相比，成交金额变化 {change}，按 渠道 × 因子（访客数、转化率、人均订单数、客单价）精确拆分，各项之和等于总变化；"
        f"贡献最大的因子是{zh}（{ctx.money(contribution)}）。新增或消失的渠道整体计入访客数。",
        f"Versus {compared}{cut_en}, GMV changed by {change}, split exactly into channel × factor "
        "parts (visitors, conversion, orders per buyer, AOV) that sum to the change; "
        f"the largest factor is {en.lower()} ({ctx.money(contribution)}). "
        "New or lost channels count under visitors.",
    )
    ctx.show(drivers.plot_waterfall(attribution.factors, lang=ctx.lang))


def show_mix(ctx, attribution: Attribution) -> None:
    """The same change split into total traffic, channel mix and within-channel rate."""
    e = {k: ctx.money(v) for k, v in attribution.effects().items()}
    ctx.say(
        f"结构拆分：总流量效应 {e['traffic']}，渠道结构效应 {e['mix']}，渠道内产出率效应 {e['rate']}。",
        f"Mix split: total traffic {e['traffic']}, channel mix {e['mix']}, within-channel rate "
        f"{e['rate']}.",
    )


def show_gap_to_target(
    ctx,
    achievement: pd.DataFrame,
    reference: pd.DataFrame,
    daily: pd.DataFrame,
    projection: Projection,
) -> pd.DataFrame | None:
    """Actual versus the GMV targets per channel, attributed like a change (a target funnel is
    the ``reference`` funnel scaled to each target). Only for a finished period with channel
    targets; otherwise says why and returns None."""
    t = achievement[(achievement["metric"] == "gmv") & (achievement["channel"] != "全部")]
    targets = t.set_index("channel")["target"]
    if not len(targets):
        ctx.say(
            "没有分渠道的成交金额目标，不做与目标的差距归因。",
            "There are no GMV targets per channel, so the gap to target is not attributed.",
        )
        return None
    if projection.days_left:
        ctx.say(
            "本期尚未结束，与目标的差距归因在期末进行。",
            "The period is still running: the gap to target is attributed once it is over.",
        )
        return None
    gap = drivers.decompose_gmv(
        target_frame(targets, reference), daily[daily["channel"].isin(targets.index)]
    )
    ctx.h3("与目标的差距归因", "Gap to target, attributed")
    ctx.show(
        drivers.plot_waterfall(
            gap,
            lang=ctx.lang,
            title=ctx.L("实际 vs 目标：差距归因", "Actual vs target: gap attribution"),
        )
    )
    return gap


# ---------------------------------------------------------------------------------------------
# 4: promotion lift
# ---------------------------------------------------------------------------------------------


def show_lift(
    ctx,
    history: pd.DataFrame,
    campaign: CampaignWindow | None,
    *,
    post_days: int = 7,
    spend: float = 0.0,
) -> LiftResult | None:
    """The campaign's incremental GMV over a no-campaign counterfactual
    (:func:`opsnb.retro.lift.promotion_lift`), the pull-forward dip after it and the incremental
    ROI, with the chart. ``spend`` 0: the ad spend in the window. None without a campaign."""
    if campaign is None:
        ctx.say("本期未指定活动。", "No campaign selected.")
        return None
    lift = promotion_lift(
        history, campaign.start, campaign.end, post_days=post_days, spend=spend or None
    )
    if lift.error_code:
        ctx.say(
            f"无法估计{campaign.name_zh}的增量（{lift.error_code}）：活动前的历史数据不足以建立无活动基线。",
            f"The lift of {campaign.name_en} cannot be estimated ({lift.error_code}): too little "
            "history before it for a counterfactual.",
        )
        return lift
    name = (campaign.name_zh, campaign.name_en)
    ctx.say(
        "".join(draft_summary(lift=lift, campaign_name=name, lang="zh")),
        " ".join(draft_summary(lift=lift, campaign_name=name, lang="en")),
    )
    ctx.show(
        plot_lift(history, campaign.start, campaign.end, lift, post_days=post_days, lang=ctx.lang)
    )
    return lift


def show_did(
    ctx, history: pd.DataFrame, campaign: CampaignWindow | None, control_channels=()
) -> DidResult | None:
    """Difference-in-differences against ``control_channels`` (channels not promoted), a check
    of the time-series lift; without control channels says that the lift above is the estimate."""
    if campaign is None:
        return None  # show_lift already said that no campaign is reviewed
    if not control_channels:
        ctx.say(
            "所有渠道均参与了活动，未做双重差分对照；增量以上方的时间序列基线为准。",
            "Every channel took part in the campaign, so there is no difference-in-differences "
            "control; the time-series baseline above is the estimate.",
        )
        return None
    did = did_lift(history, campaign.start, campaign.end, control_channels)
    if did.error_code:
        names_zh, names_en = "、".join(did.control_channels), ", ".join(did.control_channels)
        ctx.say(
            f"对照渠道（{names_zh}）的数据不足，无法做双重差分（{did.error_code}）；增量以上方的时间序列基线为准。",
            f"The control channels ({names_en}) do not allow a difference-in-differences check "
            f"({did.error_code}); the time-series baseline above is the estimate.",
        )
        return did
    ctx.say(
        f"双重差分（对照渠道：{'、'.join(did.control_channels)}）：增量 {ctx.money(did.estimate)}（95% 区间 {ctx.money(did.ci_low)} – {ctx.money(did.ci_high)}）。",
        f"Difference-in-differences against {', '.join(did.control_channels)}: "
        f"{ctx.money(did.estimate)} incremental (95% interval {ctx.money(did.ci_low)} – "
        f"{ctx.money(did.ci_high)}).",
    )
    return did


# ---------------------------------------------------------------------------------------------
# 5-6: execution, past campaigns and lessons
# ---------------------------------------------------------------------------------------------


def show_execution(ctx, execution: ExecutionReview) -> None:
    """On-time completion in a sentence, then the tables per owner and of the risks that
    materialised."""
    ctx.say(
        "".join(draft_summary(execution=execution, lang="zh")),
        " ".join(draft_summary(execution=execution, lang="en")),
    )
    shown = execution_display(execution, ctx.lang)
    counts = [("任务数", "Tasks"), ("到期", "Due"), ("按时完成", "On time"), ("延误", "Late")]
    ctx.table(
        shown.by_owner,
        translate=False,
        pct=[ctx.L("按时完成率", "On-time rate")],
        int_cols=[ctx.L(*p) for p in [*counts, ("延误天数", "Days late")]],
        caption=("各负责人按时完成情况", "On-time completion by owner"),
    )
    ctx.table(
        shown.risks,
        translate=False,
        caption=("已发生的风险（节点未达成）", "Risks that materialised (milestones missed)"),
    )


def show_past_campaigns(
    ctx, history: pd.DataFrame, campaign: CampaignWindow | None
) -> pd.DataFrame | None:
    """This campaign beside the last promotions and itself a year before
    (:func:`opsnb.retro.campaigns.compare_campaigns`); None without a campaign."""
    if campaign is None:
        ctx.say(
            "本期未指定活动，不与往期活动对比。",
            "No campaign selected, so there is nothing to compare with past campaigns.",
        )
        return None
    compare = compare_campaigns(history, campaign.event, campaign.start.year, lang=ctx.lang)
    cols = ["name", "days", "gmv", "uplift", "conversion_rate", "aov", "refund_rate", "roas"]
    names = {
        "name": ctx.L("活动", "Campaign"),
        "days": ctx.L("天数", "Days"),
        "uplift": ctx.L("日均倍数", "Daily uplift ×"),
        "roas": "ROAS",
    }
    ctx.table(
        compare[cols].rename(columns=names),
        money=["gmv", "aov"],
        pct=["conversion_rate", "refund_rate"],
        caption=("本次活动 vs 往期活动", "This campaign vs past ones"),
    )
    return compare


def show_lessons(ctx, past_runs: pd.DataFrame | None) -> None:
    """Decisions and lessons of past reviews from the ledger (运营知识库; the frame of
    ``opsnb.run.ledger.read``), or a sentence saying there are none yet."""
    if past_runs is not None:
        past_runs = past_runs[past_runs["lessons"].map(len) > 0]
    if past_runs is None or not len(past_runs):
        ctx.say(
            "运营知识库中还没有往期复盘记录的经验；本次的 lessons 参数会写入知识库，供下次复盘对照。",
            "The ledger holds no lessons from past reviews yet; this run's lessons parameter is "
            "stored for the next review.",
        )
        return
    ctx.h3("运营知识库：往期复盘的决定与经验", "Ledger: decisions and lessons from past reviews")
    t = past_runs.assign(lessons=past_runs["lessons"].map("；".join))
    ctx.table(
        t[["recorded_at", "period", "campaign", "decision", "lessons"]],
        caption=("往期经验", "Past lessons"),
    )


# ---------------------------------------------------------------------------------------------
# 7: workbook and key figures
# ---------------------------------------------------------------------------------------------


def write_workbook(
    ctx,
    campaign: str,
    *,
    achievement: pd.DataFrame,
    attribution: Attribution | None = None,
    lift: LiftResult | None = None,
    execution: ExecutionReview | None = None,
    past: pd.DataFrame | None = None,
):
    """The review's tables in ``retro-<campaign or period>-<period label>.xlsx`` in the run's
    output folder (:func:`export_excel`); returns the path."""
    name = f"retro-{campaign or 'period'}-{ctx.period.label}.xlsx"
    return export_excel(
        ctx.output_path(name),
        achievement=achievement,
        attribution=attribution,
        lift=lift,
        execution=execution,
        past=past,
        lang=ctx.lang,
    )


def record_key_figures(
    ctx,
    achievement: pd.DataFrame,
    *,
    campaign: str = "",
    lift: LiftResult | None = None,
    execution: ExecutionReview | None = None,
    workbook=None,
) -> None:
    """Record gmv, gmv_target, achievement (shop-wide GMV), campaign, lift, lift_ci_low,
    lift_ci_high, roi (None without a campaign), on_time_rate (:func:`key_figures`) and excel
    (the workbook's path, "" when none was written) for the index page and the ledger."""
    ctx.record(
        **key_figures(achievement, campaign=campaign, lift=lift, execution=execution),
        excel=str(workbook) if workbook else "",
    )


def key_figures(
    achievement: pd.DataFrame,
    *,
    campaign: str = "",
    lift: LiftResult | None = None,
    execution: ExecutionReview | None = None,
) -> dict:
    """The review's key figures (the summary box shows them, :func:`record_key_figures`
    records them): gmv, gmv_target, achievement, campaign, lift, lift_ci_low, lift_ci_high,
    roi and on_time_rate (None where the part is missing)."""
    ok = lift is not None and not lift.error_code
    return dict(
        gmv=achievement_total(achievement, "actual"),
        gmv_target=achievement_total(achievement, "target"),
        achievement=achievement_total(achievement, "achievement"),
        campaign=campaign,
        lift=lift.estimate if ok else None,
        lift_ci_low=lift.ci_low if ok else None,
        lift_ci_high=lift.ci_high if ok else None,
        roi=lift.roi if ok else None,
        on_time_rate=execution.summary.on_time_rate if execution else None,
    )


def show_summary(
    ctx,
    achievement: pd.DataFrame,
    *,
    campaign: CampaignWindow | None = None,
    lift: LiftResult | None = None,
    execution: ExecutionReview | None = None,
    projection: Projection | None = None,
    decision: str = "",
) -> None:
    """The 结论 / Summary box of the review: GMV against its target (where the target comes
    from), the campaign's lift and ROI and on-time execution — the :func:`key_figures` the
    report records — then what to do: the targets missed, a campaign that did not pay back,
    late tasks and high risks left without a response, and the decision taken."""
    f = key_figures(achievement, lift=lift, execution=execution)
    reached = f["achievement"] >= 1
    items = [
        ctx.item("gmv", f["gmv"]),
        ctx.item(
            "gmv_target",
            f["gmv_target"],
            note_zh="来自 targets 表",
            note_en="from the targets table",
        ),
        ctx.item("achievement", f["achievement"], kind="good" if reached else "alert"),
    ]
    if (
        projection is not None
        and projection.days_left > 0
        and projection.estimate == projection.estimate
    ):
        items.append(
            ctx.kpi(
                "期末预计",
                "Projected end",
                ctx.money(projection.estimate),
                note_zh=f"达成概率约 {ctx.pct(projection.prob_reach_target, 0)}",
                note_en=f"chance to reach ≈ {ctx.pct(projection.prob_reach_target, 0)}",
            )
        )
    if f["lift"] is not None:
        name = (campaign.name_zh, campaign.name_en) if campaign else ("活动", "campaign")
        items.append(
            ctx.kpi(
                f"{name[0]}增量",
                f"{name[1]} lift",
                ctx.money(f["lift"]),
                note_zh=f"95% 区间 {ctx.money(f['lift_ci_low'])} – {ctx.money(f['lift_ci_high'])}，ROI {f['roi']:.2f}",
                note_en=f"95% interval {ctx.money(f['lift_ci_low'])} – {ctx.money(f['lift_ci_high'])}, ROI {f['roi']:.2f}",
                kind="good" if f["roi"] >= 1 else "warn",
            )
        )
    if f["on_time_rate"] is not None:
        items.append(
            ctx.item(
                "on_time_rate",
                f["on_time_rate"],
                kind="good" if f["on_time_rate"] >= 0.8 else "warn",
            )
        )
    actions = []
    missed = achievement[achievement["status"].isin(["missed", "behind"])]
    if len(missed):
        names = [
            (f"{r.metric_name}（{r.channel}）", f"{r.metric_name} ({r.channel})")
            if r.channel != "全部"
            else (r.metric_name, r.metric_name)
            for r in missed.itertuples()
        ]
        actions.append(
            (
                "为未达成或落后的目标定追赶措施和负责人：" + "、".join(z for z, _ in names) + "。",
                "Set a catch-up action and owner for the targets missed or behind: "
                + ", ".join(e for _, e in names)
                + ".",
            )
        )
    if f["roi"] is not None and f["roi"] < 1:
        actions.append(
            (
                f"活动增量 ROI {f['roi']:.2f} 低于 1：下次缩减投放或换打法。",
                f"The campaign's incremental ROI {f['roi']:.2f} is below 1: spend less or change the play next time.",
            )
        )
    if execution is not None:
        s = execution.summary
        if s.late:
            actions.append(
                (
                    f"复盘 {s.late} 项延误任务的原因，下期计划中为关键节点预留缓冲。",
                    f"Review why {s.late} tasks were late and leave buffer before key milestones in the next plan.",
                )
            )
        if s.high_risk_without_response:
            actions.append(
                (
                    f"{s.high_risk_without_response} 个高风险节点没有应对措施：在下期表2 中补齐。",
                    f"{s.high_risk_without_response} high-risk "
                    + ("milestone had" if s.high_risk_without_response == 1 else "milestones had")
                    + " no response plan: add one in the next 表2.",
                )
            )
    if decision:
        actions.append((f"已定决策：{decision}", f"Decision taken: {decision}"))
    if not actions:
        actions.append(
            (
                "目标全部达成、执行按时：沿用本期打法。",
                "Every target met and on time: keep this period's play.",
            )
        )
    ctx.summary(items, actions)


# ---------------------------------------------------------------------------------------------
# tables for display and Excel
# ---------------------------------------------------------------------------------------------


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


_XLSX_HEADERS = {
    "effect": ("效应", "Effect"),
    "relative": ("相对增量", "Relative lift"),
    "counterfactual": ("无活动预测", "Counterfactual"),
    "post_estimate": ("活动后回落", "Post-event dip"),
    "post_ci_low": ("回落下限", "Post-event low"),
    "post_ci_high": ("回落上限", "Post-event high"),
    "net_estimate": ("净增量", "Net lift"),
    "spend": ("活动花费", "Spend"),
    "method": ("方法", "Method"),
    "level": ("置信水平", "Confidence level"),
    "n_pre": ("活动前天数", "Days before"),
    "n_window": ("活动天数", "Days in window"),
    "n_post": ("活动后天数", "Days after"),
    "name": ("活动", "Campaign"),
    "days": ("天数", "Days"),
    "uplift": ("日均成交倍数", "Daily GMV multiple"),
}
_FACTOR_FORMATS = {
    "visitors": COUNT,
    "conversion": SMALL_RATE,
    "orders_per_buyer": "0.00",
    "aov": MONEY_CENTS,
    "traffic": COUNT,
    "mix": RATE,
    "rate": MONEY_CENTS,
}
"""Number format of the before/after values of each attribution factor and mix effect."""
_ACHIEVEMENT_FILLS = {
    "achieved": plots.STATUS_COLORS["已完成"],
    "on_track": plots.STATUS_COLORS["进行中"],
    "behind": plots.RISK_COLORS["中"],
    "missed": plots.STATUS_COLORS["延期"],
    "no_data": plots.RISK_COLORS["无"],
}


def _metric_format(metric: str) -> str:
    """Number format of a 运营效果汇总表 target or actual (the rule of achievement_display)."""
    if metric in ("gmv", "ad_spend", "aov"):
        return MONEY
    if metric in METRICS and METRICS[metric][1] is not None:
        return RATE
    return COUNT


def export_excel(
    path,
    *,
    achievement: pd.DataFrame,
    attribution: Attribution | None = None,
    lift: LiftResult | None = None,
    execution: ExecutionReview | None = None,
    past: pd.DataFrame | None = None,
    lang: str = "zh",
):
    """Write the retrospective's tables to one workbook (one sheet each); returns the path.

    Sheets: results (运营效果汇总表: targets and actuals as numbers in their metric's format),
    attribution (channel × factor) and mix, lift, execution per owner and risks (when any),
    past campaigns — each when given, in the kit's workbook style (:mod:`opsnb.sheets`):
    translated headers, ¥ / % / count formats, statuses coloured, frozen header.
    """
    from openpyxl import Workbook

    L = Labels(lang)
    heads = {**{k: L(*v) for k, v in _XLSX_HEADERS.items()}}

    def head(df: pd.DataFrame) -> dict:
        return {c: heads.get(c) or L.col(c) for c in df.columns}

    wb = Workbook()
    wb.remove(wb.active)
    shown = achievement_display(achievement, lang)
    results = shown.assign(
        **{
            L("目标值", "Target"): achievement["target"].to_numpy(),
            L("实际值", "Actual"): achievement["actual"].to_numpy(),
            L("达成率", "Achievement"): achievement["achievement"].to_numpy(),
        }
    )
    per_row = [_metric_format(m) for m in achievement["metric"]]
    status_fills = {L(*ACHIEVEMENT_LABELS[k]): c for k, c in _ACHIEVEMENT_FILLS.items()}
    write_sheet(
        wb,
        L("运营效果汇总表", "Results"),
        results,
        formats={
            L("目标值", "Target"): per_row,
            L("实际值", "Actual"): per_row,
            L("达成率", "Achievement"): RATE,
        },
        fills={L("状态", "Status"): status_fills},
        lang=lang,
    )
    for name, df, col in (
        (L("归因", "Attribution"), attribution.factors if attribution else None, "factor"),
        (L("结构效应", "Mix"), attribution.mix if attribution else None, "effect"),
    ):
        if df is None:
            continue
        per = [_FACTOR_FORMATS.get(str(f), DECIMAL) for f in df[col]]
        df = df.assign(**{col: [L(*FACTOR_NAMES[f]) if f in FACTOR_NAMES else f for f in df[col]]})
        money = {"contribution": MONEY, "before": per, "after": per}
        write_sheet(wb, name, df, headers=head(df), formats=money, lang=lang)
    if lift is not None:
        f = lift.to_frame()
        money = ("estimate", "ci_low", "ci_high", "actual", "counterfactual", "spend")
        money += ("post_estimate", "post_ci_low", "post_ci_high", "net_estimate")
        formats = {c: MONEY for c in money} | {"relative": CHANGE, "roi": "0.00", "level": RATE}
        write_sheet(wb, L("活动增量", "Lift"), f, headers=head(f), formats=formats, lang=lang)
    if execution is not None:
        by = execution.by_owner
        write_sheet(wb, L("执行复盘", "Execution"), by, headers=head(by), lang=lang)
        if len(execution.risks):
            r = execution.risks
            write_sheet(wb, L("风险", "Risks"), r, headers=head(r), lang=lang)
    if past is not None:
        formats = {"uplift": "0.00", "roas": "0.00", "aov": MONEY_CENTS}
        write_sheet(wb, L("往期对比", "Past campaigns"), past, headers=head(past),
                    formats=formats, lang=lang)  # fmt: skip
    return save_book(wb, path)  # formulas from data (names, tasks) are written as text
