"""The 补货建议表 (replenishment plan), 大促备货 and stock alerts from demand forecasts.

Inputs are tidy tables with the kit's column names:

- ``forecasts``: ``series`` (the SKU), ``timestamp``, ``forecast``, and an interval
  ``lo_<l>, hi_<l>`` at a stated level ``l`` (the output of
  :func:`opsnb.products.forecast.forecast_demand` or of ``opsnb forecast``). Daily forecasts
  are used as they are; weekly or monthly ones are spread over their days first
  (:func:`daily_forecasts`);
- ``skus``: ``sku, lead_time_days`` and optionally ``name, price, unit_cost, moq, case_pack,
  lead_time_std_days``;
- ``inventory``: ``sku, on_hand`` and optionally ``date, in_transit`` (the latest row per SKU
  on or before ``as_of`` counts).

The forecast error per day is read off the interval as normal: ``σt = (hi − lo) / (2·z)``;
over the protection interval ``P = L + R`` the daily demand ``d`` is the mean forecast and
``σd² `` the mean ``σt²``, so ``σP = √(P·σd² + d²·σL²)`` (:mod:`opsnb.products.policy`). The
in-transit stock is assumed to arrive within the lead time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsnb.products.policy import order_quantity, safety_stock

__all__ = [
    "PLAN_COLUMNS",
    "PROMO_COLUMNS",
    "forecast_sigma",
    "daily_forecasts",
    "replenishment_plan",
    "promo_stock",
    "stockout_alerts",
    "overstock_alerts",
]

PLAN_COLUMNS = [
    "sku",
    "name",
    "on_hand",
    "in_transit",
    "inventory_position",
    "lead_time_days",
    "review_days",
    "demand_per_day",
    "sigma_per_day",
    "demand_over_protection",
    "safety_stock",
    "order_up_to",
    "order_qty",
    "order_value",
    "cycle_service_level",
    "fill_rate",
    "days_of_cover",
    "stockout_date",
    "order_by",
    "gmv_at_risk",
    "money_tied_up",
    "excess_value",
    "alert",
]

PROMO_COLUMNS = [
    "sku",
    "name",
    "event",
    "event_start",
    "event_end",
    "pre_event_demand",
    "event_demand",
    "safety_stock",
    "stock_needed",
    "available_at_start",
    "order_qty",
    "order_value",
    "last_order_date",
    "late",
]


def _level_of(forecasts: pd.DataFrame, level: int | None) -> int:
    have = sorted(int(c[3:]) for c in forecasts.columns if c.startswith("lo_") and c[3:].isdigit())
    have = [lv for lv in have if f"hi_{lv}" in forecasts.columns]
    if not have:
        raise ValueError("forecasts need an interval: columns lo_<level>, hi_<level> (e.g. lo_80)")
    if level is None:
        return have[-1]
    if int(level) not in have:
        raise ValueError(f"level {level} not in the forecasts; they have {have}")
    return int(level)


def forecast_sigma(forecasts: pd.DataFrame, level: int | None = None) -> pd.Series:
    """Standard deviation of each forecast period from its ``level`` interval (normal):
    ``(hi − lo) / (2·z)``, ``z = Φ⁻¹((1 + level/100) / 2)``; the widest level by default."""
    from scipy.stats import norm

    lv = _level_of(forecasts, level)
    z = norm.ppf((1 + lv / 100) / 2)
    return ((forecasts[f"hi_{lv}"] - forecasts[f"lo_{lv}"]) / (2 * z)).clip(lower=0)


def daily_forecasts(forecasts: pd.DataFrame) -> pd.DataFrame:
    """Daily rows from forecasts of any period: ``series, timestamp, forecast, sigma``.

    A period's timestamp is its first day and the period runs to the next timestamp (the last
    one as long as the most common step). Its forecast is spread evenly over its ``k`` days
    and its standard deviation ``sigma`` (from :func:`forecast_sigma`) as ``sigma / √k`` per
    day, so the sum over the period keeps its mean and variance (days independent). Daily
    forecasts (step of one day) come back unchanged.
    """
    fc = forecasts[["series", "timestamp", "forecast", "sigma"]].copy()
    fc["timestamp"] = pd.to_datetime(fc["timestamp"]).dt.normalize()
    fc = fc.sort_values(["series", "timestamp"], kind="mergesort").reset_index(drop=True)
    step = fc.groupby("series")["timestamp"].diff().dt.days
    if step.dropna().empty or (step.dropna() == 1).all():
        return fc
    typical = int(step.mode().iloc[0])
    nxt = fc.groupby("series")["timestamp"].shift(-1)
    k = ((nxt - fc["timestamp"]).dt.days.fillna(typical)).astype(int).clip(lower=1)
    out = fc.loc[fc.index.repeat(k)].reset_index(drop=True)
    offset = out.groupby(np.repeat(np.arange(len(fc)), k)).cumcount().to_numpy()
    kk = np.repeat(k.to_numpy(), k.to_numpy())
    out["timestamp"] = out["timestamp"] + pd.to_timedelta(offset, unit="D")
    out["forecast"] = out["forecast"] / kk
    out["sigma"] = out["sigma"] / np.sqrt(kk)
    return out


def _prepare(forecasts, skus, inventory, as_of, level):
    fc = forecasts.copy()
    fc["series"] = fc["series"].astype(str)
    fc["sigma"] = forecast_sigma(fc, level).to_numpy()
    fc = daily_forecasts(fc)
    as_of = (
        pd.Timestamp(as_of).normalize()
        if as_of is not None
        else fc["timestamp"].min() - pd.Timedelta(days=1)
    )
    fc = fc[fc["timestamp"] > as_of]
    sk = skus.copy()
    sk["sku"] = sk["sku"].astype(str)
    for col, default in (
        ("name", ""),
        ("price", np.nan),
        ("unit_cost", np.nan),
        ("moq", 0),
        ("case_pack", 1),
        ("lead_time_std_days", 0.0),
    ):
        if col not in sk.columns:
            sk[col] = default
    sk["name"] = sk["name"].fillna("").astype(str)
    inv = inventory.copy()
    inv["sku"] = inv["sku"].astype(str)
    if "in_transit" not in inv.columns:
        inv["in_transit"] = 0
    if "date" in inv.columns:
        inv["date"] = pd.to_datetime(inv["date"])
        inv = inv[inv["date"] <= as_of + pd.Timedelta(days=1)].sort_values("date")
    inv = inv.groupby("sku").tail(1).set_index("sku")
    return fc, sk, inv, as_of


def _path(fc_sku: pd.DataFrame, as_of: pd.Timestamp, days: int):
    """Daily forecast and sigma for the next ``days`` days; beyond the horizon the mean of the
    last 7 forecast days is carried forward."""
    idx = pd.date_range(as_of + pd.Timedelta(days=1), periods=max(days, 1), freq="D")
    s = fc_sku.set_index("timestamp")
    f = s["forecast"].reindex(idx)
    g = s["sigma"].reindex(idx)
    tail = s.sort_index().tail(7)
    f = f.fillna(float(tail["forecast"].mean()) if len(tail) else 0.0)
    g = g.fillna(float(np.sqrt((tail["sigma"] ** 2).mean())) if len(tail) else 0.0)
    return f.to_numpy(float), g.to_numpy(float), idx


def replenishment_plan(
    forecasts: pd.DataFrame,
    skus: pd.DataFrame,
    inventory: pd.DataFrame,
    *,
    as_of=None,
    review_days: int = 7,
    cycle_service_level: float | None = 0.95,
    fill_rate: float | None = None,
    level: int | None = None,
    cover_days: float = 90.0,
) -> pd.DataFrame:
    """The 补货建议表: order-up-to policy per SKU with safety stock, order quantity and alerts.

    Parameters
    ----------
    as_of : date-like, optional
        The day the plan is made (default: the day before the first forecast).
    review_days : int
        Days between orders (R); the order-up-to level covers lead time + R.
    cycle_service_level, fill_rate : float
        The service target: a cycle service level (default 0.95) or, when ``fill_rate`` is
        given, a fill rate. Both measures are reported either way.
    level : int, optional
        Which interval of the forecasts gives the error (default: the widest).
    cover_days : float
        积压 threshold: days of cover above it raise an ``overstock`` alert.

    Returns
    -------
    DataFrame with :data:`PLAN_COLUMNS`: stock (``on_hand, in_transit, inventory_position``),
    the policy (``demand_per_day, sigma_per_day, demand_over_protection, safety_stock,
    order_up_to``), the order (``order_qty`` respecting ``moq`` and ``case_pack``,
    ``order_value`` at unit cost), both service measures, ``days_of_cover``, the projected
    ``stockout_date`` (cumulative forecast passes the inventory position; NaT within the
    horizon checked) and ``order_by`` (stock-out date − lead time), ``gmv_at_risk`` (price ×
    demand over lead time + review not covered by the position), ``money_tied_up`` (on hand at
    unit cost), ``excess_value`` (stock beyond ``cover_days`` of demand at unit cost) and
    ``alert``: ``stockout`` (stock-out projected within lead time + review period, 缺货预警),
    ``overstock`` (days of cover above ``cover_days``, 滞销/积压) or ``""``.
    """
    if fill_rate is not None:
        cycle_service_level = None
    if int(review_days) < 1:
        raise ValueError(f"review_days must be ≥ 1 for an order-up-to plan; got {review_days!r}")
    fc, sk, inv, as_of = _prepare(forecasts, skus, inventory, as_of, level)
    by_sku = dict(tuple(fc.groupby("series")))
    rows = []
    for r in sk.itertuples(index=False):
        L = float(r.lead_time_days)
        R = int(review_days)
        P = int(np.ceil(L + R))
        f, g, idx = _path(by_sku.get(r.sku, fc.iloc[:0]), as_of, max(P, int(cover_days)))
        d = float(f[:P].mean())
        sd = float(np.sqrt(np.mean(g[:P] ** 2)))
        lt_sd = float(r.lead_time_std_days) if pd.notna(r.lead_time_std_days) else 0.0
        pol = safety_stock(
            d,
            sd,
            L,
            lead_time_std=lt_sd,
            review_period=R,
            cycle_service_level=cycle_service_level,
            fill_rate=fill_rate,
        )
        on_hand = float(inv["on_hand"].get(r.sku, 0.0))
        transit = float(inv["in_transit"].get(r.sku, 0.0) or 0.0)
        pos = on_hand + transit
        qty = order_quantity(pos, pol.reorder_point, moq=r.moq, case_pack=r.case_pack)
        cum = np.cumsum(f)
        out_at = np.flatnonzero(cum > pos)
        stockout = idx[out_at[0]] if len(out_at) else pd.NaT
        order_by = stockout - pd.Timedelta(days=int(np.ceil(L))) if len(out_at) else pd.NaT
        cover = on_hand / d if d > 0 else (np.inf if on_hand > 0 else np.nan)
        short = max(float(cum[P - 1]) - pos, 0.0)
        cost = float(r.unit_cost) if pd.notna(r.unit_cost) else np.nan
        alert = ""
        if len(out_at) and out_at[0] < P:
            alert = "stockout"
        elif cover > cover_days:
            alert = "overstock"
        rows.append(
            {
                "sku": r.sku,
                "name": r.name,
                "on_hand": on_hand,
                "in_transit": transit,
                "inventory_position": pos,
                "lead_time_days": L,
                "review_days": R,
                "demand_per_day": d,
                "sigma_per_day": sd,
                "demand_over_protection": pol.demand_over_protection,
                "safety_stock": pol.safety_stock,
                "order_up_to": pol.reorder_point,
                "order_qty": int(qty),
                "order_value": qty * cost,
                "cycle_service_level": pol.cycle_service_level,
                "fill_rate": pol.fill_rate,
                "days_of_cover": cover,
                "stockout_date": stockout,
                "order_by": order_by,
                "gmv_at_risk": short * (float(r.price) if pd.notna(r.price) else np.nan),
                "money_tied_up": on_hand * cost,
                "excess_value": max(on_hand - cover_days * d, 0.0) * cost,
                "alert": alert,
            }
        )
    out = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    for c in ("stockout_date", "order_by"):
        out[c] = pd.to_datetime(out[c])
    return out


def _event_window(event, start, end, as_of):
    if start is not None and end is not None:
        return str(event or "event"), pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if event is None:
        raise ValueError("give event (a calendar slug such as '618', 'double11') or start and end")
    from opsnb.calendar import promotion_calendar

    cal = promotion_calendar(as_of, as_of + pd.Timedelta(days=400))
    cal = cal[(cal["event"] == str(event)) & (cal["start"] > as_of)]
    if cal.empty:
        raise ValueError(f"no upcoming calendar event {event!r} after {as_of.date()}")
    row = cal.iloc[0]
    return str(event), pd.Timestamp(row["start"]), pd.Timestamp(row["end"])


def promo_stock(
    forecasts: pd.DataFrame,
    skus: pd.DataFrame,
    inventory: pd.DataFrame,
    *,
    event: str | None = None,
    start=None,
    end=None,
    as_of=None,
    cycle_service_level: float = 0.95,
    level: int | None = None,
    inbound_days: int = 0,
) -> pd.DataFrame:
    """大促备货: stock each SKU needs for a promotion and the last day to order it.

    The event window is ``start..end`` or the next occurrence of calendar ``event`` after
    ``as_of``. ``event_demand`` sums the forecast over the window (the forecasts must cover it
    and carry the event's lift: run the forecast with ``promotions=True``); the safety stock is
    ``z·√Σσt²`` over the window; ``stock_needed = event_demand + safety_stock``. What is left
    at the start is the inventory position less the forecast demand before it; ``order_qty``
    tops it up to the need (MOQ, case pack); ``last_order_date`` = start − lead time −
    ``inbound_days`` (warehouse receiving), ``late`` when that is before ``as_of``.

    Returns a DataFrame with :data:`PROMO_COLUMNS`.
    """
    from scipy.stats import norm

    fc, sk, inv, as_of = _prepare(forecasts, skus, inventory, as_of, level)
    name, s, e = _event_window(event, start, end, as_of)
    if e < s:
        raise ValueError(f"event end {e.date()} is before its start {s.date()}")
    last = fc["timestamp"].max()
    if pd.isna(last) or last < e:
        raise ValueError(
            f"the forecasts end {None if pd.isna(last) else last.date()}, before the event "
            f"ends {e.date()}: forecast a longer horizon"
        )
    z = float(norm.ppf(cycle_service_level))
    rows = []
    by_sku = dict(tuple(fc.groupby("series")))
    for r in sk.itertuples(index=False):
        part = by_sku.get(r.sku, fc.iloc[:0])
        pre = float(part.loc[part["timestamp"] < s, "forecast"].sum())
        win = part[(part["timestamp"] >= s) & (part["timestamp"] <= e)]
        demand = float(win["forecast"].sum())
        ss = z * float(np.sqrt((win["sigma"] ** 2).sum()))
        pos = float(inv["on_hand"].get(r.sku, 0.0)) + float(
            inv["in_transit"].get(r.sku, 0.0) or 0.0
        )
        avail = max(pos - pre, 0.0)
        qty = int(order_quantity(avail, demand + ss, moq=r.moq, case_pack=r.case_pack))
        by = s - pd.Timedelta(days=int(np.ceil(float(r.lead_time_days))) + int(inbound_days))
        cost = float(r.unit_cost) if pd.notna(r.unit_cost) else np.nan
        rows.append(
            {
                "sku": r.sku,
                "name": r.name,
                "event": name,
                "event_start": s,
                "event_end": e,
                "pre_event_demand": pre,
                "event_demand": demand,
                "safety_stock": ss,
                "stock_needed": demand + ss,
                "available_at_start": avail,
                "order_qty": qty,
                "order_value": qty * cost,
                "last_order_date": by,
                "late": bool(by < as_of),
            }
        )
    return pd.DataFrame(rows, columns=PROMO_COLUMNS)


def stockout_alerts(plan: pd.DataFrame) -> pd.DataFrame:
    """缺货预警: the plan's ``stockout`` rows, earliest ``order_by`` first, then GMV at risk."""
    out = plan[plan["alert"] == "stockout"]
    return out.sort_values(["order_by", "gmv_at_risk"], ascending=[True, False]).reset_index(
        drop=True
    )


def overstock_alerts(plan: pd.DataFrame) -> pd.DataFrame:
    """滞销/积压: the plan's ``overstock`` rows, most money tied up first."""
    out = plan[plan["alert"] == "overstock"]
    return out.sort_values("money_tied_up", ascending=False).reset_index(drop=True)
