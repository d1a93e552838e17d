"""Bayesian A/B comparisons: chance to win, expected loss (risk) and credible intervals.

Proportions use Beta-binomial posteriors (``prior=(a, b)``, default the flat Beta(1, 1)); chance
to win and risk are integrated numerically (deterministic, no Monte Carlo). Means, ratios and
CUPED means use a Gaussian approximation of the likelihood of the difference with a flat prior
(``prior_sd=inf``) or a proper Normal prior on the absolute difference.

``risk`` is the expected loss of shipping the treatment, ``E[max(control - treatment, 0)]`` in
metric units (for a metric where lower is better, read ``1 - chance_to_win`` instead).

The relative credible interval comes from the posterior of the ratio itself: equal-tailed
quantiles of ``p_t / p_c - 1`` under the two Beta posteriors (quadrature), or, for the Gaussian
posterior, of ``Δ / μ_c`` from the joint Normal posterior of the control mean and the difference
(``P(Δ - r μ_c > 0)`` is Normal for every ``r``, so the ends solve a quadratic). Either way it
excludes 0 exactly when ``chance_to_win`` is above ``1 - α/2`` or below ``α/2``, the rule the
decision uses.

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


def _beta_grid(ac, bc, at, bt) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights covering both Beta posteriors (two Gauss–Legendre panels)."""

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
    return xs, ws


def _beta_win_and_risk(ac, bc, at, bt) -> tuple[float, float]:
    """P(p_t > p_c) and E[max(p_c - p_t, 0)] for independent Beta posteriors (quadrature)."""
    from scipy import stats

    xs, ws = _beta_grid(ac, bc, at, bt)
    fc = stats.beta.pdf(xs, ac, bc)
    win = float(np.sum(ws * fc * stats.beta.sf(xs, at, bt)))
    mean_t = at / (at + bt)
    inner = xs * stats.beta.cdf(xs, at, bt) - mean_t * stats.beta.cdf(xs, at + 1, bt)
    risk = float(np.sum(ws * fc * inner))
    return min(max(win, 0.0), 1.0), max(risk, 0.0)


def _beta_ratio_interval(ac, bc, at, bt, alpha: float) -> tuple[float, float]:
    """Equal-tailed ``1 - alpha`` interval of ``p_t / p_c - 1`` for independent Beta posteriors:
    ``P(p_t / p_c <= r) = ∫ f_c(x) F_t(r x) dx`` on the grid of the chance to win, solved for
    ``alpha/2`` and ``1 - alpha/2``."""
    from scipy import optimize, stats

    xs, ws = _beta_grid(ac, bc, at, bt)
    wf = ws * stats.beta.pdf(xs, ac, bc)

    def cdf(log_r: float) -> float:
        return float(wf @ stats.beta.cdf(np.minimum(math.exp(log_r) * xs, 1.0), at, bt))

    out = []
    for target in (alpha / 2, 1 - alpha / 2):
        g = lambda u: cdf(u) - target  # noqa: E731
        lo, hi = -40.0, 40.0
        if g(lo) >= 0 or g(hi) <= 0:
            out.append(NAN)
            continue
        out.append(math.exp(optimize.brentq(g, lo, hi, xtol=1e-12)) - 1)
    return out[0], out[1]


def _gaussian_ratio_interval(mean, cov, z: float) -> tuple[float, float]:
    """Equal-tailed interval of ``r = Δ / μ_c`` under a joint Normal posterior of ``(μ_c, Δ)``
    (``mean``, 2x2 ``cov``): ``P(r > ρ) = Φ((Δ̄ - ρ μ̄_c) / sd(Δ - ρ μ_c))`` for μ_c > 0, so the
    ends are the roots of ``(Δ̄ - ρ μ̄_c)² = z² Var(Δ - ρ μ_c)``; NaN when the posterior of μ_c
    is too close to 0 for the ratio to be bounded."""
    (mc, d), ((scc, scd), (_, sdd)) = mean, cov
    a = mc * mc - z * z * scc
    b = mc * d - z * z * scd
    c = d * d - z * z * sdd
    disc = b * b - a * c
    if not (a > 0 and disc >= 0):
        return NAN, NAN
    root = math.sqrt(disc)
    return (b - root) / a, (b + root) / a


def bayes_proportions(
    control: SampleStats,
    treatment: SampleStats,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> ComparisonResult:
    """Beta-binomial comparison of two conversion rates.

    The credible interval on the difference is the Gaussian approximation of the two Beta
    posteriors; ``chance_to_win`` = P(p_t > p_c), ``risk`` and the relative interval (quantiles
    of ``p_t / p_c - 1``) are integrals over the Beta posteriors.
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
    rel = mt / mc - 1
    rlo, rhi = _beta_ratio_interval(ac, bc, at, bt, alpha)
    win, risk = _beta_win_and_risk(ac, bc, at, bt)
    return ComparisonResult(
        **base,
        control_mean=control.sum / nc,
        treatment_mean=treatment.sum / nt,
        estimate=est,
        ci_low=est - z * se,
        ci_high=est + z * se,
        se=se,
        se_control=math.sqrt(vc),
        se_treatment=math.sqrt(vt),
        rel_estimate=rel,
        rel_ci_low=rlo,
        rel_ci_high=rhi,
        chance_to_win=win,
        risk=risk,
    )


def bayes_from_result(
    result: ComparisonResult, *, prior_mean: float = 0.0, prior_sd: float = math.inf
) -> ComparisonResult:
    """Turn a frequentist result into a Gaussian-posterior one (flat or Normal prior on the
    absolute difference, flat prior on the control mean). The frequentist p-value is dropped.

    The arm means are Normal with the variances of the result (``se_control``,
    ``se_treatment``); the joint posterior of (control mean, difference) gives the relative
    lift ``Δ / μ_c`` (its posterior median) and its equal-tailed credible interval
    (:func:`_gaussian_ratio_interval`)."""
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
    if math.isfinite(prior_sd) and prior_sd <= 0:
        raise ValueError(f"prior_sd must be positive (or inf for a flat prior), got {prior_sd!r}")
    vc, vt = result.se_control**2, result.se_treatment**2
    if not (vc == vc and vt == vt):  # arm variances unknown: split the difference's evenly
        vc = vt = result.se**2 / 2
    # posterior of (μ_c, Δ): m̂_c ~ N(μ_c, vc), m̂_t ~ N(μ_c + Δ, vt), Δ ~ N(prior_mean, prior_sd²)
    prior_prec = 1 / prior_sd**2 if math.isfinite(prior_sd) else 0.0
    prec = np.array([[1 / vc + 1 / vt, 1 / vt], [1 / vt, 1 / vt + prior_prec]])
    rhs = np.array(
        [
            result.control_mean / vc + result.treatment_mean / vt,
            result.treatment_mean / vt + prior_mean * prior_prec,
        ]
    )
    cov = np.linalg.inv(prec)
    post = cov @ rhs
    if prior_prec == 0.0:  # flat prior: exactly the observed difference
        post[1] = result.estimate
    mu, sd = float(post[1]), math.sqrt(cov[1, 1])
    z = float(stats.norm.ppf(1 - result.alpha / 2))
    win = float(stats.norm.cdf(mu / sd))
    risk = float(sd * stats.norm.pdf(mu / sd) - mu * stats.norm.cdf(-mu / sd))
    rel = mu / float(post[0]) if post[0] else NAN
    rlo, rhi = _gaussian_ratio_interval(post, cov, z)
    return replace(
        result,
        method=method,
        alternative="two-sided",
        estimate=mu,
        se=sd,
        ci_low=mu - z * sd,
        ci_high=mu + z * sd,
        rel_estimate=rel,
        rel_ci_low=rlo,
        rel_ci_high=rhi,
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
