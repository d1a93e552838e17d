"""What a notebook calls: one context with the language, period, store and output helpers.

Examples
--------
In a notebook, right after the ``parameters`` cell::

    from opsnb import report
    ctx = report.setup(lang=lang, period=period, db_path=db_path, shop=shop, as_of=as_of,
                       title_zh="每日监控", title_en="Daily monitoring")
    daily = ctx.read("daily_metrics")
    ctx.h2("一、整体表现", "1. Overview")
    ctx.say(f"成交金额 {ctx.money(daily.gmv.sum())}", f"GMV {ctx.money(daily.gmv.sum())}")

Everything shown goes through IPython's ``display`` so the rendered HTML speaks the chosen
language. :meth:`Context.record` stores key figures in the executed notebook (MIME type
``application/vnd.opsnb.record+json``); the runner collects them for ``outputs/index.html``
and the ledger.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsnb import config, plots
from opsnb.errors import DataNotReadyError, ParameterError
from opsnb.i18n import Labels, check_lang, yes_no
from opsnb.periods import Period, is_relative, parse_date, parse_period, shop_today

__all__ = [
    "Context",
    "setup",
    "RECORD_MIME",
    "OUTPUT_DIR_ENV",
    "jsonable",
    "latest_day",
    "require_day",
    "Markup",
    "escape_text",
    "escape_html",
    "SummaryItem",
    "SUMMARY_CLASS",
]


def latest_day(db_path: str | Path, table: str = "daily_metrics") -> dt.date | None:
    """The last ``date`` of ``table`` in the store at ``db_path`` (None: no store, table or rows)."""
    path = Path(db_path)
    if not path.exists():
        return None
    from opsnb.data import store

    con = store.open_store(path, read_only=True)
    try:
        if table not in store.list_tables(con):
            return None
        row = con.execute(f"select max(date) from {store.quote_ident(table)}").fetchone()
    finally:
        con.close()
    if row is None or row[0] is None:
        return None
    d = row[0]
    return d.date() if isinstance(d, dt.datetime) else d


def require_day(db_path: str | Path, day, table: str = "daily_metrics") -> dt.date:
    """``day`` as a date when ``table`` has rows for it; else raise :class:`DataNotReadyError`
    saying so: "no daily_metrics for 2025-09-27; latest is 2025-09-26"."""
    d = parse_date(day)
    path = Path(db_path)
    latest = latest_day(path, table)
    have = False
    if latest is not None and latest >= d:
        from opsnb.data import store

        con = store.open_store(path, read_only=True)
        try:
            have = bool(
                con.execute(
                    f"select count(*) from {store.quote_ident(table)} where cast(date as date) = ?",
                    [d],
                ).fetchone()[0]
            )
        finally:
            con.close()
    if not have:
        where = f"latest is {latest.isoformat()}" if latest else f"the store {path} has none"
        raise DataNotReadyError(
            f"no {table} for {d.isoformat()}; {where} (import the day's export first: "
            "opsnb import FILE, or opsnb daily --inbox DIR)",
            table=table,
            day=d,
            latest=latest,
        )
    return d


OUTPUT_DIR_ENV = "OPSNB_RUN_DIR"
"""Environment variable through which the runner tells a kernel its output folder."""
RECORD_MIME = "application/vnd.opsnb.record+json"


def jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars, dates and NaN into JSON-safe Python values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class Markup(str):
    """Text the code wrote itself (HTML or Markdown markup kept as is by ``ctx.md/say/note``).

    Everything else handed to the context is treated as carrying data (channel names, plan
    owners, tasks...) and escaped, so a ``<script>`` in a store cell prints as text."""

    __slots__ = ()


def escape_html(value: Any) -> str:
    """``value`` as HTML text: ``& < > " '`` escaped (a :class:`Markup` stays as it is)."""
    import html

    return value if isinstance(value, Markup) else html.escape(str(value), quote=True)


_MD_LINK = str.maketrans({"[": "\\[", "]": "\\]"})


def escape_text(value: Any) -> str:
    """Make text safe for a Markdown display that nbconvert turns into HTML.

    ``&`` and ``<`` become entities (no tag, comment or autolink can open) and square brackets
    are backslash-escaped (no ``[x](javascript:...)`` link or reference can form); emphasis and
    headings written by the code still render. A :class:`Markup` is returned unchanged."""
    if isinstance(value, Markup):
        return value
    text = str(value).replace("&", "&amp;").replace("<", "&lt;")
    return text.translate(_MD_LINK)


SUMMARY_CLASS = "opsnb-summary"
"""CSS class of the 结论 / Summary box (styled in ``templates/report.css``)."""


@dataclass(frozen=True)
class SummaryItem:
    """One number of a report's 结论 / Summary box: a label in both languages, the value as the
    reader should see it (already formatted: ``ctx.money``, ``ctx.pct`` …) and an optional
    one-line note. ``kind`` is ``info``, ``good``, ``warn`` or ``alert`` (the value's colour)."""

    label_zh: str
    label_en: str
    value: str
    note_zh: str = ""
    note_en: str = ""
    kind: str = "info"


def _is_bool(v: Any) -> bool:
    import numpy as np

    return isinstance(v, (bool, np.bool_))


def _is_bool_column(col) -> bool:
    """A column of booleans: bool dtype, or objects that are all booleans apart from missing."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(col):
        return True
    if col.dtype != object:
        return False
    vals = col.dropna()
    return len(vals) > 0 and all(_is_bool(v) for v in vals)


def _display(obj: Any, **kw) -> None:
    from IPython.display import display

    display(obj, **kw)


@dataclass
class Context:
    """Per-notebook state: language, period, store connection and output helpers."""

    lang: str
    period: Period
    db_path: Path
    shop: str
    as_of: dt.date
    title: str
    currency: str = "¥"
    _con: Any = field(default=None, repr=False)
    _summary_id: str = field(default="", repr=False)
    records: dict = field(default_factory=dict, repr=False)

    @property
    def L(self) -> Labels:
        return Labels(self.lang)

    def _open(self):
        from opsnb.data import store

        if not self.db_path.exists():
            raise ParameterError(
                f"no data store at {self.db_path}: import your exports with `opsnb import "
                "FILE` (or `opsnb load TABLE FILE`); for the demo shop run `opsnb demo` and "
                f"set db_path: {config.demo_db_path()} (or OPSNB_DB)"
            )
        return store.open_store(self.db_path, read_only=True)

    @property
    def con(self):
        """Read-only DuckDB connection to the store, opened on first use.

        In a notebook it is closed again after the cell that used it (:meth:`release`, run by
        IPython's ``post_run_cell`` event), so a long report never holds the store's lock
        between cells and ``opsnb load`` can write meanwhile."""
        if self._con is None:
            self._con = self._open()
        return self._con

    def require_day(self, day, table: str = "daily_metrics") -> dt.date:
        """``day`` as a date if the store has ``table`` rows for it, else a clear
        :class:`DataNotReadyError` ("no daily_metrics for 2025-09-27; latest is 2025-09-26")."""
        return require_day(self.db_path, day, table)

    def release(self, *_args) -> None:
        """Close the store connection if one is open (the next use opens a new one)."""
        con, self._con = self._con, None
        if con is not None:
            try:
                con.close()
            except Exception:  # noqa: BLE001 - already closed
                pass

    def _read(self, table: str, **kw):
        from opsnb.data import store

        if self._con is not None:  # the cell already has a connection: reuse it
            return store.read_table(self._con, table, **kw)
        con = self._open()  # else hold the store only for this read
        try:
            return store.read_table(con, table, **kw)
        finally:
            con.close()

    def read(self, table: str, *, start=None, end=None, channels=None, columns=None):
        """Rows of ``table`` within ``start..end`` (default: the report period).

        ``channels``: a list to keep; None or an empty list (a notebook's ``channels: list = []``)
        keeps every channel. The store is opened for this read only."""
        start = self.period.start if start is None else start
        end = self.period.end if end is None else end
        return self._read(table, start=start, end=end, channels=channels or None, columns=columns)

    def read_all(self, table: str, *, channels=None, columns=None):
        """Every row of ``table`` (for history-based baselines); ``channels`` as in :meth:`read`."""
        return self._read(table, channels=channels or None, columns=columns)

    # ------------------------------------------------------------------ text
    def md(self, zh: str, en: str | None = None) -> None:
        """Display Markdown; HTML and link syntax in it is escaped (see :func:`escape_text`)
        unless the text is a :class:`Markup` (``ctx.trusted(...)``)."""
        from IPython.display import Markdown

        _display(Markdown(escape_text(self.L(zh, en if en is not None else zh))))

    @staticmethod
    def trusted(markup: str) -> Markup:
        """Mark markup written by the code (never data) to be displayed as it is."""
        return Markup(markup)

    def h2(self, zh: str, en: str) -> None:
        self.md(f"## {zh}", f"## {en}")

    def h3(self, zh: str, en: str) -> None:
        self.md(f"### {zh}", f"### {en}")

    def say(self, zh: str, en: str) -> None:
        self.md(zh, en)

    def note(self, zh: str, en: str, kind: str = "info") -> None:
        """A highlighted box: kind is info, warn or alert.

        The text is HTML-escaped unless it is a :class:`Markup` (``ctx.trusted(...)``)."""
        from IPython.display import HTML

        colors = {"info": "#2F6FB7", "warn": "#F3A712", "alert": "#E4572E"}
        c = colors.get(kind, colors["info"])
        _display(
            HTML(
                f'<div class="opsnb-note opsnb-{kind}" style="border-left:4px solid {c};'
                f'padding:8px 12px;margin:8px 0;background:#f7f9fc">{escape_html(self.L(zh, en))}</div>'
            )
        )

    def summary(
        self,
        items: Iterable[SummaryItem],
        actions: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Fill the report's 结论 / Summary box: the few numbers that matter and what to do.

        :func:`setup` reserves the box right under the title (an empty display with an id), so a
        notebook can compute and show its sections first and call this last, from the same
        result objects the sections showed: the box then replaces the empty display at the top
        of the report. Outside a kernel (or before ``setup``) the box is displayed where called.
        ``actions`` are ``(zh, en)`` sentences, each a thing to do.
        """
        from IPython.display import HTML

        box = HTML(self.summary_html(items, actions))
        if self._summary_id:
            from IPython.display import update_display

            update_display(box, display_id=self._summary_id)
        else:
            _display(box)

    def summary_html(
        self, items: Iterable[SummaryItem], actions: Iterable[tuple[str, str]] = ()
    ) -> str:
        """The HTML of the 结论 / Summary box (see :meth:`summary`); text is escaped."""
        L = self.L
        cells = []
        for it in items:
            note = L(it.note_zh, it.note_en) if (it.note_zh or it.note_en) else ""
            cells.append(
                f'<div class="opsnb-kpi opsnb-kpi-{escape_html(it.kind)}">'
                f'<div class="opsnb-kpi-value">{escape_html(it.value)}</div>'
                f'<div class="opsnb-kpi-label">{escape_html(L(it.label_zh, it.label_en))}</div>'
                + (f'<div class="opsnb-kpi-note">{escape_html(note)}</div>' if note else "")
                + "</div>"
            )
        todo = "".join(f"<li>{escape_html(L(zh, en))}</li>" for zh, en in actions)
        return (
            f'<div class="{SUMMARY_CLASS}"><div class="opsnb-summary-title">'
            f"{escape_html(L('结论', 'Summary'))}</div>"
            f'<div class="opsnb-kpis">{"".join(cells)}</div>'
            + (
                f'<div class="opsnb-summary-todo">{escape_html(L("建议行动", "What to do"))}</div>'
                f'<ul class="opsnb-actions">{todo}</ul>'
                if todo
                else ""
            )
            + "</div>"
        )

    def reserve_summary(self) -> None:
        """Display the empty slot that :meth:`summary` fills later (done by :func:`setup`)."""
        import uuid

        from IPython.display import HTML

        self._summary_id = f"opsnb-summary-{uuid.uuid4().hex}"
        _display(HTML(""), display_id=self._summary_id)

    def money(self, x: float) -> str:
        return plots.format_money(float(x), self.lang, self.currency)

    def pct(self, x: float, digits: int = 1) -> str:
        return plots.format_pct(float(x), digits)

    def count(self, x: float) -> str:
        """A count in the reader's units: 37,713 as is; from 10万 (zh) or 1M (en) up
        '12.35万' / '1.23M' (:func:`opsnb.plots.format_count`)."""
        return plots.format_count(float(x), self.lang)

    def item(
        self, key: str, value: Any, *, note_zh: str = "", note_en: str = "", kind: str = "info"
    ) -> SummaryItem:
        """A :class:`SummaryItem` for a recorded key figure: the label and unit of ``key`` from
        :data:`opsnb.i18n.RECORD_LABELS`, the value formatted in the reader's units (so the box
        says what ``ctx.record(key=value)`` stores for the index and the ledger)."""
        from opsnb.i18n import RECORD_LABELS, record_label

        entry = RECORD_LABELS.get(key)
        if entry is None:
            label, unit = record_label(key, "en")
            zh = en = label
        else:
            zh, en, unit = entry
        return SummaryItem(
            zh, en, self.figure(value, unit), note_zh=note_zh, note_en=note_en, kind=kind
        )

    def kpi(
        self,
        label_zh: str,
        label_en: str,
        value: str,
        *,
        note_zh: str = "",
        note_en: str = "",
        kind: str = "info",
    ) -> SummaryItem:
        """A :class:`SummaryItem` with its own label; ``value`` already formatted
        (``ctx.money``, ``ctx.pct``, ``ctx.count``). For recorded figures use :meth:`item`."""
        return SummaryItem(label_zh, label_en, value, note_zh=note_zh, note_en=note_en, kind=kind)

    def figure(self, value: Any, unit: str = "") -> str:
        """``value`` as text in the reader's units; ``unit`` is one of the
        :data:`~opsnb.i18n.RECORD_LABELS` kinds (money, pct, count, num, days, bool, text)."""
        if value is None or (isinstance(value, float) and value != value):
            return "—"
        if _is_bool(value) or unit == "bool":
            return yes_no(bool(value), self.lang)
        if unit == "money":
            return self.money(value)
        if unit == "pct":
            return self.pct(value)
        if unit == "count":
            return self.count(value)
        if unit == "days":
            n = math.ceil(float(value))
            return self.L(f"{n:,} 天", f"{n:,} days")
        if unit == "num" and isinstance(value, (int, float)):
            return f"{float(value):.3g}"
        return str(value)

    # ------------------------------------------------------------------ tables and figures
    def table(
        self,
        df,
        *,
        money: Iterable[str] = (),
        pct: Iterable[str] = (),
        int_cols: Iterable[str] = (),
        caption: tuple[str, str] | None = None,
        highlight: dict | None = None,
        max_rows: int = 200,
        translate: bool = True,
    ) -> None:
        """Display ``df`` as a styled table; canonical column names are translated.

        ``highlight`` maps a column to ``{value: css-colour}`` for cell backgrounds.
        Displays the table and returns None (so a trailing call does not show it twice).
        """
        import pandas as pd

        df = df.head(max_rows).copy()
        if "error_code" in df.columns:  # codes are for programs; the reader gets words
            from opsnb.i18n import error_label

            df["error_code"] = df["error_code"].map(lambda v: error_label(v, self.lang))
        fmt: dict[str, Any] = {}
        for c in money:
            fmt[c] = lambda v: "—" if pd.isna(v) else self.money(v)
        for c in pct:
            fmt[c] = lambda v: "—" if pd.isna(v) else self.pct(v)
        for c in int_cols:
            fmt[c] = lambda v: "—" if pd.isna(v) else self.count(int(round(v)))
        for c in df.columns:
            if c not in fmt and _is_bool_column(df[c]):
                # never Python's True/False in a report: 是/否, yes/no
                fmt[c] = lambda v: (
                    "—" if pd.isna(v) else yes_no(bool(v), self.lang) if _is_bool(v) else v
                )
            if c not in fmt and pd.api.types.is_float_dtype(df[c]):
                fmt[c] = lambda v: "—" if pd.isna(v) else f"{v:,.2f}"
            if pd.api.types.is_datetime64_any_dtype(df[c]):
                df[c] = df[c].dt.strftime("%Y-%m-%d")
        names = {c: (self.L.col(c) if translate else c) for c in df.columns}
        df = df.rename(columns=names)
        fmt = {names[k]: v for k, v in fmt.items() if k in names}
        # cells and headers come from data: escaped, so a '<script>' cell prints as text
        sty = (
            df.style.format(fmt, na_rep="—", escape="html")
            .format_index(escape="html", axis=1)
            .hide(axis="index")
        )
        text_cols = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
        if text_cols:
            sty = sty.set_properties(subset=text_cols, **{"text-align": "left"})
            # long sentences (notes, suggested fixes) wrap; short labels and dates stay on one line
            long_cols = [c for c in text_cols if df[c].astype(str).str.len().max() > 24]
            if long_cols:
                sty = sty.set_properties(
                    subset=long_cols, **{"white-space": "normal", "min-width": "14em"}
                )
        sty = sty.set_table_attributes('class="opsnb-table"')
        if highlight:
            for col, cmap in highlight.items():
                if names.get(col, col) in df.columns:
                    sty = sty.map(
                        lambda v, cmap=cmap: f"background-color:{cmap[v]}" if v in cmap else "",
                        subset=[names.get(col, col)],
                    )
        if caption:
            sty = sty.set_caption(escape_html(self.L(*caption)))
        _display(sty)

    def show(self, obj) -> None:
        """Display a matplotlib Figure or Axes as a PNG and close it.

        The PNG is rendered here rather than by the inline backend, so charts reach the report
        whatever ``MPLBACKEND`` the kernel was started with (cron jobs often set Agg).
        """
        import io

        import matplotlib.pyplot as plt
        from IPython.display import Image

        fig = obj if hasattr(obj, "savefig") else obj.get_figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        _display(Image(data=buf.getvalue(), format="png"))

    # ------------------------------------------------------------------ key figures
    @property
    def output_dir(self) -> Path:
        """The folder this report writes its side files (Excel, CSV) into, created on first use.

        Under ``opsnb run``/``batch`` it is the run's own output folder, next to the HTML report
        (``--output-dir`` flows down through :data:`OUTPUT_DIR_ENV`); in JupyterLab it is
        ``<outputs>/interactive``.
        """
        folder = os.environ.get(OUTPUT_DIR_ENV)
        out = Path(folder) if folder else config.outputs_dir() / "interactive"
        out.mkdir(parents=True, exist_ok=True)
        return out

    def output_path(self, name: str) -> Path:
        """``output_dir / name``: where a side file called ``name`` goes."""
        return self.output_dir / name

    def record(self, **values: Any) -> None:
        """Record key figures (numbers, short strings) for the index page and the ledger."""
        clean = jsonable(values)
        self.records.update(clean)
        _display({RECORD_MIME: clean}, raw=True)


def _resolve_as_of(as_of: str, db_path: Path, today: dt.date) -> dt.date:
    if not as_of:
        return today
    if as_of == "latest":
        from opsnb.data import store

        if not db_path.exists():
            raise ParameterError(f"as_of='latest' needs a data store, none at {db_path}")
        con = store.open_store(db_path, read_only=True)
        try:
            row = con.execute("select max(date) from daily_metrics").fetchone()
        finally:
            con.close()
        if row is None or row[0] is None:
            raise ParameterError("as_of='latest': the store's daily_metrics table is empty")
        d = row[0]
        return d.date() if isinstance(d, dt.datetime) else d
    return parse_date(as_of)


def setup(
    *,
    lang: str = "zh",
    period: str = "last-30-days",
    db_path: str = "",
    shop: str = "",
    as_of: str = "",
    title_zh: str = "运营报告",
    title_en: str = "Operations report",
    currency: str = "¥",
    timezone: str = "",
    **_ignored: Any,
) -> Context:
    """Start a report: theme, language, period, store. Call once, right after the parameters.

    Relative periods (``yesterday``, ``last-7-days``, ``mtd`` …) resolve from ``as_of`` when it
    is a date, else from today in the shop's time zone (:func:`opsnb.periods.shop_today`:
    ``$OPSNB_TODAY``, which ``--today`` sets, or the clock in ``timezone``), never from the
    store's last date: with data up to 09-27, ``yesterday`` read on 09-28 is 09-27.

    Also records ``_title``, ``_period``, ``_lang`` and ``_shop`` for the HTML title and footer.
    """
    check_lang(lang)
    plots.use_theme()
    import matplotlib as mpl

    # labels come from data (channel names, SKUs): a '$' must print, not start mathtext
    mpl.rcParams["text.parse_math"] = False
    path = Path(db_path).expanduser() if db_path else config.default_db_path()
    if not path.is_absolute():
        path = (config.project_root() / path).resolve()
    today = shop_today(tz=timezone or None)
    as_of_date = _resolve_as_of(as_of, path, today)
    explicit = bool(as_of) and as_of != "latest"
    per = parse_period(period, as_of=as_of_date if explicit or not is_relative(period) else today)
    title = title_zh if lang == "zh" else title_en
    ctx = Context(
        lang=lang,
        period=per,
        db_path=path,
        shop=shop,
        as_of=as_of_date,
        title=title,
        currency=currency or "¥",
    )
    _release_after_each_cell(ctx)
    ctx.reserve_summary()
    ctx.record(
        _title=title,
        _period=str(per),
        _period_label=per.label,
        _lang=lang,
        _shop=shop,
        _data_range=_data_range(path),
    )
    return ctx


def _release_after_each_cell(ctx: Context) -> None:
    """In a kernel, close ``ctx``'s store connection after every cell (short store locks)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    for cb in list(shell.events.callbacks.get("post_run_cell", [])):
        if getattr(cb, "__name__", "") == "release" and isinstance(
            getattr(cb, "__self__", None), Context
        ):
            shell.events.unregister("post_run_cell", cb)  # a second setup() replaces the first
    shell.events.register("post_run_cell", ctx.release)


def _data_range(path: Path) -> str:
    """First..last day of daily_metrics in the store ('' when there is none yet)."""
    if not path.exists():
        return ""
    try:
        from opsnb.data import store

        con = store.open_store(path, read_only=True)
        try:
            first, last = con.execute("select min(date), max(date) from daily_metrics").fetchone()
        finally:
            con.close()
    except Exception:  # no daily_metrics table: nothing to show, not an error
        return ""
    if first is None:
        return ""
    f = first.date() if isinstance(first, dt.datetime) else first
    la = last.date() if isinstance(last, dt.datetime) else last
    return f"{f.isoformat()}..{la.isoformat()}"
