"""Pairwise association rules on 100k synthetic orders: sparse XᵀX vs a Python pair-count loop.

Run: .venv/bin/python benchmarks/bench_basket.py  (prints seconds and the speed ratio)
"""

from __future__ import annotations

import time
from collections import Counter
from itertools import permutations

import numpy as np
import pandas as pd

from opsnb.market.basket import association_rules


def make_items(n_orders=100_000, n_skus=2_000, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, n_orders)
    order = np.repeat(np.arange(n_orders), sizes)
    pop = rng.dirichlet(np.ones(n_skus) * 0.3)
    sku = rng.choice(n_skus, size=len(order), p=pop)
    return pd.DataFrame({"order_id": order, "sku": sku.astype(str)})


def loop_baseline(items, min_count):
    baskets = items.groupby("order_id")["sku"].agg(set)
    pair = Counter()
    for b in baskets:
        pair.update(permutations(b, 2))
    return {k: v for k, v in pair.items() if v >= min_count}


if __name__ == "__main__":
    items = make_items()
    t0 = time.perf_counter()
    rules = association_rules(items, min_support=0.0, min_count=20)
    t_sparse = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = loop_baseline(items, 20)
    t_loop = time.perf_counter() - t0
    assert len(ref) == len(rules)
    print(f"orders=100000 lines={len(items)} rules={len(rules)}")
    print(
        f"sparse XtX: {t_sparse:.2f}s  python pair loop: {t_loop:.2f}s  ratio {t_loop / t_sparse:.1f}x"
    )
