"""Benchmark: N reports (notebook -> HTML) via `opsnb batch` vs papermill CLI + nbconvert CLI.

Baseline (what a team does without opsnb): for each parameter set, sequentially,
``papermill in.ipynb out.ipynb -k opsnb -p shop X`` then
``jupyter nbconvert --to html --no-input out.ipynb``.
Candidate: ``opsnb batch params/ --workers W --no-progress`` on the same notebook and parameters.

The notebook is a typical light report (pandas table + a matplotlib chart with Chinese labels).

How the overhead is computed (printed with its numbers):

- *cells* = Σ over the n executed notebooks of papermill's per-cell durations
  (``metadata.papermill.duration``: from a cell's start to its end as papermill sees it);
- *overhead per report* = (wall-clock time of the whole command − cells) / n: everything that
  is not a cell running, i.e. process and pool start, imports, kernel start and shutdown,
  papermill's bookkeeping, HTML export, run records, ledger and index (goal < 0.5 s, issue 16).
  With W workers the cells of W reports run at the same time while *cells* counts each of
  them, so this is the overhead as the person waiting for the batch sees it;
- *per worker* = (wall × W − cells) / n: what a report costs one worker beyond its cells, the
  start-up of the pool included (the CPU view; equal to the above for W = 1);
- *start-up* (command start → first run started, from the run records' clock times in whole
  seconds: imports, planning, pool and kernel servers) and the *steady-state* overhead
  (first run started → last finished, − cells) / n, which leaves the start-up out.

The machine may be shared: the load average at start and end is printed; compare runs made
under the same load. Goal: ratio baseline / batch ≥ 6× on 2 workers (issue 16; 4.2× with a
cold kernel per report).

Run: ``.venv/bin/python benchmarks/bench_batch.py [--n 24] [--workers 2] [--no-baseline]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

VENV_BIN = Path(sys.executable).parent

PARAMS = """lang: str = "zh"  # report language: zh or en
period: str = "2025-11"  # period
db_path: str = ""  # DuckDB store; empty = default
shop: str = "店铺"  # shop name
as_of: str = ""  # reference date; empty = today
seed: int = 1  # random seed of the fake series"""

CELLS = [
    "import numpy as np, pandas as pd\nfrom IPython.display import Markdown, display\n"
    "from opsnb import plots",
    "rng = np.random.default_rng(seed)\n"
    "df = pd.DataFrame({'日期': pd.date_range('2025-11-01', periods=30), "
    "'成交金额': rng.gamma(5, 2000, 30).round(2)})\n"
    "display(Markdown(f'## {shop} · {period}'))\ndisplay(df.describe().round(1))",
    "ax = plots.new_axes()\nax.plot(df['日期'], df['成交金额'])\nax.set_title(f'{shop} 每日成交金额')\n"
    "display(ax.figure)\nimport matplotlib.pyplot as plt\nplt.close(ax.figure)",
]


def make_project(root: Path, n: int) -> tuple[Path, list[dict]]:
    (root / "notebooks").mkdir(parents=True)
    (root / "params").mkdir()
    nb = new_notebook(
        cells=[
            new_markdown_cell("# 基准报表 · Benchmark report"),
            new_code_cell(PARAMS, metadata={"tags": ["parameters"]}),
        ]
        + [new_code_cell(c) for c in CELLS]
    )
    nb.metadata["kernelspec"] = {"name": "opsnb", "display_name": "opsnb", "language": "python"}
    path = root / "notebooks" / "bench_report.ipynb"
    nbformat.write(nb, path)
    sets = [{"shop": f"店铺{i:02d}", "seed": i, "slug": f"shop{i:02d}"} for i in range(n)]
    for p in sets:
        (root / "params" / f"{p['slug']}.yaml").write_text(
            f"shop: {p['shop']}\nseed: {p['seed']}\nslug: {p['slug']}\n", encoding="utf-8"
        )
    return path, sets


def cell_seconds(ipynb: Path) -> float:
    nb = json.loads(ipynb.read_text(encoding="utf-8"))
    return sum(
        (c.get("metadata", {}).get("papermill", {}) or {}).get("duration") or 0.0
        for c in nb["cells"]
    )


def run(cmd: list[str], env: dict) -> None:
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24, help="number of reports")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--no-baseline", action="store_true", help="time only opsnb batch (while iterating)"
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opsnb-bench-"))
    load0 = os.getloadavg()[0]
    try:
        nb_path, sets = make_project(tmp / "proj", args.n)
        env = {
            **os.environ,
            "OPSNB_HOME": str(tmp / "proj"),
            "OPSNB_DB": str(tmp / "proj" / "none.duckdb"),
        }

        # baseline: papermill CLI then nbconvert CLI, one report after the other
        base_out = tmp / "baseline"
        base_out.mkdir()
        t0 = time.perf_counter()
        for p in [] if args.no_baseline else sets:
            out = base_out / f"{p['slug']}.ipynb"
            run(
                [
                    str(VENV_BIN / "papermill"),
                    str(nb_path),
                    str(out),
                    "-k",
                    "opsnb",
                    "-p",
                    "shop",
                    p["shop"],
                    "-p",
                    "seed",
                    str(p["seed"]),
                    "--no-progress-bar",
                ],
                env,
            )
            run(
                [str(VENV_BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(out)],
                env,
            )
        base_s = time.perf_counter() - t0
        assert args.no_baseline or len(list(base_out.glob("*.html"))) == args.n
        base_cells = sum(cell_seconds(f) for f in base_out.glob("*.ipynb"))

        # candidate: opsnb batch
        env_b = {**env, "OPSNB_OUTPUTS": str(tmp / "batch")}
        wall0 = time.time()
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                str(VENV_BIN / "opsnb"),
                "batch",
                str(tmp / "proj" / "params"),
                "--workers",
                str(args.workers),
                "--no-progress",
            ],
            env=env_b,
            capture_output=True,
            text=True,
        )
        batch_s = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
            raise SystemExit("opsnb batch failed")
        out_dir = tmp / "batch" / "bench_report"  # dated: bench_report/<period>/<slug>.*
        htmls = list(out_dir.rglob("*.html"))
        assert len(htmls) == args.n, len(htmls)
        batch_cells = sum(cell_seconds(f) for f in out_dir.rglob("*.ipynb"))
        records = [json.loads(f.read_text(encoding="utf-8")) for f in out_dir.rglob("*.json")]
        kernel_s = sum(r["duration_s"] for r in records) / len(records)
        # the run records' clock times (whole seconds): start-up = command start -> first run
        starts = [dt.datetime.fromisoformat(r["started_at"]).timestamp() for r in records]
        ends = [dt.datetime.fromisoformat(r["finished_at"]).timestamp() for r in records]
        startup_s, runs_s = min(starts) - wall0, max(ends) - min(starts)

        n, w = args.n, args.workers
        print(
            f"reports: {n}, cores: {os.cpu_count()}, workers: {w}, "
            f"load average at start: {load0:.1f}, at end: {os.getloadavg()[0]:.1f}"
        )
        if not args.no_baseline:
            print(
                f"baseline papermill CLI + nbconvert CLI (sequential): {base_s:6.1f} s "
                f"({base_s / n:.2f} s/report)"
            )
        print(
            f"opsnb batch --workers {w}:                             {batch_s:6.1f} s "
            f"({batch_s / n:.2f} s/report)"
        )
        if not args.no_baseline:
            print(
                f"ratio baseline / opsnb batch: {base_s / batch_s:.2f}x  (goal >= 6x on 2 workers)"
            )
            print(
                f"cell execution per report: baseline {base_cells / n:.2f} s, batch "
                f"{batch_cells / n:.2f} s"
            )
            print(
                f"overhead per report, baseline: (wall {base_s:.1f} s - cells {base_cells:.1f} s)"
                f" / {n} = {(base_s - base_cells) / n:.2f} s"
            )
        print(
            f"overhead per report, batch: (wall {batch_s:.1f} s - cells {batch_cells:.1f} s) / {n}"
            f" = {(batch_s - batch_cells) / n:.2f} s (goal < 0.5 s); per worker: (wall x {w} - "
            f"cells) / {n} = {(batch_s * w - batch_cells) / n:.2f} s"
        )
        print(
            "  cells = sum of papermill's per-cell durations over the executed notebooks "
            "(see the module docstring)"
        )
        print(f"batch: mean papermill time per run (kernel start + cells) {kernel_s:.2f} s")
        print(
            f"batch: start-up (command start -> first run started) ~{startup_s:.0f} s, runs "
            f"(first started -> last finished) ~{runs_s:.0f} s: steady-state overhead per "
            f"report ~(runs - cells) / n = {(runs_s - batch_cells) / n:.2f} s"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
