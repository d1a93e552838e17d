"""The deterministic demo shop (演示店铺): a 美妆护肤 shop on Tmall/Douyin, with ground truth.

Every notebook of opsnb runs on it out of the box, and every method can be checked against it
because the shop's truth is known: injected anomalies (``anomalies``), the true effects of two
A/B tests (``experiment_truth``), the index → GMV transform of the market data.

How the numbers are made (all draws from ``numpy.random.default_rng(seed)``):

* **Traffic** per channel (:data:`CHANNELS`): a 2024 level × yearly growth (25-50 %) × weekday
  pattern × mild winter season × the promotion calendar (:mod:`opsnb.calendar`: 双11 peak about
  5× a normal day, 618 about 3.5×, 双12 / 年货节 / 38 / 99 moderate, 春节 a dip) × noise.
* **Funnel**: buyers ~ Binomial(visitors, conversion) with conversion 2-8 % by channel, higher on
  promotion days; orders = buyers + Binomial(buyers, 7 %); cart users ≥ buyers.
* **Ad spend** (付费推广, 抖音, 小红书, 直播) = true visitors × cost per visitor, with
  cost per visitor = CAC × base conversion, so CAC = ad_spend / buyers ≈ ¥50 for 小红书
  (conversion ≈ 8 %) and ≈ ¥80 for 抖音 (≈ 5 %), the seeds of :mod:`opsnb.goals`.
* **Orders**: one row per daily-metrics order, so ``daily_metrics`` counts ARE the order counts
  and ``gmv`` is the sum of order amounts (to the cent; the data-health notebook checks it). An
  order's amount is the sum of its lines (``order_items``: 1-4 lines over 60 SKUs, unit price =
  list price × the order's discount), so items add up to the order exactly. Discounts are deeper
  on promotion days, so AOV is lower there. Refunds are drawn per order (3-8 % by channel, more
  for promotion orders), ``refund_amount`` sums to the daily figure.
* **Customers** (BG/NBD-like): each customer buys again at a Gamma-distributed rate while
  alive (× weekday, season and promotion) and drops out after a repeat purchase with a
  Beta-distributed probability. Customers acquired since :data:`SHOP_OPENED` form the pool,
  so a short range starts with the same history as the full one. A day's returning buyers
  are spread over channels (mostly 老客/私域); the rest of a channel's buyers are new
  customers (``new_buyers``, first-time ids). About 30 % of buyers return, 24 % of the
  customers seen in two years buy more than once, and a BG/NBD fit converges.
* ``scale`` multiplies every traffic level (default 1.0 ≈ 1 M orders over two years);
  counts stay consistent at any scale.

The customer and order simulation lives in :mod:`opsnb.demo_orders`, the planning,
experiment and market tables in :mod:`opsnb.demo_tables`; both build on the traffic model here.

Ground truth frames: ``anomalies`` (anomaly_id, start, end, channel, metric, kind, magnitude,
description_zh, description_en) and ``experiment_truth`` (experiment, metric, control_mean,
treatment_mean, true_abs_effect, true_rel_effect).

Examples
--------
>>> shop = generate(start="2025-11-01", end="2025-11-30", scale=0.1)
>>> sorted(shop.daily_metrics["channel"].unique()) == sorted(CHANNELS)
True
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from . import calendar as _cal
from .schemas import DEMO_CHANNELS

__all__ = [
    "CHANNELS",
    "CHANNEL_PROFILE",
    "DemoShop",
    "generate",
    "write_demo",
    "sku_catalog",
    "anomaly_plan",
]

CHANNELS = DEMO_CHANNELS

# visitors: 2024 mid-year level per day; growth: yearly; conv: base visitor→buyer rate;
# new: 1 − the channel's weight in taking returning buyers (老客/私域 takes most of them);
# refund: base refund rate;
# cac: yuan per buyer for paid channels (0: no spend); tilt: price preference exponent;
# sens: promotion sensitivity (traffic uplift = 1 + sens × (calendar uplift − 1));
# weekend: amplitude of the weekday pattern.
CHANNEL_PROFILE: dict[str, dict[str, float]] = {
    "自然搜索": dict(visitors=8000, growth=0.26, conv=0.030, new=0.80, refund=0.042, cac=0.0,
                 tilt=0.0, sens=1.0, weekend=1.0),
    "付费推广": dict(visitors=5000, growth=0.28, conv=0.020, new=0.85, refund=0.046, cac=110.0,
                 tilt=0.05, sens=1.1, weekend=0.6),
    "抖音": dict(visitors=6000, growth=0.45, conv=0.047, new=0.88, refund=0.062, cac=80.0,
               tilt=-1.0, sens=0.9, weekend=2.0),
    "小红书": dict(visitors=2500, growth=0.50, conv=0.076, new=0.85, refund=0.045, cac=50.0,
                tilt=0.25, sens=0.6, weekend=1.6),
    "直播": dict(visitors=3000, growth=0.35, conv=0.045, new=0.75, refund=0.065, cac=65.0,
               tilt=-0.8, sens=1.3, weekend=2.0),
    "老客/私域": dict(visitors=1500, growth=0.30, conv=0.070, new=0.10, refund=0.030, cac=0.0,
                  tilt=0.6, sens=1.1, weekend=0.8),
}

_WEEKDAY = np.array([1.00, 0.98, 0.97, 0.98, 1.01, 1.04, 1.03])  # Mon..Sun, scaled per channel
_REFERENCE_DAY = pd.Timestamp("2024-07-01")  # visitor levels hold here; growth around it

# Calendar uplift per event: (visitors, conversion) on pre-sale days, on ramp days
# (by days to peak) and on the peak day. Refund multiplier for orders placed in the event.
_EVENT_EFFECT: dict[str, dict] = {
    "double11": dict(pre=(1.35, 1.12), ramp={1: (2.2, 1.35), 21: (1.9, 1.25), 22: (1.9, 1.25),
                                           10: (1.6, 1.2), 11: (1.6, 1.2)},
                     peak=(5.0, 1.75), refund=1.6, after=(0.8, 3)),
    "618": dict(pre=(1.25, 1.08), ramp={1: (1.8, 1.3), 17: (1.7, 1.22), 18: (1.7, 1.22)},
                peak=(3.5, 1.55), refund=1.5, after=(0.85, 3)),
    "double12": dict(pre=(1.25, 1.08), ramp={}, peak=(1.9, 1.3), refund=1.2, after=None),
    "new_year_festival": dict(pre=(1.25, 1.08), ramp={}, peak=(1.5, 1.2), refund=1.1, after=None),
    "womens_day": dict(pre=(1.15, 1.05), ramp={}, peak=(1.8, 1.3), refund=1.1, after=None),
    "99": dict(pre=(1.15, 1.05), ramp={}, peak=(1.6, 1.25), refund=1.1, after=None),
    "spring_festival": dict(pre=(0.62, 0.72), ramp={}, peak=(0.5, 0.6), refund=1.0, after=None),
}
_OTHER_EFFECT = dict(pre=(1.2, 1.08), ramp={}, peak=(1.5, 1.2), refund=1.1, after=None)

_LINES_P_NORMAL = np.array([0.72, 0.18, 0.07, 0.03])
_LINES_P_PROMO = np.array([0.68, 0.20, 0.08, 0.04])
_QTY_P = np.array([0.82, 0.14, 0.04])
_DISCOUNT_NORMAL = (0.88, 1.00)
_DISCOUNT_PROMO = (0.70, 0.85)
_MULTI_ORDER_P = 0.07
_CATEGORIES = ("面部精华", "面霜", "防晒")
_PRICE_EXPONENT = -2.0
INDEX_A, INDEX_POWER = 6.0, 0.7
"""Market index = INDEX_A × gmv^INDEX_POWER × small noise (the truth a calibration recovers)."""


@dataclass(frozen=True)
class DemoShop:
    """The demo shop's tables (each a DataFrame satisfying its contract in :mod:`opsnb.schemas`)
    and its ground truth (``anomalies``, ``experiment_truth``)."""

    daily_metrics: pd.DataFrame
    orders: pd.DataFrame
    order_items: pd.DataFrame
    experiments: pd.DataFrame
    experiment_truth: pd.DataFrame
    plan: pd.DataFrame
    milestones: pd.DataFrame
    targets: pd.DataFrame
    market: pd.DataFrame
    anomalies: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every frame by name (contract tables first, then the ground truth)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ---------------------------------------------------------------------------------------------
# catalogue
# ---------------------------------------------------------------------------------------------

def sku_catalog() -> pd.DataFrame:
    """The shop's 60 SKUs (20 per category): sku, category, name_zh, list_price, popularity.

    Fixed (independent of the seed) so that SKU codes mean the same in every demo.
    """
    rng = np.random.default_rng(7)
    grids = {
        "面部精华": ("JH", "精华", (129, 159, 189, 219, 239, 259, 279, 299, 329, 349, 369, 399,
                                 429, 459, 499, 529, 569, 599, 649, 699)),
        "面霜": ("MS", "面霜", (99, 119, 139, 159, 179, 199, 219, 239, 259, 279, 299, 319, 349,
                             379, 399, 429, 469, 499, 559, 629)),
        "防晒": ("FS", "防晒", (59, 69, 79, 89, 99, 109, 119, 129, 139, 149, 159, 169, 189, 199,
                             229, 259, 299, 349, 459, 559)),
    }
    rows = []
    for cat, (code, word, prices) in grids.items():
        ranks = rng.permutation(len(prices)) + 1
        for i, (price, rank) in enumerate(zip(prices, ranks), start=1):
            kind = "礼盒" if price >= 450 else ("小样装" if price < 90 else "")
            rows.append(dict(sku=f"{code}-{i:03d}", category=cat, name_zh=f"{word}{kind}{i:02d}",
                             list_price=float(price), popularity=1.0 / rank ** 0.9))
    return pd.DataFrame(rows)


def _sku_weights(cat: pd.DataFrame) -> np.ndarray:
    """(channel, sku) sampling weights: popularity × (price/200)^(tilt − 2): cheap SKUs sell
    more units; channels differ in how much they lean to premium SKUs."""
    price = cat["list_price"].to_numpy()
    pop = cat["popularity"].to_numpy()
    w = np.array([pop * (price / 200.0) ** (CHANNEL_PROFILE[c]["tilt"] + _PRICE_EXPONENT)
                  for c in CHANNELS])
    return w / w.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# anomalies (ground truth)
# ---------------------------------------------------------------------------------------------

# (start, end, channel, metric, kind, magnitude, zh, en)
_ANOMALIES = (
    ("2024-03-19", "2024-03-19", "自然搜索", "visitors", "tracking_outage", 0.1,
     "埋点故障：自然搜索访客数少记约90%，订单正常", "Tracking outage: 自然搜索 visitors under-recorded by ~90 %, orders normal"),
    ("2024-04-23", "2024-04-23", "付费推广", "visitors", "traffic_spike", 3.0,
     "机器人刷量：付费推广访客数约3倍，买家数不变", "Bot traffic: 付费推广 visitors ×3, buyers unchanged"),
    ("2024-05-07", "2024-05-09", "抖音", "conversion_rate", "conversion_drop", 0.6,
     "支付故障：抖音转化率下降约40%（3天）", "Payment bug: 抖音 conversion −40 % for 3 days"),
    ("2024-06-19", "2024-06-24", "直播", "refund_rate", "refund_surge", 3.0,
     "618后质量问题：直播退款率约3倍", "Quality issue after 618: 直播 refund rate ×3"),
    ("2024-07-16", "2024-07-16", "小红书", "visitors", "tracking_outage", 0.1,
     "埋点故障：小红书访客数少记约90%", "Tracking outage: 小红书 visitors under-recorded by ~90 %"),
    ("2024-09-24", "2024-09-24", "抖音", "visitors", "traffic_spike", 3.0,
     "机器人刷量：抖音访客数约3倍，买家数不变", "Bot traffic: 抖音 visitors ×3, buyers unchanged"),
    ("2024-10-15", "2024-10-16", "付费推广", "aov", "aov_drop", 0.7,
     "优惠券配置错误：付费推广客单价下降约30%", "Wrong coupon: 付费推广 AOV −30 %"),
    ("2024-11-12", "2024-11-17", "抖音", "refund_rate", "refund_surge", 3.0,
     "双11后批次质量问题：抖音退款率约3倍", "Batch quality issue after 双11: 抖音 refund rate ×3"),
    ("2024-12-17", "2024-12-17", "老客/私域", "visitors", "tracking_outage", 0.1,
     "埋点故障：老客/私域访客数少记约90%", "Tracking outage: 老客/私域 visitors under-recorded by ~90 %"),
    ("2025-03-25", "2025-03-27", "小红书", "conversion_rate", "conversion_drop", 0.6,
     "支付故障：小红书转化率下降约40%（3天）", "Payment bug: 小红书 conversion −40 % for 3 days"),
    ("2025-04-15", "2025-04-15", "自然搜索", "visitors", "traffic_spike", 3.0,
     "机器人刷量：自然搜索访客数约3倍，买家数不变", "Bot traffic: 自然搜索 visitors ×3, buyers unchanged"),
    ("2025-06-10", "2025-06-11", "抖音", "conversion_rate", "conversion_drop", 0.6,
     "618预售期支付故障：抖音转化率下降约40%", "Payment bug during 618 pre-sale: 抖音 conversion −40 %"),
    ("2025-07-22", "2025-07-23", "老客/私域", "aov", "aov_drop", 0.7,
     "优惠券配置错误：老客/私域客单价下降约30%", "Wrong coupon: 老客/私域 AOV −30 %"),
    ("2025-08-19", "2025-08-19", "付费推广", "visitors", "tracking_outage", 0.1,
     "埋点故障：付费推广访客数少记约90%，花费正常", "Tracking outage: 付费推广 visitors under-recorded by ~90 %, spend normal"),
    ("2025-10-07", "2025-10-12", "小红书", "refund_rate", "refund_surge", 3.0,
     "防晒批次质量问题：小红书退款率约3倍", "Sunscreen batch quality issue: 小红书 refund rate ×3"),
    ("2025-11-11", "2025-11-11", "直播", "gmv", "weak_promo", 0.5,
     "双11直播表现疲软：仅达预期的约50%", "Weak 双11 livestream: 直播 at ~50 % of its expected level"),
)


def anomaly_plan(start=None, end=None) -> pd.DataFrame:
    """The injected anomalies overlapping ``start..end`` (all when omitted), as ground truth.

    Columns: anomaly_id, start, end, channel, metric, kind, magnitude (multiplier applied to the
    metric's driver), description_zh, description_en, in_promotion (event slug or "").
    """
    df = pd.DataFrame(list(_ANOMALIES), columns=["start", "end", "channel", "metric", "kind",
                                                "magnitude", "description_zh", "description_en"])
    df.insert(0, "anomaly_id", [f"A{i:02d}" for i in range(1, len(df) + 1)])
    for c in ("start", "end"):
        df[c] = pd.to_datetime(df[c])
    ev = _cal.event_on(pd.concat([df["start"], df["end"]]).tolist())
    ev_s, ev_e = ev.iloc[: len(df)].to_numpy(), ev.iloc[len(df):].to_numpy()
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


def _expected(dates: pd.DatetimeIndex, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Noise-free (date × channel) means: visitors, conversion, refund rate, cost per visitor,
    promotion flag (dates) — the model behind both the simulation and the targets."""
    eff = _calendar_effects(dates)
    t = ((dates - _REFERENCE_DAY).days.to_numpy() / 365.25)[:, None]
    dow = _WEEKDAY[dates.day_of_week.to_numpy()][:, None]
    doy = dates.day_of_year.to_numpy()[:, None]
    season = 1.0 + 0.05 * np.cos(2 * np.pi * (doy - 340) / 365.25)
    prof = {k: np.array([CHANNEL_PROFILE[c][k] for c in CHANNELS])[None, :]
            for k in ("visitors", "growth", "conv", "refund", "cac", "sens", "weekend")}
    up_v = eff["visit"][:, None]
    up_c = eff["conv"][:, None]
    visit_mult = np.where(up_v > 1, 1 + prof["sens"] * (up_v - 1), up_v)
    conv_mult = np.where(up_c > 1, 1 + np.minimum(prof["sens"], 1.0) * (up_c - 1), up_c)
    mu_v = (scale * prof["visitors"] * (1 + prof["growth"]) ** t * (1 + prof["weekend"] * (dow - 1))
            * season * visit_mult)
    conv = np.minimum(prof["conv"] * conv_mult, 0.5)
    refund = np.minimum(prof["refund"] * eff["refund"][:, None], 0.5)
    cpv = prof["cac"] * prof["conv"] * conv_mult  # cost per visitor follows the bidding heat
    day_mult = (_WEEKDAY[dates.day_of_week.to_numpy()] * season[:, 0] * eff["visit"]
                * np.sqrt(eff["conv"]))
    return dict(visitors=mu_v, conv=conv, refund=refund, cpv=cpv, promo=eff["promo"],
                day_mult=day_mult)


def _expected_aov(promo: np.ndarray, catalog: pd.DataFrame) -> np.ndarray:
    """Expected order amount (date × channel) implied by the basket model."""
    mean_price = _sku_weights(catalog) @ catalog["list_price"].to_numpy()  # per channel
    qty = (_QTY_P * np.arange(1, 4)).sum()
    lines_n = (_LINES_P_NORMAL * np.arange(1, 5)).sum()
    lines_p = (_LINES_P_PROMO * np.arange(1, 5)).sum()
    d_n, d_p = np.mean(_DISCOUNT_NORMAL), np.mean(_DISCOUNT_PROMO)
    per = np.where(promo[:, None], lines_p * d_p, lines_n * d_n)
    return per * qty * mean_price[None, :]


def _anomaly_factors(dates: pd.DatetimeIndex, anomalies: pd.DataFrame) -> dict[str, np.ndarray]:
    shape = (len(dates), len(CHANNELS))
    f = {k: np.ones(shape) for k in ("record", "bots", "conv", "refund", "discount", "true_visits")}
    key = {"tracking_outage": "record", "traffic_spike": "bots", "conversion_drop": "conv",
           "refund_surge": "refund", "aov_drop": "discount", "weak_promo": "true_visits"}
    for a in anomalies.itertuples(index=False):
        rows = (dates >= a.start) & (dates <= a.end)
        f[key[a.kind]][rows, CHANNELS.index(a.channel)] *= a.magnitude
    return f


def _daily(dates, rng, scale, factors):
    exp = _expected(dates, scale)
    D, C = exp["visitors"].shape
    day_noise = np.exp(rng.normal(0, 0.03, size=(D, 1)))
    mu = exp["visitors"] * day_noise * np.exp(rng.normal(0, 0.06, size=(D, C)))
    true_v = rng.poisson(mu * factors["true_visits"])
    p = np.clip(exp["conv"] * factors["conv"] * np.exp(rng.normal(0, 0.05, size=(D, C))), 0, 0.6)
    buyers = rng.binomial(true_v, p)
    orders = buyers + rng.binomial(buyers, _MULTI_ORDER_P)
    q_cart = np.clip(1.6 * p / np.maximum(1 - p, 1e-9), 0, 1)
    cart_true = buyers + rng.binomial(true_v - buyers, q_cart)
    rec = factors["record"]
    vis_rec = np.round(true_v * rec * factors["bots"]).astype(np.int64)
    vis_rec = np.maximum(vis_rec, buyers)
    cart_rec = np.minimum(np.round(cart_true * rec).astype(np.int64), vis_rec)
    spend = true_v * exp["cpv"] * np.exp(rng.normal(0, 0.06, size=(D, C)))
    spend = np.round(spend, 2)
    return dict(visitors=vis_rec, buyers=buyers, orders=orders, day_mult=exp["day_mult"],
                cart_users=cart_rec, ad_spend=spend, refund_p=exp["refund"] * factors["refund"],
                promo=exp["promo"])


# ---------------------------------------------------------------------------------------------
# customers acquired before the range (the orders themselves: opsnb.demo_orders)
# ---------------------------------------------------------------------------------------------

SHOP_OPENED = pd.Timestamp("2022-01-01")
"""Customers acquired from here to ``start`` form the legacy pool (at the model's new-buyer
rate), so a short range starts with the same customer history as the full one."""
_LEGACY_NEW_SHARE = 0.8


def _legacy_days(start: pd.Timestamp, scale: float) -> np.ndarray:
    """Expected number of customers acquired on each day before ``start`` (oldest first)."""
    first = min(SHOP_OPENED, start - pd.Timedelta(days=90))
    hist = pd.date_range(first, start - pd.Timedelta(days=1), freq="D")
    ex = _expected(hist, scale)
    return (ex["visitors"] * ex["conv"]).sum(axis=1) * _LEGACY_NEW_SHARE


# ---------------------------------------------------------------------------------------------
# generate
# ---------------------------------------------------------------------------------------------

def generate(*, seed: int = 20240101, start="2024-01-01", end="2025-12-31",
             scale: float = 1.0) -> DemoShop:
    """Build the demo shop for ``start..end`` (inclusive), deterministically from ``seed``.

    ``scale`` multiplies all traffic (0.1 gives a tenth of the visitors and orders, for fast
    tests); rates, CAC and AOV do not depend on it. The full default range takes a few seconds.
    """
    from . import demo_orders, demo_tables  # build on this module's traffic model

    s, e = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if e < s:
        raise ValueError(f"end {e.date()} is before start {s.date()}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0; got {scale!r}")
    rng = np.random.default_rng(seed)
    dates = pd.date_range(s, e, freq="D")
    catalog = sku_catalog()
    anomalies = anomaly_plan(s, e)
    factors = _anomaly_factors(dates, anomalies)
    daily = _daily(dates, rng, scale, factors)
    daily["legacy"] = _legacy_days(s, scale)
    orders, items, gmv_c, ref_c, ref_o, item_arrays, new_b = demo_orders._orders_and_items(
        dates, daily, rng, catalog, factors)
    D, C = daily["orders"].shape
    dm = pd.DataFrame({
        "date": np.repeat(dates.to_numpy(), C),
        "channel": pd.array(np.tile(np.array(CHANNELS, dtype=object), D), dtype="str"),
        "visitors": daily["visitors"].ravel().astype(np.int64),
        "buyers": daily["buyers"].ravel().astype(np.int64),
        "orders": daily["orders"].ravel().astype(np.int64),
        "gmv": np.round(gmv_c.ravel() / 100.0, 2),
        "refund_orders": ref_o.ravel(),
        "refund_amount": np.round(ref_c.ravel() / 100.0, 2),
        "ad_spend": daily["ad_spend"].ravel(),
        "new_buyers": new_b.ravel().astype(np.int64),
        "cart_users": daily["cart_users"].ravel().astype(np.int64),
    })
    experiments, truth = demo_tables.experiment_tables(rng)
    return DemoShop(
        daily_metrics=dm,
        orders=orders,
        order_items=items,
        experiments=experiments,
        experiment_truth=truth,
        plan=demo_tables.plan_table(),
        milestones=demo_tables.milestones_table(),
        targets=demo_tables.targets_table(e.year, scale, catalog),
        market=demo_tables.market_table(dates, item_arrays, catalog, rng),
        anomalies=anomalies.drop(columns=["in_promotion"]),
    )


# ---------------------------------------------------------------------------------------------
# write
# ---------------------------------------------------------------------------------------------

_STORE_TABLES = ("daily_metrics", "orders", "order_items", "experiments", "plan", "milestones",
                 "targets", "market")


def _zh_headers(table: str) -> dict[str, str]:
    from .schemas import get_table

    return {c.name: (c.aliases[0] if c.aliases else c.name) for c in get_table(table).columns}


def _write_store(db_path, shop: DemoShop) -> None:
    try:
        from . import data as _data
    except ImportError:  # pragma: no cover - before opsnb.data lands
        _data = None
    if _data is not None and hasattr(_data, "write_table"):
        con = _data.open_store(db_path)
        try:
            for t in _STORE_TABLES:
                _data.write_table(con, t, getattr(shop, t))
            _data.write_table(con, "demo_anomalies", shop.anomalies, validate=False)
            _data.write_table(con, "demo_experiment_truth", shop.experiment_truth, validate=False)
        finally:
            con.close()
        return
    import duckdb  # pragma: no cover

    Path(db_path).parent.mkdir(parents=True, exist_ok=True)  # pragma: no cover
    con = duckdb.connect(str(db_path))  # pragma: no cover
    try:  # pragma: no cover
        frames = {t: getattr(shop, t) for t in _STORE_TABLES}
        frames["demo_anomalies"] = shop.anomalies
        frames["demo_experiment_truth"] = shop.experiment_truth
        for name, df in frames.items():
            con.register("_df", df)
            con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _df')
            con.unregister("_df")
    finally:  # pragma: no cover
        con.close()


def write_demo(db_path=None, out_dir=None, **generate_kwargs) -> DemoShop:
    """Generate the demo shop, write it into the DuckDB store and its files; return it.

    Store tables: the eight contract tables plus ``demo_anomalies`` and
    ``demo_experiment_truth``. Files in ``out_dir`` (default :func:`opsnb.config.demo_dir`):
    ``daily_metrics.csv`` (UTF-8 with BOM, Chinese headers), ``orders_sample_gbk.csv`` (first
    5 000 orders, GBK, Chinese headers), ``plan.xlsx`` and ``milestones.xlsx`` (Chinese headers),
    ``ground_truth_anomalies.csv`` and ``experiment_truth.csv``.
    """
    from . import config

    db = Path(db_path) if db_path else config.default_db_path()
    out = Path(out_dir) if out_dir else config.demo_dir()
    shop = generate(**generate_kwargs)
    db.parent.mkdir(parents=True, exist_ok=True)
    _write_store(db, shop)
    out.mkdir(parents=True, exist_ok=True)
    dm = shop.daily_metrics.copy()
    dm["date"] = dm["date"].dt.strftime("%Y-%m-%d")
    dm.rename(columns=_zh_headers("daily_metrics")).to_csv(
        out / "daily_metrics.csv", index=False, encoding="utf-8-sig")
    od = shop.orders.head(5000).copy()
    od["order_time"] = od["order_time"].dt.strftime("%Y-%m-%d %H:%M:%S")
    od.rename(columns=_zh_headers("orders")).to_csv(out / "orders_sample_gbk.csv", index=False,
                                                    encoding="gbk")
    for t in ("plan", "milestones"):
        df = getattr(shop, t).copy()
        for c in df.columns:
            if str(df[c].dtype).startswith("datetime64"):
                df[c] = df[c].dt.date
        df.rename(columns=_zh_headers(t)).to_excel(out / f"{t}.xlsx", index=False)
    shop.anomalies.to_csv(out / "ground_truth_anomalies.csv", index=False, encoding="utf-8")
    shop.experiment_truth.to_csv(out / "experiment_truth.csv", index=False, encoding="utf-8")
    return shop
