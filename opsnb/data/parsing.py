"""Reading raw files and parsing cell values the way operations exports write them.

Used by :mod:`opsnb.data`; nothing here knows about pandera or DuckDB.

* :func:`read_raw` reads CSV / TXT (UTF-8, UTF-8 with BOM, GBK/GB18030, UTF-16), Excel (.xlsx,
  .xlsm, .xls through python-calamine; an ".xls" that is really an HTML or text table, as some
  platform back-ends write, is read as what it is) and Parquet into a frame of raw cells plus the
  row number of each record *as numbered in the file* (CSV header = row 1; Excel = the sheet
  row). A title or notes block above the header is skipped by finding the header row; merged
  header cells take their anchor's value; 合计/总计/汇总 rows right under the header or at the end
  and 数据说明/数据来源/注 notes at the end are skipped (and said so in ``notes``); fully blank
  lines are not records.
* :func:`parse_numbers`, :func:`parse_dates`, :func:`parse_bools`, :func:`parse_strings` turn
  one column of raw cells into a canonical dtype and report every cell they cannot read.

Accepted values: ``1,234``, ``¥1,234.50`` / ``￥``, ``1.2万`` (×10 000), ``3亿``, ``3.2%``
(→ 0.032 where a percentage is allowed), empty / ``-`` / ``NA`` / ``null`` as missing (``inf``,
``NaN`` and numbers beyond the float range are refused, so are counts beyond 2**53); dates as
``2024-06-18``, ``2024/6/18``, ``2024.6.18``, ``20240618``, ``2024年6月18日``, unambiguous
``18/06/2024``, Excel serial numbers (``45461`` → 2024-06-18), with an optional time of day.

The code lives in :mod:`opsnb.data.rawfiles` (files) and :mod:`opsnb.data.cells` (cell values);
this module re-exports their names, so imports from ``opsnb.data.parsing`` keep working.
"""

from opsnb.data.cells import (
    DATE_EXPECTED,
    DATETIME_EXPECTED,
    ID_EXPECTED_SCI,  # noqa: F401 - importable from here before the split
    MISSING_TOKENS,
    clean_strings,
    drop_blank_records,
    is_missing,
    parse_bools,
    parse_dates,
    parse_numbers,
    parse_strings,
)
from opsnb.data.rawfiles import (
    EXCEL_SUFFIXES,  # noqa: F401 - importable from here before the split
    SUFFIXES,  # noqa: F401
    TEXT_SUFFIXES,  # noqa: F401
    BadLine,
    CsvLayout,
    RawFile,
    decode_text,
    header_candidates,  # noqa: F401
    norm_header,
    peek_rows,
    plain_csv_layout,
    read_raw,
)

__all__ = [
    "MISSING_TOKENS",
    "RawFile",
    "read_raw",
    "peek_rows",
    "drop_blank_records",
    "CsvLayout",
    "plain_csv_layout",
    "BadLine",
    "decode_text",
    "norm_header",
    "is_missing",
    "parse_numbers",
    "parse_dates",
    "parse_bools",
    "parse_strings",
    "clean_strings",
    "DATE_EXPECTED",
    "DATETIME_EXPECTED",
]
