"""The promotion calendar: lunar new year table, event windows, lookups, shop campaigns."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from opsnb.calendar import (
    CALENDAR_COLUMNS,
    LUNAR_NEW_YEAR,
    event_days,
    event_on,
    lunar_new_year,
    promotion_calendar,
)

# Published 正月初一 dates (Hong Kong Observatory / Purple Mountain Observatory almanac).
KNOWN_LNY = {
    2018: "2018-02-16",
    2019: "2019-02-05",
    2020: "2020-01-25",
    2021: "2021-02-12",
    2022: "2022-02-01",
    2023: "2023-01-22",
    2024: "2024-02-10",
    2025: "2025-01-29",
    2026: "2026-02-17",
    2027: "2027-02-06",
    2028: "2028-01-26",
    2029: "2029-02-13",
    2030: "2030-02-03",
    2031: "2031-01-23",
    2032: "2032-02-11",
}


def test_lunar_new_year_table_matches_published_dates():
    assert set(LUNAR_NEW_YEAR) == set(KNOWN_LNY)
    for year, iso in KNOWN_LNY.items():
        assert lunar_new_year(year) == date.fromisoformat(iso)


def test_lunar_new_year_falls_between_jan_21_and_feb_20():
    for d in LUNAR_NEW_YEAR.values():
        assert date(d.year, 1, 21) <= d <= date(d.year, 2, 20)


def test_years_outside_the_table_come_from_the_holidays_package_which_agrees_with_it():
    from opsnb.calendar import _lunar_new_year_from_holidays

    # an independent lunisolar computation matches every published date of the table
    assert {y: _lunar_new_year_from_holidays(y) for y in LUNAR_NEW_YEAR} == LUNAR_NEW_YEAR
    assert lunar_new_year(2015) == date(2015, 2, 19)  # published: 19 Feb 2015
    assert lunar_new_year(2040) == date(2040, 2, 12)  # published: 12 Feb 2040
    cal = promotion_calendar("2014-07-01", "2015-01-31")  # history before 2018 has its 双11
    assert "double11" in set(cal.event) and "new_year_festival" in set(cal.event)
    with pytest.raises(ValueError, match="known neither to the table .*2018-2032"):
        lunar_new_year(2150)


def test_calendar_lists_every_event_of_a_year_in_order():
    cal = promotion_calendar("2025-01-01", "2025-12-31")
    assert list(cal.columns) == CALENDAR_COLUMNS
    assert cal["event"].tolist() == [
        "new_year_festival",
        "spring_festival",
        "womens_day",
        "618",
        "99",
        "double11",
        "double12",
    ]
    assert cal["start"].is_monotonic_increasing
    assert (cal["start"] <= cal["peak"]).all() and (cal["peak"] <= cal["end"]).all()
    assert str(cal["start"].dtype).startswith("datetime64")
    kinds = dict(zip(cal["event"], cal["kind"]))
    assert kinds["spring_festival"] == "holiday_dip"
    assert kinds["double11"] == "promo"


def test_big_promotions_have_their_presale_and_peak_days():
    cal = promotion_calendar("2024-01-01", "2025-12-31").set_index(["event", "peak"])
    d11 = cal.loc[("double11", pd.Timestamp("2025-11-11"))]
    assert d11["start"] == pd.Timestamp("2025-10-20") and d11["end"] == pd.Timestamp("2025-11-11")
    s618 = cal.loc[("618", pd.Timestamp("2024-06-18"))]
    assert s618["start"] == pd.Timestamp("2024-05-20")


def test_spring_festival_dip_surrounds_lunar_new_year():
    cal = promotion_calendar("2026-01-01", "2026-03-31")
    sf = cal[cal.event == "spring_festival"].iloc[0]
    assert sf["peak"] == pd.Timestamp("2026-02-17")
    assert sf["start"] == pd.Timestamp("2026-02-13") and sf["end"] == pd.Timestamp("2026-02-23")
    nyf = cal[cal.event == "new_year_festival"].iloc[0]
    assert nyf["end"] < sf["start"]  # 年货节 ends before logistics stop


def test_new_year_festival_of_next_year_can_start_in_december():
    # LNY 2023 was 2023-01-22, so 年货节 started on 2022-12-31.
    cal = promotion_calendar("2022-12-25", "2022-12-31")
    assert cal["event"].tolist() == ["new_year_festival"]
    assert cal["start"].iloc[0] == pd.Timestamp("2022-12-31")


def test_event_on_returns_slug_or_empty_string():
    days = [
        "2025-11-11",
        "2025-11-12",
        "2025-06-18",
        "2025-03-08",
        "2025-01-29",
        "2025-09-09",
        "2025-12-12",
        "2025-07-15",
        "2024-02-01",
    ]
    got = event_on(days).tolist()
    assert got == [
        "double11",
        "",
        "618",
        "womens_day",
        "spring_festival",
        "99",
        "double12",
        "",
        "new_year_festival",
    ]


def test_event_days_marks_peak_and_distance_to_peak():
    ed = event_days(pd.date_range("2025-11-09", "2025-11-12"))
    assert ed["is_peak"].tolist() == [False, False, True, False]
    assert ed["days_to_peak"].iloc[:3].tolist() == [2.0, 1.0, 0.0]
    assert pd.isna(ed["days_to_peak"].iloc[3])


def test_shop_campaign_is_added_and_wins_inside_a_longer_event():
    extra = [
        dict(
            event="shop_anniversary",
            name_zh="店庆",
            name_en="Shop anniversary",
            start="2025-06-01",
            end="2025-06-03",
            peak="2025-06-02",
        )
    ]
    cal = promotion_calendar("2025-05-01", "2025-06-30", extra=extra)
    assert "shop_anniversary" in set(cal["event"])
    got = event_on(["2025-06-02", "2025-06-05", "2025-06-18"], calendar=cal).tolist()
    assert got == ["shop_anniversary", "618", "618"]
    as_frame = promotion_calendar("2025-05-01", "2025-06-30", extra=pd.DataFrame(extra))
    pd.testing.assert_frame_equal(cal, as_frame)


def test_shop_campaign_defaults_and_errors():
    cal = promotion_calendar(
        "2025-07-01",
        "2025-07-31",
        extra=[dict(event="member_day", start="2025-07-10", end="2025-07-12")],
    )
    row = cal.iloc[0]
    assert row["name_zh"] == "member_day" and row["kind"] == "promo"
    assert row["peak"] == pd.Timestamp("2025-07-12")
    with pytest.raises(ValueError, match="missing"):
        promotion_calendar("2025-07-01", "2025-07-31", extra=[dict(event="x", start="2025-07-01")])
    with pytest.raises(ValueError, match="kind"):
        promotion_calendar(
            "2025-07-01",
            "2025-07-31",
            extra=[dict(event="x", start="2025-07-01", end="2025-07-02", kind="party")],
        )
    with pytest.raises(ValueError, match="start ≤ peak ≤ end"):
        promotion_calendar(
            "2025-07-01",
            "2025-07-31",
            extra=[dict(event="x", start="2025-07-05", end="2025-07-02")],
        )


def test_window_outside_events_is_empty():
    assert promotion_calendar("2025-07-01", "2025-07-31").empty
    assert event_on(pd.date_range("2025-07-01", "2025-07-03")).tolist() == ["", "", ""]
    with pytest.raises(ValueError, match="before start"):
        promotion_calendar("2025-07-31", "2025-07-01")


def test_public_holidays_of_any_country_come_from_the_holidays_package():
    from opsnb.calendar import public_holidays

    cn = public_holidays("2024-01-01", "2024-12-31")  # default China
    nd = cn[cn.event == "holiday_cn_national_day"].iloc[0]
    assert (nd.start, nd.end, nd.kind) == (
        pd.Timestamp("2024-10-01"),
        pd.Timestamp("2024-10-04"),
        "holiday",
    )
    assert list(cn.columns) == CALENDAR_COLUMNS
    us = public_holidays("2024-01-01", "2024-12-31", "US")
    assert pd.Timestamp("2024-11-28") in set(
        us.loc[us.event == "holiday_us_thanksgiving_day", "start"]
    )
    # the same slug every year, so monitoring compares a holiday with last year's
    us2 = public_holidays("2025-01-01", "2025-12-31", "US")
    assert "holiday_us_thanksgiving_day" in set(us2.event)
    with pytest.raises(ValueError, match="not known to the holidays package"):
        public_holidays("2024-01-01", "2024-12-31", "XX")


def test_holidays_carry_chinese_names_where_the_package_has_them_and_slugs_stay_english():
    from opsnb.calendar import public_holidays

    cn = public_holidays("2025-01-01", "2025-12-31").set_index("event")
    assert cn.loc["holiday_cn_national_day", "name_zh"] == "国庆节"
    assert cn.loc["holiday_cn_national_day", "name_en"] == "National Day"
    assert cn.loc["holiday_cn_labor_day", "name_zh"] == "劳动节"
    us = public_holidays("2025-11-01", "2025-11-30", "US").set_index("event")  # no zh_CN: English
    assert us.loc["holiday_us_thanksgiving_day", "name_zh"] == "Thanksgiving Day"


def test_shop_calendar_combines_promotions_holidays_and_shop_events():
    from opsnb.calendar import shop_calendar

    shop = [{"event": "anniversary", "start": "2024-08-08", "end": "2024-08-10"}]
    cal = shop_calendar("2024-01-01", "2024-12-31", extra=shop)
    kinds = cal.groupby("kind").size().to_dict()
    assert kinds["holiday"] >= 7 and kinds["promo"] >= 5 and "holiday_dip" in kinds
    assert cal.event.iloc[0] == "anniversary"  # precedence: shop, promotions, holidays
    assert cal.kind.tolist().index("holiday") > max(
        i for i, k in enumerate(cal.kind) if k == "promo"
    )
    none = shop_calendar("2024-01-01", "2024-12-31", country=None)
    assert "holiday" not in set(none.kind)
