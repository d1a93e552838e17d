"""A/B test statistics on sufficient statistics: proportions, means, ratios, CUPED, SRM, corrections.

Every comparison takes the control arm first and the treatment arm second and returns a
:class:`ComparisonResult` (a frozen dataclass) whose ``estimate`` is ``treatment - control``
and whose ``rel_estimate`` is ``treatment / control - 1``. Inputs are sufficient statistics
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
    """

    n: float
    sum_y: float
    sum_y2: float
    sum_x: float
    sum_x2: float
    sum_xy: float

    @classmethod
    def from_values(cls, y, x) -> PairStats:
        y = np.asarray(y, dtype=float)
        x = np.asarray(x, dtype=float)
        ok = ~(np.isnan(y) | np.isnan(x))
        y, x = y[ok], x[ok]
        return cls(
            float(y.size),
            float(y.sum()),
            float((y * y).sum()),
            float(x.sum()),
            float((x * x).sum()),
            float((x * y).sum()),
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
    by CUPED, ``looks`` by sequential methods. Degenerate data: NaN numbers and ``error_code``.
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
    """Build a frequentist result from arm means and the variances of the means."""
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
        **extra,
    )
    if not se > 0:
        return ComparisonResult(**base, error_code=ErrorCode.ZERO_VARIANCE)
    q = _quantile(alpha, alternative, df)
    stat = est / se
    lo, hi = _interval(est, se, q, alternative)
    rel, rse = relative_change(mc, vc, mt, vt)
    rlo, rhi = _interval(rel, rse, q, alternative) if rse == rse else (NAN, NAN)
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
    interval uses the delta method.
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
    rel, rse = relative_change(pc, vc, pt, vt)
    rlo, rhi = _interval(rel, rse, z, alternative) if rse == rse else (NAN, NAN)
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


def _pooled_theta(control: PairStats, treatment: PairStats) -> tuple[float, float, float]:
    """CUPED slope θ = cov(y, x) / var(x) pooled over arms (each arm centred on its own means)."""
    num = den = vyy = 0.0
    for s in (control, treatment):
        my, mx, vy, vx, cxy = s.moments()
        num += cxy * (s.n - 1)
        den += vx * (s.n - 1)
        vyy += vy * (s.n - 1)
    theta = num / den if den > 0 else 0.0
    return theta, den, vyy


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

    ``y`` is the metric, ``x`` the pre-period covariate. θ is pooled across arms; each arm's
    mean becomes ``ȳ - θ (x̄ - x̄_all)``. ``variance_reduction`` is 1 - Var(adjusted)/Var(y).
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
    theta, _, _ = _pooled_theta(control, treatment)
    x_all = (control.sum_x + treatment.sum_x) / (nc + nt)
    out = []
    vr_num = vr_den = 0.0
    for s in (control, treatment):
        my, mx, vy, vx, cxy = s.moments()
        vadj = max(vy - 2 * theta * cxy + theta * theta * vx, 0.0)
        vr_num += vadj * (s.n - 1)
        vr_den += vy * (s.n - 1)
        out.append((my - theta * (mx - x_all), vadj / s.n))
    (mc, vc), (mt, vt) = out
    vr = 1 - vr_num / vr_den if vr_den > 0 else NAN
    return _finish(method, alternative, alpha, nc, nt, mc, mt, vc, vt, variance_reduction=vr)


# --------------------------------------------------------------------------- SRM, corrections
def srm_check(
    counts: Mapping[str, float] | Sequence[float],
    expected_ratio=None,
    *,
    threshold: float = 0.001,
    warn: bool = True,
) -> SRMResult:
    """Sample-ratio-mismatch χ² test; ``flagged`` when p < ``threshold`` (default 0.001).

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
