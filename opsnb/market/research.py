"""Market research: category trends, price bands, competitor indices, funnel, channel economics.

Inputs are the contract tables ``market`` (platform indices per month × category × shop × price
band) and ``daily_metrics`` (traffic, buyers, spend per day × channel), plus ``orders`` for
payback. Methods, stated once:

* **Seasonality-adjusted growth**: YoY compares a month with the same month a year earlier
  (seasonality cancels). MoM is computed on the seasonally adjusted series ``value / factor``,
  where the factor of a calendar month is the mean ratio of the value to its centred 2×12 moving
  average (classical multiplicative decomposition, factors normalised to mean 1). With fewer
  than 24 months no factor is estimated (factor 1, ``seasonal_adjusted=False``).
* **Index calibration**: platform indices (成交金额指数) are monotone, non-linear transforms of
  GMV. From the shop's own months (index and known ``own_gmv``) we fit either a power law
  ``gmv = c·index^k`` (least squares on logs; monotone iff k > 0) or an isotonic (pool-adjacent
  violators) curve, and report the leave-one-out MAPE. Estimates outside the own index range are
  extrapolations and flagged.
* **Funnel**: stage counts summed over days (daily unique users, so a multi-day figure is a sum of
  daily uniques); step rate = stage / previous stage; change against a previous period with a
  two-proportion z-test per step.
* **Channel economics**: CAC = spend / new buyers with an exact Poisson interval on the count;
  ROAS = GMV / spend with a delta-method (ratio-estimator) interval over days; ROI = ROAS ×
  margin − 1; payback = first month after acquisition in which the cumulative margin per acquired
  customer (from ``orders``, by the channel of the first order) reaches the CAC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from opsnb.errors import ErrorCode

__all__ = [
    "previous_period",
    "category_trend",
    "price_band_table",
    "IndexCalibration",
    "calibrate_index",
    "calibrate_from_market",
    "apply_calibration",
    "competitor_comparison",
    "funnel",
    "channel_economics",
    "payback_curves",
    "payback_curves_from_counts",
    "plot_category_trend",
    "plot_price_bands",
    "plot_calibration",
    "plot_funnel",
]


def _band_key(band: str) -> float:
    import re

    m = re.search(r"[\d.]+", str(band))
    return float(m.group()) if m else np.inf


def previous_period(start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The period of the same length just before ``start..end`` (inclusive dates)."""
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    return s - (e - s) - pd.Timedelta(days=1), s - pd.Timedelta(days=1)


# ---------------------------------------------------------------------------------------------
# Category trend
# ---------------------------------------------------------------------------------------------


def _seasonal_factors(s: pd.Series) -> pd.Series:
    """Multiplicative factor per calendar month (1..12) from ratios to a centred 2×12 MA."""
    if s.notna().sum() < 24:
        return pd.Series(1.0, index=range(1, 13))
    ma = s.rolling(12, center=True).mean().rolling(2).mean().shift(-1)
    ratio = (s / ma).dropna()
    f = ratio.groupby(ratio.index.month).mean().reindex(range(1, 13)).fillna(1.0)
    return f / f.mean()


def category_trend(
    market: pd.DataFrame, *, value: str = "sales_index", category: str | None = None
) -> pd.DataFrame:
    """Monthly category totals with YoY, MoM and seasonally adjusted MoM.

    ``value`` is summed over shops and price bands (use ``est_gmv`` from
    :func:`apply_calibration` for sums in yuan; a raw index sum is only a rough proxy).
    Columns: category, month, value, yoy, mom, seasonal_factor, value_sa, mom_sa,
    seasonal_adjusted.
    """
    d = market if category is None else market[market["category"] == category]
    g = d.groupby(["category", pd.to_datetime(d["month"])])[value].sum().rename("value")
    parts = []
    for cat, s in g.groupby(level=0):
        s = s.droplevel(0).sort_index()
        s = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="MS"))
        f = _seasonal_factors(s)
        fac = pd.Series(f.reindex(s.index.month).to_numpy(), index=s.index)
        sa = s / fac
        parts.append(
            pd.DataFrame(
                {
                    "category": cat,
                    "month": s.index,
                    "value": s.to_numpy(),
                    "yoy": (s / s.shift(12) - 1).to_numpy(),
                    "mom": (s / s.shift(1) - 1).to_numpy(),
                    "seasonal_factor": fac.to_numpy(),
                    "value_sa": sa.to_numpy(),
                    "mom_sa": (sa / sa.shift(1) - 1).to_numpy(),
                    "seasonal_adjusted": s.notna().sum() >= 24,
                }
            )
        )
    cols = [
        "category",
        "month",
        "value",
        "yoy",
        "mom",
        "seasonal_factor",
        "value_sa",
        "mom_sa",
        "seasonal_adjusted",
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


# ---------------------------------------------------------------------------------------------
# Price bands
# ---------------------------------------------------------------------------------------------


def price_band_table(
    market: pd.DataFrame, *, value: str = "sales_index", category: str | None = None
) -> pd.DataFrame:
    """Sales share versus competition per price band, with opportunity bands highlighted.

    Sales are summed over the months given; competition is the number of distinct other shops
    selling in the band and the mean monthly listings (在售商品数). ``opportunity`` is True
    for bands whose sales share is at least the median band's and whose shop count and listings
    share are at most the median's. Columns: price_band, sales, sales_share, shops,
    listings, listings_share, share_per_listing_share, own_share, opportunity.
    """
    d = market if category is None else market[market["category"] == category]
    if d.empty:
        raise ValueError("no market rows for the chosen category and period")
    months = max(d["month"].nunique(), 1)
    g = d.groupby("price_band")
    others = d[~d["is_own"].astype(bool) & (d[value] > 0)]
    listings = (
        d.groupby("price_band")["listings"].sum(min_count=1) / months
        if "listings" in d
        else pd.Series(np.nan, index=g.size().index)
    )
    own = d[d["is_own"].astype(bool)].groupby("price_band")[value].sum()
    t = pd.DataFrame(
        {
            "sales": g[value].sum(),
            "shops": others.groupby("price_band")["competitor"].nunique(),
            "listings": listings,
        }
    )
    t["shops"] = t["shops"].fillna(0).astype(int)
    t["sales_share"] = t["sales"] / t["sales"].sum()
    t["listings_share"] = t["listings"] / t["listings"].sum()
    t["share_per_listing_share"] = t["sales_share"] / t["listings_share"]
    t["own_share"] = own.reindex(t.index).fillna(0) / t["sales"]
    comp_ok = t["shops"] <= t["shops"].median()
    if t["listings"].notna().any():
        comp_ok &= t["listings_share"] <= t["listings_share"].median()
    t["opportunity"] = (t["sales_share"] >= t["sales_share"].median()) & comp_ok
    t = t.loc[sorted(t.index, key=_band_key)]
    t.index.name = "price_band"
    return t.reset_index()[
        [
            "price_band",
            "sales",
            "sales_share",
            "shops",
            "listings",
            "listings_share",
            "share_per_listing_share",
            "own_share",
            "opportunity",
        ]
    ]


# ---------------------------------------------------------------------------------------------
# Index calibration
# ---------------------------------------------------------------------------------------------


def _pav(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted pool-adjacent-violators: the non-decreasing least-squares fit to ``y``."""
    vals, wts, sizes = [], [], []
    for yi, wi in zip(y, w):
        vals.append(yi)
        wts.append(wi)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / (wts[-2] + wts[-1])
            wts[-2] += wts[-1]
            sizes[-2] += sizes[-1]
            vals[-2] = v
            del vals[-1], wts[-1], sizes[-1]
    return np.repeat(vals, sizes)


@dataclass(frozen=True, eq=False)
class IndexCalibration:
    """Map from a platform index to an estimated value (GMV), fitted on the shop's own months.

    ``coef``/``exponent`` are the power-law c and k (NaN for isotonic); ``knots_x``/``knots_y``
    the isotonic curve; ``loo_mape`` the leave-one-out mean absolute percentage error;
    ``monotone`` whether the fitted map is increasing.
    """

    method: str
    n: int
    coef: float
    exponent: float
    loo_mape: float
    in_sample_mape: float
    monotone: bool
    index_min: float
    index_max: float
    error_code: str = ErrorCode.OK
    knots_x: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)
    knots_y: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)

    def predict(self, index) -> np.ndarray:
        x = np.asarray(index, dtype=float)
        if self.method == "power":
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(x > 0, self.coef * x**self.exponent, 0.0)
        if self.method == "isotonic" and len(self.knots_x):
            return np.interp(x, self.knots_x, self.knots_y)
        return np.full(x.shape, np.nan)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("knots_x", "knots_y")}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])


def _fit_power(x, y):
    k, logc = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(logc)), float(k)


def _fit_iso(x, y):
    o = np.argsort(x)
    xs, ys = x[o], y[o]
    ux, inv = np.unique(xs, return_inverse=True)
    ym = np.bincount(inv, ys) / np.bincount(inv)
    return ux, _pav(ym, np.bincount(inv).astype(float))


def calibrate_index(index, value, *, method: str = "auto") -> IndexCalibration:
    """Fit ``value ≈ f(index)`` monotone; ``method`` is "power", "isotonic" or "auto".

    "auto" takes the power law when its exponent is positive and its leave-one-out MAPE is not
    worse than the isotonic curve's, else the isotonic curve. Fewer than 4 positive pairs give
    NaN with ``error_code="too_few_observations"``.
    """
    if method not in ("power", "isotonic", "auto"):
        raise ValueError(f"method must be 'power', 'isotonic' or 'auto', got {method!r}")
    x, y = np.asarray(index, dtype=float), np.asarray(value, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    n = len(x)
    if n < 4:
        return IndexCalibration(
            method,
            n,
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            False,
            np.nan,
            np.nan,
            ErrorCode.TOO_FEW_OBSERVATIONS,
        )

    def loo(fit_predict):
        errs = []
        for i in range(n):
            m = np.arange(n) != i
            errs.append(abs(fit_predict(x[m], y[m], x[i]) - y[i]) / y[i])
        return float(np.mean(errs))

    def pw(xt, yt, xp):
        c, k = _fit_power(xt, yt)
        return c * xp**k

    def iso(xt, yt, xp):
        kx, ky = _fit_iso(xt, yt)
        return np.interp(xp, kx, ky)

    c, k = _fit_power(x, y)
    kx, ky = _fit_iso(x, y)
    res = {
        "power": IndexCalibration(
            "power",
            n,
            c,
            k,
            loo(pw),
            float(np.mean(abs(pw(x, y, x) - y) / y)),
            bool(k > 0),
            float(x.min()),
            float(x.max()),
        ),
        "isotonic": IndexCalibration(
            "isotonic",
            n,
            np.nan,
            np.nan,
            loo(iso),
            float(np.mean(abs(np.interp(x, kx, ky) - y) / y)),
            True,
            float(x.min()),
            float(x.max()),
            knots_x=kx,
            knots_y=ky,
        ),
    }
    if method != "auto":
        return res[method]
    p = res["power"]
    return (
        p
        if p.monotone and p.loo_mape <= res["isotonic"].loo_mape * 1.0 + 1e-12
        else res["isotonic"]
    )


def calibrate_from_market(
    market: pd.DataFrame, *, index_col: str = "sales_index", method: str = "auto"
) -> IndexCalibration:
    """Calibrate on the shop's own rows (``is_own`` with a known ``own_gmv``)."""
    own = market[market["is_own"].astype(bool) & market["own_gmv"].notna()]
    return calibrate_index(own[index_col], own["own_gmv"], method=method)


def apply_calibration(
    market: pd.DataFrame, cal: IndexCalibration, *, index_col: str = "sales_index"
) -> pd.DataFrame:
    """Add ``est_gmv`` (own rows keep their known GMV) and ``extrapolated`` (index outside the fit)."""
    out = market.copy()
    est = cal.predict(out[index_col].to_numpy(float))
    known = out["is_own"].astype(bool) & out["own_gmv"].notna()
    out["est_gmv"] = np.where(known, out["own_gmv"].astype(float), est)
    idx = out[index_col].astype(float)
    out["extrapolated"] = ~known & ((idx < cal.index_min) | (idx > cal.index_max))
    return out


def competitor_comparison(
    market: pd.DataFrame, *, value: str = "est_gmv", category: str | None = None
) -> pd.DataFrame:
    """One row per shop: value, share, visitor index, average price and growth (last vs first month).

    Columns: competitor, is_own, value, share, visitor_index, avg_price, growth, extrapolated_share.
    """
    d = market if category is None else market[market["category"] == category]
    d = d.assign(month=pd.to_datetime(d["month"]))
    first, last = d["month"].min(), d["month"].max()
    g = d.groupby("competitor")
    t = pd.DataFrame(
        {
            "is_own": g["is_own"].max().astype(bool),
            "value": g[value].sum(),
            "visitor_index": g["visitor_index"].mean() if "visitor_index" in d else np.nan,
            "avg_price": g.apply(
                lambda x: (
                    np.average(x["avg_price"], weights=x[value])
                    if x[value].sum() > 0
                    else x["avg_price"].mean()
                ),
                include_groups=False,
            ),
        }
    )
    t["share"] = t["value"] / t["value"].sum()
    v_first = d[d["month"] == first].groupby("competitor")[value].sum()
    v_last = d[d["month"] == last].groupby("competitor")[value].sum()
    t["growth"] = (v_last / v_first - 1).reindex(t.index)
    if "extrapolated" in d:
        t["extrapolated_share"] = (
            d[d["extrapolated"]].groupby("competitor")[value].sum().reindex(t.index).fillna(0)
            / t["value"]
        )
    else:
        t["extrapolated_share"] = np.nan
    t.index.name = "competitor"
    return t.sort_values("value", ascending=False).reset_index()[
        [
            "competitor",
            "is_own",
            "value",
            "share",
            "visitor_index",
            "avg_price",
            "growth",
            "extrapolated_share",
        ]
    ]


# ---------------------------------------------------------------------------------------------
# Funnel and channel economics
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------


def plot_category_trend(trend: pd.DataFrame, *, lang: str = "zh", ax=None):
    """Monthly value and its seasonally adjusted line, one colour per category."""
    from opsnb import plots

    ax = plots.new_axes(ax)
    for i, (cat, t) in enumerate(trend.groupby("category")):
        c = plots.PALETTE[i % len(plots.PALETTE)]
        ax.plot(t["month"], t["value"], color=c, alpha=0.45, label=f"{cat}")
        ax.plot(
            t["month"],
            t["value_sa"],
            color=c,
            lw=2,
            label=f"{cat}（季节调整）" if lang == "zh" else f"{cat} (seasonally adjusted)",
        )
    plots.axis_units(ax, "money", lang=lang)
    ax.set_title("类目趋势" if lang == "zh" else "Category trend")
    ax.legend(fontsize=8)
    return ax


def plot_price_bands(table: pd.DataFrame, *, lang: str = "zh", ax=None):
    """Sales share (bars) per price band, opportunity bands highlighted; shops on a second axis."""
    from opsnb import plots

    ax = plots.new_axes(ax)
    colors = [plots.PALETTE[2] if o else plots.PALETTE[0] for o in table["opportunity"]]
    x = np.arange(len(table))
    ax.bar(x, table["sales_share"], color=colors)
    ax.set_xticks(x, table["price_band"], rotation=30)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax2 = ax.twinx()
    ax2.plot(x, table["shops"], color=plots.PALETTE[1], marker="o")
    plots.axis_units(ax2, "count", lang=lang)
    ax2.set_ylabel("竞争店铺数" if lang == "zh" else "Competing shops")
    ax2.grid(False)
    ax.set_ylabel("成交占比" if lang == "zh" else "Sales share")
    ax.set_title(
        "价格带：成交占比与竞争（绿色 = 机会价格带）"
        if lang == "zh"
        else "Price bands: sales share vs competition (green = opportunity)"
    )
    return ax


def plot_calibration(index, value, cal: IndexCalibration, *, lang: str = "zh", ax=None):
    """Own months (index vs known GMV) on log axes with the fitted monotone map."""
    from opsnb import plots

    ax = plots.new_axes(ax, figsize=(6, 4.2))
    ax.scatter(
        index,
        value,
        color=plots.PALETTE[0],
        zorder=3,
        label="本店月度" if lang == "zh" else "Own months",
    )
    grid = np.geomspace(max(cal.index_min, 1e-9), cal.index_max, 100)
    ax.plot(
        grid,
        cal.predict(grid),
        color=plots.PALETTE[1],
        label=(
            f"{cal.method}，留一 MAPE {cal.loo_mape:.1%}"
            if lang == "zh"
            else f"{cal.method}, leave-one-out MAPE {cal.loo_mape:.1%}"
        ),
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    plots.axis_units(ax, "count", lang=lang, axis="x")
    plots.axis_units(ax, "money", lang=lang)
    ax.set_xlabel("成交金额指数" if lang == "zh" else "Sales index")
    ax.set_ylabel("实际成交金额" if lang == "zh" else "Known GMV")
    ax.set_title("指数还原校准" if lang == "zh" else "Index calibration")
    ax.legend()
    return ax


def plot_funnel(fun: pd.DataFrame, *, lang: str = "zh", ax=None):
    """Overall conversion from the first stage, one line per channel."""
    from opsnb import plots

    ax = plots.new_axes(ax)
    stages = fun.attrs.get("stages") or list(dict.fromkeys(fun["stage"]))
    names = {
        "visitors": ("访客", "Visit"),
        "cart_users": ("加购", "Cart"),
        "order_users": ("下单", "Order"),
        "buyers": ("支付", "Pay"),
    }
    for i, (ch, f) in enumerate(fun.groupby("channel", sort=False)):
        ax.plot(
            range(len(stages)),
            f.set_index("stage").loc[stages, "overall_rate"],
            marker="o",
            color=plots.PALETTE[i % len(plots.PALETTE)],
            label=str(ch),
        )
    ax.set_xticks(
        range(len(stages)), [names.get(s, (s, s))[0 if lang == "zh" else 1] for s in stages]
    )
    ax.set_yscale("log")
    plots.axis_units(ax, "pct", lang=lang)
    ax.set_title(
        "渠道漏斗（相对访客）" if lang == "zh" else "Funnel by channel (share of visitors)"
    )
    ax.legend(fontsize=8, ncol=2)
    return ax
