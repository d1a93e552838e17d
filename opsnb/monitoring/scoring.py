"""Per-metric scorers of the anomaly engine: counts, rates and ratios, with promotion events.

Each scorer takes (series × time) matrices and returns (series × time) arrays (expected,
lower, upper, z, p_value, level_shift, ...) under one :class:`EngineConfig`; the array
kernels (causal rolling statistics, p-values, CUSUM) are in :mod:`opsnb.monitoring.kernels`,
the long-table entry point is :func:`opsnb.monitoring.anomaly.detect`.

Count metrics (visitors, orders, GMV, any positive value) — on ``log1p`` when all values are ≥ 0:

1. level ``ℓ_t`` = median of the last ``4·P`` values (``P`` = seasonal cycle);
2. seasonal ``s_t`` = median of ``y − ℓ`` at the same phase in the last 6 cycles (this also absorbs
   the lag of the level under a steady trend);
3. residual ``r_t = y_t − ℓ_t − s_t``; scale ``σ_t`` = 1.4826 × median ``|r|`` of the last
   ``8·P`` residuals (floored by the Poisson scale for integer counts);
4. two passes: pass 1 uses medians and MAD (robust, outliers still in); points with
   ``|r/σ| > clean_z`` in pass 1 and promotion-event days are then masked, and pass 2 repeats
   steps 1–3 with means and the mean absolute deviation (×1.2533) of the clean points — exact
   rolling sums, statistically more efficient than medians once the outliers are out;
5. ``z = r/σ``; p-value two-sided from Student t (5 df: real residuals have heavy tails);
   CUSUM on clipped ``z`` flags level shifts;
6. after a CUSUM alarm the baseline restarts at the new level for ``shift_horizon`` cycles
   (the last pre-shift cycle's baseline plus the median deviation of the days since the change
   point), and the shift's run of days stays out of the tail estimate; a day that moves back
   from the new level toward the ordinary baseline alarms only when the ordinary baseline finds
   it anomalous too (``shift_return``: the end of a temporary shift is not a spike).

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
event days (prior ``event_spread``); event-day p-values use the normal tail.

Without a reference (the series has no past of the event, issue 15): a public holiday is
scored as an ordinary day with its band widened by the event spread (a −50 % 1 January in a
shop with no January history is an anomaly); a promotion day is scored one-sided against the
ordinary day (only a fall below its band: a first 双11 lift is not an anomaly, a first 618 day at
half a normal day is) and a holiday dip (春节) the other way round. Such days feed the baseline
when pass 1 found them within ``_ORDINARY_Z`` of an ordinary day (toward the event's direction),
so that a shop that does not take part in 618 does not lose a month of history; ordinary days
after weeks of masked days read their seasonal term from older cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsnb.monitoring.kernels import (
    binom_two_sided,
    cusum,
    norm_p,
    past_exceedance,
    past_same_phase,
    past_window,
    score_from_p,
    student_p,
    student_q,
    tail_from_exceedance,
    tail_share,
)

__all__ = ["EngineConfig", "score_counts", "score_rates", "score_ratios"]


@dataclass(frozen=True)
class EngineConfig:
    """One default configuration for every series (no per-series tuning).

    ``level_cycles``/``season_cycles``/``scale_cycles`` are window lengths in seasonal periods
    (daily data: 28, 42 and 56 days). ``clean_z`` masks pass-1 outliers from the baseline;
    ``cusum_k``/``cusum_h`` (in σ) give a two-sided in-control run length of years per series;
    ``event_spread`` is the year-to-year spread of an event multiplier (log/logit units).
    ``tail_df``: the reference distribution of a count's robust z. ``"history"`` (default):
    a scaled Student t whose degrees of freedom are read causally from the series' own past —
    the share of ``|z| > tail_anchor`` over the last ``tail_window`` scale windows, shrunk to
    ``tail_prior_df`` with the weight of ``tail_prior`` points — so that a p-value is uniform
    on the series' own anomaly-free history whether its noise is normal or heavy-tailed; a
    number: that fixed ν (z rescaled to unit t scale); None: normal.
    ``season_test``: the seasonal term is used only where it predicted the recent past better
    than the level alone (seasonality is tested, not assumed from the time step).
    ``rank_margin``: a count's p-value is never below the series' own exceedance rate of
    today's ``|z|`` over the scale window, ``(√k − rank_margin)₊² / n`` (``k`` of the ``n``
    past points as extreme; the square-root bound keeps it below the true rate with high
    probability, so a calibrated p is left alone). Quantised or intermittent series (MAD 0,
    bursts every day) stop alarming on what they do every day; None: off.
    ``shift_restart``: after a CUSUM level shift (of at most +50 % / −33 %) the days up to
    ``shift_horizon`` cycles after its change point are judged against the new level, not
    the old baseline that takes weeks to follow (``_restart_after_shift``; NAB nested CV,
    ``benchmarks/nab_eval.py --cv``: 63.6 / 56.3 / 63.9 → 65.6 / 56.6 / 67.8 standard / low
    FP / low FN, the engine alone 46.6 / 30.2 / 57.9 → 46.3 / 29.4 / 58.9).
    ``shift_return``: during a restart, a day that moves from the new level back toward the
    ordinary baseline has the larger of its two p-values (new level, ordinary baseline): a
    temporary shift (two holiday weeks, a stock-out until the restock) ending reads as the
    series returning, not as a spike against the shifted level. ``benchmarks/daily_events.py``
    (detect): tuning half hits 3.53 → 3.48, false days 0.82 → 0.75 per series, share with at
    most one false day 0.78 → 0.80, 5/5 unchanged (0.25); report half hits 3.53 → 3.53, false
    1.17 → 1.13; ``--part season`` false ordinary days 1.80 → 0.62; NAB shipped default CV
    unchanged (69.6 / 62.3 / 74.1), the engine alone 46.1 / 29.0 / 58.7 → 46.2 / 29.3 / 55.8.
    What it costs: a moderate drop right after an upward shift that the ordinary baseline
    reads as normal (3 labelled −17 … −19 % days of 300 on the tuning half).
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
    tail_df: float | str | None = "history"
    tail_anchor: float = 2.5
    tail_window: int = 4
    tail_prior: float = 100.0
    tail_prior_df: float = 5.0
    season_test: bool = True
    warmup: int = 48
    phase_weight: float = 0.5
    rank_margin: float | None = 2.5
    shift_restart: bool = True
    shift_horizon: float = 6.0
    shift_return: bool = True


# ------------------------------------------------------------------------------------------
# windows and promotion events
# ------------------------------------------------------------------------------------------


def _windows(season: int, cfg: EngineConfig) -> tuple[int, int]:
    w = cfg.level_cycles * season if season > 1 else cfg.min_window
    w = max(w, cfg.min_window if season <= 1 else w)
    return w, (cfg.scale_cycles * season if season > 1 else 2 * cfg.min_window)


def _previous_same_key(
    keys: np.ndarray, times: pd.DatetimeIndex, min_gap_days: int = 300
) -> np.ndarray:
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


def _event_shift(
    resid_raw: np.ndarray, keys: np.ndarray | None, times
) -> tuple[np.ndarray, np.ndarray]:
    """Per (series, t): last year's event multiplier at the same key, and the event-day mask."""
    S, T = resid_raw.shape
    shift = np.zeros((S, T))
    if keys is None:
        return shift, np.zeros(T, dtype=bool)
    is_event = np.asarray([bool(k) for k in keys])
    prev = _previous_same_key(np.asarray(keys), pd.DatetimeIndex(times))
    shift[:, is_event] = np.nan  # no reference → not scored
    shift[:, _first_holiday(keys, prev)] = 0.0  # a public holiday's first year: scored
    has = prev >= 0
    shift[:, has] = resid_raw[:, prev[has]]
    return shift, is_event


def _first_holiday(keys, prev: np.ndarray) -> np.ndarray:
    """Public-holiday days (event slug ``holiday_…``, :func:`opsnb.calendar.public_holidays`)
    without last year's reference: scored as ordinary days widened by the event spread (a
    promotion's first year is not scored; an unusual holiday is still an anomaly)."""
    return np.array([str(k).startswith("holiday_") for k in keys], dtype=bool) & (prev < 0)


def _first_event(keys, times) -> np.ndarray:
    """(T,) calendar days without last year's reference (same event key ≥ 300 days before)."""
    k = np.asarray(keys)
    return (k != "") & (_previous_same_key(k, pd.DatetimeIndex(times)) < 0)


_ORDINARY_Z = 1.5
"""A first-year calendar day within this many σ of an ordinary day (toward the event's known
direction: above for a promotion, below for a dip, either side for a holiday) feeds the
baseline: a shop that does not take part in 618 must not lose a month of history to it, while
the lifted days of a shop that does stay out."""

_DIP_EVENTS = ("spring_festival",)
"""Calendar events (slugs) that lower sales (kind ``holiday_dip`` in :mod:`opsnb.calendar`)."""


def _first_event_side(keys, times) -> np.ndarray:
    """(T,) sign of the effect a calendar event is known to have, on its days without last
    year's reference (0 elsewhere and on public holidays, which :func:`_first_holiday` scores):
    +1 for a promotion (it lifts a count, by an amount the series has not shown yet), −1 for a
    holiday dip (春节: logistics stop). Such a day is scored one-sided against the ordinary
    baseline: a first 618 far above a normal day is expected, a first 618 at half a normal
    day (a storm, an outage, a shop that does not take part and loses a day) is an anomaly."""
    k = np.asarray(keys)
    prev = _previous_same_key(k, pd.DatetimeIndex(times))
    slug = np.array([str(x).split(":")[0] for x in k], dtype=object)
    side = np.where(np.isin(slug, _DIP_EVENTS), -1, 1)
    free = (slug != "") & (prev < 0) & ~_first_holiday(k, prev)
    return np.where(free, side, 0)


def _event_variance(
    err: np.ndarray, noise_var: np.ndarray, keys, times, cfg: EngineConfig, prior_days: float = 10.0
) -> np.ndarray:
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
    v0 = cfg.event_spread**2
    out = np.full((S, T), v0)
    cs, cn = np.zeros(S), np.zeros(S)
    for t in np.flatnonzero(prev >= 0):
        v = np.fmax((prior_days * v0 + cs) / (prior_days + cn), v0 / 16.0)
        out[:, t] = v
        e, nv = err[:, t], noise_var[:, t]
        ok = np.isfinite(e) & np.isfinite(nv)
        with np.errstate(invalid="ignore"):
            ok &= e * e <= cfg.clean_z**2 * (nv + v)
        cs += np.where(ok, np.nan_to_num(e * e - nv), 0.0)
        cn += ok
    return out


def _at_prev(a: np.ndarray, keys, times) -> np.ndarray:
    """``a`` at last year's same event key (NaN where none)."""
    prev = _previous_same_key(np.asarray(keys), pd.DatetimeIndex(times))
    out = np.full(a.shape, np.nan)
    out[:, _first_holiday(keys, prev)] = 0.0  # no reference day: no reference noise
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


_CONSTANT_MIN = 3
"""Same-phase values, all exactly equal, that make a phase constant (:func:`_constant_phases`):
as many as the seasonal term needs deviations."""


def _constant_phases(
    Y: np.ndarray,
    season: int,
    cycles: int,
    calendar_days: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(past, current), each (S × T). ``past``: the value ``c`` where every finite same-phase
    value of the last ``cycles`` cycles (``Y[t − P], Y[t − 2P], …``; calendar days do not
    count) is exactly ``c``, and there are at least :data:`_CONSTANT_MIN` of them, the last one
    included; else NaN. Causal (strictly past). ``current``: the same over ``Y[t], Y[t − P],
    …`` (``cycles`` values: is the point itself part of a constant phase, known at ``t``).
    Both come from one pass over the lags.

    A shop closed on one weekday from its first day has 0 there every week. Until the
    seasonal term holds that phase (3 cycles of deviations after the level's warm-up, and
    enough evidence for the season test) the closed day was scored against the level of
    the open days (−100 %: p ≈ 0.007), masked from pass 2 as a pass-1 outlier, so that
    pass 2 had no seasonal term there for two more cycles, and its residuals inflated the
    scale and thinned the tail (ν) of the open days for two months. Exact equality over the
    whole seasonal window, not closeness: noisy counts of a few dozen a day are equal
    three weeks running by chance (about 1 in 200 at 15 a day), six weeks running
    practically never, and a phase that is exactly constant needs no estimate; a value of
    the phase that moves off ``c`` is still scored on the series' ordinary scale."""
    S, T = Y.shape
    if season <= 1 or T <= _CONSTANT_MIN * season:
        return np.full((S, T), np.nan), np.full((S, T), np.nan)
    X = Y if calendar_days is None else np.where(calendar_days[None, :], np.nan, Y)
    ref_cur = X  # current: compared with the value at t
    ref_past = np.full((S, T), np.nan)  # past: with the last same-phase value
    ref_past[:, season:] = X[:, : T - season]
    same_cur, same_past = np.zeros((S, T), dtype=np.int64), np.zeros((S, T), dtype=np.int64)
    other_cur, other_past = np.zeros((S, T), dtype=bool), np.zeros((S, T), dtype=bool)
    for k in range(cycles + 1):  # lags 0 … cycles − 1 for current, 1 … cycles for past
        if k * season >= T:
            break
        lag = np.full((S, T), np.nan)
        lag[:, k * season :] = X[:, : T - k * season]
        seen = np.isfinite(lag)
        if k < cycles:
            eq = lag == ref_cur  # NaN on either side: not equal
            same_cur += eq
            other_cur |= seen & ~eq
        if k >= 1:
            eq = lag == ref_past
            same_past += eq
            other_past |= seen & ~eq
    past = np.where((same_past >= _CONSTANT_MIN) & ~other_past, ref_past, np.nan)
    current = np.where((same_cur >= _CONSTANT_MIN) & ~other_cur, ref_cur, np.nan)
    return past, current


def _count_pass(
    Y: np.ndarray,
    season: int,
    cfg: EngineConfig,
    use: np.ndarray,
    poisson: np.ndarray,
    log: np.ndarray,
    robust: bool = True,
    calendar_days: np.ndarray | None = None,
):
    """Baseline, residual and scale from the points in ``use``. ``robust``: medians and MAD
    (pass 1, outliers still in); otherwise means and mean absolute deviation, which are exact
    rolling sums (pass 2: the outliers are already masked, so the means are safe and cheap)."""
    W, M = _windows(season, cfg)
    how, k = ("median", 1.4826) if robust else ("mean", 1.2533)  # σ/MAD, σ/E|r| under normality
    Yc = np.where(use, Y, np.nan)
    mp_level = max(3, min(W // 2, cfg.warmup))
    mp_scale = max(5, min(M, 2 * season, 2 * cfg.warmup) // 2)
    level = _fill(
        past_window(Yc, W, mp_level, how),
        lambda at: past_window(Yc, 3 * W, mp_level, how, at=at),
    )
    # too few ordinary days since the start (a series that starts a week before 双11): the
    # median of every day so far, calendar days included
    level = _fill(level, lambda at: past_window(Y, 3 * W, mp_level, "median", at=at))
    dc = Yc - level  # deviation from the level of the points in use (NaN elsewhere)
    seasonal = past_same_phase(dc, season, cfg.season_cycles, 3, how)
    gap = np.isnan(seasonal) & np.isfinite(level)
    if calendar_days is not None:  # event days keep their own rule (last year's multiplier)
        gap &= ~calendar_days[None, :]
    if season > 1 and gap.any():  # ordinary days after weeks of masked days: older cycles
        longer = past_same_phase(dc, season, 3 * cfg.season_cycles, 3, how, at=gap)
        seasonal = np.where(gap, longer, seasonal)
    in_use = np.isfinite(seasonal)  # a seasonal term from ≥ 3 cycles of deviations
    seasonal = np.where(np.isnan(seasonal) & np.isfinite(level), 0.0, seasonal)
    if cfg.season_test and season > 1:
        # seasonality tested, not assumed: keep the seasonal term only where it predicted the
        # recent past better than the level alone (causal: errors strictly before t)
        e_s, e_n = np.abs(dc - seasonal), np.abs(dc)
        mp = mp_scale
        err_s, err_n = past_window(e_s, M, mp, "mean"), past_window(e_n, M, mp, "mean")
        seasonal = np.where(err_n < err_s, 0.0, seasonal)
        in_use &= ~(err_n < err_s)
    mu = level + seasonal

    def resid_scale(mu, fixed):
        r = Y - mu
        absr = np.abs(np.where(use & ~fixed, r, np.nan))  # a fixed day's 0 is not noise
        scale = k * past_window(absr, M, mp_scale, how)
        # warm-up / after long masked spells: spread of the raw values around the level
        # (conservative)
        scale = _fill(scale, lambda at: k * past_window(np.abs(dc), W, mp_level, how, at=at))
        scale = _fill(scale, lambda at: 1.4826 * past_window(np.abs(Y - level), W, mp_level, at=at))
        if season >= 24:  # intraday cycles are heteroscedastic (night vs day): phase scale
            phase = k * past_same_phase(absr, season, cfg.scale_cycles, 4, how)
            w = cfg.phase_weight
            ok = np.isfinite(phase) & (phase > 0)
            scale = np.where(ok, scale ** (1 - w) * np.where(ok, phase, 1.0) ** w, scale)
        lam = np.expm1(np.clip(mu, 0, 50))
        floor_pois = np.where(poisson & log[:, None], np.sqrt(lam) / (lam + 1.0), 0.0)
        floor_rel = np.where(log[:, None], cfg.rel_floor, cfg.rel_floor * np.abs(level) + 1e-12)
        floor = np.fmax(floor_pois, floor_rel)
        return r, np.where(np.isnan(scale), np.nan, np.fmax(scale, floor))

    r, scale = resid_scale(mu, np.zeros(Y.shape, dtype=bool))
    if season > 1:
        # a phase exactly constant over its last cycles (a weekday the shop is closed: 0) at a
        # value the level alone would call an outlier is predicted by that value where the
        # seasonal term is not in use (yet); the points of such a phase (the point itself and
        # its past same-phase values equal; known at the point: causal) stay out of the scale
        # of the other days: _constant_phases
        const, current = _constant_phases(Y, season, cfg.season_cycles, calendar_days)
        off = ~in_use & np.isfinite(current)
        if off.any():
            _, sc_open = resid_scale(mu, off)
            with np.errstate(invalid="ignore"):
                fixed = np.isfinite(const) & ~in_use & (np.abs(const - mu) > cfg.clean_z * sc_open)
                out = fixed | (off & (np.abs(Y - mu) > cfg.clean_z * sc_open))
            if out.any():
                mu = np.where(fixed, const, mu)
                r, scale = resid_scale(mu, out)
    return mu, r, scale


def score_counts(
    values: np.ndarray,
    season: int,
    *,
    times=None,
    keys: np.ndarray | None = None,
    config: EngineConfig = EngineConfig(),
    transform: str = "auto",
) -> dict[str, np.ndarray]:
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
    side = _first_event_side(keys, times) if is_event.any() else np.zeros(T, dtype=int)
    fresh = _first_event(keys, times) if is_event.any() else np.zeros(T, dtype=bool)
    mu1, r1, sc1 = _count_pass(Y, season, config, use, integer, logs, calendar_days=is_event)
    # a calendar day without last year's reference that looked like an ordinary day feeds the
    # baseline (a shop that does not take part must not lose a month of 618 from its history)
    with np.errstate(invalid="ignore", divide="ignore"):
        z1 = r1 / sc1
    # a calendar day without last year's reference that looked like an ordinary day (pass 1)
    # feeds the baseline (:data:`_ORDINARY_Z`)
    with np.errstate(invalid="ignore"):  # how far toward the event's known direction
        toward = np.where(side[None, :] != 0, side[None, :] * z1, np.abs(z1))
        ordinary = finite & fresh[None, :] & (toward <= _ORDINARY_Z)
    clean = (use | ordinary) & ~(np.abs(z1) > config.clean_z)
    mu2, r2, sc2 = _count_pass(
        Y, season, config, clean, integer, logs, robust=False, calendar_days=is_event
    )
    bad = ~np.isfinite(mu2) | ~np.isfinite(sc2)
    mu = np.where(bad, mu1, mu2)
    sc_tail = np.where(bad, sc1, sc2)  # the scale the series' tail is read on (_tail_shape)
    sc, df_sc = _early_scale(Y, clean, sc_tail, season, config, mu=mu, poisson=integer, log=logs)
    mu_pre, sc_pre = mu, sc
    if config.shift_restart and season > 1:  # after a level shift: judged against the new level
        mu, sc, sc_tail, df_sc, runs = _restart_after_shift(
            Y, mu, sc, sc_tail, df_sc, is_event, season, config
        )
    else:
        runs = None
    ev_tail = np.zeros((S, T), dtype=bool)
    mu_day, sc_day = mu, sc  # the ordinary day's baseline and scale
    if keys is not None and is_event.any():
        ev_shift, _ = _event_shift(Y - mu, keys, times)
        noise = sc**2 + _at_prev(sc, keys, times) ** 2  # today's and the reference day's noise
        v_ev = _event_variance(Y - mu - ev_shift, noise, keys, times, config)
        mu = np.where(is_event[None, :], mu + ev_shift, mu)
        sc = np.where(is_event[None, :], np.sqrt(noise + v_ev), sc)
        ev_tail = np.broadcast_to((is_event & (side == 0))[None, :], (S, T))
    z = (Y - mu) / sc
    with np.errstate(invalid="ignore", divide="ignore"):
        nu, c = _tail_shape((Y - mu) / sc_tail, is_event, season, config, runs=runs)
    # event days: a sum of three independent errors (today, the reference day, the yearly
    # spread) with an estimated variance → normal tail; ordinary days the series' own tail
    nu = np.where(ev_tail, 1000.0, nu)
    c = np.where(ev_tail, 1.0, c)
    with np.errstate(divide="ignore"):
        nu = np.where(np.isfinite(df_sc), 1.0 / (1.0 / nu + 1.0 / np.fmax(df_sc, 3.0)), nu)
    p = np.where(np.isnan(z), np.nan, student_p(z * c, nu))
    if config.shift_return and runs is not None and len(runs[0]):
        # a day moving back from the restarted level toward the ordinary baseline is an
        # anomaly only when the ordinary baseline finds it one too (a temporary shift ending)
        with np.errstate(invalid="ignore", divide="ignore"):
            moved = (mu != mu_pre) & ~is_event[None, :] & np.isfinite(mu_pre)
            i = np.nonzero(moved & (np.sign(Y - mu) == np.sign(mu_pre - mu)))
            z_old = (Y[i] - mu_pre[i]) / sc_pre[i]
            p[i] = np.fmax(p[i], student_p(z_old * c[i], nu[i]))
    if side.any():  # first-year promotion / dip days: the other side of an ordinary day
        on = side != 0
        z = np.where(on[None, :], (Y - mu_day) / sc_day, z)
        mu = np.where(on[None, :], mu_day, mu)
        sc = np.where(on[None, :], sc_day, sc)
        against = (side[None, :] * z) < 0
        p = np.where(on[None, :], np.where(against, student_p(z * c, nu), np.nan), p)
    if config.rank_margin is not None:  # the series' own history: rank of today's |z|
        az = np.abs(np.where(is_event[None, :], np.nan, z))
        k, n = past_exceedance(az, _windows(season, config)[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            p_rank = np.where(n > 0, np.fmax(np.sqrt(k) - config.rank_margin, 0.0) ** 2 / n, 0.0)
        p = np.where(np.isfinite(az), np.fmax(p, p_rank), p)
    zc = student_q(config.alpha, nu) / c
    back = lambda a: np.where(logs[:, None], np.sign(a) * np.expm1(np.abs(a)), a)  # noqa: E731
    lower = back(mu - zc * sc)
    lower = np.where(nonneg, np.maximum(lower, 0.0), lower)
    z_eq = np.sign(z) * score_from_p(p)  # normal-equivalent z: heavy tails tamed for CUSUM
    shifts, _ = cusum(
        _ar1_whiten(np.where(is_event[None, :], np.nan, z_eq), config, season),
        k=config.cusum_k,
        h=config.cusum_h,
        clip=config.cusum_clip,
    )
    upper = back(mu + zc * sc)
    if side.any():  # unbounded on the side the event is known to move a count
        lower = np.where(side[None, :] < 0, np.nan, lower)
        upper = np.where(side[None, :] > 0, np.nan, upper)
    return {
        "expected": back(mu),
        "lower": lower,
        "upper": upper,
        "z": z,
        "p_value": p,
        "level_shift": shifts,
        "center": mu,
        "scale": sc,
        "log": np.broadcast_to(logs[:, None], mu.shape),
        "nu": nu,
        "c": c,
    }


_MEDIAN_VAR = np.pi / 2
"""Variance of a median of ``n`` normal values × ``n / σ²``."""

_RESTART_MAX = float(np.log(1.5))
"""Largest shift (log scale: +50 % / −33 %) the baseline restarts at: a shop's level moves
by tens of percent (a new channel, a price change); a fall to a third is an outage and stays
anomalous until the ordinary baseline takes it in (weeks later)."""


def _restart_after_shift(
    Y: np.ndarray,
    mu: np.ndarray,
    sc: np.ndarray,
    sc_tail: np.ndarray,
    df_sc: np.ndarray,
    is_event: np.ndarray,
    season: int,
    cfg: EngineConfig,
):
    """``(mu, sc, sc_tail, df_sc)`` with the baseline restarted after each CUSUM level shift.

    The ordinary baseline needs weeks to follow a shift: pass 1's median level flips after
    half its window, the shifted days before that are masked from pass 2 as outliers, and
    pass 2's mean level mixes old and new days for another window, so days one to three
    weeks after a +20 % shift were false days and a −15 % day then was lost. A CUSUM alarm
    on this series' z (the same statistic as the engine's ``level_shift``, causal: alarm at
    ``t_a`` from data up to ``t_a``) with change point ``τ`` (start of the alarming run)
    restarts the level: from ``t_a + 1`` until ``τ + shift_horizon`` cycles, a day's baseline
    is the last pre-shift cycle's baseline at the same phase plus the median deviation of the
    days since ``τ`` from it (at most the level window's last days), and its scale is that
    pre-shift day's scale widened by the median's error (``1 + π/2 / n``, ``n`` days since
    ``τ``). One restart per episode (later alarms within the horizon are the same shift), and
    none for a shift beyond :data:`_RESTART_MAX` (median of the run days against the old
    baseline) or before the reference cycle has a seasonal term (change point from day
    ``4·P + W/2`` on; earlier, a baseline of NaN left the days unscored).
    Vectorised over episodes, one step per day of the horizon. Also returns the episodes
    ``(series, t_a, τ)`` (their days ``τ … t_a`` stay out of the tail, :func:`_tail_shape`)."""
    S, T = Y.shape
    W, _ = _windows(season, cfg)
    with np.errstate(invalid="ignore", divide="ignore"):
        z0 = (Y - mu) / sc
        nu0, c0 = _tail_shape((Y - mu) / sc_tail, is_event, season, cfg)
        z_eq = np.sign(z0) * score_from_p(student_p(z0 * c0, nu0))
    alarm, _, onset = cusum(
        _ar1_whiten(np.where(is_event[None, :], np.nan, z_eq), cfg, season),
        k=cfg.cusum_k,
        h=cfg.cusum_h,
        clip=cfg.cusum_clip,
        onsets=True,
    )
    H = int(cfg.shift_horizon * season)
    first = 4 * season + min(W // 2, cfg.warmup)  # a reference cycle with a seasonal term
    ep_s, ep_a, ep_tau = [], [], []
    end = {}
    for s_, t_a in zip(*np.nonzero(alarm)):
        tau = int(onset[s_, t_a])
        if tau < first or t_a < end.get(s_, -1):
            continue
        ref = tau - season + (np.arange(t_a + 1 - tau) % season)
        with np.errstate(invalid="ignore"):
            size = np.nanmedian(
                np.where(is_event[tau : t_a + 1], np.nan, Y[s_, tau : t_a + 1] - mu[s_, ref])
            )
        if not abs(size) <= _RESTART_MAX:  # an outage, not a new level: stays anomalous
            continue
        ep_s.append(int(s_))
        ep_a.append(int(t_a))
        ep_tau.append(tau)
        end[s_] = tau + H
    es, ea, et = np.array(ep_s, int), np.array(ep_a, int), np.array(ep_tau, int)
    if not ep_s:
        return mu, sc, sc_tail, df_sc, (es, ea, et)
    j = np.arange(H)
    tt = et[:, None] + j[None, :]  # (episodes × H) days from τ on
    inside = tt < T
    tt_c = np.where(inside, tt, T - 1)
    ref = et[:, None] - season + (j[None, :] % season)  # same phase, last pre-shift cycle
    rows = es[:, None]
    y = np.where(inside & ~is_event[tt_c], Y[rows, tt_c], np.nan)
    e = y - mu[rows, ref]
    mu_n, sc_n, tail_n, df_n = mu.copy(), sc.copy(), sc_tail.copy(), df_sc.copy()
    for k in range(1, H):  # the day τ + k, from the days τ … τ + k − 1
        on = inside[:, k] & (tt[:, k] > ea)
        if not on.any():
            continue
        past = e[on, max(0, k - W) : k]
        n = np.sum(np.isfinite(past), axis=1)
        ok = (n >= 1) & np.isfinite(mu[es[on], ref[on, k]] + sc[es[on], ref[on, k]])
        if not ok.any():
            continue
        with np.errstate(invalid="ignore"):
            delta = np.nanmedian(np.where(ok[:, None], past, 0.0), axis=1)
        r_, t_, f_ = es[on][ok], tt[on, k][ok], ref[on, k][ok]
        mu_n[r_, t_] = mu[r_, f_] + delta[ok]
        widen = np.sqrt(1.0 + _MEDIAN_VAR / n[ok])
        sc_n[r_, t_] = sc[r_, f_] * widen
        tail_n[r_, t_] = sc_tail[r_, f_] * widen
        df_n[r_, t_] = df_sc[r_, f_]
    return mu_n, sc_n, tail_n, df_n, (es, ea, et)


_BASELINE_VAR = 3.0
"""The early scale is the same-phase σ × ``1 + _BASELINE_VAR · (1/cycles + 1/days)``: the
prediction error of a baseline whose seasonal term has a few cycles and whose level a few
weeks, plus the trend and AR drift of real series (3 on the tuning half of
``benchmarks/daily_events.py``; 1.57 there gave 2.10 instead of 1.85 false days per series
with the window starting a cycle earlier)."""

_SCALE_DF = 0.5
"""Degrees of freedom of the early scale per same-phase difference it is read from (a median
of ``n`` differences): a z on a scale from 20 points is a Student t with ~10 df."""


def _early_scale(
    Y: np.ndarray,
    use: np.ndarray,
    scale: np.ndarray,
    season: int,
    cfg: EngineConfig,
    *,
    mu: np.ndarray,
    poisson: np.ndarray,
    log: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The decision scale of a series' first months and its degrees of freedom (inf where
    it is ``scale``): ``scale``, or the spread of same-phase
    differences where that is smaller.

    Until the seasonal term exists (3 cycles after the level's warm-up) a residual still
    holds the weekly pattern, and such residuals stay in the scale window for another
    ``scale_cycles`` cycles: a −50 % day in the second month reached only p ≈ 0.01. The
    difference ``y_t − y_{t−P}`` of two clean days at the same phase holds neither the
    level nor the seasonal term; ``1.4826 · median |Δ| / √2`` over the scale window
    estimates σ, widened by the baseline's own error (:data:`_BASELINE_VAR`). It is used,
    where smaller, from 5 cycles after the level's warm-up (earlier, with a seasonal term
    of 3–4 cycles, it gave a false day per 2 series on the tuning half) until
    ``3·P + W/2 + M`` values have been seen; later the residual scale is unbiased and
    stays as it was. The p-value reads the early z on ``1/(1/ν + 1/df)`` degrees of
    freedom (:data:`_SCALE_DF`). Same floors as the residual scale (Poisson, ``rel_floor``). The tail of
    the series (``ν``) is still read on ``scale``: the first months' z on a scale from a few
    points are heavier-tailed than the series is."""
    if season <= 1:
        return scale, np.full(scale.shape, np.inf)
    W, M = _windows(season, cfg)
    Yc = np.where(use, Y, np.nan)
    d = np.full_like(Yc, np.nan)
    d[:, season:] = Yc[:, season:] - Yc[:, :-season]
    seen = np.cumsum(np.isfinite(Y), axis=1)
    start = 3 * season + min(W // 2, cfg.warmup)  # the first seasonal term (3 cycles)
    early = (seen >= start + 2 * season) & (seen < start + M)
    with np.errstate(invalid="ignore"):  # the median only where it can be used (a few weeks)
        s_d = 1.4826 / np.sqrt(2.0) * past_window(np.abs(d), M, season, "median", at=early)
    n_d = past_window(np.isfinite(d).astype(float), M, 0, "sum")
    # the baseline's own error: a seasonal term from n_c cycles, a level from `seen` days
    n_c = np.clip((seen - min(W // 2, cfg.warmup)) // season, 3, cfg.season_cycles)
    s_d = s_d * (1.0 + _BASELINE_VAR * (1.0 / n_c + 1.0 / np.clip(seen, 1, W)))
    lam = np.expm1(np.clip(mu, 0, 50))
    floor = np.where(poisson & log[:, None], np.sqrt(lam) / (lam + 1.0), 0.0)
    floor = np.fmax(floor, np.where(log[:, None], cfg.rel_floor, cfg.rel_floor * np.abs(mu)))
    s_d = np.fmax(s_d, floor)
    with np.errstate(invalid="ignore"):
        better = early & np.isfinite(s_d) & (s_d < scale)
    return np.where(better, s_d, scale), np.where(better, _SCALE_DF * n_d, np.inf)


def _tail_shape(
    z: np.ndarray, is_event: np.ndarray, season: int, cfg: EngineConfig, runs=None
) -> tuple[np.ndarray, np.ndarray]:
    """(S × T) degrees of freedom ``ν`` and consistency factor ``c`` of the scaled t that ``z``
    is read on (see ``EngineConfig.tail_df``); causal: exceedances strictly before t.

    ``runs`` = ``(series, t_a, τ)`` of level shifts (:func:`_restart_after_shift`): from
    ``t_a + 1`` on, the days ``τ … t_a`` (a shift measured against the old level before
    CUSUM called it) are not counted: four days at z ≈ 3 before an alarm read as ν = 3 for
    the next 224 days, and a −15 % day was then lost."""
    S, T = z.shape
    if cfg.tail_df is None:
        return np.full((S, T), 1000.0), np.ones((S, T))
    if not isinstance(cfg.tail_df, str):
        c, _ = tail_share(float(cfg.tail_df), cfg.tail_anchor)
        return np.full((S, T), float(cfg.tail_df)), np.full((S, T), float(c))
    if cfg.tail_df != "history":
        raise ValueError(f"tail_df must be 'history', a number or None, got {cfg.tail_df!r}")
    _, M = _windows(season, cfg)
    H = cfg.tail_window * M
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(z) & ~is_event[None, :] & (np.abs(z) <= cfg.clean_z)
    ex = np.where(ok, (np.abs(z) > cfg.tail_anchor).astype(float), np.nan)
    k = past_window(ex, H, 0, "sum")
    n = past_window(np.where(ok, 1.0, np.nan), H, 0, "sum")
    if runs is not None and len(runs[0]):
        k, n = _without_runs(k, n, ex, ok, runs, H)
    _, f0 = tail_share(cfg.tail_prior_df, cfg.tail_anchor, cfg.clean_z)
    f = (np.nan_to_num(k) + cfg.tail_prior * f0) / (np.nan_to_num(n) + cfg.tail_prior)
    return tail_from_exceedance(f, cfg.tail_anchor, cfg.clean_z)


def _without_runs(k, n, ex, ok, runs, H: int):
    """``k`` and ``n`` of :func:`_tail_shape` less the run days ``τ … t_a`` of each level
    shift, at ``t > t_a`` (causal: the run is known as a shift from its alarm on), in the
    windows ``[t − H, t)``; one vector step per shift."""
    S, T = k.shape
    ck = np.zeros((S, T + 1))
    cn = np.zeros((S, T + 1))
    np.cumsum(np.nan_to_num(ex), axis=1, out=ck[:, 1:])
    np.cumsum(ok, axis=1, out=cn[:, 1:])
    k, n = k.copy(), n.copy()
    for s_, t_a, tau in zip(*runs):
        t = np.arange(t_a + 1, min(T, t_a + 1 + H))
        lo = np.minimum(np.maximum(tau, t - H), t_a + 1)
        k[s_, t] -= ck[s_, t_a + 1] - ck[s_, lo]
        n[s_, t] -= cn[s_, t_a + 1] - cn[s_, lo]
    return k, n


# ------------------------------------------------------------------------------------------
# rates
# ------------------------------------------------------------------------------------------


def _rate_pass(X, N, season, cfg, use):
    W, M = _windows(season, cfg)
    Xc, Nc = np.where(use, X, np.nan), np.where(use, N, np.nan)
    sx = _fill(
        past_window(Xc, W, max(3, W // 4), "sum"),
        lambda at: past_window(Xc, 3 * W, max(3, W // 4), "sum"),
    )
    sn = _fill(
        past_window(Nc, W, max(3, W // 4), "sum"),
        lambda at: past_window(Nc, 3 * W, max(3, W // 4), "sum"),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        p0 = sx / sn
        p0 = np.clip(p0, 0.5 / np.fmax(sn, 1), 1 - 0.5 / np.fmax(sn, 1))
        pear2 = (X - N * p0) ** 2 / (N * p0 * (1 - p0))
    ok = use & np.isfinite(pear2) & (N > 1)
    e1, e2 = np.where(ok, np.fmin(pear2, 25.0) - 1.0, np.nan), np.where(ok, N - 1.0, np.nan)
    num = _fill(
        past_window(e1, M, max(5, M // 4), "sum"), lambda at: past_window(e1, 3 * M, 5, "sum")
    )
    den = _fill(
        past_window(e2, M, max(5, M // 4), "sum"), lambda at: past_window(e2, 3 * M, 5, "sum")
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.clip(num / den, 0.0, 0.5)
    return p0, rho, pear2


def score_rates(
    numerator: np.ndarray,
    denominator: np.ndarray,
    season: int,
    *,
    times=None,
    keys: np.ndarray | None = None,
    config: EngineConfig = EngineConfig(),
) -> dict[str, np.ndarray]:
    """Score every day's rate ``x/n`` against the causal baseline rate with its own denominator.

    Returns (S × T) arrays ``expected`` (baseline rate), ``lower``/``upper`` (1 − alpha interval
    for the rate at that day's denominator), ``z``, ``p_value``, ``rho`` (over-dispersion),
    ``level_shift``.
    """
    from scipy.special import expit, logit, ndtri

    X = np.asarray(numerator, dtype=float)
    N = np.asarray(denominator, dtype=float)
    finite = np.isfinite(X) & np.isfinite(N) & (N > 0)
    is_event = (
        np.asarray([bool(k) for k in keys]) if keys is not None else np.zeros(X.shape[1], bool)
    )
    use = finite & ~is_event[None, :]
    p1, rho1, pear1 = _rate_pass(X, N, season, config, use)
    phi1 = 1 + (N - 1) * rho1
    z1 = np.sign(X - N * p1) * np.sqrt(np.fmax(pear1, 0) / phi1)
    clean = use & ~(np.abs(z1) > config.clean_z)
    p0, rho, _ = _rate_pass(X, N, season, config, clean)
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
        p_val = binom_two_sided(X / phi, N / phi, p0)
        sd = np.sqrt(phi * p0 * (1 - p0) / N)
    p_val = np.where(finite, p_val, np.nan)
    z = np.sign(X - N * p0) * score_from_p(p_val)
    zc = -ndtri(config.alpha / 2)
    shifts, _ = cusum(
        _ar1_whiten(np.where(is_event[None, :], np.nan, z), config, season),
        k=config.cusum_k,
        h=config.cusum_h,
        clip=config.cusum_clip,
    )
    return {
        "expected": p0,
        "lower": np.maximum(p0 - zc * sd, 0),
        "upper": np.minimum(p0 + zc * sd, 1),
        "z": z,
        "p_value": p_val,
        "rho": rho,
        "level_shift": shifts,
        "extra": extra,
    }


def _ratio_pass(Y, X, N, season, cfg, use, robust):
    """Baseline log ratio (log of the ratio of sums) and per-unit dispersion ``κ²`` from ``use``."""
    W, M = _windows(season, cfg)
    Xc, Nc = np.where(use, X, np.nan), np.where(use, N, np.nan)
    sx = _fill(
        past_window(Xc, W, max(3, W // 4), "sum"),
        lambda at: past_window(Xc, 3 * W, max(3, W // 4), "sum"),
    )
    sn = _fill(
        past_window(Nc, W, max(3, W // 4), "sum"),
        lambda at: past_window(Nc, 3 * W, max(3, W // 4), "sum"),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        m0 = np.log(sx / sn)
        e = (Y - m0) * np.sqrt(N)  # residual per unit of the denominator
    e = np.where(use & np.isfinite(e), e, np.nan)
    if robust:
        k2 = (
            1.4826
            * _fill(
                past_window(np.abs(e), M, max(5, M // 4), "median"),
                lambda at: past_window(np.abs(e), 3 * M, 5, "median", at=at),
            )
        ) ** 2
    else:
        k2 = _fill(
            past_window(e * e, M, max(5, M // 4), "mean"),
            lambda at: past_window(e * e, 3 * M, 5, "mean"),
        )
    return m0, k2


def score_ratios(
    numerator: np.ndarray,
    denominator: np.ndarray,
    season: int,
    *,
    times=None,
    keys: np.ndarray | None = None,
    config: EngineConfig = EngineConfig(),
) -> dict[str, np.ndarray]:
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
    m1, k1 = _ratio_pass(Y, X, N, season, config, use, robust=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        z1 = (Y - m1) / np.sqrt(k1 / N)
    clean = use & ~(np.abs(z1) > config.clean_z)
    m0, k2 = _ratio_pass(Y, X, N, season, config, clean, robust=False)
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
    p = norm_p(z, None)
    zc = -ndtri(config.alpha / 2)
    shifts, _ = cusum(
        _ar1_whiten(np.where(is_event[None, :], np.nan, z), config, season),
        k=config.cusum_k,
        h=config.cusum_h,
        clip=config.cusum_clip,
    )
    return {
        "expected": np.exp(m0),
        "lower": np.exp(m0 - zc * sd),
        "upper": np.exp(m0 + zc * sd),
        "z": z,
        "p_value": p,
        "kappa2": k2,
        "level_shift": shifts,
    }


# ------------------------------------------------------------------------------------------
# level shifts on autocorrelated residuals
# ------------------------------------------------------------------------------------------


def _ar1_whiten(z: np.ndarray, cfg: EngineConfig, season: int) -> np.ndarray:
    """``z`` rescaled for CUSUM by its causal lag-1 autocorrelation ``φ`` (strictly-past window).

    Residuals of real series are autocorrelated; the variance of a sum of ``n`` of them is about
    ``n σ² (1 + φ)/(1 − φ)``, so CUSUM on raw ``z`` drifts past ``h`` far more often than its
    nominal run length. Dividing by ``√((1 + φ)/(1 − φ))`` restores the effective variance.
    ``φ`` = ratio of the past means of ``z_t z_{t-1}`` and ``z_t²`` over the scale window
    (``|z| ≤ clean_z`` only), clipped to [0, 0.9]; 0 until enough history."""
    _, M = _windows(season, cfg)
    zc = np.where(np.abs(z) <= cfg.clean_z, z, np.nan)
    lag = np.full_like(zc, np.nan)
    lag[:, 1:] = zc[:, :-1]
    num = past_window(zc * lag, M, max(10, M // 4), "mean")
    den = past_window(np.where(np.isfinite(lag), zc * zc, np.nan), M, max(10, M // 4), "mean")
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.clip(np.nan_to_num(num / den, nan=0.0), 0.0, 0.9)
    return z * np.sqrt((1.0 - phi) / (1.0 + phi))
