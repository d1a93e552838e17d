"""Demand preparation for forecasting: regular series, un-censoring, promotion lifts, metrics.

Sales are not demand: on a day the SKU was out of stock (缺货) sales are a lower bound, and on
a promotion day (大促) they are demand times the event's lift. :func:`uncensor_demand` replaces
censored days by an estimate from the uncensored days around them (local level × seasonal
index, never below what was sold); :func:`event_lifts` estimates each event's lift per series
from past occurrences (the same event last year, shrunk towards the lift pooled over all
series when a series sold little), which :mod:`opsnb.products.forecast` divides out before
fitting and multiplies back on future event days. Events come from :mod:`opsnb.calendar`
(built-in 年货节, 618, 双11, … plus shop campaigns).

Also here: :func:`regular_series` (one row per series and period, gaps filled with 0, every
series running to the last timestamp) and the accuracy measures :func:`mase`, :func:`smape`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from opsnb.calendar import event_days

__all__ = [
    "SEASON_BY_FREQ",
    "infer_freq",
    "season_for",
    "regular_series",
    "uncensor_demand",
    "sales_with_stock",
    "event_keys",
    "event_lifts",
    "mase",
    "smape",
]

SEASON_BY_FREQ = {"D": 7, "B": 5, "W": 52, "M": 12, "MS": 12, "ME": 12, "Q": 4, "QS": 4, "h": 24}
"""Default season length (periods per cycle) by pandas frequency prefix."""


def infer_freq(timestamps) -> str:
    """The pandas frequency of ``timestamps`` (e.g. ``"D"``, ``"W-MON"``, ``"MS"``).

    Uses :func:`pandas.infer_freq` on the distinct sorted timestamps, else the most common
    step; ValueError when fewer than 3 distinct timestamps.
    """
    ts = pd.DatetimeIndex(pd.unique(pd.to_datetime(pd.Series(timestamps)))).sort_values()
    if len(ts) < 3:
        raise ValueError(
            f"need at least 3 distinct timestamps to infer the frequency; got {len(ts)}"
        )
    with warnings.catch_warnings():  # pandas 3 announces an offset return value
        warnings.simplefilter("ignore")
        f = pd.infer_freq(ts)
    if f:
        return f if isinstance(f, str) else f.freqstr
    step = pd.Series(ts[1:] - ts[:-1]).mode().iloc[0]
    days = step / pd.Timedelta(days=1)
    if days == 1:
        return "D"
    if days == 7:
        return f"W-{ts[0].day_name()[:3].upper()}"
    if 28 <= days <= 31 and (ts.day == 1).all():
        return "MS"
    return pd.tseries.frequencies.to_offset(step).freqstr


def season_for(freq: str) -> int:
    """Default season length for ``freq``: 7 for daily, 52 weekly, 12 monthly, 24 hourly, else 1."""
    base = pd.tseries.frequencies.to_offset(freq).rule_code.split("-")[0]
    return SEASON_BY_FREQ.get(base, SEASON_BY_FREQ.get(base.rstrip("S"), 1))


def regular_series(
    df: pd.DataFrame,
    *,
    series_col: str,
    time_col: str,
    value_col: str,
    freq: str,
    stockout_col: str | None = None,
) -> pd.DataFrame:
    """One row per series and period from the series' first timestamp to the last timestamp
    of any series (sales data: a period without a row sold nothing, so it is 0; duplicate
    rows of a period are summed).

    Returns columns ``series, timestamp, value, stockout`` (bool; False without
    ``stockout_col``).
    """
    d = pd.DataFrame(
        {
            "series": df[series_col].astype(str).to_numpy(),
            "timestamp": pd.to_datetime(df[time_col]).to_numpy(),
            "value": pd.to_numeric(df[value_col]).astype(float).to_numpy(),
            "stockout": (
                df[stockout_col].fillna(False).astype(bool).to_numpy()
                if stockout_col
                else np.zeros(len(df), bool)
            ),
        }
    )
    off = pd.tseries.frequencies.to_offset(freq)
    g = d.groupby(["series", "timestamp"], sort=True).agg(
        value=("value", "sum"), stockout=("stockout", "any")
    )
    end = g.index.get_level_values("timestamp").max()
    parts = []
    for sid, part in g.groupby(level="series", sort=True):
        part = part.droplevel("series")
        idx = pd.date_range(part.index.min(), end, freq=off)
        off_grid = part.index.difference(idx)
        if len(off_grid):
            raise ValueError(
                f"series {sid!r}: timestamp {off_grid[0]} is not on the {freq} grid starting "
                f"{idx[0]}; aggregate the data to {freq} periods or pass the right freq"
            )
        part = part.reindex(idx)
        parts.append(
            pd.DataFrame(
                {
                    "series": sid,
                    "timestamp": idx,
                    "value": part["value"].fillna(0.0).to_numpy(),
                    "stockout": part["stockout"].fillna(False).astype(bool).to_numpy(),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["series", "timestamp", "value", "stockout"])
    return pd.concat(parts, ignore_index=True)


def uncensor_demand(
    values, stockout, *, season_length: int = 7, window: int = 4, exclude=None
) -> np.ndarray:
    """Demand estimate of a series whose sales are censored on stock-out periods.

    On a stock-out period the estimate is the local level (mean of the uncensored periods
    within ``window`` seasons either side) times the seasonal index of the period's position
    in the season (mean uncensored value at that position / overall uncensored mean), and
    never less than what was sold. Uncensored periods are returned as they are. With no
    uncensored period at all the sales are returned unchanged. ``exclude`` (bool per period,
    e.g. promotion days) keeps periods out of the level and the seasonal index, so a
    stock-out the week after 双11 is not filled with 双11's sales (unless nothing else is left).

    >>> uncensor_demand([5, 5, 0, 5, 5], [False, False, True, False, False], season_length=1)
    array([5., 5., 5., 5., 5.])
    """
    y = np.asarray(values, dtype=float)
    cens = np.asarray(stockout, dtype=bool)
    if not cens.any() or cens.all():
        return y.copy()
    m = max(int(season_length), 1)
    ok = ~cens
    if exclude is not None:
        keep = ok & ~np.asarray(exclude, dtype=bool)
        ok = keep if keep.any() else ok
    overall = y[ok].mean()
    pos = np.arange(len(y)) % m
    index = np.ones(m)
    if m > 1 and overall > 0:
        for p in range(m):
            sel = ok & (pos == p)
            if sel.sum() >= 2:
                index[p] = y[sel].mean() / overall
    deseason = np.where(ok, y / index[pos], np.nan)
    half = window * m
    csum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(deseason))])
    ccnt = np.concatenate([[0], np.cumsum(ok)])
    out = y.copy()
    for i in np.flatnonzero(cens):
        lo, hi = max(0, i - half), min(len(y), i + half + 1)
        n = ccnt[hi] - ccnt[lo]
        level = (csum[hi] - csum[lo]) / n if n else overall
        out[i] = max(y[i], level * index[pos[i]])
    return out


def sales_with_stock(product_daily: pd.DataFrame, inventory: pd.DataFrame) -> pd.DataFrame:
    """Daily units per SKU on every day the inventory covers, with the stock-out flag.

    ``product_daily`` has a row only on days a SKU sold; a stock-out day usually sold nothing
    and has none, so its flag would be lost. This joins the sales onto the ``inventory`` grid
    (``date, sku, on_hand``; one row per day and SKU, summed over warehouses): ``date, sku,
    units`` (0 where no sale), ``on_hand`` and ``stockout`` (``on_hand == 0`` at the end of
    the day: the day's sales are censored). Sales on days without an inventory row are kept
    with ``stockout`` False.
    """
    inv = inventory.assign(
        date=pd.to_datetime(inventory["date"]).dt.normalize(), sku=inventory["sku"].astype(str)
    )
    inv = inv.groupby(["date", "sku"], as_index=False)["on_hand"].sum()
    pdl = product_daily.assign(
        date=pd.to_datetime(product_daily["date"]).dt.normalize(),
        sku=product_daily["sku"].astype(str),
    )
    units = pdl.groupby(["date", "sku"], as_index=False)["units"].sum()
    out = inv.merge(units, on=["date", "sku"], how="outer")
    out["units"] = out["units"].fillna(0.0).astype(float)
    out["stockout"] = (out["on_hand"] <= 0).fillna(False).astype(bool)
    out = out.sort_values(["sku", "date"], kind="mergesort").reset_index(drop=True)
    return out[["date", "sku", "units", "on_hand", "stockout"]]


def event_keys(timestamps, *, calendar: pd.DataFrame | None = None, extra=None) -> np.ndarray:
    """The event key of each timestamp: the event slug, ``"<event>@peak"`` on its peak day (a
    peak day gets its own lift), or ``""``. A non-daily timestamp takes the event covering it."""
    ts = pd.DatetimeIndex(pd.to_datetime(pd.Series(timestamps)))
    if len(ts) == 0:
        return np.array([], dtype=object)
    uniq = ts.unique().sort_values()
    ev = event_days(uniq, calendar, extra=extra)
    key = np.where(ev["is_peak"].to_numpy(bool), ev["event"] + "@peak", ev["event"])
    key = np.where(ev["event"].to_numpy() == "", "", key)
    lookup = dict(zip(uniq.normalize(), key))
    return np.array([lookup[t] for t in ts.normalize()], dtype=object)


def event_lifts(
    history: pd.DataFrame,
    *,
    calendar: pd.DataFrame | None = None,
    extra=None,
    baseline_days: int = 28,
    prior_units: float = 20.0,
) -> pd.DataFrame:
    """Lift of each calendar event per series, from past occurrences in ``history``.

    ``history`` has columns ``series, timestamp, demand`` (daily). Events are keyed by
    :func:`event_keys` (an event's peak day is its own key ``"<event>@peak"``). For each occurrence of an
    event (consecutive days it covers), the baseline is the mean demand on the ``baseline_days``
    non-event days before it starts; the event's expected demand without lift is baseline ×
    event days. Per series, ``lift = (actual + prior_units · pooled) / (expected + prior_units)``
    where ``pooled`` = Σ actual / Σ expected over every series (so a series that sold a handful
    of units takes the pooled lift, a big seller its own). Only occurrences with a baseline
    count.

    Returns columns ``series, event, lift, actual, expected, pooled_lift, occurrences``.
    """
    cols = ["series", "event", "lift", "actual", "expected", "pooled_lift", "occurrences"]
    if history.empty:
        return pd.DataFrame(columns=cols)
    h = history[["series", "timestamp", "demand"]].copy()
    h["event"] = event_keys(h["timestamp"], calendar=calendar, extra=extra)
    rows = []
    for sid, part in h.groupby("series", sort=True):
        part = part.sort_values("timestamp")
        y = part["demand"].to_numpy(float)
        e = part["event"].to_numpy()
        is_ev = e != ""
        # occurrences: runs of the same event
        change = np.flatnonzero(np.r_[True, e[1:] != e[:-1]])
        bounds = list(zip(change, np.r_[change[1:], len(e)]))
        base_idx = np.flatnonzero(~is_ev)
        for s, t in bounds:
            if e[s] == "":
                continue
            before = base_idx[base_idx < s][-baseline_days:]
            if len(before) < max(7, baseline_days // 2):
                continue
            rows.append((sid, e[s], y[s:t].sum(), y[before].mean() * (t - s)))
    if not rows:
        return pd.DataFrame(columns=cols)
    occ = pd.DataFrame(rows, columns=["series", "event", "actual", "expected"])
    per = occ.groupby(["series", "event"], sort=True).agg(
        actual=("actual", "sum"), expected=("expected", "sum"), occurrences=("actual", "size")
    )
    per = per.reset_index()
    pool = occ.groupby("event").agg(a=("actual", "sum"), x=("expected", "sum"))
    pooled = (pool["a"] / pool["x"].where(pool["x"] > 0)).fillna(1.0)
    per["pooled_lift"] = per["event"].map(pooled).astype(float)
    k = float(prior_units)
    per["lift"] = (per["actual"] + k * per["pooled_lift"]) / (per["expected"] + k)
    return per[cols]


def mase(actual, forecast, scale: float) -> float:
    """Mean absolute scaled error: mean |actual − forecast| / ``scale`` (the in-sample MAE of
    the seasonal naive forecast); NaN when ``scale`` is 0 or NaN."""
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    if not scale or not np.isfinite(scale):
        return float("nan")
    return float(np.mean(np.abs(a - f)) / scale)


def smape(actual, forecast) -> float:
    """Symmetric MAPE in [0, 2]: mean of 2|a − f| / (|a| + |f|), a period with a = f = 0 counts 0."""
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    den = np.abs(a) + np.abs(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, 2 * np.abs(a - f) / den, 0.0)
    return float(np.mean(r))
