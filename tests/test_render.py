import re
from pathlib import Path

from opsnb.run.render import write_index
from opsnb.run.runner import run_notebook

NB = Path(__file__).parent / "fixtures" / "nb" / "report_ok.ipynb"


def test_html_report_has_no_code_has_chinese_and_embedded_images(outputs):
    r = run_notebook(NB, {"lang": "zh"})
    html = Path(r.html_path).read_text(encoding="utf-8")
    assert "SECRET_CODE_MARKER" not in html and "report.setup" not in html  # no input cells
    assert "fail_at" not in html.split("<footer")[0]  # parameters cell hidden from the body
    assert "一、销售概览" in html and "测试报告" in html
    imgs = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert imgs and all(s.startswith("data:image/png;base64,") for s in imgs)
    assert not re.search(r"(src|href)=\"https?://", html)  # nothing loaded from the network
    assert "<script src" not in html.lower()
    footer = html.split('<footer class="opsnb-footer">')[1]
    assert (
        "opsnb" in footer and "2025-11" in footer and "n_points" not in footer
    )  # only given params
    assert "application/vnd.opsnb.record+json" not in html


def test_english_report_speaks_english(outputs):
    r = run_notebook(NB, {"lang": "en"})
    html = Path(r.html_path).read_text(encoding="utf-8")
    assert "1. Sales overview" in html and "一、销售概览" not in html
    assert '<html lang="en">' in html


def test_index_lists_every_run_with_status(outputs):
    run_notebook(NB, {"lang": "zh"}, slug="good")
    run_notebook(NB, {"fail_at": "middle"}, slug="bad")
    page = write_index().read_text(encoding="utf-8")
    assert "good" in page and "bad" in page
    assert "opsnb-status-ok" in page and "opsnb-status-failed" in page
    # dated folders, relative links
    assert 'href="report_ok/2025-11/good.html"' in page
    assert 'href="report_ok/2025-11/bad.failed.ipynb"' in page
    # key figures with labels and units in the report language (was the raw "gmv <b>123,456</b>")
    assert "成交金额 <b>¥12.35万</b>" in page and "Note <b>完成</b>" in page


def test_report_files_are_readable_by_the_team(tmp_path):
    import os
    import stat

    from opsnb.run.render import atomic_write_text

    old = os.umask(0o022)
    try:
        p = atomic_write_text(tmp_path / "r.html", "<p>报告</p>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644


def test_index_groups_reports_by_day_newest_first_and_keeps_every_earlier_one(outputs):
    import json

    from opsnb.run.render import atomic_write_text

    # three days of daily reports and a monthly one, as dated run records
    for day in ("2025-09-26", "2025-09-28", "2025-09-27"):
        folder = outputs / "03_daily_monitoring" / day
        (folder / f"{day}-zh.html").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{day}-zh.html").write_text("<p>r</p>", encoding="utf-8")
        rec = {
            "notebook": "03_daily_monitoring",
            "slug": f"{day}-zh",
            "status": "ok",
            "html_path": str(folder / f"{day}-zh.html"),
            "params": {"period": day},
            "results": {"_period": day, "_title": "每日监控"},
            "finished_at": f"{day}T07:00:00",
            "duration_s": 1.0,
        }
        atomic_write_text(folder / f"{day}-zh.json", json.dumps(rec))
    page = write_index(outputs).read_text(encoding="utf-8")
    days = re.findall(r'class="opsnb-day"><th colspan="5" class="l" id="d([\d-]+)"', page)
    assert days == ["2025-09-28", "2025-09-27", "2025-09-26"]
    for day in days:
        assert f'href="03_daily_monitoring/{day}/{day}-zh.html"' in page


def test_index_shows_key_figures_for_people_not_raw_keys_or_paths(outputs):
    import json

    from opsnb.run.render import atomic_write_text

    figures = {
        "monitor_gmv_at_risk": 123456.0,
        "monitor_alerts": 3,
        "srm_flagged": False,
        "rel_lift": 0.0312,
        "excel": str(outputs / "05_retrospective" / "2025-11" / "复盘.xlsx"),
        "slow_new_thing": 7,
        "ab_days_left": 2.2,
    }
    for lang in ("zh", "en"):
        folder = outputs / "05_retrospective" / "2025-11"
        folder.mkdir(parents=True, exist_ok=True)
        rec = {
            "notebook": "05_retrospective",
            "slug": f"r-{lang}",
            "status": "failed",
            "error": f"FileNotFoundError: {outputs}/data/订单.csv not found",
            "results": {"_period": "2025-11", "_lang": lang, **figures},
            "finished_at": "2025-12-01T07:00:00",
            "duration_s": 1.0,
        }
        atomic_write_text(folder / f"r-{lang}.json", json.dumps(rec, ensure_ascii=False))
    page = write_index(outputs).read_text(encoding="utf-8")
    rows = {
        lang: re.search(rf'r-{lang}.*?<td class="l figs">(.*?)</td></tr>', page, re.S).group(1)
        for lang in ("zh", "en")
    }
    assert rows["zh"] == (
        "影响金额 <b>¥12.35万</b> · 预警数 <b>3</b> · 样本比例失衡 <b>否</b> · 相对提升 <b>3.1%</b>"
        " · Excel <b>复盘.xlsx</b> · Slow new thing <b>7</b> · 剩余天数 <b>3 天</b>"
        "<br><span class=err>FileNotFoundError: 订单.csv not found</span>"
    )
    assert rows["en"] == (
        "GMV at risk <b>¥123.5k</b> · Alerts <b>3</b> · SRM flagged <b>no</b> · Relative lift"
        " <b>3.1%</b> · Excel <b>复盘.xlsx</b> · Slow new thing <b>7</b> · Days left <b>3 days</b>"
        "<br><span class=err>FileNotFoundError: 订单.csv not found</span>"
    )
    assert "monitor_gmv_at_risk" not in page and "srm_flagged" not in page
    assert str(outputs) not in page and "False" not in page
