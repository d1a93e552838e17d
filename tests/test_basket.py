"""Association rules against a brute-force count over baskets."""

from __future__ import annotations

from collections import Counter
from itertools import permutations

import numpy as np
import pandas as pd
import pytest

from opsnb.market import basket


def _brute_force(items: pd.DataFrame, min_count: int) -> pd.DataFrame:
    baskets = items.groupby("order_id")["sku"].apply(lambda s: set(map(str, s)))
    n = len(baskets)
    single, pair = Counter(), Counter()
    for b in baskets:
        single.update(b)
        pair.update(permutations(sorted(b), 2))
    rows = [
        {
            "antecedent": a,
            "consequent": c,
            "count": k,
            "support": k / n,
            "confidence": k / single[a],
            "lift": k * n / (single[a] * single[c]),
        }
        for (a, c), k in pair.items()
        if k >= min_count
    ]
    return pd.DataFrame(rows).sort_values(["antecedent", "consequent"]).reset_index(drop=True)


def _random_items(seed: int, n_orders: int = 400, n_skus: int = 25) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    pop = rng.dirichlet(np.ones(n_skus) * 0.5)
    for o in range(n_orders):
        k = rng.integers(1, 6)
        for s in rng.choice(n_skus, size=k, p=pop):  # with replacement: duplicate lines happen
            rows.append((f"o{o}", f"s{s:02d}"))
        if rng.random() < 0.3:  # a planted pair
            rows += [(f"o{o}", "bread"), (f"o{o}", "butter")]
    return pd.DataFrame(rows, columns=["order_id", "sku"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rules_match_brute_force_counts(seed):
    items = _random_items(seed)
    got = basket.association_rules(items, min_support=0.0, min_count=3)
    ref = _brute_force(items, 3)
    got = got.sort_values(["antecedent", "consequent"]).reset_index(drop=True)
    assert len(got) == len(ref) > 0
    assert (
        got[["antecedent", "consequent"]].to_numpy() == ref[["antecedent", "consequent"]].to_numpy()
    ).all()
    np.testing.assert_array_equal(got["count"], ref["count"])
    for c in ("support", "confidence", "lift"):
        np.testing.assert_allclose(got[c], ref[c], rtol=1e-12)
    assert got.attrs["n_orders"] == items["order_id"].nunique()


def test_planted_pair_has_top_lift_and_thresholds_apply():
    items = _random_items(4)
    rules = basket.association_rules(items, min_support=0.05, min_lift=1.5, top=5)
    assert {rules.iloc[0]["antecedent"], rules.iloc[0]["consequent"]} == {"bread", "butter"}
    assert (rules["support"] >= 0.05).all() and (rules["lift"] >= 1.5).all() and len(rules) <= 5


def test_duplicate_lines_count_once_and_hand_example():
    items = pd.DataFrame(
        {"order_id": [1, 1, 1, 2, 2, 3, 4], "sku": ["a", "a", "b", "a", "b", "a", "c"]}
    )
    r = basket.association_rules(items, min_support=0, min_count=1).set_index(
        ["antecedent", "consequent"]
    )
    assert r.loc[("a", "b"), "count"] == 2
    assert r.loc[("a", "b"), "confidence"] == pytest.approx(2 / 3)
    assert r.loc[("b", "a"), "confidence"] == 1.0
    assert r.loc[("a", "b"), "lift"] == pytest.approx((2 / 4) / ((3 / 4) * (2 / 4)))
    assert ("a", "c") not in r.index


def test_empty_and_single_item_inputs_give_empty_rules():
    empty = pd.DataFrame({"order_id": [], "sku": []})
    assert basket.association_rules(empty).empty
    single = pd.DataFrame({"order_id": [1, 2], "sku": ["a", "a"]})
    assert basket.association_rules(single, min_count=1).empty
