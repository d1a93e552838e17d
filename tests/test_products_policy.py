"""Inventory policy math: closed forms against hand computation, the fill rate against a
simulation of the policy, order quantities with MOQ and case pack, and the 补货建议表."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from opsnb.errors import ErrorCode
from opsnb.products.policy import (
    fill_rate,
    normal_loss,
    order_quantity,
    safety_stock,
    safety_stock_from_quantile,
)
from opsnb.products.replenish import (
    PLAN_COLUMNS,
    promo_stock,
    replenishment_plan,
    stockout_alerts,
)
from tests.reference.products_policy import CONTINUOUS, FILL_RATE_SQ, PERIODIC


def _fields(res, names):
    return {k: getattr(res, k) for k in names}


def test_safety_stock_matches_the_closed_form_with_lead_time_variability():
    res = safety_stock(20, 5, 4, lead_time_std=1, cycle_service_level=0.95)
    assert_allclose(list(_fields(res, CONTINUOUS).values()), list(CONTINUOUS.values()), rtol=1e-12)
    assert res.cycle_service_level == pytest.approx(0.95)
    assert res.demand_over_protection == 80 and res.protection_days == 4


def test_order_up_to_level_covers_lead_time_plus_review_period():
    res = safety_stock(12, 4, 6, lead_time_std=2, review_period=7, cycle_service_level=0.98)
    assert_allclose(list(_fields(res, PERIODIC).values()), list(PERIODIC.values()), rtol=1e-12)
    assert res.protection_days == 13 and res.method == "closed_form"


def test_fill_rate_of_continuous_review_matches_the_loss_function_form():
    assert fill_rate(10, 20, 5, 4, order_quantity=200) == pytest.approx(FILL_RATE_SQ, rel=1e-12)
    assert normal_loss(0.0) == pytest.approx(1 / np.sqrt(2 * np.pi))


def test_cycle_service_level_and_fill_rate_are_different_numbers():
    res = safety_stock(20, np.sqrt(20), 5, review_period=7, cycle_service_level=0.95)
    assert res.cycle_service_level == pytest.approx(0.95)
    assert res.fill_rate > 0.99  # a 95 % CSL serves far more than 95 % of demand
    by_fill = safety_stock(20, np.sqrt(20), 5, review_period=7, fill_rate=0.95)
    assert by_fill.fill_rate == pytest.approx(0.95, abs=1e-9)
    assert by_fill.safety_stock < res.safety_stock and by_fill.cycle_service_level < 0.6


def _simulated_fill_rate(S, d, L, R, cycles, seed):
    """Periodic review, order-up-to S with backorders, Poisson demand: the share of demand
    served from stock. An order placed at the start of day t arrives at the start of t + L."""
    rng = np.random.default_rng(seed)
    D = rng.poisson(d, size=(cycles + 3) * R + L).astype(float)
    cum = np.concatenate([[0.0], np.cumsum(D)])
    t = np.arange(1, cycles + 1) * R
    short = demand = 0.0
    for j in range(R):  # days covered by the order placed at t (it arrived at t + L)
        u = t + L + j
        before = S - (cum[u] - cum[t])  # net stock at the start of day u
        short += np.maximum(0.0, D[u] - np.maximum(before, 0.0)).sum()
        demand += D[u].sum()
    return 1 - short / demand


@pytest.mark.parametrize("target", [0.90, 0.95, 0.98])
def test_simulated_fill_rate_is_within_one_point_of_the_target(target):
    d, L, R = 20.0, 5, 7
    res = safety_stock(d, np.sqrt(d), L, review_period=R, fill_rate=target)
    got = _simulated_fill_rate(res.reorder_point, d, L, R, cycles=20_000, seed=int(target * 100))
    assert abs(got - target) < 0.01, (got, target)


def test_safety_stock_from_a_forecast_quantile_is_quantile_minus_mean():
    res = safety_stock_from_quantile(100.0, 130.0, 0.95, 12)
    assert (res.safety_stock, res.reorder_point, res.cycle_service_level) == (30.0, 130.0, 0.95)
    assert np.isnan(res.fill_rate) and res.method == "quantile"


def test_zero_variability_returns_an_error_code_not_a_fake_number():
    res = safety_stock(0, 0, 5, cycle_service_level=0.95)
    assert res.error_code == ErrorCode.ZERO_VARIANCE and np.isnan(res.z)


def test_misuse_raises_naming_the_value():
    with pytest.raises(ValueError, match="exactly one"):
        safety_stock(1, 1, 1)
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        safety_stock(1, 1, 1, cycle_service_level=95)
    with pytest.raises(ValueError, match="order_quantity"):
        safety_stock(1, 1, 1, fill_rate=0.9)


def test_order_quantity_respects_moq_and_case_pack():
    got = order_quantity([90, 10, 200, 99.5], 100, moq=24, case_pack=12)
    assert got.tolist() == [24, 96, 0, 24]
    assert order_quantity(0, 50, moq=0, case_pack=1) == 50
    assert order_quantity(0, 50, moq=60, case_pack=25) == 75  # MOQ, then whole cases


def _flat_forecast(sku, d, sd, start="2025-06-01", days=60):
    from scipy.stats import norm

    z = norm.ppf(0.975)
    ts = pd.date_range(start, periods=days)
    return pd.DataFrame(
        {
            "series": sku,
            "timestamp": ts,
            "forecast": d,
            "lo_95": d - z * sd,
            "hi_95": d + z * sd,
        }
    )


def test_replenishment_plan_uses_the_forecast_error_and_alerts():
    fc = pd.concat([_flat_forecast("A", 12, 4), _flat_forecast("B", 1, 1)])
    skus = pd.DataFrame(
        {
            "sku": ["A", "B"],
            "name": ["保温杯", "杯套"],
            "price": [99.0, 19.0],
            "unit_cost": [40.0, 5.0],
            "lead_time_days": [6, 10],
            "lead_time_std_days": [2, 0],
            "moq": [50, 0],
            "case_pack": [10, 1],
        }
    )
    inv = pd.DataFrame({"sku": ["A", "B"], "on_hand": [30, 500], "in_transit": [20, 0]})
    plan = replenishment_plan(fc, skus, inv, review_days=7, cycle_service_level=0.98)
    assert list(plan.columns) == PLAN_COLUMNS
    a = plan.set_index("sku").loc["A"]
    assert_allclose(
        [a.safety_stock, a.order_up_to], [PERIODIC["safety_stock"], PERIODIC["reorder_point"]]
    )
    assert a.inventory_position == 50
    assert a.order_qty == 170  # 213.5 − 50 = 163.5 → 170 (cases of 10)
    assert a.order_value == 170 * 40
    assert a.stockout_date == pd.Timestamp("2025-06-05")  # 4 days × 12 > 50 units
    assert a.order_by == pd.Timestamp("2025-05-30") and a.alert == "stockout"
    assert a.gmv_at_risk == pytest.approx((13 * 12 - 50) * 99)
    b = plan.set_index("sku").loc["B"]
    assert b.alert == "overstock" and b.order_qty == 0
    assert b.money_tied_up == 2500 and b.excess_value == pytest.approx((500 - 90) * 5)
    assert stockout_alerts(plan)["sku"].tolist() == ["A"]


def test_promo_stock_gives_the_need_and_the_last_order_date():
    fc = _flat_forecast("A", 10, 2, start="2025-10-01", days=50)
    fc.loc[fc["timestamp"].between("2025-11-09", "2025-11-11"), ["forecast", "lo_95", "hi_95"]] *= 5
    skus = pd.DataFrame({"sku": ["A"], "lead_time_days": [15], "moq": [0], "case_pack": [20]})
    inv = pd.DataFrame({"sku": ["A"], "on_hand": [200]})
    out = promo_stock(
        fc, skus, inv, start="2025-11-09", end="2025-11-11", as_of="2025-09-30", inbound_days=2
    )
    r = out.iloc[0]
    sd = 2 * 5  # σt scales with the lifted interval
    assert r.event_demand == pytest.approx(150) and r.pre_event_demand == pytest.approx(390)
    assert r.safety_stock == pytest.approx(1.6448536269514722 * np.sqrt(3 * sd**2))
    assert r.available_at_start == 0 and r.order_qty == 180  # 150 + 28.5 → 9 cases
    assert r.last_order_date == pd.Timestamp("2025-10-23") and not r.late
