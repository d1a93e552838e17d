"""Report layout without a browser: cells labelled for cards, tables cut and split for mail.

(The browser checks of every demo report are in tests/test_report_browser.py.)
"""

from __future__ import annotations

import email
import io
from email import policy

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from opsnb.run import delivery
from opsnb.run.mailtables import fit_tables, tables_workbook
from opsnb.run.render import label_tables, render_html


def _labels(html: str) -> list[list[str | None]]:
    soup = BeautifulSoup(html, "html.parser")
    return [
        [c.get("data-label") for c in tr.find_all(["td", "th"])]
        for tr in soup.find("tbody").find_all("tr")
    ]


def test_every_body_cell_is_labelled_with_the_headers_above_it_through_spans():
    frame = pd.DataFrame(
        [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
        index=pd.MultiIndex.from_tuples([("抖音", "10月"), ("抖音", "11月"), ("天猫", "10月")]),
        columns=pd.MultiIndex.from_tuples([("成交", "金额"), ("成交", "订单"), ("退款", "金额")]),
    )
    html = label_tables(frame.to_html())
    # the row headers (<th rowspan=2>抖音) are not data cells: only <td> get labels
    assert _labels(html) == [
        [None, None, "成交 · 金额", "成交 · 订单", "退款 · 金额"],
        [None, "成交 · 金额", "成交 · 订单", "退款 · 金额"],
        [None, None, "成交 · 金额", "成交 · 订单", "退款 · 金额"],
    ]


@pytest.mark.parametrize(
    ("n_cols", "cls"),
    [(3, None), (4, "opsnb-stack"), (7, "opsnb-stack"), (8, "opsnb-stack-md"), (12, "opsnb-cards")],
)
def test_a_table_becomes_cards_below_a_width_that_depends_on_its_columns(n_cols, cls):
    frame = pd.DataFrame(
        [[f"v{j}" for j in range(n_cols)]], columns=[f"列{j}" for j in range(n_cols)]
    )
    table = BeautifulSoup(label_tables(frame.to_html(index=False)), "html.parser").find("table")
    cards = [c for c in table["class"] if c.startswith("opsnb-") and c != "opsnb-table"]
    assert cards == ([cls] if cls else [])
    assert [td["data-label"] for td in table.find_all("td")] == [f"列{j}" for j in range(n_cols)]


def test_only_tables_are_rewritten():
    body = '<p>成交 <b>¥1.2万</b> &amp; 退款</p><img src="data:image/png;base64,AAAA" alt="图">'
    table = "<table><tr><th>渠道</th></tr><tr><td>抖音</td></tr></table>"
    out = label_tables(body + table + body)
    assert out.startswith(body) and out.endswith(body)
    assert '<td data-label="渠道">抖音</td>' in out


def _executed_notebook(path, frame):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("ctx.table(df)")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/html": frame.style.hide(axis="index").to_html()}
        )
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("## 一、渠道"), cell]
    nbformat.write(nb, str(path))
    return path


def _wide(n_rows: int, n_cols: int) -> pd.DataFrame:
    cols = ["渠道", *[f"指标{j}" for j in range(1, n_cols)]]
    return pd.DataFrame(
        [[f"渠道{i}", *[i * 100 + j for j in range(1, n_cols)]] for i in range(n_rows)],
        columns=cols,
    )


def test_rendered_report_labels_its_tables_and_keeps_the_rest(tmp_path):
    nb = _executed_notebook(tmp_path / "r.ipynb", _wide(3, 12))
    html = render_html(nb, tmp_path / "r.html", title="测试").read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("h2").get_text().startswith("一、渠道")
    assert "opsnb-cards" in soup.find("table")["class"]
    assert [td["data-label"] for td in soup.find("tbody").find("tr").find_all("td")] == list(
        _wide(1, 12).columns
    )
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


def test_a_long_wide_table_is_cut_and_split_for_mail_and_kept_whole_in_the_workbook():
    frame = _wide(25, 17)
    frame.loc[3, "渠道"] = '=HYPERLINK("http://x","y")'  # from data: never a formula
    soup = BeautifulSoup(
        "<html lang='zh-CN'><body><h2>表3</h2>" + frame.to_html(index=False) + "</body></html>",
        "html.parser",
    )
    cut = fit_tables(soup, lang="zh", workbook_name="r-tables.xlsx")
    tables = soup.find_all("table")
    heads = [[th.get_text() for th in t.find("thead").find_all("th")] for t in tables]
    # 16 value columns after the label column, at most 8 columns a part: 3 parts of 6
    assert heads == [
        ["渠道", *[f"指标{j}" for j in range(1, 7)]],
        ["渠道", *[f"指标{j}" for j in range(7, 13)]],
        ["渠道", *[f"指标{j}" for j in range(13, 17)]],
    ]
    assert [len(t.find("tbody").find_all("tr")) for t in tables] == [10, 10, 10]
    note = soup.find("p", class_="opsnb-mail-cut")
    assert note.find_previous("table") is tables[-1]
    assert (
        note.get_text()
        == "仅显示前 10 行（共 25 行），完整表格见附件 r-tables.xlsx（工作表「表3」）。"
    )
    assert [(t.sheet, len(t.header), len(t.rows)) for t in cut] == [("表3", 17, 25)]

    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(tables_workbook(cut)))["表3"]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0] == list(frame.columns)
    assert rows[1:] == [[str(v) for v in r] for r in frame.itertuples(index=False)]
    assert ws["A5"].data_type == "s" and ws["A5"].quotePrefix


def test_short_and_narrow_tables_reach_the_mail_untouched():
    html = _wide(10, 8).to_html(index=False)
    soup = BeautifulSoup(html, "html.parser")
    assert fit_tables(soup, lang="en") == []
    assert str(soup) == str(BeautifulSoup(html, "html.parser"))


def test_report_mail_attaches_the_full_tables_and_drops_card_markup(tmp_path):
    nb = _executed_notebook(tmp_path / "r.ipynb", _wide(30, 12))
    report = render_html(nb, tmp_path / "daily.html", title="每日监控")
    msg = delivery.build_report_message(report, to=["a@example.com"])
    msg = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert msg.get_content_type() == "multipart/mixed"
    body, workbook = msg.get_payload()
    assert workbook.get_filename() == "daily-tables.xlsx"
    assert workbook.get_content_type().endswith("spreadsheetml.sheet")
    html = body.get_payload()[1].get_content()  # no charts: no multipart/related
    soup = BeautifulSoup(html, "html.parser")
    assert not soup.find(attrs={"data-label": True})
    assert not soup.find(class_=["opsnb-cards", "opsnb-stack", "opsnb-stack-md", "data"])
    assert not soup.find(id=lambda v: v and v.startswith("T_"))
    body_tables = [t for t in soup.find_all("table") if not t.find_parent("footer")]
    assert [len(t.find("tbody").find_all("tr")) for t in body_tables] == [10, 10]
    text = body.get_payload()[0].get_content()
    assert (
        "仅显示前 10 行（共 30 行），完整表格见附件 daily-tables.xlsx（工作表「一、渠道」）。"
        in text
    )
