"""Incident lifecycle: open, carry over, resolve after quiet days, acknowledge and close, overdue."""

from __future__ import annotations

import pandas as pd
import pytest

from opsnb.monitoring import incidents as I


def _alert(day, channel, metric, severity="medium", money=1000.0, family=None):
    fam = family or {"refund_rate": "refund"}.get(metric, "sales")
    return {
        "date": pd.Timestamp(day),
        "channel": channel,
        "metric": metric,
        "severity": severity,
        "gmv_at_risk": money,
        "family": fam,
    }


ALERTS = pd.DataFrame(
    [
        _alert("2025-10-07", "抖音", "conversion_rate", "high", 5000.0),
        _alert("2025-10-07", "抖音", "gmv", "high", 5000.0),  # same channel-day: one incident
        _alert("2025-10-07", "小红书", "refund_rate", "low", 300.0),
        _alert("2025-10-08", "抖音", "visitors", "medium", 2000.0),  # same family: carries over
        _alert("2025-10-08", "小红书", "refund_rate", "medium", 400.0),
        _alert("2025-10-11", "小红书", "refund_rate", "low", 100.0),  # after resolution: a new one
    ]
)
OWNERS = I.resolve_owners({"抖音": {"name": "陈晨", "mobile": "13800000002"}, "小红书": "周婷"})


def _cols(df):
    return df[
        [
            "incident_id",
            "channel",
            "family",
            "metrics",
            "status",
            "severity",
            "days_flagged",
            "age_days",
            "gmv_at_risk",
            "owner",
        ]
    ].to_dict("records")


def test_alerts_open_then_extend_one_incident_per_channel_and_family():
    day1 = I.replay_incidents(ALERTS, "2025-10-07", "2025-10-07", owners=OWNERS)
    assert _cols(day1) == [
        {
            "incident_id": "20251007-1",
            "channel": "抖音",
            "family": "sales",
            "metrics": "conversion_rate,gmv",
            "status": "new",
            "severity": "high",
            "days_flagged": 1,
            "age_days": 1,
            "gmv_at_risk": 5000.0,
            "owner": "陈晨",
        },
        {
            "incident_id": "20251007-2",
            "channel": "小红书",
            "family": "refund",
            "metrics": "refund_rate",
            "status": "new",
            "severity": "low",
            "days_flagged": 1,
            "age_days": 1,
            "gmv_at_risk": 300.0,
            "owner": "周婷",
        },
    ]
    day2 = I.replay_incidents(ALERTS, "2025-10-07", "2025-10-08", owners=OWNERS)
    assert [
        (
            r["status"],
            r["metrics"],
            r["days_flagged"],
            r["age_days"],
            r["gmv_at_risk"],
            r["severity"],
        )
        for r in _cols(day2)
    ] == [
        ("ongoing", "conversion_rate,gmv,visitors", 2, 2, 7000.0, "high"),
        ("ongoing", "refund_rate", 2, 2, 700.0, "medium"),
    ]
    # deadlines from detection (the morning after): high → response plan 24 h, report 48 h
    r = day2.iloc[0]
    assert r.detected_on == pd.Timestamp("2025-10-08") and r.response_due == pd.Timestamp(
        "2025-10-09"
    )
    assert r.report_due == pd.Timestamp("2025-10-10") and not r.response_overdue


def test_quiet_days_resolve_and_a_later_alert_opens_a_new_incident():
    end = I.replay_incidents(ALERTS, "2025-10-07", "2025-10-11", quiet_days=2, owners=OWNERS)
    got = {r.incident_id: (r.status, str(r.resolved_on)[:10]) for r in end.itertuples()}
    assert got == {
        "20251007-1": ("resolved", "2025-10-10"),
        "20251007-2": ("resolved", "2025-10-10"),
        "20251011-1": ("new", "NaT"),
    }
    # one quiet day is not enough with quiet_days=2: still ongoing, and now overdue
    d9 = I.replay_incidents(ALERTS, "2025-10-07", "2025-10-09", quiet_days=2)
    assert list(d9["status"]) == ["ongoing", "ongoing"]
    assert list(d9["response_overdue"]) == [True, False]  # high, not acknowledged, due 10-09
    assert list(d9["report_overdue"]) == [False, False]  # report due 10-10: not yet
    d10 = I.replay_incidents(ALERTS, "2025-10-07", "2025-10-10", quiet_days=3)
    assert list(d10["report_overdue"]) == [True, True]  # read on 10-11, past the 10-10 deadline
    with pytest.raises(ValueError, match="quiet_days"):
        I.replay_incidents(ALERTS, "2025-10-07", "2025-10-09", quiet_days=0)


def _store(tmp_path, result_alerts, day):
    from types import SimpleNamespace

    db = tmp_path / "s.duckdb"
    res = SimpleNamespace(alerts=result_alerts)
    return db, res


def test_store_keeps_incidents_acks_and_closes_and_a_rerun_never_rolls_back(tmp_path):
    db, res = _store(tmp_path, ALERTS, "2025-10-07")
    I.update_incidents(db, res, "2025-10-07", owners=OWNERS)
    stored, _ = I.load_incidents(db)
    assert list(stored["incident_id"]) == ["20251007-1", "20251007-2"]
    row = I.record_action(db, "20251007-1", by="陈晨", note="已修复支付", today="2025-10-08")
    assert row["acknowledged_by"] == "陈晨" and not row["response_overdue"]
    on9 = I.update_incidents(db, res, "2025-10-09", owners=OWNERS)
    first = on9.set_index("incident_id").loc["20251007-1"]
    assert (
        first.acknowledged_by == "陈晨"
        and first.note == "已修复支付"
        and not first.response_overdue
    )
    I.record_action(db, "20251007-2", by="周婷", close=True, today="2025-10-10")
    on10 = I.update_incidents(db, res, "2025-10-10", quiet_days=5)
    assert on10.set_index("incident_id").loc["20251007-2", "status"] == "closed"
    # rerunning an older day shows that day, and leaves the stored table at the latest day
    old = I.update_incidents(db, res, "2025-10-08", quiet_days=5)
    assert set(old["status"]) == {"ongoing"}
    stored, actions = I.load_incidents(db)
    assert str(stored["as_of"].max())[:10] == "2025-10-10" and len(actions) == 2
    with pytest.raises(ValueError, match="no incident 'nope'"):
        I.record_action(db, "nope", by="x")
    with pytest.raises(ValueError, match="--by"):
        I.record_action(db, "20251007-1", by=" ")


def test_owner_mapping_is_validated_and_targets_owners_fill_the_rest():
    targets = pd.DataFrame(
        {
            "period": ["2025-Q4"] * 2,
            "metric": ["gmv"] * 2,
            "channel": ["直播", "抖音"],
            "target": [1.0, 2.0],
            "owner": ["刘洋", "王磊"],
        }
    )
    o = I.resolve_owners({"抖音": "陈晨", "data": {"name": "数据组", "user_id": "data01"}}, targets)
    assert o == {
        "直播": I.Owner("刘洋"),
        "抖音": I.Owner("陈晨"),
        "data": I.Owner("数据组", "", "data01"),
    }
    with pytest.raises(ValueError, match="unknown key"):
        I.resolve_owners({"抖音": {"name": "x", "phone": "1"}})
