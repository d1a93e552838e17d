"""The one plot theme of opsnb: palette, sizes and a CJK font so Chinese labels render.

Every plot function in opsnb takes ``ax=None`` and returns the Axes; none calls ``plt.show()``.
Call :func:`use_theme` once (the notebooks' first opsnb call does it) or let any plot function
do it lazily.

Font order: the pinned PyPI package ``noto-cjk-sans-otc`` (works with no system font, e.g. on a
laptop or conda), then a system Noto/Source Han/WenQuanYi font. If none is found a
:class:`~opsnb.errors.OpsnbWarning` says how to install one.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

from opsnb.errors import OpsnbWarning

__all__ = [
    "use_theme",
    "cjk_font_name",
    "new_axes",
    "PALETTE",
    "STATUS_COLORS",
    "RISK_COLORS",
    "format_money",
    "format_pct",
    "format_compact",
    "format_count",
    "tick_formatter",
    "axis_units",
    "metric_kind",
    "has_bold",
    "title_weight",
]

PALETTE = ["#2F6FB7", "#E4572E", "#29A36A", "#F3A712", "#8E6BBF", "#5AA9C9", "#B5651D", "#7F7F7F"]
"""Categorical colours (colour-blind aware order; blue first for 'actual', orange for alerts)."""

STATUS_COLORS = {"未开始": "#BFBFBF", "进行中": "#5AA9C9", "已完成": "#29A36A", "延期": "#E4572E"}
RISK_COLORS = {"无": "#D9D9D9", "低": "#A8D5BA", "中": "#F3C969", "高": "#E4572E"}

_SYSTEM_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
_PREFERRED_NAMES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "PingFang SC",
    "Microsoft YaHei",
)


@lru_cache(maxsize=1)
def cjk_font_name() -> str | None:
    """Register a CJK font with matplotlib and return its family name (None if none found)."""
    from matplotlib import font_manager as fm

    paths: list[str] = []
    try:
        import noto_cjk_sans_otc  # type: ignore[import-not-found]

        paths.append(str(noto_cjk_sans_otc.FONT_PATH))
    except Exception:  # pragma: no cover - the package is a declared dependency
        pass
    paths += [p for p in _SYSTEM_FONT_CANDIDATES if Path(p).is_file()]
    for p in paths:
        try:
            fm.fontManager.addfont(p)
        except Exception:  # a broken font file should not stop a report
            continue
    known = {f.name for f in fm.fontManager.ttflist}
    for name in _PREFERRED_NAMES:
        if name in known:
            return name
    return None


def has_bold(family: str | None) -> bool:
    """Whether matplotlib knows a bold (weight ≥ 600) face of ``family`` (False for None)."""
    if family is None:
        return False
    from matplotlib import font_manager as fm

    def weight(w) -> int:
        named = {
            "normal": 400,
            "regular": 400,
            "book": 400,
            "medium": 500,
            "semibold": 600,
            "demibold": 600,
            "bold": 700,
            "heavy": 800,
            "black": 900,
        }
        return int(w) if isinstance(w, int) or str(w).isdigit() else named.get(str(w).lower(), 400)

    return any(f.name == family and weight(f.weight) >= 600 for f in fm.fontManager.ttflist)


def title_weight() -> str:
    """ "bold" when the report's CJK font has a bold face, else "normal" (for explicit labels)."""
    return "bold" if has_bold(cjk_font_name()) else "normal"


_THEMED = False


def use_theme(force: bool = False) -> None:
    """Apply the opsnb look (seaborn whitegrid, palette, CJK font). Idempotent."""
    global _THEMED
    if _THEMED and not force:
        return
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook")
    font = cjk_font_name()
    if font is None:
        warnings.warn(
            "No CJK font found: Chinese labels will show as boxes. Reinstall opsnb "
            "(pip install -e .) to get the bundled 'noto-cjk-sans-otc' font, or install the "
            "system package fonts-noto-cjk.",
            OpsnbWarning,
            stacklevel=2,
        )
        families = ["DejaVu Sans"]
    else:
        families = [font, "DejaVu Sans"]
    mpl.rcParams.update(
        {
            "font.family": "sans-serif",
            "font.sans-serif": families + list(mpl.rcParams["font.sans-serif"]),
            "axes.unicode_minus": False,  # CJK fonts lack U+2212
            "figure.figsize": (9, 4.2),
            "figure.dpi": 100,
            "savefig.dpi": 120,
            "savefig.bbox": "tight",
            # bold only where the CJK family has a bold face (the bundled Noto is Regular only;
            # asking for bold would print "findfont: Failed to find font weight bold" into reports)
            "axes.titleweight": "bold" if has_bold(font) else "normal",
            "figure.titleweight": "bold" if has_bold(font) else "normal",
            "axes.titlesize": 13,
            "legend.frameon": False,
            # never '1e7' or '+1.5e6' offsets on an axis: money and count axes carry 万/亿 or
            # k/M through axis_units(); any other axis prints plain numbers
            "axes.formatter.useoffset": False,
            "axes.formatter.limits": (-9, 15),
        }
    )
    _THEMED = True


def new_axes(ax=None, figsize=None):
    """Return ``ax`` or a fresh themed Axes (the pattern every plot function starts with)."""
    use_theme()
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def format_money(x: float, lang: str = "zh", symbol: str = "¥") -> str:
    """¥1.23万 / ¥1,234 in Chinese, ¥12.3k in English; NaN as '—'. ``symbol``: £, $, HK$ …"""
    if x != x:  # NaN
        return "—"
    sign = "-" if x < 0 else ""
    a = abs(x)
    if lang == "zh":
        if a >= 1e8:
            return f"{sign}{symbol}{a / 1e8:.2f}亿"
        if a >= 1e4:
            return f"{sign}{symbol}{a / 1e4:.2f}万"
        return f"{sign}{symbol}{a:,.0f}"
    if a >= 1e6:
        return f"{sign}{symbol}{a / 1e6:.2f}M"
    if a >= 1e3:
        return f"{sign}{symbol}{a / 1e3:.1f}k"
    return f"{sign}{symbol}{a:,.0f}"


def format_count(x: float, lang: str = "zh") -> str:
    """A count for tables and sentences: 37,713 as is, from 10万 up '12.35万' / '1.23亿' in
    Chinese, from 1M up '1.23M' in English; NaN as '—'."""
    if x != x:
        return "—"
    sign = "-" if x < 0 else ""
    a = abs(x)
    if lang == "zh":
        if a >= 1e8:
            return f"{sign}{a / 1e8:.2f}亿"
        if a >= 1e5:
            return f"{sign}{a / 1e4:.2f}万"
    elif a >= 1e6:
        return f"{sign}{a / 1e6:.2f}M"
    return f"{sign}{a:,.0f}"


def format_pct(x: float, digits: int = 1) -> str:
    """0.0312 → '3.1%'; NaN as '—'."""
    if x != x:
        return "—"
    return f"{x * 100:.{digits}f}%"


def _trim(v: float, digits: int = 2, sep: str = ",") -> str:
    """``v`` with at most ``digits`` decimals and no trailing zeros: 1.20 -> '1.2', 12.0 -> '12'
    (``sep``: the thousands separator, '' for none)."""
    text = f"{v:{sep}.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_compact(x: float, lang: str = "zh", symbol: str = "") -> str:
    """A short number in the reader's units, as on a chart axis: 12000 -> '1.2万' (zh) or
    '12k' (en); 3.4e8 -> '3.4亿'; 1.2e6 -> '120万' / '1.2M'. ``symbol`` ('¥') prefixes money;
    NaN as '—'.

    Examples
    --------
    >>> format_compact(12000, "zh"), format_compact(12000, "en"), format_compact(1.2e6, "en")
    ('1.2万', '12k', '1.2M')
    >>> format_compact(3.4e8, "zh", "¥")
    '¥3.4亿'
    """
    if x != x:
        return "—"
    sign = "-" if x < 0 else ""
    a = abs(float(x))
    units = ((1e8, "亿"), (1e4, "万")) if lang == "zh" else ((1e9, "B"), (1e6, "M"), (1e3, "k"))
    for factor, unit in units:
        if a >= factor:
            return f"{sign}{symbol}{_trim(a / factor, sep='')}{unit}"  # ¥1000万 like ¥1000.00万
    return f"{sign}{symbol}{_trim(a)}"


def tick_formatter(kind: str = "count", lang: str = "zh", symbol: str = "¥"):
    """The one matplotlib tick formatter of the kit: ``kind`` is ``money`` (¥1.2万 / ¥12k),
    ``count`` (1.2万 / 12k) or ``pct`` (a fraction as 12%, 1.5% below 10%)."""
    from matplotlib.ticker import FuncFormatter

    if kind == "money":
        return FuncFormatter(lambda v, _pos: format_compact(v, lang, symbol))
    if kind == "count":
        return FuncFormatter(lambda v, _pos: format_compact(v, lang))
    if kind == "pct":
        return FuncFormatter(lambda v, _pos: f"{_trim(v * 100, 1)}%")
    raise ValueError(f"kind={kind!r}: expected one of 'money', 'count', 'pct'")


MONEY_METRICS = frozenset({"gmv", "aov", "ad_spend", "refund_amount", "spend", "revenue", "value"})


def metric_kind(metric: str) -> str:
    """How a metric's axis is labelled: ``money`` (gmv, aov, ad_spend …), ``pct`` (names ending
    in ``_rate``, shares) or ``count`` (visitors, buyers, orders …)."""
    m = str(metric)
    if m in MONEY_METRICS or m.endswith(("_amount", "_gmv", "_spend")):
        return "money"
    if m.endswith(("_rate", "_share")) or m in ("coverage", "ctr", "cvr"):
        return "pct"
    return "count"


def axis_units(ax, kind: str = "money", *, lang: str = "zh", axis: str = "y", symbol: str = "¥"):
    """Put :func:`tick_formatter` on ``ax``'s ``axis`` ('x', 'y' or 'both'); returns ``ax``."""
    if axis not in ("x", "y", "both"):
        raise ValueError(f"axis={axis!r}: expected one of 'x', 'y', 'both'")
    from matplotlib.ticker import NullFormatter

    for name in ("x", "y") if axis == "both" else (axis,):
        a = getattr(ax, f"{name}axis")
        a.set_major_formatter(tick_formatter(kind, lang, symbol))
        if a.get_scale() == "log":  # log minor ticks would print 2×10⁷ labels: unlabelled
            a.set_minor_formatter(NullFormatter())
    return ax
