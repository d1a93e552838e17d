"""Sequential monitoring: always-valid confidence intervals and p-values (mixture SPRT).

Looking at a fixed-horizon test every day and stopping at the first p < 0.05 inflates the false
positive rate far above 5 %. The normal-mixture sequential probability ratio test (mSPRT;
Robbins 1970, Johari et al. 2017, as in GrowthBook and Optimizely) gives an interval that holds
at every look simultaneously, so a shop may check daily and stop any time.

For an estimate ``d`` with variance ``V`` and mixing variance ``τ²`` the mixture likelihood
ratio is ``Λ = sqrt(V / (V + τ²)) · exp(τ² d² / (2 V (V + τ²)))``; the always-valid p-value is
the running minimum of ``min(1, 1/Λ)`` and the interval is
``d ± sqrt(V (V + τ²) / τ² · (2 log(1/α) + log((V + τ²) / V)))``.
``τ²`` must be fixed in advance, independently of the data: it is set from the planned sample
size (the interval is tightest there) or, without a plan, from :data:`DEFAULT_TUNING_N` units
(GrowthBook's default tuning). Any fixed ``τ²`` keeps the guarantee; a poor one only widens the
interval (tuned for 5 000 units, the half-width at 2 million is about 25 % wider than at the
optimum). The relative interval is Fieller's with the same multiplier, so it excludes 0 exactly
when the always-valid test rejects.

Examples
--------
>>> from opsnb.abtest import SampleStats
>>> r = sequential_proportions(SampleStats.from_counts(100, 1000), SampleStats.from_counts(130, 1000))
>>> r.ci_high - r.ci_low > 0.06  # wider than the fixed-horizon interval (≈ 0.058)
True
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from opsnb.abtest.stats import (
    NAN,
    ComparisonResult,
    PairStats,
    SampleStats,
    compare_means,
    compare_means_cuped,
    compare_proportions,
    compare_ratios,
    relative_interval_fieller,
)
from opsnb.errors import ErrorCode

__all__ = [
    "DEFAULT_TUNING_N",
    "mixing_variance",
    "planned_mixing_variance",
    "sequential_from_result",
    "sequential_proportions",
    "sequential_means",
    "sequential_ratios",
    "sequential_means_cuped",
    "always_valid_bounds",
]


def mixing_variance(v_planned, alpha: float = 0.05):
    """τ² that makes the always-valid interval tightest when the estimate's variance reaches
    ``v_planned`` (Howard et al. 2021, eq. 3.11): ``v · (-2 log α + log(1 - 2 log α))``."""
    la = -2 * math.log(alpha)
    return np.asarray(v_planned, dtype=float) * (la + math.log(la + 1))


DEFAULT_TUNING_N = 5000.0
"""Total units the mixing variance is tuned for when no plan is given (GrowthBook's default
``sequential_tuning_parameter``)."""


def planned_mixing_variance(variance, n_now, planned_n=None, alpha: float = 0.05):
    """τ² for an estimate whose variance is ``variance`` with ``n_now`` units, tuned for
    ``planned_n`` total units (default :data:`DEFAULT_TUNING_N`): the variance is scaled to the
    planned size as ``variance · n_now / planned_n``, so τ² stays the same look after look."""
    planned = DEFAULT_TUNING_N if planned_n is None else float(planned_n)
    if not planned > 0:
        raise ValueError(f"planned_n must be positive, got {planned_n!r}")
    return mixing_variance(np.asarray(variance, dtype=float) * n_now / planned, alpha)


def always_valid_bounds(estimate, variance, tau2, alpha: float = 0.05):
    """Vectorised (half_width, p_value) of the mSPRT for each look (p-value not yet
    running-minimised)."""
    d = np.asarray(estimate, dtype=float)
    v = np.asarray(variance, dtype=float)
    t2 = np.asarray(tau2, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.sqrt(v * (v + t2) / t2 * (2 * math.log(1 / alpha) + np.log((v + t2) / v)))
        log_lr = 0.5 * np.log(v / (v + t2)) + t2 * d * d / (2 * v * (v + t2))
        p = np.minimum(1.0, np.exp(-log_lr))
    return half, p


def sequential_from_result(
    result: ComparisonResult,
    *,
    planned_n: float | None = None,
    tau2: float | None = None,
    looks: int = 1,
    previous_p: float = 1.0,
) -> ComparisonResult:
    """Replace a fixed-horizon interval and p-value by always-valid ones.

    ``planned_n``: total units planned across both arms (default :data:`DEFAULT_TUNING_N`, a
    fixed tuning: the guarantee needs a ``τ²`` that does not move with the data) — sets ``τ²``
    unless ``tau2`` is given. ``previous_p``: smallest always-valid p-value of earlier looks.
    ``info_fraction`` is set to the units so far over ``planned_n`` when a plan is given.
    """
    method = f"sequential-{result.method}"
    if result.alternative != "two-sided":
        raise ValueError(
            "sequential tests are two-sided; got alternative="
            f"{result.alternative!r} (allowed: 'two-sided')"
        )
    v = result.se**2 if result.se == result.se else NAN
    if result.error_code or not v > 0:
        return replace(
            result,
            method=method,
            ci_low=NAN,
            ci_high=NAN,
            rel_ci_low=NAN,
            rel_ci_high=NAN,
            p_value=NAN,
            looks=looks,
            error_code=result.error_code or ErrorCode.ZERO_VARIANCE,
        )
    n_now = result.n_control + result.n_treatment
    if tau2 is None:
        tau2 = float(planned_mixing_variance(v, n_now, planned_n, result.alpha))
    half, p = always_valid_bounds(result.estimate, v, tau2, result.alpha)
    half, p = float(half), min(float(p), previous_p)
    k = half / math.sqrt(v)
    rlo, rhi = relative_interval_fieller(
        result.control_mean, result.se_control**2, result.treatment_mean, result.se_treatment**2, k
    )
    return replace(
        result,
        method=method,
        ci_low=result.estimate - half,
        ci_high=result.estimate + half,
        rel_ci_low=rlo,
        rel_ci_high=rhi,
        p_value=p,
        looks=looks,
        info_fraction=n_now / float(planned_n) if planned_n else NAN,
    )


def sequential_proportions(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alpha: float = 0.05,
    planned_n: float | None = None,
    tau2: float | None = None,
) -> ComparisonResult:
    """Always-valid comparison of two conversion rates (unpooled standard error)."""
    return sequential_from_result(
        compare_proportions(control, treatment, alpha=alpha), planned_n=planned_n, tau2=tau2
    )


def sequential_means(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alpha: float = 0.05,
    planned_n: float | None = None,
    tau2: float | None = None,
) -> ComparisonResult:
    """Always-valid comparison of two means."""
    return sequential_from_result(
        compare_means(control, treatment, alpha=alpha), planned_n=planned_n, tau2=tau2
    )


def sequential_ratios(
    control: PairStats,
    treatment: PairStats,
    *,
    alpha: float = 0.05,
    planned_n: float | None = None,
    tau2: float | None = None,
) -> ComparisonResult:
    """Always-valid comparison of two ratio metrics (delta method)."""
    return sequential_from_result(
        compare_ratios(control, treatment, alpha=alpha), planned_n=planned_n, tau2=tau2
    )


def sequential_means_cuped(
    control: PairStats,
    treatment: PairStats,
    *,
    alpha: float = 0.05,
    planned_n: float | None = None,
    tau2: float | None = None,
) -> ComparisonResult:
    """Always-valid CUPED-adjusted comparison of two means."""
    return sequential_from_result(
        compare_means_cuped(control, treatment, alpha=alpha), planned_n=planned_n, tau2=tau2
    )
