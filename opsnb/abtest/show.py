"""Sections of the A/B readout notebook (04): each call displays one part through a report context.

The notebook stays thin: load the units, run the readout, then ``show_srm``, ``show_results``,
``show_forest``, ``show_cumulative``, ``show_decision`` and ``show_power`` in that order, and
last :func:`show_summary`, which fills the 结论 / Summary box ``report.setup`` put under the title.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from opsnb.abtest.analysis import Readout
from opsnb.abtest.decision import Decision, cumulative_lift_from_frame, decide
from opsnb.abtest.plots import plot_cumulative_lift, plot_forest
from opsnb.abtest.units import load_units
from opsnb.errors import ParameterError

__all__ = [
    "load_experiment",
    "split_list",
    "parse_covariates",
    "show_srm",
    "show_results",
    "show_forest",
    "show_cumulative",
    "show_decision",
    "show_power",
    "show_summary",
    "first_crossings",
    "DECISION_LABELS",
    "daily_units",
    "format_p",
    "correction_scope",
]


def format_p(p: float) -> str:
    """A p-value for a report: "<0.001" below 0.001, else 3 significant digits ("0.0123",
    "0.421", "1"); "—" when missing.

    >>> [format_p(x) for x in (3e-9, 0.000999, 0.0123456, 0.4213, 1.0, float("nan"))]
    ['<0.001', '<0.001', '0.0123', '0.421', '1', '—']
    """
    if p is None or p != p:
        return "—"
    if p < 0.001:
        return "<0.001"
    return f"{p:.3g}"


def correction_scope(results: pd.DataFrame, correction: str, lang: str = "zh") -> str:
    """What the multiple-testing correction covered, in ``lang`` (the readout's ``scope`` is
    English only): e.g. "Holm，3 个指标 × 1 个实验组 = 3 次检验；护栏指标单独校正（1 次检验）"."""
    main = results[~results["guardrail"].astype(bool)]
    nm, na, nt = main["metric"].nunique(), main["variant"].nunique(), len(main)
    ng = int(results["guardrail"].astype(bool).sum())
    zh_name = {"holm": "Holm 校正", "bh": "Benjamini–Hochberg 校正", "none": "不校正"}[correction]
    en_name = {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "no correction"}[correction]
    if lang == "zh":
        s = f"{zh_name}，{nm} 个指标 × {na} 个实验组 = {nt} 次检验"
        return s + (f"；护栏指标单独校正（{ng} 次检验）" if ng else "")
    plural = lambda n, w: f"{n} {w}" + ("" if n == 1 else "s")  # noqa: E731
    s = (
        f"{en_name} over {plural(nm, 'metric')} × {plural(na, 'treatment arm')} = "
        f"{plural(nt, 'test')}"
    )
    return s + (f"; guardrails corrected separately ({plural(ng, 'test')})" if ng else "")


def split_list(text) -> list[str]:
    """``"a, b,c"`` → ``["a", "b", "c"]``; a list is returned stripped (notebook 04 takes lists,
    older parameter files gave comma-separated strings)."""
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    return [str(t).strip() for t in items if str(t).strip()]


def parse_covariates(text) -> dict[str, str]:
    """``["gmv:pre_gmv", "orders=pre_orders"]`` (or the same comma-separated) →
    ``{"gmv": "pre_gmv", "orders": "pre_orders"}``."""
    out = {}
    for item in split_list(text):
        sep = "=" if "=" in item else ":"
        if sep not in item:
            raise ParameterError(f"covariate {item!r}: expected METRIC:COLUMN")
        k, v = item.split(sep, 1)
        out[k.strip()] = v.strip()
    return out


def load_experiment(ctx, experiment: str, data_file: str = "") -> pd.DataFrame:
    """Units of ``experiment`` from the store's ``experiments`` table, or every row of
    ``data_file`` (CSV/XLSX/Parquet; a relative path is relative to the project root)."""
    from opsnb import config

    if data_file:
        p = Path(data_file).expanduser()
        if not p.is_absolute():
            p = (config.project_root() / p).resolve()
        if not p.is_file():
            raise ParameterError(
                f"data_file {data_file!r} not found (looked at {p}). Put the file there (for the "
                "example parameters: the public WA_Marketing-Campaign.csv in ../shared/data/ab/) "
                "or set data_file to '' to use the store's experiments table."
            )
        return load_units(p)
    df = ctx.con.execute("select * from experiments where experiment = ?", [experiment]).df()
    if df.empty:
        known = [
            r[0]
            for r in ctx.con.execute(
                "select distinct experiment from experiments order by 1"
            ).fetchall()
        ]
        raise ParameterError(f"experiment {experiment!r} has no units in the store; known: {known}")
    return df


def show_srm(ctx, ro: Readout) -> None:
    """Sample-ratio check first: a broken split invalidates everything below."""
    s = ro.srm
    counts = "，".join(f"{k}：{int(v):,}" for k, v in s.counts.items())
    counts_en = ", ".join(f"{k}: {int(v):,}" for k, v in s.counts.items())
    if s.flagged:
        ctx.note(
            f"⚠️ 样本比例失衡（SRM）：各组人数 {counts}，卡方检验 p = {s.p_value:.2g} < {s.threshold:g}。分流可能有问题，下面的结果不可信。",
            f"⚠️ Sample ratio mismatch: arm sizes {counts_en}, χ² p = {s.p_value:.2g} < "
            f"{s.threshold:g}. The split is probably broken; do not trust the results below.",
            "alert",
        )
    else:
        ctx.say(
            f"分流检查通过：各组人数 {counts}（SRM 卡方检验 p = {s.p_value:.2f}）。",
            f"The split looks fine: arm sizes {counts_en} (SRM χ² p = {s.p_value:.2f}).",
        )


def show_results(ctx, ro: Readout) -> None:
    """The results table and the scope of the multiple-testing correction."""
    L = ctx.L
    r = ro.results
    t = pd.DataFrame(
        {
            L("指标", "Metric"): r["metric"].map(L.col)
            + r["guardrail"].map({True: L("（护栏）", " (guardrail)"), False: ""}),
            L("实验组", "Variant"): r["variant"],
            L("对照组样本", "Control n"): r["n_control"],
            L("实验组样本", "Treatment n"): r["n_treatment"],
            L("对照组均值", "Control mean"): _means(r, "control_mean"),
            L("实验组均值", "Treatment mean"): _means(r, "treatment_mean"),
            L("相对提升", "Relative lift"): r["rel_lift"],
            L("区间下限", "Interval low"): r["rel_ci_low"],
            L("区间上限", "Interval high"): r["rel_ci_high"],
        }
    )
    if ro.method == "bayesian":
        t[L("获胜概率", "Chance to win")] = r["chance_to_win"]
        t[L("风险（预期损失）", "Risk (expected loss)")] = r["risk"]
    else:
        t[L("p 值（校正后）", "p-value (adjusted)")] = r["p_adjusted"].map(format_p)
    if r["variance_reduction"].notna().any():
        t[L("CUPED 方差降低", "CUPED variance reduction")] = r["variance_reduction"]
    pct = [
        L("相对提升", "Relative lift"),
        L("区间下限", "Interval low"),
        L("区间上限", "Interval high"),
        L("获胜概率", "Chance to win"),
        L("CUPED 方差降低", "CUPED variance reduction"),
    ]
    design = _design(ro)
    ctx.table(
        t,
        pct=[c for c in pct if c in t.columns],
        int_cols=[L("对照组样本", "Control n"), L("实验组样本", "Treatment n")],
        translate=False,
        caption=(
            f"方法：{_DESIGNS[design][0]}；区间为 {1 - ro.alpha:.0%}；"
            f"多重比较：{correction_scope(r, ro.correction, 'zh')}",
            f"Method: {_DESIGNS[design][1]}; {1 - ro.alpha:.0%} "
            f"intervals; multiple testing: {correction_scope(r, ro.correction, 'en')}",
        ),
    )
    _say_design(ctx, ro)
    _say_cuped(ctx, ro)


_DESIGNS = {
    "fixed": ("频率学派（固定样本）", "frequentist (fixed horizon)"),
    "bayesian": ("贝叶斯", "Bayesian"),
    "group_sequential": (
        "序贯（成组序贯，α 消耗）",
        "sequential (group-sequential, alpha spending)",
    ),
    "msprt": ("序贯（mSPRT，随时有效）", "sequential (mSPRT, always valid)"),
}


def _design(ro: Readout) -> str:
    if ro.plan is not None:
        return ro.plan.design
    return {"frequentist": "fixed", "bayesian": "bayesian", "msprt": "msprt"}.get(
        ro.method, "group_sequential"
    )


def _plan_text(plan) -> tuple[str, str]:
    if plan.planned_n == plan.planned_n:
        return f"{plan.planned_n:,.0f} 个样本", f"{plan.planned_n:,.0f} units"
    return f"{plan.planned_days:g} 天", f"{plan.planned_days:g} days"


def _say_design(ctx, ro: Readout) -> None:
    """For a sequential method: which design, the plan and how much of it is reached."""
    plan = ro.plan
    if plan is None or not plan.is_sequential:
        return
    r = ro.results[~ro.results["guardrail"].astype(bool)]
    r = r if len(r) else ro.results
    frac = r["info_fraction"].max() if "info_fraction" in r else math.nan
    looks = int(r["looks"].max()) if r["looks"].notna().any() else 1
    if plan.design == "msprt" and not plan.has_plan:
        ctx.say(
            f"序贯方法：没有给出计划样本量或天数（planned_n / planned_days），所以用混合 SPRT 的“随时有效”区间和 p 值（第 {looks} 次查看）："
            f"任何时候看、任何时候停都不会抬高误报率，代价是区间更宽（按约 {plan.tuning_n:,.0f} 个样本调校）。"
            "给出计划后可以用更紧的成组序贯边界。",
            f"Sequential method: no planned size or duration was given (planned_n / "
            f"planned_days), so the readout uses the mixture-SPRT always-valid interval and "
            f"p-value (look {looks}): looking and stopping at any time keeps the false-positive "
            f"rate at {ro.alpha:.0%}, at the price of wider intervals (tuned for about "
            f"{plan.tuning_n:,.0f} units). With a plan the tighter group-sequential bounds apply.",
        )
    elif plan.design == "msprt":
        pz, pe = _plan_text(plan)
        ctx.say(
            f"序贯方法：混合 SPRT 的“随时有效”区间，按计划的 {pz} 调校；目前已到计划的 {ctx.pct(frac, 0)}（第 {looks} 次查看）。",
            f"Sequential method: the mixture-SPRT always-valid interval, tuned for the planned "
            f"{pe}; {ctx.pct(frac, 0)} of the plan is reached (look {looks}).",
        )
    else:
        pz, pe = _plan_text(plan)
        name = {
            "obf": ("O'Brien–Fleming 型", "O'Brien–Fleming-type"),
            "pocock": ("Pocock 型", "Pocock-type"),
        }[plan.spending]
        done = frac == frac and frac >= 1 - 1e-9
        ctx.say(
            f"序贯方法：成组序贯（Lan–DeMets {name[0]} α 消耗），计划 {pz}；目前已完成计划信息量的 {ctx.pct(frac, 0)}（第 {looks} 次查看）。"
            + (
                "计划已完成，这是最终分析。"
                if done
                else "边界按计划分配 α，所以在达到计划之前每天查看，误报率仍为 α。"
            ),
            f"Sequential method: group-sequential (Lan–DeMets {name[1]} alpha spending) planned "
            f"for {pe}; {ctx.pct(frac, 0)} of the planned information is reached (look "
            f"{looks}). "
            + (
                "The plan is complete: this is the final analysis."
                if done
                else "The bounds spread α over the plan, so looking daily until the plan is "
                "reached keeps the false-positive rate at α."
            ),
        )
    ctx.record(ab_design=plan.design, ab_info_fraction=float(frac))


def _say_cuped(ctx, ro: Readout) -> None:
    """For CUPED metrics: how many units had no pre-period covariate (they are kept)."""
    r = ro.results
    if "covariate" not in r or not (r["covariate"].astype(str) != "").any():
        return
    for (metric, cov), g in r[r["covariate"].astype(str) != ""].groupby(
        ["metric", "covariate"], sort=False
    ):
        row = g.iloc[0]
        st = ro.stats[ro.stats["metric"] == metric] if "n_missing" in ro.stats else None
        if st is not None and len(st):  # per arm, so the control counts once
            n_all, miss = float(st["n"].sum()), float(st["n_missing"].sum())
        else:
            n_all = float(row["n_control"] + row["n_treatment"])
            miss = (
                float(row["n_missing_covariate"])
                if row["n_missing_covariate"] == row["n_missing_covariate"]
                else 0.0
            )
        if miss > 0:
            ctx.say(
                f"CUPED（{metric}，协变量 {cov}）：{miss:,.0f} 个单位（{ctx.pct(miss / n_all)}）没有实验前数据（如新用户）。"
                "它们仍留在分析里：缺失值填 0 并加一个缺失指示变量，协变量只在有实验前数据的单位上调整，结论仍针对全部单位。",
                f"CUPED ({metric}, covariate {cov}): {miss:,.0f} units ({ctx.pct(miss / n_all)}) "
                "have no pre-period value (new users, say). They stay in the analysis: the gap is "
                "filled with 0 plus a missing indicator, so the covariate adjusts only the units "
                "that have one and the result still covers every unit.",
            )
        else:
            ctx.say(
                f"CUPED（{metric}，协变量 {cov}）：所有单位都有实验前数据，方差降低 {ctx.pct(row['variance_reduction'])}。",
                f"CUPED ({metric}, covariate {cov}): every unit has a pre-period value; variance "
                f"reduced by {ctx.pct(row['variance_reduction'])}.",
            )


def _means(r: pd.DataFrame, col: str) -> list[str]:
    """Arm means as read: proportions in %, other metrics with 3 significant digits or more."""
    from opsnb.plots import format_pct

    out = []
    for kind, v in zip(r["kind"], r[col]):
        if v != v:
            out.append("—")
        elif kind == "proportion":
            out.append(format_pct(v, 2))
        else:
            out.append(f"{v:,.2f}" if abs(v) >= 1 else f"{v:.3g}")
    return out


def show_forest(ctx, ro: Readout) -> None:
    ctx.show(plot_forest(ro.results, lang=ctx.lang))


def show_cumulative(
    ctx,
    units: pd.DataFrame,
    ro: Readout,
    *,
    variant_col: str,
    metric: str,
    time_col: str = "assigned_at",
    covariates=None,
    spending: str = "obf",
) -> pd.DataFrame | None:
    """Cumulative lift per day with sequential bounds; says how many looks were taken, which
    design and spending function, and when a boundary was first crossed.

    The bounds follow the readout's design and plan (``ro.plan``). For a fixed-horizon or
    Bayesian readout they are the group-sequential bounds of a test planned to end at the last
    look, and the sentences say so (a what-if, not a licence to stop early)."""
    if not time_col or time_col not in units.columns:
        ctx.say(
            "数据没有进组时间列，无法画累计提升曲线，也无法按天做序贯监控。",
            "The data have no assignment-time column, so there is no cumulative lift chart "
            "and no daily sequential monitoring.",
        )
        return None
    plan = ro.plan
    design = "msprt" if plan is not None and plan.design == "msprt" else "group_sequential"
    planned = plan is not None and plan.is_sequential and plan.has_plan
    if plan is not None and plan.design == "group_sequential":
        spending = plan.spending
    cum = cumulative_lift_from_frame(
        units,
        variant_col=variant_col,
        control=ro.control,
        metric=metric,
        time_col=time_col,
        alpha=ro.alpha,
        covariates=covariates,
        design=design,
        spending=spending,
        planned_n=plan.planned_n if planned and plan.planned_n == plan.planned_n else None,
        planned_days=plan.planned_days
        if planned and plan.planned_days == plan.planned_days
        else None,
    )
    for v in cum["variant"].unique():
        ctx.show(plot_cumulative_lift(cum, lang=ctx.lang, variant=v))
    n_looks = int(cum["look"].max())
    naive = cum[cum["p_value"] < ro.alpha].groupby("variant")["look"].min()
    name = {
        "obf": ("O'Brien–Fleming 型", "O'Brien–Fleming-type"),
        "pocock": ("Pocock 型", "Pocock-type"),
    }[spending]
    if design == "msprt":
        ctx.say(
            f"共查看 {n_looks} 次（每天一次）。序贯区间为混合 SPRT 的“随时有效”区间：任何时刻看都不抬高误报率，但偏保守。",
            f"{n_looks} looks were taken (one a day). The sequential band is the mixture-SPRT "
            "always-valid interval: valid at any moment, but conservative.",
        )
    elif planned:
        pz, pe = _plan_text(plan)
        ctx.say(
            f"共查看 {n_looks} 次（每天一次）。序贯边界采用 Lan–DeMets {name[0]} α 消耗函数，计划 {pz}：按每天实际进组人数计算信息比例，"
            f"把总 α = {ro.alpha:.0%} 分配到计划的信息量上，所以在达到计划之前每天看，误报率仍是 {ro.alpha:.0%}；早期边界很宽，越接近计划越接近固定样本区间。",
            f"{n_looks} looks were taken (one a day). The sequential bounds use Lan–DeMets "
            f"{name[1]} alpha spending planned for {pe}: the information fraction of each look "
            f"comes from the units actually enrolled, and the total α = {ro.alpha:.0%} is spread "
            f"over the planned information, so daily peeking until the plan is reached keeps "
            f"the false-positive rate at {ro.alpha:.0%}; early bounds are wide and approach the "
            "fixed-horizon interval as the plan is reached.",
        )
    else:
        ctx.say(
            f"共查看 {n_looks} 次（每天一次）。图中的序贯边界是 Lan–DeMets {name[0]} α 消耗函数的边界，假设实验本来就计划在最后一次查看时结束"
            f"（本报告是固定样本读数，没有序贯计划）：它们说明如果事先按这个时长做成组序贯设计，哪一天可以停；并不允许在计划结束前按天提前停。",
            f"{n_looks} looks were taken (one a day). The bounds in the chart are Lan–DeMets "
            f"{name[1]} alpha-spending bounds for a test planned to end at the last look (this "
            "readout is fixed-horizon, with no sequential plan): they show when a "
            "group-sequential design planned for this duration could have stopped, not a "
            "licence to stop early without a plan.",
        )
    for v, g in cum.groupby("variant", sort=False):
        hit = g[g["crossed"]]
        nv = naive.get(v)
        nz = (
            f"；若每天用固定样本检验，第 {int(nv)} 次查看就会误以为“显著”"
            if nv is not None and (hit.empty or nv < hit["look"].iloc[0])
            else ""
        )
        ne = (
            (
                f"; a fixed-horizon test checked daily would have called it 'significant' "
                f"already at look {int(nv)}"
            )
            if nz
            else ""
        )
        if hit.empty:
            ctx.say(
                f"{v}：边界没有被越过，不能提前下结论{nz}。",
                f"{v}: no boundary was crossed, so there is no early stop{ne}.",
            )
        else:
            k, d = int(hit["look"].iloc[0]), hit["date"].iloc[0].strftime("%Y-%m-%d")
            who = (
                ("", "the test")
                if design == "msprt" or planned
                else ("按这个时长计划的成组序贯设计", "a design planned for this duration")
            )
            ctx.say(
                f"{v}：第 {k} 次查看（{d}）首次越过边界，{who[0]}从那天起就可以停止实验{nz}。",
                f"{v}: the boundary was first crossed at look {k} ({d}); {who[1]} could "
                f"have stopped that day{ne}.",
            )
    ctx.record(ab_looks=n_looks)
    return cum


DECISION_LABELS = {
    "ship": ("上线", "Ship"),
    "dont_ship": ("不上线", "Don't ship"),
    "keep_running": ("继续实验", "Keep running"),
    "inconclusive": ("无明确结论", "Inconclusive"),
}
"""Display names of :attr:`Decision.decision`."""
_DECISION_KINDS = {
    "ship": "good",
    "dont_ship": "alert",
    "keep_running": "warn",
    "inconclusive": "warn",
}


def first_crossings(cumulative: pd.DataFrame | None) -> dict[str, tuple[int, str]]:
    """Per variant, the look and day (YYYY-MM-DD) the cumulative lift first crossed its
    sequential boundary (:func:`show_cumulative`'s table); variants that never crossed are
    left out. Every section quotes these, so the report names one look."""
    if cumulative is None or cumulative.empty:
        return {}
    out = {}
    for v, g in cumulative.groupby("variant", sort=False):
        hit = g[g["crossed"]]
        if len(hit):
            out[str(v)] = (int(hit["look"].iloc[0]), hit["date"].iloc[0].strftime("%Y-%m-%d"))
    return out


def _crossing_note(d: Decision, cumulative: pd.DataFrame | None) -> tuple[str, str]:
    hit = first_crossings(cumulative).get(str(d.variant))
    if hit is None or d.decision not in ("ship", "dont_ship"):
        return "", ""
    k, day = hit
    return (
        f"累计提升图中，边界在第 {k} 次查看（{day}）首次越过（见第 3 节）。",
        f" In the cumulative chart the boundary was first crossed at look {k} ({day}; section 3).",
    )


def show_decision(
    ctx, ro: Readout, *, cumulative: pd.DataFrame | None = None, **decide_kwargs
) -> Decision:
    """The decision box (:func:`~opsnb.abtest.decision.decide`); with ``cumulative`` (the table
    :func:`show_cumulative` returned) it names the look at which the boundary was first
    crossed, the same look section 3 names."""
    d = decide(ro, **decide_kwargs)
    kind = {"ship": "info", "dont_ship": "alert", "keep_running": "warn", "inconclusive": "warn"}[
        d.decision
    ]
    label = DECISION_LABELS[d.decision]
    cz, ce = _crossing_note(d, cumulative)
    # the reasons may quote variant names from the data: escaped, the bold label is ours
    ctx.note(
        ctx.trusted(f"<b>结论：{label[0]}</b>。{html.escape(d.reason_zh)}{html.escape(cz)}"),
        ctx.trusted(f"<b>Decision: {label[1]}</b>. {html.escape(d.reason_en)}{html.escape(ce)}"),
        kind,
    )
    return d


def show_power(ctx, ro: Readout, d: Decision, *, mde: float = 0.10, daily_units=None) -> None:
    """Minimum detectable effect now, and how much longer to run if inconclusive."""
    from scipy import stats

    r = ro.results[ro.results["metric"] == d.metric].iloc[0]
    z = stats.norm.ppf(1 - ro.alpha / 2) + stats.norm.ppf(0.8)
    mde_now = z * r["se"] / abs(r["control_mean"]) if r["control_mean"] else math.nan
    ctx.say(
        f"以现有样本，{d.metric} 能以 80% 把握发现的最小相对变化（MDE）约为 {ctx.pct(mde_now)}；目标是 {ctx.pct(mde)}。",
        f"With the current sample, the smallest relative change in {d.metric} detectable with "
        f"80% power (MDE) is about {ctx.pct(mde_now)}; the target is {ctx.pct(mde)}.",
    )
    if d.decision == "ship":
        ctx.say(
            "差异已显著，上面的 MDE 只说明现有样本的灵敏度，不影响上线结论。",
            "The difference is already significant; the MDE above only describes the "
            "sensitivity of the current sample and does not change the decision.",
        )
    if d.decision == "keep_running" and d.days_left == d.days_left:
        ctx.say(
            f"按近期每天的流量，还需约 {math.ceil(d.days_left)} 天（每组共约 {d.n_needed_per_arm:,.0f} 个样本）。",
            f"At recent daily traffic that is about {math.ceil(d.days_left)} more days "
            f"(about {d.n_needed_per_arm:,.0f} units per arm in total).",
        )
    ctx.record(ab_mde_now=float(mde_now), ab_days_left=float(d.days_left))


def daily_units(
    ctx, units: pd.DataFrame, time_col: str = "assigned_at", data_file: str = ""
) -> float:
    """Units entering the test per day: from the assignment times when present (the test's own
    enrolment rate over its last 28 days), else the shop's real daily visitors in the store
    (NaN for an outside ``data_file`` without times: its traffic is unknown)."""
    from opsnb.abtest.power import daily_traffic

    if time_col and time_col in units.columns:
        per_day = pd.to_datetime(units[time_col]).dt.normalize().value_counts().sort_index()
        return daily_traffic(per_day)
    if data_file:
        return math.nan
    try:
        return daily_traffic(ctx.read_all("daily_metrics", columns=["date", "visitors"]))
    except Exception:  # no store: duration cannot be estimated
        return math.nan


def show_summary(ctx, ro: Readout, d: Decision, *, cumulative: pd.DataFrame | None = None) -> None:
    """The 结论 / Summary box of the A/B readout: the decision, the deciding metric's lift with
    its interval and adjusted p-value (the row :func:`show_results` shows), the SRM check and,
    for a sequential readout, the look of the first boundary crossing (:func:`first_crossings`,
    as in section 3); the decision's reason is the action."""
    L = ctx.L
    rows = ro.results[(ro.results["metric"] == d.metric) & (ro.results["variant"] == d.variant)]
    r = rows.iloc[0] if len(rows) else ro.results.iloc[0]
    label = DECISION_LABELS[d.decision]
    lift = f"{r['rel_lift'] * 100:+.1f}%" if r["rel_lift"] == r["rel_lift"] else "—"
    lo, hi = (f"{r[c] * 100:+.1f}%" if r[c] == r[c] else "—" for c in ("rel_ci_low", "rel_ci_high"))
    items = [
        ctx.kpi("决策", "Decision", L(*label), kind=_DECISION_KINDS[d.decision]),
        ctx.kpi(
            f"{L.col(r['metric'])} 相对提升",
            f"{L.col(r['metric'])} relative lift",
            lift,
            note_zh=f"区间 [{lo}, {hi}]",
            note_en=f"interval [{lo}, {hi}]",
        ),
    ]
    if ro.method != "bayesian":
        items.append(ctx.kpi("p 值（校正后）", "p-value (adjusted)", format_p(r["p_adjusted"])))
    items.append(
        ctx.kpi(
            "分流检查（SRM）",
            "Sample ratio check",
            L("失衡", "mismatch") if ro.srm.flagged else L("通过", "ok"),
            note_zh=f"p = {ro.srm.p_value:{'.2g' if ro.srm.flagged else '.2f'}}",
            note_en=f"p = {ro.srm.p_value:{'.2g' if ro.srm.flagged else '.2f'}}",
            kind="alert" if ro.srm.flagged else "good",
        )
    )
    hit = first_crossings(cumulative).get(str(d.variant))
    if hit is not None:
        items.append(
            ctx.kpi(
                "首次越过边界",
                "Boundary first crossed",
                L(f"第 {hit[0]} 次查看", f"look {hit[0]}"),
                note_zh=hit[1],
                note_en=hit[1],
            )
        )
    elif d.decision == "keep_running" and d.days_left == d.days_left:
        items.append(ctx.item("ab_days_left", d.days_left, kind="warn"))
    cz, ce = _crossing_note(d, cumulative)
    actions = [(d.reason_zh + cz, d.reason_en + ce)]
    if ro.srm.flagged:
        actions.insert(
            0,
            (
                "先排查分流（SRM 失衡），修复前不要依据结果决策。",
                "Fix the split first (sample ratio mismatch): do not act on the results until then.",
            ),
        )
    ctx.summary(items, actions)
