"""Batch runs on tiny fixture notebooks: failures and time-outs are contained, reruns resume."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import socket
import time
from pathlib import Path

import nbformat
import pytest

from opsnb.errors import ParameterError
from opsnb.run import batch

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
TIMEOUT = 8.0  # seconds per run in these tests; the sleeping notebook sleeps 120 s


def _project(root: Path) -> Path:
    """A throw-away project: the fixture notebooks, a 'live' one, and params files."""
    nbs = root / "notebooks"
    nbs.mkdir(parents=True)
    for name in ("ok", "failing", "sleeping"):
        shutil.copy(FIXTURES / f"{name}.ipynb", nbs / f"{name}.ipynb")
    shutil.copy(FIXTURES / "ok.ipynb", nbs / "live_ok.ipynb")  # never batch-run
    params = root / "params"
    params.mkdir()
    (params / "a.yaml").write_text(
        "shop: 店铺A\nnotebooks: [ok, failing, sleeping]\n", encoding="utf-8"
    )
    (params / "b.yaml").write_text(
        "shop: 店铺B\nn: 5\nnotebooks: [ok]\nrecipients: ['张三 <zhang@example.com>']\n",
        encoding="utf-8",
    )
    return root


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = _project(tmp_path / "proj")
    monkeypatch.setenv("OPSNB_HOME", str(root))
    monkeypatch.setenv("OPSNB_OUTPUTS", str(root / "outputs"))
    monkeypatch.setenv("OPSNB_DB", str(root / "store.duckdb"))
    monkeypatch.delenv("OPSNB_DATA_VERSION", raising=False)
    return root


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """One real batch (2 workers): ok x2, failing, sleeping past the time limit."""
    root = _project(tmp_path_factory.mktemp("batch") / "proj")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPSNB_HOME", str(root))
        mp.setenv("OPSNB_OUTPUTS", str(root / "outputs"))
        mp.setenv("OPSNB_DB", str(root / "store.duckdb"))
        mp.delenv("OPSNB_DATA_VERSION", raising=False)
        summary = batch.run_batch([root / "params"], workers=2, timeout=TIMEOUT, progress=False)
        yield root, summary, mp


# ------------------------------------------------------------------------------ planning


def test_plan_pairs_notebooks_with_params_files_and_never_live_ones(project):
    jobs = batch.plan_batch([project / "params"])
    names = {j.stem for j in jobs}
    assert names == {"ok", "failing", "sleeping"}  # live_ok excluded
    by_file = {(Path(j.params_file).name, j.stem) for j in jobs}
    assert by_file == {
        ("a.yaml", "ok"),
        ("a.yaml", "failing"),
        ("a.yaml", "sleeping"),
        ("b.yaml", "ok"),
    }
    b = next(j for j in jobs if j.params_file.endswith("b.yaml"))
    assert b.params["shop"] == "店铺B" and b.params["n"] == 5
    assert b.recipients == ("张三 <zhang@example.com>",)
    assert len({j.name for j in jobs}) == len(jobs)  # no two runs write the same report
    only = batch.plan_batch([project / "params" / "a.yaml"], notebooks=["failing"])
    assert [j.stem for j in only] == ["failing"]


def test_relative_period_override_is_resolved_to_dates_when_planned(project):
    today = dt.date(2025, 11, 12)  # a Wednesday
    jobs = batch.plan_batch([project / "params" / "b.yaml"], period="yesterday", today=today)
    assert jobs[0].params["period"] == "2025-11-11"
    assert "2025-11-11" in jobs[0].slug
    week = batch.plan_batch([project / "params" / "b.yaml"], period="last-week", today=today)
    assert week[0].params["period"] == "2025-11-03..2025-11-09"
    assert batch.resolve_period("2025-Q4", "") == "2025-Q4"
    assert batch.resolve_period("yesterday", "2025-06-19") == "2025-06-18"
    # as_of="latest" no longer keeps a period relative: it is read from the clock (--today)
    assert batch.resolve_period("yesterday", "latest", today=dt.date(2025, 9, 28)) == "2025-09-27"
    assert jobs[0].period_dir == "2025-11-11" and jobs[0].name == f"ok/2025-11-11/{jobs[0].slug}"
    assert jobs[0].html_path.parent.name == "2025-11-11"


def test_bad_params_fail_before_any_kernel_starts(project):
    (project / "params" / "c.yaml").write_text("shopp: x\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="shopp.*shop"):
        batch.plan_batch([project / "params"])
    (project / "params" / "c.yaml").write_text("slug: same\nnotebooks: [ok]\n", encoding="utf-8")
    (project / "params" / "d.yaml").write_text("slug: same\nnotebooks: [ok]\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="both write ok/2025-11/same"):
        batch.plan_batch([project / "params" / "c.yaml", project / "params" / "d.yaml"])
    with pytest.raises(ParameterError, match="not found"):
        batch.plan_batch([project / "nope"])


def test_fingerprint_changes_with_data_version_and_params(project, monkeypatch):
    import duckdb

    [job] = batch.plan_batch([project / "params" / "b.yaml"])
    con = duckdb.connect(str(project / "store.duckdb"))
    con.execute("create table daily_metrics as select 1 as visitors")
    con.close()
    [v1] = batch.plan_batch([project / "params" / "b.yaml"])
    assert v1.fingerprint != job.fingerprint  # the store appeared
    con = duckdb.connect(str(project / "store.duckdb"))
    con.execute("create table ledger as select 'run' as run_id")  # what runs write
    con.close()
    [same] = batch.plan_batch([project / "params" / "b.yaml"])
    assert same.fingerprint == v1.fingerprint
    con = duckdb.connect(str(project / "store.duckdb"))
    con.execute("insert into daily_metrics values (2)")  # a new data load
    con.close()
    [v1b] = batch.plan_batch([project / "params" / "b.yaml"])
    assert v1b.fingerprint != v1.fingerprint
    monkeypatch.setenv("OPSNB_DATA_VERSION", "2025-11-12T06:00")
    [v2] = batch.plan_batch([project / "params" / "b.yaml"])
    assert v2.fingerprint != v1.fingerprint
    [v3] = batch.plan_batch([project / "params" / "b.yaml"], period="2025-10")
    assert v3.fingerprint != v2.fingerprint and v3.slug != v2.slug


# ----------------------------------------------------------------------------- execution


@pytest.mark.slow
def test_failing_and_timed_out_runs_do_not_stop_the_others(ran):
    root, summary, _ = ran
    status = {r.name: r.status for r in summary.results}
    assert len(status) == 4
    assert [status[n] for n in status if n.startswith("ok/")] == ["ok", "ok"]
    assert status["failing/2025-11-zh"] == "failed"
    assert status["sleeping/2025-11-zh"] == "timeout"
    assert summary.exit_code == 1
    failing = next(r for r in summary.results if r.notebook == "failing")
    assert "ValueError: boom for 店铺A" in failing.error
    sleeping = next(r for r in summary.results if r.notebook == "sleeping")
    assert f"{TIMEOUT:g} s limit" in sleeping.error
    assert sleeping.duration_s < 60  # killed, not waited for (the notebook sleeps 120 s)
    for r in (failing, sleeping):  # partial notebooks kept, with the cells that did run
        nb = nbformat.read(r.partial_path, as_version=4)
        printed = "".join(
            o.get("text", "")
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.get("outputs", [])
        )
        assert ("before the error" if r is failing else "going to sleep") in printed
    for r in summary.results:
        if r.status == "ok":
            assert Path(r.html_path).is_file()
            assert "店铺" in Path(r.html_path).read_text(encoding="utf-8")
    table = summary.table()
    assert "run" in table.splitlines()[0] and "error" in table.splitlines()[0]
    assert "timeout" in table and "boom for 店铺A" in table
    assert "4 runs" in table and "2 ok, 1 failed, 1 timeout" in table
    assert (root / "outputs" / "index.html").is_file()
    assert list(summary.to_frame().columns) == ["run", "status", "duration_s", "output", "error"]


@pytest.mark.slow
def test_the_parent_writes_each_successful_run_into_the_ledger_once(ran):
    from opsnb.run import ledger

    root, summary, _ = ran
    rows = ledger.read(root / "store.duckdb")
    # run ids name the dated folder: <notebook>/<period>/<slug>
    ok_runs = sorted(f"{r.notebook}/2025-11/{r.slug}" for r in summary.results if r.status == "ok")
    assert sorted(rows["run_id"]) == ok_runs and len(ok_runs) == 2


def test_rerun_skips_up_to_date_reports_unless_forced_or_data_changed(ran):
    root, summary, mp = ran
    params = [root / "params"]
    jobs = batch.plan_batch(params, notebooks=["ok"], timeout=TIMEOUT)
    before = {j.name: j.html_path.stat().st_mtime_ns for j in jobs}
    again = batch.execute_batch(jobs, workers=2, progress=False)
    assert [r.status for r in again.results] == ["skipped", "skipped"]
    assert again.exit_code == 0
    assert {j.name: j.html_path.stat().st_mtime_ns for j in jobs} == before
    # failed and timed-out runs are not up to date, so a resumed batch retries them
    every = batch.plan_batch(params, timeout=TIMEOUT)
    assert {j.stem for j in every if not batch.is_up_to_date(j)} == {"failing", "sleeping"}
    mp.setenv("OPSNB_DATA_VERSION", "new-load")
    assert not any(batch.is_up_to_date(j) for j in batch.plan_batch(params, notebooks=["ok"]))
    mp.delenv("OPSNB_DATA_VERSION")
    assert all(batch.is_up_to_date(j) for j in batch.plan_batch(params, notebooks=["ok"]))


@pytest.mark.slow
def test_cli_batch_prints_summary_and_exits_nonzero_on_failure(ran):
    from typer.testing import CliRunner

    from opsnb.cli import app

    root, _, _ = ran
    res = CliRunner().invoke(
        app,
        [
            "batch",
            str(root / "params" / "a.yaml"),
            "-n",
            "ok",
            "-n",
            "failing",
            "--workers",
            "2",
            "--no-progress",
            "--timeout",
            str(TIMEOUT),
        ],
    )
    assert res.exit_code == 1, res.output
    assert "ok/2025-11-zh" in res.output and "skipped" in res.output
    assert "failing/2025-11-zh" in res.output and "boom for 店铺A" in res.output
    ok = CliRunner().invoke(app, ["batch", str(root / "params" / "b.yaml"), "--no-progress"])
    assert ok.exit_code == 0, ok.output
    assert "1 skipped" in ok.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_batch_email_sends_each_report_once_and_a_failure_digest(ran, tmp_path):
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    import email
    from email import policy

    root, summary, mp = ran
    got = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            got.append(email.message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    port = _free_port()
    controller = controller_mod.Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mp.setenv("OPSNB_SMTP_HOST", "127.0.0.1")
        mp.setenv("OPSNB_SMTP_PORT", str(port))
        mp.setenv("OPSNB_SMTP_SECURITY", "none")
        mp.setenv("OPSNB_SMTP_FROM", "运营报表 <reports@example.com>")
        mp.setenv("OPSNB_DIGEST_TO", "oncall@example.com")
        first = batch.deliver(batch.BatchSummary(list(summary.results), 0.0, 2))
        second = batch.deliver(batch.BatchSummary(list(summary.results), 0.0, 2))
    finally:
        controller.stop()
    assert [s.status for s in first.sends] == ["sent"]  # only b.yaml has recipients
    assert [s.status for s in second.sends] == ["skipped"]
    assert first.delivery_errors == [] and second.delivery_errors == []
    reports = [m for m in got if m["To"].addresses[0].addr_spec == "zhang@example.com"]
    digests = [m for m in got if m["To"].addresses[0].addr_spec == "oncall@example.com"]
    assert len(reports) == 1 and len(digests) == 2  # a digest per batch with failures
    html = reports[0].get_body(("html",)).get_content()  # a real rendered report, made safe
    assert "<style" not in html and "<script" not in html and "data:" not in html
    assert "店铺B" in html and 'style="' in html
    assert "2 个报表运行失败" in digests[0]["Subject"]
    text = digests[0].get_body(("plain",)).get_content()
    assert "failing/2025-11-zh" in text and "sleeping/2025-11-zh" in text
    from opsnb.run.delivery import SendLog

    log = SendLog(root / "outputs" / ".sends.jsonl")  # one send: "sending", then "sent"
    sent = log.entries()
    assert len(sent) == 1 and sent[0]["recipients"] == ["zhang@example.com"]
    assert [e["state"] for e in log.events()] == ["sending", "sent"]


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_outputs_as_the_process_pool(ran, tmp_path):
    distributed = pytest.importorskip("distributed")
    root, summary, _ = ran
    jobs = batch.plan_batch([root / "params"], notebooks=["ok"], output_dir=tmp_path / "dask")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        dask_summary = batch.execute_batch(
            jobs, scheduler=cluster.scheduler_address, progress=False
        )
    assert [r.status for r in dask_summary.results] == ["ok", "ok"]
    assert len({r.worker_pid for r in dask_summary.results}) >= 1

    def cell_outputs(path):
        nb = nbformat.read(path, as_version=4)
        return [
            [{k: v for k, v in o.items() if k != "execution_count"} for o in c.get("outputs", [])]
            for c in nb.cells
            if c.cell_type == "code"
        ]

    pool_dir, dask_dir = root / "outputs" / "ok", tmp_path / "dask" / "ok"
    pool_files = sorted(p.name for p in pool_dir.glob("*.html"))
    assert sorted(p.name for p in dask_dir.glob("*.html")) == pool_files
    for name in pool_files:
        stem = name.removesuffix(".html")
        assert cell_outputs(dask_dir / f"{stem}.ipynb") == cell_outputs(pool_dir / f"{stem}.ipynb")
        record = json.loads((dask_dir / f"{stem}.json").read_text(encoding="utf-8"))
        assert record["status"] == "ok"


@pytest.mark.slow
def test_batch_email_with_smtp_down_reports_errors_and_marks_nothing_sent(ran):
    root, summary, mp = ran
    from opsnb.run.delivery import SendLog

    log = SendLog(root / "outputs" / ".sends.jsonl")
    before = log.entries()
    mp.setenv("OPSNB_SMTP_HOST", "127.0.0.1")
    mp.setenv("OPSNB_SMTP_PORT", str(_free_port()))
    mp.setenv("OPSNB_SMTP_SECURITY", "none")
    mp.setenv("OPSNB_SMTP_FROM", "reports@example.com")
    mp.setenv("OPSNB_DIGEST_TO", "oncall@example.com")
    # a re-sent report would be skipped by the send record, so use content never sent before
    fresh = batch.BatchSummary([r for r in summary.results if r.recipients], 0.0, 2)
    html = Path(fresh.results[0].html_path)
    html.write_text(html.read_text(encoding="utf-8") + "<!-- v2 -->", encoding="utf-8")
    out = batch.deliver(fresh, retries=0)
    assert out.sends == [] and out.exit_code == 1
    assert "could not send" in out.delivery_errors[0]
    # the attempt is logged (sending, then failed) but nothing is marked as sent
    assert log.entries() == before
    assert [e["state"] for e in log.events()[-2:]] == ["sending", "failed"]


# ------------------------------------------------------------------------- crash safety


@pytest.mark.slow
def test_a_failed_forced_rerun_is_rerun_by_the_next_plain_batch(ran):
    root, _, _ = ran
    jobs = batch.plan_batch([root / "params" / "a.yaml"], notebooks=["ok"], timeout=TIMEOUT)
    assert all(batch.is_up_to_date(j) for j in jobs)
    # a forced rerun that cannot finish (0.2 s is less than a kernel start) fails ...
    short = [dataclasses.replace(j, timeout=0.2) for j in jobs]
    forced = batch.execute_batch(short, workers=1, force=True, progress=False)
    # killed at the 0.2 s limit: "timeout", or "failed" when the kernel died while starting
    assert [r.status in ("timeout", "failed") for r in forced.results] == [True]
    assert forced.exit_code == 1
    # ... so the report is no longer up to date: the plain batch runs it and says so
    assert not any(batch.is_up_to_date(j) for j in jobs)
    again = batch.execute_batch(jobs, workers=1, progress=False)
    assert [r.status for r in again.results] == ["ok"] and again.exit_code == 0
    assert all(batch.is_up_to_date(j) for j in jobs)


_BATCH_SCRIPT = """
import sys
from opsnb.run.batch import run_batch
run_batch([sys.argv[1]], workers=2, timeout=90, progress=False)
"""


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _alive(procs) -> list[str]:
    import psutil

    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.Error:
            continue
    return out


def _cmd(p) -> str:
    try:
        return " ".join(p.cmdline())
    except Exception:  # noqa: BLE001 - psutil.Error: it has just ended
        return ""


def _kernels(procs) -> list:
    """The kernels among ``procs``: cold ones run ipykernel_launcher; warm ones are forked by
    a worker's kernel fork server (:mod:`opsnb.run.kernelpool`), whose command line they share,
    so they are the server's children with that command line."""
    from opsnb.run.kernelpool import SERVER_FLAG

    out = []
    for p in procs:
        cmd = _cmd(p)
        if SERVER_FLAG in cmd:
            try:
                forked = SERVER_FLAG in _cmd(p.parent())
            except Exception:  # noqa: BLE001 - psutil.Error
                continue
            if forked:
                out.append(p)
        elif "ipykernel" in cmd:
            out.append(p)
    return out


def _worker_of(kernel):
    """The pool worker that runs ``kernel`` (its parent, or its fork server's parent)."""
    from opsnb.run.kernelpool import SERVER_FLAG

    return next(p for p in kernel.parents() if SERVER_FLAG not in _cmd(p))


@pytest.mark.slow
def test_killing_a_worker_and_then_the_parent_leaves_no_process_and_keeps_finished_runs(
    tmp_path,
):
    """kill -9 a worker mid-run (its kernel goes too), then the batch parent: within a short
    grace period no worker, kernel or helper is left, and the runs that ended are in the
    ledger."""
    import os
    import signal
    import subprocess
    import sys

    import psutil

    from opsnb.run import ledger

    root = _project(tmp_path / "proj")
    env = {
        **os.environ,
        "OPSNB_HOME": str(root),
        "OPSNB_OUTPUTS": str(root / "outputs"),
        "OPSNB_DB": str(root / "store.duckdb"),
    }
    env.pop("OPSNB_DATA_VERSION", None)
    proc = subprocess.Popen([sys.executable, "-c", _BATCH_SCRIPT, str(root / "params")], env=env)
    parent = psutil.Process(proc.pid)
    try:

        def both_ok_in_ledger():
            try:
                rows = ledger.read(root / "store.duckdb", timeout=2)
            except Exception:  # noqa: BLE001 - the parent may be writing: try again
                return None
            return len(rows) == 2 and sorted(rows["run_id"])

        done = _wait(both_ok_in_ledger, 120, "the two ok runs in the ledger")
        kernels = _kernels(parent.children(recursive=True))
        assert len(kernels) == 1  # only the sleeping run is still going
        kernel = kernels[0]
        worker = _worker_of(kernel)
        worker.kill()
        _wait(lambda: not _alive([kernel, worker]), 20, "the dead worker's kernel to go")
        # the pool is rebuilt and the interrupted run retried: now kill the parent itself
        _wait(lambda: _kernels(parent.children(True)), 60, "the retried run's kernel")
        family = parent.children(recursive=True)
        reapers = [p for p in family if "import reap" in " ".join(p.cmdline())]
        assert len(reapers) == 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        try:
            _wait(lambda: not _alive(family), 20, "workers, kernels and the reaper to go")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {_alive(family)}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in parent.children(recursive=True) if parent.is_running() else []:
            p.kill()
    assert sorted(ledger.read(root / "store.duckdb")["run_id"]) == done
    ok_dir = root / "outputs" / "ok"  # dated: outputs/ok/<period>/<slug>.html
    assert done == sorted(
        f"ok/{p.relative_to(ok_dir).with_suffix('').as_posix()}" for p in ok_dir.rglob("*.html")
    )
