"""What a reader sees: the rendered demo reports, and the number formats behind their charts.

The report checks read the reports the session already rendered (``conftest.rendered_report``,
shared with ``tests/test_notebooks.py``): nothing is executed twice. Charts are images, so the
axis formatter is tested directly.
"""

from __future__ import annotations

import html
import os
import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from test_notebooks import BATCH_NOTEBOOKS, LANG

from opsnb import plots, report

# ------------------------------------------------------------------ the formatter (charts)


@pytest.mark.parametrize(
    ("value", "lang", "symbol", "text"),
    [
        (12_000, "zh", "", "1.2万"),
        (3.4e8, "zh", "", "3.4亿"),
        (1.2e6, "zh", "", "120万"),
        (12_000, "en", "", "12k"),
        (1.2e6, "en", "", "1.2M"),
        (2.5e9, "en", "", "2.5B"),
        (250, "zh", "", "250"),
        (0, "en", "", "0"),
        (35_270_000, "zh", "¥", "¥3527万"),
        (-5e4, "zh", "¥", "-¥5万"),
        (float("nan"), "zh", "¥", "—"),
    ],
)
def test_compact_numbers_are_in_the_readers_units(value, lang, symbol, text):
    assert plots.format_compact(value, lang, symbol) == text


@pytest.mark.parametrize(
    ("value", "lang", "text"),
    [(37_713, "zh", "37,713"), (1_101_300, "zh", "110.13万"), (1_101_300, "en", "1.10M")],
)
def test_large_counts_in_tables_use_wan_or_millions(value, lang, text):
    assert plots.format_count(value, lang) == text


def _tick_texts(ax, axis="y"):
    ax.figure.canvas.draw()
    a = getattr(ax, f"{axis}axis")
    return [
        t.get_text() for t in a.get_ticklabels() if t.get_text()
    ], a.get_offset_text().get_text()


@pytest.mark.parametrize(
    ("lang", "pattern"), [("zh", r"^-?¥[\d.]+(万|亿)?$"), ("en", r"^-?¥[\d.]+(k|M|B)?$")]
)
def test_money_axis_ticks_read_wan_or_millions_never_1e7(lang, pattern):
    import matplotlib.pyplot as plt

    ax = plots.new_axes()
    ax.plot([0, 1, 2], [1.1e7, 2.5e7, 3.6e7])
    plots.axis_units(ax, "money", lang=lang)
    labels, offset = _tick_texts(ax)
    plt.close(ax.figure)
    assert labels and all(re.match(pattern, t) for t in labels), labels
    assert offset == ""
    assert any(("万" if lang == "zh" else "M") in t for t in labels)


def test_count_and_pct_axes():
    import matplotlib.pyplot as plt

    ax = plots.new_axes()
    ax.plot([0, 1], [0.0, 0.25])
    plots.axis_units(ax, "pct", lang="en")
    labels, _ = _tick_texts(ax)
    assert "25%" in labels and "0%" in labels
    plots.axis_units(ax, "count", lang="zh", axis="x")
    ax.set_xlim(0, 200_000)
    labels, _ = _tick_texts(ax, "x")
    plt.close(ax.figure)
    assert "20万" in labels, labels
    with pytest.raises(ValueError, match="kind"):
        plots.tick_formatter("yuan")


def test_an_axis_without_the_formatter_still_prints_no_offset_or_scientific_label():
    import matplotlib.pyplot as plt

    plots.use_theme(force=True)
    ax = plots.new_axes()
    ax.plot([0, 1], [12_000_000, 12_000_050])
    labels, offset = _tick_texts(ax)
    plt.close(ax.figure)
    assert offset == "" and not any("e" in t for t in labels), (labels, offset)


@pytest.mark.parametrize(
    ("metric", "kind"),
    [("gmv", "money"), ("aov", "money"), ("refund_rate", "pct"), ("visitors", "count")],
)
def test_metric_kind(metric, kind):
    assert plots.metric_kind(metric) == kind


# ------------------------------------------------------------------ the summary box


def _ctx(lang):
    import datetime as dt
    from pathlib import Path

    from opsnb.periods import parse_period

    return report.Context(
        lang=lang,
        period=parse_period("2025-Q4"),
        db_path=Path("/nonexistent.duckdb"),
        shop="",
        as_of=dt.date(2025, 12, 31),
        title="t",
    )


def test_summary_fills_the_slot_reserved_under_the_title(monkeypatch):
    import IPython.display

    shown, updated = [], []
    monkeypatch.setattr(report, "_display", lambda obj, **kw: shown.append((obj, kw)))
    monkeypatch.setattr(
        IPython.display, "update_display", lambda obj, **kw: updated.append((obj, kw))
    )
    ctx = _ctx("zh")
    ctx.reserve_summary()
    assert len(shown) == 1 and shown[0][0].data == ""
    slot = shown[0][1]["display_id"]
    ctx.summary(
        [ctx.item("gmv_target", 36_600_000), ctx.kpi("决策", "Decision", "<上线>", kind="good")],
        [("先做<b>这个</b>。", "Do <b>this</b> first.")],
    )
    assert len(updated) == 1 and updated[0][1] == {"display_id": slot}
    box = updated[0][0].data
    assert box.startswith(f'<div class="{report.SUMMARY_CLASS}">')
    assert "结论" in box and "GMV目标" in box and "¥3660.00万" in box and "建议行动" in box
    # values and actions come from data: escaped, never markup
    assert "&lt;上线&gt;" in box and "&lt;b&gt;这个&lt;/b&gt;" in box and "<b>" not in box


def test_summary_items_format_recorded_figures_in_the_readers_units():
    zh, en = _ctx("zh"), _ctx("en")
    assert zh.item("gmv", 38_866_200).value == "¥3886.62万"
    assert en.item("gmv", 38_866_200).value == "¥38.87M"
    assert en.item("achievement", 1.0623).value == "106.2%"
    assert zh.item("monitor_alerts", 3).value == "3"
    assert zh.item("srm_flagged", False).value == "否"
    assert en.item("ab_days_left", 2.2).value == "3 days"
    assert en.item("lift", None).value == "—"
    item = en.item("gmv_target", 1.0, note_zh="来自 targets 表", note_en="from targets")
    assert (item.label_zh, item.label_en, item.note_en) == ("GMV目标", "GMV target", "from targets")


# ------------------------------------------------------------------ the rendered reports


class _Text(HTMLParser):
    """Visible text of a report (no style/script, no footer), with the text of some elements."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.headers: list[str] = []  # <th>, <h2>, <h3> and summary-box labels
        self.blocks: list[str] = []  # paragraphs and list items: the sentences
        self._skip = 0
        self._open: list[tuple[str, list[str]]] = []
        self.footer = False

    BLOCKS = ("h1", "h2", "h3", "h4", "p", "li", "div", "td", "th", "tr", "br", "header")

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class") or ""
        if tag in self.BLOCKS:  # block boundaries separate words ('标题' then '2025-09')
            self.parts.append("\n")
        if tag in ("style", "script"):
            self._skip += 1
        if tag == "footer":
            self.footer = True
        if tag in ("th", "h2", "h3", "p", "li") or "opsnb-kpi-label" in cls:
            self._open.append((tag if tag != "div" else "label", []))
        elif tag == "div":
            self._open.append(("div", []))

    def handle_endtag(self, tag):
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag in ("style", "script"):
            self._skip -= 1
        if tag in ("th", "h2", "h3", "p", "li", "div") and self._open:
            kind, buf = self._open.pop()
            text = "".join(buf).replace("¶", "").strip()
            if kind in ("th", "h2", "h3", "label") and text:
                self.headers.append(text)
            elif kind in ("p", "li") and text:
                self.blocks.append(text)

    def handle_data(self, data):
        if self._skip or self.footer:
            return
        self.parts.append(data)
        for _, buf in self._open:
            buf.append(data)


def _read(stem, lang=None):
    from conftest import rendered_report

    r, _ = rendered_report(stem, lang or LANG[stem])
    assert r.ok, f"{stem} failed: {r.error}"
    page = open(r.html_path, encoding="utf-8").read()
    t = _Text()
    t.feed(page)
    return r, page, t


STEMS = [nb.stem for nb in BATCH_NOTEBOOKS]
# each notebook in the language of its smoke run (they alternate, so both are covered);
# OPSNB_REPORT_LANGS=zh,en checks every report in both (seven more notebook runs)
LANGS = [x.strip() for x in os.environ.get("OPSNB_REPORT_LANGS", "").split(",") if x.strip()]
REPORTS = [(s, lang) for s in STEMS for lang in (LANGS or [LANG[s]])]
ZH = [(s, lang) for s, lang in REPORTS if lang == "zh"]
# words a Chinese report may print in Latin letters: brands, methods and units everyone uses
ALLOWED_LATIN = {
    "GMV", "SKU", "SKUs", "CUPED", "ROI", "ROAS", "UV", "CAC", "AOV", "RFM", "CLV", "SRM", "MDE",
    "MAPE", "BG", "NBD", "gamma", "mSPRT", "SPRT", "SMART", "Excel", "ID", "p", "z", "R", "F",
    "M", "vs", "Holm", "BH", "Benjamini", "Hochberg", "Lan", "DeMets", "O'Brien", "Fleming",
    "Pocock", "Q1", "Q2", "Q3", "Q4", "power", "ledger", "targets", "lessons", "opsnb", "whatif",
    "ABC", "XYZ",
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("stem,lang", REPORTS)
def test_executed_notebook_has_no_stderr_or_warning_output(stem, lang):
    import nbformat

    r, _, _ = _read(stem, lang)
    nb = nbformat.read(r.ipynb_path, as_version=4)
    bad = [
        (c.source.splitlines()[0], o.get("text", "")[:200])
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if (o.get("output_type") == "stream" and o.get("name") == "stderr")
        or "Warning" in str(o.get("text", ""))
        or "Warning" in str((o.get("data") or {}).get("text/plain", ""))
    ]
    assert not bad, bad


@pytest.mark.slow
@pytest.mark.parametrize("stem,lang", REPORTS)
def test_report_opens_with_the_summary_box_and_prints_no_scientific_numbers(stem, lang):
    _, page, t = _read(stem, lang)
    body = page[page.index("<body") :]
    box = body.find(f'class="{report.SUMMARY_CLASS}"')
    assert box != -1, "no summary box"
    first_h2 = body.find("<h2")
    assert first_h2 == -1 or box < first_h2, "the summary box must come before the first section"
    # numbers such as 1e7, 2.5e+06 or 1e-05 never reach a reader
    text = "".join(t.parts)
    assert not re.findall(r"\b\d+(?:\.\d+)?e[+-]?\d+\b", text), re.findall(
        r".{30}\b\d+(?:\.\d+)?e[+-]?\d+\b.{10}", text
    )
    title = "结论" if lang == "zh" else "Summary"
    box_text = html.unescape(re.sub(r"<[^>]+>", " ", body[box : box + 6000]))
    assert title in box_text


def _params_tokens(r) -> set[str]:
    """Parameter names and the words in their values (experiment ids, metric specs …): a
    report may quote what the user typed."""
    from opsnb.run.params import notebook_parameters

    tokens = set()
    for p in notebook_parameters(r.notebook if hasattr(r, "notebook") else r.ipynb_path):
        tokens.add(p.name)
        tokens.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", str(p.default)))
    return tokens


@pytest.mark.slow
@pytest.mark.parametrize("stem,lang", ZH)
def test_chinese_report_has_no_snake_case_keys_or_english_only_labels(stem, lang):
    r, _, t = _read(stem, lang)
    allowed = _params_tokens(r)
    text = "".join(t.parts)
    snake = sorted(set(re.findall(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b", text)) - allowed)
    assert not snake, f"untranslated keys in the zh report: {snake}"
    english = []
    for h in t.headers:
        if re.search(r"[\u4e00-\u9fff]", h):
            continue
        words = re.findall(r"[A-Za-z][A-Za-z'’]+", h)
        if [w for w in words if w not in ALLOWED_LATIN and w not in allowed]:
            english.append(h)
    assert not english, f"English-only labels in the zh report: {english}"


@pytest.mark.slow
@pytest.mark.parametrize("stem,lang", ZH)
def test_chinese_sentences_use_full_width_punctuation(stem, lang):
    _, _, t = _read(stem, lang)
    cjk = r"[\u4e00-\u9fff]"
    bad = [b for b in t.blocks if re.search(rf"{cjk}[;:,(]|[;,)]{cjk}|{cjk}\s*\)|；$", b)]
    assert not bad, bad


# ------------------------------------------------------------------ one truth across reports


def _money(text: str) -> float:
    """'¥3660.00万' / '¥36.60M' / '¥1,234' as a number."""
    m = re.match(r"-?¥([\d,.]+)(万|亿|k|M)?", text)
    assert m, text
    return float(m.group(1).replace(",", "")) * {
        None: 1, "万": 1e4, "亿": 1e8, "k": 1e3, "M": 1e6
    }[m.group(2)]  # fmt: skip


@pytest.mark.slow
def test_goals_and_retrospective_name_the_same_plan_target():
    texts = {}
    for stem in ("02_goal_decomposition", "05_retrospective"):
        _, _, t = _read(stem)
        texts[stem] = "\n".join(t.blocks) + "\n" + "".join(t.parts)
    pat02 = (
        r"targets 表）中 \S+ 的目标为 (¥[\d,.]+[万亿kM]?)"
        if LANG["02_goal_decomposition"] == "zh"
        else r"target for \S+ in the targets table is (¥[\d,.]+[万亿kM]?)"
    )
    pat05 = (
        r"目标 (¥[\d,.]+[万亿kM]?)，达成率"
        if LANG["05_retrospective"] == "zh"
        else r"against a target of (¥[\d,.]+[万亿kM]?)"
    )
    m02 = re.search(pat02, texts["02_goal_decomposition"])
    m05 = re.search(pat05, texts["05_retrospective"])
    assert m02 and m05, (bool(m02), bool(m05))
    a, b = _money(m02.group(1)), _money(m05.group(1))
    assert abs(a - b) <= 0.01 * b, (m02.group(1), m05.group(1))
    where = "targets 表" if LANG["05_retrospective"] == "zh" else "targets table"
    assert where in texts["05_retrospective"]


@pytest.mark.slow
def test_ab_report_names_one_look_for_the_first_boundary_crossing():
    _, _, t = _read("04_ab_test")
    text = "\n".join(t.blocks)
    looks = set(re.findall(r"第 (\d+) 次查看（[\d-]+）首次越过", text)) | set(
        re.findall(r"first crossed at look (\d+)", text)
    )
    assert len(looks) == 1, looks


@pytest.mark.slow
def test_daily_report_never_says_no_report_is_needed_when_alerts_owe_one():
    _, _, t = _read("03_daily_monitoring")
    text = "\n".join(t.blocks)
    has_alerts = not re.search(r"今日没有异常|No anomalies today", text)
    if has_alerts:
        assert not re.search(r"无需整改报告|no report needed", text), text[-600:]


def test_a_day_with_only_medium_alerts_still_gets_its_48h_report_drafts(demo_shop):
    """Every confirmed anomaly owes a rectification report within 48 hours: a day without a
    high-severity alert must not say no report is needed (demo 2025-10-08: one medium alert,
    the 小红书 refund surge)."""
    from opsnb.monitoring.daily import monitor
    from opsnb.monitoring.show import alert_list, rectification_drafts

    metrics = ["visitors", "conversion_rate", "aov", "gmv", "refund_rate"]
    res = monitor(demo_shop.daily_metrics, as_of="2025-10-08", metrics=metrics)
    al = res.alerts[res.alerts["date"] == "2025-10-08"]
    assert len(al) and not (al["severity"] == "high").any(), al
    due = str(pd.Timestamp(al["report_due"].min()).date())
    zh = rectification_drafts(res, demo_shop.daily_metrics, "2025-10-08", lang="zh")
    en = rectification_drafts(res, demo_shop.daily_metrics, "2025-10-08", lang="en")
    assert "无需整改报告" not in zh and "no report needed" not in en
    assert zh.startswith(f"今日无高风险异常，无需 24 小时应对方案；{al['channel'].nunique()} 项")
    assert f"（{due} 前）" in zh and f"(by {due})" in en
    assert zh.count("**异常数据整改报告：") == al["channel"].nunique()
    assert f"整改报告截止：{due}" in zh and f"Report due: {due}" in en
    # the alert list shows the same deadline the drafts give
    assert due in set(alert_list(res, "2025-10-08", lang="zh")["整改报告截止"])


def test_alert_list_and_table3_name_the_person_the_incident_table_names(demo_shop):
    """One truth in 03: the alert list's and 表3's owner is the incident's owner (from ``owners``, then the
    targets table), with the acting role beside the name."""
    from opsnb.monitoring.daily import monitor
    from opsnb.monitoring.incidents import replay_incidents, resolve_owners
    from opsnb.monitoring.show import alert_list, daily_report

    res = monitor(demo_shop.daily_metrics, as_of="2025-10-08", metrics=["gmv", "refund_rate"])
    owners = resolve_owners({"data": "李工"}, demo_shop.targets)
    people = {ch: o.name for ch, o in owners.items()}
    inc = replay_incidents(res.alerts, "2025-10-01", "2025-10-08", owners=owners)
    al = alert_list(res, "2025-10-08", lang="zh", people=people)
    assert len(al)
    for ch, who in zip(al["流量来源"], al["负责人"]):
        person = inc.loc[inc["channel"] == ch, "owner"].iloc[0]
        assert person and who.startswith(f"{person}（") and who.endswith("）"), (ch, who, person)
    en = alert_list(res, "2025-10-08", lang="en", people=people)
    assert all(" (" in w for w in en["Owner"])
    t3 = daily_report(res, "2025-10-08", lang="zh", people=people)
    flagged = t3[t3["owner"] != ""]
    assert len(flagged) and all(
        w == dict(zip(al["流量来源"], al["负责人"]))[ch]
        for ch, w in zip(flagged["channel"], flagged["owner"])
    ), (flagged[["channel", "owner"]], al)
    assert list(alert_list(res, "2025-10-08", lang="zh")["负责人"]) == [
        w.split("（", 1)[1][:-1] for w in al["负责人"]
    ]


def test_log_axes_get_no_scientific_minor_labels():
    import matplotlib.pyplot as plt

    ax = plots.new_axes()
    ax.plot([1, 2], [2e6, 9e6])
    ax.set_yscale("log")
    plots.axis_units(ax, "money", lang="zh")
    ax.figure.canvas.draw()
    minor = [t.get_text() for t in ax.yaxis.get_ticklabels(minor=True) if t.get_text()]
    major = [t.get_text() for t in ax.yaxis.get_ticklabels() if t.get_text()]
    plt.close(ax.figure)
    assert minor == [] and all("10^" not in t and "e" not in t for t in major), (major, minor)
