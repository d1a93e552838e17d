"""Group-sequential design (Lan–DeMets spending): boundaries against published tables, exact α
under daily peeking with uneven traffic, and agreement with the fixed-horizon test at one look."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from opsnb import abtest as ab
from opsnb.abtest.groupseq import (
    constant_boundaries,
    exit_probabilities,
    group_sequential_from_result,
    information,
    repeated_p_value,
    spending_boundaries,
    spending_function,
)
from opsnb.errors import SmallSampleWarning
from tests.reference import abtest_groupseq as REF

ALPHA = 0.05


@pytest.mark.parametrize("K", sorted(REF.POCOCK_CP))
def test_pocock_and_obrien_fleming_constants_match_jennison_turnbull(K):
    t = np.arange(1, K + 1) / K
    assert constant_boundaries(t, shape="pocock")[0] == pytest.approx(REF.POCOCK_CP[K], abs=6e-4)
    assert constant_boundaries(t, shape="obf")[-1] == pytest.approx(REF.OBF_CB[K], abs=6e-4)


@pytest.mark.parametrize("spending, ref", [("obf", REF.LD_OBF_K5), ("pocock", REF.LD_POCOCK_K5)])
def test_lan_demets_spending_boundaries_match_published_values(spending, ref):
    d = spending_boundaries([1, 2, 3, 4, 5], alpha=ALPHA, spending=spending)
    np.testing.assert_allclose(d.z_bounds, ref, atol=6e-4)
    assert d.alpha_spent[-1] == pytest.approx(ALPHA)
    # the recursion spends exactly what the spending function allows at every look
    np.testing.assert_allclose(
        np.cumsum(exit_probabilities(d.info_fractions, d.z_bounds)),
        spending_function(d.info_fractions, ALPHA, spending),
        atol=1e-7,
    )


def test_boundaries_hold_alpha_for_uneven_looks_by_monte_carlo():
    info = np.array([40.0, 55, 130, 140, 260, 400])  # uneven daily traffic
    d = spending_boundaries(info, spending="pocock")
    rng = np.random.default_rng(1)
    s = rng.standard_normal((200_000, len(info))) * np.sqrt(np.diff(info, prepend=0))
    z = s.cumsum(1) / np.sqrt(info)
    crossed = np.abs(z) >= np.array(d.z_bounds)
    first = np.where(crossed.any(1), crossed.argmax(1), -1)
    per_look = np.array([(first == k).mean() for k in range(len(info))])
    np.testing.assert_allclose(per_look, np.diff(d.alpha_spent, prepend=0), atol=1.5e-3)


def test_one_look_is_the_fixed_horizon_test():
    c, t = ab.SampleStats.from_counts(300, 3000), ab.SampleStats.from_counts(350, 3000)
    f = ab.compare_proportions(c, t)
    g = group_sequential_from_result(f)
    half = stats.norm.isf(ALPHA / 2) * f.se  # the repeated interval is Wald-type (Newcombe differs)
    assert g.ci_low == pytest.approx(f.estimate - half, rel=1e-6)
    assert g.ci_high == pytest.approx(f.estimate + half, rel=1e-6)
    assert f.ci_low == pytest.approx(g.ci_low, abs=0.1 * half)
    # p-value and interval from the same (unpooled) standard error: the Wald test, which for
    # proportions differs from the pooled z-test of the fixed-horizon readout in the 3rd digit
    wald = 2 * stats.norm.sf(abs(f.estimate / f.se))
    assert g.p_value == pytest.approx(wald, rel=1e-4) and g.statistic == f.estimate / f.se
    assert g.p_value == pytest.approx(f.p_value, rel=0.02)
    assert g.method.startswith("group-sequential-obf") and g.looks == 1 and g.info_fraction == 1


def test_repeated_p_value_and_interval_agree_at_every_look():
    """The repeated p-value is below α exactly when the repeated interval excludes 0 — also
    for proportions, where the pooled and unpooled standard errors differ."""
    info = information(np.arange(1, 6) * 500.0, np.arange(1, 6) * 500.0)
    for xt in range(250, 340, 3):
        f = ab.compare_proportions(
            ab.SampleStats.from_counts(250, 2500), ab.SampleStats.from_counts(xt, 2500)
        )
        g = group_sequential_from_result(f, info, planned=info[-1] * 1.5)
        assert (g.ci_low > 0 or g.ci_high < 0) == (g.p_value < ALPHA), xt
        assert (g.rel_ci_low > 0 or g.rel_ci_high < 0) == (g.p_value < ALPHA), xt


def test_calendar_clock_spends_alpha_on_the_share_of_planned_days():
    """With even traffic the calendar clock is the information clock; with uneven traffic α
    is spent on the days while the correlation of the looks follows the information."""
    info = np.arange(1, 8) * 100.0
    days = np.arange(1, 8)
    even = spending_boundaries(info, planned=info[-1] * 2, spending="pocock")
    clock = spending_boundaries(info, spend_at=days / 14, spending="pocock")
    np.testing.assert_allclose(clock.z_bounds, even.z_bounds, rtol=1e-9)
    assert clock.spend_fractions[-1] == pytest.approx(0.5)
    uneven = np.cumsum([50, 60, 55, 300, 60, 50, 55.0])
    d = spending_boundaries(uneven, spend_at=days / 7, spending="pocock")
    np.testing.assert_allclose(
        np.cumsum(exit_probabilities(uneven / uneven[-1], d.z_bounds)),
        spending_function(days / 7, ALPHA, "pocock"),
        atol=1e-7,
    )
    # after the planned days nothing more is spent: the boundary of the last planned day holds
    late = spending_boundaries(np.r_[info, 800.0], spend_at=np.r_[days, 8] / 7)
    assert late.z_bounds[-1] == late.z_bounds[-2] and late.alpha_spent[-1] == pytest.approx(ALPHA)


def test_repeated_p_value_is_below_alpha_exactly_when_the_boundary_is_crossed():
    info = np.arange(1, 11) * 100.0
    c = spending_boundaries(info).z_bounds[-1]
    assert repeated_p_value(c * 1.01, info) < ALPHA < repeated_p_value(c * 0.99, info)
    # an interim look (half the planned information) needs a much larger z
    mid = spending_boundaries(info[:5], planned=info[-1]).z_bounds[-1]
    assert mid > 2.9 and repeated_p_value(2.5, info[:5], planned=info[-1]) > ALPHA


def _daily_aa(rng, traffic, sims, p=0.1):
    nc = np.cumsum(traffic[0])
    nt = np.cumsum(traffic[1])
    xc = rng.binomial(traffic[0], p, (sims, len(nc))).cumsum(1)
    xt = rng.binomial(traffic[1], p, (sims, len(nt))).cumsum(1)
    pc, pt = xc / nc, xt / nt
    z = (pt - pc) / np.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
    return z, information(nc, nt)


@pytest.mark.parametrize("spending", ["obf", "pocock"])
def test_aa_false_positive_rate_under_28_daily_looks_is_five_percent(spending):
    """4 000 A/A experiments, 28 daily looks with weekday/weekend traffic swings and a 52/48
    split, stop at the first boundary crossing: 4–6 % false positives (binomial sd 0.34 pp).
    The naive fixed-horizon z-test at every look is far above."""
    rng = np.random.default_rng(2024)
    week = np.array([1.0, 0.9, 0.95, 1.0, 1.2, 1.8, 1.6])
    per_day = np.round(260 * np.tile(week, 4) * rng.uniform(0.8, 1.2, 28)).astype(int)
    traffic = (np.round(per_day * 0.52).astype(int), np.round(per_day * 0.48).astype(int))
    z, info = _daily_aa(rng, traffic, 4000)
    d = spending_boundaries(info, alpha=ALPHA, spending=spending)
    fpr = float((np.abs(z) >= np.array(d.z_bounds)).any(1).mean())
    naive = float((np.abs(z) >= stats.norm.isf(ALPHA / 2)).any(1).mean())
    print(f"{spending}: 28 looks, group-sequential FPR {fpr:.4f}, naive {naive:.4f}")
    assert 0.04 <= fpr <= 0.06
    assert naive > 0.15


def test_degenerate_result_gives_nan_and_an_error_code():
    with pytest.warns(SmallSampleWarning):
        r = ab.compare_proportions(
            ab.SampleStats.from_counts(0, 100), ab.SampleStats.from_counts(0, 100)
        )
    g = group_sequential_from_result(r)
    assert np.isnan(g.p_value) and g.error_code
