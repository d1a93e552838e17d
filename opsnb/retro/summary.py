"""The drafted 复盘报告 summary: sentences built from the review's numbers, in zh and en.

:func:`draft_summary` writes the sentences of one language from whichever parts are passed
(achievement, projection, attribution, lift, execution); :func:`summarize_review` drafts both
languages of the whole review, adds the lessons and the decision, and returns a
:class:`RetroSummary` that a report shows with ``ctx.say(s.markdown("zh"), s.markdown("en"))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsnb import drivers, plots
from opsnb.i18n import Labels
from opsnb.results import Result
from opsnb.retro.campaigns import CampaignWindow
from opsnb.retro.execution import ExecutionReview
from opsnb.retro.lift import LiftResult
from opsnb.retro.review import Attribution, Projection

__all__ = ["FACTOR_NAMES", "RetroSummary", "draft_summary", "summarize_review"]

FACTOR_NAMES = drivers.FACTOR_LABELS
"""factor → (zh, en) names of the attribution factors."""


@dataclass(frozen=True)
class RetroSummary(Result):
    """The drafted summary: one line per finding, then the lessons and the decision.

    ``zh`` and ``en`` hold the same lines in each language. ``to_frame()``: columns zh, en.
    """

    zh: tuple[str, ...]
    en: tuple[str, ...]

    def lines(self, lang: str = "zh") -> tuple[str, ...]:
        return self.zh if lang == "zh" else self.en

    def markdown(self, lang: str = "zh") -> str:
        """The lines as a Markdown bullet list."""
        return "\n".join(f"- {s}" for s in self.lines(lang))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"zh": list(self.zh), "en": list(self.en)})


def draft_summary(
    *,
    achievement_table: pd.DataFrame | None = None,
    lift: LiftResult | None = None,
    attribution_summary: pd.DataFrame | None = None,
    execution: ExecutionReview | None = None,
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
        else pd.DataFrame(columns=["metric", "channel", "status"])
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
        s = execution.summary
        out.append(
            L(
                f"计划执行：到期任务 {s.due} 项，按时完成 {s.on_time} 项（{p(s.on_time_rate)}），"
                f"延误 {s.late} 项；关键节点未达成 {s.milestones_missed} 个。",
                f"Execution: {s.on_time} of {s.due} due tasks finished on time "
                f"({p(s.on_time_rate)}), {s.late} late; {s.milestones_missed} milestones missed.",
            )
        )
        by = execution.by_owner
        if len(by) and by.iloc[0]["late"] > 0:
            r = by.iloc[0]
            out.append(
                L(
                    f"延误最多的负责人：{r.owner}（{int(r.late)} 项，累计 {int(r.days_late)} 天）。",
                    f"Most delays: {r.owner} ({int(r.late)} tasks, {int(r.days_late)} days in all).",
                )
            )
    return out


def summarize_review(
    *,
    achievement: pd.DataFrame | None = None,
    projection: Projection | None = None,
    attribution: Attribution | None = None,
    comparison=None,
    lift: LiftResult | None = None,
    campaign: CampaignWindow | None = None,
    execution: ExecutionReview | None = None,
    lessons: Sequence[str] = (),
    decision: str = "",
) -> RetroSummary:
    """The whole review's summary in zh and en: :func:`draft_summary` of every part, then
    one line per lesson (经验：… / Lesson: …) and the decision (决定：… / Decision: …).

    ``comparison`` is the period compared with (its ``str`` is named); ``campaign`` the
    campaign reviewed (None: "活动" / "the campaign").
    """
    name = (
        (campaign.name_zh, campaign.name_en) if campaign is not None else ("活动", "the campaign")
    )
    kw = dict(
        achievement_table=achievement,
        lift=lift,
        attribution_summary=attribution.summary if attribution is not None else None,
        execution=execution,
        projection=projection,
        campaign_name=name,
        comparison_label=str(comparison) if comparison is not None else "",
    )
    zh = draft_summary(**kw, lang="zh") + [f"经验：{x}" for x in lessons]
    en = draft_summary(**kw, lang="en") + [f"Lesson: {x}" for x in lessons]
    if decision:
        zh.append(f"决定：{decision}")
        en.append(f"Decision: {decision}")
    return RetroSummary(zh=tuple(zh), en=tuple(en))
