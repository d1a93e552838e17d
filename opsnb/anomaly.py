"""Vectorised, causal anomaly engine for many series at once (counts and rates).

Series live in a long table (series, timestamp, value[, numerator, denominator]) and are put on a
regular (series × time) grid; every statistic is an array operation over that matrix (rolling
medians sort the strictly-past windows in float32, rolling means are cumulative-sum
differences), so 10 000 series × 365 days take about 1.5 s (``benchmarks/bench_monitoring.py``).

Causal by construction: every baseline, scale and dispersion used at time ``t`` is computed from
values strictly before ``t``; the value at ``t`` is then scored against it. Appending later data
never changes an earlier decision, so scoring the whole history at once *is* the replay mode.

Count metrics (visitors, orders, GMV, any positive value) — on ``log1p`` when all values are ≥ 0:

1. level ``ℓ_t`` = median of the last ``4·P`` values (``P`` = seasonal period);
2. season ``s_t`` = median of ``y − ℓ`` at the same phase in the last 6 cycles (this also absorbs
   the lag of the level under a steady trend);
3. residual ``r_t = y_t − ℓ_t − s_t``; scale ``σ_t`` = 1.4826 × median ``|r|`` of the last
   ``8·P`` residuals (floored by the Poisson scale for integer counts);
4. two passes: pass 1 uses medians and MAD (robust, outliers still in); points with
   ``|r/σ| > clean_z`` in pass 1 and promotion-event days are then masked, and pass 2 repeats
   steps 1–3 with means and the mean absolute deviation (×1.2533) of the clean points — exact
   rolling sums, statistically more efficient than medians once the outliers are out;
5. ``z = r/σ``; p-value two-sided from Student t (5 df: real residuals have heavy tails);
   CUSUM on clipped ``z`` flags level shifts.

Ratio metrics (AOV = GMV/orders, :func:`score_ratios`): log of a mean of ``n`` units, variance
``κ²/n`` with ``κ²`` estimated from history, baseline = ratio of sums (as for rates).

Rate metrics (conversion = buyers/visitors, refund rate = refund orders/orders): baseline rate
``p₀`` = ratio of sums over the last ``4·P`` clean points; beta-binomial over-dispersion
``ρ`` from the last ``8·P`` Pearson residuals (method of moments), so the day's variance is
``n p₀(1−p₀)(1 + (n−1)ρ)``; the p-value is the binomial tail on the effective sample
``(x/φ, n/φ)`` with ``φ = 1 + (n−1)ρ`` via the regularised incomplete beta function. 2 % on
50 visitors therefore does not alarm; a 2 % → 1.6 % move on 50 000 visitors does.

Promotion events: each timestamp gets a key ``event:offset-from-peak``; the multiplier observed at
the same key last year (actual versus last year's baseline, log or logit scale) is applied to
today's baseline. The event-day variance is today's noise + the reference day's noise (the
multiplier is one noisy day) + a year-to-year spread estimated causally from earlier clean
event days (prior ``event_spread``); event-day p-values use the normal tail. Without a reference
(first year) event points are not scored (p-value NaN): a first 双11 is not an anomaly.

False-discovery control: Benjamini–Hochberg across all series at each timestamp
(:func:`bh_adjust`). ``score`` = ``Φ⁻¹(1 − p/2)`` (≥ 0, larger is more anomalous).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DataContractError, DataProblem  # noqa: F401 (re-exported for callers)

__all__ = [
    "EngineConfig",
    "Grid",
    "infer_step",
    "infer_period",
    "to_grid",
    "event_keys",
    "score_counts",
    "score_rates",
    "score_ratios",
    "bh_adjust",
    "cusum",
    "SENSITIVITY",
    "detect",
    "DETECT_COLUMNS",
    "alert_onsets",
    "quiet_steps",
]

SENSITIVITY = {"low": 0.001, "medium": 0.01, "high": 0.05}
"""Sensitivity name → false-discovery rate ``alpha`` used by Benjamini–Hochberg."""


@dataclass(frozen=True)
class EngineConfig:
    """One default configuration for every series (no per-series tuning).

    ``level_cycles``/``season_cycles``/``scale_cycles`` are window lengths in seasonal periods
    (daily data: 28, 42 and 56 days). ``clean_z`` masks pass-1 outliers from the baseline;
    ``cusum_k``/``cusum_h`` (in σ) give a two-sided in-control run length of years per series;
    ``event_spread`` is the year-to-year spread of an event multiplier (log/logit units).
    ``tail_df``: robust z of counts are referred to Student t with 5 degrees of freedom, because
    residuals of real business series are heavier-tailed than normal (None: normal).
    """

    alpha: float = 0.01
    level_cycles: int = 4
    season_cycles: int = 6
    scale_cycles: int = 8
    min_window: int = 28
    clean_z: float = 3.5
    cusum_k: float = 0.75
    cusum_h: float = 8.0
    cusum_clip: float = 3.0
    event_spread: float = 0.12
    rel_floor: float = 0.01
    tail_df: float | None = 5.0


@dataclass
class Grid:
    """Series on a regular time grid.

    ``series``: series labels (length S); ``times``: grid timestamps (length T); ``step``: grid
    step; ``period``: seasonal period in steps; ``values``: name → (S × T) float arrays (NaN where
    no row); ``row_series``/``row_time``: grid position of every input row (input order).
    """

    series: pd.Index
    times: pd.DatetimeIndex
    step: pd.Timedelta
    period: int
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


def infer_period(step: pd.Timedelta) -> int:
    """Seasonal period in steps: daily → 7 (weekly), sub-daily → one day, weekly → 52, monthly → 12."""
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


def to_grid(df: pd.DataFrame, *, time_col: str, value_cols: list[str] | tuple[str, ...],
            series_col: str | None = None, period: int | None = None,
            source: str = "<frame>", first_row: int = 2) -> Grid:
    """Place the rows of a long table on a regular (series × time) grid.

    Timestamps are snapped to ``t0 + k·step`` (``step`` from :func:`infer_step`); missing steps
    are NaN (gaps). When several rows of a series fall in one step (duplicated timestamps, as
    in some NAB files) the last one goes on the grid, the others are marked in ``row_dup`` and
    scored against the same baseline; a :class:`DataQualityWarning` says so.
    """
    t = pd.DatetimeIndex(df[time_col])
    step = infer_step(t)
    per = infer_period(step) if period is None else int(period)
    t0 = t.min()
    k = np.rint((t - t0) / step).astype(np.int64)
    n_steps = int(k.max()) + 1 if len(k) else 0
    if n_steps > 50 * max(len(df), 1) + 1000:
        raise DataContractError(
            f"{source}: timestamps too irregular for a grid of step {step}",
            [DataProblem(source, None, time_col, None, "roughly regular timestamps")])
    if series_col is None:
        codes = np.zeros(len(df), dtype=np.int64)
        series = pd.Index(["value"])
    else:
        codes, series = pd.factorize(df[series_col], sort=True)
        series = pd.Index(series)
    flat = codes * n_steps + k
    dup = pd.Series(flat).duplicated(keep="last").to_numpy()
    if dup.any():
        import warnings

        from .errors import DataQualityWarning

        rows = ", ".join(str(int(r) + first_row) for r in np.flatnonzero(dup)[:5])
        warnings.warn(f"{source}: {int(dup.sum())} row(s) share a series and time step ({step}) "
                      f"with a later row (rows {rows}...); each is scored against that step's "
                      "baseline, the last one feeds the baseline", DataQualityWarning, stacklevel=3)
    g = Grid(series=series, times=pd.DatetimeIndex(t0 + step * np.arange(n_steps)), step=step,
             period=per, row_series=codes, row_time=k, row_dup=dup)
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
        peak = pd.Timestamp(getattr(row, "peak", None) if pd.notna(getattr(row, "peak", None)) else end)
        on = (days >= start) & (days <= end) & (keys == "")
        if not on.any():
            continue
        off = ((days[on] - peak) / pd.Timedelta(days=1)).astype(int)
        lab = [f"{row.event}:{o}" for o in off]
        if sub_daily:
            lab = [f"{a}@{ts:%H:%M}" for a, ts in zip(lab, times[on])]
        keys[np.asarray(on)] = lab
    return keys


def _previous_same_key(keys: np.ndarray, times: pd.DatetimeIndex, min_gap_days: int = 300) -> np.ndarray:
    """Index of the last earlier timestamp with the same event key (≥ min_gap_days before), else -1."""
    prev = np.full(len(keys), -1, dtype=np.int64)
    last: dict[str, int] = {}
    for i, k in enumerate(keys):
        if not k:
            continue
        j = last.get(k)
        if j is not None and (times[i] - times[j]).days >= min_gap_days:
            prev[i] = j
        if j is None or (times[i] - times[j]).days >= min_gap_days:
            last[k] = i
    return prev


# ------------------------------------------------------------------------------------------
# causal rolling statistics (strictly past) on (S × T) matrices
# ------------------------------------------------------------------------------------------

def _shift1(a: np.ndarray) -> np.ndarray:
    out = np.full_like(a, np.nan)
    out[:, 1:] = a[:, :-1]
    return out


def _windows_before(X: np.ndarray, window: int) -> np.ndarray:
    """(S, T, window) float32 view: ``[:, t]`` holds ``X[:, t-window:t]`` (NaN-padded at the start)."""
    from numpy.lib.stride_tricks import sliding_window_view

    S, T = X.shape
    pad = np.full((S, T + window), np.nan, dtype=np.float32)
    pad[:, window:] = X
    return sliding_window_view(pad, window, axis=1)[:, :T]


def _median_of_windows(Wv: np.ndarray, n: np.ndarray, min_periods: int) -> np.ndarray:
    """Median along the last axis of windows holding ``n`` non-NaN values (NaN sorts last);
    NaN with fewer than ``min_periods`` values."""
    srt = np.sort(Wv, axis=-1)
    lo = np.take_along_axis(srt, (np.maximum(n - 1, 0) // 2)[..., None], -1)[..., 0]
    hi = np.take_along_axis(srt, np.minimum(n // 2, Wv.shape[-1] - 1)[..., None], -1)[..., 0]
    return np.where(n >= min_periods, 0.5 * (lo.astype(float) + hi), np.nan)


def _lagged_diff(c: np.ndarray, window: int) -> np.ndarray:
    """From per-row cumulative sums ``c`` (S × (T+1), ``c[:, t]`` = total before t): the total
    over ``[t-window, t)`` for every t (slices, no copies of index arrays)."""
    T = c.shape[1] - 1
    out = c[:, :T].copy()
    if T > window:
        out[:, window:] -= c[:, :T - window]
    return out


def _past_count(X: np.ndarray, window: int) -> np.ndarray:
    """Number of non-NaN values in ``X[:, t-window:t]`` (by per-row cumulative counts)."""
    S, T = X.shape
    cn = np.zeros((S, T + 1), dtype=np.int32)
    np.cumsum(np.isfinite(X), axis=1, out=cn[:, 1:])
    return _lagged_diff(cn, window)


def _past_median(X: np.ndarray, window: int, min_periods: int, at=None, chunk: int = 2_000_000):
    """``out[:, t]`` = median of ``X[:, t-window:t]`` ignoring NaN (needs min_periods values).

    numpy only: the strictly-past windows are sorted in float32, a block of rows at a time
    (each window is sorted on its own, so later data never changes an earlier value). With
    ``at`` (a boolean S × T mask) only those points are computed, the rest are NaN."""
    S, T = X.shape
    mp = min(min_periods, window)
    out = np.full((S, T), np.nan)
    Wv = _windows_before(X, window)
    N = _past_count(X, window)
    if at is not None:
        s, t = np.nonzero(at & (N >= mp))
        step = max(1, chunk // window)
        for a in range(0, len(s), step):
            i, j = s[a:a + step], t[a:a + step]
            out[i, j] = _median_of_windows(Wv[i, j], N[i, j], mp)
        return out
    rows = max(1, chunk // max(T * window, 1))
    for a in range(0, S, rows):
        out[a:a + rows] = _median_of_windows(Wv[a:a + rows], N[a:a + rows], mp)
    return out


def _past_sum(X: np.ndarray, window: int, min_periods: int, mean: bool = False) -> np.ndarray:
    """``out[:, t]`` = sum (or mean) of the non-NaN values of ``X[:, t-window:t]`` (needs
    min_periods of them). Per-row cumulative sums: bitwise independent of later data."""
    S, T = X.shape
    ok = np.isfinite(X)
    cs = np.zeros((S, T + 1))
    np.cumsum(np.where(ok, X, 0.0), axis=1, out=cs[:, 1:])
    tot, n = _lagged_diff(cs, window), _past_count(X, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = tot / n if mean else tot
    return np.where(n >= min(min_periods, window), res, np.nan)


def _past(X: np.ndarray, window: int, min_periods: int, how: str = "median", at=None) -> np.ndarray:
    """``out[:, t]`` = statistic of ``X[:, t-window:t]`` ignoring NaN (needs min_periods values);
    ``how``: "median", "mean" or "sum" (``at`` only narrows the median's work)."""
    if how == "median":
        return _past_median(X, window, min_periods, at=at)
    if how not in ("mean", "sum"):
        raise ValueError(f"how must be one of ('median', 'mean', 'sum'), got {how!r}")
    return _past_sum(X, window, min_periods, mean=how == "mean")


def _past_same_phase(X: np.ndarray, period: int, cycles: int, min_periods: int,
                     how: str = "median") -> np.ndarray:
    """Median (or mean) of ``X`` at the same phase over the previous ``cycles`` cycles (strictly past)."""
    S, T = X.shape
    if period <= 1:
        return np.zeros_like(X)
    n_c = -(-T // period)
    pad = np.full((S, n_c * period), np.nan)
    pad[:, :T] = X
    A = pad.reshape(S, n_c, period).transpose(0, 2, 1).reshape(S * period, n_c)
    R = _past(A, cycles, min_periods, how)
    return R.reshape(S, period, n_c).transpose(0, 2, 1).reshape(S, n_c * period)[:, :T]


def _windows(period: int, cfg: EngineConfig) -> tuple[int, int]:
    w = cfg.level_cycles * period if period > 1 else cfg.min_window
    w = max(w, cfg.min_window if period <= 1 else w)
    return w, (cfg.scale_cycles * period if period > 1 else 2 * cfg.min_window)


def _norm_p(z: np.ndarray, df: float | None = None) -> np.ndarray:
    """Two-sided tail of the robust z: Student t with ``df`` (heavy tails) or normal (df None).

    For 5 degrees of freedom the closed form ``p = (2/π)(φ − sinφ cosφ (1 + ⅔ sin²φ))`` with
    ``φ = atan(√5/|z|)`` is used (about 10× faster than ``scipy.special.stdtr``; equal to it
    within 1e-12), with ``stdtr`` for |z| > 30 where the closed form loses digits."""
    from scipy.special import ndtr, stdtr

    if df is None:
        return 2.0 * ndtr(-np.abs(z))
    a = np.abs(z)
    if df != 5:
        return 2.0 * stdtr(df, -a)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.arctan(np.sqrt(5.0) / a)
    sp, cp = np.sin(phi), np.cos(phi)
    p = (2.0 / np.pi) * (phi - sp * cp * (1.0 + (2.0 / 3.0) * sp * sp))
    far = a > 30
    if far.any():
        p[far] = 2.0 * stdtr(df, -a[far])
    return np.where(np.isnan(z), np.nan, np.clip(p, 0.0, 1.0))


def _score_from_p(p: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri

    with np.errstate(divide="ignore", invalid="ignore"):
        return -ndtri(np.clip(p, 1e-300, 1.0) / 2.0)


def _event_shift(resid_raw: np.ndarray, keys: np.ndarray | None, times) -> tuple[np.ndarray, np.ndarray]:
    """Per (series, t): last year's event multiplier at the same key, and the event-day mask."""
    S, T = resid_raw.shape
    shift = np.zeros((S, T))
    if keys is None:
        return shift, np.zeros(T, dtype=bool)
    is_event = np.asarray([bool(k) for k in keys])
    prev = _previous_same_key(np.asarray(keys), pd.DatetimeIndex(times))
    shift[:, is_event] = np.nan  # no reference → not scored
    has = prev >= 0
    shift[:, has] = resid_raw[:, prev[has]]
    return shift, is_event


def _event_variance(err: np.ndarray, noise_var: np.ndarray, keys, times, cfg: EngineConfig,
                    prior_days: float = 10.0) -> np.ndarray:
    """(S × T) year-to-year variance of an event multiplier, estimated causally per series.

    ``err`` = the deviation from (ordinary baseline + last year's multiplier) on event days with
    a reference; ``noise_var`` = the part of its variance that is ordinary noise (this day's
    and the reference day's). The excess ``err² − noise_var`` of *earlier* event days updates
    the prior ``event_spread²`` (worth ``prior_days`` event days), like the other dispersions
    only from clean days: an event day whose own ``|z| > clean_z`` (a weak or broken event)
    does not widen later intervals. Floored at ``(event_spread/4)²``. A loop over event days
    only (a few dozen a year), vectorised over series."""
    prev = _previous_same_key(np.asarray(keys), pd.DatetimeIndex(times))
    S, T = err.shape
    v0 = cfg.event_spread ** 2
    out = np.full((S, T), v0)
    cs, cn = np.zeros(S), np.zeros(S)
    for t in np.flatnonzero(prev >= 0):
        v = np.fmax((prior_days * v0 + cs) / (prior_days + cn), v0 / 16.0)
        out[:, t] = v
        e, nv = err[:, t], noise_var[:, t]
        ok = np.isfinite(e) & np.isfinite(nv)
        with np.errstate(invalid="ignore"):
            ok &= e * e <= cfg.clean_z ** 2 * (nv + v)
        cs += np.where(ok, np.nan_to_num(e * e - nv), 0.0)
        cn += ok
    return out


def _at_prev(a: np.ndarray, keys, times) -> np.ndarray:
    """``a`` at last year's same event key (NaN where none)."""
    prev = _previous_same_key(np.asarray(keys), pd.DatetimeIndex(times))
    out = np.full(a.shape, np.nan)
    has = prev >= 0
    out[:, has] = a[:, prev[has]]
    return out


# ------------------------------------------------------------------------------------------
# counts
# ------------------------------------------------------------------------------------------

def _fill(a: np.ndarray, fallback) -> np.ndarray:
    """``a`` with NaN replaced by ``fallback(at)``, computed only at the NaN points ``at``."""
    miss = np.isnan(a)
    return np.where(miss, fallback(miss), a) if miss.any() else a


def _count_pass(Y: np.ndarray, period: int, cfg: EngineConfig, use: np.ndarray,
                poisson: np.ndarray, log: np.ndarray, robust: bool = True):
    """Baseline, residual and scale from the points in ``use``. ``robust``: medians and MAD
    (pass 1, outliers still in); otherwise means and mean absolute deviation, which are exact
    rolling sums (pass 2: the outliers are already masked, so the means are safe and cheap)."""
    W, M = _windows(period, cfg)
    how, k = ("median", 1.4826) if robust else ("mean", 1.2533)  # σ/MAD, σ/E|r| under normality
    Yc = np.where(use, Y, np.nan)
    level = _fill(_past(Yc, W, max(3, W // 2), how),
                  lambda at: _past(Yc, 3 * W, max(3, W // 2), how, at=at))
    season = _past_same_phase(Yc - level, period, cfg.season_cycles, 3, how)
    mu = level + np.where(np.isnan(season) & np.isfinite(level), 0.0, season)
    r = Y - mu
    absr = np.abs(np.where(use, r, np.nan))
    scale = k * _past(absr, M, max(5, min(M, 2 * period) // 2), how)
    # warm-up / after long masked spells: spread of the raw values around the level (conservative)
    scale = _fill(scale, lambda at: k * _past(np.abs(Yc - level), W, max(3, W // 2), how, at=at))
    if period >= 24:  # intraday cycles are heteroscedastic (night vs day): shrink to the phase scale
        phase = k * _past_same_phase(absr, period, cfg.scale_cycles, 4, how)
        scale = np.where(np.isfinite(phase) & (phase > 0), np.sqrt(scale * phase), scale)
    lam = np.expm1(np.clip(mu, 0, 50))
    floor_pois = np.where(poisson & log[:, None], np.sqrt(lam) / (lam + 1.0), 0.0)
    floor_rel = np.where(log[:, None], cfg.rel_floor, cfg.rel_floor * np.abs(level) + 1e-12)
    scale = np.where(np.isnan(scale), np.nan, np.fmax(scale, np.fmax(floor_pois, floor_rel)))
    return mu, r, scale


def score_counts(values: np.ndarray, period: int, *, times=None, keys: np.ndarray | None = None,
                 config: EngineConfig = EngineConfig(), transform: str = "auto") -> dict[str, np.ndarray]:
    """Score every point of an (S × T) matrix of counts/amounts against its causal baseline.

    Returns (S × T) arrays: ``expected``, ``lower``, ``upper`` (1 − alpha interval, original
    units), ``z`` (signed robust z), ``p_value``, ``level_shift`` (CUSUM alarm, bool).
    ``transform``: "auto"/"log" (signed ``log1p``, i.e. log1p for values ≥ 0) or "none".
    """
    if transform not in ("auto", "log", "none"):
        raise ValueError(f"transform must be one of ('auto', 'log', 'none'), got {transform!r}")
    V = np.asarray(values, dtype=float)
    S, T = V.shape
    finite = np.isfinite(V)
    if transform == "log" and np.any(V[finite] < 0):
        raise ValueError("transform='log' needs values ≥ 0")
    logs = np.full(S, transform != "none")
    # causal flags (data up to t only): all values so far integer / non-negative
    integer = ~np.logical_or.accumulate(finite & (np.mod(np.where(finite, V, 0), 1) != 0), axis=1)
    nonneg = ~np.logical_or.accumulate(finite & (np.where(finite, V, 0) < 0), axis=1)
    # signed log1p: log1p for counts and amounts, defined (and monotone) for negative values too
    Y = np.sign(V) * np.log1p(np.abs(V)) if transform != "none" else V.copy()
    is_event = np.asarray([bool(k) for k in keys]) if keys is not None else np.zeros(T, bool)
    use = finite & ~is_event[None, :]
    mu1, r1, sc1 = _count_pass(Y, period, config, use, integer, logs)
    clean = use & ~(np.abs(r1 / sc1) > config.clean_z)
    mu2, r2, sc2 = _count_pass(Y, period, config, clean, integer, logs, robust=False)
    bad = ~np.isfinite(mu2) | ~np.isfinite(sc2)
    mu = np.where(bad, mu1, mu2)
    sc = np.where(bad, sc1, sc2)
    ev_tail = np.zeros((S, T), dtype=bool)
    if keys is not None and is_event.any():
        ev_shift, _ = _event_shift(Y - mu, keys, times)
        noise = sc ** 2 + _at_prev(sc, keys, times) ** 2  # today's and the reference day's noise
        v_ev = _event_variance(Y - mu - ev_shift, noise, keys, times, config)
        mu = np.where(is_event[None, :], mu + ev_shift, mu)
        sc = np.where(is_event[None, :], np.sqrt(noise + v_ev), sc)
        ev_tail = np.broadcast_to(is_event[None, :], (S, T))
    z = (Y - mu) / sc
    # event days: a sum of three independent errors (today, the reference day, the yearly
    # spread) with an estimated variance → normal tail; ordinary days keep the heavy tail
    p = _norm_p(z, config.tail_df)
    if ev_tail.any():
        p = np.where(ev_tail, _norm_p(z, None), p)
    from scipy.special import ndtri, stdtrit

    zc = -ndtri(config.alpha / 2) if config.tail_df is None else -stdtrit(config.tail_df, config.alpha / 2)
    zc = np.where(ev_tail, -ndtri(config.alpha / 2), zc)
    back = lambda a: np.where(logs[:, None], np.sign(a) * np.expm1(np.abs(a)), a)  # noqa: E731
    lower = back(mu - zc * sc)
    lower = np.where(nonneg, np.maximum(lower, 0.0), lower)
    z_eq = np.sign(z) * _score_from_p(p)  # normal-equivalent z: heavy tails tamed for CUSUM
    shifts, _ = cusum(_ar1_whiten(np.where(is_event[None, :], np.nan, z_eq), config, period),
                      k=config.cusum_k, h=config.cusum_h, clip=config.cusum_clip)
    return {"expected": back(mu), "lower": lower, "upper": back(mu + zc * sc), "z": z,
            "p_value": p, "level_shift": shifts, "center": mu, "scale": sc,
            "log": np.broadcast_to(logs[:, None], mu.shape)}


# ------------------------------------------------------------------------------------------
# rates
# ------------------------------------------------------------------------------------------

def _binom_two_sided(x: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Two-sided binomial tail p-value on possibly non-integer (x, n) via the incomplete beta."""
    from scipy.special import betainc

    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(x < n, betainc(np.fmax(n - x, 1e-12), x + 1.0, 1.0 - p), 1.0)
        hi = np.where(x > 0, betainc(np.fmax(x, 1e-12), n - x + 1.0, p), 1.0)
    out = np.fmin(1.0, 2.0 * np.fmin(lo, hi))
    return np.where(np.isfinite(x) & np.isfinite(n) & np.isfinite(p) & (n > 0), out, np.nan)


def _rate_pass(X, N, period, cfg, use):
    W, M = _windows(period, cfg)
    Xc, Nc = np.where(use, X, np.nan), np.where(use, N, np.nan)
    sx = _fill(_past(Xc, W, max(3, W // 4), "sum"), lambda at: _past(Xc, 3 * W, max(3, W // 4), "sum"))
    sn = _fill(_past(Nc, W, max(3, W // 4), "sum"), lambda at: _past(Nc, 3 * W, max(3, W // 4), "sum"))
    with np.errstate(invalid="ignore", divide="ignore"):
        p0 = sx / sn
        p0 = np.clip(p0, 0.5 / np.fmax(sn, 1), 1 - 0.5 / np.fmax(sn, 1))
        pear2 = (X - N * p0) ** 2 / (N * p0 * (1 - p0))
    ok = use & np.isfinite(pear2) & (N > 1)
    e1, e2 = np.where(ok, np.fmin(pear2, 25.0) - 1.0, np.nan), np.where(ok, N - 1.0, np.nan)
    num = _fill(_past(e1, M, max(5, M // 4), "sum"), lambda at: _past(e1, 3 * M, 5, "sum"))
    den = _fill(_past(e2, M, max(5, M // 4), "sum"), lambda at: _past(e2, 3 * M, 5, "sum"))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.clip(num / den, 0.0, 0.5)
    return p0, rho, pear2


def score_rates(numerator: np.ndarray, denominator: np.ndarray, period: int, *, times=None,
                keys: np.ndarray | None = None, config: EngineConfig = EngineConfig()) -> dict[str, np.ndarray]:
    """Score every day's rate ``x/n`` against the causal baseline rate with its own denominator.

    Returns (S × T) arrays ``expected`` (baseline rate), ``lower``/``upper`` (1 − alpha interval
    for the rate at that day's denominator), ``z``, ``p_value``, ``rho`` (over-dispersion),
    ``level_shift``.
    """
    from scipy.special import expit, logit, ndtri

    X = np.asarray(numerator, dtype=float)
    N = np.asarray(denominator, dtype=float)
    finite = np.isfinite(X) & np.isfinite(N) & (N > 0)
    is_event = np.asarray([bool(k) for k in keys]) if keys is not None else np.zeros(X.shape[1], bool)
    use = finite & ~is_event[None, :]
    p1, rho1, pear1 = _rate_pass(X, N, period, config, use)
    phi1 = 1 + (N - 1) * rho1
    z1 = np.sign(X - N * p1) * np.sqrt(np.fmax(pear1, 0) / phi1)
    clean = use & ~(np.abs(z1) > config.clean_z)
    p0, rho, _ = _rate_pass(X, N, period, config, clean)
    bad = ~np.isfinite(p0) | ~np.isfinite(rho)
    p0, rho = np.where(bad, p1, p0), np.where(bad, rho1, rho)
    extra = np.zeros_like(p0)
    if keys is not None and is_event.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            obs = (X + 0.5) / (N + 1.0)
            resid = logit(obs) - logit(p0)
            ev_shift, _ = _event_shift(resid, keys, times)
            # logit-scale noise of a day's rate (over-dispersed binomial, delta method)
            lv = (1 + (N - 1) * rho) / (N * p0 * (1 - p0))
        lv_prev = _at_prev(lv, keys, times)
        v_ev = _event_variance(resid - ev_shift, lv + lv_prev, keys, times, config)
        p0 = np.where(is_event[None, :], expit(logit(p0) + ev_shift), p0)
        extra = np.where(is_event[None, :], lv_prev + v_ev, 0.0)
    phi = 1 + (N - 1) * rho + N * p0 * (1 - p0) * extra
    with np.errstate(invalid="ignore", divide="ignore"):
        p_val = _binom_two_sided(X / phi, N / phi, p0)
        sd = np.sqrt(phi * p0 * (1 - p0) / N)
    p_val = np.where(finite, p_val, np.nan)
    z = np.sign(X - N * p0) * _score_from_p(p_val)
    zc = -ndtri(config.alpha / 2)
    shifts, _ = cusum(_ar1_whiten(np.where(is_event[None, :], np.nan, z), config, period),
                      k=config.cusum_k, h=config.cusum_h, clip=config.cusum_clip)
    return {"expected": p0, "lower": np.maximum(p0 - zc * sd, 0), "upper": np.minimum(p0 + zc * sd, 1),
            "z": z, "p_value": p_val, "rho": rho, "level_shift": shifts, "extra": extra}


def _ratio_pass(Y, X, N, period, cfg, use, robust):
    """Baseline log ratio (log of the ratio of sums) and per-unit dispersion ``κ²`` from ``use``."""
    W, M = _windows(period, cfg)
    Xc, Nc = np.where(use, X, np.nan), np.where(use, N, np.nan)
    sx = _fill(_past(Xc, W, max(3, W // 4), "sum"), lambda at: _past(Xc, 3 * W, max(3, W // 4), "sum"))
    sn = _fill(_past(Nc, W, max(3, W // 4), "sum"), lambda at: _past(Nc, 3 * W, max(3, W // 4), "sum"))
    with np.errstate(invalid="ignore", divide="ignore"):
        m0 = np.log(sx / sn)
        e = (Y - m0) * np.sqrt(N)  # residual per unit of the denominator
    e = np.where(use & np.isfinite(e), e, np.nan)
    if robust:
        k2 = (1.4826 * _fill(_past(np.abs(e), M, max(5, M // 4), "median"),
                             lambda at: _past(np.abs(e), 3 * M, 5, "median", at=at))) ** 2
    else:
        k2 = _fill(_past(e * e, M, max(5, M // 4), "mean"), lambda at: _past(e * e, 3 * M, 5, "mean"))
    return m0, k2


def score_ratios(numerator: np.ndarray, denominator: np.ndarray, period: int, *, times=None,
                 keys: np.ndarray | None = None, config: EngineConfig = EngineConfig()) -> dict[str, np.ndarray]:
    """Score a ratio metric ``x/n`` that is a mean per unit (AOV = GMV / orders) with its own denominator.

    On the log scale, ``log(x/n)`` is the log of a mean of ``n`` units, so its variance is
    ``κ²/n`` (``κ`` ≈ the coefficient of variation of one unit, plus day-to-day over-dispersion),
    with ``κ²`` estimated causally from the strictly-past residuals ``(log(x/n) − m₀)·√n``
    (pass 1: median/MAD; pass 2: mean square of the points with ``|z| ≤ clean_z``). Baseline
    ``m₀`` = log of the ratio of sums over the last ``4·P`` clean days (like the rate metrics).
    A day with half the orders gets a √2 wider interval; a 30 % drop in AOV on a channel with
    hundreds of orders stands out. Event days: last year's multiplier and event variance as for
    counts. p-values from the normal tail (a mean of many units). Returns the same arrays as
    :func:`score_rates` (``expected`` is the baseline ratio, ``kappa2`` the dispersion).
    """
    from scipy.special import ndtri

    X = np.asarray(numerator, dtype=float)
    N = np.asarray(denominator, dtype=float)
    S, T = X.shape
    finite = np.isfinite(X) & np.isfinite(N) & (N > 0) & (X > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        Y = np.where(finite, np.log(np.where(finite, X / N, 1.0)), np.nan)
    is_event = np.asarray([bool(k) for k in keys]) if keys is not None else np.zeros(T, bool)
    use = finite & ~is_event[None, :]
    m1, k1 = _ratio_pass(Y, X, N, period, config, use, robust=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        z1 = (Y - m1) / np.sqrt(k1 / N)
    clean = use & ~(np.abs(z1) > config.clean_z)
    m0, k2 = _ratio_pass(Y, X, N, period, config, clean, robust=False)
    bad = ~np.isfinite(m0) | ~np.isfinite(k2)
    m0, k2 = np.where(bad, m1, m0), np.where(bad, k1, k2)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = k2 / N
    if keys is not None and is_event.any():
        ev_shift, _ = _event_shift(Y - m0, keys, times)
        noise = var + _at_prev(var, keys, times)
        v_ev = _event_variance(Y - m0 - ev_shift, noise, keys, times, config)
        m0 = np.where(is_event[None, :], m0 + ev_shift, m0)
        var = np.where(is_event[None, :], noise + v_ev, var)
    sd = np.sqrt(var)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (Y - m0) / sd
    p = _norm_p(z, None)
    zc = -ndtri(config.alpha / 2)
    shifts, _ = cusum(_ar1_whiten(np.where(is_event[None, :], np.nan, z), config, period),
                      k=config.cusum_k, h=config.cusum_h, clip=config.cusum_clip)
    return {"expected": np.exp(m0), "lower": np.exp(m0 - zc * sd), "upper": np.exp(m0 + zc * sd),
            "z": z, "p_value": p, "kappa2": k2, "level_shift": shifts}


# ------------------------------------------------------------------------------------------
# multiple testing and level shifts
# ------------------------------------------------------------------------------------------

def _ar1_whiten(z: np.ndarray, cfg: EngineConfig, period: int) -> np.ndarray:
    """``z`` rescaled for CUSUM by its causal lag-1 autocorrelation ``φ`` (strictly-past window).

    Residuals of real series are autocorrelated; the variance of a sum of ``n`` of them is about
    ``n σ² (1 + φ)/(1 − φ)``, so CUSUM on raw ``z`` drifts past ``h`` far more often than its
    nominal run length. Dividing by ``√((1 + φ)/(1 − φ))`` restores the effective variance.
    ``φ`` = ratio of the past means of ``z_t z_{t-1}`` and ``z_t²`` over the scale window
    (``|z| ≤ clean_z`` only), clipped to [0, 0.9]; 0 until enough history."""
    _, M = _windows(period, cfg)
    zc = np.where(np.abs(z) <= cfg.clean_z, z, np.nan)
    lag = np.full_like(zc, np.nan)
    lag[:, 1:] = zc[:, :-1]
    num = _past(zc * lag, M, max(10, M // 4), "mean")
    den = _past(np.where(np.isfinite(lag), zc * zc, np.nan), M, max(10, M // 4), "mean")
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.clip(np.nan_to_num(num / den, nan=0.0), 0.0, 0.9)
    return z * np.sqrt((1.0 - phi) / (1.0 + phi))


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values) down each column of an (S × T) array.

    NaN p-values are ignored (they do not count in m). Reject where ``q ≤ alpha``.
    """
    P = np.asarray(p, dtype=float)
    if P.ndim == 1:
        return bh_adjust(P[:, None])[:, 0]
    # work on the transpose (one contiguous row per timestamp): sorting rows is faster
    PT = np.ascontiguousarray(P.T)
    T, S = PT.shape
    order = np.argsort(np.where(np.isnan(PT), np.inf, PT), axis=1)  # ties get equal q anyway
    ps = np.take_along_axis(PT, order, axis=1)
    m = np.sum(~np.isnan(PT), axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = ps * (m / np.arange(1, S + 1)[None, :])
    q[np.isnan(ps)] = np.inf
    q = np.minimum.accumulate(q[:, ::-1], axis=1)[:, ::-1]
    np.fmin(q, 1.0, out=q)
    out = np.empty_like(q)
    np.put_along_axis(out, order, q, axis=1)
    out[np.isnan(PT)] = np.nan
    return out.T


def cusum(z: np.ndarray, *, k: float = 0.5, h: float = 7.0, clip: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided tabular CUSUM on standardised residuals, vectorised over rows.

    Returns ``(alarm, statistic)``: alarm (S × T, bool) where ``S⁺ > h`` or ``S⁻ > h`` (the
    statistic restarts at 0 after an alarm); statistic = ``S⁺ − S⁻``. NaN leaves the sums as they are.
    """
    Z = np.clip(np.asarray(z, dtype=float), -clip, clip)
    S, T = Z.shape
    sp = np.zeros(S)
    sn = np.zeros(S)
    alarm = np.zeros((S, T), dtype=bool)
    stat = np.zeros((S, T))
    for t in range(T):
        col = Z[:, t]
        ok = ~np.isnan(col)
        c = np.where(ok, col, 0.0)
        sp = np.where(ok, np.maximum(0.0, sp + c - k), sp)
        sn = np.where(ok, np.maximum(0.0, sn - c - k), sn)
        a = (sp > h) | (sn > h)
        alarm[:, t] = a
        stat[:, t] = sp - sn
        sp = np.where(a, 0.0, sp)
        sn = np.where(a, 0.0, sn)
    return alarm, stat


# ------------------------------------------------------------------------------------------
# long table in, long table out
# ------------------------------------------------------------------------------------------

DETECT_COLUMNS = ["series", "timestamp", "value", "expected", "lower", "upper", "score",
                  "p_value", "q_value", "is_anomaly", "flagged", "direction", "severity"]


def quiet_steps(step: pd.Timedelta, period: int) -> int:
    """Steps without a flag after which a new flag is a new incident: one seasonal cycle,
    at most a week (daily → 7, hourly → 24, 5-minute → 288, weekly → 1)."""
    week = int(round(pd.Timedelta(days=7) / step)) if step > pd.Timedelta(0) else 1
    return max(1, min(int(period), week))


def alert_onsets(flags: np.ndarray, quiet: int) -> np.ndarray:
    """Alert onsets of an (S × T) flag matrix: flagged points with no flag in the previous
    ``quiet`` steps of the same series (later flags of the same incident are not re-alerted).
    Causal: depends on flags up to t only."""
    F = np.asarray(flags, dtype=bool)
    if F.ndim == 1:
        return alert_onsets(F[None, :], quiet)[0]
    before = _past_sum(F.astype(float), int(quiet), 0)
    return F & ~(before > 0)


def _relative_severity(value, expected, is_anom) -> np.ndarray:
    """low / medium / high by relative deviation from expected (≥ 20 % medium, ≥ 50 % high)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(value - expected) / np.fmax(np.abs(expected), 1e-12)
    sev = np.where(rel >= 0.5, "high", np.where(rel >= 0.2, "medium", "low"))
    return np.where(is_anom, sev, "")


def detect(df: pd.DataFrame, *, time_col: str = "timestamp", value_col: str | None = "value",
           series_col: str | None = None, kind: str = "count", numerator_col: str | None = None,
           denominator_col: str | None = None, events: pd.DataFrame | None = None,
           alpha: float | None = None, sensitivity: str = "medium", period: int | None = None,
           config: EngineConfig | None = None, source: str = "<frame>",
           alerts: str = "onset") -> pd.DataFrame:
    """Score every row of a long table; one output row per input row, in input order.

    Columns: series, timestamp, value, expected, lower, upper, score (≥ 0), p_value, q_value
    (Benjamini–Hochberg across series at each timestamp), is_anomaly (0/1, the alert: see
    ``alerts``), flagged (0/1: q ≤ alpha or a CUSUM level-shift alarm on this row), direction
    (up/down, "" when not flagged), severity (low/medium/high by relative deviation: ≥ 20 %
    medium, ≥ 50 % high; "" when not flagged).

    ``alerts``: "onset" (default, as an on-call system pages): is_anomaly marks the first
    flagged row of an incident — a flagged row with no flag in the same series during the
    previous :func:`quiet_steps` steps (one seasonal cycle, at most a week); the rest of the
    incident stays visible in ``flagged``. "all": is_anomaly = flagged.
    For ``kind="rate"`` value is numerator/denominator and expected the baseline rate.

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
        raise ValueError("kind='rate' needs numerator_col and denominator_col" if kind == "rate"
                         else "kind='count' needs value_col")
    g = to_grid(df, time_col=time_col, value_cols=cols, series_col=series_col, period=period,
                source=source)
    keys = event_keys(g.times, events) if events is not None else None
    if kind == "count":
        res = score_counts(g.values[value_col], g.period, times=g.times, keys=keys, config=cfg)
        value_m = g.values[value_col]
    else:
        X, N = g.values[numerator_col], g.values[denominator_col]
        res = score_rates(X, N, g.period, times=g.times, keys=keys, config=cfg)
        with np.errstate(invalid="ignore", divide="ignore"):
            value_m = X / N
    q = bh_adjust(res["p_value"])
    flag = (q <= a) | res["level_shift"]
    quiet = quiet_steps(g.step, g.period)
    anom = alert_onsets(flag, quiet) if alerts == "onset" else flag
    i, j = g.row_series, g.row_time
    take = lambda m: m[i, j]  # noqa: E731
    value, expected = take(value_m), take(res["expected"])
    z, p_row, q_row, is_anom = take(res["z"]), take(res["p_value"]), take(q), take(anom)
    flagged = take(flag)
    d = np.asarray(g.row_dup)
    if d.any():  # duplicated steps: own value against the step's baseline
        if kind == "count":
            v = pd.to_numeric(df[value_col], errors="coerce").to_numpy(dtype=float)[d]
            tv = np.where(take(res["log"])[d], np.sign(v) * np.log1p(np.abs(v)), v)
            zd = (tv - take(res["center"])[d]) / take(res["scale"])[d]
            pd_ = _norm_p(zd, cfg.tail_df)
        else:
            x = pd.to_numeric(df[numerator_col], errors="coerce").to_numpy(dtype=float)[d]
            n = pd.to_numeric(df[denominator_col], errors="coerce").to_numpy(dtype=float)[d]
            p0 = expected[d]
            phi = 1 + (n - 1) * take(res["rho"])[d] + n * p0 * (1 - p0) * take(res["extra"])[d]
            pd_ = _binom_two_sided(x / phi, n / phi, p0)
            with np.errstate(invalid="ignore", divide="ignore"):
                v = x / n
            zd = np.sign(x - n * p0) * _score_from_p(pd_)
        value[d], z[d], p_row[d] = v, zd, pd_
        with np.errstate(invalid="ignore"):
            q_row[d] = np.fmin(1.0, pd_ * np.nanmax(np.fmax(1, np.sum(np.isfinite(res["p_value"]), 0))))
        flagged[d] = q_row[d] <= a
        is_anom[d] = flagged[d]
        if alerts == "onset":  # an onset when the series was quiet in the steps before
            is_anom[d] &= ~(take(_past_sum(flag.astype(float), quiet, 0))[d] > 0)
    direction = np.where(flagged, np.where(z >= 0, "up", "down"), "")
    return pd.DataFrame({
        "series": np.asarray(g.series)[i] if series_col else "value",
        "timestamp": pd.DatetimeIndex(df[time_col]),
        "value": value, "expected": expected, "lower": take(res["lower"]),
        "upper": take(res["upper"]), "score": _score_from_p(p_row),
        "p_value": p_row, "q_value": q_row, "is_anomaly": is_anom.astype(int),
        "flagged": flagged.astype(int), "direction": direction,
        "severity": _relative_severity(value, expected, flagged),
    })
