"""The user's store is sacred: the demo writes only its own store; every table has a key."""

from __future__ import annotations

import pandas as pd
import pytest

from opsnb import config
from opsnb.data import store
from opsnb.data.schemas import TABLES
from opsnb.demo.shop import generate, write_demo
from opsnb.errors import OpsnbError


def test_every_table_has_a_key():
    assert {n: t.unique for n, t in TABLES.items() if not t.unique} == {}
    assert TABLES["order_items"].unique == ("order_id", "sku")
    assert TABLES["plan"].unique == ("cycle", "task")
    assert TABLES["milestones"].unique == ("milestone", "date")


def test_demo_store_is_its_own_file(monkeypatch, tmp_path):
    monkeypatch.setenv("OPSNB_HOME", str(tmp_path))
    monkeypatch.delenv("OPSNB_DEMO_DB", raising=False)
    assert config.demo_db_path() == (tmp_path / "data" / "demo.duckdb").resolve()
    assert config.demo_db_path() != config.default_db_path()


def test_demo_refuses_a_store_with_the_users_rows_and_regenerates_its_own(tmp_path):
    user = tmp_path / "opsnb.duckdb"
    con = store.open_store(user)
    store.write_table(
        con,
        "orders",
        pd.DataFrame(
            {"order_id": ["1"], "customer_id": ["c"], "order_time": ["2025-11-01"], "amount": [1.0]}
        ),
    )
    con.close()
    small = dict(start="2025-11-01", end="2025-11-07", scale=0.05)
    with pytest.raises(OpsnbError, match="tables \\(orders\\) that the demo did not write"):
        write_demo(user, tmp_path / "files", **small)
    con = store.open_store(user, read_only=True)
    assert store.read_table(con, "orders")["order_id"].tolist() == ["1"]  # untouched
    con.close()
    demo = tmp_path / "demo.duckdb"
    write_demo(demo, tmp_path / "files", **small)
    write_demo(demo, tmp_path / "files", **small)  # an untouched demo store is regenerated
    con = store.open_store(demo)
    store.write_table(
        con,
        "orders",
        pd.DataFrame(
            {"order_id": ["x"], "customer_id": ["c"], "order_time": ["2025-11-01"], "amount": [1.0]}
        ),
    )
    con.close()
    with pytest.raises(OpsnbError, match="orders were changed since the demo wrote them"):
        write_demo(demo, tmp_path / "files", **small)


def test_demo_product_daily_adds_up_to_the_shop():
    shop = generate(start="2025-11-01", end="2025-11-14", scale=0.1)
    pdy, dm = shop.product_daily, shop.daily_metrics
    pd.testing.assert_series_equal(
        pdy.groupby("date")["gmv"].sum().round(2), dm.groupby("date")["gmv"].sum().round(2)
    )
    assert pdy["units"].sum() == shop.order_items["qty"].sum()
    assert not shop.order_items.duplicated(["order_id", "sku"]).any()
