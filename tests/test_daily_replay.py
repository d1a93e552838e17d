"""Four mornings of `opsnb daily --today D` on a small demo shop, pushes to a local robot server:
an incident opens, carries over and resolves; the last morning renders a dated report."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
D = dt.date


def _replay_module():
    spec = importlib.util.spec_from_file_location(
        "replay_daily", ROOT / "benchmarks" / "replay_daily.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_four_mornings_open_carry_over_and_resolve_an_incident_with_pushes(tmp_path, monkeypatch):
    R = _replay_module()
    monkeypatch.setenv("OPSNB_OUTPUTS", str(tmp_path / "w" / "outputs"))
    # a checkout failure on 抖音 for two days (buyers, orders and GMV at a fifth), then normal:
    # at 0.1 scale on a 618 day a halving is within the calibrated band (q ≈ 0.03), a fifth is not
    res = R.replay(
        tmp_path / "w",
        D(2025, 6, 10),
        4,
        no_report=True,
        report_last=True,
        quiet_days=1,
        scale=0.1,
        demo_end="2025-06-20",
        inject={D(2025, 6, 10): {"抖音": 0.2}, D(2025, 6, 11): {"抖音": 0.25}},
        log=lambda *_: None,
    )
    assert [m["exit"] for m in res["mornings"]] == [0, 0, 0, 0], [
        m["output"] for m in res["mornings"]
    ]
    out = [m["output"] for m in res["mornings"]]
    assert all(
        "imported daily_metrics_" in o for o in out
    )  # each morning's export came from the inbox
    assert "incidents: 1 open (1 new, 0 overdue)" in out[1]
    assert "incidents: 1 open (0 new, 0 overdue)" in out[2]
    assert "incidents: 0 open (0 new, 0 overdue), 1 resolved today" in out[3]
    inc = res["incidents"]
    assert inc[["incident_id", "channel", "family", "status", "days_flagged", "owner"]].to_dict(
        "records"
    ) == [
        {
            "incident_id": "20250610-1",
            "channel": "抖音",
            "family": "sales",
            "status": "resolved",
            "days_flagged": 2,
            "owner": "陈晨",
        }
    ]
    assert str(inc["resolved_on"].iloc[0])[:10] == "2025-06-12"
    # pushes: 3 robots × 4 mornings, all signatures accepted; the owner is @-ed by mobile
    assert res["rejected"] == [] and len(res["received"]) == 12
    ding = [r["body"] for r in res["received"] if r["platform"] == "dingtalk"]
    assert (
        ding[1]["at"]["atMobiles"] == ["13800000002"]
        and "陈晨 @13800000002" in ding[1]["markdown"]["text"]
    )
    assert "20250610-1 抖音成交 新发第1天" in ding[1]["markdown"]["text"]
    last = ding[3]["markdown"]["text"]
    assert "[查看完整报告](https://reports.example.cn/opsnb/03_daily_monitoring/2025-06-12/" in last
    # the last morning's dated report, its Excel and the index with it
    day = res["outputs"] / "03_daily_monitoring" / "2025-06-12"
    assert (
        len(list(day.glob("*.html"))) == 1
        and len(list(day.glob("表3_每日数据监控_2025-06-12.xlsx"))) == 1
    )
    page = (res["outputs"] / "index.html").read_text(encoding="utf-8")
    assert 'id="d2025-06-12"' in page and 'href="03_daily_monitoring/2025-06-12/' in page
    html = next(day.glob("*.html")).read_text(encoding="utf-8")
    assert "异常事件跟踪" in html and "今日恢复" in html and "20250610-1" in html
    # the demo store has skus and inventory: notebook 06 renders after the push on the morning
    # with reports (as of the reported day, classes over its last 28 days), not on the others
    assert all("inventory report skipped: no reports in this run" in o for o in out[:3])
    inv = res["outputs"] / "06_inventory" / "2025-05-16_to_2025-06-12"
    pages = list(inv.glob("*.html"))
    assert len(pages) == 1 and f"inventory report {pages[0]}" in out[3]
    text = pages[0].read_text(encoding="utf-8")
    assert "缺货预警" in text and "补货建议表" in text
    assert 'href="06_inventory/2025-05-16_to_2025-06-12/' in page
