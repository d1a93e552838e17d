"""Data contracts: loaders (encodings, formats, aliases, value spellings), validation messages,
the DuckDB store, derived rates and the `validate` / `load` commands."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsnb import data
from opsnb.errors import DataContractError, DataQualityWarning

FIX = Path(__file__).resolve().parent / "fixtures"
GOOD, BAD = FIX / "good", FIX / "bad"

EXPECTED_DAILY = pd.DataFrame({
    "date": pd.to_datetime(["2024-06-18", "2024-06-19", "2024-06-20", "2024-06-21",
                            "2024-06-22"]).astype("datetime64[us]"),
    "channel": pd.array(["自然搜索", "抖音", "直播", "付费推广", "小红书"], dtype="str"),
    "visitors": np.array([1234, 12000, 800, 2000, 300], dtype="int64"),
    "buyers": np.array([50, 20, 40, 60, 0], dtype="int64"),
    "orders": np.array([55, 22, 41, 66, 0], dtype="int64"),
    "gmv": [12345.5, 3000.0, 4100.5, 6600.0, 0.0],
    "refund_orders": np.array([2, 0, 1, 3, 0], dtype="int64"),
    "refund_amount": [100.0, 0.0, 10.5, 300.0, 0.0],
    "ad_spend": [np.nan, 500.0, np.nan, 1200.0, np.nan],
    "new_buyers": pd.array([pd.NA] * 5, dtype="Int64"),
    "cart_users": pd.array([pd.NA] * 5, dtype="Int64"),
})


def test_chinese_headers_and_ops_spellings_load_to_canonical_frame():
    df = data.read_file(GOOD / "daily_metrics_zh.csv", "daily_metrics")
    pd.testing.assert_frame_equal(df, EXPECTED_DAILY)


def test_whitespace_separated_txt_with_english_headers():
    df = data.read_file(GOOD / "daily_metrics_en.txt", "daily_metrics")
    pd.testing.assert_frame_equal(df, EXPECTED_DAILY)


def test_store_round_trip_keeps_canonical_dtypes(tmp_path):
    df = data.read_file(GOOD / "daily_metrics_zh.csv", "daily_metrics")
    con = data.open_store(tmp_path / "sub" / "s.duckdb")
    assert data.write_table(con, "daily_metrics", df) == 5
    pd.testing.assert_frame_equal(data.read_table(con, "daily_metrics"), df)
    one = data.read_table(con, "daily_metrics", start="2024-06-19", end="2024-06-20",
                          channels=["直播"])
    assert one["channel"].tolist() == ["直播"]


def test_add_rates_divides_counts_and_gives_nan_for_zero_denominators():
    df = data.add_rates(EXPECTED_DAILY)
    assert df["conversion_rate"].iloc[0] == pytest.approx(50 / 1234)
    assert df["aov"].iloc[1] == pytest.approx(3000 / 22)
    assert df["refund_rate"].iloc[3] == pytest.approx(3 / 66)
    assert np.isnan(df["aov"].iloc[4]) and np.isnan(df["refund_rate"].iloc[4])
    assert df["conversion_rate"].iloc[4] == 0.0
