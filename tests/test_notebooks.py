"""Notebook tiers: structure rules, and a papermill smoke run of every notebook on the demo shop.

(The third tier, ``pytest --nbval-lax notebooks/``, is part of ``make test``.)
"""

import ast
import json
from pathlib import Path

import pytest

from opsnb.run.params import list_notebooks, notebook_parameters

NOTEBOOKS = list_notebooks()
BATCH_NOTEBOOKS = [nb for nb in NOTEBOOKS if "live" not in nb.stem]
COMMON = {"lang", "period", "db_path", "shop", "as_of"}


def _cells(nb_path):
    return json.loads(Path(nb_path).read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(nb):
    for c in _cells(nb):
        if c["cell_type"] == "code":
            assert not c.get("outputs") and c.get("execution_count") is None, nb.name


MAX_CELL_LINES = 12
BLOCKS = (
    ast.If,
    ast.For,
    ast.While,
    ast.With,
    ast.Try,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.AsyncFor,
    ast.AsyncWith,
)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin_one_package_call_per_cell(nb):
    """Notebooks read like their report: no blocks, no long cells, no paths or sys.path tricks.

    Sentences, filters and file paths live in each step's ``show`` module (STYLE.md rule 1).
    """
    for c in _cells(nb):
        if c["cell_type"] != "code" or "parameters" in c.get("metadata", {}).get("tags", []):
            continue
        src = "".join(c["source"])
        tree = ast.parse(src)
        head = src.strip().splitlines()[0] if src.strip() else ""
        bad = sorted({type(n).__name__ for n in ast.walk(tree) if isinstance(n, BLOCKS)})
        assert not bad, f"{nb.name}: cell '{head}' has {bad} blocks: move the logic into opsnb"
        lines = [ln for ln in src.splitlines() if ln.strip()]
        assert len(lines) <= MAX_CELL_LINES, (
            f"{nb.name}: cell '{head}' has {len(lines)} lines (at most {MAX_CELL_LINES})"
        )
        assert "sys.path" not in src and "outputs_dir" not in src, (
            f"{nb.name}: no hand-built paths; use ctx.output_path(name)"
        )


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_declares_the_common_parameters(nb):
    names = {p.name for p in notebook_parameters(nb)}
    assert COMMON <= names, f"{nb.name} lacks {COMMON - names}"
    assert all(p.help for p in notebook_parameters(nb)), (
        f"{nb.name}: every parameter needs a help comment"
    )


# Each notebook is executed once per test run, through the path users run (papermill + HTML).
# Languages alternate so both are exercised; every ctx.say(zh, en) builds both sentences anyway.
LANG = {nb.stem: ("en" if i % 2 == 0 else "zh") for i, nb in enumerate(BATCH_NOTEBOOKS)}


@pytest.mark.slow
@pytest.mark.parametrize("nb", BATCH_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_demo_shop_and_writes_into_its_output_folder(nb, demo_report):
    lang = LANG[nb.stem]
    r = demo_report(nb, lang)  # run once per session, into its own --output-dir
    assert r.ok, f"{nb.stem} failed: {r.error}\n{r.failed_cell}"
    out = next(p for p in Path(r.html_path).parents if p.name == f"{nb.stem}-{lang}")
    html = Path(r.html_path).read_text(encoding="utf-8")
    assert "data:image/png;base64," in html or nb.stem.startswith("00"), (
        "a report should have charts"
    )
    assert f'<html lang="{"en" if lang == "en" else "zh-CN"}">' in html
    # nothing leaks into the report by accident: every output comes from ctx (display), never a
    # cell's stray last-expression value
    import nbformat

    executed = nbformat.read(r.ipynb_path, as_version=4)
    stray = [
        c.source.splitlines()[0]
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "execute_result"
    ]
    assert not stray, f"cells whose return value is shown in the report: {stray}"
    # every side file (Excel …) lands in the run's own folder under --output-dir, nowhere else
    written = {p.relative_to(out).parts[0] for p in out.rglob("*") if p.is_file()}
    assert written == {nb.stem}, written
    side = [p.name for p in Path(r.html_path).parent.iterdir() if p.suffix == ".xlsx"]  # dated
    if nb.stem in ("02_goal_decomposition", "03_daily_monitoring", "05_retrospective"):
        assert side, f"{nb.stem} should write its Excel copy next to the report"
