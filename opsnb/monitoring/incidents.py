"""Incidents: anomalies that carry over from day to day, with an owner, deadlines and a status.

An alert of :func:`opsnb.monitoring.daily.monitor` opens an incident, or extends the open one on
the same channel and metric family (:data:`opsnb.monitoring.daily.METRIC_FAMILY`: the sales
factors visitors/conversion/AOV/GMV are one ``sales`` incident, refunds a ``refund`` one, a
tracking outage a ``data`` one). Statuses:

``new``       opened on the reported day;
``ongoing``   opened earlier, still flagged or quiet for fewer than ``quiet_days`` days;
``resolved``  no alert for ``quiet_days`` consecutive days (default 2);
``closed``    closed by a person (``opsnb ack ID --close``): the 整改报告 is in.

Deadlines follow the house rule, counted from detection (the morning after the data day):
high severity → response plan (应对方案) within 24 h; every incident → 异常数据整改报告 within
48 h. ``response_overdue``: high, not acknowledged, and the day of the report is past the due
date; ``report_overdue``: still open (new/ongoing) past the report due date. Owners come from
the ``owners`` mapping (channel → name, or → ``{name, mobile, user_id}`` for chat @mentions;
key ``data`` for tracking incidents), else the ``targets`` table's owner of the channel.

The table is derived, not typed in: :func:`replay_incidents` rebuilds it deterministically from
the alerts (the engine is causal, so yesterday's alerts never change) and the people's actions
(``incident_actions``: ack / close, dated), so a rerun of any day gives the same incidents.
:func:`update_incidents` keeps the result in the store table ``incidents``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.monitoring.daily import METRIC_FAMILY, MonitorResult

__all__ = [
    "STATUSES",
    "OPEN_STATUSES",
    "INCIDENT_COLUMNS",
    "ACTION_COLUMNS",
    "Owner",
    "resolve_owners",
    "replay_incidents",
    "open_incidents",
    "current_incidents",
    "load_incidents",
    "update_incidents",
    "record_action",
]

STATUSES = ("new", "ongoing", "resolved", "closed")
OPEN_STATUSES = ("new", "ongoing")
INCIDENT_COLUMNS = [
    "incident_id",
    "channel",
    "family",
    "metrics",
    "status",
    "severity",
    "opened_on",
    "last_seen",
    "days_flagged",
    "age_days",
    "gmv_at_risk",
    "gmv_at_risk_last",
    "owner",
    "owner_mobile",
    "owner_user_id",
    "detected_on",
    "response_due",
    "report_due",
    "response_overdue",
    "report_overdue",
    "acknowledged_by",
    "acknowledged_on",
    "note",
    "resolved_on",
    "closed_on",
    "as_of",
]
"""Columns of the ``incidents`` table (dates are data days; ``as_of``: the day it describes)."""
ACTION_COLUMNS = ["incident_id", "action", "by", "note", "acted_on", "recorded_at"]
"""Columns of ``incident_actions``: action is ``ack`` or ``close``; acted_on the calendar day."""

_SEV_RANK = {"high": 3, "medium": 2, "low": 1, "": 0}


@dataclass(frozen=True)
class Owner:
    """Who answers for a channel: a name and, for chat @mentions, a mobile and/or a user id."""

    name: str
    mobile: str = ""
    user_id: str = ""


def resolve_owners(owners: dict | None = None, targets: pd.DataFrame | None = None) -> dict:
    """channel → :class:`Owner` from the ``owners`` parameter, then the targets' owners.

    ``owners`` maps a channel (or ``全部``, or ``data`` for tracking incidents) to a name or to
    ``{name, mobile, user_id}``; a bad entry raises :class:`ValueError` naming it.
    """
    out: dict[str, Owner] = {}
    if targets is not None and len(targets) and "owner" in targets:
        t = targets.dropna(subset=["owner"])
        for ch, name in t.groupby(t["channel"].astype(str))["owner"].first().items():
            out[ch] = Owner(str(name))
    for ch, v in (owners or {}).items():
        if isinstance(v, str):
            out[str(ch)] = Owner(v)
        elif isinstance(v, dict) and v.get("name"):
            unknown = set(v) - {"name", "mobile", "user_id"}
            if unknown:
                raise ValueError(
                    f"owners[{ch!r}]: unknown key(s) {sorted(unknown)}; allowed: name, mobile, user_id"
                )
            out[str(ch)] = Owner(
                str(v["name"]), str(v.get("mobile") or ""), str(v.get("user_id") or "")
            )
        else:
            raise ValueError(
                f"owners[{ch!r}] must be a name or {{name, mobile, user_id}}, got {v!r}"
            )
    return out


def _day_groups(alerts: pd.DataFrame, day: pd.Timestamp) -> list[dict]:
    """The day's alerts as one entry per (channel, family), largest money first."""
    a = alerts[alerts["date"] == day]
    if a.empty:
        return []
    fam = a["family"] if "family" in a else a["metric"].map(METRIC_FAMILY)
    a = a.assign(_fam=fam.to_numpy(), _rank=a["severity"].map(_SEV_RANK).fillna(0))
    out = []
    for (ch, f), g in a.groupby(["channel", "_fam"], sort=False):
        top = g.sort_values(["_rank", "gmv_at_risk"], ascending=False).iloc[0]
        out.append(
            {
                "channel": str(ch),
                "family": str(f),
                "metrics": list(dict.fromkeys(g["metric"])),
                "severity": str(top["severity"]),
                "money": float(g["gmv_at_risk"].max()),
            }
        )
    out.sort(key=lambda e: (-_SEV_RANK.get(e["severity"], 0), -e["money"], e["channel"]))
    return out


def _owner_of(owners: dict, channel: str, family: str) -> Owner:
    if family == "data" and "data" in owners:
        return owners["data"]
    return owners.get(channel) or Owner("")


def replay_incidents(
    alerts: pd.DataFrame,
    start,
    end,
    *,
    quiet_days: int = 2,
    owners: dict | None = None,
    actions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The incidents as they stand on ``end``, replaying every day of ``start..end``.

    ``alerts``: :attr:`MonitorResult.alerts`; ``owners``: channel → :class:`Owner` (see
    :func:`resolve_owners`); ``actions``: ``incident_actions`` rows — an action on calendar
    day D applies from data day D − 1 (the report read that morning) on. Returns a frame with
    :data:`INCIDENT_COLUMNS`, newest first. Incident ids are ``<opening day>-<n>``
    (``20251007-1``), numbered by severity and money within the day, so replays agree.
    """
    if quiet_days < 1:
        raise ValueError(f"quiet_days must be at least 1, got {quiet_days!r}")
    owners = owners or {}
    s, e = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    acts = actions if actions is not None and len(actions) else pd.DataFrame(columns=ACTION_COLUMNS)
    acts = acts.assign(effective=pd.to_datetime(acts["acted_on"]) - pd.Timedelta(days=1))
    acts = acts.sort_values(["effective", "recorded_at"], kind="stable")
    inc: dict[str, dict] = {}
    applied: set[int] = set()
    for day in pd.date_range(s, e, freq="D") if e >= s else []:
        seen = set()
        n_new = 0
        for g in _day_groups(alerts, day):
            open_ = [
                r
                for r in inc.values()
                if r["channel"] == g["channel"]
                and r["family"] == g["family"]
                and r["status"] in OPEN_STATUSES
            ]
            if open_:
                r = open_[0]
                r["status"] = "ongoing"
                r["metrics"] = list(dict.fromkeys([*r["metrics"], *g["metrics"]]))
                r["days_flagged"] += 1
                r["gmv_at_risk"] += g["money"]
            else:
                n_new += 1
                own = _owner_of(owners, g["channel"], g["family"])
                r = {
                    "incident_id": f"{day:%Y%m%d}-{n_new}",
                    "channel": g["channel"],
                    "family": g["family"],
                    "metrics": list(g["metrics"]),
                    "status": "new",
                    "severity": "",
                    "opened_on": day,
                    "days_flagged": 1,
                    "gmv_at_risk": g["money"],
                    "owner": own.name,
                    "owner_mobile": own.mobile,
                    "owner_user_id": own.user_id,
                    "detected_on": day + pd.Timedelta(days=1),
                    "response_due": pd.NaT,
                    "report_due": day + pd.Timedelta(days=3),
                    "acknowledged_by": None,
                    "acknowledged_on": pd.NaT,
                    "note": None,
                    "resolved_on": pd.NaT,
                    "closed_on": pd.NaT,
                }
                inc[r["incident_id"]] = r
            if _SEV_RANK.get(g["severity"], 0) > _SEV_RANK.get(r["severity"], 0):
                r["severity"] = g["severity"]
                if g["severity"] == "high" and pd.isna(r["response_due"]):
                    r["response_due"] = day + pd.Timedelta(days=2)  # 24 h after detection
            r["last_seen"], r["gmv_at_risk_last"] = day, g["money"]
            seen.add(r["incident_id"])
        for r in inc.values():
            if r["incident_id"] in seen or r["status"] not in OPEN_STATUSES:
                continue
            if (day - r["last_seen"]).days >= quiet_days:
                r["status"], r["resolved_on"] = "resolved", day
            else:
                r["status"] = "ongoing"
        for k, a in enumerate(acts.itertuples(index=False)):  # people's acks and closes
            if k in applied or a.effective > day or a.incident_id not in inc:
                continue
            applied.add(k)
            r = inc[a.incident_id]
            if a.action == "ack" or r["acknowledged_by"] is None:
                r["acknowledged_by"], r["acknowledged_on"] = a.by, pd.Timestamp(a.acted_on)
            r["note"] = a.note or r["note"]
            if a.action == "close" and r["status"] != "closed":
                r["status"], r["closed_on"] = "closed", day
    return _finish(list(inc.values()), e)


def _finish(rows: list[dict], as_of: pd.Timestamp) -> pd.DataFrame:
    df = pd.DataFrame(
        rows,
        columns=[
            c
            for c in INCIDENT_COLUMNS
            if c not in ("age_days", "as_of", "response_overdue", "report_overdue")
        ],
    )
    if df.empty:
        return pd.DataFrame(columns=INCIDENT_COLUMNS)
    report_day = as_of + pd.Timedelta(days=1)  # the morning the report is read
    is_open = df["status"].isin(OPEN_STATUSES)
    df["metrics"] = df["metrics"].map(",".join)
    df["age_days"] = np.where(
        is_open,
        (as_of - df["opened_on"]).dt.days + 1,
        (df["last_seen"] - df["opened_on"]).dt.days + 1,
    )
    df["response_overdue"] = (
        is_open
        & (df["severity"] == "high")
        & df["acknowledged_by"].isna()
        & (pd.to_datetime(df["response_due"]) < report_day)
    )
    df["report_overdue"] = is_open & (df["report_due"] < report_day)
    df["as_of"] = as_of
    for c in (
        "opened_on",
        "last_seen",
        "detected_on",
        "response_due",
        "report_due",
        "acknowledged_on",
        "resolved_on",
        "closed_on",
        "as_of",
    ):
        df[c] = pd.to_datetime(df[c]).astype("datetime64[us]")
    for c in ("acknowledged_by", "note"):  # typed text even while empty (the store keeps types)
        df[c] = df[c].astype("string")
    df = df.sort_values(["opened_on", "incident_id"], ascending=[False, True])
    return df[INCIDENT_COLUMNS].reset_index(drop=True)


def open_incidents(incidents: pd.DataFrame) -> pd.DataFrame:
    """The incidents still open (new or ongoing), oldest first."""
    x = incidents[incidents["status"].isin(OPEN_STATUSES)]
    return x.sort_values(["opened_on", "incident_id"]).reset_index(drop=True)


# ------------------------------------------------------------------------------ the store


def _read(con, table: str, columns: list[str]) -> pd.DataFrame:
    from opsnb.data.store import list_tables, quote_ident

    if table not in list_tables(con):
        return pd.DataFrame(columns=columns)
    return con.execute(f"select * from {quote_ident(table)}").df()


def load_incidents(db_path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(incidents, incident_actions)`` as stored (empty frames when there are none yet)."""
    from opsnb.data.store import open_store

    path = Path(db_path)
    if not path.exists():
        return pd.DataFrame(columns=INCIDENT_COLUMNS), pd.DataFrame(columns=ACTION_COLUMNS)
    con = open_store(path, read_only=True)
    try:
        return _read(con, "incidents", INCIDENT_COLUMNS), _read(
            con, "incident_actions", ACTION_COLUMNS
        )
    finally:
        con.close()


def _span(stored: pd.DataFrame, as_of: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First day to replay from (the oldest stored incident, else ``as_of``) and the last."""
    if stored.empty:
        return as_of, as_of
    first = pd.to_datetime(stored["opened_on"]).min()
    last = pd.to_datetime(stored["as_of"]).max()
    return min(first, as_of), max(last, as_of)


def current_incidents(
    result: MonitorResult,
    as_of,
    *,
    stored: pd.DataFrame | None = None,
    actions: pd.DataFrame | None = None,
    owners: dict | None = None,
    quiet_days: int = 2,
) -> pd.DataFrame:
    """The incidents as they stand on ``as_of``: replayed from the oldest stored incident (or
    ``as_of`` on the first run) with the stored actions; what a report shows."""
    d = pd.Timestamp(as_of).normalize()
    start, _ = _span(stored if stored is not None else pd.DataFrame(), d)
    return replay_incidents(
        result.alerts, start, d, quiet_days=quiet_days, owners=owners, actions=actions
    )


def update_incidents(
    db_path: str | Path,
    result: MonitorResult,
    as_of,
    *,
    owners: dict | None = None,
    quiet_days: int = 2,
) -> pd.DataFrame:
    """Bring the store's ``incidents`` table up to ``as_of`` (or keep it at a later day already
    processed: a rerun of an older day never rolls it back) and return the incidents as they
    stand on ``as_of``."""
    from opsnb.data.store import open_store, write_table

    d = pd.Timestamp(as_of).normalize()
    stored, actions = load_incidents(db_path)
    start, last = _span(stored, d)
    latest = replay_incidents(
        result.alerts[result.alerts["date"] <= last],
        start,
        last,
        quiet_days=quiet_days,
        owners=owners,
        actions=actions,
    )
    con = open_store(Path(db_path))
    try:
        write_table(con, "incidents", latest, mode="replace", validate=False)
    finally:
        con.close()
    if last == d:
        return latest
    return replay_incidents(
        result.alerts, start, d, quiet_days=quiet_days, owners=owners, actions=actions
    )


def record_action(
    db_path: str | Path,
    incident_id: str,
    *,
    by: str,
    note: str = "",
    close: bool = False,
    today=None,
) -> pd.Series:
    """Acknowledge (or with ``close=True`` close) incident ``incident_id`` in the store.

    The action is appended to ``incident_actions`` (dated ``today``, default
    :func:`opsnb.periods.shop_today`) and applied to the stored incident at once; the daily
    replay applies it from then on. Raises :class:`ValueError` for an unknown id or no name.
    Returns the incident row after the action.
    """
    from opsnb.data.store import open_store, write_table
    from opsnb.periods import shop_today

    if not str(by).strip():
        raise ValueError("say who acknowledges: --by NAME")
    stored, _ = load_incidents(db_path)
    hit = stored[stored["incident_id"] == incident_id]
    if hit.empty:
        known = ", ".join(stored["incident_id"].head(10)) or "none yet"
        raise ValueError(
            f"no incident {incident_id!r} (known: {known}); list them with `opsnb incidents`"
        )
    day = shop_today(today)
    row = {
        "incident_id": incident_id,
        "action": "close" if close else "ack",
        "by": str(by),
        "note": str(note or ""),
        "acted_on": pd.Timestamp(day).as_unit("us"),
        "recorded_at": pd.Timestamp(dt.datetime.now()).as_unit("us"),
    }
    inc = hit.iloc[0].copy()
    if pd.isna(inc["acknowledged_by"]) or not close:
        inc["acknowledged_by"], inc["acknowledged_on"] = row["by"], row["acted_on"]
    inc["note"] = row["note"] or inc["note"]
    if close:
        inc["status"], inc["closed_on"] = "closed", row["acted_on"] - pd.Timedelta(days=1)
        inc["response_overdue"] = inc["report_overdue"] = False
    elif inc["severity"] == "high":
        inc["response_overdue"] = False
    con = open_store(Path(db_path))
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            write_table(
                con,
                "incident_actions",
                pd.DataFrame([row]),
                mode="append",
                validate=False,
                atomic=False,
            )
            write_table(
                con,
                "incidents",
                pd.DataFrame([inc]),
                mode="upsert",
                validate=False,
                key=["incident_id"],
                atomic=False,
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return inc
