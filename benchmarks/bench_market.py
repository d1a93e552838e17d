"""Notebook 01's data work on the demo shop: DuckDB aggregates vs loading the orders into pandas.

Baseline (named "pandas frames"): what notebook 01 did before issue 16: read every order and
order item of the store into pandas, then RFM, cohorts, repurchase rate, the CLV summary, the
payback curves and the basket lines of the period from the frames. Against it, what the
notebook does now: per-customer totals, cohort counts, payback counts and the period's basket
lines aggregated in DuckDB, only the small results brought to pandas. Both must give the same
tables (checked); prints seconds (wall and CPU) and the ratio.

Run: .venv/bin/python benchmarks/bench_market.py [STORE]  (default $OPSNB_DB or
data/demo.duckdb; without one, a demo shop is generated into a temporary folder first)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.data.store import open_store, read_table
from opsnb.market import clv, research
from opsnb.market import customers as cu
from opsnb.market import customers_sql as cs
from opsnb.market import orders_sql as osql
from opsnb.market.basket import association_rules

START, END = pd.Timestamp("2025-01-01"), pd.Timestamp("2026-01-01")  # notebook 01's 2025


def store_path() -> Path:
    given = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OPSNB_DB", "data/demo.duckdb")
    if Path(given).is_file():
        return Path(given)
    from opsnb.demo.shop import write_demo

    tmp = Path(tempfile.mkdtemp(prefix="opsnb-bench-"))
    print(f"no store at {given}: generating the demo shop into {tmp}")
    write_demo(db_path=tmp / "demo.duckdb", out_dir=tmp / "files")
    return tmp / "demo.duckdb"


def with_frames(con):
    orders = read_table(con, "orders")
    orders = orders[orders["order_time"] < END]
    items = read_table(con, "order_items")
    in_period = orders.loc[orders["order_time"] >= START, "order_id"]
    return {
        "rfm": cu.rfm(orders, as_of=END),
        "cohorts": cu.cohorts(orders, end=END - pd.Timedelta(days=1)),
        "repurchase": cu.repurchase_rate(orders),
        "clv_summary": clv.customer_summary(orders, as_of=END),
        "payback": research.payback_curves(orders, margin=0.3),
        "rules": association_rules(items[items["order_id"].isin(in_period)], top=10),
    }


def in_duckdb(con):
    where, params = "order_time < ?", [END.to_pydatetime()]
    totals = cs.customer_totals_sql(
        con, "orders", where=where, params=params, row_order="order_time, order_id"
    )
    lines = osql.basket_lines_sql(
        con, where=f"order_time >= ? AND {where}", params=[START.to_pydatetime(), *params]
    )
    return {
        "rfm": cu.rfm_from_summary(totals, as_of=END),
        "cohorts": cs.cohorts_sql(
            con, "orders", where=where, params=params, end=END - pd.Timedelta(days=1)
        ),
        "repurchase": int((totals["frequency"] >= 2).sum()) / len(totals),
        "clv_summary": clv.customer_summary_from_totals(totals, as_of=END),
        "payback": osql.payback_curves_sql(con, "orders", margin=0.3, where=where, params=params),
        "rules": association_rules(lines, top=10),
    }


def timed(f, con):
    wall, cpu = time.perf_counter(), time.process_time()
    out = f(con)
    return out, time.perf_counter() - wall, time.process_time() - cpu


if __name__ == "__main__":
    con = open_store(store_path(), read_only=True)
    con.execute("SET enable_progress_bar = false")
    ref, w_ref, c_ref = timed(with_frames, con)
    got, w_got, c_got = timed(in_duckdb, con)
    pd.testing.assert_frame_equal(
        got["rfm"], ref["rfm"].astype({"last_purchase": "datetime64[ns]"}), check_exact=True
    )
    pd.testing.assert_frame_equal(got["cohorts"], ref["cohorts"], rtol=1e-13)
    assert got["repurchase"] == ref["repurchase"]
    pd.testing.assert_frame_equal(
        got["clv_summary"],
        ref["clv_summary"].astype({"first_purchase": "datetime64[ns]"}),
        check_exact=True,
    )
    assert sorted(got["payback"]) == sorted(ref["payback"])
    for ch, curve in ref["payback"].items():
        np.testing.assert_allclose(got["payback"][ch], curve, rtol=1e-13)
    pd.testing.assert_frame_equal(got["rules"], ref["rules"])
    print(f"customers={len(got['rfm'])} rules={len(got['rules'])} (same tables on both paths)")
    print(
        f"pandas frames (baseline): {w_ref:.2f}s wall {c_ref:.2f}s CPU  "
        f"DuckDB aggregates: {w_got:.2f}s wall {c_got:.2f}s CPU  "
        f"ratio {w_ref / w_got:.1f}x wall {c_ref / c_got:.1f}x CPU"
    )
