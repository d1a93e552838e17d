"""Columnar I/O of the command-line tools (issue 16): Arrow reads and writes, same cells."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from opsnb.cli import app
from opsnb.data.columnar import read_csv_columns, write_frame
from opsnb.errors import DataContractError
from opsnb.monitoring.daily import _read_series_pandas, read_series_file


def _mixed(n=50):
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "s": [f"店铺{i % 3}" for i in range(n - 4)] + ["a,b", 'say "hi"', "two\nlines", None],
            "t": pd.date_range("2024-01-01", periods=n, freq="D"),
            "th": pd.date_range("2024-01-01 03:30", periods=n, freq="7h").where(np.arange(n) != 5),
            "count": np.where(np.arange(n) % 9 == 0, np.nan, rng.poisson(40, n)),
            "x": np.where(np.arange(n) % 7 == 0, np.nan, rng.normal(0, 1, n)),
            "big": rng.normal(0, 1, n) * 1e20,
            "inf": np.r_[np.inf, -np.inf, rng.normal(size=n - 2)],
            "i": np.arange(n),
            "b": np.arange(n) % 2 == 0,
        }
    )


def test_write_frame_reads_back_exactly_what_pandas_to_csv_writes(tmp_path):
    df = _mixed()
    write_frame(df, tmp_path / "a.csv")
    df.to_csv(tmp_path / "b.csv", index=False)
    a, b = (pd.read_csv(tmp_path / f, keep_default_na=True) for f in ("a.csv", "b.csv"))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # without floats in exponent form the text is pandas' byte for byte
    plain = df.drop(columns=["x", "big", "inf"])
    write_frame(plain, tmp_path / "c.csv", chunk_rows=7)
    assert (tmp_path / "c.csv").read_text() == plain.to_csv(index=False)
    lone = df[["count"]]
    write_frame(lone, tmp_path / "d.csv")
    assert (tmp_path / "d.csv").read_text() == lone.to_csv(index=False)
    write_frame(df.iloc[:0], tmp_path / "e.csv")
    assert (tmp_path / "e.csv").read_text() == df.iloc[:0].to_csv(index=False)
    write_frame(df, tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "f.parquet"), df, check_dtype=False, check_exact=True
    )


SPELLINGS = """日期,渠道,访客数,金额
2024/01/01,抖音,"1,234",¥1.5万
2024/01/02,抖音,12,3.2%
2024-01-03,直播,,"¥1,234.50"
2024年1月4日,直播,7,-
"""


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_arrow_reader_parses_every_spelling_like_the_pandas_reader(tmp_path, encoding):
    path = tmp_path / "in.csv"
    path.write_text(SPELLINGS, encoding=encoding)
    kw = dict(time_col="日期", value_cols=["访客数", "金额"], series_col="渠道")
    assert read_csv_columns(path, ["日期", "访客数"], numeric=["访客数"]) is not None
    got, want = read_series_file(path, **kw), _read_series_pandas(path, **kw)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_index_type=False)
    assert got["金额"].tolist()[:3] == [15000.0, 0.032, 1234.5]


@pytest.mark.parametrize(
    "text",
    [
        "timestamp,value\n2024-01-01,3\n2024-13-02,4\n2024-01-03,abc\n,nan\n2024-01-05,inf\n",
        "timestamp,value\n2024-01-01,3\n2024-01-02,1e400\n2024-01-03,5\n",
        "timestamp,value\n2024-01-01,3\n2024-01-02,4,9\n",  # ragged: pandas' reader says so
        "timestamp,other\n2024-01-01,3\n",  # a missing column
        "timestamp,value\n",  # no data row
    ],
)
def test_bad_files_give_the_same_problems_as_the_pandas_reader(tmp_path, text):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    kw = dict(time_col="timestamp", value_cols=["value"])
    with pytest.raises(DataContractError) as got:
        read_series_file(path, **kw)
    with pytest.raises(DataContractError) as want:
        _read_series_pandas(path, **kw)
    assert str(got.value) == str(want.value)
    assert got.value.problems == want.value.problems


def test_detect_cli_writes_the_pandas_path_numbers_to_csv_and_parquet(tmp_path):
    from opsnb.monitoring.anomaly import detect

    rng = np.random.default_rng(5)
    t = pd.date_range("2024-01-01", periods=120)
    df = pd.DataFrame(
        {
            "series": np.repeat(["a", "b,c", "d"], len(t)),
            "timestamp": np.tile(t.strftime("%Y-%m-%d"), 3),
            "value": rng.poisson(300, 3 * len(t)),
        }
    )
    df.loc[100, "value"] = 3000
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    cols = ["series", "timestamp", "value", "expected", "lower", "upper", "score"]
    cols += ["is_anomaly", "flagged", "direction", "severity"]
    raw = pd.read_csv(src, dtype=str, keep_default_na=False)
    want = detect(
        raw.assign(timestamp=pd.to_datetime(raw.timestamp), value=raw.value.astype(float)),
        series_col="series",
        source=str(src),
    )[cols]
    for name in ("out.csv", "out.parquet"):
        r = CliRunner().invoke(
            app, ["detect", str(src), "--series-col", "series", "-o", str(tmp_path / name)]
        )
        assert r.exit_code == 0, r.output
    got = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, na_values=[""])
    exp = pd.read_csv(
        pd.io.common.StringIO(want.to_csv(index=False)), keep_default_na=False, na_values=[""]
    )
    pd.testing.assert_frame_equal(got, exp, check_exact=True)
    assert got.loc[100, "is_anomaly"] == 1
    pq = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(
        pq, want.reset_index(drop=True), check_dtype=False, check_exact=True
    )


def test_detect_cli_restores_the_garbage_collector_and_arrow_pool_it_switches(tmp_path):
    import gc

    import pyarrow as pa

    t = pd.date_range("2024-01-01", periods=40).strftime("%Y-%m-%d")
    pd.DataFrame({"timestamp": t, "value": np.arange(40) % 7 + 100}).to_csv(
        tmp_path / "in.csv", index=False
    )
    before = pa.default_memory_pool().backend_name
    assert gc.isenabled()
    r = CliRunner().invoke(app, ["detect", str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv")])
    assert r.exit_code == 0, r.output
    assert gc.isenabled() and pa.default_memory_pool().backend_name == before
    r = CliRunner().invoke(app, ["detect", str(tmp_path / "missing.csv"), "-o", "x.csv"])
    assert r.exit_code != 0  # an error inside the command restores them too
    assert gc.isenabled() and pa.default_memory_pool().backend_name == before


BOM = b"\xef\xbb\xbf"


def test_write_frame_can_start_the_csv_with_a_byte_order_mark(tmp_path):
    df = pd.DataFrame({"渠道": ["抖音", "淘宝"], "gmv": [1.5, 2.25]})
    write_frame(df, tmp_path / "plain.csv")
    write_frame(df, tmp_path / "bom.csv", encoding="utf-8-sig")
    plain = df.to_csv(index=False).encode("utf-8")
    assert (tmp_path / "plain.csv").read_bytes() == plain
    assert (tmp_path / "bom.csv").read_bytes() == BOM + plain
    with pytest.raises(ValueError, match="UTF-8 only"):
        write_frame(df, tmp_path / "gbk.csv", encoding="gbk")


def test_every_csv_the_cli_writes_starts_with_a_bom_so_excel_reads_chinese(tmp_path):
    """Issue 18: Excel on Windows reads a CSV without a BOM in the local code page (GBK), so
    Chinese garbles; every CSV a command writes starts with EF BB BF and still reads back."""
    rng = np.random.default_rng(3)
    run = CliRunner().invoke

    def ok(args):
        r = run(app, [str(a) for a in args])
        assert r.exit_code == 0, r.output
        return r

    days = pd.date_range("2025-01-01", "2025-04-30")
    sales = pd.DataFrame(
        {
            "商品": np.repeat(["保温杯", "杯套"], len(days)),
            "日期": np.tile(days.strftime("%Y-%m-%d"), 2),
            "销量": rng.poisson(20, 2 * len(days)),
        }
    )
    sales.to_csv(tmp_path / "sales.csv", index=False)
    tx = pd.DataFrame(
        {
            "客户": [f"c{i % 40}" for i in range(300)],
            "日期": (pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 360, 300), "D"))
            .strftime("%Y-%m-%d")
            .tolist(),
            "金额": rng.gamma(2, 50, 300).round(2),
        }
    )
    tx.to_csv(tmp_path / "tx.csv", index=False)
    (tmp_path / "skus.csv").write_text(
        "sku,name,price,unit_cost,lead_time_days,moq,case_pack\n"
        "保温杯,保温杯,99,40,5,50,10\n杯套,杯套,19,5,10,,\n",
        encoding="utf-8",
    )
    (tmp_path / "inv.csv").write_text(
        "date,sku,on_hand,in_transit\n2025-04-30,保温杯,30,0\n2025-04-30,杯套,400,\n",
        encoding="utf-8",
    )
    units = pd.DataFrame(
        {
            "组别": np.where(np.arange(2000) % 2 == 0, "对照", "实验"),
            "converted": rng.random(2000) < 0.1,
        }
    )
    units.to_csv(tmp_path / "units.csv", index=False)
    tx_cols = ["--customer-col", "客户", "--date-col", "日期", "--amount-col", "金额"]
    fc_cols = ["--series-col", "商品", "--time-col", "日期", "--value-col", "销量"]
    t = tmp_path
    ok(["detect", t / "sales.csv", *fc_cols, "-o", t / "detect.csv"])
    ok(["rfm", t / "tx.csv", *tx_cols, "-o", t / "rfm.csv"])
    ok(["cohorts", t / "tx.csv", *tx_cols, "-o", t / "cohorts.csv"])
    ok(["forecast", t / "sales.csv", *fc_cols, "--horizon", "14", "--output", t / "fc.csv",
        "--backtest", t / "bt.csv"])  # fmt: skip
    ok(["replenish", t / "fc.csv", "--skus", t / "skus.csv", "--inventory", t / "inv.csv",
        "--output", t / "plan.csv"])  # fmt: skip
    ab = ok(["ab", t / "units.csv", "--variant-col", "组别", "--control", "对照",
             "--metric", "converted:proportion", "--format", "csv"])  # fmt: skip
    assert ab.stdout_bytes.startswith(BOM)
    assert pd.read_csv(io.BytesIO(ab.stdout_bytes))["variant"].tolist() == ["实验"]
    for name in ("detect", "rfm", "cohorts", "fc", "bt", "plan"):
        raw = (tmp_path / f"{name}.csv").read_bytes()
        assert raw[:3] == BOM, name
        assert raw[3:4] != BOM[:1], name  # one BOM, not two
        cols = pd.read_csv(tmp_path / f"{name}.csv").columns
        assert not cols[0].startswith("\ufeff"), name
    assert set(pd.read_csv(tmp_path / "plan.csv")["sku"]) == {"保温杯", "杯套"}


def test_formula_safe_csv_is_byte_for_byte_what_safe_frame_then_write_gives(tmp_path):
    from opsnb.sheets import safe_frame

    df = pd.DataFrame(
        {
            "=name": ['=HYPERLINK("x")', "抖音", None, "+1", "@SUM(1)", "-x,y", "\tt", "ok"],
            "mixed": [-3, "=1+1", "a", np.nan, 2.5, "\r", "b", "-"],
            "cat": pd.Categorical(["-a", "b", "=c", "b", None, "d", "-a", "e"]),
            "text": pd.array(["@x", "y", None, "z", "=", "w", "v", "u"], dtype="string"),
            "n": [-1.5, 2.0, np.nan, 4.0, -5.0, 6.25, 7.0, 8.0],
            "t": pd.date_range("2025-01-01", periods=8),
        }
    )
    write_frame(safe_frame(df), tmp_path / "want.csv", encoding="utf-8-sig")
    write_frame(df, tmp_path / "got.csv", encoding="utf-8-sig", formula_safe=True)
    assert (tmp_path / "got.csv").read_bytes() == (tmp_path / "want.csv").read_bytes()
    assert "'=HYPERLINK" in (tmp_path / "got.csv").read_text(encoding="utf-8-sig")
    # a long column of few distinct cells is guarded and quoted per distinct cell: same bytes
    big = pd.concat([df] * 200, ignore_index=True)
    for safe in (True, False):
        write_frame(df, tmp_path / "small.csv", formula_safe=safe)
        write_frame(big, tmp_path / "big.csv", formula_safe=safe)
        head, *rows = (tmp_path / "small.csv").read_text(encoding="utf-8").splitlines(True)
        assert (tmp_path / "big.csv").read_text(encoding="utf-8") == head + "".join(rows) * 200
    typed = df.drop(columns="mixed")  # Parquet needs one type per column
    write_frame(typed, tmp_path / "got.parquet", formula_safe=True)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "got.parquet"), safe_frame(typed), check_dtype=False
    )
