"""End to end: the Voila what-if app in a real headless Chromium shows what opsnb.goals.whatif computes.

Starts Voila on a free 127.0.0.1 port with a small synthetic store, opens the page with
Playwright driving the system Chromium (``playwright install`` cannot download browsers here),
moves the first slider with the keyboard and compares the GMV on the page with
:meth:`opsnb.goals.whatif.ScenarioModel.evaluate`. Skipped only when no Chromium is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_goals import synthetic_history

from opsnb import goals
from opsnb.goals import whatif

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02b_whatif_live.ipynb"
PRESSES = 3  # ArrowRight presses on the first slider (step 1 %)


def _chromium() -> str | None:
    for c in (
        os.environ.get("OPSNB_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if c and Path(c).is_file():
            return c
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 40.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"voila did not answer {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from opsnb import data

    hist = synthetic_history(start="2023-10-01", end="2025-09-30")
    hist["refund_orders"] = 0
    hist["refund_amount"] = 0.0
    path = tmp_path_factory.mktemp("whatif") / "store.duckdb"
    con = data.open_store(path)
    try:
        data.write_table(
            con, "daily_metrics", hist.drop(columns=["ad_spend"]).assign(ad_spend=hist["ad_spend"])
        )
    finally:
        con.close()
    return path, hist


@pytest.mark.slow
@pytest.mark.browser
def test_voila_slider_shows_the_model_gmv(store, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip(
            "no Chromium found (/usr/bin/chromium or chromium on PATH; "
            "Debian: apt-get install chromium)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    db, hist = store
    model = whatif.build_model(
        hist, goal=goals.Goal(0.30), base="2024-Q4", target="2025-Q4", mix="history"
    )
    channel, driver = whatif.slider_keys(model)[0]
    expected0 = model.evaluate().gmv
    moved = {channel: {driver: PRESSES / 100}}
    expected = model.evaluate(moved).gmv
    want = json.dumps(moved, ensure_ascii=False, sort_keys=True)

    port = _free_port()
    env = {
        **os.environ,
        "OPSNB_DB": str(db),
        "OPSNB_OUTPUTS": str(tmp_path / "out"),
        "MPLBACKEND": "Agg",
    }
    log = open(tmp_path / "voila.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            str(NOTEBOOK),
            f"--port={port}",
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            "--ServerApp.port_retries=0",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/voila/static/favicon.ico", proc)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            try:
                page = browser.new_page()
                page.set_default_timeout(45_000)
                page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                gmv = page.locator(".opsnb-gmv")
                gmv.wait_for(state="visible")
                assert float(gmv.get_attribute("data-value")) == pytest.approx(expected0, rel=1e-12)
                handle = page.locator(".opsnb-slider-0 .noUi-handle")
                handle.focus()
                for _ in range(PRESSES):
                    handle.press("ArrowRight")
                page.wait_for_function(
                    "v => document.querySelector('.opsnb-gmv').dataset.value !== v",
                    arg=gmv.get_attribute("data-value"),
                    timeout=20_000,
                )
                # the last key press may land after the first update: wait until it settles
                page.wait_for_function(
                    "want => document.querySelector('.opsnb-whatif-summary')"
                    ".dataset.changes === want",
                    arg=want,
                    timeout=20_000,
                )
                shown = float(gmv.get_attribute("data-value"))
                text = gmv.inner_text()
                changes = page.locator(".opsnb-whatif-summary").get_attribute("data-changes")
            finally:
                browser.close()
    except Exception:
        log.flush()
        print((tmp_path / "voila.log").read_text(errors="replace")[-3000:])
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        try:  # anything voila left in its own process group
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        log.close()

    assert changes == want
    assert shown == pytest.approx(expected, rel=1e-12)
    assert text == f"¥{expected:,.0f}"
