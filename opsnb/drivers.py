"""Exact driver attribution of a GMV change: channel × factor and mix versus rate.

Per channel, GMV is an exact product of four factors::

    gmv = visitors × (buyers / visitors) × (orders / buyers) × (gmv / orders)
        = 访客数   × 转化率             × 人均订单数          × 客单价

:func:`decompose_gmv` splits ``gmv_after − gmv_before`` into one contribution per channel and
factor; :func:`decompose_mix` splits it into a total-traffic effect, a channel-mix (share of
visitors) effect and within-channel rate (GMV per visitor) effects. In both, the contributions
sum to the total change up to floating point (no residual term).

Methods
-------
``"lmdi"``     additive log-mean Divisia index (LMDI-I, Ang 2004):
               ``contribution_k = L(gmv_1, gmv_0) · ln(x_k1 / x_k0)`` with the logarithmic mean
               ``L(a, b) = (a − b) / ln(a / b)`` and ``L(a, a) = a``.
``"shapley"``  Shapley value of each factor over all orders in which factors switch from the
               before to the after value (Shapley–Sun); exact for any number of factors.

Zeros, new and lost channels
----------------------------
A side (before or after) of a channel is *regular* when all its factors are positive and
finite. When a side is not regular — the channel is new (absent or zero visitors before), lost
(absent or zero after), or has visitors but no buyers, orders or GMV — logarithms and ratios are
undefined. Both methods then attribute the whole change of that channel to the **first zero
factor** of the non-regular side, in the order of the factors (visitors, conversion,
orders_per_buyer, aov for :func:`decompose_gmv`; traffic, mix, rate for :func:`decompose_mix`).
This is the limit of LMDI when one factor tends to zero (Ang & Liu 2007, "Handling zero values
in the LMDI decomposition"): a **new or lost channel's whole GMV goes to its visitors**
(to its share, ``mix``, in :func:`decompose_mix`); a channel whose buyers fall to zero puts its
whole loss on conversion. When both sides are non-regular, the side with the smaller GMV decides.
A channel present in only one of the frames is treated as all zeros on the other side.

Examples
--------
>>> import pandas as pd
>>> before = pd.DataFrame({"channel": ["a"], "visitors": [100], "buyers": [10],
...                        "orders": [10], "gmv": [1000.0]})
>>> after = before.assign(visitors=[200], buyers=[20], orders=[20], gmv=[2000.0])
>>> d = decompose_gmv(before, after)
>>> round(float(d["contribution"].sum()), 6)
1000.0
>>> float(d.set_index("factor")["contribution"].round(6)["visitors"])
1000.0
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd

from opsnb import plots
from opsnb.i18n import Labels

__all__ = [
    "FACTORS",
    "FACTOR_LABELS",
    "MIX_EFFECTS",
    "MIX_LABELS",
    "METHODS",
    "decompose_gmv",
    "decompose_mix",
    "summarize_decomposition",
    "logmean",
    "plot_waterfall",
]

FACTORS = ("visitors", "conversion", "orders_per_buyer", "aov")
"""Factors of :func:`decompose_gmv`, in chain order."""

FACTOR_LABELS: dict[str, tuple[str, str]] = {
    "visitors": ("访客数", "Visitors"),
    "conversion": ("转化率", "Conversion"),
    "orders_per_buyer": ("人均订单数", "Orders per buyer"),
    "aov": ("客单价", "AOV"),
    "traffic": ("总流量", "Total traffic"),
    "mix": ("渠道结构", "Channel mix"),
    "rate": ("渠道产出率", "Channel rate"),
}
"""Display names (zh, en) of factors and mix effects."""

MIX_EFFECTS = ("traffic", "mix", "rate")
"""Effects of :func:`decompose_mix`, in chain order."""

MIX_LABELS = {k: FACTOR_LABELS[k] for k in MIX_EFFECTS}

METHODS = ("lmdi", "shapley")

_COUNTS = ("visitors", "buyers", "orders", "gmv")


def logmean(a, b):
    """Logarithmic mean ``L(a, b) = (a − b) / (ln a − ln b)``, with ``L(a, a) = a``.

    Vectorised; accurate when ``a ≈ b`` (uses ``log1p``). Returns 0 when either argument is 0
    (the limit) and NaN for negative input.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = a - b
        near = np.abs(d) < 0.5 * np.abs(b)  # log1p is accurate near 1, log difference far away
        out = np.where(near, d / np.log1p(d / b), d / (np.log(a) - np.log(b)))
        out = np.where(d == 0, a, out)
        out = np.where((a == 0) | (b == 0), 0.0, out)
        out = np.where((a < 0) | (b < 0), np.nan, out)
    return out if out.ndim else float(out)


# ---------------------------------------------------------------------------------------------
# core: factor matrices → contributions
# ---------------------------------------------------------------------------------------------


def _first_zero(x: np.ndarray) -> np.ndarray:
    """Index of the first non-positive / undefined factor per row (k when the row is regular)."""
    bad = ~(np.isfinite(x) & (x > 0))
    k = x.shape[1]
    return np.where(bad.any(axis=1), bad.argmax(axis=1), k)


def _shapley(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    n, k = x0.shape
    out = np.zeros((n, k))
    for i in range(k):
        others = [j for j in range(k) if j != i]
        for size in range(k):
            w = factorial(size) * factorial(k - size - 1) / factorial(k)
            for s in combinations(others, size):
                base = np.ones(n)
                for j in others:
                    base = base * (x1[:, j] if j in s else x0[:, j])
                out[:, i] += w * base * (x1[:, i] - x0[:, i])
    return out


def _contributions(
    x0: np.ndarray, x1: np.ndarray, g0: np.ndarray, g1: np.ndarray, method: str
) -> np.ndarray:
    """Contributions (n × k) of factor matrices whose row products are ``g0``/``g1``."""
    n, k = x0.shape
    z0, z1 = _first_zero(x0), _first_zero(x1)
    regular = (z0 == k) & (z1 == k)
    out = np.zeros((n, k))
    if regular.any():
        a0, a1 = x0[regular], x1[regular]
        if method == "lmdi":
            lw = logmean(g1[regular], g0[regular])
            out[regular] = lw[:, None] * (np.log(a1) - np.log(a0))
        else:
            out[regular] = _shapley(a0, a1)
    # non-regular rows: the whole change goes to the first zero factor of the non-regular side
    irr = np.flatnonzero(~regular)
    for r in irr:
        if z0[r] < k and z1[r] < k:
            idx = z0[r] if g0[r] <= g1[r] else z1[r]
        else:
            idx = z0[r] if z0[r] < k else z1[r]
        out[r, idx] = g1[r] - g0[r]
    return out


# ---------------------------------------------------------------------------------------------
# frames
# ---------------------------------------------------------------------------------------------


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def _aggregate(df: pd.DataFrame, by: list[str], name: str) -> pd.DataFrame:
    missing = [c for c in (*by, *_COUNTS) if c not in df.columns]
    if missing:
        raise ValueError(f"{name} frame lacks columns {missing}; needs {[*by, *_COUNTS]}")
    num = df[list(_COUNTS)].apply(pd.to_numeric, errors="raise").astype(float)
    if (num < 0).any().any():
        raise ValueError(
            f"{name} frame has negative counts; visitors, buyers, orders and gmv must be ≥ 0"
        )
    g = pd.concat([df[by].astype(str) if len(by) else df[by], num], axis=1)
    if not by:
        return num.sum().to_frame().T
    return g.groupby(by, sort=True, dropna=False)[list(_COUNTS)].sum()


def _aligned(
    before: pd.DataFrame, after: pd.DataFrame, by
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    keys = [by] if isinstance(by, str) else list(by or [])
    b = _aggregate(before, keys, "before")
    a = _aggregate(after, keys, "after")
    if keys:
        idx = b.index.union(a.index)
        b = b.reindex(idx, fill_value=0.0)
        a = a.reindex(idx, fill_value=0.0)
    return b, a, keys


def _ratio(num, den):
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _gmv_factors(t: pd.DataFrame) -> np.ndarray:
    v, bu, o, g = (t[c].to_numpy(float) for c in _COUNTS)
    return np.column_stack([v, _ratio(bu, v), _ratio(o, bu), _ratio(g, o)])


def _tidy(
    index: pd.Index,
    keys: list[str],
    names: Iterable[str],
    contrib: np.ndarray,
    x0: np.ndarray,
    x1: np.ndarray,
    col: str,
) -> pd.DataFrame:
    names = list(names)
    n = len(index)
    out = pd.DataFrame(
        {
            col: np.tile(names, n),
            "contribution": contrib.reshape(-1),
            "before": x0.reshape(-1),
            "after": x1.reshape(-1),
        }
    )
    if keys:
        if len(keys) == 1:
            out.insert(0, keys[0], np.repeat(index.to_numpy(), len(names)))
        else:
            for i, k in enumerate(keys):
                out.insert(i, k, np.repeat(index.get_level_values(i).to_numpy(), len(names)))
    return out


def decompose_gmv(
    before: pd.DataFrame,
    after: pd.DataFrame,
    by: str | list[str] | None = "channel",
    method: str = "lmdi",
) -> pd.DataFrame:
    """Split ``gmv_after − gmv_before`` exactly into channel × factor contributions.

    Parameters
    ----------
    before, after
        Frames with columns ``by`` (default ``channel``), ``visitors``, ``buyers``, ``orders``,
        ``gmv``; several rows per channel (e.g. days) are summed first.
    by
        Grouping column(s); ``None`` decomposes the shop total.
    method
        ``"lmdi"`` (log-mean Divisia, default) or ``"shapley"``.

    Returns
    -------
    DataFrame with columns ``<by>``, ``factor`` (visitors, conversion, orders_per_buyer, aov),
    ``contribution`` (yuan; all rows sum to the total change), ``before`` and ``after`` (the
    factor's value, NaN when undefined, e.g. conversion of a channel with no visitors).
    ``attrs`` holds ``gmv_before``, ``gmv_after`` and ``method``.

    New, lost and zero channels follow the module rule: the whole change of the channel goes to
    the first zero factor (a new or lost channel → ``visitors``).
    """
    _check_method(method)
    b, a, keys = _aligned(before, after, by)
    x0, x1 = _gmv_factors(b), _gmv_factors(a)
    g0, g1 = b["gmv"].to_numpy(float), a["gmv"].to_numpy(float)
    c = _contributions(x0, x1, g0, g1, method)
    out = _tidy(b.index, keys, FACTORS, c, x0, x1, "factor")
    out.attrs.update(
        gmv_before=float(g0.sum()), gmv_after=float(g1.sum()), method=method, kind="gmv"
    )
    return out


def decompose_mix(
    before: pd.DataFrame, after: pd.DataFrame, by: str | list[str] = "channel", method: str = "lmdi"
) -> pd.DataFrame:
    """Split the total GMV change into total-traffic, channel-mix and within-channel rate effects.

    Per channel ``gmv_c = V × s_c × r_c`` with ``V`` the shop's total visitors, ``s_c`` the
    channel's share of visitors and ``r_c = gmv_c / visitors_c`` its GMV per visitor. Summed over
    channels, ``traffic`` is what the change of total visitors alone explains, ``mix`` the shift
    of visitors between channels (positive when traffic moves to channels that earn more), and
    ``rate`` the change of GMV per visitor inside channels.

    Returns
    -------
    DataFrame with columns ``<by>``, ``effect`` (traffic, mix, rate), ``contribution``,
    ``before``, ``after`` (V, s_c, r_c); contributions sum to the total change. A new or lost
    channel's GMV goes to ``mix``; ``attrs`` as in :func:`decompose_gmv`.
    """
    _check_method(method)
    if by is None or (not isinstance(by, str) and len(by) == 0):
        raise ValueError("decompose_mix needs a grouping column (by), e.g. by='channel'")
    b, a, keys = _aligned(before, after, by)

    def factors(t: pd.DataFrame) -> np.ndarray:
        v = t["visitors"].to_numpy(float)
        total = np.full_like(v, v.sum())
        return np.column_stack([total, _ratio(v, total), _ratio(t["gmv"].to_numpy(float), v)])

    x0, x1 = factors(b), factors(a)
    g0, g1 = b["gmv"].to_numpy(float), a["gmv"].to_numpy(float)
    c = _contributions(x0, x1, g0, g1, method)
    out = _tidy(b.index, keys, MIX_EFFECTS, c, x0, x1, "effect")
    out.attrs.update(
        gmv_before=float(g0.sum()), gmv_after=float(g1.sum()), method=method, kind="mix"
    )
    return out


def summarize_decomposition(decomp: pd.DataFrame) -> pd.DataFrame:
    """Totals per factor (or effect) of a decomposition: columns ``factor``, ``contribution``,
    ``share`` (of the total change; NaN when the change is 0)."""
    col = "factor" if "factor" in decomp.columns else "effect"
    order = FACTORS if col == "factor" else MIX_EFFECTS
    s = decomp.groupby(col, sort=False)["contribution"].sum().reindex(order, fill_value=0.0)
    total = s.sum()
    out = s.rename_axis("factor").reset_index()
    out["share"] = out["contribution"] / total if total != 0 else np.nan
    return out


# ---------------------------------------------------------------------------------------------
# plot
# ---------------------------------------------------------------------------------------------


def plot_waterfall(
    decomp: pd.DataFrame, *, lang: str = "zh", ax=None, top: int = 8, title: str | None = None
):
    """Waterfall from GMV before to GMV after through the largest contributions.

    ``decomp`` is a frame from :func:`decompose_gmv` or :func:`decompose_mix` (or any frame with
    ``contribution`` and ``factor``/``effect`` columns, optionally ``channel``). The ``top``
    largest channel × factor parts by absolute value get a bar each; the rest are one "其他 /
    Other" bar. Start and end bars are drawn when ``decomp.attrs`` holds ``gmv_before`` and
    ``gmv_after``; otherwise the chart starts at 0 and ends with the total change.
    """
    L = Labels(lang)
    ax = plots.new_axes(ax, figsize=(10, 4.6))
    col = "factor" if "factor" in decomp.columns else "effect"
    key = next(
        (c for c in decomp.columns if c not in (col, "contribution", "before", "after")), None
    )

    def label(row) -> str:
        f = L(*FACTOR_LABELS.get(row[col], (row[col], row[col])))
        return f"{row[key]}·{f}" if key is not None else f

    parts = decomp[decomp["contribution"].abs() > 0].copy()
    parts["label"] = [label(r) for _, r in parts.iterrows()]
    parts = parts.reindex(parts["contribution"].abs().sort_values(ascending=False).index)
    shown = parts.head(top)
    rest = parts["contribution"].iloc[top:].sum() if len(parts) > top else 0.0
    items = list(zip(shown["label"], shown["contribution"]))
    if len(parts) > top:
        items.append((L(f"其他（{len(parts) - top}项）", f"Other ({len(parts) - top})"), rest))

    has_ends = "gmv_before" in decomp.attrs and "gmv_after" in decomp.attrs
    start = float(decomp.attrs["gmv_before"]) if has_ends else 0.0
    names, bottoms, heights, colors = [], [], [], []
    if has_ends:
        names.append(L("基期", "Before"))
        bottoms.append(0.0)
        heights.append(start)
        colors.append(plots.PALETTE[7])
    level = start
    for name, v in items:
        names.append(name)
        bottoms.append(level if v >= 0 else level + v)
        heights.append(abs(v))
        colors.append(plots.PALETTE[2] if v >= 0 else plots.PALETTE[1])
        level += v
    if has_ends:
        names.append(L("本期", "After"))
        bottoms.append(0.0)
        heights.append(float(decomp.attrs["gmv_after"]))
        colors.append(plots.PALETTE[0])
    else:
        names.append(L("合计变化", "Total change"))
        bottoms.append(min(0.0, level))
        heights.append(abs(level))
        colors.append(plots.PALETTE[0])

    xs = np.arange(len(names))
    ax.bar(xs, heights, bottom=bottoms, color=colors, width=0.65)
    running = [start] if has_ends else []
    for _, v in items:
        running.append((running[-1] if running else 0.0) + v)
    for i, y in enumerate(running[: len(names) - 1]):
        ax.plot([xs[i] + 0.33, xs[i + 1] - 0.33], [y, y], color="#999999", lw=0.8)
    ends = {0, len(names) - 1} if has_ends else {len(names) - 1}
    for i, (b0, h) in enumerate(zip(bottoms, heights)):
        if i in ends:
            txt = plots.format_money(h if has_ends or level >= 0 else -h, lang)
        else:
            v = items[i - (1 if has_ends else 0)][1]
            txt = ("+" if v >= 0 else "") + plots.format_money(v, lang)
        ax.annotate(
            txt,
            (xs[i], b0 + h),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_xticks(xs)
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=9)
    plots.axis_units(ax, "money", lang=lang)
    if has_ends:
        lo = min(b for b in bottoms[1:-1]) if len(bottoms) > 2 else 0.0
        hi = max(b + h for b, h in zip(bottoms, heights))
        if lo > 0.3 * hi:  # zoom on the moving part so small parts stay visible
            ax.set_ylim(lo - 0.15 * (hi - lo), hi + 0.08 * (hi - lo))
    ax.set_title(title or L("成交金额变化归因", "GMV change attribution"))
    ax.set_ylabel(L("成交金额", "GMV"))
    return ax
