"""Platform exports as data: one YAML mapping per source and export type, and recognition.

Each file of ``opsnb/data/sources/*.yaml`` (versioned with the package, not code) describes one
export as the platform writes it: the canonical table it fills, which export header goes to
which canonical column, the headers that identify it (``signature``), hints in the file name,
the 口径 notes (what the platform's numbers mean) and how rows are turned into canonical rows:

``columns``          export header → canonical column, or a role: ``source_1``/``source_2``/
                     ``source_3`` (traffic-source hierarchy, mapped to channels by
                     ``sources/channels/<platform>.yaml``), ``status`` (order status), ``sku``,
                     ``qty``, ``price`` (order lines → ``order_items``), ``after_sale``.
``absent``           contract columns the export does not carry (stored empty, not invented).
``dash_zero``        '-' / '--' in a number column means 0.
``date_from_title``  the day is in the title rows (统计日期：2024-06-18), not in a column.
``lines``            one row per order line: rows are grouped into orders (``sum_amount``: the
                     amount is per line and summed; else it is the order's, repeated per line).
``orders``           ``closed``: statuses that after payment mean a full refund;
                     ``refunded_after_sale``: after-sale statuses meaning a full refund.
``constants``        canonical column → value for every row (a shop's channel, ...).

:func:`recognise` picks the export of a file by its header row (and file name); an unknown file
raises a :class:`~opsnb.errors.DataContractError` listing the headers it saw, the canonical
columns still missing and the closest known export. ``--map MAP.yaml`` (:func:`load_export`)
describes an export no built-in mapping knows, in the same format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from opsnb.data.rawfiles import header_candidates, norm_header, peek_rows
from opsnb.data.schemas import get_table
from opsnb.errors import DataContractError, DataProblem, ParameterError

__all__ = [
    "ExportSpec",
    "ROLES",
    "list_exports",
    "get_export",
    "load_export",
    "channel_map",
    "map_channel",
    "recognise",
    "SOURCES_DIR",
]

SOURCES_DIR = Path(__file__).resolve().parent / "sources"
"""Where the built-in export mappings live (package data)."""

ROLES = ("source_1", "source_2", "source_3", "status", "sku", "qty", "price", "after_sale")
"""Mapping targets that are not contract columns: they steer how rows become canonical rows."""

_KEYS = {
    "name",
    "platform",
    "title",
    "table",
    "file_names",
    "signature",
    "columns",
    "absent",
    "dash_zero",
    "date_from_title",
    "lines",
    "sum_amount",
    "orders",
    "channels",
    "constants",
    "notes",
}


@dataclass(frozen=True)
class ExportSpec:
    """One export type of one platform (see the module docstring for the fields)."""

    name: str
    platform: str
    title: str
    table: str
    columns: dict[str, str]
    signature: tuple[str, ...] = ()
    file_names: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    dash_zero: bool = False
    date_from_title: bool = False
    lines: bool = False
    sum_amount: bool = False
    closed: tuple[str, ...] = ()
    refunded_after_sale: tuple[str, ...] = ()
    channels: str | None = None
    constants: dict[str, object] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    path: str = ""

    def target(self, header: object) -> str | None:
        """The canonical column or role of an export header (None: not used)."""
        norm = {norm_header(h): t for h, t in self.columns.items()}
        return next((norm[c] for c in header_candidates(header) if c in norm), None)

    def known_headers(self) -> dict[str, str]:
        """Normalised header → target, for finding the header row."""
        return {norm_header(h): t for h, t in self.columns.items()}


def _spec(d: dict, path: Path) -> ExportSpec:
    where = str(path)
    if not isinstance(d, dict):
        raise ParameterError(f"{where}: a mapping file is a YAML mapping (name:, table:, columns:)")
    unknown = sorted(set(d) - _KEYS)
    if unknown:
        raise ParameterError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
    for k in ("table", "columns"):
        if k not in d:
            raise ParameterError(f"{where}: missing key {k!r}")
    t = get_table(str(d["table"]))
    columns = {str(h): str(c) for h, c in dict(d["columns"]).items()}
    bad = [c for c in columns.values() if c not in t.column_names and c not in ROLES]
    bad += [c for c in dict(d.get("constants") or {}) if c not in t.column_names]
    if bad:
        raise ParameterError(
            f"{where}: {sorted(set(bad))} are not columns of {t.name!r} "
            f"({', '.join(t.column_names)}) nor roles ({', '.join(ROLES)})"
        )
    orders = dict(d.get("orders") or {})
    name = str(d.get("name") or path.stem)
    return ExportSpec(
        name=name,
        platform=str(d.get("platform") or ""),
        title=str(d.get("title") or name),
        table=t.name,
        columns=columns,
        signature=tuple(str(x) for x in d.get("signature") or columns),
        file_names=tuple(str(x) for x in d.get("file_names") or ()),
        absent=tuple(str(x) for x in d.get("absent") or ()),
        dash_zero=bool(d.get("dash_zero", False)),
        date_from_title=bool(d.get("date_from_title", False)),
        lines=bool(d.get("lines", False)),
        sum_amount=bool(d.get("sum_amount", False)),
        closed=tuple(str(x) for x in orders.get("closed") or ()),
        refunded_after_sale=tuple(str(x) for x in orders.get("refunded_after_sale") or ()),
        channels=None if d.get("channels") is None else str(d["channels"]),
        constants=dict(d.get("constants") or {}),
        notes=tuple(" ".join(str(n).split()) for n in d.get("notes") or ()),
        path=where,
    )


def load_export(path: str | Path) -> ExportSpec:
    """Read one mapping file (a built-in one, or a user's ``--map MAP.yaml``)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such mapping file: {path}")
    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path}: not valid YAML: {exc}") from None
    return _spec(d, path)


@lru_cache(maxsize=1)
def _builtin() -> tuple[ExportSpec, ...]:
    return tuple(load_export(p) for p in sorted(SOURCES_DIR.glob("*.yaml")))


def list_exports() -> list[ExportSpec]:
    """The built-in export mappings, sorted by name."""
    return list(_builtin())


def get_export(name: str) -> ExportSpec:
    """The built-in export ``name``; ValueError listing the known names."""
    for s in _builtin():
        if s.name == name:
            return s
    raise ValueError(
        f"unknown export {name!r}; known: {', '.join(s.name for s in _builtin())} "
        "(or describe it with --map MAP.yaml)"
    )


@lru_cache(maxsize=8)
def channel_map(platform: str) -> tuple[tuple[str, str], ...]:
    """(source path, channel) pairs of ``sources/channels/<platform>.yaml``, most specific first."""
    import yaml

    path = SOURCES_DIR / "channels" / f"{platform}.yaml"
    if not path.is_file():
        raise ValueError(f"no traffic-source map {path.name} in {path.parent}")
    d = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return tuple((norm_header(k), str(v)) for k, v in dict(d.get("map") or {}).items())


def map_channel(platform: str, levels: list[str]) -> str | None:
    """The shop channel of a traffic source given as its levels (一级, 二级, 三级), or None.

    Tries ``一级/二级/三级``, then ``一级/二级``, then ``一级``.
    """
    pairs = dict(channel_map(platform))
    parts = [norm_header(x) for x in levels if x]
    for n in range(len(parts), 0, -1):
        hit = pairs.get("/".join(parts[:n]))
        if hit is not None:
            return hit
    return None


def _score(spec: ExportSpec, rows: list[list[str]]) -> tuple[float, int, list[str]]:
    """(share of the signature found, header row index, headers of that row)."""
    sig = {norm_header(h) for h in spec.signature}
    best = (0.0, 0, [])
    for i, row in enumerate(rows):
        cells = {c for cell in row if str(cell).strip() for c in header_candidates(cell)}
        share = len(sig & cells) / max(len(sig), 1)
        if share > best[0]:
            best = (share, i, [str(c) for c in row if str(c).strip()])
    return best


def recognise(path: str | Path, specs: list[ExportSpec] | None = None) -> ExportSpec:
    """The export of ``path``, judged by its header row (≥ 60 % of a signature), the file name
    breaking ties. Raises DataContractError naming the headers seen, the closest export and the
    canonical columns it still misses."""
    path = Path(path)
    rows = peek_rows(path)
    specs = list(specs or _builtin())
    scored = []
    for s in specs:
        share, row, headers = _score(s, rows)
        hint = any(h.lower() in path.name.lower() for h in s.file_names)
        scored.append((share + (0.05 if hint else 0.0), share, row, headers, s))
    scored.sort(key=lambda x: -x[0])
    top = scored[0]
    if top[1] >= 0.6:
        return top[4]
    _, share, row, headers, closest = top
    seen = headers or max(rows, key=lambda r: sum(bool(str(c).strip()) for c in r), default=[])
    mapped = {closest.target(h) for h in seen} - {None}
    if "source_1" in mapped:
        mapped.add("channel")
    if closest.date_from_title:
        mapped.add("date")
    t = get_table(closest.table)
    missing = [
        c.name
        for c in t.columns
        if c.required
        and c.name not in mapped
        and c.name not in closest.constants
        and c.name not in closest.absent
    ]
    raise DataContractError(
        f"{path.name}: not a known export",
        [
            DataProblem(
                path.name,
                row + 1 if headers else None,
                None,
                ", ".join(map(str, seen)) or "(no header row)",
                f"the headers of a known export; closest: {closest.name} ({closest.title}, "
                f"{share:.0%} of its headers), still missing canonical column(s) "
                f"{', '.join(missing) or '(none)'} of {t.name!r}; describe the file with "
                "--map MAP.yaml (header: column) or name the export with --source",
            )
        ],
    )
