"""Nothing from the data runs: every report, Excel export, the index and the mail copy are
rendered from a store seeded with script, link and formula strings (issue 19).

One small demo store (scale 0.05) gets the strings in channel names, plan owners and tasks,
milestone names, owners and responses, SKU names, competitor names and an experiment's variant;
every batch notebook runs on it through :func:`opsnb.run.runner.run_notebook`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opsnb import sheets

ROOT = Path(__file__).resolve().parents[1]

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    '=HYPERLINK("http://x","y")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)",
]
HTML_PAYLOADS = PAYLOADS[:3]
MATHTEXT = r"$\nosuchmacro$ 预热"  # a '$' label that matplotlib's mathtext cannot parse


def _seed(db: Path) -> None:
    import duckdb

    from opsnb.demo.shop import write_demo

    write_demo(db_path=db, out_dir=db.parent / "files", start="2024-01-01", end="2025-12-31",
               scale=0.05)  # fmt: skip
    con = duckdb.connect(str(db))
    try:
        chans = [
            r[0]
            for r in con.execute("select distinct channel from daily_metrics order by 1").fetchall()
        ]
        assert len(chans) >= len(PAYLOADS)
        for p, c in zip(PAYLOADS, chans):
            for t in ("daily_metrics", "orders", "experiments", "targets"):
                con.execute(f"update {t} set channel = ? where channel = ?", [p, c])
        rows = [r[0] for r in con.execute("select rowid from plan order by rowid").fetchall()]
        for i, rid in enumerate(rows):
            p = PAYLOADS[i % 6]
            task = p if i < 6 else f"{p} {i}"
            con.execute("update plan set owner = ?, task = ? where rowid = ?", [p, task, rid])
        rows = [r[0] for r in con.execute("select rowid from milestones order by rowid").fetchall()]
        for i, rid in enumerate(rows):
            name = PAYLOADS[i] if i < 6 else (MATHTEXT if i == 6 else f"{PAYLOADS[i % 6]} {i}")
            con.execute(
                "update milestones set milestone = ?, owner = ?, response = ? where rowid = ?",
                [name, PAYLOADS[(i + 1) % 6], PAYLOADS[(i + 2) % 6], rid],
            )
        top = con.execute(
            "select sku from product_daily group by sku order by sum(gmv) desc limit 7"
        ).fetchall()
        for p, (sku,) in zip([*PAYLOADS, MATHTEXT], top):
            con.execute("update product_daily set sku_name = ? where sku = ?", [p, sku])
        comps = con.execute(
            "select distinct competitor from market where not is_own order by 1"
        ).fetchall()
        for p, (c,) in zip(PAYLOADS, comps):
            con.execute("update market set competitor = ? where competitor = ?", [p, c])
        con.execute(
            "update experiments set variant = ? where experiment = 'detail_page_v2' "
            "and variant <> 'control'",
            [HTML_PAYLOADS[1]],
        )
    finally:
        con.close()


def _live_html(text: str) -> list[str]:
    """Script elements, on* handlers and javascript:/vbscript: URLs in an HTML page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    found = [f"<{t.name}> element" for t in soup.find_all(["script", "iframe", "object", "embed"])]
    for tag in soup.find_all(True):
        for attr, value in tag.attrs.items():
            if attr.lower().startswith("on"):
                found.append(f"<{tag.name} {attr}=...>")
            v = " ".join(value) if isinstance(value, list) else str(value)
            if re.sub(r"[\x00-\x20]", "", v).lower().startswith(("javascript:", "vbscript:")):
                found.append(f"<{tag.name} {attr}={v!r}>")
    return found


def _live_cells(path: Path) -> list[str]:
    """Formula cells, and text cells starting with = + - @ tab CR without Excel's quote prefix
    or a leading apostrophe."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    found = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f":
                    found.append(f"{ws.title}!{c.coordinate} formula {c.value!r}")
                elif sheets.is_risky(c.value) and not c.quotePrefix:
                    found.append(f"{ws.title}!{c.coordinate} text {c.value!r}")
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from opsnb.run.params import list_notebooks
    from opsnb.run.render import write_index
    from opsnb.run.runner import run_notebook

    base = tmp_path_factory.mktemp("inject")
    db = base / "store" / "inject.duckdb"
    db.parent.mkdir()
    _seed(db)
    out = base / "outputs"
    runs = {}
    for i, nb in enumerate(n for n in list_notebooks() if "live" not in n.stem):
        lang = "en" if i % 2 else "zh"
        runs[nb.stem] = run_notebook(
            nb, {"lang": lang, "db_path": str(db)}, output_dir=out, timeout=300, ledger=False
        )
    write_index(out)
    return out, runs


def test_every_report_runs_on_a_store_seeded_with_script_and_formula_strings(rendered):
    out, runs = rendered
    assert {s for s in runs} >= {
        "00_data_health",
        "01_market_research",
        "02_goal_decomposition",
        "03_daily_monitoring",
        "04_ab_test",
        "05_retrospective",
    }
    failed = {s: (r.error, r.failed_cell) for s, r in runs.items() if not r.ok}
    assert not failed  # a '$' in a label no longer stops a report in matplotlib's mathtext


def test_reports_index_and_mail_copy_show_the_strings_as_text_and_run_nothing(rendered):
    from bs4 import BeautifulSoup

    from opsnb.run.delivery import email_safe_html

    out, runs = rendered
    pages = [Path(r.html_path) for r in runs.values()] + [out / "index.html"]
    live, shown = {}, set()
    for page in pages:
        text = page.read_text(encoding="utf-8")
        mail = email_safe_html(text, base_dir=page.parent).html
        for what, doc in ((page.name, text), (f"mail of {page.name}", mail)):
            if bad := _live_html(doc):
                live[what] = bad[:5]
        visible = BeautifulSoup(text, "html.parser").get_text()
        shown |= {p for p in PAYLOADS if p in visible}
    assert live == {}
    # the strings did reach the reports (as text): the check above could have failed
    assert shown == set(PAYLOADS)


def test_excel_exports_write_formula_strings_from_data_as_text(rendered):
    from openpyxl import load_workbook

    out, _ = rendered
    books = sorted(out.rglob("*.xlsx"))
    assert {p.relative_to(out).parts[0] for p in books} == {  # outputs/<notebook>/<period>/
        "02_goal_decomposition",
        "03_daily_monitoring",
        "05_retrospective",
        "06_inventory",
    }
    assert {p.name: _live_cells(p) for p in books} == {p.name: [] for p in books}
    quoted = {
        c.value
        for p in books
        for ws in load_workbook(p).worksheets
        for row in ws.iter_rows()
        for c in row
        if c.quotePrefix
    }
    assert set(PAYLOADS[3:]) <= quoted  # the formula strings are there, as quoted text


def test_excel_exports_keep_the_house_style_with_such_strings_in_them(rendered):
    """The quoting leaves the rest alone: styled header, widths, numbers in their formats."""
    from workbooks import workbook_problems

    out, _ = rendered
    books = sorted(out.rglob("*.xlsx"))
    assert len(books) >= 4
    assert {p.name: workbook_problems(p) for p in books} == {p.name: [] for p in books}


def test_safe_cell_follows_the_owasp_rule_and_leaves_numbers_alone():
    import pandas as pd

    assert [sheets.safe_cell(v) for v in [*PAYLOADS[3:], "+1", "-x", "\tA", "\rB", "抖音", -3]] == [
        "'" + PAYLOADS[3],
        "'" + PAYLOADS[4],
        "'" + PAYLOADS[5],
        "'+1",
        "'-x",
        "'\tA",
        "'\rB",
        "抖音",
        -3,
    ]
    df = pd.DataFrame({"channel": ["=1+1", "抖音"], "gmv": [-5.0, 2.0], "=c": [1, 2]})
    got = sheets.safe_frame(df)
    expected = pd.DataFrame({"channel": ["'=1+1", "抖音"], "gmv": [-5.0, 2.0], "'=c": [1, 2]})
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_cli_csv_outputs_quote_formula_strings(tmp_path):
    """`opsnb rfm` writes a customer table: a customer id from data starting with '=' is quoted."""
    import pandas as pd
    from typer.testing import CliRunner

    from opsnb.cli import app

    tx = pd.DataFrame(
        {
            "customer": ["=HYPERLINK(1)", "@SUM(1)", "c3", "c3"],
            "day": ["2025-01-01", "2025-01-05", "2025-01-02", "2025-02-01"],
            "paid": [10.0, 20.0, 5.0, 7.0],
        }
    )
    src = tmp_path / "tx.csv"
    tx.to_csv(src, index=False)
    out = tmp_path / "rfm.csv"
    res = CliRunner().invoke(
        app,
        ["rfm", str(src), "--customer-col", "customer", "--date-col", "day",
         "--amount-col", "paid", "-o", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    ids = set(pd.read_csv(out)["customer_id"])
    assert ids == {"'=HYPERLINK(1)", "'@SUM(1)", "c3"}
