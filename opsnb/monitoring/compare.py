"""表3 as operators read it: each channel's day against the previous day (环比), the same weekday
last week (较上周同期), last year (同比) and the month's target (月度目标达成).

:func:`day_comparisons` compares one day of ``daily_metrics`` per channel and for the shop
total (``全部``); 同比 is last year's same date, except on a promotion day of
:func:`opsnb.calendar.promotion_calendar` (双11, 618 …), where it is last year's *same event day*
(the same number of days before the event's peak), so 双11 is compared with last 双11 and not
with an ordinary 11 November. :func:`month_to_date` sets the month so far against the
``targets`` table (period ``YYYY-MM``): achievement and pace. Changes are relative
(``value / base − 1``) for every metric, rates included; NaN when the base is missing or 0.
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt

import numpy as np
import pandas as pd

from opsnb.monitoring.daily import METRICS, TOTAL

__all__ = [
    "COMPARISON_LABELS",
    "same_day_last_year",
    "day_values",
    "day_comparisons",
    "month_to_date",
]

COMPARISON_LABELS = {
    "dod": ("环比", "vs previous day"),
    "wow": ("较上周同期", "vs same weekday last week"),
    "yoy": ("同比", "vs last year"),
    "mtd_gmv": ("本月累计成交", "Month-to-date GMV"),
    "month_target": ("月度目标", "Monthly target"),
    "achievement": ("目标达成率", "Target achieved"),
    "time_progress": ("时间进度", "Month elapsed"),
    "pace": ("达成/进度", "Pace (achieved / elapsed)"),
    "projected": ("按当前进度预计全月", "Projected month"),
}
"""Display names (zh, en) of the comparison columns."""

_COUNTS = ["visitors", "buyers", "orders", "gmv", "refund_orders"]


def same_day_last_year(day) -> tuple[pd.Timestamp, str]:
    """``(date, basis)``: last year's comparable day for 同比 and the event it is matched on.

    On a promotion day, the day of last year's same event with the same distance to the peak
    (双11 2025-11-11 → 2024-11-11; the 3rd day before 618 → the 3rd day before last 618);
    ``basis`` is the event slug then, else ``""`` (the same calendar date, 29 Feb → 28 Feb).
    """
    from opsnb.calendar import event_days, promotion_calendar

    d = pd.Timestamp(day).normalize()
    ev = event_days([d]).iloc[0]
    if ev["event"]:
        y0 = d.year - 1
        cal = promotion_calendar(dt.date(y0, 1, 1), dt.date(y0, 12, 31))
        same = cal[cal["event"] == ev["event"]]
        if len(same):
            peak = pd.Timestamp(same["peak"].iloc[0])
            return peak - pd.Timedelta(days=int(ev["days_to_peak"])), str(ev["event"])
    try:
        return d.replace(year=d.year - 1), ""
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28), ""


def day_values(daily: pd.DataFrame, day, *, channels=None) -> pd.DataFrame:
    """One day's metrics per channel plus the shop total (last row), from counts.

    Columns channel, visitors, conversion_rate, aov, gmv, refund_rate (rates derived from
    counts, so the total is right); empty when the day has no rows.
    """
    d = pd.Timestamp(day).normalize()
    x = daily[pd.to_datetime(daily["date"]).dt.normalize() == d]
    if channels:
        x = x[x["channel"].isin(list(channels))]
    cols = [c for c in _COUNTS if c in x.columns]
    g = x.groupby("channel", sort=True)[cols].sum(min_count=1)
    if len(g):
        g.loc[TOTAL] = g.sum(min_count=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                "channel": g.index.astype(str),
                "visitors": g["visitors"].to_numpy(float),
                "conversion_rate": (g["buyers"] / g["visitors"].where(g["visitors"] > 0)).to_numpy(
                    float
                ),
                "aov": (g["gmv"] / g["orders"].where(g["orders"] > 0)).to_numpy(float),
                "gmv": g["gmv"].to_numpy(float),
                "refund_rate": (g["refund_orders"] / g["orders"].where(g["orders"] > 0)).to_numpy(
                    float
                )
                if "refund_orders" in g
                else np.nan,
            }
        )
    return out.reset_index(drop=True)


def _change(value: pd.Series, base: pd.Series) -> pd.Series:
    b = base.where(base != 0)
    return value / b - 1


def day_comparisons(daily: pd.DataFrame, day, *, channels=None, metrics=None) -> pd.DataFrame:
    """Each channel's (and the total's) metrics on ``day`` against three earlier days.

    Tidy: one row per (channel, metric) with columns channel, metric, value, prev_day, dod
    (环比, vs the previous day), last_week, wow (较上周同期, vs 7 days earlier), last_year,
    yoy (同比), yoy_date (the day 同比 uses, see :func:`same_day_last_year`) and yoy_basis
    (the event it is matched on, "" for the same date). Changes are ``value / base − 1``.
    """
    metrics = list(metrics) if metrics else list(METRICS)
    d = pd.Timestamp(day).normalize()
    ly, basis = same_day_last_year(d)
    days = {
        "value": d,
        "prev_day": d - pd.Timedelta(days=1),
        "last_week": d - pd.Timedelta(days=7),
        "last_year": ly,
    }
    frames = {}
    for name, when in days.items():
        v = day_values(daily, when, channels=channels)
        frames[name] = v.set_index("channel")[metrics].stack(future_stack=True).rename(name)
    out = pd.concat(frames.values(), axis=1)
    out = out[out["value"].notna()] if len(out) else out
    out.index.names = ["channel", "metric"]
    out = out.reset_index()
    out["dod"] = _change(out["value"], out["prev_day"])
    out["wow"] = _change(out["value"], out["last_week"])
    out["yoy"] = _change(out["value"], out["last_year"])
    out["yoy_date"] = ly
    out["yoy_basis"] = basis
    order = {c: i for i, c in enumerate(sorted(set(out["channel"]) - {TOTAL}) + [TOTAL])}
    mo = {m: i for i, m in enumerate(metrics)}
    out = out.sort_values(
        ["channel", "metric"], key=lambda s: s.map(order if s.name == "channel" else mo)
    )
    cols = ["channel", "metric", "value", "prev_day", "dod", "last_week", "wow", "last_year"]
    return out[[*cols, "yoy", "yoy_date", "yoy_basis"]].reset_index(drop=True)


def month_to_date(
    daily: pd.DataFrame, day, targets: pd.DataFrame | None = None, *, channels=None
) -> pd.DataFrame:
    """The month so far (1st..``day``) per channel and the total, against the month's GMV target.

    Columns channel, mtd_gmv, month_target (``targets`` rows with period ``YYYY-MM``, metric
    ``gmv``; the total uses channel 全部; NaN without one), achievement (mtd / target),
    time_progress (days elapsed / days in the month), pace (achievement / time_progress: ≥ 1
    is ahead of plan), projected (mtd GMV at the month's pace so far).
    """
    d = pd.Timestamp(day).normalize()
    first = d.replace(day=1)
    n_days = _cal.monthrange(d.year, d.month)[1]
    x = daily[(pd.to_datetime(daily["date"]) >= first) & (pd.to_datetime(daily["date"]) <= d)]
    if channels:
        x = x[x["channel"].isin(list(channels))]
    g = x.groupby("channel", sort=True)["gmv"].sum()
    if len(g):
        g.loc[TOTAL] = g.sum()
    out = pd.DataFrame({"channel": g.index.astype(str), "mtd_gmv": g.to_numpy(float)})
    tgt = pd.Series(dtype=float)
    if targets is not None and len(targets):
        t = targets[
            (targets["period"].astype(str) == f"{d.year}-{d.month:02d}")
            & (targets["metric"].astype(str) == "gmv")
        ]
        tgt = t.groupby(t["channel"].astype(str))["target"].sum()
    out["month_target"] = out["channel"].map(tgt).astype(float)
    elapsed = d.day / n_days
    with np.errstate(invalid="ignore", divide="ignore"):
        out["achievement"] = out["mtd_gmv"] / out["month_target"].where(out["month_target"] > 0)
    out["time_progress"] = elapsed
    out["pace"] = out["achievement"] / elapsed
    out["projected"] = out["mtd_gmv"] / d.day * n_days
    return out
