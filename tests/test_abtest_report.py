"""What the A/B readout report (notebook 04) shows: p-values, the correction caption, the
cumulative-lift chart's unit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opsnb.abtest import show as ab
from opsnb.abtest.analysis import readout
from opsnb.abtest.decision import cumulative_lift_from_frame
from opsnb.abtest.plots import plot_cumulative_lift
from opsnb.i18n import Labels


class FakeContext:
    """The part of report.Context that show_results uses: keeps what would be displayed."""

    def __init__(self, lang):
        self.lang, self.L, self.tables = lang, Labels(lang), []
        self.said, self.recorded = [], {}

    def table(self, df, **kw):
        self.tables.append((df, kw))

    def say(self, zh, en):
        self.said.append(zh if self.lang == "zh" else en)

    def note(self, zh, en, kind="info"):
        self.said.append(zh if self.lang == "zh" else en)

    def record(self, **kw):
        self.recorded.update(kw)

    def pct(self, x, digits=1):
        return f"{x * 100:.{digits}f}%"


def units(n=20_000, days=14, seed=3, lift=0.3):
    rng = np.random.default_rng(seed)
    v = rng.choice(["control", "treatment"], n)
    conv = rng.random(n) < np.where(v == "treatment", 0.05 * (1 + lift), 0.05)
    gmv = conv * rng.gamma(3, 60, n)
    return pd.DataFrame(
        {
            "variant": v,
            "converted": conv,
            "gmv": gmv,
            "orders": conv.astype(int),
            "refunded": conv & (rng.random(n) < 0.1),
            "assigned_at": pd.Timestamp("2025-09-01")
            + pd.to_timedelta(rng.integers(0, days, n), unit="D"),
        }
    )


@pytest.mark.parametrize(
    "p, shown",
    [
        (1e-12, "<0.001"),
        (0.000999, "<0.001"),
        (0.001, "0.001"),
        (0.0123456, "0.0123"),
        (0.42149, "0.421"),
        (1.0, "1"),
        (float("nan"), "—"),
    ],
)
def test_p_values_never_read_as_zero(p, shown):
    assert ab.format_p(p) == shown


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_results_table_shows_tiny_adjusted_p_values_and_a_caption_in_the_report_language(lang):
    ro = readout(
        units(),
        metrics=["converted:proportion", "gmv:mean", "refund_rate:proportion:refunded/converted"],
        guardrails=["refund_rate"],
    )
    assert ro.results["p_adjusted"].iloc[0] < 0.001  # a 30 % lift on 20 000 units
    ctx = FakeContext(lang)
    ab.show_results(ctx, ro)
    df, kw = ctx.tables[0]
    p_col = Labels(lang)("p 值（校正后）", "p-value (adjusted)")
    assert df[p_col].iloc[0] == "<0.001"
    assert "0.00" not in set(df[p_col])
    caption = Labels(lang)(*kw["caption"])
    if lang == "zh":
        assert (
            "2 个指标 × 1 个实验组 = 2 次检验" in caption
            and "护栏指标单独校正（1 次检验）" in caption
        )
        assert "test(s)" not in caption and "guardrails" not in caption
    else:
        assert "2 metrics × 1 treatment arm = 2 tests" in caption
        assert "guardrails corrected separately (1 test)" in caption
    # a conversion rate of ~5 % reads as a percentage, not as "0.05"
    mean_col = Labels(lang)("对照组均值", "Control mean")
    assert df[mean_col].iloc[0].endswith("%")


def test_cumulative_chart_of_a_proportion_is_in_percentage_points_like_its_title():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cum = cumulative_lift_from_frame(units(), metric="converted:proportion")
    assert cum.attrs["kind"] == "proportion" and cum.attrs["metric"] == "converted"
    for lang, unit in (("en", "percentage points"), ("zh", "百分点")):
        ax = plot_cumulative_lift(cum, lang=lang)
        assert unit in ax.get_ylabel() and unit in ax.get_title()
        line = [ln for ln in ax.get_lines() if len(ln.get_ydata()) == len(cum)][-1]
        np.testing.assert_allclose(line.get_ydata(), cum["abs_lift"] * 100)
        plt.close(ax.figure)
    gmv = cumulative_lift_from_frame(units(), metric="gmv:mean")
    ax = plot_cumulative_lift(gmv, lang="en")
    assert "absolute difference in GMV" in ax.get_ylabel()  # the metric's display name
    assert "percentage points" not in ax.get_title()
    plt.close(ax.figure)


def test_forest_chart_names_metrics_as_the_results_table_does():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from opsnb.abtest.plots import plot_forest

    ro = readout(units(), metrics=["converted:proportion", "gmv:mean"])
    for lang, want in (("en", {"Converted", "GMV"}), ("zh", {"转化", "成交金额"})):
        ax = plot_forest(ro.results, lang=lang)
        assert {t.get_text() for t in ax.get_yticklabels()} == want
        plt.close(ax.figure)


def test_report_says_which_sequential_design_and_how_much_of_the_plan_is_reached():
    df = units()
    kw = dict(metrics=["converted:proportion"], method="sequential", time_col="assigned_at")
    for plan, needle_en, needle_zh in (
        ({}, "no planned size or duration was given", "没有给出计划样本量或天数"),
        (
            {"planned_days": 28},
            "50% of the planned information is reached (look 14)",
            "已完成计划信息量的 50%",
        ),
        ({"planned_days": 14}, "The plan is complete: this is the final analysis", "计划已完成"),
    ):
        ro = readout(df, **kw, **plan)
        for lang, needle in (("en", needle_en), ("zh", needle_zh)):
            ctx = FakeContext(lang)
            ab.show_results(ctx, ro)
            assert any(needle in t for t in ctx.said), (plan, lang, ctx.said)
        assert ctx.recorded["ab_design"] == ro.plan.design
    ctx = FakeContext("en")
    ab.show_results(ctx, readout(df, metrics=["converted:proportion"]))
    assert ctx.said == [] and ctx.recorded == {}  # fixed horizon: nothing to say about a plan


def test_report_counts_the_units_without_a_cuped_covariate():
    df = units().assign(pre_gmv=lambda d: np.arange(len(d)) % 7 * 10.0)
    df.loc[df.index[:5000], "pre_gmv"] = np.nan
    ro = readout(df, metrics=["gmv:mean"], covariates={"gmv": "pre_gmv"})
    for lang, needle in (
        ("en", "5,000 units (25.0%) have no pre-period value"),
        ("zh", "5,000 个单位（25.0%）没有实验前数据"),
    ):
        ctx = FakeContext(lang)
        ab.show_results(ctx, ro)
        assert any(needle in t for t in ctx.said), ctx.said
    full = readout(
        units().assign(pre_gmv=1.0 + np.arange(20_000) % 3),
        metrics=["gmv:mean"],
        covariates={"gmv": "pre_gmv"},
    )
    ctx = FakeContext("en")
    ab.show_results(ctx, full)
    assert any("every unit has a pre-period value" in t for t in ctx.said)


def test_srm_sentence_states_the_threshold_used():
    df = pd.DataFrame({"variant": ["control"] * 5120 + ["treatment"] * 4880, "converted": 0})
    df.loc[::9, "converted"] = 1
    from opsnb.errors import SampleRatioMismatchWarning

    with pytest.warns(SampleRatioMismatchWarning):
        ro = readout(df, srm_alpha=0.05)
    ctx = FakeContext("en")
    ab.show_srm(ctx, ro)
    assert "< 0.05." in ctx.said[0] and "Sample ratio mismatch" in ctx.said[0]
