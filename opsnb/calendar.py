"""The Chinese e-commerce promotion calendar (大促日历) and a date → event lookup.

Monitoring uses it to keep promotion days out of the "normal" baseline, the demo shop to shape
its traffic, and retrospectives to compare a campaign with the same campaign last year.

Built-in events per year (``event`` slug, Chinese and English name, kind):

=====================  ==========  ====================================  =============
event                  name_zh     window (peak)                          kind
=====================  ==========  ====================================  =============
``new_year_festival``  年货节       LNY-22 .. LNY-8 (peak LNY-12)          promo
``spring_festival``    春节         LNY-4 .. LNY+6 (peak LNY): logistics   holiday_dip
                                    stop, demand and delivery pause
``womens_day``         38女王节     03-05 .. 03-08 (03-08)                 promo
``618``                618          05-20 .. 06-18 (06-18), pre-sale       promo
``99``                 99大促       09-07 .. 09-09 (09-09)                 promo
``double11``           双11         10-20 .. 11-11 (11-11), pre-sale       promo
``double12``           双12         12-10 .. 12-12 (12-12)                 promo
=====================  ==========  ====================================  =============

LNY is the lunar new year (正月初一) from :data:`LUNAR_NEW_YEAR` (2018-2032, from the published
tables) and, for other years, China's 春节 in the ``holidays`` package (its own lunisolar
calendar, 1901-2099; the two agree on every year of the table). Shop-specific
campaigns (店庆, 会员日, a brand day) are added with ``extra``: a list of dicts or a DataFrame
with columns ``event, start, end`` and optionally ``name_zh, name_en, peak`` (default: ``end``)
and ``kind`` (default ``"promo"``).

Public holidays of any country come from the ``holidays`` package (:func:`public_holidays`);
:func:`shop_calendar` combines them with the promotions and the shop's own events (default
country: China), which is what monitoring uses.

Examples
--------
>>> cal = promotion_calendar("2025-01-01", "2025-12-31")
>>> cal.loc[cal.event == "double11", ["start", "peak"]].iloc[0].dt.strftime("%m-%d").tolist()
['10-20', '11-11']
>>> event_on(["2025-11-11", "2025-07-01"]).tolist()
['double11', '']
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import pandas as pd

__all__ = [
    "LUNAR_NEW_YEAR",
    "EVENT_KINDS",
    "CALENDAR_COLUMNS",
    "lunar_new_year",
    "promotion_calendar",
    "event_on",
    "event_days",
    "public_holidays",
    "shop_calendar",
    "shop_events",
    "check_country",
]

LUNAR_NEW_YEAR: dict[int, date] = {
    2018: date(2018, 2, 16),
    2019: date(2019, 2, 5),
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
}
"""Gregorian date of the lunar new year (春节, 正月初一), 2018-2032."""

EVENT_KINDS = ("promo", "holiday_dip", "holiday", "other")
"""``promo``: a sales campaign; ``holiday_dip``: a holiday that lowers sales; ``holiday``: a
public holiday (from the ``holidays`` package, :func:`public_holidays`); ``other``."""

CALENDAR_COLUMNS = ["event", "name_zh", "name_en", "start", "end", "peak", "kind"]

# (slug, zh, en, (month, day) start, (month, day) end, (month, day) peak)
_FIXED_EVENTS = (
    ("womens_day", "38女王节", "Women's Day (3.8)", (3, 5), (3, 8), (3, 8)),
    ("618", "618", "618 mid-year sale", (5, 20), (6, 18), (6, 18)),
    ("99", "99大促", "99 sale (9.9)", (9, 7), (9, 9), (9, 9)),
    ("double11", "双11", "Double 11 (Singles' Day)", (10, 20), (11, 11), (11, 11)),
    ("double12", "双12", "Double 12", (12, 10), (12, 12), (12, 12)),
)


def lunar_new_year(year: int) -> date:
    """The lunar new year's day (正月初一) of ``year``: :data:`LUNAR_NEW_YEAR`, else the first
    day of 春节 in the ``holidays`` package; ValueError for a year neither knows."""
    year = int(year)
    if year in LUNAR_NEW_YEAR:
        return LUNAR_NEW_YEAR[year]
    day = _lunar_new_year_from_holidays(year)
    if day is None:
        raise ValueError(
            f"lunar new year of {year!r} is known neither to the table "
            f"({min(LUNAR_NEW_YEAR)}-{max(LUNAR_NEW_YEAR)}) nor to the holidays package"
        )
    return day


def _lunar_new_year_from_holidays(year: int) -> date | None:
    import holidays

    try:
        days = holidays.country_holidays("CN", years=year, language="en_US")
    except (NotImplementedError, ValueError):
        return None
    spring = sorted(d for d, name in days.items() if "Spring Festival" in str(name))
    return spring[0] if spring else None


def _lunar_events(year: int) -> list[dict]:
    lny = lunar_new_year(year)
    d = timedelta
    return [
        dict(
            event="new_year_festival",
            name_zh="年货节",
            name_en="New Year shopping festival",
            start=lny - d(22),
            end=lny - d(8),
            peak=lny - d(12),
            kind="promo",
        ),
        dict(
            event="spring_festival",
            name_zh="春节",
            name_en="Spring Festival (logistics stop)",
            start=lny - d(4),
            end=lny + d(6),
            peak=lny,
            kind="holiday_dip",
        ),
    ]


def _year_events(year: int) -> list[dict]:
    rows = _lunar_events(year)
    for slug, zh, en, s, e, p in _FIXED_EVENTS:
        rows.append(
            dict(
                event=slug,
                name_zh=zh,
                name_en=en,
                start=date(year, *s),
                end=date(year, *e),
                peak=date(year, *p),
                kind="promo",
            )
        )
    return rows


def _as_date(x, what: str) -> date:
    try:
        ts = pd.Timestamp(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what} {x!r} is not a date (use YYYY-MM-DD)") from exc
    if pd.isna(ts):
        raise ValueError(f"{what} is missing")
    return ts.date()


def _extra_frame(extra) -> pd.DataFrame:
    df = pd.DataFrame(extra).copy() if not isinstance(extra, pd.DataFrame) else extra.copy()
    missing = [c for c in ("event", "start", "end") if c not in df.columns]
    if missing:
        raise ValueError(f"extra campaigns need columns event, start, end; missing {missing}")
    for c in ("name_zh", "name_en"):
        if c not in df.columns:
            df[c] = df["event"]
        df[c] = df[c].where(df[c].notna(), df["event"])
    if "peak" not in df.columns:
        df["peak"] = df["end"]
    df["peak"] = df["peak"].where(df["peak"].notna(), df["end"])
    if "kind" not in df.columns:
        df["kind"] = "promo"
    df["kind"] = df["kind"].where(df["kind"].notna(), "promo")
    bad = sorted(set(df["kind"]) - set(EVENT_KINDS))
    if bad:
        raise ValueError(f"unknown kind {bad}; allowed: {', '.join(EVENT_KINDS)}")
    for c in ("start", "end", "peak"):
        df[c] = [_as_date(v, f"extra campaign {c}") for v in df[c]]
    wrong = df[(df["end"] < df["start"]) | (df["peak"] < df["start"]) | (df["peak"] > df["end"])]
    if len(wrong):
        raise ValueError(f"extra campaign {wrong['event'].iloc[0]!r}: need start ≤ peak ≤ end")
    df["event"] = df["event"].astype(str)
    return df[CALENDAR_COLUMNS]


def shop_events(events) -> pd.DataFrame:
    """The shop's own events (a frame or a list of mappings with event, start, end and
    optionally peak, kind, name_zh, name_en) as calendar rows; raises ValueError saying which
    column or event is wrong."""
    return _extra_frame(events)


def check_country(country) -> str | None:
    """``country`` upper-cased when the ``holidays`` package knows it, None for no public
    holidays (None, "" or "none"); else ValueError naming it and the form expected."""
    import holidays

    if country is None or str(country).strip().lower() in ("", "none"):
        return None
    code = str(country).strip().upper()
    if code not in holidays.list_supported_countries():
        raise ValueError(
            f"country {country!r} is not known to the holidays package (use an ISO code "
            "such as CN, US, DE, JP)"
        )
    return code


def promotion_calendar(start, end, extra=None) -> pd.DataFrame:
    """Events overlapping ``start..end`` (inclusive), sorted by start.

    Parameters
    ----------
    start, end : date-like
        The window; an event is listed when any of its days falls inside it.
    extra : list of dict or DataFrame, optional
        Shop-specific campaigns (columns ``event, start, end`` and optionally
        ``name_zh, name_en, peak, kind``).

    Returns
    -------
    DataFrame with columns ``event, name_zh, name_en, start, end, peak, kind``; ``start``,
    ``end`` and ``peak`` are ``datetime64`` at midnight.
    """
    s, e = _as_date(start, "start"), _as_date(end, "end")
    if e < s:
        raise ValueError(f"end {e} is before start {s}")
    rows: list[dict] = []
    # 年货节 of year Y can start in late December of Y-1, so look one year ahead.
    for year in range(s.year, e.year + 2):
        if year <= e.year or e >= date(e.year, 12, 15):
            rows.extend(_year_events(year))  # raises for a year without a lunar new year
    cal = pd.DataFrame(rows, columns=CALENDAR_COLUMNS)
    if extra is not None and len(extra):
        cal = pd.concat([cal, _extra_frame(extra)], ignore_index=True)
    for c in ("start", "end", "peak"):
        cal[c] = pd.to_datetime(cal[c]).astype("datetime64[us]")
    keep = (cal["end"] >= pd.Timestamp(s)) & (cal["start"] <= pd.Timestamp(e))
    cal = cal[keep].sort_values(["start", "end", "event"], kind="stable")
    for c in ("event", "name_zh", "name_en", "kind"):
        cal[c] = cal[c].astype(str)
    return cal.reset_index(drop=True)


def _dates_index(dates) -> pd.DatetimeIndex:
    if isinstance(dates, (str, date, pd.Timestamp)):
        dates = [dates]
    idx = pd.DatetimeIndex(
        pd.to_datetime(
            pd.Series(list(dates) if not isinstance(dates, (pd.Series, pd.Index)) else dates)
        )
    )
    return idx.normalize()


def event_days(dates: Iterable, calendar: pd.DataFrame | None = None, extra=None) -> pd.DataFrame:
    """One row per date: the event covering it and where the date sits in the event.

    When events overlap, an event whose peak is that day wins, then the shorter event (a
    shop's 3-day campaign inside 618 is reported rather than 618).

    Returns
    -------
    DataFrame with columns ``date, event, name_zh, name_en, kind`` ("" when no event),
    ``is_peak`` (bool), ``days_to_peak`` (peak - date in days; NaN when no event).
    """
    idx = _dates_index(dates)
    out = pd.DataFrame({"date": idx.astype("datetime64[us]")})
    out["event"] = ""
    out["name_zh"] = ""
    out["name_en"] = ""
    out["kind"] = ""
    out["is_peak"] = False
    out["days_to_peak"] = float("nan")
    if len(idx) == 0:
        return out
    if calendar is None:
        calendar = promotion_calendar(idx.min(), idx.max(), extra=extra)
    elif extra is not None:
        calendar = pd.concat([calendar, _extra_frame(extra)], ignore_index=True)
    if calendar.empty:
        return out
    cal = calendar.copy()
    for c in ("start", "end", "peak"):
        cal[c] = pd.to_datetime(cal[c]).dt.normalize()
    # Rank events: peak-day match first, then the shortest span; loop over (few) events.
    best_rank = pd.Series(float("inf"), index=out.index)
    d = pd.Series(idx, index=out.index)
    for ev in cal.itertuples(index=False):
        inside = (d >= ev.start) & (d <= ev.end)
        if not inside.any():
            continue
        span = (ev.end - ev.start).days
        rank = pd.Series(float(span), index=out.index)
        rank[d == ev.peak] = -1.0
        take = inside & (rank < best_rank)
        if take.any():
            best_rank[take] = rank[take]
            out.loc[take, "event"] = str(ev.event)
            out.loc[take, "name_zh"] = str(ev.name_zh)
            out.loc[take, "name_en"] = str(ev.name_en)
            out.loc[take, "kind"] = str(ev.kind)
            out.loc[take, "is_peak"] = (d[take] == ev.peak).to_numpy()
            out.loc[take, "days_to_peak"] = (ev.peak - d[take]).dt.days.astype(float).to_numpy()
    return out


def event_on(dates, calendar: pd.DataFrame | None = None) -> pd.Series:
    """The event slug covering each date, or ``""`` (see :func:`event_days` for overlaps).

    ``calendar`` defaults to :func:`promotion_calendar` over the dates' range; pass one built
    with ``extra=`` to include shop campaigns. The result has a plain RangeIndex.
    """
    return event_days(dates, calendar)["event"].rename("event")


def _slug(text: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in str(text))
    return "_".join(part for part in out.split("_") if part)


def public_holidays(start, end, country: str = "CN", *, subdiv: str | None = None) -> pd.DataFrame:
    """Public holidays of ``country`` (ISO code: "CN", "US", "DE", ...) overlapping ``start..end``.

    From the ``holidays`` package (maintained per country, many years). Consecutive days with
    the same holiday name, and a substituted day off right after a holiday, are one event
    (国庆 1-7 Oct), peak = its first day, so that the same
    holiday next year gets the same event slug (``holiday_<country>_<name>``) and monitoring compares it
    with last year's. Columns as :func:`promotion_calendar`, ``kind = "holiday"``.
    """
    import holidays

    s, e = _as_date(start, "start"), _as_date(end, "end")
    if e < s:
        raise ValueError(f"end {e} is before start {s}")
    try:
        days = holidays.country_holidays(
            country, subdiv=subdiv, years=range(s.year, e.year + 1), language="en_US"
        )
    except NotImplementedError:
        raise ValueError(
            f"country {country!r} is not known to the holidays package (use an ISO code "
            "such as CN, US, DE, JP)"
        ) from None
    zh = {}  # Chinese names where the package has them (CN, TW…), for zh reports
    if "zh_CN" in getattr(days, "supported_languages", ()):
        zh = holidays.country_holidays(
            country, subdiv=subdiv, years=range(s.year, e.year + 1), language="zh_CN"
        )
    rows: list[dict] = []
    for d, name in sorted(days.items()):
        names = str(name).split("; ")
        names_zh = str(zh.get(d, "")).split("; ")
        if not zh or len(names_zh) != len(names):  # no Chinese name that day: the English one
            names_zh = names
        for one, one_zh in zip(names, names_zh):
            one = one.replace(" (observed)", "")
            prev = rows[-1] if rows else None
            if prev is not None and prev["end"] == d - timedelta(days=1):
                if one.startswith("Day off") or prev["name_en"] == one:
                    prev["end"] = d  # a bridge day or the next day of the same holiday
                    continue
            name = "day_off" if one.startswith("Day off") else one
            slug = f"holiday_{country.lower()}_{_slug(name)}"
            rows.append(
                dict(
                    event=slug, name_zh=one_zh, name_en=one, start=d, end=d, peak=d, kind="holiday"
                )
            )
    cal = pd.DataFrame(rows, columns=CALENDAR_COLUMNS)
    for c in ("start", "end", "peak"):
        cal[c] = pd.to_datetime(cal[c]).astype("datetime64[us]")
    keep = (cal["end"] >= pd.Timestamp(s)) & (cal["start"] <= pd.Timestamp(e))
    return cal[keep].sort_values(["start", "event"], kind="stable").reset_index(drop=True)


def shop_calendar(
    start, end, *, country: str | None = "CN", promotions: bool = True, extra=None
) -> pd.DataFrame:
    """The calendar monitoring uses: the shop's own events (``extra``), the Chinese promotion
    calendar (``promotions``) and the public holidays of ``country`` (None: none), in that
    order of precedence: on a day covered by several, monitoring keys the day by the first
    (:func:`opsnb.monitoring.anomaly.event_keys` takes the first matching row), so a holiday
    inside 618 stays a 618 day and keeps last year's 618 reference."""
    parts = []
    if extra is not None and len(extra):
        ex = _extra_frame(extra)
        for c in ("start", "end", "peak"):
            ex[c] = pd.to_datetime(ex[c]).astype("datetime64[us]")
        parts.append(ex.sort_values(["start", "end", "event"], kind="stable"))
    if promotions:
        parts.append(promotion_calendar(start, end))
    if country:
        parts.append(public_holidays(start, end, country))
    if not parts:
        return pd.DataFrame(columns=CALENDAR_COLUMNS)
    return pd.concat(parts, ignore_index=True)
