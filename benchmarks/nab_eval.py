"""Evaluate opsnb's detector on NAB-format files with NAB's scoring rule, and on the demo shop.

Usage::

    .venv/bin/python benchmarks/nab_eval.py [--nab-dir ../shared/data/nab] [--no-demo]

What it does
------------
1. Checks the scorer: NAB's published numenta output for exchange-2_cpc at its published
   threshold must score 0.531958 (standard profile; README of the NAB folder).
2. Runs :func:`opsnb.monitoring.anomaly.detect` causally (one default configuration, no per-file tuning;
   ``sensitivity="medium"``) on each NAB file; a row is a detection when ``is_anomaly == 1``.
3. Two readings of our output, both reported: ``opsnb`` = every flagged row (``flagged``) is a
   detection; ``opsnb_onsets`` = the engine's default alerts (``is_anomaly``): the first flagged
   row of an incident, i.e. after one quiet seasonal cycle (24 rows hourly, 288 rows 5-minute),
   as an on-call system pages (:func:`opsnb.monitoring.anomaly.alert_onsets`).
4. Scores with NAB's rule (windows, scaled sigmoid, probationary period, standard profile) and
   prints our raw per-file scores next to the published Twitter ADVec, windowed Gaussian and
   Numenta HTM scores (``nab_published_per_file_scores.csv``), plus the normalised score over the
   three files (100·(raw − null)/(perfect − null)).
5. Precision/recall of :func:`opsnb.monitoring.monitor` on the demo shop's injected anomalies.

NAB rule (nab/sweeper.py): rows before ``min(floor(0.15·N), 750)`` are not scored; in a window of
``width`` rows with right edge row ``e``, a detection at row ``i`` is worth
``σ(−(e − i + 1)/width)/σ(−1)·tp``; each window counts its best detection, or ``−fn`` if none;
a detection outside windows costs ``fp·v`` with ``v = −1`` before the first window and
``σ(|e_prev − i|/(width_prev − 1))`` after one; ``σ(y) = 2/(1 + e^{5y}) − 1`` (``−1`` for y > 3).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROFILES = {
    "standard": {"tp": 1.0, "fn": 1.0, "fp": 0.11},
    "reward_low_FP_rate": {"tp": 1.0, "fn": 1.0, "fp": 0.22},
    "reward_low_FN_rate": {"tp": 1.0, "fn": 2.0, "fp": 0.11},
}
FILES = [
    "realAdExchange/exchange-2_cpc_results.csv",
    "realAdExchange/exchange-3_cpm_results.csv",
    "realTweets/Twitter_volume_AMZN.csv",
]
PUBLISHED = {
    "twitterADVec": "Twitter ADVec",
    "windowedGaussian": "Windowed Gaussian",
    "numenta": "Numenta HTM",
}


def default_nab_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"


def scaled_sigmoid(y: float) -> float:
    """NAB's scaled sigmoid: 2/(1+exp(5y)) − 1, and −1 for y > 3."""
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def nab_score(timestamps, detections, windows, profile: str = "standard") -> dict:
    """NAB raw score of one file.

    Parameters
    ----------
    timestamps : sequence of datetimes (file order)
    detections : bool per row (anomaly score ≥ threshold)
    windows : list of (start, end) timestamps (inclusive)
    profile : "standard" | "reward_low_FP_rate" | "reward_low_FN_rate"

    Returns dict with score, tp, fp, fn, tn (row counts after the probationary period, as NAB
    writes them) and windows.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {tuple(PROFILES)}, got {profile!r}")
    w = PROFILES[profile]
    ts = pd.DatetimeIndex(pd.to_datetime(timestamps))
    det = np.asarray(detections, dtype=bool)
    n = len(ts)
    prob = min(int(math.floor(0.15 * n)), 750)
    lims = [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in windows]
    # per-window rows
    win_id = np.full(n, -1)
    bounds = []
    for k, (a, b) in enumerate(lims):
        idx = np.flatnonzero((ts >= a) & (ts <= b))
        win_id[idx] = k
        bounds.append((int(idx[0]), int(idx[-1]), len(idx)))
    best = [None] * len(lims)
    fp_total = 0.0
    tp_rows = fp_rows = fn_rows = tn_rows = 0
    prev_right = prev_width = None
    cur = 0
    for i in range(n):
        while cur < len(bounds) and i > bounds[cur][1]:
            prev_right, prev_width = bounds[cur][1], bounds[cur][2]
            cur += 1
        k = win_id[i]
        if k >= 0:
            right, width = bounds[k][1], bounds[k][2]
            val = scaled_sigmoid(-(right - i + 1) / width) * w["tp"] / scaled_sigmoid(-1.0)
        elif prev_right is None:
            val = -1.0 * w["fp"]
        else:
            val = scaled_sigmoid(abs(prev_right - i) / (prev_width - 1)) * w["fp"]
        if i < prob:
            continue
        if det[i]:
            if k >= 0:
                tp_rows += 1
                best[k] = val if best[k] is None else max(best[k], val)
            else:
                fp_rows += 1
                fp_total += val
        else:
            if k >= 0:
                fn_rows += 1
            else:
                tn_rows += 1
    tp_part = sum(b for b in best if b is not None)
    fn_part = -w["fn"] * sum(1 for b in best if b is None)
    return {
        "score": tp_part + fn_part + fp_total,
        "tp": tp_rows,
        "fp": fp_rows,
        "fn": fn_rows,
        "tn": tn_rows,
        "windows": len(lims),
    }


def alert_onsets(flags, season: int) -> np.ndarray:
    """Keep the first flagged row of each episode (no flag in the previous ``season`` rows)."""
    from opsnb.monitoring.anomaly import alert_onsets as onsets

    return onsets(np.asarray(flags, dtype=bool), season)


def check_published_numenta(nab_dir: Path) -> float:
    out = pd.read_csv(
        nab_dir / "published_detector_output" / "numenta" / "numenta_exchange-2_cpc_results.csv"
    )
    wins = json.loads((nab_dir / "combined_windows.json").read_text())[FILES[0]]
    r = nab_score(out["timestamp"], out["anomaly_score"] >= 0.542187690735, wins, "standard")
    return r["score"]


def run_ours(nab_dir: Path, rel: str) -> pd.DataFrame:
    from opsnb.monitoring.anomaly import detect

    df = pd.read_csv(nab_dir / "data" / rel, parse_dates=["timestamp"])
    return detect(df, time_col="timestamp", value_col="value")


def nab_table(nab_dir: Path, profile: str = "standard") -> pd.DataFrame:
    wins = json.loads((nab_dir / "combined_windows.json").read_text())
    pub = pd.read_csv(nab_dir / "nab_published_per_file_scores.csv")
    pub = pub[pub.Profile == profile]
    rows = []
    for rel in FILES:
        t0 = time.perf_counter()
        out = run_ours(nab_dir, rel)
        r = nab_score(out["timestamp"], out["flagged"] == 1, wins[rel], profile)
        r2 = nab_score(out["timestamp"], out["is_anomaly"] == 1, wins[rel], profile)
        row = {
            "file": rel,
            "rows": len(out),
            "windows": r["windows"],
            "opsnb": r["score"],
            "opsnb_onsets": r2["score"],
            "flagged_rows": int(out["flagged"].sum()),
            "alerts": int(out["is_anomaly"].sum()),
            "seconds": time.perf_counter() - t0,
        }
        for key, name in PUBLISHED.items():
            s = pub[(pub.Detector == key) & (pub.File == rel)]
            row[name] = float(s.Score.iloc[0]) if len(s) else float("nan")
        rows.append(row)
    t = pd.DataFrame(rows)
    n_win = t.windows.sum()
    null, perfect = -PROFILES[profile]["fn"] * n_win, PROFILES[profile]["tp"] * n_win
    total = {"file": "normalised (3 files)", "rows": t.rows.sum(), "windows": n_win}
    for c in ["opsnb", "opsnb_onsets", *PUBLISHED.values()]:
        total[c] = 100 * (t[c].sum() - null) / (perfect - null)
    return pd.concat([t, pd.DataFrame([total])], ignore_index=True)


def demo_precision_recall() -> dict:
    from opsnb import demo, monitoring

    shop = demo.generate()
    return monitoring.evaluate_against_truth(shop.daily_metrics, shop.anomalies)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nab-dir", type=Path, default=default_nab_dir())
    ap.add_argument("--profile", default="standard", choices=tuple(PROFILES))
    ap.add_argument("--no-demo", action="store_true")
    a = ap.parse_args(argv)
    if not a.nab_dir.is_dir():
        print(f"NAB folder not found: {a.nab_dir}", file=sys.stderr)
        return 2
    chk = check_published_numenta(a.nab_dir)
    print(f"scorer check: published numenta exchange-2_cpc standard = {chk:.6f} (NAB: 0.531958)")
    pd.set_option("display.width", 200)
    print(nab_table(a.nab_dir, a.profile).round(3).to_string(index=False))
    if not a.no_demo:
        print("demo shop ground truth:", demo_precision_recall())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
