"""Every demo report, in both languages, fits a phone, a laptop and a mail window.

The reports are the session's notebook runs (the ``demo_report`` fixture of conftest.py, shared
with the smoke runs of tests/test_notebooks.py, so nothing is rendered twice): each notebook in
the language its smoke run uses (they alternate, so zh and en are both covered);
``OPSNB_REPORT_LANGS=zh,en`` checks every notebook in both (seven more notebook runs, a few
minutes on two cores, so not by default). One headless
Chromium (the system one, driven by Playwright: ``playwright install`` cannot download
browsers here) and one page are reused for every check: at 390 px and 1280 px the page must not
scroll sideways and no element may stick out of the viewport (reports keep no horizontal
scroller: wide tables become cards); the email-safe copy must fit 800 px the same way and stay
under Gmail's clip of about 102 kB of HTML.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_notebooks import BATCH_NOTEBOOKS, LANG

from opsnb.run.delivery import email_safe_html
from opsnb.run.render import find_chromium, write_index

LANGS = [x.strip() for x in os.environ.get("OPSNB_REPORT_LANGS", "").split(",") if x.strip()]
REPORTS = [(nb, lang) for nb in BATCH_NOTEBOOKS for lang in (LANGS or [LANG[nb.stem]])]
IDS = [f"{nb.stem}-{lang}" for nb, lang in REPORTS]
GMAIL_CLIP = 102_000
"""Bytes of HTML above which Gmail shows "[Message clipped]"."""

# every element's box against the viewport: its right edge, or its left edge below 0
OVERFLOW_JS = """() => {
  const w = window.innerWidth, out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width && (r.right > w + 1 || r.left < -1)) {
      out.push(`${el.tagName.toLowerCase()}.${el.className} [${Math.round(r.left)}, ${Math.round(r.right)}]`
               + ` "${(el.textContent || '').trim().slice(0, 30)}"`);
    }
  }
  return {scroll: document.scrollingElement.scrollWidth, width: w, wide: out.slice(0, 5), n: out.length};
}"""


@pytest.fixture(scope="module")
def page():
    """One browser and one page for the whole module."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(
            "no Chromium found (/usr/bin/chromium, chromium on PATH or $OPSNB_CHROMIUM; "
            "Debian: apt-get install chromium)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed (pip install playwright)"
    )
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            pg = browser.new_page()
            pg.set_default_timeout(90_000)
            yield pg
        finally:
            browser.close()


def _overflow(page, url: str, width: int) -> list[str]:
    """What sticks out sideways when ``url`` is shown ``width`` px wide ([] when nothing)."""
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(url, wait_until="load")
    r = page.evaluate(OVERFLOW_JS)
    bad = [] if r["scroll"] <= r["width"] + 1 else [f"page scrolls to {r['scroll']} px"]
    if r["n"]:
        bad.append(f"{r['n']} elements wider than the viewport, e.g. {r['wide']}")
    return bad


def _report(demo_report, nb, lang) -> Path:
    r = demo_report(nb, lang)
    assert r.ok, f"{nb.stem} ({lang}) failed: {r.error}"
    return Path(r.html_path)


def _mail_page(report: Path, folder: Path) -> tuple[Path, int]:
    """The email-safe copy of ``report`` as a mail client shows it (``cid:`` images resolved
    to files beside it), and the size of its HTML in bytes."""
    content = email_safe_html(
        report.read_text(encoding="utf-8"),
        base_dir=report.parent,
        workbook_name=f"{report.stem}-tables.xlsx",
    )
    html = content.html
    folder.mkdir(parents=True, exist_ok=True)
    for img in content.images:
        (folder / img.filename).write_bytes(img.data)
        html = html.replace(f"cid:{img.cid}", img.filename)
    page = folder / "mail.html"
    page.write_text(html, encoding="utf-8")
    return page, len(content.html.encode("utf-8"))


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize(("nb", "lang"), REPORTS, ids=IDS)
def test_report_does_not_scroll_sideways_on_a_phone_or_a_laptop(page, demo_report, nb, lang):
    url = _report(demo_report, nb, lang).as_uri()
    problems = {w: _overflow(page, url, w) for w in (390, 1280)}
    assert problems == {390: [], 1280: []}


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize(("nb", "lang"), REPORTS, ids=IDS)
def test_report_mail_fits_an_800px_window(page, demo_report, nb, lang, tmp_path):
    mail, _ = _mail_page(_report(demo_report, nb, lang), tmp_path / "mail")
    assert _overflow(page, mail.as_uri(), 800) == []


@pytest.mark.slow
@pytest.mark.parametrize(("nb", "lang"), REPORTS, ids=IDS)
def test_report_mail_stays_under_gmails_clip(demo_report, nb, lang, tmp_path):
    _, size = _mail_page(_report(demo_report, nb, lang), tmp_path / "mail")
    assert size < GMAIL_CLIP, f"{nb.stem} ({lang}) mail HTML is {size:,} bytes"


@pytest.mark.slow
@pytest.mark.browser
def test_report_index_fits_a_phone_and_a_laptop(page, demo_report, tmp_path):
    # the index of every demo report: each run folder linked under one outputs folder
    for nb, lang in REPORTS:
        report = _report(demo_report, nb, lang)
        # <run's output dir>/<nb>[/<period>]/<report>.html: link the notebook's folder
        run_dir = next(p for p in report.parents if p.name == nb.stem)
        (tmp_path / f"{nb.stem}-{lang}").symlink_to(run_dir, target_is_directory=True)
    index = write_index(tmp_path)
    assert index.read_text(encoding="utf-8").count('class="l figs"') == len(REPORTS)
    problems = {w: _overflow(page, index.as_uri(), w) for w in (390, 1280)}
    assert problems == {390: [], 1280: []}
