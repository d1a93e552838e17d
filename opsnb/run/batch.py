"""Batch runs: every notebook × params file in parallel, resumable, with time limits.

:func:`plan_batch` turns params files into :class:`BatchJob` s (validated before any kernel
starts); :func:`execute_batch` runs them in a process pool (or on a Dask cluster given a
scheduler address) with a progress bar and returns a :class:`BatchSummary` whose
``exit_code`` is 1 when any run failed. :func:`run_batch` does both.

- **Which runs.** Every notebook in ``notebooks/`` whose name does not contain ``live``, times
  every params file; ``notebooks: [...]`` in a file restricts it; ``--notebooks`` restricts all.
- **Time limits.** ``timeout`` is papermill's per-cell ``execution_timeout`` *and* a wall-clock
  limit per run: a watchdog thread in the worker kills the run's kernel when it is exceeded
  (status ``timeout``, the partial notebook is kept), and the parent kills the whole worker if
  even that does not end the run. One failing or killed run never stops the others.
- **Dated outputs.** A run writes into ``outputs/<notebook>/<period>/`` (see
  :mod:`opsnb.run.runner`): last night's report is never overwritten by tonight's.
- **Resume.** After a successful run the worker writes ``outputs/<notebook>/<period>/.<slug>.batch``
  holding a fingerprint of the notebook file, the validated parameters (relative periods
  resolved to dates), the data version (``$OPSNB_DATA_VERSION`` or the store file's size and
  mtime) and the opsnb version. A rerun skips runs whose fingerprint matches and whose report
  exists, unless ``force=True``; so a batch resumes after a crash.
- **Crash safety.** The parent appends each successful run to the ledger as soon as it ends
  (one DuckDB transaction per run, in a thread of its own so that the next job is handed out
  meanwhile), so a killed batch keeps every run that finished. A small
  reaper process, started by the parent in its own session, watches the parent's workers and
  kernels; when the parent dies (even by ``kill -9``) it kills them and every process still
  carrying the batch's marker ``$OPSNB_BATCH_ID`` (inherited by the kernels), so nothing is
  left running. A dead worker's orphaned kernel is killed the same way by the parent. A run's stamp is removed when it starts, so after a failed
  (or interrupted) ``--force`` rerun the next batch runs it again instead of saying "skipped".
- **Dask.** With ``scheduler="tcp://host:8786"`` the same jobs go to a Dask cluster. Workers
  need opsnb installed, the ``opsnb`` kernel, and the same paths for the project, the store and
  the outputs (a shared filesystem); start them with ``--nthreads 1`` (one run per process, so
  the time-limit watchdog kills only its own kernel), e.g.
  ``dask worker tcp://host:8786 --nworkers 4 --nthreads 1``.
- **Overhead.** Workers are started once and import papermill, nbconvert and opsnb and build
  the HTML exporter before the first run. Each also starts a warm kernel server
  (:mod:`opsnb.run.kernelpool`) that has imported ipykernel, numpy, pandas, matplotlib and
  what a kernel and a report's first cells import, registered the CJK font once, and forks a
  fresh kernel process for every run: runs stay isolated (no variable, working directory or
  environment change of one run reaches the next) without paying a kernel start and those
  imports each time; the worker waits for it before its first run, so that no run's time
  limit counts it. A run saves its running notebook when it starts and ends, and at a cell
  boundary only 5 s after the last save, not around every cell
  (:func:`opsnb.run.runner.run_notebook` with ``warm=True``); it notices its kernel's end
  within 10 ms. ``benchmarks/bench_batch.py`` measures what is left per report.

Scheduling: relative periods (``yesterday``, ``last-week``...) are resolved when the batch is
planned, from today in the shop's time zone (:func:`opsnb.periods.shop_today`; ``today=`` /
``--today`` for reruns), so a nightly cron line produces one dated report per day, e.g.::

    15 6 * * *  cd /srv/opsnb && .venv/bin/opsnb batch params/daily --period yesterday --email

Examples
--------
>>> summary = run_batch(["params/"], workers=2, timeout=600)     # doctest: +SKIP
>>> print(summary.table())                                       # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from opsnb.run.batchplan import (
    BatchJob,
    data_version,
    is_up_to_date,
    plan_batch,
    resolve_period,
)
from opsnb.run.batchresults import BatchRun, BatchSummary, deliver
from opsnb.run.batchworker import run_job, warm_worker
from opsnb.run.reaper import BATCH_ID_ENV, Reaper, kill_marked, marked_processes, reap

__all__ = [
    "BatchJob",
    "BatchRun",
    "BatchSummary",
    "plan_batch",
    "execute_batch",
    "run_batch",
    "resolve_period",
    "data_version",
    "is_up_to_date",
    "deliver",
    "BATCH_ID_ENV",
    "dask_client",
    "marked_processes",
    "kill_marked",
    "reap",
]

_KILL_GRACE_S = 30.0
"""Seconds past the wall-clock limit after which the parent kills a worker that is still busy."""


def _kill_pool(executor) -> None:
    import psutil

    for proc in list(getattr(executor, "_processes", {}).values()):
        try:
            parent = psutil.Process(proc.pid)
            for child in parent.children(recursive=True):
                child.kill()
            parent.kill()
        except psutil.Error:
            pass
    executor.shutdown(wait=False, cancel_futures=True)


def _failed(job: BatchJob, status: str, error: str, duration: float) -> BatchRun:
    job.stamp_path.unlink(missing_ok=True)  # what actually happened: not up to date
    partial = job.folder / f"{job.slug}.failed.ipynb"
    return BatchRun(
        job.stem,
        job.slug,
        status,
        round(duration, 3),
        partial_path=str(partial) if partial.exists() else None,
        error=error,
        params_file=job.params_file,
        recipients=job.recipients,
        cc=job.cc,
    )


def _worker_log(jobs: Sequence[BatchJob]) -> str:
    path = Path(jobs[0].output_dir) / ".batch-workers.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def _run_pool(
    jobs: list[BatchJob], workers: int, bar, on_done=None, batch_id: str | None = None
) -> dict[int, BatchRun]:
    """Process pool with at most ``workers`` jobs in flight, so each one's start is known.

    ``on_done(i, run)`` is called in the parent as soon as job ``i`` has its result."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    results: dict[int, BatchRun] = {}
    pending = deque(range(len(jobs)))
    retried: set[int] = set()
    log = _worker_log(jobs)

    def new_pool():
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=ctx,
            initializer=warm_worker,
            initargs=(log, batch_id),
        )

    executor = new_pool()
    running: dict = {}
    reported: set[int] = set()
    try:
        while pending or running:
            while pending and len(running) < workers:
                i = pending.popleft()
                running[executor.submit(run_job, jobs[i])] = (i, time.perf_counter())
            done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                i, t0 = running.pop(fut)
                try:
                    results[i] = fut.result()
                except BrokenProcessPool:
                    broken = True
                    if i in retried:
                        results[i] = _failed(
                            jobs[i], "failed", "worker process died", time.perf_counter() - t0
                        )
                    else:
                        retried.add(i)
                        pending.appendleft(i)
                        continue
                except Exception as exc:  # noqa: BLE001 - pickling and the like
                    results[i] = _failed(
                        jobs[i], "failed", f"{type(exc).__name__}: {exc}", time.perf_counter() - t0
                    )
                bar.update(1)
                bar.set_postfix(failed=sum(not r.ok for r in results.values()))
            now = time.perf_counter()
            overdue = [
                f
                for f, (i, t0) in running.items()
                if jobs[i].timeout and now - t0 > jobs[i].timeout + _KILL_GRACE_S
            ]
            if overdue or broken:
                # the in-worker watchdog did not end the run: kill the workers, start afresh
                _kill_pool(executor)
                for fut, (i, t0) in list(running.items()):
                    if fut in overdue:
                        results[i] = _failed(
                            jobs[i],
                            "timeout",
                            f"exceeded the {jobs[i].timeout:g} s limit (worker killed)",
                            now - t0,
                        )
                        bar.update(1)
                    else:
                        pending.appendleft(i)  # innocent bystander: run it again
                running.clear()
                if batch_id:  # the dead worker's kernel was orphaned: it goes too
                    kill_marked(batch_id, keep=[os.getpid()])
                executor = new_pool()
            for i in [i for i in results if i not in reported]:
                reported.add(i)
                if on_done:
                    on_done(i, results[i])
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return results


def dask_client(scheduler: str):
    """A Dask ``distributed.Client`` of the cluster at ``scheduler`` (``tcp://host:8786``),
    connected as the batch connects (30 s to reach it). Use it as a context manager."""
    from distributed import Client

    return Client(scheduler, timeout="30s")


def _run_dask(jobs: list[BatchJob], scheduler: str, bar, on_done=None) -> dict[int, BatchRun]:
    from distributed import as_completed

    results: dict[int, BatchRun] = {}
    with dask_client(scheduler) as client:
        client.run(warm_worker)
        futures = {
            client.submit(run_job, job, pure=False, retries=0): i for i, job in enumerate(jobs)
        }
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except Exception as exc:  # noqa: BLE001 - worker lost and the like
                results[i] = _failed(jobs[i], "failed", f"{type(exc).__name__}: {exc}", 0.0)
            if on_done:
                on_done(i, results[i])
            bar.update(1)
            bar.set_postfix(failed=sum(not r.ok for r in results.values()))
    return results


def execute_batch(
    jobs: Sequence[BatchJob],
    *,
    workers: int | None = None,
    force: bool = False,
    scheduler: str | None = None,
    progress: bool = True,
) -> BatchSummary:
    """Run ``jobs`` (skipping up-to-date ones unless ``force``) and write ``outputs/index.html``."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    jobs = list(jobs)
    todo = [i for i, j in enumerate(jobs) if force or not is_up_to_date(j)]
    results: dict[int, BatchRun] = {
        i: BatchRun(
            j.stem,
            j.slug,
            "skipped",
            0.0,
            html_path=str(j.html_path),
            params_file=j.params_file,
            recipients=j.recipients,
            cc=j.cc,
        )
        for i, j in enumerate(jobs)
        if i not in set(todo)
    }
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    from concurrent.futures import ThreadPoolExecutor

    from opsnb.run.runner import append_ledger, record_path

    # each run reaches the ledger when it ends, so a killed batch keeps what finished; the
    # appends (a DuckDB connection each: about 0.1 s) go through one thread of their own, in
    # the order the runs end, so that the parent hands the next job to a free worker at once
    ledger_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsnb-ledger")
    appends = []

    def on_done(k: int, run: BatchRun) -> None:
        if run.status == "ok":
            job = jobs[todo[k]]
            path = record_path(job.stem, job.slug, job.output_dir, job.period_dir)
            appends.append(ledger_writer.submit(append_ledger, path))

    try:
        with tqdm(
            total=len(todo),
            desc="opsnb batch",
            unit="run",
            disable=not progress,
            dynamic_ncols=True,
        ) as bar:
            if todo and scheduler:
                got = _run_dask([jobs[i] for i in todo], scheduler, bar, on_done)
            elif todo:
                import uuid

                batch_id = uuid.uuid4().hex
                reaper = Reaper(batch_id)
                try:
                    got = _run_pool([jobs[i] for i in todo], workers, bar, on_done, batch_id)
                finally:
                    reaper.close()
            else:
                got = {}
    finally:
        ledger_writer.shutdown(wait=True)
    for f in appends:
        f.result()  # a record that could not be read fails the batch, as before
    for k, i in enumerate(todo):
        results[i] = got[k]
    if jobs:
        from opsnb.run.render import write_index

        write_index(jobs[0].output_dir)
    return BatchSummary([results[i] for i in range(len(jobs))], time.perf_counter() - t0, workers)


def run_batch(
    sources: Sequence[str | Path],
    *,
    notebooks: Sequence[str] | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    force: bool = False,
    scheduler: str | None = None,
    period: str | None = None,
    email: bool = False,
    output_dir: str | Path | None = None,
    progress: bool = True,
    today: dt.date | None = None,
) -> BatchSummary:
    """Plan, run and (with ``email=True``) deliver a batch. See the module docstring."""
    jobs = plan_batch(
        sources,
        notebooks=notebooks,
        period=period,
        timeout=timeout,
        output_dir=output_dir,
        today=today,
    )
    summary = execute_batch(
        jobs, workers=workers, force=force, scheduler=scheduler, progress=progress
    )
    if email:
        deliver(summary)
    return summary
