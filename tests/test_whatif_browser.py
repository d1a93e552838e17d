"""End to end: the what-if app (``opsnb whatif``) in a real headless Chromium shows what
opsnb.goals.whatif computes, and the launcher leaves nothing behind when stopped.

Starts the launcher on a free 127.0.0.1 port with a small synthetic store, opens the page with
Playwright driving the system Chromium (``playwright install`` cannot download browsers here),
checks the page opens on the one-line explanation and the sliders, moves the first slider
with the keyboard and compares the GMV on the page with
:meth:`opsnb.goals.whatif.ScenarioModel.evaluate`. Skipped only when no Chromium is installed.
SIGTERM and Ctrl-C (SIGINT) on the launcher stop Voila and its kernels and remove its
temporary folder (no browser needed).
"""

from __future__ import annotations

import json
import os
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
from opsnb.run.render import find_chromium

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02b_whatif_live.ipynb"
PRESSES = 3  # ArrowRight presses on the first slider (step 1 %)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
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


def _launch(
    db: Path, tmp_path: Path, port: int, log, background: bool = False
) -> tuple[subprocess.Popen, Path]:
    """``opsnb whatif`` on ``port`` in its own session, its temporary files under
    ``tmp_path/tmp`` (returned). ``background``: started as a script's ``cmd &`` starts it
    (no job control), with SIGINT ignored."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "OPSNB_DB": str(db),
        "OPSNB_OUTPUTS": str(tmp_path / "out"),
        "MPLBACKEND": "Agg",
        "TMPDIR": str(tmp),
    }
    cmd = [sys.executable, "-c", "from opsnb.cli import app; app()", "whatif", f"--port={port}"]
    ignore_int = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if background else None
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=ignore_int,
    )
    return proc, tmp


def _stop(proc: subprocess.Popen) -> None:
    """Test clean-up: whatever the test left running in the launcher's group."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


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
    chromium = find_chromium()
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
    log = open(tmp_path / "voila.log", "wb")
    proc, _ = _launch(db, tmp_path, port, log)
    try:
        _wait_http(f"http://127.0.0.1:{port}/voila/static/favicon.ico", proc)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.set_default_timeout(90_000)
                page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                gmv = page.locator(".opsnb-gmv")
                gmv.wait_for(state="visible")
                lines = [t.strip() for t in page.inner_text("body").splitlines() if t.strip()]
                slider_top = page.locator(".opsnb-slider-0").bounding_box()["y"]
                assert float(gmv.get_attribute("data-value")) == pytest.approx(expected0, rel=1e-12)
                handle = page.locator(".opsnb-slider-0 .noUi-handle")
                handle.focus()
                for _ in range(PRESSES):
                    handle.press("ArrowRight")
                page.wait_for_function(
                    "v => document.querySelector('.opsnb-gmv').dataset.value !== v",
                    arg=gmv.get_attribute("data-value"),
                    timeout=90_000,
                )
                # the last key press may land after the first update: wait until it settles
                page.wait_for_function(
                    "want => document.querySelector('.opsnb-whatif-summary')"
                    ".dataset.changes === want",
                    arg=want,
                    timeout=90_000,
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
        _stop(proc)
        log.close()

    # the page opens on the panel: the one-line explanation, the summary, then the sliders,
    # on screen without scrolling; no title or notes about how the notebook is built
    assert lines[0].startswith("参考期为目标期的去年同月；滑块为相对参考期的变化（%）。"), lines[:3]
    assert lines[0].endswith("“套用目标拆解”把滑块设为目标拆解的方案。"), lines[0]
    assert lines[1].startswith("预计成交金额"), lines[:3]
    assert lines[2:6] == ["渠道", "访客数变化 %", "转化率变化 %", "客单价变化 %"], lines[:8]
    assert slider_top < 800
    page_text = "\n".join(lines)
    notes = ("02b", "Voila", "JupyterLab", "kernel", "batch")
    assert not any(w in page_text for w in notes), page_text[:300]
    assert changes == want
    assert shown == pytest.approx(expected, rel=1e-12)
    assert text == f"¥{expected:,.0f}"


def test_served_notebook_opens_on_the_panel_with_the_parameters_injected(tmp_path):
    """The copy Voila serves has no markdown (no title or notes above the sliders), the
    notebook's code cells unchanged, and the launcher's parameters injected as papermill does."""
    import nbformat

    from opsnb.run.live import prepare_live_notebook, voila_command

    out = prepare_live_notebook(NOTEBOOK, {"goal": 0.5, "lang": "en"}, tmp_path)
    served = nbformat.read(out, as_version=4)
    original = nbformat.read(NOTEBOOK, as_version=4)
    code = [c.source for c in original.cells if c.cell_type == "code"]
    kinds = [c.cell_type for c in served.cells]
    assert kinds == ["code"] * (len(code) + 1)  # + papermill's injected-parameters cell
    assert [c.source for c in served.cells if "injected-parameters" not in c.metadata.tags] == code
    injected = next(c for c in served.cells if "injected-parameters" in c.metadata.tags)
    assert "goal = 0.5" in injected.source and 'lang = "en"' in injected.source
    cmd = voila_command(out, tmp_path, port=8899, ip="127.0.0.1")
    assert cmd[1:] == [
        "-m",
        "voila",
        str(out),
        "--port=8899",
        "--Voila.ip=127.0.0.1",
        f"--Voila.connection_dir_root={tmp_path}",
        "--Voila.port_retries=0",
        "--no-browser",
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, background",
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGINT, True)],
    ids=["SIGTERM", "SIGINT", "SIGINT-from-a-background-job"],
)
def test_launcher_stops_voila_and_its_kernels_and_removes_its_temp_folder(
    store, tmp_path, sig, background
):
    # background: a script's `opsnb whatif &` (cron, CI) starts it with SIGINT ignored
    import psutil

    db, _ = store
    port = _free_port()
    log = open(tmp_path / "launcher.log", "wb")
    proc, tmp = _launch(db, tmp_path, port, log, background=background)
    started: list = []
    try:
        _wait_http(f"http://127.0.0.1:{port}/voila/static/favicon.ico", proc)
        # the page request runs the notebook in a kernel, which then stays up for the page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=120) as r:
            assert r.status == 200
        started = psutil.Process(proc.pid).children(recursive=True)
        kinds = sorted(
            "kernel" if "ipykernel_launcher" in " ".join(p.cmdline()) else "voila" for p in started
        )
        assert kinds == ["kernel", "voila"]
        assert [p.name.startswith("opsnb-whatif-") for p in tmp.iterdir()] == [True]
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
        left = [p.pid for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        groups = {proc.pid} | {p.pid for p in started}  # Voila and each kernel: own groups
        group = [p.pid for p in psutil.process_iter() if _pgid(p.pid) in groups]
    except Exception:
        log.flush()
        print((tmp_path / "launcher.log").read_text(errors="replace")[-3000:])
        raise
    finally:
        _stop(proc)
        for p in started:  # only after a failure: the test leaves nothing running
            try:
                p.kill()
            except psutil.Error:
                pass
        log.close()
    assert code == 0
    assert left == [] and group == []
    assert list(tmp.iterdir()) == []  # Voila's connection files and the served copy: gone


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def test_dry_run_prints_a_command_that_can_still_be_run(tmp_path, monkeypatch):
    import tempfile

    from typer.testing import CliRunner

    from opsnb.cli import app

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    res = CliRunner().invoke(app, ["whatif", "--dry-run", "--port", "8899", "-p", "goal=0.4"])
    assert res.exit_code == 0, res.output
    (folder,) = tmp_path.iterdir()
    served = folder / NOTEBOOK.name
    lines = res.output.splitlines()
    assert lines[0] == "what-if app: http://127.0.0.1:8899/  (parameters: {'goal': 0.4})"
    assert lines[1].split()[2:5] == ["voila", str(served), "--port=8899"]
    assert lines[2] == f"(served copy kept in {folder}; remove it when done)"
    assert served.is_file()
