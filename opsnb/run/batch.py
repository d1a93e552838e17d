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
import hashlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from opsnb import __version__, config
from opsnb.errors import ParameterError

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

_ENV_KEYS = ("OPSNB_HOME", "OPSNB_OUTPUTS", "OPSNB_DB", "OPSNB_DATA_VERSION")
BATCH_ID_ENV = "OPSNB_BATCH_ID"
"""Marker every worker of a batch (and so every kernel it starts) carries in its environment."""
_KILL_GRACE_S = 30.0
"""Seconds past the wall-clock limit after which the parent kills a worker that is still busy."""


@dataclass(frozen=True)
class BatchJob:
    """One notebook run of a batch, fully decided before it starts."""

    notebook: str  # absolute path of the .ipynb
    params_file: str | None
    params: dict
    slug: str
    output_dir: str
    fingerprint: str
    timeout: float | None = None
    recipients: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    period_dir: str = ""  # the dated folder under outputs/<notebook>/ ('' without a period)

    @property
    def stem(self) -> str:
        return Path(self.notebook).stem

    @property
    def name(self) -> str:
        return "/".join(x for x in (self.stem, self.period_dir, self.slug) if x)

    @property
    def folder(self) -> Path:
        """Where the run's files go: ``<output_dir>/<notebook>/<period>/``."""
        base = Path(self.output_dir) / self.stem
        return base / self.period_dir if self.period_dir else base

    @property
    def stamp_path(self) -> Path:
        return self.folder / f".{self.slug}.batch"

    @property
    def html_path(self) -> Path:
        return self.folder / f"{self.slug}.html"


@dataclass(frozen=True)
class BatchRun:
    """Outcome of one job: ``status`` is ``ok``, ``failed``, ``timeout`` or ``skipped``."""

    notebook: str
    slug: str
    status: str
    duration_s: float
    html_path: str | None = None
    partial_path: str | None = None
    error: str = ""
    params_file: str | None = None
    recipients: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    kernel_s: float = 0.0  # time inside papermill (kernel start + cells)
    worker_pid: int = 0

    @property
    def name(self) -> str:
        return f"{self.notebook}/{self.slug}"

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BatchSummary:
    """All runs of a batch, in plan order, plus deliveries and the wall-clock time."""

    results: list[BatchRun]
    elapsed_s: float
    workers: int
    sends: list = field(default_factory=list)
    delivery_errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[BatchRun]:
        return [r for r in self.results if not r.ok]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.delivery_errors else 0

    def to_frame(self):
        """Columns: run, status, duration_s, output, error."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "run": r.name,
                    "status": r.status,
                    "duration_s": r.duration_s,
                    "output": r.html_path or r.partial_path or "",
                    "error": r.error,
                }
                for r in self.results
            ],
            columns=["run", "status", "duration_s", "output", "error"],
        )

    def table(self) -> str:
        """The summary as an aligned text table (run, status, duration, output, error)."""
        rows = [("run", "status", "duration", "output", "error")]
        for r in self.results:
            err = r.error.strip().splitlines()[-1] if r.error.strip() else ""
            rows.append(
                (
                    r.name,
                    r.status,
                    f"{r.duration_s:.1f} s",
                    _short(r.html_path or r.partial_path or ""),
                    err[:100],
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4] for row in rows
        ]
        counts = {
            s: sum(r.status == s for r in self.results)
            for s in ("ok", "skipped", "failed", "timeout")
        }
        lines.append(
            f"{len(self.results)} runs in {self.elapsed_s:.1f} s on {self.workers} "
            "workers: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        )
        return "\n".join(line.rstrip() for line in lines)


def _short(path: str) -> str:
    if not path:
        return ""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


# ------------------------------------------------------------------------------- planning


def resolve_period(
    period: str, as_of: str = "", *, today: dt.date | None = None, tz: str | None = None
) -> str:
    """Turn a relative period (``yesterday``, ``last-week``...) into dates; keep absolute ones.

    The reference day is ``as_of`` when it is a date, else ``today`` (default: today in the
    shop's time zone, :func:`opsnb.periods.shop_today`) — also for ``as_of="latest"``: a
    relative period is read from the clock, never from the store's last date.
    """
    from opsnb.periods import parse_date, parse_period, shop_today

    if not period:
        return period
    explicit = bool(as_of) and as_of != "latest"
    ref = parse_date(as_of) if explicit else shop_today(today, tz=tz)
    p = parse_period(period, as_of=ref)
    if parse_period(period, as_of=ref + dt.timedelta(days=400)) == p:
        return period  # absolute
    if p.start == p.end:
        return p.start.isoformat()
    return f"{p.start.isoformat()}..{p.end.isoformat()}"


_RUN_WRITTEN_TABLES = ("ledger", "incidents", "incident_actions")
"""Tables that runs write themselves (the lessons ledger, the daily loop's incidents): not part
of the data version."""


def data_version(params: dict) -> str:
    """What the run's data are: ``$OPSNB_DATA_VERSION`` if set, else a digest of the store.

    The digest covers every table of the DuckDB store (row count and a hash of all rows),
    except the ones runs write themselves (the ledger), so that a batch's own runs do not
    make each other stale. If the store cannot be opened (locked by a loader), its size
    and mtime stand in.
    """
    env = os.environ.get("OPSNB_DATA_VERSION")
    if env:
        return f"env:{env}"
    db = Path(params.get("db_path") or config.default_db_path()).resolve()
    try:
        st = db.stat()
    except OSError:
        return "no-store"
    return _store_digest(str(db), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=16)
def _store_digest(db: str, size: int, mtime_ns: int) -> str:
    import duckdb

    try:
        con = duckdb.connect(db, read_only=True)
    except Exception:  # noqa: BLE001 - locked or not a DuckDB file
        return f"{db}:{size}:{mtime_ns}"
    try:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'main' "
                "order by table_name"
            ).fetchall()
            if t not in _RUN_WRITTEN_TABLES
        ]
        parts = [
            (t, *con.execute(f'select count(*), sum(hash(t)) from "{t}" as t').fetchone())
            for t in tables
        ]
    finally:
        con.close()
    if not parts:
        return "no-store"  # e.g. only the ledger: the same data as no store at all
    return "store:" + hashlib.sha256(repr(parts).encode()).hexdigest()


def _fingerprint(notebook: Path, params: dict) -> str:
    raw = json.dumps(
        {
            "notebook": hashlib.sha256(notebook.read_bytes()).hexdigest(),
            "params": params,
            "data": data_version(params),
            "opsnb": __version__,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def _recipients(data: dict, source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    from opsnb.run.delivery import parse_recipients

    rec = data.get("recipients")
    if rec is None:
        return (), ()
    if isinstance(rec, dict):
        unknown = set(rec) - {"to", "cc"}
        if unknown:
            raise ParameterError(
                f"{source}: recipients may have 'to' and 'cc', got {sorted(unknown)}"
            )
        return tuple(parse_recipients(rec.get("to"))), tuple(parse_recipients(rec.get("cc")))
    if isinstance(rec, (str, list)):
        return tuple(parse_recipients(rec)), ()
    raise ParameterError(f"{source}: recipients must be an address, a list or {{to, cc}}")


def _params_files(sources: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            files.extend(sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml")))
        elif p.is_file():
            files.append(p)
        else:
            raise ParameterError(f"params file or folder not found: {p}")
    if not files:
        raise ParameterError(f"no params files (*.yaml) in {', '.join(map(str, sources))}")
    return files


def plan_batch(
    sources: Sequence[str | Path],
    *,
    notebooks: Sequence[str] | None = None,
    period: str | None = None,
    timeout: float | None = None,
    output_dir: str | Path | None = None,
    today: dt.date | None = None,
) -> list[BatchJob]:
    """Every (notebook, params file) job, validated; raises :class:`ParameterError` early.

    ``period`` overrides the files' period (e.g. ``yesterday`` for a nightly run).
    """
    from opsnb.run.params import (
        find_notebook,
        list_notebooks,
        load_params,
        notebook_parameters,
        notebooks_for_file,
        read_yaml,
    )
    from opsnb.run.runner import output_slug, period_folder

    out_root = Path(output_dir).resolve() if output_dir else config.outputs_dir()
    every = [nb for nb in list_notebooks() if "live" not in nb.stem]
    if notebooks:
        wanted = {find_notebook(n).stem for n in notebooks}
        every = [nb for nb in every if nb.stem in wanted]
    env = {k: os.environ.get(k) for k in _ENV_KEYS}  # None: unset it in the worker
    env["OPSNB_OUTPUTS"] = str(out_root)
    jobs: list[BatchJob] = []
    seen: dict[str, str] = {}
    for f in _params_files(sources):
        data = read_yaml(f)
        only = notebooks_for_file(data)
        to, cc = _recipients(data, str(f))
        for nb in every:
            if only is not None and nb.stem not in only:
                continue
            declared = {p.name: p.default for p in notebook_parameters(nb)}
            over = {"period": period} if period and "period" in declared else {}
            values = load_params(nb, f, over)
            full = {**declared, **values}
            if full.get("period"):
                resolved = resolve_period(
                    str(full["period"]),
                    str(full.get("as_of") or ""),
                    today=today,
                    tz=str(full.get("timezone") or "") or None,
                )
                if resolved != full["period"]:
                    values["period"] = resolved
            slug = output_slug(nb, values, slug=data.get("slug"))
            job = BatchJob(
                notebook=str(nb.resolve()),
                params_file=str(f.resolve()),
                params=values,
                slug=slug,
                output_dir=str(out_root),
                fingerprint=_fingerprint(nb, values),
                timeout=timeout,
                recipients=to,
                cc=cc,
                env=env,
                period_dir=period_folder({**full, **values}),
            )
            if job.name in seen:
                raise ParameterError(
                    f"{f} and {seen[job.name]} both write {job.name}: give one "
                    "of them a different 'slug' or parameters"
                )
            seen[job.name] = str(f)
            jobs.append(job)
    return jobs


def is_up_to_date(job: BatchJob) -> bool:
    """True when the job's report exists and was made from the same notebook, params and data."""
    try:
        stamp = json.loads(job.stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return stamp.get("fingerprint") == job.fingerprint and job.html_path.is_file()


# ------------------------------------------------------------------------------ execution


def marked_processes(batch_id: str) -> list:
    """Live processes (psutil) whose environment carries ``OPSNB_BATCH_ID=batch_id``."""
    import psutil

    me, out = os.getpid(), []
    for p in psutil.process_iter():
        if p.pid == me:
            continue
        try:
            if p.environ().get(BATCH_ID_ENV) == batch_id:
                out.append(p)
        except (psutil.Error, OSError):
            continue
    return out


def kill_marked(batch_id: str, *, keep: Iterable[int] = ()) -> int:
    """Kill the processes of batch ``batch_id`` (workers, kernels) except ``keep``; return
    how many were killed."""
    import psutil

    keep = set(keep)
    procs = [p for p in marked_processes(batch_id) if p.pid not in keep]
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)
    return len(procs)


_REAPER = """
import sys
from opsnb.run.batch import reap
reap(sys.argv[1], int(sys.argv[2]))
"""


def reap(batch_id: str, parent_pid: int, *, every: float = 0.5) -> int:
    """The reaper's loop (run in its own process by the batch parent; see "Crash safety").

    Until its stdin closes it notes, every ``every`` seconds, the parent's descendants that
    started after it (pool workers, kernels). A parent that ends the batch normally writes
    ``done`` before closing the pipe: then only marked stragglers are killed. A pipe closed
    without it means the parent died: its noted descendants and every process carrying the
    batch marker are killed. Returns how many processes it killed.
    """
    import sys

    import psutil

    me = psutil.Process()
    since = me.create_time() - 1.0
    done = threading.Event()
    said: list[bytes] = []

    def wait_eof() -> None:
        said.append(sys.stdin.buffer.read())
        done.set()

    threading.Thread(target=wait_eof, daemon=True).start()
    seen: dict[int, psutil.Process] = {}
    try:
        parent = psutil.Process(parent_pid)
    except psutil.Error:
        parent = None
    while parent is not None and not done.wait(every):
        try:
            children = parent.children(recursive=True)
        except psutil.Error:  # the parent has gone
            break
        for p in children:
            try:
                if p.pid != me.pid and p.create_time() >= since:
                    seen.setdefault(p.pid, p)
            except psutil.Error:  # a kernel that just ended
                continue
    done.wait()
    procs = [] if said == [b"done"] else list(seen.values())
    killed = 0
    for p in procs:
        try:
            p.kill()  # psutil refuses if the pid was reused by another process meanwhile
            killed += 1
        except psutil.Error:
            pass
    return killed + kill_marked(batch_id)


class _Reaper:
    """A process that outlives the batch parent and kills the batch's leftovers when it ends."""

    def __init__(self, batch_id: str):
        import subprocess
        import sys

        env = {k: v for k, v in os.environ.items() if k != BATCH_ID_ENV}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _REAPER, batch_id, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a Ctrl-C or a killed process group does not take it along
        )

    def close(self) -> None:
        try:
            self.proc.stdin.write(b"done")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001 - it is only the clean-up helper
            self.proc.kill()


def _warm_worker(log_path: str | None = None, batch_id: str | None = None) -> None:
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


def _execute(job: BatchJob) -> BatchRun:
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
            initializer=_warm_worker,
            initargs=(log, batch_id),
        )

    executor = new_pool()
    running: dict = {}
    reported: set[int] = set()
    try:
        while pending or running:
            while pending and len(running) < workers:
                i = pending.popleft()
                running[executor.submit(_execute, jobs[i])] = (i, time.perf_counter())
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
        client.run(_warm_worker)
        futures = {
            client.submit(_execute, job, pure=False, retries=0): i for i, job in enumerate(jobs)
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
                reaper = _Reaper(batch_id)
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


# ------------------------------------------------------------------------------- delivery


def deliver(
    summary: BatchSummary,
    *,
    settings=None,
    digest_to: Sequence[str] | None = None,
    lang: str = "zh",
    retries: int = 3,
) -> BatchSummary:
    """Mail every ok report to its params' recipients (once) and a digest of failures.

    The digest goes to ``digest_to``, else ``$OPSNB_DIGEST_TO``, else the recipients of the
    failed runs. Delivery errors are collected in ``summary.delivery_errors``.
    """
    from opsnb.errors import DeliveryError
    from opsnb.run.delivery import send_failure_digest, send_report, smtp_settings_from_env

    try:
        settings = settings or smtp_settings_from_env()
    except Exception as exc:  # noqa: BLE001
        summary.delivery_errors.append(str(exc))
        return summary
    todo = [
        r
        for r in summary.results
        if r.ok and r.recipients and r.html_path and Path(r.html_path).is_file()
    ]
    for k, r in enumerate(todo):
        try:
            summary.sends.append(
                send_report(
                    r.html_path, to=r.recipients, cc=r.cc, settings=settings, retries=retries
                )
            )
        except (DeliveryError, OSError) as exc:
            summary.delivery_errors.append(f"{r.name}: {exc}")
            if _unreachable(exc):  # no point waiting through the back-off for every report
                summary.delivery_errors.extend(
                    f"{q.name}: not sent (SMTP server unreachable)" for q in todo[k + 1 :]
                )
                return summary
    if summary.failed:
        to = list(digest_to or [])
        if not to and os.environ.get("OPSNB_DIGEST_TO"):
            to = [os.environ["OPSNB_DIGEST_TO"]]
        if not to:
            to = sorted({a for r in summary.failed for a in r.recipients})
        if to:
            try:
                send_failure_digest(
                    summary.failed, to=to, settings=settings, lang=lang, retries=retries
                )
            except DeliveryError as exc:
                summary.delivery_errors.append(f"failure digest: {exc}")
    return summary


def _unreachable(exc: BaseException) -> bool:
    import smtplib

    cause = exc.__cause__ or exc
    return isinstance(
        cause,
        (
            ConnectionError,
            TimeoutError,
            smtplib.SMTPConnectError,
            smtplib.SMTPServerDisconnected,
            smtplib.SMTPAuthenticationError,
        ),
    )


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
