"""Render executed notebooks into code-free, self-contained HTML reports, and the index page.

Reports use nbconvert's ``basic`` template (no require.js or MathJax from a CDN), wrapped in
opsnb's own page with inline CSS: no code cells (the parameters cell is hidden too), images
embedded as data URIs so the file stands alone, the title from the notebook's parameters
(recorded by :func:`opsnb.report.setup`), and a footer with the parameters, data period,
opsnb version and run time.

Reports fit any screen without scrolling sideways (``templates/report.css``): charts scale,
text and headers wrap, and each data cell of a table carries its column's name in a
``data-label`` attribute (:func:`label_tables`), so that on a narrow screen every row becomes a
card of ``label  value`` lines. A table's class says below which width it becomes cards, from its
number of columns (:data:`STACK_CLASSES`).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import os
import re
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from opsnb import __version__, config
from opsnb.report import RECORD_MIME

__all__ = [
    "find_chromium",
    "render_html",
    "write_index",
    "atomic_write_text",
    "collect_records",
    "label_tables",
    "warm_up_renderer",
    "REMOVE_TAGS",
    "STACK_CLASSES",
]

REMOVE_TAGS = {"parameters", "injected-parameters", "hide-in-report", "remove-cell"}

STACK_CLASSES = ((12, "opsnb-cards"), (8, "opsnb-stack-md"), (4, "opsnb-stack"))
"""``(at least this many columns, class)``: when a table turns its rows into cards
(``report.css``). ``opsnb-stack``: on a phone (under 640 px); ``opsnb-stack-md``: under 1000 px
(a tablet, a narrow window); ``opsnb-cards``: always (12+ columns never fit side by side), the
cards then laid out in a grid. Tables of up to 3 columns stay tables and wrap."""


def find_chromium() -> str | None:
    """The Chromium (or Chrome) to screenshot and browser-test reports with: ``$OPSNB_CHROMIUM``,
    then the usual names on PATH; None when there is none (callers skip with a reason)."""
    import shutil
    from pathlib import Path

    for c in (
        os.environ.get("OPSNB_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if c and Path(c).is_file():
            return c
    return None


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, _shared_mode())  # mkstemp makes 0600; reports are for people to open
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _shared_mode() -> int:
    """0644 under the usual umask: readable by the team, writable by the owner."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def warm_up_renderer() -> None:
    """Build the HTML exporter and read the report CSS once, ahead of the first report (a batch
    worker calls it at start, so its first run is not charged for them); both are cached."""
    _exporter()
    _css()


@lru_cache(maxsize=1)
def _css() -> str:
    return resources.files("opsnb").joinpath("templates/report.css").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _exporter():
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    c = Config()
    c.TagRemovePreprocessor.remove_cell_tags = set(REMOVE_TAGS)
    c.TagRemovePreprocessor.enabled = True
    exp = HTMLExporter(config=c, template_name="basic")
    exp.exclude_input = True
    exp.exclude_input_prompt = True
    exp.exclude_output_prompt = True
    exp.embed_images = True
    exp.register_preprocessor(TagRemovePreprocessor(config=c), enabled=True)
    return exp


def collect_records(nb) -> dict:
    """Merge every ``ctx.record(...)`` output of an executed notebook (later wins)."""
    out: dict = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []) or []:
            data = o.get("data") or {}
            if RECORD_MIME in data:
                val = data[RECORD_MIME]
                if isinstance(val, str):
                    val = json.loads(val)
                out.update(val)
    return out


def _strip_records(nb) -> None:
    """Drop record outputs and the notebook's own '# Title' cell (the page header replaces it)."""
    nb.cells = [
        c
        for c in nb.cells
        if not (
            c.get("cell_type") == "markdown" and str(c.get("source", "")).lstrip().startswith("# ")
        )
    ]
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        cell.outputs = [
            o for o in cell.get("outputs", []) if RECORD_MIME not in (o.get("data") or {})
        ]


def _footer(params: dict, records: dict, meta: dict, lang: str) -> str:
    zh = lang == "zh"
    rows = [
        ("周期" if zh else "Period", records.get("_period", params.get("period", ""))),
        (
            "数据范围" if zh else "Data range",
            records.get("_data_range") or meta.get("data_range", ""),
        ),
        (
            "运行时间" if zh else "Run at",
            meta.get("run_at", dt.datetime.now().isoformat(timespec="seconds")),
        ),
        (
            "耗时" if zh else "Duration",
            f"{meta['duration_s']:.1f} s" if "duration_s" in meta else "",
        ),
        ("opsnb 版本" if zh else "opsnb version", __version__),
        ("笔记本" if zh else "Notebook", meta.get("notebook", "")),
        (
            "参数" if zh else "Parameters",
            ", ".join(f"{k}={v!r}" for k, v in params.items()) or ("默认" if zh else "defaults"),
        ),
    ]
    cells = "".join(
        f"<tr><td><b>{html.escape(str(k))}</b></td><td>{html.escape(str(v))}</td></tr>"
        for k, v in rows
        if v not in ("", None)
    )
    return f'<footer class="opsnb-footer"><table>{cells}</table></footer>'


def render_html(
    ipynb_path: str | Path,
    html_path: str | Path,
    *,
    title: str | None = None,
    params: dict | None = None,
    meta: dict | None = None,
) -> Path:
    """Render an executed notebook into a standalone HTML report (written atomically)."""
    import nbformat

    nb = nbformat.read(str(ipynb_path), as_version=4)
    records = collect_records(nb)
    _strip_records(nb)
    body, _ = _exporter().from_notebook_node(nb)
    lang = records.get("_lang") or (params or {}).get("lang", "zh")
    title = title or records.get("_title") or Path(ipynb_path).stem
    shop = records.get("_shop") or ""
    period = records.get("_period_label") or records.get("_period") or ""
    sub = " · ".join(x for x in (shop, period) if x)
    page = f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="opsnb {__version__}">
<title>{html.escape(title)}{(" · " + html.escape(sub)) if sub else ""}</title>
<style>{_css()}</style></head>
<body><div class="opsnb-page">
<header class="opsnb-header"><h1>{html.escape(title)}</h1><div class="sub">{html.escape(sub)}</div></header>
{label_tables(_body_only(body))}
{_footer(params or {}, records, meta or {}, lang)}
</div></body></html>
"""
    return atomic_write_text(html_path, page)


_TABLE = re.compile(r"<table\b.*?</table>", flags=re.S | re.I)


def label_tables(body: str) -> str:
    """Give every body cell of each ``<table>`` in ``body`` its column's name as ``data-label``
    (the header texts above it, ``colspan``/``rowspan`` followed) and the table the card class
    of its width (:data:`STACK_CLASSES`). Only the tables are rewritten; the rest of ``body``
    is returned as it was.

    >>> label_tables("<table><thead><tr><th>渠道</th><th>成交金额</th></tr></thead>"
    ...              "<tbody><tr><td>抖音</td><td>¥1,234</td></tr></tbody></table>")
    '<table><thead><tr><th>渠道</th><th>成交金额</th></tr></thead><tbody><tr><td data-label="渠道">抖音</td><td data-label="成交金额">¥1,234</td></tr></tbody></table>'
    """
    return _TABLE.sub(lambda m: _label_table(m.group(0)), body)


def _grid(rows) -> list[list]:
    """The cells of ``rows`` (``<tr>`` tags) placed on a grid: ``grid[r][c]`` is the cell
    covering row r, column c (a cell with ``colspan``/``rowspan`` covers several)."""
    grid: list[list] = []
    for r, tr in enumerate(rows):
        while len(grid) <= r:
            grid.append([])
        c = 0
        for cell in tr.find_all(["th", "td"], recursive=False):
            while c < len(grid[r]) and grid[r][c] is not None:
                c += 1
            span_c = _span(cell.get("colspan"))
            span_r = _span(cell.get("rowspan"))
            for dr in range(span_r):
                while len(grid) <= r + dr:
                    grid.append([])
                row = grid[r + dr]
                while len(row) < c + span_c:
                    row.append(None)
                for dc in range(span_c):
                    row[c + dc] = cell
            c += span_c
    return grid


def _span(value) -> int:
    try:
        return max(1, min(int(str(value)), 1000))
    except (TypeError, ValueError):
        return 1


def _label_table(fragment: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(fragment, "html.parser")
    table = soup.find("table")
    if table is None or table.find("table") is not None:  # nested tables: leave them alone
        return fragment
    rows = [tr for tr in table.find_all("tr") if tr.find_parent("table") is table]
    head = [tr for tr in rows if tr.parent.name == "thead"]
    if not head and rows and not rows[0].find("td", recursive=False):
        head = rows[:1]  # a table without <thead> whose first row is all <th>
    body = [tr for tr in rows if tr not in head]
    head_grid = _grid(head)
    labels: list[str] = []
    for c in range(max((len(row) for row in head_grid), default=0)):
        texts: list[str] = []
        for row in head_grid:
            cell = row[c] if c < len(row) else None
            text = re.sub(r"\s+", " ", cell.get_text(" ")).strip() if cell is not None else ""
            if text and text not in texts:
                texts.append(text)
        labels.append(" · ".join(texts))
    if not any(labels):
        return fragment
    for row in _grid(body):
        for c, cell in enumerate(row):
            if cell is None or c >= len(labels) or not labels[c] or cell.has_attr("data-label"):
                continue
            if cell.name == "td" or "row_heading" in (cell.get("class") or []):
                cell["data-label"] = labels[c]
    n_cols = len(labels)
    for at_least, cls in STACK_CLASSES:
        if n_cols >= at_least:
            table["class"] = [*(table.get("class") or []), cls]
            break
    return str(soup)


def _body_only(doc: str) -> str:
    """The inner body of nbconvert's basic output (which may or may not be a full page)."""
    low = doc.lower()
    i = low.find("<body")
    if i < 0:
        return doc
    i = low.find(">", i) + 1
    j = low.rfind("</body>")
    return doc[i : j if j > 0 else len(doc)]


# ------------------------------------------------------------------------------------- index

_NO_RUNS = '<tr><td colspan="5">No runs yet: run `make demo` or `opsnb run NOTEBOOK`.</td></tr>'

_STATUS_ZH = {"ok": "成功", "failed": "失败", "skipped": "跳过", "running": "运行中"}


_ABS_PATH = re.compile(r"^(/|~/|[A-Za-z]:[\\/]|\\\\)")
"""A value that is an absolute path (POSIX, home, Windows drive or UNC): shown by its file name."""
_PATH_IN_TEXT = re.compile(r"(?<![\w.~-])(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/]+)+[\\/]([^\s'\"\\/]+)")
"""An absolute path inside a sentence (an error message): replaced by its file name."""


def _fmt_figure(key: str, v: Any, lang: str = "zh") -> str:
    """``label value`` of one recorded figure as a reader sees it: the label in ``lang`` from
    :data:`~opsnb.i18n.RECORD_LABELS` (a humanised key when unknown), money as ¥…万 / ¥…k,
    rates as %, booleans as 是/否 / yes/no, a path as its file name only."""
    from opsnb.i18n import record_label, yes_no
    from opsnb.plots import format_money

    label, kind = record_label(key, lang)
    if isinstance(v, bool):
        text = yes_no(v, lang)
    elif kind == "path" or (isinstance(v, str) and _ABS_PATH.match(v)):
        text = Path(str(v).replace("\\", "/")).name
    elif isinstance(v, (int, float)) and kind:
        x = float(v)
        if x != x:
            text = "—"
        elif kind == "money":
            text = format_money(x, lang)
        elif kind == "pct":
            text = f"{x:.1%}"
        elif kind == "count":
            text = f"{x:,.0f}"
        elif kind == "days":
            text = f"{math.ceil(x):,} 天" if lang == "zh" else f"{math.ceil(x):,} days"
        else:
            text = f"{x:.4g}"
    elif isinstance(v, float) and v != v:
        text = "—"
    elif isinstance(v, float):
        if abs(v) < 1 and v != 0:
            text = f"{v:.1%}" if abs(v) >= 0.001 else f"{v:.4f}"
        else:
            text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"
    elif isinstance(v, int):
        text = f"{v:,}"
    else:
        text = str(v)
    return f"{html.escape(label)} <b>{html.escape(text)}</b>"


def _report_day(rec: dict) -> str:
    """The day a run record belongs to in the index: the end of its report period (a daily
    report's day, a month's last day), else the day it finished."""
    from opsnb.errors import ParameterError
    from opsnb.periods import parse_period

    res = rec.get("results") or {}
    text = str(res.get("_period") or (rec.get("params") or {}).get("period") or "")
    if text:
        try:
            return parse_period(
                text, as_of=str(rec.get("finished_at", ""))[:10] or None
            ).end.isoformat()
        except ParameterError:
            pass
    return str(rec.get("finished_at") or "")[:10] or "—"


def _run_records(out: Path) -> list[dict]:
    """Every run record under ``out``: ``<notebook>/<period>/<slug>.json`` (and the undated
    ``<notebook>/<slug>.json``); ``_rel`` is the record's folder relative to ``out``."""
    records = []
    for p in sorted([*out.glob("*/*.json"), *out.glob("*/*/*.json")]):
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(rec, dict) or "notebook" not in rec or "status" not in rec:
            continue
        rec["_rel"] = p.parent.relative_to(out).as_posix()
        rec["_day"] = _report_day(rec)
        records.append(rec)
    return records


def write_index(outputs_dir: str | Path | None = None) -> Path:
    """Write ``outputs/index.html``: every run record, grouped by report day, newest first.

    Each day (the end of the report's period) is a section listing its reports with relative
    links (``03_daily_monitoring/2025-09-27/2025-09-27-zh.html``), so the page is the history
    of every earlier report and still works when the folder is copied or served elsewhere.
    """
    out = Path(outputs_dir) if outputs_dir else config.outputs_dir()
    records = _run_records(out)
    records.sort(key=lambda r: (r["notebook"], r.get("slug", "")))
    records.sort(key=lambda r: r["_day"], reverse=True)
    rows = []
    day = None
    for r in records:
        if r["_day"] != day:
            day = r["_day"]
            n_day = sum(x["_day"] == day for x in records)
            rows.append(
                f'<tr class="opsnb-day"><th colspan="5" class="l" id="d{html.escape(day)}">'
                f"{html.escape(day)} <small>· {n_day} 份报告 reports</small></th></tr>"
            )
        st = r.get("status", "")
        res = r.get("results") or {}

        def link(key: str) -> str | None:
            name = Path(r[key]).name if r.get(key) else None
            if not (name and (out / r["_rel"] / name).exists()):
                return None
            # a relative URL of percent-encoded segments: no scheme (javascript:) can form
            return html.escape(f"{quote(r['_rel'])}/{quote(name)}")

        title = html.escape(res.get("_title") or r["notebook"])
        main = link("html_path")
        head = f'<a href="{main}">{title}</a>' if main else title
        extra = [
            f'<a href="{u}">{lab}</a>'
            for u, lab in (
                (link("ipynb_path"), "notebook"),
                (link("partial_path"), "partial notebook 失败现场"),
            )
            if u
        ]
        figs = [(k, v) for k, v in res.items() if not k.startswith("_") and v not in (None, "")]
        lang = res.get("_lang") if res.get("_lang") in ("zh", "en") else "zh"
        fig_txt = " · ".join(_fmt_figure(str(k), v, lang) for k, v in figs[:8])
        err = html.escape(_PATH_IN_TEXT.sub(r"\1", r.get("error") or "")[:200])
        rows.append(
            f'<tr><td class="l">{head}<br><small>{html.escape(r["notebook"])} · '
            f"{html.escape(r.get('slug', ''))}{' · ' + ' · '.join(extra) if extra else ''}</small></td>"
            f'<td class="l period" data-label="周期 Period">{html.escape(str(res.get("_period", "")))}</td>'
            f'<td class="l opsnb-status-{html.escape(st)}" data-label="状态 Status">{html.escape(_STATUS_ZH.get(st, st))}<br><small>{html.escape(st)}</small></td>'
            f'<td data-label="完成 Finished">{html.escape(str(r.get("finished_at", ""))[:16].replace("T", " "))}<br><small>{r.get("duration_s", 0):.1f} s</small></td>'
            f'<td class="l figs">{fig_txt}{("<br><span class=err>" + err + "</span>") if err else ""}</td></tr>'
        )
    table = (
        # on a phone each run is a card: the report's title on top, its key figures below
        '<table class="opsnb-index opsnb-stack"><thead><tr><th>报告 Report</th><th>周期 Period</th>'
        "<th>状态 Status</th><th>完成 Finished</th><th>关键指标 Key figures</th></tr></thead>"
        f"<tbody>{''.join(rows) or _NO_RUNS}</tbody></table>"
    )
    n_ok = sum(r.get("status") == "ok" for r in records)
    n_bad = sum(r.get("status") == "failed" for r in records)
    page = f"""<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>opsnb 报告索引 · Report index</title><style>{_css()}
.opsnb-page{{max-width:1280px}} td.l{{text-align:left;white-space:normal}} td.period,.opsnb-index th{{white-space:nowrap}} td.figs{{font-size:12px;color:#334e68;max-width:520px;min-width:14em}}
.err{{color:#c0392b}} tr.opsnb-day th{{background:#eef2f7;color:#102a43;font-size:15px;padding-top:10px}} td small{{color:#7b8794}} td a{{color:#2F6FB7;font-weight:600;text-decoration:none}}</style></head>
<body><div class="opsnb-page"><header class="opsnb-header"><h1>opsnb 报告索引 · Report index</h1>
<div class="sub">{len(records)} runs · {len({r["_day"] for r in records})} days · {n_ok} ok · {n_bad} failed · {dt.datetime.now().isoformat(timespec="minutes").replace("T", " ")} · opsnb {__version__}</div></header>
{table}
</div></body></html>
"""
    return atomic_write_text(out / "index.html", page)
