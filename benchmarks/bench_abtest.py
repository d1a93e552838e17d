"""Benchmark: full A/B readout of 10 million units from Parquet vs a bare DuckDB query.

Readout = SRM check + 3 metrics (conversion with CUPED, GMV per unit with CUPED, AOV as a
delta-method ratio) computed by :func:`opsnb.abtest.analysis.readout_duckdb`. Baseline = one hand-
written DuckDB query computing the same per-arm sums (n, Σy, Σy², Σx, Σx², Σxy) and nothing else.
Goal: readout within 3x of the baseline. Prints both times and the ratio.

    .venv/bin/python benchmarks/bench_abtest.py [--rows 10000000] [--path /tmp/opsnb_bench_ab.parquet]

The Parquet file is generated once (about 30 s) and reused.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def make_file(path: Path, rows: int, seed: int = 1) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    chunk = 2_000_000
    writer = None
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        z = rng.gamma(0.5, 2.0, n)
        treat = rng.random(n) < 0.5
        converted = rng.random(n) < np.minimum(0.04 * z * np.where(treat, 1.05, 1.0), 0.9)
        orders = converted * (1 + rng.poisson(0.1, n))
        gmv = np.round(orders * rng.lognormal(5.3, 0.45, n), 2)
        pre_gmv = np.round(rng.poisson(1.5 * z) * 210.0, 2)
        pre_conv = rng.poisson(0.3 * z) > 0
        t = pa.table(
            {
                "variant": np.where(treat, "treatment", "control"),
                "converted": converted,
                "orders": orders.astype(np.int32),
                "gmv": gmv,
                "pre_gmv": pre_gmv,
                "pre_converted": pre_conv,
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, t.schema)
        writer.write_table(t)
    writer.close()


BARE = """
SELECT variant, count(*),
  count(converted), sum(converted::DOUBLE), sum(converted::DOUBLE * converted::DOUBLE),
  sum(pre_converted::DOUBLE), sum(pre_converted::DOUBLE * pre_converted::DOUBLE),
  sum(pre_converted::DOUBLE * converted::DOUBLE),
  count(gmv), sum(gmv), sum(gmv * gmv), sum(pre_gmv), sum(pre_gmv * pre_gmv), sum(pre_gmv * gmv),
  count(orders), sum(gmv), sum(gmv * gmv), sum(orders::DOUBLE), sum(orders::DOUBLE * orders),
  sum(orders * gmv)
FROM read_parquet('{path}') GROUP BY 1
"""


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--path", default="/tmp/opsnb_bench_ab.parquet")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = Path(args.path)
    if not path.exists():
        t0 = time.perf_counter()
        make_file(path, args.rows)
        print(f"generated {args.rows:,} rows into {path} in {time.perf_counter() - t0:.1f}s")

    import duckdb

    from opsnb.abtest.analysis import readout_duckdb

    con = duckdb.connect()
    n = con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]

    def bare():
        return con.execute(BARE.format(path=path)).fetchall()

    def full():
        return readout_duckdb(
            str(path),
            con=con,
            control="control",
            metrics=["converted:proportion", "gmv:mean", "aov:mean:gmv/orders"],
            covariates={"converted": "pre_converted", "gmv": "pre_gmv"},
        )

    bare()  # warm the file cache
    ro = full()
    t_bare = best_of(bare, args.repeat)
    t_full = best_of(full, args.repeat)
    print(
        ro.results[
            ["metric", "abs_lift", "ci_low", "ci_high", "p_value", "variance_reduction"]
        ].to_string(index=False)
    )
    print(f"SRM p = {ro.srm.p_value:.3g}")
    print(
        f"units: {n:,}; best of {args.repeat}: bare DuckDB sums {t_bare:.3f}s, "
        f"full readout {t_full:.3f}s, ratio {t_full / t_bare:.2f}x (goal <= 3x)"
    )


if __name__ == "__main__":
    main()
