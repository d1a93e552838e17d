"""`opsnb detect --scheduler`: the series scored on a Dask cluster, the output byte for byte local."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from opsnb.cli import app
from opsnb.monitoring.anomaly import detect, flag_across_series, score_partition, to_grid


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,  # threads of this process, reached over TCP as a real scheduler is
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as c:
        yield c


def _series_csv(path, *, rate: bool = False):
    """7 daily series (one named with a comma, one with a repeated day), spikes and a drop."""
    rng = np.random.default_rng(11)
    t = pd.date_range("2024-01-01", periods=150).strftime("%Y-%m-%d")
    names = ["a", "b,c", "抖音", "d", "e", "f", "g"]
    df = pd.DataFrame(
        {
            "series": np.repeat(names, len(t)),
            "timestamp": np.tile(t, len(names)),
            "value": rng.poisson(np.repeat(rng.uniform(20, 5000, len(names)), len(t))),
        }
    )
    df.loc[[100, 400, 700], "value"] *= 4
    df.loc[900, "value"] = 0
    if rate:
        df["visitors"] = df["value"] * 20 + 50
        df["buyers"] = rng.binomial(df["visitors"], 0.03)
        df.loc[[120, 520], "buyers"] *= 3
    df = pd.concat([df, df.iloc[[200]]], ignore_index=True)  # a repeated day of 'b,c'
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind", ["count", "rate"])
def test_detect_on_a_dask_cluster_writes_the_same_bytes_as_the_local_run(tmp_path, cluster, kind):
    src = _series_csv(tmp_path / "in.csv", rate=kind == "rate")
    args = ["detect", str(src), "--series-col", "series"]
    if kind == "rate":
        args += ["--kind", "rate", "--numerator-col", "buyers", "--denominator-col", "visitors"]
    local, remote = tmp_path / "local.csv", tmp_path / "dask.csv"
    r1 = CliRunner().invoke(app, [*args, "-o", str(local)])
    r2 = CliRunner().invoke(
        app, [*args, "-o", str(remote), "--scheduler", cluster.scheduler_address]
    )
    assert r1.exit_code == 0, r1.output
    assert r2.exit_code == 0, r2.output
    said = [r.output.splitlines()[-1].split("→")[0] for r in (r1, r2)]  # "N alert(s) ... of M"
    assert said[1] == said[0]
    assert remote.read_bytes() == local.read_bytes()
    got = pd.read_csv(local, keep_default_na=False)
    assert got["is_anomaly"].sum() > 0  # the spikes are found, so the comparison means something


def test_scoring_the_series_in_parts_then_flagging_across_them_is_one_detect(tmp_path):
    src = _series_csv(tmp_path / "in.csv")
    df = pd.read_csv(src).assign(timestamp=lambda d: pd.to_datetime(d["timestamp"]))
    with pytest.warns(UserWarning, match="share a series and time step"):
        whole = detect(df, series_col="series")
    with pytest.warns(UserWarning, match="share a series and time step"):
        split = detect(df, series_col="series", mapper=map, partitions=3)
    pd.testing.assert_frame_equal(split, whole, check_exact=True)
    # the two public steps by hand: score rows 0-3 and 4-6 on their own, then flag together
    with pytest.warns(UserWarning):
        g = to_grid(df, time_col="timestamp", value_cols=["value"], series_col="series")
    kw = {"kind": "count", "season": g.season, "times": g.times, "keys": None}
    from opsnb.monitoring.scoring import EngineConfig

    parts = [
        score_partition({"value": g.values["value"][rows]}, config=EngineConfig(), **kw)
        for rows in (slice(0, 4), slice(4, None))
    ]
    stacked = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    by_hand = flag_across_series(df, g, stacked, kind="count", alpha=0.01, series_col="series")
    pd.testing.assert_frame_equal(by_hand, whole, check_exact=True)


def _hourly_csv(path):
    """Two hourly series long enough for the contextual detector (a daily cycle with a spike,
    twice it a day later with a dip)."""
    from opsnb.monitoring.context import CONTEXT_MIN_ROWS

    n = CONTEXT_MIN_ROWS + 100
    x = np.tile(np.round(100 + 20 * np.sin(np.arange(24) * 2 * np.pi / 24)), n // 24 + 1)[:n]
    y = 2 * np.roll(x, 24)
    x[n - 100] = 300.0
    y[n - 200] = 0.0
    t = pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M")
    df = pd.DataFrame(
        {"series": np.repeat(["a", "b"], n), "timestamp": np.tile(t, 2), "value": [*x, *y]}
    )
    df.to_csv(path, index=False)
    return path


def test_contextual_alarms_on_a_dask_cluster_are_the_local_ones(tmp_path, cluster):
    src = _hourly_csv(tmp_path / "in.csv")
    args = ["detect", str(src), "--series-col", "series", "--alerts", "all"]
    local, remote = tmp_path / "local.csv", tmp_path / "dask.csv"
    r1 = CliRunner().invoke(app, [*args, "-o", str(local)])
    r2 = CliRunner().invoke(
        app, [*args, "-o", str(remote), "--scheduler", cluster.scheduler_address]
    )
    assert r1.exit_code == 0, r1.output
    assert r2.exit_code == 0, r2.output
    assert remote.read_bytes() == local.read_bytes()
    got = pd.read_csv(local, keep_default_na=False)
    assert got.loc[got["series"] == "a", "is_anomaly"].iloc[-100] == 1  # CAD finds the spike
    # the library call: the long series go to the cluster's workers, one task each
    from distributed import Client

    df = pd.read_csv(src, parse_dates=["timestamp"])
    with Client(cluster.scheduler_address) as client:
        tasks = []

        def mapper(func, rows):
            tasks.append(len(rows))
            return client.gather(client.map(func, rows, pure=False))

        remote_df = detect(df, series_col="series", context_mapper=mapper)
    pd.testing.assert_frame_equal(remote_df, detect(df, series_col="series"), check_exact=True)
    assert tasks == [2]
