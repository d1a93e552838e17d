"""A file checked in bounded chunks and staged in DuckDB: the one path of ``opsnb validate``
and ``opsnb load`` (one verdict: what validates loads).

:func:`stage_file` reads a contract table's file, parses and checks it chunk by chunk with
:func:`opsnb.data.loaders.check_frame` (the same parsers, checks and messages as
:func:`~opsnb.data.loaders.read_file`) and inserts each typed chunk, through Arrow, into a
temporary DuckDB table with the file row of each record (``__row``), or into a Parquet file
that a temporary view reads (``spill``, as the commands do). A chunk of a plain CSV whose
every cell is plain (``2024-06-18``, ``1234.5``) is checked in Arrow compute instead
(:func:`opsnb.data.fastcheck.check_plain`, same values), any other by ``check_frame``.
Checks that span chunks run on the staged rows at the end: a key repeated in two chunks is
reported at its later row, naming the first. Every problem of the file is raised at once, as a
:class:`~opsnb.errors.DataContractError` naming file, row and column.

A plain delimited text file (UTF-8, header on line 1, no title, total or note rows; see
:func:`opsnb.data.rawfiles.plain_csv_layout`) of ``stream_min_bytes`` or more is read by
Arrow's streaming reader in blocks, and a Parquet file by row groups, so memory stays a small
multiple of ``chunk_rows`` rows whatever the size of the file. Exports with title rows or
footers, GBK or UTF-16 text, Excel workbooks, and a text file that turns out not to be plain
(a record that does not fit the header, a cell that is not UTF-8) are read whole by
:func:`opsnb.data.rawfiles.read_raw`, then checked the same way.

Records are numbered as the whole-file reader numbers them: header = row 1, a blank line keeps
its number, Parquet records count from 1.

Example
-------
>>> import duckdb                                                           # doctest: +SKIP
>>> con = duckdb.connect()                                                  # doctest: +SKIP
>>> staged = stage_file(con, "daily.csv", "daily_metrics")                  # doctest: +SKIP
>>> staged.rows, con.execute(f"SELECT count(*) FROM {staged.relation}").fetchone()  # doctest: +SKIP
(3650, (3650,))
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.data.cells import drop_blank_records
from opsnb.data.fastcheck import check_plain
from opsnb.data.loaders import (
    bad_line_error,
    canonical_dtypes,
    check_frame,
    contract_error,
    duplicate_problem,
    known_headers,
    map_headers,
    read_raw_rows,
    warn_checked,
)
from opsnb.data.rawfiles import BadLine, CsvLayout, plain_csv_layout
from opsnb.data.schemas import Table, get_table
from opsnb.errors import DataProblem

__all__ = ["CHUNK_ROWS", "CHUNK_BYTES", "STREAM_MIN_BYTES", "STAGE", "StagedFile", "stage_file"]

CHUNK_ROWS = 131_072
"""Records parsed and checked at a time."""

STREAM_MIN_BYTES = 8 << 20
"""Plain CSV and Parquet files from this size on are read in chunks (smaller ones whole)."""

STAGE = "__opsnb_stage"
"""The temporary DuckDB table holding the typed rows of the staged file."""

CHUNK_BYTES = 4 << 20
"""Bytes of text read at a time from a plain CSV."""


@dataclass(frozen=True)
class StagedFile:
    """A file checked and staged: ``relation`` (temporary table) holds its typed ``columns``
    plus ``__row`` (the file row of each record), ``rows`` records in all; ``empty_columns``
    have no value at all; ``chunks`` says how many chunks it was read in (1: whole)."""

    source: str
    table: str
    relation: str
    columns: tuple[str, ...]
    rows: int
    empty_columns: tuple[str, ...]
    chunks: int


class _NotPlain(Exception):
    """The text file is not plain after all: read it whole."""


def _read_block(block: bytes, layout: CsvLayout, line: int, serial: bool = False):
    """Arrow table (every cell text, empty cells null) of ``block`` (whole lines, the first
    being file line ``line``) and the file lines of its blank records (spaces only).

    A big block is parsed in two halves on two threads; Arrow numbers the line of a record
    that does not fit only when it parses alone, so such a block is parsed again ``serial``."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = list(layout.header)
    blanks: list[int] = []
    state: dict[str, object] = {}
    serial = serial or len(block) < 1 << 20  # halves of a small block are not worth a thread

    def invalid(row) -> str:
        if row.number is None:
            state["again"] = True
        elif not row.text.strip():
            blanks.append(line + row.number - 1)  # a blank record, as the whole-file reader has it
            return "skip"
        elif row.actual_columns > row.expected_columns:
            if '"' not in row.text:
                state["bad"] = BadLine(
                    line + row.number - 1, row.expected_columns, row.actual_columns
                )
        return "error"

    try:
        table = pcsv.read_csv(
            pa.py_buffer(block),
            read_options=pcsv.ReadOptions(
                column_names=names,
                block_size=len(block) + 1 if serial else len(block) // 2 + 1,
                use_threads=not serial,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=layout.sep,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=invalid,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in names},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        if "again" in state:
            return _read_block(block, layout, line, serial=True)
        if "bad" in state:
            raise state["bad"] from None  # a line with more fields than the header
        raise _NotPlain() from None  # a short record, a multi-line cell, not UTF-8: read whole
    return table, blanks


def _csv_chunks(path: Path, layout: CsvLayout, chunk_rows: int, chunk_bytes: int) -> Iterator:
    """(raw cells as text in an Arrow table, file rows) of a plain CSV: ``chunk_bytes`` of
    whole lines read at a time, handed on ``chunk_rows`` records at a time. Lines are counted
    in the bytes, so every record keeps its file row (header = row 1, a blank line keeps its
    number)."""
    names = list(layout.header)
    none = True
    with open(path, "rb") as f:
        f.readline()  # the header, line 1
        line, rest = 2, b""
        while True:
            data = f.read(chunk_bytes)
            buf = rest + data
            if not data:
                if not buf:
                    break
                block, rest = buf, b""
            else:
                cut = buf.rfind(b"\n")
                if cut < 0:
                    if len(buf) > 64 * chunk_bytes:
                        raise _NotPlain()  # no line ends (a file of bare CR)
                    rest = buf
                    continue
                block, rest = buf[: cut + 1], buf[cut + 1 :]
            n_lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
            table, blanks = _read_block(block, layout, line)
            del block, buf
            rows = np.arange(line, line + n_lines, dtype=np.int64)
            if blanks:
                rows = rows[~np.isin(rows, blanks)]
            if len(rows) != table.num_rows:
                raise _NotPlain()  # a bare CR inside a line: records and lines differ
            line += n_lines
            for lo in range(0, table.num_rows, chunk_rows):
                none = False
                yield table.slice(lo, chunk_rows), rows[lo : lo + chunk_rows]
            del table
    if none:  # a header without records: checked all the same
        yield pd.DataFrame({n: pd.Series([], dtype="str") for n in names}), np.arange(0)


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    import pyarrow.parquet as pq

    start, pf = 1, pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=chunk_rows):
        frame = batch.to_pandas()
        yield frame, np.arange(start, start + len(frame), dtype=np.int64)
        start += len(frame)
    if start == 1:
        yield pf.schema_arrow.empty_table().to_pandas(), np.arange(0, dtype=np.int64)


def _whole(path: Path, t: Table, source: str, sheet) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    yield read_raw_rows(path, t, source, sheet)


def _frame_of(cells) -> pd.DataFrame:
    """The pandas frame of raw text cells read by Arrow (columns named as in the file)."""
    return pd.DataFrame(
        {n: cells.column(i).to_pandas() for i, n in enumerate(cells.column_names)}, copy=False
    )


class _Sink:
    """Where the typed chunks go: the temporary table :data:`STAGE`, or (``spill`` a folder)
    one Parquet file there that :data:`STAGE` then names as a view. Parquet is written with
    pyarrow on the insert thread and read by DuckDB in parallel: no uncompressed temporary
    table spilled past the memory limit and read back."""

    def __init__(self, con, spill: Path | None):
        self.con, self.path, self.writer = con, None, None
        if spill is not None:
            self.path = Path(spill) / f"{STAGE}.parquet"

    def add(self, chunk, first: bool, keys: tuple[str, ...]) -> np.ndarray | None:
        """Stage typed ``chunk`` (an Arrow table or a pandas frame); return the 64-bit hash
        of each row's key (rows with a missing key part left out) when ``keys`` are given,
        computed by DuckDB on the chunk."""
        import pyarrow as pa

        if isinstance(chunk, pd.DataFrame):
            chunk = pa.Table.from_pandas(chunk, preserve_index=False)
        con = self.con
        if first:
            _drop_stage(con)
        if self.path is not None:
            import pyarrow.parquet as pq

            if self.writer is None:
                schema = chunk.schema.remove_metadata()
                # plain and uncompressed: written in a tenth of the time, read back once
                self.writer = pq.ParquetWriter(
                    self.path,
                    schema,
                    compression="none",
                    use_dictionary=False,
                    write_statistics=False,
                )
            self.writer.write_table(chunk.cast(self.writer.schema))
        con.register("__opsnb_chunk", chunk)
        try:
            if self.path is None and first:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGE} AS SELECT * FROM __opsnb_chunk")
            elif self.path is None:
                con.execute(f"INSERT INTO {STAGE} BY NAME SELECT * FROM __opsnb_chunk")
            if not keys:
                return None
            return con.execute(
                f"SELECT hash({', '.join(_q(k) for k in keys)}) AS h FROM __opsnb_chunk WHERE "
                + " AND ".join(f"{_q(k)} IS NOT NULL" for k in keys)
            ).fetchnumpy()["h"]
        finally:
            con.unregister("__opsnb_chunk")

    def close(self, ok: bool) -> None:
        """Finish the Parquet file; when ``ok``, name it :data:`STAGE`."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if ok and self.path is not None:
            where = str(self.path).replace("'", "''")
            self.con.execute(
                f"CREATE OR REPLACE TEMP VIEW {STAGE} AS SELECT * FROM read_parquet('{where}')"
            )


def _drop_stage(con) -> None:
    """Drop :data:`STAGE` of an earlier file on ``con``, a temporary table or view."""
    views = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE temporary AND view_name = ?", [STAGE]
    ).fetchall()[0][0]
    con.execute(f"DROP {'VIEW' if views else 'TABLE'} IF EXISTS temp.{STAGE}")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _may_repeat(hashes: list[np.ndarray]) -> bool:
    """Whether two rows may share a key: equal hashes (8 bytes a row are kept for this), so
    the exact check on the staged rows runs only for a file with a repeated key."""
    if not hashes:
        return False
    h = np.concatenate(hashes)
    hashes.clear()
    h.sort()
    return bool(len(h) > 1 and (h[1:] == h[:-1]).any())


def _duplicates(con, t: Table, source: str, flagged: set[tuple[int, str]]) -> list[DataProblem]:
    """Later rows repeating a key, across every chunk (rows with a missing or bad key cell are
    reported on their own), each naming the first row of its key."""
    keys = ", ".join(_q(k) for k in t.unique)
    hits = con.execute(
        f"WITH d AS (SELECT {keys}, min(__row) AS __first FROM {STAGE} WHERE "
        + " AND ".join(f"{_q(k)} IS NOT NULL" for k in t.unique)
        + " GROUP BY ALL HAVING count(*) > 1) SELECT s.__row, d.__first, "
        + ", ".join(f"s.{_q(k)}" for k in t.unique)
        + f" FROM {STAGE} s JOIN d USING ({keys}) WHERE s.__row > d.__first ORDER BY s.__row"
    ).fetchall()
    return [
        duplicate_problem(t, source, int(row), list(key), int(first))
        for row, first, *key in hits
        if not any((int(row), k) in flagged for k in t.unique)
    ]


def stage_file(
    con,
    path: str | Path,
    table: str,
    *,
    sheet: str | int | None = None,
    chunk_rows: int | None = None,
    chunk_bytes: int | None = None,
    stream_min_bytes: int | None = None,
    spill: str | Path | None = None,
) -> StagedFile:
    """Check file ``path`` against contract ``table`` and stage its typed rows in the temporary
    table :data:`STAGE` of DuckDB connection ``con`` (replaced if there), or, given a folder
    ``spill``, in a Parquet file there that the temporary view :data:`STAGE` reads (faster for
    a big file; the caller removes the folder once done with the staged rows).

    Plain CSV and Parquet files of ``stream_min_bytes`` (default :data:`STREAM_MIN_BYTES`) or
    more are read in chunks (``chunk_bytes`` of text, then at most ``chunk_rows`` records at a
    time; defaults :data:`CHUNK_BYTES`, :data:`CHUNK_ROWS`); other files whole. Warns (dropped columns, invisible characters
    removed) as :func:`~opsnb.data.loaders.read_file` does, once per file. Raises
    :class:`~opsnb.errors.DataContractError` listing every problem, by file row; the staged
    table is then left incomplete (drop it, or roll back the caller's transaction).
    """
    chunk_rows = CHUNK_ROWS if chunk_rows is None else chunk_rows
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    stream_min_bytes = STREAM_MIN_BYTES if stream_min_bytes is None else stream_min_bytes
    if chunk_rows < 1 or chunk_bytes < 1:
        raise ValueError(
            f"chunk_rows and chunk_bytes must be positive, got {chunk_rows!r} and {chunk_bytes!r}"
        )
    t = get_table(table)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    source = path.name
    spill = None if spill is None else Path(spill)
    big = path.stat().st_size >= stream_min_bytes
    suffix = path.suffix.lower()
    layout = plain_csv_layout(path, known_headers(t)) if big else None
    if layout is not None and not t.extra_columns:
        try:
            return _stage(con, t, source, _csv_chunks(path, layout, chunk_rows, chunk_bytes), spill)
        except BadLine as exc:
            raise bad_line_error(source, exc) from None
        except _NotPlain:
            pass
    elif big and suffix in (".parquet", ".pq") and not t.extra_columns:
        return _stage(con, t, source, _parquet_chunks(path, chunk_rows), spill)
    return _stage(con, t, source, _whole(path, t, source, sheet), spill)


@dataclass
class _State:
    """What the chunks of one file have told so far."""

    problems: list[DataProblem] = field(default_factory=list)
    flagged: set[tuple[int, str]] = field(default_factory=set)
    dropped: list[str] = field(default_factory=list)
    changed: dict[str, tuple[int, int, str, str]] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    filled: dict[str, bool] = field(default_factory=dict)
    hashes: list[np.ndarray] = field(default_factory=list)
    mapping: dict[str, str] | None = None


def _plain_chunk(cells, rows, t: Table, source: str, first: bool, state: _State):
    """The typed Arrow table (with ``__row``) of a chunk of text cells read by Arrow when it is
    plain (:func:`~opsnb.data.fastcheck.check_plain`), else None."""
    import pyarrow as pa

    if state.mapping is None:
        mapping, unknown, problems = map_headers(
            pd.DataFrame(columns=cells.column_names), t, source
        )
        state.mapping = {} if problems else {str(h): n for h, n in mapping.items()}
        state.dropped = [str(h) for h in unknown if str(h).strip()]
    typed = check_plain(cells, t, state.mapping) if state.mapping else None
    if typed is None:
        return None
    state.columns = tuple(typed.column_names)
    for c in state.columns:
        state.filled[c] = state.filled.get(c, False) or typed.column(c).null_count < len(typed)
    return typed.append_column("__row", pa.array(rows, pa.int64()))


def _checked_chunk(frame, rows, t: Table, source: str, first: bool, state: _State):
    """One chunk parsed and checked (its findings added to ``state``), typed, with ``__row``:
    an Arrow table for a plain chunk of text cells, else a pandas frame."""
    if not isinstance(frame, pd.DataFrame):
        typed = _plain_chunk(frame, rows, t, source, first, state)
        if typed is not None:
            return typed
        frame = _frame_of(frame)
    frame, rows = drop_blank_records(frame, rows)
    checked = check_frame(frame, t, source, rows, unique=False, headers=first)
    state.problems += checked.problems
    state.flagged |= checked.flagged
    if first:
        state.dropped = checked.dropped
    for name, (k, row, before, after) in checked.changed.items():
        k0, row0, before0, after0 = state.changed.get(name, (0, row, before, after))
        state.changed[name] = (k0 + k, row0, before0, after0)
    typed = canonical_dtypes(checked.typed.reset_index(drop=True), t)
    state.columns = tuple(typed.columns)
    for c in state.columns:
        state.filled[c] = state.filled.get(c, False) or bool(typed[c].notna().any())
    typed["__row"] = rows
    return typed


def _stage(con, t: Table, source: str, chunks, spill: Path | None) -> StagedFile:
    state = _State()
    n = n_chunks = 0
    # DuckDB inserts one chunk (it releases the GIL) while the next is parsed and checked
    pool = ThreadPoolExecutor(1, thread_name_prefix="opsnb-stage")
    pending = None
    keys: tuple[str, ...] | None = None
    sink, ok = _Sink(con, spill), False

    def done(pending) -> None:
        h = pending.result()
        if h is not None:
            state.hashes.append(h)

    try:
        for frame, rows in chunks:
            typed = _checked_chunk(frame, rows, t, source, n_chunks == 0, state)
            if keys is None:
                keys = tuple(t.unique) if all(k in state.columns for k in t.unique) else ()
            if pending is not None:
                done(pending)
            pending = pool.submit(sink.add, typed, n_chunks == 0, keys)
            n += len(typed)
            n_chunks += 1
        if pending is not None:
            done(pending)
        ok = True
    finally:
        pool.shutdown(wait=True)
        sink.close(ok and n_chunks > 0)
    warn_checked(t, source, state.dropped, state.changed, stacklevel=5)
    problems = state.problems
    if t.unique and all(k in state.columns for k in t.unique) and _may_repeat(state.hashes):
        problems += _duplicates(con, t, source, state.flagged)
    if problems:
        raise contract_error(t, source, problems)
    empty = tuple(c for c in state.columns if not state.filled[c])
    return StagedFile(source, t.name, STAGE, state.columns, n, empty, n_chunks)
