"""Customers in SQL: RFM and cohort aggregates of a purchases relation in one DuckDB pass.

A purchases relation is anything DuckDB can select from: the store's ``orders`` table, a
Parquet file (``read_parquet('x.parquet')``) or a registered pandas frame. Only the small
per-customer (or per-cohort) result comes back to Python, so memory stays flat however many
order lines there are; the scoring, segments and the cohort table are then built by the same
pandas code as :func:`opsnb.market.customers.rfm` and :func:`~opsnb.market.customers.cohorts`
(:func:`~opsnb.market.customers.rfm_from_summary`,
:func:`~opsnb.market.customers.cohorts_from_counts`), so both paths give the same numbers.

Sums are Kahan-compensated (DuckDB ``fsum``), as pandas' grouped sums are, so a customer's
monetary value does not depend on the order in which DuckDB's threads meet the rows; it may
still differ from pandas' sum in the last bit (1 ulp). Where that bit could decide a rank (a
customer of three or more rows whose total is within a few ulps of another customer's), the
total is summed again by pandas over that customer's rows in the pandas path's row order
(``row_order``), so the scores are the same as :func:`~opsnb.market.customers.rfm`'s.

Examples
--------
>>> import duckdb                                                  # doctest: +SKIP
>>> con = duckdb.connect("data/opsnb.duckdb", read_only=True)      # doctest: +SKIP
>>> rfm_sql(con, "orders", where="order_time < DATE '2026-01-01'")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.data.store import quote_ident
from opsnb.errors import DataContractError, DataProblem
from opsnb.market.customers import cohorts_from_counts, rfm_from_summary

__all__ = [
    "Purchases",
    "STORE_SUFFIXES",
    "open_purchases",
    "near_ties",
    "rfm_summary_sql",
    "customer_totals_sql",
    "rfm_sql",
    "repurchase_rate_sql",
    "cohort_counts_sql",
    "cohorts_sql",
]


def _quiet(con) -> None:
    """No DuckDB progress bar: in a notebook it would be a widget in the report."""
    con.execute("SET enable_progress_bar = false")


def _where(where: str | None) -> str:
    return f" WHERE {where}" if where else ""


def rfm_summary_sql(
    con,
    relation: str,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_time",
    amount_col: str = "amount",
    frequency: str = "days",
    order_col: str | None = None,
    where: str | None = None,
    params: list | None = None,
    row_order: str | None = None,
) -> pd.DataFrame:
    """Per customer: last purchase day, frequency and monetary, in one pass over ``relation``.

    ``relation`` is a table name or a table function (``read_parquet('…')``), ``where`` an
    optional SQL condition (with ``?`` placeholders filled from ``params``). Frequency is
    distinct purchase days (``frequency="orders"``: distinct ``order_col`` values, or rows).
    Columns: customer_id (str), last_purchase (datetime64[ns], the day), frequency (int64),
    monetary (float64); one row per customer, sorted by customer_id as pandas sorts it.
    ``row_order`` (an SQL ORDER BY list, e.g. ``"order_time, order_id"``) is the order in
    which pandas would meet the rows: near-tied totals are summed again in that order (see the
    module's note); None skips that step (totals then within 1 ulp of pandas').

    The pass groups by customer only; a customer's purchase days are counted from two bit
    masks of the days (day number mod 64 and mod 63): when either has as many bits as the
    customer has rows, every row is on a day of its own. The few other customers (several
    rows on one day, or rows on days that share a residue) are counted exactly, per customer
    and day, over their rows alone (:func:`_exact_days`), with the near ties in the same read.
    """
    _quiet(con)
    if frequency not in ("days", "orders"):
        raise ValueError(f"frequency must be 'days' or 'orders', got {frequency!r}")
    c, t, a = (quote_ident(x) for x in (customer_col, date_col, amount_col))
    if frequency == "orders" and order_col:
        sql = (
            f"SELECT CAST({c} AS VARCHAR) AS customer_id, CAST(max(CAST({t} AS DATE)) AS "
            f"TIMESTAMP) AS last_purchase, count(DISTINCT CAST({quote_ident(order_col)} AS "
            f"VARCHAR)) AS frequency, fsum(CAST({a} AS DOUBLE)) AS monetary, count(*) AS "
            f"n_rows FROM {relation}{_where(where)} GROUP BY 1 ORDER BY customer_id"
        )
        out = con.sql(sql, params=params or []).to_arrow_table().to_pandas()
        if row_order is not None and len(out):
            out = _resum_near_ties(con, out, relation, c, a, where, params, row_order)
        out = out.drop(columns="n_rows")
    else:
        out = _days_summary(con, relation, (c, t, a), where, params, row_order, frequency)
    return out.astype(
        {
            "customer_id": "str",
            "last_purchase": "datetime64[ns]",
            "frequency": "int64",
            "monetary": "float64",
        }
    )


_DAY_MODULI = (64, 63)
"""Two coprime moduli of at most 64: 64-bit masks of a customer's day numbers (two days
share both residues only 4 032 days, 11 years, apart)."""


def _days_summary(con, relation, cols, where, params, row_order, frequency):
    """:func:`rfm_summary_sql` grouped by customer alone (see its note on the day masks)."""
    c, t, a = cols
    day = f"CAST({t} AS DATE)"
    num = f"({day} - DATE '1970-01-01')"  # a day number; + k·2³¹ makes it positive
    masks = ", ".join(
        f"bit_count(bit_or(CAST(1 AS UBIGINT) << CAST(({num} + {k << 31}) % {k} AS UBIGINT)))"
        f" AS days_mod_{k}"
        for k in _DAY_MODULI
    )
    sql = (
        f"SELECT CAST({c} AS VARCHAR) AS customer_id, CAST(max({day}) AS TIMESTAMP) AS "
        f"last_purchase, count(*) AS n_rows, fsum(CAST({a} AS DOUBLE)) AS monetary, {masks} "
        f"FROM {relation}{_where(where)} GROUP BY 1 ORDER BY customer_id"
    )
    tab = con.sql(sql, params=params or []).to_arrow_table()
    n_rows = tab["n_rows"].to_numpy()
    # as many distinct residues as rows: as many distinct days as rows
    unsure = np.ones(len(n_rows), dtype=bool)
    for k in _DAY_MODULI:
        unsure &= tab[f"days_mod_{k}"].to_numpy() < n_rows
    days = n_rows.copy()
    monetary = tab["monetary"].to_numpy().copy()
    if len(n_rows) and (row_order is not None or unsure.any()):
        _exact_days(con, tab["customer_id"], n_rows, unsure, days, monetary,
                    relation, cols, where, params, row_order)  # fmt: skip
    out = pd.DataFrame(
        {
            "customer_id": tab["customer_id"].to_pandas(),
            "last_purchase": tab["last_purchase"].to_pandas(),
            "frequency": days if frequency == "days" else n_rows,
            "monetary": monetary,
        }
    )
    return out


def _exact_days(con, ids, n_rows, unsure, days, monetary, relation, cols, where, params, row_order):
    """Fill in ``days`` and ``monetary`` (in place) of the ``unsure`` customers, counted per
    customer and day as the pandas path groups them (day totals first, then their total), and
    with ``row_order`` the totals of the near ties (:func:`near_ties`) summed again by pandas
    in that order. When the unsure customers have few rows (at most a quarter), the rows of
    both come from one read of ``relation``: the near ties are guessed from the totals before
    the unsure ones are fixed (with a wider margin), and any the guess missed are read again.
    Otherwise the unsure customers are aggregated in DuckDB and only the near ties are read."""
    guess = unsure.copy()
    if row_order is not None:
        guess |= near_ties(monetary, n_rows, ulps=64)
    rows = None
    if unsure.any():
        if 4 * int(n_rows[guess].sum()) <= int(n_rows.sum()):
            rows = _rows_of(con, ids, guess, relation, cols, where, params, row_order)
            con.register("_opsnb_exact_rows", rows)
            source = "_opsnb_exact_rows"
        else:  # many rows: no fetch, no sort
            source = f"({_rows_sql(con, ids, unsure, relation, cols, where)})"
        try:
            exact = con.sql(
                f"WITH d AS (SELECT _opsnb_pos, day, fsum(amount) AS s FROM {source} "
                "GROUP BY 1, 2) SELECT _opsnb_pos, count(*) AS days, fsum(s) AS monetary "
                "FROM d GROUP BY 1",
                params=[] if rows is not None else params or [],
            ).to_arrow_table()
        finally:
            con.unregister("_opsnb_exact_rows" if rows is not None else "_opsnb_exact_ids")
        pos = exact["_opsnb_pos"].to_numpy()
        keep = unsure[pos]
        days[pos[keep]] = exact["days"].to_numpy()[keep]
        monetary[pos[keep]] = exact["monetary"].to_numpy()[keep]
    if row_order is None:
        return
    near = near_ties(monetary, n_rows)
    if not near.any():
        return
    if rows is None or (near & ~guess).any():  # a fixed total moved next to another: read again
        rows = _rows_of(con, ids, near, relation, cols, where, params, row_order)
    pos = rows["_opsnb_pos"].to_numpy()
    mine = near[pos]
    amounts = pd.Series(rows["amount"].to_numpy()[mine])
    sums = amounts.groupby(pos[mine], sort=False).sum()  # pandas' own summation, in row order
    monetary[sums.index.to_numpy()] = sums.to_numpy()


def _rows_sql(con, ids, mask, relation, cols, where, row_order=None) -> str:
    """The SELECT of the rows (position of the customer in ``ids``, day, amount) of the
    customers marked ``mask`` (in ``row_order`` if given), their ids registered as
    ``_opsnb_exact_ids`` (the caller unregisters them)."""
    import pyarrow as pa

    c, t, a = cols
    pos = np.flatnonzero(mask)
    who = pa.table({"_opsnb_id": ids.take(pa.array(pos)), "_opsnb_pos": pa.array(pos)})
    con.register("_opsnb_exact_ids", who)
    return (
        f"SELECT _opsnb_pos, CAST({t} AS DATE) AS day, CAST({a} AS DOUBLE) AS amount "
        f"FROM {relation} JOIN _opsnb_exact_ids ON CAST({c} AS VARCHAR) = _opsnb_id"
        + (f" WHERE ({where})" if where else "")
        + (f" ORDER BY {row_order}" if row_order else "")
    )


def _rows_of(con, ids, mask, relation, cols, where, params, row_order):
    """The rows of :func:`_rows_sql` as an Arrow table."""
    sql = _rows_sql(con, ids, mask, relation, cols, where, row_order)
    try:
        return con.sql(sql, params=params or []).to_arrow_table()
    finally:
        con.unregister("_opsnb_exact_ids")


def customer_totals_sql(
    con,
    relation: str,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_time",
    amount_col: str = "amount",
    where: str | None = None,
    params: list | None = None,
    row_order: str | None = None,
) -> pd.DataFrame:
    """Per customer what RFM, the repurchase rate and CLV all read, in one pass over ``relation``.

    Columns: customer_id (str), first_purchase and last_purchase (datetime64[ns], the days),
    frequency (int64, distinct purchase days), monetary (float64, the total of the rows, as
    :func:`~opsnb.market.customers.rfm` sums it), day_total (float64, the total of the day
    totals, as :func:`opsnb.market.clv.customer_summary` sums it) and first_amount (float64,
    the first day's total); one row per customer, sorted by customer_id as pandas sorts it.
    :func:`~opsnb.market.customers.rfm_from_summary` scores them as :func:`rfm_sql` does and
    :func:`opsnb.market.clv.customer_summary_from_totals` turns them into BG/NBD inputs.

    Sums of one or two rows do not depend on their order; with ``row_order`` (the order in
    which pandas would meet the rows, e.g. ``"order_time, order_id"``) the customers of three
    or more rows are summed again by pandas in that order, so every total is the pandas paths'
    to the last bit (without it, within a few ulps).
    """
    _quiet(con)
    c, t, a = (quote_ident(x) for x in (customer_col, date_col, amount_col))
    sql = (
        f"WITH d AS (SELECT CAST({c} AS VARCHAR) AS customer_id, CAST({t} AS DATE) AS day, "
        f"fsum(CAST({a} AS DOUBLE)) AS s, count(*) AS n FROM {relation}{_where(where)} "
        "GROUP BY 1, 2) "
        "SELECT customer_id, CAST(min(day) AS TIMESTAMP) AS first_purchase, "
        "CAST(max(day) AS TIMESTAMP) AS last_purchase, count(*) AS frequency, "
        "fsum(s) AS monetary, arg_min(s, day) AS first_amount, "
        "CAST(sum(n) AS BIGINT) AS n_rows FROM d GROUP BY 1 ORDER BY customer_id"
    )
    out = con.sql(sql, params=params or []).to_arrow_table().to_pandas()
    out.insert(5, "day_total", out["monetary"])
    many = out["n_rows"].to_numpy() >= 3
    if row_order is not None and many.any():
        out = _resum_many_rows(con, out, many, relation, (c, t, a), where, params, row_order)
    return out.drop(columns="n_rows").astype(
        {
            "customer_id": "str",
            "first_purchase": "datetime64[ns]",
            "last_purchase": "datetime64[ns]",
            "frequency": "int64",
            "monetary": "float64",
            "day_total": "float64",
            "first_amount": "float64",
        }
    )


def _resum_many_rows(con, out, many, relation, cols, where, params, row_order):
    """``out`` with the totals of the customers marked ``many`` (three or more rows) summed
    again by pandas over their rows in ``row_order``: ``monetary`` as
    :func:`~opsnb.market.customers.rfm` sums the rows, ``day_total`` and ``first_amount`` as
    :func:`opsnb.market.clv.customer_summary` sums the days."""
    c, t, a = cols
    ids = pd.DataFrame({"customer_id": out.loc[many, "customer_id"].to_numpy()})
    con.register("_opsnb_many_rows", ids)
    try:
        rows = con.sql(
            f"SELECT CAST({c} AS VARCHAR) AS customer_id, CAST(CAST({t} AS DATE) AS TIMESTAMP) "
            f"AS day, CAST({a} AS DOUBLE) AS amount FROM {relation} WHERE CAST({c} AS VARCHAR) "
            "IN (SELECT customer_id FROM _opsnb_many_rows)"
            + (f" AND ({where})" if where else "")
            + f" ORDER BY {row_order}",
            params=params or [],
        ).df()
    finally:
        con.unregister("_opsnb_many_rows")
    daily = rows.groupby(["customer_id", "day"], sort=True)["amount"].sum()  # pandas' own sums
    by_day = daily.groupby(level=0)
    again = pd.DataFrame(
        {
            "monetary": rows.groupby("customer_id", sort=True)["amount"].sum(),
            "day_total": by_day.sum(),
            "first_amount": by_day.first(),
        }
    )
    pos = np.flatnonzero(many)  # both sorted by customer_id: the same customers in order
    if not np.array_equal(again.index.to_numpy(dtype=object), ids["customer_id"].to_numpy(object)):
        pos = pd.Index(out["customer_id"]).get_indexer(again.index)
    for col in again:  # new float columns: no copy of the frame (832 k ids on the demo shop)
        values = out[col].to_numpy(dtype=float, copy=True)
        values[pos] = again[col].to_numpy()
        out[col] = values
    return out


def rfm_sql(
    con,
    relation: str,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_time",
    amount_col: str = "amount",
    as_of=None,
    frequency: str = "days",
    order_col: str | None = None,
    where: str | None = None,
    params: list | None = None,
    row_order: str | None = None,
    lang: str = "zh",
) -> pd.DataFrame:
    """:func:`opsnb.market.customers.rfm` of a DuckDB relation: the aggregates in SQL
    (:func:`rfm_summary_sql`), the scores and segments on the per-customer frame. Same columns
    and numbers as ``rfm`` on the same rows."""
    summary = rfm_summary_sql(
        con,
        relation,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        frequency=frequency,
        order_col=order_col,
        where=where,
        params=params,
        row_order=row_order,
    )
    return rfm_from_summary(summary, as_of=as_of, lang=lang)


def near_ties(values, n_rows, *, ulps: int = 8, quantiles: int = 5):
    """Mask of the totals whose score a last-bit difference could change.

    Totals within ``ulps`` of each other (chained) form a cluster that a last-bit difference
    may reorder; it only matters when the cluster's rank positions straddle a quintile boundary
    of the module's scoring (``quantiles`` groups of the ranks). Of such clusters, the totals
    summed from three or more rows are marked (one or two rows sum alike in any order)."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    near = np.zeros(n, dtype=bool)
    if n < 2:
        return near
    vs = np.sort(v)
    close = np.abs(np.diff(vs)) <= ulps * np.spacing(np.abs(vs[1:]))
    lo = np.flatnonzero(np.r_[True, ~close])  # first sorted position of each cluster
    hi = np.r_[lo[1:] - 1, n - 1]
    straddles = (quantiles * lo) // n != (quantiles * hi) // n
    # a cluster is a run of the sorted totals: its members are the totals in its range
    for first, last in zip(vs[lo[straddles]], vs[hi[straddles]]):
        near |= (v >= first) & (v <= last)
    return near & (np.asarray(n_rows) >= 3)


def _resum_near_ties(con, out, relation, c, a, where, params, row_order):
    near = near_ties(out["monetary"].to_numpy(), out["n_rows"].to_numpy())
    if not near.any():
        return out
    ids = pd.DataFrame({"customer_id": out.loc[near, "customer_id"].astype(str).to_numpy()})
    con.register("_opsnb_near_ties", ids)
    try:
        cond = f"CAST({c} AS VARCHAR) IN (SELECT customer_id FROM _opsnb_near_ties)"
        rows = con.execute(
            f"SELECT CAST({c} AS VARCHAR) AS customer_id, CAST({a} AS DOUBLE) AS amount "
            f"FROM {relation} WHERE {cond}"
            + (f" AND ({where})" if where else "")
            + f" ORDER BY {row_order}",
            params or [],
        ).df()
    finally:
        con.unregister("_opsnb_near_ties")
    sums = rows.groupby("customer_id", sort=False)["amount"].sum()  # pandas' own summation
    out = out.copy()
    out.loc[near, "monetary"] = sums.reindex(out.loc[near, "customer_id"]).to_numpy()
    return out


def repurchase_rate_sql(
    con,
    relation: str,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_time",
    where: str | None = None,
    params: list | None = None,
) -> float:
    """:func:`opsnb.market.customers.repurchase_rate` of a relation: the share of customers
    with purchases on at least two distinct days (NaN without customers)."""
    _quiet(con)
    c, t = quote_ident(customer_col), quote_ident(date_col)
    repeat, n = con.execute(
        f"SELECT count(*) FILTER (WHERE days >= 2), count(*) FROM (SELECT count(DISTINCT "
        f"CAST({t} AS DATE)) AS days FROM {relation}{_where(where)} GROUP BY CAST({c} AS VARCHAR))",
        params or [],
    ).fetchall()[0]
    return float(repeat / n) if n else float("nan")


def cohort_counts_sql(
    con,
    relation: str,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_time",
    amount_col: str = "amount",
    where: str | None = None,
    params: list | None = None,
) -> tuple[pd.Series, pd.DataFrame, int | None]:
    """Cohort sizes, active customers and GMV per (cohort, months since first) in SQL.

    Months are numbered ``year * 12 + month - 1``. Returns ``(sizes, active, last)`` as
    :func:`opsnb.market.customers.cohorts_from_counts` takes them, ``last`` being the last
    month with a purchase (None without rows).
    """
    _quiet(con)
    c, t, a = (quote_ident(x) for x in (customer_col, date_col, amount_col))
    sql = f"""
    WITH p AS (
        SELECT CAST({c} AS VARCHAR) AS cust,
               CAST(year({t}) * 12 + month({t}) - 1 AS BIGINT) AS m,
               CAST({a} AS DOUBLE) AS amount
        FROM {relation}{_where(where)}
    ), f AS (SELECT cust, min(m) AS cohort_m FROM p GROUP BY cust)
    SELECT f.cohort_m, p.m - f.cohort_m AS k, count(DISTINCT p.cust) AS active_customers,
           fsum(p.amount) AS gmv, max(p.m) AS last_m
    FROM p JOIN f USING (cust) GROUP BY 1, 2"""
    act = con.execute(sql, params or []).df()
    first = act[act["k"] == 0]  # every customer is active in the month of the first purchase
    sizes = pd.Series(
        first["active_customers"].to_numpy(dtype="int64"),
        index=first["cohort_m"].to_numpy(dtype="int64"),
    )
    last = int(act["last_m"].max()) if len(act) else None
    active = act.set_index(
        [act["cohort_m"].astype("int64").rename(None), act["k"].astype("int64").rename(None)]
    )[["active_customers", "gmv"]]
    return sizes, active, last


def cohorts_sql(
    con,
    relation: str,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_time",
    amount_col: str = "amount",
    end=None,
    where: str | None = None,
    params: list | None = None,
) -> pd.DataFrame:
    """:func:`opsnb.market.customers.cohorts` of a DuckDB relation (aggregates in SQL, the
    table built by :func:`~opsnb.market.customers.cohorts_from_counts`); same columns and
    numbers as ``cohorts`` on the same rows."""
    from opsnb.market.customers import COHORT_COLUMNS

    sizes, active, last = cohort_counts_sql(
        con,
        relation,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        where=where,
        params=params,
    )
    if last is None:
        return pd.DataFrame(columns=COHORT_COLUMNS)
    if end is not None:
        ts = pd.Timestamp(end)
        last = ts.year * 12 + ts.month - 1
    return cohorts_from_counts(sizes, active, last=last)


# ---------------------------------------------------------------------------------------------
# A purchases relation from a file or the store (opsnb rfm / opsnb cohorts)
# ---------------------------------------------------------------------------------------------

STORE_SUFFIXES = (".duckdb", ".db")
"""Files read as an opsnb store (its ``orders`` table) rather than as a table of rows."""

_INT_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
_NUM_TYPES = _INT_TYPES + ("UBIGINT", "HUGEINT", "FLOAT", "DOUBLE")


@dataclass(frozen=True, eq=False)
class Purchases:
    """Purchases ready for :func:`rfm_sql` / :func:`cohorts_sql`.

    ``con`` holds the relation ``relation`` with columns customer_id, order_time, amount (and
    order_id when an order column was given), refunds (amount < 0) already left out by
    ``where``; ``row_order`` the order of the rows as the pandas path reads them; ``rows`` the
    rows before exclusion, ``excluded`` the rows with amount < 0, ``free`` the purchases of
    amount 0; ``source`` says where they came from ("store", "parquet" or "file": a text or
    Excel file read and checked by :func:`opsnb.market.customers.read_transactions`).
    """

    con: object
    relation: str
    where: str
    row_order: str
    rows: int
    excluded: int
    free: int
    source: str


def _parquet_relation(con, path: Path, cols: dict[str, str | None]):
    """The typed SELECT over a Parquet file whose columns need no parsing, with the counts of
    rows, refunds (amount < 0) and free purchases; None when a column needs parsing (text
    dates, float ids, padded or missing-token ids: the pandas reader's job)."""
    src = "read_parquet('" + str(path).replace("'", "''") + "', file_row_number = true)"
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    absent = [h for h in cols.values() if h and h not in types]
    if absent:
        have = ", ".join(repr(str(c)) for c in types if c != "file_row_number")
        raise DataContractError(
            f"{path}: missing column(s) {', '.join(map(repr, absent))}",
            [
                DataProblem(
                    str(path), None, h, None, f"a column with this header; the file has {have}"
                )
                for h in absent
            ],
        )
    kind = {name: str(types[h]).upper() for name, h in cols.items() if h}
    if not (
        kind["customer_id"] in _INT_TYPES + ("VARCHAR",)
        and (kind["order_time"] == "DATE" or kind["order_time"].startswith("TIMESTAMP"))
        and "WITH TIME ZONE" not in kind["order_time"]
        and (kind["amount"] in _NUM_TYPES or kind["amount"].startswith("DECIMAL"))
        and kind.get("order_id", "VARCHAR") in _INT_TYPES + ("VARCHAR",)
    ):
        return None
    c, t, a = (quote_ident(cols[k]) for k in ("customer_id", "order_time", "amount"))
    text = [
        quote_ident(cols[k])
        for k in ("customer_id", "order_id")
        if cols.get(k) and kind[k] == "VARCHAR"
    ]
    odd = "false"
    if text:
        from opsnb.data.parsing import MISSING_TOKENS

        tokens = ", ".join("'" + tok.replace("'", "''") + "'" for tok in sorted(MISSING_TOKENS))
        longest = max(len(tok) for tok in MISSING_TOKENS)
        # padded (trim takes spaces only) or a missing token; lower() maps characters one to
        # one, so only cells as short as a token are lowered (0.90 -> 0.34 CPU s on 10 M ids)
        odd = " OR ".join(
            f"{q} LIKE ' %' OR {q} LIKE '% ' OR (CASE WHEN length({q}) <= {longest} "
            f"THEN lower({q}) IN ({tokens}) ELSE false END)"
            for q in text
        )
    empty = f"{c} IS NULL OR {t} IS NULL OR {a} IS NULL OR isnan({a}::DOUBLE)"
    n_odd, n_empty, *counts = con.execute(  # one scan for every check and count
        f"SELECT count(*) FILTER (WHERE {odd}), count(*) FILTER (WHERE {empty}), count(*), "
        f"count(*) FILTER (WHERE {a} < 0), count(*) FILTER (WHERE {a} = 0) FROM {src}"
    ).fetchall()[0]
    if n_odd:
        return None
    nulls = []
    if n_empty:
        nulls = con.execute(
            f"SELECT file_row_number + 1, {c} IS NULL, {t} IS NULL, {a} IS NULL OR "
            f"isnan({a}::DOUBLE) FROM {src} WHERE {empty} ORDER BY 1 LIMIT 50"
        ).fetchall()
    if nulls:
        probs = [
            DataProblem(
                str(path), int(row), cols[name], None, "a value (this column may not be empty)"
            )
            for row, *flags in nulls
            for name, flag in zip(("customer_id", "order_time", "amount"), flags)
            if flag
        ]
        raise DataContractError(f"{path}: {len(probs)} problem(s)", probs)
    order = (
        f", CAST({quote_ident(cols['order_id'])} AS VARCHAR) AS order_id"
        if cols.get("order_id")
        else ""
    )
    relation = (
        f"(SELECT CAST({c} AS VARCHAR) AS customer_id, CAST({t} AS TIMESTAMP) AS order_time, "
        f"CAST({a} AS DOUBLE) AS amount{order}, file_row_number AS _row FROM {src})"
    )
    return relation, tuple(counts)


def open_purchases(
    path,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_time",
    amount_col: str = "amount",
    order_col: str | None = None,
) -> Purchases:
    """The purchases of a file or a store as a DuckDB relation, refunds (amount < 0) left out.

    A ``.duckdb`` file is a store: its ``orders`` table (the column options name its columns;
    defaults customer_id, order_time, amount). A Parquet file with typed columns (integer or
    text ids, date or timestamp times, numeric amounts) is read by DuckDB where it lies, so
    memory stays flat; other Parquet files and text files (CSV, whitespace-separated, GBK …)
    are read and checked by :func:`opsnb.market.customers.read_transactions`, whose errors
    name file, row and column, and then registered. Raises :class:`DataContractError` when a
    column is missing or empty cells are found, or no purchase remains.
    """
    import duckdb

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    cols = {"customer_id": customer_col, "order_time": date_col, "amount": amount_col}
    cols["order_id"] = order_col
    suffix = path.suffix.lower()
    relation, counts = None, None
    if suffix in STORE_SUFFIXES:
        from opsnb.data.store import open_store, table_columns

        con = open_store(path, read_only=True)
        have = table_columns(con, "orders")
        absent = [h for h in cols.values() if h and h not in have]
        if absent:
            raise DataContractError(
                f"{path}: the store's orders table has no column(s) {absent}",
                [
                    DataProblem(str(path), None, h, None, f"a column of orders ({have})")
                    for h in absent
                ],
            )
        order = f", CAST({quote_ident(order_col)} AS VARCHAR) AS order_id" if order_col else ""
        c, t, a = (quote_ident(cols[k]) for k in ("customer_id", "order_time", "amount"))
        relation = (
            f"(SELECT CAST({c} AS VARCHAR) AS customer_id, CAST({t} AS TIMESTAMP) AS order_time, "
            f"CAST({a} AS DOUBLE) AS amount{order}, {t} AS _t, order_id AS _o FROM orders)"
        )
        source, row_order = "store", "_t, _o"  # the order ctx.read_all gives the notebooks
    else:
        con = duckdb.connect()
        if suffix in (".parquet", ".pq"):
            relation, counts = _parquet_relation(con, path, cols) or (None, None)
        source, row_order = "parquet", "_row"
        if relation is None:
            import numpy as np

            from opsnb.market.customers import read_transactions

            tx = read_transactions(
                path,
                customer_col=customer_col,
                date_col=date_col,
                amount_col=amount_col,
                order_col=order_col,
            )
            con.register("_opsnb_purchases", tx.assign(_row=np.arange(len(tx))))
            relation, source = "_opsnb_purchases", "file"
    rows, excluded, free = (
        counts
        or con.execute(
            "SELECT count(*), count(*) FILTER (WHERE amount < 0), count(*) FILTER (WHERE amount = 0)"
            f" FROM {relation}"
        ).fetchall()[0]
    )
    if rows == excluded:
        raise DataContractError(
            f"{path}: no purchases",
            [DataProblem(str(path), None, amount_col, None, "at least one row with an amount ≥ 0")],
        )
    return Purchases(
        con, relation, "amount >= 0", row_order, int(rows), int(excluded), int(free), source
    )
