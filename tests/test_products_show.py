"""Notebook 06's pieces: the stock grid, the styled 补货建议表 and the sections' sentences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opsnb.products.demand import sales_with_stock
from opsnb.products.excel import plan_to_excel
from opsnb.products.replenish import PLAN_COLUMNS


def test_stock_grid_keeps_stockout_days_that_sold_nothing():
    inv = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"] * 2),
            "sku": ["A"] * 3 + ["B"] * 3,
            "on_hand": [5, 0, 0, 9, 8, 7],
        }
    )
    pdl = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-02", "2025-01-01", "2025-01-03"]),
            "sku": ["A", "B", "B"],
            "units": [3, 1, 1],
        }
    )
    got = sales_with_stock(pdl, inv)
    want = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"] * 2),
            "sku": ["A"] * 3 + ["B"] * 3,
            "units": [0.0, 3.0, 0.0, 1.0, 0.0, 1.0],
            "on_hand": [5, 0, 0, 9, 8, 7],
            "stockout": [False, True, True, False, False, False],
        }
    )
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def _plan():
    row = dict.fromkeys(PLAN_COLUMNS, 1.0)
    rows = []
    for i, (sku, name, alert, qty) in enumerate(
        [
            ('=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "stockout", 120),
            ("B-2", "-2+3", "overstock", 0),
            ("C-3", "@SUM(A1)", "", 24),
            ("D-4", "\tTab", "", 0),
        ]
    ):
        rows.append(
            {
                **row,
                "sku": sku,
                "name": name,
                "alert": alert,
                "order_qty": qty,
                "order_value": qty * 10.5,
                "cycle_service_level": 0.95,
                "fill_rate": 0.991,
                "days_of_cover": np.inf if i == 1 else 12.0,
                "order_by": pd.Timestamp("2025-12-20") + pd.Timedelta(days=i),
                "stockout_date": pd.NaT if i else pd.Timestamp("2026-01-05"),
            }
        )
    return pd.DataFrame(rows, columns=PLAN_COLUMNS)


def test_plan_excel_is_styled_and_writes_formula_like_data_as_text(tmp_path):
    from openpyxl import load_workbook

    path = plan_to_excel(tmp_path / "补货建议表.xlsx", _plan(), lang="zh")
    wb = load_workbook(path)
    ws = wb["补货建议表"]
    head = [c.value for c in ws[1]]
    assert head[:6] == ["商品ID", "商品名称", "预警", "建议补货量", "补货金额", "最晚下单日"]
    assert ws.freeze_panes == "C2" and ws.auto_filter.ref
    assert ws[1][0].font.bold and ws[1][0].fill.fgColor.rgb.endswith("2F6FB7")
    # SKUs to order first (earliest order-by), then the rest
    skus = [ws.cell(row=i, column=1).value for i in range(2, 6)]
    assert skus == ['=HYPERLINK("http://x")', "C-3", "B-2", "D-4"]
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f", cell.coordinate  # never a formula
    names = [ws.cell(row=i, column=2).value for i in range(2, 6)]
    assert names == ["+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "\tTab"]
    col = {h: i + 1 for i, h in enumerate(head)}
    assert ws.cell(row=2, column=col["补货金额"]).number_format == "¥#,##0"
    assert ws.cell(row=2, column=col["周期服务水平"]).number_format == "0.0%"
    assert ws.cell(row=2, column=col["最晚下单日"]).number_format == "yyyy-mm-dd"
    assert ws.cell(row=2, column=col["建议补货量"]).number_format == "#,##0"
    assert ws.cell(row=2, column=col["预警"]).value == "缺货预警"
    assert ws.cell(row=2, column=1).fill.fgColor.rgb.endswith("F8CBAD")  # stock-out row in red
    assert ws.cell(row=4, column=col["可售天数"]).value is None  # inf cover → empty, not an error
    assert ws.column_dimensions["B"].width >= 10


class _Ctx:
    """Just what the show functions use: language, labels, text and table sinks."""

    def __init__(self, lang="en"):
        from opsnb.i18n import Labels

        self.lang, self.L, self.said, self.tables = lang, Labels(lang), [], []

    def say(self, zh, en):
        self.said.append(zh if self.lang == "zh" else en)

    def table(self, df, **kw):
        self.tables.append(df)

    def pct(self, x, digits=1):
        return f"{100 * x:.{digits}f}%"

    def money(self, x):
        return f"¥{x:,.0f}"


def test_sections_without_data_say_they_are_skipped():
    from opsnb.products import show as ps

    ctx = _Ctx("zh")
    assert ps.show_classes(ctx, None) is None
    assert ps.forecast_skus(ctx, None) is None
    assert ps.show_stockout_risks(ctx, None) is None
    assert ps.show_slow_stock(ctx, None) is None
    assert ps.show_promo_plan(ctx, None) is None
    assert ps.write_plan(ctx, None) is None
    assert len(ctx.said) == 6 and all("跳过" in s or "不生成" in s for s in ctx.said)
    assert ps.key_figures(None, None, None, None) == {}


def test_stockout_section_names_the_earliest_order_by_and_gmv_at_risk():
    from opsnb.products import show as ps

    plan = _plan()
    plan["gmv_at_risk"] = [1000.0, 0.0, 0.0, 0.0]
    ctx = _Ctx("en")
    out = ps.show_stockout_risks(ctx, plan)
    assert list(out["sku"]) == ['=HYPERLINK("http://x")']
    assert ctx.said == [
        "**1 SKUs are projected to run out within lead time + review**, about ¥1,000 of GMV "
        'at risk; the most urgent must be ordered by 2025-12-20 (=HYPERLINK("http://x")).'
    ]
    slow = ps.show_slow_stock(ctx, plan)
    assert list(slow["sku"]) == ["B-2"] and pd.isna(slow["days_of_cover"].iloc[0])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_classes_section_states_the_rule_and_returns_the_classification(lang):
    from opsnb.products import show as ps
    from opsnb.products.classify import classify_products

    days = pd.date_range("2025-10-01", periods=60)
    rng = np.random.default_rng(3)
    sales = pd.concat(
        [
            pd.DataFrame({"date": days, "sku": "BIG", "units": rng.poisson(50, 60), "gmv": 0.0}),
            pd.DataFrame({"date": days[::20], "sku": "TAIL", "units": 1, "gmv": 0.0}),
            pd.DataFrame({"date": days, "sku": "MID", "units": rng.poisson(5, 60), "gmv": 0.0}),
        ]
    )
    sales["gmv"] = sales["units"] * 100.0
    data = ps.ProductData(sales, None, None, None, None, days[-1])
    ctx = _Ctx(lang)
    got = ps.show_classes(ctx, data, top=3)
    pd.testing.assert_frame_equal(got, classify_products(sales, lang=lang))
    assert dict(zip(got["sku"], got["product_class"])) == {
        "BIG": "hit",
        "MID": "steady",
        "TAIL": "slow",
    }
    assert ("10%" in ctx.said[0] and "80%" in ctx.said[0]) or (
        "10 %" in ctx.said[0] and "80 %" in ctx.said[0]
    )
    assert len(ctx.tables) == 3
