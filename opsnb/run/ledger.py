"""The lessons ledger (运营知识库): one row per notebook run in the store table ``ledger``.

Every successful run of every notebook appends its parameters, period, campaign, the key
figures it recorded with ``ctx.record(...)``, the decision taken and the lessons written in the
parameters, so that the next retrospective can show this campaign beside the last comparable
ones and what was learned then.

Columns of ``ledger`` (and of :func:`read`)
------------------------------------------
``run_id``       unique id of the run; appending the same id again *replaces* the row (a rerun
                 never duplicates). The runner uses ``<notebook-stem>/<output slug>``.
``notebook``     notebook stem, e.g. ``05_retrospective``.
``period``       period label, e.g. ``2025-Q4`` or ``2025-11-01..2025-11-11``.
``campaign``     campaign slug (``double11``) or empty.
``shop``         ``params["shop"]`` when given, else empty.
``params``       JSON object of the run's parameters (``dict`` in :func:`read`).
``key_results``  JSON object of the recorded key figures (``dict`` in :func:`read`).
``decision``     text.
``lessons``      JSON list of strings (``list`` in :func:`read`).
``recorded_at``  timestamp of the run (UTC, naive).

Several processes may append at once (a batch of notebooks): DuckDB allows one writer per file,
so :func:`append` and :func:`read` retry on a lock conflict with exponential back-off and
jitter, up to ``timeout`` seconds.

Examples
--------
>>> import tempfile, os
>>> db = os.path.join(tempfile.mkdtemp(), "s.duckdb")
>>> append("05_retrospective/double11-2025-Q4", "05_retrospective", {"lang": "zh"}, "2025-Q4",
...        "double11", {"gmv": 1.2e6}, lessons=["预热期提前一周"], db_path=db)
>>> append("05_retrospective/double11-2025-Q4", "05_retrospective", {"lang": "zh"}, "2025-Q4",
...        "double11", {"gmv": 1.3e6}, db_path=db)
>>> df = read(db_path=db)
>>> len(df), df.loc[0, "key_results"]["gmv"]
(1, 1300000.0)
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["TABLE", "COLUMNS", "append", "read", "delete", "expand_results", "to_json"]

TABLE = "ledger"
COLUMNS = (
    "run_id",
    "notebook",
    "period",
    "campaign",
    "shop",
    "params",
    "key_results",
    "decision",
    "lessons",
    "recorded_at",
)

_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    run_id VARCHAR PRIMARY KEY,
    notebook VARCHAR NOT NULL,
    period VARCHAR,
    campaign VARCHAR,
    shop VARCHAR,
    params VARCHAR,
    key_results VARCHAR,
    decision VARCHAR,
    lessons VARCHAR,
    recorded_at TIMESTAMP
)"""


def _plain(x: Any) -> Any:
    """JSON-safe value: numpy scalars → Python, NaN/inf → None, dates → ISO text."""
    if x is None or isinstance(x, (str, bool)):
        return x
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set)):
        return [_plain(v) for v in x]
    if isinstance(x, (pd.Timestamp, datetime, date)):
        return x.isoformat()
    if hasattr(x, "item") and not isinstance(x, (list, dict)):  # numpy scalar
        try:
            x = x.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(x, float):
        return None if not math.isfinite(x) else x
    if isinstance(x, int):
        return x
    if isinstance(x, Path):
        return str(x)
    try:
        if pd.isna(x):
            return None
    except (TypeError, ValueError):
        pass
    return str(x)


def to_json(x: Any) -> str:
    """Serialise params / key results for the ledger (UTF-8 kept, NaN as null)."""
    return json.dumps(_plain(x), ensure_ascii=False, allow_nan=False, sort_keys=True)


def _lessons(lessons: Iterable[str] | str | None) -> list[str]:
    if lessons is None:
        return []
    if isinstance(lessons, str):
        return [s.strip() for s in lessons.splitlines() if s.strip()]
    return [str(s).strip() for s in lessons if str(s).strip()]


def _is_lock_error(exc: Exception) -> bool:
    msg = str(exc).lower()
    return "lock" in msg or "conflicting" in msg


def _with_store(fn, db_path, *, read_only: bool, timeout: float):
    """Run ``fn(con)`` on a fresh connection, retrying on a DuckDB file-lock conflict."""
    import duckdb

    from opsnb.data.store import open_store

    deadline = time.monotonic() + timeout
    wait = 0.05
    while True:
        try:
            con = open_store(db_path, read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_error(exc) or time.monotonic() + wait > deadline:
                raise
            time.sleep(wait * (0.5 + random.random()))
            wait = min(wait * 2, 1.0)
            continue
        try:
            return fn(con)
        finally:
            con.close()


def _write(con, row: dict) -> None:
    con.execute(_DDL)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {TABLE} WHERE run_id = ?", [row["run_id"]])
        con.execute(
            f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES "
            f"({', '.join('?' for _ in COLUMNS)})",
            [row[c] for c in COLUMNS],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def append(
    run_id: str,
    notebook: str,
    params: dict | None,
    period: str,
    campaign: str | None = None,
    key_results: dict | None = None,
    decision: str = "",
    lessons: list[str] | str = "",
    *,
    db_path: str | Path | None = None,
    recorded_at: datetime | str | None = None,
    con=None,
    timeout: float = 60.0,
) -> None:
    """Record one run in the ledger; a second call with the same ``run_id`` replaces the row.

    ``lessons`` is a list of strings or one string (one lesson per line). ``con`` reuses an
    open read-write connection (then no retry); otherwise the store at ``db_path`` (default
    :func:`opsnb.config.default_db_path`) is opened, created if needed, and closed again.
    Raises ValueError for an empty ``run_id`` or ``notebook``.
    """
    if not run_id or not str(run_id).strip():
        raise ValueError("run_id must be a non-empty string, e.g. '05_retrospective/double11'")
    if not notebook:
        raise ValueError("notebook must be a non-empty notebook stem, e.g. '05_retrospective'")
    params = dict(params or {})
    when = (
        pd.Timestamp(recorded_at)
        if recorded_at is not None
        else pd.Timestamp(datetime.now(timezone.utc).replace(tzinfo=None))
    )
    if when.tzinfo is not None:
        when = when.tz_convert("UTC").tz_localize(None)
    row = {
        "run_id": str(run_id),
        "notebook": str(notebook),
        "period": "" if period is None else str(period),
        "campaign": campaign or "",
        "shop": str(params.get("shop") or ""),
        "params": to_json(params),
        "key_results": to_json(dict(key_results or {})),
        "decision": decision or "",
        "lessons": to_json(_lessons(lessons)),
        "recorded_at": when.to_pydatetime(),
    }
    if con is not None:
        _write(con, row)
        return
    _with_store(lambda c: _write(c, row), db_path, read_only=False, timeout=timeout)


def _empty() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    df["recorded_at"] = pd.Series(dtype="datetime64[us]")
    return df


def _query(con, notebook, campaign, period, shop) -> pd.DataFrame:
    from opsnb.data.store import list_tables

    if TABLE not in list_tables(con):
        return _empty()
    where, args = [], []
    for col, val in (
        ("notebook", notebook),
        ("campaign", campaign),
        ("period", period),
        ("shop", shop),
    ):
        if val is None:
            continue
        vals = [val] if isinstance(val, str) else list(val)
        where.append(f"{col} IN ({', '.join('?' for _ in vals)})")
        args += vals
    sql = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return con.execute(sql + " ORDER BY recorded_at, run_id", args).df()


def read(
    db_path: str | Path | None = None,
    notebook: str | Iterable[str] | None = None,
    campaign: str | Iterable[str] | None = None,
    *,
    period: str | None = None,
    shop: str | None = None,
    con=None,
    timeout: float = 60.0,
) -> pd.DataFrame:
    """Ledger rows (oldest first), filtered by notebook, campaign, period and shop.

    ``params`` and ``key_results`` come back as dicts and ``lessons`` as lists. A store without
    a ledger gives an empty frame with the documented columns; a missing store file raises
    FileNotFoundError. ``con`` reuses an open connection (e.g. a report's ``ctx.con``).
    """
    if con is not None:
        df = _query(con, notebook, campaign, period, shop)
    else:
        df = _with_store(
            lambda c: _query(c, notebook, campaign, period, shop),
            db_path,
            read_only=True,
            timeout=timeout,
        )
    df = df.reset_index(drop=True)
    for c in ("params", "key_results"):
        df[c] = [json.loads(s) if isinstance(s, str) and s else {} for s in df[c]]
    df["lessons"] = [json.loads(s) if isinstance(s, str) and s else [] for s in df["lessons"]]
    for c in ("run_id", "notebook", "period", "campaign", "shop", "decision"):
        df[c] = df[c].fillna("").astype(str)
    df["recorded_at"] = pd.to_datetime(df["recorded_at"])
    return df


def delete(run_id: str, *, db_path: str | Path | None = None, timeout: float = 60.0) -> int:
    """Remove one run from the ledger; returns the number of rows removed (0 or 1)."""

    def go(con):
        from opsnb.data.store import list_tables

        if TABLE not in list_tables(con):
            return 0
        n = con.execute(f"SELECT count(*) FROM {TABLE} WHERE run_id = ?", [run_id]).fetchone()[0]
        con.execute(f"DELETE FROM {TABLE} WHERE run_id = ?", [run_id])
        return int(n)

    return _with_store(go, db_path, read_only=False, timeout=timeout)


def expand_results(df: pd.DataFrame, keys: Iterable[str] | None = None) -> pd.DataFrame:
    """One column per key result beside ``run_id, notebook, period, campaign, recorded_at``.

    ``keys`` selects and orders the key results (default: all keys found, sorted).
    """
    base = [
        c for c in ("run_id", "notebook", "period", "campaign", "recorded_at") if c in df.columns
    ]
    found = sorted({k for d in df.get("key_results", []) for k in d})
    keys = list(keys) if keys is not None else found
    wide = pd.DataFrame(
        [{k: d.get(k) for k in keys} for d in df["key_results"]], index=df.index, columns=keys
    )
    return pd.concat([df[base], wide], axis=1)
