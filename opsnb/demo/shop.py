"""The deterministic demo shop (演示店铺): a 美妆护肤 shop on Tmall/Douyin, with ground truth.

Every notebook of opsnb runs on it out of the box, and every method can be checked against it
because the shop's truth is known: injected anomalies (``anomalies``), the true effects of two
A/B tests (``experiment_truth``), the index → GMV transform of the market data.

How the numbers are made (all draws from ``numpy.random.default_rng(seed)``):

* **Traffic** per channel (:data:`CHANNELS`): a 2024 level × yearly growth (25-50 %) × weekday
  pattern × mild winter season × the promotion calendar (:mod:`opsnb.calendar`: 双11 peak about
  5× a normal day, 618 about 3.5×, 双12 / 年货节 / 38 / 99 moderate, 春节 a dip) × noise.
* **Funnel**: buyers ~ Binomial(visitors, conversion) with conversion 2-8 % by channel, higher on
  promotion days; orders = buyers + Binomial(buyers, 7 %); cart users ≥ buyers.
* **Ad spend** (付费推广, 抖音, 小红书, 直播) = true visitors × cost per visitor, with
  cost per visitor = CAC × base conversion, so CAC = ad_spend / buyers ≈ ¥50 for 小红书
  (conversion ≈ 8 %) and ≈ ¥80 for 抖音 (≈ 5 %), the seeds of :mod:`opsnb.goals`.
* **Orders**: one row per daily-metrics order, so ``daily_metrics`` counts ARE the order counts
  and ``gmv`` is the sum of order amounts (to the cent; the data-health notebook checks it). An
  order's amount is the sum of its lines (``order_items``: 1-4 lines over 60 SKUs, unit price =
  list price × the order's discount), so items add up to the order exactly. Discounts are deeper
  on promotion days, so AOV is lower there. Refunds are drawn per order (3-8 % by channel, more
  for promotion orders), ``refund_amount`` sums to the daily figure.
* **Customers** (BG/NBD-like): each customer buys again at a Gamma-distributed rate while
  alive (× weekday, season and promotion) and drops out after a repeat purchase with a
  Beta-distributed probability. Customers acquired since :data:`SHOP_OPENED` form the pool,
  so a short range starts with the same history as the full one. A day's returning buyers
  are spread over channels (mostly 老客/私域); the rest of a channel's buyers are new
  customers (``new_buyers``, first-time ids). About 30 % of buyers return, 24 % of the
  customers seen in two years buy more than once, and a BG/NBD fit converges.
* ``scale`` multiplies every traffic level (default 1.0 ≈ 1 M orders over two years);
  counts stay consistent at any scale.

The traffic model and constants live in :mod:`opsnb.demo.profile`, the customer and order
simulation in :mod:`opsnb.demo.orders`, the planning, experiment and market tables in
:mod:`opsnb.demo.tables`; this module puts them together and writes the store and files.

* **Products and stock** (:mod:`opsnb.demo.stock`): 60 core SKUs and a long tail of 30
  intermittent sellers (``skus``: price, cost, supplier, lead time, MOQ, case pack); the shop's
  own weekly order-up-to replenishment with varying lead times (``purchase_orders``), daily
  stock (``inventory``), stock-outs whose customers buy a substitute, so a stocked-out SKU's
  sales are censored; ``product_daily`` counts the lines as sold.

Ground truth frames: ``anomalies`` (anomaly_id, start, end, channel, metric, kind, magnitude,
description_zh, description_en), ``experiment_truth`` (experiment, metric, control_mean,
treatment_mean, true_abs_effect, true_rel_effect) and ``demand_truth`` (date, sku, demand,
sold, on_hand, stockout: the demand before stock-outs censored it).

Examples
--------
>>> shop = generate(start="2025-11-01", end="2025-11-30", scale=0.1)
>>> sorted(shop.daily_metrics["channel"].unique()) == sorted(CHANNELS)
True
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb import config
from opsnb.data.schemas import get_table
from opsnb.data.store import open_store, write_table
from opsnb.demo import orders as demo_orders
from opsnb.demo import stock as demo_stock
from opsnb.demo import tables as demo_tables
from opsnb.demo.profile import (
    CHANNELS,
    anomaly_factors,
    anomaly_plan,
    legacy_days,
    simulate_traffic,
    sku_catalog,
)
from opsnb.errors import OpsnbError
from opsnb.sheets import write_book

__all__ = ["DemoShop", "generate", "write_demo"]


@dataclass(frozen=True)
class DemoShop:
    """The demo shop's tables (each a DataFrame satisfying its contract in :mod:`opsnb.data.schemas`)
    and its ground truth (``anomalies``, ``experiment_truth``)."""

    daily_metrics: pd.DataFrame
    orders: pd.DataFrame
    order_items: pd.DataFrame
    experiments: pd.DataFrame
    experiment_truth: pd.DataFrame
    plan: pd.DataFrame
    milestones: pd.DataFrame
    targets: pd.DataFrame
    market: pd.DataFrame
    product_daily: pd.DataFrame
    skus: pd.DataFrame
    inventory: pd.DataFrame
    purchase_orders: pd.DataFrame
    anomalies: pd.DataFrame
    demand_truth: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every frame by name (contract tables first, then the ground truth)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ---------------------------------------------------------------------------------------------
# generate
# ---------------------------------------------------------------------------------------------


def generate(
    *, seed: int = 20240101, start="2024-01-01", end="2025-12-31", scale: float = 1.0
) -> DemoShop:
    """Build the demo shop for ``start..end`` (inclusive), deterministically from ``seed``.

    ``scale`` multiplies all traffic (0.1 gives a tenth of the visitors and orders, for fast
    tests); rates, CAC and AOV do not depend on it. The full default range takes a few seconds.
    """
    s, e = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if e < s:
        raise ValueError(f"end {e.date()} is before start {s.date()}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0; got {scale!r}")
    rng = np.random.default_rng(seed)
    dates = pd.date_range(s, e, freq="D")
    catalog = sku_catalog()
    anomalies = anomaly_plan(s, e)
    factors = anomaly_factors(dates, anomalies)
    daily = simulate_traffic(dates, rng, scale, factors)
    daily["legacy"] = legacy_days(s, scale)
    products = demo_stock.product_catalog()
    orders, items, gmv_c, ref_c, ref_o, item_arrays, new_b, stock = demo_orders.orders_and_items(
        dates,
        daily,
        rng,
        catalog,
        factors,
        products=products,
        stock_rng=np.random.default_rng([seed, 17]),
    )
    D, C = daily["orders"].shape
    dm = pd.DataFrame(
        {
            "date": np.repeat(dates.to_numpy(), C),
            "channel": pd.array(np.tile(np.array(CHANNELS, dtype=object), D), dtype="str"),
            "visitors": daily["visitors"].ravel().astype(np.int64),
            "buyers": daily["buyers"].ravel().astype(np.int64),
            "orders": daily["orders"].ravel().astype(np.int64),
            "gmv": np.round(gmv_c.ravel() / 100.0, 2),
            "refund_orders": ref_o.ravel(),
            "refund_amount": np.round(ref_c.ravel() / 100.0, 2),
            "ad_spend": daily["ad_spend"].ravel(),
            "new_buyers": new_b.ravel().astype(np.int64),
            "cart_users": daily["cart_users"].ravel().astype(np.int64),
        }
    )
    experiments, truth = demo_tables.experiment_tables(rng)
    return DemoShop(
        daily_metrics=dm,
        orders=orders,
        order_items=items,
        experiments=experiments,
        experiment_truth=truth,
        plan=demo_tables.plan_table(),
        milestones=demo_tables.milestones_table(),
        targets=demo_tables.targets_table(e.year, scale, catalog),
        market=demo_tables.market_table(dates, item_arrays, products, rng),
        product_daily=demo_orders.product_daily_table(
            dates, orders, items, item_arrays, products, np.random.default_rng([seed, 6])
        ),
        skus=demo_stock.skus_table(products),
        inventory=stock.inventory,
        purchase_orders=stock.purchase_orders,
        anomalies=anomalies.drop(columns=["in_promotion"]),
        demand_truth=stock.demand_truth,
    )


# ---------------------------------------------------------------------------------------------
# write
# ---------------------------------------------------------------------------------------------

_STORE_TABLES = (
    "daily_metrics",
    "orders",
    "order_items",
    "experiments",
    "plan",
    "milestones",
    "targets",
    "market",
    "product_daily",
    "skus",
    "inventory",
    "purchase_orders",
)


def _zh_headers(table: str) -> dict[str, str]:
    return {c.name: (c.aliases[0] if c.aliases else c.name) for c in get_table(table).columns}


_MARKER = "demo_manifest"


def _check_demo_store(con, db) -> None:
    """Refuse to write into a store holding anything but an untouched demo shop."""
    from opsnb.data.store import list_tables

    tables = list_tables(con)
    if not tables:
        return
    if _MARKER not in tables:
        raise OpsnbError(
            f"{db} holds tables ({', '.join(tables)}) that the demo did not write; the demo "
            f"never writes into such a store: use its own store ({config.demo_db_path()}) "
            "or an empty file"
        )
    manifest = dict(con.execute(f"SELECT name, rows FROM {_MARKER}").fetchall())
    changed = [
        t
        for t in tables
        if t != _MARKER
        and t != "ledger"
        and con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] != manifest.get(t)
    ]
    if changed:
        raise OpsnbError(
            f"{db} is a demo store whose table(s) {', '.join(changed)} were changed since the "
            "demo wrote them (rows imported or loaded?); the demo will not overwrite them: "
            "delete the file yourself if it holds nothing you need"
        )


def _write_store(db_path, shop: DemoShop) -> None:
    con = open_store(db_path)
    try:
        _check_demo_store(con, db_path)
        for t in _STORE_TABLES:
            write_table(con, t, getattr(shop, t), mode="replace")
        write_table(con, "demo_anomalies", shop.anomalies, validate=False, mode="replace")
        write_table(
            con, "demo_experiment_truth", shop.experiment_truth, validate=False, mode="replace"
        )
        write_table(con, "demo_demand_truth", shop.demand_truth, validate=False, mode="replace")
        names = [*_STORE_TABLES, "demo_anomalies", "demo_experiment_truth", "demo_demand_truth"]
        frames = [getattr(shop, t) for t in _STORE_TABLES]
        frames += [shop.anomalies, shop.experiment_truth, shop.demand_truth]
        manifest = pd.DataFrame({"name": names, "rows": [len(f) for f in frames]})
        write_table(con, _MARKER, manifest, validate=False, mode="replace")
    finally:
        con.close()


def write_demo(db_path=None, out_dir=None, **generate_kwargs) -> DemoShop:
    """Generate the demo shop, write it into its own DuckDB store and its files; return it.

    The store is ``db_path`` (default :func:`opsnb.config.demo_db_path`, never the user's
    store). Writing into a store that holds tables the demo did not write, or demo tables
    changed since (rows imported), is refused with :class:`~opsnb.errors.OpsnbError`; an
    untouched demo store is regenerated. Store tables: the twelve contract tables plus
    ``demo_anomalies``, ``demo_experiment_truth``, ``demo_demand_truth`` and ``demo_manifest`` (row counts as written). Files in ``out_dir`` (default :func:`opsnb.config.demo_dir`):
    ``daily_metrics.csv`` (UTF-8 with BOM, Chinese headers), ``orders_sample_gbk.csv`` (first
    5 000 orders, GBK, Chinese headers), ``plan.xlsx`` and ``milestones.xlsx`` (Chinese headers),
    ``ground_truth_anomalies.csv`` and ``experiment_truth.csv``.
    """
    db = Path(db_path) if db_path else config.demo_db_path()
    out = Path(out_dir) if out_dir else config.demo_dir()
    shop = generate(**generate_kwargs)
    db.parent.mkdir(parents=True, exist_ok=True)
    _write_store(db, shop)
    out.mkdir(parents=True, exist_ok=True)
    dm = shop.daily_metrics.copy()
    dm["date"] = dm["date"].dt.strftime("%Y-%m-%d")
    dm.rename(columns=_zh_headers("daily_metrics")).to_csv(
        out / "daily_metrics.csv", index=False, encoding="utf-8-sig"
    )
    od = shop.orders.head(5000).copy()
    od["order_time"] = od["order_time"].dt.strftime("%Y-%m-%d %H:%M:%S")
    od.rename(columns=_zh_headers("orders")).to_csv(
        out / "orders_sample_gbk.csv", index=False, encoding="gbk"
    )
    for t, title in (("plan", "表1 全周期计划表"), ("milestones", "表2 大促执行管控表")):
        df = getattr(shop, t)  # styled like the kit's own 表1/表2 (header, widths, formats)
        write_book(out / f"{t}.xlsx", {title: df}, headers=_zh_headers(t))
    shop.anomalies.to_csv(out / "ground_truth_anomalies.csv", index=False, encoding="utf-8")
    shop.experiment_truth.to_csv(out / "experiment_truth.csv", index=False, encoding="utf-8")
    return shop
