"""Planning a batch: which notebook × params file runs, into which dated folder, and whether a run is up to date.

:func:`plan_batch` validates every job before any kernel starts; a job's fingerprint (notebook,
parameters, data version, opsnb version) is what "Resume" in :mod:`opsnb.run.batch` compares.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from opsnb import __version__, config
from opsnb.errors import ParameterError

__all__ = ["BatchJob", "plan_batch", "resolve_period", "data_version", "is_up_to_date"]

_ENV_KEYS = ("OPSNB_HOME", "OPSNB_OUTPUTS", "OPSNB_DB", "OPSNB_DATA_VERSION")


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
    from opsnb.run.smtp import parse_recipients

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
