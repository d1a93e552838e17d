"""Plan tables 表1 全周期计划表 and 表2 大促执行管控表: status, risks, Gantt and Excel.

Both tables are validated on load through :func:`opsnb.data.validate` / :func:`opsnb.data.read_file`,
so a bad status or date is reported with its row and column. Then:

* :func:`task_status` marks overdue tasks (deadline passed, not 已完成) and slipping ones
  (延期; 未开始 after the start date; 进行中 without an update for ``stale_days``);
* :func:`risk_actions` lists 高-risk milestones that have no response plan (应对措施), each with a
  24-hour deadline to write one;
* :func:`owner_summary` gives budget and workload per owner;
* :func:`monthly_schedule` is the 月度运营排期表 (task × month grid);
* :func:`plot_gantt` draws the plan with Chinese labels and today's line;
* :func:`to_excel` writes a spreadsheet with status colours, a frozen header and column widths.

Examples
--------
>>> from opsnb.goals import plan
>>> tasks = plan.load_plan("data/demo/plan.xlsx")          # doctest: +SKIP
>>> plan.task_status(tasks, as_of="2025-11-03")            # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.i18n import PLAN_STATUS_LABELS, RISK_LABELS, Labels, translate_plan_values
from opsnb.plots import RISK_COLORS, STATUS_COLORS
from opsnb.sheets import MONEY, save_book, write_sheet

__all__ = [
    "PLAN_HEADERS",
    "MILESTONE_HEADERS",
    "FLAG_LABELS",
    "load_plan",
    "load_milestones",
    "task_status",
    "overdue_tasks",
    "risk_actions",
    "owner_summary",
    "monthly_schedule",
    "plot_gantt",
    "to_excel",
    "display_table",
]

DONE = "已完成"
DELAYED = "延期"
NOT_STARTED = "未开始"
IN_PROGRESS = "进行中"

PLAN_HEADERS = {
    "cycle": ("周期", "Cycle"),
    "goal": ("目标", "Goal"),
    "strategy": ("策略", "Strategy"),
    "task": ("具体任务", "Task"),
    "owner": ("负责人", "Owner"),
    "start": ("开始时间", "Start"),
    "end": ("截止时间", "Deadline"),
    "resources": ("所需资源", "Resources"),
    "budget": ("预算(元)", "Budget (¥)"),
    "status": ("状态", "Status"),
    "updated": ("更新时间", "Updated"),
    "days_left": ("剩余天数", "Days left"),
    "flag": ("提示", "Flag"),
    "reason": ("原因", "Reason"),
}
MILESTONE_HEADERS = {
    "milestone": ("关键节点", "Milestone"),
    "date": ("时间", "Date"),
    "standard": ("完成标准", "Completion standard"),
    "owner": ("负责人", "Owner"),
    "risk": ("风险等级", "Risk"),
    "response": ("应对措施", "Response plan"),
    "done": ("是否完成", "Done"),
    "action_deadline": ("预案截止", "Plan due by"),
    "days_to_milestone": ("距节点天数", "Days to milestone"),
}
FLAG_LABELS = {
    "overdue": ("已逾期", "overdue"),
    "slipping": ("有延误风险", "slipping"),
    "done": ("已完成", "done"),
    "on_track": ("正常", "on track"),
}
_REASONS = {
    "past_deadline": ("已过截止时间仍未完成", "deadline passed, not done"),
    "marked_delayed": ("状态为延期", "marked delayed"),
    "not_started": ("已过开始时间仍未开始", "start date passed, not started"),
    "stale": ("进行中但超过{n}天未更新", "in progress, no update for over {n} days"),
}


def _validate(source, table: str, sheet=None) -> pd.DataFrame:
    from opsnb.data import loaders

    if isinstance(source, pd.DataFrame):
        return loaders.validate(source, table)
    return loaders.read_file(source, table, sheet=sheet)


def load_plan(source, *, sheet: str | int | None = None) -> pd.DataFrame:
    """表1 from a file (CSV/Excel/Parquet, Chinese headers welcome) or a frame, validated.

    Raises :class:`~opsnb.errors.DataContractError` naming each bad row and column.
    """
    return _validate(source, "plan", sheet)


def load_milestones(source, *, sheet: str | int | None = None) -> pd.DataFrame:
    """表2 from a file or a frame, validated (risk must be 无/低/中/高)."""
    return _validate(source, "milestones", sheet)


def _day(x) -> pd.Timestamp:
    if x is None or x == "":
        return pd.Timestamp(dt.date.today())
    return pd.Timestamp(x).normalize()


def task_status(
    plan: pd.DataFrame, as_of=None, *, stale_days: int = 7, lang: str = "zh"
) -> pd.DataFrame:
    """Plan rows plus days_left, overdue, slipping, flag and reason.

    ``flag``: "done" | "overdue" (deadline before ``as_of``, not 已完成) | "slipping" (延期, or
    未开始 after its start date, or 进行中 with ``updated`` older than ``stale_days``) | "on_track".
    ``reason`` explains the flag in ``lang``.
    """
    L = Labels(lang)
    today = _day(as_of)
    p = plan.copy()
    start = pd.to_datetime(p["start"])
    end = pd.to_datetime(p["end"])
    done = p["status"].eq(DONE)
    p["days_left"] = (end - today).dt.days
    overdue = ~done & (end < today)
    delayed = ~done & p["status"].eq(DELAYED)
    late_start = p["status"].eq(NOT_STARTED) & (start < today)
    if "updated" in p and p["updated"].notna().any():
        upd = pd.to_datetime(p["updated"])
        stale = p["status"].eq(IN_PROGRESS) & upd.notna() & ((today - upd).dt.days > stale_days)
    else:
        stale = pd.Series(False, index=p.index)
    slipping = ~overdue & ~done & (delayed | late_start | stale)
    p["overdue"] = overdue.to_numpy(bool)
    p["slipping"] = slipping.to_numpy(bool)
    p["flag"] = np.select([done, overdue, slipping], ["done", "overdue", "slipping"], "on_track")
    reasons = []
    for o, d, ls, s in zip(overdue, delayed, late_start, stale):
        r = []
        if o:
            r.append(L(*_REASONS["past_deadline"]))
        if d:
            r.append(L(*_REASONS["marked_delayed"]))
        if ls and not o:
            r.append(L(*_REASONS["not_started"]))
        if s and not o:
            r.append(L(*_REASONS["stale"]).format(n=stale_days))
        reasons.append("；".join(r) if lang == "zh" else "; ".join(r))
    p["reason"] = reasons
    return p


def overdue_tasks(
    plan: pd.DataFrame, as_of=None, *, stale_days: int = 7, lang: str = "zh"
) -> pd.DataFrame:
    """Only the overdue and slipping tasks, overdue first, then by deadline.

    Columns: cycle, task, owner, start, end, status, days_left, flag, reason.
    """
    s = task_status(plan, as_of, stale_days=stale_days, lang=lang)
    s = s[s["flag"].isin(["overdue", "slipping"])].copy()
    s["_o"] = s["flag"].map({"overdue": 0, "slipping": 1})
    s = s.sort_values(["_o", "end", "task"])
    return s[
        ["cycle", "task", "owner", "start", "end", "status", "days_left", "flag", "reason"]
    ].reset_index(drop=True)


def risk_actions(
    milestones: pd.DataFrame, as_of=None, *, now: dt.datetime | None = None, hours: int = 24
) -> pd.DataFrame:
    """高-risk milestones with no response plan (应对措施), each due a plan within ``hours``.

    ``now`` defaults to the start of ``as_of`` (so reports are reproducible). Milestones already
    done are left out. Columns: milestone, date, owner, risk, standard, days_to_milestone,
    action_deadline (Timestamp).
    """
    today = _day(as_of)
    now = pd.Timestamp(now) if now is not None else today
    m = milestones.copy()
    resp = m["response"] if "response" in m else pd.Series(pd.NA, index=m.index)
    empty = resp.isna() | resp.astype("string").fillna("").str.strip().isin(["", "无", "-", "—"])
    done = m["done"].fillna(False).astype(bool) if "done" in m else pd.Series(False, index=m.index)
    sel = m[m["risk"].eq("高") & empty & ~done].copy()
    sel["days_to_milestone"] = (pd.to_datetime(sel["date"]) - today).dt.days
    sel["action_deadline"] = now + pd.Timedelta(hours=hours)
    sel = sel.sort_values(["date", "milestone"])
    return sel[
        ["milestone", "date", "owner", "risk", "standard", "days_to_milestone", "action_deadline"]
    ].reset_index(drop=True)


def owner_summary(plan: pd.DataFrame, as_of=None, *, stale_days: int = 7) -> pd.DataFrame:
    """Budget and workload per owner.

    Columns: owner, tasks, open_tasks, overdue, slipping, budget, open_budget, task_days (sum of
    task lengths in days, open tasks), peak_parallel (most open tasks on one day).
    Sorted by open tasks, then budget.
    """
    s = task_status(plan, as_of, stale_days=stale_days)
    s["budget"] = s["budget"].astype(float) if "budget" in s else 0.0
    s["open"] = s["flag"].ne("done")
    s["len"] = (pd.to_datetime(s["end"]) - pd.to_datetime(s["start"])).dt.days + 1
    rows = []
    for owner, g in s.groupby("owner", sort=False):
        o = g[g["open"]]
        peak = 0
        if len(o):
            days = pd.concat([pd.Series(pd.date_range(a, b)) for a, b in zip(o["start"], o["end"])])
            peak = int(days.value_counts().max())
        rows.append(
            {
                "owner": owner,
                "tasks": len(g),
                "open_tasks": int(g["open"].sum()),
                "overdue": int(g["overdue"].sum()),
                "slipping": int(g["slipping"].sum()),
                "budget": float(g["budget"].fillna(0).sum()),
                "open_budget": float(o["budget"].fillna(0).sum()),
                "task_days": int(o["len"].sum()),
                "peak_parallel": peak,
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "owner",
            "tasks",
            "open_tasks",
            "overdue",
            "slipping",
            "budget",
            "open_budget",
            "task_days",
            "peak_parallel",
        ],
    )
    return out.sort_values(["open_tasks", "budget"], ascending=False).reset_index(drop=True)


def monthly_schedule(
    plan: pd.DataFrame, milestones: pd.DataFrame | None = None, *, lang: str = "zh"
) -> pd.DataFrame:
    """月度运营排期表: one row per task (and milestone), one column per month.

    A cell holds "■" when the task runs that month (with its day range in the first and last
    month, e.g. "■ 10–31"), "◆ 11日" for a milestone's day. Columns: cycle, task, owner, status,
    then "YYYY-MM" per month from the first start to the last deadline.
    """
    L = Labels(lang)
    starts = pd.to_datetime(plan["start"])
    ends = pd.to_datetime(plan["end"])
    lo, hi = starts.min(), ends.max()
    if milestones is not None and len(milestones):
        md = pd.to_datetime(milestones["date"])
        lo, hi = min(lo, md.min()), max(hi, md.max())
    months = pd.period_range(lo.to_period("M"), hi.to_period("M"), freq="M")
    rows = []
    for (_, r), a, b in zip(plan.iterrows(), starts, ends):
        row = {"cycle": r["cycle"], "task": r["task"], "owner": r["owner"], "status": r["status"]}
        for m in months:
            m0, m1 = m.start_time.normalize(), m.end_time.normalize()
            if a > m1 or b < m0:
                row[str(m)] = ""
            else:
                d0, d1 = max(a, m0).day, min(b, m1).day
                full = d0 == 1 and d1 == m.days_in_month
                row[str(m)] = "■" if full else f"■ {d0}–{d1}"
        rows.append(row)
    if milestones is not None:
        for _, r in milestones.iterrows():
            d = pd.Timestamp(r["date"])
            row = {
                "cycle": L("关键节点", "Milestone"),
                "task": r["milestone"],
                "owner": r["owner"],
                "status": r["risk"],
            }
            for m in months:
                row[str(m)] = f"◆ {d.day}{L('日', '')}" if d.to_period("M") == m else ""
            rows.append(row)
    return pd.DataFrame(
        rows, columns=["cycle", "task", "owner", "status"] + [str(m) for m in months]
    )


def plot_gantt(
    plan: pd.DataFrame,
    *,
    milestones: pd.DataFrame | None = None,
    as_of=None,
    lang: str = "zh",
    ax=None,
):
    """Gantt chart: one bar per task coloured by status, milestones as diamonds, today's line.

    Overdue tasks get a red outline. Labels are "task（owner）".
    """
    import matplotlib.dates as mdates
    from matplotlib.patches import Patch

    from opsnb import plots

    L = Labels(lang)
    s = task_status(plan, as_of, lang=lang).sort_values(["start", "end"]).reset_index(drop=True)
    n = len(s) + (0 if milestones is None else len(milestones))
    ax = plots.new_axes(ax, figsize=(11, max(3.0, 0.32 * n + 1.5)))
    today = _day(as_of)
    labels = []
    for i, r in s.iterrows():
        a = pd.Timestamp(r["start"])
        w = (pd.Timestamp(r["end"]) - a).days + 1
        ax.barh(
            i,
            w,
            left=a,
            height=0.6,
            color=STATUS_COLORS.get(r["status"], "#999999"),
            edgecolor="#C0392B" if r["overdue"] else "none",
            linewidth=1.6 if r["overdue"] else 0,
        )
        labels.append(f"{r['task']}（{r['owner']}）")
    k = len(s)
    if milestones is not None and len(milestones):
        ms = milestones.sort_values("date").reset_index(drop=True)
        for j, r in ms.iterrows():
            ax.scatter(
                pd.Timestamp(r["date"]),
                k + j,
                marker="D",
                s=60,
                zorder=3,
                color=RISK_COLORS.get(r["risk"], "#999999"),
                edgecolor="#333333",
            )
            labels.append(f"◆ {r['milestone']}（{r['owner']}）")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=9)
    ax.invert_yaxis()
    ax.axvline(today, color="#C0392B", ls="--", lw=1.2)
    ax.text(
        today,
        -0.9,
        f" {L('今天', 'Today')} {today:%m-%d}",
        color="#C0392B",
        fontsize=9,
        va="bottom",
    )
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    from matplotlib.lines import Line2D

    handles = [Patch(color=c, label=L(*PLAN_STATUS_LABELS[st])) for st, c in STATUS_COLORS.items()]
    if milestones is not None and len(milestones):
        handles += [
            Line2D(
                [],
                [],
                marker="D",
                ls="none",
                markersize=7,
                color=c,
                markeredgecolor="#333333",
                label=L(f"风险：{r}", f"Risk: {RISK_LABELS[r][1].lower()}"),
            )
            for r, c in RISK_COLORS.items()
            if r in set(milestones["risk"].astype(str))
        ]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=4, fontsize=9)
    ax.set_title(L("表1 全周期计划甘特图", "Plan (表1) Gantt chart"), pad=16)
    ax.grid(axis="y", visible=False)
    return ax


# ------------------------------------------------------------------------------------------
# Excel
# ------------------------------------------------------------------------------------------


def _write_sheet(
    wb, title: str, df: pd.DataFrame, headers: dict, lang: str, fills: dict[str, dict[str, str]]
):
    """One plan sheet in the kit's workbook style (:func:`opsnb.sheets.write_sheet`)."""
    L = Labels(lang)
    return write_sheet(
        wb,
        title,
        df,
        headers={c: L(*headers[c]) for c in df.columns if c in headers},
        formats={"budget": MONEY, "open_budget": MONEY},
        fills=fills,
        lang=lang,
    )


def to_excel(
    path,
    plan: pd.DataFrame,
    milestones: pd.DataFrame | None = None,
    *,
    as_of=None,
    lang: str = "zh",
) -> Path:
    """Write 表1, 表2 and the 月度运营排期表 to one .xlsx for sharing.

    Status cells are filled with :data:`opsnb.plots.STATUS_COLORS`, risk cells with
    :data:`RISK_COLORS`; every sheet has a bold coloured header row, a frozen header, a filter
    and column widths fitted to the content (CJK counted double). Returns the path.
    """
    from openpyxl import Workbook

    L = Labels(lang)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    wb.remove(wb.active)
    s = task_status(plan, as_of, lang=lang)
    keep = [
        c
        for c in [
            "cycle",
            "goal",
            "strategy",
            "task",
            "owner",
            "start",
            "end",
            "resources",
            "budget",
            "status",
            "updated",
            "days_left",
            "flag",
            "reason",
        ]
        if c in s
    ]
    s = s[keep].copy()
    s["flag"] = s["flag"].map(lambda f: L(*FLAG_LABELS[f]))
    s = translate_plan_values(s, lang=lang)
    status_fill = {L(*PLAN_STATUS_LABELS[k]): c for k, c in STATUS_COLORS.items()}
    risk_fill = {L(*RISK_LABELS[k]): c for k, c in RISK_COLORS.items()}
    flag_colors = {
        L(*FLAG_LABELS["overdue"]): STATUS_COLORS[DELAYED],
        L(*FLAG_LABELS["slipping"]): RISK_COLORS["中"],
    }
    _write_sheet(
        wb,
        L("表1 全周期计划表", "Plan (表1)"),
        s,
        PLAN_HEADERS,
        lang,
        {"status": status_fill, "flag": flag_colors},
    )
    if milestones is not None:
        m = milestones.copy()
        if "done" in m:
            m["done"] = m["done"].map(
                lambda v: None if pd.isna(v) else L("是", "yes") if v else L("否", "no")
            )
        _write_sheet(
            wb,
            L("表2 大促执行管控表", "Milestones (表2)"),
            translate_plan_values(m, lang=lang),
            MILESTONE_HEADERS,
            lang,
            {"risk": risk_fill},
        )
    sched = monthly_schedule(plan, milestones, lang=lang)
    ws = _write_sheet(
        wb,
        L("月度运营排期表", "Monthly schedule"),
        translate_plan_values(sched, lang=lang),
        {**PLAN_HEADERS, "status": (L("状态/风险", "Status/risk"),) * 2},
        lang,
        {"status": {**status_fill, **risk_fill}},
    )
    from openpyxl.styles import PatternFill

    for i, status in enumerate(sched["status"], start=2):
        for j in range(5, len(sched.columns) + 1):
            cell = ws.cell(row=i, column=j)
            if cell.value:
                color = (STATUS_COLORS if str(cell.value).startswith("■") else RISK_COLORS).get(
                    status, "#D9D9D9"
                )
                cell.fill = PatternFill("solid", fgColor=color.lstrip("#").upper())
    return save_book(wb, path)


_OWNER_HEADERS = {
    "tasks": ("任务数", "Tasks"),
    "open_tasks": ("未完成", "Open"),
    "overdue": ("逾期", "Overdue"),
    "slipping": ("延误风险", "Slipping"),
    "open_budget": ("未完成预算", "Open budget"),
    "task_days": ("任务天数", "Task days"),
    "peak_parallel": ("最多并行", "Peak parallel"),
}


def display_table(df: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """Any plan-derived table with column names, flags, statuses and risk levels in the report
    language (English reports show "Delayed", "High", ... for 延期, 高, ...)."""
    L = Labels(lang)
    t = translate_plan_values(df, lang=lang)
    if "flag" in t:
        t["flag"] = t["flag"].map(lambda f: L(*FLAG_LABELS[f]) if f in FLAG_LABELS else f)
    names = {**MILESTONE_HEADERS, **PLAN_HEADERS, **_OWNER_HEADERS}
    if "milestone" in t:
        names["date"] = MILESTONE_HEADERS["date"]
    names["budget"] = PLAN_HEADERS["budget"]
    return t.rename(columns={c: L(*names[c]) for c in t.columns if c in names})
