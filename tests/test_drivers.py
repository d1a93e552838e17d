"""Exact driver attribution (opsnb.drivers): identities, hand examples, zero/new/lost channels."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsnb import drivers

CHANNELS = ["自然搜索", "付费推广", "抖音", "小红书", "直播"]


def frame(rows):
    df = pd.DataFrame(rows, columns=["channel", "visitors", "buyers", "orders", "gmv"])
    return df.astype(
        {"channel": str, "visitors": "int64", "buyers": "int64", "orders": "int64", "gmv": float}
    )


# --- hand-sized examples ---------------------------------------------------------------------


def test_visitors_doubling_with_halved_conversion_splits_as_computed_by_hand():
    before = frame([["a", 100, 10, 10, 1000.0]])
    after = frame([["a", 200, 10, 10, 1000.0]])
    lm = drivers.decompose_gmv(before, after).set_index("factor")["contribution"]
    # L(1000, 1000) = 1000; ln 2 = 0.693147...
    assert lm["visitors"] == pytest.approx(1000 * math.log(2), rel=1e-12)
    assert lm["conversion"] == pytest.approx(-1000 * math.log(2), rel=1e-12)
    assert lm["orders_per_buyer"] == 0 and lm["aov"] == 0
    sh = drivers.decompose_gmv(before, after, method="shapley").set_index("factor")["contribution"]
    # ½[(200−100)·0.1·100 + (200−100)·0.05·100] = 750
    assert sh["visitors"] == pytest.approx(750.0, rel=1e-12)
    assert sh["conversion"] == pytest.approx(-750.0, rel=1e-12)


def test_lmdi_matches_log_mean_formula_for_two_channels():
    before = frame([["a", 1000, 50, 60, 6000.0], ["b", 400, 8, 8, 1600.0]])
    after = frame([["a", 1200, 54, 60, 6600.0], ["b", 300, 9, 10, 2100.0]])
    d = drivers.decompose_gmv(before, after).set_index(["channel", "factor"])["contribution"]
    L = (6600 - 6000) / math.log(6600 / 6000)
    assert d[("a", "visitors")] == pytest.approx(L * math.log(1.2), rel=1e-12)
    assert d[("a", "conversion")] == pytest.approx(
        L * math.log((54 / 1200) / (50 / 1000)), rel=1e-12
    )
    assert d[("a", "orders_per_buyer")] == pytest.approx(
        L * math.log((60 / 54) / (60 / 50)), rel=1e-12
    )
    assert d[("a", "aov")] == pytest.approx(L * math.log(110 / 100), rel=1e-12)
    assert d.sum() == pytest.approx(6600 + 2100 - 6000 - 1600, rel=1e-12)


def _shapley_by_permutations(x0, x1):
    """Independent Shapley: average marginal contribution over all k! orders."""
    k = len(x0)
    out = np.zeros(k)
    perms = list(itertools.permutations(range(k)))
    for p in perms:
        cur = list(x0)
        for i in p:
            before = np.prod(cur)
            cur[i] = x1[i]
            out[i] += np.prod(cur) - before
    return out / len(perms)


def test_shapley_matches_brute_force_over_all_orders():
    before = frame([["a", 1000, 50, 60, 6000.0]])
    after = frame([["a", 1300, 52, 70, 5600.0]])
    d = drivers.decompose_gmv(before, after, method="shapley")
    ref = _shapley_by_permutations(d["before"].to_numpy(), d["after"].to_numpy())
    np.testing.assert_allclose(d["contribution"].to_numpy(), ref, rtol=1e-12)


def test_logmean_limit_and_symmetry():
    assert drivers.logmean(5.0, 5.0) == 5.0
    assert drivers.logmean(5.0, 5.0 * (1 + 1e-13)) == pytest.approx(5.0, rel=1e-12)
    assert drivers.logmean(2.0, 8.0) == pytest.approx(6 / math.log(4), rel=1e-14)
    assert drivers.logmean(8.0, 2.0) == drivers.logmean(2.0, 8.0)
    assert drivers.logmean(0.0, 3.0) == 0.0
    assert drivers.logmean(1e-300, 1.0) == pytest.approx(1 / (300 * math.log(10)), rel=1e-12)


# --- zeros, new and lost channels ------------------------------------------------------------


def test_new_and_lost_channels_attribute_their_whole_gmv_to_visitors():
    before = frame([["a", 100, 10, 10, 1000.0], ["lost", 50, 5, 5, 300.0]])
    after = frame([["a", 100, 10, 10, 1000.0], ["new", 80, 4, 4, 500.0]])
    for method in drivers.METHODS:
        d = drivers.decompose_gmv(before, after, method=method)
        d = d.set_index(["channel", "factor"])["contribution"]
        assert d[("new", "visitors")] == 500.0
        assert d[("lost", "visitors")] == -300.0
        assert d.drop([("new", "visitors"), ("lost", "visitors")]).abs().max() == 0
        m = drivers.decompose_mix(before, after, method=method)
        m = m.set_index(["channel", "effect"])["contribution"]
        assert m[("new", "mix")] == 500.0 and m[("lost", "mix")] == -300.0


def test_channel_losing_all_buyers_puts_its_loss_on_conversion():
    before = frame([["a", 100, 10, 12, 1200.0]])
    after = frame([["a", 150, 0, 0, 0.0]])
    for method in drivers.METHODS:
        d = drivers.decompose_gmv(before, after, method=method).set_index("factor")
        assert d.loc["conversion", "contribution"] == -1200.0
        assert d["contribution"].sum() == -1200.0


def test_unchanged_and_all_zero_channels_contribute_nothing():
    before = frame([["a", 100, 10, 12, 1200.0], ["z", 0, 0, 0, 0.0]])
    d = drivers.decompose_gmv(before, before.copy())
    assert (d["contribution"] == 0).all()


def test_several_rows_per_channel_are_summed_first():
    days = frame([["a", 50, 5, 5, 500.0], ["a", 50, 5, 5, 500.0]])
    total = frame([["a", 100, 10, 10, 1000.0]])
    after = frame([["a", 120, 10, 11, 1300.0]])
    pd.testing.assert_frame_equal(
        drivers.decompose_gmv(days, after), drivers.decompose_gmv(total, after)
    )


def test_bad_method_and_missing_columns_raise_with_the_allowed_values():
    f = frame([["a", 1, 1, 1, 1.0]])
    with pytest.raises(ValueError, match="lmdi"):
        drivers.decompose_gmv(f, f, method="ols")
    with pytest.raises(ValueError, match="buyers"):
        drivers.decompose_gmv(f.drop(columns="buyers"), f)
    with pytest.raises(ValueError, match="negative"):
        drivers.decompose_gmv(f.assign(gmv=-1.0), f)


# --- property-based exactness ----------------------------------------------------------------


@st.composite
def channel_frames(draw):
    rows = []
    for ch in CHANNELS:
        if not draw(st.booleans()):  # channel missing from this frame
            continue
        v = draw(st.integers(0, 200_000))
        b = draw(st.integers(0, v))
        o = draw(st.integers(b, 3 * b)) if b else 0
        g = draw(st.floats(0, 5e6, allow_nan=False)) if o else 0.0
        if o and draw(st.booleans()):
            g = float(draw(st.integers(0, 10)))  # tiny or zero GMV with orders
        rows.append([ch, v, b, o, g])
    return frame(rows)


@settings(max_examples=200, deadline=None)
@given(channel_frames(), channel_frames(), st.sampled_from(drivers.METHODS))
def test_contributions_sum_exactly_to_the_gmv_change(before, after, method):
    change = after["gmv"].sum() - before["gmv"].sum()
    scale = max(1.0, before["gmv"].sum(), after["gmv"].sum())
    d = drivers.decompose_gmv(before, after, method=method)
    assert np.isfinite(d["contribution"]).all()
    assert abs(d["contribution"].sum() - change) <= 1e-9 * scale
    m = drivers.decompose_mix(before, after, method=method)
    assert np.isfinite(m["contribution"]).all()
    assert abs(m["contribution"].sum() - change) <= 1e-9 * scale
    # per channel too: each channel's parts add up to its own change
    per = d.groupby("channel")["contribution"].sum()
    b = before.set_index("channel")["gmv"].reindex(per.index, fill_value=0)
    a = after.set_index("channel")["gmv"].reindex(per.index, fill_value=0)
    np.testing.assert_allclose(per, a - b, atol=1e-9 * scale)


@settings(max_examples=60, deadline=None)
@given(channel_frames(), channel_frames())
def test_shapley_and_lmdi_agree_on_channel_totals(before, after):
    lm = drivers.decompose_gmv(before, after).groupby("channel")["contribution"].sum()
    sh = (
        drivers.decompose_gmv(before, after, method="shapley")
        .groupby("channel")["contribution"]
        .sum()
    )
    scale = max(1.0, before["gmv"].sum(), after["gmv"].sum())
    np.testing.assert_allclose(lm, sh, atol=1e-9 * scale)


def test_mix_effect_is_zero_when_shares_do_not_move():
    before = frame([["a", 100, 10, 10, 1000.0], ["b", 300, 10, 10, 500.0]])
    after = frame([["a", 200, 20, 20, 2600.0], ["b", 600, 20, 20, 900.0]])
    m = drivers.decompose_mix(before, after)
    s = drivers.summarize_decomposition(m).set_index("factor")["contribution"]
    assert abs(s["mix"]) < 1e-9
    # total visitors double: traffic effect = Σ L(g1, g0)·ln 2
    ref = sum(drivers.logmean(g1, g0) * math.log(2) for g0, g1 in [(1000, 2600), (500, 900)])
    assert s["traffic"] == pytest.approx(ref, rel=1e-12)


# --- plot ------------------------------------------------------------------------------------


def test_waterfall_renders_chinese_labels_without_missing_glyphs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    before = frame([["抖音", 1000, 30, 33, 3300.0], ["直播", 300, 10, 10, 2000.0]])
    after = frame([["抖音", 1500, 40, 45, 4000.0], ["小红书", 400, 8, 8, 900.0]])
    d = drivers.decompose_gmv(before, after)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ax = drivers.plot_waterfall(d, top=3)
        ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "基期" and labels[-1] == "本期"
    assert any("其他" in t for t in labels)
    # the last bar is GMV after
    bars = ax.patches
    assert bars[-1].get_height() == pytest.approx(4900.0)
    plt.close(ax.figure)
