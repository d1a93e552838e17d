"""The demo shop's customers, orders and order lines (built by :func:`opsnb.demo.generate`).

From a day's buyers and orders per channel (the traffic model of :mod:`opsnb.demo`):

* :func:`_customers` splits buyers into new and returning customers (BG/NBD-like: while alive,
  a customer buys at a Gamma-distributed rate × the shop's day multiplier and drops out after a
  repeat purchase with a Beta-distributed probability; a legacy pool acquired since
  :data:`opsnb.demo.SHOP_OPENED` keeps returning);
* :func:`orders_and_items` gives every order a customer, 1-4 lines over the SKU catalogue
  (unit price = list price × the order's discount, half of the second lines completing a
  精华 + 面霜 set, :func:`_set_partner`), a refund and a payment time, and returns the orders and
  order_items frames plus the (date × channel) sums that ``daily_metrics`` reports.

Split out of :mod:`opsnb.demo`; the generated shop is unchanged (same draws in the same order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsnb import calendar as _cal
from opsnb.demo.profile import (
    CHANNEL_PROFILE,
    CHANNELS,
    DISCOUNT_NORMAL,
    DISCOUNT_PROMO,
    LINES_P_NORMAL,
    LINES_P_PROMO,
    QTY_P,
    sku_weights,
)
from opsnb.demo.stock import simulate_stock

__all__ = ["orders_and_items", "product_daily_table"]


# Repeat buying (BG/NBD-like): while alive, customer i buys at rate λ_i per day (Gamma across
# customers) times the shop's day multiplier (weekday, season, promotions); after each repeat
# purchase they drop out with probability p_i (Beta across customers).
_RATE_SHAPE, _RATE_MEAN = 0.6, 1 / 1400
_DROP_A, _DROP_B = 2.0, 3.0


def _customers(buyers, day_mult, legacy_days, rng):
    """Split buyers into new and returning customers and give every buyer slot an id.

    Customers acquired in the range get ids in (date, channel) order; a legacy pool acquired
    between :data:`opsnb.demo.SHOP_OPENED` and ``start`` (ids below ``n_legacy``) keeps returning. Returning
    buyers of a day are drawn from alive customers weighted by λ_i (with at most one purchase
    per customer and day) and spread over channels by their returning-buyer weight
    (``1 − new`` in :data:`CHANNEL_PROFILE`); the rest of the channel's buyers are new.

    Returns (new_buyers (D, C), returning ids per (d, c) in order, n_legacy).
    """
    D, C = buyers.shape
    ret_w = np.array([1 - CHANNEL_PROFILE[c]["new"] for c in CHANNELS])
    cap_share = np.minimum(0.98, 2.5 * ret_w)
    n_legacy = int(round(legacy_days.sum()))
    n_max = n_legacy + int(buyers.sum())
    rate = rng.gamma(_RATE_SHAPE, _RATE_MEAN / _RATE_SHAPE, size=n_max)
    drop = rng.beta(_DROP_A, _DROP_B, size=n_max)
    lp = legacy_days / legacy_days.sum()
    age = len(legacy_days) - np.searchsorted(np.cumsum(lp), rng.random(n_legacy) * 0.999999)
    alive = np.ones(n_max, dtype=bool)
    # legacy customers still alive at start: dropout happens at rate λ·p after the first repeat
    alive[:n_legacy] = rng.random(n_legacy) < np.exp(-rate[:n_legacy] * drop[:n_legacy] * age)
    new_b = np.zeros((D, C), dtype=np.int64)
    ret_ids: list[np.ndarray] = []
    n_elig = n_legacy
    for w0 in range(0, D, 7):
        w1 = min(D, w0 + 7)
        w = rate[:n_elig] * alive[:n_elig]
        cdf = np.cumsum(w)
        total = cdf[-1] if n_elig else 0.0
        bought = []
        for d in range(w0, w1):
            b = buyers[d]
            cap = np.floor(b * cap_share).astype(np.int64)
            k = min(int(rng.poisson(total * day_mult[d])), int(cap.sum()))
            got = np.empty(0, dtype=np.int64)
            m = int(k * 1.3) + 20
            while got.size < k and total > 0:
                draw = np.searchsorted(cdf, rng.random(m) * total, side="right")
                allv = np.concatenate([got, draw])
                _, first_idx = np.unique(allv, return_index=True)
                got = allv[np.sort(first_idx)]
                m *= 2
            got = got[:k]
            # spread over channels ∝ buyers × returning weight, within each channel's cap
            pr = b * ret_w
            per = (
                rng.multinomial(got.size, pr / pr.sum())
                if pr.sum() > 0 and got.size
                else np.zeros(C, dtype=np.int64)
            )
            over = np.maximum(per - cap, 0).sum()
            per = np.minimum(per, cap)
            while over > 0:
                room = cap - per
                add = np.minimum(room, rng.multinomial(over, room / room.sum()))
                per += add
                over -= add.sum()
            splits = np.split(got, np.cumsum(per)[:-1])
            ret_ids.extend(splits)
            new_b[d] = b - per
            bought.append(got)
        # dropout after each repeat purchase; this week's new customers become eligible
        if bought:
            bw = np.concatenate(bought)
            alive[bw[rng.random(bw.size) < drop[bw]]] = False
        n_elig += int(new_b[w0:w1].sum())
    return new_b, ret_ids, n_legacy


def _set_partner(catalog: pd.DataFrame) -> np.ndarray:
    """Index of the SKU that completes a set with each SKU (精华 k ↔ 面霜 k), -1 if none."""
    sku = catalog["sku"].tolist()
    pos = {s: i for i, s in enumerate(sku)}
    out = np.full(len(sku), -1, dtype=np.int64)
    for i, s in enumerate(sku):
        for a, b in (("JH-", "MS-"), ("MS-", "JH-")):
            if s.startswith(a) and b + s[len(a) :] in pos:
                out[i] = pos[b + s[len(a) :]]
    return out


def orders_and_items(dates, daily, rng, catalog, factors, *, products=None, stock_rng=None):
    """Orders and lines of every (day, channel) group; see the module docstring.

    With ``products`` (:func:`opsnb.demo.stock.product_catalog`, extending ``catalog``) and
    ``stock_rng``, the lines go through :func:`opsnb.demo.stock.simulate_stock` before they
    are priced (long tail, stock-outs and substitutes); the last element returned is then its
    :class:`~opsnb.demo.stock.StockSim`, else None. SKU indexes then refer to ``products``.
    """
    D, C = daily["orders"].shape
    buyers, orders = daily["buyers"], daily["orders"]
    new_b, ret_by_group, n_legacy = _customers(buyers, daily["day_mult"], daily["legacy"], rng)
    new_ids = n_legacy + np.arange(int(new_b.sum()))

    # slot layout per group (d, c): [new buyers | returning buyers | extra orders]
    g_orders = orders.ravel()
    N = int(g_orders.sum())
    grp = np.repeat(np.arange(D * C), g_orders)
    g_start = np.concatenate([[0], np.cumsum(g_orders)[:-1]])
    pos = np.arange(N) - g_start[grp]
    nb, bb = new_b.ravel()[grp], buyers.ravel()[grp]
    cust = np.empty(N, dtype=np.int64)
    is_new = pos < nb
    cust[is_new] = new_ids  # (d, c) order == date order of new ids
    is_ret = (pos >= nb) & (pos < bb)
    cust[is_ret] = np.concatenate(ret_by_group) if ret_by_group else np.empty(0, dtype=np.int64)
    extra = pos >= bb
    src = g_start[grp[extra]] + (rng.random(int(extra.sum())) * bb[extra]).astype(np.int64)
    cust[extra] = cust[src]

    day_idx = grp // C
    ch_idx = grp % C
    promo = daily["promo"][day_idx]

    # order lines
    lines_p = np.where(promo[:, None], LINES_P_PROMO[None, :], LINES_P_NORMAL[None, :])
    u = rng.random(N)
    n_lines = 1 + (u[:, None] > np.cumsum(lines_p, axis=1)[:, :-1]).sum(axis=1)
    disc_lo = np.where(promo, DISCOUNT_PROMO[0], DISCOUNT_NORMAL[0])
    disc_hi = np.where(promo, DISCOUNT_PROMO[1], DISCOUNT_NORMAL[1])
    discount = (disc_lo + rng.random(N) * (disc_hi - disc_lo)) * factors["discount"][
        day_idx, ch_idx
    ]
    M = int(n_lines.sum())
    line_order = np.repeat(np.arange(N), n_lines)
    w = sku_weights(catalog)
    cdfs = np.cumsum(w, axis=1)
    cdfs[:, -1] = 1.0
    line_ch = ch_idx[line_order]
    r = rng.random(M)
    sku_idx = np.empty(M, dtype=np.int64)
    for c in range(C):
        m = line_ch == c
        sku_idx[m] = np.searchsorted(cdfs[c], r[m], side="right")
    # 套装: half of the second lines complete a serum + cream set of the same series (JH-k with
    # MS-k), so basket analysis has real associations to find. Drawn from a spawned generator,
    # so every other draw of the demo stays as it was.
    first = np.concatenate([[0], np.cumsum(n_lines)[:-1]])[n_lines >= 2]
    partner = _set_partner(catalog)[sku_idx[first]]
    take = (partner >= 0) & (rng.spawn(1)[0].random(len(first)) < 0.5)
    sku_idx[first[take] + 1] = partner[take]
    qty = 1 + (rng.random(M)[:, None] > np.cumsum(QTY_P)[None, :-1]).sum(axis=1)
    # a line is priced by the SKU first drawn for it: when the stock simulation moves it to a
    # tail seller or a substitute, the order's amount stays what the shop's traffic model made,
    # so daily_metrics (and every injected anomaly) are the same with or without products
    list_cents = np.round(catalog["list_price"].to_numpy() * 100).astype(np.int64)
    price_cents = np.maximum(np.round(list_cents[sku_idx] * discount[line_order]), 1).astype(
        np.int64
    )
    stock = None
    if products is not None:  # its own generator: every draw above and below stays as it was
        stock = simulate_stock(dates, day_idx[line_order], sku_idx, qty, products, stock_rng)
        sku_idx = stock.line_sku
        catalog = products
        # a line moved onto a SKU its order already holds takes that line's price, so the two
        # merge into one order_items row exactly (rare: changes a few orders by a few yuan)
        first = pd.Series(price_cents).groupby([line_order, sku_idx]).transform("first")
        price_cents = first.to_numpy(np.int64)
    amount_cents = np.bincount(line_order, weights=qty * price_cents, minlength=N).astype(np.int64)

    # refunds
    refunded = rng.random(N) < daily["refund_p"][day_idx, ch_idx]
    partial = rng.random(N) < 0.25
    frac = 0.2 + 0.6 * rng.random(N)
    refund_cents = np.where(
        refunded, np.where(partial, np.round(amount_cents * frac), amount_cents), 0
    ).astype(np.int64)

    # payment time: hour profile (evening peak; 0-1 h and 20 h rush on peak days)
    hours = np.array(
        [
            2.0,
            1.2,
            0.6,
            0.3,
            0.2,
            0.2,
            0.4,
            1,
            2.2,
            3.5,
            4.6,
            4.4,
            3.6,
            3.8,
            4.2,
            4.1,
            3.9,
            3.8,
            3.9,
            4.8,
            6.0,
            6.6,
            6.0,
            3.8,
        ]
    )
    hours = hours / hours.sum()
    hour = np.searchsorted(np.cumsum(hours), rng.random(N) * 0.999999, side="right")
    peak_days = np.isin(
        dates.normalize(),
        _cal.promotion_calendar(dates.min(), dates.max())
        .query("kind == 'promo'")["peak"]
        .to_numpy(),
    )
    rush = peak_days[day_idx] & (rng.random(N) < 0.25)
    hour = np.where(rush, np.where(rng.random(N) < 0.7, 0, 20), hour)
    secs = hour * 3600 + rng.integers(0, 3600, size=N)

    # sort within day by time, then number orders per day
    order = np.lexsort((secs, day_idx))
    inv = np.empty(N, dtype=np.int64)
    inv[order] = np.arange(N)
    day_s = day_idx[order]
    day_first = np.searchsorted(day_s, np.arange(D))
    seq = np.arange(N) - day_first[day_s]
    ymd = (dates.year * 10000 + dates.month * 100 + dates.day).to_numpy().astype(np.int64)
    order_num = ymd[day_s] * 1_000_000 + 100_000 + seq
    times = dates.to_numpy().astype("datetime64[s]")[day_s] + secs[order].astype("timedelta64[s]")
    cust_s = cust[order]
    order_ids = pd.Series(order_num).astype("str").array
    orders_df = pd.DataFrame(
        {
            "order_id": order_ids,
            "customer_id": ("C" + pd.Series(10_000_000 + cust_s).astype("str")).array,
            "order_time": pd.to_datetime(times).astype("datetime64[us]"),
            "channel": pd.array(list(CHANNELS), dtype="str").take(ch_idx[order]),
            "amount": amount_cents[order] / 100.0,
            "refund_amount": refund_cents[order] / 100.0,
        }
    )
    # items sorted like orders (stable: lines keep their order within an order)
    item_pos = inv[line_order]
    perm = np.argsort(item_pos, kind="stable")
    sku_s = sku_idx[perm]
    items = pd.DataFrame(
        {
            "order_id": order_ids.take(item_pos[perm]),
            "sku": pd.array(catalog["sku"].tolist(), dtype="str").take(sku_s),
            "qty": qty[perm].astype(np.int64),
            "price": price_cents[perm] / 100.0,
            "category": pd.array(catalog["category"].tolist(), dtype="str").take(sku_s),
        }
    )
    item_arrays = dict(
        day=day_idx[line_order][perm],
        sku=sku_s,
        qty=qty[perm],
        price_cents=price_cents[perm],
        order=item_pos[perm],
    )
    if items.duplicated(["order_id", "sku"]).any():  # one line per (order, sku): the table's key
        items = items.groupby(["order_id", "sku"], sort=False, as_index=False).agg(
            qty=("qty", "sum"), price=("price", "first"), category=("category", "first")
        )

    # aggregate back to (d, c)
    gmv_cents = np.bincount(grp, weights=amount_cents, minlength=D * C).reshape(D, C)
    ref_cents = np.bincount(grp, weights=refund_cents, minlength=D * C).reshape(D, C)
    ref_orders = np.bincount(grp, weights=refunded, minlength=D * C).reshape(D, C)
    return (
        orders_df,
        items,
        gmv_cents,
        ref_cents,
        ref_orders.astype(np.int64),
        item_arrays,
        new_b,
        stock,
    )


def product_daily_table(dates, orders, items, item_arrays, catalog, rng) -> pd.DataFrame:
    """``product_daily`` of the demo: one row per day and SKU sold, consistent with the orders.

    buyers, orders, units, gmv and refund_amount are counted from the order lines (a refund is
    spread over an order's lines by value and dated by the order's day); product visitors,
    page views and add-to-cart users are drawn around them (conversion 4-12 % by SKU), from
    ``rng`` alone so that the other tables do not change.
    """
    day = item_arrays["day"]
    sku = item_arrays["sku"]
    order = item_arrays["order"]
    value = item_arrays["qty"] * item_arrays["price_cents"]
    n_sku = len(catalog)
    key = day.astype(np.int64) * n_sku + sku
    cust = pd.factorize(orders["customer_id"].to_numpy())[0][order]
    amount = np.round(orders["amount"].to_numpy() * 100).astype(np.int64)[order]
    refund = np.round(orders["refund_amount"].to_numpy() * 100).astype(np.int64)[order]
    share = np.where(amount > 0, value / np.maximum(amount, 1), 0.0)
    keys, inv = np.unique(key, return_inverse=True)
    units = np.bincount(inv, weights=item_arrays["qty"]).astype(np.int64)
    gmv = np.bincount(inv, weights=value)
    ref = np.bincount(inv, weights=refund * share)
    n_orders = np.bincount(np.unique(np.stack([inv, order]), axis=1)[0]).astype(np.int64)
    buyers = np.bincount(np.unique(np.stack([inv, cust]), axis=1)[0]).astype(np.int64)
    conv = 0.04 + 0.08 * rng.random(n_sku)
    visitors = np.maximum(
        buyers, np.round(buyers / conv[keys % n_sku] * rng.lognormal(0, 0.15, len(keys)))
    ).astype(np.int64)
    page_views = np.round(visitors * (1.3 + 0.7 * rng.random(len(keys)))).astype(np.int64)
    cart = np.minimum(visitors, buyers + rng.binomial(visitors - buyers, 0.06)).astype(np.int64)
    cat = catalog.reset_index(drop=True)
    return pd.DataFrame(
        {
            "date": pd.DatetimeIndex(dates).take(keys // n_sku).astype("datetime64[us]"),
            "sku": pd.array(cat["sku"].tolist(), dtype="str").take(keys % n_sku),
            "sku_name": pd.array(cat["name_zh"].tolist(), dtype="str").take(keys % n_sku),
            "category": pd.array(cat["category"].tolist(), dtype="str").take(keys % n_sku),
            "visitors": visitors,
            "page_views": page_views,
            "cart_users": cart,
            "buyers": buyers,
            "orders": n_orders,
            "units": units,
            "gmv": np.round(gmv) / 100.0,
            "refund_amount": np.round(ref) / 100.0,
        }
    )
