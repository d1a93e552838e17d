"""Columnar file I/O for the command-line tools: CSV read by Arrow, CSV and Parquet written by Arrow.

The commands that stream a whole file (``opsnb detect``, ``opsnb rfm``, ``opsnb cohorts``) read
and write millions of rows; pandas' CSV writer formats floats one Python object at a time and
its reader builds a Python string per cell. Here Arrow reads the file on all cores and only the
distinct spellings of a column go through :mod:`opsnb.data.parsing` (the same parsers, so a cell
is read exactly as the loaders read it and a bad one is still named by file, row and column).

:func:`read_csv_columns`
    Chosen columns of a comma-separated text file (UTF-8, UTF-8 with BOM, GBK/GB18030,
    UTF-16): columns Arrow reads as plain numbers stay numbers, every other column is
    dictionary-encoded text (each distinct cell once). Returns None when Arrow cannot read
    the file as a plain CSV (ragged rows, duplicate or missing headers): the caller then takes
    its pandas path, whose messages name the problem.
:func:`parse_dates_coded`, :func:`parse_numbers_coded`
    :func:`opsnb.data.parsing.parse_dates` / :func:`~opsnb.data.parsing.parse_numbers` on the
    distinct cells of such a column, expanded to every row (same values, same problems).
:func:`write_frame`
    A frame to ``.parquet`` (Arrow) or CSV (Arrow's writer; cells spelled as pandas'
    ``to_csv`` reads them back: dates without a time when every value is at midnight, empty
    for missing, True/False; floats in the shortest form that reads back the same number).

Examples
--------
>>> import pandas as pd
>>> write_frame(pd.DataFrame({"a": [1.5, None]}), "/tmp/opsnb-doctest.csv")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "CodedColumn",
    "read_csv_columns",
    "parse_dates_coded",
    "parse_numbers_coded",
    "write_frame",
]

_MAX_EXACT = 2.0**53


@dataclass(frozen=True)
class CodedColumn:
    """A text column as its distinct cells (``uniques``, in order of first appearance) and one
    code per row into them."""

    uniques: pd.Series
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    def to_series(self) -> pd.Series:
        """The cells, one per row (pandas' Arrow-backed ``str``)."""
        import pyarrow as pa

        arr = pa.DictionaryArray.from_arrays(
            pa.array(self.codes), pa.array(self.uniques.to_numpy(object), pa.large_string())
        )
        return pd.Series(
            pd.arrays.ArrowStringArray(arr.dictionary_decode()), dtype=pd.StringDtype("pyarrow")
        ).astype("str")


def _utf8_bytes(path: Path) -> bytes:
    from opsnb.data.parsing import decode_text

    raw = path.read_bytes()
    if raw.isascii() and decode_text(raw[:2000])[1] == "utf-8":
        return raw  # plain ASCII, not UTF-16 by its head: UTF-8 without decoding every byte
    text, enc = decode_text(raw)  # the loaders' decision, so GBK and UTF-16 files read alike
    if enc == "utf-8":
        return raw[3:] if raw[:3] == b"\xef\xbb\xbf" else raw
    return text.encode("utf-8")


def _read(data: bytes, columns: list[str], text_cols: list[str]):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    dict_type = pa.dictionary(pa.int32(), pa.string())
    return pcsv.read_csv(
        pa.BufferReader(data),
        read_options=pcsv.ReadOptions(block_size=1 << 24),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            include_columns=columns,
            column_types={c: dict_type for c in text_cols},
            null_values=[""],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _coded(chunked) -> CodedColumn:
    import pyarrow as pa

    if not pa.types.is_dictionary(chunked.type):
        chunked = chunked.cast(pa.string()).dictionary_encode()
    chunked = chunked.unify_dictionaries()  # Arrow encodes each block on its own
    if chunked.num_chunks == 0:
        return CodedColumn(pd.Series([], dtype=object), np.zeros(0, dtype=np.int64))
    dictionary = chunked.chunk(0).dictionary
    codes = np.concatenate(
        [c.indices.to_numpy(zero_copy_only=False).astype(np.int64) for c in chunked.chunks]
    )
    return CodedColumn(pd.Series(dictionary.to_numpy(zero_copy_only=False).astype(object)), codes)


def read_csv_columns(
    path: str | Path, columns: list[str], *, numeric: list[str] = ()
) -> tuple[dict[str, object], int] | None:
    """Read ``columns`` of a CSV file with Arrow; ``numeric`` columns that Arrow reads as plain
    finite numbers come back as float64 arrays, every other column as a :class:`CodedColumn`.

    Returns ({column: array or CodedColumn}, number of rows), or None when Arrow cannot read
    the file as a CSV with these columns (the caller's pandas path then says why). Rows are
    numbered as in the file by position + 2 (one header row), as pandas' reader numbers them.
    """
    import pyarrow as pa

    path = Path(path)
    data = _utf8_bytes(path)
    numeric = [c for c in numeric if c in columns]
    text_cols = [c for c in columns if c not in numeric]
    try:
        header = next(csv.reader(io.StringIO(data[: 1 << 16].decode("utf-8", "ignore"))), [])
        if len(set(header)) != len(header) or any(c not in header for c in columns):
            return None
        try:
            table = _read(data, columns, text_cols)
        except pa.ArrowInvalid:  # a number column with text after the first block: all text
            numeric, text_cols = [], list(columns)
            table = _read(data, columns, text_cols)
        out: dict[str, object] = {}
        again = []
        for c in numeric:
            col = table[c]
            if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
                v = col.to_numpy().astype(np.float64)  # nulls (empty cells) → NaN
                # 'nan' and 'inf' spelled in the file are errors for the parsers: reread them
                if col.null_count == 0 and np.isfinite(v).all():
                    out[c] = v
                    continue
                nulls = col.is_null().to_numpy(zero_copy_only=False)
                if np.isfinite(v[~nulls]).all():
                    out[c] = v
                    continue
            if pa.types.is_null(col.type):  # a column with only empty cells
                out[c] = np.full(len(col), np.nan)
                continue
            again.append(c)
        if again:
            table2 = _read(data, again, again)
            for c in again:
                out[c] = _coded(table2[c])
        for c in text_cols:
            out[c] = _coded(table[c])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    return out, table.num_rows


def _expand(values: pd.Series, bad: dict[int, str], codes: np.ndarray):
    """Per-unique results → per-row values and {row position: expected}."""
    out = values.to_numpy()[codes]
    rows: dict[int, str] = {}
    if bad:
        is_bad = np.zeros(len(values), dtype=bool)
        is_bad[list(bad)] = True
        for i in np.flatnonzero(is_bad[codes]):
            rows[int(i)] = bad[int(codes[i])]
    return out, rows


def parse_dates_coded(col: CodedColumn, *, with_time: bool, month: bool = False):
    """:func:`opsnb.data.parsing.parse_dates` of every distinct cell, then one value per row.

    Returns (datetime64[us] array with NaT for missing/bad, {row position: expected})."""
    from opsnb.data.parsing import parse_dates

    values, bad = parse_dates(col.uniques, with_time=with_time, month=month)
    return _expand(values, bad, col.codes)


def parse_numbers_coded(col: CodedColumn, *, integer: bool, percent_ok: bool):
    """:func:`opsnb.data.parsing.parse_numbers` of every distinct cell, then one value per row.

    Returns (float64 array with NaN for missing/bad, {row position: expected})."""
    from opsnb.data.parsing import parse_numbers

    values, bad = parse_numbers(col.uniques, integer=integer, percent_ok=percent_ok)
    return _expand(values, bad, col.codes)


# ------------------------------------------------------------------------------------ writing
def _float_cells(v: np.ndarray):
    import pyarrow as pa
    import pyarrow.compute as pc

    nan = np.isnan(v)
    finite = ~nan & np.isfinite(v)
    if (finite | nan).all() and (np.abs(v[finite]) < _MAX_EXACT).all():
        ints = np.where(finite, v, 0.0)
        if (ints == np.round(ints)).all():  # counts: integer formatting is ~10× faster
            text = pc.cast(pa.array(ints.astype(np.int64), mask=nan), pa.string())
            return pc.binary_join_element_wise(text, ".0", "")  # 3.0 as pandas writes it
    return pc.cast(pa.array(v, mask=nan), pa.string())


def _text_cells(s: pd.Series):
    import pyarrow as pa

    if s.dtype.kind == "M":
        if getattr(s.dt, "tz", None) is not None:
            return pa.array(s.astype(str).where(s.notna(), None), pa.string())
        codes, uniques = pd.factorize(s)  # format each distinct time once, as pandas spells it
        text = pd.Series(uniques).astype(str).to_numpy(object)
        return pa.DictionaryArray.from_arrays(
            pa.array(codes.astype(np.int32), mask=codes < 0), pa.array(text, pa.string())
        ).dictionary_decode()
    if s.dtype.kind == "b":
        return pa.array(np.where(s.to_numpy(), "True", "False"), pa.string())
    if s.dtype.kind in "iu":
        return pa.array(s.to_numpy()).cast(pa.string())
    if s.dtype.kind == "f":
        return _float_cells(s.to_numpy(dtype=np.float64))
    if isinstance(s.dtype, pd.StringDtype):
        if s.dtype.storage == "pyarrow":  # the cells are in Arrow already: no Python strings
            arr = pa.array(s.array)
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            return arr.cast(pa.string())
        return pa.array(s.to_numpy(object, na_value=None), pa.string())
    if s.dtype == object:
        vals = s.to_numpy(object)
        try:
            return pa.array(vals, pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    # anything else (mixed objects, nullable integers, categories): pandas' own spelling
    missing = s.isna().to_numpy()
    text = s.astype(object).map(str).to_numpy(object)
    return pa.array(np.where(missing, None, text), pa.string())


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or str(s.dtype) in ("string", "str", "category")


def _formula_safe(arr):
    """:func:`opsnb.sheets.safe_cell` on a column of strings, in Arrow: cells a spreadsheet
    would evaluate get a leading apostrophe."""
    import pyarrow.compute as pc

    from opsnb.sheets import FORMULA_PREFIXES

    risky = None
    for prefix in FORMULA_PREFIXES:
        hit = pc.starts_with(arr, prefix)
        risky = hit if risky is None else pc.or_(risky, hit)
    if risky is None or not pc.any(risky).as_py():
        return arr
    return pc.if_else(risky, pc.binary_join_element_wise("'", arr, ""), arr)


def _text_csv(arr, lone: bool, safe: bool):
    """Guarded (``safe``) and quoted cells of a text column. A column of few distinct cells
    (series names, labels) is guarded and quoted once per distinct cell, then expanded."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not lone and not arr.null_count and len(arr) > 1000 and _few_distinct(arr):
        enc = pc.dictionary_encode(arr)
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
        if 4 * len(enc.dictionary) < len(arr):
            d = _formula_safe(enc.dictionary) if safe else enc.dictionary
            d = _quote_minimal(d, lone)
            return pa.DictionaryArray.from_arrays(enc.indices, d).dictionary_decode()
    return _quote_minimal(_formula_safe(arr) if safe else arr, lone)


def _few_distinct(arr, sample: int = 10_000) -> bool:
    """Whether the first ``sample`` cells repeat (at most half of them distinct): a column of
    ids is then not dictionary-encoded in full only to find every cell distinct (0.35 CPU s
    for the 1.99 M customer ids of ``opsnb rfm``)."""
    import pyarrow.compute as pc

    head = arr.slice(0, sample)
    return 2 * len(pc.unique(head)) <= len(head)


def _csv_cells(s: pd.Series, lone: bool, safe: bool = False):
    """One column's CSV cells; only text can hold a delimiter or a quote (or a formula)."""
    if safe and s.dtype == object:
        import pyarrow as pa

        try:  # strings (and missing cells) only: the guard runs in Arrow
            arr = pa.array(s.to_numpy(object), pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed: numbers stay numbers
            from opsnb.sheets import safe_cell

            return _text_csv(_text_cells(s.map(safe_cell)), lone, False)
        return _text_csv(arr, lone, True)
    arr = _text_cells(s)
    if s.dtype.kind in "biufM" and not lone:
        return arr
    return _text_csv(arr, lone, safe and _is_text(s))


def _quote_minimal(arr, lone: bool):
    """Quote the cells that need it, as pandas' QUOTE_MINIMAL does (a lone column also quotes
    an empty cell, which would otherwise read as a blank line)."""
    import pyarrow.compute as pc

    arr = _no_nulls(arr)
    need = pc.match_substring_regex(arr, '[",\n\r]')
    if lone:
        need = pc.or_(need, pc.equal(arr, ""))
    if not pc.any(need).as_py():
        return arr
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
    return pc.if_else(need, quoted, arr)


def _no_nulls(arr):
    """``arr`` with missing cells as "" (no copy when none is missing)."""
    import pyarrow.compute as pc

    return pc.fill_null(arr, "") if arr.null_count else arr


def _lines(arrays: list) -> memoryview:
    """The CSV text of ``arrays`` (string columns, equal lengths) as one buffer of lines."""
    import pyarrow as pa
    import pyarrow.compute as pc

    empty = {"null_handling": "replace", "null_replacement": ""}  # a missing cell is empty
    cells = list(arrays)
    # the line ends on the last cell, so the whole line is built (copied) once
    cells[-1] = pc.binary_join_element_wise(cells[-1], "\n", "", **empty)
    line = pc.binary_join_element_wise(*cells, ",", **empty) if len(cells) > 1 else cells[-1]
    if isinstance(line, pa.ChunkedArray):
        line = line.combine_chunks()
    wide = pa.types.is_large_string(line.type)
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int64 if wide else np.int32)[
        line.offset : line.offset + len(line) + 1
    ]
    return memoryview(line.buffers()[2])[int(offsets[0]) : int(offsets[-1])]


def write_frame(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    chunk_rows: int = 250_000,
    encoding: str = "utf-8",
    formula_safe: bool = False,
) -> None:
    """Write ``frame`` (its columns, not its index) to ``path``: Parquet when the name ends in
    ``.parquet``, else UTF-8 CSV with a header row, quoted and spelled as pandas' ``to_csv``
    would write it (floats in the shortest form that reads back the same number). Blocks of at most
    ``chunk_rows`` rows are formatted on all cores while the finished ones are written.
    ``encoding="utf-8-sig"`` starts the CSV with a byte-order mark, so Excel on Windows reads
    Chinese text as UTF-8 (the command-line tools write that); only UTF-8 is supported.
    ``formula_safe=True`` writes what :func:`opsnb.sheets.safe_frame` of ``frame`` would write
    (text cells and column names a spreadsheet could evaluate get a leading apostrophe), with
    the rule applied in Arrow instead of once per Python cell."""
    import pyarrow as pa

    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
        raise ValueError(
            f"write_frame writes UTF-8 only: encoding 'utf-8' or 'utf-8-sig', got {encoding!r}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        if formula_safe:
            from opsnb.sheets import safe_frame

            frame = safe_frame(frame)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        return
    names = [str(c) for c in frame.columns]
    if formula_safe:
        from opsnb.sheets import safe_cell

        names = [str(safe_cell(c)) for c in frame.columns]
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow(names)
    lone = frame.shape[1] == 1
    workers = os.cpu_count() or 1
    # blocks of rows, each formatted and joined into lines by one thread (Arrow releases the
    # GIL), at least two per thread so that all cores work while the lines are written; small
    # enough (250 000 rows, ~25 MB of text) that each block reuses the memory of the last
    # (1 M-row blocks faulted in 700 MB of fresh pages at 3.65 M rows)
    split = 2 * workers if len(frame) >= 100_000 else 1
    rows = max(1, min(chunk_rows, -(-len(frame) // split)))

    def block(lo: int) -> memoryview | None:
        part = frame.iloc[lo : lo + rows]
        arrays = [_csv_cells(part.iloc[:, j], lone, formula_safe) for j in range(part.shape[1])]
        return _lines(arrays) if arrays else None

    with open(path, "wb") as f, ThreadPoolExecutor(workers) as pool:
        f.write(head.getvalue().encode("utf-8-sig" if encoding.endswith("sig") else "utf-8"))
        pending = []
        for lo in range(0, len(frame), rows):
            pending.append(pool.submit(block, lo))
            if len(pending) > workers:  # at most one block per thread waits to be written
                _write_block(f, pending.pop(0).result())
        for fut in pending:
            _write_block(f, fut.result())


def _write_block(f, lines: memoryview | None, piece: int = 8 << 20) -> None:
    """Write ``lines`` in pieces of 8 MiB: one write of a 90 MB block cost the kernel 3-9
    times the system time of the same bytes in pieces (measured on the 366 MB detect output)."""
    if lines is not None:
        for lo in range(0, len(lines), piece):
            f.write(lines[lo : lo + piece])
