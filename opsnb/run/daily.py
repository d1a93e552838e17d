"""``opsnb daily``: the morning loop for cron — import, validate, monitor, render, track, push.

One call of :func:`run_daily` reports *yesterday in the shop's time zone*
(:func:`opsnb.periods.shop_today` − 1 day, or ``today=`` for reruns and replays):

1. **import** every export waiting in ``inbox`` (CSV/XLS/XLSX, as downloaded) with the
   ``opsnb import`` machinery (:func:`opsnb.data.imports.import_files`: recognised, validated,
   upserted); each imported file moves to ``inbox/imported/<today>/``, a file that fails stays
   where it is and its error is reported;
2. **check** that the day is in the store (``no daily_metrics for 2025-09-27; latest is
   2025-09-26``), or wait for it (``wait`` seconds, re-importing the inbox every
   ``retry_every`` seconds);
3. **monitor** the day (:func:`opsnb.monitoring.daily.monitor`) and **update the incidents**
   in the store (:func:`opsnb.monitoring.incidents.update_incidents`);
4. **render** notebook 03 into ``outputs/03_daily_monitoring/<day>/`` and the index;
5. **push** the summary to the chat robots (:mod:`opsnb.run.push`) and mail the report with the
   表3 Excel attached (``email``: recipients from the params file's ``recipients`` or
   ``$OPSNB_DAILY_TO``), each at most once per day and robot;
6. **render** notebook 06 (商品与库存: stock-out risks, 补货建议表) into
   ``outputs/06_inventory/<period>/`` with ``as_of`` = the reported day and ``period`` = the
   :data:`INVENTORY_DAYS` days ending on it, when the store has ``skus`` and ``inventory`` rows;
   otherwise it is skipped and the run says why (``inventory_skipped``). It runs after the
   push, so a slow forecast never delays the morning's alerts. A params file's ``notebooks:``
   list restricts which of :data:`DAILY_NOTEBOOKS` run (``params/daily.yaml`` lists both).

The exit status says what failed, as a sum of flags: 0 all well; 1 bad parameters; 2 an inbox
file was not imported; 4 the day's data are not in the store; 8 monitoring or a report
failed (notebook 03 or 06); 16 a push or mail failed. A crontab line (06:30 Beijing time)::

    30 6 * * *  cd /srv/opsnb && OPSNB_TZ=Asia/Shanghai .venv/bin/opsnb daily --inbox /srv/inbox --push dingtalk,email
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from opsnb import config
from opsnb.errors import OpsnbError, ParameterError

__all__ = [
    "DAILY_NOTEBOOK",
    "INVENTORY_NOTEBOOK",
    "DAILY_NOTEBOOKS",
    "INVENTORY_DAYS",
    "inventory_ready",
    "EXIT_IMPORT",
    "EXIT_DATA_MISSING",
    "EXIT_REPORT",
    "EXIT_PUSH",
    "CHANNELS",
    "DailyRun",
    "import_inbox",
    "daily_message",
    "run_daily",
]

DAILY_NOTEBOOK = "03_daily_monitoring"
INVENTORY_NOTEBOOK = "06_inventory"
DAILY_NOTEBOOKS = (DAILY_NOTEBOOK, INVENTORY_NOTEBOOK)
"""The notebooks of the morning run, in order (06 only when the store has stock data)."""
INVENTORY_DAYS = 28
"""Days ending on the reported day that notebook 06's classes, sell rate and turnover cover."""
EXIT_IMPORT, EXIT_DATA_MISSING, EXIT_REPORT, EXIT_PUSH = 2, 4, 8, 16
CHANNELS = ("dingtalk", "wecom", "feishu", "email")
"""Where ``--push`` can send: the three chat robots and email."""
_EXPORT_SUFFIXES = (".csv", ".txt", ".xls", ".xlsx")


@dataclass
class DailyRun:
    """What one morning's run did, step by step; ``exit_code`` sums the failure flags."""

    today: str
    day: str
    imported: list[str] = field(default_factory=list)
    import_errors: list[str] = field(default_factory=list)
    data_error: str = ""
    report_error: str = ""
    html_path: str = ""
    excel_path: str = ""
    summary: dict = field(default_factory=dict)
    incidents: dict = field(default_factory=dict)
    pushes: list = field(default_factory=list)
    push_errors: list[str] = field(default_factory=list)
    inventory_html_path: str = ""
    inventory_error: str = ""
    inventory_skipped: str = ""

    @property
    def exit_code(self) -> int:
        code = EXIT_IMPORT if self.import_errors else 0
        code |= EXIT_DATA_MISSING if self.data_error else 0
        code |= EXIT_REPORT if self.report_error or self.inventory_error else 0
        return code | (EXIT_PUSH if self.push_errors else 0)

    def lines(self) -> list[str]:
        """A short text account for the terminal and the cron mail."""
        out = [f"opsnb daily: today {self.today}, reporting {self.day}"]
        out += [f"  imported {f}" for f in self.imported]
        out += [f"  IMPORT FAILED {e}" for e in self.import_errors]
        if self.data_error:
            out.append(f"  DATA MISSING {self.data_error}")
        if self.summary:
            s = self.summary
            out.append(
                f"  monitored: {s['alerts']} alerts ({s['high']} high), GMV at risk "
                f"{s['gmv_at_risk']:,.0f} (shop gap)"
            )
        if self.incidents:
            i = self.incidents
            out.append(
                f"  incidents: {i['open']} open ({i['new']} new, {i['overdue']} overdue), "
                f"{i['resolved_today']} resolved today"
            )
        if self.report_error:
            out.append(f"  REPORT FAILED {self.report_error}")
        elif self.html_path:
            out.append(f"  report {self.html_path}")
        for p in self.pushes:
            out.append(f"  {p.platform} {p.status}")
        out += [f"  PUSH FAILED {e}" for e in self.push_errors]
        if self.inventory_error:
            out.append(f"  INVENTORY REPORT FAILED {self.inventory_error}")
        elif self.inventory_html_path:
            out.append(f"  inventory report {self.inventory_html_path}")
        elif self.inventory_skipped:
            out.append(f"  inventory report skipped: {self.inventory_skipped}")
        out.append(f"  exit {self.exit_code}")
        return out


def import_inbox(inbox: str | Path, *, db: str | Path, today: dt.date, map_file=None) -> tuple:
    """Import every export file directly in ``inbox``, one by one; move each imported file to
    ``inbox/imported/<today>/``. Returns ``(imported names, error messages)``."""
    from opsnb.data.imports import import_files

    folder = Path(inbox)
    if not folder.is_dir():
        raise ParameterError(f"inbox folder not found: {folder}")
    done, errors = [], []
    for f in sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _EXPORT_SUFFIXES
    ):
        try:
            import_files([f], db=db, map_file=map_file)
        except (OpsnbError, ValueError, OSError) as exc:
            errors.append(f"{f.name}: {exc}".splitlines()[0][:400])
            continue
        dest = folder / "imported" / today.isoformat()
        dest.mkdir(parents=True, exist_ok=True)
        shutil.move(str(f), str(dest / f.name))
        done.append(f.name)
    return done, errors


def inventory_ready(db: str | Path, day) -> str:
    """Why notebook 06 cannot run on ``db`` for ``day``, or ``""`` when it can: it needs
    ``product_daily``, ``skus`` and ``inventory`` tables with rows (stock on or before the day)."""
    from opsnb.data.store import list_tables, open_store

    path = Path(db)
    if not path.exists():
        return f"no store at {path}"
    con = open_store(path, read_only=True)
    try:
        have = set(list_tables(con))
        missing = [t for t in ("product_daily", "skus", "inventory") if t not in have]
        if missing:
            return (
                f"the store has no {', '.join(missing)} table(s) (load the SKU master and stock "
                "with `opsnb load` or `opsnb import`)"
            )
        n_skus = con.execute("select count(*) from skus").fetchone()[0]
        n_inv = con.execute(
            "select count(*) from inventory where cast(date as date) <= ?", [day]
        ).fetchone()[0]
    finally:
        con.close()
    if not n_skus:
        return "the skus table is empty"
    if not n_inv:
        return f"the inventory table has no stock on or before {day}"
    return ""


def _fmt_money(x: float, lang: str) -> str:
    from opsnb.plots import format_money

    return format_money(float(x), lang)


def daily_message(
    summary, incidents, *, day: str, shop: str = "", link: str = "", lang: str = "zh"
):
    """The chat summary of a day (:class:`opsnb.run.push.PushMessage`): date, alerts, GMV at
    risk, incidents open or due with their owner to @, the report's link."""
    from opsnb.run.push import Mention, PushMessage

    zh = lang == "zh"
    title = f"{'每日监控' if zh else 'Daily monitoring'} {day}{' · ' + shop if shop else ''}"
    lines = [
        (
            f"**异常 {summary.alerts} 项**（高风险 {summary.high} 项），影响金额 "
            f"**{_fmt_money(summary.gmv_at_risk, lang)}**（全店成交与预期之差；异常渠道缺口合计 "
            f"{_fmt_money(summary.gmv_at_risk_channels, lang)}，每个渠道日只计一次）"
            if zh
            else f"**{summary.alerts} alerts** ({summary.high} high), GMV at risk "
            f"**{_fmt_money(summary.gmv_at_risk, lang)}** (the shop's gap to expected; flagged "
            f"channels {_fmt_money(summary.gmv_at_risk_channels, lang)}, each channel-day once)"
        )
    ]
    open_ = incidents[incidents["status"].isin(("new", "ongoing"))].sort_values("opened_on")
    resolved = incidents[
        (incidents["status"] == "resolved") & (incidents["resolved_on"].astype(str).str[:10] == day)
    ]
    lines.append(
        f"未关闭事件 {len(open_)} 个，今日恢复 {len(resolved)} 个："
        if zh
        else f"{len(open_)} open incidents, {len(resolved)} resolved today:"
    )
    fam = {"sales": ("成交", "sales"), "refund": ("退款", "refunds"), "data": ("埋点", "tracking")}
    st = {"new": ("新发", "new"), "ongoing": ("持续", "ongoing")}
    items = []
    for r in open_.itertuples(index=False):
        due = str(r.report_due)[:10]
        over = bool(r.response_overdue or r.report_overdue)
        text = (
            f"{'🔴' if r.severity == 'high' else '🟠'} {r.incident_id} {r.channel}"
            f"{fam.get(r.family, (r.family,) * 2)[0 if zh else 1]} "
            + (
                f"{st[r.status][0]}第{r.age_days}天，{_fmt_money(r.gmv_at_risk, lang)}，整改报告 {due} 截止"
                if zh
                else f"{st[r.status][1]}, day {r.age_days}, {_fmt_money(r.gmv_at_risk, lang)}, report due {due}"
            )
            + (("，**已逾期**" if zh else ", **overdue**") if over else "")
        )
        who = Mention(str(r.owner or ""), str(r.owner_mobile or ""), str(r.owner_user_id or ""))
        items.append((text, who if who.name or who.mobile or who.user_id else None))
    label = "查看完整报告" if zh else "Open the report"
    return PushMessage(title, tuple(lines), tuple(items), (label, link) if link else None)


def _report_link(html_path: str, output_dir: Path) -> str:
    base = os.environ.get("OPSNB_REPORT_URL", "").strip()
    try:
        rel = Path(html_path).resolve().relative_to(output_dir.resolve()).as_posix()
    except ValueError:
        rel = Path(html_path).name
    return f"{base.rstrip('/')}/{rel}" if base else rel


def _recipients(data: dict) -> list[str]:
    from opsnb.run.smtp import parse_recipients

    rec = data.get("recipients")
    if isinstance(rec, dict):
        rec = rec.get("to")
    if not rec and os.environ.get("OPSNB_DAILY_TO"):
        rec = os.environ["OPSNB_DAILY_TO"]
    return parse_recipients(rec) if rec else []


def run_daily(
    *,
    today=None,
    inbox: str | Path | None = None,
    push: Sequence[str] = (),
    params_file: str | Path | None = None,
    overrides: dict | None = None,
    db: str | Path | None = None,
    output_dir: str | Path | None = None,
    map_file: str | Path | None = None,
    render: bool = True,
    report: bool = True,
    wait: float = 0.0,
    retry_every: float = 300.0,
    force_push: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> DailyRun:
    """One morning's run (see the module docstring); never raises for a failing step — the
    returned :class:`DailyRun` says what failed (bad parameters raise :class:`ParameterError`)."""
    from opsnb.errors import DataNotReadyError
    from opsnb.periods import shop_today
    from opsnb.report import require_day
    from opsnb.run.params import find_notebook, load_params

    bad = [p for p in push if p not in CHANNELS]
    if bad:
        raise ParameterError(f"unknown --push target(s) {bad}; allowed: {', '.join(CHANNELS)}")
    nb = find_notebook(DAILY_NOTEBOOK)
    values = load_params(nb, params_file, dict(overrides or {}))
    defaults = {
        "lang": "zh",
        "shop": "",
        "sensitivity": "medium",
        "owners": {},
        "quiet_days": 2,
        "country": "CN",
        "events": [],
        "promotions": True,
    }
    full = {**defaults, **values}
    tz = str(full.get("timezone") or "") or None
    now_day = shop_today(today, tz=tz)
    day = now_day - dt.timedelta(days=1)
    store = Path(db or full.get("db_path") or config.default_db_path()).expanduser().resolve()
    out_root = Path(output_dir).resolve() if output_dir else config.outputs_dir()
    run = DailyRun(today=now_day.isoformat(), day=day.isoformat())
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        if inbox is not None:
            done, errors = import_inbox(inbox, db=store, today=now_day, map_file=map_file)
            run.imported += done
            run.import_errors = errors
        try:
            require_day(store, day)
            run.data_error = ""
            break
        except DataNotReadyError as exc:
            run.data_error = str(exc).split(" (import")[0]
        if time.monotonic() + retry_every > deadline:
            return run
        sleep(retry_every)
    _monitor_and_track(run, store, day, full)
    if run.report_error:
        return run
    if report:
        _render(run, nb, values, store, day, now_day, out_root, render)
        if run.report_error:
            return run
    _push(run, push, full, params_file, out_root, force_push)
    if report:
        _render_inventory(run, params_file, overrides, store, day, now_day, out_root, render)
    else:
        run.inventory_skipped = "no reports in this run (--no-report)"
    return run


def _monitor_and_track(run: DailyRun, store: Path, day: dt.date, full: dict) -> None:
    import pandas as pd

    from opsnb.data.store import list_tables, open_store, read_table
    from opsnb.monitoring.daily import monitor
    from opsnb.monitoring.findings import day_summary
    from opsnb.monitoring.incidents import open_incidents, resolve_owners, update_incidents

    try:
        con = open_store(store, read_only=True)
        try:
            daily = read_table(con, "daily_metrics", channels=full.get("channels") or None)
            targets = read_table(con, "targets") if "targets" in list_tables(con) else None
        finally:
            con.close()
        res = monitor(
            daily,
            as_of=day,
            metrics=full.get("metrics") or None,
            sensitivity=full["sensitivity"],
            country=full["country"],
            events=full["events"] or None,
            promotions=full["promotions"],
        )
        owners = resolve_owners(full.get("owners") or {}, targets)
        inc = update_incidents(store, res, day, owners=owners, quiet_days=int(full["quiet_days"]))
    except Exception as exc:  # noqa: BLE001 - the run reports it and exits with the flag
        run.report_error = f"monitoring: {type(exc).__name__}: {exc}"
        return
    s = day_summary(res, day)
    run.summary = s.to_dict()
    op = open_incidents(inc)
    run.incidents = {
        "open": int(len(op)),
        "new": int((op["status"] == "new").sum()),
        "overdue": int((op["response_overdue"] | op["report_overdue"]).sum()),
        "resolved_today": int(
            ((inc["status"] == "resolved") & (inc["resolved_on"] == pd.Timestamp(day))).sum()
        ),
        "frame": inc,
        "summary": s,
    }


def _render(run, nb, values, store, day, now_day, out_root, render) -> None:
    from opsnb.run.render import write_index
    from opsnb.run.runner import run_notebook

    params = {**values, "period": day.isoformat(), "db_path": str(store), "as_of": day.isoformat()}
    try:
        r = run_notebook(nb, params, output_dir=out_root, render=render, today=now_day)
    except Exception as exc:  # noqa: BLE001 - parameters or I/O
        run.report_error = f"{type(exc).__name__}: {exc}"
        return
    write_index(out_root)
    if not r.ok:
        run.report_error = f"{r.error} (partial notebook: {r.partial_path})"
        return
    run.html_path = r.html_path or r.ipynb_path or ""
    xlsx = sorted(Path(r.results_path).parent.glob("*.xlsx"))
    run.excel_path = str(xlsx[0]) if xlsx else ""


def _render_inventory(run, params_file, overrides, store, day, now_day, out_root, render) -> None:
    """Notebook 06 for the reported day, or the reason it is skipped (module docstring)."""
    from opsnb.run.params import (
        find_notebook,
        load_params,
        notebook_parameters,
        notebooks_for_file,
        read_yaml,
    )
    from opsnb.run.render import write_index
    from opsnb.run.runner import run_notebook

    listed = notebooks_for_file(read_yaml(params_file)) if params_file else None
    if listed is not None and INVENTORY_NOTEBOOK not in listed:
        run.inventory_skipped = f"{INVENTORY_NOTEBOOK} is not in the params file's notebooks list"
        return
    try:
        why = inventory_ready(store, day)
    except Exception as exc:  # noqa: BLE001 - a broken store: report it, keep the run's result
        run.inventory_error = f"{type(exc).__name__}: {exc}"
        return
    if why:
        run.inventory_skipped = why
        return
    nb = find_notebook(INVENTORY_NOTEBOOK)
    start = day - dt.timedelta(days=INVENTORY_DAYS - 1)
    try:
        declared = {p.name for p in notebook_parameters(nb)} - {"period", "as_of", "db_path"}
        keep = {k: v for k, v in (overrides or {}).items() if k in declared}
        values = load_params(nb, params_file, keep)
        params = {
            **values,
            "period": f"{start.isoformat()}..{day.isoformat()}",
            "db_path": str(store),
            "as_of": day.isoformat(),
        }
        r = run_notebook(nb, params, output_dir=out_root, render=render, today=now_day)
    except Exception as exc:  # noqa: BLE001 - parameters or I/O
        run.inventory_error = f"{type(exc).__name__}: {exc}"
        return
    write_index(out_root)
    if not r.ok:
        run.inventory_error = f"{r.error} (partial notebook: {r.partial_path})"
        return
    run.inventory_html_path = r.html_path or r.ipynb_path or ""


def _push(run, push, full, params_file, out_root, force) -> None:
    from opsnb.errors import DeliveryError
    from opsnb.run.push import push_message

    if not push or not run.incidents:
        return
    link = _report_link(run.html_path, out_root) if run.html_path else ""
    msg = daily_message(
        run.incidents["summary"],
        run.incidents["frame"],
        day=run.day,
        shop=str(full.get("shop") or ""),
        link=link,
        lang=str(full.get("lang") or "zh"),
    )
    key = f"{DAILY_NOTEBOOK}/{run.day}"
    for target in push:
        try:
            if target == "email":
                run.pushes.append(_email(run, params_file, force))
            else:
                run.pushes.append(push_message(target, msg, report_key=key, force=force))
        except (DeliveryError, OpsnbError, OSError) as exc:
            run.push_errors.append(f"{target}: {exc}")


def _email(run, params_file, force):
    from opsnb.errors import DeliveryError
    from opsnb.run.delivery import send_report
    from opsnb.run.params import read_yaml
    from opsnb.run.push import PushResult

    if not run.html_path or not run.html_path.endswith(".html"):
        raise DeliveryError("no HTML report to mail (run without --no-render)")
    to = _recipients(read_yaml(params_file) if params_file else {})
    if not to:
        raise DeliveryError("no recipients: set OPSNB_DAILY_TO or 'recipients' in the params file")
    attach = [run.excel_path] if run.excel_path else []
    r = send_report(run.html_path, to=to, attachments=attach, force=force)
    return PushResult("email", r.status, r.key, r.attempts)
