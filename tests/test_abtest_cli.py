"""`opsnb ab` contract: JSON schema, boolean spellings, CSV output, bad input → exit 2."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from opsnb.cli import app

runner = CliRunner()
KEYS = {
    "metric",
    "variant",
    "n_control",
    "n_treatment",
    "control_mean",
    "treatment_mean",
    "abs_lift",
    "rel_lift",
    "ci_low",
    "ci_high",
    "rel_ci_low",
    "rel_ci_high",
    "p_value",
    "chance_to_win",
    "risk",
    "method",
}


@pytest.fixture()
def units_csv(tmp_path):
    rng = np.random.default_rng(2)
    n = 600
    grp = np.where(rng.random(n) < 0.5, "对照", "新详情页")
    conv = rng.random(n) < 0.2
    spell = np.array(["TRUE", "FALSE", "true", "false", "1", "0", "是", "否"])
    pick = rng.integers(0, 4, n) * 2 + (~conv).astype(int)  # a random spelling of the value
    orders = conv * rng.integers(1, 3, n)
    df = pd.DataFrame(
        {
            "user": [f"u{i}" for i in range(n)],
            "组别": grp,
            "converted": spell[pick],
            "orders": orders,
            "gmv": np.round(orders * rng.gamma(3, 40, n), 2),
            "pre_gmv": np.round(rng.gamma(1, 80, n), 2),
        }
    )
    path = tmp_path / "units.csv"
    df.to_csv(path, index=False, encoding="utf-8-sig")
    return path, df.assign(converted=conv.astype(float))


def _run(*args):
    return runner.invoke(app, ["ab", *map(str, args)])


def test_json_output_follows_the_schema_and_reads_every_boolean_spelling(units_csv):
    path, truth = units_csv
    r = _run(
        path,
        "--variant-col",
        "组别",
        "--control",
        "对照",
        "--metric",
        "converted:proportion",
        "--metric",
        "aov:mean:gmv/orders",
        "--metric",
        "gmv:mean",
        "--covariate",
        "gmv=pre_gmv",
        "--format",
        "json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out["srm"]) == {"p_value", "counts", "flagged", "threshold"}
    assert out["srm"]["counts"] == truth["组别"].value_counts().to_dict()
    assert [x["metric"] for x in out["results"]] == ["converted", "aov", "gmv"]
    assert all(KEYS <= set(x) for x in out["results"])
    conv = out["results"][0]
    c = truth[truth["组别"] == "对照"]["converted"].mean()
    t = truth[truth["组别"] == "新详情页"]["converted"].mean()
    assert conv["control_mean"] == pytest.approx(c) and conv["abs_lift"] == pytest.approx(t - c)
    assert conv["ci_low"] < conv["abs_lift"] < conv["ci_high"] and conv["variant"] == "新详情页"
    assert out["results"][2]["method"] == "cuped"


def test_bayesian_and_csv_output(units_csv):
    path, _ = units_csv
    r = _run(
        path,
        "--variant-col",
        "组别",
        "--control",
        "对照",
        "--metric",
        "converted:proportion",
        "--method",
        "bayesian",
        "--format",
        "csv",
    )
    assert r.exit_code == 0, r.output
    from io import StringIO

    df = pd.read_csv(StringIO(r.stdout))
    assert 0 < df.loc[0, "chance_to_win"] < 1 and df.loc[0, "risk"] >= 0
    assert "srm_p_value" in df.columns


def test_bad_cell_exits_2_naming_file_row_and_column(units_csv, tmp_path):
    path, _ = units_csv
    text = path.read_text(encoding="utf-8-sig").splitlines()
    cells = text[3].split(",")
    cells[2] = "maybe"
    text[3] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text), encoding="utf-8")
    r = _run(bad, "--variant-col", "组别", "--control", "对照", "--metric", "converted:proportion")
    assert r.exit_code == 2
    assert "bad.csv, row 4, column 'converted'" in r.output and "maybe" in r.output


def test_bad_cell_row_is_the_file_row_after_filtering_and_in_gbk_text(tmp_path):
    rows = (
        ["experiment 组别 converted"]
        + [f"x 对照 {i % 2}" for i in range(6)]
        + ["y 对照 1", "y 实验 0", "y 实验 maybe", "y 对照 0"]
    )
    bad = tmp_path / "units.txt"  # whitespace separated, GBK, two experiments
    bad.write_bytes("\n".join(rows).encode("gb18030"))
    r = _run(
        bad,
        "--experiment",
        "y",
        "--variant-col",
        "组别",
        "--control",
        "对照",
        "--metric",
        "converted:proportion",
    )
    assert r.exit_code == 2
    assert "units.txt, row 10, column 'converted'" in r.output and "maybe" in r.output


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["--variant-col", "group", "--control", "对照", "--metric", "converted:proportion"],
            "'group'",
        ),
        (
            ["--variant-col", "组别", "--control", "ctrl", "--metric", "converted:proportion"],
            "'ctrl'",
        ),
        (
            ["--variant-col", "组别", "--control", "对照", "--metric", "clicks:proportion"],
            "'clicks'",
        ),
    ],
)
def test_missing_columns_or_arms_exit_2(units_csv, args, needle):
    path, _ = units_csv
    r = _run(path, *args)
    assert r.exit_code == 2 and needle in r.output


def test_missing_file_exits_2(tmp_path):
    r = _run(tmp_path / "nope.csv", "--control", "a", "--metric", "x:mean")
    assert r.exit_code == 2 and "nope.csv" in r.output


def test_ab_params_files_only_use_parameters_of_notebook_04():
    from pathlib import Path

    import yaml

    from opsnb.run.params import RUNNER_KEYS, notebook_parameters

    root = Path(__file__).parents[1]
    names = {p.name for p in notebook_parameters(root / "notebooks" / "04_ab_test.ipynb")}
    files = sorted((root / "params").glob("ab-*.yaml"))
    assert files
    for f in files:
        keys = set(yaml.safe_load(f.read_text(encoding="utf-8"))) - set(RUNNER_KEYS)
        assert keys <= names, (f.name, keys - names)


def test_sequential_method_is_msprt_without_a_plan_and_group_sequential_with_one(tmp_path):
    """Before issue 20, `--method sequential` without `--planned-n` treated every daily look as
    the planned end (23 % false positives under daily peeking); now it needs a plan for the
    group-sequential bounds and is the always-valid mSPRT without one."""
    rng = np.random.default_rng(4)
    n = 4000
    df = pd.DataFrame(
        {
            "variant": rng.choice(["A", "B"], n),
            "day": (
                pd.Timestamp("2025-09-01") + pd.to_timedelta(rng.integers(0, 10, n), unit="D")
            ).astype(str),
        }
    )
    df["converted"] = (rng.random(n) < np.where(df["variant"] == "B", 0.12, 0.1)).astype(int)
    path = tmp_path / "daily.csv"
    df.to_csv(path, index=False)
    base = [path, "--control", "A", "--metric", "converted:proportion", "--time-col", "day"]
    out = {}
    for name, extra in {
        "frequentist": ["--method", "frequentist"],
        "no plan": ["--method", "sequential"],
        "10 days": ["--method", "sequential", "--planned-days", "10"],
        "20 days": ["--method", "sequential", "--planned-days", "20"],
        "planned n": ["--method", "group_sequential", "--planned-n", str(2 * n)],
        "msprt": ["--method", "msprt"],
    }.items():
        res = _run(*base, *extra)
        assert res.exit_code == 0, res.output
        out[name] = json.loads(res.output)
    seq, fixed = out["10 days"]["results"][0], out["frequentist"]["results"][0]
    assert out["no plan"]["design"]["design"] == "msprt"
    assert out["no plan"]["results"][0]["method"] == "sequential-z-test"
    assert out["no plan"]["results"][0]["p_value"] == out["msprt"]["results"][0]["p_value"]
    assert seq["method"] == "group-sequential-obf-z-test" and seq["looks"] == 10
    assert seq["info_fraction"] == 1.0 and out["10 days"]["design"]["planned_days"] == 10
    assert out["20 days"]["results"][0]["info_fraction"] == 0.5
    assert out["planned n"]["results"][0]["info_fraction"] == pytest.approx(0.5)
    # repeated interval: wider than the fixed-horizon one, around the same estimate
    assert seq["ci_high"] - seq["ci_low"] > fixed["ci_high"] - fixed["ci_low"]
    assert seq["p_value"] >= fixed["p_value"]
    assert out["20 days"]["results"][0]["p_value"] > seq["p_value"]
    res = _run(*base, "--method", "group_sequential")
    assert res.exit_code == 1 and "needs a plan" in res.output
    res = _run(
        path,
        "--control",
        "A",
        "--metric",
        "converted:proportion",
        "--method",
        "sequential",
        "--planned-days",
        "10",
    )
    assert res.exit_code == 1 and "--time-col" in res.output
    res = _run(*base, "--method", "sequential", "--spending", "linear")
    assert res.exit_code != 0 and "obf" in res.output


def test_srm_alpha_option_sets_the_threshold(tmp_path):
    df = pd.DataFrame({"variant": ["A"] * 5120 + ["B"] * 4880, "converted": [0, 1] * 5000})
    path = tmp_path / "split.csv"
    df.to_csv(path, index=False)
    args = [path, "--control", "A", "--metric", "converted:proportion"]
    default = json.loads(_run(*args).stdout)["srm"]
    from opsnb.errors import SampleRatioMismatchWarning

    with pytest.warns(SampleRatioMismatchWarning):
        strict = _run(*args, "--srm-alpha", "0.05")
    assert strict.exit_code == 0, strict.output
    srm = json.loads(strict.stdout)["srm"]
    assert 0.001 < default["p_value"] < 0.05 and not default["flagged"]
    assert srm["flagged"] and srm["threshold"] == 0.05
    assert _run(*args, "--srm-alpha", "2").exit_code == 1


def _sessions(seed=7, units=1500):
    """Sessions of users (the unit), two experiments, pre-period GMV missing for new users."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, units, 4 * units)
    arm = np.where(np.arange(units) % 3 == 0, "A", np.where(np.arange(units) % 3 == 1, "B", "C"))
    pre = np.where(rng.random(units) < 0.3, np.nan, np.round(rng.gamma(2, 30, units), 2))
    orders = rng.poisson(0.3, len(user))
    return pd.DataFrame(
        {
            "user": [f"u{u}" for u in user],
            "experiment": np.where(user % 7 == 0, "other", "detail_v2"),
            "variant": arm[user],
            "day": (
                pd.Timestamp("2025-09-01") + pd.to_timedelta(rng.integers(0, 8, len(user)), "D")
            ),
            "converted": (orders > 0).astype(int),
            "orders": orders,
            "gmv": np.round(orders * rng.gamma(3, 40, len(user)), 2),
            "pre_gmv": pre[user],
        }
    )


@pytest.mark.parametrize(
    "extra",
    [
        ["--covariate", "gmv=pre_gmv", "--cap", "0.99"],
        ["--unit-col", "user", "--covariate", "gmv=pre_gmv", "--experiment", "detail_v2"],
        ["--method", "sequential", "--time-col", "day", "--planned-days", "14"],
        [
            "--unit-col",
            "user",
            "--method",
            "sequential",
            "--time-col",
            "day",
            "--planned-n",
            "3000",
        ],
        ["--method", "bayesian", "--format", "csv"],
    ],
)
def test_parquet_readout_in_sql_equals_the_pandas_readout_of_the_same_rows(tmp_path, extra):
    """Issue 16: a Parquet file is summed by DuckDB without loading its rows; the readout is the
    one the pandas path gives for the same rows (read from CSV)."""
    df = _sessions()
    df.to_parquet(tmp_path / "s.parquet", index=False)
    df.assign(day=df["day"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "s.csv", index=False)
    args = ["--control", "A", "--metric", "converted:proportion", "--metric", "gmv:mean"]
    args += ["--metric", "aov:mean:gmv/orders", *extra]
    sql, pandas_ = _run(tmp_path / "s.parquet", *args), _run(tmp_path / "s.csv", *args)
    assert sql.exit_code == 0 and pandas_.exit_code == 0, sql.output + pandas_.output
    if "csv" in extra:
        a, b = (pd.read_csv(io.StringIO(r.stdout)) for r in (sql, pandas_))
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)
        return
    a, b = json.loads(sql.stdout), json.loads(pandas_.stdout)
    assert a["srm"] == b["srm"] and a["design"] == b["design"] and a["scope"] == b["scope"]
    assert len(a["results"]) == len(b["results"]) == 6
    for x, y in zip(a["results"], b["results"]):
        assert x.keys() == y.keys()
        for k in x:
            assert x[k] == (pytest.approx(y[k], rel=1e-9) if isinstance(y[k], float) else y[k]), k


def test_parquet_readout_names_missing_columns_arms_and_bad_cells(tmp_path):
    df = _sessions(units=300)
    path = tmp_path / "s.parquet"
    df.to_parquet(path, index=False)
    r = _run(path, "--control", "Z", "--metric", "converted:proportion")
    assert r.exit_code == 2 and "one of ['A', 'B', 'C']" in r.output
    r = _run(path, "--variant-col", "arm", "--control", "A", "--metric", "converted:proportion")
    assert r.exit_code == 2 and "'arm'" in r.output
    r = _run(path, "--control", "A", "--metric", "nope:mean")
    assert r.exit_code == 2 and "'nope'" in r.output
    df.astype({"gmv": object}).assign(
        gmv=lambda d: d["gmv"].astype(str).where(d.index != 3, "x")
    ).to_parquet(path)
    r = _run(path, "--control", "A", "--metric", "gmv:mean")
    assert r.exit_code == 2 and "s.parquet, row 4, column 'gmv'" in r.output and "'x'" in r.output


def test_xlsx_experiment_reads_like_its_csv_without_warnings(units_csv, tmp_path):
    import warnings

    from opsnb.abtest.analysis import load_units

    path, df = units_csv
    xlsx = tmp_path / "units.xlsx"
    pd.read_csv(path, dtype=str).to_excel(xlsx, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. pandas' future-engine warning reached the terminal
        got = load_units(xlsx)
    want = load_units(path)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
    args = ("--variant-col", "组别", "--control", "对照", "--metric", "gmv:mean", "--format", "csv")
    assert _run(xlsx, *args).stdout == _run(path, *args).stdout
