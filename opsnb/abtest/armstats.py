"""Per-arm sufficient statistics and daily looks, from a frame (pandas) or a table or file (DuckDB).

Both paths return the same tidy tables: :func:`arm_stats_from_frame` / :func:`arm_stats_sql`
one row per (variant, metric) with ``units`` and the sums of :data:`STAT_COLS`;
:func:`looks_from_frame` / :func:`looks_sql` the cumulative units per arm at every day.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from opsnb.abtest.metrics import parse_metrics
from opsnb.abtest.units import BOOL_VALUES, coerce_numeric
from opsnb.errors import DataContractError, DataProblem, ParameterError

__all__ = ["arm_stats_from_frame", "arm_stats_sql", "looks_from_frame", "looks_sql", "STAT_COLS"]


_BLANK = ("", "nan", "none", "<na>")


STAT_COLS = ["n", "sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy", "n_missing", "sum_y_missing"]


def _check_columns(df: pd.DataFrame, cols: Sequence[str], source: str) -> None:
    missing = [c for c in dict.fromkeys(cols) if c not in df.columns]
    if missing:
        raise DataContractError(
            f"{source}: missing column(s) {missing}",
            [
                DataProblem(
                    source, None, c, None, f"a column named {c!r} (columns: {list(df.columns)})"
                )
                for c in missing
            ],
        )


def _units(df, variant_col, metrics, unit_col, source, unit_agg="sum"):
    """Aggregate rows to randomisation units: sums (or means, ``unit_agg="mean"``) for mean and
    ratio columns, max for 0/1 proportions and pre-period covariates. A unit seen in two arms
    is a data problem."""
    nv = df.groupby(unit_col)[variant_col].nunique()
    bad = nv[nv > 1]
    if len(bad):
        raise DataContractError(
            f"{source}: units assigned to more than one variant",
            [
                DataProblem(source, None, unit_col, u, f"one {variant_col!r} per unit")
                for u in bad.index[:20]
            ],
        )
    agg: dict[str, str] = {variant_col: "first"}
    for m in metrics:
        for c in m.columns:
            agg[c] = unit_agg
        if m.kind == "proportion":
            agg[m.column] = "max"
        if m.covariate:
            agg[m.covariate] = "max"
    return df.groupby(unit_col, sort=False).agg(agg).reset_index()


def arm_stats_from_frame(
    df: pd.DataFrame,
    variant_col: str,
    metrics,
    *,
    unit_col: str | None = None,
    cap: float | None = None,
    source: str = "<frame>",
    unit_agg: str = "sum",
) -> pd.DataFrame:
    """Per-arm sufficient statistics, one row per (variant, metric).

    Columns: variant, metric, units (rows/units in the arm), n (units with the metric),
    sum_y, sum_y2, sum_x, sum_x2, sum_xy (x = denominator or covariate, else 0), n_missing and
    sum_y_missing (units with the metric but without the CUPED covariate, kept with x = 0, and
    the sum of their metric; 0 for other metrics: a ratio needs its denominator).
    ``cap``: winsorise mean and ratio numerators at that pooled quantile (e.g. 0.99).
    ``unit_agg``: "sum" or "mean" of a unit's rows when ``unit_col`` is given (store-weeks →
    a store's weekly mean).
    """
    if unit_agg not in ("sum", "mean"):
        raise ParameterError(f"unit_agg must be one of ('sum', 'mean'), got {unit_agg!r}")
    metrics = parse_metrics(metrics)
    _check_columns(
        df,
        [variant_col] + ([unit_col] if unit_col else []) + [c for m in metrics for c in m.columns],
        source,
    )
    df = coerce_numeric(
        df, list(dict.fromkeys(c for m in metrics for c in m.columns)), source=source
    )
    if unit_col:
        df = _units(df, variant_col, metrics, unit_col, source, unit_agg)
    variant = df[variant_col].astype(str)
    units = variant.value_counts().sort_index()
    frames = []
    for m in metrics:
        y = df[m.column].to_numpy(dtype=float)
        xcol = m.denominator or m.covariate
        x = df[xcol].to_numpy(dtype=float) if xcol else np.zeros(len(df))
        if cap is not None and m.kind != "proportion":
            y = np.minimum(y, np.nanquantile(y, cap))
        gap = np.isnan(x) & bool(m.covariate)  # a CUPED covariate may be missing: keep the unit
        ok = ~(np.isnan(y) | (np.isnan(x) & ~gap))
        x = np.where(gap, 0.0, x)
        t = pd.DataFrame(
            {
                "variant": variant[ok].to_numpy(),
                "n": 1.0,
                "sum_y": y[ok],
                "sum_y2": y[ok] ** 2,
                "sum_x": x[ok],
                "sum_x2": x[ok] ** 2,
                "sum_xy": x[ok] * y[ok],
                "n_missing": gap[ok].astype(float),
                "sum_y_missing": np.where(gap, y, 0.0)[ok],
            }
        )
        g = t.groupby("variant", sort=True)[STAT_COLS].sum().reindex(units.index, fill_value=0.0)
        g.index.name = "variant"
        g = g.reset_index()
        g.insert(1, "metric", m.name)
        g.insert(2, "units", units.reindex(g["variant"]).to_numpy(dtype=float))
        frames.append(g)
    return pd.concat(frames, ignore_index=True)


def _sql_source(source: str) -> str:
    s = str(source)
    low = s.lower()
    if low.endswith(".parquet") or "*" in s:
        return f"read_parquet('{s}')"
    if low.endswith(".csv"):  # as text, so TRUE/FALSE/是/否 cells are read like the pandas path
        return f"read_csv_auto('{s}', all_varchar = true)"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", s):
        raise ParameterError(f"source must be a table name or a .parquet/.csv path, got {s!r}")
    return s


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _sql_list(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _sql_number(col: str, typ: str, alias: str) -> tuple[list[str], str, str | None]:
    """How to read ``col`` as DOUBLE like :func:`coerce_numeric`: the columns a first
    projection computes once per row (named after ``alias``), the expression over them, and for
    a text column the condition of a cell that is neither blank, a boolean spelling nor a
    number (None otherwise)."""
    q = _q(col)
    if not re.match(r"(VARCHAR|TEXT|STRING|CHAR)", typ.upper()):
        return [f"CAST({q} AS DOUBLE) AS {alias}"], alias, None
    f, t = f"{alias}_f", f"{alias}_t"  # plain number ('nan' reads as NaN: blank), clean text
    num = f"TRY_CAST(replace({t}, ',', '') AS DOUBLE)"
    true = [k for k, v in BOOL_VALUES.items() if v == 1.0]
    false = [k for k, v in BOOL_VALUES.items() if v == 0.0]
    expr = (
        f"CASE WHEN NOT isnan({f}) THEN {f} WHEN {t} IS NULL OR {t} IN ({_sql_list(_BLANK)}) "
        f"THEN NULL WHEN {t} IN ({_sql_list(true)}) THEN 1.0 "
        f"WHEN {t} IN ({_sql_list(false)}) THEN 0.0 ELSE {num} END"
    )
    bad = (
        f"{t} IS NOT NULL AND {f} IS NULL "
        f"AND {t} NOT IN ({_sql_list(_BLANK + tuple(BOOL_VALUES))}) AND {num} IS NULL"
    )
    return [f"TRY_CAST({q} AS DOUBLE) AS {f}", f"lower(trim({q})) AS {t}"], expr, bad


def _check_sql_cells(con, src: str, filt: str, bad: dict, source: str) -> None:
    """Raise :class:`DataContractError` naming the first bad cells (file row for a CSV); run
    only once the aggregation has counted some. ``bad``: column → (projections, condition) of
    :func:`_sql_number`."""
    parts = []
    low = str(source).lower()
    row, numbered = "row_number() OVER () + 1", low.endswith(".csv")  # the header is row 1
    if low.endswith(".parquet") and "*" not in low:  # rows as the pandas path numbers them
        row, numbered = "file_row_number + 1", True
        src = src[:-1] + ", file_row_number = true)"
    for c, (pre, cond) in bad.items():
        base = f"(SELECT {row} AS _row, *, {', '.join(pre)} FROM {src}){filt}"
        parts.append(
            f"SELECT _row, '{c.replace(chr(39), chr(39) * 2)}' AS col, "
            f"CAST({_q(c)} AS VARCHAR) AS v FROM {base}{' AND ' if filt else ' WHERE '}{cond}"
        )
    rows = con.execute(
        f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY _row LIMIT 50"
    ).fetchall()
    if rows:
        raise DataContractError(
            f"{source}: metric columns must be numeric or boolean",
            [
                DataProblem(
                    str(source),
                    int(r) if numbered else None,
                    c,
                    v,
                    "a number or TRUE/FALSE, true/false, 1/0, 是/否",
                )
                for r, c, v in rows
            ],
        )


def _units_sql(con, rows_sql, metrics, alias, bad, unit_agg, unit_col, variant_col, source):
    """``rows_sql`` aggregated to one row per unit, as :func:`_units` does in pandas: sums (a
    unit whose cells are all empty sums to 0, as pandas sums) or means, max for proportions and
    covariates; units seen in two arms raise :class:`DataContractError`."""
    two = con.execute(
        f"SELECT _unit FROM {rows_sql} WHERE _unit IS NOT NULL GROUP BY _unit "
        "HAVING count(DISTINCT variant) > 1 "
        "ORDER BY _unit LIMIT 20"
    ).fetchall()
    if two:
        raise DataContractError(
            f"{source}: units assigned to more than one variant",
            [
                DataProblem(str(source), None, unit_col, u, f"one {variant_col!r} per unit")
                for (u,) in two
            ],
        )
    how: dict[str, str] = {}
    for m in metrics:  # the same precedence as _units' dict of aggregations
        for c in m.columns:
            how[c] = unit_agg
        if m.kind == "proportion":
            how[m.column] = "max"
        if m.covariate:
            how[m.covariate] = "max"
    agg = {"sum": "coalesce(sum({a}), 0.0)", "mean": "avg({a})", "max": "max({a})"}
    sel = ["any_value(variant) AS variant"]
    sel += [f"{agg[how[c]].format(a=a)} AS {a}" for c, a in alias.items()]
    sel += [f"bool_or(_b{j}) AS _b{j}" for j in range(len(bad))]
    return f"(SELECT {', '.join(sel)} FROM {rows_sql} WHERE _unit IS NOT NULL GROUP BY _unit)"


def looks_sql(
    source: str,
    variant_col: str,
    time_col: str,
    *,
    con=None,
    where: str | None = None,
    unit_col: str | None = None,
) -> pd.DataFrame:
    """Same table as :func:`looks_from_frame` for a table, Parquet or CSV file: cumulative units
    per arm (columns) at the end of every day with data (rows), counted by one DuckDB query.
    Text times are read with DuckDB's timestamp cast (ISO dates and date-times)."""
    import duckdb

    con = con if con is not None else duckdb.connect()
    src = _sql_source(source)
    filt = f" WHERE {where}" if where else ""
    types = {r[0]: str(r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    if time_col not in types:
        raise ParameterError(f"time_col {time_col!r} is not a column: {list(types)}")
    t = _q(time_col)
    day = (
        f"date_trunc('day', CAST({t} AS TIMESTAMP))"
        if re.match(r"(DATE|TIMESTAMP)", types[time_col].upper())
        else f"date_trunc('day', TRY_CAST(trim(CAST({t} AS VARCHAR)) AS TIMESTAMP))"
    )
    rows = f"SELECT {day} AS _day, CAST({_q(variant_col)} AS VARCHAR) AS _v"
    if unit_col:
        rows = (
            f"SELECT min(_day) AS _day, arg_min(_v, _day) AS _v FROM ({rows}, "
            f"{_q(unit_col)} AS _unit FROM {src}{filt}) WHERE _unit IS NOT NULL GROUP BY _unit"
        )
    else:
        rows += f" FROM {src}{filt}"
    per_day = con.execute(
        f"SELECT _day, _v, count(*) AS n FROM ({rows}) WHERE _day IS NOT NULL GROUP BY 1, 2"
    ).df()
    if per_day.empty:
        raise ParameterError(f"time_col {time_col!r} holds no dates")
    per_day["_day"] = pd.to_datetime(per_day["_day"])
    wide = per_day.pivot_table(index="_day", columns="_v", values="n", aggfunc="sum", fill_value=0)
    return wide.astype(np.int64).sort_index().cumsum()


def arm_stats_sql(
    source: str,
    variant_col: str,
    metrics,
    *,
    con=None,
    cap: float | None = None,
    where: str | None = None,
    unit_col: str | None = None,
    unit_agg: str = "sum",
) -> pd.DataFrame:
    """Same table as :func:`arm_stats_from_frame`, computed by one DuckDB aggregation.

    ``source``: a table in ``con`` or a Parquet/CSV path. ``where``: an SQL filter (e.g.
    ``experiment = 'detail_page_v2'``). With ``unit_col`` rows are first aggregated per unit
    as :func:`arm_stats_from_frame` does (sums or means, max for 0/1 proportions and CUPED
    covariates; a unit in two arms raises :class:`DataContractError`). Text cells
    are read like the pandas path (TRUE/FALSE, true/false, 1/0, 是/否, numbers with thousands
    separators); any other text raises :class:`DataContractError`.
    """
    if unit_agg not in ("sum", "mean"):
        raise ParameterError(f"unit_agg must be one of ('sum', 'mean'), got {unit_agg!r}")
    import duckdb

    metrics = parse_metrics(metrics)
    con = con if con is not None else duckdb.connect()
    src = _sql_source(source)
    filt = f" WHERE {where}" if where else ""
    types = {r[0]: str(r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    cols = list(dict.fromkeys([variant_col] + [c for m in metrics for c in m.columns]))
    need = cols + ([unit_col] if unit_col and unit_col not in cols else [])
    missing = [c for c in need if c not in types]
    if missing:
        _check_columns(pd.DataFrame(columns=list(types)), need, str(source))
    # each column is read once in inner projections (text mapping included), then aggregated
    alias = {c: f"_c{j}" for j, c in enumerate(cols[1:])}
    first, inner, bad = [f"CAST({_q(variant_col)} AS VARCHAR) AS variant"], ["variant"], {}
    for c, a in alias.items():
        pre, expr, cond = _sql_number(c, types[c], a)
        first += pre
        inner.append(a if expr == a else f"{expr} AS {a}")
        if cond:
            bad[c] = (pre, cond)
            inner.append(f"({cond}) AS _b{len(bad) - 1}")
    if unit_col:
        first.append(f"{_q(unit_col)} AS _unit")
        inner.append("_unit")
    inner_sql = f"(SELECT {', '.join(first)} FROM {src}{filt})"
    rows_sql = f"(SELECT {', '.join(inner)} FROM {inner_sql})"
    if unit_col:
        rows_sql = _units_sql(
            con, rows_sql, metrics, alias, bad, unit_agg, unit_col, variant_col, source
        )
    caps: dict[str, str] = {}
    if cap is not None:
        capped = [m for m in metrics if m.kind != "proportion"]
        if capped:
            sel = ", ".join(f"quantile_cont({alias[m.column]}, {float(cap)})" for m in capped)
            qs = con.execute(f"SELECT {sel} FROM {rows_sql}").fetchone()
            caps = {m.name: repr(float(q)) for m, q in zip(capped, qs)}
    sel = ["variant", "count(*) AS units"]
    for i, m in enumerate(metrics):
        y = alias[m.column]
        if m.name in caps:
            y = f"least({y}, {caps[m.name]})"
        xc = m.denominator or m.covariate
        x = alias[xc] if xc else "0.0"
        if m.covariate:  # keep units without the covariate: x = 0 plus a missing indicator
            ok = f"{y} IS NOT NULL"
            gap = f"{ok} AND {x} IS NULL"
            x = f"coalesce({x}, 0.0)"
        else:
            ok = f"{y} IS NOT NULL AND {x} IS NOT NULL"
            gap = "false"
        yy = f"CASE WHEN {ok} THEN {y} END"
        xx = f"CASE WHEN {ok} THEN {x} END"
        sel += [
            f"count({yy}) AS n_{i}",
            f"sum({yy}) AS sy_{i}",
            f"sum(({yy})*({yy})) AS syy_{i}",
            f"sum({xx}) AS sx_{i}",
            f"sum(({xx})*({xx})) AS sxx_{i}",
            f"sum(({xx})*({yy})) AS sxy_{i}",
            f"count(CASE WHEN {gap} THEN 1 END) AS nm_{i}",
            f"sum(CASE WHEN {gap} THEN {y} END) AS sym_{i}",
        ]
    sel += [f"count(*) FILTER (WHERE _b{j}) AS bad_{j}" for j in range(len(bad))]
    wide = con.execute(f"SELECT {', '.join(sel)} FROM {rows_sql} GROUP BY 1 ORDER BY 1").df()
    if any(wide[f"bad_{j}"].sum() for j in range(len(bad))):
        _check_sql_cells(con, src, filt, bad, source)
    rows = []
    for i, m in enumerate(metrics):
        part = wide[["variant", "units"]].copy()
        part.insert(1, "metric", m.name)
        for col, key in zip(STAT_COLS, ("n", "sy", "syy", "sx", "sxx", "sxy", "nm", "sym")):
            part[col] = wide[f"{key}_{i}"].astype(float).fillna(0.0)
        rows.append(part)
    out = pd.concat(rows, ignore_index=True)
    out["units"] = out["units"].astype(float)
    return out


def looks_from_frame(
    df: pd.DataFrame, variant_col: str, time_col: str, unit_col: str | None = None
) -> pd.DataFrame:
    """Cumulative units per arm (columns) at the end of every day with data (rows, index the
    date): one look a day. A unit counts from its first row."""
    if time_col not in df.columns:
        raise ParameterError(f"time_col {time_col!r} is not a column: {list(df.columns)}")
    d = df[[variant_col, time_col] + ([unit_col] if unit_col else [])].copy()
    d["_day"] = pd.to_datetime(d[time_col], errors="coerce").dt.normalize()
    if d["_day"].isna().all():
        raise ParameterError(f"time_col {time_col!r} holds no dates")
    if unit_col:
        d = d.sort_values("_day").drop_duplicates(unit_col)
    d["_v"] = d[variant_col].astype(str)
    return d.groupby(["_day", "_v"]).size().unstack(fill_value=0).sort_index().cumsum()
