import warnings

import matplotlib

matplotlib.use("Agg")

from opsnb import plots  # noqa: E402


def test_chinese_title_renders_without_missing_glyph_warnings(tmp_path):
    plots.use_theme(force=True)
    assert plots.cjk_font_name() is not None
    ax = plots.new_axes()
    ax.plot([1, 2, 3], [3, 1, 2], label="成交金额")
    ax.set_title("双11 成交金额趋势（流量来源：小红书、抖音）")
    ax.set_xlabel("日期")
    ax.legend()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        ax.figure.savefig(tmp_path / "cjk.png")
    assert (tmp_path / "cjk.png").stat().st_size > 1000


def test_money_and_percent_formats():
    assert plots.format_money(123456, "zh") == "¥12.35万"
    assert plots.format_money(2.5e8, "zh") == "¥2.50亿"
    assert plots.format_money(-1234, "en") == "-¥1.2k"
    assert plots.format_money(float("nan")) == "—"
    assert plots.format_pct(0.0312) == "3.1%"


def test_titles_ask_for_bold_only_when_the_cjk_font_has_a_bold_face():
    import logging

    import matplotlib as mpl
    import matplotlib.pyplot as plt

    plots.use_theme(force=True)
    font = plots.cjk_font_name()
    assert mpl.rcParams["axes.titleweight"] == ("bold" if plots.has_bold(font) else "normal")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("matplotlib.font_manager").addHandler(handler)
    try:
        ax = plots.new_axes()
        ax.set_title("成交金额 GMV", fontweight=plots.title_weight())
        ax.figure.canvas.draw()
        plt.close(ax.figure)
    finally:
        logging.getLogger("matplotlib.font_manager").removeHandler(handler)
    assert not [r for r in records if "findfont" in r.getMessage()]
