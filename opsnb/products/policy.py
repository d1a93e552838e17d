"""Inventory policy math (安全库存 / 再订货点 / 订货量) on sufficient statistics.

Demand per day has mean ``d`` and standard deviation ``σd`` (for a forecast: the forecast error);
the lead time has mean ``L`` days and standard deviation ``σL``. Over a protection interval of
``P = L + R`` days (``R`` the review period; ``R = 0`` is continuous review) demand is taken as
normal with

    mean  μP = d · P
    sd    σP = √(P · σd² + d² · σL²)          (the closed form)

and the safety stock is ``SS = z · σP``; the reorder point (continuous review) or the
order-up-to level (periodic review) is ``μP + SS``. When a forecast gives the quantile of
demand over the interval directly (any distribution), ``SS = quantile − mean``
(:func:`safety_stock_from_quantile`), the general form.

Two service measures are kept apart, and both are reported:

- **cycle service level** (CSL, α): the probability of no stock-out in a replenishment cycle,
  ``Φ(z)``;
- **fill rate** (β): the share of demand served from stock. With backorders, the expected
  shortage per cycle is ``σP·G(zP) − σL·G(zL)`` (``G`` the standard normal loss function,
  ``zP = SS/σP``, ``zL = (μP + SS − μL)/σL``), divided by the demand per cycle (``d·R`` for
  periodic review, the order quantity ``Q`` for continuous review).

A 95 % CSL usually gives a fill rate near 99 %; a 95 % fill-rate target needs far less stock.
:func:`safety_stock` takes either target and reports both.

Examples
--------
>>> ss = safety_stock(20, 5, 4, cycle_service_level=0.95)
>>> round(ss.safety_stock, 2), round(ss.reorder_point, 2)
(16.45, 96.45)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from opsnb.errors import ErrorCode
from opsnb.results import Result

__all__ = [
    "SafetyStock",
    "normal_loss",
    "safety_stock",
    "safety_stock_from_quantile",
    "fill_rate",
    "order_quantity",
]


def normal_loss(z):
    """Standard normal loss function ``G(z) = φ(z) − z·(1 − Φ(z)) = E[(Z − z)⁺]``."""
    from scipy.stats import norm

    z = np.asarray(z, dtype=float)
    out = norm.pdf(z) - z * norm.sf(z)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class SafetyStock(Result):
    """Safety stock, reorder / order-up-to point and both service measures of one policy.

    ``reorder_point`` is the reorder point ``s`` for continuous review (``review_period = 0``)
    and the order-up-to level ``S`` for periodic review. ``protection_days = L + R``;
    ``demand_over_protection`` = ``d·P`` and ``sigma_over_protection`` = ``σP``.
    ``method``: ``"closed_form"`` or ``"quantile"``.
    """

    safety_stock: float
    reorder_point: float
    demand_over_protection: float
    sigma_over_protection: float
    z: float
    cycle_service_level: float
    fill_rate: float
    protection_days: float
    method: str
    error_code: str = ErrorCode.OK


def _sigma(d: float, sd: float, days: float, lt_sd: float) -> float:
    return math.sqrt(max(days, 0.0) * sd**2 + d**2 * lt_sd**2)


def fill_rate(
    safety_stock: float,
    demand_mean: float,
    demand_std: float,
    lead_time: float,
    *,
    lead_time_std: float = 0.0,
    review_period: float = 0.0,
    order_quantity: float | None = None,
) -> float:
    """Expected fill rate (β, share of demand served from stock) of a policy, with backorders.

    Periodic review (``review_period > 0``): demand per cycle ``d·R``; continuous review: pass
    ``order_quantity`` (Q). NaN when the demand per cycle is 0.
    """
    return _expected_fill_rate(
        safety_stock,
        demand_mean,
        demand_std,
        lead_time,
        lead_time_std=lead_time_std,
        review_period=review_period,
        order_quantity=order_quantity,
    )


def _expected_fill_rate(
    safety_stock: float,
    demand_mean: float,
    demand_std: float,
    lead_time: float,
    *,
    lead_time_std: float = 0.0,
    review_period: float = 0.0,
    order_quantity: float | None = None,
) -> float:
    d, sd, L, R = float(demand_mean), float(demand_std), float(lead_time), float(review_period)
    cycle = d * R if R > 0 else (float(order_quantity) if order_quantity is not None else 0.0)
    if order_quantity is not None and R > 0:
        raise ValueError("order_quantity is for continuous review (review_period=0)")
    if cycle <= 0:
        return float("nan")
    s_p = _sigma(d, sd, L + R, lead_time_std)
    level = d * (L + R) + safety_stock  # inventory position after ordering (S, or s + Q)
    if R == 0:  # (s, Q): shortage = E[(D_L − s)⁺] − E[(D_L − s − Q)⁺]
        level = d * L + safety_stock + cycle
        short = _shortage(d * L + safety_stock, d * L, s_p) - _shortage(level, d * L, s_p)
    else:
        s_l = _sigma(d, sd, L, lead_time_std)
        short = _shortage(level, d * (L + R), s_p) - _shortage(level, d * L, s_l)
    return float(min(1.0, max(0.0, 1.0 - short / cycle)))


def _shortage(level: float, mean: float, sd: float) -> float:
    """E[(D − level)⁺] for D ~ N(mean, sd²)."""
    if sd <= 0:
        return max(mean - level, 0.0)
    return sd * normal_loss((level - mean) / sd)


def safety_stock(
    demand_mean: float,
    demand_std: float,
    lead_time: float,
    *,
    lead_time_std: float = 0.0,
    review_period: float = 0.0,
    cycle_service_level: float | None = None,
    fill_rate: float | None = None,
    order_quantity: float | None = None,
) -> SafetyStock:
    """Safety stock ``z·√(P·σd² + d²·σL²)`` for a cycle-service-level or fill-rate target.

    Parameters
    ----------
    demand_mean, demand_std : float
        Daily demand (forecast) and the standard deviation of its error, per day.
    lead_time, lead_time_std : float
        Supplier lead time in days and its standard deviation (0 when fixed or unknown).
    review_period : float
        Days between orders (periodic review, order-up-to); 0 = continuous review.
    cycle_service_level, fill_rate : float
        Exactly one target in (0, 1). A fill-rate target solves for the smallest ``z`` whose
        expected fill rate reaches it (continuous review then needs ``order_quantity``).

    Returns
    -------
    SafetyStock; zero demand and zero variability give NaN numbers and ``error_code``.
    """
    from scipy.optimize import brentq
    from scipy.stats import norm

    if (cycle_service_level is None) == (fill_rate is None):
        raise ValueError("give exactly one of cycle_service_level, fill_rate")
    target = cycle_service_level if cycle_service_level is not None else fill_rate
    if not 0 < float(target) < 1:
        raise ValueError(f"service target must be in (0, 1); got {target!r}")
    for name, v in (
        ("demand_mean", demand_mean),
        ("demand_std", demand_std),
        ("lead_time", lead_time),
        ("lead_time_std", lead_time_std),
        ("review_period", review_period),
    ):
        if not (float(v) >= 0):
            raise ValueError(f"{name} must be ≥ 0; got {v!r}")
    d, sd, L, R = float(demand_mean), float(demand_std), float(lead_time), float(review_period)
    P = L + R
    s_p = _sigma(d, sd, P, lead_time_std)
    mu = d * P
    method = "closed_form"
    if s_p == 0 or (fill_rate is not None and d == 0):
        nan = float("nan")
        return SafetyStock(0.0, mu, mu, s_p, nan, nan, nan, P, method, ErrorCode.ZERO_VARIANCE)
    kw = dict(lead_time_std=lead_time_std, review_period=R, order_quantity=order_quantity)
    if cycle_service_level is not None:
        z = float(norm.ppf(cycle_service_level))
    else:
        if R == 0 and order_quantity is None:
            raise ValueError("a fill-rate target with continuous review needs order_quantity")
        beta = lambda z: _expected_fill_rate(z * s_p, d, sd, L, **kw) - float(target)
        lo, hi = -6.0, 8.0
        z = (
            float(brentq(beta, lo, hi))
            if beta(lo) < 0 < beta(hi)
            else (lo if beta(lo) >= 0 else hi)
        )
    ss = z * s_p
    fr = _expected_fill_rate(ss, d, sd, L, **kw)
    return SafetyStock(
        safety_stock=ss,
        reorder_point=mu + ss,
        demand_over_protection=mu,
        sigma_over_protection=s_p,
        z=z,
        cycle_service_level=float(norm.cdf(z)),
        fill_rate=fr,
        protection_days=P,
        method=method,
    )


def safety_stock_from_quantile(
    demand_over_protection: float, quantile: float, level: float, protection_days: float
) -> SafetyStock:
    """The general form: ``SS = q_level(D_P) − E[D_P]`` from a forecast's quantile of demand over
    the protection interval (any distribution). The cycle service level is ``level`` by
    construction; the fill rate needs a distribution and is NaN here.
    """
    from scipy.stats import norm

    if not 0 < float(level) < 1:
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    ss = float(quantile) - float(demand_over_protection)
    z = float(norm.ppf(level))
    return SafetyStock(
        safety_stock=ss,
        reorder_point=float(quantile),
        demand_over_protection=float(demand_over_protection),
        sigma_over_protection=ss / z if z != 0 else float("nan"),
        z=z,
        cycle_service_level=float(level),
        fill_rate=float("nan"),
        protection_days=float(protection_days),
        method="quantile",
    )


def order_quantity(inventory_position, order_up_to, *, moq=0, case_pack=1):
    """Units to order to bring the inventory position up to ``order_up_to``, respecting MOQ and
    case pack: nothing when the position is at or above the level; otherwise the shortfall,
    raised to the MOQ, then rounded up to a whole number of cases. Works element-wise.

    >>> order_quantity([90, 10, 200], 100, moq=24, case_pack=12).tolist()
    [24, 96, 0]
    """
    pos = np.asarray(inventory_position, dtype=float)
    need = np.maximum(np.asarray(order_up_to, dtype=float) - pos, 0.0)
    moq = np.asarray(moq, dtype=float)
    pack = np.maximum(np.nan_to_num(np.asarray(case_pack, dtype=float), nan=1.0), 1.0)
    moq = np.nan_to_num(moq, nan=0.0)
    q = np.where(need > 0, np.maximum(need, moq), 0.0)
    q = np.ceil(np.round(q / pack, 9)) * pack
    out = q.astype("int64")
    return out if out.ndim else int(out)
