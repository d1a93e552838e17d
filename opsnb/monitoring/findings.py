"""The day's findings as tables and text: 表3, the alert list, 异常数据整改报告 drafts, key figures.

Each anomaly carries its suggested fix and its owner (the role that acts, with the person named
for the channel when there is one); :mod:`opsnb.monitoring.show` puts them in notebook 03.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsnb.i18n import SEVERITIES, SEVERITY_LABELS, event_label
from opsnb.monitoring.compare import day_comparisons, month_to_date
from opsnb.monitoring.daily import METRICS, RATES, TOTAL, MonitorResult, gmv_at_risk, root_cause
from opsnb.results import Result

__all__ = [
    "daily_report",
    "draft_rectification",
    "day_summary",
    "alert_list",
    "rectification_drafts",
    "DaySummary",
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
