"""Notebook parameters: read them from the ``parameters`` cell, validate YAML, parse periods.

The ``parameters`` cell of each notebook is the single source of its parameters, one per line::

    lang: str = "zh"  # report language: zh or en

:func:`notebook_parameters` reads name, type, default and help from it. :func:`load_params`
validates a YAML file plus ``-p key=value`` overrides against it before any kernel starts.

YAML layout (``params/*.yaml``): top-level keys apply to every notebook that declares them;
``notebooks: {NAME: {...}}`` holds keys for one notebook, or ``notebooks: [NAME, ...]`` restricts
which notebooks the file is run with; ``slug``, ``title`` and ``recipients`` are runner-level
keys. A key that no notebook declares is an error naming the closest valid key.
"""

from __future__ import annotations

import ast
import datetime as dt
import difflib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from opsnb import config
from opsnb.errors import ParameterError
from opsnb.periods import parse_date, parse_period

__all__ = [
    "split_list",
    "Param",
    "RUNNER_KEYS",
    "find_notebook",
    "list_notebooks",
    "notebook_parameters",
    "parameters_table",
    "read_yaml",
    "load_params",
    "notebooks_for_file",
    "parse_override",
]

RUNNER_KEYS = ("slug", "title", "recipients", "notebooks", "description")
"""Keys of a params file that configure the run, not the notebook."""


@dataclass(frozen=True)
class Param:
    """One notebook parameter as declared in the ``parameters`` cell."""

    name: str
    type: str
    default: Any
    help: str

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "default": self.default, "help": self.help}


# --------------------------------------------------------------------------------- notebooks


def list_notebooks(directory: Path | None = None) -> list[Path]:
    """Notebooks of the kit, sorted by name (checkpoints excluded)."""
    d = directory or config.notebooks_dir()
    return sorted(p for p in d.glob("*.ipynb") if not p.name.startswith("."))


def find_notebook(name: str | Path) -> Path:
    """Resolve ``03_daily_monitoring``, ``03``, a file name or a path to a notebook file."""
    p = Path(name)
    if p.suffix == ".ipynb" and p.is_file():
        return p.resolve()
    stem = p.name.removesuffix(".ipynb")
    nbs = list_notebooks()
    exact = [n for n in nbs if n.stem == stem]
    if exact:
        return exact[0]
    prefix = [n for n in nbs if n.stem.split("_")[0] == stem or n.stem.startswith(stem + "_")]
    if len(prefix) == 1:
        return prefix[0]
    names = [n.stem for n in nbs]
    close = difflib.get_close_matches(stem, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ParameterError(
        f"no notebook {str(name)!r} in {config.notebooks_dir()}.{hint} Available: {', '.join(names)}"
    )


def _cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


@lru_cache(maxsize=64)
def _parameters_cached(path: str, mtime: float) -> tuple[Param, ...]:
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = [
        c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    if not cells:
        raise ParameterError(f"{path}: no code cell tagged 'parameters'")
    source = _cell_source(cells[0])
    lines = source.splitlines()
    out: list[Param] = []
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise ParameterError(f"{path}: parameters cell is not valid Python: {e}") from e
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, annot = node.target.id, ast.unparse(node.annotation)
            value = node.value
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            name, annot, value = node.targets[0].id, "", node.value
        else:
            continue
        try:
            default = ast.literal_eval(value) if value is not None else None
        except ValueError as e:
            raise ParameterError(
                f"{path}: default of parameter {name!r} must be a literal, got {ast.unparse(value)}"
            ) from e
        line = lines[node.lineno - 1]
        tail = (
            line.encode("utf-8")[node.end_col_offset :].decode("utf-8", "replace")
            if node.end_lineno == node.lineno
            else ""
        )  # ast offsets count UTF-8 bytes
        m = re.search(r"#\s*(.*)$", tail)
        help_ = m.group(1).strip() if m else ""
        out.append(Param(name, annot or type(default).__name__, default, help_))
    return tuple(out)


def notebook_parameters(notebook: str | Path) -> list[Param]:
    """The parameters declared in a notebook's ``parameters`` cell, in order."""
    p = find_notebook(notebook)
    return list(_parameters_cached(str(p), p.stat().st_mtime))


def parameters_table(notebook: str | Path):
    """A DataFrame (name, type, default, help) of a notebook's parameters."""
    import pandas as pd

    return pd.DataFrame([p.to_dict() for p in notebook_parameters(notebook)])


# ------------------------------------------------------------------------------- validation

_TYPE_NS = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
    "Optional": Optional,
    "Any": Any,
    "None": None,
}


class _BadType(Exception):
    pass


def _coerce(name: str, annot: str, value: Any, source: str) -> Any:
    from pydantic import TypeAdapter, ValidationError

    try:
        typ = eval(annot, {"__builtins__": {}}, _TYPE_NS) if annot else Any  # noqa: S307
    except Exception:
        typ = Any
    try:
        # strict for scalars so "abc" or 1 is not silently turned into something else
        if typ is bool and not isinstance(value, bool):
            raise _BadType
        if typ in (int, float) and isinstance(value, bool):
            raise _BadType
        if typ is list and isinstance(value, str):
            return split_list(value)  # "抖音, 小红书" from -p or YAML: split once, here
        if typ is str and not isinstance(value, str):
            if isinstance(value, (int, float, dt.date)) and not isinstance(value, bool):
                return str(value)
            raise _BadType
        return _dates_as_text(TypeAdapter(typ).validate_python(value))
    except (ValidationError, _BadType):
        raise ParameterError(
            f"{source}: parameter {name!r} must be {annot or 'a literal'}, got {value!r} "
            f"({type(value).__name__})"
        ) from None


def _dates_as_text(value: Any) -> Any:
    """YAML reads ``start: 2025-11-08`` as a date: inside a list or mapping parameter it becomes
    its ISO text, so the run record (JSON) and papermill's injected cell hold what was written."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_dates_as_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _dates_as_text(v) for k, v in value.items()}
    return value


def split_list(text: str) -> list[str]:
    """``"抖音, 小红书"`` (commas or full-width ，) → ``["抖音", "小红书"]``; ``""`` → ``[]``.

    The one place a list parameter given as text is split (``-p channels=抖音,小红书``).

    >>> split_list("抖音，小红书, 直播")
    ['抖音', '小红书', '直播']
    """
    return [x.strip() for x in str(text).replace("，", ",").split(",") if x.strip()]


def read_yaml(path: str | Path) -> dict:
    """Read a params YAML file into a dict (empty file → {})."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ParameterError(f"params file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ParameterError(f"{p}: not valid YAML: {e}") from e
    except ValueError as e:  # YAML reads 2025-13-01 as a date and the date fails
        raise ParameterError(f"{p}: a date that does not exist ({e}); write YYYY-MM-DD") from e
    if not isinstance(data, dict):
        raise ParameterError(f"{p}: expected a mapping of parameter names to values")
    return data


def _all_declared() -> dict[str, set[str]]:
    return {nb.stem: {q.name for q in notebook_parameters(nb)} for nb in list_notebooks()}


def notebooks_for_file(data: dict) -> list[str] | None:
    """Notebook stems a params file restricts itself to (None = all)."""
    nbs = data.get("notebooks")
    if isinstance(nbs, list):
        return [find_notebook(n).stem for n in nbs]
    if isinstance(nbs, dict) and data.get("only_listed"):
        return [find_notebook(n).stem for n in nbs]
    return None


def parse_override(text: str) -> tuple[str, Any]:
    import yaml

    if "=" not in text:
        raise ParameterError(f"override {text!r} must look like key=value")
    k, v = text.split("=", 1)
    try:
        val = yaml.safe_load(v) if v.strip() else ""
    except (yaml.YAMLError, ValueError):  # ValueError: a date-shaped 2025-13-01
        val = v
    if isinstance(val, (dt.date, dt.datetime)):
        val = v  # keep dates as the text the user typed; periods are parsed later
    return k.strip(), val


def load_params(
    notebook: str | Path,
    yaml_path: str | Path | None = None,
    overrides: dict | list[str] | None = None,
) -> dict:
    """Validated parameters for one notebook run (only the keys given; defaults stay in the notebook).

    ``overrides`` is a dict or a list of ``key=value`` strings (values parsed as YAML).
    Raises :class:`ParameterError` naming the file and key for unknown keys (with the closest
    valid name), wrong types, an unknown ``lang`` or an unparseable ``period``.
    """
    nb = find_notebook(notebook)
    declared = {p.name: p for p in notebook_parameters(nb)}
    data: dict = read_yaml(yaml_path) if yaml_path else {}
    source = str(yaml_path) if yaml_path else "parameters"
    merged: dict[str, Any] = {}
    others = None
    for key, val in data.items():
        if key in RUNNER_KEYS:
            continue
        if key in declared:
            merged[key] = val
            continue
        if others is None:
            others = set().union(*_all_declared().values())
        if key not in others:
            raise _unknown(key, set(declared) | others, source)
    section = data.get("notebooks")
    if isinstance(section, dict):
        for name, vals in section.items():
            target = find_notebook(name).stem
            if target != nb.stem or not vals:
                continue
            if not isinstance(vals, dict):
                raise ParameterError(f"{source}: notebooks.{name} must be a mapping")
            for key, val in vals.items():
                if key not in declared:
                    raise _unknown(key, set(declared), f"{source} (notebooks.{name})")
                merged[key] = val
    if isinstance(overrides, list):
        overrides = dict(parse_override(o) for o in overrides)
    for key, val in (overrides or {}).items():
        if key not in declared:
            raise _unknown(key, set(declared), f"override for {nb.stem}")
        merged[key] = val
    out = {k: _coerce(k, declared[k].type, v, source) for k, v in merged.items()}
    if "lang" in out and out["lang"] not in ("zh", "en"):
        raise ParameterError(
            f"{source}: parameter 'lang' must be 'zh' or 'en', got {out['lang']!r}"
        )
    if out.get("period"):
        parse_period(out["period"], as_of=_as_of_for_validation(out.get("as_of", "")))
    _check_calendar(out, source)
    return out


def _check_calendar(out: dict, source: str) -> None:
    """The monitoring calendar's ``country`` and ``events``, checked before anything runs."""
    from opsnb.calendar import check_country, shop_events

    if out.get("country"):
        try:
            out["country"] = check_country(out["country"]) or ""
        except ValueError as exc:
            raise ParameterError(f"{source}: parameter 'country': {exc}") from None
    if out.get("events"):
        try:
            shop_events(out["events"])
        except (ValueError, TypeError) as exc:
            raise ParameterError(f"{source}: parameter 'events': {exc}") from None


def _as_of_for_validation(as_of: str) -> dt.date | None:
    if not as_of or as_of == "latest":
        return None
    return parse_date(as_of)


def _unknown(key: str, valid: set[str], source: str) -> ParameterError:
    close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ParameterError(
        f"{source}: unknown parameter {key!r}.{hint} Valid: {', '.join(sorted(valid))}"
    )
