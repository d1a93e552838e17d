"""商品运营 tables on hand-sized data: ABC/XYZ, the four product classes, 动销率, turnover,
sell-through and the per-SKU funnel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opsnb.errors import ErrorCode
from opsnb.products.classify import (
    SellRate,
    abc_xyz,
    classify_products,
    sell_rate,
    sku_funnel,
    turnover,
)

DAYS = pd.date_range("2025-06-01", periods=20)


def _sales():
    rows = []
    steady = np.full(20, 10)
    rising = np.r_[np.full(10, 2), np.full(10, 4)]
    spiky = np.where(np.arange(20) % 5 == 0, 10, 0)
    rare = np.r_[1, np.zeros(19, int)]
    for sku, units, price in (
        ("hit", steady, 50),
        ("up", rising, 20),
        ("spiky", spiky, 10),
        ("rare", rare, 5),
    ):
        rows.append(pd.DataFrame({"date": DAYS, "sku": sku, "units": units, "gmv": units * price}))
    df = pd.concat(rows, ignore_index=True)
    df["visitors"] = 100
    df["buyers"] = np.where(df["sku"] == "spiky", 9, 1)
    return df


def test_abc_by_gmv_share_and_xyz_by_daily_variability():
    got = abc_xyz(_sales())
    assert got["sku"].tolist() == ["hit", "up", "spiky", "rare"]
    # GMV 10000, 1200, 400, 5 of 11605: shares before each SKU 0, .862, .965, .999
    assert got["abc"].tolist() == ["A", "B", "C", "C"]
    assert got["xyz"].tolist() == ["X", "X", "Z", "Z"]
    assert got.loc[1, "cv"] == pytest.approx(1 / 3)  # 2 and 4: sd 1 / mean 3
    assert got["sell_days"].tolist() == [20, 20, 4, 1] and (got["days"] == 20).all()


def test_product_classes_follow_the_stated_rule():
    got = classify_products(_sales()).set_index("sku")
    assert got["product_class"].to_dict() == {
        "hit": "hit",  # class A
        "up": "potential",  # units +100 % from the first half to the second
        "spiky": "potential",  # conversion in the top quarter
        "rare": "slow",  # sold on 1 of 20 days (< 10 %)
    }
    assert got.loc["rare", "label"] == "滞销"
    assert classify_products(_sales(), lang="en").set_index("sku").loc["up", "label"] == "potential"
    no_traffic = classify_products(_sales().drop(columns=["visitors", "buyers"])).set_index("sku")
    assert no_traffic.loc["spiky", "product_class"] == "steady"


def test_sell_rate_counts_listed_skus_that_sold():
    s = _sales()
    assert sell_rate(s, listed=["hit", "up", "spiky", "rare", "new1", "new2"]) == SellRate(
        4 / 6, 4, 6
    )
    assert sell_rate(s[s["sku"] != "rare"], listed=["hit", "rare"]).to_dict() == {
        "rate": 0.5, "sold": 1, "listed": 2, "error_code": "",
    }  # fmt: skip
    empty = sell_rate(s, listed=[])
    assert np.isnan(empty.rate) and empty.error_code == ErrorCode.ZERO_DENOMINATOR


def test_turnover_days_and_sell_through():
    s = _sales()
    inv = pd.DataFrame(
        {
            "date": np.tile(DAYS, 2),
            "sku": np.repeat(["hit", "rare"], 20),
            "on_hand": np.r_[np.linspace(300, 110, 20), np.full(20, 40)],
        }
    )
    got = turnover(s, inv, unit_cost={"hit": 20.0, "rare": 2.0}).set_index("sku")
    assert got.loc["hit", "units_sold"] == 200 and got.loc["hit", "avg_on_hand"] == pytest.approx(
        205
    )
    assert got.loc["hit", "turnover"] == pytest.approx(200 / 205)
    assert got.loc["hit", "turnover_days"] == pytest.approx(20 / (200 / 205))
    assert got.loc["hit", "sell_through"] == pytest.approx(200 / 310)
    assert got.loc["rare", "sell_through"] == pytest.approx(1 / 41)
    assert got.loc["rare", "inventory_value"] == 80 and np.isnan(got.loc["up", "avg_on_hand"])


def test_sku_funnel_rates_and_change_against_the_previous_period():
    d = pd.DataFrame(
        {
            "date": ["2025-06-01", "2025-06-02", "2025-06-03", "2025-06-04"],
            "sku": "A",
            "visitors": [100, 100, 200, 200],
            "cart_users": [10, 10, 30, 30],
            "buyers": [2, 2, 9, 9],
        }
    )
    got = sku_funnel(d, "2025-06-03", "2025-06-04").iloc[0]
    assert (got.visitors, got.cart_users, got.buyers) == (400, 60, 18)
    assert got.cart_rate == pytest.approx(0.15) and got.buy_rate == pytest.approx(0.3)
    assert got.conversion_rate == pytest.approx(
        0.045
    ) and got.prev_conversion_rate == pytest.approx(0.02)
    assert got.conversion_rate_change == pytest.approx(0.025)
    assert got.cart_rate_change == pytest.approx(0.05)
