"""Promotion lift (活动增量): incremental value of a campaign versus what would have happened.

:func:`promotion_lift` builds the counterfactual from the pre-period with a local-level +
weekly-seasonal UnobservedComponents model (statsmodels) and reports the window's increment with
a simulated interval, the post-campaign dip (pull-forward) and incremental ROI
(:class:`LiftResult`); :func:`did_lift` is the difference-in-differences cross-check against
channels that were not promoted (:class:`DidResult`); :func:`plot_lift` draws actual versus
counterfactual. Works on the store's ``daily_metrics`` (one row per date and channel).

Split out of :mod:`opsnb.retro`, which re-exports every name here.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsnb import plots
from opsnb.errors import ErrorCode
from opsnb.i18n import Labels
from opsnb.results import Result

__all__ = ["LiftResult", "promotion_lift", "DidResult", "did_lift", "plot_lift"]


def _dates(daily: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(daily["date"]).dt.normalize()


def _money_axis(ax, lang: str) -> None:
    plots.axis_units(ax, "money", lang=lang)  # ¥1.2万 / ¥12k ticks, never 1e7


@dataclass(frozen=True)
class LiftResult(Result):
    """Incremental value of a campaign versus a counterfactual from the pre-period.

    ``estimate`` = actual − counterfactual over the campaign window, with a ``level`` interval
    from simulated counterfactual paths; ``post_*`` the same for the days after the campaign
    (negative: pull-forward dip); ``roi`` = (estimate + post_estimate) / spend.
    """

    estimate: float
    ci_low: float
    ci_high: float
    relative: float
    actual: float
    counterfactual: float
    post_estimate: float
    post_ci_low: float
    post_ci_high: float
    net_estimate: float
    spend: float
    roi: float
    method: str
    level: float
    n_pre: int
    n_window: int
    n_post: int
    error_code: str = ErrorCode.OK


def _series(daily: pd.DataFrame, value: str, channels=None) -> pd.Series:
    d = daily if channels is None else daily[daily["channel"].astype(str).isin(list(channels))]
    s = d.assign(_d=_dates(d)).groupby("_d")[value].sum().astype(float)
    if len(s):
        s = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="D"))
    return s


def _counterfactual_paths(
    pre: pd.Series, horizon: int, *, reps: int, seed, param_draws: int = 20
) -> np.ndarray:
    """Simulated paths (horizon × reps) of the series after ``pre`` from a local level +
    fixed weekly seasonal UnobservedComponents model on log values.

    Parameter uncertainty is included by drawing ``param_draws`` variance vectors from the
    estimates' asymptotic normal distribution (reflected at 0), re-filtering with each and
    simulating from its end state: without it the interval under-covers (80 % for a nominal
    95 % in the simulations of ``tests/test_retro.py``; about 92 % with 20 draws).
    """
    import statsmodels.api as sm

    y = np.log(pre.clip(lower=1e-9).to_numpy(float))
    rng = np.random.default_rng(seed)

    def sim(res, n):
        try:  # statsmodels ≥ 0.15 takes ``rng``; older releases ``random_state``
            out = res.simulate(anchor="end", nsimulations=horizon, repetitions=n, rng=rng)
        except TypeError:
            out = res.simulate(anchor="end", nsimulations=horizon, repetitions=n, random_state=rng)
        return np.asarray(out).reshape(horizon, n)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mod = sm.tsa.UnobservedComponents(
            y, level="local level", seasonal=7, stochastic_seasonal=False
        )
        res = mod.fit(disp=False, maxiter=200)
        cov = np.asarray(res.cov_params(), dtype=float)
        if param_draws <= 1 or not np.isfinite(cov).all():
            return np.exp(sim(res, reps))
        draws = np.abs(
            rng.multivariate_normal(
                np.asarray(res.params), cov, size=param_draws, check_valid="ignore"
            )
        )
        per = max(1, reps // param_draws)
        paths = [sim(mod.filter(p), per) for p in draws]
    return np.exp(np.concatenate(paths, axis=1))


def promotion_lift(
    daily: pd.DataFrame,
    start,
    end,
    *,
    value: str = "gmv",
    pre_days: int = 56,
    post_days: int = 7,
    exclude=None,
    channels: Iterable[str] | None = None,
    spend: float | None = None,
    level: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
) -> LiftResult:
    """Incremental ``value`` of a campaign ``start..end`` versus a counterfactual baseline.

    The baseline is a local-level + weekly-seasonal UnobservedComponents model (statsmodels)
    fitted on log daily values of the ``pre_days`` before ``start``; days listed in ``exclude``
    (e.g. other promotions in the pre-period) are set missing so the Kalman filter skips them.
    ``reps`` simulated paths give the interval of the window's counterfactual total, including
    state, noise and (by 20 parameter draws) estimation uncertainty. The model
    forecasts ``post_days`` beyond ``end`` for the post-promotion dip (pull-forward).

    ``spend`` defaults to the window's ``ad_spend`` when the column exists.
    """
    s = _series(daily, value, channels)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    pre = s[(s.index < start) & (s.index >= start - pd.Timedelta(days=pre_days))]
    win = s[(s.index >= start) & (s.index <= end)]
    post = s[(s.index > end) & (s.index <= end + pd.Timedelta(days=post_days))]
    if exclude is not None:
        ex = pd.DatetimeIndex(pd.to_datetime(list(exclude))).normalize()
        pre = pre.where(~pre.index.isin(ex))
    n_pre = int(pre.notna().sum())
    if spend is None:
        spend = float("nan")
        if "ad_spend" in daily.columns:
            d = daily if channels is None else daily[daily["channel"].isin(list(channels))]
            dd = _dates(d)
            spend = float(
                pd.to_numeric(d.loc[(dd >= start) & (dd <= end), "ad_spend"]).fillna(0).sum()
            )
    nan = float("nan")
    if n_pre < 21 or win.isna().any() or len(win) == 0:
        return LiftResult(
            nan,
            nan,
            nan,
            nan,
            float(win.sum()),
            nan,
            nan,
            nan,
            nan,
            nan,
            float(spend),
            nan,
            "unobserved_components",
            level,
            n_pre,
            len(win),
            len(post),
            ErrorCode.TOO_FEW_OBSERVATIONS,
        )
    h = len(win) + len(post)
    paths = _counterfactual_paths(pre, h, reps=reps, seed=seed)
    a = (1 - level) / 2
    cf_win = paths[: len(win)].sum(axis=0)
    lift = win.sum() - cf_win
    est = float(win.sum() - np.median(cf_win))
    lo, hi = np.quantile(lift, [a, 1 - a])
    if len(post):
        pl = post.sum() - paths[len(win) :].sum(axis=0)
        p_est = float(np.median(pl))
        p_lo, p_hi = np.quantile(pl, [a, 1 - a])
    else:
        p_est = p_lo = p_hi = 0.0
    net = est + p_est
    roi = net / spend if spend and np.isfinite(spend) and spend > 0 else nan
    cf = float(np.median(cf_win))
    return LiftResult(
        est,
        float(lo),
        float(hi),
        est / cf if cf > 0 else nan,
        float(win.sum()),
        cf,
        p_est,
        float(p_lo),
        float(p_hi),
        float(net),
        float(spend),
        float(roi),
        "unobserved_components",
        level,
        n_pre,
        len(win),
        len(post),
    )


@dataclass(frozen=True)
class DidResult(Result):
    """Difference-in-differences of log daily values, promoted versus non-promoted channels.

    ``estimate`` is the incremental value in the window implied by the log effect ``effect``
    (``actual × (1 − e^{−effect})``), with the interval from a HAC (Newey–West) standard error.
    """

    estimate: float
    ci_low: float
    ci_high: float
    effect: float
    effect_ci_low: float
    effect_ci_high: float
    p_value: float
    treated_channels: tuple
    control_channels: tuple
    method: str = "did_log_ratio_hac"
    level: float = 0.95
    error_code: str = ErrorCode.OK


def did_lift(
    daily: pd.DataFrame,
    start,
    end,
    control_channels: Iterable[str],
    *,
    value: str = "gmv",
    pre_days: int = 56,
    level: float = 0.95,
) -> DidResult:
    """Compare promoted channels with ``control_channels`` (not promoted) before and during the
    campaign: OLS of ``log(treated / control)`` per day on a window dummy, HAC errors."""
    import statsmodels.api as sm
    from scipy import stats

    control = tuple(str(c) for c in control_channels)
    treated = tuple(sorted(set(daily["channel"].astype(str)) - set(control)))
    nan = float("nan")
    if not control or not treated:
        return DidResult(
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            treated,
            control,
            level=level,
            error_code=ErrorCode.EMPTY_ARM,
        )
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    t = _series(daily, value, treated)
    c = _series(daily, value, control)
    idx = t.index.intersection(c.index)
    idx = idx[(idx >= start - pd.Timedelta(days=pre_days)) & (idx <= end)]
    t, c = t.reindex(idx), c.reindex(idx)
    ok = (t > 0) & (c > 0)
    y = np.log(t[ok] / c[ok])
    post = (y.index >= start).astype(float)
    if post.sum() < 1 or (1 - post).sum() < 7:
        return DidResult(
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            treated,
            control,
            level=level,
            error_code=ErrorCode.TOO_FEW_OBSERVATIONS,
        )
    X = sm.add_constant(np.column_stack([post]))
    res = sm.OLS(y.to_numpy(), X).fit(cov_type="HAC", cov_kwds={"maxlags": 7})
    eff, se = float(res.params[1]), float(res.bse[1])
    z = stats.norm.ppf(0.5 + level / 2)
    lo, hi = eff - z * se, eff + z * se
    actual = float(t[(t.index >= start)].sum())
    inc = lambda e: actual * (1 - np.exp(-e))  # noqa: E731
    return DidResult(
        float(inc(eff)),
        float(inc(lo)),
        float(inc(hi)),
        eff,
        lo,
        hi,
        float(res.pvalues[1]),
        treated,
        control,
        level=level,
    )


def plot_lift(
    daily: pd.DataFrame,
    start,
    end,
    result: LiftResult | None = None,
    *,
    value: str = "gmv",
    pre_days: int = 56,
    post_days: int = 7,
    reps: int = 1000,
    exclude=None,
    seed: int = 0,
    lang: str = "zh",
    ax=None,
):
    """Actual daily values around the campaign and the counterfactual median with its band."""
    L = Labels(lang)
    ax = plots.new_axes(ax, figsize=(10, 4.2))
    s = _series(daily, value)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    pre = s[(s.index < start) & (s.index >= start - pd.Timedelta(days=pre_days))]
    if exclude is not None:
        pre = pre.where(~pre.index.isin(pd.DatetimeIndex(pd.to_datetime(list(exclude)))))
    after = s[(s.index >= start) & (s.index <= end + pd.Timedelta(days=post_days))]
    paths = _counterfactual_paths(pre, len(after), reps=reps, seed=seed)
    a = (1 - (result.level if result else 0.95)) / 2
    lo, med, hi = np.quantile(paths, [a, 0.5, 1 - a], axis=1)
    shown = s[
        (s.index >= start - pd.Timedelta(days=pre_days))
        & (s.index <= end + pd.Timedelta(days=post_days))
    ]
    ax.axvspan(start, end, color=plots.PALETTE[3], alpha=0.12, label=L("活动期", "Campaign"))
    ax.fill_between(
        after.index,
        lo,
        hi,
        color=plots.PALETTE[7],
        alpha=0.25,
        label=L("无活动基线区间", "Counterfactual interval"),
    )
    ax.plot(
        after.index, med, color=plots.PALETTE[7], ls="--", label=L("无活动基线", "Counterfactual")
    )
    ax.plot(
        shown.index, shown.to_numpy(), color=plots.PALETTE[0], lw=1.8, label=L("实际", "Actual")
    )
    _money_axis(ax, lang)
    ax.set_title(L("活动增量：实际 vs 无活动基线", "Promotion lift: actual vs counterfactual"))
    ax.legend(loc="upper left")
    ax.figure.autofmt_xdate()
    return ax
