"""``opsnb import``: platform exports loaded as they are downloaded, in one transaction.

:func:`prepare_import` reads one file, recognises its export (:mod:`opsnb.data.exports`),
maps its headers to canonical columns, turns its rows into canonical rows and validates them
(every problem named by file, row as numbered in the file, and column):

* traffic exports: 一级/二级/三级来源 mapped to the shop's channels, summed per (date, channel);
  a source's summary row is dropped when its detail rows are in the file;
* order exports: only paid orders (a payment time) are purchases; unpaid orders are excluded
  and counted by status; a closed order after payment is a full refund; a paid order of
  amount 0 is a purchase; order lines are grouped into orders and also fill ``order_items``;
* product exports fill ``product_daily``.

:func:`import_files` prepares every file first, then writes them all by key (upsert) in one
transaction and returns one :class:`ImportResult` per file (``dry_run=True`` rolls back).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.data.cells import is_missing, parse_strings
from opsnb.data.exports import ROLES, ExportSpec, load_export, map_channel, recognise
from opsnb.data.loaders import canonical_dtypes, conform
from opsnb.data.rawfiles import BadLine, norm_header, read_raw
from opsnb.data.schemas import Table, get_table
from opsnb.data.store import WriteResult, write_table
from opsnb.errors import DataContractError, DataProblem, DataQualityWarning
from opsnb.results import Result

__all__ = ["PreparedImport", "ImportResult", "prepare_import", "import_files"]

_DASHES = ("-", "--", "—", "——")
_DAY = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})")


@dataclass(frozen=True)
class PreparedImport:
    """One file read and mapped, not yet written: ``frames`` maps table → canonical frame."""

    file: str
    spec: ExportSpec
    frames: dict[str, pd.DataFrame]
    rows_read: int
    excluded: tuple[tuple[str, int], ...]
    notes: tuple[str, ...]
    mapping: tuple[tuple[str, str], ...]
    ignored: tuple[str, ...]


@dataclass(frozen=True)
class ImportResult(Result):
    """What importing one file did: the export recognised, rows read, rows excluded (reason,
    count), what was skipped while reading (``notes``) and one write result per table."""

    file: str
    source: str
    title: str
    rows_read: int
    excluded: tuple[tuple[str, int], ...]
    notes: tuple[str, ...]
    written: tuple[WriteResult, ...]
    dry_run: bool


def _relaxed(spec: ExportSpec, t: Table, *, keyed: bool) -> Table:
    cols = tuple(
        replace(c, required=False, nullable=True) if c.name in spec.absent else c for c in t.columns
    )
    return replace(t, columns=cols, unique=t.unique if keyed else ())


def _title_day(title: list[str], source: str) -> str:
    days = {m.group(0) for line in title for m in _DAY.finditer(line)}
    if len(days) != 1:
        raise DataContractError(
            f"{source}: no date column",
            [
                DataProblem(
                    source,
                    None,
                    "date",
                    "; ".join(title) or None,
                    "a date column, or one day (统计日期：2024-06-18) in the title rows"
                    + (
                        f"; the title names {len(days)} days: export one day per file"
                        if days
                        else ""
                    ),
                )
            ],
        )
    return days.pop()


def _text(s: pd.Series) -> pd.Series:
    return parse_strings(s).fillna("")


def prepare_import(path: str | Path, spec: ExportSpec | None = None) -> PreparedImport:
    """Read, map and validate one export (see the module docstring); nothing is written."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    spec = spec or recognise(path)
    source = path.name
    t = get_table(spec.table)
    known = {**{norm_header(a): c.name for c in t.columns for a in c.aliases}}
    known.update(spec.known_headers())
    try:
        raw = read_raw(path, known)
    except BadLine as exc:
        raise DataContractError(
            f"{source} cannot be read as a table",
            [DataProblem(source, exc.line, None, f"{exc.got} fields", f"{exc.expected} fields")],
        ) from None
    frame, rows = raw.frame, np.asarray(raw.rows)
    mapping: dict[object, str] = {}
    for h in frame.columns:
        target = spec.target(h)
        if target is not None and target not in mapping.values():
            mapping[h] = target
    ignored = tuple(str(h) for h in frame.columns if h not in mapping and str(h).strip())
    df = frame[list(mapping)].copy()
    df.columns = [mapping[h] for h in mapping]
    numeric = {c.name for c in t.columns if c.dtype in ("int", "float")} | {"qty", "price"}
    if spec.dash_zero:
        for c in df.columns:
            if c in numeric:
                cells = df[c].astype("str").str.strip()
                df[c] = df[c].where(~cells.isin(_DASHES), "0")
    for c, v in spec.constants.items():
        df[c] = v
    if spec.date_from_title and "date" not in df.columns:
        df["date"] = _title_day(raw.title, source)
    excluded: list[tuple[str, int]] = []
    n_read = len(df)
    keep = np.ones(len(df), dtype=bool)
    if spec.table == "orders" and "order_time" in df.columns:
        unpaid = is_missing(df["order_time"]).to_numpy()
        status = _text(df["status"]) if "status" in df.columns else pd.Series("", index=df.index)
        for st, n in status[unpaid].value_counts(sort=False).items():
            excluded.append((f"unpaid ({st or 'no status'})", int(n)))
        keep &= ~unpaid
    if "source_1" in df.columns:
        s1 = _text(df["source_1"])
        s2 = _text(df["source_2"]) if "source_2" in df.columns else pd.Series("", index=df.index)
        date = df["date"].astype("str") if "date" in df.columns else ""
        summary = s2.isin(["", "汇总", "合计", "全部"])
        detailed = set(zip(date[~summary], s1[~summary])) if "source_2" in df.columns else set()
        dup = np.array([(d, a) in detailed for d, a in zip(date, s1)]) & summary.to_numpy()
        if dup.any():
            excluded.append(
                ("summary rows of a source whose detail rows are in the file", int(dup.sum()))
            )
            keep &= ~dup
    df, rows = df.loc[keep].reset_index(drop=True), rows[keep]
    is_role = [c in ROLES and c not in t.column_names for c in df.columns]
    roles = df[[c for c, r in zip(df.columns, is_role) if r]]
    body = df[[c for c, r in zip(df.columns, is_role) if not r]].copy()
    if "source_1" in roles.columns:
        levels = [_text(roles[c]) for c in ("source_1", "source_2", "source_3") if c in roles]
        paths = ["/".join(x for x in parts if x) for parts in zip(*levels)]
        body["channel"] = paths
    keyed = not (spec.lines or "source_1" in roles.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # unused headers are listed instead
        typed = conform(body, _relaxed(spec, t, keyed=keyed), source, rows, stacklevel=4)
    frames: dict[str, pd.DataFrame] = {}
    if spec.table == "orders":
        status = _text(roles["status"]) if "status" in roles else pd.Series("", index=typed.index)
        full = status.isin(spec.closed).to_numpy().copy()
        if "after_sale" in roles:
            full |= _text(roles["after_sale"]).isin(spec.refunded_after_sale).to_numpy()
        ref = typed["refund_amount"].astype("float64")
        typed["refund_amount"] = np.where(
            full & ~(ref > 0), typed["amount"], ref.fillna(0.0).to_numpy()
        )
        if full.any():
            raw.notes.append(
                f"{int(full.sum())} row(s) closed or refunded after payment: kept as purchases "
                "with a full refund"
            )
        if spec.lines:
            items = _items(spec, typed, roles, source, rows)
            if items is not None:
                frames["order_items"] = items
            agg = {"customer_id": "first", "order_time": "min", "channel": "first"}
            how = "sum" if spec.sum_amount else "first"
            agg.update({"amount": how, "refund_amount": how})
            typed = typed.groupby("order_id", sort=False, as_index=False).agg(agg)
    if "source_1" in roles.columns:
        platform = spec.platform
        mapped = [
            map_channel(platform, p.split("/")) if platform else None for p in typed["channel"]
        ]
        unknown = sorted({p for p, m in zip(typed["channel"], mapped) if m is None})
        if unknown:
            warnings.warn(
                f"{source}: traffic source(s) not in the {platform} channel map kept under their "
                f"一级 name: {', '.join(unknown)}",
                DataQualityWarning,
                stacklevel=2,
            )
        typed["channel"] = [m or p.split("/")[0] for p, m in zip(typed["channel"], mapped)]
        nums = [c.name for c in t.columns if c.dtype in ("int", "float") and c.name in typed]
        typed = typed.groupby(["date", "channel"], sort=True, as_index=False)[nums].sum(min_count=1)
    frames = {spec.table: canonical_dtypes(typed, t), **frames}
    return PreparedImport(
        file=str(path),
        spec=spec,
        frames=frames,
        rows_read=n_read,
        excluded=tuple(excluded),
        notes=tuple(raw.notes),
        mapping=tuple((str(h), c) for h, c in mapping.items()),
        ignored=ignored,
    )


def _items(spec, typed, roles, source, rows) -> pd.DataFrame | None:
    if not {"sku", "qty", "price"} <= set(roles.columns):
        return None
    lines = pd.DataFrame(
        {
            "order_id": typed["order_id"].to_numpy(),
            "sku": roles["sku"].to_numpy(),
            "qty": roles["qty"].to_numpy(),
            "price": roles["price"].to_numpy(),
        }
    )
    it = replace(get_table("order_items"), unique=())
    lines = conform(lines, it, source, rows, stacklevel=5)
    return lines.groupby(["order_id", "sku"], sort=False, as_index=False).agg(
        qty=("qty", "sum"), price=("price", "first"), category=("category", "first")
    )


def import_files(
    paths: list[str | Path],
    *,
    source: str = "auto",
    db: str | Path | None = None,
    map_file: str | Path | None = None,
    dry_run: bool = False,
) -> list[ImportResult]:
    """Import every file into the store (default :func:`opsnb.config.default_db_path`).

    ``source`` names a built-in export (default: recognised per file), ``map_file`` a user's
    mapping YAML. All files are read and validated before anything is written; then every
    table of every file is upserted in one transaction (``dry_run``: rolled back, so the counts
    say what an import would do).
    """
    from opsnb.data.exports import get_export
    from opsnb.data.store import open_store

    spec = load_export(map_file) if map_file else None if source == "auto" else get_export(source)
    prepared = [prepare_import(p, spec) for p in paths]
    from opsnb.config import default_db_path

    target = Path(db) if db else default_db_path()
    if dry_run and not target.is_file():
        import duckdb

        con = duckdb.connect(":memory:")
    else:
        con = open_store(target)
    out: list[ImportResult] = []
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            for p in prepared:
                written = tuple(
                    write_table(
                        con,
                        table,
                        frame,
                        validate=False,
                        key=get_table(table).unique,
                        source=Path(p.file).name,
                        atomic=False,
                    )
                    for table, frame in p.frames.items()
                )
                out.append(
                    ImportResult(
                        file=p.file,
                        source=p.spec.name,
                        title=p.spec.title,
                        rows_read=p.rows_read,
                        excluded=p.excluded,
                        notes=p.notes,
                        written=written,
                        dry_run=dry_run,
                    )
                )
            con.execute("ROLLBACK" if dry_run else "COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return out
