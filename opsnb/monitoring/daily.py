"""Daily monitoring of a shop: per traffic source and metric, what is anomalous, what it costs
and why it moved. The report built on it (表3 每日数据监控表, alert list, trend charts,
异常数据整改报告 drafts, Excel) is :mod:`opsnb.monitoring.show`.

:func:`monitor` scores visitors (访客数), conversion rate (转化率), AOV (客单价), GMV (成交金额)
and refund rate (退款率) for every channel and the shop total (``全部``) with the causal engine
of :mod:`opsnb.monitoring.anomaly`; Benjamini–Hochberg controls the false-discovery rate across
metrics × channels each day. Promotion days get last year's event multiplier
(:func:`opsnb.calendar.promotion_calendar`), so a normal 双11 is quiet and a weak one is not.

Severity (GMV at risk as a share of the shop's expected GMV that day)
----------------------------------------------------------------------
``high`` ≥ 10 %, ``medium`` ≥ 3 %, ``low`` otherwise (:data:`SEVERITY_THRESHOLDS`; the one
scale of :data:`opsnb.i18n.SEVERITIES`, shown as 高/中/低 in Chinese reports). GMV at risk is
one money figure per channel-day and incident family (:data:`METRIC_FAMILY`): for the sales
family (visitors, conversion, AOV, GMV) ``|actual GMV − expected GMV|`` of that channel and day
(the expected value is the same event-aware baseline the GMV test uses), carried by every
flagged sales metric of the channel-day — so visitors, conversion and GMV firing together on
one channel are one loss, not three; for refunds the excess refunds
``|Δ refund rate| × orders × AOV``. Sum it once per channel-day and family (:func:`gmv_at_risk`). The shop's figure is
the shop-level gap (the ``全部`` row), where channels that gained offset channels that lost.
Without GMV among the monitored metrics, each metric's own move stands in
(``min(|actual/expected − 1|, 1) × expected channel GMV``; ``|Δ refund rate| × orders × AOV``).
Tracking outages: a collapse of recorded visitors (≤ −50 %) with a same-day conversion spike on
the same channel is one data incident (``issue = "data"``, fix "修复访客统计"): the spike is an
artefact, and the money at risk is the channel's real GMV deviation (0 when GMV is normal).
Deadlines (the morning after the data day is the detection day): 高 → response plan due
24 h after detection; every anomaly → 异常数据整改报告 due 48 h after detection.

False-alarm target (tested on anomaly-free simulated data at the default sensitivity): at most
0.5 % of series-days flagged and at most 10 % of days with any alert across 30 series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsnb.monitoring import anomaly as A
from opsnb.monitoring.kernels import bh_adjust
from opsnb.monitoring.scoring import EngineConfig, score_counts, score_rates, score_ratios
from opsnb.results import Result

__all__ = [
    "METRICS",
    "TOTAL",
    "SEVERITY_THRESHOLDS",
    "MonitorResult",
    "GmvAtRisk",
    "monitor",
    "typical_day",
    "expected_day",
    "gmv_at_risk",
    "root_cause",
    "mix_shift",
    "evaluate_against_truth",
    "read_series_file",
    "RATES",
    "METRIC_FAMILY",
]

METRICS = ("visitors", "conversion_rate", "aov", "gmv", "refund_rate")
TOTAL = "全部"
SEVERITY_THRESHOLDS = {"high": 0.10, "medium": 0.03}
RATES = {"conversion_rate": ("buyers", "visitors"), "refund_rate": ("refund_orders", "orders")}
METRIC_FAMILY = {
    "visitors": "sales",
    "conversion_rate": "sales",
    "aov": "sales",
    "gmv": "sales",
    "refund_rate": "refund",
}
"""Incident family of each metric: the sales factors are one incident (and one money figure) per
channel-day; refunds another. A tracking outage (``issue == "data"``) is family ``data``."""
_COUNTS = ("visitors", "buyers", "orders", "gmv", "refund_orders")


@dataclass(frozen=True)
class MonitorResult:
    """Result of :func:`monitor`.

    ``scores``: one row per (date, channel, metric) with columns date, channel, metric, actual,
    expected, lower, upper, z, p_value, q_value, is_anomaly, level_shift, direction, event,
    gmv_gap (the channel-day's actual − expected GMV, on every row), gmv_at_risk (``|gmv_gap|``
    on flagged sales rows, the same figure on each flagged sales metric of a channel-day; excess
    refunds on refund rows), family (:data:`METRIC_FAMILY`, ``data`` for tracking), severity (high/medium/low or ""), issue ("data" for a recorded-visitors collapse and
    the conversion spikes it causes, else ""), cause (the metric an artefact comes from, e.g.
    "visitors"), detected_on, response_due, report_due.
    ``alerts``: the anomalous rows of ``scores`` sorted by date and GMV at risk.
    ``tests``/``discoveries``: per-date counts of tests and flags (the BH family); ``alpha``.
    ``calendar``: the calendar rows the scores used (None: none); ``country``: whose public
    holidays it holds (None: none); ``shop_events``: the names of the shop's own events in it;
    ``promotions``: whether it holds the Chinese promotion calendar.
    """

    scores: pd.DataFrame
    alerts: pd.DataFrame
    tests: pd.Series
    discoveries: pd.Series
    alpha: float
    sensitivity: str
    as_of: pd.Timestamp
    calendar: pd.DataFrame | None = None
    country: str | None = None
    shop_events: tuple[str, ...] = ()
    promotions: bool = False

    def to_frame(self) -> pd.DataFrame:
        return self.scores

    def to_dict(self) -> dict:
        return {
            "alpha": self.alpha,
            "sensitivity": self.sensitivity,
            "as_of": str(self.as_of.date()),
            "alerts": int(len(self.alerts)),
        }


def _wide(daily: pd.DataFrame, channels) -> pd.DataFrame:
    d = daily.copy()
    d["date"] = pd.to_datetime(d["date"]).dt.normalize()
    if channels:
        d = d[d["channel"].isin(list(channels))]
    g = d.groupby(["date", "channel"], as_index=False)[list(_COUNTS)].sum()
    tot = g.groupby("date", as_index=False)[list(_COUNTS)].sum().assign(channel=TOTAL)
    return pd.concat([g, tot], ignore_index=True)


def _calendar(start, end, country: str | None, events, promotions: bool) -> pd.DataFrame:
    """:func:`opsnb.calendar.shop_calendar` for ``calendar="auto"``; ``country`` already checked,
    ``events`` already read by :func:`_shop_events`."""
    from opsnb.calendar import shop_calendar

    return shop_calendar(start, end, country=country, promotions=promotions, extra=events)


def _checked(country, events) -> tuple[str | None, pd.DataFrame | None]:
    """``country`` as an ISO code (None: no public holidays) and the shop's ``events`` as
    calendar rows (None: none); ValueError naming the argument that is wrong."""
    from opsnb.calendar import check_country, shop_events

    try:
        code = check_country(country)
    except ValueError as exc:
        raise ValueError(f"monitor(country=...): {exc}") from None
    if events is None or not len(events):
        return code, None
    try:
        return code, shop_events(events)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"monitor(events=...): {exc}") from None


def monitor(
    daily: pd.DataFrame,
    *,
    as_of=None,
    channels=None,
    metrics=None,
    sensitivity: str = "medium",
    calendar="auto",
    country: str | None = "CN",
    events=None,
    promotions: bool = True,
    include_total: bool = True,
    config: EngineConfig | None = None,
) -> MonitorResult:
    """Score every (date, channel, metric) of ``daily`` (a ``daily_metrics`` frame) causally.

    ``as_of``: last date used (default: the last date in the data); later rows are ignored.
    ``calendar``: "auto" (:func:`opsnb.calendar.shop_calendar`: the promotion calendar plus the
    public holidays of ``country``, default China; None, "" or "none": promotions only, and the
    shop's own ``events``), a frame (event, start, end, peak) or None.
    ``events``: the shop's own events (店庆, 品牌日, a livestream with a star), a frame or a list
    of mappings with event, start, end and optionally peak and kind (default "promo"); with
    ``calendar="auto"`` they are added to the calendar and win on the days they cover.
    ``promotions``: with ``calendar="auto"``, include the Chinese promotion calendar (618,
    双11, 年货节…); False for a shop that does not take part (a shop outside China's
    platforms: on the UCI retail sample, a UK wholesaler, the CN promotion windows cost 4 more
    false days on orders, ``benchmarks/daily_events.py``). A calendar day is scored against the same event last year; a
    holiday missing from the calendar is scored like any other day, so it alarms if unusual;
    a calendar day the series has no past of is still scored (a holiday with a wider band, a
    promotion one-sided: a fall below a normal day alarms, a lift does not; see
    :mod:`opsnb.monitoring.scoring`).
    ``sensitivity``: "low" | "medium" | "high" → BH alpha 0.001 | 0.01 | 0.05.
    ``channels``/``metrics``: lists to restrict to; None or empty = all (metrics: :data:`METRICS`).
    """
    metrics = list(metrics) if metrics else list(METRICS)
    channels = list(channels) if channels else None
    if sensitivity not in A.SENSITIVITY:
        raise ValueError(f"sensitivity must be one of {tuple(A.SENSITIVITY)}, got {sensitivity!r}")
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise ValueError(f"unknown metric(s) {bad}; allowed: {METRICS}")
    alpha = A.SENSITIVITY[sensitivity]
    cfg = EngineConfig(**{**(config.__dict__ if config else {}), "alpha": alpha})
    w = _wide(daily, channels)
    as_of = pd.Timestamp(as_of) if as_of is not None else w["date"].max()
    w = w[w["date"] <= as_of]
    if not include_total:
        w = w[w["channel"] != TOTAL]
    g = A.to_grid(w, time_col="date", value_cols=list(_COUNTS), series_col="channel", season=7)
    auto = isinstance(calendar, str) and calendar == "auto"
    if events is not None and len(events) and not auto:
        raise ValueError(
            "monitor(events=...) adds the shop's events to calendar='auto'; with a calendar "
            "frame of your own, put the events in that frame"
        )
    country, extra = _checked(country, events) if auto else (None, None)
    promotions = bool(promotions) and auto
    cal = _calendar(g.times.min(), g.times.max(), country, extra, promotions) if auto else calendar
    keys = A.event_keys(g.times, cal) if cal is not None else None
    V = g.values
    with np.errstate(invalid="ignore", divide="ignore"):
        aov = np.where(V["orders"] > 0, V["gmv"] / V["orders"], np.nan)
    res = {}
    for m in metrics:
        if m in RATES:
            num, den = RATES[m]
            res[m] = score_rates(V[num], V[den], 7, times=g.times, keys=keys, config=cfg)
            with np.errstate(invalid="ignore", divide="ignore"):
                res[m]["actual"] = V[num] / V[den]
        elif m == "aov":  # a mean per order: ratio metric with the day's own orders
            res[m] = score_ratios(V["gmv"], V["orders"], 7, times=g.times, keys=keys, config=cfg)
            res[m]["actual"] = aov
        else:
            res[m] = score_counts(V[m], 7, times=g.times, keys=keys, config=cfg)
            res[m]["actual"] = V[m]
    S, T = len(g.series), len(g.times)
    P = np.vstack([res[m]["p_value"] for m in metrics])
    Q = bh_adjust(P)
    frames = []
    for i, m in enumerate(metrics):
        r = res[m]
        q = Q[i * S : (i + 1) * S]
        anom = (q <= alpha) | r["level_shift"]
        frames.append(
            pd.DataFrame(
                {
                    "date": np.tile(g.times, S),
                    "channel": np.repeat(np.asarray(g.series), T),
                    "metric": m,
                    "actual": r["actual"].ravel(),
                    "expected": r["expected"].ravel(),
                    "lower": r["lower"].ravel(),
                    "upper": r["upper"].ravel(),
                    "z": r["z"].ravel(),
                    "p_value": r["p_value"].ravel(),
                    "q_value": q.ravel(),
                    "is_anomaly": anom.ravel(),
                    "level_shift": r["level_shift"].ravel(),
                    "event": np.tile(keys if keys is not None else np.full(T, ""), S),
                }
            )
        )
    sc = pd.concat(frames, ignore_index=True)
    sc = sc[np.isfinite(sc["actual"].to_numpy(dtype=float))].reset_index(drop=True)
    sc["event"] = sc["event"].str.split(":").str[0]
    sc["direction"] = np.where(sc["z"] >= 0, "up", "down")
    sc = _money(sc, res.get("gmv"), g, V, aov)
    tests = sc.dropna(subset=["p_value"]).groupby("date").size()
    disc = sc[sc["is_anomaly"]].groupby("date").size().reindex(tests.index, fill_value=0)
    alerts = sc[sc["is_anomaly"]].sort_values(["date", "gmv_at_risk"], ascending=[True, False])
    return MonitorResult(
        sc,
        alerts.reset_index(drop=True),
        tests,
        disc,
        alpha,
        sensitivity,
        as_of,
        calendar=cal,
        country=country,
        shop_events=tuple(dict.fromkeys(extra["event"])) if extra is not None else (),
        promotions=promotions,
    )


def _data_issues(sc: pd.DataFrame) -> pd.DataFrame:
    """Tracking outages (埋点/口径): recorded visitors collapse (≤ −50 %) while conversion jumps
    the same day on the same channel — buyers were counted, visits were not. The visitors alert
    and that conversion spike (plus the shop total's conversion spike that day, diluted by the
    same missing visits) are one data incident: ``issue = "data"``, the conversion rows get
    ``cause = "visitors"``, and the money at risk is the real one — the channel's (total's) own
    flagged GMV deviation that day, 0 when GMV is normal."""
    al = sc[sc["is_anomaly"]]
    vis = al[(al["metric"] == "visitors") & (al["rel_change"] <= -0.5)]
    conv = al[(al["metric"] == "conversion_rate") & (al["direction"] == "up")]
    trk = set(zip(vis["date"], vis["channel"])) & set(zip(conv["date"], conv["channel"]))
    days = {d for d, _ in trk}
    pair = pd.MultiIndex.from_arrays([sc["date"], sc["channel"]])
    on = pair.isin(list(trk)) if trk else np.zeros(len(sc), bool)
    m = sc["metric"].to_numpy()
    up_conv = (m == "conversion_rate") & (sc["direction"] == "up").to_numpy()
    data = sc["is_anomaly"].to_numpy() & (
        (on & ((m == "visitors") | up_conv))
        | ((sc["channel"] == TOTAL).to_numpy() & sc["date"].isin(days).to_numpy() & up_conv)
    )
    g = al[al["metric"] == "gmv"].set_index(["date", "channel"])["gmv_at_risk"]
    real = g.reindex(pair).to_numpy(dtype=float)
    sc["issue"] = np.where(data, "data", "")
    sc["cause"] = np.where(data & up_conv, "visitors", "")
    sc["gmv_at_risk"] = np.where(data, np.nan_to_num(real), sc["gmv_at_risk"])
    return sc


def _money(sc: pd.DataFrame, gmv_res, g: A.Grid, V, aov) -> pd.DataFrame:
    """Add gmv_gap, gmv_at_risk (one figure per channel-day), severity and deadlines."""
    S, T = len(g.series), len(g.times)
    key = pd.MultiIndex.from_arrays([np.tile(g.times, S), np.repeat(np.asarray(g.series), T)])
    exp_gmv = gmv_res["expected"].ravel() if gmv_res is not None else V["gmv"].ravel()
    lut = pd.DataFrame(
        {
            "exp_gmv": exp_gmv,
            "gmv": V["gmv"].ravel(),
            "orders": V["orders"].ravel(),
            "aov": aov.ravel(),
        },
        index=key,
    )
    m = lut.reindex(pd.MultiIndex.from_arrays([sc["date"], sc["channel"]]))
    eg = np.where(np.isfinite(m["exp_gmv"].to_numpy()), m["exp_gmv"].to_numpy(), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = sc["actual"].to_numpy(float) / sc["expected"].to_numpy(float) - 1
    gap = m["gmv"].to_numpy(float) - eg
    sc["gmv_gap"] = gap if gmv_res is not None else np.nan
    if gmv_res is not None:  # the channel-day's GMV gap, whichever of its metrics fired
        risk = np.abs(gap)
    else:  # GMV not monitored: each metric's own move stands in
        risk = np.fmin(np.abs(rel), 1.0) * eg  # at most the channel's whole expected GMV
    risk = np.where(
        sc["metric"] == "refund_rate",
        np.abs(sc["actual"] - sc["expected"]) * m["orders"].to_numpy() * m["aov"].to_numpy(),
        risk,
    )
    sc["rel_change"] = rel
    sc["gmv_at_risk"] = np.where(sc["is_anomaly"], np.nan_to_num(risk), 0.0)
    sc = _data_issues(sc)
    sc["family"] = np.where(sc["issue"] == "data", "data", sc["metric"].map(METRIC_FAMILY))
    shop = (
        lut.xs(TOTAL, level=1)["exp_gmv"]
        if TOTAL in g.series
        else lut.groupby(level=0)["exp_gmv"].sum()
    )
    share = sc["gmv_at_risk"] / shop.reindex(sc["date"]).to_numpy()
    sev = np.where(
        share >= SEVERITY_THRESHOLDS["high"],
        "high",
        np.where(share >= SEVERITY_THRESHOLDS["medium"], "medium", "low"),
    )
    sc["severity"] = np.where(sc["is_anomaly"], sev, "")
    sc["detected_on"] = sc["date"] + pd.Timedelta(days=1)
    sc["response_due"] = np.where(
        sc["severity"] == "high", sc["detected_on"] + pd.Timedelta(days=1), pd.NaT
    )
    sc["response_due"] = pd.to_datetime(sc["response_due"])
    sc["report_due"] = sc["detected_on"] + pd.Timedelta(days=2)
    return sc


# ------------------------------------------------------------------------------------------
# root cause and mix shift
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GmvAtRisk(Result):
    """The day's money figure (see the module docstring).

    ``shop``: the shop-level GMV gap ``|actual − expected|`` of the 全部 row on a day with any
    alert (0 on a quiet day); ``channels``: the flagged channel-days' gaps, each channel-day once
    however many of its metrics fired; ``channel_days``: how many; ``by_channel``: channel →
    gap (signed, actual − expected); ``method``: the rule in words.
    """

    date: str
    shop: float
    channels: float
    channel_days: int
    by_channel: dict
    method: str = (
        "channel-day GMV gap |actual − expected| (event-aware baseline), once per channel-day "
        "(refunds: excess refunds); shop = shop-level GMV gap"
    )


def gmv_at_risk(result: MonitorResult, as_of) -> GmvAtRisk:
    """One money figure per incident and the shop's: see :class:`GmvAtRisk`."""
    d = pd.Timestamp(as_of)
    al = result.alerts[result.alerts["date"] == d]
    # one figure per channel-day for GMV (sales and tracking incidents share it), one for refunds
    kind = np.where(al["family"] == "refund", "refund", "gmv")
    per = (
        al.assign(_kind=kind)
        .sort_values("gmv_at_risk", ascending=False)
        .drop_duplicates(["channel", "_kind"])
    )
    chans = per[per["channel"] != TOTAL]
    sc = result.scores[(result.scores["date"] == d) & (result.scores["channel"] == TOTAL)]
    shop_gap = sc["gmv_gap"].dropna() if "gmv_gap" in sc else pd.Series(dtype=float)
    if len(al) == 0:
        shop = 0.0
    elif len(shop_gap):
        shop = float(abs(shop_gap.iloc[0]))
    else:  # no total row (include_total=False) or GMV not monitored
        shop = float(chans["gmv_at_risk"].sum())
    by = chans.groupby("channel", sort=False)["gmv_at_risk"].sum()
    return GmvAtRisk(
        date=str(d.date()),
        shop=shop,
        channels=float(chans["gmv_at_risk"].sum()),
        channel_days=int(chans["channel"].nunique()),
        by_channel={str(k): float(v) for k, v in by.items()},
    )


def typical_day(daily: pd.DataFrame, as_of, *, weeks: int = 4) -> pd.DataFrame:
    """Average counts per channel over the same weekday of the previous ``weeks`` weeks
    (the fallback baseline of :func:`root_cause` when no monitor result is given).
    Columns channel, visitors, buyers, orders, gmv."""
    d = pd.Timestamp(as_of)
    days = [d - pd.Timedelta(weeks=k) for k in range(1, weeks + 1)]
    x = daily[pd.to_datetime(daily["date"]).isin(days)]
    cols = ["visitors", "buyers", "orders", "gmv"]
    return (
        x.groupby("channel", as_index=False)[cols]
        .sum()
        .assign(**{c: lambda t, c=c: t[c] / weeks for c in cols})
    )


def expected_day(result: MonitorResult, as_of) -> pd.DataFrame:
    """The day the anomaly test expected, per channel: the same causal, event-aware baseline
    (a 双11 is compared with an expected 双11, not with a typical weekday).

    Columns channel, visitors, buyers (expected visitors × expected conversion), orders
    (expected GMV / expected AOV), gmv (expected GMV). Channels without a full baseline that day
    (too little history, a metric not monitored) are left out.
    """
    d = pd.Timestamp(as_of)
    sc = result.scores[(result.scores["date"] == d) & (result.scores["channel"] != TOTAL)]
    need = ["visitors", "conversion_rate", "aov", "gmv"]
    cols = ["channel", "visitors", "buyers", "orders", "gmv"]
    if not set(need) <= set(sc["metric"]):
        return pd.DataFrame(columns=cols)
    w = sc.pivot_table(index="channel", columns="metric", values="expected", aggfunc="first")
    # a calendar day without a past (a first 店庆) has no expected rate: the column is all NaN,
    # pivot_table drops it, and the channel has no full baseline that day
    w = w.reindex(columns=need).replace([np.inf, -np.inf], np.nan).dropna()
    w = w[(w["aov"] > 0) & (w["visitors"] >= 0)]
    return pd.DataFrame(
        {
            "channel": w.index.astype(str),
            "visitors": w["visitors"].to_numpy(),
            "buyers": (w["visitors"] * w["conversion_rate"]).to_numpy(),
            "orders": (w["gmv"] / w["aov"]).to_numpy(),
            "gmv": w["gmv"].to_numpy(),
        }
    )


_FACTOR_LABELS = {
    "visitors": ("访客数", "visitors"),
    "conversion": ("转化率", "conversion"),
    "orders_per_buyer": ("人均订单数", "orders per buyer"),
    "aov": ("客单价", "AOV"),
}


def root_cause(
    daily: pd.DataFrame,
    as_of,
    *,
    result: MonitorResult | None = None,
    weeks: int = 4,
    lang: str = "zh",
) -> pd.DataFrame:
    """Exact channel × factor decomposition of the day's GMV against its baseline, ranked by
    absolute contribution (:func:`opsnb.drivers.decompose_gmv`; contributions sum to the gap).

    The baseline is the expected, event-aware day of the anomaly test (:func:`expected_day`
    of ``result``), so a weak 双11 shows which channel and factor fell short of an expected
    双11; channels without one, or every channel when ``result`` is None, use the typical same
    weekday (:func:`typical_day`). ``attrs["baseline"]`` says which: "expected", "typical" or
    "mixed". ``label`` is "channel · factor" in ``lang``.
    """
    from opsnb.drivers import decompose_gmv

    d = pd.Timestamp(as_of)
    after = daily[pd.to_datetime(daily["date"]) == d]
    typical = typical_day(daily, d, weeks=weeks)
    base, kind = typical, "typical"
    if result is not None:
        exp = expected_day(result, d)
        if len(exp):
            rest = typical[~typical["channel"].isin(exp["channel"])]
            rest = rest[rest["channel"].isin(after["channel"])]
            base = pd.concat([exp, rest], ignore_index=True) if len(rest) else exp
            kind = "mixed" if len(rest) else "expected"
    dec = decompose_gmv(base, after, by="channel")
    attrs = dict(dec.attrs)
    dec = dec.reindex(dec["contribution"].abs().sort_values(ascending=False).index).reset_index(
        drop=True
    )
    i = 0 if lang == "zh" else 1
    dec["label"] = [
        f"{c} · {_FACTOR_LABELS.get(f, (f, f))[i]}" for c, f in zip(dec["channel"], dec["factor"])
    ]
    dec.attrs.update(attrs)
    dec.attrs["baseline"] = kind
    return dec


def mix_shift(
    daily: pd.DataFrame, *, weeks: int = 8, min_tvd: float = 0.03, z: float = 4.0
) -> pd.DataFrame:
    """Days when channel shares of visitors move while the total does not.

    Columns: date, total_visitors, total_change (vs. the median of the previous ``weeks``
    weeks), tvd (total variation distance of visitor shares from the previous ``weeks`` same
    weekdays), tvd_threshold (median + z·MAD of past daily tvd; causal), chi2, p_value
    (chi-square of today's visitors on the baseline shares), is_shift (tvd above threshold and
    ≥ min_tvd, |total_change| < 5 %), top_channel (largest share move).
    """
    from scipy import stats

    w = (
        daily.assign(date=pd.to_datetime(daily["date"]))
        .pivot_table(index="date", columns="channel", values="visitors", aggfunc="sum")
        .sort_index()
        .fillna(0)
    )
    share = w.div(w.sum(axis=1), axis=0)
    base = sum(share.shift(7 * k) for k in range(1, 5)) / 4
    tvd = 0.5 * (share - base).abs().sum(axis=1)
    tvd[base.isna().any(axis=1)] = np.nan
    past = tvd.shift(1).rolling(7 * weeks, min_periods=14)
    med = past.median()
    mad = (tvd - med).abs().shift(1).rolling(7 * weeks, min_periods=14).median() * 1.4826
    thr = med + z * mad
    total = w.sum(axis=1)
    tchg = total / total.shift(1).rolling(7 * weeks, min_periods=14).median() - 1
    exp_counts = base.mul(total, axis=0)
    chi2 = ((w - exp_counts) ** 2 / exp_counts.where(exp_counts > 0)).sum(axis=1, min_count=1)
    p = stats.chi2.sf(chi2, df=w.shape[1] - 1)
    top = (share - base).abs().fillna(-1).idxmax(axis=1)
    return pd.DataFrame(
        {
            "date": w.index,
            "total_visitors": total.to_numpy(),
            "total_change": tchg.to_numpy(),
            "tvd": tvd.to_numpy(),
            "tvd_threshold": thr.to_numpy(),
            "chi2": chi2.to_numpy(),
            "p_value": p,
            "is_shift": ((tvd > thr) & (tvd >= min_tvd) & (tchg.abs() < 0.05)).to_numpy(),
            "top_channel": top.to_numpy(),
        }
    )


# ------------------------------------------------------------------------------------------
# evaluation against ground truth
# ------------------------------------------------------------------------------------------


def evaluate_against_truth(
    daily: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    sensitivity: str = "medium",
    config: EngineConfig | None = None,
) -> dict:
    """Precision and recall of :func:`monitor` (channels only, replayed over the whole history)
    against injected anomalies (columns start, end, channel, metric).

    ``recall``: share of injected anomalies with an alert on their channel on one of their days;
    ``recall_metric``: same but the alert must be on the injected metric; ``precision``: share
    of alerted channel-days that fall on an injected anomaly's channel and days.
    """
    res = monitor(daily, sensitivity=sensitivity, include_total=False, config=config)
    al = res.alerts
    hit_days = set()
    found = found_m = 0
    for a in truth.itertuples(index=False):
        days = pd.date_range(a.start, a.end)
        hit_days |= {(d, a.channel) for d in days}
        on = al[(al["channel"] == a.channel) & al["date"].isin(days)]
        found += len(on) > 0
        found_m += (on["metric"] == a.metric).any()
    cd = set(zip(al["date"], al["channel"]))
    tp = sum(1 for x in cd if x in hit_days)
    return {
        "anomalies": len(truth),
        "recall": found / max(len(truth), 1),
        "recall_metric": found_m / max(len(truth), 1),
        "alerted_channel_days": len(cd),
        "precision": tp / max(len(cd), 1),
        "sensitivity": sensitivity,
    }


# ------------------------------------------------------------------------------------------
# any CSV (the ``opsnb detect`` command)
# ------------------------------------------------------------------------------------------


def read_series_file(
    path, *, time_col: str, value_cols: list[str], series_col: str | None = None
) -> pd.DataFrame:
    """Read a CSV (UTF-8 or GBK) with a time column and numeric columns for :func:`opsnb.monitoring.anomaly.detect`.

    Raises :class:`~opsnb.errors.DataContractError` listing every problem (file, row as numbered
    in the file, column, value, expected): missing columns, unparseable timestamps or numbers.
    Arrow reads the file (:func:`opsnb.data.columnar.read_csv_columns`) and each distinct cell
    is parsed once; a file Arrow cannot read as a plain CSV goes through pandas' reader.
    """
    from pathlib import Path

    from opsnb.data.columnar import (
        CodedColumn,
        parse_dates_coded,
        parse_numbers_coded,
        read_csv_columns,
    )
    from opsnb.errors import DataContractError, DataProblem

    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"{src}: no such file")
    need = list(dict.fromkeys([time_col, *value_cols] + ([series_col] if series_col else [])))
    got = read_csv_columns(path, need, numeric=list(value_cols))
    if got is None:
        return _read_series_pandas(
            path, time_col=time_col, value_cols=value_cols, series_col=series_col
        )
    cols, n_rows = got
    problems = []
    out = pd.DataFrame(index=pd.RangeIndex(n_rows))

    def cell(c, i):
        return cols[c].uniques.iat[cols[c].codes[i]]

    t, bad = parse_dates_coded(cols[time_col], with_time=True)
    problems += [DataProblem(src, i + 2, time_col, cell(time_col, i), e) for i, e in bad.items()]
    problems += [
        DataProblem(src, int(i) + 2, time_col, "", "a timestamp")
        for i in np.flatnonzero(np.isnat(t))
        if int(i) not in bad
    ]
    out[time_col] = t
    for c in value_cols:
        v = cols[c]
        if isinstance(v, CodedColumn):
            v, bad = parse_numbers_coded(v, integer=False, percent_ok=True)
            problems += [DataProblem(src, i + 2, c, cell(c, i), e) for i, e in bad.items()]
        out[c] = v
    if series_col:
        out[series_col] = cols[series_col].to_series()
    if len(out) == 0:
        problems.append(DataProblem(src, None, None, None, "at least one data row"))
    if problems:
        raise DataContractError(f"{src}: {len(problems)} problem(s) in the input", problems)
    return out


def _read_series_pandas(
    path, *, time_col: str, value_cols: list[str], series_col: str | None = None
) -> pd.DataFrame:
    """:func:`read_series_file` through pandas' reader, for files Arrow does not read as a
    plain CSV (its messages name the line and the missing columns)."""
    import io

    from opsnb.data.cells import parse_dates, parse_numbers
    from opsnb.data.rawfiles import decode_text
    from opsnb.errors import DataContractError, DataProblem

    src = str(path)
    text, _ = decode_text(path.read_bytes())
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except Exception as exc:  # parser errors name the line
        raise DataContractError(
            f"{src}: not a readable CSV ({exc})",
            [DataProblem(src, None, None, None, "a comma-separated file with a header row")],
        ) from None
    need = [time_col, *value_cols] + ([series_col] if series_col else [])
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise DataContractError(
            f"{src}: missing column(s) {missing}",
            [
                DataProblem(src, 1, c, None, f"a column named {c!r}; found {list(raw.columns)}")
                for c in missing
            ],
        )
    problems = []
    out = pd.DataFrame(index=raw.index)
    t, bad = parse_dates(raw[time_col], with_time=True)
    problems += [
        DataProblem(src, int(i) + 2, time_col, raw[time_col].iloc[i], e)
        for i, e in sorted(bad.items())
    ]
    problems += [
        DataProblem(src, int(i) + 2, time_col, "", "a timestamp")
        for i in np.flatnonzero(t.isna().to_numpy())
        if int(i) not in bad
    ]
    out[time_col] = t.to_numpy()
    for c in value_cols:
        v, bad = parse_numbers(raw[c], integer=False, percent_ok=True)
        problems += [
            DataProblem(src, int(i) + 2, c, raw[c].iloc[i], e) for i, e in sorted(bad.items())
        ]
        out[c] = v.to_numpy()
    if series_col:
        out[series_col] = raw[series_col].to_numpy()
    if len(out) == 0:
        problems.append(DataProblem(src, None, None, None, "at least one data row"))
    if problems:
        raise DataContractError(f"{src}: {len(problems)} problem(s) in the input", problems)
    return out


# ------------------------------------------------------------------------------------------
# notebook parameters
# ------------------------------------------------------------------------------------------
