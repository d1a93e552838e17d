"""The Contextual Anomaly Detector (opsnb.monitoring.context) against NAB's published run.

Reference numbers: ``nab_published_per_file_scores.csv`` in the shared NAB folder (rows of
``results/contextOSE/contextOSE_<profile>_scores.csv`` at numenta/NAB commit ea702d7): the raw
score, TP and FP of CAD OSE per file at its corpus-optimised threshold per profile.

40 of the 50 files match in all three profiles (``benchmarks/nab_eval.py --cv`` prints the
count); the other 10 differ by one or two detections near the threshold. Those differences
come from ties between equally active contexts: swapping the tie-break hash (Python 3's, or
Python 2's with a 32-bit C long) makes other files match and these fail, so the published run
broke some ties in a way we have not pinned down. The files below match and are short.
"""

from __future__ import annotations

import importlib.util
import json
import os
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsnb.monitoring.context import (
    CONTEXT_CARRY_REST,
    CONTEXT_EXTREME,
    CONTEXT_MEMORY,
    CONTEXT_MIN_ROWS,
    CONTEXT_PAD,
    CONTEXT_THRESHOLD,
    CONTEXT_WARMUP,
    ContextConfig,
    ContextDetector,
    add_context,
    causal_context_scores,
    combine_context,
    context_flags,
    context_rows,
    context_scores,
    nab_rest_period,
    new_extremes,
    py2_tuple_hash,
)

ROOT = Path(__file__).resolve().parents[1]
NAB = ROOT.parent / "shared" / "data" / "nab"
needs_nab = pytest.mark.skipif(not NAB.is_dir(), reason="../shared/data/nab not present")

# short files from four categories (~1 s each)
REPRODUCED = [
    "realAdExchange/exchange-3_cpm_results.csv",
    "realTraffic/speed_7578.csv",
    "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
    "realKnownCause/rogue_agent_key_hold.csv",
]


@cache
def _nab_eval():
    spec = importlib.util.spec_from_file_location("nab_eval", ROOT / "benchmarks" / "nab_eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@cache
def _nab_scores(rel: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The file and CAD OSE's scores as NAB runs it (whole-file range, rest = prob / 5)."""
    df = pd.read_csv(NAB / "data" / rel)
    cfg = ContextConfig(rest_period=nab_rest_period(len(df)))
    return df, context_scores(df["value"].to_numpy(), config=cfg)


def test_python2_tuple_hash():
    # values of hash() in CPython 2.7 on 64-bit Linux
    assert py2_tuple_hash(()) == 3527539
    assert py2_tuple_hash((1, 2)) == 3713081631934410656
    assert py2_tuple_hash((1,)) == 3430019387558


def test_nab_rest_period():
    assert [nab_rest_period(n) for n in (1127, 1538, 4032, 22695)] == [33, 46, 120, 150]


@needs_nab
@pytest.mark.parametrize("rel", REPRODUCED)
def test_reproduces_published_cad_ose_scores(rel):
    nab = _nab_eval()
    wins = json.loads((NAB / "combined_windows.json").read_text())[rel]
    pub = pd.read_csv(NAB / "nab_published_per_file_scores.csv")
    pub = pub[(pub.Detector == "contextOSE") & (pub.File == rel)].set_index("Profile")
    df, s = _nab_scores(rel)
    got, want = [], []
    for prof in nab.PROFILES:
        p = pub.loc[prof]
        r = nab.nab_score(df["timestamp"], s >= p.Threshold, wins, prof)
        got.append((round(r["score"], 6), r["tp"], r["fp"], r["fn"], r["tn"]))
        want.append((round(float(p.Score), 6), int(p.TP), int(p.FP), int(p.FN), int(p.TN)))
    assert got == want


@needs_nab
def test_scores_stream_row_by_row():
    """context_scores is the streaming detector fed in order (no look-ahead besides the range)."""
    df, s = _nab_scores(REPRODUCED[0])
    v = df["value"].to_numpy()
    det = ContextDetector(v.min(), v.max(), ContextConfig(rest_period=nab_rest_period(len(v))))
    np.testing.assert_array_equal([det.score(x) for x in v[:400]], s[:400])
    assert ((s >= 0) & (s <= 1)).all()


def test_causal_scores_do_not_depend_on_the_future():
    x = _hourly(700).copy()
    x[400] = 160.0  # outside the warm-up range: clipped, then a rebuild with the wider range
    x[500] = np.nan
    full = causal_context_scores(x, warmup=150, memory=300)
    cut = causal_context_scores(x[:450], warmup=150, memory=300)
    np.testing.assert_array_equal(full[:450], cut)
    assert (full[:150] == 0).all() and full[500] == 0
    assert full[400] > 0.5 and full[600] > 0.5  # the jump and the spike of _hourly


def test_degenerate_and_bad_arguments():
    np.testing.assert_array_equal(context_scores([np.nan, np.nan]), [0.0, 0.0])
    np.testing.assert_array_equal(causal_context_scores(np.ones(10), warmup=20), np.zeros(10))
    flat = context_scores(np.full(300, 5.0))  # zero range: every value in bin 0
    assert flat[100:].max() == 0.0
    with pytest.raises(ValueError, match="warmup"):
        causal_context_scores(np.ones(10), warmup=0)
    with pytest.raises(ValueError, match="memory"):
        causal_context_scores(np.ones(10), memory=0)
    with pytest.raises(ValueError, match="value_bits"):
        ContextConfig(value_bits=0)


@cache
def _hourly(n: int) -> np.ndarray:
    """A clean daily pattern (CAD learns it in a few cycles, so this runs fast) with a spike."""
    x = np.tile(np.round(100 + 20 * np.sin(np.arange(24) * 2 * np.pi / 24)), n // 24 + 1)[:n]
    x[n - 100] = 300.0
    return x


@cache
def _causal(n: int) -> np.ndarray:
    return causal_context_scores(
        _hourly(n),
        warmup=CONTEXT_WARMUP,
        pad=CONTEXT_PAD,
        memory=CONTEXT_MEMORY,
        carry_rest=CONTEXT_CARRY_REST,
    )


@pytest.mark.parametrize(("memory", "carry_rest"), [(None, False), (None, True), (20, True)])
def test_causal_scores_do_not_depend_on_the_future_with_any_rebuild_rule(memory, carry_rest):
    x = _hourly(700).copy()
    x[400] = 160.0  # a rebuild
    kw = {"warmup": 150, "memory": memory, "carry_rest": carry_rest}
    full = causal_context_scores(x, **kw)
    for cut in (400, 401, 450):
        np.testing.assert_array_equal(full[:cut], causal_context_scores(x[:cut], **kw))
    changed = x.copy()
    changed[450:] = 10.0  # another future: a fall far below the range, more rebuilds
    np.testing.assert_array_equal(full[:450], causal_context_scores(changed, **kw)[:450])


def test_rebuilt_detector_keeps_the_streams_rest_period():
    # with a memory shorter than the rest period (30) the replay is a fresh detector's first
    # rows, all surprising: unless the stream's rest period is kept, they silence the rows
    # that triggered the rebuilds (the jump at 400, the spike at 600)
    x = _hourly(700).copy()
    x[400] = 160.0
    lost = causal_context_scores(x, warmup=150, memory=20)
    kept = causal_context_scores(x, warmup=150, memory=20, carry_rest=True)
    np.testing.assert_array_equal(kept[:400], lost[:400])  # no rebuild before 400
    assert lost[400] == 0.0 and lost[600] == 0.0
    assert kept[400] >= CONTEXT_THRESHOLD and kept[600] >= CONTEXT_THRESHOLD


def test_rebuild_on_all_history_remembers_older_patterns():
    # pattern a, then b (in the same range), then a value that rebuilds, then a again: a
    # rebuild that replays all history has relearnt a, one that replays the last 150 rows not
    a = np.round(100 + 20 * np.sin(np.arange(24) * 2 * np.pi / 24))
    b = np.where(np.arange(24) < 12, 85.0, 115.0)
    x = np.concatenate([np.tile(a, 15), np.tile(b, 15), [132.0], np.tile(a, 10)])
    kw = {"warmup": 150, "carry_rest": True}
    short = causal_context_scores(x, memory=150, **kw)
    whole = causal_context_scores(x, memory=None, **kw)
    np.testing.assert_array_equal(short[:720], whole[:720])  # the rebuild is at 720
    assert whole[721:].sum() < 0.6 * short[721:].sum()
    assert whole[721:].max() < short[721:].max()


def test_padded_range_is_the_running_range_widened():
    x = _hourly(700).copy()
    x[600] = 135.0  # above the warm-up range [80, 120] but inside the padded [60, 140]: no rebuild
    cfg = ContextConfig()
    det = ContextDetector(60.0, 140.0, cfg)
    want = np.array([det.score(v) for v in x])
    want[:150] = 0.0
    np.testing.assert_array_equal(causal_context_scores(x, warmup=150, pad=0.5), want)
    np.testing.assert_array_equal(
        causal_context_scores(x, warmup=150, pad=0.0), causal_context_scores(x, warmup=150)
    )
    with pytest.raises(ValueError, match="pad"):
        causal_context_scores(x, pad=-0.1)


def test_combine_context():
    p = np.array([0.5, 1e-3, np.nan, 1e-6])
    shift = np.array([False, True, False, False])
    ctx = np.array([False, False, True, False])
    got = combine_context(p, shift, ctx, p_factor=100.0, keep_shift=True)
    np.testing.assert_array_equal(got[0], [1.0, 1e-3 * 100, np.nan, 1e-6 * 100])
    np.testing.assert_array_equal(got[1], [False, True, True, False])
    got = combine_context(p, shift, ctx, p_factor=float("inf"), keep_shift=False)
    np.testing.assert_array_equal(got[0], [1.0, 1.0, np.nan, 1.0])
    np.testing.assert_array_equal(got[1], ctx)
    got = combine_context(p, shift, ctx, p_factor=1.0, keep_shift=True)  # the plain OR
    np.testing.assert_array_equal(got[0], p)
    np.testing.assert_array_equal(got[1], shift | ctx)


HOUR = pd.Timedelta(hours=1)


def test_add_context_hands_sub_daily_series_over_to_cad_after_its_warm_up():
    x = _hourly(CONTEXT_MIN_ROWS + 100)
    short = np.full_like(x, np.nan)
    short[:CONTEXT_WARMUP] = x[:CONTEXT_WARMUP]  # still in CAD's warm-up at its last value
    values = np.vstack([x, short])
    p = np.full(values.shape, 1e-4)
    shift = np.zeros(values.shape, bool)
    shift[:, 7] = True
    got_p, got_shift = add_context(p, shift, values, step=HOUR)
    alarms = (_causal(len(x)) >= CONTEXT_THRESHOLD) | new_extremes(x, CONTEXT_EXTREME)[0]
    want_p, want_shift = combine_context(p[0], shift[0], alarms)
    early = np.arange(len(x)) < CONTEXT_WARMUP  # the engine's until CAD's warm-up is over
    want_p, want_shift = np.where(early, p[0], want_p), np.where(early, shift[0], want_shift)
    np.testing.assert_array_equal(got_p, np.vstack([want_p, p[1]]))
    np.testing.assert_array_equal(got_shift, np.vstack([want_shift, shift[1]]))
    assert got_shift[0, 7] and not got_shift[0, CONTEXT_WARMUP + 7]
    assert add_context(p[1:], shift[1:], values[1:], step=HOUR) is None


def test_new_extremes_match_a_plain_loop_reading():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(5, 300)).cumsum(axis=1)
    X[rng.random(X.shape) < 0.05] = np.nan
    got = new_extremes(X, 0.02)
    for s in range(5):
        seen = []
        for t, v in enumerate(X[s]):
            want = False
            if np.isfinite(v) and seen:
                hi, lo = max(seen), min(seen)
                want = v > hi + 0.02 * (hi - lo) or v < lo - 0.02 * (hi - lo)
            assert got[s, t] == want, (s, t)
            if np.isfinite(v):
                seen.append(v)


def test_a_new_extreme_cad_cannot_see_is_an_alarm_after_the_hand_over(monkeypatch):
    # a sensor that overheats at its daily peak to 5 % of the range above anything seen: CAD
    # clips the value into its top bin, where the peak hour always is
    import opsnb.monitoring.context as context

    x = _hourly(CONTEXT_WARMUP + 400)
    at = CONTEXT_WARMUP + 200 + (6 - (CONTEXT_WARMUP + 200)) % 24  # at the day's peak hour
    x[at] = np.nanmax(x[:at]) + 0.05 * (np.nanmax(x[:at]) - np.nanmin(x[:at]))
    cad = causal_context_scores(
        x, warmup=CONTEXT_WARMUP, pad=CONTEXT_PAD, memory=CONTEXT_MEMORY, carry_rest=True
    )
    assert cad[at] < CONTEXT_THRESHOLD  # CAD alone does not see it
    assert _detect_hourly(x)["flagged"].iloc[at] == 1
    monkeypatch.setattr(context, "CONTEXT_EXTREME", np.inf)  # the rule off
    assert _detect_hourly(x)["flagged"].iloc[at] == 0


def test_context_rows_count_finite_values_and_skip_daily_series():
    x = _hourly(CONTEXT_WARMUP + 50).copy()
    x[10:20] = np.nan  # gaps do not count towards the warm-up
    rows = context_rows(x[None, :], HOUR)[0]
    assert rows.sum() == 50 - 10 and not rows[: CONTEXT_WARMUP + 10].any()
    assert not context_rows(x[None, :], pd.Timedelta(days=1)).any()
    sparse = np.full(len(x) * 24, np.nan)  # on an hourly grid, one value a day: a daily series
    sparse[::24] = x
    assert not context_rows(sparse[None, :], HOUR).any()


def test_context_flags_only_on_long_series():
    x = _hourly(CONTEXT_MIN_ROWS + 100)
    short = np.full_like(x, np.nan)
    short[: CONTEXT_MIN_ROWS - 1] = x[: CONTEXT_MIN_ROWS - 1]
    flags = context_flags(np.vstack([x, short]))
    want = _causal(CONTEXT_MIN_ROWS + 100) >= CONTEXT_THRESHOLD
    np.testing.assert_array_equal(flags, np.vstack([want, np.zeros_like(want)]))
    assert flags[0, len(x) - 100]  # the spike
    assert context_flags(short[None, :]) is None


def _detect_hourly(x: np.ndarray) -> pd.DataFrame:
    from opsnb.monitoring.anomaly import detect

    ts = pd.date_range("2024-01-01", periods=len(x), freq="h")
    return detect(pd.DataFrame({"timestamp": ts, "value": x}))


def test_detect_hands_a_sub_daily_series_over_to_cad_after_its_warm_up():
    x = _hourly(CONTEXT_MIN_ROWS + 100)
    out = _detect_hourly(x)
    engine = _detect_hourly_engine(x)
    late = np.arange(len(x)) >= CONTEXT_WARMUP
    # after the hand-over (shipped combination: CONTEXT_P_FACTOR inf, no CUSUM) the flags are
    # CAD's alarms exactly, the p-values 1; before it, the engine's own output
    ctx = (_causal(len(x)) >= CONTEXT_THRESHOLD) | new_extremes(x, CONTEXT_EXTREME)[0]
    flagged = out["flagged"].to_numpy()
    np.testing.assert_array_equal(flagged[late], ctx[late].astype(flagged.dtype))
    p = out["p_value"].to_numpy()[late]
    assert ((p == 1.0) | np.isnan(p)).all() and (p == 1.0).sum() > len(p) // 2
    pd.testing.assert_frame_equal(out[~late], engine[~late])


def _detect_hourly_engine(x: np.ndarray) -> pd.DataFrame:
    """detect's output with the contextual score left out (its hand-over made impossible)."""
    import opsnb.monitoring.anomaly as anomaly

    mp = pytest.MonkeyPatch()
    mp.setattr(anomaly, "add_context", lambda *a, **k: None)
    try:
        return _detect_hourly(x)
    finally:
        mp.undo()


@pytest.mark.parametrize("cut", [CONTEXT_WARMUP - 3, CONTEXT_WARMUP + 3, CONTEXT_MIN_ROWS - 3])
def test_detect_flags_do_not_change_when_rows_are_appended(cut):
    # across CAD's warm-up and the former 2 000-value length gate: the verdicts on the first
    # `cut` rows are the same whether the series stops there or goes on for 2 100 rows
    x = _hourly(CONTEXT_MIN_ROWS + 100)
    full, part = _detect_hourly(x), _detect_hourly(x[:cut].copy())
    cols = ["flagged", "is_anomaly", "p_value", "expected"]
    pd.testing.assert_frame_equal(full[cols].iloc[:cut], part[cols])


def test_daily_series_never_get_the_contextual_score():
    # 3 years of daily values, more than CAD's warm-up and the former 2 000-value gate would
    # need in rows of a long series: the engine's output alone
    n = 3 * 365
    x = np.round(100 + 20 * np.sin(np.arange(n) * 2 * np.pi / 7))
    x[n - 100] = 300.0
    ts = pd.date_range("2020-01-01", periods=n, freq="D")
    df = pd.DataFrame({"timestamp": ts, "value": x})
    import opsnb.monitoring.anomaly as anomaly

    joined = []
    mp = pytest.MonkeyPatch()
    mp.setattr(anomaly, "add_context", lambda *a, **k: joined.append(add_context(*a, **k)))
    try:
        out = anomaly.detect(df)
    finally:
        mp.undo()
    assert joined == [None]  # asked, and nothing handed over (no CAD run)
    assert out.loc[n - 100, "flagged"] == 1  # the engine's own alarm


def test_calendar_days_keep_the_engines_verdict_on_long_series():
    # CAD knows no calendar: on a day the events calendar names (a first 店庆 at 3x the usual
    # hour), the engine's own reading stands; every other row is CAD's, as without a calendar
    from opsnb.monitoring.anomaly import detect

    n = CONTEXT_MIN_ROWS + 100
    ts = pd.date_range("2024-01-01", periods=n, freq="h")
    df = pd.DataFrame({"timestamp": ts, "value": _hourly(n)})
    day = ts[n - 100].normalize()
    cal = pd.DataFrame({"event": ["店庆"], "start": [day], "end": [day], "kind": ["promo"]})
    plain, known = detect(df), detect(df, events=cal)
    on = np.asarray(ts.normalize() == day)
    assert plain.loc[on, "flagged"].sum() == 1  # the spike, by CAD
    assert known.loc[on, "flagged"].sum() == 0
    assert (known.loc[on, "p_value"] < 1).any()  # the engine's p-values, not CAD's 1
    np.testing.assert_array_equal(known.loc[~on, "flagged"], plain.loc[~on, "flagged"])
    np.testing.assert_array_equal(known.loc[~on, "p_value"], plain.loc[~on, "p_value"])


def test_nab_hand_over_keeps_the_engines_alarms_until_cads_warm_up_is_over():
    # benchmarks/nab_eval.py's hand-over candidate: the engine's verdict while CAD still
    # collects its range (the first `warmup` values, gaps not counted), CAD's joined one after
    nab = _nab_eval()
    y = np.array([1.0, np.nan, 2.0, 3.0, 4.0, 5.0])
    p, shift = np.full(6, 1e-6), np.array([True, False, False, False, True, False])
    joined = (np.ones(6), np.array([False, False, False, True, False, True]))
    got_p, got_shift = nab._hand_over(p, shift, joined, y, warmup=3)
    np.testing.assert_array_equal(got_p, [1e-6, 1e-6, 1e-6, 1e-6, 1.0, 1.0])
    np.testing.assert_array_equal(got_shift, [True, False, False, False, False, True])


def _pid(_row) -> int:
    return os.getpid()


def _three_series(n: int = 900) -> np.ndarray:
    """Two long series (the clean pattern, and twice it a day later with a dip) and a short one."""
    x = _hourly(n)
    y = 2 * np.roll(x, 24)
    y[n - 200] = 0.0
    short = np.full(n, np.nan)
    short[:300] = x[:300]
    return np.vstack([x, y, short])


@pytest.mark.parametrize("threads", [1, 2])  # forked, or from a fork server beside threads
def test_context_flags_are_the_same_in_a_process_pool(monkeypatch, threads):
    import threading

    from opsnb.monitoring.context import _pool_map

    monkeypatch.setattr(threading, "active_count", lambda: threads)
    values = _three_series()
    here = context_flags(values, min_rows=800, workers=1)
    pooled = context_flags(values, min_rows=800, workers=2)
    np.testing.assert_array_equal(pooled, here)
    assert here[0].any() and here[1].any() and not here[2].any()
    pids = _pool_map(_pid, [None] * 4, 2)  # the work ran in other processes, not here
    assert os.getpid() not in pids


def test_context_flags_map_one_task_per_long_series():
    values = _three_series()
    seen = []

    def mapper(func, rows):
        seen.extend(len(r) for r in rows)
        return [func(r) for r in rows]

    got = context_flags(values, min_rows=800, mapper=mapper)
    np.testing.assert_array_equal(got, context_flags(values, min_rows=800, workers=1))
    assert seen == [900, 900]
    with pytest.raises(ValueError, match="workers"):
        context_flags(values, min_rows=800, workers=0)


@needs_nab
def test_nab_default_variant_is_detects_rule():
    # benchmarks/nab_eval.py scores `default` from cached CAD scores: the flags must be those of
    # detect at its default alpha (one series: BH's q is the p-value)
    from opsnb.monitoring.anomaly import SENSITIVITY, detect

    nab = _nab_eval()
    rel = REPRODUCED[1]
    f = nab.prepare_file(NAB, rel, json.loads((NAB / "combined_windows.json").read_text())[rel])
    p, shift, g, _ = nab.shipped_rows(f)
    want = ((np.nan_to_num(p, nan=1.0) <= SENSITIVITY["medium"]) | shift)[g.row_time]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicated timestamps in some NAB files
        out = detect(f.frame)
    # rows sharing a time step with a later row (2 here, rows 334 and 926) are scored on their
    # own in detect, where nab_eval keeps the step's verdict; after the hand-over (926) the
    # engine's p-value raises no alarm there either
    one = ~g.row_dup
    np.testing.assert_array_equal(out["flagged"].to_numpy()[one] == 1, want[one])
    late = g.row_dup & (np.arange(len(one)) > CONTEXT_WARMUP)
    assert late.any() and (out.loc[late, "p_value"] == 1).all() and not out.flagged[late].any()
    assert want[CONTEXT_WARMUP:].any()
