"""Inside a batch worker: warm-up, the per-run time-limit watchdog, and running one job.

:func:`warm_worker` is the pool's (and the Dask workers') initializer; :func:`run_job` runs one
:class:`~opsnb.run.batchplan.BatchJob` and returns its :class:`~opsnb.run.batchresults.BatchRun`,
never raising for a notebook failure (see "Time limits" in :mod:`opsnb.run.batch`).
"""

from __future__ import annotations

import json
import os
import threading
import time

from opsnb.run.batchplan import BatchJob
from opsnb.run.batchresults import BatchRun
from opsnb.run.reaper import BATCH_ID_ENV

__all__ = ["warm_worker", "run_job"]


def warm_worker(log_path: str | None = None, batch_id: str | None = None) -> None:
    """Pool initializer: pay imports and exporter construction once per worker, not per run.

    The worker's stderr (and so its kernels' banners and warnings) goes to ``log_path`` so
    that the progress bar stays readable; errors of a run are in its result anyway. The worker
    puts ``batch_id`` in ``$OPSNB_BATCH_ID``, which its kernels inherit (see "Crash safety"
    in the module docstring).
    """
    if batch_id:
        os.environ[BATCH_ID_ENV] = batch_id
    if log_path:
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(fd, 2)
        os.close(fd)
    from opsnb.run.kernelpool import start_server
    from opsnb.run.runner import kernel_name

    # first, so that it imports while this worker does; before any run, so that a run's
    # time-limit watchdog never counts it among the run's own processes
    kernel = kernel_name()
    start_server(kernel, wait=False)
    import nbformat  # noqa: F401
    import papermill  # noqa: F401

    from opsnb.run import render

    # (no ledger import: the parent writes each run into the ledger, workers never do)
    render.warm_up_renderer()
    # and wait for the server's imports here, not in the first run: they are not the run's
    # time (its duration, its time limit)
    start_server(kernel)


class _Watchdog:
    """Kill the kernel(s) this worker started for a run once the wall-clock limit passes."""

    def __init__(self, limit: float | None):
        import psutil

        self.fired = False
        self._me = psutil.Process()
        self._before = {p.pid for p in self._me.children(recursive=True)}
        self._timer = threading.Timer(limit, self._kill) if limit else None
        if self._timer:
            self._timer.daemon = True
            self._timer.start()

    def _kill(self) -> None:
        import psutil

        procs = [p for p in self._me.children(recursive=True) if p.pid not in self._before]
        self.fired = True
        for p in procs:
            try:
                p.kill()
            except psutil.Error:
                pass

    def cancel(self) -> None:
        if self._timer:
            self._timer.cancel()


def run_job(job: BatchJob) -> BatchRun:
    """Run one job in a worker (process pool or Dask): never raises for a notebook failure."""
    for key, value in job.env.items():  # workers may outlive the environment they began with
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    from opsnb.run.runner import run_notebook

    t0 = time.perf_counter()
    limit = job.timeout
    # this run is no longer up to date until it succeeds (a failed --force rerun must rerun)
    job.stamp_path.unlink(missing_ok=True)
    watchdog = _Watchdog(limit)
    try:
        # the ledger is written by the parent as each run ends: a worker appending while
        # another worker's kernel holds the store open for reading would have to wait
        res = run_notebook(
            job.notebook,
            job.params,
            params_file=job.params_file,
            output_dir=job.output_dir,
            slug=job.slug,
            timeout=limit,
            ledger=False,
            warm=True,
        )
    except Exception as exc:  # parameters or I/O: still only this run fails
        watchdog.cancel()
        return BatchRun(
            job.stem,
            job.slug,
            "failed",
            time.perf_counter() - t0,
            error=f"{type(exc).__name__}: {exc}",
            params_file=job.params_file,
            recipients=job.recipients,
            cc=job.cc,
            worker_pid=os.getpid(),
        )
    watchdog.cancel()
    status, error = res.status, res.error
    timed_out = watchdog.fired or "CellTimeoutError" in error
    if status != "ok" and timed_out:
        status = "timeout"
        error = f"exceeded the {limit:g} s limit (kernel killed); {error}"
    if status == "ok":
        stamp = {
            "fingerprint": job.fingerprint,
            "params": job.params,
            "params_file": job.params_file,
            "finished_at": res.finished_at,
        }
        tmp = job.stamp_path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(stamp, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, job.stamp_path)
    return BatchRun(
        job.stem,
        job.slug,
        status,
        round(time.perf_counter() - t0, 3),
        html_path=res.html_path,
        partial_path=res.partial_path,
        error=error,
        params_file=job.params_file,
        recipients=job.recipients,
        cc=job.cc,
        kernel_s=res.duration_s,
        worker_pid=os.getpid(),
    )
