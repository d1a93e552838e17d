"""What to do with an A/B readout: the decision rule, segment breakdown, cumulative lift over time.

:func:`decide` turns a :class:`~opsnb.abtest.analysis.Readout` into ship / dont_ship /
keep_running / inconclusive with a one-sentence reason in Chinese and English:

1. sample-ratio mismatch → inconclusive (the split is broken; fix it before reading results);
2. a guardrail (refund rate by default) significantly worse → dont_ship;
3. the primary metric significantly better (corrected p < α; Bayesian: chance to win ≥ 1 - α/2;
   sequential methods: the boundary of the current look is crossed) → ship the best such arm;
   significantly worse in every arm → dont_ship. The sentence says the test may stop now only
   when the design allows it: the always-valid mSPRT at any look, a group-sequential design
   before its plan is reached (at the plan it is the final analysis); a fixed-horizon or
   Bayesian readout is read at its planned end and never says "stop early";
4. otherwise keep_running while the sample is below what the minimum detectable effect needs
   (with the days still to go from real daily traffic), else inconclusive. Arms that are
   significantly worse are named in the sentence (drop them) whatever the verdict on the rest.

``mde`` defaults to 10 % relative: the smallest lift an operator would act on for a detail page,
coupon or price test (a 5 % target on a few-percent conversion rate needs months of a small
shop's traffic); the sentence states it so the number of days can be read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsnb.abtest.analysis import Readout, readout
from opsnb.abtest.armstats import arm_stats_from_frame
from opsnb.abtest.metrics import parse_metrics
from opsnb.abtest.stats import correct_pvalues
from opsnb.results import Result

__all__ = ["Decision", "DECISIONS", "decide", "segment_breakdown", "cumulative_lift_from_frame"]

DECISIONS = ("ship", "dont_ship", "keep_running", "inconclusive")


@dataclass(frozen=True)
class Decision(Result):
    """The verdict on one experiment; ``reason(lang)`` is one sentence."""

    decision: str
    variant: str
    metric: str
    reason_zh: str
    reason_en: str
    n_needed_per_arm: float = math.nan
    days_left: float = math.nan

    def reason(self, lang: str = "zh") -> str:
        return self.reason_zh if lang == "zh" else self.reason_en


def _sig(row, alpha: float) -> int:
    """+1 significantly up, -1 significantly down, 0 neither."""
    if row["method"].startswith("bayes"):
        ctw = row["chance_to_win"]
        return 1 if ctw >= 1 - alpha / 2 else (-1 if ctw <= alpha / 2 else 0)
    p = row["p_adjusted"] if row["p_adjusted"] == row["p_adjusted"] else row["p_value"]
    if not p < alpha:
        return 0
    return 1 if row["abs_lift"] > 0 else -1


def _harm(row) -> bool:
    """Guardrail interval entirely on the harmful side of zero."""
    if row["lower_is_better"]:
        return bool(row["ci_low"] > 0)
    return bool(row["ci_high"] < 0)


def _pct(x: float) -> str:
    return "—" if x != x else f"{x * 100:+.1f}%"


def _is_seq(r) -> bool:
    return str(r["method"]).startswith(("group-sequential", "sequential"))


def _fraction(r) -> float:
    f = r.get("info_fraction", math.nan) if hasattr(r, "get") else math.nan
    return float(f) if f == f else math.nan


def _end_zh(text: str) -> str:
    """Clauses joined by "；" end the sentence with "。"."""
    text = text.rstrip("；")
    return text + "。" if text else ""


def _stop_note(r) -> tuple[str, str]:
    """What a crossed sequential boundary allows, by design (empty for fixed-horizon)."""
    if not _is_seq(r):
        return "", ""
    k = int(r["looks"]) if r["looks"] == r["looks"] else 1
    f = _fraction(r)
    if str(r["method"]).startswith("sequential"):
        return (
            f"随时有效（mSPRT）区间在第 {k} 次查看时已不含 0，可以现在结束；",
            f" The always-valid (mSPRT) interval excludes 0 at look {k}, so the test may stop now.",
        )
    if f == f and f >= 1 - 1e-9:
        return (
            f"已达到计划的信息量（第 {k} 次查看，即最终分析）；",
            f" The plan is complete (look {k}, the final analysis).",
        )
    share = f"{f:.0%}" if f == f else "—"
    return (
        f"成组序贯边界在第 {k} 次查看时已越过（已完成计划信息量的 {share}），可以提前结束；",
        f" The group-sequential boundary is crossed at look {k} ({share} of the planned "
        "information), so the test may stop now.",
    )


def _wait_note(r) -> tuple[str, str]:
    """Why a non-significant sequential result is no early stop (empty for fixed-horizon)."""
    if not _is_seq(r):
        return "", ""
    f = _fraction(r)
    if str(r["method"]).startswith("sequential"):
        return (
            "（随时有效的 mSPRT 序贯边界尚未越过，不能提前下结论）",
            " (the sequential boundary has not been crossed — always-valid mSPRT — so no early "
            "stop)",
        )
    if f == f and f >= 1 - 1e-9:
        return (
            "（计划已完成，最终边界没有越过；再延长需要一个新的、更大的计划）",
            " (the plan is complete and its final boundary was not crossed; running longer needs "
            "a new, larger plan)",
        )
    share = f"{f:.0%}" if f == f else "—"
    return (
        f"（序贯边界尚未越过，已完成计划信息量的 {share}，不能提前下结论）",
        f" (the sequential boundary has not been crossed at {share} of the planned "
        "information, so no early stop)",
    )


def _losers_note(losers, primary: str, alpha: float, stop_ok: bool = False) -> tuple[str, str]:
    """Sentence naming the arms whose primary metric is significantly worse; "can be stopped
    now" only when the design allows stopping early (``stop_ok``)."""
    if not losers:
        return "", ""
    zh = "、".join(
        f"{w['variant']}（{_pct(w['rel_lift'])}，区间 [{_pct(w['rel_ci_low'])}, {_pct(w['rel_ci_high'])}]）"
        for w in losers
    )
    en = ", ".join(
        f"{w['variant']} ({_pct(w['rel_lift'])}, interval [{_pct(w['rel_ci_low'])}, "
        f"{_pct(w['rel_ci_high'])}])"
        for w in losers
    )
    one = len(losers) == 1
    return (
        f"实验组 {zh} 的 {primary} 显著更差（多重比较校正后仍显著），不要上线"
        f"{'，可以先停掉' if stop_ok else ''}；",
        f"arm {en} {'is' if one else 'are'} significantly worse on {primary} (after the "
        f"multiple-testing correction): do not ship {'it' if one else 'them'}"
        f"{', it can be stopped now' if stop_ok else ''}; ",
    )


def decide(
    ro: Readout,
    *,
    primary: str | None = None,
    guardrails: Sequence[str] | None = None,
    mde: float = 0.10,
    power: float = 0.8,
    daily_units=None,
) -> Decision:
    """Decision and reason for ``ro`` (see the module docstring for the rule).

    ``primary``: the metric that decides (default the first non-guardrail metric); ``mde``: the
    smallest relative lift worth detecting (0.10 = 10 %); ``daily_units``: units entering the test
    per day (a number or real daily traffic, see :func:`opsnb.abtest.power.daily_traffic`) to say how
    many days are left.
    """
    from scipy import stats

    from opsnb.abtest.power import daily_traffic

    res = ro.results
    if guardrails is not None:
        res = res.assign(guardrail=res["metric"].isin(guardrails))
    main = res[~res["guardrail"]]
    if main.empty:
        raise ValueError("the readout has no primary metric (every metric is a guardrail)")
    primary = primary or main["metric"].iloc[0]
    if primary not in set(main["metric"]):
        raise ValueError(
            f"primary {primary!r} is not a metric of the readout: {sorted(set(main['metric']))}"
        )
    if ro.srm.flagged:
        c = {k: int(v) for k, v in ro.srm.counts.items()}
        return Decision(
            "inconclusive",
            "",
            primary,
            f"样本比例失衡（SRM 检验 p = {ro.srm.p_value:.2g}，各组人数 {c}）：分流有问题，结果不可信，先排查分流再看结论。",
            f"Sample ratio mismatch (SRM p = {ro.srm.p_value:.2g}, counts {c}): the "
            "split is broken, so the results cannot be trusted; fix the assignment first.",
        )
    prim = main[main["metric"] == primary]
    guards = res[res["guardrail"]]
    a = ro.alpha
    winners, losers = [], []
    for _, r in prim.iterrows():
        s = _sig(r, a) * (-1 if r["lower_is_better"] else 1)
        (winners if s > 0 else losers if s < 0 else []).append(r)
    harmed = {r["variant"]: r for _, r in guards.iterrows() if _harm(r)}
    ok_winners = [w for w in winners if w["variant"] not in harmed]
    if ok_winners:
        best = max(ok_winners, key=lambda r: r["rel_lift"] * (-1 if r["lower_is_better"] else 1))
        ci = f"[{_pct(best['rel_ci_low'])}, {_pct(best['rel_ci_high'])}]"
        sz, se_ = _stop_note(best)
        lz, le = _losers_note(
            [w for w in losers if w["variant"] != best["variant"]], primary, a, _is_seq(best)
        )
        return Decision(
            "ship",
            best["variant"],
            primary,
            f"建议上线 {best['variant']}：{primary} 相对提升 {_pct(best['rel_lift'])}（区间 {ci}），统计显著，且护栏指标未变差。{_end_zh(sz + lz)}",
            f"Ship {best['variant']}: {primary} changed by {_pct(best['rel_lift'])} "
            f"(interval {ci}), significant, with no guardrail getting worse.{se_}"
            f"{' Also, ' + le.rstrip('; ') + '.' if le else ''}",
        )
    if harmed:
        v, g = next(iter(harmed.items()))
        return Decision(
            "dont_ship",
            v,
            g["metric"],
            f"不建议上线 {v}：护栏指标 {g['metric']} 显著变差（{_pct(g['rel_lift'])}，区间 [{_pct(g['rel_ci_low'])}, {_pct(g['rel_ci_high'])}]）。",
            f"Don't ship {v}: guardrail {g['metric']} got significantly worse "
            f"({_pct(g['rel_lift'])}, interval [{_pct(g['rel_ci_low'])}, {_pct(g['rel_ci_high'])}]).",
        )
    if losers and len(losers) == len(prim):
        w = losers[0]
        return Decision(
            "dont_ship",
            w["variant"],
            primary,
            f"不建议上线：{primary} 显著变差（{w['variant']} {_pct(w['rel_lift'])}）。",
            f"Don't ship: {primary} got significantly worse ({w['variant']} {_pct(w['rel_lift'])}).",
        )
    # not significant: is the sample big enough to have seen an effect of size mde?
    lz, le = _losers_note(losers, primary, a, bool(losers) and _is_seq(losers[0]))
    rest = prim[~prim["variant"].isin([w["variant"] for w in losers])]
    r = (rest if len(rest) else prim).iloc[0]
    others = f"其余组（{'、'.join(map(str, rest['variant']))}）" if losers and len(rest) else ""
    others_en = (
        f"the other arm(s) ({', '.join(map(str, rest['variant']))})"
        if losers and len(rest)
        else primary
    )
    seq_z, seq_e = _wait_note(r)
    z = float(stats.norm.ppf(1 - a / 2) + stats.norm.ppf(power))
    se = float(r["se"]) if "se" in r and r["se"] == r["se"] else math.nan
    target = abs(mde * r["control_mean"])
    n_now = float(r["n_control"])
    n_needed = n_now * (se * z / target) ** 2 if target > 0 and se == se else math.nan
    if n_needed == n_needed and n_needed > n_now:
        arms = 1 + prim["variant"].nunique()
        per_day = daily_traffic(daily_units) if daily_units is not None else math.nan
        days = (
            (n_needed - n_now) * arms / per_day if per_day == per_day and per_day > 0 else math.nan
        )
        dz = f"，按每天约 {per_day:,.0f} 个样本还需约 {math.ceil(days)} 天" if days == days else ""
        de = (
            f"; at about {per_day:,.0f} units a day that is about {math.ceil(days)} more days"
            if days == days
            else ""
        )
        if days != days:
            dz = "；数据没有每天进组的速度，无法估计天数——如果实验单位是固定的（如门店），需要扩大实验范围而不是延长时间"
            de = (
                "; the data give no daily enrolment rate, so no number of days — if the units "
                "are fixed (stores), this needs a wider rollout rather than more time"
            )
        return Decision(
            "keep_running",
            "",
            primary,
            f"继续实验：{lz}{others}{primary} 的差异尚不显著{seq_z}（现为 {_pct(r['rel_lift'])}）；要以 {power:.0%} 把握发现 {mde:.0%} 的相对变化（参数 mde：值得上线的最小提升），每组需约 {n_needed:,.0f} 个样本（现有 {n_now:,.0f}）{dz}。",
            f"Keep running: {le}{others_en if losers else primary} "
            f"{'show' if losers else 'shows'} no significant difference on {primary} "
            f"yet{seq_e} (now {_pct(r['rel_lift'])}); detecting a "
            f"{mde:.0%} relative change (parameter mde: the smallest lift worth "
            f"shipping) with {power:.0%} power needs about "
            f"{n_needed:,.0f} units per arm (now {n_now:,.0f}){de}.",
            n_needed,
            days,
        )
    return Decision(
        "inconclusive",
        "",
        primary,
        f"无明确结论：{lz}样本量已足以发现 {mde:.0%} 的相对变化，但{others}{primary} 没有显著差异（{_pct(r['rel_lift'])}），真实效果可能很小，可按成本和体验决定。",
        f"Inconclusive: {le}the sample was large enough to detect a {mde:.0%} relative "
        f"change but {others_en if losers else primary} "
        f"{'show' if losers else 'shows'} no significant difference on {primary} "
        f"({_pct(r['rel_lift'])}); any true effect is probably small, so decide on "
        "cost and experience.",
        n_needed,
        0.0,
    )


def segment_breakdown(
    df: pd.DataFrame, segment_col: str, *, correction: str = "holm", **readout_kwargs
) -> pd.DataFrame:
    """Readout per segment (channel, device, ...); ``p_adjusted`` corrects over every segment ×
    metric × arm (guardrails separately), so a lucky segment does not look significant.

    Columns: ``segment`` then those of :func:`opsnb.abtest.analysis.compare_arm_stats`; the
    scope sentence is in ``.attrs["scope"]``.
    """
    parts = []
    for seg, sub in df.groupby(segment_col, sort=True):
        r = readout(sub, correction="none", **readout_kwargs)
        parts.append(r.results.assign(segment=seg))
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "segment", out.pop("segment"))
    for g in (False, True):
        m = out["guardrail"] == g
        if m.any():
            out.loc[m, "p_adjusted"] = correct_pvalues(out.loc[m, "p_value"], correction)
    n_main = int((~out["guardrail"]).sum())
    out.attrs["scope"] = (
        f"{correction} over {out['segment'].nunique()} segment(s) x metrics x "
        f"arms = {n_main} test(s)"
    )
    return out


def cumulative_lift_from_frame(
    df: pd.DataFrame,
    *,
    variant_col: str = "variant",
    control: str = "control",
    metric="converted:proportion",
    time_col: str = "assigned_at",
    alpha: float = 0.05,
    covariates: Mapping[str, str] | None = None,
    planned_n: float | None = None,
    design: str = "group_sequential",
    spending: str = "obf",
    planned_days: float | None = None,
) -> pd.DataFrame:
    """Daily looks at the cumulative data: fixed-horizon and sequential intervals.

    ``design``: "group_sequential" (Lan–DeMets ``spending`` boundaries computed for these looks,
    repeated confidence intervals; :mod:`opsnb.abtest.groupseq`) or "msprt" (always-valid
    mixture SPRT). The plan — ``planned_n`` (total units) or ``planned_days`` (turned into units
    by the enrolment so far, :func:`opsnb.abtest.design.planned_units`) — sets the planned
    information / mixing variance as in the readout. Without a plan the group-sequential
    bounds treat the last look as the planned end (a retrospective view of a test that ran its
    course: all of α spent there) and the mSPRT is tuned for
    :data:`~opsnb.abtest.sequential.DEFAULT_TUNING_N` units.
    Columns: date, variant, look, n_control, n_treatment, abs_lift, ci_low, ci_high, rel_lift,
    p_value (fixed-horizon, naive), z (estimate / unpooled se, the statistic the sequential
    bounds use), info_fraction, z_bound (group-sequential; NaN for msprt), seq_ci_low,
    seq_ci_high, seq_p_value (msprt: running minimum; group-sequential: repeated p-value of the
    last look only), crossed (the sequential interval excludes 0, i.e. ``|z| ≥ z_bound``).
    ``attrs``: design, spending, metric (name) and kind (proportion | mean | ratio), so a plot
    can say in which unit the lift is (percentage points for a proportion).
    """
    from opsnb.abtest.comparison import compare_one
    from opsnb.abtest.design import elapsed_days, planned_units, sequential_plan, spending_clock
    from opsnb.abtest.groupseq import information, repeated_p_value, spending_boundaries
    from opsnb.abtest.sequential import planned_mixing_variance, sequential_from_result

    if design not in ("group_sequential", "msprt"):
        raise ValueError(f"design must be one of ('group_sequential', 'msprt'), got {design!r}")
    plan = sequential_plan(
        "msprt" if design == "msprt" else "sequential", planned_n, planned_days, spending
    )
    spec = parse_metrics([metric], covariates)[0]
    day = pd.to_datetime(df[time_col]).dt.normalize()
    days = sorted(day.dropna().unique())
    look_days = [elapsed_days(days[0], d) for d in days]
    stats_by_day = [arm_stats_from_frame(df[day <= d], variant_col, [spec]) for d in days]
    total = stats_by_day[-1]["units"].groupby(stats_by_day[-1]["variant"]).first()
    variants = [v for v in total.index if v != str(control)]
    rows = []
    for v in variants:
        looks = []
        for d, st in zip(days, stats_by_day):
            s = st.set_index("variant")
            if str(control) in s.index and v in s.index:
                looks.append(
                    (
                        d,
                        compare_one(
                            spec,
                            s.loc[str(control)],
                            s.loc[v],
                            "frequentist",
                            alpha,
                            "two-sided",
                            math.inf,
                            None,
                        ),
                    )
                )
        if not looks:
            continue
        final = looks[-1][1]
        n_final = final.n_control + final.n_treatment
        kept = [look_days[days.index(d)] for d, _ in looks]
        planned = planned_units(plan, n_final, kept[-1])
        info = information([r.n_control for _, r in looks], [r.n_treatment for _, r in looks])
        if design == "group_sequential":
            clock = spending_clock(plan, info, n_final, kept)
            gs = spending_boundaries(info, alpha=alpha, spending=spending, **clock)
        else:
            tau2 = (
                float(
                    planned_mixing_variance(
                        final.se**2, n_final, planned if planned == planned else None, alpha
                    )
                )
                if final.se == final.se
                else math.nan
            )
        best_p = 1.0
        for k, (d, r) in enumerate(looks, start=1):
            ok = r.se == r.se and r.se > 0
            z = r.estimate / r.se if ok else np.nan
            row = dict(
                date=pd.Timestamp(d),
                variant=v,
                look=k,
                n_control=r.n_control,
                n_treatment=r.n_treatment,
                abs_lift=r.estimate,
                ci_low=r.ci_low,
                ci_high=r.ci_high,
                rel_lift=r.rel_estimate,
                p_value=r.p_value,
                z=z,
                info_fraction=np.nan,
                z_bound=np.nan,
                seq_ci_low=np.nan,
                seq_ci_high=np.nan,
                seq_p_value=np.nan,
            )
            if design == "group_sequential":
                c = gs.z_bounds[k - 1]
                row.update(info_fraction=gs.spend_fractions[k - 1], z_bound=c)
                if ok and np.isfinite(c):
                    row.update(seq_ci_low=r.estimate - c * r.se, seq_ci_high=r.estimate + c * r.se)
            elif tau2 == tau2 and ok:
                q = sequential_from_result(r, tau2=tau2, looks=k, previous_p=best_p)
                best_p = q.p_value if q.p_value == q.p_value else best_p
                row.update(seq_ci_low=q.ci_low, seq_ci_high=q.ci_high, seq_p_value=q.p_value)
            rows.append(row)
        if design == "group_sequential" and rows and np.isfinite(rows[-1]["z"]):
            rows[-1]["seq_p_value"] = repeated_p_value(
                rows[-1]["z"], info, spending=spending, **clock
            )
    out = pd.DataFrame(rows)
    if len(out):
        out["crossed"] = (out["seq_ci_low"] > 0) | (out["seq_ci_high"] < 0)
    out.attrs.update(
        design=design,
        planned=bool(plan.has_plan),
        spending=spending if design == "group_sequential" else "",
        metric=spec.name,
        kind=spec.kind,
    )
    return out
