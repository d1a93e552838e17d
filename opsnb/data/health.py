"""Data health: coverage, missing days, duplicates, 口径 checks and outliers, in the store.

Every function takes a DuckDB connection (``opsnb.data.open_store``) and works in SQL, so it
scales to the whole store; results are tidy DataFrames with the columns listed per function.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from opsnb import plots
from opsnb.data.schemas import TABLES
from opsnb.data.store import list_tables
from opsnb.results import Result

__all__ = [
    "table_coverage",
    "missing_days",
    "duplicate_keys",
    "consistency_checks",
    "OutlierScreen",
    "outlier_summary",
    "HealthSummary",
    "health_summary",
    "plot_coverage",
]


def _as_date(x) -> dt.date | None:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, pd.Timestamp):
        return x.date()
    return x


def table_coverage(con) -> pd.DataFrame:
    """Rows and date coverage of each canonical table present in the store.

    Columns: table, zh_name, rows, first_date, last_date, days_with_data, days_in_range,
    coverage (days_with_data / days_in_range; NaN for tables without a time column).
    """
    present = set(list_tables(con))
    rows = []
    for name, t in TABLES.items():
        if name not in present:
            continue
        n = con.execute(f'select count(*) from "{name}"').fetchone()[0]
        first = last = None
        days = np.nan
        if t.time_column:
            tc = t.time_column
            first, last, days = con.execute(
                f'select min("{tc}"), max("{tc}"), count(distinct cast("{tc}" as date)) from "{name}"'
            ).fetchone()
            first, last = _as_date(first), _as_date(last)
        span = (last - first).days + 1 if first and last else np.nan
        rows.append(
            {
                "table": name,
                "zh_name": t.zh_name,
                "rows": n,
                "first_date": first,
                "last_date": last,
                "days_with_data": days,
                "days_in_range": span,
                "coverage": days / span if span == span and span else np.nan,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "table",
            "zh_name",
            "rows",
            "first_date",
            "last_date",
            "days_with_data",
            "days_in_range",
            "coverage",
        ],
    )


def missing_days(con, start: dt.date, end: dt.date) -> pd.DataFrame:
    """(channel, date) pairs inside ``start..end`` with no daily_metrics row.

    A channel counts from its first day with data, so a channel opened mid-period is not
    reported as missing before it opened. Columns: channel, date.
    """
    df = con.execute(
        """
        with ch as (select channel, min(date) as first_day from daily_metrics group by channel),
        days as (select cast(d as date) as date from range(cast(? as date), cast(? as date) + interval 1 day, interval 1 day) t(d))
        select ch.channel, days.date from ch cross join days
        where days.date >= ch.first_day
          and not exists (select 1 from daily_metrics m where m.channel = ch.channel and cast(m.date as date) = days.date)
        order by 1, 2
        """,
        [start, end],
    ).df()
    return df


def duplicate_keys(con) -> pd.DataFrame:
    """Key values that occur more than once. Columns: table, key, value, count."""
    present = set(list_tables(con))
    out = []
    for name, t in TABLES.items():
        if name not in present or not t.unique:
            continue
        cols = ", ".join(f'"{c}"' for c in t.unique)
        df = con.execute(
            f'select {cols}, count(*) as n from "{name}" group by {cols} having count(*) > 1 limit 1000'
        ).df()
        for _, r in df.iterrows():
            out.append(
                {
                    "table": name,
                    "key": "+".join(t.unique),
                    "value": " / ".join(str(r[c]) for c in t.unique),
                    "count": int(r["n"]),
                }
            )
    return pd.DataFrame(out, columns=["table", "key", "value", "count"])


_CHECKS = (
    (
        "gmv_equals_orders",
        "成交金额 = 订单实付金额之和（按日期×渠道）",
        "GMV equals the sum of order amounts (per date × channel)",
    ),
    (
        "orders_equal_order_rows",
        "订单数 = 订单表行数（按日期×渠道）",
        "Order count equals the rows of the orders table (per date × channel)",
    ),
    ("buyers_le_visitors", "买家数 ≤ 访客数", "Buyers ≤ visitors"),
    ("refund_le_gmv", "退款金额 ≤ 成交金额", "Refunds ≤ GMV"),
    ("refund_orders_le_orders", "退款订单数 ≤ 订单数", "Refund orders ≤ orders"),
    (
        "items_sum_equals_amount",
        "订单实付金额 = Σ 数量 × 单价（订单明细）",
        "Order amount equals Σ qty × price of its order lines",
    ),
)


def consistency_checks(
    con,
    start: dt.date,
    end: dt.date,
    tolerance: float = 0.01,
    items_rel_tolerance: float = 0.005,
) -> pd.DataFrame:
    """口径 checks within ``start..end``.

    Columns: check, description_zh, description_en, rows_checked, violations, status
    ("ok" | "fail" | "n/a"), example (the first violating key and values, or "").
    GMV and order counts are compared with the orders table when it is present
    (``tolerance`` in yuan). Each order of the period that has lines in ``order_items`` is
    compared with Σ qty × price of its lines; it disagrees when the gap exceeds
    max(``tolerance``, ``items_rel_tolerance`` × amount), and the example of that check names
    the first disagreeing order and up to five more order numbers.
    """
    present = set(list_tables(con))
    rows = []

    def add(check: str, checked: int, bad: pd.DataFrame | None, more: str = ""):
        zh, en = next((z, e) for c, z, e in _CHECKS if c == check)
        if bad is None:
            rows.append((check, zh, en, 0, 0, "n/a", ""))
            return
        ex = "" if bad.empty else "; ".join(f"{k}={v}" for k, v in bad.iloc[0].items()) + more
        rows.append((check, zh, en, int(checked), int(len(bad)), "ok" if bad.empty else "fail", ex))

    if "daily_metrics" not in present:
        for c, _, _ in _CHECKS[:-1]:
            add(c, 0, None)
    else:
        n = con.execute(
            "select count(*) from daily_metrics where date between ? and ?", [start, end]
        ).fetchone()[0]
        if "orders" in present:
            cmp = con.execute(
                """
                with o as (select cast(order_time as date) as date, channel, sum(amount) as order_gmv,
                                  count(*) as order_rows
                           from orders where cast(order_time as date) between ? and ? group by 1, 2)
                select m.date, m.channel, m.gmv, coalesce(o.order_gmv, 0) as order_gmv,
                       m.orders, coalesce(o.order_rows, 0) as order_rows
                from daily_metrics m left join o on cast(m.date as date) = o.date and m.channel = o.channel
                where m.date between ? and ?
                """,
                [start, end, start, end],
            ).df()
            add(
                "gmv_equals_orders",
                len(cmp),
                cmp.loc[
                    (cmp.gmv - cmp.order_gmv).abs() > tolerance,
                    ["date", "channel", "gmv", "order_gmv"],
                ],
            )
            add(
                "orders_equal_order_rows",
                len(cmp),
                cmp.loc[cmp.orders != cmp.order_rows, ["date", "channel", "orders", "order_rows"]],
            )
        else:
            add("gmv_equals_orders", 0, None)
            add("orders_equal_order_rows", 0, None)
        for check, cond, cols in (
            ("buyers_le_visitors", "buyers > visitors", "date, channel, buyers, visitors"),
            ("refund_le_gmv", "refund_amount > gmv + 1e-9", "date, channel, refund_amount, gmv"),
            (
                "refund_orders_le_orders",
                "refund_orders > orders",
                "date, channel, refund_orders, orders",
            ),
        ):
            bad = con.execute(
                f"select {cols} from daily_metrics where date between ? and ? and {cond} order by date",
                [start, end],
            ).df()
            add(check, n, bad)
    if {"orders", "order_items"} <= present:
        cmp = con.execute(
            """
            with i as (select order_id, sum(qty * price) as items_total from order_items group by 1)
            select o.order_id, o.amount, i.items_total
            from orders o join i on o.order_id = i.order_id
            where cast(o.order_time as date) between ? and ?
            order by o.order_time, o.order_id
            """,
            [start, end],
        ).df()
        gap = (cmp["amount"] - cmp["items_total"]).abs()
        limit = np.maximum(tolerance, items_rel_tolerance * cmp["amount"].abs())
        bad = cmp[gap > limit + 1e-9]  # 1.01 − 1.00 is 0.0100000000000000009 in floats
        bad = bad.assign(items_total=bad["items_total"].round(2))
        others = bad["order_id"].iloc[1:6].astype(str).tolist()
        more = ""
        if others:
            rest = len(bad) - 1 - len(others)
            more = "; also " + ", ".join(others) + (f" and {rest} more" if rest else "")
        add("items_sum_equals_amount", len(cmp), bad, more)
    else:
        add("items_sum_equals_amount", 0, None)
    return pd.DataFrame(
        rows,
        columns=[
            "check",
            "description_zh",
            "description_en",
            "rows_checked",
            "violations",
            "status",
            "example",
        ],
    )


@dataclass(frozen=True, eq=False)
class OutlierScreen(Result):
    """Result of :func:`outlier_summary`.

    ``outliers``: one row per flagged (date, channel, metric), columns date, channel, metric,
    value, typical, robust_z, event (sorted by date and channel); ``excluded_event_days``: how
    many promotion-calendar days were extreme and left out; ``z`` the threshold used.
    """

    outliers: pd.DataFrame = field(repr=False)
    excluded_event_days: int
    z: float

    def to_dict(self) -> dict:
        return {
            "outliers": int(len(self.outliers)),
            "excluded_event_days": self.excluded_event_days,
            "z": self.z,
        }

    def to_frame(self) -> pd.DataFrame:
        return self.outliers.copy()


def outlier_summary(
    daily: pd.DataFrame, metrics=("visitors", "gmv"), z: float = 5.0, include_events: bool = False
) -> OutlierScreen:
    """Days far from their channel's typical level (robust z of log values vs a 28-day median).

    A screening for data-entry problems, not the anomaly engine of the monitoring notebook.
    Days of the promotion calendar (双11, 618, 春节 …) are expected to be extreme and are left
    out unless ``include_events``; ``excluded_event_days`` says how many were left out.
    """
    from opsnb.calendar import event_on

    out = []
    for metric in metrics:
        d = daily[["date", "channel", metric]].sort_values(["channel", "date"]).copy()
        lv = np.log1p(d[metric].astype(float))
        g = lv.groupby(d["channel"])
        med = g.transform(lambda s: s.rolling(28, min_periods=7, center=True).median())
        mad = (
            (lv - med)
            .abs()
            .groupby(d["channel"])
            .transform(lambda s: s.rolling(28, min_periods=7, center=True).median())
        )
        rz = (lv - med) / (1.4826 * mad.replace(0, np.nan))
        d["typical"] = np.expm1(med)
        d["robust_z"] = rz
        bad = d[rz.abs() > z].rename(columns={metric: "value"})
        bad["metric"] = metric
        out.append(bad[["date", "channel", "metric", "value", "typical", "robust_z"]])
    res = pd.concat(out, ignore_index=True)
    res["event"] = event_on(pd.to_datetime(res["date"])).to_numpy() if len(res) else []
    excluded = 0
    if not include_events:
        on_event = res["event"].astype(str) != ""
        excluded = int(pd.to_datetime(res.loc[on_event, "date"]).nunique())
        res = res[~on_event]
    res = res.sort_values(["date", "channel"]).reset_index(drop=True)
    return OutlierScreen(outliers=res, excluded_event_days=excluded, z=float(z))


@dataclass(frozen=True)
class HealthSummary(Result):
    """Key figures of a data-health check (the ones notebook 00 records for the index page)."""

    rows: int
    missing_channel_days: int
    duplicate_keys: int
    failed_checks: int
    outlier_days: int


def health_summary(
    daily: pd.DataFrame,
    missing: pd.DataFrame,
    duplicates: pd.DataFrame,
    checks: pd.DataFrame,
    outliers: OutlierScreen,
) -> HealthSummary:
    """Counts from the other checks: daily rows, missing channel-days, duplicate keys, failed
    口径 checks (status "fail") and outlier records."""
    return HealthSummary(
        rows=int(len(daily)),
        missing_channel_days=int(len(missing)),
        duplicate_keys=int(len(duplicates)),
        failed_checks=int((checks["status"] == "fail").sum()),
        outlier_days=int(len(outliers.outliers)),
    )


def plot_coverage(daily: pd.DataFrame, *, lang: str = "zh", ax=None):
    """Heat map of days with data per channel and month (missing days show as lighter cells)."""
    import seaborn as sns

    ax = plots.new_axes(ax, figsize=(10, 0.5 * daily["channel"].nunique() + 1.5))
    d = daily.assign(month=pd.to_datetime(daily["date"]).dt.to_period("M").astype(str))
    counts = d.groupby(["channel", "month"])["date"].nunique().unstack(fill_value=0)
    days_in = pd.PeriodIndex(counts.columns, freq="M").days_in_month
    share = counts / np.asarray(days_in)[None, :]
    sns.heatmap(share, ax=ax, vmin=0, vmax=1, cmap="Blues", cbar_kws={"label": ""})
    zh = lang == "zh"
    ax.set_title(
        "每月有数据的天数占比（按渠道）" if zh else "Share of days with data per month and channel"
    )
    ax.set_xlabel("月份" if zh else "Month")
    ax.set_ylabel("流量来源" if zh else "Traffic source")
    return ax
