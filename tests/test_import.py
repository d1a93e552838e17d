"""`opsnb import`: every built-in export imported end to end from a hand-written fixture, totals
checked; upsert, exclusions, unknown exports and bad cells named by file, row and column."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from opsnb.data import exports, imports, store
from opsnb.errors import DataContractError, DataQualityWarning

EXPORTS = Path(__file__).resolve().parent / "fixtures" / "exports"

# file → (export, {table: (rows, {column: total})}), totals summed by hand from the fixtures
EXPECTED = {
    "生意参谋_店铺来源_20251102.csv": (
        "sycm_traffic",
        {"daily_metrics": (5, {"visitors": 8334, "buyers": 304, "gmv": 130134.41})},
    ),
    "生意参谋_商品效果_20251111.xlsx": (
        "sycm_product",
        {"product_daily": (3, {"visitors": 7000, "units": 340, "gmv": 45370.0})},
    ),
    "京东商智_商品明细_20251102.xls": (
        "jd_sku",
        {"product_daily": (3, {"units": 195, "orders": 174, "gmv": 31345.6})},
    ),
    "抖店罗盘_商品数据_20251101.xlsx": (
        "douyin_product",
        {"product_daily": (2, {"visitors": 2200, "units": 95, "gmv": 11030.0})},
    ),
    "拼多多_商品明细_20251101.csv": (
        "pdd_product",
        {"product_daily": (2, {"visitors": 2000, "units": 55, "gmv": 19165.0})},
    ),
    "ExportOrderList202511.csv": (
        "taobao_orders",
        {"orders": (5, {"amount": 1608.0, "refund_amount": 320.0})},
    ),
    "京东_订单导出_202511.xlsx": (
        "jd_orders",
        {
            "orders": (2, {"amount": 445.5, "refund_amount": 95.5}),
            "order_items": (3, {"qty": 4}),
        },
    ),
    "抖店_订单导出_20251102.csv": (
        "douyin_orders",
        {"orders": (2, {"amount": 388.0, "refund_amount": 99.0}), "order_items": (3, {"qty": 4})},
    ),
    "拼多多_订单_20251101.csv": (
        "pdd_orders",
        {"orders": (2, {"amount": 269.0, "refund_amount": 150.0})},
    ),
}


def test_every_builtin_export_has_a_fixture():
    assert sorted(s.name for s in exports.list_exports()) == sorted(v[0] for v in EXPECTED.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_imports_end_to_end_with_its_totals(name, tmp_path):
    source, tables = EXPECTED[name]
    [res] = imports.import_files([EXPORTS / name], db=tmp_path / "s.duckdb")
    assert res.source == source
    con = store.open_store(tmp_path / "s.duckdb", read_only=True)
    try:
        for table, (n, totals) in tables.items():
            df = store.read_table(con, table)
            assert len(df) == n, table
            got = {c: round(float(df[c].sum()), 2) for c in totals}
            assert got == totals, table
        assert sorted(w.table for w in res.written) == sorted(tables)
    finally:
        con.close()


def test_traffic_sources_land_in_the_shops_channels():
    p = imports.prepare_import(EXPORTS / "生意参谋_店铺来源_20251102.csv")
    df = p.frames["daily_metrics"]
    got = df.assign(date=df["date"].dt.strftime("%Y-%m-%d"))[["date", "channel", "gmv"]]
    assert got.to_dict("records") == [
        {"date": "2025-11-01", "channel": "付费推广", "gmv": 75533.91},
        {"date": "2025-11-01", "channel": "老客/私域", "gmv": 0.0},
        {"date": "2025-11-01", "channel": "自然搜索", "gmv": 24000.0},
        {"date": "2025-11-02", "channel": "付费推广", "gmv": 13800.0},
        {"date": "2025-11-02", "channel": "自然搜索", "gmv": 16800.5},
    ]
    assert p.excluded == (("summary rows of a source whose detail rows are in the file", 1),)
    assert df["orders"].isna().all() and df["refund_amount"].isna().all()  # absent, not invented


def test_orders_only_paid_ones_become_purchases_and_exclusions_are_counted():
    p = imports.prepare_import(EXPORTS / "ExportOrderList202511.csv")
    o = p.frames["orders"]
    assert o["order_id"].tolist() == [
        "4012345678901234567",  # ="…" protected id
        "4012345678901234568",  # '… text marker
        "4012345678901234569",  # paid, amount 0: still a purchase
        "4012345678901234572",  # 交易关闭 after payment: a full refund
        "4012345678901234573",
    ]
    assert o["amount"].tolist() == [189.0, 299.0, 0.0, 120.0, 1000.0]
    assert o["refund_amount"].tolist() == [0.0, 0.0, 0.0, 120.0, 200.0]
    assert p.excluded == (("unpaid (等待买家付款)", 1), ("unpaid (交易关闭)", 1))


def test_reimport_is_unchanged_and_an_overlap_updates_by_key(tmp_path):
    db = tmp_path / "s.duckdb"
    f = EXPORTS / "生意参谋_店铺来源_20251102.csv"
    imports.import_files([f], db=db)
    [again] = imports.import_files([f], db=db)
    [w] = again.written
    assert (w.inserted, w.updated, w.unchanged, w.total) == (0, 0, 5, 5)
    changed = tmp_path / "生意参谋_店铺来源_20251103.csv"
    text = f.read_bytes().decode("gbk").replace('"1.2万"', '"1.3万"')
    text = text.replace("2025-11-02,付费流量,引力魔方", "2025-11-03,付费流量,引力魔方")
    changed.write_bytes(text.encode("gbk"))
    [res] = imports.import_files([changed], db=db)
    [w] = res.written
    assert (w.inserted, w.updated, w.unchanged, w.total) == (1, 1, 4, 6)
    [dry] = imports.import_files([f], db=db, dry_run=True)
    assert dry.written[0].updated == 1  # would put 11-02 back ...
    con = store.open_store(db, read_only=True)
    assert store.read_table(con, "daily_metrics")["gmv"].sum() == pytest.approx(131134.41)
    con.close()  # ... but nothing was written


def test_unknown_export_names_headers_seen_missing_columns_and_closest(tmp_path):
    f = tmp_path / "weird.csv"
    f.write_text("统计日期,流量来源,访客人数,成交额\n2025-11-01,淘内免费,10,5\n", encoding="utf-8")
    with pytest.raises(DataContractError) as err:
        imports.import_files([f], db=tmp_path / "s.duckdb")
    [p] = err.value.problems
    assert (p.file, p.row, p.value) == ("weird.csv", 1, "统计日期, 流量来源, 访客人数, 成交额")
    assert "closest: sycm_traffic (生意参谋 · 店铺来源（每日）, 20% of its headers)" in p.expected
    assert (
        "still missing canonical column(s) visitors, buyers, gmv of 'daily_metrics'" in p.expected
    )
    assert not (tmp_path / "s.duckdb").exists()


def test_map_file_describes_an_unknown_export(tmp_path):
    f = tmp_path / "weird.csv"
    f.write_text("日,店,人,钱\n2025-11-01,小店,10,5\n2025-11-02,小店,-,-\n", encoding="utf-8")
    m = tmp_path / "map.yaml"
    m.write_text(
        "table: daily_metrics\ncolumns: {日: date, 人: visitors, 钱: gmv}\n"
        "constants: {channel: 自然搜索, buyers: 0}\nabsent: [orders, refund_orders, refund_amount]\n"
        "dash_zero: true\n",
        encoding="utf-8",
    )
    [res] = imports.import_files([f], db=tmp_path / "s.duckdb", map_file=m)
    assert res.written[0].inserted == 2


def test_bad_cells_name_file_row_and_column(tmp_path):
    f = tmp_path / "ExportOrderList.csv"
    f.write_text(
        "订单编号,买家会员名,买家实际支付金额,订单状态,订单创建时间,订单付款时间\n"
        "1.0001E+17,a,10,交易成功,2025-11-01,2025-11-01\n"
        "2,b,inf,交易成功,2025-11-01,2025-11-01\n"
        "3,c,1e400,交易成功,2025-11-01,2025-11-01\n",
        encoding="utf-8",
    )
    with pytest.raises(DataContractError) as err:
        imports.prepare_import(f)
    assert [(p.file, p.row, p.column) for p in err.value.problems] == [
        ("ExportOrderList.csv", 2, "order_id"),
        ("ExportOrderList.csv", 3, "amount"),
        ("ExportOrderList.csv", 4, "amount"),
    ]
    assert "1.0001E+17 is how Excel shows a long number" in err.value.problems[0].expected


def test_invisible_characters_in_keys_are_removed_with_a_warning(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text(
        "日期,渠道,访客数,买家数,订单数,成交金额,退款订单数,退款金额\n"
        "2024-06-18,自然\x00搜索,10,1,1,10,0,0\n2024-06-18,抖\u200b音,10,1,1,10,0,0\n",
        encoding="utf-8",
    )
    from opsnb.data.loaders import read_file

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = read_file(f, "daily_metrics")
    assert df["channel"].tolist() == ["自然搜索", "抖音"]
    [w] = [w for w in caught if issubclass(w.category, DataQualityWarning)]
    assert "removed from 2 cell(s) of column 'channel'; first at row 2" in str(w.message)


def _cli(*args):
    from opsnb.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_import_prints_recognition_counts_and_exclusions(tmp_path):
    db = tmp_path / "s.duckdb"
    res = _cli("import", EXPORTS / "ExportOrderList202511.csv", "--db", db)
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [
        "ExportOrderList202511.csv: 淘宝/天猫 订单报表 (taobao_orders), 7 rows read",
        "    1 row(s) closed or refunded after payment: kept as purchases with a full refund",
        "    excluded 1 row(s): unpaid (等待买家付款)",
        "    excluded 1 row(s): unpaid (交易关闭)",
        "    wrote orders: 5 inserted, 0 updated, 0 unchanged (5 rows in the store)",
    ]
    insp = _cli("import", "--inspect", EXPORTS / "京东商智_商品明细_20251102.xls")
    assert insp.exit_code == 0, insp.output
    assert "    成交金额 → gmv" in insp.stdout
    assert "口径: JD says 成交 and 客户 where Tmall says 支付 and 买家" in insp.stdout


def test_cli_load_upserts_and_replace_needs_yes_and_keeps_a_backup(tmp_path):
    good = Path(__file__).resolve().parent / "fixtures" / "good"
    db = tmp_path / "s.duckdb"
    assert _cli("load", "daily_metrics", good / "daily_metrics_zh.csv", "--db", db).exit_code == 0
    again = _cli("load", "daily_metrics", good / "daily_metrics_zh.csv", "--db", db)
    assert again.stdout.strip() == (
        "loaded 5 rows into daily_metrics: 0 inserted, 0 updated, 5 unchanged (5 rows in the store)"
    )
    refused = _cli("load", "daily_metrics", good / "daily_metrics_en.txt", "--db", db, "--replace")
    assert refused.exit_code == 1
    assert "--replace removes all 5 rows of daily_metrics" in refused.stderr
    done = _cli(
        "load", "daily_metrics", good / "daily_metrics_en.txt", "--db", db, "--replace", "--yes"
    )
    assert done.exit_code == 0, done.output
    [backup] = list((tmp_path / "backups" / "s").glob("daily_metrics-*.parquet"))
    assert len(pd.read_parquet(backup)) == 5
    assert f"removed 5 rows of daily_metrics; backup: {backup}" in done.stdout
