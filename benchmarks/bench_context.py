"""Speed of the Contextual Anomaly Detector (CAD OSE, opsnb.monitoring.context), on demand.

Usage::

    .venv/bin/python benchmarks/bench_context.py [--against 05bca9e] [--series 200] [--rows 2400]

1. Values per second of :func:`~opsnb.monitoring.context.context_scores` (NAB's whole-file range)
   and :func:`~opsnb.monitoring.context.causal_context_scores` (what detect runs) on NAB files of
   five categories (``../shared/data/nab``): this checkout against the same functions running the
   :class:`~opsnb.monitoring.context.ContextDetector` of git revision ``--against`` (default: the
   last one before the speed-ups, loaded from ``git show``); the scores must be bit-identical
   (the run stops otherwise). CPU seconds of this process
   (``time.process_time``), best of ``--repeat``.
2. :func:`opsnb.monitoring.anomaly.detect` on ``--series`` simulated hourly count series of
   ``--rows`` values (daily and weekly pattern, Poisson counts; every series is long enough for
   CAD): the long series one after another in this process (``context_mapper=map``) against
   the default (a process pool on this machine's cores); wall seconds, CPU of this process and
   of its children, and the same output frame checked.

The machine's load average is printed with the timings: on a shared machine compare CPU
seconds, and read wall-clock ratios only when the load is below the number of cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
NAB = ROOT.parent / "shared" / "data" / "nab" / "data"
FILES = [
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "artificialNoAnomaly/art_noisy.csv",
    "realAdExchange/exchange-2_cpc_results.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
    "realKnownCause/ambient_temperature_system_failure.csv",
    "realTraffic/occupancy_6005.csv",
    "realTweets/Twitter_volume_IBM.csv",
]
"""NAB files of five categories, from a quiet pattern to pure noise (CAD's slowest case)."""


def load_at(rev: str):
    """opsnb.monitoring.context as it was at git revision ``rev`` (a module of its own)."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:opsnb/monitoring/context.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"context_{rev}.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def cpu_best(func, repeat: int) -> tuple[float, object]:
    """Best CPU seconds of ``repeat`` calls of ``func()`` and its result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.process_time()
        out = func()
        best = min(best, time.process_time() - t)
    return best, out


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load {a:.1f} {b:.1f} {c:.1f} on {os.cpu_count() or 1} cores"


def bench_files(against: str, repeat: int) -> pd.DataFrame:
    import opsnb.monitoring.context as new

    old, detector = load_at(against), new.ContextDetector
    rows = []
    for rel in FILES:
        v = pd.read_csv(NAB / rel)["value"].to_numpy(dtype=float)
        cfg = new.ContextConfig(rest_period=new.nab_rest_period(len(v)))
        for mode in ("nab", "causal"):
            if mode == "nab":
                run = lambda: new.context_scores(v, config=cfg)  # noqa: E731
            else:
                run = lambda: new.causal_context_scores(v, warmup=500, config=cfg)  # noqa: E731
            got = {"after": cpu_best(run, repeat)}
            new.ContextDetector = old.ContextDetector  # today's drivers, the old detector
            try:
                got["before"] = cpu_best(run, repeat)
            finally:
                new.ContextDetector = detector
            if not np.array_equal(got["before"][1], got["after"][1]):
                raise SystemExit(f"{rel} ({mode}): the scores differ from {against}'s")
            rows.append(
                {
                    "file": rel.split("/")[-1].removesuffix(".csv"),
                    "range": mode,
                    "values": len(v),
                    "cpu_before_s": round(got["before"][0], 2),
                    "cpu_after_s": round(got["after"][0], 2),
                    "values_per_s_before": round(len(v) / got["before"][0]),
                    "values_per_s_after": round(len(v) / got["after"][0]),
                    "speed_up": round(got["before"][0] / got["after"][0], 2),
                }
            )
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def hourly(series: int, rows: int, seed: int = 0) -> pd.DataFrame:
    """``series`` hourly count series of ``rows`` values: daily and weekly pattern, Poisson."""
    rng = np.random.default_rng(seed)
    h = np.arange(rows)
    day = 1 + 0.6 * np.sin(2 * np.pi * (h % 24) / 24 - 2)
    week = np.where((h // 24) % 7 >= 5, 1.3, 1.0)
    mu = rng.uniform(20, 2000, series)[:, None] * day * week
    t = pd.date_range("2024-01-01", periods=rows, freq="h")
    return pd.DataFrame(
        {
            "series": np.repeat([f"s{i:04d}" for i in range(series)], rows),
            "timestamp": np.tile(t, series),
            "value": rng.poisson(mu).ravel().astype(float),
        }
    )


def bench_detect(series: int, rows: int) -> pd.DataFrame:
    from opsnb.monitoring.anomaly import detect

    df = hourly(series, rows)
    out, res = {}, []
    for name, context_mapper in (("serial", map), ("pool", None)):
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        w0, p0 = time.perf_counter(), time.process_time()
        out[name] = detect(df, series_col="series", context_mapper=context_mapper)
        wall, cpu = time.perf_counter() - w0, time.process_time() - p0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        kids = c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
        res.append(
            {
                "run": name,
                "wall_s": round(wall, 1),
                "cpu_self_s": round(cpu, 1),
                "cpu_children_s": round(kids, 1),
                "load": load(),
            }
        )
        print(res[-1], flush=True)
    pd.testing.assert_frame_equal(out["pool"], out["serial"], check_exact=True)
    return pd.DataFrame(res)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--against", default="05bca9e", help="git revision of the 'before' code")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--rows", type=int, default=2400)
    ap.add_argument("--skip-files", action="store_true", help="only the detect part")
    args = ap.parse_args()
    print(load())
    if not args.skip_files and NAB.is_dir():
        t = bench_files(args.against, args.repeat)
        print(t.to_string(index=False))
        for mode, g in t.groupby("range"):
            ratio = g["cpu_before_s"].sum() / g["cpu_after_s"].sum()
            print(f"{mode}: all files {ratio:.2f}x less CPU ({g['values'].sum()} values)")
    d = bench_detect(args.series, args.rows)
    print(d.to_string(index=False))
    s, p = d.set_index("run").loc["serial"], d.set_index("run").loc["pool"]
    print(
        f"detect, {args.series} x {args.rows} hourly: pool {s.wall_s / p.wall_s:.2f}x faster "
        f"(wall), CPU {s.cpu_self_s + s.cpu_children_s:.1f} s serial vs "
        f"{p.cpu_self_s + p.cpu_children_s:.1f} s with the pool; {load()}"
    )


if __name__ == "__main__":
    main()
