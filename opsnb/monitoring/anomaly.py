"""Vectorised, causal anomaly engine for many series at once (counts and rates).

Series live in a long table (series, timestamp, value[, numerator, denominator]) and are put on a
regular (series × time) grid; every statistic is an array operation over that matrix (rolling
medians sort the strictly-past windows in float32, rolling means are cumulative-sum
differences), so 10 000 series × 365 days take about 1.5 s (``benchmarks/bench_monitoring.py``).

Causal by construction: every baseline, scale and dispersion used at time ``t`` is computed from
values strictly before ``t``; the value at ``t`` is then scored against it. Appending later data
never changes an earlier decision, so scoring the whole history at once *is* the replay mode.

The engine is three modules: this one (the regular time grid, promotion-event keys and
:func:`detect`, long table in, long table out); :mod:`opsnb.monitoring.scoring` (the count,
rate and ratio scorers under one :class:`~opsnb.monitoring.scoring.EngineConfig`, described
there); :mod:`opsnb.monitoring.kernels` (causal rolling statistics, p-values, BH, CUSUM).

False-discovery control: Benjamini–Hochberg across all series at each timestamp
(:func:`opsnb.monitoring.kernels.bh_adjust`). ``score`` = ``Φ⁻¹(1 − p/2)`` (≥ 0, larger is more anomalous).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from opsnb.errors import DataContractError, DataProblem  # noqa: F401 (re-exported for callers)
from opsnb.monitoring.context import add_context, context_rows
from opsnb.monitoring.kernels import (
    bh_adjust,
    binom_two_sided,
    past_sum,
    score_from_p,
    student_p,
)
from opsnb.monitoring.scoring import EngineConfig, score_counts, score_rates

__all__ = [
    "Grid",
    "infer_step",
    "infer_season",
    "to_grid",
    "event_keys",
    "SENSITIVITY",
    "detect",
    "score_partition",
    "flag_across_series",
    "DETECT_COLUMNS",
    "alert_onsets",
    "ESCALATE",
    "quiet_steps",
]

SENSITIVITY = {"low": 0.001, "medium": 0.01, "high": 0.05}
"""Sensitivity name → false-discovery rate ``alpha`` used by Benjamini–Hochberg."""


@dataclass
class Grid:
    """Series on a regular time grid.

    ``series``: series labels (length S); ``times``: grid timestamps (length T); ``step``: grid
    step; ``season``: seasonal cycle in steps; ``values``: name → (S × T) float arrays (NaN where
    no row); ``row_series``/``row_time``: grid position of every input row (input order).
    """

    series: pd.Index
    times: pd.DatetimeIndex
    step: pd.Timedelta
    season: int
    values: dict[str, np.ndarray] = field(default_factory=dict)
    row_series: np.ndarray | None = None
    row_time: np.ndarray | None = None
    row_dup: np.ndarray | None = None


# ------------------------------------------------------------------------------------------
# time grid
# ------------------------------------------------------------------------------------------


def infer_step(timestamps) -> pd.Timedelta:
    """The grid step: the most common positive gap between consecutive distinct timestamps."""
    t = pd.DatetimeIndex(pd.unique(pd.DatetimeIndex(timestamps))).sort_values()
    if len(t) < 2:
        return pd.Timedelta(days=1)
    d = np.diff(t.asi8)
    d = d[d > 0]
    vals, counts = np.unique(d, return_counts=True)
    return pd.Timedelta(int(vals[np.argmax(counts)]), unit=str(t.unit))


def infer_season(step: pd.Timedelta) -> int:
    """Seasonal cycle length in steps: daily → 7 (weekly), sub-daily → one day, weekly → 52, monthly → 12."""
    sec = step.total_seconds()
    day = 86400.0
    if sec <= 0:
        return 1
    if sec < day:
        n = day / sec
        return int(round(n)) if abs(n - round(n)) < 1e-6 and n >= 2 else 1
    if abs(sec - day) < 1:
        return 7
    if abs(sec - 7 * day) < 1:
        return 52
    if 27 * day <= sec <= 32 * day:
        return 12
    return 1


def to_grid(
    df: pd.DataFrame,
    *,
    time_col: str,
    value_cols: list[str] | tuple[str, ...],
    series_col: str | None = None,
    season: int | None = None,
    source: str = "<frame>",
    first_row: int = 2,
) -> Grid:
    """Place the rows of a long table on a regular (series × time) grid.

    Timestamps are snapped to ``t0 + k·step`` (``step`` from :func:`infer_step`); missing steps
    are NaN (gaps). When several rows of a series fall in one step (duplicated timestamps, as
    in some NAB files) the last one goes on the grid, the others are marked in ``row_dup`` and
    scored against the same baseline; a :class:`DataQualityWarning` says so.
    """
    t = pd.DatetimeIndex(df[time_col])
    step = infer_step(t)
    season_steps = infer_season(step) if season is None else int(season)
    t0 = t.min()
    k = np.rint((t - t0) / step).astype(np.int64)
    n_steps = int(k.max()) + 1 if len(k) else 0
    if n_steps > 50 * max(len(df), 1) + 1000:
        raise DataContractError(
            f"{source}: timestamps too irregular for a grid of step {step}",
            [DataProblem(source, None, time_col, None, "roughly regular timestamps")],
        )
    if series_col is None:
        codes = np.zeros(len(df), dtype=np.int64)
        series = pd.Index(["value"])
    else:
        codes, series = pd.factorize(df[series_col], sort=True)
        series = pd.Index(series)
    flat = codes * n_steps + k
    if len(flat) < 2 or bool(np.all(flat[1:] > flat[:-1])):  # rows in grid order: no repeats
        dup = np.zeros(len(flat), dtype=bool)
    else:
        dup = pd.Series(flat).duplicated(keep="last").to_numpy()
    if dup.any():
        import warnings

        from opsnb.errors import DataQualityWarning

        rows = ", ".join(str(int(r) + first_row) for r in np.flatnonzero(dup)[:5])
        warnings.warn(
            f"{source}: {int(dup.sum())} row(s) share a series and time step ({step}) "
            f"with a later row (rows {rows}...); each is scored against that step's "
            "baseline, the last one feeds the baseline",
            DataQualityWarning,
            stacklevel=3,
        )
    g = Grid(
        series=series,
        times=pd.DatetimeIndex(t0 + step * np.arange(n_steps)),
        step=step,
        season=season_steps,
        row_series=codes,
        row_time=k,
        row_dup=dup,
    )
    keep = ~dup
    for c in value_cols:
        m = np.full((len(series), n_steps), np.nan)
        v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        m[codes[keep], k[keep]] = v[keep]
        g.values[c] = m
    return g


def event_keys(times, calendar: pd.DataFrame | None, *, after_days: int = 0) -> np.ndarray:
    """Key ``"<event>:<days from peak>"`` (plus ``@HH:MM`` for sub-daily grids) per timestamp, "" if none.

    ``calendar`` has columns event, start, end and optionally peak (default: end) and kind; the
    ``after_days`` days after a promotion's end (kind "promo" or no kind column) belong to it too
    (the post-promotion hangover: demand pulled forward, returns).
    """
    times = pd.DatetimeIndex(times)
    keys = np.full(len(times), "", dtype=object)
    if calendar is None or len(calendar) == 0:
        return keys
    days = times.normalize()
    sub_daily = len(times) > 1 and (times != days).any()
    for row in calendar.itertuples(index=False):
        start, end = pd.Timestamp(row.start), pd.Timestamp(row.end)
        if getattr(row, "kind", "promo") == "promo":
            end = end + pd.Timedelta(days=after_days)
        peak = pd.Timestamp(
            getattr(row, "peak", None) if pd.notna(getattr(row, "peak", None)) else end
        )
        on = (days >= start) & (days <= end) & (keys == "")
        if not on.any():
            continue
        off = ((days[on] - peak) / pd.Timedelta(days=1)).astype(int)
        lab = [f"{row.event}:{o}" for o in off]
        if sub_daily:
            lab = [f"{a}@{ts:%H:%M}" for a, ts in zip(lab, times[on])]
        keys[np.asarray(on)] = lab
    return keys


# ------------------------------------------------------------------------------------------
# long table in, long table out
# ------------------------------------------------------------------------------------------

DETECT_COLUMNS = [
    "series",
    "timestamp",
    "value",
    "expected",
    "lower",
    "upper",
    "score",
    "p_value",
    "q_value",
    "is_anomaly",
    "flagged",
    "direction",
    "severity",
]


def quiet_steps(step: pd.Timedelta, season: int) -> int:
    """Steps without a flag after which a new flag is a new incident: a quarter of a seasonal
    cycle, at most a quarter of a week (daily → 2, hourly → 6, 5-minute → 72, weekly → 1).

    Leave-one-category-out cross-validation on NAB (``benchmarks/nab_eval.py --cv``, choices
    0.25/0.5/1/2 cycles) picks 0.25 cycle for the shipped default in every fold, and the tuning
    half of ``benchmarks/daily_events.py`` (alerts; quiet 1/2/3/4 days with :data:`ESCALATE`)
    2 days: hits of 5 3.48 / 3.48 / 3.45 / 3.42, false days 0.72 / 0.70 / 0.68 / 0.68, series
    with 5 of 5 and at most one false day 0.18 / 0.18 / 0.17 / 0.15 (it was half a cycle, 4
    days). A new incident after a quiet gap of that length is a new alert: New Year (1 Jan)
    after a Christmas flag (25-26 Dec) pages again, and so does Easter Monday after Good Friday."""
    week = int(round(pd.Timedelta(days=7) / step)) if step > pd.Timedelta(0) else 1
    return max(1, -(-min(int(season), week) // 4))


ESCALATE = 1.5
"""On a daily (or coarser) grid, a flagged day inside an incident is alerted again when it is at
least this many times as far from expected (``|z|``) as every earlier day of the incident, or
when it goes the other way (:func:`alert_onsets`' ``strength``). Chosen on the tuning half of
``benchmarks/daily_events.py`` (even seeds; alerts, hits of 5 / series with 5 of 5 and at most
one false day; with the quiet gap of :func:`quiet_steps`, 2 days): 1.25 and 1.5 3.48 / 0.18,
2 and 3 3.45 / 0.18, no escalation 3.42 / 0.17, false days 0.70 for all; the tie goes to the
larger factor (fewer repeated alerts). With the former 4-day gap: 1.25 and 1.5 3.42, 2 3.38,
none 3.33."""


def alert_onsets(
    flags: np.ndarray, quiet: int, strength: np.ndarray | None = None, escalate: float | None = None
) -> np.ndarray:
    """Alert onsets of an (S × T) flag matrix: flagged points with no flag in the previous
    ``quiet`` steps of the same series (later flags of the same incident are not re-alerted).

    ``strength`` (same shape, e.g. the engine's z; NaN counts as 0): a later flag of an
    incident is alerted too when ``|strength|`` is at least ``escalate`` times the largest
    ``|strength|`` of the incident's earlier flags (it got much worse: Christmas Day after a
    flagged Christmas Eve, the storm's day after its eve) or when its sign differs from the
    incident's last alert (a drop turned into a spike); ``escalate`` defaults to
    :data:`ESCALATE`. An incident is a run of flags with
    gaps of at most ``quiet`` steps. Causal: depends on flags (and strengths) up to t only."""
    F = np.asarray(flags, dtype=bool)
    if F.ndim == 1:
        z = None if strength is None else np.asarray(strength, dtype=float)[None, :]
        return alert_onsets(F[None, :], quiet, z, escalate)[0]
    before = past_sum(F.astype(float), int(quiet), 0)
    onset = F & ~(before > 0)
    if strength is None or not F.any():
        return onset
    escalate = ESCALATE if escalate is None else float(escalate)
    z = np.broadcast_to(np.asarray(strength, dtype=float), F.shape)
    z = np.nan_to_num(z, nan=0.0, posinf=1e300, neginf=-1e300)  # escalate × peak stays finite
    out = onset.copy()
    S, T = F.shape
    peak = np.zeros(S)  # largest |z| of the current incident so far
    sign = np.zeros(S)  # sign of the incident's last alert
    for t in np.flatnonzero(F.any(axis=0)):
        f, a, zt = F[:, t], np.abs(z[:, t]), z[:, t]
        new = onset[:, t]
        worse = f & ~new & ((a >= escalate * peak) & (a > 0) | (np.sign(zt) * sign < 0))
        out[:, t] |= worse
        alert = new | worse
        peak = np.where(new, a, np.where(f, np.fmax(peak, a), peak))
        sign = np.where(alert, np.sign(zt), sign)
    return out


_SEVERITY_LABELS = np.array(["", "low", "medium", "high"], dtype=object)
_DIRECTION_LABELS = np.array(["", "up", "down"], dtype=object)


def _relative_severity(value, expected, is_anom) -> np.ndarray:
    """Codes into :data:`_SEVERITY_LABELS`: low / medium / high by relative deviation from
    expected (≥ 20 % medium, ≥ 50 % high), "" where not ``is_anom``."""
    out = np.zeros(np.shape(is_anom), dtype=np.int8)
    on = np.nonzero(is_anom)  # a few flagged rows in many: only they are measured
    v, e = np.asarray(value)[on], np.asarray(expected)[on]
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(v - e) / np.fmax(np.abs(e), 1e-12)
    out[on] = np.where(rel >= 0.5, 3, np.where(rel >= 0.2, 2, 1))
    return out


def _text_column(codes: np.ndarray, labels):
    """``np.asarray(labels)[codes]`` as the column pandas makes of it, without a Python string
    per row when the labels are text and pandas stores text in Arrow (its default since 3.0):
    the rows are decoded from the codes by Arrow."""
    values = np.asarray(labels)
    inferred = pd.Series(np.array(["a"], dtype=object)).dtype  # what pandas makes of text
    if not (
        values.dtype == object
        and isinstance(inferred, pd.StringDtype)
        and inferred.storage == "pyarrow"
        and all(isinstance(x, str) for x in values)
    ):
        return values[codes]
    import pyarrow as pa

    arr = pa.DictionaryArray.from_arrays(  # large_string, as pandas stores text: no cast after
        pa.array(np.asarray(codes, dtype=np.int32)), pa.array(values, pa.large_string())
    ).dictionary_decode()
    return pd.Series(pd.arrays.ArrowStringArray(arr), copy=False).astype("str").array


def score_partition(
    values: dict[str, np.ndarray],
    *,
    kind: str,
    season: int,
    times,
    keys: np.ndarray | None,
    config: EngineConfig,
) -> dict[str, np.ndarray]:
    """The per-series part of :func:`detect` on some rows of the (series × time) grid.

    ``values``: ``{"value": M}`` for counts, ``{"numerator": X, "denominator": N}`` for rates
    (rows = series, on the grid of the whole input: same ``season``, ``times`` and event
    ``keys``). Every statistic here reads one series only, so scoring the rows in parts and
    stacking the parts (``np.concatenate(..., axis=0)``) gives the arrays of one call on all
    rows; the step across series is :func:`flag_across_series`. Returns the scorer's arrays
    (:func:`~opsnb.monitoring.scoring.score_counts` / :func:`~opsnb.monitoring.scoring.score_rates`).
    """
    if kind == "count":
        return score_counts(values["value"], season, times=times, keys=keys, config=config)
    if kind == "rate":
        return score_rates(
            values["numerator"],
            values["denominator"],
            season,
            times=times,
            keys=keys,
            config=config,
        )
    raise ValueError(f"kind must be one of ('count', 'rate'), got {kind!r}")


_DUPLICATES_ONLY = frozenset({"center", "scale", "log", "nu", "c", "rho", "extra"})
"""Scorer arrays that :func:`flag_across_series` reads only to rescore duplicated rows."""


def _partitions(n_rows: int, parts: int) -> list[slice]:
    parts = max(1, min(int(parts), n_rows or 1))
    edges = np.linspace(0, n_rows, parts + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a] or [slice(0, 0)]


def detect(
    df: pd.DataFrame,
    *,
    time_col: str = "timestamp",
    value_col: str | None = "value",
    series_col: str | None = None,
    kind: str = "count",
    numerator_col: str | None = None,
    denominator_col: str | None = None,
    events: pd.DataFrame | None = None,
    alpha: float | None = None,
    sensitivity: str = "medium",
    season: int | None = None,
    config: EngineConfig | None = None,
    source: str = "<frame>",
    alerts: str = "onset",
    mapper=None,
    partitions: int = 1,
    context_mapper=None,
) -> pd.DataFrame:
    """Score every row of a long table; one output row per input row, in input order.

    Columns: series, timestamp, value, expected, lower, upper, score (≥ 0), p_value, q_value
    (Benjamini–Hochberg across series at each timestamp), is_anomaly (0/1, the alert: see
    ``alerts``), flagged (0/1: q ≤ alpha or a CUSUM level-shift alarm on this row, or on count
    series sampled more often than daily, once the contextual detector's warm-up is over (its
    first :data:`~opsnb.monitoring.context.CONTEXT_WARMUP` values), the contextual alarm or a
    new extreme instead, :func:`~opsnb.monitoring.context.add_context`: there p_value is 1 and the
    engine's own alarms count only on days the ``events`` calendar names), direction
    (up/down, "" when not flagged), severity (low/medium/high by relative deviation: ≥ 20 %
    medium, ≥ 50 % high; "" when not flagged).

    ``alerts``: "onset" (default, as an on-call system pages): is_anomaly marks the first
    flagged row of an incident — a flagged row with no flag in the same series during the
    previous :func:`quiet_steps` steps (a quarter of a seasonal cycle, at most a quarter of a
    week: 2 days on daily data) — and, on daily (or coarser) data, a later day of the incident
    that is much worse than its days so far or goes the other way (:data:`ESCALATE`: Christmas
    Day after a flagged Christmas Eve); the rest of the incident stays visible in ``flagged``.
    "all": is_anomaly = flagged.
    For ``kind="rate"`` value is numerator/denominator and expected the baseline rate.

    ``mapper``/``partitions``: the series are scored in ``partitions`` groups of rows by
    ``mapper(func, parts) -> results`` (e.g. a Dask client's map and gather; default: the
    built-in ``map``) with :func:`score_partition`; the step across series (BH, flags, alert
    onsets) then runs here on the stacked scores (:func:`flag_across_series`), so the result is
    the same however the series are split. ``context_mapper``: the same for the contextual
    detector's series (one task per long series, :func:`~opsnb.monitoring.context.context_flags`;
    default: a process pool on this machine's cores when there are several, as the engine's
    thread ``mapper`` would not run Python loops in parallel).

    Examples
    --------
    >>> out = detect(frame, time_col="date", value_col="visitors", series_col="channel")  # doctest: +SKIP
    """
    if kind not in ("count", "rate"):
        raise ValueError(f"kind must be one of ('count', 'rate'), got {kind!r}")
    if alerts not in ("onset", "all"):
        raise ValueError(f"alerts must be one of ('onset', 'all'), got {alerts!r}")
    if sensitivity not in SENSITIVITY:
        raise ValueError(f"sensitivity must be one of {tuple(SENSITIVITY)}, got {sensitivity!r}")
    a = SENSITIVITY[sensitivity] if alpha is None else float(alpha)
    if not 0 < a < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    cfg = EngineConfig(**{**(config.__dict__ if config else {}), "alpha": a})
    cols = [numerator_col, denominator_col] if kind == "rate" else [value_col]
    if any(c is None for c in cols):
        raise ValueError(
            "kind='rate' needs numerator_col and denominator_col"
            if kind == "rate"
            else "kind='count' needs value_col"
        )
    g = to_grid(
        df, time_col=time_col, value_cols=cols, series_col=series_col, season=season, source=source
    )
    keys = event_keys(g.times, events) if events is not None else None
    names = ["value"] if kind == "count" else ["numerator", "denominator"]
    score = partial(
        score_partition, kind=kind, season=g.season, times=g.times, keys=keys, config=cfg
    )
    whole = {n: g.values[c] for n, c in zip(names, cols)}
    if mapper is None and partitions <= 1:
        res = score(whole)
    else:
        parts = [
            {n: m[rows] for n, m in whole.items()}
            for rows in _partitions(len(g.series), partitions)
        ]
        done = list((mapper or map)(score, parts))
        # what flag_across_series reads: the scorer's state behind each baseline only when
        # duplicated rows are rescored (4-5 arrays of S x T fewer to stack and fault in)
        dup = bool(g.row_dup.any())
        kept = [k for k in done[0] if dup or k not in _DUPLICATES_ONLY]
        res = {k: np.concatenate([r.pop(k) for r in done], axis=0) for k in kept}
        del done, parts
    # -- contextual score (issue 15, opsnb.monitoring.context): sub-daily count series ------
    # a causal CAD score >= CONTEXT_THRESHOLD flags the row like a level-shift alarm, joined
    # with the engine's alarms by add_context (shipped: CAD's alarms only, p-values set to 1)
    # on the rows after CAD's warm-up (the hand-over, context_rows); daily series and the
    # warm-up rows keep the engine's alarms. Causal: appending rows changes no earlier flag.
    # On the calendar's days the engine's own verdict stands: CAD knows no calendar, and a
    # promotion or holiday the calendar names is compared with its past there (issue 15).
    if kind == "count":
        handed = context_rows(whole["value"], g.step)
        joined = add_context(
            res["p_value"],
            res["level_shift"],
            whole["value"],
            step=g.step,
            mapper=context_mapper,
            rows=handed,
        )
        if joined is not None:
            p, shift = joined
            if keys is not None and (keys != "").any():
                cal = (keys != "")[None, :]
                p = np.where(cal, res["p_value"], p)
                shift = np.where(cal, res["level_shift"], shift)
                handed = handed & ~cal
            res = {**res, "p_value": p, "level_shift": shift, "context": handed}
    # -----------------------------------------------------------------------------------------
    return flag_across_series(
        df,
        g,
        res,
        kind=kind,
        alpha=a,
        alerts=alerts,
        time_col=time_col,
        value_col=value_col,
        series_col=series_col,
        numerator_col=numerator_col,
        denominator_col=denominator_col,
    )


def flag_across_series(
    df: pd.DataFrame,
    grid: Grid,
    scores: dict[str, np.ndarray],
    *,
    kind: str,
    alpha: float,
    alerts: str = "onset",
    time_col: str = "timestamp",
    value_col: str | None = "value",
    series_col: str | None = None,
    numerator_col: str | None = None,
    denominator_col: str | None = None,
) -> pd.DataFrame:
    """The step of :func:`detect` across series, on the stacked :func:`score_partition` arrays
    of every series of ``grid``: Benjamini–Hochberg at each timestamp, flags, alert onsets,
    duplicated steps, and the long output table of :func:`detect` (same columns). An optional
    ``scores["context"]`` (bool, series × time) marks the steps handed over to the contextual
    alarms: a duplicated row there gets p-value 1, like the step's own row."""
    g, res, a = grid, scores, alpha
    if kind == "count":
        value_m = g.values[value_col]
    else:
        X, N = g.values[numerator_col], g.values[denominator_col]
        with np.errstate(invalid="ignore", divide="ignore"):
            value_m = X / N
    q = bh_adjust(res["p_value"])
    flag = (q <= a) | res["level_shift"]
    quiet = quiet_steps(g.step, g.season)
    # on a daily (or coarser) grid each step is a calendar day with causes of its own: a day
    # much worse than the incident so far is a new alert (:data:`ESCALATE`)
    daily = not g.step < pd.Timedelta(days=1)
    anom = alert_onsets(flag, quiet, res["z"] if daily else None) if alerts == "onset" else flag
    i, j = g.row_series, g.row_time
    flat = i * len(g.times) + j
    d = np.asarray(g.row_dup)
    dup = bool(d.any())
    if len(flat) == len(g.series) * len(g.times) and bool(np.all(flat == np.arange(len(flat)))):
        # a row per grid cell, in order: the grid's own cells (a view of each contiguous
        # array, as the frame keeps its columns), copies only if duplicated rows are set below
        take = (lambda m: np.ravel(m).copy()) if dup else np.ravel  # noqa: E731
    else:
        take = lambda m: np.take(m, flat)  # noqa: E731
    value, expected = take(value_m), take(res["expected"])
    z, p_row, q_row, is_anom = take(res["z"]), take(res["p_value"]), take(q), take(anom)
    flagged = take(flag)
    if dup:  # duplicated steps: own value against the step's baseline
        if kind == "count":
            v = pd.to_numeric(df[value_col], errors="coerce").to_numpy(dtype=float)[d]
            tv = np.where(take(res["log"])[d], np.sign(v) * np.log1p(np.abs(v)), v)
            zd = (tv - take(res["center"])[d]) / take(res["scale"])[d]
            pd_ = student_p(zd * take(res["c"])[d], take(res["nu"])[d])
        else:
            x = pd.to_numeric(df[numerator_col], errors="coerce").to_numpy(dtype=float)[d]
            n = pd.to_numeric(df[denominator_col], errors="coerce").to_numpy(dtype=float)[d]
            p0 = expected[d]
            phi = 1 + (n - 1) * take(res["rho"])[d] + n * p0 * (1 - p0) * take(res["extra"])[d]
            pd_ = binom_two_sided(x / phi, n / phi, p0)
            with np.errstate(invalid="ignore", divide="ignore"):
                v = x / n
            zd = np.sign(x - n * p0) * score_from_p(pd_)
        if "context" in res:  # steps handed over to CAD: no p-value alarm, as on the step's row
            pd_ = np.where(take(res["context"])[d] & np.isfinite(pd_), 1.0, pd_)
        value[d], z[d], p_row[d] = v, zd, pd_
        with np.errstate(invalid="ignore"):
            q_row[d] = np.fmin(
                1.0, pd_ * np.nanmax(np.fmax(1, np.sum(np.isfinite(res["p_value"]), 0)))
            )
        flagged[d] = q_row[d] <= a
        is_anom[d] = flagged[d]
        if alerts == "onset":  # an onset when the series was quiet in the steps before
            is_anom[d] &= ~(take(past_sum(flag.astype(float), quiet, 0))[d] > 0)
    direction = np.where(flagged, np.where(z >= 0, 1, 2), 0)
    # every column is an array of its own: the frame keeps them as they are (copy=False),
    # instead of copying the float columns into one block
    return pd.DataFrame(
        {
            "series": _text_column(i, np.asarray(g.series)) if series_col else "value",
            "timestamp": pd.DatetimeIndex(df[time_col], copy=True),
            "value": value,
            "expected": expected,
            "lower": take(res["lower"]),
            "upper": take(res["upper"]),
            "score": score_from_p(p_row),
            "p_value": p_row,
            "q_value": q_row,
            "is_anomaly": is_anom.astype(int),
            "flagged": flagged.astype(int),
            "direction": _text_column(direction, _DIRECTION_LABELS),
            "severity": _text_column(
                _relative_severity(value, expected, flagged), _SEVERITY_LABELS
            ),
        },
        copy=False,
    )
