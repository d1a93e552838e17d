"""Retrospective (复盘): achievement versus target, pace, attribution, promotion lift, execution.

Step 4 of the ops cycle. Everything here works on the store's tables (``daily_metrics``,
``targets``, ``plan`` 表1, ``milestones`` 表2) and on :mod:`opsnb.drivers` for exact attribution.

Metric definitions (:data:`METRICS`), computed from summed daily counts
--------------------------------------------------------------------------
``gmv``, ``visitors``, ``buyers``, ``orders``, ``new_buyers``, ``ad_spend``  sums;
``conversion_rate`` = buyers / visitors; ``aov`` = gmv / orders;
``refund_rate`` = refund_orders / orders (**lower is better**);
``new_user_conversion`` = new_buyers / visitors (新客转化率: first-time buyers per visitor);
``repurchase_rate`` = (buyers − new_buyers) / buyers (复购率: share of buyers who bought before).

Achievement rate is ``actual / target`` for higher-is-better metrics and ``target / actual`` for
lower-is-better ones, so 100 % always means "on target" and above is better.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from datetime import date
from typing import Iterable

import numpy as np
import pandas as pd

from . import drivers, plots
from .errors import ErrorCode
from .i18n import Labels

__all__ = [
    "METRICS",
    "metric_value",
    "achievement",
    "daily_target_shape",
    "pace",
    "Projection",
    "project",
    "plot_pace",
    "target_frame",
    "attribution",
    "LiftResult",
    "promotion_lift",
    "DidResult",
    "did_lift",
    "plot_lift",
    "execution_review",
    "campaign_window",
    "campaign_summary",
    "past_campaigns",
]

# name: (numerator, denominator or None, higher_is_better, zh, en)
METRICS: dict[str, tuple[str, str | None, bool, str, str]] = {
    "gmv": ("gmv", None, True, "成交金额", "GMV"),
    "visitors": ("visitors", None, True, "访客数", "Visitors"),
    "buyers": ("buyers", None, True, "买家数", "Buyers"),
    "orders": ("orders", None, True, "订单数", "Orders"),
    "new_buyers": ("new_buyers", None, True, "新买家数", "New buyers"),
    "ad_spend": ("ad_spend", None, False, "推广花费", "Ad spend"),
    "conversion_rate": ("buyers", "visitors", True, "转化率", "Conversion rate"),
    "aov": ("gmv", "orders", True, "客单价", "AOV"),
    "refund_rate": ("refund_orders", "orders", False, "退款率", "Refund rate"),
    "new_user_conversion": ("new_buyers", "visitors", True, "新客转化率", "New-user conversion"),
    "repurchase_rate": ("returning_buyers", "buyers", True, "复购率", "Repurchase rate"),
}

STATUS_LABELS = {
    "achieved": ("已达成", "Achieved"),
    "missed": ("未达成", "Missed"),
    "on_track": ("进度正常", "On track"),
    "behind": ("进度落后", "Behind"),
    "no_data": ("无数据", "No data"),
}


def _money_axis(ax, lang: str) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(
        lambda y, _: plots.format_money(y, lang).replace(".00", "")))


def _label(L: Labels, pair) -> str:
    return L(*pair)


def _sums(daily: pd.DataFrame) -> pd.Series:
    cols = [c for c in ("gmv", "visitors", "buyers", "orders", "refund_orders", "new_buyers",
                        "ad_spend", "refund_amount") if c in daily.columns]
    s = daily[cols].apply(pd.to_numeric, errors="coerce").astype(float).sum()
    if "new_buyers" in s and "buyers" in s:
        s["returning_buyers"] = s["buyers"] - s["new_buyers"]
    return s


def metric_value(daily: pd.DataFrame, metric: str) -> float:
    """Value of ``metric`` (see :data:`METRICS`) over the rows of ``daily`` (NaN if undefined)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    num, den, *_ = METRICS[metric]
    s = _sums(daily)
    if num not in s or (den is not None and den not in s):
        return float("nan")
    if den is None:
        return float(s[num])
    return float(s[num] / s[den]) if s[den] > 0 else float("nan")


# ---------------------------------------------------------------------------------------------
# achievement and pace
# ---------------------------------------------------------------------------------------------


def _dates(daily: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(daily["date"]).dt.normalize()


def daily_target_shape(history: pd.DataFrame, start, end, *, value: str = "gmv") -> pd.Series:
    """Weights (summing to 1) that spread a period target over its days.

    The shape is last year's daily ``value`` on the same calendar dates (so 双11 falls on
    11-11 again); without last year's data the target is spread evenly. Index: the period's days.
    """
    days = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D")
    if history is not None and len(history):
        h = history.assign(_d=_dates(history)).groupby("_d")[value].sum()
        ly = pd.Series([h.get(d - pd.DateOffset(years=1), np.nan) for d in days], index=days)
        if ly.notna().all() and ly.sum() > 0:
            return ly / ly.sum()
    return pd.Series(1.0 / len(days), index=days)


def pace(daily: pd.DataFrame, target_total: float, start, end, *, history=None,
         as_of=None, value: str = "gmv") -> pd.DataFrame:
    """Cumulative actual versus the plan's cumulative target, day by day.

    Columns: ``date``, ``actual`` (the day's value, NaN after ``as_of``), ``target`` (the day's
    share of ``target_total`` by :func:`daily_target_shape` on ``history``), ``cum_actual``,
    ``cum_target``, ``pace`` (cum_actual / cum_target).
    """
    shape = daily_target_shape(history if history is not None else daily, start, end,
                               value=value)
    days = shape.index
    act = daily.assign(_d=_dates(daily)).groupby("_d")[value].sum().reindex(days)
    if as_of is not None:
        act[days > pd.Timestamp(as_of)] = np.nan
    out = pd.DataFrame({"date": days, "actual": act.to_numpy(float),
                        "target": shape.to_numpy() * float(target_total)})
    out["cum_actual"] = out["actual"].cumsum().where(out["actual"].notna())
    out["cum_target"] = out["target"].cumsum()
    out["pace"] = out["cum_actual"] / out["cum_target"]
    return out


@dataclass(frozen=True)
class Projection:
    """Projection of a running period's total: ``estimate`` with a ``level`` interval."""

    estimate: float
    ci_low: float
    ci_high: float
    actual_to_date: float
    days_elapsed: int
    days_left: int
    target: float
    prob_reach_target: float
    method: str = "ratio to last year's shape (log scale)"
    level: float = 0.95
    error_code: str = ErrorCode.OK

    def to_dict(self) -> dict:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])


def project(pace_table: pd.DataFrame, *, level: float = 0.95) -> Projection:
    """Project the period total from a :func:`pace` table whose last days are still missing.

    Each elapsed day's ratio actual/target is taken on the log scale: its mean ``m`` is the
    run-rate versus plan and its standard deviation ``s`` the day-to-day noise. The remaining
    days are projected at ``target × exp(m)``; the interval combines the uncertainty of ``m``
    (``s² / n``) with the noise of the remaining days' average (``s² / h``), normal on the log
    scale. A finished period returns its actual total with a zero-width interval.
    """
    from scipy import stats

    t = pace_table
    seen = t["actual"].notna()
    n, h = int(seen.sum()), int((~seen).sum())
    total_target = float(t["target"].sum())
    done = float(t.loc[seen, "actual"].sum())
    if h == 0:
        return Projection(done, done, done, done, n, 0, total_target,
                          float(done >= total_target), method="period complete", level=level)
    if n < 3:
        return Projection(np.nan, np.nan, np.nan, done, n, h, total_target, np.nan,
                          level=level, error_code=ErrorCode.TOO_FEW_OBSERVATIONS)
    ok = seen & (t["actual"] > 0) & (t["target"] > 0)
    r = np.log(t.loc[ok, "actual"] / t.loc[ok, "target"])
    m, s = float(r.mean()), float(r.std(ddof=1)) if len(r) > 1 else 0.0
    rest = float(t.loc[~seen, "target"].sum())
    z = stats.norm.ppf(0.5 + level / 2)
    se = s * np.sqrt(1.0 / max(len(r), 1) + 1.0 / h)
    est = done + rest * np.exp(m)
    lo, hi = done + rest * np.exp(m - z * se), done + rest * np.exp(m + z * se)
    need = total_target - done
    if need <= 0:
        p = 1.0
    elif se == 0:
        p = float(rest * np.exp(m) >= need)
    else:
        p = float(1 - stats.norm.cdf((np.log(need / rest) - m) / se))
    return Projection(float(est), float(lo), float(hi), done, n, h, total_target, p, level=level)


def achievement(daily: pd.DataFrame, targets: pd.DataFrame, period_label: str, *,
                history: pd.DataFrame | None = None, start=None, end=None, as_of=None,
                lang: str = "zh") -> pd.DataFrame:
    """运营效果汇总表: one row per target of ``period_label`` (metric × channel).

    ``daily`` holds the period's rows so far (``daily_metrics``); ``targets`` the store's
    targets table. For a running period (``as_of < end``) sums are also compared with the
    target share due by ``as_of`` (last year's shape, from ``history``) to say on track / behind.

    Columns: ``metric``, ``metric_name``, ``channel``, ``owner``, ``target``, ``actual``,
    ``achievement`` (≥ 1 is good, direction handled), ``gap`` (actual − target), ``expected_to_date``
    (target due by as_of for sums, else the target), ``status`` (achieved, missed, on_track,
    behind, no_data), ``status_name``, ``higher_is_better``.
    """
    L = Labels(lang)
    t = targets[targets["period"].astype(str) == str(period_label)]
    running = (as_of is not None and end is not None and pd.Timestamp(as_of) < pd.Timestamp(end))
    share_due = 1.0
    if running and start is not None:
        shape = daily_target_shape(history if history is not None else daily, start, end)
        share_due = float(shape[shape.index <= pd.Timestamp(as_of)].sum())
    rows = []
    for _, g in t.iterrows():
        metric, ch = str(g["metric"]), str(g["channel"])
        if metric not in METRICS:
            actual = np.nan
            higher, zh, en, is_sum = True, metric, metric, False
        else:
            _, den, higher, zh, en = METRICS[metric]
            is_sum = den is None
            rows_ = daily if ch == "全部" else daily[daily["channel"].astype(str) == ch]
            actual = metric_value(rows_, metric) if len(rows_) else np.nan
        target = float(g["target"])
        due = target * share_due if is_sum else target
        if np.isnan(actual) or target == 0:
            ach = np.nan
        elif higher:
            ach = actual / target
        else:
            ach = target / actual if actual > 0 else np.inf
        if np.isnan(actual):
            status = "no_data"
        elif running:
            good = (actual >= due) if higher else (actual <= due)
            status = "on_track" if good else "behind"
        else:
            good = (actual >= target) if higher else (actual <= target)
            status = "achieved" if good else "missed"
        rows.append(dict(metric=metric, metric_name=L(zh, en), channel=ch,
                         owner=str(g.get("owner", "") or ""), target=target, actual=actual,
                         achievement=ach, gap=actual - target, expected_to_date=due,
                         status=status, status_name=_label(L, STATUS_LABELS[status]),
                         higher_is_better=higher))
    out = pd.DataFrame(rows, columns=["metric", "metric_name", "channel", "owner", "target",
                                      "actual", "achievement", "gap", "expected_to_date",
                                      "status", "status_name", "higher_is_better"])
    order = {m: i for i, m in enumerate(METRICS)}
    out["_o"] = out["metric"].map(order).fillna(99)
    out["_c"] = (out["channel"] != "全部").astype(int)
    return out.sort_values(["_c", "_o", "channel"]).drop(columns=["_o", "_c"]).reset_index(drop=True)


def plot_pace(pace_table: pd.DataFrame, projection: Projection | None = None, *,
              lang: str = "zh", ax=None):
    """Cumulative actual (blue) versus cumulative target (grey dashed), with the projection."""
    L = Labels(lang)
    ax = plots.new_axes(ax, figsize=(10, 4.2))
    t = pace_table
    ax.plot(t["date"], t["cum_target"], ls="--", color=plots.PALETTE[7],
            label=L("累计目标", "Cumulative target"))
    ax.plot(t["date"], t["cum_actual"], color=plots.PALETTE[0], lw=2.2,
            label=L("累计实际", "Cumulative actual"))
    if projection is not None and projection.days_left > 0 and np.isfinite(projection.estimate):
        last = t.loc[t["actual"].notna(), "date"].max()
        endd = t["date"].max()
        ax.plot([last, endd], [projection.actual_to_date, projection.estimate],
                color=plots.PALETTE[0], ls=":", lw=1.8, label=L("预测", "Projection"))
        ax.errorbar([endd], [projection.estimate],
                    yerr=[[projection.estimate - projection.ci_low],
                          [projection.ci_high - projection.estimate]],
                    color=plots.PALETTE[0], capsize=4, fmt="o")
    _money_axis(ax, lang)
    ax.set_title(L("目标进度（累计）", "Pace versus plan (cumulative)"))
    ax.set_ylabel(L("成交金额", "GMV"))
    ax.legend(loc="upper left")
    ax.figure.autofmt_xdate()
    return ax


# ---------------------------------------------------------------------------------------------
# attribution
# ---------------------------------------------------------------------------------------------


def target_frame(channel_targets: pd.Series | dict, reference: pd.DataFrame) -> pd.DataFrame:
    """A target funnel per channel: the reference period's funnel scaled to the channel's GMV
    target (rates kept), so :func:`opsnb.drivers.decompose_gmv` can attribute actual − target.

    ``channel_targets``: channel → GMV target. ``reference``: rows with channel, visitors,
    buyers, orders, gmv (e.g. the comparison period). A channel without reference data gets
    the shop's average rates.
    """
    cols = ["visitors", "buyers", "orders", "gmv"]
    ref = reference.groupby(reference["channel"].astype(str))[cols].sum().astype(float)
    tot = ref.sum()
    rows = []
    for ch, tg in dict(channel_targets).items():
        base = ref.loc[ch] if ch in ref.index and ref.loc[ch, "gmv"] > 0 else tot
        k = float(tg) / base["gmv"] if base["gmv"] > 0 else 0.0
        rows.append(dict(channel=ch, **{c: base[c] * k for c in cols}))
    out = pd.DataFrame(rows, columns=["channel", *cols])
    out["gmv"] = [float(v) for v in dict(channel_targets).values()]
    return out


def attribution(before: pd.DataFrame, after: pd.DataFrame, *, method: str = "lmdi"
                ) -> dict[str, pd.DataFrame]:
    """Both exact splits of ``gmv_after − gmv_before``: ``{"factors": decompose_gmv(...),
    "mix": decompose_mix(...), "summary": per-factor totals, "mix_summary": per-effect totals}``."""
    f = drivers.decompose_gmv(before, after, method=method)
    m = drivers.decompose_mix(before, after, method=method)
    return {"factors": f, "mix": m, "summary": drivers.summarize_decomposition(f),
            "mix_summary": drivers.summarize_decomposition(m)}


# ---------------------------------------------------------------------------------------------
# promotion lift
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiftResult:
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

    def to_dict(self) -> dict:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])


def _series(daily: pd.DataFrame, value: str, channels=None) -> pd.Series:
    d = daily if channels is None else daily[daily["channel"].astype(str).isin(list(channels))]
    s = d.assign(_d=_dates(d)).groupby("_d")[value].sum().astype(float)
    if len(s):
        s = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="D"))
    return s


def _counterfactual_paths(pre: pd.Series, horizon: int, *, reps: int, seed,
                          param_draws: int = 20) -> np.ndarray:
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
            out = res.simulate(anchor="end", nsimulations=horizon, repetitions=n,
                               random_state=rng)
        return np.asarray(out).reshape(horizon, n)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mod = sm.tsa.UnobservedComponents(y, level="local level", seasonal=7,
                                          stochastic_seasonal=False)
        res = mod.fit(disp=False, maxiter=200)
        cov = np.asarray(res.cov_params(), dtype=float)
        if param_draws <= 1 or not np.isfinite(cov).all():
            return np.exp(sim(res, reps))
        draws = np.abs(rng.multivariate_normal(np.asarray(res.params), cov, size=param_draws,
                                               check_valid="ignore"))
        per = max(1, reps // param_draws)
        paths = [sim(mod.filter(p), per) for p in draws]
    return np.exp(np.concatenate(paths, axis=1))


def promotion_lift(daily: pd.DataFrame, start, end, *, value: str = "gmv", pre_days: int = 56,
                   post_days: int = 7, exclude=None, channels: Iterable[str] | None = None,
                   spend: float | None = None, level: float = 0.95, reps: int = 2000,
                   seed: int = 0) -> LiftResult:
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
            spend = float(pd.to_numeric(d.loc[(dd >= start) & (dd <= end), "ad_spend"])
                          .fillna(0).sum())
    nan = float("nan")
    if n_pre < 21 or win.isna().any() or len(win) == 0:
        return LiftResult(nan, nan, nan, nan, float(win.sum()), nan, nan, nan, nan, nan,
                          float(spend), nan, "unobserved_components", level, n_pre, len(win),
                          len(post), ErrorCode.TOO_FEW_OBSERVATIONS)
    h = len(win) + len(post)
    paths = _counterfactual_paths(pre, h, reps=reps, seed=seed)
    a = (1 - level) / 2
    cf_win = paths[: len(win)].sum(axis=0)
    lift = win.sum() - cf_win
    est = float(win.sum() - np.median(cf_win))
    lo, hi = np.quantile(lift, [a, 1 - a])
    if len(post):
        pl = post.sum() - paths[len(win):].sum(axis=0)
        p_est = float(np.median(pl))
        p_lo, p_hi = np.quantile(pl, [a, 1 - a])
    else:
        p_est = p_lo = p_hi = 0.0
    net = est + p_est
    roi = net / spend if spend and np.isfinite(spend) and spend > 0 else nan
    cf = float(np.median(cf_win))
    return LiftResult(est, float(lo), float(hi), est / cf if cf > 0 else nan, float(win.sum()),
                      cf, p_est, float(p_lo), float(p_hi), float(net), float(spend), float(roi),
                      "unobserved_components", level, n_pre, len(win), len(post))


@dataclass(frozen=True)
class DidResult:
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

    def to_dict(self) -> dict:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])


def did_lift(daily: pd.DataFrame, start, end, control_channels: Iterable[str], *,
             value: str = "gmv", pre_days: int = 56, level: float = 0.95) -> DidResult:
    """Compare promoted channels with ``control_channels`` (not promoted) before and during the
    campaign: OLS of ``log(treated / control)`` per day on a window dummy, HAC errors."""
    import statsmodels.api as sm
    from scipy import stats

    control = tuple(str(c) for c in control_channels)
    treated = tuple(sorted(set(daily["channel"].astype(str)) - set(control)))
    nan = float("nan")
    if not control or not treated:
        return DidResult(nan, nan, nan, nan, nan, nan, nan, treated, control, level=level,
                         error_code=ErrorCode.EMPTY_ARM)
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
        return DidResult(nan, nan, nan, nan, nan, nan, nan, treated, control, level=level,
                         error_code=ErrorCode.TOO_FEW_OBSERVATIONS)
    X = sm.add_constant(np.column_stack([post]))
    res = sm.OLS(y.to_numpy(), X).fit(cov_type="HAC", cov_kwds={"maxlags": 7})
    eff, se = float(res.params[1]), float(res.bse[1])
    z = stats.norm.ppf(0.5 + level / 2)
    lo, hi = eff - z * se, eff + z * se
    actual = float(t[(t.index >= start)].sum())
    inc = lambda e: actual * (1 - np.exp(-e))  # noqa: E731
    return DidResult(float(inc(eff)), float(inc(lo)), float(inc(hi)), eff, lo, hi,
                     float(res.pvalues[1]), treated, control, level=level)


def plot_lift(daily: pd.DataFrame, start, end, result: LiftResult | None = None, *,
              value: str = "gmv", pre_days: int = 56, post_days: int = 7, reps: int = 1000,
              exclude=None, seed: int = 0, lang: str = "zh", ax=None):
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
    shown = s[(s.index >= start - pd.Timedelta(days=pre_days)) &
              (s.index <= end + pd.Timedelta(days=post_days))]
    ax.axvspan(start, end, color=plots.PALETTE[3], alpha=0.12, label=L("活动期", "Campaign"))
    ax.fill_between(after.index, lo, hi, color=plots.PALETTE[7], alpha=0.25,
                    label=L("无活动基线区间", "Counterfactual interval"))
    ax.plot(after.index, med, color=plots.PALETTE[7], ls="--", label=L("无活动基线", "Counterfactual"))
    ax.plot(shown.index, shown.to_numpy(), color=plots.PALETTE[0], lw=1.8,
            label=L("实际", "Actual"))
    _money_axis(ax, lang)
    ax.set_title(L("活动增量：实际 vs 无活动基线", "Promotion lift: actual vs counterfactual"))
    ax.legend(loc="upper left")
    ax.figure.autofmt_xdate()
    return ax


# ---------------------------------------------------------------------------------------------
# execution review (表1 / 表2)
# ---------------------------------------------------------------------------------------------


def execution_review(plan: pd.DataFrame, milestones: pd.DataFrame | None = None, *, as_of,
                     lang: str = "zh") -> dict:
    """On-time completion, delays by owner and risks that materialised.

    A plan task is *due* when its ``end`` ≤ ``as_of``; it is *on time* when its status is
    已完成 and its last update (``updated``, else ``end``) is on or before ``end``; *late* when
    due and not on time (延期, still open, or finished after ``end``). A milestone's risk
    *materialised* when its date has passed and it was not met (``done`` false). When the plan
    has ``updated`` dates, tasks are judged as of the latest update (``summary["as_of"]``), since
    later statuses are unknown.

    Returns ``{"summary": dict, "by_owner": DataFrame(owner, tasks, due, on_time, late,
    days_late, on_time_rate), "late_tasks": DataFrame, "risks": DataFrame(milestone, date,
    owner, risk, response, materialised, no_response)}``.
    """
    L = Labels(lang)
    as_of = pd.Timestamp(as_of)
    p = plan.copy()
    if "updated" in p.columns and pd.to_datetime(p["updated"]).notna().any():
        # statuses are only known as of the plan's latest update: judge due dates then
        as_of = min(as_of, pd.to_datetime(p["updated"]).max())
    p["end"] = pd.to_datetime(p["end"])
    upd = pd.to_datetime(p["updated"]) if "updated" in p.columns else pd.Series(pd.NaT,
                                                                                index=p.index)
    done = p["status"].astype(str) == "已完成"
    finished = upd.fillna(p["end"])
    p["due"] = p["end"] <= as_of
    p["on_time"] = done & (finished <= p["end"])
    p["late"] = p["due"] & ~p["on_time"]
    ref = pd.Series(np.where(done, finished, as_of), index=p.index)
    p["days_late"] = np.where(p["late"], (pd.to_datetime(ref) - p["end"]).dt.days.clip(lower=0),
                              0)
    by = p.groupby("owner").agg(tasks=("task", "size"), due=("due", "sum"),
                                on_time=("on_time", "sum"), late=("late", "sum"),
                                days_late=("days_late", "sum")).reset_index()
    by["on_time_rate"] = by["on_time"] / by["due"].where(by["due"] > 0)
    by = by.sort_values(["late", "days_late"], ascending=False).reset_index(drop=True)
    due = int(p["due"].sum())
    on_time_due = int((p["on_time"] & p["due"]).sum())
    summary = {"tasks": int(len(p)), "due": due, "on_time": on_time_due,
               "late": int(p["late"].sum()),
               "on_time_rate": on_time_due / due if due else float("nan"),
               "budget": float(pd.to_numeric(p.get("budget"), errors="coerce").fillna(0).sum())
               if "budget" in p.columns else float("nan")}
    late_cols = [c for c in ("cycle", "task", "owner", "end", "status", "days_late")
                 if c in p.columns]
    late = p.loc[p["late"], late_cols].sort_values("days_late", ascending=False)
    risks = pd.DataFrame()
    if milestones is not None and len(milestones):
        m = milestones.copy()
        m["date"] = pd.to_datetime(m["date"])
        met = m["done"].fillna(False).astype(bool) if "done" in m.columns else False
        m["materialised"] = (m["date"] <= as_of) & ~met
        resp = m["response"] if "response" in m.columns else pd.Series("", index=m.index)
        m["no_response"] = resp.isna() | (resp.astype(str).str.strip().isin(["", "nan", "None"]))
        keep = [c for c in ("milestone", "date", "owner", "risk", "standard", "response",
                            "materialised", "no_response") if c in m.columns]
        risks = m[keep].reset_index(drop=True)
        summary["milestones_due"] = int((m["date"] <= as_of).sum())
        summary["milestones_missed"] = int(m["materialised"].sum())
        summary["high_risk_materialised"] = int((m["materialised"] &
                                                 m["risk"].isin(["中", "高"])).sum())
        summary["high_risk_without_response"] = int(((m["risk"] == "高") &
                                                     m["no_response"]).sum())
    summary["label"] = L("按时完成率", "On-time completion rate")
    summary["as_of"] = as_of.date().isoformat()
    return {"summary": summary, "by_owner": by, "late_tasks": late.reset_index(drop=True),
            "risks": risks}


# ---------------------------------------------------------------------------------------------
# campaigns
# ---------------------------------------------------------------------------------------------


def campaign_window(event: str, year: int | None = None, *, calendar: pd.DataFrame | None = None
                    ) -> tuple[pd.Timestamp, pd.Timestamp, str, str]:
    """(start, end, name_zh, name_en) of ``event`` (a calendar slug, e.g. double11) in ``year``."""
    from . import calendar as cal

    if calendar is None:
        y = year or date.today().year
        calendar = cal.promotion_calendar(f"{y}-01-01", f"{y}-12-31")
    rows = calendar[calendar["event"].astype(str) == str(event)]
    if year is not None:
        rows = rows[pd.to_datetime(rows["start"]).dt.year == int(year)]
    if rows.empty:
        known = sorted(set(calendar["event"].astype(str)))
        raise ValueError(f"unknown campaign {event!r} in {year}; known: {', '.join(known)}")
    r = rows.iloc[-1]
    return (pd.Timestamp(r["start"]), pd.Timestamp(r["end"]), str(r.get("name_zh", event)),
            str(r.get("name_en", event)))


def campaign_summary(daily: pd.DataFrame, start, end, *, baseline_days: int = 28) -> dict:
    """Key figures of one campaign window: gmv, orders, visitors, conversion_rate, aov,
    refund_rate, ad_spend, roas (gmv / ad_spend) and uplift (daily GMV versus the average day of
    the ``baseline_days`` before it)."""
    d = _dates(daily)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    w = daily[(d >= start) & (d <= end)]
    b = daily[(d < start) & (d >= start - pd.Timedelta(days=baseline_days))]
    out = {m: metric_value(w, m) for m in ("gmv", "orders", "visitors", "conversion_rate", "aov",
                                           "refund_rate")}
    out["ad_spend"] = metric_value(w, "ad_spend") if "ad_spend" in w.columns else np.nan
    out["roas"] = out["gmv"] / out["ad_spend"] if out["ad_spend"] and out["ad_spend"] > 0 else np.nan
    days_w = (end - start).days + 1
    base = metric_value(b, "gmv") / baseline_days if len(b) else np.nan
    out["uplift"] = (out["gmv"] / days_w) / base if base and base > 0 else np.nan
    out["days"] = days_w
    return out


def past_campaigns(daily: pd.DataFrame, *, before, n: int = 3, kinds=("promo",),
                   min_days: int = 3, same_event: str | None = None,
                   calendar: pd.DataFrame | None = None) -> pd.DataFrame:
    """The last ``n`` promotions (of at least ``min_days`` days) that ended before ``before`` and
    are covered by ``daily`` (plus the last ``same_event``, e.g. last year's double11), with
    :func:`campaign_summary` figures.

    Columns: event, name_zh, name_en, start, end, and the summary keys.
    """
    from . import calendar as cal

    d = _dates(daily)
    if calendar is None:
        calendar = cal.promotion_calendar(d.min(), d.max())
    c = calendar[calendar["kind"].isin(list(kinds))].copy()
    c["start"], c["end"] = pd.to_datetime(c["start"]), pd.to_datetime(c["end"])
    c = c[(c["end"] < pd.Timestamp(before)) & (c["start"] - pd.Timedelta(days=28) >= d.min())]
    c = c[(c["end"] - c["start"]).dt.days + 1 >= min_days].sort_values("end")
    last = c.tail(n)
    if same_event:
        last = pd.concat([c[c["event"] == same_event].tail(1), last]).drop_duplicates(
            ["event", "start"]).sort_values("end")
    c = last
    rows = []
    for _, r in c.iterrows():
        rows.append(dict(event=r["event"], name_zh=r["name_zh"], name_en=r["name_en"],
                         start=r["start"], end=r["end"],
                         **campaign_summary(daily, r["start"], r["end"])))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# drafted 复盘报告 summary and tables for display / Excel
# ---------------------------------------------------------------------------------------------


def draft_summary(*, achievement_table: pd.DataFrame | None = None, lift: LiftResult | None = None,
                  attribution_summary: pd.DataFrame | None = None,
                  execution: dict | None = None, projection: Projection | None = None,
                  campaign_name: tuple[str, str] = ("活动", "the campaign"),
                  comparison_label: str = "", lang: str = "zh") -> list[str]:
    """Sentences of the 复盘报告 summary, each built from the numbers passed in."""
    L = Labels(lang)
    m = lambda x: plots.format_money(x, lang)  # noqa: E731
    p = plots.format_pct
    out: list[str] = []
    a = achievement_table if achievement_table is not None else achievement(
        pd.DataFrame(columns=["channel"]), pd.DataFrame(columns=["period"]), "")
    tot = a[(a["metric"] == "gmv") & (a["channel"] == "全部")]
    if len(tot):
        r = tot.iloc[0]
        out.append(L(f"成交金额 {m(r.actual)}，目标 {m(r.target)}，达成率 {p(r.achievement)}（{r.status_name}）。",
                     f"GMV was {m(r.actual)} against a target of {m(r.target)}: "
                     f"{p(r.achievement)} achieved ({r.status_name.lower()})."))
    if projection is not None and projection.days_left > 0 and np.isfinite(projection.estimate):
        out.append(L(f"按当前进度，期末预计 {m(projection.estimate)}（{int(projection.level * 100)}% 区间 "
                     f"{m(projection.ci_low)} – {m(projection.ci_high)}），达成目标的概率约 {p(projection.prob_reach_target, 0)}。",
                     f"At the current pace the period should end at {m(projection.estimate)} "
                     f"({int(projection.level * 100)}% interval {m(projection.ci_low)} – "
                     f"{m(projection.ci_high)}); chance of reaching the target ≈ {p(projection.prob_reach_target, 0)}."))
    missed = a[(a["status"].isin(["missed", "behind"]))]
    if len(missed):
        names = "、".join(f"{r.metric_name}（{r.channel}）" if r.channel != "全部" else r.metric_name
                         for r in missed.itertuples())
        names_en = ", ".join(f"{r.metric_name} ({r.channel})" if r.channel != "全部"
                             else r.metric_name for r in missed.itertuples())
        out.append(L(f"未达成或落后的目标：{names}。", f"Targets missed or behind: {names_en}."))
    if attribution_summary is not None and len(attribution_summary):
        s = attribution_summary.sort_values("contribution", key=np.abs, ascending=False)
        top = s.iloc[0]
        zh, en = FACTOR_NAMES.get(top["factor"], (top["factor"], top["factor"]))
        change = s["contribution"].sum()
        out.append(L(f"与{comparison_label}相比成交金额变化 {'+' if change >= 0 else ''}{m(change)}，"
                     f"其中{zh}贡献最大（{'+' if top.contribution >= 0 else ''}{m(top.contribution)}）。",
                     f"Versus {comparison_label}, GMV changed by {'+' if change >= 0 else ''}{m(change)}; "
                     f"{en.lower()} contributed most ({'+' if top.contribution >= 0 else ''}{m(top.contribution)})."))
    if lift is not None and not lift.error_code:
        nz, ne = campaign_name
        out.append(L(f"{nz}期间成交 {m(lift.actual)}，无活动基线约 {m(lift.counterfactual)}，增量 {m(lift.estimate)}"
                     f"（{int(lift.level * 100)}% 区间 {m(lift.ci_low)} – {m(lift.ci_high)}，相对提升 {p(lift.relative)}）。",
                     f"During {ne} GMV was {m(lift.actual)} against a counterfactual of about "
                     f"{m(lift.counterfactual)}: {m(lift.estimate)} incremental ({int(lift.level * 100)}% interval "
                     f"{m(lift.ci_low)} – {m(lift.ci_high)}, {p(lift.relative)} lift)."))
        if lift.n_post:
            dip = lift.post_ci_high < 0
            out.append(L(f"活动后 {lift.n_post} 天{'出现透支回落' if dip else '未见显著透支'}（{m(lift.post_estimate)}），"
                         f"净增量 {m(lift.net_estimate)}，推广花费 {m(lift.spend)}，增量 ROI {lift.roi:.2f}。",
                         f"The {lift.n_post} days after {'show a pull-forward dip' if dip else 'show no significant dip'} "
                         f"({m(lift.post_estimate)}); net incremental {m(lift.net_estimate)} for "
                         f"{m(lift.spend)} spend, incremental ROI {lift.roi:.2f}."))
    if execution is not None:
        s = execution["summary"]
        out.append(L(f"计划执行：到期任务 {s['due']} 项，按时完成 {s['on_time']} 项（{p(s['on_time_rate'])}），"
                     f"延误 {s['late']} 项；关键节点未达成 {s.get('milestones_missed', 0)} 个。",
                     f"Execution: {s['on_time']} of {s['due']} due tasks finished on time "
                     f"({p(s['on_time_rate'])}), {s['late']} late; {s.get('milestones_missed', 0)} milestones missed."))
        by = execution["by_owner"]
        if len(by) and by.iloc[0]["late"] > 0:
            r = by.iloc[0]
            out.append(L(f"延误最多的负责人：{r.owner}（{int(r.late)} 项，累计 {int(r.days_late)} 天）。",
                         f"Most delays: {r.owner} ({int(r.late)} tasks, {int(r.days_late)} days in all)."))
    return out


FACTOR_NAMES = drivers.FACTOR_LABELS


def achievement_display(table: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """运营效果汇总表 with display column names; target and actual formatted per metric
    (money, %, counts), achievement as a fraction."""
    L = Labels(lang)

    def fmt(metric, x):
        if x != x:
            return "—"
        if metric in ("gmv", "ad_spend", "aov"):
            return plots.format_money(x, lang)
        if metric in METRICS and METRICS[metric][1] is not None:
            return plots.format_pct(x)
        return f"{x:,.0f}"

    return pd.DataFrame({
        L("目标", "Goal"): table["metric_name"],
        L("流量来源", "Channel"): table["channel"].replace({"全部": L("全部", "All")}),
        L("负责人", "Owner"): table["owner"],
        L("目标值", "Target"): [fmt(m, x) for m, x in zip(table["metric"], table["target"])],
        L("实际值", "Actual"): [fmt(m, x) for m, x in zip(table["metric"], table["actual"])],
        L("达成率", "Achievement"): table["achievement"],
        L("状态", "Status"): table["status_name"],
    })


__all__ += ["draft_summary", "achievement_display", "FACTOR_NAMES"]


def compare_campaigns(daily: pd.DataFrame, campaign: str, year: int, *, n: int = 3,
                      lang: str = "zh") -> pd.DataFrame:
    """This campaign beside the last ``n`` promotions and the same campaign a year before.

    Columns: name, start, end, days, gmv, uplift, conversion_rate, aov, refund_rate, roas;
    the last row is this campaign.
    """
    L = Labels(lang)
    start, end, zh, en = campaign_window(campaign, year)
    past = past_campaigns(daily, before=start, n=n, same_event=campaign)
    rows = [dict(name=f"{L(r.name_zh, r.name_en)} {r.start.year}", start=r.start, end=r.end,
                 **{k: getattr(r, k) for k in ("days", "gmv", "uplift", "conversion_rate", "aov",
                                               "refund_rate", "roas")})
            for r in past.itertuples()]
    now = campaign_summary(daily, start, end)
    rows.append(dict(name=L(f"{zh} {year}（本次）", f"{en} {year} (this one)"), start=start, end=end,
                     **{k: now[k] for k in ("days", "gmv", "uplift", "conversion_rate", "aov",
                                            "refund_rate", "roas")}))
    return pd.DataFrame(rows)


def export_excel(path, *, achievement: pd.DataFrame, attribution: pd.DataFrame | None = None,
                 mix: pd.DataFrame | None = None, lift: LiftResult | None = None,
                 execution: dict | None = None, past: pd.DataFrame | None = None,
                 lang: str = "zh"):
    """Write the retrospective's tables to one workbook (one sheet each); returns the path."""
    from pathlib import Path

    L = Labels(lang)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheets = {L("运营效果汇总表", "Results"): achievement_display(achievement, lang).assign(
        **{L("达成率", "Achievement"): achievement["achievement"].to_numpy()})}
    if attribution is not None:
        sheets[L("归因", "Attribution")] = attribution
    if mix is not None:
        sheets[L("结构效应", "Mix")] = mix
    if lift is not None:
        sheets[L("活动增量", "Lift")] = lift.to_frame()
    if execution is not None:
        sheets[L("执行复盘", "Execution")] = execution["by_owner"]
        if len(execution["risks"]):
            sheets[L("风险", "Risks")] = execution["risks"]
    if past is not None:
        sheets[L("往期对比", "Past campaigns")] = past
    tmp = path.with_suffix(".tmp.xlsx")
    with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
        for name, df in sheets.items():
            df.to_excel(xw, sheet_name=name[:31], index=False)
    tmp.replace(path)
    return path


__all__ += ["compare_campaigns", "export_excel"]
