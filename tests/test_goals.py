"""Goal decomposition: identity, seasonality, feasibility, solving and budget."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsnb import goals
from opsnb.errors import ParameterError
from opsnb.goals import show as goals_report


def synthetic_history(seed: int = 1, yoy: float = 0.10, start="2023-01-01", end="2025-09-30"):
    """Three channels, a November (双11) peak and ~10 % yearly growth with noise."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, end, freq="D")
    rows = []
    base = {"自然搜索": (4000, 0.04, 180), "抖音": (2500, 0.025, 150), "小红书": (800, 0.05, 220)}
    for ch, (v, c, a) in base.items():
        years = (dates - dates[0]).days / 365.25
        season = np.where(dates.month == 11, 2.2, np.where(dates.month == 6, 1.4, 1.0))
        vis = rng.poisson(v * (1 + yoy) ** years * season * rng.lognormal(0, 0.08, len(dates)))
        buyers = rng.binomial(vis, c)
        gmv = buyers * a * rng.lognormal(0, 0.05, len(dates))
        rows.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "channel": ch,
                    "visitors": vis,
                    "buyers": buyers,
                    "orders": buyers,
                    "gmv": gmv,
                    "new_buyers": (buyers * 0.6).astype(int),
                    "ad_spend": np.where(ch == "抖音", buyers * 70.0, 0.0),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


HIST = synthetic_history()


def test_driver_table_multiplies_back_to_gmv():
    t = goals.driver_table(HIST)
    np.testing.assert_allclose(t.visitors * t.conversion_rate * t.aov, t.gmv, rtol=1e-12)
    np.testing.assert_allclose(t.new_conversion + t.returning_conversion, t.conversion_rate)


def test_decomposition_adds_and_multiplies_back_to_the_goal():
    d = goals.decompose_goal(
        HIST, goal=0.30, base=("2024-07-01", "2024-09-30"), target=("2025-07-01", "2025-09-30")
    )
    base = HIST[(HIST.date >= "2024-07-01") & (HIST.date <= "2024-09-30")].gmv.sum()
    assert d.total == pytest.approx(base * 1.3, rel=1e-12)
    t = d.targets
    assert t.gmv.sum() == pytest.approx(d.total, rel=1e-9)
    np.testing.assert_allclose(t.visitors * t.conversion_rate * t.aov, t.gmv, rtol=1e-12)
    np.testing.assert_allclose(d.by_month().gmv.sum(), d.total, rtol=1e-9)
    assert d.pivot().loc["total", "total"] == pytest.approx(d.total, rel=1e-9)
    # with the same calendar months as reference every cell grows by the goal
    np.testing.assert_allclose(t.growth, 0.30, rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(growth=st.floats(-0.5, 3.0), a_v=st.floats(-0.5, 1.5), a_c=st.floats(-0.5, 1.0))
def test_decomposition_identity_holds_for_any_goal_and_mix(growth, a_v, a_c):
    mix = {"visitors": a_v, "conversion_rate": a_c, "aov": 1.0 - a_v - a_c}
    d = goals.decompose_goal(HIST, goal=growth, base="2024-Q3", target="2025-Q3", mix=mix)
    t = d.targets
    assert t.gmv.sum() == pytest.approx(d.total, rel=1e-9)
    np.testing.assert_allclose(t.visitors * t.conversion_rate * t.aov, t.gmv, rtol=1e-9)
    g = 1 + t.growth
    np.testing.assert_allclose(t.conversion_rate, t.base_conversion_rate * g**a_c, rtol=1e-9)


def test_promotion_month_carries_more_of_a_quarter_goal():
    d = goals.decompose_goal(
        HIST, goal=0.2, base="2024-Q4", target="2024-Q4", mix={"visitors": 1.0}
    )
    # target 2024-Q4 references 2023-Q4: November (双11) holds the largest share
    m = d.by_month().set_index("month")
    assert m.loc["2024-11", "share"] > 1.5 * m.loc["2024-10", "share"]
    assert d.targets.ref_month.str.startswith("2023").all()


def test_level_goal_and_fixed_channel_growth():
    d = goals.decompose_goal(
        HIST,
        goal=goals.Goal(5_000_000, "level"),
        base="2024-Q3",
        target="2025-Q3",
        channel_growth={"抖音": 0.8},
    )
    assert d.targets.gmv.sum() == pytest.approx(5_000_000, rel=1e-9)
    bc = d.by_channel().set_index("channel")
    assert bc.loc["抖音", "growth"] == pytest.approx(0.8, rel=1e-9)
    others = bc.drop("抖音").growth
    assert others.max() - others.min() < 1e-9


def test_bad_inputs_name_the_problem():
    with pytest.raises(ParameterError, match="sum to 1"):
        goals.decompose_goal(
            HIST, goal=0.1, base="2024-Q3", target="2025-Q3", mix={"visitors": 0.5}
        )
    with pytest.raises(ParameterError, match="unknown channel"):
        goals.decompose_goal(
            HIST, goal=0.1, base="2024-Q3", target="2025-Q3", channel_growth={"淘宝客": 0.2}
        )
    with pytest.raises(ParameterError, match="no GMV"):
        goals.decompose_goal(HIST, goal=0.1, base="2019-Q3", target="2025-Q3")
    with pytest.raises(ParameterError):
        goals.Goal(-2.0)


@settings(max_examples=50, deadline=None)
@given(v=st.floats(1, 1e7), c=st.floats(1e-4, 1), a=st.floats(1, 1e4))
def test_solve_for_one_driver_round_trips(v, c, a):
    g = goals.solve_driver(visitors=v, conversion_rate=c, aov=a)
    assert goals.solve_driver(gmv=g, conversion_rate=c, aov=a) == pytest.approx(v, rel=1e-9)
    assert goals.solve_driver(gmv=g, visitors=v, aov=a) == pytest.approx(c, rel=1e-9)
    assert goals.solve_driver(gmv=g, visitors=v, conversion_rate=c) == pytest.approx(a, rel=1e-9)


def test_solve_driver_vectorised_and_misuse():
    out = goals.solve_driver(gmv=np.array([100.0, 50.0]), visitors=np.array([10.0, 0.0]), aov=5.0)
    np.testing.assert_allclose(out, [2.0, np.nan])
    with pytest.raises(ParameterError, match="exactly three"):
        goals.solve_driver(gmv=1.0, visitors=2.0)


def test_seed_budgets_for_xiaohongshu_and_douyin():
    # 10,000 new buyers: 小红书 CAC 50 / conv 8 %, 抖音 CAC 80 / conv 5 % (hand-computed)
    xhs = goals.acquisition_budget(10_000, cac=50, conversion=0.08)
    dy = goals.acquisition_budget(10_000, cac=80, conversion=0.05)
    # same price per visitor (¥4), so the difference is all conversion
    assert xhs.to_dict() == pytest.approx(
        dict(buyers=10_000.0, visitors=125_000.0, spend=500_000.0, cost_per_visitor=4.0)
    )
    assert dy.to_dict() == pytest.approx(
        dict(buyers=10_000.0, visitors=200_000.0, spend=800_000.0, cost_per_visitor=4.0)
    )
    assert isinstance(xhs, goals.AcquisitionBudget)


def test_budget_needs_uses_history_spend_and_seeds():
    d = goals.decompose_goal(HIST, goal=0.3, base="2024-Q3", target="2025-Q3")
    cac = goals.cac_table(HIST)
    src = cac.set_index("channel").source
    assert src["抖音"] == "history" and src["小红书"] == "seed"
    assert cac.set_index("channel").loc["抖音", "cac"] == pytest.approx(70.0)
    b = goals.budget_needs(d, cac).set_index("channel")
    assert set(b.index) == {"抖音", "小红书"}
    bc = d.by_channel().set_index("channel")
    assert b.loc["小红书", "spend"] == pytest.approx(bc.loc["小红书", "visitors"] * 4.0)


def test_feasibility_places_required_change_in_history():
    # history grows ~10 % a year: +10 % is ordinary, +200 % is not
    ok = goals.feasibility(
        HIST,
        goals.decompose_goal(
            HIST, goal=0.08, base="2024-Q3", target="2025-Q3", mix={"visitors": 1.0}
        ),
    )
    hard = goals.feasibility(
        HIST, goals.decompose_goal(HIST, goal=2.0, base="2024-Q3", target="2025-Q3")
    )
    v_ok = ok[ok.driver == "visitors"]
    assert (v_ok.flag == "ok").all(), v_ok
    assert (hard[hard.driver.isin(["gmv", "visitors"])].flag == "unrealistic").all()
    # percentile cross-check against a direct count on the rolling quarterly series
    row = hard[(hard.channel == "抖音") & (hard.driver == "gmv")].iloc[0]
    h = HIST[(HIST.channel == "抖音") & (HIST.date < "2025-07-01")]
    q = h.set_index("date").gmv.resample("MS").sum().rolling(3).sum()
    yoy = (q / q.shift(12) - 1).dropna().to_numpy()
    assert row.n_hist == len(yoy)
    req = row.required_change
    expected = 100 * ((yoy < req).sum() + 0.5 * (yoy == req).sum()) / len(yoy)
    assert row.percentile == pytest.approx(expected)


def test_feasibility_without_history_says_so():
    short = HIST[HIST.date >= "2024-07-01"]
    f = goals.feasibility(
        short, goals.decompose_goal(short, goal=0.3, base="2024-Q3", target="2025-Q3")
    )
    assert (f.flag == "no_history").all()
    assert f.percentile.isna().all()


def test_driver_tree_renders_chinese_without_missing_glyphs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = goals.decompose_goal(HIST, goal=0.3, base="2024-Q3", target="2025-Q3")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*Glyph.*missing.*")
        ax = goals_report.plot_driver_tree(d, lang="zh")
        ax.figure.canvas.draw()
    texts = [t.get_text() for t in ax.texts]
    assert any("访客" in t for t in texts)
    plt.close(ax.figure)


def test_history_mix_follows_how_the_channel_grew():
    # the synthetic shop grows through visitors only: the history mix puts growth there
    mix = goals.history_mix(HIST, window=3, lag=12, before="2025-07-01")
    for ch, m in mix.items():
        assert sum(m.values()) == pytest.approx(1.0)
        assert m["visitors"] > 0.7, (ch, m)
    d = goals.decompose_goal(HIST, goal=0.3, base="2024-Q3", target="2025-Q3", mix="history")
    assert d.targets.gmv.sum() == pytest.approx(d.total, rel=1e-9)
    np.testing.assert_allclose(
        d.targets.visitors * d.targets.conversion_rate * d.targets.aov, d.targets.gmv, rtol=1e-12
    )
    with pytest.raises(ParameterError, match="history"):
        goals.decompose_goal(HIST, goal=0.3, base="2024-Q3", target="2025-Q3", mix="hist")


@pytest.fixture(scope="module")
def demo_daily(demo_db):
    from opsnb import data

    con = data.open_store(demo_db, read_only=True)
    try:
        return data.read_table(con, "daily_metrics")
    finally:
        con.close()


def test_feasibility_flags_on_the_demo_shop(demo_daily):
    d = goals.decompose_goal(demo_daily, goal=0.30, base="2024-Q4", target="2025-Q4", mix="history")
    f = goals.feasibility(demo_daily, d)
    g = f[f.driver == "gmv"].set_index("channel")
    assert set(g.flag) <= {"ok", "stretch", "unrealistic"}
    assert (g.n_hist >= 5).all()
    # the flag follows the channel's own history: above every past change → unrealistic,
    # at or below the median → ok
    above = g.required_change > g.hist_max
    assert (g.flag[above] == "unrealistic").all()
    assert (g.flag[g.required_change <= g.hist_median] == "ok").all()
    # the demo shop: +30 % on every channel is beyond some channel's record and within others'
    assert above.any() and (~above).any(), g[["required_change", "hist_median", "hist_max"]]
    # holding last year's level needs no change anywhere: nothing is flagged
    med = goals.decompose_goal(
        demo_daily, goal=0.0, base="2024-Q4", target="2025-Q4", mix="history"
    )
    assert (goals.feasibility(demo_daily, med).query("driver == 'gmv'").flag == "ok").all()


def test_default_mix_and_empty_channels_read_like_the_notebook_parameters():
    # the notebooks pass mix="default" and channels=[] (every channel) straight through
    fixed = goals.decompose_goal(HIST, goal=0.3, base="2024-Q3", target="2025-Q3", channels=[])
    same = goals.decompose_goal(
        HIST, goal=0.3, base="2024-Q3", target="2025-Q3", mix="default", channels=None
    )
    pd.testing.assert_frame_equal(fixed.targets, same.targets)
    assert fixed.mix == goals.DEFAULT_MIX and fixed.n_months == 3
    assert set(fixed.targets.channel) == set(HIST.channel)


class FakeContext:
    """The part of report.Context the goal show functions use: keeps what would be shown."""

    def __init__(self, lang="en"):
        import datetime as dt

        from opsnb.i18n import Labels
        from opsnb.periods import Period

        self.lang, self.L = lang, Labels(lang)
        self.period = Period(dt.date(2025, 7, 1), dt.date(2025, 9, 30), "2025-Q3")
        self.said, self.tables, self.records = [], [], {}

    def say(self, zh, en):
        self.said.append(self.L(zh, en))

    def table(self, df, **kw):
        self.tables.append((df, kw))

    def money(self, x):
        from opsnb import plots

        return plots.format_money(float(x), self.lang)

    def record(self, **values):
        self.records.update(values)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_budget_section_compares_xiaohongshu_and_douyin_only_when_both_are_paid(lang):
    d = goals.decompose_goal(HIST, goal=0.3, base="2024-Q3", target="2025-Q3")
    cac = goals.cac_table(HIST)  # 抖音 from its spend history (¥70), 小红书 from the seed (¥50)
    ctx = FakeContext(lang)
    goals_report.show_budget(ctx, goals.budget_needs(d, cac), cac)
    compare = {
        "zh": "小红书获客成本 ¥50、转化率 8.0%，抖音获客成本 ¥70",
        "en": "小红书: CAC ¥50, conversion 8.0%; 抖音: CAC ¥70",
    }
    assert compare[lang] in ctx.said[0]
    only = cac[cac.channel == "抖音"]
    ctx = FakeContext(lang)
    goals_report.show_budget(ctx, goals.budget_needs(d, only), only)
    assert "小红书" not in ctx.said[0]
    ((t, kw),) = ctx.tables
    assert {"zh": "所需推广花费", "en": "Spend needed"}[lang] in kw["money"]


def test_feasibility_section_colours_the_verdicts_in_the_report_language():
    d = goals.decompose_goal(HIST, goal=2.0, base="2024-Q3", target="2025-Q3")
    f = goals.feasibility(HIST, d)
    ctx = FakeContext("en")
    goals_report.show_feasibility(ctx, f)
    assert ctx.said == [goals_report.feasibility_summary(f, lang="en")]
    ((t, kw),) = ctx.tables
    assert kw["highlight"] == {
        "Verdict": {"unrealistic": "#f8d7da", "stretch": "#fff3cd", "realistic": "#d4edda"}
    }
    assert set(t["Verdict"]) <= {"unrealistic", "stretch", "realistic", "no history"}
