"""Chinese / English text for reports: one switch, no central dictionary to keep in sync.

Examples
--------
>>> L = Labels("en")
>>> L("访客数", "Visitors")
'Visitors'
>>> Labels("zh")("访客数", "Visitors")
'访客数'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Labels",
    "LANGS",
    "check_lang",
    "COLUMN_LABELS",
    "PLAN_STATUS_LABELS",
    "RISK_LABELS",
    "translate_plan_values",
    "RECORD_LABELS",
    "record_label",
    "yes_no",
    "EVENT_LABELS",
    "event_label",
    "ERROR_CODE_LABELS",
    "error_label",
]

LANGS = ("zh", "en")

COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "date": ("日期", "Date"),
    "channel": ("流量来源", "Traffic source"),
    "visitors": ("访客数", "Visitors"),
    "buyers": ("买家数", "Buyers"),
    "orders": ("订单数", "Orders"),
    "gmv": ("成交金额", "GMV"),
    "refund_orders": ("退款订单数", "Refund orders"),
    "refund_amount": ("退款金额", "Refund amount"),
    "ad_spend": ("推广花费", "Ad spend"),
    "new_buyers": ("新买家数", "New buyers"),
    "conversion_rate": ("转化率", "Conversion rate"),
    "aov": ("客单价", "AOV"),
    "refund_rate": ("退款率", "Refund rate"),
    "cart_users": ("加购人数", "Cart users"),
    "table": ("数据表", "Table"),
    "zh_name": ("中文名", "Chinese name"),
    "rows": ("行数", "Rows"),
    "first_date": ("起始日期", "First date"),
    "last_date": ("截止日期", "Last date"),
    "days_with_data": ("有数据天数", "Days with data"),
    "days_in_range": ("区间天数", "Days in range"),
    "coverage": ("覆盖率", "Coverage"),
    "check": ("检查项", "Check"),
    "description_zh": ("说明", "Description"),
    "description_en": ("说明", "Description"),
    "rows_checked": ("检查行数", "Rows checked"),
    "violations": ("不符行数", "Violations"),
    "status": ("状态", "Status"),
    "example": ("示例", "Example"),
    "metric": ("指标", "Metric"),
    "value": ("数值", "Value"),
    "typical": ("常态水平", "Typical"),
    "robust_z": ("稳健z分数", "Robust z"),
    "event": ("活动", "Event"),
    "key": ("主键", "Key"),
    "count": ("次数", "Count"),
    "owner": ("负责人", "Owner"),
    "target": ("目标值", "Target"),
    "actual": ("实际值", "Actual"),
    "achievement_rate": ("达成率", "Achievement rate"),
    "expected": ("预期值", "Expected"),
    "severity": ("严重程度", "Severity"),
    "deadline": ("截止时间", "Deadline"),
    "antecedent": ("前项商品", "Antecedent"),
    "antecedent_support": ("前项支持度", "Antecedent support"),
    "consequent": ("后项商品", "Consequent"),
    "consequent_support": ("后项支持度", "Consequent support"),
    "support": ("支持度", "Support"),
    "confidence": ("置信度", "Confidence"),
    "lift": ("提升度", "Lift"),
    "avg_frequency": ("平均购买次数", "Avg frequency"),
    "avg_monetary": ("平均消费额", "Avg monetary"),
    "avg_recency_days": ("平均最近购买天数", "Avg recency (days)"),
    "avg_price": ("均价", "Avg price"),
    "cac": ("获客成本", "CAC"),
    "cac_low": ("获客成本下限", "CAC low"),
    "cac_high": ("获客成本上限", "CAC high"),
    "roas": ("广告回报率", "ROAS"),
    "roas_low": ("ROAS下限", "ROAS low"),
    "roas_high": ("ROAS上限", "ROAS high"),
    "roi": ("投资回报率", "ROI"),
    "roi_low": ("ROI下限", "ROI low"),
    "roi_high": ("ROI上限", "ROI high"),
    "payback_months": ("回本月数", "Payback (months)"),
    "payback_low": ("回本下限", "Payback low"),
    "payback_high": ("回本上限", "Payback high"),
    "ci_low": ("置信下限", "CI low"),
    "ci_high": ("置信上限", "CI high"),
    "estimate": ("估计值", "Estimate"),
    "std_error": ("标准误", "Std. error"),
    "p_value": ("p值", "p-value"),
    "error_code": ("错误代码", "Error code"),
    "competitor": ("店铺", "Shop"),
    "is_own": ("本店", "Own shop"),
    "customer_share": ("客户占比", "Customer share"),
    "customers": ("客户数", "Customers"),
    "revenue_share": ("成交额占比", "Revenue share"),
    "monetary": ("消费金额", "Monetary"),
    "segment": ("客户分层", "Segment"),
    "change_pp": ("变化(百分点)", "Change (pp)"),
    "drop_off": ("流失率", "Drop-off"),
    "step_rate": ("环节转化率", "Step rate"),
    "prev_step_rate": ("上期环节转化率", "Previous step rate"),
    "overall_rate": ("累计转化率", "Overall rate"),
    "stage": ("环节", "Stage"),
    "converted": ("转化", "Converted"),
    "users": ("人数", "Users"),
    "days_late": ("延误天数", "Days late"),
    "late": ("延误", "Late"),
    "due": ("到期", "Due"),
    "fix": ("建议措施", "Suggested fix"),
    "note": ("说明", "Note"),
    "materialised": ("已发生", "Materialised"),
    "milestone": ("关键节点", "Milestone"),
    "no_response": ("无应对措施", "No response"),
    "on_time": ("按时完成", "On time"),
    "on_time_rate": ("按时完成率", "On-time rate"),
    "tasks": ("任务数", "Tasks"),
    "task": ("任务", "Task"),
    "response": ("应对措施", "Response"),
    "risk": ("风险等级", "Risk"),
    "standard": ("完成标准", "Standard"),
    "price_band": ("价格带", "Price band"),
    "sales": ("成交额", "Sales"),
    "sales_share": ("成交占比", "Sales share"),
    "share": ("占比", "Share"),
    "listings": ("月均在售商品数", "Listings (monthly mean)"),
    "listings_share": ("商品数占比", "Listings share"),
    "share_per_listing_share": ("成交占比/商品占比", "Sales share / listings share"),
    "shops": ("店铺数", "Shops"),
    "opportunity": ("机会价格带", "Opportunity"),
    "own_share": ("本店占比", "Own share"),
    "growth": ("增长率", "Growth"),
    "visitor_index": ("访客指数", "Visitor index"),
    "sales_index": ("成交金额指数", "Sales index"),
    "extrapolated_share": ("外推占比", "Extrapolated share"),
    "param": ("参数", "Parameter"),
    "cycle": ("周期", "Cycle"),
    "goal": ("目标", "Goal"),
    "strategy": ("策略", "Strategy"),
    "start": ("开始时间", "Start"),
    "end": ("截止时间", "End"),
    "budget": ("预算", "Budget"),
    "resources": ("所需资源", "Resources"),
    "variant": ("组别", "Variant"),
    "experiment": ("实验", "Experiment"),
    "period": ("周期", "Period"),
    "lift_ci_low": ("增量下限", "Lift CI low"),
    "lift_ci_high": ("增量上限", "Lift CI high"),
    "contribution": ("贡献", "Contribution"),
    "factor": ("因素", "Factor"),
    "before": ("基期", "Before"),
    "after": ("本期", "After"),
    "gmv_target": ("GMV目标", "GMV target"),
    "achievement": ("达成率", "Achievement"),
}
"""Display names of canonical columns, (zh, en)."""


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    return lang


@dataclass(frozen=True)
class Labels:
    """Pick the Chinese or English string: ``L("退款率", "Refund rate")``."""

    lang: str = "zh"

    def __post_init__(self) -> None:
        check_lang(self.lang)

    def __call__(self, zh: str, en: str) -> str:
        return zh if self.lang == "zh" else en

    @property
    def colon(self) -> str:
        """'：' in Chinese, ': ' in English (全角 punctuation inside zh sentences)."""
        return self("：", ": ")

    @property
    def semi(self) -> str:
        """'；' in Chinese, '; ' in English."""
        return self("；", "; ")

    @property
    def comma(self) -> str:
        """'，' in Chinese, ', ' in English."""
        return self("，", ", ")

    def paren(self, text: str) -> str:
        """``text`` in brackets: '（text）' in Chinese, ' (text)' in English."""
        return self(f"（{text}）", f" ({text})")

    def col(self, name: str) -> str:
        """Display name of a canonical column (the name itself when unknown)."""
        pair = COLUMN_LABELS.get(name)
        return name if pair is None else self(*pair)

    def rename(self, df):
        """Return ``df`` with canonical column names replaced by display names."""
        return df.rename(columns={c: self.col(c) for c in df.columns})


# ------------------------------------------------------------------ plan vocabulary (表1/表2)

PLAN_STATUS_LABELS = {
    "未开始": ("未开始", "Not started"),
    "进行中": ("进行中", "In progress"),
    "已完成": ("已完成", "Done"),
    "延期": ("延期", "Delayed"),
}
"""Display names of the 表1 status values; the data (and the colours) stay keyed by the Chinese."""
RISK_LABELS = {
    "无": ("无", "None"),
    "低": ("低", "Low"),
    "中": ("中", "Medium"),
    "高": ("高", "High"),
}
"""Display names of the 表2 risk levels."""


def translate_plan_values(
    df: pd.DataFrame, *, lang: str = "zh", columns=("status", "risk")
) -> pd.DataFrame:
    """A copy of ``df`` whose status (未开始/进行中/已完成/延期) and risk (无/低/中/高) values read in
    ``lang``; other values are kept. Display only: keep the original frame for logic and colours.

    >>> import pandas as pd
    >>> translate_plan_values(pd.DataFrame({"status": ["延期", "高"]}), lang="en")["status"].tolist()
    ['Delayed', 'High']
    """
    L = Labels(lang)
    names = {k: L(*v) for k, v in {**PLAN_STATUS_LABELS, **RISK_LABELS}.items()}
    t = df.copy()
    for c in columns:
        if c in t:
            t[c] = t[c].map(lambda v: names.get(v, v) if isinstance(v, str) else v)
    return t


# ------------------------------------------------------------------ severity (detect and monitor)

SEVERITIES = ("high", "medium", "low")
"""The one severity scale of anomalies, most severe first; data carries these codes everywhere
(``opsnb detect`` rates by relative deviation, the daily monitor by the share of shop GMV at risk)."""
SEVERITY_LABELS = {"high": ("高", "high"), "medium": ("中", "medium"), "low": ("低", "low")}
"""How a severity code reads in a report: ``Labels(lang)(*SEVERITY_LABELS[code])``."""


# ------------------------------------------------------------------ recorded key figures (index)

RECORD_LABELS: dict[str, tuple[str, str, str]] = {
    # 00 data health
    "rows": ("数据行数", "Daily rows", "count"),
    "missing_channel_days": ("缺失渠道天数", "Missing channel-days", "count"),
    "duplicate_keys": ("重复记录", "Duplicate keys", "count"),
    "failed_checks": ("未通过校验", "Failed checks", "count"),
    "outlier_days": ("异常值记录", "Outlier records", "count"),
    # 01 market and customers
    "calibration_loo_mape": ("校准误差（留一 MAPE）", "Calibration error (LOO MAPE)", "pct"),
    "own_market_share": ("本店市场份额", "Own market share", "pct"),
    "customers": ("客户数", "Customers", "count"),
    "top_segment_revenue_share": ("头部分层销售额占比", "Top segment revenue share", "pct"),
    "month1_retention": ("次月留存率", "Month-1 retention", "pct"),
    "repurchase_rate": ("复购率", "Repurchase rate", "pct"),
    "mean_clv": ("客户终身价值（均值）", "Mean CLV", "money"),
    "mean_clv_low": ("客户终身价值下限", "Mean CLV, low", "money"),
    "mean_clv_high": ("客户终身价值上限", "Mean CLV, high", "money"),
    # 02 goals
    "goal_gmv": ("GMV目标", "GMV goal", "money"),
    "base_gmv": ("参考期成交金额", "Reference GMV", "money"),
    "goal_growth": ("目标增长", "Goal growth", "pct"),
    "unrealistic": ("超出历史的驱动变化", "Changes beyond history", "count"),
    "ad_spend_needed": ("所需推广费", "Ad spend needed", "money"),
    "overdue_tasks": ("逾期任务", "Overdue tasks", "count"),
    "risks_without_plan": ("无预案风险", "Risks without a plan", "count"),
    "stretch_achievement": ("冲刺方案达成率", "Stretch achievement", "pct"),
    # 03 daily monitoring (DaySummary.key_figures)
    "monitor_date": ("监控日期", "Monitored day", "text"),
    "monitor_tests": ("检验数", "Tests", "count"),
    "monitor_alerts": ("预警数", "Alerts", "count"),
    "monitor_high": ("高危预警", "High alerts", "count"),
    "monitor_gmv_at_risk": ("影响金额", "GMV at risk", "money"),
    "monitor_alpha": ("显著性水平", "Alpha", "num"),
    "monitor_gmv_at_risk_channels": ("影响金额（渠道合计）", "GMV at risk (channels)", "money"),
    # 04 A/B test
    "experiment": ("实验", "Experiment", "text"),
    "decision": ("结论", "Decision", "text"),
    "primary_metric": ("主指标", "Primary metric", "text"),
    "rel_lift": ("相对提升", "Relative lift", "pct"),
    "p_value": ("p 值", "p-value", "num"),
    "srm_flagged": ("样本比例失衡", "SRM flagged", "bool"),
    "ab_design": ("检验设计", "Design", "text"),
    "ab_info_fraction": ("信息比例", "Information fraction", "pct"),
    "ab_looks": ("查看次数", "Looks", "count"),
    "ab_mde_now": ("当前最小可检测效应", "MDE now", "pct"),
    "ab_days_left": ("剩余天数", "Days left", "days"),
    # 05 retrospective
    "gmv": ("成交金额", "GMV", "money"),
    "gmv_target": ("GMV目标", "GMV target", "money"),
    "achievement": ("达成率", "Achievement", "pct"),
    "campaign": ("活动", "Campaign", "text"),
    "lift": ("活动增量", "Campaign lift", "money"),
    "lift_ci_low": ("增量下限", "Lift, low", "money"),
    "lift_ci_high": ("增量上限", "Lift, high", "money"),
    "roi": ("投入产出比", "ROI", "num"),
    "on_time_rate": ("按时完成率", "On-time rate", "pct"),
    "excel": ("Excel", "Excel", "path"),
    # 06 products and inventory
    "plan_day": ("计划日", "Plan day", "text"),
    "hits": ("爆款数", "Hits", "count"),
    "slow_skus": ("滞销 SKU", "Slow SKUs", "count"),
    "stockout_alerts": ("断货预警", "Stock-out alerts", "count"),
    "overstock_alerts": ("积压预警", "Overstock alerts", "count"),
    "order_value": ("补货金额", "Order value", "money"),
    "money_tied_up": ("占用资金", "Money tied up", "money"),
    "promo_order_value": ("大促备货金额", "Promo order value", "money"),
}
"""Labels of the figures notebooks record with ``ctx.record`` (zh, en, unit kind); unit kinds:
money, pct, count, num, days, bool, text, path (a file: its name is shown)."""


def record_label(key: str, lang: str = "zh") -> tuple[str, str]:
    """``(label, unit kind)`` of a recorded key; unknown keys read humanised (``"slow_skus"`` →
    ``"Slow skus"``) with kind ``""`` (formatted by their value's type).

    >>> record_label("monitor_gmv_at_risk", "en")
    ('GMV at risk', 'money')
    >>> record_label("new_metric_count")
    ('New metric count', '')
    """
    entry = RECORD_LABELS.get(key)
    if entry is None:
        words = key.replace("_", " ").replace("-", " ").split()
        return (" ".join(words).capitalize() or key), ""
    return Labels(lang)(entry[0], entry[1]), entry[2]


def yes_no(value: bool, lang: str = "zh") -> str:
    """是/否 in Chinese, yes/no in English."""
    return Labels(lang)("是", "yes") if value else Labels(lang)("否", "no")


# ------------------------------------------------------------------ calendar events

EVENT_LABELS: dict[str, tuple[str, str]] = {
    "new_year_festival": ("年货节", "New Year shopping festival"),
    "spring_festival": ("春节", "Spring Festival"),
    "womens_day": ("38女王节", "Women's Day (3.8)"),
    "618": ("618", "618 mid-year sale"),
    "99": ("99大促", "99 sale (9.9)"),
    "double11": ("双11", "Double 11"),
    "double12": ("双12", "Double 12"),
    "holiday_cn_new_year_s_day": ("元旦", "New Year's Day"),
    "holiday_cn_chinese_new_year_s_eve": ("除夕", "Chinese New Year's Eve"),
    "holiday_cn_chinese_new_year_spring_festival": ("春节", "Spring Festival"),
    "holiday_cn_tomb_sweeping_day": ("清明节", "Tomb-Sweeping Day"),
    "holiday_cn_labor_day": ("劳动节", "Labour Day"),
    "holiday_cn_dragon_boat_festival": ("端午节", "Dragon Boat Festival"),
    "holiday_cn_mid_autumn_festival": ("中秋节", "Mid-Autumn Festival"),
    "holiday_cn_national_day": ("国庆节", "National Day"),
    "holiday_cn_day_off": ("调休假期", "Bridge day off"),
}
"""Display names of calendar event slugs (:mod:`opsnb.calendar`): promotions and the Chinese
public holidays, whose names the ``holidays`` package gives in English only."""


def event_label(slug: str, lang: str = "zh") -> str:
    """The name of a calendar event slug in ``lang``: ``holiday_cn_mid_autumn_festival`` →
    中秋节 / Mid-Autumn Festival; an unknown slug reads humanised ("store_anniversary" →
    "Store anniversary"), '' for ''.

    >>> event_label("holiday_cn_national_day"), event_label("double11", "en")
    ('国庆节', 'Double 11')
    """
    if not slug:
        return ""
    pair = EVENT_LABELS.get(str(slug))
    if pair is not None:
        return Labels(lang)(*pair)
    words = str(slug).removeprefix("holiday_").replace("_", " ").split()
    return " ".join(words).capitalize() or str(slug)


ERROR_CODE_LABELS: dict[str, tuple[str, str]] = {
    "": ("", ""),
    "empty_arm": ("无样本", "no units"),
    "zero_variance": ("方差为 0", "zero variance"),
    "zero_denominator": ("分母为 0（无投放）", "zero denominator (no spend)"),
    "too_few_observations": ("样本太少", "too few observations"),
    "no_history": ("无历史数据", "no history"),
    "not_converged": ("模型未收敛", "not converged"),
}
"""Display names of the :class:`opsnb.errors.ErrorCode` values (the ``error_code`` column)."""


def error_label(code, lang: str = "zh") -> str:
    """The reader's words for an ``error_code`` value ('' stays ''; an unknown code as it is).

    >>> error_label("zero_denominator"), error_label("not_converged", "en")
    ('分母为 0（无投放）', 'not converged')
    """
    pair = ERROR_CODE_LABELS.get(str(code) if code == code and code is not None else "")
    return str(code) if pair is None else Labels(lang)(*pair)
