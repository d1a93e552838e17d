"""The one command-line app of opsnb (typer). ``opsnb --help`` lists every command.

Each domain has a section below; heavy imports happen inside the commands so that
``opsnb --help`` stays fast. Invalid input data exit with status 2 and a message naming the
file, row and column; other opsnb errors exit with status 1.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Optional

import typer

from opsnb.sheets import safe_frame, write_book

__all__ = ["app", "main"]

_CSV_ENCODING = "utf-8-sig"
"""Every CSV the commands write starts with a byte-order mark: Excel on Windows then reads the
Chinese as UTF-8 instead of the local code page (pandas, pyarrow and opsnb's loaders skip it)."""

app = typer.Typer(
    name="opsnb",
    help="opsnb: parameterized notebooks for e-commerce operations (运营笔记本工具箱).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _handle(exc: Exception) -> typer.Exit:
    """Map opsnb errors to exit codes: data contract → 2, everything else of ours → 1."""
    from opsnb.errors import DataContractError, OpsnbError

    if isinstance(exc, DataContractError):
        return _fail(str(exc), 2)
    if isinstance(exc, (OpsnbError, ValueError, FileNotFoundError)):
        return _fail(str(exc), 1)
    if type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        text = str(exc)
        if "not a valid DuckDB database" in text:
            return _fail(
                f"{text.removeprefix('IO Error: ')} It is not an opsnb store: point --db (or "
                "OPSNB_DB) at your store, e.g. data/opsnb.duckdb, or move this file aside and "
                "load your exports again",
                1,
            )
        return _fail(f"the store could not be used: {text}", 1)
    if isinstance(exc, OSError):
        import errno

        where = exc.filename or "the output"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "the disk is full: free some space (old outputs/, backups/) and run again"
        elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            hint = "it is not writable: fix its permissions or choose another folder (--output-dir)"
        else:
            hint = "check the path and run again"
        return _fail(f"cannot write {where}: {exc.strerror or exc}; {hint}", 1)
    raise exc


# ---------------------------------------------------------------------------------------------
# foundation: demo, run, params, validate, load
# ---------------------------------------------------------------------------------------------

# (filled in by the foundation)


_TODAY_HELP = (
    "Read relative periods (yesterday, last-week, mtd) as if today were this date, YYYY-MM-DD "
    "(reruns, tests). Default: today in the shop's time zone ($OPSNB_TZ, default Asia/Shanghai)."
)


def _today(text: Optional[str]):
    if not text:
        return None
    from opsnb.periods import parse_date

    return parse_date(text)


STORE_WAIT_S = 300.0
"""Seconds a load waits for readers (a report, another load) to release the store."""


def _open_for_writing(path: Path):
    """A read-write connection to the store; when another process has it, say so and wait."""
    from opsnb.data.store import open_store
    from opsnb.errors import OpsnbError

    try:
        return open_store(path, wait=0.5)
    except OpsnbError as exc:
        if "locked" not in str(exc):
            raise
    typer.echo(
        f"the store {path} is in use by another process (a report reading it, or a load); "
        f"waiting up to {STORE_WAIT_S:g} s for it ...",
        err=True,
    )
    return open_store(path, wait=STORE_WAIT_S)


def _echo_warnings(caught) -> None:
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)


STAGE_MEMORY = "128MB"
"""DuckDB's memory limit while a file is staged (it spills the staged rows to disk beyond)."""


def _stage(con, file: Path, table: str, sheet, spill: str):
    """Check ``file`` against ``table`` and stage it on ``con`` as Parquet in folder ``spill``
    (removed by the caller after closing ``con``): the one path of validate and load, in
    bounded memory (plain CSV and Parquet are read in chunks)."""
    from opsnb.data.staging import stage_file

    con.execute(f"SET memory_limit = '{STAGE_MEMORY}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    return stage_file(con, file, table, sheet=sheet, spill=spill)


def _remove_stale_stages(store: Path, keep: str) -> None:
    """Remove the stage folders that killed loads left beside ``store`` (all but ``keep``);
    call it holding the store's write lock, so that no running load owns one."""
    import shutil

    for d in store.parent.glob(f"{store.name}.stage-*"):
        if d.is_dir() and d.resolve() != Path(keep).resolve():
            shutil.rmtree(d, ignore_errors=True)


@app.command("validate")
def validate_cmd(
    table: str = typer.Argument(..., help="Contract table: daily_metrics, orders, plan, ..."),
    file: Path = typer.Argument(..., help="CSV / TXT / XLSX / XLS / Parquet file."),
    sheet: Optional[str] = typer.Option(None, help="Excel sheet name or 0-based index."),
) -> None:
    """Check a file against a table contract: prints 'OK: N rows' or every problem (exit 2).

    The same reading and checks as `opsnb load` (one verdict): what passes here loads. Big
    CSV and Parquet files are read in chunks, in bounded memory.
    """
    import tempfile
    import warnings

    import duckdb

    with warnings.catch_warnings(record=True) as caught, tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("always")
        try:
            con = duckdb.connect()
            try:
                con.execute(f"SET temp_directory = '{Path(tmp).as_posix()}'")
                staged = _stage(con, file, table, sheet, tmp)
            finally:
                con.close()
        except Exception as exc:
            _echo_warnings(caught)
            raise _handle(exc)
    _echo_warnings(caught)
    typer.echo(f"OK: {staged.rows} rows")


@app.command("load")
def load_cmd(
    table: str = typer.Argument(..., help="Contract table: daily_metrics, orders, plan, ..."),
    file: Path = typer.Argument(..., help="CSV / TXT / XLSX / XLS / Parquet file."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB store (default: the project's)."),
    replace: bool = typer.Option(
        False, "--replace", help="Replace the whole table (needs --yes; a backup is kept)."
    ),
    yes: bool = typer.Option(False, "--yes", help="Confirm a destructive --replace."),
    sheet: Optional[str] = typer.Option(None, help="Excel sheet name or 0-based index."),
) -> None:
    """Validate a file, then upsert it into a table of the store by the table's key.

    Rows with a new key are inserted, stored keys with other values updated, the same rows
    again change nothing (counted as unchanged). --replace --yes replaces the whole table after
    keeping a timestamped Parquet backup of it next to the store. The whole file is checked
    first, then written in one transaction: a load that fails or is killed leaves the store
    as it was.
    """
    import tempfile
    import warnings

    from opsnb.config import default_db_path
    from opsnb.data.schemas import get_table
    from opsnb.data.store import backup_table, list_tables, write_staged

    path = Path(db) if db else default_db_path()
    # the staged rows, as Parquet, beside the store as DuckDB's own spill folder (not /tmp,
    # which may be memory)
    where = path.parent if path.parent.is_dir() else None
    stage_dir = tempfile.TemporaryDirectory(prefix=f"{path.name}.stage-", dir=where)
    with warnings.catch_warnings(record=True) as caught, stage_dir as tmp:
        warnings.simplefilter("always")
        try:
            get_table(table)  # an unknown table is named before the store is opened
            if not file.is_file():
                raise FileNotFoundError(f"no such file: {file}")
            con = _open_for_writing(path)
            _remove_stale_stages(path, tmp)  # a killed load's, now that this one holds the lock
            try:
                # staged in a Parquet file first (read by a temporary view private to this
                # connection), then written in one transaction
                staged = _stage(con, file, table, sheet, tmp)
                con.execute("BEGIN TRANSACTION")
                try:
                    backup = None
                    if replace and table in list_tables(con):
                        n_old = con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]
                        if n_old and not yes:
                            raise _fail(
                                f"--replace removes all {n_old} rows of {table} in {path} "
                                f"before loading {file.name}; add --yes to confirm (a backup is "
                                "kept), or leave out --replace to update by key (upsert)"
                            )
                        if n_old:
                            backup = backup_table(con, table, path.parent / "backups" / path.stem)
                    res = write_staged(
                        con, staged, mode="replace" if replace else "upsert", atomic=False
                    )
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            finally:
                con.close()
        except typer.Exit:
            _echo_warnings(caught)
            raise
        except Exception as exc:
            _echo_warnings(caught)
            raise _handle(exc)
    _echo_warnings(caught)
    if backup is not None:
        typer.echo(f"removed {res.removed} rows of {table}; backup: {backup}")
    typer.echo(
        f"loaded {res.rows} rows into {table}: {res.summary()} ({res.total} rows in the store)"
    )


def _print_import(r, *, verbose: bool) -> None:
    name = Path(r.file).name
    typer.echo(f"{name}: {r.title} ({r.source}), {r.rows_read} rows read")
    for note in r.notes:
        typer.echo(f"    {note}")
    for reason, n in r.excluded:
        typer.echo(f"    excluded {n} row(s): {reason}")
    verb = "would write" if r.dry_run else "wrote"
    for w in r.written:
        typer.echo(f"    {verb} {w.table}: {w.summary()} ({w.total} rows in the store)")


@app.command("import")
def import_cmd(
    files: list[Path] = typer.Argument(
        ..., help="Platform exports: CSV, XLS, XLSX, as downloaded."
    ),
    source: str = typer.Option(
        "auto", "--source", help="Export mapping name (see --inspect), or auto: recognise."
    ),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB store (default: the project's)."),
    map_file: Optional[Path] = typer.Option(
        None, "--map", help="Mapping YAML for an export no built-in mapping knows."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    inspect: bool = typer.Option(
        False, "--inspect", help="Show the recognised export, its mapping and 口径 notes only."
    ),
) -> None:
    """Import platform exports (生意参谋, 京东商智, 抖店罗盘, 拼多多, order exports) as downloaded.

    Recognises each file by its header row, maps it to the canonical tables, validates every
    file, then upserts them all in one transaction: re-importing an overlapping export updates
    the overlap, the same file twice changes nothing. Prints what was recognised, inserted,
    updated, unchanged and excluded, and why.
    """
    import warnings

    from opsnb.data import exports, imports

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if inspect:
                spec0 = exports.load_export(map_file) if map_file else None
                if spec0 is None and source != "auto":
                    spec0 = exports.get_export(source)
                for f in files:
                    p = imports.prepare_import(f, spec0)
                    sp = p.spec
                    typer.echo(f"{Path(p.file).name}: {sp.title} ({sp.name}) → {sp.table}")
                    for h, c in p.mapping:
                        typer.echo(f"    {h} → {c}")
                    if p.ignored:
                        typer.echo(f"    not used: {', '.join(p.ignored)}")
                    for note in sp.notes:
                        typer.echo(f"    口径: {note}")
                    for table, frame in p.frames.items():
                        typer.echo(f"    {len(frame)} row(s) for {table}")
                return
            results = imports.import_files(
                list(files), source=source, db=db, map_file=map_file, dry_run=dry_run
            )
        except Exception as exc:
            _echo_warnings(caught)
            raise _handle(exc)
    _echo_warnings(caught)
    for r in results:
        _print_import(r, verbose=dry_run)


@app.command()
def demo(
    data_only: bool = typer.Option(False, "--data-only", help="Only generate the demo store."),
    workers: int = typer.Option(0, help="Parallel runs (0 = one per core)."),
    params_glob: str = typer.Option("demo*.yaml", "--params", help="Params files in params/."),
    seed: int = typer.Option(20240101, help="Random seed of the demo shop."),
) -> None:
    """Generate the demo shop, run every notebook on params/demo*.yaml, write outputs/index.html."""
    import time

    from opsnb import config
    from opsnb.demo import shop as demo_mod

    t0 = time.perf_counter()
    typer.echo(f"==> generating the demo shop into {config.demo_db_path()}")
    try:
        demo_mod.write_demo(seed=seed)
    except Exception as exc:
        raise _handle(exc)
    typer.echo(f"    done in {time.perf_counter() - t0:.1f} s; files in {config.demo_dir()}")
    if data_only:
        return
    files = sorted(config.params_dir().glob(params_glob))
    if not files:
        raise _fail(f"no params files matching {params_glob!r} in {config.params_dir()}")
    from opsnb.run.batch import run_batch
    from opsnb.run.render import write_index

    summary = run_batch([str(f) for f in files], workers=workers or None, progress=True)
    typer.echo(summary.table())
    index = write_index()
    bad = summary.failed
    n = len(summary.results)
    typer.echo(
        f"==> {n - len(bad)}/{n} reports ok in {time.perf_counter() - t0:.0f} s; open {index}"
    )
    if bad:
        for r in bad:
            typer.echo(
                f"    FAILED {r.name}: {r.error.strip().splitlines()[-1] if r.error.strip() else ''}"
                f" (partial notebook: {r.partial_path})",
                err=True,
            )
        raise typer.Exit(1)


@app.command()
def run(
    notebook: str = typer.Argument(..., help="Notebook name, number (03) or path."),
    params: Optional[Path] = typer.Option(None, "--params", "-f", help="Params YAML file."),
    param: list[str] = typer.Option([], "--param", "-p", help="Override: key=value (repeatable)."),
    output_dir: Optional[Path] = typer.Option(None, help="Outputs folder (default outputs/)."),
    timeout: Optional[float] = typer.Option(None, help="Per-cell timeout in seconds."),
    slug: Optional[str] = typer.Option(None, help="Output name (default: from the parameters)."),
    no_render: bool = typer.Option(False, "--no-render", help="Skip the HTML report."),
    today: Optional[str] = typer.Option(None, "--today", help=_TODAY_HELP),
) -> None:
    """Run one notebook with papermill and render its HTML report.

    Outputs go to outputs/<notebook>/<period>/ (relative periods resolved to dates)."""
    from opsnb.run.runner import run_notebook

    try:
        r = run_notebook(
            notebook,
            params_file=params,
            overrides=list(param),
            output_dir=output_dir,
            timeout=timeout,
            slug=slug,
            render=not no_render,
            today=_today(today),
        )
    except Exception as exc:
        raise _handle(exc)
    if r.ok:
        from opsnb.run.render import write_index

        write_index(output_dir)
        typer.echo(f"ok in {r.duration_s:.1f} s: {r.html_path or r.ipynb_path}")
        return
    typer.echo(f"FAILED {r.notebook}/{r.slug}: {r.error}", err=True)
    if r.failed_cell:
        typer.echo(
            "failing cell:\n" + "\n".join("    " + ln for ln in r.failed_cell.splitlines()),
            err=True,
        )
    typer.echo(f"partial notebook kept at {r.partial_path}", err=True)
    raise typer.Exit(1)


@app.command()
def tables(table: Optional[str] = typer.Argument(None, help="One table (default: all).")) -> None:
    """Print the data contracts: columns, accepted (Chinese) headers and rules, as Markdown."""
    from opsnb.data.schemas import contracts_markdown, get_table

    try:
        if table:
            get_table(table)
    except Exception as exc:
        raise _handle(exc)
    typer.echo(contracts_markdown([table] if table else None))


@app.command("params")
def params_cmd(
    notebook: Optional[str] = typer.Argument(None, help="Notebook (omit to list notebooks)."),
    check: Optional[Path] = typer.Option(
        None, "--check", help="Validate this params file for the notebook."
    ),
) -> None:
    """Print a notebook's parameters (name, type, default, help), or list the notebooks."""
    from opsnb.run.params import list_notebooks, load_params, notebook_parameters

    try:
        if notebook is None:
            for nb in list_notebooks():
                typer.echo(f"{nb.stem}")
            return
        ps = notebook_parameters(notebook)
        if check is not None:
            vals = load_params(notebook, check)
            typer.echo(f"OK: {check} gives {notebook}: {vals}")
            return
    except Exception as exc:
        raise _handle(exc)
    w = max(len(p.name) for p in ps)
    tw = max(len(p.type) for p in ps)
    for p in ps:
        typer.echo(f"{p.name:<{w}}  {p.type:<{tw}}  {p.default!r:<18}  {p.help}")


# ---------------------------------------------------------------------------------------------
# monitoring: detect
# ---------------------------------------------------------------------------------------------


def _keep_freed_arrays() -> None:
    """Let this (one-shot) process reuse the memory of freed large arrays instead of giving it
    back to the OS after every temporary (glibc ``mallopt``): the engine makes hundreds of
    (series × time) temporaries, and mapping them afresh each time was about 2 s of page
    faults at 10 000 × 365 (peak memory about 10 % higher). Also no transparent huge pages
    for this process (``prctl(PR_SET_THP_DISABLE)``): numpy asks for them on every large
    array, and a kernel that compacts memory to find one spent 3-5 s of system time at
    10 000 × 365, more than all the scoring. And one heap for all threads
    (``M_ARENA_MAX`` 1): a worker thread that got an arena of its own could not reuse what
    another thread freed, so the heap grew by whatever arenas the threads happened to get
    (at 10 000 × 365, two runs each: peak 1.26-1.29 → 1.06-1.07 GB, 343-375 k → 263-266 k
    page faults; arenas made before this call, e.g. by numpy's BLAS threads, stay, so
    ``MALLOC_ARENA_MAX=1`` in the environment gets further: 0.95 GB, 222 k). No-op off
    Linux/glibc."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: arrays up to 1 GiB from the heap
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GiB freed for reuse
        libc.mallopt(-8, 1)  # M_ARENA_MAX: the threads share the heap and its freed blocks
        libc.prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: 4 KiB pages, no compaction stalls
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def _one_big_job():
    """While one command streams a whole file: :func:`_keep_freed_arrays`, Arrow's buffers
    from the same glibc heap (its mimalloc pool faulted fresh pages for every written block)
    and no cyclic garbage collection (the imports and frames of one run made it scan every
    object some 200 times; nothing the run frees is in a cycle worth waiting for). The pool
    and the collector are restored afterwards (the command also runs inside test processes)."""
    import gc

    import pyarrow as pa

    _keep_freed_arrays()
    pool, collecting = pa.default_memory_pool(), gc.isenabled()
    pa.set_memory_pool(pa.system_memory_pool())
    gc.disable()
    try:
        yield
    finally:
        pa.set_memory_pool(pool)
        if collecting:
            gc.enable()


def _detect_calendar(times, events, country: str | None, promotions: bool):
    """The calendar of ``opsnb detect --country/--promotions``: the --events rows first (they
    win on the days they cover), then the promotion calendar, then the country's holidays,
    over the input's date range (:func:`opsnb.calendar.shop_calendar`)."""
    import pandas as pd

    from opsnb.calendar import check_country, shop_calendar

    try:
        code = check_country(country)
    except ValueError as exc:
        raise ValueError(f"--country {country}: {exc}") from None
    t = pd.to_datetime(times)
    extra = None
    if events is not None and len(events):
        extra = events.assign(
            start=pd.to_datetime(events["start"]).dt.date, end=pd.to_datetime(events["end"]).dt.date
        )
    return shop_calendar(t.min(), t.max(), country=code, promotions=promotions, extra=extra)


@app.command("detect")
def detect_cmd(
    input_file: Path = typer.Argument(
        ..., help="CSV with a time column and a value column (any frequency)."
    ),
    time_col: str = typer.Option("timestamp", "--time-col", help="Time column."),
    value_col: Optional[str] = typer.Option(
        "value", "--value-col", help="Value column (count kind)."
    ),
    series_col: Optional[str] = typer.Option(
        None, "--series-col", help="Series id column (many series)."
    ),
    kind: str = typer.Option(
        "count", "--kind", help="count | rate (rate = numerator / denominator)."
    ),
    numerator_col: Optional[str] = typer.Option(
        None, "--numerator-col", help="Rate numerator, e.g. buyers."
    ),
    denominator_col: Optional[str] = typer.Option(
        None, "--denominator-col", help="Rate denominator, e.g. visitors."
    ),
    events: Optional[Path] = typer.Option(
        None, "--events", help="CSV of events: event,start,end[,peak]."
    ),
    country: Optional[str] = typer.Option(
        None,
        "--country",
        help="Public holidays of this country (ISO code: CN, US, DE…) as calendar days, "
        "each compared with the same holiday last year (default: none).",
    ),
    promotions: bool = typer.Option(
        False,
        "--promotions",
        help="The Chinese promotion calendar (618, 双11, 年货节…) as calendar days.",
    ),
    sensitivity: str = typer.Option(
        "medium", "--sensitivity", help="low | medium | high (BH alpha 0.001/0.01/0.05)."
    ),
    alerts: str = typer.Option(
        "onset",
        "--alerts",
        help="onset: is_anomaly = first flagged row of an incident, and on daily data a day much worse than the incident so far (default); all: every flagged row.",
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Output CSV (or .parquet), one row per input row."
    ),
    scheduler: Optional[str] = typer.Option(
        None,
        "--scheduler",
        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786: the series are scored on the "
        "cluster's workers (same output as a local run).",
    ),
) -> None:
    """Flag anomalies in any time series CSV, causally (每日监控 / 异常检测).

    Writes series, timestamp, value, expected, lower, upper, score (≥ 0), is_anomaly (0/1: an
    alert, by default at the start of an incident and, on daily data, on a day much worse than
    the incident so far; --alerts all marks every flagged row), flagged (0/1: every anomalous
    row), direction and severity (low/medium/high by deviation from expected) on every flagged
    row.
    With --scheduler the series are split across the Dask cluster's worker threads (and the
    contextual detector's long series go there one task each); the step across series
    (false-discovery control at each timestamp) runs here on the gathered scores.
    """
    import os
    import warnings

    try:
        with _one_big_job():
            from opsnb.data.columnar import write_frame
            from opsnb.monitoring.anomaly import detect
            from opsnb.monitoring.daily import read_series_file

            if kind not in ("count", "rate"):
                raise ValueError(f"--kind must be one of count, rate; got {kind!r}")
            cols = [numerator_col, denominator_col] if kind == "rate" else [value_col]
            if any(c is None for c in cols):
                raise ValueError("--kind rate needs --numerator-col and --denominator-col")
            df = read_series_file(
                input_file, time_col=time_col, value_cols=cols, series_col=series_col
            )
            cal = None
            if events is not None:
                cal = read_series_file(events, time_col="start", value_cols=[], series_col="event")
                ends = read_series_file(events, time_col="end", value_cols=[])
                cal["end"] = ends["end"].to_numpy()
            if country or promotions:
                cal = _detect_calendar(df[time_col], cal, country, promotions)
            with contextlib.ExitStack() as stack:
                # local run: the series in row blocks on a thread per core (numpy releases the
                # GIL in its array loops); every statistic reads one series, so the stacked blocks
                # are the arrays of one call (same output bytes, see score_partition)
                workers = os.cpu_count() or 1
                partitions = 8 * workers if workers > 1 else 1
                mapper = context_mapper = None  # CAD: a process pool here (context_flags)
                if workers > 1 and not scheduler:
                    from concurrent.futures import ThreadPoolExecutor

                    pool = stack.enter_context(ThreadPoolExecutor(workers))

                    def mapper(func, parts):
                        return list(pool.map(func, parts))

                if scheduler:
                    from opsnb.run.batch import dask_client

                    client = stack.enter_context(dask_client(scheduler))
                    partitions = max(1, sum(client.nthreads().values()))

                    def mapper(func, parts):
                        return client.gather(client.map(func, parts, pure=False))

                    context_mapper = mapper  # and CAD's long series, one task each

                caught = stack.enter_context(warnings.catch_warnings(record=True))
                warnings.simplefilter("always")
                out = detect(
                    df,
                    time_col=time_col,
                    value_col=value_col if kind == "count" else None,
                    series_col=series_col,
                    kind=kind,
                    numerator_col=numerator_col,
                    denominator_col=denominator_col,
                    events=cal,
                    sensitivity=sensitivity,
                    source=str(input_file),
                    alerts=alerts,
                    mapper=mapper,
                    partitions=partitions,
                    context_mapper=context_mapper,
                )
            _echo_warnings(caught)
            cols_out = [
                "series",
                "timestamp",
                "value",
                "expected",
                "lower",
                "upper",
                "score",
                "is_anomaly",
                "flagged",
                "direction",
                "severity",
            ]
            write_frame(out[cols_out], output, encoding=_CSV_ENCODING, formula_safe=True)
            typer.echo(
                f"{int(out['is_anomaly'].sum())} alert(s), {int(out['flagged'].sum())} flagged row(s) "
                f"of {len(out)} → {output}"
            )
    except Exception as exc:  # noqa: BLE001 - mapped to exit codes
        raise _handle(exc) from None


# ---------------------------------------------------------------------------------------------
# A/B tests: ab
# ---------------------------------------------------------------------------------------------


@app.command("ab")
def ab_cmd(
    input: Path = typer.Argument(..., help="Unit-level file: CSV (UTF-8/GBK), XLSX or Parquet."),
    variant_col: str = typer.Option("variant", "--variant-col", help="Column naming the arm."),
    control: str = typer.Option(..., "--control", help="Value of the control arm."),
    metric: list[str] = typer.Option(
        ...,
        "--metric",
        help="NAME:proportion | NAME:mean | NAME:mean:NUM/DEN "
        "(ratio, e.g. aov:mean:gmv/orders); repeat for more.",
    ),
    unit_col: Optional[str] = typer.Option(
        None, "--unit-col", help="Randomisation unit: rows are summed per unit."
    ),
    covariate: list[str] = typer.Option(
        [], "--covariate", help="CUPED covariate METRIC=COLUMN (e.g. gmv=pre_gmv)."
    ),
    method: str = typer.Option(
        "frequentist",
        "--method",
        help="frequentist | bayesian | sequential (with --planned-n or --planned-days: "
        "group-sequential, Lan-DeMets spending over one look a day from --time-col, exactly "
        "alpha under daily peeking until the plan is reached; without a plan: the always-valid "
        "mixture SPRT) | group_sequential (needs a plan; choose --spending) | msprt "
        "(always-valid mixture SPRT: peek and stop any time, conservative)",
    ),
    time_col: Optional[str] = typer.Option(
        None,
        "--time-col",
        help="Assignment time: one look per day for the sequential methods (default: one look).",
    ),
    spending: str = typer.Option(
        "obf", "--spending", help="Group-sequential alpha spending: obf | pocock."
    ),
    planned_n: Optional[float] = typer.Option(
        None,
        "--planned-n",
        help="Sequential plan: total units planned across arms (group-sequential bounds; "
        "tunes the mSPRT). Without a plan 'sequential' is the always-valid mSPRT.",
    ),
    planned_days: Optional[float] = typer.Option(
        None,
        "--planned-days",
        help="Sequential plan: planned duration in days (needs --time-col); alpha is spent "
        "on the share of the planned days elapsed.",
    ),
    srm_alpha: float = typer.Option(
        0.001,
        "--srm-alpha",
        help="Sample-ratio-mismatch threshold: flag the split when the chi-square p-value is "
        "below this (default 0.001, as GrowthBook).",
    ),
    fmt: str = typer.Option("json", "--format", help="json | csv"),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level."),
    correction: str = typer.Option("holm", "--correction", help="holm | bh | none"),
    cap: Optional[float] = typer.Option(
        None, "--cap", help="Winsorise mean metrics at this quantile (0.99)."
    ),
    experiment: Optional[str] = typer.Option(
        None, "--experiment", help="Keep rows whose 'experiment' column equals this."
    ),
) -> None:
    """A/B readout of a unit-level file: SRM check, then every metric × treatment arm (JSON/CSV).

    Boolean metric columns may be TRUE/FALSE, true/false, 1/0 or 是/否. Units without a CUPED
    covariate are kept (counted in n_missing_covariate). The JSON's "design" says which
    sequential design the method stands for and its plan; "info_fraction" how much of the plan
    is reached.
    """

    from opsnb.abtest.analysis import readout
    from opsnb.abtest.units import load_units
    from opsnb.errors import DataContractError, DataProblem, ParameterError

    try:
        if fmt not in ("json", "csv"):
            raise ParameterError(f"--format must be one of ('json', 'csv'), got {fmt!r}")
        covs = {}
        for c in covariate:
            if "=" not in c:
                raise ParameterError(f"--covariate must be METRIC=COLUMN, got {c!r}")
            k, v = c.split("=", 1)
            covs[k.strip()] = v.strip()
        src = str(input)
        if not input.is_file():
            raise DataContractError(
                f"{src}: file not found", [DataProblem(src, None, None, None, "an existing file")]
            )
        if input.suffix.lower() == ".parquet":  # sums in one DuckDB pass: memory stays flat
            ro = _ab_parquet(
                input,
                variant_col=variant_col,
                control=control,
                metrics=list(metric),
                unit_col=unit_col,
                covariates=covs,
                method=method,
                alpha=alpha,
                correction=correction,
                cap=cap,
                experiment=experiment,
                time_col=time_col,
                spending=spending,
                planned_n=planned_n,
                planned_days=planned_days,
                srm_alpha=srm_alpha,
            )
            _print_readout(ro, fmt)
            return
        df = load_units(input)
        if experiment is not None:
            if "experiment" not in df.columns:
                raise DataContractError(
                    f"{src}: --experiment given but no 'experiment' column",
                    [DataProblem(src, None, "experiment", None, "a column named 'experiment'")],
                )
            df = df[df["experiment"].astype(str) == experiment]
        if variant_col not in df.columns:
            raise DataContractError(
                f"{src}: no variant column",
                [
                    DataProblem(
                        src,
                        None,
                        variant_col,
                        None,
                        f"a column named {variant_col!r} (columns: {list(df.columns)})",
                    )
                ],
            )
        variants = sorted(df[variant_col].astype(str).unique())
        if control not in variants:
            raise DataContractError(
                f"{src}: control arm not found",
                [DataProblem(src, None, variant_col, control, f"one of {variants}")],
            )
        ro = readout(
            df,
            variant_col=variant_col,
            control=control,
            metrics=list(metric),
            unit_col=unit_col,
            covariates=covs,
            method=method,
            alpha=alpha,
            correction=correction,
            cap=cap,
            source=src,
            time_col=time_col,
            spending=spending,
            planned_n=planned_n,
            planned_days=planned_days,
            srm_alpha=srm_alpha,
        )
    except Exception as exc:  # noqa: BLE001 - mapped to exit codes by _handle
        raise _handle(exc)
    _print_readout(ro, fmt)


def _print_readout(ro, fmt: str) -> None:
    import json

    if fmt == "json":
        typer.echo(json.dumps(ro.to_dict(), ensure_ascii=False, indent=2))
    else:
        out = ro.to_frame().assign(srm_p_value=ro.srm.p_value, srm_flagged=ro.srm.flagged)
        text = safe_frame(out).to_csv(index=False)
        buf = getattr(sys.stdout, "buffer", None)
        if buf is None:  # a text-only stream (embedded use): the BOM as a character
            sys.stdout.write("\ufeff" + text)
            return
        # bytes, so the BOM and the UTF-8 survive a console in another code page (> file.csv)
        sys.stdout.flush()
        buf.write(text.encode(_CSV_ENCODING))
        buf.flush()


def _ab_parquet(path: Path, *, variant_col: str, control: str, experiment, **kw):
    """``opsnb ab`` on a Parquet file through DuckDB (the same checks and numbers as the
    pandas path, without loading the rows)."""
    import duckdb

    from opsnb.abtest.analysis import readout_duckdb
    from opsnb.errors import DataContractError, DataProblem

    src = str(path)
    con = duckdb.connect()
    rel = f"read_parquet('{src.replace(chr(39), chr(39) * 2)}')"
    columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]
    where = None
    if experiment is not None:
        if "experiment" not in columns:
            raise DataContractError(
                f"{src}: --experiment given but no 'experiment' column",
                [DataProblem(src, None, "experiment", None, "a column named 'experiment'")],
            )
        where = 'CAST("experiment" AS VARCHAR) = \'' + experiment.replace("'", "''") + "'"
    if variant_col not in columns:
        raise DataContractError(
            f"{src}: no variant column",
            [
                DataProblem(
                    src,
                    None,
                    variant_col,
                    None,
                    f"a column named {variant_col!r} (columns: {columns})",
                )
            ],
        )
    q = '"' + variant_col.replace('"', '""') + '"'
    variants = sorted(
        str(v)
        for (v,) in con.execute(
            f"SELECT DISTINCT CAST({q} AS VARCHAR) FROM {rel}"
            + (f" WHERE {where}" if where else "")
        ).fetchall()
    )
    if control not in variants:
        raise DataContractError(
            f"{src}: control arm not found",
            [DataProblem(src, None, variant_col, control, f"one of {variants}")],
        )
    return readout_duckdb(src, con=con, variant_col=variant_col, control=control, where=where, **kw)


# ---------------------------------------------------------------------------------------------
# goals, plans, what-if: whatif
# ---------------------------------------------------------------------------------------------


@app.command("whatif")
def whatif_cmd(
    params: Optional[Path] = typer.Option(None, "--params", "-f", help="Params YAML file."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Override: key=value, e.g. -p goal=0.3 -p period=2025-Q4."
    ),
    port: int = typer.Option(8866, help="Port to serve on."),
    ip: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for the office LAN)."),
    open_browser: bool = typer.Option(False, "--open/--no-open", help="Open a browser tab."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Prepare and print the command only."),
) -> None:
    """Serve the live what-if sliders (notebook 02b) with Voila for managers (情景试算).

    Ctrl-C or SIGTERM stops Voila and its kernels and removes the temporary folder."""
    from opsnb.run.live import serve_live
    from opsnb.run.params import find_notebook, load_params

    try:
        nb_path = find_notebook("02b_whatif_live")
        values = load_params(nb_path, params, overrides=list(param))
    except Exception as exc:
        raise _handle(exc)
    if values.get("db_path"):
        values["db_path"] = str(Path(values["db_path"]).expanduser().resolve())
    code = serve_live(
        nb_path, values, port=port, ip=ip, open_browser=open_browser, dry_run=dry_run,
        echo=typer.echo,
    )  # fmt: skip
    raise typer.Exit(code)


# ---------------------------------------------------------------------------------------------
# market and customers: rfm, cohorts
# ---------------------------------------------------------------------------------------------


def _purchases(
    input_file: Path,
    customer_col: Optional[str],
    date_col: Optional[str],
    amount_col: Optional[str],
    order_col: Optional[str] = None,
):
    """The purchases of a file or the store as a DuckDB relation
    (:func:`opsnb.market.customers_sql.open_purchases`). Rows with a negative amount (refunds,
    cancellations) are excluded and counted on stderr; a paid row of amount 0 (a free gift, a
    full coupon) is a purchase and counts for frequency, recency and cohorts."""
    from opsnb.errors import ParameterError
    from opsnb.market.customers_sql import STORE_SUFFIXES, open_purchases

    names = {"customer_col": customer_col, "date_col": date_col, "amount_col": amount_col}
    if input_file.suffix.lower() in STORE_SUFFIXES:  # the store's orders table
        defaults = {"customer_col": "customer_id", "date_col": "order_time", "amount_col": "amount"}
        names = {k: v or defaults[k] for k, v in names.items()}
    missing = [f"--{k.replace('_', '-')}" for k, v in names.items() if not v]
    if missing:
        raise ParameterError(f"give {', '.join(missing)}: the columns of {input_file.name}")
    p = open_purchases(input_file, order_col=order_col, **names)
    if p.excluded:
        typer.echo(
            f"note: excluded {p.excluded} of {p.rows} rows with {names['amount_col']} < 0 "
            "(refunds, cancellations) from the purchases",
            err=True,
        )
    if p.free:
        typer.echo(
            f"note: {p.free} purchase(s) of amount 0 (free gifts, full coupons) are counted",
            err=True,
        )
    return p


def _write_table(frame, output: Path) -> None:
    """A customer or cohort table to CSV with Arrow's writer (as pandas spells it), text cells
    a spreadsheet could evaluate made safe as :func:`opsnb.sheets.safe_frame` makes them (in
    Arrow, by the writer)."""
    from opsnb.data.columnar import write_frame

    write_frame(frame, output, encoding=_CSV_ENCODING, formula_safe=True)


_INPUT_HELP = (
    "Transactions: CSV or whitespace-separated text, Parquet (read by DuckDB where it lies), "
    "or a store (.duckdb: its orders table)."
)


@app.command("rfm")
def rfm_cmd(
    input_file: Path = typer.Argument(..., help=_INPUT_HELP),
    customer_col: Optional[str] = typer.Option(
        None, "--customer-col", help="Customer id column (store: customer_id)."
    ),
    date_col: Optional[str] = typer.Option(
        None, "--date-col", help="Date column, 2024-06-18 or 20240618 (store: order_time)."
    ),
    amount_col: Optional[str] = typer.Option(
        None, "--amount-col", help="Amount column (store: amount)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Output CSV."),
    as_of: Optional[str] = typer.Option(
        None, "--as-of", help="Reference date (default: day after the last date)."
    ),
    frequency: str = typer.Option(
        "days", "--frequency", help="days: distinct purchase days; orders: distinct orders."
    ),
    order_col: Optional[str] = typer.Option(
        None, "--order-col", help="Order id column (for --frequency orders)."
    ),
    lang: str = typer.Option("zh", "--lang", help="Segment names: zh or en."),
) -> None:
    """RFM scores (quintiles, 5 = best) and the eight segments per customer (客户RFM分层).

    Recency, frequency and monetary are aggregated in one DuckDB pass; only the per-customer
    table is scored in memory."""
    from opsnb.market.customers_sql import rfm_sql

    try:
        if frequency not in ("days", "orders"):
            raise ValueError(f"--frequency must be 'days' or 'orders', got {frequency!r}")
        if lang not in ("zh", "en"):
            raise ValueError(f"--lang must be 'zh' or 'en', got {lang!r}")
        as_of_ts = None
        if as_of:
            import pandas as pd

            from opsnb.periods import parse_date

            try:
                as_of_ts = pd.Timestamp(parse_date(as_of))
            except ValueError as exc:
                raise ValueError(f"--as-of: {exc}") from None
        p = _purchases(input_file, customer_col, date_col, amount_col, order_col)
        table = rfm_sql(
            p.con,
            p.relation,
            where=p.where,
            row_order=p.row_order,
            as_of=as_of_ts,
            frequency=frequency,
            order_col="order_id" if order_col else None,
            lang=lang,
        )
    except Exception as exc:
        raise _handle(exc)
    cols = [
        "customer_id",
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "segment",
    ]
    _write_table(table[cols], output)
    typer.echo(f"wrote {len(table)} customers to {output}")


@app.command("cohorts")
def cohorts_cmd(
    input_file: Path = typer.Argument(..., help=_INPUT_HELP),
    customer_col: Optional[str] = typer.Option(
        None, "--customer-col", help="Customer id column (store: customer_id)."
    ),
    date_col: Optional[str] = typer.Option(
        None, "--date-col", help="Date column, 2024-06-18 or 20240618 (store: order_time)."
    ),
    amount_col: Optional[str] = typer.Option(
        None, "--amount-col", help="Amount column (store: amount)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Output CSV."),
) -> None:
    """Monthly acquisition cohorts: active customers, retention and GMV by months since first purchase.

    The cohort counts are aggregated in one DuckDB pass."""
    from opsnb.market.customers_sql import cohorts_sql

    try:
        p = _purchases(input_file, customer_col, date_col, amount_col)
        table = cohorts_sql(p.con, p.relation, where=p.where)
    except Exception as exc:
        raise _handle(exc)
    cols = ["cohort", "months_since_first", "active_customers", "retention_rate", "gmv"]
    _write_table(table[cols], output)
    typer.echo(f"wrote {len(table)} rows ({table['cohort'].nunique()} cohorts) to {output}")


# ---------------------------------------------------------------------------------------------
# retrospective: ledger
# ---------------------------------------------------------------------------------------------


@app.command("ledger")
def ledger_cmd(
    notebook: Optional[str] = typer.Option(
        None, "--notebook", "-n", help="Only runs of this notebook (stem)."
    ),
    campaign: Optional[str] = typer.Option(None, "--campaign", "-c", help="Only this campaign."),
    db_path: Optional[Path] = typer.Option(None, "--db", help="DuckDB store (default: project)."),
    last: int = typer.Option(20, "--last", help="Show the last N runs (0 = all)."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Write the entries to CSV/XLSX instead."
    ),
) -> None:
    """List the lessons ledger (运营知识库): runs, key results, decisions and lessons."""
    import json

    from opsnb.run import ledger as _ledger

    try:
        df = _ledger.read(db_path=db_path, notebook=notebook, campaign=campaign)
    except Exception as exc:  # noqa: BLE001
        raise _handle(exc)
    if last > 0:
        df = df.tail(last)
    flat = df.assign(
        params=[json.dumps(d, ensure_ascii=False) for d in df["params"]],
        key_results=[json.dumps(d, ensure_ascii=False) for d in df["key_results"]],
        lessons=["; ".join(x) for x in df["lessons"]],
    )
    if output is not None:
        if output.suffix.lower() == ".xlsx":  # styled like every opsnb workbook
            write_book(output, {"ledger": flat.reset_index(drop=True)})
        else:
            safe_frame(flat).to_csv(output, index=False, encoding=_CSV_ENCODING)
        typer.echo(f"{len(flat)} ledger entries → {output}")
        return
    if flat.empty:
        typer.echo("ledger is empty")
        return
    for _, r in flat.iterrows():
        head = f"{r['recorded_at']:%Y-%m-%d %H:%M}  {r['run_id']}  [{r['period']}"
        head += f" · {r['campaign']}]" if r["campaign"] else "]"
        typer.echo(head)
        typer.echo(f"    results: {r['key_results']}")
        if r["decision"]:
            typer.echo(f"    decision: {r['decision']}")
        if r["lessons"]:
            typer.echo(f"    lessons: {r['lessons']}")


# ---------------------------------------------------------------------------------------------
# batch and delivery: batch, send
# ---------------------------------------------------------------------------------------------


@app.command("batch")
def batch_cmd(
    sources: list[Path] = typer.Argument(..., help="Params YAML files or folders of them."),
    notebooks: list[str] = typer.Option(
        [], "--notebooks", "-n", help="Only these notebooks (repeatable)."
    ),
    workers: int = typer.Option(0, "--workers", "-w", help="Parallel runs (0 = one per core)."),
    timeout: Optional[float] = typer.Option(
        None, "--timeout", "-t", help="Seconds per run (per cell and wall clock); killed after."
    ),
    force: bool = typer.Option(False, "--force", help="Rerun even if outputs are up to date."),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786."
    ),
    period: Optional[str] = typer.Option(
        None, "--period", help="Override the period: yesterday, last-week, 2025-11, ..."
    ),
    email: bool = typer.Option(
        False,
        "--email",
        help="Mail reports to their params' recipients "
        "(SMTP from OPSNB_SMTP_* variables) and a digest of failures.",
    ),
    output_dir: Optional[Path] = typer.Option(None, help="Outputs folder (default outputs/)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    today: Optional[str] = typer.Option(None, "--today", help=_TODAY_HELP),
) -> None:
    """Run every notebook × params file in parallel; resume skips up-to-date reports.

    Exits 1 if any run failed or timed out (the summary table says which and why).
    Nightly: `15 6 * * * cd /srv/opsnb && .venv/bin/opsnb batch params/daily --period yesterday --email`
    """
    from opsnb.run.batch import execute_batch
    from opsnb.run.batchplan import plan_batch
    from opsnb.run.batchresults import deliver

    try:
        jobs = plan_batch(
            sources,
            notebooks=notebooks or None,
            period=period,
            timeout=timeout,
            output_dir=output_dir,
            today=_today(today),
        )
        summary = execute_batch(
            jobs, workers=workers or None, force=force, scheduler=scheduler, progress=progress
        )
        if email:
            deliver(summary)
    except Exception as exc:
        raise _handle(exc)
    typer.echo(summary.table())
    for s in summary.sends:
        typer.echo(f"mail {s.status}: {s.report} -> {', '.join(s.recipients)}")
    for err in summary.delivery_errors:
        typer.echo(f"mail FAILED: {err}", err=True)
    raise typer.Exit(summary.exit_code)


@app.command("send")
def send_cmd(
    report: Path = typer.Argument(
        ..., help="An HTML report, e.g. outputs/03_daily_monitoring/2025-11.html."
    ),
    to: list[str] = typer.Option(..., "--to", help="Recipient, 'Name <user@domain>' (repeatable)."),
    cc: list[str] = typer.Option([], "--cc", help="Copy recipient (repeatable)."),
    subject: Optional[str] = typer.Option(None, "--subject", help="Default: the report's title."),
    force: bool = typer.Option(False, "--force", help="Send even if already sent to them."),
    retries: int = typer.Option(
        3, "--retries", help="Retries after transient SMTP errors (waits 2, 4, 8... s)."
    ),
) -> None:
    """Mail an email-safe copy of a report (SMTP settings from OPSNB_SMTP_* variables)."""
    from opsnb.run.delivery import send_report

    try:
        result = send_report(report, to=to, cc=cc, subject=subject, force=force, retries=retries)
    except Exception as exc:
        raise _handle(exc)
    if result.status == "skipped":
        typer.echo(f"already sent to {', '.join(result.recipients)} (use --force to resend)")
    else:
        typer.echo(
            f"sent {report} to {', '.join(result.recipients)} "
            f"({result.size_bytes / 1e3:.0f} kB, {result.attempts} attempt(s))"
        )


# ---------------------------------------------------------------------------------------------
# the daily loop: daily, incidents, ack
# ---------------------------------------------------------------------------------------------


@app.command("daily")
def daily_cmd(
    today: Optional[str] = typer.Option(
        None, "--today", help=_TODAY_HELP + " Reports the day before."
    ),
    inbox: Optional[Path] = typer.Option(
        None,
        "--inbox",
        help="Folder of new platform exports to import first (moved to inbox/imported/<today>/).",
    ),
    push: str = typer.Option(
        "",
        "--push",
        help="Comma list of dingtalk, wecom, feishu, email (robots and SMTP from OPSNB_* variables).",
    ),
    params: Optional[Path] = typer.Option(
        None, "--params", "-f", help="Params YAML (owners, recipients, ...)."
    ),
    param: list[str] = typer.Option([], "--param", "-p", help="Override: key=value (repeatable)."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB store (default: the project's)."),
    map_file: Optional[Path] = typer.Option(
        None, "--map", help="Mapping YAML for inbox exports no built-in mapping knows."
    ),
    output_dir: Optional[Path] = typer.Option(None, help="Outputs folder (default outputs/)."),
    no_render: bool = typer.Option(
        False, "--no-render", help="Run the notebook but skip the HTML."
    ),
    no_report: bool = typer.Option(
        False, "--no-report", help="Monitor, track and push without running the notebook."
    ),
    wait: float = typer.Option(
        0.0, "--wait", help="Seconds to wait for the day's data to arrive (0: fail at once)."
    ),
    retry_every: float = typer.Option(
        300.0, "--retry-every", help="Seconds between checks while waiting."
    ),
    force_push: bool = typer.Option(
        False, "--force-push", help="Push again even if this day was pushed."
    ),
) -> None:
    """Every morning for cron: import the inbox, validate, monitor yesterday, render, track
    incidents, push to 钉钉 / 企业微信 / 飞书 / email.

    Exit status, a sum of flags: 0 ok, 1 bad parameters, 2 an inbox file failed to import,
    4 the day's data are not in the store, 8 monitoring or the report failed, 16 a push failed.

    Environment: OPSNB_TZ (shop time zone, default Asia/Shanghai), OPSNB_TODAY (fixed today),
    OPSNB_DB, OPSNB_OUTPUTS, OPSNB_REPORT_URL (where outputs/ is served, for the link in chat),
    OPSNB_DINGTALK_WEBHOOK + OPSNB_DINGTALK_SECRET, OPSNB_FEISHU_WEBHOOK + OPSNB_FEISHU_SECRET,
    OPSNB_WECOM_WEBHOOK, OPSNB_SMTP_* and OPSNB_DAILY_TO (email).

    Cron (06:30 in the shop's time zone on a server set to it):
    `30 6 * * * cd /srv/opsnb && .venv/bin/opsnb daily --inbox /srv/inbox --push dingtalk,email`
    """
    from opsnb.run.daily import run_daily
    from opsnb.run.params import parse_override

    try:
        r = run_daily(
            today=_today(today),
            inbox=inbox,
            push=[x.strip() for x in push.split(",") if x.strip()],
            params_file=params,
            overrides=dict(parse_override(o) for o in param),
            db=db,
            output_dir=output_dir,
            map_file=map_file,
            render=not no_render,
            report=not no_report,
            wait=wait,
            retry_every=retry_every,
            force_push=force_push,
        )
    except Exception as exc:
        raise _handle(exc)
    for line in r.lines():
        typer.echo(line, err="FAILED" in line or "MISSING" in line)
    raise typer.Exit(r.exit_code)


@app.command("incidents")
def incidents_cmd(
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB store (default: the project's)."),
    all_: bool = typer.Option(False, "--all", help="Also resolved and closed incidents."),
) -> None:
    """List the incidents the daily loop keeps (open ones by default), with age and deadlines."""
    from opsnb import config
    from opsnb.monitoring.incidents import load_incidents

    try:
        inc, _ = load_incidents(db or config.default_db_path())
    except Exception as exc:
        raise _handle(exc)
    if not all_:
        inc = inc[inc["status"].isin(("new", "ongoing"))]
    if inc.empty:
        typer.echo("no open incidents" if not all_ else "no incidents yet (run opsnb daily)")
        return
    for r in inc.sort_values(["opened_on", "incident_id"]).itertuples(index=False):
        flags = " ".join(
            f
            for f, on in (
                ("RESPONSE-OVERDUE", r.response_overdue),
                ("REPORT-OVERDUE", r.report_overdue),
            )
            if on
        )
        ack = (
            f" ack {r.acknowledged_by}"
            if isinstance(r.acknowledged_by, str) and r.acknowledged_by
            else ""
        )
        typer.echo(
            f"{r.incident_id}  {r.status:<8} {r.severity or '-':<6} {r.channel} {r.family} "
            f"[{r.metrics}] since {str(r.opened_on)[:10]} ({r.age_days} d) "
            f"¥{r.gmv_at_risk:,.0f} owner {r.owner or '-'} report due {str(r.report_due)[:10]}"
            f"{ack}{'  ' + flags if flags else ''}"
        )


@app.command("ack")
def ack_cmd(
    incident_id: str = typer.Argument(
        ..., help="Incident id, e.g. 20251007-1 (see opsnb incidents)."
    ),
    by: str = typer.Option(..., "--by", help="Who acknowledges (name)."),
    note: str = typer.Option("", "--note", help="Response plan or what was done."),
    close: bool = typer.Option(False, "--close", help="Close it: the 整改报告 is in."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB store (default: the project's)."),
    today: Optional[str] = typer.Option(
        None, "--today", help="Date of the action (default: today)."
    ),
) -> None:
    """Acknowledge an incident (response plan received) or close it (--close)."""
    from opsnb import config
    from opsnb.monitoring.incidents import record_action

    try:
        row = record_action(
            db or config.default_db_path(),
            incident_id,
            by=by,
            note=note,
            close=close,
            today=_today(today),
        )
    except Exception as exc:
        raise _handle(exc)
    typer.echo(f"{row['incident_id']} {row['status']}: acknowledged by {row['acknowledged_by']}")


# ---------------------------------------------------------------------------------------------
# products and inventory: forecast, replenish
# ---------------------------------------------------------------------------------------------


def _parse_levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--level takes percentages like 80,95; got {text!r}") from None
    if not levels or any(not 0 < v < 100 for v in levels):
        raise ValueError(f"--level takes percentages in (0, 100) like 80,95; got {text!r}")
    return levels


def _read_events(events: Path):
    from opsnb.data.loaders import read_columns

    ev = read_columns(
        events,
        {
            "event": ("event", "str"),
            "start": ("start", "date"),
            "end": ("end", "date"),
            "peak": ("peak", "date"),
        },
        optional=("peak",),
        nullable=("peak",),
    )
    return ev.drop(columns="_row")


def _stamp(ts):
    import pandas as pd

    ts = pd.to_datetime(ts)
    return ts.dt.strftime("%Y-%m-%d") if (ts == ts.dt.normalize()).all() else ts


@app.command("forecast")
def forecast_cmd(
    input_file: Path = typer.Argument(..., help="Sales CSV/XLSX: one row per series and period."),
    series_col: str = typer.Option(..., "--series-col", help="Series id column (e.g. sku)."),
    time_col: str = typer.Option(..., "--time-col", help="Date or timestamp column."),
    value_col: str = typer.Option(..., "--value-col", help="Quantity column (e.g. units)."),
    horizon: int = typer.Option(
        ..., "--horizon", help="Periods to forecast (days for daily data)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Output CSV of forecasts."),
    events: Optional[Path] = typer.Option(
        None, "--events", help="CSV of shop campaigns: event,start,end[,peak] (lifts per event)."
    ),
    level: str = typer.Option("80,95", "--level", help="Interval levels in percent: 80,95."),
    promotions: bool = typer.Option(
        False,
        "--promotions/--no-promotions",
        help="Also use the built-in 大促 calendar (618, 双11, ...).",
    ),
    stockout_col: Optional[str] = typer.Option(
        None, "--stockout-col", help="Boolean column: out of stock (sales censored) that period."
    ),
    freq: Optional[str] = typer.Option(
        None, "--freq", help="pandas frequency (default: inferred)."
    ),
    season_length: Optional[int] = typer.Option(
        None,
        "--season-length",
        help="Periods per season (default: 7 daily, 52 weekly, 12 monthly).",
    ),
    n_windows: int = typer.Option(3, "--n-windows", help="Backtest origins (scores, intervals)."),
    backtest: Optional[Path] = typer.Option(
        None, "--backtest", help="Also write the per-series model choice and backtest metrics CSV."
    ),
) -> None:
    """Demand forecasts per series (需求预测) with intervals, any frequency.

    Writes series, timestamp, forecast, lo_<level>, hi_<level> per level and model: CrostonSBA
    for intermittent series (ADI ≥ 1.32), the ETS+Theta combination otherwise; --backtest
    writes its rolling-origin scores next to seasonal naive's.
    """
    try:
        from opsnb.data.loaders import read_columns
        from opsnb.products.forecast import forecast_demand

        levels = _parse_levels(level)
        cols = {
            "series": (series_col, "str"),
            "timestamp": (time_col, "datetime"),
            "value": (value_col, "float"),
        }
        if stockout_col:
            cols["stockout"] = (stockout_col, "bool")
        df = read_columns(input_file, cols, nullable=("stockout",))
        ev = _read_events(events) if events is not None else None
        fc = forecast_demand(
            df,
            series_col="series",
            time_col="timestamp",
            value_col="value",
            horizon=horizon,
            freq=freq,
            season_length=season_length,
            levels=levels,
            n_windows=n_windows,
            stockout_col="stockout" if stockout_col else None,
            promotions=promotions,
            events=ev,
        )
    except Exception as exc:  # noqa: BLE001 - mapped to exit codes
        raise _handle(exc) from None
    out = fc.forecasts.copy()
    out["timestamp"] = _stamp(out["timestamp"])
    cols_out = ["series", "timestamp", "forecast"]
    cols_out += [f"{s}_{lv}" for lv in fc.levels for s in ("lo", "hi")] + ["model"]
    output.parent.mkdir(parents=True, exist_ok=True)
    safe_frame(out[cols_out]).to_csv(output, index=False, encoding=_CSV_ENCODING)
    if backtest is not None:
        backtest.parent.mkdir(parents=True, exist_ok=True)
        safe_frame(fc.choice).to_csv(backtest, index=False, encoding=_CSV_ENCODING)
    models = fc.choice["model"].value_counts()
    typer.echo(
        f"wrote {len(out)} rows ({len(fc.choice)} series × {fc.horizon} periods, freq {fc.freq}) "
        f"to {output}; models: " + ", ".join(f"{k} {v}" for k, v in models.items())
    )


@app.command("replenish")
def replenish_cmd(
    forecast_file: Path = typer.Argument(
        ...,
        help="Daily forecasts: series,timestamp,forecast,lo_<level>,hi_<level> (opsnb forecast).",
    ),
    skus: Path = typer.Option(
        ...,
        "--skus",
        help="SKU master: sku,lead_time_days[,name,price,unit_cost,moq,case_pack,lead_time_std_days].",
    ),
    inventory: Path = typer.Option(
        ..., "--inventory", help="Stock: sku,on_hand[,date,in_transit] (latest row per SKU counts)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Output CSV: the 补货建议表."),
    level: int = typer.Option(95, "--level", help="Which forecast interval gives the error."),
    review_days: int = typer.Option(7, "--review-days", help="Days between orders (R)."),
    service_level: float = typer.Option(
        0.95, "--service-level", help="Cycle service level target (ignored with --fill-rate)."
    ),
    fill_rate: Optional[float] = typer.Option(
        None, "--fill-rate", help="Fill-rate target instead of a cycle service level, e.g. 0.98."
    ),
    cover_days: float = typer.Option(
        90, "--cover-days", help="积压 alert above this many days of cover."
    ),
    as_of: Optional[str] = typer.Option(
        None, "--as-of", help="Plan date (default: the day before the first forecast)."
    ),
) -> None:
    """补货建议表: safety stock, order-up-to level and order quantity per SKU, with 缺货/积压 alerts."""
    try:
        from opsnb.data.loaders import read_columns
        from opsnb.products.replenish import PLAN_COLUMNS, replenishment_plan

        fc = read_columns(
            forecast_file,
            {
                "series": ("series", "str"),
                "timestamp": ("timestamp", "date"),
                "forecast": ("forecast", "float"),
                f"lo_{level}": (f"lo_{level}", "float"),
                f"hi_{level}": (f"hi_{level}", "float"),
            },
        )
        sk = read_columns(
            skus,
            {
                "sku": ("sku", "str"),
                "lead_time_days": ("lead_time_days", "float"),
                "name": ("name", "str"),
                "price": ("price", "float"),
                "unit_cost": ("unit_cost", "float"),
                "moq": ("moq", "float"),
                "case_pack": ("case_pack", "float"),
                "lead_time_std_days": ("lead_time_std_days", "float"),
            },
            optional=("name", "price", "unit_cost", "moq", "case_pack", "lead_time_std_days"),
            nullable=("name", "price", "unit_cost", "moq", "case_pack", "lead_time_std_days"),
        )
        inv = read_columns(
            inventory,
            {
                "sku": ("sku", "str"),
                "on_hand": ("on_hand", "float"),
                "date": ("date", "date"),
                "in_transit": ("in_transit", "float"),
            },
            optional=("date", "in_transit"),
            nullable=("in_transit",),
        )
        as_of_ts = None
        if as_of:
            from opsnb.periods import parse_date

            try:
                as_of_ts = parse_date(as_of)
            except ValueError as exc:
                raise ValueError(f"--as-of: {exc}") from None
        plan = replenishment_plan(
            fc.drop(columns="_row"),
            sk.drop(columns="_row"),
            inv.drop(columns="_row"),
            as_of=as_of_ts,
            review_days=review_days,
            cycle_service_level=service_level,
            fill_rate=fill_rate,
            level=level,
            cover_days=cover_days,
        )
    except Exception as exc:  # noqa: BLE001 - mapped to exit codes
        raise _handle(exc) from None
    out = plan[PLAN_COLUMNS].copy()
    for c in ("stockout_date", "order_by"):
        out[c] = out[c].dt.strftime("%Y-%m-%d")
    output.parent.mkdir(parents=True, exist_ok=True)
    safe_frame(out).to_csv(output, index=False, encoding=_CSV_ENCODING)
    n_out = int((plan["alert"] == "stockout").sum())
    n_over = int((plan["alert"] == "overstock").sum())
    typer.echo(
        f"wrote {len(out)} SKUs to {output}: {int((plan['order_qty'] > 0).sum())} to order, "
        f"{n_out} stock-out alert(s), {n_over} overstock alert(s)"
    )


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
