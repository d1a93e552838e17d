"""`opsnb ab` contract: JSON schema, boolean spellings, CSV output, bad input → exit 2."""

from __future__ import annotations

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
    assert set(out["srm"]) == {"p_value", "counts", "flagged"}
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


def test_sequential_method_is_group_sequential_over_daily_looks_and_msprt_stays_available(tmp_path):
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
    out = {}
    for method in ("frequentist", "sequential", "msprt"):
        res = _run(
            path,
            "--control",
            "A",
            "--metric",
            "converted:proportion",
            "--method",
            method,
            "--time-col",
            "day",
        )
        assert res.exit_code == 0, res.output
        out[method] = json.loads(res.output)["results"][0]
    seq, fixed = out["sequential"], out["frequentist"]
    assert seq["method"] == "group-sequential-obf-z-test" and seq["looks"] == 10
    assert out["msprt"]["method"] == "sequential-z-test"
    # repeated interval: wider than the fixed-horizon one, around the same estimate
    assert seq["ci_high"] - seq["ci_low"] > fixed["ci_high"] - fixed["ci_low"]
    assert seq["p_value"] >= fixed["p_value"]
    res = _run(
        path,
        "--control",
        "A",
        "--metric",
        "converted:proportion",
        "--method",
        "sequential",
        "--spending",
        "linear",
    )
    assert res.exit_code != 0 and "obf" in res.output
