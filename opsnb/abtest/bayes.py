"""Bayesian A/B comparisons: chance to win, expected loss (risk) and credible intervals.

Proportions use Beta-binomial posteriors (``prior=(a, b)``, default the flat Beta(1, 1)); chance
to win and risk are integrated numerically (deterministic, no Monte Carlo). Means, ratios and
CUPED means use a Gaussian approximation of the likelihood of the difference with a flat prior
(``prior_sd=inf``) or a proper Normal prior on the absolute difference.

``risk`` is the expected loss of shipping the treatment, ``E[max(control - treatment, 0)]`` in
metric units (for a metric where lower is better, read ``1 - chance_to_win`` instead).

Examples
--------
>>> from opsnb.abtest import SampleStats
>>> r = bayes_proportions(SampleStats.from_counts(100, 1000), SampleStats.from_counts(130, 1000))
>>> round(r.chance_to_win, 2)
0.98
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import numpy as np

from opsnb.abtest.stats import (
    NAN,
    ComparisonResult,
    PairStats,
    SampleStats,
    check_alpha,
    check_alternative,
    compare_means,
    compare_means_cuped,
    compare_ratios,
    relative_change,
)
from opsnb.errors import ErrorCode

__all__ = [
    "bayes_proportions",
    "bayes_means",
    "bayes_ratios",
    "bayes_means_cuped",
    "bayes_from_result",
]

_NODES = 600


@lru_cache(maxsize=1)
def _nodes() -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(_NODES // 2)


def _beta_win_and_risk(ac, bc, at, bt) -> tuple[float, float]:
    """P(p_t > p_c) and E[max(p_c - p_t, 0)] for independent Beta posteriors (quadrature)."""
    from scipy import stats

    def span(a, b):
        m, sd = a / (a + b), math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        return max(m - 14 * sd, 0.0), min(m + 14 * sd, 1.0)

    (l1, h1), (l2, h2) = span(ac, bc), span(at, bt)
    lo, hi = min(l1, l2), max(h1, h2)
    x, w = _nodes()
    # split the range in two panels for accuracy near the mode
    mid = (lo + hi) / 2
    xs = np.concatenate([(x + 1) / 2 * (mid - lo) + lo, (x + 1) / 2 * (hi - mid) + mid])
    ws = np.concatenate([w * (mid - lo) / 2, w * (hi - mid) / 2])
    fc = stats.beta.pdf(xs, ac, bc)
    win = float(np.sum(ws * fc * stats.beta.sf(xs, at, bt)))
    mean_t = at / (at + bt)
    inner = xs * stats.beta.cdf(xs, at, bt) - mean_t * stats.beta.cdf(xs, at + 1, bt)
    risk = float(np.sum(ws * fc * inner))
    return min(max(win, 0.0), 1.0), max(risk, 0.0)


def bayes_proportions(
    control: SampleStats,
    treatment: SampleStats,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> ComparisonResult:
    """Beta-binomial comparison of two conversion rates.

    The credible interval on the difference (and the relative lift) is the Gaussian
    approximation of the two Beta posteriors; ``chance_to_win`` = P(p_t > p_c) and ``risk`` are
    exact integrals.
    """
    from scipy import stats

    check_alternative(alternative)
    check_alpha(alpha)
    a0, b0 = prior
    if a0 <= 0 or b0 <= 0:
        raise ValueError(f"prior must be two positive Beta parameters, got {prior!r}")
    nc, nt = control.n, treatment.n
    base = dict(
        method="bayes-beta", alternative=alternative, alpha=alpha, n_control=nc, n_treatment=nt
    )
    if nc <= 0 or nt <= 0:
        return ComparisonResult(**base, error_code=ErrorCode.EMPTY_ARM)
    ac, bc = a0 + control.sum, b0 + nc - control.sum
    at, bt = a0 + treatment.sum, b0 + nt - treatment.sum
    mc, mt = ac / (ac + bc), at / (at + bt)
    vc = ac * bc / ((ac + bc) ** 2 * (ac + bc + 1))
    vt = at * bt / ((at + bt) ** 2 * (at + bt + 1))
    est, se = mt - mc, math.sqrt(vc + vt)
    z = float(stats.norm.ppf(1 - alpha / 2))
    rel, rse = relative_change(mc, vc, mt, vt)
    win, risk = _beta_win_and_risk(ac, bc, at, bt)
    return ComparisonResult(
        **base,
        control_mean=control.sum / nc,
        treatment_mean=treatment.sum / nt,
        estimate=est,
        ci_low=est - z * se,
        ci_high=est + z * se,
        se=se,
        rel_estimate=rel,
        rel_ci_low=rel - z * rse,
        rel_ci_high=rel + z * rse,
        chance_to_win=win,
        risk=risk,
    )


def bayes_from_result(
    result: ComparisonResult, *, prior_mean: float = 0.0, prior_sd: float = math.inf
) -> ComparisonResult:
    """Turn a frequentist result into a Gaussian-posterior one (flat or Normal prior on the
    absolute difference). The frequentist p-value is dropped; the relative interval is scaled
    with the absolute one."""
    from scipy import stats

    method = f"bayes-{result.method}"
    if result.error_code or not result.se > 0:
        return replace(
            result,
            method=method,
            p_value=NAN,
            statistic=NAN,
            error_code=result.error_code or ErrorCode.ZERO_VARIANCE,
        )
    v = result.se**2
    if math.isfinite(prior_sd):
        if prior_sd <= 0:
            raise ValueError(
                f"prior_sd must be positive (or inf for a flat prior), got {prior_sd!r}"
            )
        prec = 1 / v + 1 / prior_sd**2
        mu = (result.estimate / v + prior_mean / prior_sd**2) / prec
        sd = math.sqrt(1 / prec)
    else:
        mu, sd = result.estimate, math.sqrt(v)
    z = float(stats.norm.ppf(1 - result.alpha / 2))
    win = float(stats.norm.cdf(mu / sd))
    risk = float(sd * stats.norm.pdf(mu / sd) - mu * stats.norm.cdf(-mu / sd))
    shrink = mu / result.estimate if result.estimate else 1.0
    rel = result.rel_estimate * shrink
    rhalf = (
        (result.rel_ci_high - result.rel_ci_low) / 2 * sd / result.se
        if math.isfinite(result.rel_ci_high - result.rel_ci_low)
        else NAN
    )
    return replace(
        result,
        method=method,
        alternative="two-sided",
        estimate=mu,
        se=sd,
        ci_low=mu - z * sd,
        ci_high=mu + z * sd,
        rel_estimate=rel,
        rel_ci_low=rel - rhalf,
        rel_ci_high=rel + rhalf,
        p_value=NAN,
        statistic=NAN,
        chance_to_win=win,
        risk=max(risk, 0.0),
    )


def bayes_means(
    control: SampleStats,
    treatment: SampleStats,
    *,
    prior_mean: float = 0.0,
    prior_sd: float = math.inf,
    alpha: float = 0.05,
) -> ComparisonResult:
    """Gaussian-approximation posterior of the difference in means."""
    return bayes_from_result(
        compare_means(control, treatment, alpha=alpha), prior_mean=prior_mean, prior_sd=prior_sd
    )


def bayes_ratios(
    control: PairStats,
    treatment: PairStats,
    *,
    prior_mean: float = 0.0,
    prior_sd: float = math.inf,
    alpha: float = 0.05,
) -> ComparisonResult:
    """Gaussian-approximation posterior of the difference of two ratio metrics."""
    return bayes_from_result(
        compare_ratios(control, treatment, alpha=alpha), prior_mean=prior_mean, prior_sd=prior_sd
    )


def bayes_means_cuped(
    control: PairStats,
    treatment: PairStats,
    *,
    prior_mean: float = 0.0,
    prior_sd: float = math.inf,
    alpha: float = 0.05,
) -> ComparisonResult:
    """Gaussian-approximation posterior of the CUPED-adjusted difference in means."""
    return bayes_from_result(
        compare_means_cuped(control, treatment, alpha=alpha),
        prior_mean=prior_mean,
        prior_sd=prior_sd,
    )
