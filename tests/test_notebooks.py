"""Notebook tiers: structure rules, and a papermill smoke run of every notebook on the demo shop.

(The third tier, ``pytest --nbval-lax notebooks/``, is part of ``make test``.)
"""
import ast
import json
from pathlib import Path

import pytest

from opsnb.params import list_notebooks, notebook_parameters

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


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin_no_def_no_class_no_sys_path(nb):
    for c in _cells(nb):
        if c["cell_type"] != "code":
            continue
        src = "".join(c["source"])
        tree = ast.parse(src)
        bad = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
        assert not bad, f"{nb.name}: define functions in opsnb/, not in notebooks"
        assert "sys.path" not in src, nb.name


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_declares_the_common_parameters(nb):
    names = {p.name for p in notebook_parameters(nb)}
    assert COMMON <= names, f"{nb.name} lacks {COMMON - names}"
    assert all(p.help for p in notebook_parameters(nb)), f"{nb.name}: every parameter needs a help comment"


@pytest.mark.slow
@pytest.mark.parametrize("nb", BATCH_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_demo_shop_in_english(nb, demo_db, outputs):
    from opsnb.runner import run_notebook

    r = run_notebook(nb, {"lang": "en", "db_path": str(demo_db)}, timeout=600, ledger=False)
    assert r.ok, f"{nb.stem} failed: {r.error}\n{r.failed_cell}"
    html = Path(r.html_path).read_text(encoding="utf-8")
    assert "data:image/png;base64," in html or nb.stem.startswith("00"), "a report should have charts"
