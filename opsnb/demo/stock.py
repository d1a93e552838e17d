"""The demo shop's products and stock (商品档案, 库存, 采购单), with the true demand.

* :func:`product_catalog`: the 60 core SKUs of :func:`opsnb.demo.profile.sku_catalog` plus a
  long tail of 30 slow, intermittent sellers (旧款, 小众), each with a supplier, a unit cost,
  a lead time (and its spread), an MOQ and a case pack. Fixed, independent of the seed.
* :func:`simulate_stock` runs on the order lines before they are priced:

  1. **long tail**: a tiny share of each category's lines goes to its tail SKUs (each expects
     0.01–0.4 lines a day, more on promotion days because there are more lines), so they sell
     on a few days in ten or a hundred;
  2. **true demand** per day and SKU is what the lines ask for now (``demand`` in the truth);
  3. **stock**: each day the purchase orders due arrive, then the lines are served in order
     while the SKU has stock; a line that finds its SKU empty goes to an in-stock SKU of the
     same category (by popularity) — the customer buys a substitute, so orders and GMV stay
     consistent and the stocked-out SKU's sales are **censored**;
  4. **the shop's own (imperfect) replenishment**: every Monday an order-up-to policy on the
     mean sales of the last 28 in-stock days × (lead time + 7 days) × a per-SKU cover factor
     between 0.75 and 1.6 (the under-stocked SKUs run out at the end of many cycles), × 2 ahead
     of 618 and × 2.5 ahead of 双11 (short of a 5× peak day), MOQ and case pack respected; lead
     times vary around their mean (normal, ``lead_time_std_days``). The tail's high MOQs turn
     into slow stock (积压).

The truth frame ``demand_truth`` has one row per day and SKU: ``date, sku, demand`` (units
asked for), ``sold`` (units sold: demand censored by stock, plus substitutes taken in),
``on_hand`` (end of day) and ``stockout`` (``on_hand == 0`` at the end of the day: the day's
sales are censored). Drawn from its own generator, so the other tables' draws do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsnb.demo.profile import CATEGORIES, sku_catalog

__all__ = ["TAIL_SKUS", "SUPPLIERS", "product_catalog", "skus_table", "StockSim", "simulate_stock"]

TAIL_SKUS = 10
"""Long-tail SKUs per category (30 in all) after the 20 core ones."""

SUPPLIERS = {
    # name: (lead time in days, its standard deviation)
    "上海美研代工": (14.0, 2.0),
    "广州科丝美": (21.0, 4.0),
    "杭州灌装包材": (10.0, 1.5),
    "韩国进口代理": (35.0, 8.0),
}
"""The demo's suppliers: mean lead time and its spread (days)."""

_REVIEW_WEEKDAY = 0  # the shop orders on Mondays
_PROMO_PRESTOCK = {"618": 2.0, "double11": 2.5}  # order-up-to level × this ahead of the event


def product_catalog() -> pd.DataFrame:
    """The 90 SKUs (60 core + 30 tail): ``sku, category, name_zh, list_price, popularity,
    tail, tail_rate`` (expected tail lines a day), ``supplier, lead_time_days,
    lead_time_std_days, unit_cost, moq, case_pack, cover`` (the shop's cover factor)."""
    core = sku_catalog().assign(tail=False, tail_rate=0.0)
    rng = np.random.default_rng(11)
    rows = []
    for code, word, cat in (
        ("JH", "精华", "面部精华"),
        ("MS", "面霜", "面霜"),
        ("FS", "防晒", "防晒"),
    ):
        for j in range(TAIL_SKUS):
            i = 21 + j
            rows.append(
                dict(
                    sku=f"{code}-{i:03d}",
                    category=cat,
                    name_zh=f"{word}旧款{i:02d}",
                    list_price=float(rng.choice([79, 99, 129, 159, 199, 249, 299, 359])),
                    popularity=0.0,
                    tail=True,
                    tail_rate=float(np.exp(rng.uniform(np.log(0.01), np.log(0.4)))),
                )
            )
    cat = pd.concat([core, pd.DataFrame(rows)], ignore_index=True)
    n = len(cat)
    names = list(SUPPLIERS)
    by_cat = {"面部精华": [0, 3], "面霜": [0, 1], "防晒": [1, 2]}
    cat["supplier"] = [names[rng.choice(by_cat[c])] for c in cat["category"]]
    cat["lead_time_days"] = cat["supplier"].map(lambda s: SUPPLIERS[s][0]).astype(float)
    cat["lead_time_std_days"] = cat["supplier"].map(lambda s: SUPPLIERS[s][1]).astype(float)
    cat["unit_cost"] = np.round(cat["list_price"] * rng.uniform(0.22, 0.38, n), 1)
    cat["case_pack"] = rng.choice([12, 24, 48], n).astype(np.int64)
    moq = np.where(cat["tail"], rng.choice([150, 200, 300], n), rng.choice([48, 96, 144], n))
    cat["moq"] = moq.astype(np.int64)
    cat["cover"] = np.round(rng.uniform(0.75, 1.6, n), 2)
    return cat


def skus_table(catalog: pd.DataFrame) -> pd.DataFrame:
    """The ``skus`` contract table of the catalogue."""
    return pd.DataFrame(
        {
            "sku": pd.array(catalog["sku"].tolist(), dtype="str"),
            "name": pd.array(catalog["name_zh"].tolist(), dtype="str"),
            "category": pd.array(catalog["category"].tolist(), dtype="str"),
            "price": catalog["list_price"].astype(float).to_numpy(),
            "unit_cost": catalog["unit_cost"].astype(float).to_numpy(),
            "supplier": pd.array(catalog["supplier"].tolist(), dtype="str"),
            "lead_time_days": catalog["lead_time_days"].astype(float).to_numpy(),
            "lead_time_std_days": catalog["lead_time_std_days"].astype(float).to_numpy(),
            "moq": catalog["moq"].astype(np.int64).to_numpy(),
            "case_pack": catalog["case_pack"].astype(np.int64).to_numpy(),
        }
    )


@dataclass(frozen=True)
class StockSim:
    """Result of :func:`simulate_stock`: the lines' SKUs after the tail and substitutions
    (``line_sku``), and the ``inventory``, ``purchase_orders`` and ``demand_truth`` frames."""

    line_sku: np.ndarray
    inventory: pd.DataFrame
    purchase_orders: pd.DataFrame
    demand_truth: pd.DataFrame


def _fits(sku: np.ndarray, qty: np.ndarray, stock: np.ndarray) -> np.ndarray:
    """Which lines are served, first come first served per SKU, from ``stock``."""
    order = np.argsort(sku, kind="stable")
    s, q = sku[order], qty[order]
    cq = np.cumsum(q)
    first = np.r_[True, s[1:] != s[:-1]]
    base = np.maximum.accumulate(np.where(first, cq - q, 0))
    ok = np.empty(len(sku), bool)
    ok[order] = (cq - base) <= stock[s]
    return ok


def _assign_tail(line_day, line_sku, catalog, n_days, rng) -> np.ndarray:
    cats = catalog["category"].to_numpy()
    tail = catalog["tail"].to_numpy(bool)
    out = line_sku.copy()
    u = rng.random(len(line_sku))
    for c in CATEGORIES:
        sel = np.flatnonzero(cats[line_sku] == c)
        ids = np.flatnonzero(tail & (cats == c))
        if not len(sel) or not len(ids):
            continue
        p = catalog["tail_rate"].to_numpy()[ids] * n_days / len(sel)
        cp = np.cumsum(p)
        hit = u[sel] < cp[-1]
        out[sel[hit]] = ids[np.searchsorted(cp, u[sel[hit]], side="right")]
    return out


def simulate_stock(dates, line_day, line_sku, line_qty, catalog, rng) -> StockSim:
    """Tail, true demand, stock, substitutions and the shop's purchase orders (module docstring).

    ``line_day`` (non-decreasing day index), ``line_sku`` (index into the core SKUs),
    ``line_qty``: the order lines; ``catalog``: :func:`product_catalog`; ``rng`` a generator of
    its own. Returns a :class:`StockSim`.
    """
    from opsnb.calendar import event_on

    dates = pd.DatetimeIndex(dates)
    D, S = len(dates), len(catalog)
    line_day = np.asarray(line_day, np.int64)
    qty = np.asarray(line_qty, np.int64)
    sku = _assign_tail(line_day, np.asarray(line_sku, np.int64), catalog, D, rng)
    demand = np.bincount(line_day * S + sku, weights=qty, minlength=D * S).reshape(D, S)

    cats = catalog["category"].to_numpy()
    cat_code = pd.Categorical(cats, categories=list(CATEGORIES)).codes
    core_w = (
        catalog["popularity"].to_numpy(float) * (catalog["list_price"].to_numpy() / 200) ** -1.6
    )
    L = catalog["lead_time_days"].to_numpy(float)
    L_sd = catalog["lead_time_std_days"].to_numpy(float)
    moq = catalog["moq"].to_numpy(float)
    pack = catalog["case_pack"].to_numpy(float)
    cover = catalog["cover"].to_numpy(float)
    tail = catalog["tail"].to_numpy(bool)
    ev = event_on(dates).to_numpy()
    boost = np.array([_PROMO_PRESTOCK.get(e, 1.0) for e in ev])

    first_rate = demand[: min(28, D)].mean(axis=0)
    on_hand = np.where(tail, moq, np.ceil(cover * first_rate * (L + 7))).astype(np.int64)
    in_transit = np.zeros(S, np.int64)
    arrivals: dict[int, np.ndarray] = {}
    inv_on = np.zeros((D, S), np.int64)
    inv_tr = np.zeros((D, S), np.int64)
    sold = np.zeros((D, S), np.int64)
    po_rows = []
    bounds = np.searchsorted(line_day, np.arange(D + 1))
    for d in range(D):
        got = arrivals.pop(d, None)
        if got is not None:
            on_hand += got
            in_transit -= got
        a, b = bounds[d], bounds[d + 1]
        s, q = sku[a:b], qty[a:b]
        served = np.zeros(b - a, bool)
        stock = on_hand.copy()
        for _ in range(4):
            idx = np.flatnonzero(~served)
            if not len(idx):
                break
            ok = _fits(s[idx], q[idx], stock)
            done = idx[ok]
            served[done] = True
            np.subtract.at(stock, s[done], q[done])
            left = idx[~ok]
            for c in range(len(CATEGORIES)):  # a substitute of the same category, in stock
                lc = left[cat_code[s[left]] == c]
                if not len(lc):
                    continue
                w = np.where((cat_code == c) & ~tail & (stock > 0), core_w, 0.0)
                if w.sum() <= 0:
                    w = np.where(~tail & (stock > 0), core_w, 0.0)
                cw = np.cumsum(w / w.sum())
                cw[-1] = 1.0
                s[lc] = np.searchsorted(cw, rng.random(len(lc)), side="right")
        for i in np.flatnonzero(~served):  # rare: the core SKU with the most stock
            s[i] = int(np.argmax(np.where(tail, -1, stock)))
            stock[s[i]] -= q[i]
        sku[a:b] = s
        sold[d] = on_hand - stock
        on_hand = stock
        if dates[d].day_of_week == _REVIEW_WEEKDAY:
            lo = max(0, d - 27)
            ok_days = inv_on[lo:d] > 0
            n_ok = ok_days.sum(axis=0)
            rate = np.where(
                n_ok > 0, (sold[lo:d] * ok_days).sum(axis=0) / np.maximum(n_ok, 1), first_rate
            )
            horizon = (L + 7).astype(int)
            ahead = np.array([boost[d + h : d + h + 14].max(initial=1.0) for h in horizon])
            target = cover * rate * (L + 7) * ahead
            need = target - (on_hand + in_transit)
            order = np.where(need > 0, np.ceil(np.maximum(need, moq) / pack) * pack, 0)
            order = np.where(tail & (on_hand + in_transit > 0), 0, order).astype(np.int64)
            for j in np.flatnonzero(order > 0):
                lt = max(1, int(round(L[j] + rng.normal(0, L_sd[j]))))
                arrivals.setdefault(d + lt, np.zeros(S, np.int64))[j] += order[j]
                in_transit[j] += order[j]
                po_rows.append((j, d, d + int(L[j]), order[j], d + lt))
        inv_on[d] = on_hand
        inv_tr[d] = in_transit

    skus = pd.array(catalog["sku"].tolist(), dtype="str")
    day_col = np.repeat(dates.to_numpy().astype("datetime64[us]"), S)
    sku_col = skus.take(np.tile(np.arange(S), D))
    inventory = pd.DataFrame(
        {
            "date": day_col,
            "sku": sku_col,
            "on_hand": inv_on.ravel(),
            "in_transit": inv_tr.ravel(),
        }
    )
    po = pd.DataFrame(po_rows, columns=["j", "d", "e", "qty", "r"])
    day = lambda i: dates[0] + pd.to_timedelta(i, unit="D")  # noqa: E731
    purchase_orders = pd.DataFrame(
        {
            "sku": skus.take(po["j"].to_numpy(np.int64)),
            "ordered": day(po["d"].to_numpy()).astype("datetime64[us]"),
            "expected": day(po["e"].to_numpy()).astype("datetime64[us]"),
            "qty": po["qty"].to_numpy(np.int64),
            "received": pd.DatetimeIndex(
                [day(r) if r < D else pd.NaT for r in po["r"].to_numpy()]
            ).astype("datetime64[us]"),
        }
    )
    truth = pd.DataFrame(
        {
            "date": day_col,
            "sku": sku_col,
            "demand": demand.ravel().astype(np.int64),
            "sold": sold.ravel(),
            "on_hand": inv_on.ravel(),
            "stockout": inv_on.ravel() == 0,
        }
    )
    return StockSim(sku, inventory, purchase_orders, truth)
