"""Lessons ledger (opsnb.run.ledger): idempotent append, filters, JSON round trip, concurrency."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsnb.run import ledger


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "store.duckdb"


def test_rerun_with_the_same_run_id_replaces_the_row(db):
    for gmv in (100.0, 250.0):
        ledger.append(
            "05_retrospective/double11-2025-Q4",
            "05_retrospective",
            {"lang": "zh", "shop": "demo"},
            "2025-Q4",
            "double11",
            {"gmv": gmv},
            decision="加大直播投入",
            lessons=["预热期提前一周", "客服排班翻倍"],
            db_path=db,
        )
    df = ledger.read(db_path=db)
    assert len(df) == 1
    row = df.iloc[0]
    assert row["key_results"] == {"gmv": 250.0}
    assert row["lessons"] == ["预热期提前一周", "客服排班翻倍"]
    assert row["params"] == {"lang": "zh", "shop": "demo"}
    assert row["shop"] == "demo" and row["decision"] == "加大直播投入"


def test_different_run_ids_accumulate_and_filters_select(db):
    ledger.append(
        "a",
        "03_daily_monitoring",
        {},
        "2025-11-11",
        None,
        {"alerts": 3},
        db_path=db,
        recorded_at="2025-11-12 08:00",
    )
    ledger.append(
        "b",
        "05_retrospective",
        {},
        "2025-Q4",
        "double11",
        {"gmv": 1.0},
        db_path=db,
        recorded_at="2025-12-01",
    )
    ledger.append(
        "c",
        "05_retrospective",
        {},
        "2025-Q2",
        "618",
        {"gmv": 2.0},
        db_path=db,
        recorded_at="2025-07-01",
    )
    assert list(ledger.read(db_path=db)["run_id"]) == ["c", "a", "b"]  # oldest first
    assert list(ledger.read(db_path=db, notebook="05_retrospective")["run_id"]) == ["c", "b"]
    assert list(ledger.read(db_path=db, campaign=["618", "double11"])["run_id"]) == ["c", "b"]
    assert ledger.read(db_path=db, campaign="double12").empty
    assert ledger.delete("a", db_path=db) == 1 and ledger.delete("a", db_path=db) == 0


def test_numpy_nan_dates_and_lesson_text_survive_the_round_trip(db):
    ledger.append(
        "x",
        "05_retrospective",
        {"as_of": pd.Timestamp("2025-11-30"), "lessons": ["a"]},
        "2025-11",
        "double11",
        {"gmv": np.float64(1.5), "orders": np.int64(3), "lift": float("nan"), "status": "达成"},
        lessons="第一条\n\n第二条",
        db_path=db,
    )
    row = ledger.read(db_path=db).iloc[0]
    assert row["key_results"] == {"gmv": 1.5, "orders": 3, "lift": None, "status": "达成"}
    assert row["params"]["as_of"].startswith("2025-11-30")
    assert row["lessons"] == ["第一条", "第二条"]
    wide = ledger.expand_results(ledger.read(db_path=db), keys=["gmv", "lift"])
    assert wide.loc[0, "gmv"] == 1.5 and wide.loc[0, "lift"] is None


def test_store_without_ledger_reads_empty_and_missing_store_raises(db, tmp_path):
    import duckdb

    duckdb.connect(str(db)).close()
    df = ledger.read(db_path=db)
    assert df.empty and list(df.columns) == list(ledger.COLUMNS)
    with pytest.raises(FileNotFoundError):
        ledger.read(db_path=tmp_path / "nope.duckdb")
    with pytest.raises(ValueError, match="run_id"):
        ledger.append("", "05_retrospective", {}, "2025-Q4", db_path=db)


def test_append_waits_for_a_writer_holding_the_lock(db):
    """Another process holds the store open for ~1 s; append retries instead of failing."""
    code = (
        "import duckdb, time, sys; c = duckdb.connect(sys.argv[1]); "
        "c.execute('create table if not exists t(x int)'); print('locked', flush=True); "
        "time.sleep(1.0); c.close()"
    )
    p = subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        ledger.append(
            "r1", "05_retrospective", {}, "2025-Q4", None, {"k": 1}, db_path=db, timeout=30
        )
    finally:
        p.wait(timeout=30)
    assert list(ledger.read(db_path=db)["run_id"]) == ["r1"]


def test_concurrent_appends_from_several_processes_all_land(db):
    code = (
        "import sys; from opsnb.run import ledger; "
        "[ledger.append(f'{sys.argv[2]}-{i}', 'nb', {}, 'p', None, {'i': i}, "
        "db_path=sys.argv[1]) for i in range(5)]"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), f"w{w}"]) for w in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    df = ledger.read(db_path=db)
    assert len(df) == 15 and df["run_id"].is_unique


def test_timestamps_are_stored_naive_utc(db):
    ledger.append(
        "t",
        "nb",
        {},
        "p",
        recorded_at=pd.Timestamp("2025-11-11 08:00", tz="Asia/Shanghai"),
        db_path=db,
    )
    assert ledger.read(db_path=db).loc[0, "recorded_at"] == pd.Timestamp("2025-11-11 00:00")
    assert not math.isnan(ledger.read(db_path=db).loc[0, "recorded_at"].value)
