"""A campaign beside earlier ones: its calendar window, key figures and the last comparable promotions.

:func:`campaign_window` finds a promotion of the calendar (:class:`CampaignWindow`);
:func:`campaign_summary` gives the key figures of any window (:class:`CampaignFigures`);
:func:`past_campaigns` and :func:`compare_campaigns` put this campaign beside the last ones.

Examples
--------
>>> w = campaign_window("double11", 2025)
>>> (w.start.date().isoformat(), w.end.date().isoformat(), w.name_zh)
('2025-10-20', '2025-11-11', '双11')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from opsnb.i18n import Labels
from opsnb.results import Result
from opsnb.retro.review import daily_dates, metric_value

__all__ = [
    "CampaignWindow",
    "CampaignFigures",
    "campaign_window",
    "campaign_summary",
    "past_campaigns",
    "compare_campaigns",
]

_COMPARED = ("days", "gmv", "uplift", "conversion_rate", "aov", "refund_rate", "roas")


@dataclass(frozen=True)
class CampaignWindow(Result):
    """One promotion of the calendar: ``event`` slug (double11), first and last day, names."""

    event: str
    start: pd.Timestamp
    end: pd.Timestamp
    name_zh: str
    name_en: str

    def name(self, lang: str = "zh") -> str:
        """The campaign's name in ``lang``."""
        return Labels(lang)(self.name_zh, self.name_en)


@dataclass(frozen=True)
class CampaignFigures(Result):
    """Key figures of one campaign window.

    Sums ``gmv``, ``orders``, ``visitors``, ``ad_spend`` (NaN without spend data); rates
    ``conversion_rate``, ``aov``, ``refund_rate``; ``roas`` = gmv / ad_spend; ``uplift`` = the
    window's daily GMV over the average day of the baseline before it; ``days`` in the window.
    """

    gmv: float
    orders: float
    visitors: float
    conversion_rate: float
    aov: float
    refund_rate: float
    ad_spend: float
    roas: float
    uplift: float
    days: int


def campaign_window(
    event: str, year: int | None = None, *, calendar: pd.DataFrame | None = None
) -> CampaignWindow:
    """``event`` (a calendar slug, e.g. double11) in ``year`` (default: this year)."""
    from opsnb import calendar as cal

    if calendar is None:
        y = year or date.today().year
        calendar = cal.promotion_calendar(f"{y}-01-01", f"{y}-12-31")
    rows = calendar[calendar["event"].astype(str) == str(event)]
    if year is not None:
        rows = rows[pd.to_datetime(rows["start"]).dt.year == int(year)]
    if rows.empty:
        known = sorted(set(calendar["event"].astype(str)))
        raise ValueError(f"unknown campaign {event!r} in {year}; known: {', '.join(known)}")
    r = rows.iloc[-1]
    return CampaignWindow(
        event=str(event),
        start=pd.Timestamp(r["start"]),
        end=pd.Timestamp(r["end"]),
        name_zh=str(r.get("name_zh", event)),
        name_en=str(r.get("name_en", event)),
    )


def campaign_summary(
    daily: pd.DataFrame, start, end, *, baseline_days: int = 28
) -> CampaignFigures:
    """Key figures of the window ``start..end``; ``uplift`` compares its daily GMV with the
    average day of the ``baseline_days`` before it."""
    d = daily_dates(daily)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    w = daily[(d >= start) & (d <= end)]
    b = daily[(d < start) & (d >= start - pd.Timedelta(days=baseline_days))]
    out = {
        m: metric_value(w, m)
        for m in ("gmv", "orders", "visitors", "conversion_rate", "aov", "refund_rate")
    }
    out["ad_spend"] = metric_value(w, "ad_spend") if "ad_spend" in w.columns else np.nan
    out["roas"] = (
        out["gmv"] / out["ad_spend"] if out["ad_spend"] and out["ad_spend"] > 0 else np.nan
    )
    days_w = (end - start).days + 1
    base = metric_value(b, "gmv") / baseline_days if len(b) else np.nan
    out["uplift"] = (out["gmv"] / days_w) / base if base and base > 0 else np.nan
    return CampaignFigures(**out, days=days_w)


def past_campaigns(
    daily: pd.DataFrame,
    *,
    before,
    n: int = 3,
    kinds=("promo",),
    min_days: int = 3,
    same_event: str | None = None,
    calendar: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The last ``n`` promotions (of at least ``min_days`` days) that ended before ``before`` and
    are covered by ``daily`` (plus the last ``same_event``, e.g. last year's double11), with
    :func:`campaign_summary` figures.

    Columns: event, name_zh, name_en, start, end, and the fields of :class:`CampaignFigures`.
    """
    from opsnb import calendar as cal

    d = daily_dates(daily)
    if calendar is None:
        calendar = cal.promotion_calendar(d.min(), d.max())
    c = calendar[calendar["kind"].isin(list(kinds))].copy()
    c["start"], c["end"] = pd.to_datetime(c["start"]), pd.to_datetime(c["end"])
    c = c[(c["end"] < pd.Timestamp(before)) & (c["start"] - pd.Timedelta(days=28) >= d.min())]
    c = c[(c["end"] - c["start"]).dt.days + 1 >= min_days].sort_values("end")
    last = c.tail(n)
    if same_event:
        last = (
            pd.concat([c[c["event"] == same_event].tail(1), last])
            .drop_duplicates(["event", "start"])
            .sort_values("end")
        )
    rows = [
        dict(
            event=r["event"],
            name_zh=r["name_zh"],
            name_en=r["name_en"],
            start=r["start"],
            end=r["end"],
            **campaign_summary(daily, r["start"], r["end"]).to_dict(),
        )
        for _, r in last.iterrows()
    ]
    return pd.DataFrame(rows)


def compare_campaigns(
    daily: pd.DataFrame, campaign: str, year: int, *, n: int = 3, lang: str = "zh"
) -> pd.DataFrame:
    """This campaign beside the last ``n`` promotions and the same campaign a year before.

    Columns: name, start, end, days, gmv, uplift, conversion_rate, aov, refund_rate, roas;
    the last row is this campaign.
    """
    L = Labels(lang)
    w = campaign_window(campaign, year)
    past = past_campaigns(daily, before=w.start, n=n, same_event=campaign)
    rows = [
        dict(
            name=f"{L(r.name_zh, r.name_en)} {r.start.year}",
            start=r.start,
            end=r.end,
            **{k: getattr(r, k) for k in _COMPARED},
        )
        for r in past.itertuples()
    ]
    now = campaign_summary(daily, w.start, w.end)
    rows.append(
        dict(
            name=L(f"{w.name_zh} {year}（本次）", f"{w.name_en} {year} (this one)"),
            start=w.start,
            end=w.end,
            **{k: getattr(now, k) for k in _COMPARED},
        )
    )
    return pd.DataFrame(rows)
