"""Comparing arms from their sufficient statistics: one metric, every metric × treatment arm.

:func:`compare_arm_stats` is the results table of a readout (p-values corrected across arms and
metrics); the ``*_from_frame`` functions are one comparison on a unit-level frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from opsnb.abtest.armstats import STAT_COLS, arm_stats_from_frame
from opsnb.abtest.design import (
    elapsed_days,
    planned_units,
    sequential_plan,
    spending_clock,
)
from opsnb.abtest.metrics import DEFAULT_GUARDRAILS, MetricSpec, parse_metrics
from opsnb.abtest.stats import (
    ComparisonResult,
    PairStats,
    SampleStats,
    SRMResult,
    compare_means,
    compare_means_cuped,
    compare_proportions,
    compare_ratios,
    correct_pvalues,
    srm_check,
)
from opsnb.errors import ParameterError

__all__ = [
    "compare_one",
    "compare_arm_stats",
    "compare_proportions_from_frame",
    "compare_means_from_frame",
    "compare_ratios_from_frame",
    "compare_means_cuped_from_frame",
    "srm_check_from_frame",
]


def compare_one(
    m: MetricSpec,
    c: pd.Series,
    t: pd.Series,
    method: str,
    alpha: float,
    alternative: str,
    prior_sd: float,
    planned_n: float | None,
    looks: tuple | None = None,
    spending: str = "obf",
    *,
    planned_days: float | None = None,
    look_days: Sequence[float] | None = None,
) -> ComparisonResult:
    """One metric, control ``c`` versus treatment ``t`` (rows of :func:`arm_stats_from_frame`).

    ``method`` and the plan (``planned_n`` total units, ``planned_days``) resolve through
    :func:`opsnb.abtest.design.sequential_plan`. ``looks``: (control units, treatment units)
    cumulated at every look (default: one look now); ``look_days``: calendar day of each look
    counted from the first (1, 2, ...; needed for ``planned_days``)."""
    from opsnb.abtest.bayes import bayes_from_result, bayes_proportions
    from opsnb.abtest.groupseq import group_sequential_from_result, information
    from opsnb.abtest.sequential import sequential_from_result

    plan = sequential_plan(method, planned_n, planned_days, spending)

    if m.kind == "ratio" or m.covariate:
        pc = PairStats(*(float(c[k]) for k in STAT_COLS))
        pt = PairStats(*(float(t[k]) for k in STAT_COLS))
        fn = compare_ratios if m.kind == "ratio" else compare_means_cuped
        res = fn(pc, pt, alternative=alternative, alpha=alpha)
    else:
        sc = SampleStats(float(c["n"]), float(c["sum_y"]), float(c["sum_y2"]))
        st = SampleStats(float(t["n"]), float(t["sum_y"]), float(t["sum_y2"]))
        if m.kind == "proportion":
            if method == "bayesian" and math.isinf(prior_sd):
                return bayes_proportions(sc, st, alpha=alpha)
            res = compare_proportions(sc, st, alternative=alternative, alpha=alpha)
        else:
            res = compare_means(sc, st, alternative=alternative, alpha=alpha)
    if plan.design == "bayesian":
        return bayes_from_result(res, prior_sd=prior_sd)
    if not plan.is_sequential:
        return res
    nc, nt = looks if looks is not None else ([float(c["units"])], [float(t["units"])])
    n_now = float(nc[-1]) + float(nt[-1])
    if plan.design == "msprt":
        planned = planned_units(plan, n_now, float(look_days[-1]) if look_days else None)
        return sequential_from_result(
            res, planned_n=planned if planned == planned else None, looks=len(nc)
        )
    info = information(nc, nt)
    clock = spending_clock(plan, info, n_now, look_days)
    return group_sequential_from_result(res, info, spending=plan.spending, **clock)


def compare_arm_stats(
    stats: pd.DataFrame,
    control: str,
    metrics,
    *,
    method: str = "frequentist",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    correction: str = "holm",
    prior_sd: float = math.inf,
    planned_n: float | None = None,
    guardrails: Sequence[str] = DEFAULT_GUARDRAILS,
    looks: pd.DataFrame | None = None,
    spending: str = "obf",
    planned_days: float | None = None,
) -> pd.DataFrame:
    """Compare every treatment arm with ``control`` on every metric.

    Sequential methods: ``looks`` holds the cumulative units per arm (columns) at every look
    (rows indexed by day, the current one last; see :func:`looks_from_frame`); without it the
    data are one look. The plan — ``planned_n`` (total units) or ``planned_days`` (needs
    ``looks``) — makes ``sequential`` group-sequential; without one it is the always-valid
    mSPRT (:func:`opsnb.abtest.design.sequential_plan`).

    Returns one row per (metric, variant): metric, variant, kind, guardrail, lower_is_better,
    n_control, n_treatment, control_mean, treatment_mean, abs_lift, ci_low, ci_high, rel_lift,
    rel_ci_low, rel_ci_high, p_value, p_adjusted, chance_to_win, risk, variance_reduction,
    method, looks, error_code, then the other :class:`~opsnb.abtest.stats.ComparisonResult`
    fields (se, statistic, se_control, se_treatment, n_missing_covariate, info_fraction, ...) and
    covariate (the CUPED column, "" for none). ``p_adjusted`` corrects over non-guardrail
    metrics × arms; guardrails are corrected among themselves.
    """
    plan = sequential_plan(method, planned_n, planned_days, spending)
    days = None
    if looks is not None and len(looks) and isinstance(looks.index, pd.DatetimeIndex):
        days = [elapsed_days(looks.index[0], d) for d in looks.index]
    if plan.is_sequential:  # planned_days without daily looks: say so before computing
        planned_units(plan, 1.0, days[-1] if days else None)
    metrics = parse_metrics(metrics, guardrails=guardrails)
    variants = list(dict.fromkeys(stats["variant"].astype(str)))
    if str(control) not in variants:
        raise ParameterError(f"control {control!r} is not a variant; variants are {variants}")
    rows = []
    for m in metrics:
        sub = stats[stats["metric"] == m.name].set_index("variant")
        for v in variants:
            if v == str(control):
                continue
            lk = (
                None
                if looks is None
                else (looks[str(control)].to_numpy(float), looks[v].to_numpy(float))
            )
            r = compare_one(
                m,
                sub.loc[str(control)],
                sub.loc[v],
                method,
                alpha,
                alternative,
                prior_sd,
                planned_n,
                lk,
                spending,
                planned_days=planned_days,
                look_days=days,
            ).with_names(m.name, v)
            d = r.to_dict()
            d.update(
                kind=m.kind,
                guardrail=m.name in guardrails,
                lower_is_better=m.lower_is_better,
                covariate=m.covariate or "",
            )
            rows.append(d)
    out = pd.DataFrame(rows).rename(columns={"estimate": "abs_lift", "rel_estimate": "rel_lift"})
    out["p_adjusted"] = np.nan
    for is_guard in (False, True):
        mask = out["guardrail"] == is_guard
        if mask.any():
            out.loc[mask, "p_adjusted"] = correct_pvalues(
                out.loc[mask, "p_value"], correction if correction else "none"
            )
    front = [
        "metric",
        "variant",
        "kind",
        "guardrail",
        "lower_is_better",
        "n_control",
        "n_treatment",
        "control_mean",
        "treatment_mean",
        "abs_lift",
        "ci_low",
        "ci_high",
        "rel_lift",
        "rel_ci_low",
        "rel_ci_high",
        "p_value",
        "p_adjusted",
        "chance_to_win",
        "risk",
        "variance_reduction",
        "method",
        "looks",
        "error_code",
    ]
    return out[front + [c for c in out.columns if c not in front]]


def _one(df, variant_col, spec, control, treatment, **kw) -> ComparisonResult:
    stats = arm_stats_from_frame(df, variant_col, [spec])
    variants = [v for v in stats["variant"] if v != str(control)]
    if treatment is None:
        if len(variants) != 1:
            raise ParameterError(f"treatment must be given when there are several arms: {variants}")
        treatment = variants[0]
    res = compare_arm_stats(
        stats[stats["variant"].isin([str(control), str(treatment)])],
        control,
        [spec],
        correction="none",
        **kw,
    )
    return _row_to_result(res.iloc[0])


def _row_to_result(row) -> ComparisonResult:
    d = row.to_dict()
    d["estimate"], d["rel_estimate"] = d.pop("abs_lift"), d.pop("rel_lift")
    keep = ComparisonResult.__dataclass_fields__
    return ComparisonResult(**{k: v for k, v in d.items() if k in keep})


def compare_proportions_from_frame(df, variant_col, column, control, treatment=None, **kw):
    """:func:`opsnb.abtest.compare_proportions` on a unit-level frame (0/1 or boolean column)."""
    return _one(df, variant_col, MetricSpec(column, "proportion"), control, treatment, **kw)


def compare_means_from_frame(df, variant_col, column, control, treatment=None, **kw):
    """:func:`opsnb.abtest.compare_means` (Welch) on a unit-level frame."""
    return _one(df, variant_col, MetricSpec(column, "mean"), control, treatment, **kw)


def compare_ratios_from_frame(
    df, variant_col, numerator, denominator, control, treatment=None, **kw
):
    """:func:`opsnb.abtest.compare_ratios` (delta method) on a unit-level frame."""
    spec = MetricSpec(f"{numerator}/{denominator}", "ratio", numerator, denominator)
    return _one(df, variant_col, spec, control, treatment, **kw)


def compare_means_cuped_from_frame(
    df, variant_col, column, covariate, control, treatment=None, **kw
):
    """:func:`opsnb.abtest.compare_means_cuped` on a unit-level frame."""
    spec = MetricSpec(column, "mean", column, None, covariate)
    return _one(df, variant_col, spec, control, treatment, **kw)


def srm_check_from_frame(df, variant_col, expected_ratio=None, **kw) -> SRMResult:
    """:func:`opsnb.abtest.srm_check` on the number of rows per variant."""
    counts = df[variant_col].astype(str).value_counts().sort_index()
    return srm_check(counts.to_dict(), expected_ratio, **kw)
