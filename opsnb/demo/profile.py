"""The demo shop's design: channels, traffic model, catalogue and injected anomalies (no I/O).

The constants and noise-free daily means that :mod:`opsnb.demo.orders`, :mod:`opsnb.demo.tables`
and the generator :mod:`opsnb.demo.shop` build on. How the numbers are made is told in
:mod:`opsnb.demo.shop`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsnb import calendar as _cal
from opsnb.data.schemas import DEMO_CHANNELS

__all__ = [
    "CHANNELS",
    "CHANNEL_PROFILE",
    "CATEGORIES",
    "DISCOUNT_NORMAL",
    "DISCOUNT_PROMO",
    "INDEX_A",
    "INDEX_POWER",
    "LINES_P_NORMAL",
    "LINES_P_PROMO",
    "MULTI_ORDER_P",
    "QTY_P",
    "SHOP_OPENED",
    "anomaly_factors",
    "anomaly_plan",
    "simulate_traffic",
    "expected",
    "expected_aov",
    "legacy_days",
    "sku_catalog",
    "sku_weights",
]

CHANNELS = DEMO_CHANNELS

# visitors: 2024 mid-year level per day; growth: yearly; conv: base visitor→buyer rate;
# new: 1 − the channel's weight in taking returning buyers (老客/私域 takes most of them);
# refund: base refund rate;
# cac: yuan per buyer for paid channels (0: no spend); tilt: price preference exponent;
# sens: promotion sensitivity (traffic uplift = 1 + sens × (calendar uplift − 1));
# weekend: amplitude of the weekday pattern.
CHANNEL_PROFILE: dict[str, dict[str, float]] = {
    "自然搜索": dict(
        visitors=8000,
        growth=0.26,
        conv=0.030,
        new=0.80,
        refund=0.042,
        cac=0.0,
        tilt=0.0,
        sens=1.0,
        weekend=1.0,
    ),
    "付费推广": dict(
        visitors=5000,
        growth=0.28,
        conv=0.020,
        new=0.85,
        refund=0.046,
        cac=110.0,
        tilt=0.05,
        sens=1.1,
        weekend=0.6,
    ),
    "抖音": dict(
        visitors=6000,
        growth=0.45,
        conv=0.047,
        new=0.88,
        refund=0.062,
        cac=80.0,
        tilt=-1.0,
        sens=0.9,
        weekend=2.0,
    ),
    "小红书": dict(
        visitors=2500,
        growth=0.50,
        conv=0.076,
        new=0.85,
        refund=0.045,
        cac=50.0,
        tilt=0.25,
        sens=0.6,
        weekend=1.6,
    ),
    "直播": dict(
        visitors=3000,
        growth=0.35,
        conv=0.045,
        new=0.75,
        refund=0.065,
        cac=65.0,
        tilt=-0.8,
        sens=1.3,
        weekend=2.0,
    ),
    "老客/私域": dict(
        visitors=1500,
        growth=0.30,
        conv=0.070,
        new=0.10,
        refund=0.030,
        cac=0.0,
        tilt=0.6,
        sens=1.1,
        weekend=0.8,
    ),
}

_WEEKDAY = np.array([1.00, 0.98, 0.97, 0.98, 1.01, 1.04, 1.03])  # Mon..Sun, scaled per channel
_REFERENCE_DAY = pd.Timestamp("2024-07-01")  # visitor levels hold here; growth around it

# Calendar uplift per event: (visitors, conversion) on pre-sale days, on ramp days
# (by days to peak) and on the peak day. Refund multiplier for orders placed in the event.
_EVENT_EFFECT: dict[str, dict] = {
    "double11": dict(
        pre=(1.35, 1.12),
        ramp={1: (2.2, 1.35), 21: (1.9, 1.25), 22: (1.9, 1.25), 10: (1.6, 1.2), 11: (1.6, 1.2)},
        peak=(5.0, 1.75),
        refund=1.6,
        after=(0.8, 3),
    ),
    "618": dict(
        pre=(1.25, 1.08),
        ramp={1: (1.8, 1.3), 17: (1.7, 1.22), 18: (1.7, 1.22)},
        peak=(3.5, 1.55),
        refund=1.5,
        after=(0.85, 3),
    ),
    "double12": dict(pre=(1.25, 1.08), ramp={}, peak=(1.9, 1.3), refund=1.2, after=None),
    "new_year_festival": dict(pre=(1.25, 1.08), ramp={}, peak=(1.5, 1.2), refund=1.1, after=None),
    "womens_day": dict(pre=(1.15, 1.05), ramp={}, peak=(1.8, 1.3), refund=1.1, after=None),
    "99": dict(pre=(1.15, 1.05), ramp={}, peak=(1.6, 1.25), refund=1.1, after=None),
    "spring_festival": dict(pre=(0.62, 0.72), ramp={}, peak=(0.5, 0.6), refund=1.0, after=None),
}
_OTHER_EFFECT = dict(pre=(1.2, 1.08), ramp={}, peak=(1.5, 1.2), refund=1.1, after=None)

LINES_P_NORMAL = np.array([0.72, 0.18, 0.07, 0.03])
LINES_P_PROMO = np.array([0.68, 0.20, 0.08, 0.04])
QTY_P = np.array([0.82, 0.14, 0.04])
DISCOUNT_NORMAL = (0.88, 1.00)
DISCOUNT_PROMO = (0.70, 0.85)
MULTI_ORDER_P = 0.07
CATEGORIES = ("面部精华", "面霜", "防晒")
_PRICE_EXPONENT = -2.0
INDEX_A, INDEX_POWER = 6.0, 0.7
"""Market index = INDEX_A × gmv^INDEX_POWER × small noise (the truth a calibration recovers)."""


# ---------------------------------------------------------------------------------------------
# catalogue
# ---------------------------------------------------------------------------------------------


def sku_catalog() -> pd.DataFrame:
    """The shop's 60 SKUs (20 per category): sku, category, name_zh, list_price, popularity.

    Fixed (independent of the seed) so that SKU codes mean the same in every demo.
    """
    rng = np.random.default_rng(7)
    grids = {
        "面部精华": (
            "JH",
            "精华",
            (
                129,
                159,
                189,
                219,
                239,
                259,
                279,
                299,
                329,
                349,
                369,
                399,
                429,
                459,
                499,
                529,
                569,
                599,
                649,
                699,
            ),
        ),
        "面霜": (
            "MS",
            "面霜",
            (
                99,
                119,
                139,
                159,
                179,
                199,
                219,
                239,
                259,
                279,
                299,
                319,
                349,
                379,
                399,
                429,
                469,
                499,
                559,
                629,
            ),
        ),
        "防晒": (
            "FS",
            "防晒",
            (
                59,
                69,
                79,
                89,
                99,
                109,
                119,
                129,
                139,
                149,
                159,
                169,
                189,
                199,
                229,
                259,
                299,
                349,
                459,
                559,
            ),
        ),
    }
    rows = []
    for cat, (code, word, prices) in grids.items():
        ranks = rng.permutation(len(prices)) + 1
        for i, (price, rank) in enumerate(zip(prices, ranks), start=1):
            kind = "礼盒" if price >= 450 else ("小样装" if price < 90 else "")
            rows.append(
                dict(
                    sku=f"{code}-{i:03d}",
                    category=cat,
                    name_zh=f"{word}{kind}{i:02d}",
                    list_price=float(price),
                    popularity=1.0 / rank**0.9,
                )
            )
    return pd.DataFrame(rows)


def sku_weights(cat: pd.DataFrame) -> np.ndarray:
    """(channel, sku) sampling weights: popularity × (price/200)^(tilt − 2): cheap SKUs sell
    more units; channels differ in how much they lean to premium SKUs."""
    price = cat["list_price"].to_numpy()
    pop = cat["popularity"].to_numpy()
    w = np.array(
        [pop * (price / 200.0) ** (CHANNEL_PROFILE[c]["tilt"] + _PRICE_EXPONENT) for c in CHANNELS]
    )
    return w / w.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# anomalies (ground truth)
# ---------------------------------------------------------------------------------------------

# (start, end, channel, metric, kind, magnitude, zh, en)
_ANOMALIES = (
    (
        "2024-03-19",
        "2024-03-19",
        "自然搜索",
        "visitors",
        "tracking_outage",
        0.1,
        "埋点故障：自然搜索访客数少记约90%，订单正常",
        "Tracking outage: 自然搜索 visitors under-recorded by ~90 %, orders normal",
    ),
    (
        "2024-04-23",
        "2024-04-23",
        "付费推广",
        "visitors",
        "traffic_spike",
        3.0,
        "机器人刷量：付费推广访客数约3倍，买家数不变",
        "Bot traffic: 付费推广 visitors ×3, buyers unchanged",
    ),
    (
        "2024-05-07",
        "2024-05-09",
        "抖音",
        "conversion_rate",
        "conversion_drop",
        0.6,
        "支付故障：抖音转化率下降约40%（3天）",
        "Payment bug: 抖音 conversion −40 % for 3 days",
    ),
    (
        "2024-06-19",
        "2024-06-24",
        "直播",
        "refund_rate",
        "refund_surge",
        3.0,
        "618后质量问题：直播退款率约3倍",
        "Quality issue after 618: 直播 refund rate ×3",
    ),
    (
        "2024-07-16",
        "2024-07-16",
        "小红书",
        "visitors",
        "tracking_outage",
        0.1,
        "埋点故障：小红书访客数少记约90%",
        "Tracking outage: 小红书 visitors under-recorded by ~90 %",
    ),
    (
        "2024-09-24",
        "2024-09-24",
        "抖音",
        "visitors",
        "traffic_spike",
        3.0,
        "机器人刷量：抖音访客数约3倍，买家数不变",
        "Bot traffic: 抖音 visitors ×3, buyers unchanged",
    ),
    (
        "2024-10-15",
        "2024-10-16",
        "付费推广",
        "aov",
        "aov_drop",
        0.7,
        "优惠券配置错误：付费推广客单价下降约30%",
        "Wrong coupon: 付费推广 AOV −30 %",
    ),
    (
        "2024-11-12",
        "2024-11-17",
        "抖音",
        "refund_rate",
        "refund_surge",
        3.0,
        "双11后批次质量问题：抖音退款率约3倍",
        "Batch quality issue after 双11: 抖音 refund rate ×3",
    ),
    (
        "2024-12-17",
        "2024-12-17",
        "老客/私域",
        "visitors",
        "tracking_outage",
        0.1,
        "埋点故障：老客/私域访客数少记约90%",
        "Tracking outage: 老客/私域 visitors under-recorded by ~90 %",
    ),
    (
        "2025-03-25",
        "2025-03-27",
        "小红书",
        "conversion_rate",
        "conversion_drop",
        0.6,
        "支付故障：小红书转化率下降约40%（3天）",
        "Payment bug: 小红书 conversion −40 % for 3 days",
    ),
    (
        "2025-04-15",
        "2025-04-15",
        "自然搜索",
        "visitors",
        "traffic_spike",
        3.0,
        "机器人刷量：自然搜索访客数约3倍，买家数不变",
        "Bot traffic: 自然搜索 visitors ×3, buyers unchanged",
    ),
    (
        "2025-06-10",
        "2025-06-11",
        "抖音",
        "conversion_rate",
        "conversion_drop",
        0.6,
        "618预售期支付故障：抖音转化率下降约40%",
        "Payment bug during 618 pre-sale: 抖音 conversion −40 %",
    ),
    (
        "2025-07-22",
        "2025-07-23",
        "老客/私域",
        "aov",
        "aov_drop",
        0.7,
        "优惠券配置错误：老客/私域客单价下降约30%",
        "Wrong coupon: 老客/私域 AOV −30 %",
    ),
    (
        "2025-08-19",
        "2025-08-19",
        "付费推广",
        "visitors",
        "tracking_outage",
        0.1,
        "埋点故障：付费推广访客数少记约90%，花费正常",
        "Tracking outage: 付费推广 visitors under-recorded by ~90 %, spend normal",
    ),
    (
        "2025-10-07",
        "2025-10-12",
        "小红书",
        "refund_rate",
        "refund_surge",
        3.0,
        "防晒批次质量问题：小红书退款率约3倍",
        "Sunscreen batch quality issue: 小红书 refund rate ×3",
    ),
    (
        "2025-11-11",
        "2025-11-11",
        "直播",
        "gmv",
        "weak_promo",
        0.5,
        "双11直播表现疲软：仅达预期的约50%",
        "Weak 双11 livestream: 直播 at ~50 % of its expected level",
    ),
)


def anomaly_plan(start=None, end=None) -> pd.DataFrame:
    """The injected anomalies overlapping ``start..end`` (all when omitted), as ground truth.

    Columns: anomaly_id, start, end, channel, metric, kind, magnitude (multiplier applied to the
    metric's driver), description_zh, description_en, in_promotion (event slug or "").
    """
    df = pd.DataFrame(
        list(_ANOMALIES),
        columns=[
            "start",
            "end",
            "channel",
            "metric",
            "kind",
            "magnitude",
            "description_zh",
            "description_en",
        ],
    )
    df.insert(0, "anomaly_id", [f"A{i:02d}" for i in range(1, len(df) + 1)])
    for c in ("start", "end"):
        df[c] = pd.to_datetime(df[c])
    ev = _cal.event_on(pd.concat([df["start"], df["end"]]).tolist())
    ev_s, ev_e = ev.iloc[: len(df)].to_numpy(), ev.iloc[len(df) :].to_numpy()
    df["in_promotion"] = np.where(ev_s != "", ev_s, ev_e)
    if start is not None:
        df = df[df["end"] >= pd.Timestamp(start)]
    if end is not None:
        df = df[df["start"] <= pd.Timestamp(end)]
    df["magnitude"] = df["magnitude"].astype(float)
    return df.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# daily means (noise-free) and daily metrics
# ---------------------------------------------------------------------------------------------


def _calendar_effects(dates: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Per-date calendar multipliers: visits, conv, refund, promo flag (deeper discounts)."""
    n = len(dates)
    visit = np.ones(n)
    conv = np.ones(n)
    refund = np.ones(n)
    promo = np.zeros(n, dtype=bool)
    ed = _cal.event_days(dates)
    for i, r in enumerate(ed.itertuples(index=False)):
        if not r.event:
            continue
        eff = _EVENT_EFFECT.get(r.event, _OTHER_EFFECT)
        dtp = int(r.days_to_peak)
        v, c = eff["peak"] if r.is_peak else eff["ramp"].get(dtp, eff["pre"])
        visit[i], conv[i] = v, c
        refund[i] = eff["refund"]
        promo[i] = r.kind == "promo"
    # hangover after the two big festivals: demand was pulled forward
    cal = _cal.promotion_calendar(dates.min() - pd.Timedelta(days=5), dates.max())
    for ev in cal.itertuples(index=False):
        after = _EVENT_EFFECT.get(ev.event, _OTHER_EFFECT)["after"]
        if after is None:
            continue
        mult, days = after
        for k in range(1, days + 1):
            hit = dates == ev.peak + pd.Timedelta(days=k)
            visit[hit] *= mult
            refund[hit] *= 1.25
    return dict(visit=visit, conv=conv, refund=refund, promo=promo)


def expected(dates: pd.DatetimeIndex, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Noise-free (date × channel) means: visitors, conversion, refund rate, cost per visitor,
    promotion flag (dates) — the model behind both the simulation and the targets."""
    eff = _calendar_effects(dates)
    t = ((dates - _REFERENCE_DAY).days.to_numpy() / 365.25)[:, None]
    dow = _WEEKDAY[dates.day_of_week.to_numpy()][:, None]
    doy = dates.day_of_year.to_numpy()[:, None]
    season = 1.0 + 0.05 * np.cos(2 * np.pi * (doy - 340) / 365.25)
    prof = {
        k: np.array([CHANNEL_PROFILE[c][k] for c in CHANNELS])[None, :]
        for k in ("visitors", "growth", "conv", "refund", "cac", "sens", "weekend")
    }
    up_v = eff["visit"][:, None]
    up_c = eff["conv"][:, None]
    visit_mult = np.where(up_v > 1, 1 + prof["sens"] * (up_v - 1), up_v)
    conv_mult = np.where(up_c > 1, 1 + np.minimum(prof["sens"], 1.0) * (up_c - 1), up_c)
    mu_v = (
        scale
        * prof["visitors"]
        * (1 + prof["growth"]) ** t
        * (1 + prof["weekend"] * (dow - 1))
        * season
        * visit_mult
    )
    conv = np.minimum(prof["conv"] * conv_mult, 0.5)
    refund = np.minimum(prof["refund"] * eff["refund"][:, None], 0.5)
    cpv = prof["cac"] * prof["conv"] * conv_mult  # cost per visitor follows the bidding heat
    day_mult = (
        _WEEKDAY[dates.day_of_week.to_numpy()] * season[:, 0] * eff["visit"] * np.sqrt(eff["conv"])
    )
    return dict(
        visitors=mu_v, conv=conv, refund=refund, cpv=cpv, promo=eff["promo"], day_mult=day_mult
    )


def expected_aov(promo: np.ndarray, catalog: pd.DataFrame) -> np.ndarray:
    """Expected order amount (date × channel) implied by the basket model."""
    mean_price = sku_weights(catalog) @ catalog["list_price"].to_numpy()  # per channel
    qty = (QTY_P * np.arange(1, 4)).sum()
    lines_n = (LINES_P_NORMAL * np.arange(1, 5)).sum()
    lines_p = (LINES_P_PROMO * np.arange(1, 5)).sum()
    d_n, d_p = np.mean(DISCOUNT_NORMAL), np.mean(DISCOUNT_PROMO)
    per = np.where(promo[:, None], lines_p * d_p, lines_n * d_n)
    return per * qty * mean_price[None, :]


def anomaly_factors(dates: pd.DatetimeIndex, anomalies: pd.DataFrame) -> dict[str, np.ndarray]:
    shape = (len(dates), len(CHANNELS))
    f = {k: np.ones(shape) for k in ("record", "bots", "conv", "refund", "discount", "true_visits")}
    key = {
        "tracking_outage": "record",
        "traffic_spike": "bots",
        "conversion_drop": "conv",
        "refund_surge": "refund",
        "aov_drop": "discount",
        "weak_promo": "true_visits",
    }
    for a in anomalies.itertuples(index=False):
        rows = (dates >= a.start) & (dates <= a.end)
        f[key[a.kind]][rows, CHANNELS.index(a.channel)] *= a.magnitude
    return f


def simulate_traffic(dates, rng, scale, factors):
    exp = expected(dates, scale)
    D, C = exp["visitors"].shape
    day_noise = np.exp(rng.normal(0, 0.03, size=(D, 1)))
    mu = exp["visitors"] * day_noise * np.exp(rng.normal(0, 0.06, size=(D, C)))
    true_v = rng.poisson(mu * factors["true_visits"])
    p = np.clip(exp["conv"] * factors["conv"] * np.exp(rng.normal(0, 0.05, size=(D, C))), 0, 0.6)
    buyers = rng.binomial(true_v, p)
    orders = buyers + rng.binomial(buyers, MULTI_ORDER_P)
    q_cart = np.clip(1.6 * p / np.maximum(1 - p, 1e-9), 0, 1)
    cart_true = buyers + rng.binomial(true_v - buyers, q_cart)
    rec = factors["record"]
    vis_rec = np.round(true_v * rec * factors["bots"]).astype(np.int64)
    vis_rec = np.maximum(vis_rec, buyers)
    cart_rec = np.minimum(np.round(cart_true * rec).astype(np.int64), vis_rec)
    spend = true_v * exp["cpv"] * np.exp(rng.normal(0, 0.06, size=(D, C)))
    spend = np.round(spend, 2)
    return dict(
        visitors=vis_rec,
        buyers=buyers,
        orders=orders,
        day_mult=exp["day_mult"],
        cart_users=cart_rec,
        ad_spend=spend,
        refund_p=exp["refund"] * factors["refund"],
        promo=exp["promo"],
    )


# ---------------------------------------------------------------------------------------------
# customers acquired before the range (the orders themselves: opsnb.demo.orders)
# ---------------------------------------------------------------------------------------------

SHOP_OPENED = pd.Timestamp("2022-01-01")
"""Customers acquired from here to ``start`` form the legacy pool (at the model's new-buyer
rate), so a short range starts with the same customer history as the full one."""
_LEGACY_NEW_SHARE = 0.8


def legacy_days(start: pd.Timestamp, scale: float) -> np.ndarray:
    """Expected number of customers acquired on each day before ``start`` (oldest first)."""
    first = min(SHOP_OPENED, start - pd.Timedelta(days=90))
    hist = pd.date_range(first, start - pd.Timedelta(days=1), freq="D")
    ex = expected(hist, scale)
    return (ex["visitors"] * ex["conv"]).sum(axis=1) * _LEGACY_NEW_SHARE
