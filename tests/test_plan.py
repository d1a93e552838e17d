"""Plan tables 表1/表2: validation, overdue and slipping tasks, risks, Gantt, Excel."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from opsnb.goals import plan
from opsnb.i18n import PLAN_STATUS_LABELS
from opsnb.plots import RISK_COLORS, STATUS_COLORS

AS_OF = "2025-11-03"


def make_plan() -> pd.DataFrame:
    d = pd.Timestamp
    rows = [
        # cycle, task, owner, start, end, budget, status, updated
        (
            "筹备期",
            "确定大促目标",
            "王敏",
            d("2025-09-15"),
            d("2025-09-30"),
            0.0,
            "已完成",
            d("2025-09-30"),
        ),
        (
            "筹备期",
            "爆款备货",
            "李强",
            d("2025-09-20"),
            d("2025-10-25"),
            200000.0,
            "进行中",
            d("2025-10-20"),
        ),
        (
            "预热期",
            "小红书种草",
            "张丽",
            d("2025-10-10"),
            d("2025-11-10"),
            80000.0,
            "进行中",
            d("2025-10-15"),
        ),
        (
            "预热期",
            "抖音短视频投放",
            "张丽",
            d("2025-10-20"),
            d("2025-11-11"),
            120000.0,
            "进行中",
            d("2025-11-02"),
        ),
        (
            "预热期",
            "直播排期确认",
            "陈晨",
            d("2025-10-28"),
            d("2025-11-05"),
            10000.0,
            "未开始",
            None,
        ),
        (
            "爆发期",
            "双11当天值班",
            "王敏",
            d("2025-11-10"),
            d("2025-11-12"),
            5000.0,
            "未开始",
            None,
        ),
        (
            "返场期",
            "复盘会",
            "王敏",
            d("2025-11-13"),
            d("2025-11-20"),
            None,
            "延期",
            d("2025-11-01"),
        ),
    ]
    df = pd.DataFrame(
        rows, columns=["cycle", "task", "owner", "start", "end", "budget", "status", "updated"]
    )
    df.insert(1, "goal", "双11 成交金额 +30%")
    df.insert(2, "strategy", "站外种草 + 站内承接")
    df["resources"] = "设计 1 人"
    return df


def make_milestones() -> pd.DataFrame:
    d = pd.Timestamp
    return pd.DataFrame(
        {
            "milestone": ["预售开启", "库存到仓", "主播确认", "正式开售"],
            "date": [d("2025-10-20"), d("2025-11-05"), d("2025-11-06"), d("2025-11-11")],
            "standard": ["预售链接上线", "爆款库存≥2万件", "3位主播签约", "零点开售无故障"],
            "owner": ["王敏", "李强", "陈晨", "王敏"],
            "risk": ["低", "高", "高", "中"],
            "response": ["", None, "备选主播2位", "技术值守"],
            "done": [True, False, False, False],
        }
    )


def test_overdue_and_slipping_tasks_are_found():
    s = plan.task_status(make_plan(), AS_OF).set_index("task")
    assert s.loc["爆款备货", "flag"] == "overdue"  # deadline 10-25 passed
    assert s.loc["确定大促目标", "flag"] == "done"
    assert s.loc["小红书种草", "flag"] == "slipping"  # no update for 19 days
    assert s.loc["抖音短视频投放", "flag"] == "on_track"
    assert s.loc["直播排期确认", "flag"] == "slipping"  # should have started 10-28
    assert s.loc["双11当天值班", "flag"] == "on_track"
    assert s.loc["复盘会", "flag"] == "slipping"  # marked 延期
    assert s.loc["爆款备货", "days_left"] == -9
    o = plan.overdue_tasks(make_plan(), AS_OF)
    assert list(o.task) == ["爆款备货", "直播排期确认", "小红书种草", "复盘会"]
    assert "截止" in o.reason.iloc[0]
    en = plan.overdue_tasks(make_plan(), AS_OF, lang="en")
    assert "deadline passed" in en.reason.iloc[0]


def test_high_risk_milestone_without_response_gets_24h_deadline():
    r = plan.risk_actions(make_milestones(), AS_OF)
    assert list(r.milestone) == ["库存到仓"]  # 主播确认 has a plan; 中 risk is not listed
    assert r.action_deadline.iloc[0] == pd.Timestamp("2025-11-04 00:00")
    assert r.days_to_milestone.iloc[0] == 2
    r2 = plan.risk_actions(make_milestones(), AS_OF, now=pd.Timestamp("2025-11-03 15:30"))
    assert r2.action_deadline.iloc[0] == pd.Timestamp("2025-11-04 15:30")


def test_owner_summary_adds_budget_and_workload():
    o = plan.owner_summary(make_plan(), AS_OF).set_index("owner")
    assert o.loc["张丽", "budget"] == 200000.0
    assert o.loc["张丽", "open_tasks"] == 2
    assert o.loc["张丽", "peak_parallel"] == 2  # 10-20..11-10 overlap
    assert o.loc["王敏", "tasks"] == 3 and o.loc["王敏", "open_tasks"] == 2
    assert o.loc["王敏", "open_budget"] == 5000.0
    assert o.loc["李强", "overdue"] == 1
    assert o.budget.sum() == make_plan().budget.sum()


def test_monthly_schedule_marks_months_and_milestones():
    s = plan.monthly_schedule(make_plan(), make_milestones())
    assert [c for c in s.columns if c[:2] == "20"] == ["2025-09", "2025-10", "2025-11"]
    row = s.set_index("task").loc["小红书种草"]
    assert (row["2025-09"], row["2025-10"], row["2025-11"]) == ("", "■ 10–31", "■ 1–10")
    assert s.set_index("task").loc["正式开售", "2025-11"] == "◆ 11日"


def test_gantt_renders_chinese_without_missing_glyphs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*Glyph.*missing.*")
        ax = plan.plot_gantt(make_plan(), milestones=make_milestones(), as_of=AS_OF)
        ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "爆款备货（李强）" in labels
    # today's line sits at as_of
    import matplotlib.dates as mdates

    xs = [ln.get_xdata()[0] for ln in ax.get_lines()]
    assert mdates.date2num(pd.Timestamp(AS_OF)) in [
        mdates.date2num(x) if not isinstance(x, float) else x for x in xs
    ]
    plt.close(ax.figure)


def test_excel_export_has_status_fills_frozen_header_and_widths(tmp_path):
    from openpyxl import load_workbook

    path = plan.to_excel(tmp_path / "plan.xlsx", make_plan(), make_milestones(), as_of=AS_OF)
    wb = load_workbook(path)
    assert wb.sheetnames == ["表1 全周期计划表", "表2 大促执行管控表", "月度运营排期表"]
    ws = wb["表1 全周期计划表"]
    header = [c.value for c in ws[1]]
    assert header[:5] == ["周期", "目标", "策略", "具体任务", "负责人"]
    assert ws.freeze_panes == "A2"
    j = header.index("状态") + 1
    for i in range(2, ws.max_row + 1):
        status = ws.cell(row=i, column=j).value
        fill = ws.cell(row=i, column=j).fill.fgColor.rgb
        assert fill[-6:] == STATUS_COLORS[status].lstrip("#").upper(), (status, fill)
    task_col = ws.column_dimensions["D"].width
    assert task_col >= 2 * len("抖音短视频投放")
    ws2 = wb["表2 大促执行管控表"]
    h2 = [c.value for c in ws2[1]]
    risk = ws2.cell(row=3, column=h2.index("风险等级") + 1)
    assert risk.value == "高" and risk.fill.fgColor.rgb[-6:] == RISK_COLORS["高"][1:].upper()
    assert ws2.freeze_panes == "A2"
    start = ws.cell(row=2, column=header.index("开始时间") + 1).value
    assert start.date().isoformat() == "2025-09-15"


def test_plan_validation_errors_name_row_and_column(tmp_path):
    data = pytest.importorskip("opsnb.data", reason="opsnb.data (validation) not written yet")
    from opsnb.errors import DataContractError

    df = make_plan()
    df["start"] = df["start"].dt.strftime("%Y-%m-%d")
    df["end"] = df["end"].dt.strftime("%Y-%m-%d")
    df["updated"] = df["updated"].dt.strftime("%Y-%m-%d")
    df.loc[2, "status"] = "做了一半"
    df.loc[4, "end"] = "2025-10-01"  # before its start
    zh = df.rename(
        columns={
            "cycle": "周期",
            "goal": "目标",
            "strategy": "策略",
            "task": "具体任务",
            "owner": "负责人",
            "start": "开始时间",
            "end": "截止时间",
            "status": "状态",
            "budget": "预算",
            "updated": "更新时间",
            "resources": "所需资源",
        }
    )
    f = tmp_path / "表1.csv"
    zh.to_csv(f, index=False, encoding="utf-8-sig")
    with pytest.raises(DataContractError) as e:
        plan.load_plan(f)
    problems = e.value.problems
    bad_status = [p for p in problems if p.column in ("status", "状态")]
    assert bad_status and bad_status[0].row == 4  # header is row 1
    assert any(p.row == 6 for p in problems if p is not bad_status[0])
    assert "row 4" in str(e.value)
    good = plan.load_plan(make_plan())
    assert len(good) == 7
    assert data is not None


def test_milestone_validation_rejects_unknown_risk():
    pytest.importorskip("opsnb.data", reason="opsnb.data (validation) not written yet")
    from opsnb.errors import DataContractError

    m = make_milestones()
    m.loc[1, "risk"] = "很高"
    with pytest.raises(DataContractError) as e:
        plan.load_milestones(m)
    assert any(p.row == 3 and p.column == "risk" for p in e.value.problems)


def test_english_tables_show_statuses_and_risks_in_english_but_keep_the_data():
    tasks = make_plan()
    late = plan.overdue_tasks(tasks, AS_OF, lang="en")
    shown = plan.display_table(late, lang="en")
    assert set(shown["Status"]) <= {"Not started", "In progress", "Done", "Delayed"}
    assert "Delayed" in set(shown["Status"])
    assert set(late["status"]) <= set(STATUS_COLORS)  # the data itself stays in Chinese
    risks = plan.display_table(plan.risk_actions(make_milestones(), AS_OF), lang="en")
    assert set(risks["Risk"]) == {"High"}
    sched = plan.display_table(
        plan.monthly_schedule(tasks, make_milestones(), lang="en"), lang="en"
    )
    values = set(sched["Status"])
    assert values <= {
        "Not started",
        "In progress",
        "Done",
        "Delayed",
        "None",
        "Low",
        "Medium",
        "High",
    }
    assert not any(ch in "".join(values) for ch in "已完成进行中延期未开始无低中高")
    zh = plan.display_table(late, lang="zh")
    assert set(zh["状态"]) == set(late["status"])


def test_gantt_legend_reads_in_english_with_risk_markers():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plan.plot_gantt(make_plan(), milestones=make_milestones(), as_of=AS_OF, lang="en")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:4] == ["Not started", "In progress", "Done", "Delayed"]
    assert "Risk: high" in legend
    assert not any(ch in "".join(legend) for ch in "已完成进行中延期未开始无低中高")
    plt.close(ax.figure)


def test_english_excel_translates_statuses_and_keeps_their_colours(tmp_path):
    from openpyxl import load_workbook

    path = plan.to_excel(
        tmp_path / "plan.xlsx", make_plan(), make_milestones(), as_of=AS_OF, lang="en"
    )
    wb = load_workbook(path)
    ws = wb["Plan (表1)"]
    header = [c.value for c in ws[1]]
    j = header.index("Status") + 1
    en_to_zh = {v[1]: k for k, v in PLAN_STATUS_LABELS.items()}
    for i in range(2, ws.max_row + 1):
        cell = ws.cell(row=i, column=j)
        assert cell.value in en_to_zh, cell.value
        assert cell.fill.fgColor.rgb[-6:] == STATUS_COLORS[en_to_zh[cell.value]][1:].upper()
    ws2 = wb["Milestones (表2)"]
    h2 = [c.value for c in ws2[1]]
    risk = ws2.cell(row=3, column=h2.index("Risk") + 1)
    assert risk.value == "High" and risk.fill.fgColor.rgb[-6:] == RISK_COLORS["高"][1:].upper()
