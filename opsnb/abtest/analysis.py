"""A/B readout: metrics, per-arm sufficient statistics (pandas or DuckDB SQL), the results table.

A readout is SRM first, then one row per (metric, treatment arm) with lifts, intervals, p-values
(corrected for multiple arms and metrics), Bayesian chance to win or sequential bounds. Which
sequential design a method stands for, and its plan, is :mod:`opsnb.abtest.design`.

Metrics are written ``NAME:proportion``, ``NAME:mean`` or ``NAME:mean:NUM/DEN`` (a ratio metric,
e.g. ``aov:mean:gmv/orders``); see :func:`parse_metric`. Rows are randomisation units; with
``unit_col`` rows (sessions, store-weeks) are first aggregated per unit.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"variant": ["A", "B"] * 50, "converted": [0, 1, 1, 0] * 25})
>>> r = readout(df, variant_col="variant", control="A", metrics=["converted:proportion"])
>>> r.results.loc[0, "metric"], r.results.loc[0, "variant"], float(r.results.loc[0, "abs_lift"])
('converted', 'B', 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from opsnb.abtest.armstats import arm_stats_from_frame, arm_stats_sql, looks_from_frame, looks_sql
from opsnb.abtest.comparison import (
    compare_arm_stats,
    compare_means_cuped_from_frame,
    compare_means_from_frame,
    compare_one,
    compare_proportions_from_frame,
    compare_ratios_from_frame,
    srm_check_from_frame,
)
from opsnb.abtest.design import (
    SequentialPlan,
    sequential_plan,
)
from opsnb.abtest.metrics import (
    DEFAULT_GUARDRAILS,
    KINDS,  # noqa: F401 - importable from here before the split
    LOWER_IS_BETTER,  # noqa: F401
    MetricSpec,
    parse_metric,
    parse_metrics,
)
from opsnb.abtest.stats import (
    SRMResult,
    srm_check,
)
from opsnb.abtest.units import BOOL_VALUES, coerce_numeric, load_units
from opsnb.errors import ParameterError

__all__ = [
    "MetricSpec",
    "parse_metric",
    "parse_metrics",
    "Readout",
    "arm_stats_from_frame",
    "arm_stats_sql",
    "compare_arm_stats",
    "readout",
    "readout_duckdb",
    "compare_proportions_from_frame",
    "compare_means_from_frame",
    "compare_ratios_from_frame",
    "compare_means_cuped_from_frame",
    "srm_check_from_frame",
    "load_units",
    "coerce_numeric",
    "BOOL_VALUES",
    "DEFAULT_GUARDRAILS",
    "looks_from_frame",
    "looks_sql",
    "compare_one",
]


@dataclass(frozen=True)
class Readout:
    """SRM check plus the results table (see :func:`compare_arm_stats` for its columns);
    ``plan``: the design the method stands for and its plan (:class:`SequentialPlan`)."""

    srm: SRMResult
    results: pd.DataFrame
    control: str
    method: str
    alpha: float
    correction: str
    scope: str
    stats: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    plan: SequentialPlan | None = None

    def to_frame(self) -> pd.DataFrame:
        return self.results.copy()

    def to_dict(self) -> dict:
        """The CLI's JSON shape: ``{"srm": {...}, "design": {...}, "results": [...]}`` (NaN and
        ±inf → None)."""
        keys = [
            "metric",
            "variant",
            "n_control",
            "n_treatment",
            "control_mean",
            "treatment_mean",
            "abs_lift",
            "rel_lift",
            "ci_low",
            "ci_high",
            "rel_ci_low",
            "rel_ci_high",
            "p_value",
            "chance_to_win",
            "risk",
            "method",
        ]
        extra = [
            "p_adjusted",
            "variance_reduction",
            "n_missing_covariate",
            "looks",
            "info_fraction",
            "error_code",
        ]

        def clean(v):
            if isinstance(v, (np.floating, float)):
                v = float(v)
                return None if math.isnan(v) else (v if math.isfinite(v) else None)
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, np.bool_):
                return bool(v)
            return v

        res = [{k: clean(r[k]) for k in keys + extra} for r in self.results.to_dict("records")]
        return {
            "srm": {
                "p_value": clean(self.srm.p_value),
                "counts": {k: int(v) for k, v in self.srm.counts.items()},
                "flagged": self.srm.flagged,
                "threshold": self.srm.threshold,
            },
            "design": {k: clean(v) for k, v in self.plan.to_dict().items()} if self.plan else None,
            "control": self.control,
            "method": self.method,
            "alpha": self.alpha,
            "correction": self.correction,
            "scope": self.scope,
            "results": res,
        }


def _scope(results: pd.DataFrame, correction: str) -> str:
    main = results[~results["guardrail"]]
    nm, na = main["metric"].nunique(), main["variant"].nunique()
    name = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no correction"}[correction]
    s = f"{name} over {nm} metric(s) x {na} treatment arm(s) = {len(main)} test(s)"
    if results["guardrail"].any():
        s += f"; guardrails corrected separately ({int(results['guardrail'].sum())} test(s))"
    return s


def _make_readout(
    stats,
    control,
    metrics,
    *,
    method,
    alpha,
    alternative,
    correction,
    expected_ratio,
    prior_sd,
    planned_n,
    guardrails,
    looks=None,
    spending="obf",
    planned_days=None,
    srm_alpha=0.001,
) -> Readout:
    plan = sequential_plan(method, planned_n, planned_days, spending)
    if not 0 < srm_alpha < 1:
        raise ParameterError(f"srm_alpha must be between 0 and 1 (exclusive), got {srm_alpha!r}")
    units = stats.drop_duplicates("variant").set_index("variant")["units"]
    order = [str(control)] + [v for v in units.index if v != str(control)]
    srm = srm_check(
        {v: units[v] for v in order if v in units.index}, expected_ratio, threshold=srm_alpha
    )
    res = compare_arm_stats(
        stats,
        control,
        metrics,
        method=method,
        alpha=alpha,
        alternative=alternative,
        correction=correction,
        prior_sd=prior_sd,
        planned_n=planned_n,
        guardrails=guardrails,
        looks=looks,
        spending=spending,
        planned_days=planned_days,
    )
    return Readout(
        srm, res, str(control), method, alpha, correction, _scope(res, correction), stats, plan
    )


def readout(
    df: pd.DataFrame,
    *,
    variant_col: str = "variant",
    control: str = "control",
    metrics=("converted:proportion",),
    unit_col: str | None = None,
    covariates: Mapping[str, str] | None = None,
    method: str = "frequentist",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    correction: str = "holm",
    cap: float | None = None,
    expected_ratio=None,
    prior_sd: float = math.inf,
    planned_n: float | None = None,
    guardrails: Sequence[str] = DEFAULT_GUARDRAILS,
    source: str = "<frame>",
    unit_agg: str = "sum",
    time_col: str | None = None,
    spending: str = "obf",
    planned_days: float | None = None,
    srm_alpha: float = 0.001,
) -> Readout:
    """Full readout of a unit-level frame: SRM check, then every metric × treatment arm.

    Sequential methods (see :data:`opsnb.abtest.design.METHODS`): with ``time_col`` there is
    one look a day (units by their assignment time) and the boundary of the last look is used;
    without it the data are a single look. The plan — ``planned_n`` (total units across arms)
    or ``planned_days`` (needs ``time_col``), 0 or None for none — makes ``sequential`` the
    group-sequential design (``spending``: "obf" or "pocock"); without a plan it is the
    always-valid mSPRT. ``srm_alpha``: the SRM check flags the split below this p-value.
    CUPED covariates may be missing for some units (new users): they are kept (see
    :func:`opsnb.abtest.stats.compare_means_cuped`) and counted in ``n_missing_covariate``.
    """
    plan = sequential_plan(method, planned_n, planned_days, spending)
    specs = parse_metrics(metrics, covariates, guardrails)
    stats = arm_stats_from_frame(
        df, variant_col, specs, unit_col=unit_col, cap=cap, source=source, unit_agg=unit_agg
    )
    looks = None
    if time_col and plan.is_sequential:
        looks = looks_from_frame(df, variant_col, time_col, unit_col)
    return _make_readout(
        stats,
        control,
        specs,
        method=method,
        alpha=alpha,
        alternative=alternative,
        correction=correction,
        expected_ratio=expected_ratio,
        prior_sd=prior_sd,
        planned_n=planned_n,
        guardrails=guardrails,
        looks=looks,
        spending=spending,
        planned_days=planned_days,
        srm_alpha=srm_alpha,
    )


def readout_duckdb(
    source: str,
    *,
    con=None,
    variant_col: str = "variant",
    control: str = "control",
    metrics=("converted:proportion",),
    covariates: Mapping[str, str] | None = None,
    where: str | None = None,
    method: str = "frequentist",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    correction: str = "holm",
    cap: float | None = None,
    expected_ratio=None,
    prior_sd: float = math.inf,
    planned_n: float | None = None,
    guardrails: Sequence[str] = DEFAULT_GUARDRAILS,
    spending: str = "obf",
    srm_alpha: float = 0.001,
    unit_col: str | None = None,
    unit_agg: str = "sum",
    time_col: str | None = None,
    planned_days: float | None = None,
) -> Readout:
    """Same as :func:`readout` for a large table, Parquet or CSV file: the sums (per arm, and
    the units per arm and day for the sequential looks) are computed in SQL, so memory does not
    grow with the rows. Without ``time_col`` the data are one look."""
    import duckdb

    plan = sequential_plan(method, planned_n, planned_days, spending)
    specs = parse_metrics(metrics, covariates, guardrails)
    con = con if con is not None else duckdb.connect()
    stats = arm_stats_sql(
        source,
        variant_col,
        specs,
        con=con,
        cap=cap,
        where=where,
        unit_col=unit_col,
        unit_agg=unit_agg,
    )
    looks = None
    if time_col and plan.is_sequential:
        looks = looks_sql(source, variant_col, time_col, con=con, where=where, unit_col=unit_col)
    return _make_readout(
        stats,
        control,
        specs,
        method=method,
        alpha=alpha,
        alternative=alternative,
        correction=correction,
        expected_ratio=expected_ratio,
        prior_sd=prior_sd,
        planned_n=planned_n,
        guardrails=guardrails,
        looks=looks,
        spending=spending,
        planned_days=planned_days,
        srm_alpha=srm_alpha,
    )
