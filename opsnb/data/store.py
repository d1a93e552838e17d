"""The DuckDB store: one embedded file holding the canonical tables of :mod:`opsnb.data.schemas`.

* :func:`open_store` connects (read-only for the many readers, read-write for the single
  writer), retrying with back-off while another process holds the lock.
* :func:`write_table` validates a contract table (through :mod:`opsnb.data`) and writes it in
  one transaction by key (upsert: inserted / updated / unchanged counted in a
  :class:`WriteResult`), or appends it, or replaces the whole table.
* :func:`backup_table` keeps a timestamped Parquet copy of a table before a destructive write.
* :func:`read_table` reads rows by date range, channel and columns, with canonical dtypes.
* :func:`store_summary` lists the tables with their row counts and date ranges.

Concurrency: any number of processes may read the store at once through
``open_store(read_only=True)`` (papermill workers do); writing needs a single writer and no open
readers, because DuckDB locks the file for a read-write connection. Close writers promptly.

Example
-------
>>> con = open_store(); write_table(con, "daily_metrics", df).summary()  # doctest: +SKIP
'5 inserted, 0 updated, 0 unchanged'
>>> week = read_table(con, "daily_metrics", start="2025-11-01", end="2025-11-07")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from opsnb.data.loaders import canonical_dtypes, conform, show_value
from opsnb.data.schemas import Table
from opsnb.errors import DataContractError, DataProblem, OpsnbError
from opsnb.results import Result

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

__all__ = [
    "open_store",
    "write_table",
    "write_staged",
    "WriteResult",
    "backup_table",
    "read_table",
    "store_summary",
    "list_tables",
    "table_columns",
    "quote_ident",
]


def open_store(
    path: str | Path | None = None, *, read_only: bool = False, wait: float = 60.0
) -> duckdb.DuckDBPyConnection:
    """Connect to the DuckDB store (default :func:`opsnb.config.default_db_path`).

    ``read_only=True`` for readers (many processes at once); a read-write connection creates the
    file and its folder and must be the only connection to the file while it is open. While
    another process holds a conflicting lock, retries with back-off for up to ``wait`` seconds.
    """
    import duckdb

    from opsnb.config import default_db_path

    p = Path(path) if path else default_db_path()
    if read_only and not p.is_file():
        raise FileNotFoundError(f"no store at {p}: run `opsnb demo` or `opsnb load TABLE FILE`")
    if not read_only:
        p.parent.mkdir(parents=True, exist_ok=True)
    import random
    import time

    deadline = time.monotonic() + wait
    pause = 0.05
    while True:
        try:
            con = duckdb.connect(str(p), read_only=read_only)
            # no progress bar: in a notebook a long query would print one into the report
            con.execute("SET enable_progress_bar = false")
            return con
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() + pause > deadline:
                raise OpsnbError(
                    f"the store {p} stayed locked for {wait:g} s by another process (DuckDB allows "
                    "one writer, or many read-only readers); retry when it has finished: "
                    f"{exc}"
                ) from None
            # another process is writing (e.g. a run appending to the ledger): wait, then retry
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 1.0)


def quote_ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def list_tables(con) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_catalog = current_database() ORDER BY table_name"
        ).fetchall()
    ]


def table_columns(con, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND table_catalog = current_database() AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]


def _select_list(columns, t: Table | None) -> str:
    parts = []
    for c in columns:
        col = None
        if t is not None and c in t.column_names:
            col = t.column(c)
        if col is not None and col.dtype == "date":
            parts.append(f"CAST({quote_ident(c)} AS DATE) AS {quote_ident(c)}")
        else:
            parts.append(quote_ident(c))
    return ", ".join(parts)


def _check_store_duplicates(con, t: Table, relation: str, source: str) -> None:
    """Refuse the rows of ``relation`` (keys and ``__row``) whose key is already stored."""
    key = list(t.unique)
    cond = " AND ".join(
        f"s.{quote_ident(k)} = "
        + (
            f"CAST(n.{quote_ident(k)} AS DATE)"
            if t.column(k).dtype == "date"
            else f"n.{quote_ident(k)}"
        )
        for k in key
    )
    hits = con.execute(
        f"SELECT {', '.join(f'n.{quote_ident(k)}' for k in key)}, n.__row FROM {relation} n "
        f"WHERE EXISTS (SELECT 1 FROM {quote_ident(t.name)} s WHERE {cond}) ORDER BY n.__row"
    ).df()
    if len(hits):
        problems = [
            DataProblem(
                source,
                int(h["__row"]),
                ", ".join(key),
                ", ".join(str(show_value(h[k])) for k in key),
                f"a ({', '.join(key)}) not already in the store table "
                f"{t.name!r} (re-import to update (upsert): `opsnb import` or `opsnb load`)",
            )
            for _, h in hits.iterrows()
        ]
        raise DataContractError(
            f"{source}: {len(problems)} row(s) already in the store table {t.name!r}", problems
        )


@dataclass(frozen=True)
class WriteResult(Result):
    """What :func:`write_table` did to one table, counted in rows.

    ``inserted`` new keys, ``updated`` stored keys whose values changed, ``unchanged`` stored
    keys given again with the same values (nothing written), ``removed`` rows dropped by
    ``mode="replace"`` (the table's rows before), ``total`` rows in the table afterwards,
    ``widened`` columns whose stored type was widened (integer → double) to hold the new values
    exactly.
    """

    table: str
    mode: str
    inserted: int
    updated: int
    unchanged: int
    removed: int
    total: int
    widened: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        """Rows of the frame that was written (inserted + updated + unchanged)."""
        return self.inserted + self.updated + self.unchanged

    def summary(self) -> str:
        """'3 inserted, 1 updated, 2 unchanged' (plus 'N removed' after a replace)."""
        parts = [
            f"{self.inserted} inserted",
            f"{self.updated} updated",
            f"{self.unchanged} unchanged",
        ]
        if self.removed:
            parts.append(f"{self.removed} removed")
        return ", ".join(parts)


_INT_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT")
_INT_TYPES += ("UINTEGER", "UBIGINT")
_FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")


def _family(duck_type: str) -> str:
    t = duck_type.upper()
    if t in _INT_TYPES:
        return "int"
    if t in _FLOAT_TYPES or t.startswith("DECIMAL"):
        return "float"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    return t


def _conform_columns(
    con, table: str, t: Table | None, columns: list[str], empty: set[str], source: str
) -> tuple:
    """Add new columns and check (or safely widen) the stored types of the frame's columns.

    Never rounds: an integer column receiving fractions is widened to DOUBLE; values of another
    kind (text into a number column, ...) are refused naming the column.
    """
    stored = {r[0]: r[1] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()}
    new = {
        r[0]: r[1]
        for r in con.execute(
            f"DESCRIBE SELECT {_select_list(columns, t)} FROM __opsnb_new"
        ).fetchall()
    }
    widened, problems = [], []
    for c in columns:
        if c not in stored:
            con.execute(f"ALTER TABLE {quote_ident(table)} ADD COLUMN {quote_ident(c)} {new[c]}")
            continue
        have, got = _family(stored[c]), _family(new[c])
        if have == got or c in empty:
            continue
        if have == "int" and got == "float":
            con.execute(f"ALTER TABLE {quote_ident(table)} ALTER {quote_ident(c)} TYPE DOUBLE")
            widened.append(c)
        elif have == "float" and got == "int":
            continue  # exact below 2**53, which the parser enforces for counts
        elif {have, got} == {"DATE", "timestamp"} and (t is None or c not in t.column_names):
            continue
        else:
            problems.append(
                DataProblem(
                    source,
                    None,
                    c,
                    f"values of type {new[c]}",
                    f"values that fit the column as stored ({stored[c]}); "
                    "they are never cast with a loss: fix the file, or rename the column",
                )
            )
    if problems:
        raise DataContractError(
            f"{source}: {len(problems)} column(s) do not fit the store table {table!r}", problems
        )
    return tuple(widened)


def _upsert(
    con, table: str, t: Table | None, key: list[str], columns: list[str], positioned: bool
) -> tuple:
    """(inserted, updated, unchanged) after writing ``__opsnb_new`` by key into ``table``.

    ``positioned``: ``__opsnb_new`` already has the stored types and a unique ``__opsnb_pos``
    (a staged file), so it is read as it is instead of copied."""
    q = quote_ident
    n_rel = "__opsnb_new" if positioned else "__opsnb_n"
    if not positioned:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE __opsnb_n AS SELECT {_select_list(columns, t)}, "
            "row_number() OVER () AS __opsnb_pos FROM __opsnb_new"
        )
    match = " AND ".join(f"s.{q(k)} = n.{q(k)}" for k in key)
    same = " AND ".join(f"s.{q(c)} IS NOT DISTINCT FROM n.{q(c)}" for c in columns)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __opsnb_status AS SELECT n.__opsnb_pos AS pos, "
        f"count(s.{q(key[0])}) AS hits, coalesce(bool_and({same}), false) AS same "
        f"FROM {n_rel} n LEFT JOIN {q(table)} s ON {match} GROUP BY n.__opsnb_pos"
    )
    ins, upd, unch = con.execute(
        "SELECT count(*) FILTER (WHERE hits = 0), count(*) FILTER (WHERE hits > 0 AND NOT same), "
        "count(*) FILTER (WHERE hits > 0 AND same) FROM __opsnb_status"
    ).fetchall()[0]
    sets = [c for c in columns if c not in key]
    if upd and sets:
        tmatch = " AND ".join(f"{q(table)}.{q(k)} = u.{q(k)}" for k in key)
        con.execute(
            f"UPDATE {q(table)} SET "
            + ", ".join(f"{q(c)} = u.{q(c)}" for c in sets)
            + f" FROM (SELECT n.* FROM {n_rel} n JOIN __opsnb_status st ON st.pos = "
            f"n.__opsnb_pos WHERE st.hits > 0 AND NOT st.same) u WHERE {tmatch}"
        )
    if ins:
        cols = ", ".join(f"n.{q(c)}" for c in columns)
        con.execute(
            f"INSERT INTO {q(table)} BY NAME SELECT {cols} FROM {n_rel} n JOIN __opsnb_status "
            "st ON st.pos = n.__opsnb_pos WHERE st.hits = 0"
        )
    if not positioned:
        con.execute("DROP TABLE __opsnb_n")
    con.execute("DROP TABLE __opsnb_status")
    return int(ins), int(upd), int(unch)


def write_table(
    con,
    table: str,
    df: pd.DataFrame,
    *,
    mode: Literal["upsert", "append", "replace"] = "upsert",
    validate: bool = True,
    source: str = "<frame>",
    first_row: int = 2,
    rows: Iterable[int] | None = None,
    key: Iterable[str] | None = None,
    atomic: bool = True,
) -> WriteResult:
    """Write ``df`` into store table ``table`` in one transaction; return a :class:`WriteResult`.

    Contract tables are validated first (``validate=False`` for other tables such as
    ``ledger`` or ``demo_anomalies``). Modes:

    * ``"upsert"`` (default): rows whose key (the contract's ``unique``, or ``key``) is not
      stored are inserted, stored keys with other values are updated, the same rows given
      again are counted as unchanged and nothing is written: loading a file twice changes
      nothing, re-importing an overlapping export updates the overlap.
    * ``"append"``: adds rows, refusing rows whose key is already stored.
    * ``"replace"``: replaces the whole table (``removed`` counts the rows it had).

    The stored column types are kept: an integer column receiving fractions is widened to
    DOUBLE, values of another kind are refused; nothing is rounded. Needs a read-write
    connection (single writer). ``source`` and ``first_row`` (or ``rows``, one file row per
    frame row) name the rows in error messages, as in :func:`validate`. ``atomic=False`` when
    the caller holds a transaction around several writes (``opsnb import``).
    """
    if mode not in ("upsert", "replace", "append"):
        raise ValueError(f"mode must be 'upsert', 'append' or 'replace', got {mode!r}")
    from opsnb.data.schemas import TABLES

    t = TABLES.get(table)
    rows = np.arange(first_row, first_row + len(df)) if rows is None else np.asarray(rows)
    if len(rows) != len(df):
        raise ValueError(f"rows has {len(rows)} numbers for {len(df)} rows")
    if validate:
        if t is None:
            raise ValueError(
                f"{table!r} is not a contract table ({', '.join(TABLES)}); "
                "pass validate=False to store it as is"
            )
        df = conform(df, t, source, rows, stacklevel=4)
    keys = list(key) if key is not None else list(t.unique) if t is not None else []
    if mode == "upsert" and (not keys or not all(k in df.columns for k in keys)):
        raise ValueError(
            f"mode='upsert' needs the key columns of {table!r} in the frame "
            f"(key: {keys or 'none'}); pass key=... or mode='append'/'replace'"
        )
    keys_frame = None
    if mode == "append" and t is not None and t.unique and all(k in df.columns for k in t.unique):
        keys_frame = df[list(t.unique)].assign(__row=rows)
    stored = _stored_rows(con, table)
    con.register("__opsnb_new", df)
    if keys_frame is not None:
        con.register("__opsnb_keys", keys_frame)
    try:
        empty = {c for c in df.columns if df[c].isna().all()}
        return _write(
            con,
            table,
            t,
            list(df.columns),
            empty,
            len(df),
            mode,
            keys,
            source,
            atomic,
            "__opsnb_keys" if keys_frame is not None else None,
            stored,
        )
    finally:
        con.unregister("__opsnb_new")
        if keys_frame is not None:
            con.unregister("__opsnb_keys")


def write_staged(
    con,
    staged,
    *,
    mode: Literal["upsert", "append", "replace"] = "upsert",
    atomic: bool = True,
) -> WriteResult:
    """Write a file staged by :func:`opsnb.data.staging.stage_file` on ``con`` (already
    checked against its contract) into its store table, as :func:`write_table` writes a frame.

    Call it in the transaction that staged the file, so that a load is all or nothing.
    """
    if mode not in ("upsert", "replace", "append"):
        raise ValueError(f"mode must be 'upsert', 'append' or 'replace', got {mode!r}")
    from opsnb.data.schemas import TABLES

    t = TABLES[staged.table]
    columns = list(staged.columns)
    keys = list(t.unique)
    if mode == "upsert" and (not keys or not all(k in columns for k in keys)):
        raise ValueError(
            f"mode='upsert' needs the key columns of {staged.table!r} in the file "
            f"(key: {keys or 'none'}); use mode='append' or 'replace'"
        )
    stored = _stored_rows(con, staged.table)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW __opsnb_new AS SELECT {_select_list(columns, t)}, "
        f"__row AS __opsnb_pos FROM {staged.relation}"
    )
    try:
        dup_check = staged.relation if all(k in columns for k in keys) else None
        return _write(
            con,
            staged.table,
            t,
            columns,
            set(staged.empty_columns),
            staged.rows,
            mode,
            keys,
            staged.source,
            atomic,
            dup_check,
            stored,
            positioned=True,
        )
    finally:
        con.execute("DROP VIEW IF EXISTS __opsnb_new")


def _stored_rows(con, table: str) -> tuple[bool, int]:
    """(the table exists, its row count); run before registering a frame (it also finishes a
    result the caller left unfetched, which DuckDB requires before a registration)."""
    exists = table in list_tables(con)
    before = (
        con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0] if exists else 0
    )
    return exists, int(before)


def _write(
    con,
    table,
    t,
    columns,
    empty,
    n,
    mode,
    keys,
    source,
    atomic,
    dup_check,
    stored,
    positioned=False,
) -> WriteResult:
    """Write relation ``__opsnb_new`` (``columns``, ``n`` rows) into ``table``; ``dup_check``
    names a relation of keys and ``__row`` to refuse stored keys with (append); ``stored`` is
    :func:`_stored_rows` of ``table``."""
    exists, before = stored
    ins = upd = unch = removed = 0
    widened: tuple[str, ...] = ()
    if atomic:
        con.execute("BEGIN TRANSACTION")
    try:
        if mode in ("append", "upsert") and exists:
            if mode == "append" and dup_check is not None:
                _check_store_duplicates(con, t, dup_check, source)
            widened = _conform_columns(con, table, t, columns, empty, source)
            if mode == "upsert":
                ins, upd, unch = _upsert(con, table, t, keys, columns, positioned)
            else:
                con.execute(
                    f"INSERT INTO {quote_ident(table)} BY NAME SELECT "
                    f"{_select_list(columns, t)} FROM __opsnb_new"
                )
                ins = n
        else:
            con.execute(
                f"CREATE OR REPLACE TABLE {quote_ident(table)} AS SELECT "
                f"{_select_list(columns, t)} FROM __opsnb_new"
            )
            ins, removed = n, int(before)
        total = con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0]
        if atomic:
            con.execute("COMMIT")
    except BaseException:
        if atomic:
            con.execute("ROLLBACK")
        raise
    return WriteResult(table, mode, ins, upd, unch, removed, int(total), widened)


def backup_table(con, table: str, folder: str | Path) -> Path:
    """Copy store table ``table`` to ``folder/<table>-<YYYYmmdd-HHMMSS>.parquet``; return the path.

    Taken before a destructive write (``opsnb load --replace``); load it back with
    ``opsnb load TABLE FILE.parquet --replace --yes``.
    """
    from datetime import datetime

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"{table}-{stamp}.parquet"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{table}-{stamp}-{n}.parquet"
    con.execute(
        f"COPY (SELECT * FROM {quote_ident(table)}) TO '{str(path).replace(chr(39), chr(39) * 2)}' "
        "(FORMAT PARQUET)"
    )
    return path


def _as_date(x) -> date:
    try:
        return pd.Timestamp(x).date()
    except (ValueError, TypeError):
        raise ValueError(f"not a date: {x!r} (write 2025-11-01)") from None


def read_table(
    con,
    table: str,
    *,
    start=None,
    end=None,
    channels: Iterable[str] | str | None = None,
    columns: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Rows of store table ``table`` with ``start <= time column <= end`` (inclusive dates; a
    date-time column takes the whole end day) and ``channel`` in ``channels``.

    ``columns`` selects columns (default all). Contract tables come back with canonical dtypes,
    sorted by their time column and key. Raises ValueError for an unknown table or column.
    """
    from opsnb.data.schemas import TABLES

    have = table_columns(con, table)
    if not have:
        raise ValueError(
            f"no table {table!r} in the store; tables: "
            f"{', '.join(list_tables(con)) or '(none: run `opsnb demo` or `opsnb load`)'}"
        )
    t = TABLES.get(table)
    cols = list(columns) if columns is not None else have
    missing = [c for c in cols if c not in have]
    if missing:
        raise ValueError(f"table {table!r} has no column(s) {missing}; columns: {have}")
    time_col = t.time_column if t is not None else ("date" if "date" in have else None)
    where, params = [], []
    if start is not None or end is not None:
        if time_col is None or time_col not in have:
            raise ValueError(f"table {table!r} has no time column to filter by date")
        if start is not None:
            where.append(f"{quote_ident(time_col)} >= ?")
            params.append(_as_date(start))
        if end is not None:
            where.append(f"{quote_ident(time_col)} < ?")
            params.append(_as_date(end) + timedelta(days=1))
    if channels is not None:
        if "channel" not in have:
            raise ValueError(f"table {table!r} has no channel column")
        chans = [channels] if isinstance(channels, str) else list(channels)
        if not chans:
            return read_table(con, table, columns=cols).iloc[0:0]
        where.append(f"channel IN ({', '.join('?' * len(chans))})")
        params.extend(chans)
    order = [c for c in ([time_col] if time_col else []) + list(t.unique if t else ()) if c in have]
    sql = (
        f"SELECT {', '.join(quote_ident(c) for c in cols)} FROM {quote_ident(table)}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + (f" ORDER BY {', '.join(quote_ident(c) for c in dict.fromkeys(order))}" if order else "")
    )
    df = con.execute(sql, params).df()
    return canonical_dtypes(df, t) if t is not None else df


def store_summary(con) -> pd.DataFrame:
    """One row per store table: ``table, rows, first_date, last_date`` (dates of its time
    column, NaT when it has none)."""
    from opsnb.data.schemas import TABLES

    out = []
    for name in list_tables(con):
        have = table_columns(con, name)
        t = TABLES.get(name)
        tc = (
            t.time_column
            if t is not None
            else next((c for c in ("date", "start", "month") if c in have), None)
        )
        if tc in have:
            n, lo, hi = con.execute(
                f"SELECT count(*), CAST(min({quote_ident(tc)}) AS DATE), "
                f"CAST(max({quote_ident(tc)}) AS DATE) FROM {quote_ident(name)}"
            ).fetchone()
        else:
            n, lo, hi = (
                con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0],
                None,
                None,
            )
        out.append({"table": name, "rows": int(n), "first_date": lo, "last_date": hi})
    df = pd.DataFrame(out, columns=["table", "rows", "first_date", "last_date"])
    for c in ("first_date", "last_date"):
        df[c] = pd.to_datetime(df[c]).astype("datetime64[us]")
    return df
