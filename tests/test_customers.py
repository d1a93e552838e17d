"""RFM, cohorts and the invoice-line cleaning: hand-sized examples and independent computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsnb.errors import DataContractError
from opsnb.market import customers as cu

UCI = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "retail" / "online_retail_sample.csv"
)


@pytest.fixture()
def tx() -> pd.DataFrame:
    # a: 3 purchase days (two orders on 06-01), b: 1 day, c: 2 days, d: 1 day, e: 4 days
    rows = [
        ("a", "2024-06-01 10:00", 100.0),
        ("a", "2024-06-01 20:00", 50.0),
        ("a", "2024-06-10 09:00", 30.0),
        ("a", "2024-06-28 09:00", 20.0),
        ("b", "2024-05-01 12:00", 500.0),
        ("c", "2024-06-15 12:00", 10.0),
        ("c", "2024-06-20 12:00", 15.0),
        ("d", "2024-04-01 12:00", 5.0),
        ("e", "2024-06-02 12:00", 40.0),
        ("e", "2024-06-05 12:00", 40.0),
        ("e", "2024-06-08 12:00", 40.0),
        ("e", "2024-06-29 12:00", 40.0),
    ]
    return pd.DataFrame(rows, columns=["customer_id", "order_time", "amount"]).assign(
        order_time=lambda d: pd.to_datetime(d["order_time"])
    )


def test_rfm_hand_example(tx):
    r = cu.rfm(tx).set_index("customer_id")
    # as_of defaults to the day after the last date: 2024-06-30
    assert r["recency_days"].to_dict() == {"a": 2, "b": 60, "c": 10, "d": 90, "e": 1}
    assert r["frequency"].to_dict() == {"a": 3, "b": 1, "c": 2, "d": 1, "e": 4}
    assert r["monetary"].to_dict() == {"a": 200.0, "b": 500.0, "c": 25.0, "d": 5.0, "e": 160.0}
    # five customers, no ties in R and M: one customer per quintile
    assert r["r_score"].to_dict() == {"e": 5, "a": 4, "c": 3, "b": 2, "d": 1}
    assert r["m_score"].to_dict() == {"b": 5, "a": 4, "e": 3, "c": 2, "d": 1}
    # frequency ties b = d = 1 share the lower score
    assert r["f_score"].to_dict() == {"e": 5, "a": 4, "c": 3, "b": 1, "d": 1}
    assert r.loc["a", "rfm_score"] == "444"
    # means: R 3, F 2.8, M 3 → a: R高F高M高, b: R低F低M高, c: R低F高M低, e: R高F高M低
    assert r["segment"].to_dict() == {
        "a": "重要价值客户",
        "b": "重要挽留客户",
        "c": "一般保持客户",
        "d": "一般挽留客户",
        "e": "一般价值客户",
    }


def test_rfm_as_of_and_order_frequency(tx):
    r = cu.rfm(tx, as_of="2024-07-10", frequency="orders").set_index("customer_id")
    assert r.loc["a", "recency_days"] == 12 and r.loc["a", "frequency"] == 4
    with pytest.raises(ValueError, match="before the last purchase"):
        cu.rfm(tx, as_of="2024-06-01")
    with pytest.raises(ValueError, match="'days' or 'orders'"):
        cu.rfm(tx, frequency="weeks")


def test_rfm_matches_independent_pandas_computation():
    rng = np.random.default_rng(3)
    n = 4000
    tx = pd.DataFrame(
        {
            "customer_id": np.r_[np.arange(700), rng.integers(0, 700, n - 700)].astype(str),
            "order_time": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 365, n), "D"),
            "amount": rng.gamma(2.0, 50.0, n),
        }
    )
    got = cu.rfm(tx, as_of="2025-01-01").set_index("customer_id")
    # independent: plain python per customer
    ref = {}
    for cid, g in tx.groupby("customer_id"):
        ref[cid] = (
            (pd.Timestamp("2025-01-01") - g["order_time"].max()).days,
            g["order_time"].dt.date.nunique(),
            g["amount"].sum(),
        )
    ref = pd.DataFrame.from_dict(ref, orient="index", columns=["r", "f", "m"])
    assert (got["recency_days"] == ref["r"].reindex(got.index)).all()
    assert (got["frequency"] == ref["f"].reindex(got.index)).all()
    np.testing.assert_allclose(got["monetary"], ref["m"].reindex(got.index))
    # monetary has no ties and n = 700 is a multiple of 5: the score is exactly pd.qcut
    q = pd.qcut(ref["m"], 5, labels=False) + 1
    assert (got["m_score"] == q.reindex(got.index)).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=5, max_size=60))
def test_scores_are_monotone_tie_consistent_and_in_range(values):
    s = cu.rfm_scores(values)
    v = np.asarray(values)
    assert s.min() >= 1 and s.max() <= 5
    for i in range(len(v)):
        for j in range(len(v)):
            if v[i] == v[j]:
                assert s[i] == s[j]
            elif v[i] < v[j]:
                assert s[i] <= s[j]
    rev = cu.rfm_scores(values, higher_is_better=False)
    assert rev[np.argmin(v)] >= rev[np.argmax(v)]


def _scores_by_pandas_rank(values, higher_is_better=True):
    """The method as first written: pandas' min ranks, then 1 + floor(5 (rank - 1) / n)."""
    s = pd.Series(np.asarray(values, dtype=float))
    r = (s if higher_is_better else -s).rank(method="min").to_numpy()
    return (1 + np.floor(5 * (r - 1) / len(s))).astype(int)


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.lists(st.integers(-3, 30), min_size=1, max_size=80),
        st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=80),
        st.lists(st.sampled_from([0.0, -0.0, 0.1, 0.1 + 0.2, 0.3, 1e-300, 7.5, -2.0]),
                 min_size=1, max_size=80),
    )
)  # fmt: skip
def test_scores_equal_pandas_min_rank_quintiles(values):
    for better in (True, False):
        got = cu.rfm_scores(values, higher_is_better=better)
        assert got.tolist() == _scores_by_pandas_rank(values, better).tolist()


def test_rfm_score_and_segment_are_text_spelled_from_the_scores(tx):
    t = cu.rfm(tx, lang="en")
    assert str(t["rfm_score"].dtype) == str(t["segment"].dtype) == "str"
    spelled = (t["r_score"] * 100 + t["f_score"] * 10 + t["m_score"]).astype(str)
    assert t["rfm_score"].tolist() == spelled.tolist()
    names = {v[1] for v in cu.SEGMENTS.values()}
    assert set(t["segment"]) <= names and t["segment"].notna().all()


def test_segment_summary_has_all_eight_segments_and_shares_sum_to_one(tx):
    s = cu.rfm_segments(cu.rfm(tx))
    assert list(s["segment"]) == [v[0] for v in cu.SEGMENTS.values()]
    assert s["customers"].sum() == 5
    assert s["customer_share"].sum() == pytest.approx(1)
    assert s["revenue_share"].sum() == pytest.approx(1)
    assert s.set_index("segment").loc["重要挽留客户", "revenue_share"] == pytest.approx(500 / 890)
    en = cu.rfm_segments(cu.rfm(tx, lang="en"), lang="en")
    assert en["segment"].iloc[0] == "Important value" and en["customers"].sum() == 5


def test_cohorts_hand_example(tx):
    c = cu.cohorts(tx)
    # cohorts: 2024-04 (d), 2024-05 (b), 2024-06 (a, c, e); observed up to 2024-06
    assert c.groupby("cohort").size().to_dict() == {"2024-04": 3, "2024-05": 2, "2024-06": 1}
    jun = c[c["cohort"] == "2024-06"].iloc[0]
    assert jun["cohort_size"] == 3 and jun["active_customers"] == 3
    assert jun["gmv"] == pytest.approx(200 + 25 + 160)
    apr = c[c["cohort"] == "2024-04"].set_index("months_since_first")
    assert apr["active_customers"].tolist() == [1, 0, 0]
    assert apr["retention_rate"].tolist() == [1.0, 0.0, 0.0]
    assert apr["cum_gmv_per_customer"].tolist() == [5.0, 5.0, 5.0]


def test_cohorts_match_independent_crosstab():
    rng = np.random.default_rng(5)
    n = 3000
    tx = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 400, n).astype(str),
            "order_time": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 300, n), "D"),
            "amount": rng.uniform(10, 100, n),
        }
    )
    got = cu.cohorts(tx)
    m = tx["order_time"].dt.year * 12 + tx["order_time"].dt.month
    first = m.groupby(tx["customer_id"]).transform("min")
    ref = pd.crosstab(first, m - first, values=tx["customer_id"], aggfunc="nunique").fillna(0)
    size = (
        tx.groupby("customer_id")
        .apply(lambda g: 0)
        .groupby(first.groupby(tx["customer_id"]).first())
        .size()
    )
    mat = cu.cohort_matrix(got, "active_customers")
    assert mat.to_numpy()[~np.isnan(mat.to_numpy())].sum() == ref.to_numpy().sum()
    np.testing.assert_array_equal(mat.fillna(0).to_numpy(), ref.to_numpy())
    assert (got.groupby("cohort")["cohort_size"].first().to_numpy() == size.to_numpy()).all()
    rr = cu.cohort_matrix(got, "retention_rate")
    assert (rr[0] == 1.0).all()


def test_repurchase_rate(tx):
    assert cu.repurchase_rate(tx) == pytest.approx(3 / 5)
    by = cu.repurchase_rate(tx, by_cohort=True).set_index("cohort")
    assert by.loc["2024-06", "repurchase_rate"] == 1.0 and by.loc["2024-04", "customers"] == 1


def test_read_transactions_csv_and_whitespace_with_compact_dates(tmp_path):
    a = tmp_path / "t.csv"
    a.write_text('cust,day,paid\nx,2024-06-18,12.5\ny,20240619,"1,000"\n', encoding="utf-8")
    t = cu.read_transactions(a, customer_col="cust", date_col="day", amount_col="paid")
    assert t["order_time"].dt.strftime("%Y-%m-%d").tolist() == ["2024-06-18", "2024-06-19"]
    assert t["amount"].tolist() == [12.5, 1000.0]
    b = tmp_path / "t.txt"
    b.write_text("cust  day       paid\nx     20240618  12.5\ny     20240619  3\n")
    t2 = cu.read_transactions(b, customer_col="cust", date_col="day", amount_col="paid")
    assert t2["customer_id"].tolist() == ["x", "y"] and t2["amount"].sum() == 15.5


def test_read_transactions_names_file_row_column_of_every_problem(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("cust,day,paid\nx,2024-06-18,1\ny,2024-13-40,2\n,2024-06-18,abc\n")
    with pytest.raises(DataContractError) as e:
        cu.read_transactions(p, customer_col="cust", date_col="day", amount_col="paid")
    probs = {(pr.row, pr.column) for pr in e.value.problems}
    assert probs == {(3, "day"), (4, "cust"), (4, "paid")}
    assert "bad.csv, row 3, column 'day'" in str(e.value)
    with pytest.raises(DataContractError, match="missing column"):
        cu.read_transactions(p, customer_col="buyer", date_col="day", amount_col="paid")


def test_clean_invoice_lines_reports_every_exclusion():
    df = pd.DataFrame(
        {
            "InvoiceNo": ["1", "1", "C2", "3", "4", "5"],
            "StockCode": ["A", "B", "A", "A", "B", "C"],
            "Quantity": [2, 1, -1, -5, 3, 1],
            "InvoiceDate": ["2011-01-01 10:00"] * 6,
            "UnitPrice": [1.5, 2.0, 1.5, 1.0, 0.0, 4.0],
            "CustomerID": [10.0, 10.0, 10.0, np.nan, 11.0, np.nan],
        }
    )
    orders, items, excl = cu.clean_invoice_lines(df)
    assert excl.set_index("reason")["rows"].to_dict() == {
        "cancellation": 1,
        "non_positive_quantity": 1,
        "non_positive_price": 1,
        "missing_customer": 1,
    }
    assert orders.to_dict("list")["amount"] == [5.0]
    assert orders["customer_id"].tolist() == ["10"]
    assert sorted(items["order_id"]) == ["1", "1", "5"]  # the guest's line stays for baskets


@pytest.mark.skipif(not UCI.is_file(), reason="shared UCI retail sample not present")
def test_uci_sample_exclusions_add_up():
    df = pd.read_csv(UCI, dtype={"InvoiceNo": str, "StockCode": str})
    orders, items, excl = cu.clean_invoice_lines(df)
    assert excl.set_index("reason").loc["cancellation", "rows"] == 350  # README: 350 C rows
    kept_lines = len(df) - excl["rows"].sum()
    assert kept_lines + excl.set_index("reason").loc["missing_customer", "rows"] == len(items)
    assert orders["customer_id"].str.fullmatch(r"\d{5}").all()


# ---------------------------------------------------------------------------------------------
# CLI: opsnb rfm / opsnb cohorts
# ---------------------------------------------------------------------------------------------


def _cli(args):
    from typer.testing import CliRunner

    from opsnb.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_rfm_contract_on_whitespace_file_with_compact_dates(tmp_path):
    src = tmp_path / "tx.txt"
    src.write_text(
        "buyer day paid\n"
        "a 20240601 100\na 20240610 30\na 20240628 20\nb 20240501 500\n"
        "c 20240615 10\nc 20240620 15\nd 20240401 5\n"
        "e 20240602 40\ne 20240605 40\ne 20240608 40\ne 20240629 40\n"
    )
    out = tmp_path / "rfm.csv"
    res = _cli(
        [
            "rfm",
            src,
            "--customer-col",
            "buyer",
            "--date-col",
            "day",
            "--amount-col",
            "paid",
            "--output",
            out,
        ]
    )
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out, dtype={"customer_id": str})
    assert list(got.columns) == [
        "customer_id",
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "segment",
    ]
    g = got.set_index("customer_id")
    assert g.loc["a", "recency_days"] == 2 and g.loc["e", "frequency"] == 4
    assert g.loc["b", "segment"] == "重要挽留客户"
    res = _cli(
        [
            "rfm",
            src,
            "--customer-col",
            "buyer",
            "--date-col",
            "day",
            "--amount-col",
            "paid",
            "--as-of",
            "2024-07-10",
            "--output",
            out,
        ]
    )
    assert res.exit_code == 0
    assert pd.read_csv(out).set_index("customer_id").loc["a", "recency_days"] == 12


def test_cli_cohorts_contract_on_csv(tmp_path, tx):
    src = tmp_path / "tx.csv"
    tx.assign(order_time=tx["order_time"].dt.strftime("%Y-%m-%d")).to_csv(src, index=False)
    out = tmp_path / "coh.csv"
    res = _cli(
        [
            "cohorts",
            src,
            "--customer-col",
            "customer_id",
            "--date-col",
            "order_time",
            "--amount-col",
            "amount",
            "--output",
            out,
        ]
    )
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out)
    assert list(got.columns) == [
        "cohort",
        "months_since_first",
        "active_customers",
        "retention_rate",
        "gmv",
    ]
    assert got["gmv"].sum() == pytest.approx(tx["amount"].sum())


def test_cli_bad_input_exits_2_naming_file_row_and_column(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("buyer,day,paid\na,2024-06-01,10\nb,2024-02-30,5\n")
    res = _cli(
        [
            "rfm",
            src,
            "--customer-col",
            "buyer",
            "--date-col",
            "day",
            "--amount-col",
            "paid",
            "--output",
            tmp_path / "o.csv",
        ]
    )
    assert res.exit_code == 2
    assert "bad.csv, row 3, column 'day'" in res.output
    res = _cli(
        [
            "cohorts",
            src,
            "--customer-col",
            "user",
            "--date-col",
            "day",
            "--amount-col",
            "paid",
            "--output",
            tmp_path / "o.csv",
        ]
    )
    assert res.exit_code == 2 and "'user'" in res.output
    res = _cli(
        [
            "rfm",
            src,
            "--customer-col",
            "buyer",
            "--date-col",
            "day",
            "--amount-col",
            "paid",
            "--as-of",
            "soon",
            "--output",
            tmp_path / "o.csv",
        ]
    )
    assert res.exit_code == 1 and "--as-of" in res.output


def test_cli_excludes_refund_rows_with_a_note_and_keeps_free_purchases(tmp_path):
    """A negative row is a refund (excluded, counted); a paid 0 (gift, full coupon) is a purchase."""
    src = tmp_path / "r.csv"
    src.write_text("buyer,day,paid\na,2024-06-01,10\na,2024-06-02,-10\nb,2024-06-03,0\n")
    res = _cli(
        [
            "rfm",
            src,
            "--customer-col",
            "buyer",
            "--date-col",
            "day",
            "--amount-col",
            "paid",
            "--output",
            tmp_path / "o.csv",
        ]
    )
    assert res.exit_code == 0 and "excluded 1 of 3 rows" in res.output
    out = pd.read_csv(tmp_path / "o.csv")
    assert sorted(out["customer_id"].astype(str)) == ["a", "b"]


# ---------------------------------------------------------------------------------------------
# The SQL path (opsnb.market.customers_sql) gives the pandas path's table
# ---------------------------------------------------------------------------------------------


def _same_rfm(sql: pd.DataFrame, pandas_table: pd.DataFrame) -> None:
    """Every column identical; monetary within 1 ulp (DuckDB and pandas add in another order,
    both compensated), never enough to change a score: near ties are summed again by pandas."""
    ref = pandas_table.astype({"last_purchase": "datetime64[ns]"}).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        sql.drop(columns="monetary"), ref.drop(columns="monetary"), check_exact=True
    )
    np.testing.assert_allclose(sql["monetary"], ref["monetary"], rtol=4e-16, atol=0)


def _same_cohorts(sql: pd.DataFrame, pandas_table: pd.DataFrame) -> None:
    money = ["gmv", "cum_gmv_per_customer"]
    pd.testing.assert_frame_equal(
        sql.drop(columns=money), pandas_table.drop(columns=money), check_exact=True
    )
    np.testing.assert_allclose(sql[money], pandas_table[money], rtol=1e-13, atol=0)


def test_sql_rfm_and_cohorts_equal_pandas_on_the_demo_orders(demo_db):
    from opsnb.data.store import open_store, read_table
    from opsnb.market import customers_sql as cs

    con = open_store(demo_db, read_only=True)
    # one channel (a sixth of the shop, to stay fast), as notebook 01 reads it with channels=
    orders = read_table(con, "orders", channels=["抖音"])  # by order_time, order_id
    where, params = "channel IN (?)", ["抖音"]
    got = cs.rfm_sql(con, "orders", where=where, params=params, row_order="order_time, order_id")
    _same_rfm(got, cu.rfm(orders))
    assert len(got) > 50_000
    _same_cohorts(cs.cohorts_sql(con, "orders", where=where, params=params), cu.cohorts(orders))
    rate = cs.repurchase_rate_sql(con, "orders", where=where, params=params)
    assert rate == cu.repurchase_rate(orders)


def test_notebook_01_store_aggregates_equal_the_pandas_paths_on_the_demo_orders(demo_db):
    """What notebook 01 reads from the store in DuckDB (per-customer totals, payback counts,
    basket lines) gives the tables the pandas functions give on the orders read as a frame:
    RFM and the CLV summary to the last bit (customers of three or more rows are summed again
    in the frame's row order), the payback curves within DuckDB's summation order."""
    from opsnb.data.store import open_store, read_table
    from opsnb.market import clv, research
    from opsnb.market import customers_sql as cs
    from opsnb.market import orders_sql as osql
    from opsnb.market.basket import association_rules

    con = open_store(demo_db, read_only=True)
    chans = ["抖音", "小红书"]  # a third of the shop, to stay fast; two first channels
    where, params = "channel IN (?, ?) AND order_time < ?", [*chans, pd.Timestamp("2025-07-01")]
    orders = read_table(con, "orders", channels=chans, end="2025-06-30")  # order_time, order_id
    totals = cs.customer_totals_sql(
        con, "orders", where=where, params=params, row_order="order_time, order_id"
    )
    assert len(totals) > 100_000 and (orders.groupby("customer_id").size() >= 3).sum() > 500
    as_of = pd.Timestamp("2025-07-01")
    pd.testing.assert_frame_equal(
        cu.rfm_from_summary(totals, as_of=as_of),
        cu.rfm(orders, as_of=as_of).astype({"last_purchase": "datetime64[ns]"}),
        check_exact=True,
    )
    pd.testing.assert_frame_equal(
        clv.customer_summary_from_totals(totals, as_of=as_of),
        clv.customer_summary(orders, as_of=as_of).astype({"first_purchase": "datetime64[ns]"}),
        check_exact=True,
    )
    assert int((totals["frequency"] >= 2).sum()) / len(totals) == cu.repurchase_rate(orders)
    got = osql.payback_curves_sql(con, "orders", margin=0.3, where=where, params=params)
    want = research.payback_curves(orders, margin=0.3)
    assert sorted(got) == sorted(want) == sorted(chans)
    for ch in want:
        np.testing.assert_allclose(got[ch], want[ch], rtol=1e-13, atol=0)
    june = orders.loc[orders["order_time"] >= "2025-06-01", ["order_id"]]
    con.register("june", june)  # the frame's June orders, joined to their lines
    june_lines = con.execute("SELECT sku, order_id FROM order_items JOIN june USING (order_id)")
    june_lines = june_lines.df()
    lines = osql.basket_lines_sql(
        con, where=f"order_time >= ? AND {where}", params=[pd.Timestamp("2025-06-01"), *params]
    )
    rules = association_rules(lines, top=20)
    assert len(rules) == 20 and rules.attrs["n_orders"] == len(june)
    pd.testing.assert_frame_equal(rules, association_rules(june_lines, top=20))
    con.close()


@pytest.fixture()
def tied_tx() -> pd.DataFrame:
    """Many ties: 60 % one-time buyers, amounts on a few price points (cents), shared days."""
    rng = np.random.default_rng(16)
    n = 6000
    cust = np.r_[np.arange(1500), rng.integers(0, 600, n - 1500)]
    prices = np.array([9.9, 19.9, 29.9, 0.1, 0.2, 0.3, 59.0, 99.99])
    return pd.DataFrame(
        {
            "customer_id": np.char.add("c", cust.astype(str)),
            "order_id": np.char.add("o", rng.integers(0, 4500, n).astype(str)),
            "order_time": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 40, n) * 7, "D")
            + pd.to_timedelta(rng.integers(0, 3, n) * 5, "h"),
            "amount": prices[rng.integers(0, len(prices), n)],
        }
    )


def test_sql_rfm_equals_pandas_on_a_random_file_with_ties(tmp_path, tied_tx):
    from opsnb.market import customers_sql as cs

    src = tmp_path / "tx.parquet"
    tied_tx.to_parquet(src, index=False)
    p = cs.open_purchases(src, order_col="order_id")
    assert p.source == "parquet" and p.rows == len(tied_tx)
    for freq in ("days", "orders"):
        got = cs.rfm_sql(
            p.con,
            p.relation,
            where=p.where,
            row_order=p.row_order,
            frequency=freq,
            order_col="order_id",
            as_of="2024-12-01",
        )
        _same_rfm(got, cu.rfm(tied_tx, frequency=freq, order_col="order_id", as_of="2024-12-01"))
    assert got["r_score"].nunique() > 1 and got.duplicated(["monetary"]).sum() > 100  # ties
    _same_cohorts(cs.cohorts_sql(p.con, p.relation), cu.cohorts(tied_tx))
    _same_cohorts(
        cs.cohorts_sql(p.con, p.relation, end="2024-06-30"), cu.cohorts(tied_tx, end="2024-06-30")
    )


def test_near_ties_marks_totals_a_last_bit_could_move_across_a_quintile():
    from opsnb.market.customers_sql import near_ties

    # five totals, one per quintile: 0.6 and 0.1 + 0.2 + 0.3 (1 ulp apart) straddle a
    # boundary, so do the two 5.0 (only the one summed from three rows can differ)
    v = np.array([0.6, 0.1 + 0.2 + 0.3, 5.0, 5.0, 7.0])
    assert near_ties(v, [3, 3, 1, 3, 3]).tolist() == [True, True, False, True, False]
    # ten totals, two per quintile: equal pairs inside a quintile cannot change a score
    v = np.repeat([1.0, 2.0, 3.0, 4.0, 5.0], 2)
    assert not near_ties(v, [3] * 10).any()
    v = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])  # ranks 2-3 straddle
    assert np.flatnonzero(near_ties(v, [3] * 10)).tolist() == [1, 2]


def _near_ties_by_ranks(values, n_rows, *, ulps=8, quantiles=5):
    """near_ties as first written: clusters labelled on the argsort of the totals."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n < 2:
        return np.zeros(n, dtype=bool)
    order = np.argsort(v, kind="stable")
    vs = v[order]
    close = np.abs(np.diff(vs)) <= ulps * np.spacing(np.abs(vs[1:]))
    cluster = np.r_[0, np.cumsum(~close)]
    pos = np.arange(n)
    starts = np.flatnonzero(np.r_[True, ~close])
    lo = np.minimum.reduceat(pos, starts)[cluster]
    hi = np.maximum.reduceat(pos, starts)[cluster]
    near = np.zeros(n, dtype=bool)
    near[order] = (quantiles * lo) // n != (quantiles * hi) // n
    return near & (np.asarray(n_rows) >= 3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.6, 0.1 + 0.2 + 0.3, 5.0, 7.5, -0.0, 0.0]),
             min_size=0, max_size=40),
    st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_near_ties_marks_what_the_rank_based_version_marks(values, seed):
    from opsnb.market.customers_sql import near_ties

    n_rows = np.random.default_rng(seed).integers(1, 5, len(values))
    for ulps in (8, 64):
        got = near_ties(values, n_rows, ulps=ulps)
        assert got.tolist() == _near_ties_by_ranks(values, n_rows, ulps=ulps).tolist()


def test_sql_rfm_counts_days_that_share_residues_and_days_of_several_rows(tmp_path):
    """Frequency is counted from day masks (mod 64 and mod 63) only when they prove every row
    on a day of its own; days 4 032 apart share both residues, many days overflow a mask, and
    rows on one day are added up per day first, all as pandas counts and sums them."""
    from opsnb.market import customers_sql as cs

    day0 = pd.Timestamp("2010-01-01")
    rows = [("apart", day0, 10.1), ("apart", day0 + pd.Timedelta(days=4032), 20.2)]
    rows += [("apart", day0 + pd.Timedelta(days=64 * 5), 0.3)]  # shares residue mod 64 only
    rows += [("sameday", day0 + pd.Timedelta(hours=h), 0.1 * (h + 1)) for h in range(4)]
    rows += [("sameday", day0 + pd.Timedelta(days=3), 0.7)]
    rows += [("many", day0 + pd.Timedelta(days=d), 1.1) for d in range(0, 300, 3)]
    rows += [("many", day0 + pd.Timedelta(days=3), 2.2)]
    rows += [(f"one{i}", day0 + pd.Timedelta(days=i), 1.0 + i) for i in range(20)]
    tx = pd.DataFrame(rows, columns=["customer_id", "order_time", "amount"])
    src = tmp_path / "tx.parquet"
    tx.to_parquet(src, index=False)
    p = cs.open_purchases(src)
    got = cs.rfm_sql(p.con, p.relation, where=p.where, row_order=p.row_order, as_of="2030-01-01")
    want = cu.rfm(tx, as_of="2030-01-01")
    _same_rfm(got, want)
    freq = got.set_index("customer_id")["frequency"]
    assert (freq["apart"], freq["sameday"], freq["many"]) == (3, 2, 100)


def test_sql_rfm_aggregates_many_unsure_customers_in_duckdb_without_fetching_their_rows(
    tmp_path, monkeypatch
):
    """When most rows belong to customers the day masks cannot vouch for (here every customer
    buys twice on one day), they are counted in DuckDB; the numbers are pandas' all the same."""
    from opsnb.market import customers_sql as cs

    rng = np.random.default_rng(7)
    n = 400
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D")
    tx = pd.DataFrame(
        {
            "customer_id": np.char.add("c", np.tile(np.arange(n), 3).astype(str)),
            "order_time": np.r_[day, day + pd.Timedelta(hours=5), day + pd.Timedelta(days=9)],
            "amount": rng.integers(1, 3000, 3 * n) / 100,
        }
    )
    src = tmp_path / "tx.parquet"
    tx.to_parquet(src, index=False)
    p = cs.open_purchases(src)
    orders, real = [], cs._rows_sql

    def rows_sql(con, ids, mask, relation, cols, where, row_order=None):
        orders.append(row_order)
        return real(con, ids, mask, relation, cols, where, row_order)

    monkeypatch.setattr(cs, "_rows_sql", rows_sql)
    got = cs.rfm_sql(p.con, p.relation, where=p.where, row_order=p.row_order, as_of="2025-01-01")
    _same_rfm(got, cu.rfm(tx, as_of="2025-01-01"))
    assert (got["frequency"] == 2).all() and orders[0] is None  # aggregated, not fetched


def test_sql_rfm_reads_the_near_ties_again_when_the_first_guess_missed_them(tmp_path, monkeypatch):
    from opsnb.market import customers_sql as cs

    rng = np.random.default_rng(3)  # five rows a customer over two years: few unsure ones
    n = 2000
    prices = np.array([9.9, 19.9, 29.9, 0.1, 0.2, 0.3])  # totals tie at the quintile edges
    tx = pd.DataFrame(
        {
            "customer_id": np.char.add("c", np.repeat(np.arange(n), 5).astype(str)),
            "order_time": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 730, 5 * n), "D"),
            "amount": prices[rng.integers(0, len(prices), 5 * n)],
        }
    )
    src = tmp_path / "tx.parquet"
    tx.to_parquet(src, index=False)
    p = cs.open_purchases(src)
    real, real_rows, reads = cs.near_ties, cs._rows_of, []

    def no_guess(values, n_rows, *, ulps=8, **kw):  # the wide-margin guess finds nothing
        near = real(values, n_rows, ulps=ulps, **kw)
        return np.zeros_like(near) if ulps > 8 else near

    def rows_of(con, ids, mask, *args):
        reads.append(int(mask.sum()))
        return real_rows(con, ids, mask, *args)

    def run():
        return cs.rfm_sql(p.con, p.relation, where=p.where, row_order=p.row_order)

    guessed = run()
    monkeypatch.setattr(cs, "near_ties", no_guess)
    monkeypatch.setattr(cs, "_rows_of", rows_of)
    pd.testing.assert_frame_equal(run(), guessed, check_exact=True)
    assert len(reads) == 2 and reads[-1] > 0  # the unsure customers, then the near ties


def test_cli_rfm_reads_parquet_and_the_store_like_a_csv(tmp_path, tied_tx):
    csv_file, pq_file = tmp_path / "tx.csv", tmp_path / "tx.parquet"
    tied_tx.assign(order_time=tied_tx["order_time"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
        csv_file, index=False
    )
    tied_tx.to_parquet(pq_file, index=False)
    cols = ["--customer-col", "customer_id", "--date-col", "order_time", "--amount-col", "amount"]
    outs = {}
    for name, src in (("csv", csv_file), ("parquet", pq_file)):
        for cmd in ("rfm", "cohorts"):
            out = tmp_path / f"{cmd}-{name}.csv"
            res = _cli([cmd, src, *cols, "-o", out])
            assert res.exit_code == 0, res.output
            outs[cmd, name] = pd.read_csv(out, dtype={"customer_id": str})
    pd.testing.assert_frame_equal(outs["rfm", "csv"], outs["rfm", "parquet"])
    pd.testing.assert_frame_equal(outs["cohorts", "csv"], outs["cohorts", "parquet"])
    ref = cu.rfm(tied_tx)
    assert outs["rfm", "csv"]["m_score"].tolist() == ref["m_score"].tolist()
    # the store: its orders table, the column options default to the contract's names
    import duckdb

    store = tmp_path / "s.duckdb"
    with duckdb.connect(str(store)) as con:
        con.execute("CREATE TABLE orders AS SELECT * FROM tied_tx")
    res = _cli(["rfm", store, "-o", tmp_path / "rfm-store.csv"])
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "rfm-store.csv", dtype={"customer_id": str}), outs["rfm", "csv"]
    )


@pytest.mark.parametrize("odd", [" a", "b ", "NaN", "——", "n/A", "<NA>", ""])
def test_parquet_with_padded_or_missing_token_ids_is_read_by_the_checked_reader(tmp_path, odd):
    from opsnb.market import customers_sql as cs

    def source(ids):
        src = tmp_path / "ids.parquet"
        pd.DataFrame(
            {"customer_id": ids, "order_time": pd.to_datetime(["2024-06-01"] * 3),
             "amount": [1.0, 2.0, 3.0]}
        ).to_parquet(src, index=False)  # fmt: skip
        try:
            return cs.open_purchases(src).source
        except DataContractError:  # an id the reader takes for a missing value
            return "file"

    assert source(["x1", odd, "x2"]) == "file"
    assert source(["x1", "a b", "NAN1"]) == "parquet"  # inner spaces, longer than a token


def test_cli_parquet_with_empty_cells_names_row_and_column(tmp_path):
    src = tmp_path / "bad.parquet"
    pd.DataFrame(
        {
            "buyer": ["a", None, "c"],
            "day": pd.to_datetime(["2024-06-01", "2024-06-02", None]),
            "paid": [1.0, 2.0, 3.0],
        }
    ).to_parquet(src, index=False)
    cols = ["--customer-col", "buyer", "--date-col", "day", "--amount-col", "paid"]
    res = _cli(["rfm", src, *cols, "-o", tmp_path / "o.csv"])
    assert res.exit_code == 2
    assert "row 2, column 'buyer'" in res.output and "row 3, column 'day'" in res.output
    res = _cli(["rfm", src, "--customer-col", "user", "--date-col", "day", "--amount-col",
                "paid", "-o", tmp_path / "o.csv"])  # fmt: skip
    assert res.exit_code == 2 and "'user'" in res.output
    res = _cli(["rfm", src, "-o", tmp_path / "o.csv"])
    assert res.exit_code == 1 and "--customer-col" in res.output


def test_sql_paths_turn_off_duckdb_progress_bar_which_would_be_a_widget_in_the_report(tied_tx):
    import duckdb

    from opsnb.market import customers_sql as cs

    con = duckdb.connect()
    con.register("tx", tied_tx)
    for run in (cs.rfm_sql, cs.cohorts_sql, cs.repurchase_rate_sql):
        con.execute("SET enable_progress_bar = true")
        run(con, "tx")
        assert con.execute("SELECT current_setting('enable_progress_bar')").fetchall() == [(False,)]
