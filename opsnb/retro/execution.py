"""Execution review of 表1 / 表2: plan tasks finished on time, delays by owner, risks that materialised.

:func:`execution_review` judges the plan (表1 全周期计划表) and the milestones (表2 大促执行管控表)
as of a date and returns an :class:`ExecutionReview`; :func:`execution_display` shapes its tables
for a report in the report language (:class:`ExecutionTables`).

Examples
--------
>>> import pandas as pd
>>> plan = pd.DataFrame({"task": ["t1", "t2"], "owner": ["张敏", "李娜"],
...     "end": pd.to_datetime(["2025-10-10", "2025-10-12"]), "status": ["已完成", "延期"]})
>>> r = execution_review(plan, as_of="2025-10-20")
>>> (r.summary.due, r.summary.on_time, r.summary.late)
(2, 1, 1)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from opsnb.i18n import Labels
from opsnb.results import Result

__all__ = [
    "ExecutionSummary",
    "ExecutionReview",
    "ExecutionTables",
    "execution_review",
    "execution_display",
]


@dataclass(frozen=True)
class ExecutionSummary(Result):
    """Counts of the execution review.

    ``tasks`` in the plan, ``due`` (end ≤ as_of), ``on_time`` (due and finished by its end),
    ``late`` (due and not on time), ``on_time_rate`` = on_time / due (NaN when nothing is due),
    ``budget`` (sum of the plan's budgets, NaN without a budget column); milestones ``due``,
    ``missed`` (date passed, not done), ``high_risk_materialised`` (中/高 risk missed),
    ``high_risk_without_response`` (高 risk with no 应对措施) — all 0 without milestones;
    ``as_of``: the day the plan was judged on.
    """

    tasks: int
    due: int
    on_time: int
    late: int
    on_time_rate: float
    budget: float
    milestones_due: int = 0
    milestones_missed: int = 0
    high_risk_materialised: int = 0
    high_risk_without_response: int = 0
    as_of: dt.date | None = None


@dataclass(frozen=True)
class ExecutionReview(Result):
    """The execution review: :class:`ExecutionSummary` plus its tables.

    ``by_owner`` columns: owner, tasks, due, on_time, late, days_late, on_time_rate (latest
    first); ``late_tasks``: cycle, task, owner, end, status, days_late (those present in the
    plan); ``risks``: milestone, date, owner, risk, standard, response, materialised,
    no_response (those present; empty without milestones). ``to_dict()`` gives the summary,
    ``to_frame()`` the table per owner.
    """

    summary: ExecutionSummary
    by_owner: pd.DataFrame = field(repr=False)
    late_tasks: pd.DataFrame = field(repr=False)
    risks: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict:
        return asdict(self.summary)

    def to_frame(self) -> pd.DataFrame:
        return self.by_owner.copy()


@dataclass(frozen=True)
class ExecutionTables(Result):
    """The execution review's tables as a report shows them (display column names).

    ``by_owner``: owner, tasks, due, on_time, late, days_late, on_time_rate; ``risks``: the
    milestones whose risk materialised. ``to_frame()`` gives ``by_owner``.
    """

    by_owner: pd.DataFrame = field(repr=False)
    risks: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict:
        return {
            "by_owner": self.by_owner.to_dict("records"),
            "risks": self.risks.to_dict("records"),
        }

    def to_frame(self) -> pd.DataFrame:
        return self.by_owner.copy()


def execution_review(
    plan: pd.DataFrame, milestones: pd.DataFrame | None = None, *, as_of
) -> ExecutionReview:
    """On-time completion, delays by owner and risks that materialised.

    A plan task is *due* when its ``end`` ≤ ``as_of``; it is *on time* when its status is
    已完成 and its last update (``updated``, else ``end``) is on or before ``end``; *late* when
    due and not on time (延期, still open, or finished after ``end``). A milestone's risk
    *materialised* when its date has passed and it was not met (``done`` false). When the plan
    has ``updated`` dates, tasks are judged as of the latest update (``summary.as_of``), since
    later statuses are unknown. The review is language-free; :func:`execution_display` shows it
    in the report language.
    """
    as_of = pd.Timestamp(as_of)
    p = plan.copy()
    if "updated" in p.columns and pd.to_datetime(p["updated"]).notna().any():
        # statuses are only known as of the plan's latest update: judge due dates then
        as_of = min(as_of, pd.to_datetime(p["updated"]).max())
    p["end"] = pd.to_datetime(p["end"])
    upd = (
        pd.to_datetime(p["updated"]) if "updated" in p.columns else pd.Series(pd.NaT, index=p.index)
    )
    done = p["status"].astype(str) == "已完成"
    finished = upd.fillna(p["end"])
    p["due"] = p["end"] <= as_of
    p["on_time"] = done & (finished <= p["end"])
    p["late"] = p["due"] & ~p["on_time"]
    ref = pd.Series(np.where(done, finished, as_of), index=p.index)
    p["days_late"] = np.where(p["late"], (pd.to_datetime(ref) - p["end"]).dt.days.clip(lower=0), 0)
    by = (
        p.groupby("owner")
        .agg(
            tasks=("task", "size"),
            due=("due", "sum"),
            on_time=("on_time", "sum"),
            late=("late", "sum"),
            days_late=("days_late", "sum"),
        )
        .reset_index()
    )
    by["on_time_rate"] = by["on_time"] / by["due"].where(by["due"] > 0)
    by = by.sort_values(["late", "days_late"], ascending=False).reset_index(drop=True)
    due = int(p["due"].sum())
    on_time_due = int((p["on_time"] & p["due"]).sum())
    counts = {
        "tasks": int(len(p)),
        "due": due,
        "on_time": on_time_due,
        "late": int(p["late"].sum()),
        "on_time_rate": on_time_due / due if due else float("nan"),
        "budget": float(pd.to_numeric(p.get("budget"), errors="coerce").fillna(0).sum())
        if "budget" in p.columns
        else float("nan"),
    }
    late_cols = [
        c for c in ("cycle", "task", "owner", "end", "status", "days_late") if c in p.columns
    ]
    late = p.loc[p["late"], late_cols].sort_values("days_late", ascending=False)
    risks = pd.DataFrame()
    if milestones is not None and len(milestones):
        m = milestones.copy()
        m["date"] = pd.to_datetime(m["date"])
        met = m["done"].fillna(False).astype(bool) if "done" in m.columns else False
        m["materialised"] = (m["date"] <= as_of) & ~met
        resp = m["response"] if "response" in m.columns else pd.Series("", index=m.index)
        m["no_response"] = resp.isna() | (resp.astype(str).str.strip().isin(["", "nan", "None"]))
        keep = [
            c
            for c in (
                "milestone",
                "date",
                "owner",
                "risk",
                "standard",
                "response",
                "materialised",
                "no_response",
            )
            if c in m.columns
        ]
        risks = m[keep].reset_index(drop=True)
        counts["milestones_due"] = int((m["date"] <= as_of).sum())
        counts["milestones_missed"] = int(m["materialised"].sum())
        counts["high_risk_materialised"] = int(
            (m["materialised"] & m["risk"].isin(["中", "高"])).sum()
        )
        counts["high_risk_without_response"] = int(((m["risk"] == "高") & m["no_response"]).sum())
    return ExecutionReview(
        summary=ExecutionSummary(**counts, as_of=as_of.date()),
        by_owner=by,
        late_tasks=late.reset_index(drop=True),
        risks=risks,
    )


def execution_display(execution: ExecutionReview, lang: str = "zh") -> ExecutionTables:
    """The execution review's tables as a report shows them, in ``lang``.

    ``by_owner``: owner, tasks, due, on_time, late, days_late, on_time_rate (display names).
    ``risks``: the milestones whose risk materialised, with risk levels in ``lang`` (High, ...),
    an empty response shown as "—" and no_response as 是/否 (Yes/No); the always-true
    materialised column is left out. Display only: the review's own frames are not changed.
    """
    from opsnb.i18n import COLUMN_LABELS, translate_plan_values

    L = Labels(lang)
    names = {c: L(*COLUMN_LABELS[c]) for c in COLUMN_LABELS}
    names["standard"] = L("完成标准", "Completion standard")
    names["response"] = L("应对措施", "Response plan")
    names["no_response"] = L("无应对措施", "No response plan")
    names["on_time_rate"] = L("按时完成率", "On-time rate")
    names["date"] = L("日期", "Date")
    by = execution.by_owner.rename(columns=names)
    r = execution.risks
    if len(r):
        r = r[r["materialised"]].drop(columns="materialised")
        r = translate_plan_values(r, lang=lang, columns=("risk",))
        if "response" in r:
            r["response"] = r["response"].map(
                lambda v: "—" if v is None or v != v or not str(v).strip() else v
            )
        if "no_response" in r:
            r["no_response"] = r["no_response"].map(
                lambda v: L("是", "Yes") if v else L("否", "No")
            )
        if "date" in r:
            r["date"] = pd.to_datetime(r["date"]).dt.strftime("%Y-%m-%d")
    return ExecutionTables(by_owner=by, risks=r.rename(columns=names).reset_index(drop=True))
