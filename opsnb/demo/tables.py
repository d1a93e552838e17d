"""The demo shop's planning, experiment and market tables (built by :func:`opsnb.demo.generate`).

* :func:`experiment_tables`: unit-level data of two A/B tests and their true arm means;
* :func:`plan_table` and :func:`milestones_table`: 表1 (plan) and 表2 (milestones) for 2025 双11
  and the 2025-Q4 cycle;
* :func:`targets_table`: GMV targets (1.3 × last year's expected GMV) and sub-goals;
* :func:`market_table`: 生意参谋-style category/competitor/price-band indices, with the
  index = :data:`opsnb.demo.INDEX_A` × gmv ^ :data:`opsnb.demo.INDEX_POWER` truth.

They build on the traffic model of :mod:`opsnb.demo` (channel profiles, expected daily values).
Split out of :mod:`opsnb.demo`; the generated shop is unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsnb.demo.profile import (
    CATEGORIES,
    CHANNEL_PROFILE,
    CHANNELS,
    INDEX_A,
    INDEX_POWER,
    MULTI_ORDER_P,
    expected,
    expected_aov,
)

__all__ = ["experiment_tables", "plan_table", "milestones_table", "targets_table", "market_table"]


# ---------------------------------------------------------------------------------------------
# experiments
# ---------------------------------------------------------------------------------------------

_EXPERIMENTS = (
    # name, start, days, units, control conv, treatment conv (nominal; the treatment multiplies
    # each unit's probability by their ratio), aov control, aov treatment
    ("detail_page_v2", "2025-09-01", 14, 40_000, 0.040, 0.044, 220.0, 220.0),
    ("coupon_10off", "2025-10-06", 12, 60_000, 0.050, 0.050, 220.0, 228.0),
)
_EXP_EXTRA_ORDERS = 0.10  # converted units place 1 + Poisson(0.10) orders
_EXP_REFUND = 0.06  # refunded / converted, same in both arms (guardrail without true effect)
_AMOUNT_SIGMA = 0.45  # lognormal spread of one order's amount
_Z_SHAPE = 0.25  # latent unit value z ~ Gamma(shape, 1/shape): mean 1, heavy right tail
_P_CAP = 0.9
_PRE_ORDERS = 1.5  # mean pre-period orders per unit (× z)


def _capped_gamma_mean(p: float) -> float:
    """E[min(p·z, cap)] for z ~ Gamma(_Z_SHAPE, scale 1/_Z_SHAPE) (mean 1)."""
    from scipy.stats import gamma

    k = _P_CAP / p
    below = gamma.cdf(k, _Z_SHAPE + 1, scale=1 / _Z_SHAPE)  # E[z; z < k] = mean · this
    return float(p * below + _P_CAP * gamma.sf(k, _Z_SHAPE, scale=1 / _Z_SHAPE))


def experiment_tables(rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Unit-level A/B data and the true arm means.

    Units carry a latent value z ~ Gamma(0.25) (mean 1): conversion p·z (capped at 0.9) and the
    90-day pre-period GMV both grow with it, so ``pre_gmv`` is a useful CUPED covariate
    (variance of gmv reduced by roughly 10-15 %). Metrics:
    converted (0/1), orders, gmv, refunded (0/1; its rate among converters has no true effect).
    Truth metrics: converted, orders, gmv (per unit), aov (gmv per order) and refund_rate
    (refunded / converted).
    """
    frames, truth = [], []
    devices = np.array(["app", "wap", "pc"], dtype=object)
    for name, start, days, n, pc, pt, ac, at in _EXPERIMENTS:
        treat = rng.random(n) < 0.5
        z = rng.gamma(_Z_SHAPE, 1 / _Z_SHAPE, size=n)
        # the treatment multiplies every unit's conversion probability by pt / pc
        p = np.minimum(pc * z, _P_CAP) * np.where(treat, pt / pc, 1.0)
        converted = rng.random(n) < p
        n_orders = np.where(converted, 1 + rng.poisson(_EXP_EXTRA_ORDERS, size=n), 0)
        aov = np.where(treat, at, ac)
        mu_log = np.log(aov) - _AMOUNT_SIGMA**2 / 2
        # sum of k lognormal amounts: draw each order (k ≤ a handful) via repeat
        k_tot = int(n_orders.sum())
        owner = np.repeat(np.arange(n), n_orders)
        amounts = np.round(np.exp(mu_log[owner] + _AMOUNT_SIGMA * rng.normal(size=k_tot)), 2)
        gmv = np.round(np.bincount(owner, weights=amounts, minlength=n), 2)
        refunded = converted & (rng.random(n) < _EXP_REFUND)
        pre_orders = rng.poisson(_PRE_ORDERS * z)  # orders in the 90 days before
        pre_gmv = np.round(pre_orders * 210.0 * np.exp(rng.normal(0, 0.35, size=n)), 2)
        ch_w = np.array([CHANNEL_PROFILE[c]["visitors"] for c in CHANNELS], dtype=float)
        channel = np.array(CHANNELS, dtype=object)[
            np.searchsorted(np.cumsum(ch_w / ch_w.sum()), rng.random(n) * 0.999999)
        ]
        device = devices[np.searchsorted([0.70, 0.90], rng.random(n), side="right")]
        t0 = pd.Timestamp(start).to_datetime64().astype("datetime64[s]")
        assigned = t0 + rng.integers(0, days * 86400, size=n).astype("timedelta64[s]")
        order = np.argsort(assigned, kind="stable")
        tag = "DP" if name.startswith("detail") else "CP"
        frames.append(
            pd.DataFrame(
                {
                    "unit_id": [f"{tag}{i:07d}" for i in range(1, n + 1)],
                    "experiment": name,
                    "variant": np.where(treat, "treatment", "control")[order],
                    "assigned_at": pd.to_datetime(assigned[order]),
                    "channel": channel[order],
                    "device": device[order],
                    "pre_gmv": pre_gmv[order],
                    "converted": converted[order].astype(np.int64),
                    "orders": n_orders[order].astype(np.int64),
                    "gmv": gmv[order],
                    "refunded": refunded[order].astype(np.int64),
                }
            )
        )
        # exact arm means under the model: E[min(p z, cap)] for z ~ Gamma
        ec = _capped_gamma_mean(pc)
        et = ec * pt / pc
        eo = 1 + _EXP_EXTRA_ORDERS
        for metric, mc, mt in (
            ("converted", ec, et),
            ("orders", ec * eo, et * eo),
            ("gmv", ec * eo * ac, et * eo * at),
            ("aov", ac, at),
            ("refund_rate", _EXP_REFUND, _EXP_REFUND),
        ):
            truth.append(
                dict(
                    experiment=name,
                    metric=metric,
                    control_mean=float(mc),
                    treatment_mean=float(mt),
                    true_abs_effect=float(mt - mc),
                    true_rel_effect=float(mt / mc - 1),
                )
            )
    exp = pd.concat(frames, ignore_index=True)
    for c in ("unit_id", "experiment", "variant", "channel", "device"):
        exp[c] = exp[c].astype("str")
    return exp, pd.DataFrame(truth)


# ---------------------------------------------------------------------------------------------
# plan (表1) and milestones (表2) for 2025 双11 and the 2025-Q4 cycle
# ---------------------------------------------------------------------------------------------

_PLAN_ROWS = (
    # cycle, goal, strategy, task, owner, start, end, resources, budget, status, updated
    (
        "预热期",
        "双11 GMV 1.3倍",
        "货品",
        "确定双11主推款与组合装（精华+面霜礼盒）",
        "张敏",
        "2025-09-22",
        "2025-10-05",
        "商品部、供应链",
        0,
        "已完成",
        "2025-10-05",
    ),
    (
        "预热期",
        "双11 GMV 1.3倍",
        "货品",
        "主推款备货到仓（安全库存45天）",
        "赵强",
        "2025-09-25",
        "2025-10-15",
        "仓储、采购预付款",
        300000,
        "已完成",
        "2025-10-14",
    ),
    (
        "预热期",
        "双11 GMV 1.3倍",
        "内容",
        "小红书达人种草50篇（腰部+素人）",
        "陈晨",
        "2025-09-28",
        "2025-10-25",
        "达人库、样品200份",
        120000,
        "已完成",
        "2025-10-26",
    ),
    (
        "预热期",
        "双11 GMV 1.3倍",
        "内容",
        "抖音短视频预热20条",
        "陈晨",
        "2025-10-01",
        "2025-10-20",
        "拍摄团队",
        60000,
        "已完成",
        "2025-10-20",
    ),
    (
        "预热期",
        "新客转化率15%",
        "流量",
        "付费推广人群包搭建与测试",
        "王磊",
        "2025-10-01",
        "2025-10-15",
        "DMP、测试预算",
        50000,
        "已完成",
        "2025-10-15",
    ),
    (
        "预热期",
        "双11 GMV 1.3倍",
        "活动",
        "详情页与会场页面改版上线",
        "李娜",
        "2025-10-05",
        "2025-10-18",
        "设计2人",
        20000,
        "延期",
        "2025-10-24",
    ),
    (
        "预热期",
        "复购率20%",
        "会员",
        "老客召回短信与企微社群预告",
        "李娜",
        "2025-10-10",
        "2025-10-19",
        "短信包、企微",
        15000,
        "已完成",
        "2025-10-19",
    ),
    (
        "爆发期",
        "双11 GMV 1.3倍",
        "活动",
        "第一波定金预售开启（10/20）",
        "张敏",
        "2025-10-20",
        "2025-10-24",
        "店铺运营全员",
        0,
        "已完成",
        "2025-10-24",
    ),
    (
        "爆发期",
        "双11 GMV 1.3倍",
        "流量",
        "付费推广加投（预售期）",
        "王磊",
        "2025-10-20",
        "2025-11-11",
        "推广预算",
        600000,
        "进行中",
        "2025-11-04",
    ),
    (
        "爆发期",
        "双11 GMV 1.3倍",
        "直播",
        "品牌自播排期（每日两场）",
        "赵强",
        "2025-10-20",
        "2025-11-11",
        "主播2人、直播间",
        180000,
        "进行中",
        "2025-11-05",
    ),
    (
        "爆发期",
        "双11 GMV 1.3倍",
        "直播",
        "头部主播专场谈判与签约",
        "赵强",
        "2025-10-08",
        "2025-10-30",
        "商务、坑位费",
        250000,
        "进行中",
        "2025-10-28",
    ),
    (
        "爆发期",
        "新客转化率15%",
        "内容",
        "小红书搜索词卡位与笔记投流",
        "陈晨",
        "2025-10-20",
        "2025-11-03",
        "聚光预算",
        80000,
        "进行中",
        "2025-10-31",
    ),
    (
        "爆发期",
        "退款率≤6%",
        "服务",
        "客服话术与售前FAQ更新",
        "李娜",
        "2025-10-15",
        "2025-11-01",
        "客服主管",
        0,
        "延期",
        "2025-11-03",
    ),
    (
        "爆发期",
        "退款率≤6%",
        "物流",
        "仓配压测与发货SLA确认（48小时）",
        "赵强",
        "2025-10-25",
        "2025-11-08",
        "仓储、快递合同",
        30000,
        "进行中",
        "2025-11-05",
    ),
    (
        "爆发期",
        "双11 GMV 1.3倍",
        "活动",
        "11/11 0点冲刺与实时作战室",
        "张敏",
        "2025-11-10",
        "2025-11-11",
        "全员",
        10000,
        "未开始",
        None,
    ),
    (
        "返场期",
        "复购率20%",
        "会员",
        "双11返场券发放与老客加购提醒",
        "李娜",
        "2025-11-12",
        "2025-11-15",
        "券预算",
        40000,
        "未开始",
        None,
    ),
    (
        "返场期",
        "退款率≤6%",
        "服务",
        "售后退款原因复盘与质检抽查",
        "李娜",
        "2025-11-12",
        "2025-11-20",
        "质检",
        5000,
        "未开始",
        None,
    ),
    (
        "返场期",
        "双11 GMV 1.3倍",
        "复盘",
        "双11复盘报告（目标、渠道、活动效果）",
        "张敏",
        "2025-11-14",
        "2025-11-21",
        "数据分析",
        0,
        "未开始",
        None,
    ),
    (
        "日常期",
        "Q4 GMV 目标",
        "会员",
        "会员日（每月18日）权益设计",
        "李娜",
        "2025-10-01",
        "2025-12-31",
        "会员预算",
        60000,
        "进行中",
        "2025-11-01",
    ),
    (
        "日常期",
        "Q4 GMV 目标",
        "流量",
        "双12预热与年货节选品",
        "王磊",
        "2025-11-20",
        "2025-12-12",
        "推广预算",
        200000,
        "未开始",
        None,
    ),
    (
        "日常期",
        "新客转化率15%",
        "内容",
        "抖音达人矩阵拓展（每月20位）",
        "陈晨",
        "2025-10-01",
        "2025-12-31",
        "达人库",
        150000,
        "进行中",
        "2025-11-02",
    ),
)

_MILESTONE_ROWS = (
    # milestone, date, standard, owner, risk, response, done
    (
        "主推款备货到仓",
        "2025-10-15",
        "主推10款库存≥45天销量",
        "赵强",
        "低",
        "与供应商约定48小时补货",
        True,
    ),
    (
        "种草内容上线",
        "2025-10-25",
        "小红书笔记≥50篇，互动≥5万",
        "陈晨",
        "中",
        "追加素人笔记30篇",
        True,
    ),
    (
        "详情页改版上线",
        "2025-10-18",
        "新版详情页全量上线，转化率不低于旧版",
        "李娜",
        "中",
        "保留旧版快速回滚",
        False,
    ),
    ("第一波预售开启", "2025-10-20", "定金人数≥8000", "张敏", "低", "加推定金膨胀券", True),
    ("头部主播专场确认", "2025-10-30", "签约并确认坑位与排期", "赵强", "高", None, False),
    ("客服话术更新", "2025-11-01", "FAQ覆盖前20个售前问题", "李娜", "中", "临时增派2名客服", False),
    ("仓配压测完成", "2025-11-08", "日发货能力≥3万单", "赵强", "高", "启用第二仓与备用快递", False),
    ("11/11 0点冲刺", "2025-11-11", "首小时GMV≥全天20%", "张敏", "中", "作战室每小时复盘", False),
    ("返场券发放", "2025-11-12", "老客触达率≥60%", "李娜", "低", "短信+企微双通道", False),
    ("双11复盘", "2025-11-21", "复盘报告发布并确认改进项", "张敏", "无", None, False),
)


def plan_table() -> pd.DataFrame:
    cols = [
        "cycle",
        "goal",
        "strategy",
        "task",
        "owner",
        "start",
        "end",
        "resources",
        "budget",
        "status",
        "updated",
    ]
    df = pd.DataFrame(list(_PLAN_ROWS), columns=cols)
    for c in ("start", "end", "updated"):
        df[c] = pd.to_datetime(df[c])
    df["budget"] = df["budget"].astype(float)
    for c in ("cycle", "goal", "strategy", "task", "owner", "resources", "status"):
        df[c] = df[c].astype("str")
    return df


def milestones_table() -> pd.DataFrame:
    df = pd.DataFrame(
        list(_MILESTONE_ROWS),
        columns=["milestone", "date", "standard", "owner", "risk", "response", "done"],
    )
    df["date"] = pd.to_datetime(df["date"])
    df["done"] = df["done"].astype(bool)
    for c in ("milestone", "standard", "owner", "risk"):
        df[c] = df[c].astype("str")
    df["response"] = df["response"].astype("str")  # missing stays missing
    return df


# ---------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------

_OWNERS = {
    "全部": "张敏",
    "自然搜索": "李娜",
    "付费推广": "王磊",
    "抖音": "陈晨",
    "小红书": "陈晨",
    "直播": "赵强",
    "老客/私域": "李娜",
}


def targets_table(year: int, scale: float, catalog: pd.DataFrame) -> pd.DataFrame:
    """GMV targets = 1.3 × the model's expected GMV of the same period a year before.

    Expected (noise-free) GMV, so targets do not depend on the generated range or seed.
    Periods: the year, its quarters and months (whole shop), and per channel for Q4.
    Sub-goals for the year and each quarter: new_user_conversion 0.036 (new buyers per visitor,
    +15 % on last year's ≈3.2 %), repurchase_rate 0.20, refund_rate 0.06 (a ceiling).
    """
    prev = pd.date_range(f"{year - 1}-01-01", f"{year - 1}-12-31", freq="D")
    ex = expected(prev, scale)
    gmv = ex["visitors"] * ex["conv"] * (1 + MULTI_ORDER_P) * expected_aov(ex["promo"], catalog)
    g = pd.DataFrame(gmv, columns=list(CHANNELS))
    g["month"] = prev.month
    g["quarter"] = prev.quarter
    rows = []

    def add(period, metric, channel, value):
        rows.append(
            dict(
                period=period,
                metric=metric,
                channel=channel,
                target=float(value),
                owner=_OWNERS.get(channel, "张敏"),
            )
        )

    tot = g[list(CHANNELS)].sum(axis=1)
    add(str(year), "gmv", "全部", round(1.3 * tot.sum(), -4))
    for q in range(1, 5):
        add(f"{year}-Q{q}", "gmv", "全部", round(1.3 * tot[g["quarter"] == q].sum(), -4))
    for m in range(1, 13):
        add(f"{year}-{m:02d}", "gmv", "全部", round(1.3 * tot[g["month"] == m].sum(), -4))
    for c in CHANNELS:
        add(f"{year}-Q4", "gmv", c, round(1.3 * g.loc[g["quarter"] == 4, c].sum(), -3))
    for period in [str(year)] + [f"{year}-Q{q}" for q in range(1, 5)]:
        add(period, "new_user_conversion", "全部", 0.036)
        add(period, "repurchase_rate", "全部", 0.20)
        add(period, "refund_rate", "全部", 0.06)
    df = pd.DataFrame(rows)
    for c in ("period", "metric", "channel", "owner"):
        df[c] = df[c].astype("str")
    return df


# ---------------------------------------------------------------------------------------------
# market (生意参谋-style indices)
# ---------------------------------------------------------------------------------------------

_BANDS = ("0-100", "100-200", "200-400", "400+")
_BAND_EDGES = np.array([100.0, 200.0, 400.0])
_COMPETITORS = (
    "水漾研究所旗舰店",
    "青禾之源官方旗舰店",
    "雪域肌研旗舰店",
    "初晴美妆专营店",
    "澄光护肤旗舰店",
)


def market_table(dates, item_arrays, catalog, rng) -> pd.DataFrame:
    """24 months (the last ones of the range) × 3 categories × 6 shops × 4 price bands."""
    months = pd.date_range(dates.min().to_period("M").to_timestamp(), dates.max(), freq="MS")[-24:]
    month_of_day = np.searchsorted(months.to_numpy(), dates.to_numpy(), side="right") - 1
    m_idx = month_of_day[item_arrays["day"]]
    keep = m_idx >= 0
    cat_code = pd.Categorical(catalog["category"], categories=list(CATEGORIES)).codes
    c_idx = cat_code[item_arrays["sku"]]
    b_idx = np.searchsorted(_BAND_EDGES, item_arrays["price_cents"] / 100.0, side="right")
    key = ((m_idx * len(CATEGORIES) + c_idx) * len(_BANDS) + b_idx)[keep]
    size_ = len(months) * len(CATEGORIES) * len(_BANDS)
    rev = (
        np.bincount(
            key, weights=(item_arrays["qty"] * item_arrays["price_cents"])[keep], minlength=size_
        )
        / 100.0
    )
    qty = np.bincount(key, weights=item_arrays["qty"][keep], minlength=size_)
    grid = pd.MultiIndex.from_product(
        [months, CATEGORIES, _BANDS], names=["month", "category", "band"]
    )
    own = pd.DataFrame({"rev": rev, "qty": qty}, index=grid)
    own_total = own["rev"].groupby(level="month").sum()
    lp = catalog["list_price"].to_numpy()
    own_listings = {
        (c, b): int(
            (
                (catalog["category"] == c) & (np.searchsorted(_BAND_EDGES, lp, side="right") == i)
            ).sum()
        )
        for c in CATEGORIES
        for i, b in enumerate(_BANDS)
    }
    band_mid = {"0-100": 75.0, "100-200": 150.0, "200-400": 280.0, "400+": 520.0}
    cat_share = {"面部精华": 0.45, "面霜": 0.33, "防晒": 0.22}
    band_share = {"0-100": 0.22, "100-200": 0.38, "200-400": 0.28, "400+": 0.12}
    # competitor size relative to the own shop and price positioning (tilt toward high bands)
    size = np.array([1.8, 1.2, 0.9, 0.6, 0.5])
    tilt = np.array([0.3, -0.4, 0.8, -0.8, 0.0])
    band_pos = np.array([-1.5, -0.5, 0.5, 1.5])
    rows = []
    for m in months:
        base_total = own_total.get(m, 0.0)
        if base_total <= 0:
            continue
        for c in CATEGORIES:
            for bi, b in enumerate(_BANDS):
                o = own.loc[(m, c, b)]
                own_gmv = float(o["rev"])
                own_price = float(own_gmv / o["qty"]) if o["qty"] > 0 else band_mid[b]
                rows.append(
                    dict(
                        month=m,
                        category=c,
                        competitor="本店",
                        is_own=True,
                        price_band=b,
                        avg_price=round(own_price, 2),
                        gmv=own_gmv,
                        listings=own_listings[(c, b)],
                        own_gmv=round(own_gmv, 2),
                    )
                )
                for k, name in enumerate(_COMPETITORS):
                    share = cat_share[c] * band_share[b] * np.exp(tilt[k] * band_pos[bi] * 0.4)
                    g = base_total * size[k] * share * np.exp(rng.normal(0, 0.12))
                    rows.append(
                        dict(
                            month=m,
                            category=c,
                            competitor=name,
                            is_own=False,
                            price_band=b,
                            avg_price=round(band_mid[b] * rng.uniform(0.85, 1.15), 2),
                            gmv=g,
                            listings=int(rng.poisson(25 * size[k] + 5)),
                            own_gmv=np.nan,
                        )
                    )
    df = pd.DataFrame(rows)
    gmv = df["gmv"].to_numpy()
    df["sales_index"] = np.round(
        INDEX_A * gmv**INDEX_POWER * np.exp(rng.normal(0, 0.02, size=len(df))), 0
    )
    visitors = gmv / (df["avg_price"].to_numpy() * 0.04)
    df["visitor_index"] = np.round(
        9.0 * visitors**INDEX_POWER * np.exp(rng.normal(0, 0.03, size=len(df))), 0
    )
    df = df.drop(columns=["gmv"])
    df["listings"] = df["listings"].astype(np.int64)
    df["is_own"] = df["is_own"].astype(bool)
    for c in ("category", "competitor", "price_band"):
        df[c] = df[c].astype("str")
    return df[
        [
            "month",
            "category",
            "competitor",
            "is_own",
            "price_band",
            "avg_price",
            "sales_index",
            "visitor_index",
            "listings",
            "own_gmv",
        ]
    ]
