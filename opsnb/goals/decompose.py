"""Goal decomposition: the GMV driver tree, monthly × channel targets, feasibility and budget.

The driver tree is ``GMV = Σ_channels visitors × conversion_rate × aov`` where, as in 生意参谋,
``conversion_rate = buyers / visitors`` and ``aov`` (客单价) ``= gmv / buyers`` — the amount per
*buyer*, so that the three drivers multiply back to GMV exactly. (``opsnb.data.add_rates`` gives
the amount per *order*; the two agree when each buyer places one order.) Where the data carry
``new_buyers`` the conversion splits additively into ``new_conversion + returning_conversion``.

A goal (a level, or growth versus a base period) becomes targets per month and channel:

1. each target month is paired with a *reference* month — the same calendar month a year earlier
   when the history has it, else the base-period month in the same position — so that
   seasonality (双11 in November, 618 in June) carries over: promotion months weigh more;
2. the goal total is spread over the reference cells in proportion to their GMV (historical
   month and channel shares), optionally with a fixed growth for some channels;
3. each cell's growth factor ``g`` is split over the drivers with exponents that sum to one
   (``mix``): ``visitors = V0·g^a_v``, ``conversion = C0·g^a_c``, ``aov = A0·g^a_a``, so the
   parts multiply to the cell target and add back to the goal exactly (up to rounding, 1e-9).

Feasibility places each required driver change against the historical distribution of the same
change (same horizon, same window length) for that channel, as a percentile.

The driver-tree chart and the report tables live in :mod:`opsnb.goals.show`, which builds
on this module (``goals_report.plot_driver_tree``, ``goals_report.targets_table``).

Examples
--------
>>> solve_driver(gmv=1_000_000, conversion_rate=0.04, aov=250)
100000.0
>>> acquisition_budget(10_000, cac=50, conversion=0.08).spend
500000.0
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from opsnb.errors import ErrorCode, ParameterError
from opsnb.results import Result

__all__ = [
    "DRIVERS",
    "DRIVER_LABELS",
    "DEFAULT_MIX",
    "DEFAULT_CAC",
    "Goal",
    "Decomposition",
    "driver_table",
    "monthly_driver_table",
    "goal_total",
    "decompose_goal",
    "historical_changes",
    "history_mix",
    "feasibility",
    "solve_driver",
    "AcquisitionBudget",
    "acquisition_budget",
    "cac_table",
    "budget_needs",
]

DRIVERS = ("visitors", "conversion_rate", "aov")
DRIVER_LABELS = {
    "visitors": ("访客数", "Visitors"),
    "conversion_rate": ("转化率", "Conversion"),
    "aov": ("客单价", "AOV"),
    "gmv": ("成交金额", "GMV"),
}
DEFAULT_MIX: dict[str, float] = {"visitors": 0.5, "conversion_rate": 0.25, "aov": 0.25}
"""How a growth factor is shared by the drivers (exponents of g, summing to one)."""

DEFAULT_CAC: dict[str, tuple[float, float]] = {"小红书": (50.0, 0.08), "抖音": (80.0, 0.05)}
"""Seed (CAC in yuan per buyer, visitor→buyer conversion) for channels without spend history."""

_COUNTS = ("visitors", "buyers", "orders", "gmv", "new_buyers", "ad_spend")


# ------------------------------------------------------------------------------------------
# driver tables
# ------------------------------------------------------------------------------------------


def _add_drivers(t: pd.DataFrame) -> pd.DataFrame:
    v = t["visitors"].astype(float)
    b = t["buyers"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t["conversion_rate"] = np.where(v > 0, b / v.where(v > 0, 1), np.nan)
        t["aov"] = np.where(b > 0, t["gmv"].astype(float) / b.where(b > 0, 1), np.nan)
        if "new_buyers" in t:
            nb = t["new_buyers"].astype(float)
            t["new_conversion"] = np.where(v > 0, nb / v.where(v > 0, 1), np.nan)
            t["returning_conversion"] = t["conversion_rate"] - t["new_conversion"]
    return t


def driver_table(daily: pd.DataFrame, *, by: str | Iterable[str] = "channel") -> pd.DataFrame:
    """Sum the counts per group and derive the drivers.

    Returns columns: the ``by`` columns, visitors, buyers, orders, gmv (and new_buyers, ad_spend
    when present), conversion_rate (buyers/visitors), aov (gmv/buyers) and, with new_buyers,
    new_conversion and returning_conversion (which add up to conversion_rate).
    """
    by = [by] if isinstance(by, str) else list(by)
    cols = [c for c in _COUNTS if c in daily.columns and daily[c].notna().any()]
    missing = {"visitors", "buyers", "gmv"} - set(cols)
    if missing:
        raise ParameterError(f"daily metrics lack column(s) {sorted(missing)}")
    agg = daily.groupby(by, sort=True, observed=True)[cols].sum(min_count=1).reset_index()
    for c in cols:
        agg[c] = agg[c].astype(float)
    return _add_drivers(agg)


def monthly_driver_table(daily: pd.DataFrame) -> pd.DataFrame:
    """:func:`driver_table` per calendar month (column ``month``, a ``pd.Period``) and channel."""
    d = daily.copy()
    d["month"] = pd.to_datetime(d["date"]).dt.to_period("M")
    return driver_table(d, by=["month", "channel"])


# ------------------------------------------------------------------------------------------
# goals
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """A GMV goal: ``kind="growth"`` (0.30 = +30 % on the base period) or ``"level"`` (yuan)."""

    value: float
    kind: Literal["growth", "level"] = "growth"
    metric: str = "gmv"

    def __post_init__(self) -> None:
        if self.kind not in ("growth", "level"):
            raise ParameterError(f"goal kind must be 'growth' or 'level', got {self.kind!r}")
        if self.metric != "gmv":
            raise ParameterError(f"only a gmv goal can be decomposed, got {self.metric!r}")
        if (
            not math.isfinite(self.value)
            or (self.kind == "level" and self.value <= 0)
            or (self.kind == "growth" and self.value <= -1)
        ):
            raise ParameterError(
                f"goal value {self.value!r} is out of range for kind {self.kind!r}"
            )


def goal_total(base_gmv: float, goal: Goal | float) -> float:
    """The goal in yuan: ``base × (1 + growth)`` or the level itself."""
    g = goal if isinstance(goal, Goal) else Goal(float(goal))
    return float(g.value) if g.kind == "level" else float(base_gmv) * (1.0 + g.value)


def _as_date(x) -> dt.date:
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, dt.date):
        return x
    return pd.Timestamp(x).date()


def _span(period) -> tuple[dt.date, dt.date]:
    """(start, end) from a Period-like object, a (start, end) pair or a period string."""
    if hasattr(period, "start") and hasattr(period, "end"):
        return _as_date(period.start), _as_date(period.end)
    if isinstance(period, str):
        from opsnb.periods import parse_period

        p = parse_period(period)
        return p.start, p.end
    start, end = period
    return _as_date(start), _as_date(end)


def _months(start: dt.date, end: dt.date) -> list[pd.Period]:
    return list(pd.period_range(pd.Period(start, "M"), pd.Period(end, "M"), freq="M"))


@dataclass(frozen=True)
class Decomposition:
    """A goal split into monthly × channel driver targets.

    ``targets`` columns: month (str, 2025-11), ref_month, channel, base_visitors,
    base_conversion_rate, base_aov, base_gmv, growth (cell factor − 1), visitors,
    conversion_rate, aov, gmv (= visitors × conversion_rate × aov), buyers, mix_visitors,
    mix_conversion_rate, mix_aov (the exponents used) and, with new buyers in the data,
    new_conversion and returning_conversion. ``mix`` is the driver mix, or with
    ``mix="history"`` a mix per channel.
    """

    goal: Goal
    base_start: dt.date
    base_end: dt.date
    target_start: dt.date
    target_end: dt.date
    base_gmv: float
    total: float
    mix: dict
    targets: pd.DataFrame = field(repr=False)

    @property
    def growth(self) -> float:
        return self.total / self.base_gmv - 1.0 if self.base_gmv > 0 else float("nan")

    @property
    def n_months(self) -> int:
        """Number of target months (the window of the what-if scenarios' history)."""
        return int(self.targets["month"].nunique())

    def by_month(self) -> pd.DataFrame:
        """month, base_gmv, gmv, share (of the goal), growth."""
        m = self.targets.groupby("month", sort=True)[["base_gmv", "gmv"]].sum().reset_index()
        m["share"] = m["gmv"] / m["gmv"].sum()
        m["growth"] = m["gmv"] / m["base_gmv"] - 1.0
        return m

    def by_channel(self) -> pd.DataFrame:
        """channel, base and target visitors/buyers/gmv and the implied drivers per channel."""
        t = self.targets
        agg = (
            t.groupby("channel", sort=False)
            .agg(
                base_visitors=("base_visitors", "sum"),
                base_buyers=("base_buyers", "sum"),
                base_gmv=("base_gmv", "sum"),
                visitors=("visitors", "sum"),
                buyers=("buyers", "sum"),
                gmv=("gmv", "sum"),
            )
            .reset_index()
        )
        agg["base_conversion_rate"] = agg["base_buyers"] / agg["base_visitors"]
        agg["base_aov"] = agg["base_gmv"] / agg["base_buyers"]
        agg["conversion_rate"] = agg["buyers"] / agg["visitors"]
        agg["aov"] = agg["gmv"] / agg["buyers"]
        agg["growth"] = agg["gmv"] / agg["base_gmv"] - 1.0
        return agg

    def pivot(self, value: str = "gmv") -> pd.DataFrame:
        """月度 × 渠道 table of one column (rows channels, columns months, plus 合计 totals)."""
        p = self.targets.pivot_table(
            index="channel", columns="month", values=value, aggfunc="sum", sort=False
        )
        if value in ("gmv", "visitors", "buyers", "base_gmv"):
            p["total"] = p.sum(axis=1)
            p.loc["total"] = p.sum(axis=0)
        return p

    def to_frame(self) -> pd.DataFrame:
        return self.targets.copy()

    def to_dict(self) -> dict:
        return {
            "goal_kind": self.goal.kind,
            "goal_value": self.goal.value,
            "base_start": self.base_start.isoformat(),
            "base_end": self.base_end.isoformat(),
            "target_start": self.target_start.isoformat(),
            "target_end": self.target_end.isoformat(),
            "base_gmv": self.base_gmv,
            "total": self.total,
            "growth": self.growth,
        }


def _check_mix(mix: Mapping[str, float]) -> dict[str, float]:
    unknown = set(mix) - set(DRIVERS)
    if unknown:
        raise ParameterError(f"mix keys {sorted(unknown)} unknown; allowed: {list(DRIVERS)}")
    full = {d: float(mix.get(d, 0.0)) for d in DRIVERS}
    if abs(sum(full.values()) - 1.0) > 1e-9:
        raise ParameterError(f"mix shares must sum to 1, got {sum(full.values())!r} ({full})")
    return full


def decompose_goal(
    history: pd.DataFrame,
    *,
    goal: Goal | float,
    base,
    target,
    channels: Iterable[str] | None = None,
    mix: Mapping[str, float] | str = DEFAULT_MIX,
    channel_growth: Mapping[str, float] | None = None,
) -> Decomposition:
    """Split a GMV goal into monthly × channel targets for visitors, conversion and AOV.

    Parameters
    ----------
    history : daily_metrics frame (date, channel, visitors, buyers, gmv, ...), covering the base
        period and, ideally, the same months a year before the target period.
    goal : :class:`Goal` or a float (growth versus the base period, 0.30 = +30 %).
    base, target : periods as ``(start, end)``, a ``Period`` or a string such as "2024-Q4".
    channels : restrict to these channels (None or empty: every channel with base GMV).
    mix : exponents splitting each cell's growth factor over the drivers (sum to one),
        "default" for :data:`DEFAULT_MIX`, or "history": per channel, the shares of each driver
        in the channel's median past change over the same horizon (only growing drivers count;
        :data:`DEFAULT_MIX` without history).
    channel_growth : fixed growth for some channels ({"抖音": 0.6}); the others share the rest.

    Returns
    -------
    Decomposition whose ``targets`` add up to ``goal_total(base_gmv, goal)``.
    """
    goal = goal if isinstance(goal, Goal) else Goal(float(goal))
    if mix == "default":
        mix = DEFAULT_MIX
    mix_mode = mix if isinstance(mix, str) else None
    if mix_mode is not None and mix_mode != "history":
        raise ParameterError(
            f"mix must be a dict of driver shares, 'history' or 'default', got {mix!r}"
        )
    mix = None if mix_mode else _check_mix(mix)
    b0, b1 = _span(base)
    t0, t1 = _span(target)
    h = history.copy()
    h["date"] = pd.to_datetime(h["date"])
    channels = list(channels) if channels else None
    if channels is not None:
        h = h[h["channel"].isin(channels)]
    in_base = (h["date"] >= pd.Timestamp(b0)) & (h["date"] <= pd.Timestamp(b1))
    base_gmv = float(h.loc[in_base, "gmv"].sum())
    if not base_gmv > 0:
        raise ParameterError(
            f"no GMV in the base period {b0}..{b1}: cannot apply a growth goal"
            if goal.kind == "growth"
            else f"no GMV in the base period {b0}..{b1}: no shares to split by"
        )
    total = goal_total(base_gmv, goal)

    monthly = monthly_driver_table(h[h["date"] < pd.Timestamp(t0)])
    have = set(monthly.loc[monthly["gmv"] > 0, "month"])
    tmonths = _months(t0, t1)
    bmonths = _months(b0, b1)
    rows = []
    for i, m in enumerate(tmonths):
        ref = m - 12
        if ref not in have:
            if i >= len(bmonths):
                raise ParameterError(f"no reference month for {m}: neither {ref} nor a base month")
            ref = bmonths[i]
        cells = monthly[monthly["month"] == ref]
        # days of the target month inside the target period (first/last month may be partial)
        m_start = max(m.start_time.date(), t0)
        m_end = min(m.end_time.date(), t1)
        frac = ((m_end - m_start).days + 1) / m.days_in_month
        for _, c in cells.iterrows():
            if channels is not None and c["channel"] not in channels:
                continue
            if not c["gmv"] > 0:
                continue
            rows.append(
                {
                    "month": str(m),
                    "ref_month": str(ref),
                    "channel": c["channel"],
                    "base_visitors": c["visitors"] * frac,
                    "base_buyers": c["buyers"] * frac,
                    "base_conversion_rate": c["conversion_rate"],
                    "base_aov": c["aov"],
                    "base_gmv": c["gmv"] * frac,
                    "base_new_conversion": c.get("new_conversion", np.nan),
                }
            )
    if not rows:
        raise ParameterError("no history to decompose the goal against")
    t = pd.DataFrame(rows)
    ref_total = float(t["base_gmv"].sum())

    factor = np.full(len(t), total / ref_total)
    if channel_growth:
        unknown = set(channel_growth) - set(t["channel"])
        if unknown:
            raise ParameterError(
                f"channel_growth names unknown channel(s) {sorted(unknown)}; "
                f"channels: {sorted(set(t['channel']))}"
            )
        fixed = t["channel"].isin(list(channel_growth)).to_numpy()
        fixed_f = t["channel"].map(lambda c: 1.0 + channel_growth.get(c, 0.0)).to_numpy(float)
        fixed_sum = float((t["base_gmv"].to_numpy() * fixed_f)[fixed].sum())
        rest = float(t.loc[~fixed, "base_gmv"].sum())
        if rest <= 0:
            raise ParameterError(
                "channel_growth fixes every channel: nothing left to fill the goal"
            )
        g_rest = (total - fixed_sum) / rest
        if g_rest < 0:
            raise ParameterError(
                f"the fixed channel growth already exceeds the goal by {fixed_sum - total:,.0f}"
            )
        factor = np.where(fixed, fixed_f, g_rest)

    t["growth"] = factor - 1.0
    t["gmv"] = t["base_gmv"] * factor
    # spread rounding so that the cells add back to the goal exactly
    t["gmv"] = t["gmv"] * (total / t["gmv"].sum())
    g = (t["gmv"] / t["base_gmv"]).to_numpy()
    if mix is None:
        lag = int((pd.Period(t["month"].iloc[0], "M") - pd.Period(t["ref_month"].iloc[0], "M")).n)
        mix = history_mix(h, window=len(tmonths), lag=lag, before=t0)
        per = {c: mix.get(c, DEFAULT_MIX) for c in t["channel"].unique()}
    else:
        per = {c: mix for c in t["channel"].unique()}
    for d_ in DRIVERS:
        t[f"mix_{d_}"] = t["channel"].map(lambda c: per[c][d_]).astype(float)
    t["conversion_rate"] = t["base_conversion_rate"] * g ** t["mix_conversion_rate"].to_numpy()
    t["aov"] = t["base_aov"] * g ** t["mix_aov"].to_numpy()
    # visitors close the product exactly: V = GMV / (C × A)
    t["visitors"] = t["gmv"] / (t["conversion_rate"] * t["aov"])
    t["buyers"] = t["visitors"] * t["conversion_rate"]
    if t["base_new_conversion"].notna().any():
        share_new = t["base_new_conversion"] / t["base_conversion_rate"]
        t["new_conversion"] = t["conversion_rate"] * share_new
        t["returning_conversion"] = t["conversion_rate"] - t["new_conversion"]
    t = t.drop(columns=["base_new_conversion"])
    return Decomposition(
        goal=goal,
        base_start=b0,
        base_end=b1,
        target_start=t0,
        target_end=t1,
        base_gmv=base_gmv,
        total=total,
        mix=mix,
        targets=t,
    )


# ------------------------------------------------------------------------------------------
# feasibility
# ------------------------------------------------------------------------------------------


def _rolling_drivers(monthly: pd.DataFrame, window: int) -> pd.DataFrame:
    """Per channel, sums of counts over ``window`` consecutive months ending at each month."""
    out = []
    for ch, g in monthly.groupby("channel", sort=False):
        g = g.set_index("month").sort_index()
        full = pd.period_range(g.index.min(), g.index.max(), freq="M")
        g = g.reindex(full)[["visitors", "buyers", "gmv"]]
        r = g.rolling(window, min_periods=window).sum()
        r["channel"] = ch
        r.index.name = "month"
        out.append(r.reset_index())
    r = pd.concat(out, ignore_index=True)
    return _add_drivers(r)


def historical_changes(
    history: pd.DataFrame, *, window: int, lag: int, before=None
) -> pd.DataFrame:
    """Every past change of each driver over ``lag`` months, on ``window``-month sums.

    Counts are summed over ``window`` consecutive months ending at each month (rates derived
    from the sums), then compared with the window ``lag`` months earlier. Only data before
    ``before`` are used. Returns tidy columns: channel, month (end of the later window), driver
    (gmv | visitors | conversion_rate | aov), change (relative, 0.1 = +10 %).
    """
    h = history.copy()
    h["date"] = pd.to_datetime(h["date"])
    if before is not None:
        h = h[h["date"] < pd.Timestamp(before)]
    if h.empty:
        return pd.DataFrame(columns=["channel", "month", "driver", "change"])
    roll = _rolling_drivers(monthly_driver_table(h), window)
    out = []
    for ch, r in roll.groupby("channel", sort=False):
        r = r.set_index("month").sort_index()
        for drv in ("gmv",) + DRIVERS:
            x = r[drv]
            c = (x / x.shift(lag) - 1.0).replace([np.inf, -np.inf], np.nan).dropna()
            out.append(
                pd.DataFrame(
                    {
                        "channel": ch,
                        "month": c.index.astype(str),
                        "driver": drv,
                        "change": c.to_numpy(float),
                    }
                )
            )
    return pd.concat(out, ignore_index=True)


def history_mix(
    history: pd.DataFrame, *, window: int, lag: int, before=None, min_obs: int = 5
) -> dict[str, dict[str, float]]:
    """Per channel, how past growth split over the drivers (shares of median log changes).

    Only drivers whose median change is positive count, so a falling conversion is not planned
    to fall further; a channel with no growing driver or fewer than ``min_obs`` past changes
    gets :data:`DEFAULT_MIX`.
    """
    hist = historical_changes(history, window=window, lag=lag, before=before)
    out: dict[str, dict[str, float]] = {}
    for ch, g in hist.groupby("channel", sort=False):
        pos = {}
        for d in DRIVERS:
            v = g.loc[g["driver"] == d, "change"].to_numpy(float)
            pos[d] = max(float(np.median(np.log1p(v))), 0.0) if len(v) >= min_obs else np.nan
        tot = sum(pos.values())
        out[ch] = dict(DEFAULT_MIX) if not tot > 1e-12 else {d: pos[d] / tot for d in DRIVERS}
    return out


def _horizon(decomposition: Decomposition) -> tuple[int, int]:
    t = decomposition.targets
    window = int(t["month"].nunique())
    lag = int((pd.Period(t["month"].iloc[0], "M") - pd.Period(t["ref_month"].iloc[0], "M")).n)
    return window, lag


def feasibility(
    history: pd.DataFrame,
    decomposition: Decomposition,
    *,
    stretch_pct: float = 75.0,
    unrealistic_pct: float = 90.0,
    min_obs: int = 5,
    tolerance: float = 0.01,
) -> pd.DataFrame:
    """Place each channel's required driver change against its own history.

    The required change is target (whole target period) over reference. The history is every
    window of the same length (months) in the data before the target period, compared with the
    window as many months earlier as the reference is (12 for year-on-year), see
    :func:`historical_changes`.

    Returns columns: channel, driver, base, target, required_change, n_hist, hist_median,
    hist_p90, hist_max, percentile (0-100: share of historical changes below the required one),
    flag ("ok" | "stretch" | "unrealistic" | "no_history"), error_code.
    A required change at or below the historical median (or below ``tolerance``, +1 %) is
    "ok"; above ``unrealistic_pct`` (or
    above every historical change) it is "unrealistic"; in between, "stretch" when above
    ``stretch_pct``, else "ok".
    """
    from scipy import stats

    d = decomposition
    window, lag = _horizon(d)
    hist = historical_changes(history, window=window, lag=lag, before=d.target_start)
    bc = d.by_channel()
    rows = []
    for _, c in bc.iterrows():
        for drv in ("gmv",) + DRIVERS:
            base = c["base_gmv"] if drv == "gmv" else c[f"base_{drv}"]
            target = c[drv]
            req = target / base - 1.0 if base > 0 else np.nan
            vals = hist.loc[
                (hist["channel"] == c["channel"]) & (hist["driver"] == drv), "change"
            ].to_numpy(float)
            n = len(vals)
            row = {
                "channel": c["channel"],
                "driver": drv,
                "base": base,
                "target": target,
                "required_change": req,
                "n_hist": n,
            }
            if n < min_obs or not np.isfinite(req):
                row.update(
                    hist_median=np.nan,
                    hist_p90=np.nan,
                    hist_max=np.nan,
                    percentile=np.nan,
                    flag="no_history",
                    error_code=ErrorCode.TOO_FEW_OBSERVATIONS
                    if n < min_obs
                    else ErrorCode.ZERO_DENOMINATOR,
                )
            else:
                pct = float(stats.percentileofscore(vals, req, kind="mean"))
                med = float(np.median(vals))
                if req <= med or req <= tolerance:
                    flag = "ok"
                elif pct > unrealistic_pct or req > vals.max():
                    flag = "unrealistic"
                elif pct > stretch_pct:
                    flag = "stretch"
                else:
                    flag = "ok"
                row.update(
                    hist_median=med,
                    hist_p90=float(np.percentile(vals, 90)),
                    hist_max=float(vals.max()),
                    percentile=pct,
                    flag=flag,
                    error_code=ErrorCode.OK,
                )
            rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# solving and budget
# ------------------------------------------------------------------------------------------


def solve_driver(*, gmv=None, visitors=None, conversion_rate=None, aov=None):
    """Given three of GMV = visitors × conversion_rate × aov, return the fourth.

    Exactly one argument must be None; scalars or numpy arrays. A zero divisor gives NaN.

    >>> solve_driver(gmv=None, visitors=1000, conversion_rate=0.05, aov=200)
    10000.0
    """
    vals = {"gmv": gmv, "visitors": visitors, "conversion_rate": conversion_rate, "aov": aov}
    missing = [k for k, v in vals.items() if v is None]
    if len(missing) != 1:
        raise ParameterError(f"give exactly three of {list(vals)}; missing: {missing or 'none'}")
    k = missing[0]
    a = {n: np.asarray(v, dtype=float) for n, v in vals.items() if v is not None}
    with np.errstate(divide="ignore", invalid="ignore"):
        if k == "gmv":
            out = a["visitors"] * a["conversion_rate"] * a["aov"]
        else:
            others = [n for n in ("visitors", "conversion_rate", "aov") if n != k]
            den = a[others[0]] * a[others[1]]
            out = np.where(den != 0, a["gmv"] / np.where(den != 0, den, 1.0), np.nan)
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class AcquisitionBudget(Result):
    """What winning ``buyers`` costs: ``visitors`` (= buyers / conversion), ``spend``
    (= buyers × cac) and ``cost_per_visitor`` (= cac × conversion)."""

    buyers: float
    visitors: float
    spend: float
    cost_per_visitor: float


def acquisition_budget(buyers: float, *, cac: float, conversion: float) -> AcquisitionBudget:
    """Spend and visitors needed to win ``buyers`` at a cost per buyer ``cac``."""
    if cac < 0 or not 0 < conversion <= 1:
        raise ParameterError(
            f"cac must be ≥ 0 and conversion in (0, 1]; got {cac!r}, {conversion!r}"
        )
    return AcquisitionBudget(
        buyers=float(buyers),
        visitors=float(buyers) / conversion,
        spend=float(buyers) * cac,
        cost_per_visitor=float(cac) * conversion,
    )


def cac_table(
    history: pd.DataFrame | None = None,
    *,
    cac: Mapping[str, tuple[float, float]] | None = None,
    seeds: Mapping[str, tuple[float, float]] = DEFAULT_CAC,
) -> pd.DataFrame:
    """CAC and conversion per channel: explicit ``cac`` > spend history > ``seeds``.

    Returns columns: channel, cac, conversion_rate, cost_per_visitor, source
    ("given" | "history" | "seed"). Channels without spend and without a seed are left out
    (organic traffic has no acquisition cost here).
    """
    rows: dict[str, dict] = {}
    for ch, (c, conv) in seeds.items():
        rows[ch] = {
            "channel": ch,
            "cac": float(c),
            "conversion_rate": float(conv),
            "source": "seed",
        }
    if history is not None and "ad_spend" in history.columns:
        t = driver_table(history)
        for _, r in t.iterrows():
            if r.get("ad_spend", 0) > 0 and r["buyers"] > 0:
                rows[r["channel"]] = {
                    "channel": r["channel"],
                    "cac": r["ad_spend"] / r["buyers"],
                    "conversion_rate": r["conversion_rate"],
                    "source": "history",
                }
    for ch, (c, conv) in (cac or {}).items():
        rows[ch] = {
            "channel": ch,
            "cac": float(c),
            "conversion_rate": float(conv),
            "source": "given",
        }
    out = pd.DataFrame(list(rows.values()), columns=["channel", "cac", "conversion_rate", "source"])
    out["cost_per_visitor"] = out["cac"] * out["conversion_rate"]
    return out[["channel", "cac", "conversion_rate", "cost_per_visitor", "source"]]


def budget_needs(decomposition: Decomposition, cac: pd.DataFrame) -> pd.DataFrame:
    """Ad spend the targets need on channels with an acquisition cost.

    Paid visitors are bought at ``cost_per_visitor`` (CAC × conversion at the reference), so a
    better conversion lowers the effective CAC. Returns columns: channel, base_visitors,
    visitors, extra_visitors, buyers, extra_buyers, cost_per_visitor, cac (effective at the
    target conversion), spend, extra_spend, gmv, roi (= gmv / spend), source.
    """
    bc = decomposition.by_channel()
    m = bc.merge(cac[["channel", "cost_per_visitor", "source"]], on="channel", how="inner")
    m["extra_visitors"] = m["visitors"] - m["base_visitors"]
    m["extra_buyers"] = m["buyers"] - m["base_buyers"]
    m["spend"] = m["visitors"] * m["cost_per_visitor"]
    m["extra_spend"] = m["extra_visitors"] * m["cost_per_visitor"]
    m["cac"] = m["spend"] / m["buyers"]
    m["roi"] = m["gmv"] / m["spend"]
    return m[
        [
            "channel",
            "base_visitors",
            "visitors",
            "extra_visitors",
            "buyers",
            "extra_buyers",
            "cost_per_visitor",
            "cac",
            "spend",
            "extra_spend",
            "gmv",
            "roi",
            "source",
        ]
    ]
