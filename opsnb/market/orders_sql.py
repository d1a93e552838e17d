"""The store's orders and order items aggregated in DuckDB for notebook 01's sections.

Channel economics needs, per first channel, the margin of the orders by month since the
customer's first order and how many customers are observable that long; the basket section
needs the (order, sku) lines of the period's orders. Both are read here in SQL, so the 1 M+
order rows and 1.5 M item lines never come into pandas: only the aggregates (a few hundred
rows) or the two columns of the lines a section uses do. The curves are then built by the
same code as the pandas path (:func:`opsnb.market.research.payback_curves_from_counts`), so
both give the same numbers.

Examples
--------
>>> con = duckdb.connect("data/opsnb.duckdb", read_only=True)            # doctest: +SKIP
>>> payback_curves_sql(con, "orders", margin=0.3, where="order_time < ?",  # doctest: +SKIP
...                    params=[dt.datetime(2026, 1, 1)])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsnb.data.store import quote_ident, table_columns
from opsnb.market.economics import payback_curves_from_counts

__all__ = ["payback_counts_sql", "payback_curves_sql", "basket_lines_sql"]


def _where(where: str | None) -> str:
    return f" WHERE {where}" if where else ""


def payback_counts_sql(
    con, table: str = "orders", *, margin: float = 0.3, where: str | None = None, params=None
) -> tuple[pd.Series, pd.Series]:
    """``(net, customers)`` as :func:`~opsnb.market.research.payback_curves_from_counts` takes
    them, from the rows of store table ``table`` (columns customer_id, order_time, order_id,
    channel, amount and, when present, refund_amount) matching ``where``.

    A customer's first channel is that of the first order by (order_time, order_id), the order
    the store's rows are read in; months are ``year * 12 + month``; ``net`` sums
    ``(amount − refund_amount) · margin`` per (first channel, months since first order),
    ``customers`` counts customers per (first channel, months from first order to the data's
    last month). Customers without a channel are left out, as the pandas path's grouping does.
    """
    con.execute("SET enable_progress_bar = false")
    refund = " - coalesce(refund_amount, 0)" if "refund_amount" in table_columns(con, table) else ""
    sql = f"""
    WITH o AS (
        SELECT customer_id AS c, channel AS ch, order_time AS t, order_id AS id,
               year(order_time) * 12 + month(order_time) AS m,
               (amount{refund}) * CAST(? AS DOUBLE) AS net
        FROM {quote_ident(table)}{_where(where)}
    ), f AS MATERIALIZED (
        SELECT c, first(ch ORDER BY t, id) AS ch, min(m) AS m0, max(m) AS m1 FROM o GROUP BY c
    )
    SELECT 0 AS part, f.ch, o.m - f.m0 AS k, fsum(o.net) AS v
    FROM o JOIN f USING (c) WHERE f.ch IS NOT NULL GROUP BY 2, 3
    UNION ALL
    SELECT 1, ch, (SELECT max(m1) FROM f) - m0, count(*) FROM f WHERE ch IS NOT NULL GROUP BY 2, 3"""
    # one statement: the first channels (f) are found once for both parts
    got = con.execute(sql, [float(margin), *(params or [])]).df().sort_values(["part", "ch", "k"])
    net, spans = (got[got["part"] == p] for p in (0, 1))
    index = lambda d: pd.MultiIndex.from_arrays(  # noqa: E731
        [d["ch"].astype(str).to_numpy(), d["k"].to_numpy(dtype=np.int64)]
    )
    return (
        pd.Series(net["v"].to_numpy(dtype=float), index=index(net)),
        pd.Series(spans["v"].to_numpy(dtype=np.int64), index=index(spans)),
    )


def payback_curves_sql(
    con, table: str = "orders", *, margin: float = 0.3, where: str | None = None, params=None
) -> dict[str, np.ndarray]:
    """Payback curves per first channel of the orders matching ``where``, for
    :func:`opsnb.market.research.channel_economics`'s ``curves``: the same curves as
    :func:`opsnb.market.research.payback_curves` makes of those rows as a frame."""
    net, customers = payback_counts_sql(con, table, margin=margin, where=where, params=params)
    return payback_curves_from_counts(net, customers) if len(customers) else {}


def basket_lines_sql(
    con,
    *,
    where: str | None = None,
    params=None,
    orders: str = "orders",
    items: str = "order_items",
) -> pd.DataFrame:
    """The order_id and sku of the ``items`` lines whose order is one of the ``orders`` rows
    matching ``where`` (for :func:`opsnb.market.basket.association_rules`)."""
    con.execute("SET enable_progress_bar = false")
    o, i = quote_ident(orders), quote_ident(items)
    return (
        con.sql(
            f"SELECT order_id, sku FROM {i} WHERE order_id IN "
            f"(SELECT order_id FROM {o}{_where(where)})",
            params=params or [],
        )
        .to_arrow_table()
        .to_pandas()
    )
