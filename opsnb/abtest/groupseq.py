"""Group-sequential monitoring: Lan–DeMets alpha spending with exact boundaries for the looks taken.

The mixture SPRT (:mod:`opsnb.abtest.sequential`) lets a shop peek at any moment, and pays for
that freedom: with 28 daily looks it rejects a true null only about 1 % of the time at α = 5 %.
A group-sequential design spends exactly α over the looks that are actually taken, so daily
peeking gives a 5 % false-positive rate and more power for the same sample.

Design (Lan & DeMets 1983; Jennison & Turnbull 2000, ch. 7, 9 and 19):

* information fraction of look ``k``: ``t_k = I_k / I_max`` where ``I`` is the inverse variance of
  the difference, proportional to ``n_c n_t / (n_c + n_t)`` — computed from the sample sizes
  observed at each look, so uneven daily traffic is handled; ``I_max`` is the planned information
  (default: the last look, i.e. the experiment ends now and spends all of α). A plan in
  calendar time spends α on its own clock instead (``spend_at``: the share of the planned days
  elapsed at each look) while the correlation between looks still comes from the information
  actually observed — fixed in advance and unchanged at later looks, so daily peeking spends
  exactly α however the traffic swings (Lan & DeMets 1989, "calendar time");
* the spending function ``α(t)`` says how much of the two-sided α may be used by time ``t``:
  O'Brien–Fleming type ``4 − 4Φ(z_{1−α/4} / √t)`` (Lan & DeMets' two-sided form: each side
  spends ``2 − 2Φ(z_{1−α/4}/√t)`` of its α/2, as in gsDesign's ``sfLDOF`` and rpact; spends
  almost nothing early; the default) or Pocock type ``α · log(1 + (e − 1) t)`` (spends evenly);
* the boundary ``c_k`` solves ``P(|Z_j| < c_j for j < k, |Z_k| ≥ c_k) = α(t_k) − α(t_{k−1})``
  under the null, computed by the Armitage–McPherson–Rowe recursive numerical integration
  (Simpson's rule on the continuation region of the score ``S_k = Z_k √t_k``, a Brownian motion
  in ``t``);
* repeated confidence interval at look ``k``: ``estimate ± c_k · se_k`` (all looks covered
  simultaneously with probability 1 − α); repeated p-value: the smallest α whose boundary the
  current ``|Z_k| = |estimate / se_k|`` reaches, with the same (unpooled) ``se_k`` as the
  interval, so the interval excludes 0 exactly when the repeated p-value is below α (one look
  gives the Wald test: for proportions it differs from the pooled z in the third digit); the
  relative interval is Fieller's with the multiplier ``c_k``, so it agrees too.

Cross-checked against Jennison & Turnbull's tables in ``tests/reference/abtest_groupseq.py``.

Examples
--------
>>> d = spending_boundaries([1, 2, 3, 4, 5], alpha=0.05, spending="obf")
>>> [round(c, 2) for c in d.z_bounds]
[4.88, 3.36, 2.68, 2.29, 2.03]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from opsnb.abtest.stats import NAN, ComparisonResult, relative_interval_fieller
from opsnb.errors import ErrorCode

__all__ = [
    "SPENDING",
    "spending_function",
    "exit_probabilities",
    "spending_boundaries",
    "constant_boundaries",
    "GroupSequentialDesign",
    "information",
    "repeated_p_value",
    "group_sequential_from_result",
]

SPENDING = ("obf", "pocock")
_MAX_Z = 40.0


def spending_function(t, alpha: float = 0.05, spending: str = "obf"):
    """Cumulative two-sided α spent by information fraction ``t`` (0..1, array or scalar)."""
    from scipy import special, stats

    if spending not in SPENDING:
        raise ValueError(f"spending must be one of {SPENDING}, got {spending!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    if spending == "pocock":
        return alpha * np.log1p((math.e - 1) * t)
    z = stats.norm.isf(alpha / 4)  # each side spends α/2 by the one-sided OBF-type function
    with np.errstate(divide="ignore"):
        return np.where(t > 0, 4 * special.ndtr(-z / np.sqrt(np.where(t > 0, t, 1.0))), 0.0)


def _fractions(t) -> np.ndarray:
    t = np.asarray(t, dtype=float).ravel()
    if t.size == 0 or not np.all(np.isfinite(t)) or t[0] <= 0 or np.any(np.diff(t) <= 0):
        raise ValueError(f"information fractions must be positive and increasing, got {t.tolist()}")
    return t


def _simpson(b: float, h: float):
    """Grid on [-b, b] with Simpson weights, spacing at most ``h``."""
    m = int(min(max(math.ceil(2 * b / h), 32), 6000))
    m += m % 2
    x = np.linspace(-b, b, m + 1)
    w = np.full(m + 1, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    return x, w * (2 * b / m) / 3


class _Recursion:
    """Density of the score on the continuation region, look by look (null hypothesis)."""

    def __init__(self, t: np.ndarray):
        self.t = t
        sig = np.sqrt(np.diff(np.concatenate([[0.0], t])))
        nxt = np.concatenate([sig[1:], [sig[-1]]])
        self.sig, self.h = sig, np.minimum(sig, nxt) / 16
        self.x = self.wf = None  # grid and weight × density after the last accepted look

    def exit_prob(self, k: int, c: float) -> float:
        """P(continue to look k, then |Z_k| ≥ c)."""
        from scipy import special

        b = c * math.sqrt(self.t[k])
        if k == 0:
            return float(2 * special.ndtr(-c))
        s = self.sig[k]
        return float(self.wf @ (special.ndtr((-b - self.x) / s) + special.ndtr((self.x - b) / s)))

    def accept(self, k: int, c: float) -> None:
        """Move the density to look k, restricted to |Z_k| < c."""
        b = c * math.sqrt(self.t[k])
        u, w = _simpson(b, self.h[k])
        s = self.sig[k]
        if k == 0:
            f = np.exp(-0.5 * (u / s) ** 2) / (s * math.sqrt(2 * math.pi))
        else:
            f = np.empty_like(u)
            for i in range(0, len(u), 512):  # bounded memory for fine grids
                d = (u[i : i + 512, None] - self.x[None, :]) / s
                f[i : i + 512] = (np.exp(-0.5 * d * d) / (s * math.sqrt(2 * math.pi))) @ self.wf
        self.x, self.wf = u, w * f


def exit_probabilities(t, z_bounds) -> np.ndarray:
    """Null probability of first crossing ``|Z| ≥ c_k`` at each look (two-sided)."""
    t = _fractions(t)
    c = np.asarray(z_bounds, dtype=float)
    if c.shape != t.shape:
        raise ValueError(f"{len(c)} boundaries for {len(t)} looks")
    rec, out = _Recursion(t), []
    for k, ck in enumerate(c):
        out.append(rec.exit_prob(k, ck))
        if k < len(t) - 1:
            rec.accept(k, ck)
    return np.array(out)


@dataclass(frozen=True)
class GroupSequentialDesign:
    """Boundaries of a group-sequential design on the z scale (reject when ``|Z_k| ≥ z_bounds[k]``)."""

    info_fractions: tuple
    z_bounds: tuple
    alpha_spent: tuple  # cumulative α spent by each look
    spending: str
    alpha: float
    spend_fractions: tuple = ()  # the clock α is spent on (calendar share); default the info

    def __post_init__(self):
        if not self.spend_fractions:
            object.__setattr__(self, "spend_fractions", self.info_fractions)

    @property
    def looks(self) -> int:
        return len(self.z_bounds)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(
            {
                "look": np.arange(1, self.looks + 1),
                "info_fraction": self.info_fractions,
                "spend_fraction": self.spend_fractions,
                "z_bound": self.z_bounds,
                "alpha_spent": self.alpha_spent,
            }
        )


def information(n_control, n_treatment) -> np.ndarray:
    """Information of a two-arm difference, up to the common variance: ``n_c n_t / (n_c + n_t)``."""
    nc, nt = np.asarray(n_control, dtype=float), np.asarray(n_treatment, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(nc + nt > 0, nc * nt / (nc + nt), 0.0)


def _to_fractions(info, planned) -> np.ndarray:
    """Information (or sample sizes) per look → increasing fractions of the planned maximum;
    looks that add no information are dropped by the caller (see ``keep``)."""
    i = np.asarray(info, dtype=float).ravel()
    if i.size == 0 or not np.all(np.isfinite(i)) or np.any(i < 0):
        raise ValueError(f"information per look must be finite and non-negative, got {i.tolist()}")
    top = float(i[-1]) if planned is None else float(planned)
    if not top > 0:
        raise ValueError(f"planned information must be positive, got {planned!r}")
    return np.minimum(i / top, 1.0)


def spending_boundaries(
    info: Sequence[float],
    *,
    alpha: float = 0.05,
    spending: str = "obf",
    planned: float | None = None,
    spend_at: Sequence[float] | None = None,
) -> GroupSequentialDesign:
    """Lan–DeMets boundaries for looks with cumulative ``info`` (information or sample sizes).

    ``planned``: the maximum information (same units) the design was planned for; default the
    last look's, so α is fully spent at the last look. ``spend_at``: instead, the share of the
    plan reached at each look on a clock fixed in advance (calendar days elapsed / planned
    days), at which α is spent; capped at 1. Looks that add no information (a day without
    traffic) or come after the plan is complete repeat the previous boundary and spend nothing.
    """
    if spend_at is None:
        t_all = _to_fractions(info, planned)
        s_all = t_all
    else:
        t_all = _to_fractions(info, None)
        s_all = np.minimum(np.asarray(spend_at, dtype=float).ravel(), 1.0)
        if s_all.shape != t_all.shape or not np.all(np.isfinite(s_all)):
            raise ValueError(f"spend_at needs one finite share per look, got {list(s_all)}")
    keep = np.concatenate([[True], (np.diff(t_all) > 0) & (np.diff(s_all) > 0)])
    keep &= (t_all > 0) & (s_all > 0)
    t = _fractions(t_all[keep])
    spent = spending_function(s_all[keep], alpha, spending)
    from scipy import optimize, stats

    rec, bounds = _Recursion(t), []
    prev = 0.0
    for k in range(len(t)):
        inc = float(spent[k] - prev)
        if k == 0:
            c = float(min(stats.norm.isf(inc / 2), _MAX_Z)) if inc > 0 else _MAX_Z
        elif inc <= 0:
            c = _MAX_Z
        else:
            g = lambda cc: rec.exit_prob(k, cc) - inc  # noqa: E731
            lo = 1e-3
            c = (
                _MAX_Z
                if g(_MAX_Z) >= 0
                else (lo if g(lo) <= 0 else optimize.brentq(g, lo, _MAX_Z, xtol=1e-9, rtol=1e-10))
            )
        bounds.append(float(c))
        prev = float(spent[k])
        if k < len(t) - 1:
            rec.accept(k, c)
    z = np.full(len(t_all), np.inf)
    idx = np.cumsum(keep) - 1
    ok = idx >= 0
    z[ok] = np.array(bounds)[idx[ok]]
    a = np.zeros(len(t_all))
    a[ok] = np.asarray(spent)[idx[ok]]
    return GroupSequentialDesign(
        tuple(map(float, t_all)),
        tuple(map(float, z)),
        tuple(map(float, a)),
        spending,
        alpha,
        tuple(map(float, s_all)),
    )


def constant_boundaries(
    t: Sequence[float], *, alpha: float = 0.05, shape: str = "pocock"
) -> np.ndarray:
    """Classical Pocock (``c_k = C``) or O'Brien–Fleming (``c_k = C / √t_k``) boundaries whose
    total null crossing probability is ``alpha`` (Jennison & Turnbull Tables 2.1 and 2.3)."""
    from scipy import optimize

    t = _fractions(t)
    if shape not in ("pocock", "obf"):
        raise ValueError(f"shape must be one of ('pocock', 'obf'), got {shape!r}")
    scale = np.ones_like(t) if shape == "pocock" else 1 / np.sqrt(t)
    C = optimize.brentq(
        lambda c: exit_probabilities(t, c * scale).sum() - alpha, 1.0, 10.0, xtol=1e-10
    )
    return C * scale


def repeated_p_value(
    z: float,
    info: Sequence[float],
    *,
    spending: str = "obf",
    planned: float | None = None,
    spend_at: Sequence[float] | None = None,
) -> float:
    """Smallest α at which the current look's ``|z|`` reaches its boundary (Jennison & Turnbull
    §9.5); ``info``: cumulative information of every look so far, the current one last;
    ``planned``/``spend_at`` as in :func:`spending_boundaries`."""
    from scipy import optimize

    az = abs(float(z))
    if not math.isfinite(az):
        return NAN

    def gap(log_a):
        return (
            spending_boundaries(
                info, alpha=math.exp(log_a), spending=spending, planned=planned, spend_at=spend_at
            ).z_bounds[-1]
            - az
        )

    lo, hi = math.log(1e-12), math.log(0.999)
    if gap(hi) > 0:
        return 1.0
    if gap(lo) <= 0:
        return 1e-12
    return float(math.exp(optimize.brentq(gap, lo, hi, xtol=1e-5)))


def group_sequential_from_result(
    result: ComparisonResult,
    info: Sequence[float] | None = None,
    *,
    spending: str = "obf",
    planned: float | None = None,
    spend_at: Sequence[float] | None = None,
) -> ComparisonResult:
    """Replace a fixed-horizon interval and p-value by the repeated confidence interval and the
    repeated p-value of the current (last) look, both from ``z = estimate / se``.

    ``info``: cumulative information (see :func:`information`) at every look so far; default a
    single look. ``planned``: planned maximum information (default: the last look's, i.e. the
    experiment ends now — only right when that was the plan); ``spend_at``: the plan's clock
    instead (see :func:`spending_boundaries`). ``info_fraction`` of the result: the current
    look's share of the plan (capped at 1).
    """
    method = f"group-sequential-{spending}-{result.method}"
    if result.alternative != "two-sided":
        raise ValueError(
            "group-sequential tests are two-sided here; got alternative="
            f"{result.alternative!r} (allowed: 'two-sided')"
        )
    info = [information(result.n_control, result.n_treatment)] if info is None else info
    se = result.se
    looks = int(np.count_nonzero(np.diff(np.concatenate([[0.0], np.asarray(info, float)])) > 0))
    if result.error_code or not (se == se and se > 0):
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
    design = spending_boundaries(
        info, alpha=result.alpha, spending=spending, planned=planned, spend_at=spend_at
    )
    c = design.z_bounds[-1]
    half = c * se
    rlo, rhi = relative_interval_fieller(
        result.control_mean, result.se_control**2, result.treatment_mean, result.se_treatment**2, c
    )
    z = result.estimate / se
    p = repeated_p_value(z, info, spending=spending, planned=planned, spend_at=spend_at)
    return replace(
        result,
        method=method,
        ci_low=result.estimate - half,
        ci_high=result.estimate + half,
        rel_ci_low=rlo,
        rel_ci_high=rhi,
        p_value=p,
        statistic=z,
        looks=looks,
        info_fraction=design.spend_fractions[-1],
    )
