"""Customer analytics: RFM scores and segments, monthly acquisition cohorts, empirical LTV.

Transactions are any table with a customer, a date and an amount column (the ``orders`` table,
or a file such as the UCI Online Retail sample: :func:`read_transactions` and
:func:`clean_invoice_lines`). Predictive CLV (BG/NBD + Gamma-Gamma) is in :mod:`opsnb.market.clv`.

RFM scoring method (stated once, used everywhere)
-------------------------------------------------
Each of recency, frequency and monetary is turned into a quintile score 1-5, 5 = best
(recency reversed: fewer days is better). Customers are ranked so that better is higher; a
tie group takes its *lowest* rank ("min" ranking) and the score is
``1 + floor(5 · (rank_min − 1) / n)``. Without ties and with n a multiple of 5 this is exactly
``pd.qcut(x, 5)`` on the values (otherwise a boundary customer may differ by one); with ties, identical customers always share a score (``pd.qcut`` on ``rank(method=
"first")`` would split them arbitrarily), and a large tie group (say 60 % one-time buyers)
gets the score of its lowest position, never a flattering one.

The eight classic segments compare each score with its mean over the customers (高 = above
the mean, 低 = at or below): R高F高M高 重要价值客户, R高F低M高 重要发展客户, R低F高M高
重要保持客户, R低F低M高 重要挽留客户, and the 一般 segments with M低.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.errors import DataContractError, DataProblem

__all__ = [
    "SEGMENTS",
    "read_transactions",
    "clean_invoice_lines",
    "load_orders_file",
    "rfm",
    "rfm_scores",
    "rfm_from_summary",
    "rfm_segments",
    "cohorts",
    "COHORT_COLUMNS",
    "cohorts_from_counts",
    "cohort_matrix",
    "repurchase_rate",
    "plot_cohort_heatmap",
    "plot_rfm_segments",
]

SEGMENTS: dict[tuple[bool, bool, bool], tuple[str, str]] = {
    (True, True, True): ("重要价值客户", "Important value"),
    (True, False, True): ("重要发展客户", "Important to develop"),
    (False, True, True): ("重要保持客户", "Important to retain"),
    (False, False, True): ("重要挽留客户", "Important to win back"),
    (True, True, False): ("一般价值客户", "General value"),
    (True, False, False): ("一般发展客户", "General to develop"),
    (False, True, False): ("一般保持客户", "General to retain"),
    (False, False, False): ("一般挽留客户", "General to win back"),
}
"""(R high, F high, M high) → (Chinese name, English name), in the conventional order."""


def read_transactions(
    path, *, customer_col: str, date_col: str, amount_col: str, order_col: str | None = None
) -> pd.DataFrame:
    """Read a CSV or whitespace-separated text file of transactions and check it.

    Returns columns customer_id (str), order_time (datetime), amount (float) and order_id (str,
    when ``order_col`` is given). Dates may be written 2024-06-18, 20240618 or 2024/6/18 (with
    or without a time). Raises :class:`DataContractError` naming the file, row (as numbered in
    the file, header = row 1), column, value and what was expected, for every problem found.
    """
    from opsnb.data.loaders import read_columns

    spec = {
        "customer_id": (customer_col, "str"),
        "order_time": (date_col, "datetime"),
        "amount": (amount_col, "float"),
    }
    if order_col:
        spec["order_id"] = (order_col, "str")
    out = read_columns(path, spec)
    return out.drop(columns="_row")


def clean_invoice_lines(
    df: pd.DataFrame,
    *,
    invoice_col: str = "InvoiceNo",
    customer_col: str = "CustomerID",
    date_col: str = "InvoiceDate",
    qty_col: str = "Quantity",
    price_col: str = "UnitPrice",
    sku_col: str = "StockCode",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Turn invoice lines (UCI Online Retail layout) into orders and order items, saying what was dropped.

    Excluded explicitly, in this order (a row counts under the first reason that applies):
    cancellation invoices (number starting with ``C``), lines with quantity ≤ 0 (returns and
    stock adjustments), lines with unit price ≤ 0 (free items, write-offs), lines without a
    customer id (guest checkouts; kept for basket analysis, dropped for customer analytics).

    Returns ``(orders, items, excluded)``: ``orders`` (order_id, customer_id, order_time, amount)
    for lines with a customer; ``items`` (order_id, sku, qty, price) for every valid line,
    guests included; ``excluded`` (reason, rows, amount, note) with one row per reason.
    """
    d = df.copy()
    inv = d[invoice_col].astype(str).str.strip()
    qty = pd.to_numeric(d[qty_col], errors="coerce")
    price = pd.to_numeric(d[price_col], errors="coerce")
    cust = d[customer_col]
    cust_missing = cust.isna() | cust.astype(str).str.strip().isin(["", "NA", "nan", "None"])
    reasons = pd.Series("", index=d.index)
    rules = [
        (
            "cancellation",
            inv.str.upper().str.startswith("C"),
            "invoice number starts with C: a cancelled order, not a purchase",
        ),
        ("non_positive_quantity", ~(qty > 0), "quantity ≤ 0: returns or stock adjustments"),
        ("non_positive_price", ~(price > 0), "unit price ≤ 0: free items or write-offs"),
        (
            "missing_customer",
            cust_missing,
            "no customer id (guest checkout): kept for basket rules, not for customer analytics",
        ),
    ]
    for reason, mask, _ in rules:
        reasons[(reasons == "") & mask] = reason
    value = qty * price
    excluded = pd.DataFrame(
        [
            {
                "reason": r,
                "rows": int((reasons == r).sum()),
                "amount": float(value[reasons == r].fillna(0).sum()),
                "note": note,
            }
            for r, _, note in rules
        ]
    )
    valid = reasons.isin(["", "missing_customer"])
    items = pd.DataFrame(
        {
            "order_id": inv[valid],
            "sku": d.loc[valid, sku_col].astype(str).str.strip(),
            "qty": qty[valid].astype(int),
            "price": price[valid].astype(float),
        }
    )
    keep = reasons == ""
    cid = cust[keep]
    cid = cid.map(lambda v: str(int(v)) if isinstance(v, float) and v == int(v) else str(v).strip())
    lines = pd.DataFrame(
        {
            "order_id": inv[keep],
            "customer_id": cid,
            "order_time": pd.to_datetime(d.loc[keep, date_col]),
            "amount": value[keep],
        }
    )
    orders = lines.groupby("order_id", as_index=False).agg(
        customer_id=("customer_id", "first"),
        order_time=("order_time", "min"),
        amount=("amount", "sum"),
    )
    return orders, items.reset_index(drop=True), excluded


def load_orders_file(
    path, columns: str = ""
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """Orders (and items) from a file, with the exclusions said out loud.

    ``columns`` maps roles to the file's headers, e.g.
    ``"invoice=InvoiceNo,customer=CustomerID,date=InvoiceDate,qty=Quantity,price=UnitPrice,sku=StockCode"``
    (invoice lines, cleaned by :func:`clean_invoice_lines`) or
    ``"customer=buyer,date=day,amount=paid[,order=order_no]"`` (one row per purchase; rows with
    amount ≤ 0 excluded). A relative ``path`` not found from the working directory is taken
    from the project root. Returns ``(orders, items or None, excluded)``.
    """
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        from opsnb import config

        path = config.project_root() / path  # params files give paths from the project root
    roles = dict(kv.split("=", 1) for kv in (c.strip() for c in columns.split(",")) if kv)
    roles = {k.strip(): v.strip() for k, v in roles.items()}
    if {"qty", "price"} <= roles.keys():
        need = ("invoice", "customer", "date", "qty", "price", "sku")
        missing = [r for r in need if r not in roles]
        if missing:
            raise ValueError(f"columns mapping lacks {missing}; invoice-line files need {need}")
        raw = pd.read_csv(path, dtype={roles["invoice"]: str, roles["sku"]: str})
        absent = [c for c in (roles[r] for r in need) if c not in raw.columns]
        if absent:
            raise DataContractError(
                f"{path}: missing column(s) {absent}",
                [DataProblem(str(path), None, c, None, f"a column named {c!r}") for c in absent],
            )
        return clean_invoice_lines(
            raw,
            invoice_col=roles["invoice"],
            customer_col=roles["customer"],
            date_col=roles["date"],
            qty_col=roles["qty"],
            price_col=roles["price"],
            sku_col=roles["sku"],
        )
    for r in ("customer", "date", "amount"):
        if r not in roles:
            raise ValueError(
                f"columns mapping lacks {r!r}: give customer=, date=, amount= "
                "(or invoice=, customer=, date=, qty=, price=, sku=)"
            )
    tx = read_transactions(
        path,
        customer_col=roles["customer"],
        date_col=roles["date"],
        amount_col=roles["amount"],
        order_col=roles.get("order"),
    )
    bad = tx["amount"] <= 0
    excluded = pd.DataFrame(
        [
            {
                "reason": "non_positive_amount",
                "rows": int(bad.sum()),
                "amount": float(tx.loc[bad, "amount"].sum()),
                "note": "amount ≤ 0: refunds or cancellations, not purchases",
            }
        ]
    )
    tx = tx[~bad].reset_index(drop=True)
    if "order_id" not in tx:
        tx.insert(0, "order_id", [f"row{i}" for i in range(len(tx))])
    return tx, None, excluded


# ---------------------------------------------------------------------------------------------
# RFM
# ---------------------------------------------------------------------------------------------


def rfm_scores(values, *, higher_is_better: bool = True) -> np.ndarray:
    """Quintile scores 1-5 (5 = best) by the module's stated method (min-rank quintiles)."""
    v = np.asarray(values)
    n = len(v)
    if n == 0:
        return np.array([], dtype=int)
    if v.dtype.kind != "i":
        v = v.astype(float)
    r = _min_ranks(v if higher_is_better else -v)
    return (1 + np.floor(5 * (r - 1) / n)).astype(int)


def _min_ranks(v: np.ndarray) -> np.ndarray:
    """``pd.Series(v).rank(method="min")`` (float ranks, NaN for NaN) in numpy: integers of a
    small range counted (one pass), anything else sorted once."""
    n = len(v)
    if v.dtype.kind == "i" and n:
        lo, hi = int(v.min()), int(v.max())
        span = hi - lo + 1
        if span <= 4 * n and max(-lo, hi) <= 2**53:  # days, counts (exact as floats): a tally
            counts = np.bincount(v - lo, minlength=span)
            below = np.cumsum(counts) - counts
            return (below[v - lo] + 1).astype(float)
    v = np.asarray(v, dtype=float)
    order = np.argsort(v)  # NaN last; the order within a tie does not matter
    vs = v[order]
    start = np.r_[True, vs[1:] != vs[:-1]]  # first position of each run of equal values
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    ranks = np.empty(n)
    ranks[order] = first + 1
    ranks[np.isnan(v)] = np.nan
    return ranks


def rfm(
    tx: pd.DataFrame,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_time",
    amount_col: str = "amount",
    as_of=None,
    frequency: str = "days",
    order_col: str | None = None,
    lang: str = "zh",
) -> pd.DataFrame:
    """RFM table, one row per customer.

    recency_days: days from the last purchase date to ``as_of`` (default: the day after the last
    date in the data); frequency: distinct purchase days (``frequency="orders"``: distinct
    ``order_col`` values, or rows when no order column); monetary: total amount.
    Columns: customer_id, last_purchase, recency_days, frequency, monetary, r_score, f_score,
    m_score, rfm_score ("545"), segment (in ``lang``).
    """
    if frequency not in ("days", "orders"):
        raise ValueError(f"frequency must be 'days' or 'orders', got {frequency!r}")
    d = pd.DataFrame(
        {
            "customer_id": tx[customer_col].astype(str),
            "day": pd.to_datetime(tx[date_col]).dt.normalize(),
            "amount": pd.to_numeric(tx[amount_col]).astype(float),
        }
    )
    if order_col:
        d["order"] = tx[order_col].astype(str).to_numpy()
    if d.empty:
        raise ValueError("no transactions: RFM needs at least one purchase")
    as_of_ts = d["day"].max() + pd.Timedelta(days=1) if as_of is None else pd.Timestamp(as_of)
    if as_of_ts.normalize() < d["day"].max():
        raise ValueError(
            f"as_of {as_of_ts.date()} is before the last purchase {d['day'].max().date()}"
        )
    g = d.groupby("customer_id", sort=True)
    if frequency == "days":
        freq = g["day"].nunique()
    else:
        freq = g["order"].nunique() if order_col else g.size()
    summary = pd.DataFrame(
        {
            "last_purchase": g["day"].max(),
            "frequency": freq.astype(int),
            "monetary": g["amount"].sum(),
        }
    ).reset_index()
    return rfm_from_summary(summary, as_of=as_of_ts, lang=lang)


def rfm_from_summary(summary: pd.DataFrame, *, as_of=None, lang: str = "zh") -> pd.DataFrame:
    """Scores and segments of per-customer aggregates, the second half of :func:`rfm`.

    ``summary`` has one row per customer, sorted by customer_id: customer_id, last_purchase
    (the day of the last purchase), frequency, monetary, as aggregated by :func:`rfm` (pandas)
    or :func:`opsnb.market.customers_sql.rfm_summary_sql` (one DuckDB pass); the scoring is
    the module's method, on this small frame, so both paths give the same table.
    ``as_of`` defaults to the day after the last purchase. Columns as :func:`rfm`.
    """
    import pyarrow as pa

    if summary.empty:
        raise ValueError("no transactions: RFM needs at least one purchase")
    last_day = summary["last_purchase"].max()
    as_of_ts = last_day + pd.Timedelta(days=1) if as_of is None else pd.Timestamp(as_of)
    if as_of_ts.normalize() < last_day:
        raise ValueError(f"as_of {as_of_ts.date()} is before the last purchase {last_day.date()}")
    # a plain row index: a text index makes every column lookup hash the ids
    out = summary[["customer_id", "last_purchase", "frequency", "monetary"]].reset_index(drop=True)
    out.insert(2, "recency_days", (as_of_ts.normalize() - out["last_purchase"]).dt.days.astype(int))
    out["r_score"] = rfm_scores(out["recency_days"], higher_is_better=False)
    out["f_score"] = rfm_scores(out["frequency"])
    out["m_score"] = rfm_scores(out["monetary"])
    # scores are single digits: "545" is the number 545 spelled out (one conversion, not three)
    score = out["r_score"] * 100 + out["f_score"] * 10 + out["m_score"]
    out["rfm_score"] = _text(pa.array(score.to_numpy()), index=out.index)
    hi = {c: out[c] > out[c].mean() for c in ("r_score", "f_score", "m_score")}
    idx = 0 if lang == "zh" else 1
    names = np.array([SEGMENTS[k][idx] for k in SEGMENTS], dtype=object)
    keys = {k: i for i, k in enumerate(SEGMENTS)}
    code = _segment_codes(*(hi[c].to_numpy() for c in ("r_score", "f_score", "m_score")), keys)
    segment = pa.DictionaryArray.from_arrays(pa.array(code), pa.array(names, pa.string()))
    out["segment"] = _text(segment.dictionary_decode(), index=out.index)
    return out


def _text(arr, index=None) -> pd.Series:
    """A column of pandas' ``str`` dtype from an Arrow array (numbers spelled as ``astype(str)``
    spells them), without a Python string per cell."""
    import pyarrow as pa

    text = arr.cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(text), index=index).astype("str")


def _segment_codes(r: np.ndarray, f: np.ndarray, m: np.ndarray, keys: dict) -> np.ndarray:
    """Index into SEGMENTS of each (R high, F high, M high), vectorised."""
    table = np.empty(8, dtype=np.int64)
    for (a, b, c), i in keys.items():
        table[int(a) * 4 + int(b) * 2 + int(c)] = i
    return table[r.astype(int) * 4 + f.astype(int) * 2 + m.astype(int)]


def rfm_segments(table: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """Segment summary of an :func:`rfm` table, all eight segments in the conventional order.

    Columns: segment, customers, customer_share, monetary, revenue_share, avg_recency_days,
    avg_frequency, avg_monetary.
    """
    idx = 0 if lang == "zh" else 1
    names = [v[idx] for v in SEGMENTS.values()]
    g = table.groupby("segment")
    s = pd.DataFrame(
        {
            "customers": g.size(),
            "monetary": g["monetary"].sum(),
            "avg_recency_days": g["recency_days"].mean(),
            "avg_frequency": g["frequency"].mean(),
            "avg_monetary": g["monetary"].mean(),
        }
    ).reindex(names)
    s["customers"] = s["customers"].fillna(0).astype(int)
    s["monetary"] = s["monetary"].fillna(0.0)
    s["customer_share"] = s["customers"] / max(len(table), 1)
    total = table["monetary"].sum()
    s["revenue_share"] = s["monetary"] / total if total else np.nan
    s.index.name = "segment"
    return s.reset_index()[
        [
            "segment",
            "customers",
            "customer_share",
            "monetary",
            "revenue_share",
            "avg_recency_days",
            "avg_frequency",
            "avg_monetary",
        ]
    ]


# ---------------------------------------------------------------------------------------------
# Cohorts
# ---------------------------------------------------------------------------------------------


def cohorts(
    tx: pd.DataFrame,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_time",
    amount_col: str = "amount",
    end=None,
) -> pd.DataFrame:
    """Monthly acquisition cohorts (by first purchase month), tidy.

    One row per cohort and months since first purchase (0 … the last observed month; months
    with no activity are rows with 0). Columns: cohort ("2024-06"), months_since_first,
    cohort_size, active_customers, retention_rate (active / cohort size), gmv,
    cum_gmv_per_customer (empirical LTV: cumulative gmv / cohort size).
    ``end`` (a date) caps the observed months; default: the last transaction's month.
    """
    t = pd.to_datetime(tx[date_col])
    d = pd.DataFrame(
        {
            "customer_id": tx[customer_col].astype(str),
            "month": (t.dt.year * 12 + t.dt.month - 1).to_numpy(),  # months since year 0
            "amount": pd.to_numeric(tx[amount_col]).astype(float),
        }
    )
    if d.empty:
        return pd.DataFrame(columns=COHORT_COLUMNS)
    cust = pd.factorize(d["customer_id"])[0]
    first = pd.Series(d["month"].to_numpy()).groupby(cust).min()
    d["cohort_m"] = first.to_numpy()[cust]
    d["k"] = d["month"] - d["cohort_m"]
    d["cust"] = cust
    g = d.groupby(["cohort_m", "k"])
    active = pd.DataFrame(
        {
            "active_customers": d.drop_duplicates(["cohort_m", "k", "cust"])
            .groupby(["cohort_m", "k"])
            .size(),
            "gmv": g["amount"].sum(),
        }
    )
    last = int(d["month"].max()) if end is None else _month_number(end)
    return cohorts_from_counts(first.value_counts(), active, last=last)


COHORT_COLUMNS = [
    "cohort",
    "months_since_first",
    "cohort_size",
    "active_customers",
    "retention_rate",
    "gmv",
    "cum_gmv_per_customer",
]


def _month_number(day) -> int:
    ts = pd.Timestamp(day)
    return ts.year * 12 + ts.month - 1


def cohorts_from_counts(sizes: pd.Series, active: pd.DataFrame, *, last: int) -> pd.DataFrame:
    """The :func:`cohorts` table from per-cohort counts, the second half of :func:`cohorts`.

    Months are numbered ``year * 12 + month - 1``. ``sizes``: customers per first-purchase
    month (index: month number); ``active``: indexed by (cohort month, months since first),
    columns active_customers and gmv, as aggregated by :func:`cohorts` (pandas) or
    :func:`opsnb.market.customers_sql.cohorts_sql` (DuckDB); ``last``: the last observed month.
    Months without activity become rows with 0, so both paths give the same table.
    """
    sizes = sizes.sort_index()
    c = sizes.index.to_numpy(dtype=np.int64)
    span = np.maximum(last - c, 0) + 1
    coh = np.repeat(c, span)
    k = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
    act = active.reindex(pd.MultiIndex.from_arrays([coh, k]))
    out = pd.DataFrame(
        {
            "cohort": pd.Series([f"{m // 12:04d}-{m % 12 + 1:02d}" for m in c], dtype="str")
            .repeat(span)
            .to_numpy(),
            "months_since_first": k.astype(np.int64),
            "cohort_size": np.repeat(sizes.to_numpy(dtype=np.int64), span),
            "active_customers": act["active_customers"].fillna(0).to_numpy(dtype=np.int64),
            "gmv": act["gmv"].fillna(0.0).to_numpy(dtype=np.float64),
        }
    )
    out["cohort"] = out["cohort"].astype("str")
    out["retention_rate"] = out["active_customers"] / out["cohort_size"]
    out["cum_gmv_per_customer"] = out.groupby("cohort")["gmv"].cumsum() / out["cohort_size"]
    return out[COHORT_COLUMNS]


def cohort_matrix(table: pd.DataFrame, value: str = "retention_rate") -> pd.DataFrame:
    """Pivot a :func:`cohorts` table: cohorts as rows, months since first purchase as columns."""
    return table.pivot(index="cohort", columns="months_since_first", values=value)


def repurchase_rate(
    tx: pd.DataFrame,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_time",
    by_cohort: bool = False,
):
    """Share of customers with purchases on at least two distinct days.

    ``by_cohort=True`` returns a frame (cohort, customers, repeat_customers, repurchase_rate).
    """
    d = pd.DataFrame(
        {
            "customer_id": tx[customer_col].astype(str),
            "day": pd.to_datetime(tx[date_col]).dt.normalize(),
        }
    )
    g = d.groupby("customer_id")["day"]
    per = pd.DataFrame({"days": g.nunique(), "first": g.min()})
    if not by_cohort:
        return float((per["days"] >= 2).mean()) if len(per) else np.nan
    per["cohort"] = per["first"].dt.to_period("M").astype(str)
    out = per.groupby("cohort").agg(
        customers=("days", "size"), repeat_customers=("days", lambda s: int((s >= 2).sum()))
    )
    out["repurchase_rate"] = out["repeat_customers"] / out["customers"]
    return out.reset_index()


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------


def plot_cohort_heatmap(
    table: pd.DataFrame,
    *,
    value: str = "retention_rate",
    lang: str = "zh",
    max_months: int | None = 12,
    ax=None,
):
    """Heat map of a :func:`cohorts` table (rows: cohorts, columns: months since first purchase)."""
    import seaborn as sns

    from opsnb import plots

    m = cohort_matrix(table, value)
    if max_months is not None:
        m = m.loc[:, [c for c in m.columns if c <= max_months]]
    ax = plots.new_axes(ax, figsize=(min(2 + 0.7 * m.shape[1], 14), 1.5 + 0.35 * len(m)))
    pct = value == "retention_rate"
    sns.heatmap(
        m,
        ax=ax,
        cmap="Blues",
        annot=m.shape[1] <= 14 and len(m) <= 30,
        fmt=".0%" if pct else ".0f",
        cbar=False,
        linewidths=0.3,
        annot_kws={"fontsize": 7},
    )
    ax.grid(False)
    zh = {
        "retention_rate": "留存率",
        "active_customers": "活跃客户数",
        "gmv": "成交金额",
        "cum_gmv_per_customer": "人均累计成交额",
    }.get(value, value)
    en = {
        "retention_rate": "Retention rate",
        "active_customers": "Active customers",
        "gmv": "GMV",
        "cum_gmv_per_customer": "Cumulative GMV per customer",
    }.get(value, value)
    ax.set_title(f"{zh}（按首购月份队列）" if lang == "zh" else f"{en} by first-purchase cohort")
    ax.set_xlabel("首购后第几个月" if lang == "zh" else "Months since first purchase")
    ax.set_ylabel("首购月份" if lang == "zh" else "Cohort")
    return ax


def plot_rfm_segments(summary: pd.DataFrame, *, lang: str = "zh", ax=None):
    """Bars of customer share and revenue share per segment (from :func:`rfm_segments`)."""
    from opsnb import plots

    ax = plots.new_axes(ax, figsize=(9, 4.5))
    y = np.arange(len(summary))
    ax.barh(
        y - 0.2,
        summary["customer_share"],
        height=0.4,
        color=plots.PALETTE[0],
        label="客户占比" if lang == "zh" else "Share of customers",
    )
    ax.barh(
        y + 0.2,
        summary["revenue_share"],
        height=0.4,
        color=plots.PALETTE[1],
        label="成交额占比" if lang == "zh" else "Share of revenue",
    )
    ax.set_yticks(y, summary["segment"])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_title("RFM 客户分层" if lang == "zh" else "RFM segments")
    ax.legend(loc="lower right")
    return ax
