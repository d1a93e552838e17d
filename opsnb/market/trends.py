"""Category trends (YoY, seasonally adjusted MoM) and the price-band table of the ``market`` table.

* **Seasonality-adjusted growth**: YoY compares a month with the same month a year earlier
  (seasonality cancels). MoM is computed on the seasonally adjusted series ``value / factor``,
  where the factor of a calendar month is the mean ratio of the value to its centred 2×12 moving
  average (classical multiplicative decomposition, factors normalised to mean 1). With fewer
  than 24 months no factor is estimated (factor 1, ``seasonal_adjusted=False``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["category_trend", "price_band_table", "previous_period"]


def _band_key(band: str) -> float:
    import re

    m = re.search(r"[\d.]+", str(band))
    return float(m.group()) if m else np.inf


def previous_period(start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The period of the same length just before ``start..end`` (inclusive dates)."""
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    return s - (e - s) - pd.Timedelta(days=1), s - pd.Timedelta(days=1)


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
