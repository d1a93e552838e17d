"""A/B test statistics on sufficient statistics: proportions, means, ratios, CUPED, SRM, corrections.

Every comparison takes the control arm first and the treatment arm second and returns a
:class:`ComparisonResult` (a frozen dataclass) whose ``estimate`` is ``treatment - control``
and whose ``rel_estimate`` is ``treatment / control - 1``.

Relative intervals invert the same test as the p-value, so the relative interval excludes 0
exactly when that test rejects: for proportions the Koopman score interval of the risk ratio
(its test at ratio 1 is the pooled z-test reported as ``p_value``; statsmodels
``confint_proportions_2indep(compare="ratio", method="score", correction=False)``), for means,
ratio metrics and CUPED the Fieller interval built from the same standard errors and quantile as
the Welch / delta-method / CUPED test. Both stay inside (-100 %, ∞) whenever the arm means are
significantly above 0 (always for proportions).

Inputs are sufficient statistics
(counts, sums, sums of squares, cross-products), so the same code serves a 20-row CSV and a
10-million-row Parquet file aggregated in DuckDB (see :mod:`opsnb.abtest.analysis`).

Bayesian and sequential versions live in :mod:`opsnb.abtest.bayes` and
:mod:`opsnb.abtest.sequential`; power and sample size in :mod:`opsnb.abtest.power`.

Examples
--------
>>> r = compare_proportions(SampleStats.from_counts(100, 1000), SampleStats.from_counts(130, 1000))
>>> round(r.estimate, 3), r.p_value < 0.05
(0.03, True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from opsnb.errors import ErrorCode, SampleRatioMismatchWarning, SmallSampleWarning
from opsnb.results import Result

__all__ = [
    "SampleStats",
    "PairStats",
    "ComparisonResult",
    "SRMResult",
    "ALTERNATIVES",
    "compare_proportions",
    "compare_means",
    "compare_ratios",
    "compare_means_cuped",
    "cuped_adjust",
    "srm_check",
    "correct_pvalues",
    "winsorize",
    "check_alternative",
    "check_alpha",
    "relative_change",
    "relative_interval_fieller",
    "relative_interval_score",
]

ALTERNATIVES = ("two-sided", "larger", "smaller")
NAN = float("nan")
SMALL_N = 30  # below this per arm a normal/t approximation for means is shaky


# --------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class SampleStats:
    """Sufficient statistics of one arm for a mean or a proportion.

    For a 0/1 metric ``sum`` is the number of successes and ``sum_squares == sum``.
    """

    n: float
    sum: float
    sum_squares: float

    @classmethod
    def from_counts(cls, successes: float, n: float) -> SampleStats:
        return cls(float(n), float(successes), float(successes))

    @classmethod
    def from_values(cls, values) -> SampleStats:
        v = np.asarray(values, dtype=float)
        v = v[~np.isnan(v)]
        return cls(float(v.size), float(v.sum()), float((v * v).sum()))

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n > 0 else NAN

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1), clipped at 0 against rounding."""
        if self.n < 2:
            return NAN
        return max((self.sum_squares - self.sum * self.sum / self.n) / (self.n - 1), 0.0)


@dataclass(frozen=True)
class PairStats:
    """Sufficient statistics of one arm for a metric ``y`` and a second variable ``x``.

    ``x`` is the denominator of a ratio metric (``compare_ratios``: AOV = gmv / orders) or a
    pre-period covariate (``compare_means_cuped``).

    A covariate may be missing (a new user has no pre-period): such units are kept with ``x``
    filled by 0 and counted in ``n_missing``, ``sum_y_missing`` holding the sum of their ``y``
    (the missing indicator's sufficient statistics). ``n`` and the ``y`` sums cover every unit,
    the ``x`` sums the units with a covariate. A ratio metric needs its denominator: there
    ``n_missing`` stays 0 and units without ``x`` are left out.
    """

    n: float
    sum_y: float
    sum_y2: float
    sum_x: float
    sum_x2: float
    sum_xy: float
    n_missing: float = 0.0
    sum_y_missing: float = 0.0

    @classmethod
    def from_values(cls, y, x, *, missing: str = "drop") -> PairStats:
        """``missing``: "drop" leaves out units without ``x`` (a ratio's denominator);
        "indicator" keeps them with ``x = 0`` and a missing indicator (a CUPED covariate)."""
        if missing not in ("drop", "indicator"):
            raise ValueError(f"missing must be one of ('drop', 'indicator'), got {missing!r}")
        y = np.asarray(y, dtype=float)
        x = np.asarray(x, dtype=float)
        gap = np.isnan(x)
        ok = ~np.isnan(y) if missing == "indicator" else ~(np.isnan(y) | gap)
        y, x, gap = y[ok], np.where(gap, 0.0, x)[ok], gap[ok]
        return cls(
            float(y.size),
            float(y.sum()),
            float((y * y).sum()),
            float(x.sum()),
            float((x * x).sum()),
            float((x * y).sum()),
            float(gap.sum()),
            float(y[gap].sum()),
        )

    def moments(self) -> tuple[float, float, float, float, float]:
        """(mean_y, mean_x, var_y, var_x, cov_xy) with ddof=1 (NaN when n < 2)."""
        n = self.n
        if n < 2:
            return (self.sum_y / n if n else NAN, self.sum_x / n if n else NAN, NAN, NAN, NAN)
        my, mx = self.sum_y / n, self.sum_x / n
        vy = max((self.sum_y2 - n * my * my) / (n - 1), 0.0)
        vx = max((self.sum_x2 - n * mx * mx) / (n - 1), 0.0)
        cxy = (self.sum_xy - n * mx * my) / (n - 1)
        return my, mx, vy, vx, cxy


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ComparisonResult(Result):
    """Treatment versus control on one metric.

    ``estimate``/``ci_low``/``ci_high``: absolute difference treatment - control and its interval;
    ``rel_*``: relative lift treatment / control - 1. ``chance_to_win``/``risk`` are filled by
    Bayesian methods (risk = expected loss of shipping, in metric units), ``variance_reduction``
    and ``n_missing_covariate`` (units kept without a pre-period value) by CUPED, ``looks`` and
    ``info_fraction`` (share of the planned information reached) by sequential methods.
    ``se_control``/``se_treatment`` are the standard errors of the arm means the test uses
    (unpooled). Degenerate data: NaN numbers and ``error_code``.
    """

    method: str
    alternative: str = "two-sided"
    alpha: float = 0.05
    metric: str = ""
    variant: str = ""
    n_control: float = NAN
    n_treatment: float = NAN
    control_mean: float = NAN
    treatment_mean: float = NAN
    estimate: float = NAN
    ci_low: float = NAN
    ci_high: float = NAN
    rel_estimate: float = NAN
    rel_ci_low: float = NAN
    rel_ci_high: float = NAN
    p_value: float = NAN
    statistic: float = NAN
    se: float = NAN
    chance_to_win: float = NAN
    risk: float = NAN
    variance_reduction: float = NAN
    looks: int = 1
    error_code: str = ErrorCode.OK
    se_control: float = NAN
    se_treatment: float = NAN
    n_missing_covariate: float = NAN
    info_fraction: float = NAN

    def with_names(self, metric: str, variant: str) -> ComparisonResult:
        return replace(self, metric=metric, variant=variant)


@dataclass(frozen=True)
class SRMResult:
    """Sample-ratio-mismatch check: χ² goodness of fit of arm sizes to the planned split."""

    statistic: float
    p_value: float
    counts: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)
    flagged: bool = False
    threshold: float = 0.001
    error_code: str = ErrorCode.OK

    def to_dict(self) -> dict:
        return asdict(self)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(
            {
                "variant": list(self.counts),
                "n": list(self.counts.values()),
                "expected": [self.expected.get(k, NAN) for k in self.counts],
            }
        )


# --------------------------------------------------------------------------- helpers
def check_alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    return alternative


def check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha!r}")
    return float(alpha)


def _sf(stat: float, df: float | None) -> float:
    from scipy import special

    if df is None or not np.isfinite(df):
        return float(special.ndtr(-stat))
    return float(special.stdtr(df, -stat))


def _p_from_stat(stat: float, alternative: str, df: float | None = None) -> float:
    if alternative == "two-sided":
        return 2 * _sf(abs(stat), df)
    if alternative == "larger":
        return _sf(stat, df)
    return _sf(-stat, df)


def _quantile(alpha: float, alternative: str, df: float | None = None) -> float:
    from scipy import special

    q = 1 - alpha / 2 if alternative == "two-sided" else 1 - alpha
    if df is None or not np.isfinite(df):
        return float(special.ndtri(q))
    return float(special.stdtrit(df, q))


def _interval(est: float, se: float, q: float, alternative: str) -> tuple[float, float]:
    lo, hi = est - q * se, est + q * se
    if alternative == "larger":
        hi = math.inf
    elif alternative == "smaller":
        lo = -math.inf
    return lo, hi


def relative_change(mc: float, vc: float, mt: float, vt: float) -> tuple[float, float]:
    """Relative lift mt/mc - 1 and its delta-method standard error (vc, vt: variances of means)."""
    if not mc:
        return NAN, NAN
    rel = mt / mc - 1
    var = vt / mc**2 + mt**2 * vc / mc**4
    return rel, math.sqrt(max(var, 0.0))


def relative_interval_fieller(
    mc: float, vc: float, mt: float, vt: float, q: float, alternative: str = "two-sided"
) -> tuple[float, float]:
    """Fieller interval of the relative lift ``mt / mc - 1`` from arm means and the variances of
    the means (independent arms): the ratios ``ρ`` with ``|mt - ρ mc| / sqrt(vt + ρ² vc) < q``.

    At ``ρ = 1`` the criterion is the test of ``mt - mc = 0`` with standard error
    ``sqrt(vc + vt)`` and critical value ``q``, so the interval excludes 0 exactly when that test
    rejects. ``q``: the test's quantile (two-sided ``z_{1-α/2}``, Welch's t, a sequential
    boundary). NaN when the set is unbounded (the control mean is not significantly different
    from 0: no relative change can be bounded). One-sided: the other end is ±inf.

    >>> [round(v, 4) for v in relative_interval_fieller(10.0, 0.04, 11.0, 0.04, 1.959964)]
    [0.0433, 0.16]
    """
    a = mc * mc - q * q * vc
    if not (a > 0 and vt >= 0 and vc >= 0):
        return NAN, NAN
    root = q * math.sqrt(vc * mt * mt + vt * a)
    lo, hi = (mc * mt - root) / a - 1, (mc * mt + root) / a - 1
    if alternative == "two-sided":
        return lo, hi
    up = (alternative == "larger") == (mc > 0)  # the ratio moves with the difference
    return (lo, math.inf) if up else (-math.inf, hi)


def _score_z(rho: float, xc: float, nc: float, xt: float, nt: float) -> float:
    """Score statistic of H0: p_t = ρ p_c (Koopman 1984; Miettinen & Nurminen 1985 without
    their N/(N-1) factor): ``(p̂_t - ρ p̂_c) / sqrt(p̃_t(1-p̃_t)/n_t + ρ² p̃_c(1-p̃_c)/n_c)`` with
    the proportions ``p̃`` estimated under H0. At ρ = 1 it is the pooled two-proportion z."""
    n, x = nc + nt, xc + xt
    if rho == 1.0:
        p0 = x / n
    else:
        a = n * rho
        b = -(nt * rho + xt + nc + xc * rho)
        p0 = (-b - math.sqrt(max(b * b - 4 * a * x, 0.0))) / (2 * a)
    p1 = min(rho * p0, 1.0)
    var = p1 * (1 - p1) / nt + rho * rho * p0 * (1 - p0) / nc
    diff = xt / nt - rho * xc / nc
    if var <= 0:
        return math.copysign(math.inf, diff) if diff else 0.0
    return diff / math.sqrt(var)


def relative_interval_score(
    xc: float, nc: float, xt: float, nt: float, q: float, alternative: str = "two-sided"
) -> tuple[float, float]:
    """Koopman score interval of the relative lift ``p_t / p_c - 1`` of two proportions: the
    ratios whose score test does not reject at critical value ``q``.

    The score test at ratio 1 is the pooled two-proportion z-test, so the interval excludes 0
    exactly when :func:`compare_proportions` reports ``p_value < α``. Always inside
    (-100 %, ∞); the upper end is ∞ when the control arm has no success. Matches
    ``statsmodels.stats.proportion.confint_proportions_2indep(xt, nt, xc, nc,
    compare="ratio", method="score", correction=False)``.
    """
    from scipy import optimize

    if min(nc, nt) <= 0 or (xc <= 0 and xt <= 0) or (xc >= nc and xt >= nt):
        return NAN, NAN

    def end(target: float, natural: float) -> float:
        g = lambda u: _score_z(math.exp(u), xc, nc, xt, nt) - target  # noqa: E731
        lo_u, hi_u = -30.0, 30.0
        if g(lo_u) <= 0:  # even a ratio near 0 is not rejected
            return natural if target > 0 else 0.0
        if g(hi_u) >= 0:
            return math.inf if target < 0 else natural
        return math.exp(optimize.brentq(g, lo_u, hi_u, xtol=1e-13, rtol=1e-15))

    lo = 0.0 if xt <= 0 else end(q, 0.0)
    hi = math.inf if xc <= 0 else end(-q, math.inf)
    if alternative == "larger":
        hi = math.inf
    elif alternative == "smaller":
        lo = 0.0
    return lo - 1, hi - 1


def _finish(
    method: str,
    alternative: str,
    alpha: float,
    nc: float,
    nt: float,
    mc: float,
    mt: float,
    vc: float,
    vt: float,
    df: float | None = None,
    **extra,
) -> ComparisonResult:
    """Build a frequentist result from arm means and the variances of the means; the relative
    interval is Fieller's with the test's own standard errors and quantile."""
    est = mt - mc
    se = math.sqrt(vc + vt)
    base = dict(
        method=method,
        alternative=alternative,
        alpha=alpha,
        n_control=nc,
        n_treatment=nt,
        control_mean=mc,
        treatment_mean=mt,
        estimate=est,
        se_control=math.sqrt(max(vc, 0.0)),
        se_treatment=math.sqrt(max(vt, 0.0)),
        **extra,
    )
    if not se > 0:
        return ComparisonResult(**base, error_code=ErrorCode.ZERO_VARIANCE)
    q = _quantile(alpha, alternative, df)
    stat = est / se
    lo, hi = _interval(est, se, q, alternative)
    rel = mt / mc - 1 if mc else NAN
    rlo, rhi = relative_interval_fieller(mc, vc, mt, vt, q, alternative)
    return ComparisonResult(
        **base,
        ci_low=lo,
        ci_high=hi,
        rel_estimate=rel,
        rel_ci_low=rlo,
        rel_ci_high=rhi,
        p_value=_p_from_stat(stat, alternative, df),
        statistic=stat,
        se=se,
    )


def _empty(method, alternative, alpha, nc, nt, code, mc=NAN, mt=NAN) -> ComparisonResult:
    return ComparisonResult(
        method=method,
        alternative=alternative,
        alpha=alpha,
        n_control=nc,
        n_treatment=nt,
        control_mean=mc,
        treatment_mean=mt,
        error_code=code,
    )


def _warn_small(n: float, what: str) -> None:
    warnings.warn(
        f"only {n:g} units in an arm for {what}: the approximation may be poor",
        SmallSampleWarning,
        stacklevel=3,
    )


# --------------------------------------------------------------------------- comparisons
def _wilson(x: float, n: float, z: float) -> tuple[float, float]:
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def compare_proportions(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alternative: str = "two-sided",
    alpha: float = 0.05,
) -> ComparisonResult:
    """Two-proportion z-test (pooled variance) with a Newcombe hybrid-score (Wilson) interval.

    The p-value matches ``statsmodels.stats.proportion.proportions_ztest``; the interval on the
    difference matches ``confint_proportions_2indep(..., method="newcomb")``. The relative lift
    interval is the Koopman score interval of the risk ratio (:func:`relative_interval_score`),
    which inverts the same pooled z-test: it excludes 0 exactly when ``p_value < alpha``.
    """
    check_alternative(alternative)
    check_alpha(alpha)
    nc, nt, xc, xt = control.n, treatment.n, control.sum, treatment.sum
    method = "z-test"
    if nc <= 0 or nt <= 0:
        return _empty(method, alternative, alpha, nc, nt, ErrorCode.EMPTY_ARM)
    pc, pt = xc / nc, xt / nt
    if min(xc, nc - xc, xt, nt - xt) < 5:
        _warn_small(
            min(xc, nc - xc, xt, nt - xt), "a proportion (fewer than 5 successes or failures)"
        )
    est = pt - pc
    pooled = (xc + xt) / (nc + nt)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nt))
    z = _quantile(alpha, alternative)
    lc, uc = _wilson(xc, nc, z)
    lt, ut = _wilson(xt, nt, z)
    lo = est - math.sqrt((pt - lt) ** 2 + (uc - pc) ** 2)
    hi = est + math.sqrt((ut - pt) ** 2 + (pc - lc) ** 2)
    if alternative == "larger":
        hi = math.inf
    elif alternative == "smaller":
        lo = -math.inf
    vc, vt = pc * (1 - pc) / nc, pt * (1 - pt) / nt
    rel = pt / pc - 1 if pc else NAN
    rlo, rhi = relative_interval_score(xc, nc, xt, nt, z, alternative) if se0 > 0 else (NAN, NAN)
    base = dict(
        method=method,
        alternative=alternative,
        alpha=alpha,
        n_control=nc,
        n_treatment=nt,
        control_mean=pc,
        treatment_mean=pt,
        estimate=est,
        ci_low=lo,
        ci_high=hi,
        rel_estimate=rel,
        rel_ci_low=rlo,
        rel_ci_high=rhi,
        se=math.sqrt(vc + vt),
        se_control=math.sqrt(vc),
        se_treatment=math.sqrt(vt),
    )
    if se0 == 0:
        return ComparisonResult(**base, error_code=ErrorCode.ZERO_VARIANCE)
    stat = est / se0
    return ComparisonResult(**base, statistic=stat, p_value=_p_from_stat(stat, alternative))


def compare_means(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alternative: str = "two-sided",
    alpha: float = 0.05,
) -> ComparisonResult:
    """Welch's t-test (unequal variances, Welch–Satterthwaite df); delta-method relative lift.

    Matches ``scipy.stats.ttest_ind(..., equal_var=False)``.
    """
    check_alternative(alternative)
    check_alpha(alpha)
    nc, nt = control.n, treatment.n
    method = "welch"
    if nc <= 0 or nt <= 0:
        return _empty(method, alternative, alpha, nc, nt, ErrorCode.EMPTY_ARM)
    if nc < 2 or nt < 2:
        return _empty(
            method,
            alternative,
            alpha,
            nc,
            nt,
            ErrorCode.TOO_FEW_OBSERVATIONS,
            control.mean,
            treatment.mean,
        )
    if min(nc, nt) < SMALL_N:
        _warn_small(min(nc, nt), "a mean")
    vc, vt = control.variance / nc, treatment.variance / nt
    denom = (vc**2 / (nc - 1) if vc else 0) + (vt**2 / (nt - 1) if vt else 0)
    df = (vc + vt) ** 2 / denom if denom > 0 else NAN
    return _finish(method, alternative, alpha, nc, nt, control.mean, treatment.mean, vc, vt, df)


def _ratio_moments(s: PairStats) -> tuple[float, float]:
    """Ratio sum_y/sum_x and the delta-method variance of that ratio."""
    my, mx, vy, vx, cxy = s.moments()
    if not mx:
        return NAN, NAN
    r = my / mx
    var = (vy - 2 * r * cxy + r * r * vx) / (mx * mx * s.n)
    return r, max(var, 0.0)


def compare_ratios(
    control: PairStats, treatment: PairStats, *, alternative: str = "two-sided", alpha: float = 0.05
) -> ComparisonResult:
    """Ratio metric (sum y / sum x per arm, e.g. AOV = gmv / orders) by the delta method.

    Rows must be randomisation units (aggregate sessions to users first), so that the variance
    respects the unit of randomisation. z-test on the difference of ratios.
    """
    check_alternative(alternative)
    check_alpha(alpha)
    nc, nt = control.n, treatment.n
    method = "delta-ratio"
    if nc <= 0 or nt <= 0:
        return _empty(method, alternative, alpha, nc, nt, ErrorCode.EMPTY_ARM)
    if nc < 2 or nt < 2:
        return _empty(method, alternative, alpha, nc, nt, ErrorCode.TOO_FEW_OBSERVATIONS)
    rc, vc = _ratio_moments(control)
    rt, vt = _ratio_moments(treatment)
    if rc != rc or rt != rt:
        return _empty(method, alternative, alpha, nc, nt, ErrorCode.ZERO_DENOMINATOR, rc, rt)
    if min(nc, nt) < SMALL_N:
        _warn_small(min(nc, nt), "a ratio")
    return _finish(method, alternative, alpha, nc, nt, rc, rt, vc, vt)


def _cuped_moments(s: PairStats) -> tuple[np.ndarray, np.ndarray]:
    """Means and ddof=1 covariance of (y, x, m) in one arm: x the covariate filled with 0 where
    missing, m the missing indicator."""
    n = s.n
    mean = np.array([s.sum_y, s.sum_x, s.n_missing]) / n
    raw = np.array(
        [
            [s.sum_y2, s.sum_xy, s.sum_y_missing],
            [s.sum_xy, s.sum_x2, 0.0],
            [s.sum_y_missing, 0.0, s.n_missing],
        ]
    )
    return mean, (raw - n * np.outer(mean, mean)) / (n - 1)


def _cuped_slopes(control: PairStats, treatment: PairStats) -> np.ndarray:
    """Pooled within-arm regression of y on (x, m): the slopes of the OLS fit
    ``y ~ arm + x + m``. A column without variation (no unit missing, or every unit missing) is
    left out, so a complete covariate gives the classic CUPED θ = cov(y, x) / var(x)."""
    w = sum((s.n - 1) * _cuped_moments(s)[1] for s in (control, treatment))
    beta = np.zeros(2)
    scale = (control.sum_x2 + treatment.sum_x2, control.n + treatment.n)
    keep = [i for i in (0, 1) if w[1 + i, 1 + i] > 1e-12 * max(scale[i], 1.0)]
    if keep:
        idx = np.array(keep) + 1
        sol, *_ = np.linalg.lstsq(w[np.ix_(idx, idx)], w[idx, 0], rcond=1e-12)
        beta[keep] = sol
    return beta


def cuped_adjust(y, x, theta: float | None = None) -> tuple[np.ndarray, float]:
    """Return ``(y - θ (x - mean x), θ)``: the CUPED-adjusted metric of each unit.

    ``θ`` defaults to ``cov(y, x) / var(x)`` over all units given (pass the pooled value when
    adjusting arms separately).
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    if theta is None:
        vx = x.var(ddof=1)
        theta = float(np.cov(y, x, ddof=1)[0, 1] / vx) if vx > 0 else 0.0
    return y - theta * (x - x.mean()), float(theta)


def compare_means_cuped(
    control: PairStats, treatment: PairStats, *, alternative: str = "two-sided", alpha: float = 0.05
) -> ComparisonResult:
    """Difference in means adjusted for a pre-period covariate (CUPED, Deng et al. 2013).

    ``y`` is the metric, ``x`` the pre-period covariate. Units without a covariate stay in (see
    :class:`PairStats`): the adjustment is the OLS fit ``y ~ arm + x + m`` with ``x`` filled by 0
    and the missing indicator ``m``, slopes pooled across arms, so the covariate adjusts within
    the units that have one and every unit counts. Each arm's mean becomes
    ``ȳ - β·(z̄ - z̄_all)`` with ``z = (x, m)``; its variance is that of the adjusted values over
    the arm's size. Estimate = the OLS coefficient of the arm; standard error ≈ its HC2 robust
    standard error (checked against statsmodels). ``variance_reduction`` is
    1 - Var(adjusted)/Var(y); ``n_missing_covariate`` counts the units without a covariate.
    """
    check_alternative(alternative)
    check_alpha(alpha)
    nc, nt = control.n, treatment.n
    method = "cuped"
    if nc <= 0 or nt <= 0:
        return _empty(method, alternative, alpha, nc, nt, ErrorCode.EMPTY_ARM)
    if nc < 2 or nt < 2:
        return _empty(method, alternative, alpha, nc, nt, ErrorCode.TOO_FEW_OBSERVATIONS)
    if min(nc, nt) < SMALL_N:
        _warn_small(min(nc, nt), "a CUPED mean")
    beta = _cuped_slopes(control, treatment)
    z_all = np.array([control.sum_x + treatment.sum_x, control.n_missing + treatment.n_missing]) / (
        nc + nt
    )
    out = []
    vr_num = vr_den = 0.0
    for s in (control, treatment):
        mean, cov = _cuped_moments(s)
        vy = cov[0, 0]
        vadj = max(vy - 2 * beta @ cov[1:, 0] + beta @ cov[1:, 1:] @ beta, 0.0)
        vr_num += vadj * (s.n - 1)
        vr_den += vy * (s.n - 1)
        out.append((mean[0] - beta @ (mean[1:] - z_all), vadj / s.n))
    (mc, vc), (mt, vt) = out
    vr = 1 - vr_num / vr_den if vr_den > 0 else NAN
    return _finish(
        method,
        alternative,
        alpha,
        nc,
        nt,
        float(mc),
        float(mt),
        float(vc),
        float(vt),
        variance_reduction=vr,
        n_missing_covariate=control.n_missing + treatment.n_missing,
    )


# --------------------------------------------------------------------------- SRM, corrections
def srm_check(
    counts: Mapping[str, float] | Sequence[float],
    expected_ratio=None,
    *,
    threshold: float = 0.001,
    warn: bool = True,
) -> SRMResult:
    """Sample-ratio-mismatch χ² test; ``flagged`` when p < ``threshold`` (default 0.001, as
    GrowthBook).

    ``counts``: units per arm (a mapping variant → n, or a sequence); ``expected_ratio``: planned
    weights in the same order (default equal). Emits :class:`SampleRatioMismatchWarning` when
    flagged. Matches ``scipy.stats.chisquare``.
    """
    from scipy import stats

    if not isinstance(counts, Mapping):
        counts = {str(i): c for i, c in enumerate(counts)}
    names = list(counts)
    obs = np.asarray([float(counts[k]) for k in names])
    if expected_ratio is None:
        w = np.ones(len(obs))
    elif isinstance(expected_ratio, Mapping):
        w = np.asarray([float(expected_ratio[k]) for k in names])
    else:
        w = np.asarray(expected_ratio, dtype=float)
    if w.shape != obs.shape or (w <= 0).any():
        raise ValueError(
            f"expected_ratio must give one positive weight per arm {names}, got {expected_ratio!r}"
        )
    total = obs.sum()
    exp = w / w.sum() * total
    expected = {k: float(e) for k, e in zip(names, exp)}
    counts_d = {k: float(c) for k, c in zip(names, obs)}
    if len(obs) < 2 or total <= 0:
        return SRMResult(NAN, NAN, counts_d, expected, False, threshold, ErrorCode.EMPTY_ARM)
    stat, p = stats.chisquare(obs, exp)
    flagged = bool(p < threshold)
    if flagged and warn:
        warnings.warn(
            f"sample ratio mismatch: counts {counts_d} vs expected "
            f"{ {k: round(v) for k, v in expected.items()} } (χ² p = {p:.2g}); the "
            "split is broken and results may be biased",
            SampleRatioMismatchWarning,
            stacklevel=2,
        )
    return SRMResult(float(stat), float(p), counts_d, expected, flagged, threshold)


_CORRECTIONS = ("holm", "bh", "none")


def correct_pvalues(p_values, method: str = "holm") -> np.ndarray:
    """Adjusted p-values: ``"holm"`` (family-wise error) or ``"bh"`` (Benjamini–Hochberg FDR).

    NaN p-values stay NaN and do not count towards the number of tests. Matches
    ``statsmodels.stats.multitest.multipletests(..., method="holm" | "fdr_bh")``.
    """
    if method not in _CORRECTIONS:
        raise ValueError(f"method must be one of {_CORRECTIONS}, got {method!r}")
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, NAN)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0 or method == "none":
        out[ok] = q
        return out
    order = np.argsort(q)
    sorted_p = q[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * sorted_p)
    else:
        adj = np.minimum.accumulate(m / np.arange(m, 0, -1) * sorted_p[::-1])[::-1]
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def winsorize(values, upper: float = 0.99, lower: float | None = None) -> np.ndarray:
    """Cap values at the ``upper`` quantile (and floor at ``lower``) for heavy-tailed revenue."""
    v = np.asarray(values, dtype=float)
    for q in (upper, lower):
        if q is not None and not 0 < q < 1:
            raise ValueError(f"quantile must be between 0 and 1, got {q!r}")
    hi = np.nanquantile(v, upper) if upper is not None else np.inf
    lo = np.nanquantile(v, lower) if lower is not None else -np.inf
    return np.clip(v, lo, hi)
