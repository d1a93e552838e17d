"""Retrospective (opsnb.retro): achievement, pace, attribution identity, lift, execution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsnb import drivers, plots, retro
from opsnb.i18n import Labels
from opsnb.periods import Period
from opsnb.retro import show as retro_report
from opsnb.retro.campaigns import CampaignFigures, CampaignWindow, campaign_summary, campaign_window
from opsnb.retro.execution import ExecutionSummary, execution_display, execution_review
from opsnb.retro.summary import RetroSummary, summarize_review


def daily_frame(days, channels=("a", "b"), **per_channel):
    rows = []
    for d in pd.date_range(days[0], days[1]):
        for c in channels:
            v = per_channel.get(c, {})
            rows.append(
                dict(
                    date=d,
                    channel=c,
                    visitors=v.get("visitors", 1000),
                    buyers=v.get("buyers", 50),
                    orders=v.get("orders", 55),
                    gmv=v.get("gmv", 5500.0),
                    refund_orders=v.get("refund_orders", 3),
                    new_buyers=v.get("new_buyers", 40),
                    ad_spend=v.get("ad_spend", 0.0),
                )
            )
    return pd.DataFrame(rows)


TARGETS = pd.DataFrame(
    {
        "period": ["2025-11"] * 4,
        "metric": ["gmv", "refund_rate", "repurchase_rate", "gmv"],
        "channel": ["全部", "全部", "全部", "a"],
        "target": [300_000.0, 0.05, 0.25, 150_000.0],
        "owner": ["张敏", "李娜", "李娜", "王磊"],
    }
)


# --- achievement -----------------------------------------------------------------------------


def test_achievement_matches_hand_computation_including_lower_is_better():
    d = daily_frame(("2025-11-01", "2025-11-30"))  # 30 days × 2 channels
    t = retro.achievement(d, TARGETS, "2025-11").set_index(["metric", "channel"])
    gmv = t.loc[("gmv", "全部")]
    assert gmv["actual"] == 30 * 2 * 5500.0  # 330 000
    assert gmv["achievement"] == pytest.approx(330_000 / 300_000)
    assert gmv["gap"] == 30_000 and gmv["status"] == "achieved"
    rr = t.loc[("refund_rate", "全部")]
    assert rr["actual"] == pytest.approx(3 / 55)  # 0.0545 > 0.05 ceiling
    assert rr["achievement"] == pytest.approx(0.05 / (3 / 55))  # target / actual
    assert rr["status"] == "missed" and not rr["higher_is_better"]
    rep = t.loc[("repurchase_rate", "全部")]
    assert rep["actual"] == pytest.approx(10 / 50) and rep["status"] == "missed"
    a = t.loc[("gmv", "a")]
    assert a["actual"] == 165_000 and a["owner"] == "王磊"


def test_running_period_compares_sums_with_the_share_due_by_last_years_shape():
    # last year: the 11th carries half the month's GMV, so by the 10th only 9/(29+29)... is due
    ly = daily_frame(("2024-11-01", "2024-11-30"), channels=("a",))
    ly.loc[ly["date"] == "2024-11-11", "gmv"] = 29 * 5500.0  # = the other 29 days together
    now = daily_frame(("2025-11-01", "2025-11-10"), channels=("a",))
    targets = TARGETS[TARGETS.channel == "a"].assign(channel="全部")
    t = retro.achievement(
        now,
        targets,
        "2025-11",
        history=ly,
        start="2025-11-01",
        end="2025-11-30",
        as_of="2025-11-10",
    ).iloc[0]
    due = 150_000 * (10 * 5500) / (58 * 5500)
    assert t["expected_to_date"] == pytest.approx(due)
    assert t["status"] == "on_track"  # 55 000 ≥ 25 862
    shape = retro.daily_target_shape(ly, "2025-11-01", "2025-11-30")
    assert shape.sum() == pytest.approx(1) and shape["2025-11-11"] == pytest.approx(0.5)


def test_projection_of_a_steady_run_rate_is_exact_and_finished_period_is_closed():
    t = pd.DataFrame(
        {"date": pd.date_range("2025-11-01", periods=30), "target": np.linspace(100, 200, 30)}
    )
    t["actual"] = np.where(np.arange(30) < 20, 1.1 * t["target"], np.nan)
    p = retro.project(t)
    assert p.estimate == pytest.approx(1.1 * t["target"].sum())
    assert p.ci_low == pytest.approx(p.estimate) and p.ci_high == pytest.approx(p.estimate)
    assert p.prob_reach_target == 1.0 and p.days_left == 10
    noisy = t.assign(actual=t["actual"] * np.where(np.arange(30) % 2, 1.05, 0.95))
    q = retro.project(noisy)
    assert q.ci_low < q.estimate < q.ci_high
    done = retro.project(t.assign(actual=t["target"]))
    assert done.days_left == 0 and done.estimate == done.ci_low == pytest.approx(t.target.sum())


# --- attribution -----------------------------------------------------------------------------


@st.composite
def channel_rows(draw, names=("自然搜索", "抖音", "小红书", "直播")):
    rows = []
    for ch in names:
        if draw(st.booleans()):
            v = draw(st.integers(0, 50_000))
            b = draw(st.integers(0, v))
            o = draw(st.integers(b, 2 * b)) if b else 0
            g = draw(st.floats(1, 1e6)) if o else 0.0
            rows.append(dict(channel=ch, visitors=v, buyers=b, orders=o, gmv=g))
    return pd.DataFrame(rows, columns=["channel", "visitors", "buyers", "orders", "gmv"]).astype(
        {"channel": str, "visitors": "int64", "buyers": "int64", "orders": "int64", "gmv": float}
    )


@settings(max_examples=80, deadline=None)
@given(
    channel_rows(),
    channel_rows(),
    st.dictionaries(
        st.sampled_from(["自然搜索", "抖音", "小红书", "直播"]), st.floats(0, 2e6), min_size=1
    ),
)
def test_attribution_versus_period_and_target_sums_exactly(before, after, channel_targets):
    out = retro.attribution(before, after)
    change = after["gmv"].sum() - before["gmv"].sum()
    scale = max(1.0, before["gmv"].sum(), after["gmv"].sum())
    for part in (out.factors, out.mix, out.summary, out.mix_summary):
        assert abs(part["contribution"].sum() - change) <= 1e-9 * scale
    assert abs(out.change - change) <= 1e-9 * scale
    totals = out.to_dict()
    assert set(totals) == {"method", "change", "factors", "effects"}
    assert abs(sum(totals["factors"].values()) - change) <= 1e-9 * scale
    assert abs(sum(totals["effects"].values()) - change) <= 1e-9 * scale
    tf = retro.target_frame(channel_targets, before if len(before) else after)
    assert tf["gmv"].sum() == pytest.approx(sum(channel_targets.values()))
    gap = drivers.decompose_gmv(tf, after)
    scale = max(scale, tf["gmv"].sum())
    assert abs(gap["contribution"].sum() - (after["gmv"].sum() - tf["gmv"].sum())) <= 1e-9 * scale


def test_target_frame_keeps_reference_rates():
    ref = pd.DataFrame(
        {"channel": ["a"], "visitors": [1000], "buyers": [50], "orders": [60], "gmv": [6000.0]}
    )
    tf = retro.target_frame({"a": 12000.0}, ref).iloc[0]
    assert (tf["visitors"], tf["buyers"], tf["orders"], tf["gmv"]) == (2000, 100, 120, 12000)


# --- promotion lift --------------------------------------------------------------------------


def _simulated_shop(rng, n_pre=56, n_win=14, n_post=7, effect=0.4, dip=0.0):
    """Log GMV = random-walk level + fixed weekly pattern + noise; effect × GMV in the window."""
    n = n_pre + n_win + n_post
    week = np.array([0.0, -0.05, -0.08, -0.04, 0.02, 0.12, 0.10])
    level = np.log(100_000) + np.cumsum(rng.normal(0, 0.01, n))
    y0 = np.exp(level + week[np.arange(n) % 7] + rng.normal(0, 0.05, n))
    y = y0.copy()
    y[n_pre : n_pre + n_win] *= 1 + effect
    y[n_pre + n_win :] *= 1 - dip
    dates = pd.date_range("2025-09-01", periods=n)
    daily = pd.DataFrame(
        {
            "date": dates,
            "channel": "all",
            "gmv": y,
            "ad_spend": np.where(
                (np.arange(n) >= n_pre) & (np.arange(n) < n_pre + n_win), 10_000.0, 0.0
            ),
        }
    )
    start, end = dates[n_pre], dates[n_pre + n_win - 1]
    true_lift = float((y - y0)[n_pre : n_pre + n_win].sum())
    return daily, start, end, true_lift


def test_lift_recovers_an_injected_effect_and_reports_roi_and_dip():
    rng = np.random.default_rng(7)
    daily, start, end, truth = _simulated_shop(rng, effect=0.4, dip=0.2)
    r = retro.promotion_lift(daily, start, end, reps=1000, seed=1)
    assert r.error_code == ""
    assert r.ci_low <= truth <= r.ci_high
    assert r.estimate == pytest.approx(truth, rel=0.25)
    assert r.relative == pytest.approx(0.4, abs=0.12)
    assert r.post_estimate < 0 and r.post_ci_high < 0  # the 20 % pull-forward dip is seen
    assert r.spend == 140_000.0
    assert r.roi == pytest.approx(r.net_estimate / 140_000.0)


@pytest.mark.slow
def test_lift_interval_covers_the_injected_effect_near_the_nominal_rate():
    rng = np.random.default_rng(20251111)
    hits, n = 0, 60
    for i in range(n):
        daily, start, end, truth = _simulated_shop(rng, effect=0.3, n_post=0)
        r = retro.promotion_lift(daily, start, end, reps=400, seed=i, post_days=0)
        hits += r.ci_low <= truth <= r.ci_high
    # 95 % nominal; with 60 runs, 51 hits (85 %) is about 3.5 binomial s.d. below 95 %
    assert hits / n >= 0.85


def test_short_pre_period_returns_an_error_code_not_numbers():
    rng = np.random.default_rng(3)
    daily, start, end, _ = _simulated_shop(rng, n_pre=10)
    r = retro.promotion_lift(daily, start, end)
    assert r.error_code == "too_few_observations" and np.isnan(r.estimate)


def test_did_recovers_the_lift_against_an_unpromoted_channel():
    rng = np.random.default_rng(11)
    n_pre, n_win = 56, 14
    dates = pd.date_range("2025-09-01", periods=n_pre + n_win)
    common = np.cumsum(rng.normal(0, 0.02, len(dates)))
    rows = []
    for ch, base, eff in (("promoted", 50_000, 0.5), ("control", 20_000, 0.0)):
        g = base * np.exp(common + rng.normal(0, 0.04, len(dates)))
        g[n_pre:] *= 1 + eff
        rows.append(pd.DataFrame({"date": dates, "channel": ch, "gmv": g}))
    daily = pd.concat(rows)
    r = retro.did_lift(daily, dates[n_pre], dates[-1], ["control"])
    assert r.effect_ci_low <= np.log(1.5) <= r.effect_ci_high
    actual = daily[(daily.channel == "promoted") & (daily.date >= dates[n_pre])]["gmv"].sum()
    assert r.ci_low <= actual / 3 <= r.ci_high  # 1.5× → a third of actual is incremental
    assert r.treated_channels == ("promoted",) and r.p_value < 0.001


# --- execution review ------------------------------------------------------------------------


def execution_inputs():
    plan = pd.DataFrame(
        {
            "cycle": ["预热期"] * 4,
            "task": ["t1", "t2", "t3", "t4"],
            "owner": ["张敏", "张敏", "李娜", "李娜"],
            "start": pd.to_datetime(["2025-10-01"] * 4),
            "end": pd.to_datetime(["2025-10-10", "2025-10-10", "2025-10-20", "2025-11-30"]),
            "status": ["已完成", "已完成", "延期", "进行中"],
            "updated": pd.to_datetime(["2025-10-09", "2025-10-13", "2025-10-25", "2025-10-25"]),
            "budget": [1000, 2000, 500, 0],
        }
    )
    ms = pd.DataFrame(
        {
            "milestone": ["m1", "m2", "m3"],
            "date": pd.to_datetime(["2025-10-05", "2025-10-15", "2025-11-20"]),
            "owner": ["张敏", "李娜", "李娜"],
            "risk": ["高", "低", "高"],
            "response": ["备用仓", None, None],
            "done": [False, True, False],
        }
    )
    return plan, ms


def test_execution_review_counts_on_time_late_and_materialised_risks():
    import datetime as dt

    plan, ms = execution_inputs()
    r = execution_review(plan, ms, as_of="2025-10-30")
    # judged at the plan's last update (10-25): t1 on time; t2 finished 3 days late; t3 延期
    # 5 days by 10-25; t4 not due. m1 (高) missed, m2 met, m3 (高, no response) still ahead.
    assert r.summary == ExecutionSummary(
        tasks=4,
        due=3,
        on_time=1,
        late=2,
        on_time_rate=1 / 3,
        budget=3500.0,
        milestones_due=2,
        milestones_missed=1,
        high_risk_materialised=1,
        high_risk_without_response=1,
        as_of=dt.date(2025, 10, 25),
    )
    assert r.to_dict() == r.summary.to_dict()
    by_owner = pd.DataFrame(
        {
            "owner": ["李娜", "张敏"],
            "tasks": [2, 2],
            "due": [1, 2],
            "on_time": [0, 1],
            "late": [1, 1],
            "days_late": [5, 3],
            "on_time_rate": [0.0, 0.5],
        }
    )
    pd.testing.assert_frame_equal(r.by_owner, by_owner, check_dtype=False)
    pd.testing.assert_frame_equal(r.to_frame(), by_owner, check_dtype=False)
    assert r.late_tasks[["task", "days_late"]].values.tolist() == [["t3", 5], ["t2", 3]]
    assert r.risks[["milestone", "materialised", "no_response"]].values.tolist() == [
        ["m1", True, False],
        ["m2", False, True],
        ["m3", False, True],
    ]


def test_execution_review_without_milestones_counts_none_and_keeps_nan_for_no_budget():
    plan, _ = execution_inputs()
    s = execution_review(plan.drop(columns="budget"), as_of="2025-10-30").summary
    assert (s.milestones_due, s.milestones_missed, s.high_risk_without_response) == (0, 0, 0)
    assert np.isnan(s.budget) and (s.due, s.late) == (3, 2)


@pytest.mark.parametrize(
    "lang, owner, rate, risk, no_response",
    [
        ("zh", "负责人", "按时完成率", "风险等级", "无应对措施"),
        ("en", "Owner", "On-time rate", "Risk", "No response plan"),
    ],
)
def test_execution_tables_read_in_the_report_language(lang, owner, rate, risk, no_response):
    plan, ms = execution_inputs()
    r = execution_review(plan, ms, as_of="2025-10-30")
    t = execution_display(r, lang)
    assert list(t.by_owner.columns)[0] == owner and rate in t.by_owner.columns
    raw = {
        "tasks",
        "due",
        "on_time",
        "late",
        "days_late",
        "on_time_rate",
        "milestone",
        "risk",
        "standard",
        "response",
        "materialised",
        "no_response",
    }
    assert not raw & set(t.by_owner.columns) and not raw & set(t.risks.columns)
    risks = t.risks
    assert len(risks) == 1  # only m1 materialised (m2 met, m3 still ahead)
    assert risks[risk].tolist() == [{"zh": "高", "en": "High"}[lang]]
    assert risks[no_response].tolist() == [{"zh": "否", "en": "No"}[lang]]
    assert r.risks["risk"].tolist() == ["高", "低", "高"]  # the review's data is untouched
    pd.testing.assert_frame_equal(t.to_frame(), t.by_owner)


def test_running_period_is_compared_with_the_same_first_days_and_says_so():
    import datetime as dt

    nov = Period(dt.date(2025, 11, 1), dt.date(2025, 11, 30), "2025-11")
    cut = retro.comparison_window(nov.last_year(), nov, dt.date(2025, 11, 20))
    assert (cut.start, cut.end) == (dt.date(2024, 11, 1), dt.date(2024, 11, 20))
    assert str(cut) == "2024-11-01..2024-11-20" and "first 20 days" in cut.label
    whole = retro.comparison_window(nov.last_year(), nov, dt.date(2026, 1, 5))
    assert str(whole) == "2024-11-01..2024-11-30" and whole.label == nov.last_year().label


# --- campaigns -------------------------------------------------------------------------------


def test_campaign_summary_and_window():
    d = daily_frame(("2025-10-01", "2025-11-30"))
    d.loc[d.date.between("2025-11-01", "2025-11-11"), "gmv"] *= 3
    s = campaign_summary(d, "2025-11-01", "2025-11-11")
    # 11 days × 2 channels × 16 500; the 28 days before average 11 000 a day, the window 33 000
    expected = CampaignFigures(
        gmv=363_000.0,
        orders=1210.0,
        visitors=22_000.0,
        conversion_rate=0.05,
        aov=300.0,
        refund_rate=3 / 55,
        ad_spend=0.0,
        roas=np.nan,  # no spend
        uplift=3.0,
        days=11,
    )
    assert s.to_dict() == pytest.approx(expected.to_dict(), nan_ok=True)
    assert campaign_window("double11", 2025) == CampaignWindow(
        event="double11",
        start=pd.Timestamp("2025-10-20"),
        end=pd.Timestamp("2025-11-11"),
        name_zh="双11",
        name_en="Double 11 (Singles' Day)",
    )
    with pytest.raises(ValueError, match="double11"):
        campaign_window("double13", 2025)


# --- report sections (notebook 05) -----------------------------------------------------------


class FakeContext:
    """The part of report.Context the retro show functions use: keeps what would be shown."""

    def __init__(self, lang="en", period=None, as_of=None):
        import datetime as dt

        self.lang, self.L = lang, Labels(lang)
        self.period = period or Period(dt.date(2025, 11, 1), dt.date(2025, 11, 30), "2025-11")
        self.as_of = as_of or dt.date(2025, 12, 5)
        self.said, self.headings, self.tables, self.figures, self.records = [], [], [], 0, {}

    def say(self, zh, en):
        self.said.append(self.L(zh, en))

    def h3(self, zh, en):
        self.headings.append(self.L(zh, en))

    def table(self, df, **kw):
        self.tables.append((df, kw))

    def show(self, obj):
        import matplotlib.pyplot as plt

        self.figures += 1
        plt.close("all")

    def money(self, x):
        return plots.format_money(float(x), self.lang)

    def pct(self, x, digits=1):
        return plots.format_pct(float(x), digits)

    def record(self, **values):
        self.records.update(values)


def _projection(days_left):
    return retro.Projection(1.0, 1.0, 1.0, 1.0, 30 - days_left, days_left, 1.0, 1.0)


@pytest.mark.parametrize(
    "channel_targets, days_left, said",
    [
        (True, 10, "The period is still running: the gap to target is attributed once it is over."),
        (False, 0, "There are no GMV targets per channel, so the gap to target is not attributed."),
    ],
)
def test_gap_to_target_says_why_it_is_skipped(channel_targets, days_left, said):
    d = daily_frame(("2025-11-01", "2025-11-30"))
    t = TARGETS if channel_targets else TARGETS[TARGETS.channel == "全部"]
    ach = retro.achievement(d, t, "2025-11")
    ctx = FakeContext()
    assert retro_report.show_gap_to_target(ctx, ach, d, d, _projection(days_left)) is None
    assert ctx.said == [said] and ctx.figures == 0 and ctx.headings == []


def test_gap_to_target_of_a_finished_period_is_an_exact_split_with_its_chart():
    d = daily_frame(("2025-11-01", "2025-11-30"))  # channel a: 165 000 against 150 000
    ach = retro.achievement(d, TARGETS, "2025-11")
    ctx = FakeContext()
    gap = retro_report.show_gap_to_target(ctx, ach, d, d, _projection(0))
    assert gap["contribution"].sum() == pytest.approx(15_000)
    assert ctx.headings == ["Gap to target, attributed"] and ctx.figures == 1 and ctx.said == []


def test_did_without_a_usable_control_says_the_time_series_baseline_stands():
    d = daily_frame(("2025-09-01", "2025-11-30"))
    w = campaign_window("double11", 2025)
    ctx = FakeContext()
    assert retro_report.show_did(ctx, d, w, []) is None
    did = retro_report.show_did(ctx, d, w, ["a", "b"])  # every channel a control: no treated
    assert did.error_code == "empty_arm"
    assert ctx.said[0].startswith("Every channel took part in the campaign")
    assert ctx.said[1] == (
        "The control channels (a, b) do not allow a difference-in-differences check "
        "(empty_arm); the time-series baseline above is the estimate."
    )
    assert retro_report.show_did(ctx, d, None, ["a"]) is None and len(ctx.said) == 2


def test_no_campaign_is_said_in_the_lift_and_past_campaign_sections():
    ctx = FakeContext(lang="zh")
    assert retro_report.reviewed_campaign(ctx, "") is None
    assert retro_report.show_lift(ctx, daily_frame(("2025-11-01", "2025-11-02")), None) is None
    assert (
        retro_report.show_past_campaigns(ctx, daily_frame(("2025-11-01", "2025-11-02")), None)
        is None
    )
    assert ctx.said == ["本期未指定活动。", "本期未指定活动，不与往期活动对比。"] and not ctx.tables


def test_lessons_from_the_ledger_are_listed_and_their_absence_is_said():
    runs = pd.DataFrame(
        {
            "recorded_at": pd.to_datetime(["2025-06-30", "2025-11-20"]),
            "period": ["2025-Q2", "2025-11"],
            "campaign": ["618", "double11"],
            "decision": ["", "加大直播"],
            "lessons": [[], ["预热期提前一周", "备用仓"]],
        }
    )
    ctx = FakeContext(lang="zh")
    retro_report.show_lessons(ctx, runs)
    assert ctx.headings == ["运营知识库：往期复盘的决定与经验"] and not ctx.said
    ((shown, kw),) = ctx.tables
    assert shown.to_dict("list") == {
        "recorded_at": [pd.Timestamp("2025-11-20")],
        "period": ["2025-11"],
        "campaign": ["double11"],
        "decision": ["加大直播"],
        "lessons": ["预热期提前一周；备用仓"],
    }
    assert kw["caption"] == ("往期经验", "Past lessons")
    empty = FakeContext(lang="zh")
    retro_report.show_lessons(empty, runs.iloc[:1])
    retro_report.show_lessons(empty, None)
    assert len(empty.said) == 2 and empty.said[0].startswith("运营知识库中还没有往期复盘记录的经验")


def test_summary_lists_findings_then_lessons_and_the_decision_in_both_languages():
    plan, ms = execution_inputs()
    exe = execution_review(plan, ms, as_of="2025-10-30")
    s = summarize_review(execution=exe, lessons=["预热期提前一周"], decision="加大直播")
    assert s == RetroSummary(
        zh=(
            "计划执行：到期任务 3 项，按时完成 1 项（33.3%），延误 2 项；关键节点未达成 1 个。",
            "延误最多的负责人：李娜（1 项，累计 5 天）。",
            "经验：预热期提前一周",
            "决定：加大直播",
        ),
        en=(
            "Execution: 1 of 3 due tasks finished on time (33.3%), 2 late; 1 milestones missed.",
            "Most delays: 李娜 (1 tasks, 5 days in all).",
            "Lesson: 预热期提前一周",
            "Decision: 加大直播",
        ),
    )
    assert s.markdown("en").splitlines()[-1] == "- Decision: 加大直播"
    assert list(s.to_frame().columns) == ["zh", "en"] and len(s.to_frame()) == 4


def test_key_figures_are_recorded_from_the_results():
    d = daily_frame(("2025-11-01", "2025-11-30"))
    ach = retro.achievement(d, TARGETS, "2025-11")
    plan, ms = execution_inputs()
    ctx = FakeContext()
    exe = execution_review(plan, ms, as_of="2025-10-30")
    retro_report.record_key_figures(ctx, ach, campaign="", execution=exe, workbook=None)
    assert ctx.records == {
        "gmv": 330_000.0,
        "gmv_target": 300_000.0,
        "achievement": pytest.approx(1.1),
        "campaign": "",
        "lift": None,
        "lift_ci_low": None,
        "lift_ci_high": None,
        "roi": None,
        "on_time_rate": 1 / 3,
        "excel": "",
    }
