"""Goal report: the sections of notebooks 02 and 02b, the driver-tree chart and the goal tables.

Each ``show_*`` call shows one part of the report through a report context ``ctx``
(:mod:`opsnb.report`), so that the notebooks stay thin: ``show_goal``, ``show_targets``,
``show_feasibility``, ``show_budget``, the plan sections (``show_plan_status``,
``show_late_tasks``, ``show_risk_actions``, ``show_owner_summary``, ``show_monthly_schedule``,
:func:`export_plan`), ``show_scenarios``, :func:`show_summary` (the 结论 / Summary box under the title, filled last)
and :func:`record_key_figures`; ``show_live_intro`` opens
the live what-if panel (02b).

:func:`plot_driver_tree` draws GMV → channels → visitors × conversion × AOV;
:func:`targets_table`, :func:`channel_targets_table`, :func:`feasibility_table` and
:func:`budget_table` rename and translate the tables of :mod:`opsnb.goals.decompose` for a
report; :func:`feasibility_summary` writes the feasibility verdict as one sentence from the numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from opsnb.goals.decompose import DRIVER_LABELS
from opsnb.goals.plan import (
    display_table,
    load_milestones,
    load_plan,
    monthly_schedule,
    owner_summary,
    plot_gantt,
    to_excel,
)
from opsnb.goals.whatif import ScenarioModel, plot_scenario_grid, scenario_grid, scenarios_table
from opsnb.i18n import Labels

if TYPE_CHECKING:  # pragma: no cover
    from opsnb.goals.decompose import Decomposition

__all__ = [
    "period_or_last_year",
    "show_goal",
    "show_targets",
    "show_feasibility",
    "show_budget",
    "read_plan",
    "read_milestones",
    "show_plan_status",
    "show_late_tasks",
    "show_risk_actions",
    "show_owner_summary",
    "show_monthly_schedule",
    "export_plan",
    "show_scenarios",
    "record_key_figures",
    "key_figures",
    "plan_target",
    "show_summary",
    "show_live_intro",
    "plot_driver_tree",
    "VERDICT_LABELS",
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
    count = lambda x: plots.format_count(x, lang)  # noqa: E731
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
            f"{r['channel']}  {money(r['gmv'])}{L.paren(f'{r.growth:+.0%}')}",
            ha="left",
            va="center",
            fontsize=10,
            bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="#BBBBBB"),
        )
        parts = [
            f"{L('访客', 'Visitors')} {count(r['base_visitors'])}→{count(r['visitors'])}",
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
VERDICT_LABELS = {
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
    t["flag"] = t["flag"].map(lambda x: L(*VERDICT_LABELS[x]))
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


# ------------------------------------------------------------------------------------------
# report sections (notebook 02 and 02b)
# ------------------------------------------------------------------------------------------


def period_or_last_year(ctx, text: str = ""):
    """The period ``text`` names (2024-Q4, 2024-10-01..2024-12-31), or the report period a year
    earlier when ``text`` is empty (the base of a growth goal)."""
    from opsnb.periods import parse_period

    return parse_period(text) if text else ctx.period.last_year()


def show_goal(ctx, decomposition: Decomposition, base, *, mix: str = "history") -> None:
    """The goal in one sentence (target, base, growth, how it is split) and the driver tree.

    ``mix`` is how the decomposition shared growth over the drivers: "history" or fixed shares.
    """
    d = decomposition
    by_history = mix == "history"
    ctx.say(
        f"目标期 {ctx.period} 的成交金额目标为 {ctx.money(d.total)}，较基期 {base}（{ctx.money(d.base_gmv)}）增长 {d.growth:+.1%}。"
        f"目标按去年同月的月度与渠道占比拆分（大促月份占比更高），每个渠道的增长再按{'各渠道历史增长方式' if by_history else '固定比例'}分配到访客数、转化率和客单价。",
        f"The GMV goal for {ctx.period} is {ctx.money(d.total)}, {d.growth:+.1%} on the base "
        f"period {base} ({ctx.money(d.base_gmv)}). It is split by last year's monthly and "
        "channel shares (promotion months weigh more); each channel's growth is shared by "
        "visitors, conversion and AOV "
        f"{'the way the channel grew in the past' if by_history else 'in fixed proportions'}.",
    )
    _say_plan_target(ctx, d)
    ctx.show(plot_driver_tree(d, lang=ctx.lang))


def plan_target(ctx) -> float:
    """The shop-wide GMV target of the report period in the store's ``targets`` table (the
    plan's target, the one the retrospective 05 measures achievement against); NaN when the
    table or the row is missing."""
    try:
        t = ctx.read_all("targets")
    except Exception:  # noqa: BLE001 - no targets table in the store
        return float("nan")
    rows = t[
        (t["period"].astype(str) == ctx.period.label)
        & (t["metric"] == "gmv")
        & (t["channel"] == "全部")
    ]
    return float(rows["target"].sum()) if len(rows) else float("nan")


def _say_plan_target(ctx, d: Decomposition) -> None:
    """Says how the goal compares with the plan's target (targets table), which 05 uses."""
    plan = plan_target(ctx)
    if plan != plan:
        ctx.say(
            f"targets 表中没有 {ctx.period.label} 的全店成交金额目标；复盘（05）需要它来计算达成率，请补录。",
            f"The targets table has no shop-wide GMV target for {ctx.period.label}; the "
            "retrospective (05) needs one to measure achievement: add it.",
        )
        return
    gap = d.total - plan
    if abs(gap) <= 0.005 * plan:
        ctx.say(
            f"与计划（targets 表）中 {ctx.period.label} 的目标 {ctx.money(plan)} 一致，复盘（05）按同一目标计算达成率。",
            f"It matches the plan's target for {ctx.period.label} in the targets table "
            f"({ctx.money(plan)}), the one the retrospective (05) measures against.",
        )
        return
    more = "高" if gap > 0 else "低"
    ctx.say(
        f"计划（targets 表）中 {ctx.period.label} 的目标为 {ctx.money(plan)}：本拆解的目标{more} {ctx.money(abs(gap))}"
        f"（{gap / plan:+.1%}），因为这里按基期实际成交金额 ×（1 + 增长目标）推算。复盘（05）按 targets 表的目标计算达成率。",
        f"The plan's target for {ctx.period.label} in the targets table is {ctx.money(plan)}: "
        f"this goal is {ctx.money(abs(gap))} {'higher' if gap > 0 else 'lower'} "
        f"({gap / plan:+.1%}) because it is the base period's actual GMV × (1 + growth goal). "
        "The retrospective (05) measures achievement against the targets table.",
    )


def show_targets(ctx, decomposition: Decomposition) -> None:
    """The heaviest month, the 月度 × 渠道 GMV targets and the driver targets per channel."""
    L = ctx.L
    months = decomposition.by_month()
    peak = months.loc[months["share"].idxmax()]
    ctx.say(
        f"{peak['month']} 承担目标的 {peak['share']:.1%}，是全期最重的月份。",
        f"{peak['month']} carries {peak['share']:.1%} of the goal, the heaviest month of the "
        "period.",
    )
    t = targets_table(decomposition, "gmv", lang=ctx.lang)
    ctx.table(
        t,
        money=list(t.columns[1:]),
        caption=("月度 × 渠道成交金额目标", "GMV targets per month and channel"),
        translate=False,
    )
    ctx.table(
        channel_targets_table(decomposition, lang=ctx.lang),
        translate=False,
        money=[
            L("参考期成交金额", "Reference GMV"),
            L("目标成交金额", "Target GMV"),
            L("参考期客单价", "Reference AOV"),
            L("目标客单价", "Target AOV"),
        ],
        pct=[
            L("参考期转化率", "Reference conversion"),
            L("目标转化率", "Target conversion"),
            L("增长", "Growth"),
        ],
        int_cols=[L("参考期访客数", "Reference visitors"), L("目标访客数", "Target visitors")],
        caption=(
            "各渠道驱动因子目标（访客数 × 转化率 × 客单价 = 成交金额）",
            "Driver targets per channel (visitors × conversion × AOV = GMV)",
        ),
    )


_VERDICT_COLORS = {"unrealistic": "#f8d7da", "stretch": "#fff3cd", "ok": "#d4edda"}


def show_feasibility(ctx, feasibility: pd.DataFrame) -> None:
    """The feasibility verdict in a sentence and the table, verdicts coloured."""
    L = ctx.L
    ctx.say(
        feasibility_summary(feasibility, lang="zh"), feasibility_summary(feasibility, lang="en")
    )
    names = [
        ("所需变化", "Required change"),
        ("历史中位变化", "Past median change"),
        ("历史最大变化", "Past max change"),
        ("历史分位", "Percentile"),
    ]
    colors = {L(*VERDICT_LABELS[k]): c for k, c in _VERDICT_COLORS.items()}
    ctx.table(
        feasibility_table(feasibility, lang=ctx.lang),
        translate=False,
        pct=[L(*p) for p in names],
        highlight={L("判断", "Verdict"): colors},
    )


def show_budget(ctx, budget: pd.DataFrame, cac: pd.DataFrame) -> None:
    """Ad spend the targets need (and how much more than the reference period), the 小红书 /
    抖音 comparison when both are paid channels, and the budget table."""
    L = ctx.L
    spend, extra = ctx.money(budget["spend"].sum()), ctx.money(budget["extra_spend"].sum())
    by = cac.set_index("channel")
    zh = f"按各付费渠道的单访客成本（获客成本 × 转化率）计算，达成目标需推广花费 {spend}，比参考期多 {extra}。"
    en = (
        f"At each paid channel's cost per visitor (CAC × conversion), the targets need {spend} "
        f"of ad spend, {extra} more than in the reference period."
    )
    if {"小红书", "抖音"} <= set(by.index):
        x, y = by.loc["小红书"], by.loc["抖音"]
        zh += (
            f"小红书获客成本 ¥{x.cac:.0f}、转化率 {x.conversion_rate:.1%}，抖音获客成本 ¥{y.cac:.0f}、"
            f"转化率 {y.conversion_rate:.1%}：单访客成本相近时，转化率决定获客成本。"
        )
        en += (
            f" 小红书: CAC ¥{x.cac:.0f}, conversion {x.conversion_rate:.1%}; 抖音: CAC "
            f"¥{y.cac:.0f}, conversion {y.conversion_rate:.1%}: at a similar price per visitor, "
            "conversion decides the CAC."
        )
    ctx.say(zh, en)
    money = [
        ("获客成本", "CAC"),
        ("单访客成本", "Cost per visitor"),
        ("所需推广花费", "Spend needed"),
    ]
    counts = [("目标访客数", "Target visitors"), ("目标买家数", "Target buyers")]
    ctx.table(
        budget_table(budget, lang=ctx.lang),
        translate=False,
        money=[L(*p) for p in [*money, ("新增花费", "Extra spend")]],
        int_cols=[L(*p) for p in [*counts, ("新增买家", "Extra buyers")]],
    )


def read_plan(ctx, plan_file: str = "") -> pd.DataFrame:
    """表1 全周期计划表 from ``plan_file`` (CSV/Excel, validated), else the store's plan table."""
    return load_plan(plan_file) if plan_file else ctx.read_all("plan")


def read_milestones(ctx, milestones_file: str = "") -> pd.DataFrame:
    """表2 大促执行管控表 from ``milestones_file`` (CSV/Excel, validated), else the store's
    milestones table."""
    return load_milestones(milestones_file) if milestones_file else ctx.read_all("milestones")


def show_plan_status(
    ctx,
    tasks: pd.DataFrame,
    milestones: pd.DataFrame,
    *,
    late: pd.DataFrame,
    risks: pd.DataFrame,
) -> None:
    """Overdue and slipping tasks and high-risk milestones without a response, counted, and the
    Gantt chart. ``late`` and ``risks``: :func:`opsnb.goals.plan.overdue_tasks` and
    :func:`opsnb.goals.plan.risk_actions`."""
    over, slip = int((late["flag"] == "overdue").sum()), int((late["flag"] == "slipping").sum())
    ctx.say(
        f"截至 {ctx.as_of}，{len(tasks)} 项任务中 {over} 项已逾期、{slip} 项有延误风险；"
        f"{len(risks)} 个高风险节点尚无应对措施，须在 24 小时内补上预案。",
        f"As of {ctx.as_of}, {over} of {len(tasks)} tasks are overdue and {slip} are slipping; "
        f"{len(risks)} high-risk milestones have no response plan and need one within 24 hours.",
    )
    ctx.show(plot_gantt(tasks, milestones=milestones, as_of=ctx.as_of, lang=ctx.lang))


def show_late_tasks(ctx, late: pd.DataFrame) -> None:
    """The overdue (red) and slipping (yellow) tasks."""
    L = ctx.L
    colors = {L("已逾期", "overdue"): "#f8d7da", L("有延误风险", "slipping"): "#fff3cd"}
    ctx.table(
        display_table(late, lang=ctx.lang),
        translate=False,
        highlight={L("提示", "Flag"): colors},
    )


def show_risk_actions(ctx, risks: pd.DataFrame) -> None:
    """High-risk milestones without a response plan, with the deadline for one (to the minute)."""
    shown = risks.assign(action_deadline=risks["action_deadline"].dt.strftime("%Y-%m-%d %H:%M"))
    ctx.table(display_table(shown, lang=ctx.lang), translate=False)


def show_owner_summary(ctx, tasks: pd.DataFrame) -> None:
    """Budget and workload per owner (:func:`opsnb.goals.plan.owner_summary`)."""
    L = ctx.L
    ctx.table(
        display_table(owner_summary(tasks, ctx.as_of), lang=ctx.lang),
        translate=False,
        money=[L("预算(元)", "Budget (¥)"), L("未完成预算", "Open budget")],
    )


def show_monthly_schedule(ctx, tasks: pd.DataFrame, milestones: pd.DataFrame) -> None:
    """The 月度运营排期表 (:func:`opsnb.goals.plan.monthly_schedule`)."""
    t = monthly_schedule(tasks, milestones, lang=ctx.lang)
    ctx.table(display_table(t, lang=ctx.lang), translate=False)


def export_plan(ctx, tasks: pd.DataFrame, milestones: pd.DataFrame):
    """Write 表1, 表2 and the monthly schedule with status colours to ``plan-<period>.xlsx`` in
    the run's output folder, say so, and return the path."""
    path = ctx.output_path(f"plan-{ctx.period.label}.xlsx")
    xlsx = to_excel(path, tasks, milestones, as_of=ctx.as_of, lang=ctx.lang)
    ctx.say(
        f"带状态颜色的计划表已导出：{xlsx.name}（表1、表2、月度运营排期表）。",
        f"The plan workbook with status colours was written: {xlsx.name} (表1, 表2, monthly "
        "schedule).",
    )
    return xlsx


def show_scenarios(ctx, model: ScenarioModel, scenarios: pd.DataFrame) -> None:
    """The named scenarios (:func:`opsnb.goals.whatif.named_scenarios`) as a table and the grid
    of goal achievement when visitors and conversion change on every channel."""
    L = ctx.L
    ctx.say(
        "下表按各渠道历史同比变化的 25%/50%/75% 分位给出保守、基准、冲刺三种情景；热力图为全部渠道访客数与转化率同时变化时的目标达成率（框出的格子达成目标）。可在 `opsnb whatif` 中拖动滑块自行试算。",
        "Conservative, base and stretch apply each channel's 25th/50th/75th percentile of past "
        "year-on-year changes; the heat map shows goal achievement when visitors and conversion "
        "change on every channel (outlined cells reach the goal). Try your own numbers with the "
        "sliders of `opsnb whatif`.",
    )
    money = [("成交金额", "GMV"), ("推广预算", "Ad budget"), ("新增预算", "Extra budget")]
    changes = [("访客数变化", "Visitors"), ("转化率变化", "Conversion"), ("客单价变化", "AOV")]
    ctx.table(
        scenarios_table(scenarios, lang=ctx.lang),
        translate=False,
        money=[L(*p) for p in money],
        pct=[
            L(*p) for p in [*changes, ("较参考期", "vs reference"), ("目标达成率", "Achievement")]
        ],
    )
    ctx.show(plot_scenario_grid(scenario_grid(model), lang=ctx.lang))


def record_key_figures(
    ctx,
    decomposition: Decomposition,
    *,
    feasibility: pd.DataFrame,
    budget: pd.DataFrame,
    late: pd.DataFrame,
    risks: pd.DataFrame,
    scenarios: pd.DataFrame,
) -> None:
    """Record goal_gmv, base_gmv, goal_growth, unrealistic (driver changes beyond the history),
    ad_spend_needed, overdue_tasks, risks_without_plan and stretch_achievement (goal achievement
    of the stretch scenario) for the index page and the ledger."""
    ctx.record(
        **key_figures(
            decomposition,
            feasibility=feasibility,
            budget=budget,
            late=late,
            risks=risks,
            scenarios=scenarios,
        )
    )


def key_figures(
    decomposition: Decomposition,
    *,
    feasibility: pd.DataFrame,
    budget: pd.DataFrame,
    late: pd.DataFrame,
    risks: pd.DataFrame,
    scenarios: pd.DataFrame,
) -> dict:
    """The plan's key figures, recorded by :func:`record_key_figures` and shown by
    :func:`show_summary`: goal_gmv, base_gmv, goal_growth, unrealistic, ad_spend_needed,
    overdue_tasks, risks_without_plan, stretch_achievement."""
    d = decomposition
    return dict(
        goal_gmv=d.total,
        base_gmv=d.base_gmv,
        goal_growth=d.growth,
        unrealistic=int((feasibility["flag"] == "unrealistic").sum()),
        ad_spend_needed=float(budget["spend"].sum()),
        overdue_tasks=int((late["flag"] == "overdue").sum()),
        risks_without_plan=int(len(risks)),
        stretch_achievement=float(scenarios.set_index("scenario").loc["stretch", "achievement"]),
    )


def show_summary(
    ctx,
    decomposition: Decomposition,
    *,
    feasibility: pd.DataFrame,
    budget: pd.DataFrame,
    late: pd.DataFrame,
    risks: pd.DataFrame,
    scenarios: pd.DataFrame,
) -> None:
    """The 结论 / Summary box of the plan: the goal (and the plan's target when it differs),
    driver changes beyond history, the ad spend needed, overdue tasks and high risks without a
    response (:func:`key_figures`); then what to do about each."""
    f = key_figures(
        decomposition,
        feasibility=feasibility,
        budget=budget,
        late=late,
        risks=risks,
        scenarios=scenarios,
    )
    plan = plan_target(ctx)
    differs = plan == plan and abs(f["goal_gmv"] - plan) > 0.005 * plan
    items = [
        ctx.item(
            "goal_gmv",
            f["goal_gmv"],
            note_zh=f"较基期 {f['goal_growth']:+.1%}"
            + (f"；targets 表 {ctx.money(plan)}" if differs else ""),
            note_en=f"{f['goal_growth']:+.1%} on the base"
            + (f"; targets table {ctx.money(plan)}" if differs else ""),
        ),
        ctx.item("unrealistic", f["unrealistic"], kind="alert" if f["unrealistic"] else "good"),
        ctx.item("ad_spend_needed", f["ad_spend_needed"]),
        ctx.item(
            "overdue_tasks", f["overdue_tasks"], kind="warn" if f["overdue_tasks"] else "good"
        ),
        ctx.item(
            "risks_without_plan",
            f["risks_without_plan"],
            kind="alert" if f["risks_without_plan"] else "good",
        ),
    ]
    actions = []
    if f["risks_without_plan"]:
        actions.append(
            (
                f"24 小时内为 {f['risks_without_plan']} 个高风险节点补上应对措施（见第五节）。",
                f"Add a response plan to the {f['risks_without_plan']} high-risk milestones within 24 hours (section 5).",
            )
        )
    if f["overdue_tasks"]:
        actions.append(
            (
                f"跟进 {f['overdue_tasks']} 项逾期任务，与负责人确认新的完成日期。",
                f"Chase the {f['overdue_tasks']} overdue tasks and agree new end dates with their owners.",
            )
        )
    if f["unrealistic"]:
        actions.append(
            (
                f"{f['unrealistic']} 项驱动因子的所需变化超出历史：调整目标拆分或增加投入（见第三节）。",
                f"{f['unrealistic']} driver changes go beyond anything in the history: re-split the goal or invest more (section 3).",
            )
        )
    if differs:
        actions.append(
            (
                f"与 targets 表的目标（{ctx.money(plan)}）对齐，复盘按 targets 表计算达成率。",
                f"Align with the targets table ({ctx.money(plan)}): the retrospective measures against it.",
            )
        )
    actions.append(
        (
            f"按所需推广花费 {ctx.money(f['ad_spend_needed'])} 申请预算；冲刺情景的目标达成率为 {ctx.pct(f['stretch_achievement'])}。",
            f"Request {ctx.money(f['ad_spend_needed'])} of ad budget; the stretch scenario reaches {ctx.pct(f['stretch_achievement'])} of the goal.",
        )
    )
    ctx.summary(items, actions)


def show_live_intro(ctx, model: ScenarioModel) -> None:
    """What the live panel's sliders mean, with the goal and the reference GMV (02b)."""
    goal, ref = ctx.money(model.goal), ctx.money(model.base_gmv)
    ctx.say(
        f"参考期为目标期的去年同月；滑块为相对参考期的变化（%）。目标 {goal}，参考期成交金额 {ref}。“套用目标拆解”把滑块设为目标拆解的方案。",
        "The reference is the same months a year before the target period; sliders are changes "
        f"(%) on it. Goal {goal}, reference GMV {ref}. 'Use goal plan' sets the sliders to the "
        "goal decomposition.",
    )
