"""Power, sample size, minimum detectable effect (MDE) and test duration from real traffic.

Parallel names: ``power_proportions`` / ``sample_size_proportions`` / ``mde_proportions`` and the
same for means. ``mde`` is relative to the control (``difference="relative"``, 0.05 = +5 %) or
absolute. Two equal arms unless ``ratio`` (treatment / control size) says otherwise. Formulas
are the normal approximation used by ``statsmodels.stats.proportion.power_proportions_2indep``
(null variance pooled) and ``statsmodels.stats.power.NormalIndPower``.

Examples
--------
>>> n = sample_size_proportions(0.05, 0.10)   # +10 % relative on a 5 % conversion rate
>>> 31_000 < n < 31_300
True
>>> round(duration_days(n, daily_units=5000).days, 1)  # two arms of 31 234 at 5 000 units a day
12.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from opsnb.abtest.stats import check_alternative
from opsnb.errors import ErrorCode
from opsnb.results import Result

__all__ = [
    "power_proportions",
    "power_means",
    "sample_size_proportions",
    "sample_size_means",
    "mde_proportions",
    "mde_means",
    "duration_days",
    "DurationEstimate",
    "daily_traffic",
]

_DIFFS = ("absolute", "relative")


def _z(alpha: float, alternative: str) -> float:
    from scipy import stats

    check_alternative(alternative)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    return float(stats.norm.ppf(1 - alpha / 2 if alternative == "two-sided" else 1 - alpha))


def _abs_effect(base: float, mde: float, difference: str) -> float:
    if difference not in _DIFFS:
        raise ValueError(f"difference must be one of {_DIFFS}, got {difference!r}")
    return mde * base if difference == "relative" else mde


def _power(effect, sd_null, sd_alt, z, alternative):
    from scipy import stats

    e = (
        np.abs(effect)
        if alternative == "two-sided"
        else (effect if alternative == "larger" else -effect)
    )
    p = stats.norm.sf((z * sd_null - e) / sd_alt)
    if alternative == "two-sided":
        p = p + stats.norm.sf((z * sd_null + e) / sd_alt)
    return p


def power_proportions(
    p_control: float,
    mde: float,
    n_per_arm: float,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    difference: str = "relative",
    ratio: float = 1.0,
) -> float:
    """Power of the two-proportion z-test to detect ``mde`` with ``n_per_arm`` control units."""
    z = _z(alpha, alternative)
    d = _abs_effect(p_control, mde, difference)
    pt = p_control + d
    if not (0 < p_control < 1 and 0 < pt < 1):
        raise ValueError(f"rates must lie in (0, 1): control {p_control!r}, treatment {pt!r}")
    n1, n2 = n_per_arm * ratio, n_per_arm  # treatment, control
    pbar = (pt * n1 + p_control * n2) / (n1 + n2)
    sd0 = math.sqrt(pbar * (1 - pbar) * (1 / n1 + 1 / n2))
    sd1 = math.sqrt(pt * (1 - pt) / n1 + p_control * (1 - p_control) / n2)
    return float(_power(d, sd0, sd1, z, alternative))


def power_means(
    sd: float,
    mde: float,
    n_per_arm: float,
    *,
    mean: float | None = None,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    difference: str = "absolute",
    ratio: float = 1.0,
    variance_reduction: float = 0.0,
) -> float:
    """Power of a two-sample mean comparison (normal approximation).

    ``mean`` (the control mean) is needed when ``difference="relative"``;
    ``variance_reduction`` (e.g. from CUPED, 0.3 = 30 %) shrinks the variance.
    """
    z = _z(alpha, alternative)
    if difference == "relative" and mean is None:
        raise ValueError("mean (the control mean) is required when difference='relative'")
    d = _abs_effect(mean if mean is not None else 1.0, mde, difference)
    s = (
        sd
        * math.sqrt(max(1 - variance_reduction, 0.0))
        * math.sqrt(1 / (n_per_arm * ratio) + 1 / n_per_arm)
    )
    return float(_power(d, s, s, z, alternative))


def _solve_n(power_fn, target: float) -> int:
    from scipy.optimize import brentq

    if not 0 < target < 1:
        raise ValueError(f"power must be between 0 and 1, got {target!r}")
    lo, hi = 2.0, 4.0
    while power_fn(hi) < target:
        hi *= 2
        if hi > 1e13:
            return -1
    return int(math.ceil(brentq(lambda n: power_fn(n) - target, lo, hi, xtol=1e-3)))


def sample_size_proportions(
    p_control: float,
    mde: float,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    difference: str = "relative",
    ratio: float = 1.0,
) -> int:
    """Control units needed (treatment gets ``ratio`` times as many) to reach ``power``."""
    return _solve_n(
        lambda n: power_proportions(
            p_control,
            mde,
            n,
            alpha=alpha,
            alternative=alternative,
            difference=difference,
            ratio=ratio,
        ),
        power,
    )


def sample_size_means(
    sd: float,
    mde: float,
    *,
    mean: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    difference: str = "absolute",
    ratio: float = 1.0,
    variance_reduction: float = 0.0,
) -> int:
    """Control units needed to detect ``mde`` in a mean with standard deviation ``sd``."""
    return _solve_n(
        lambda n: power_means(
            sd,
            mde,
            n,
            mean=mean,
            alpha=alpha,
            alternative=alternative,
            difference=difference,
            ratio=ratio,
            variance_reduction=variance_reduction,
        ),
        power,
    )


def mde_proportions(
    p_control: float,
    n_per_arm: float,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    difference: str = "relative",
    ratio: float = 1.0,
) -> float:
    """Smallest (positive) effect detectable with ``power`` given ``n_per_arm``; NaN if none."""
    from scipy.optimize import brentq

    top = (1 - p_control) * 0.999999
    top = top / p_control if difference == "relative" else top

    def f(m):
        return (
            power_proportions(
                p_control,
                m,
                n_per_arm,
                alpha=alpha,
                alternative=alternative,
                difference=difference,
                ratio=ratio,
            )
            - power
        )

    if f(top) < 0:
        return float("nan")
    return float(brentq(f, 1e-12, top, xtol=1e-10))


def mde_means(
    sd: float,
    n_per_arm: float,
    *,
    mean: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    difference: str = "absolute",
    ratio: float = 1.0,
    variance_reduction: float = 0.0,
) -> float:
    """Smallest effect on a mean detectable with ``power`` given ``n_per_arm`` (closed form)."""
    from scipy import stats

    z = _z(alpha, alternative)
    s = (
        sd
        * math.sqrt(max(1 - variance_reduction, 0.0))
        * math.sqrt(1 / (n_per_arm * ratio) + 1 / n_per_arm)
    )
    d = (z + float(stats.norm.ppf(power))) * s
    if difference == "relative":
        if not mean:
            raise ValueError(
                "a non-zero mean (the control mean) is required for difference='relative'"
            )
        return d / abs(mean)
    return d


@dataclass(frozen=True)
class DurationEstimate(Result):
    """How long a test must run: ``days`` (fractional) for ``n_per_arm`` per arm."""

    n_per_arm: float
    arms: int
    traffic_share: float
    daily_units: float
    total_units: float
    days: float
    error_code: str = ErrorCode.OK


def daily_traffic(daily, *, last_days: int = 28) -> float:
    """Typical units per day from real traffic: mean of the last ``last_days`` days.

    ``daily``: a number, a Series of daily counts indexed by date, or a ``daily_metrics`` frame
    (``visitors`` summed over channels by ``date``).
    """
    import pandas as pd

    if isinstance(daily, pd.DataFrame):
        daily = daily.groupby("date")["visitors"].sum().sort_index()
    if isinstance(daily, pd.Series):
        s = daily.dropna()
        return float(s.iloc[-last_days:].mean()) if len(s) else float("nan")
    return float(daily)


def duration_days(
    n_per_arm: float,
    daily_units,
    *,
    arms: int = 2,
    traffic_share: float = 1.0,
    already: float = 0.0,
    last_days: int = 28,
) -> DurationEstimate:
    """Days needed to reach ``n_per_arm`` in each of ``arms`` arms.

    ``daily_units``: a number or real daily traffic (see :func:`daily_traffic`);
    ``traffic_share``: fraction of traffic in the test; ``already``: units enrolled so far in
    all arms (the result is then the days still to go).
    """
    if not 0 < traffic_share <= 1:
        raise ValueError(f"traffic_share must be in (0, 1], got {traffic_share!r}")
    per_day = daily_traffic(daily_units, last_days=last_days) * traffic_share
    total = float(n_per_arm) * arms
    if not per_day > 0 or n_per_arm < 0:
        return DurationEstimate(
            n_per_arm, arms, traffic_share, per_day, total, float("nan"), ErrorCode.NO_HISTORY
        )
    return DurationEstimate(
        n_per_arm, arms, traffic_share, per_day, total, max(total - already, 0.0) / per_day
    )
