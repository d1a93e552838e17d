"""A/B readout: metrics, per-arm sufficient statistics (pandas or DuckDB SQL), the results table.

A readout is SRM first, then one row per (metric, treatment arm) with lifts, intervals, p-values
(corrected for multiple arms and metrics), Bayesian chance to win or sequential bounds. Which
sequential design a method stands for, and its plan, is :mod:`opsnb.abtest.design`.

Metrics are written ``NAME:proportion``, ``NAME:mean`` or ``NAME:mean:NUM/DEN`` (a ratio metric,
e.g. ``aov:mean:gmv/orders``); see :func:`parse_metric`. Rows are randomisation units; with
``unit_col`` rows (sessions, store-weeks) are first aggregated per unit.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"variant": ["A", "B"] * 50, "converted": [0, 1, 1, 0] * 25})
>>> r = readout(df, variant_col="variant", control="A", metrics=["converted:proportion"])
>>> r.results.loc[0, "metric"], r.results.loc[0, "variant"], float(r.results.loc[0, "abs_lift"])
('converted', 'B', 0.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.abtest.design import (
    SequentialPlan,
    elapsed_days,
    planned_units,
    sequential_plan,
    spending_clock,
)
from opsnb.abtest.stats import (
    ComparisonResult,
    PairStats,
    SampleStats,
    SRMResult,
    compare_means,
    compare_means_cuped,
    compare_proportions,
    compare_ratios,
    correct_pvalues,
    srm_check,
)
from opsnb.errors import DataContractError, DataProblem, ParameterError

__all__ = [
    "MetricSpec",
    "parse_metric",
    "parse_metrics",
    "Readout",
    "arm_stats_from_frame",
    "arm_stats_sql",
    "compare_arm_stats",
    "readout",
    "readout_duckdb",
    "compare_proportions_from_frame",
    "compare_means_from_frame",
    "compare_ratios_from_frame",
    "compare_means_cuped_from_frame",
    "srm_check_from_frame",
    "load_units",
    "coerce_numeric",
    "BOOL_VALUES",
    "DEFAULT_GUARDRAILS",
    "looks_from_frame",
    "looks_sql",
    "compare_one",
]

KINDS = ("proportion", "mean", "ratio")
DEFAULT_GUARDRAILS = ("refund_rate",)
LOWER_IS_BETTER = (
    "refund_rate",
    "refund",
    "refunded",
    "refund_orders",
    "refund_amount",
    "bounce",
    "bounce_rate",
    "complaints",
)
BOOL_VALUES = {
    "true": 1.0,
    "false": 0.0,
    "1": 1.0,
    "0": 0.0,
    "是": 1.0,
    "否": 0.0,
    "yes": 1.0,
    "no": 0.0,
    "1.0": 1.0,
    "0.0": 0.0,
}
"""Text read as 0/1 (case-insensitive): TRUE/FALSE, true/false, 1/0, 是/否, yes/no — by the
pandas path (:func:`coerce_numeric`) and the DuckDB path (:func:`arm_stats_sql`) alike."""
_BLANK = ("", "nan", "none", "<na>")
_STAT_COLS = ["n", "sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy", "n_missing", "sum_y_missing"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric: ``kind`` proportion | mean | ratio; ``column`` (numerator), ``denominator``
    (ratio), ``covariate`` (pre-period column for CUPED), ``lower_is_better``."""

    name: str
    kind: str = "mean"
    column: str = ""
    denominator: str | None = None
    covariate: str | None = None
    lower_is_better: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ParameterError(
                f"metric {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}"
            )
        if not self.column:
            object.__setattr__(self, "column", self.name)
        if self.kind == "ratio" and not self.denominator:
            raise ParameterError(
                f"ratio metric {self.name!r} needs a denominator (NAME:mean:NUM/DEN)"
            )
        if self.kind == "ratio" and self.covariate:
            raise ParameterError(
                f"metric {self.name!r}: CUPED covariates are supported for "
                "proportion and mean metrics, not ratios"
            )

    @property
    def columns(self) -> list[str]:
        return [c for c in (self.column, self.denominator, self.covariate) if c]


def parse_metric(
    text: str | MetricSpec,
    covariates: Mapping[str, str] | None = None,
    guardrails: Sequence[str] = (),
) -> MetricSpec:
    """``"converted:proportion"``, ``"gmv:mean"``, ``"aov:mean:gmv/orders"`` (ratio), ``"gmv"``
    (a mean). ``covariates`` maps metric name → pre-period column (CUPED)."""
    if isinstance(text, MetricSpec):
        return text
    parts = [p.strip() for p in str(text).split(":")]
    if not parts[0] or len(parts) > 3:
        raise ParameterError(f"metric {text!r}: expected NAME:proportion|mean[:NUM/DEN]")
    name = parts[0]
    kind = parts[1] if len(parts) > 1 else "mean"
    if kind not in ("proportion", "mean"):
        raise ParameterError(
            f"metric {text!r}: type must be one of ('proportion', 'mean'), got {kind!r}"
        )
    num = den = None
    if len(parts) == 3:
        m = re.fullmatch(r"\s*([^/]+?)\s*/\s*([^/]+?)\s*", parts[2])
        if not m:
            raise ParameterError(
                f"metric {text!r}: the third part must be NUM/DEN, got {parts[2]!r}"
            )
        num, den = m.groups()
    cov = (covariates or {}).get(name)
    lower = name in LOWER_IS_BETTER or name in guardrails
    if den:
        return MetricSpec(name, "ratio", num, den, None, lower)
    return MetricSpec(name, kind, name, None, cov, lower)


def parse_metrics(texts, covariates=None, guardrails=()) -> list[MetricSpec]:
    """Parse a list or a comma-separated string of metric specs."""
    if isinstance(texts, str):
        texts = [t for t in texts.split(",") if t.strip()]
    return [parse_metric(t, covariates, guardrails) for t in texts]


# --------------------------------------------------------------------------- reading input
def load_units(path: str | Path, *, sheet=None) -> pd.DataFrame:
    """Read a unit-level experiment file as text-preserving columns; :func:`coerce_numeric`
    converts the metric columns.

    CSV/TXT go through the loaders' reader (UTF-8, UTF-8 with BOM, GBK/GB18030; comma, tab or
    whitespace separated); ``.xlsx`` and ``.parquet`` are read as they are. The index holds each
    row's number in the file (``file_row``), so errors name the right row even after filtering.
    """
    from opsnb.data import parsing

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"experiment file not found: {p}")
    suf = p.suffix.lower()
    if suf == ".parquet":
        df = pd.read_parquet(p)
        rows = np.arange(1, len(df) + 1)
    elif suf in (".xlsx", ".xls"):
        df = pd.read_excel(p, sheet_name=sheet or 0, dtype=str, engine="calamine")
        rows = np.arange(2, len(df) + 2)
    else:
        raw = parsing.read_raw(p, {})
        df, rows = raw.frame, raw.rows
    df = df.reset_index(drop=True)
    df.columns = [str(c).strip() for c in df.columns]
    df.index = pd.Index(np.asarray(rows, dtype=np.int64), name="file_row")
    return df


def coerce_numeric(
    df: pd.DataFrame, columns: Sequence[str], *, source: str = "<frame>", first_row: int = 2
) -> pd.DataFrame:
    """Return ``df`` with ``columns`` as float: numbers, booleans and TRUE/FALSE/1/0/是/否 text.

    Empty cells become NaN (a unit without that metric). Anything else raises
    :class:`DataContractError` naming the file, row (as numbered in the file) and column.
    """
    problems: list[DataProblem] = []
    out = df.copy()
    for col in columns:
        if col not in df.columns:
            problems.append(
                DataProblem(
                    source, None, col, None, f"a column named {col!r} (columns: {list(df.columns)})"
                )
            )
            continue
        s = df[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out[col] = s.astype(float)
            continue
        text = s.astype(str).str.strip()
        mapped = text.str.lower().map(BOOL_VALUES)
        num = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
        val = mapped.where(mapped.notna(), num)
        blank = text.isin(["", "nan", "NaN", "None", "<NA>"]) | s.isna()
        bad = val.isna() & ~blank
        for i in np.flatnonzero(bad.to_numpy())[:50]:
            row = int(df.index[i]) if df.index.name == "file_row" else first_row + int(i)
            problems.append(
                DataProblem(
                    source, row, col, s.iloc[i], "a number or TRUE/FALSE, true/false, 1/0, 是/否"
                )
            )
        out[col] = val.astype(float)
    if problems:
        raise DataContractError(f"{source}: metric columns must be numeric or boolean", problems)
    return out


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


# --------------------------------------------------------------------------- sufficient statistics
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
        g = t.groupby("variant", sort=True)[_STAT_COLS].sum().reindex(units.index, fill_value=0.0)
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
        for col, key in zip(_STAT_COLS, ("n", "sy", "syy", "sx", "sxx", "sxy", "nm", "sym")):
            part[col] = wide[f"{key}_{i}"].astype(float).fillna(0.0)
        rows.append(part)
    out = pd.concat(rows, ignore_index=True)
    out["units"] = out["units"].astype(float)
    return out


# --------------------------------------------------------------------------- comparison
def compare_one(
    m: MetricSpec,
    c: pd.Series,
    t: pd.Series,
    method: str,
    alpha: float,
    alternative: str,
    prior_sd: float,
    planned_n: float | None,
    looks: tuple | None = None,
    spending: str = "obf",
    *,
    planned_days: float | None = None,
    look_days: Sequence[float] | None = None,
) -> ComparisonResult:
    """One metric, control ``c`` versus treatment ``t`` (rows of :func:`arm_stats_from_frame`).

    ``method`` and the plan (``planned_n`` total units, ``planned_days``) resolve through
    :func:`opsnb.abtest.design.sequential_plan`. ``looks``: (control units, treatment units)
    cumulated at every look (default: one look now); ``look_days``: calendar day of each look
    counted from the first (1, 2, ...; needed for ``planned_days``)."""
    from opsnb.abtest.bayes import bayes_from_result, bayes_proportions
    from opsnb.abtest.groupseq import group_sequential_from_result, information
    from opsnb.abtest.sequential import sequential_from_result

    plan = sequential_plan(method, planned_n, planned_days, spending)

    if m.kind == "ratio" or m.covariate:
        pc = PairStats(*(float(c[k]) for k in _STAT_COLS))
        pt = PairStats(*(float(t[k]) for k in _STAT_COLS))
        fn = compare_ratios if m.kind == "ratio" else compare_means_cuped
        res = fn(pc, pt, alternative=alternative, alpha=alpha)
    else:
        sc = SampleStats(float(c["n"]), float(c["sum_y"]), float(c["sum_y2"]))
        st = SampleStats(float(t["n"]), float(t["sum_y"]), float(t["sum_y2"]))
        if m.kind == "proportion":
            if method == "bayesian" and math.isinf(prior_sd):
                return bayes_proportions(sc, st, alpha=alpha)
            res = compare_proportions(sc, st, alternative=alternative, alpha=alpha)
        else:
            res = compare_means(sc, st, alternative=alternative, alpha=alpha)
    if plan.design == "bayesian":
        return bayes_from_result(res, prior_sd=prior_sd)
    if not plan.is_sequential:
        return res
    nc, nt = looks if looks is not None else ([float(c["units"])], [float(t["units"])])
    n_now = float(nc[-1]) + float(nt[-1])
    if plan.design == "msprt":
        planned = planned_units(plan, n_now, float(look_days[-1]) if look_days else None)
        return sequential_from_result(
            res, planned_n=planned if planned == planned else None, looks=len(nc)
        )
    info = information(nc, nt)
    clock = spending_clock(plan, info, n_now, look_days)
    return group_sequential_from_result(res, info, spending=plan.spending, **clock)


def compare_arm_stats(
    stats: pd.DataFrame,
    control: str,
    metrics,
    *,
    method: str = "frequentist",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    correction: str = "holm",
    prior_sd: float = math.inf,
    planned_n: float | None = None,
    guardrails: Sequence[str] = DEFAULT_GUARDRAILS,
    looks: pd.DataFrame | None = None,
    spending: str = "obf",
    planned_days: float | None = None,
) -> pd.DataFrame:
    """Compare every treatment arm with ``control`` on every metric.

    Sequential methods: ``looks`` holds the cumulative units per arm (columns) at every look
    (rows indexed by day, the current one last; see :func:`looks_from_frame`); without it the
    data are one look. The plan — ``planned_n`` (total units) or ``planned_days`` (needs
    ``looks``) — makes ``sequential`` group-sequential; without one it is the always-valid
    mSPRT (:func:`opsnb.abtest.design.sequential_plan`).

    Returns one row per (metric, variant): metric, variant, kind, guardrail, lower_is_better,
    n_control, n_treatment, control_mean, treatment_mean, abs_lift, ci_low, ci_high, rel_lift,
    rel_ci_low, rel_ci_high, p_value, p_adjusted, chance_to_win, risk, variance_reduction,
    method, looks, error_code, then the other :class:`~opsnb.abtest.stats.ComparisonResult`
    fields (se, statistic, se_control, se_treatment, n_missing_covariate, info_fraction, ...) and
    covariate (the CUPED column, "" for none). ``p_adjusted`` corrects over non-guardrail
    metrics × arms; guardrails are corrected among themselves.
    """
    plan = sequential_plan(method, planned_n, planned_days, spending)
    days = None
    if looks is not None and len(looks) and isinstance(looks.index, pd.DatetimeIndex):
        days = [elapsed_days(looks.index[0], d) for d in looks.index]
    if plan.is_sequential:  # planned_days without daily looks: say so before computing
        planned_units(plan, 1.0, days[-1] if days else None)
    metrics = parse_metrics(metrics, guardrails=guardrails)
    variants = list(dict.fromkeys(stats["variant"].astype(str)))
    if str(control) not in variants:
        raise ParameterError(f"control {control!r} is not a variant; variants are {variants}")
    rows = []
    for m in metrics:
        sub = stats[stats["metric"] == m.name].set_index("variant")
        for v in variants:
            if v == str(control):
                continue
            lk = (
                None
                if looks is None
                else (looks[str(control)].to_numpy(float), looks[v].to_numpy(float))
            )
            r = compare_one(
                m,
                sub.loc[str(control)],
                sub.loc[v],
                method,
                alpha,
                alternative,
                prior_sd,
                planned_n,
                lk,
                spending,
                planned_days=planned_days,
                look_days=days,
            ).with_names(m.name, v)
            d = r.to_dict()
            d.update(
                kind=m.kind,
                guardrail=m.name in guardrails,
                lower_is_better=m.lower_is_better,
                covariate=m.covariate or "",
            )
            rows.append(d)
    out = pd.DataFrame(rows).rename(columns={"estimate": "abs_lift", "rel_estimate": "rel_lift"})
    out["p_adjusted"] = np.nan
    for is_guard in (False, True):
        mask = out["guardrail"] == is_guard
        if mask.any():
            out.loc[mask, "p_adjusted"] = correct_pvalues(
                out.loc[mask, "p_value"], correction if correction else "none"
            )
    front = [
        "metric",
        "variant",
        "kind",
        "guardrail",
        "lower_is_better",
        "n_control",
        "n_treatment",
        "control_mean",
        "treatment_mean",
        "abs_lift",
        "ci_low",
        "ci_high",
        "rel_lift",
        "rel_ci_low",
        "rel_ci_high",
        "p_value",
        "p_adjusted",
        "chance_to_win",
        "risk",
        "variance_reduction",
        "method",
        "looks",
        "error_code",
    ]
    return out[front + [c for c in out.columns if c not in front]]


@dataclass(frozen=True)
class Readout:
    """SRM check plus the results table (see :func:`compare_arm_stats` for its columns);
    ``plan``: the design the method stands for and its plan (:class:`SequentialPlan`)."""

    srm: SRMResult
    results: pd.DataFrame
    control: str
    method: str
    alpha: float
    correction: str
    scope: str
    stats: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    plan: SequentialPlan | None = None

    def to_frame(self) -> pd.DataFrame:
        return self.results.copy()

    def to_dict(self) -> dict:
        """The CLI's JSON shape: ``{"srm": {...}, "design": {...}, "results": [...]}`` (NaN and
        ±inf → None)."""
        keys = [
            "metric",
            "variant",
            "n_control",
            "n_treatment",
            "control_mean",
            "treatment_mean",
            "abs_lift",
            "rel_lift",
            "ci_low",
            "ci_high",
            "rel_ci_low",
            "rel_ci_high",
            "p_value",
            "chance_to_win",
            "risk",
            "method",
        ]
        extra = [
            "p_adjusted",
            "variance_reduction",
            "n_missing_covariate",
            "looks",
            "info_fraction",
            "error_code",
        ]

        def clean(v):
            if isinstance(v, (np.floating, float)):
                v = float(v)
                return None if math.isnan(v) else (v if math.isfinite(v) else None)
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, np.bool_):
                return bool(v)
            return v

        res = [{k: clean(r[k]) for k in keys + extra} for r in self.results.to_dict("records")]
        return {
            "srm": {
                "p_value": clean(self.srm.p_value),
                "counts": {k: int(v) for k, v in self.srm.counts.items()},
                "flagged": self.srm.flagged,
                "threshold": self.srm.threshold,
            },
            "design": {k: clean(v) for k, v in self.plan.to_dict().items()} if self.plan else None,
            "control": self.control,
            "method": self.method,
            "alpha": self.alpha,
            "correction": self.correction,
            "scope": self.scope,
            "results": res,
        }


def _scope(results: pd.DataFrame, correction: str) -> str:
    main = results[~results["guardrail"]]
    nm, na = main["metric"].nunique(), main["variant"].nunique()
    name = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no correction"}[correction]
    s = f"{name} over {nm} metric(s) x {na} treatment arm(s) = {len(main)} test(s)"
    if results["guardrail"].any():
        s += f"; guardrails corrected separately ({int(results['guardrail'].sum())} test(s))"
    return s


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


def _make_readout(
    stats,
    control,
    metrics,
    *,
    method,
    alpha,
    alternative,
    correction,
    expected_ratio,
    prior_sd,
    planned_n,
    guardrails,
    looks=None,
    spending="obf",
    planned_days=None,
    srm_alpha=0.001,
) -> Readout:
    plan = sequential_plan(method, planned_n, planned_days, spending)
    if not 0 < srm_alpha < 1:
        raise ParameterError(f"srm_alpha must be between 0 and 1 (exclusive), got {srm_alpha!r}")
    units = stats.drop_duplicates("variant").set_index("variant")["units"]
    order = [str(control)] + [v for v in units.index if v != str(control)]
    srm = srm_check(
        {v: units[v] for v in order if v in units.index}, expected_ratio, threshold=srm_alpha
    )
    res = compare_arm_stats(
        stats,
        control,
        metrics,
        method=method,
        alpha=alpha,
        alternative=alternative,
        correction=correction,
        prior_sd=prior_sd,
        planned_n=planned_n,
        guardrails=guardrails,
        looks=looks,
        spending=spending,
        planned_days=planned_days,
    )
    return Readout(
        srm, res, str(control), method, alpha, correction, _scope(res, correction), stats, plan
    )


def readout(
    df: pd.DataFrame,
    *,
    variant_col: str = "variant",
    control: str = "control",
    metrics=("converted:proportion",),
    unit_col: str | None = None,
    covariates: Mapping[str, str] | None = None,
    method: str = "frequentist",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    correction: str = "holm",
    cap: float | None = None,
    expected_ratio=None,
    prior_sd: float = math.inf,
    planned_n: float | None = None,
    guardrails: Sequence[str] = DEFAULT_GUARDRAILS,
    source: str = "<frame>",
    unit_agg: str = "sum",
    time_col: str | None = None,
    spending: str = "obf",
    planned_days: float | None = None,
    srm_alpha: float = 0.001,
) -> Readout:
    """Full readout of a unit-level frame: SRM check, then every metric × treatment arm.

    Sequential methods (see :data:`opsnb.abtest.design.METHODS`): with ``time_col`` there is
    one look a day (units by their assignment time) and the boundary of the last look is used;
    without it the data are a single look. The plan — ``planned_n`` (total units across arms)
    or ``planned_days`` (needs ``time_col``), 0 or None for none — makes ``sequential`` the
    group-sequential design (``spending``: "obf" or "pocock"); without a plan it is the
    always-valid mSPRT. ``srm_alpha``: the SRM check flags the split below this p-value.
    CUPED covariates may be missing for some units (new users): they are kept (see
    :func:`opsnb.abtest.stats.compare_means_cuped`) and counted in ``n_missing_covariate``.
    """
    plan = sequential_plan(method, planned_n, planned_days, spending)
    specs = parse_metrics(metrics, covariates, guardrails)
    stats = arm_stats_from_frame(
        df, variant_col, specs, unit_col=unit_col, cap=cap, source=source, unit_agg=unit_agg
    )
    looks = None
    if time_col and plan.is_sequential:
        looks = looks_from_frame(df, variant_col, time_col, unit_col)
    return _make_readout(
        stats,
        control,
        specs,
        method=method,
        alpha=alpha,
        alternative=alternative,
        correction=correction,
        expected_ratio=expected_ratio,
        prior_sd=prior_sd,
        planned_n=planned_n,
        guardrails=guardrails,
        looks=looks,
        spending=spending,
        planned_days=planned_days,
        srm_alpha=srm_alpha,
    )


def readout_duckdb(
    source: str,
    *,
    con=None,
    variant_col: str = "variant",
    control: str = "control",
    metrics=("converted:proportion",),
    covariates: Mapping[str, str] | None = None,
    where: str | None = None,
    method: str = "frequentist",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    correction: str = "holm",
    cap: float | None = None,
    expected_ratio=None,
    prior_sd: float = math.inf,
    planned_n: float | None = None,
    guardrails: Sequence[str] = DEFAULT_GUARDRAILS,
    spending: str = "obf",
    srm_alpha: float = 0.001,
    unit_col: str | None = None,
    unit_agg: str = "sum",
    time_col: str | None = None,
    planned_days: float | None = None,
) -> Readout:
    """Same as :func:`readout` for a large table, Parquet or CSV file: the sums (per arm, and
    the units per arm and day for the sequential looks) are computed in SQL, so memory does not
    grow with the rows. Without ``time_col`` the data are one look."""
    import duckdb

    plan = sequential_plan(method, planned_n, planned_days, spending)
    specs = parse_metrics(metrics, covariates, guardrails)
    con = con if con is not None else duckdb.connect()
    stats = arm_stats_sql(
        source,
        variant_col,
        specs,
        con=con,
        cap=cap,
        where=where,
        unit_col=unit_col,
        unit_agg=unit_agg,
    )
    looks = None
    if time_col and plan.is_sequential:
        looks = looks_sql(source, variant_col, time_col, con=con, where=where, unit_col=unit_col)
    return _make_readout(
        stats,
        control,
        specs,
        method=method,
        alpha=alpha,
        alternative=alternative,
        correction=correction,
        expected_ratio=expected_ratio,
        prior_sd=prior_sd,
        planned_n=planned_n,
        guardrails=guardrails,
        looks=looks,
        spending=spending,
        planned_days=planned_days,
        srm_alpha=srm_alpha,
    )


# --------------------------------------------------------------------------- thin wrappers
def _one(df, variant_col, spec, control, treatment, **kw) -> ComparisonResult:
    stats = arm_stats_from_frame(df, variant_col, [spec])
    variants = [v for v in stats["variant"] if v != str(control)]
    if treatment is None:
        if len(variants) != 1:
            raise ParameterError(f"treatment must be given when there are several arms: {variants}")
        treatment = variants[0]
    res = compare_arm_stats(
        stats[stats["variant"].isin([str(control), str(treatment)])],
        control,
        [spec],
        correction="none",
        **kw,
    )
    return _row_to_result(res.iloc[0])


def _row_to_result(row) -> ComparisonResult:
    d = row.to_dict()
    d["estimate"], d["rel_estimate"] = d.pop("abs_lift"), d.pop("rel_lift")
    keep = ComparisonResult.__dataclass_fields__
    return ComparisonResult(**{k: v for k, v in d.items() if k in keep})


def compare_proportions_from_frame(df, variant_col, column, control, treatment=None, **kw):
    """:func:`opsnb.abtest.compare_proportions` on a unit-level frame (0/1 or boolean column)."""
    return _one(df, variant_col, MetricSpec(column, "proportion"), control, treatment, **kw)


def compare_means_from_frame(df, variant_col, column, control, treatment=None, **kw):
    """:func:`opsnb.abtest.compare_means` (Welch) on a unit-level frame."""
    return _one(df, variant_col, MetricSpec(column, "mean"), control, treatment, **kw)


def compare_ratios_from_frame(
    df, variant_col, numerator, denominator, control, treatment=None, **kw
):
    """:func:`opsnb.abtest.compare_ratios` (delta method) on a unit-level frame."""
    spec = MetricSpec(f"{numerator}/{denominator}", "ratio", numerator, denominator)
    return _one(df, variant_col, spec, control, treatment, **kw)


def compare_means_cuped_from_frame(
    df, variant_col, column, covariate, control, treatment=None, **kw
):
    """:func:`opsnb.abtest.compare_means_cuped` on a unit-level frame."""
    spec = MetricSpec(column, "mean", column, None, covariate)
    return _one(df, variant_col, spec, control, treatment, **kw)


def srm_check_from_frame(df, variant_col, expected_ratio=None, **kw) -> SRMResult:
    """:func:`opsnb.abtest.srm_check` on the number of rows per variant."""
    counts = df[variant_col].astype(str).value_counts().sort_index()
    return srm_check(counts.to_dict(), expected_ratio, **kw)
