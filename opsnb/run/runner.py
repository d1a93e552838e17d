"""Run a notebook with papermill and render it: validated parameters in, atomic outputs out.

Outputs of ``run_notebook("03_daily_monitoring", params)`` land in
``outputs/03_daily_monitoring/<period>/<slug>.ipynb|.html|.json`` (plus the report's side files,
such as the 表3 Excel): the executed notebook, the code-free report and the run record (status,
parameters, key figures, timings). ``<period>`` is the report period with relative periods
resolved to dates (``yesterday`` read on 2025-09-28 → ``2025-09-27``, from
:func:`opsnb.periods.shop_today` or ``today=``), so one day's run never overwrites another's and
a rerun of the same period replaces only that period's files; notebooks without a period write
into ``outputs/<notebook>/``. The slug derives from the parameters (:func:`output_slug`). Every file is written to a temporary name and renamed,
so a reader never sees half a report. A failed run keeps ``<slug>.failed.ipynb`` (the partial
notebook with the error) and a run record with status ``failed``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from opsnb import config
from opsnb.errors import NotebookRunError, OpsnbWarning
from opsnb.periods import TODAY_ENV, is_relative, parse_date, parse_period, shop_today
from opsnb.report import OUTPUT_DIR_ENV
from opsnb.run.params import find_notebook, load_params, notebook_parameters, read_yaml
from opsnb.run.render import atomic_write_text, collect_records, render_html

__all__ = [
    "RunResult",
    "run_notebook",
    "output_slug",
    "period_folder",
    "resolve_period_params",
    "kernel_name",
    "record_path",
    "append_ledger",
]

_SLUG_KEYS = ("shop_slug", "campaign", "experiment", "period", "lang")


@dataclass(frozen=True)
class RunResult:
    """What one notebook run produced. ``status`` is ``"ok"`` or ``"failed"``."""

    notebook: str
    slug: str
    status: str
    ipynb_path: str | None
    html_path: str | None
    results_path: str
    partial_path: str | None
    params: dict
    duration_s: float
    error: str = ""
    started_at: str = ""
    finished_at: str = ""
    results: dict = field(default_factory=dict)
    failed_cell: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return asdict(self)


def _slugify(text: str) -> str:
    s = str(text).strip().replace("..", "_to_")
    s = re.sub(r"[\s/\\:]+", "-", s)
    s = re.sub(r"[^\w\-.]+", "", s)  # \w keeps Chinese characters
    return s.strip("-.") or "run"


def output_slug(notebook: str | Path, params: dict, *, slug: str | None = None) -> str:
    """The output name for a run: ``slug`` if given, else campaign/experiment/period/lang.

    Parameters beyond those (and ``db_path``/``as_of``) that differ from the notebook's
    defaults add a short hash, so two different runs never overwrite each other.
    """
    if slug:
        return _slugify(slug)
    defaults = {p.name: p.default for p in notebook_parameters(notebook)}
    full = {**defaults, **params}
    parts = [str(full[k]) for k in _SLUG_KEYS if full.get(k) not in (None, "")]
    base = _slugify("-".join(parts)) if parts else "default"
    extra = {
        k: v
        for k, v in params.items()
        if k not in _SLUG_KEYS and k not in ("db_path", "as_of", "shop") and defaults.get(k) != v
    }
    if extra:
        h = hashlib.sha1(json.dumps(extra, sort_keys=True, default=str).encode()).hexdigest()[:6]
        base = f"{base}-{h}"
    return base


def period_folder(params: dict) -> str:
    """The dated folder of a run: its (resolved) ``period`` as a file name, '' without one."""
    period = str(params.get("period") or "").strip()
    return _slugify(period) if period else ""


def resolve_period_params(notebook: str | Path, params: dict, *, today=None) -> dict:
    """``params`` with a relative ``period`` resolved to dates.

    The reference day is ``as_of`` when it is a date, else ``today`` (default
    :func:`opsnb.periods.shop_today` in the notebook's ``timezone`` parameter, if it has one).
    ``yesterday`` → ``2025-09-27``; ``last-week`` → ``2025-09-15..2025-09-21``; absolute
    periods (``2025-Q4``) are kept as written.
    """
    defaults = {p.name: p.default for p in notebook_parameters(notebook)}
    full = {**defaults, **params}
    period = str(full.get("period") or "")
    if "period" not in defaults or not is_relative(period):
        return dict(params)
    as_of = str(full.get("as_of") or "")
    if as_of and as_of != "latest":
        ref = parse_date(as_of)
    else:
        ref = shop_today(today, tz=str(full.get("timezone") or "") or None)
    p = parse_period(period, as_of=ref)
    text = p.start.isoformat() if p.start == p.end else f"{p.start}..{p.end}"
    return {**params, "period": text}


def kernel_name() -> str:
    """The 'opsnb' kernel registered by the set-up, else this interpreter's native kernel."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(config.KERNEL_NAME)
        return config.KERNEL_NAME
    except NoSuchKernel:
        warnings.warn(
            "Jupyter kernel 'opsnb' not found: running with this interpreter's 'python3' kernel. "
            "Run `make setup` (or `python -m ipykernel install --sys-prefix --name opsnb`) to pin it.",
            OpsnbWarning,
            stacklevel=3,
        )
        return "python3"


def record_path(
    notebook_stem: str, slug: str, output_dir: str | Path | None = None, period: str = ""
) -> Path:
    """Where the run record (status, parameters, key figures) of a run is written
    (``period``: the run's :func:`period_folder`)."""
    folder = Path(output_dir or config.outputs_dir()) / notebook_stem
    return (folder / period if period else folder) / f"{slug}.json"


def _error_details(exc: BaseException) -> tuple[str, str]:
    """(one-line error, source of the failing cell) from a papermill exception."""
    src = getattr(exc, "source", "") or ""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        msg = f"{ename}: {evalue}"
    else:
        msg = f"{type(exc).__name__}: {exc}".strip()
    return msg.splitlines()[0][:500] if msg else type(exc).__name__, src


_SAVE_EVERY_S = 5.0
"""Batch runs: seconds between papermill's saves of the running notebook at cell boundaries."""


@lru_cache(maxsize=1)
def _batch_engine() -> str:
    """Register (once) and name papermill's nbclient engine with fewer saves of the running
    notebook, for batch runs.

    Papermill writes (and nbformat validates) the whole running notebook before and after every
    cell, images included: about 40 writes for a report's 20 cells, in the worker between the
    cells. The batch engine still writes it when the run starts and, from papermill's
    ``finally``, when it ends however it ends (failed cell, time-out, dead kernel), so the
    executed and the partial notebooks are the same as before; in between, a cell boundary
    writes it only when :data:`_SAVE_EVERY_S` have passed since the last write (papermill's
    autosave of a long cell's output, every 30 s, is kept).
    """
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class ThrottledManager(NotebookExecutionManager):
        _at_cell = False

        def save(self, **kwargs):
            since = (self.now() - self.last_save_time).total_seconds()
            if self._at_cell and since < _SAVE_EVERY_S:
                return None
            return super().save(**kwargs)

        def cell_start(self, cell, cell_index=None, **kwargs):
            self._at_cell = True
            try:
                return super().cell_start(cell, cell_index, **kwargs)
            finally:
                self._at_cell = False

        def cell_complete(self, cell, cell_index=None, **kwargs):
            self._at_cell = True
            try:
                return super().cell_complete(cell, cell_index, **kwargs)
            finally:
                self._at_cell = False

    class BatchEngine(NBClientEngine):
        @classmethod
        def execute_notebook(
            cls,
            nb,
            kernel_name,
            output_path=None,
            progress_bar=True,
            log_output=False,
            autosave_cell_every=30,
            **kwargs,
        ):
            # papermill's Engine.execute_notebook, with the manager above
            nb_man = ThrottledManager(
                nb,
                output_path=output_path,
                progress_bar=progress_bar,
                log_output=log_output,
                autosave_cell_every=autosave_cell_every,
            )
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register("opsnb-batch", BatchEngine)
    return "opsnb-batch"


class _KnownParameters(logging.Filter):
    """Drops papermill's "Passed unknown parameter" (and its "Unable to parse line") warnings:
    papermill's own reader skips a parameter line whose help comment holds a second ``=``
    (``as_of: str = ""  # empty = today``) and then calls that parameter unknown. The shipped
    notebooks' help comments hold none (``tests/test_runner.py``), but a team's own notebook
    may; :func:`opsnb.run.params.load_params` has already checked each name against the
    notebook's parameters cell with opsnb's own reader."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not msg.startswith(("Passed unknown parameter", "Unable to parse line"))


_PAPERMILL_FILTER = _KnownParameters()
for _name in ("papermill", "papermill.translators"):
    logging.getLogger(_name).addFilter(_PAPERMILL_FILTER)


def _warm_engine_kwargs(warm: bool) -> dict:
    if not warm:
        return {}
    from opsnb.run.kernelpool import WarmKernelManager

    return {"kernel_manager_class": WarmKernelManager, "engine_name": _batch_engine()}


def run_notebook(
    notebook: str | Path,
    params: dict | None = None,
    *,
    params_file: str | Path | None = None,
    overrides: list[str] | dict | None = None,
    output_dir: str | Path | None = None,
    slug: str | None = None,
    kernel: str | None = None,
    timeout: float | None = None,
    render: bool = True,
    raise_on_error: bool = False,
    ledger: bool = True,
    today=None,
    warm: bool = False,
) -> RunResult:
    """Execute ``notebook`` with validated parameters, render HTML, write the run record.

    Parameters are ``params_file`` (YAML) + ``params`` (dict) + ``overrides`` (``key=value``),
    later ones winning, all validated before the kernel starts (:class:`ParameterError`).
    ``timeout`` is papermill's per-cell execution timeout in seconds. ``today`` (a date or
    YYYY-MM-DD) fixes the clock relative periods are read from (reruns, tests); the kernel
    gets it as ``$OPSNB_TODAY``. Outputs go to ``<output_dir>/<notebook>/<period>/``.
    A failing notebook returns a result with ``status="failed"`` (or raises
    :class:`NotebookRunError` with ``raise_on_error=True``) and keeps ``<slug>.failed.ipynb``.
    ``warm=True`` forks the kernel from this process's warm server
    (:mod:`opsnb.run.kernelpool`: a fresh kernel process per run, without the start-up and
    import cost; the batch workers use it) and saves the running notebook less often
    (:func:`_batch_engine`; the notebooks written at the end are the same).
    """
    import logging

    import papermill as pm

    # papermill's own parser of the parameters cell trips on quotes in help comments and then
    # calls declared parameters "unknown"; opsnb.run.params already validated them, so quiet it
    for name in ("papermill.translators", "papermill.parameterize", "papermill.execute"):
        logging.getLogger(name).setLevel(logging.ERROR)
    nb_path = find_notebook(notebook)
    stem = nb_path.stem
    merged_over: dict[str, Any] = dict(params or {})
    if isinstance(overrides, dict):
        merged_over.update(overrides)
    elif overrides:
        from opsnb.run.params import parse_override

        merged_over.update(dict(parse_override(o) for o in overrides))
    values = resolve_period_params(
        nb_path, load_params(nb_path, params_file, merged_over), today=today
    )
    if slug is None and params_file:
        slug = read_yaml(params_file).get("slug")
        if slug and merged_over:  # -p overrides on a named params set: say so in the name
            slug = "-".join([str(slug)] + [str(v) for v in merged_over.values()])
    the_slug = output_slug(nb_path, values, slug=slug)
    out_root = Path(output_dir) if output_dir else config.outputs_dir()
    folder = period_folder({**{p.name: p.default for p in notebook_parameters(nb_path)}, **values})
    out_dir = out_root / stem / folder if folder else out_root / stem
    out_dir.mkdir(parents=True, exist_ok=True)
    final_nb, final_html = out_dir / f"{the_slug}.ipynb", out_dir / f"{the_slug}.html"
    partial = out_dir / f"{the_slug}.failed.ipynb"
    running = out_dir / f".{the_slug}.running.ipynb"
    started = dt.datetime.now()
    t0 = time.perf_counter()
    error, failed_src, status = "", "", "ok"
    previous_dir = os.environ.get(OUTPUT_DIR_ENV)
    previous_today = os.environ.get(TODAY_ENV)
    os.environ[OUTPUT_DIR_ENV] = str(out_dir.resolve())  # the kernel inherits it: ctx.output_path
    if today is not None:  # and the clock of a rerun
        os.environ[TODAY_ENV] = parse_date(today).isoformat()
    try:
        pm.execute_notebook(
            str(nb_path),
            str(running),
            parameters=values,
            kernel_name=kernel or kernel_name(),
            cwd=str(nb_path.parent),
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout,
            report_mode=False,
            **_warm_engine_kwargs(warm),
        )
    except Exception as exc:  # papermill raises several kinds; all mean "failed"
        status = "failed"
        error, failed_src = _error_details(exc)
        if not error:
            error = traceback.format_exc(limit=1)
    finally:
        for key, old in ((OUTPUT_DIR_ENV, previous_dir), (TODAY_ENV, previous_today)):
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
    duration = time.perf_counter() - t0
    results: dict = {}
    html_path = ipynb_path = partial_path = None
    if status == "ok":
        import nbformat

        results = collect_records(nbformat.read(str(running), as_version=4))
        if render:
            render_html(
                running,
                final_html,
                params=values,
                meta={
                    "notebook": nb_path.name,
                    "duration_s": duration,
                    "run_at": started.isoformat(timespec="seconds"),
                },
            )
            html_path = str(final_html)
        os.replace(running, final_nb)
        ipynb_path = str(final_nb)
        partial.unlink(missing_ok=True)
    else:
        if running.exists():
            os.replace(running, partial)
            partial_path = str(partial)
    finished = dt.datetime.now()
    result = RunResult(
        notebook=stem,
        slug=the_slug,
        status=status,
        ipynb_path=ipynb_path,
        html_path=html_path,
        results_path=str(out_dir / f"{the_slug}.json"),
        partial_path=partial_path,
        params=values,
        duration_s=round(duration, 3),
        error=error,
        started_at=started.isoformat(timespec="seconds"),
        finished_at=finished.isoformat(timespec="seconds"),
        results=results,
        failed_cell=failed_src,
    )
    atomic_write_text(
        result.results_path, json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str)
    )
    if status == "ok" and ledger:
        append_ledger(result.results_path)
    if status == "failed" and raise_on_error:
        raise NotebookRunError(
            f"{stem} failed: {error}\nfailing cell:\n{failed_src}\npartial notebook: {partial_path}",
            partial_path=partial_path,
            cell_source=failed_src,
            error=error,
        )
    return result


def append_ledger(results_path: str | Path) -> str:
    """Append the run recorded in ``results_path`` to the lessons ledger (:mod:`opsnb.run.ledger`).

    Idempotent (run id = ``<notebook>/<period>/<slug>``, a rerun replaces its row). A ledger failure
    does not fail the run: it is warned about, written into the run record as
    ``ledger_error`` and returned ('' when all went well).
    """
    from opsnb.run import ledger

    path = Path(results_path)
    rec = json.loads(path.read_text(encoding="utf-8"))
    res, values = rec.get("results") or {}, rec.get("params") or {}
    dated = path.parent.name != rec["notebook"]  # outputs/<notebook>/<period>/<slug>.json
    run_id = "/".join([rec["notebook"], *([path.parent.name] if dated else []), rec["slug"]])
    try:
        ledger.append(
            run_id=run_id,
            notebook=rec["notebook"],
            params=values,
            period=res.get("_period", values.get("period", "")),
            # parameters first (what the user said), then what the notebook recorded (its defaults)
            campaign=values.get("campaign") or res.get("campaign") or None,
            key_results={k: v for k, v in res.items() if not k.startswith("_")},
            decision=str(values.get("decision") or res.get("decision") or ""),
            lessons=values.get("lessons", "") or "",
            db_path=values.get("db_path") or None,
        )
        err = ""
    except Exception as exc:  # the report exists; say the ledger failed, do not lose the run
        warnings.warn(
            f"ledger not updated for {rec['notebook']}/{rec['slug']}: {exc}",
            OpsnbWarning,
            stacklevel=2,
        )
        err = f"{type(exc).__name__}: {exc}"
    if err or "ledger_error" in rec:
        rec["ledger_error"] = err
        atomic_write_text(path, json.dumps(rec, ensure_ascii=False, indent=2, default=str))
    return err
