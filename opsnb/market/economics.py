"""The funnel and channel economics: step rates, CAC, ROAS, ROI and payback per channel.

* **Funnel**: stage counts summed over days (daily unique users, so a multi-day figure is a sum of
  daily uniques); step rate = stage / previous stage; change against a previous period with a
  two-proportion z-test per step.
* **Channel economics**: CAC = spend / new buyers with an exact Poisson interval on the count;
  ROAS = GMV / spend with a delta-method (ratio-estimator) interval over days; ROI = ROAS ×
  margin − 1; payback = first month after acquisition in which the cumulative margin per acquired
  customer (from ``orders``, by the channel of the first order) reaches the CAC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsnb.errors import ErrorCode

__all__ = [
    "funnel",
    "channel_economics",
    "payback_curves",
    "payback_curves_from_counts",
    "DEFAULT_STAGES",
]


DEFAULT_STAGES = ("visitors", "cart_users", "order_users", "buyers")
"""visit → add to cart → order (下单人数, when the data have it) → pay (支付买家数)."""


def funnel(
    daily: pd.DataFrame,
    previous: pd.DataFrame | None = None,
    *,
    stages=DEFAULT_STAGES,
    by: str = "channel",
    total_label: str = "全部",
) -> pd.DataFrame:
    """Funnel per channel (and the whole shop) with drop-off and change against ``previous``.

    Stages missing from the data (or entirely empty) are skipped; the ones used are in
    ``attrs["stages"]``. Columns: channel, stage, users, step_rate, drop_off, overall_rate,
    and with ``previous``: prev_step_rate, change_pp, p_value.
    """
    from scipy.stats import norm

    used = [s for s in stages if s in daily.columns and daily[s].notna().any()]
    if len(used) < 2:
        raise ValueError(
            f"funnel needs at least two stage columns among {list(stages)}; found {used}"
        )

    def sums(df):
        g = df.groupby(by)[used].sum(min_count=1)
        g.loc[total_label] = df[used].sum(min_count=1)
        return g

    cur = sums(daily)
    prev = sums(previous) if previous is not None else None
    rows = []
    for ch, r in cur.iterrows():
        for i, s in enumerate(used):
            row = {"channel": ch, "stage": s, "users": float(r[s])}
            if i == 0:
                row.update(step_rate=1.0, drop_off=0.0)
            else:
                n0 = float(r[used[i - 1]])
                rate = r[s] / n0 if n0 > 0 else np.nan
                row.update(step_rate=rate, drop_off=1 - rate)
            row["overall_rate"] = r[s] / r[used[0]] if r[used[0]] > 0 else np.nan
            if prev is not None:
                if ch in prev.index and i > 0 and prev.loc[ch, used[i - 1]] > 0 and n0 > 0:
                    m0, m1 = float(prev.loc[ch, used[i - 1]]), float(prev.loc[ch, s])
                    p_prev = m1 / m0
                    pool = (r[s] + m1) / (n0 + m0)
                    se = np.sqrt(pool * (1 - pool) * (1 / n0 + 1 / m0))
                    z = (rate - p_prev) / se if se > 0 else np.nan
                    row.update(
                        prev_step_rate=p_prev,
                        change_pp=(rate - p_prev) * 100,
                        p_value=float(2 * norm.sf(abs(z))) if z == z else np.nan,
                    )
                else:
                    row.update(prev_step_rate=np.nan, change_pp=np.nan, p_value=np.nan)
            rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["stages"] = used
    return out


def _poisson_ci(k: float, alpha: float) -> tuple[float, float]:
    from scipy.stats import chi2

    lo = chi2.ppf(alpha / 2, 2 * k) / 2 if k > 0 else 0.0
    hi = chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2
    return lo, hi


def payback_curves(orders: pd.DataFrame, *, margin: float = 0.3) -> dict[str, np.ndarray]:
    """Cumulative margin per acquired customer by month since first order, per first channel,
    of an orders frame (customer_id, order_time, channel, amount, optional refund_amount; the
    margin is ``margin · (amount − refund_amount)``). :func:`channel_economics` reads payback
    from them; :func:`opsnb.market.orders_sql.payback_curves_sql` makes the same in DuckDB.

    Month k of a customer counts among the customers observable for k months (no censoring
    bias). Vectorised on month numbers (year * 12 + month) and customer codes; the sums run
    over the rows in time order, as a per-channel groupby would."""
    t = pd.to_datetime(orders["order_time"])
    net = orders["amount"] - (orders["refund_amount"].fillna(0) if "refund_amount" in orders else 0)
    o = pd.DataFrame(
        {
            "customer": pd.factorize(orders["customer_id"])[0],
            "channel": orders["channel"],
            "net": net * margin,
            "order_time": t,
            "month": (t.dt.year * 12 + t.dt.month).to_numpy(),
        }
    ).sort_values("order_time")
    first = o.groupby("customer").agg(ch=("channel", "first"), m0=("month", "first"))
    cust = first.index.get_indexer(o["customer"])
    m0 = first["m0"].to_numpy()
    k = o["month"].to_numpy() - m0[cust]
    last = int(o["month"].max())
    span = last - m0
    ch = first["ch"].to_numpy(dtype=object)[cust]
    rows = pd.DataFrame({"ch": ch, "k": k, "net": o["net"].to_numpy()})
    # a row's month k never exceeds its customer's span: every row is observable
    per_all = rows.groupby(["ch", "k"])["net"].sum()
    spans = pd.Series(span).groupby([first["ch"].to_numpy(), span]).size()
    return payback_curves_from_counts(per_all, spans)


def payback_curves_from_counts(net: pd.Series, customers: pd.Series) -> dict[str, np.ndarray]:
    """Payback curves (cumulative margin per acquired customer by month since the first order,
    per first channel) from counts, the second half of :func:`channel_economics`' payback.

    ``net``: the margin of the orders indexed by (first channel, months since the customer's
    first order); ``customers``: customers indexed by (first channel, span), the span being the
    months from the customer's first order to the last month of the data. Month k counts among
    the customers observable for k months (no censoring bias). Both are aggregated over the
    orders by ``channel_economics`` (pandas) or
    :func:`opsnb.market.orders_sql.payback_counts_sql` (DuckDB)."""
    curves = {}
    for c, per_span in customers.groupby(level=0):
        spans = per_span.index.get_level_values(1).to_numpy(dtype=np.int64)
        counts = np.bincount(spans, weights=per_span.to_numpy(dtype=float))
        observable = counts[::-1].cumsum()[::-1]
        ks = np.arange(len(observable))
        per = net.xs(c, level=0).reindex(ks).fillna(0).to_numpy()  # k = 0: the first order
        curves[c] = np.cumsum(per / np.maximum(observable, 1))
    return curves


def channel_economics(
    daily: pd.DataFrame,
    orders: pd.DataFrame | None = None,
    *,
    margin: float = 0.3,
    alpha: float = 0.05,
    curves: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """CAC, ROAS, ROI and payback per channel with (1−alpha) intervals.

    Channels without spend get NaN CAC/ROAS/ROI (error_code "zero_denominator"). ``margin`` is
    the gross margin rate applied to GMV. Columns: channel, ad_spend, gmv, buyers, new_buyers,
    conversion_rate, cac, cac_low, cac_high, roas, roas_low, roas_high, roi, roi_low, roi_high,
    payback_months, payback_low, payback_high, error_code. Payback is the number of months
    (1 = within the acquisition month) until cumulative margin per customer reaches the CAC,
    NaN when not reached within the data; ``curves`` (instead of ``orders``) are those
    curves already made (:func:`payback_curves`, or from the store in SQL:
    :func:`opsnb.market.orders_sql.payback_curves_sql`).
    """
    from scipy.stats import norm

    if not 0 < margin <= 1:
        raise ValueError(f"margin must be in (0, 1], got {margin}")
    z = norm.ppf(1 - alpha / 2)
    if curves is None:
        has_channel = orders is not None and "channel" in orders
        curves = payback_curves(orders, margin=margin) if has_channel else {}

    def months_to(curve, target):
        if curve is None or not np.isfinite(target):
            return np.nan
        hit = np.flatnonzero(curve >= target)
        return float(hit[0] + 1) if len(hit) else np.nan

    rows = []
    for ch, d in daily.groupby("channel"):
        spend = float(d["ad_spend"].fillna(0).sum()) if "ad_spend" in d else 0.0
        gmv = float(d["gmv"].sum())
        nb = float(d["new_buyers"].fillna(0).sum()) if "new_buyers" in d else np.nan
        row = {
            "channel": ch,
            "ad_spend": spend,
            "gmv": gmv,
            "buyers": float(d["buyers"].sum()),
            "new_buyers": nb,
            "conversion_rate": d["buyers"].sum() / d["visitors"].sum()
            if d["visitors"].sum() > 0
            else np.nan,
            "error_code": ErrorCode.OK,
        }
        if spend > 0 and nb > 0:
            lo, hi = _poisson_ci(nb, alpha)
            row.update(
                cac=spend / nb, cac_low=spend / hi, cac_high=spend / lo if lo > 0 else np.inf
            )
        else:
            row.update(cac=np.nan, cac_low=np.nan, cac_high=np.nan)
        if spend > 0:
            s, g = d["ad_spend"].fillna(0).to_numpy(float), d["gmv"].to_numpy(float)
            n = len(s)
            r = gmv / spend
            se = np.sqrt(np.var(g - r * s, ddof=1) / n) / s.mean() if n > 1 else np.nan
            row.update(roas=r, roas_low=r - z * se, roas_high=r + z * se)
        else:
            row.update(
                roas=np.nan,
                roas_low=np.nan,
                roas_high=np.nan,
                error_code=ErrorCode.ZERO_DENOMINATOR,
            )
        row.update(
            roi=row["roas"] * margin - 1,
            roi_low=row["roas_low"] * margin - 1,
            roi_high=row["roas_high"] * margin - 1,
        )
        cur = curves.get(ch)
        row.update(
            payback_months=months_to(cur, row["cac"]),
            payback_low=months_to(cur, row["cac_low"]),
            payback_high=months_to(cur, row["cac_high"]),
        )
        rows.append(row)
    cols = [
        "channel",
        "ad_spend",
        "gmv",
        "buyers",
        "new_buyers",
        "conversion_rate",
        "cac",
        "cac_low",
        "cac_high",
        "roas",
        "roas_low",
        "roas_high",
        "roi",
        "roi_low",
        "roi_high",
        "payback_months",
        "payback_low",
        "payback_high",
        "error_code",
    ]
    return pd.DataFrame(rows)[cols]
