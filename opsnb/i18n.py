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

__all__ = ["Labels", "LANGS", "check_lang", "COLUMN_LABELS"]

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

    def col(self, name: str) -> str:
        """Display name of a canonical column (the name itself when unknown)."""
        pair = COLUMN_LABELS.get(name)
        return name if pair is None else self(*pair)

    def rename(self, df):
        """Return ``df`` with canonical column names replaced by display names."""
        return df.rename(columns={c: self.col(c) for c in df.columns})
