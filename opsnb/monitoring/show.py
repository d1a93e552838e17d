"""What notebook 03 shows from a :class:`opsnb.monitoring.MonitorResult`: the daily report 表3
(每日数据监控表) with 环比 / 较上周同期 / 同比 / month-to-date against the target, anomaly notes,
suggested fixes and owners, the open incidents with their age and deadlines, the alert list,
trend charts with the expected band, drafted 异常数据整改报告, the styled Excel export and,
last, :func:`show_summary`, the 结论 / Summary box under the report's title.
Chinese and English (``lang``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.i18n import SEVERITIES, SEVERITY_LABELS, Labels, event_label
from opsnb.monitoring.compare import COMPARISON_LABELS, day_comparisons, month_to_date
from opsnb.monitoring.daily import METRICS, RATES, TOTAL, MonitorResult, gmv_at_risk, root_cause
from opsnb.results import Result
from opsnb.sheets import (
    CHANGE,
    COUNT,
    DATE,
    MONEY,
    MONEY_CENTS,
    RATE,
    SMALL_RATE,
    column_format,
    save_book,
    write_sheet,
)

__all__ = [
    "show_summary",
    "daily_report",
    "draft_rectification",
    "plot_monitor",
    "day_summary",
    "alert_list",
    "rectification_drafts",
    "plot_day",
    "export_excel",
    "DaySummary",
    "show_table3",
    "show_excel",
    "show_alerts",
    "show_trends",
    "show_root_cause",
    "show_drafts",
    "show_incidents",
    "incident_table",
    "TABLE3_COMPARISONS",
]

TABLE3_COMPARISONS = (
    "gmv_dod",
    "gmv_wow",
    "gmv_yoy",
    "mtd_gmv",
    "month_target",
    "achievement",
    "time_progress",
)
"""Columns :func:`daily_report` adds when given the daily frame: GMV 环比, 较上周同期, 同比 and the
month to date against the monthly target (:mod:`opsnb.monitoring.compare`)."""


_OWNERS = {
    "自然搜索": ("搜索运营", "Search ops"),
    "付费推广": ("推广投放", "Paid media"),
    "抖音": ("抖音运营", "Douyin ops"),
    "小红书": ("小红书运营", "Xiaohongshu ops"),
    "直播": ("直播运营", "Live-stream ops"),
    "老客/私域": ("会员/私域运营", "CRM ops"),
    TOTAL: ("店长", "Shop manager"),
}


_FIX = {
    ("visitors", "down"): (
        "检查埋点与数据回传、投放账户与商品上下架状态",
        "Check tracking tags and data feed, ad account and listing status",
    ),
    ("visitors", "up"): (
        "排查刷量/机器人流量并屏蔽异常来源，核对买家数是否同步",
        "Look for bot traffic, block bad sources, check buyers moved too",
    ),
    ("conversion_rate", "down"): (
        "检查支付链路、价格库存与详情页，回看当日改动",
        "Check checkout, price, stock and product page; review changes",
    ),
    ("conversion_rate", "up"): (
        "核对访客数口径（埋点少记会抬高转化率）",
        "Check visitor counting (under-recorded visits inflate conversion)",
    ),
    ("aov", "down"): ("核对优惠券/满减配置与价格", "Check coupon and discount set-up and prices"),
    ("aov", "up"): ("确认大单/批发订单是否真实", "Verify large or bulk orders are genuine"),
    ("gmv", "down"): (
        "按渠道×因素拆解后处理最大缺口，复盘大促承接",
        "Fix the largest channel × factor gap; review promotion readiness",
    ),
    ("gmv", "up"): (
        "确认库存与履约能力，复制有效动作",
        "Secure stock and fulfilment; repeat what worked",
    ),
    ("refund_rate", "up"): (
        "抽检批次质量、查看退款原因，必要时暂停问题商品",
        "Inspect batch quality and refund reasons; pause faulty items",
    ),
    ("refund_rate", "down"): ("确认退款数据回传是否正常", "Check the refund data feed"),
}


_DATA_FIX = ("修复访客统计", "Fix visitor counting")


def _fix(metric: str, direction: str, issue: str = "") -> tuple[str, str]:
    if issue == "data":
        return _DATA_FIX
    return _FIX.get((metric, direction), ("核查数据与业务动作", "Check data and actions"))


def _owner(
    channel: str, metric: str, direction: str, rel: float, lang: str, issue: str = ""
) -> str:
    i = 0 if lang == "zh" else 1
    if issue == "data" or (metric == "visitors" and direction == "down" and rel <= -0.5):
        return ("数据分析", "Data analyst")[i]  # likely a tracking problem
    return _OWNERS.get(channel, ("渠道负责人", "Channel owner"))[i]


def _person(people: dict[str, str] | None, channel: str, issue: str = "") -> str | None:
    """The person named for ``channel`` (``data`` for a tracking problem when named), as the
    incident table picks them."""
    people = people or {}
    return people.get("data" if issue == "data" and "data" in people else channel)


def _people(ctx, owners: dict | None) -> dict[str, str]:
    """channel → name from the ``owners`` parameter, then the targets' owners."""
    from opsnb.monitoring.incidents import resolve_owners

    return {ch: o.name for ch, o in resolve_owners(owners, _targets(ctx)).items() if o.name}


def _with_person(role: str, person: str | None, lang: str) -> str:
    """``陈晨（小红书运营）`` / ``Chen (Xiaohongshu ops)``; the role alone when nobody is named."""
    if not person:
        return role
    return f"{person}（{role}）" if lang == "zh" else f"{person} ({role})"


def _note(rows: pd.DataFrame, lang: str) -> str:
    from opsnb.i18n import Labels

    L = Labels(lang)
    parts = []
    for r in rows.itertuples(index=False):
        arrow = "↑" if r.direction == "up" else "↓"
        sev = L(*SEVERITY_LABELS[r.severity]) if r.severity in SEVERITY_LABELS else r.severity
        ev = (
            L(f"〔{event_label(r.event, lang)}〕", f" [{event_label(r.event, lang)}]")
            if r.event
            else ""
        )
        if getattr(r, "issue", "") == "data":
            ev += L("〔埋点/口径问题〕", " [tracking/data issue]")
        parts.append(
            f"{L.col(r.metric)}{arrow}{abs(r.rel_change) * 100:.0f}%"
            + L.paren(f"{L('预期', 'expected')} {_fmt(r.metric, r.expected)}{L.comma}{sev}")
            + ev
        )
    return L.semi.join(parts)


def _fmt(metric: str, x: float) -> str:
    if metric in RATES:
        return f"{x * 100:.2f}%"
    return f"{x:,.0f}"


def daily_report(
    result: MonitorResult,
    as_of=None,
    *,
    lang: str = "zh",
    daily: pd.DataFrame | None = None,
    targets: pd.DataFrame | None = None,
    people: dict[str, str] | None = None,
) -> pd.DataFrame:
    """表3 每日数据监控表 for one day: date, channel, visitors, conversion_rate, aov, gmv,
    refund_rate, [gmv_dod, gmv_wow, gmv_yoy, mtd_gmv, month_target, achievement,
    time_progress — with ``daily``, see :data:`TABLE3_COMPARISONS`], note (anomaly note), fix
    (suggested fix), owner. Canonical column names (the report translates them); the shop total
    is the last row. ``targets``: the ``targets`` table (monthly GMV targets, period YYYY-MM).
    ``people``: channel → the person who answers for it, as in :func:`alert_list`."""
    d = pd.Timestamp(as_of) if as_of is not None else result.as_of
    sc = result.scores[result.scores["date"] == d]
    wide = sc.pivot_table(index="channel", columns="metric", values="actual", aggfunc="first")
    cmp_ = mtd = None
    if daily is not None:
        c = day_comparisons(daily, d, metrics=["gmv"])
        cmp_ = c.set_index("channel")[["dod", "wow", "yoy"]].add_prefix("gmv_")
        mtd = month_to_date(daily, d, targets).set_index("channel")
    rows = []
    for ch in [c for c in wide.index if c != TOTAL] + ([TOTAL] if TOTAL in wide.index else []):
        fl = sc[(sc["channel"] == ch) & sc["is_anomaly"]]
        # a collapse of recorded visitors (tracking) explains the rest: list it first
        tracking = (fl["metric"] == "visitors") & (fl["rel_change"] <= -0.5)
        fl = fl.assign(_k=tracking).sort_values(["_k", "gmv_at_risk"], ascending=False)
        top = fl.iloc[0] if len(fl) else None
        fix = owner = ""
        if top is not None:
            zh, en = _fix(top.metric, top.direction, top.issue)
            fix = zh if lang == "zh" else en
            owner = _with_person(
                _owner(ch, top.metric, top.direction, top.rel_change, lang, top.issue),
                _person(people, ch, top.issue),
                lang,
            )
        rec = {"date": d.date(), "channel": ch}
        for m in METRICS:
            rec[m] = wide.loc[ch, m] if m in wide.columns else np.nan
        if cmp_ is not None:
            for k in ("gmv_dod", "gmv_wow", "gmv_yoy"):
                rec[k] = cmp_[k].get(ch, np.nan)
            for k in ("mtd_gmv", "month_target", "achievement", "time_progress"):
                rec[k] = mtd[k].get(ch, np.nan)
        rec.update(note=_note(fl, lang), fix=fix, owner=owner)
        rows.append(rec)
    return pd.DataFrame(rows)


def draft_rectification(
    result: MonitorResult, alert: pd.Series, daily: pd.DataFrame, *, lang: str = "zh"
) -> str:
    """Markdown draft of an 异常数据整改报告 for one alert: what, since when, likely cause (from
    :func:`root_cause`), GMV at risk, owner and deadlines."""
    from opsnb.i18n import Labels
    from opsnb.plots import format_money

    L = Labels(lang)
    sc = result.scores
    same = sc[(sc["channel"] == alert.channel) & (sc["metric"] == alert.metric)].sort_values("date")
    flagged = same.set_index("date")["is_anomaly"]
    start = alert.date
    while (start - pd.Timedelta(days=1)) in flagged.index and flagged[start - pd.Timedelta(days=1)]:
        start -= pd.Timedelta(days=1)
    dec = root_cause(daily, alert.date, result=result)
    if alert.channel != TOTAL:
        dec = dec[dec["channel"] == alert.channel]
    fac = {
        "visitors": L("访客数", "visitors"),
        "conversion": L("转化率", "conversion"),
        "orders_per_buyer": L("人均订单数", "orders per buyer"),
        "aov": L("客单价", "AOV"),
    }
    causes = L.semi.join(
        f"{r.channel} {fac.get(r.factor, r.factor)} {format_money(r.contribution, lang)}"
        for r in dec.head(3).itertuples(index=False)
    )
    fix = _fix(alert.metric, alert.direction, alert.get("issue", ""))
    owner = _owner(
        alert.channel, alert.metric, alert.direction, alert.rel_change, lang, alert.get("issue", "")
    )
    arrow = L("上升", "up") if alert.direction == "up" else L("下降", "down")
    resp = alert.response_due.date() if pd.notna(alert.response_due) else "—"
    # a collapse of recorded visitors the same day makes rates jump: say so before anything else
    al = result.alerts
    trk = al[
        (al["date"] == alert.date)
        & (al["metric"] == "visitors")
        & (al["rel_change"] <= -0.5)
        & ((al["channel"] == alert.channel) | (alert.channel == TOTAL))
    ]
    warn = []
    if alert.get("issue", "") == "data" and alert.metric == "visitors":
        art = al[
            (al["date"] == alert.date)
            & (al["cause"] == "visitors")
            & ((al["channel"] == alert.channel) | (al["channel"] == TOTAL))
        ]
        arts = L("、", ", ").join(
            f"{r.channel} {L.col(r.metric)} {r.rel_change * 100:+.0f}%"
            for r in art.itertuples(index=False)
        )
        warn = [
            f"- **{L('数据问题（埋点/口径）', 'Data issue (tracking)')}**{L.colon}"
            + (
                L(
                    "访客数少记，订单与GMV正常；同日",
                    "visits were under-recorded while orders and GMV were normal; the same-day ",
                )
                if alert.gmv_at_risk == 0
                else L(
                    "访客数少记，GMV同时异常（见影响金额）；同日",
                    "visits were under-recorded and GMV moved too (see GMV at risk); the same-day ",
                )
            )
            + f"{arts or '—'}{L(' 为口径假象，与本项合并为一个事件。', ' is a counting artefact of this incident.')}"
        ]
    if (
        alert.metric in ("conversion_rate", "gmv", "aov")
        and len(trk)
        and alert.metric != "visitors"
    ):
        who = L("、", ", ").join(
            f"{r.channel} {r.rel_change * 100:+.0f}%" for r in trk.itertuples(index=False)
        )
        warn = [
            f"- **{L('先查数据', 'Check the data first')}**{L.colon}"
            f"{L('同日访客数骤降', 'recorded visitors collapsed the same day')}{L.paren(who)}"
            f"{L('，很可能是埋点/数据回传丢失；此项变化多为口径假象，先修复访客统计。', ': most likely lost tracking, so this move is probably a counting artefact; fix visitor counting first.')}"
        ]
    return "\n".join(
        [
            f"**{L('异常数据整改报告', 'Anomaly rectification report')}{L.colon}{alert.channel} · {L.col(alert.metric)}**",
            "",
            *warn,
            f"- {L('异常内容', 'What')}{L.colon}{L.col(alert.metric)} {arrow} {abs(alert.rel_change) * 100:.0f}%"
            + L.paren(
                f"{L('实际', 'actual')} {_fmt(alert.metric, alert.actual)}{L.comma}{L('预期', 'expected')} "
                f"{_fmt(alert.metric, alert.expected)}{L.comma}{L('区间', 'interval')} {_fmt(alert.metric, alert.lower)}–"
                f"{_fmt(alert.metric, alert.upper)}"
            ),
            f"- {L('开始时间', 'Since')}{L.colon}{start.date()}",
            f"- {L('影响金额', 'GMV at risk')}{L.colon}{format_money(alert.gmv_at_risk, lang)}"
            + L.paren(f"{L('严重程度', 'severity')} {L(*SEVERITY_LABELS[alert.severity])}"),
            f"- {L('可能原因（较预期日的GMV拆解，大促按大促预期）', 'Likely cause (GMV decomposition vs. the expected day, promotions included)')}{L.colon}{causes}",
            f"- {L('整改建议', 'Suggested fix')}{L.colon}{fix[0] if lang == 'zh' else fix[1]}",
            f"- {L('负责人', 'Owner')}{L.colon}{owner}",
            f"- {L('应对方案截止', 'Response plan due')}{L.colon}{resp}{L.semi}{L('整改报告截止', 'Report due')}{L.colon}{alert.report_due.date()}",
        ]
    )


def plot_monitor(
    result: MonitorResult, channel: str, metric: str, *, lang: str = "zh", ax=None, days: int = 60
):
    """Actual, expected band and flagged points of one channel × metric over the last ``days``."""
    from opsnb.i18n import Labels
    from opsnb.plots import PALETTE, axis_units, metric_kind, new_axes

    ax = new_axes(ax)
    L = Labels(lang)
    s = result.scores
    s = s[
        (s["channel"] == channel)
        & (s["metric"] == metric)
        & (s["date"] > result.as_of - pd.Timedelta(days=days))
    ].sort_values("date")
    ax.fill_between(
        s["date"],
        s["lower"],
        s["upper"],
        color=PALETTE[0],
        alpha=0.15,
        label=L("预期区间", "Expected band"),
    )
    ax.plot(s["date"], s["expected"], color=PALETTE[0], lw=1, ls="--", label=L("预期", "Expected"))
    ax.plot(s["date"], s["actual"], color="#333333", lw=1.5, label=L("实际", "Actual"))
    f = s[s["is_anomaly"]]
    ax.scatter(f["date"], f["actual"], color=PALETTE[1], zorder=5, s=40, label=L("异常", "Anomaly"))
    axis_units(ax, metric_kind(metric), lang=lang)
    ax.set_title(f"{channel} · {L.col(metric)}")
    ax.legend(loc="upper left", fontsize=8)
    ax.tick_params(axis="x", labelrotation=30)
    return ax


@dataclass(frozen=True)
class DaySummary(Result):
    """Key figures of one monitored day.

    ``tests``: metric × channel tests run; ``alerts``: anomalies flagged; ``high``: of them
    high-severity (24 h response plan due); ``gmv_at_risk``: the shop-level GMV gap versus its
    expected value on a day with alerts (:func:`opsnb.monitoring.daily.gmv_at_risk`);
    ``gmv_at_risk_channels``: the flagged channels' gaps, each channel-day once however many of
    its metrics fired; ``alpha``: the false-discovery rate Benjamini–Hochberg keeps.
    """

    date: str
    tests: int
    alerts: int
    high: int
    gmv_at_risk: float
    alpha: float
    gmv_at_risk_channels: float = 0.0

    def key_figures(self) -> dict:
        """The figures as recorded for the index and the ledger (``monitor_*`` keys)."""
        return {f"monitor_{k}": v for k, v in self.to_dict().items()}


def day_summary(result: MonitorResult, as_of) -> DaySummary:
    """Key figures of one day: tests, alerts, high-severity alerts, GMV at risk, alpha."""
    d = pd.Timestamp(as_of)
    al = result.alerts[result.alerts["date"] == d]
    money = gmv_at_risk(result, d)
    return DaySummary(
        date=str(d.date()),
        tests=int(result.tests.get(d, 0)),
        alerts=int(len(al)),
        high=int((al["severity"] == "high").sum()),
        gmv_at_risk=money.shop,
        alpha=result.alpha,
        gmv_at_risk_channels=money.channels,
    )


def alert_list(
    result: MonitorResult,
    as_of,
    *,
    lang: str = "zh",
    days: int = 1,
    people: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Alerts of the ``days`` days ending ``as_of``: date, channel, metric (translated), actual,
    expected, change, gmv_at_risk, severity, owner, response_due, report_due.

    The owner is the role that acts (渠道运营, 数据分析); with ``people`` (channel → name, key
    ``data`` for tracking problems: the names the incident table uses, see
    :func:`opsnb.monitoring.incidents.resolve_owners`) it reads ``陈晨（小红书运营）``, so the alert
    list and the incident table name the same person.
    """
    from opsnb.i18n import Labels

    L = Labels(lang)
    d = pd.Timestamp(as_of)
    al = result.alerts[
        (result.alerts["date"] > d - pd.Timedelta(days=days)) & (result.alerts["date"] <= d)
    ]
    sev_rank = {code: i for i, code in enumerate(SEVERITIES)}
    al = al.assign(_r=al["severity"].map(sev_rank)).sort_values(
        ["_r", "gmv_at_risk"], ascending=[True, False]
    )
    return pd.DataFrame(
        {
            L("日期", "Date"): al["date"].dt.strftime("%Y-%m-%d"),
            L("流量来源", "Traffic source"): al["channel"],
            L("指标", "Metric"): [L.col(m) for m in al["metric"]],
            L("实际", "Actual"): [_fmt(m, v) for m, v in zip(al["metric"], al["actual"])],
            L("预期", "Expected"): [_fmt(m, v) for m, v in zip(al["metric"], al["expected"])],
            L("变化", "Change"): [f"{v * 100:+.0f}%" for v in al["rel_change"]],
            L("影响金额", "GMV at risk"): al["gmv_at_risk"].round(0),
            L("严重程度", "Severity"): al["severity"].map(lambda c: L(*SEVERITY_LABELS[c])),
            L("负责人", "Owner"): [
                _with_person(_owner(c, m, dr, r, lang, i), _person(people, c, i), lang)
                for c, m, dr, r, i in zip(
                    al["channel"], al["metric"], al["direction"], al["rel_change"], al["issue"]
                )
            ],
            L("应对方案截止", "Response plan due"): al["response_due"]
            .dt.strftime("%Y-%m-%d")
            .fillna("—"),
            L("整改报告截止", "Report due"): al["report_due"].dt.strftime("%Y-%m-%d"),
        }
    )


def rectification_drafts(
    result: MonitorResult, daily: pd.DataFrame, as_of, *, lang: str = "zh"
) -> str:
    """Markdown drafts of 异常数据整改报告 for the alerts of ``as_of``, one per channel (its
    largest alert): every confirmed anomaly owes a report within 48 hours, so a day with only
    low or medium alerts gets drafts too, introduced by a sentence saying no 24-hour response
    plan is due. High-severity alerts and data incidents (a tracking outage: its visitors
    alert, fix 修复访客统计) come first. A day without alerts gets a sentence saying so."""
    from opsnb.i18n import Labels

    L = Labels(lang)
    d = pd.Timestamp(as_of)
    al = result.alerts[result.alerts["date"] == d]
    if al.empty:
        return L("今日无异常，无需整改报告。", "No anomaly today: no report needed.")
    data = (al["issue"] == "data") & (al["metric"] == "visitors")
    urgent = (al["severity"] == "high") | data
    todo = (
        al.assign(_u=urgent, _k=data)
        .sort_values(["_u", "_k", "gmv_at_risk"], ascending=False)
        .drop_duplicates("channel")
    )
    drafts = "\n\n---\n\n".join(
        draft_rectification(result, r, daily, lang=lang) for _, r in todo.iterrows()
    )
    if urgent.any():
        return drafts
    due = pd.to_datetime(todo["report_due"]).min().date()
    lead = L(
        f"今日无高风险异常，无需 24 小时应对方案；{len(todo)} 项确认的异常仍须在 48 小时内（{due} 前）提交整改报告，草稿如下。",
        f"No high-severity anomaly today, so no 24-hour response plan is due; {len(todo)} confirmed "
        f"{'anomaly still needs' if len(todo) == 1 else 'anomalies still need'} a rectification report within 48 hours (by {due}): drafts below.",
    )
    return lead + "\n\n" + drafts


def plot_day(
    result: MonitorResult, as_of, *, lang: str = "zh", days: int = 56, max_panels: int = 6
):
    """Trend charts (actual, expected band, flagged points) for the channel × metric series
    flagged on ``as_of`` (the shop's GMV when none); returns the Figure."""
    import matplotlib.pyplot as plt

    from opsnb.plots import use_theme

    use_theme()
    d = pd.Timestamp(as_of)
    al = (
        result.alerts[result.alerts["date"] == d]
        .drop_duplicates(["channel", "metric"])
        .head(max_panels)
    )
    pairs = list(zip(al["channel"], al["metric"])) or [(TOTAL, "gmv")]
    n = len(pairs)
    cols = 2 if n > 1 else 1
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 3.4 * rows), squeeze=False)
    sub = MonitorResult(
        result.scores[result.scores["date"] <= d],
        result.alerts,
        result.tests,
        result.discoveries,
        result.alpha,
        result.sensitivity,
        d,
    )
    for ax, (ch, m) in zip(axes.ravel(), pairs):
        plot_monitor(sub, ch, m, lang=lang, ax=ax, days=days)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


_ANOMALY_FILL = "FDE2E1"
_TABLE3_FORMATS = {
    "visitors": COUNT,
    "conversion_rate": SMALL_RATE,
    "refund_rate": SMALL_RATE,
    "aov": MONEY_CENTS,
    "gmv": MONEY,
    "gmv_dod": CHANGE,
    "gmv_wow": CHANGE,
    "gmv_yoy": CHANGE,
    "mtd_gmv": MONEY,
    "month_target": MONEY,
    "achievement": RATE,
    "time_progress": RATE,
    "date": DATE,
}


def _metric_format(metric: str) -> str:
    """Number format of one metric's values (the comparisons sheet has a metric per row)."""
    return _TABLE3_FORMATS.get(metric) or column_format(metric) or COUNT


def export_excel(
    table: pd.DataFrame,
    as_of,
    *,
    lang: str = "zh",
    out_dir=None,
    comparisons: pd.DataFrame | None = None,
) -> Path:
    """Write 表3 to ``out_dir/表3_<date>.xlsx`` (default ``<outputs>/03_daily_monitoring``;
    notebooks pass ``ctx.output_dir``), styled like 表1/表2: translated bold header on blue,
    number formats (counts, ¥, %, signed % changes), widths fitted to the content (CJK counted
    double), frozen header and first two columns, a filter, anomalous rows filled light red.
    Cells from the data that start with = + - @ tab or CR are written as text, never as
    formulas. ``comparisons`` (:func:`opsnb.monitoring.compare.day_comparisons`) adds a sheet."""
    from openpyxl import Workbook

    from opsnb import config
    from opsnb.i18n import Labels

    L = Labels(lang)
    out = Path(out_dir) if out_dir else config.outputs_dir() / "03_daily_monitoring"
    out.mkdir(parents=True, exist_ok=True)
    path = (
        out
        / f"{L('表3_每日数据监控', 'table3_daily_monitoring')}_{pd.Timestamp(as_of).date()}.xlsx"
    )
    names = {
        "note": L("异常说明", "Anomaly note"),
        "fix": L("整改建议", "Suggested fix"),
        "owner": L("负责人", "Owner"),
        **{
            f"gmv_{k}": f"{L('成交金额', 'GMV')} {L(*COMPARISON_LABELS[k])}"
            for k in ("dod", "wow", "yoy")
        },
        **{
            k: L(*COMPARISON_LABELS[k])
            for k in ("mtd_gmv", "month_target", "achievement", "time_progress")
        },
    }
    wb = Workbook()
    wb.remove(wb.active)
    anomalous = table["note"].fillna("").ne("") if "note" in table else None
    write_sheet(
        wb,
        L("表3", "Table 3"),
        table,
        headers=[names.get(c, L.col(c)) for c in table.columns],
        formats=_TABLE3_FORMATS,
        row_fills=None if anomalous is None else [_ANOMALY_FILL if a else None for a in anomalous],
        freeze="C2",
        wrap=("note",),
        lang=lang,
    )
    if comparisons is not None and len(comparisons):
        c = comparisons.drop(columns=["yoy_date"]).copy()
        per_row = [_metric_format(m) for m in c["metric"]]
        c["metric"] = [L.col(m) for m in c["metric"]]
        heads = {
            "channel": L.col("channel"),
            "metric": L("指标", "Metric"),
            "value": L("当日", "Day"),
            "prev_day": L("前一日", "Previous day"),
            "dod": L(*COMPARISON_LABELS["dod"]),
            "last_week": L("上周同日", "Same weekday last week"),
            "wow": L(*COMPARISON_LABELS["wow"]),
            "last_year": L("去年同期", "Last year"),
            "yoy": L(*COMPARISON_LABELS["yoy"]),
            "yoy_basis": L("同比口径", "Last-year basis"),
        }
        write_sheet(
            wb,
            L("环比同比", "Comparisons"),
            c,
            headers=heads,
            formats={
                **{k: per_row for k in ("value", "prev_day", "last_week", "last_year")},
                **{k: CHANGE for k in ("dod", "wow", "yoy")},
            },
            freeze="C2",
            lang=lang,
        )
    return save_book(wb, path)  # whole file, then renamed; formula-like text quoted


# ------------------------------------------------------------------ report sections (notebook 03)


def _targets(ctx) -> pd.DataFrame | None:
    try:
        return ctx.read_all("targets")
    except Exception:  # noqa: BLE001 - no targets table in the store: the columns stay empty
        return None


def show_table3(
    ctx,
    result: MonitorResult,
    as_of,
    daily: pd.DataFrame | None = None,
    *,
    owners: dict | None = None,
) -> tuple[DaySummary, pd.DataFrame]:
    """表3 每日数据监控表 with its headline sentence (how GMV at risk is counted), GMV 环比 /
    较上周同期 / 同比 and month to date against the monthly target when ``daily`` is given, and
    the shop total's comparisons per metric; returns the day's summary and the table. Owners
    are named as in the incident table (``owners``, then the targets' owners)."""
    s = day_summary(result, as_of)
    ctx.h2("表3 每日数据监控表", "Table 3: daily monitoring")
    ctx.say(
        f"{s.date}：共检验 {s.tests} 项（指标×渠道），发现 {s.alerts} 项异常，其中高风险 {s.high} 项，"
        f"影响金额 {ctx.money(s.gmv_at_risk)}（全店成交金额与预期之差），异常渠道缺口合计 "
        f"{ctx.money(s.gmv_at_risk_channels)}（每个渠道日只计一次，不按指标重复相加）。"
        f"多重检验按 Benjamini–Hochberg 控制错误发现率 {s.alpha:.1%}。",
        f"{s.date}: {s.tests} tests (metrics × channels), {s.alerts} anomalies, {s.high} high-severity, "
        f"GMV at risk {ctx.money(s.gmv_at_risk)} (the shop's GMV gap versus its expected value); "
        f"flagged channels' gaps {ctx.money(s.gmv_at_risk_channels)} (each channel-day counted once, "
        f"not once per metric). Benjamini–Hochberg keeps the false-discovery rate at {s.alpha:.1%}.",
    )
    if s.tests == 0:
        days = int(pd.to_datetime(result.scores["date"]).nunique()) if len(result.scores) else 0
        ctx.note(
            f"没有可检验的指标：异常检测需要至少 28 天的历史数据，当前库中只有 {days} 天。继续每天导入数据，满 28 天后开始检测。",
            f"Nothing could be tested: anomaly detection needs at least 28 days of history and the store holds {days}. Keep importing daily; testing starts on day 28.",
            kind="alert",
        )
    targets = _targets(ctx) if daily is not None else None
    t3 = daily_report(
        result, as_of, lang=ctx.lang, daily=daily, targets=targets, people=_people(ctx, owners)
    )
    L = ctx.L
    shown = t3.rename(
        columns={
            **{
                f"gmv_{k}": f"{L('成交', 'GMV ')}{L(*COMPARISON_LABELS[k])}"
                for k in ("dod", "wow", "yoy")
            },
            **{
                k: L(*COMPARISON_LABELS[k])
                for k in ("mtd_gmv", "month_target", "achievement", "time_progress")
            },
        }
    )
    new = [c for c in shown.columns if c not in t3.columns]
    ctx.table(
        shown,
        pct=[
            "conversion_rate",
            "refund_rate",
            *[
                c
                for c in new
                if c
                not in (L(*COMPARISON_LABELS["mtd_gmv"]), L(*COMPARISON_LABELS["month_target"]))
            ],
        ],
        money=[
            "gmv",
            "aov",
            *[
                c
                for c in new
                if c in (L(*COMPARISON_LABELS["mtd_gmv"]), L(*COMPARISON_LABELS["month_target"]))
            ],
        ],
        int_cols=["visitors"],
        translate=True,
    )
    if daily is not None:
        _say_comparisons(ctx, daily, as_of, t3, targets)
    return s, t3


def _say_comparisons(ctx, daily, as_of, t3: pd.DataFrame, targets) -> None:
    from opsnb.monitoring.compare import same_day_last_year

    ly, basis = same_day_last_year(as_of)
    tot = t3[t3["channel"] == TOTAL]
    if basis:
        ctx.say(
            f"同比按去年同一大促日（{basis}，{ly.date()}）比较，不按同一日历日。",
            f"Year on year compares with last year's same event day ({basis}, {ly.date()}), not the same calendar date.",
        )
    if len(tot) and pd.notna(tot["achievement"].iloc[0]):
        r = tot.iloc[0]
        ahead = r["achievement"] >= r["time_progress"]
        ctx.say(
            f"本月累计成交 {ctx.money(r['mtd_gmv'])}，月度目标 {ctx.money(r['month_target'])}，达成 {ctx.pct(r['achievement'])}，"
            f"时间进度 {ctx.pct(r['time_progress'])}：{'领先' if ahead else '落后'}于进度。",
            f"Month to date {ctx.money(r['mtd_gmv'])} of a {ctx.money(r['month_target'])} target: {ctx.pct(r['achievement'])} achieved "
            f"with {ctx.pct(r['time_progress'])} of the month gone, {'ahead of' if ahead else 'behind'} pace.",
        )
    else:
        ctx.say(
            "本月没有月度成交目标（targets 表中 period=YYYY-MM、metric=gmv 的行），目标达成列为空。",
            "No monthly GMV target for this month (targets rows with period YYYY-MM, metric gmv): the target columns are empty.",
        )


def show_excel(ctx, table: pd.DataFrame, as_of, daily: pd.DataFrame | None = None) -> Path:
    """Write 表3 (and, with ``daily``, the per-metric comparisons) as styled Excel into the
    run's output folder and say where it is."""
    cmp_ = day_comparisons(daily, as_of) if daily is not None else None
    xlsx = export_excel(table, as_of, lang=ctx.lang, out_dir=ctx.output_dir, comparisons=cmp_)
    ctx.say(
        f"Excel 版：`{xlsx.name}`（与报告同在输出目录）。",
        f"Excel copy: `{xlsx.name}` (in the output folder next to the report).",
    )
    return xlsx


def show_alerts(ctx, result: MonitorResult, as_of, *, owners: dict | None = None) -> None:
    """The alert list with its 24 h / 48 h deadlines; owners named as in the incident table
    (``owners`` parameter, then the targets' owners)."""
    ctx.h2("异常清单与期限", "Anomaly list and deadlines")
    ctx.say(
        "高风险：24小时内提交应对方案；所有确认的异常：48小时内提交异常数据整改报告。",
        "High severity: response plan within 24 h; every confirmed anomaly: rectification report within 48 h.",
    )
    al = alert_list(result, as_of, lang=ctx.lang, people=_people(ctx, owners))
    if al.empty:
        ctx.say("今日没有异常。", "No anomalies today.")
    else:
        ctx.table(al, translate=False, money=[ctx.L("影响金额", "GMV at risk")])


def show_trends(ctx, result: MonitorResult, as_of) -> None:
    """Trend panels of the day's anomalous series with their expected bands."""
    ctx.h2("趋势与预期区间", "Trends and expected bands")
    ctx.say(
        "灰线为实际值，蓝色带为因果基线的预期区间（大促日按去年同期倍数），橙点为异常。",
        "Dark line: actual; blue band: the causal baseline's expected range (promotion days scaled by last year's event); orange: anomalies.",
    )
    ctx.show(plot_day(result, as_of, lang=ctx.lang))


def show_root_cause(ctx, daily: pd.DataFrame, as_of, result: MonitorResult | None = None) -> None:
    """Root-cause waterfall: the day's GMV against its expected, event-aware value (the anomaly
    test's baseline, from ``result``), by channel × factor; the typical same weekday without."""
    from opsnb.drivers import plot_waterfall

    dec = root_cause(daily, as_of, result=result, lang=ctx.lang)
    if dec.attrs.get("baseline") == "typical":
        ctx.h2(
            "根因拆解：成交金额较同周几均值的变化",
            "Root cause: GMV versus the typical same weekday",
        )
    else:
        ctx.h2("根因拆解：成交金额较预期的差距", "Root cause: GMV versus the expected day")
        ctx.say(
            "基线与异常检验相同：因果预期值，大促日按大促预期（如双11对比预期的双11），不是普通工作日。",
            "The baseline is the anomaly test's: the causal expected value, promotion days against an expected promotion day (an expected 双11, not a weekday).",
        )
    top = dec.iloc[0]
    ctx.say(
        f"全店成交金额变化 {ctx.money(dec['contribution'].sum())}，最大贡献：{top['label']}（{ctx.money(top['contribution'])}）。",
        f"Shop GMV changed by {ctx.money(dec['contribution'].sum())}; largest part: {top['label']} ({ctx.money(top['contribution'])}).",
    )
    ctx.show(plot_waterfall(dec, lang=ctx.lang))


def show_drafts(ctx, result: MonitorResult, daily: pd.DataFrame, as_of) -> None:
    """Drafts of the 异常数据整改报告 the day's alerts owe (:func:`rectification_drafts`)."""
    ctx.h2("异常数据整改报告（草稿）", "Anomaly rectification reports (drafts)")
    ctx.md(rectification_drafts(result, daily, as_of, lang=ctx.lang))


_STATUS_LABELS = {
    "new": ("新发", "new"),
    "ongoing": ("持续", "ongoing"),
    "resolved": ("已恢复", "resolved"),
    "closed": ("已关闭", "closed"),
}
_FAMILY_LABELS = {
    "sales": ("成交", "sales"),
    "refund": ("退款", "refunds"),
    "data": ("埋点/口径", "tracking"),
}


def incident_table(incidents: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """Incidents as the report lists them (translated headers and values): id, channel,
    family, metrics, status, severity, opened, age (days), GMV at risk, owner, deadlines,
    overdue flags, acknowledged by."""
    from opsnb.i18n import Labels

    L = Labels(lang)
    x = incidents
    due = lambda s: pd.to_datetime(s).dt.strftime("%Y-%m-%d").fillna("—")  # noqa: E731
    flag = lambda b: L("逾期", "OVERDUE") if b else ""  # noqa: E731
    return pd.DataFrame(
        {
            L("编号", "ID"): x["incident_id"],
            L("流量来源", "Traffic source"): x["channel"],
            L("类别", "Kind"): [L(*_FAMILY_LABELS.get(f, (f, f))) for f in x["family"]],
            L("指标", "Metrics"): [
                ", ".join(L.col(m) for m in str(ms).split(",") if m) for ms in x["metrics"]
            ],
            L("状态", "Status"): [L(*_STATUS_LABELS.get(v, (v, v))) for v in x["status"]],
            L("严重程度", "Severity"): [
                L(*SEVERITY_LABELS[v]) if v in SEVERITY_LABELS else v for v in x["severity"]
            ],
            L("开始", "Since"): due(x["opened_on"]),
            L("持续天数", "Age (days)"): x["age_days"].astype(int),
            L("影响金额", "GMV at risk"): x["gmv_at_risk"].round(0),
            L("负责人", "Owner"): x["owner"].fillna(""),
            L("应对方案截止", "Response plan due"): [
                f"{d} {flag(o)}".strip()
                for d, o in zip(due(x["response_due"]), x["response_overdue"])
            ],
            L("整改报告截止", "Report due"): [
                f"{d} {flag(o)}".strip() for d, o in zip(due(x["report_due"]), x["report_overdue"])
            ],
            L("确认人", "Acknowledged by"): x["acknowledged_by"].fillna(""),
        }
    )


def show_incidents(
    ctx, result: MonitorResult, as_of, *, owners: dict | None = None, quiet_days: int = 2
) -> pd.DataFrame:
    """Open incidents with their age, owner and deadlines (overdue flagged), and those resolved
    on the day, as kept by the daily loop in the store (:mod:`opsnb.monitoring.incidents`);
    returns every incident as it stands on ``as_of``."""
    from opsnb.monitoring.incidents import current_incidents, load_incidents, resolve_owners

    stored, actions = load_incidents(ctx.db_path)
    inc = current_incidents(
        result,
        as_of,
        stored=stored,
        actions=actions,
        owners=resolve_owners(owners, _targets(ctx)),
        quiet_days=quiet_days,
    )
    d = pd.Timestamp(as_of)
    ctx.h2("异常事件跟踪", "Incidents")
    open_ = inc[inc["status"].isin(("new", "ongoing"))].sort_values("opened_on")
    done = inc[(inc["status"] == "resolved") & (inc["resolved_on"] == d)]
    n_new = int((open_["status"] == "new").sum())
    over = int((open_["response_overdue"] | open_["report_overdue"]).sum())
    ctx.say(
        f"未关闭事件 {len(open_)} 个（今日新发 {n_new} 个，逾期 {over} 个）；今日恢复 {len(done)} 个"
        f"（连续 {quiet_days} 天无异常即视为恢复）。同一渠道同类异常（成交/退款/埋点）合并为一个事件。",
        f"{len(open_)} open incidents ({n_new} new today, {over} overdue); {len(done)} resolved today "
        f"(after {quiet_days} quiet days). Alerts on the same channel and kind (sales/refunds/tracking) extend one incident.",
    )
    at_risk = ctx.L("影响金额", "GMV at risk")
    if len(open_):
        ctx.table(incident_table(open_, lang=ctx.lang), translate=False, money=[at_risk])
    if len(done):
        ctx.table(
            incident_table(done, lang=ctx.lang),
            translate=False,
            money=[at_risk],
            caption=("今日恢复", "Resolved today"),
        )
    return inc


def show_summary(
    ctx,
    summary: DaySummary,
    table3: pd.DataFrame,
    incidents: pd.DataFrame,
    result: MonitorResult,
    as_of,
) -> None:
    """The 结论 / Summary box of the daily report: anomalies (high-severity among them), GMV at
    risk, open incidents and the month's achievement against time gone — the figures of
    :func:`show_table3` (``summary``, ``table3``) and :func:`show_incidents` — then what to do:
    one line per alert of the day from :func:`alert_list` (fix, owner, deadlines)."""
    s = summary
    open_ = incidents[incidents["status"].isin(("new", "ongoing"))] if len(incidents) else incidents
    items = [
        ctx.item("monitor_alerts", s.alerts, kind="alert" if s.alerts else "good"),
        ctx.item("monitor_high", s.high, kind="alert" if s.high else "good"),
        ctx.item("monitor_gmv_at_risk", s.gmv_at_risk, kind="warn" if s.gmv_at_risk else "info"),
        ctx.kpi("未关闭事件", "Open incidents", ctx.count(len(open_))),
    ]
    tot = (
        table3[table3["channel"] == TOTAL] if "achievement" in table3.columns else table3.iloc[0:0]
    )
    behind = False
    if len(tot) and pd.notna(tot["achievement"].iloc[0]):
        r = tot.iloc[0]
        behind = r["achievement"] < r["time_progress"]
        items.append(
            ctx.kpi(
                "本月目标达成",
                "Month to date vs target",
                ctx.pct(r["achievement"]),
                note_zh=f"时间进度 {ctx.pct(r['time_progress'])}",
                note_en=f"{ctx.pct(r['time_progress'])} of the month gone",
                kind="warn" if behind else "good",
            )
        )
    actions = []
    for lang in ("zh", "en"):
        al = alert_list(result, as_of, lang=lang)
        L = Labels(lang)
        lines = []
        for row in al.itertuples(index=False):
            # columns: date, channel, metric, actual, expected, change, at risk, severity, owner,
            # response due, report due (see alert_list)
            _, ch, metric, _, _, change, _, sev, owner, resp, rep = row
            due = (
                L(
                    f"应对方案 {resp} 前、整改报告 {rep} 前",
                    f"response plan by {resp}, report by {rep}",
                )
                if resp != "—"
                else L(f"整改报告 {rep} 前", f"report by {rep}")
            )
            lines.append(f"{ch} {metric} {change}{L.paren(sev)}{L.colon}{owner}{L.comma}{due}")
        actions.append(lines)
    todo = [(zh + "。", en + ".") for zh, en in zip(*actions)]
    if not todo:
        todo.append(("今日无异常，照常运营。", "No anomaly today: business as usual."))
    if behind:
        todo.append(
            (
                "本月成交落后于时间进度：在周会上核对各渠道的追赶计划。",
                "Month-to-date GMV is behind pace: review each channel's catch-up plan at the weekly meeting.",
            )
        )
    ctx.summary(items, todo)
