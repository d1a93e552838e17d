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

This module holds the metrics, achievement, pace and attribution. Promotion lift lives in
:mod:`opsnb.retro.lift` (re-exported here); the execution review, past campaigns, drafted summary and
report sections live in :mod:`opsnb.retro.execution`, :mod:`opsnb.retro.campaigns`,
:mod:`opsnb.retro.summary` and :mod:`opsnb.retro.show`, which build on this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from opsnb import drivers, plots
from opsnb.errors import ErrorCode
from opsnb.i18n import Labels
from opsnb.results import Result
from opsnb.retro.lift import DidResult, LiftResult, did_lift, plot_lift, promotion_lift

__all__ = [
    "METRICS",
    "metric_value",
    "achievement",
    "achievement_total",
    "daily_target_shape",
    "pace",
    "Projection",
    "project",
    "plot_pace",
    "target_frame",
    "Attribution",
    "attribution",
    "comparison_window",
    "LiftResult",
    "promotion_lift",
    "DidResult",
    "did_lift",
    "plot_lift",
    "daily_dates",
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

ACHIEVEMENT_LABELS = {
    "achieved": ("已达成", "Achieved"),
    "missed": ("未达成", "Missed"),
    "on_track": ("进度正常", "On track"),
    "behind": ("进度落后", "Behind"),
    "no_data": ("无数据", "No data"),
}


def _money_axis(ax, lang: str) -> None:
    plots.axis_units(ax, "money", lang=lang)  # ¥1.2万 / ¥12k ticks, never 1e7


def _label(L: Labels, pair) -> str:
    return L(*pair)


def _sums(daily: pd.DataFrame) -> pd.Series:
    cols = [
        c
        for c in (
            "gmv",
            "visitors",
            "buyers",
            "orders",
            "refund_orders",
            "new_buyers",
            "ad_spend",
            "refund_amount",
        )
        if c in daily.columns
    ]
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


def daily_dates(daily: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(daily["date"]).dt.normalize()


def daily_target_shape(history: pd.DataFrame, start, end, *, value: str = "gmv") -> pd.Series:
    """Weights (summing to 1) that spread a period target over its days.

    The shape is last year's daily ``value`` on the same calendar dates (so 双11 falls on
    11-11 again); without last year's data the target is spread evenly. Index: the period's days.
    """
    days = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D")
    if history is not None and len(history):
        h = history.assign(_d=daily_dates(history)).groupby("_d")[value].sum()
        ly = pd.Series([h.get(d - pd.DateOffset(years=1), np.nan) for d in days], index=days)
        if ly.notna().all() and ly.sum() > 0:
            return ly / ly.sum()
    return pd.Series(1.0 / len(days), index=days)


def pace(
    daily: pd.DataFrame,
    target_total: float,
    start,
    end,
    *,
    history=None,
    as_of=None,
    value: str = "gmv",
) -> pd.DataFrame:
    """Cumulative actual versus the plan's cumulative target, day by day.

    Columns: ``date``, ``actual`` (the day's value, NaN after ``as_of``), ``target`` (the day's
    share of ``target_total`` by :func:`daily_target_shape` on ``history``), ``cum_actual``,
    ``cum_target``, ``pace`` (cum_actual / cum_target).
    """
    shape = daily_target_shape(history if history is not None else daily, start, end, value=value)
    days = shape.index
    act = daily.assign(_d=daily_dates(daily)).groupby("_d")[value].sum().reindex(days)
    if as_of is not None:
        act[days > pd.Timestamp(as_of)] = np.nan
    out = pd.DataFrame(
        {
            "date": days,
            "actual": act.to_numpy(float),
            "target": shape.to_numpy() * float(target_total),
        }
    )
    out["cum_actual"] = out["actual"].cumsum().where(out["actual"].notna())
    out["cum_target"] = out["target"].cumsum()
    out["pace"] = out["cum_actual"] / out["cum_target"]
    return out


@dataclass(frozen=True)
class Projection(Result):
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
        return Projection(
            done,
            done,
            done,
            done,
            n,
            0,
            total_target,
            float(done >= total_target),
            method="period complete",
            level=level,
        )
    if n < 3:
        return Projection(
            np.nan,
            np.nan,
            np.nan,
            done,
            n,
            h,
            total_target,
            np.nan,
            level=level,
            error_code=ErrorCode.TOO_FEW_OBSERVATIONS,
        )
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


def achievement(
    daily: pd.DataFrame,
    targets: pd.DataFrame,
    period_label: str,
    *,
    history: pd.DataFrame | None = None,
    start=None,
    end=None,
    as_of=None,
    lang: str = "zh",
) -> pd.DataFrame:
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
    running = as_of is not None and end is not None and pd.Timestamp(as_of) < pd.Timestamp(end)
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
        rows.append(
            dict(
                metric=metric,
                metric_name=L(zh, en),
                channel=ch,
                owner=str(g.get("owner", "") or ""),
                target=target,
                actual=actual,
                achievement=ach,
                gap=actual - target,
                expected_to_date=due,
                status=status,
                status_name=_label(L, ACHIEVEMENT_LABELS[status]),
                higher_is_better=higher,
            )
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "metric",
            "metric_name",
            "channel",
            "owner",
            "target",
            "actual",
            "achievement",
            "gap",
            "expected_to_date",
            "status",
            "status_name",
            "higher_is_better",
        ],
    )
    order = {m: i for i, m in enumerate(METRICS)}
    out["_o"] = out["metric"].map(order).fillna(99)
    out["_c"] = (out["channel"] != "全部").astype(int)
    return (
        out.sort_values(["_c", "_o", "channel"]).drop(columns=["_o", "_c"]).reset_index(drop=True)
    )


def achievement_total(table: pd.DataFrame, column: str = "actual", *, metric: str = "gmv") -> float:
    """The shop-wide (channel 全部) ``column`` of ``metric`` in an :func:`achievement` table, e.g.
    the GMV target (``column="target"``); 0.0 when the table has no such row."""
    rows = table[(table["metric"] == metric) & (table["channel"] == "全部")]
    return float(rows[column].sum())


def plot_pace(
    pace_table: pd.DataFrame, projection: Projection | None = None, *, lang: str = "zh", ax=None
):
    """Cumulative actual (blue) versus cumulative target (grey dashed), with the projection."""
    L = Labels(lang)
    ax = plots.new_axes(ax, figsize=(10, 4.2))
    t = pace_table
    ax.plot(
        t["date"],
        t["cum_target"],
        ls="--",
        color=plots.PALETTE[7],
        label=L("累计目标", "Cumulative target"),
    )
    ax.plot(
        t["date"],
        t["cum_actual"],
        color=plots.PALETTE[0],
        lw=2.2,
        label=L("累计实际", "Cumulative actual"),
    )
    if projection is not None and projection.days_left > 0 and np.isfinite(projection.estimate):
        last = t.loc[t["actual"].notna(), "date"].max()
        endd = t["date"].max()
        ax.plot(
            [last, endd],
            [projection.actual_to_date, projection.estimate],
            color=plots.PALETTE[0],
            ls=":",
            lw=1.8,
            label=L("预测", "Projection"),
        )
        ax.errorbar(
            [endd],
            [projection.estimate],
            yerr=[
                [projection.estimate - projection.ci_low],
                [projection.ci_high - projection.estimate],
            ],
            color=plots.PALETTE[0],
            capsize=4,
            fmt="o",
        )
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


@dataclass(frozen=True)
class Attribution(Result):
    """Both exact splits of ``gmv_after − gmv_before`` (see :mod:`opsnb.drivers`).

    ``factors``: :func:`opsnb.drivers.decompose_gmv` rows (channel × factor contributions);
    ``mix``: :func:`opsnb.drivers.decompose_mix` rows (traffic, mix and rate effects);
    ``summary`` and ``mix_summary``: their totals per factor / effect (columns factor,
    contribution, share). Each split sums to :attr:`change`. ``to_dict()`` gives the totals,
    ``to_frame()`` the channel × factor rows.
    """

    factors: pd.DataFrame = field(repr=False)
    mix: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame = field(repr=False)
    mix_summary: pd.DataFrame = field(repr=False)
    method: str = "lmdi"

    @property
    def change(self) -> float:
        """The GMV change that both splits add up to."""
        return float(self.summary["contribution"].sum())

    def top_factor(self) -> tuple[str, float]:
        """(factor, contribution) of the factor with the largest absolute contribution."""
        s = self.summary.sort_values("contribution", key=abs, ascending=False).iloc[0]
        return str(s["factor"]), float(s["contribution"])

    def effects(self) -> dict[str, float]:
        """Total per mix effect: {"traffic": ..., "mix": ..., "rate": ...}."""
        return dict(zip(self.mix_summary["factor"], self.mix_summary["contribution"].astype(float)))

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "change": self.change,
            "factors": dict(
                zip(self.summary["factor"], self.summary["contribution"].astype(float))
            ),
            "effects": self.effects(),
        }

    def to_frame(self) -> pd.DataFrame:
        return self.factors.copy()


def attribution(before: pd.DataFrame, after: pd.DataFrame, *, method: str = "lmdi") -> Attribution:
    """Both exact splits of ``gmv_after − gmv_before`` with their totals (:class:`Attribution`)."""
    f = drivers.decompose_gmv(before, after, method=method)
    m = drivers.decompose_mix(before, after, method=method)
    return Attribution(
        factors=f,
        mix=m,
        summary=drivers.summarize_decomposition(f),
        mix_summary=drivers.summarize_decomposition(m),
        method=method,
    )


def comparison_window(comparison, period, as_of):
    """The part of ``comparison`` that is compared with ``period`` as of ``as_of``.

    While ``period`` is still running only its first days are known, so the comparison period is
    cut to the same number of days (from its start). Returns a :class:`opsnb.periods.Period`
    whose ``str`` names the dates actually compared; its label is the comparison's own when
    nothing was cut, else ``"<label> (first N days)"``.

    >>> import datetime as dt
    >>> from opsnb.periods import Period
    >>> now = Period(dt.date(2025, 11, 1), dt.date(2025, 11, 30), "2025-11")
    >>> str(comparison_window(now.last_year(), now, dt.date(2025, 11, 20)))
    '2024-11-01..2024-11-20'
    """
    import datetime as dt

    from opsnb.periods import Period

    def day(x) -> dt.date:
        return pd.Timestamp(x).date()

    c0, c1 = day(comparison.start), day(comparison.end)
    p0, p1 = day(period.start), day(period.end)
    seen = (min(p1, day(as_of)) - p0).days  # days of the period known, minus one
    end = min(c1, c0 + dt.timedelta(days=max(seen, 0)))
    if end == c1:
        return Period(c0, c1, comparison.label)
    return Period(c0, end, f"{comparison.label} (first {(end - c0).days + 1} days)")
