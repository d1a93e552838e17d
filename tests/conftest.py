"""Shared test set-up.

Tests never touch the repository's own ``outputs/`` or ``data/``: outputs go to a temporary
folder (``$OPSNB_OUTPUTS``), and tests that need the demo shop get a store generated once per
session (``$OPSNB_DB``), which notebook kernels (papermill, nbval) inherit from the environment.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache, lru_cache
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared"

_TMP = Path(tempfile.mkdtemp(prefix="opsnb-tests-"))
os.environ.setdefault("OPSNB_OUTPUTS", str(_TMP / "outputs"))
os.environ["MPLBACKEND"] = "Agg"

# CI machines are shared and noisy: a property test is judged on its examples, never on how long
# one example took (hypothesis' 200 ms deadline made loaded runs fail at random).
settings.register_profile("opsnb", deadline=None)
settings.load_profile("opsnb")


@lru_cache(maxsize=1)
def _demo():
    """The full demo shop, generated once per test run and written into a temporary store."""
    from opsnb.demo.shop import write_demo

    path = _TMP / "demo" / "opsnb.duckdb"
    shop = write_demo(db_path=path, out_dir=_TMP / "demo" / "files")
    os.environ["OPSNB_DB"] = str(path)
    return shop, path


def ensure_demo_db() -> Path:
    """The path of the session's demo store (generated on first use)."""
    return _demo()[1]


def demo_shop_once():
    """The session's full demo shop (:class:`opsnb.demo.shop.DemoShop`, generated on first use)."""
    return _demo()[0]


@cache
def rendered_report(stem: str, lang: str):
    """Run and render notebook ``stem`` once per test session on the demo store, through the
    path users run (papermill + HTML), into its own folder under the session's temporary
    directory. Returns ``(RunResult, output_dir)``; every test reading a rendered report shares
    this one run (``tests/test_notebooks.py``, ``tests/test_report_content.py``)."""
    from opsnb.run.params import list_notebooks
    from opsnb.run.runner import run_notebook

    nb = next(p for p in list_notebooks() if p.stem == stem)
    out = _TMP / "reports" / f"{stem}-{lang}" / "elsewhere"
    r = run_notebook(
        nb,
        {"lang": lang, "db_path": str(ensure_demo_db())},
        output_dir=out,
        timeout=600,
        ledger=False,
    )
    return r, out


@pytest.fixture(scope="session")
def demo_shop():
    """The full default demo shop, the same frames that are in the ``demo_db`` store."""
    return demo_shop_once()


@pytest.fixture(scope="session")
def demo_db() -> Path:
    return ensure_demo_db()


@pytest.fixture(scope="session")
def demo_report():
    """``demo_report(notebook, lang)``: the run of a notebook on the session's demo shop in
    ``lang`` (a :class:`opsnb.run.runner.RunResult`, HTML rendered): :func:`rendered_report`'s
    one run per session, shared by every test that reads a report (the smoke runs of
    tests/test_notebooks.py, the content checks, the browser and mail checks)."""
    return lambda nb, lang: rendered_report(Path(nb).stem, lang)[0]


@pytest.fixture()
def outputs(tmp_path, monkeypatch) -> Path:
    """A fresh outputs folder for one test."""
    out = tmp_path / "outputs"
    monkeypatch.setenv("OPSNB_OUTPUTS", str(out))
    return out


# Parallel runs (pytest-xdist, ``--dist loadgroup``, what ``make test`` uses): every test of a
# file runs on one worker, so a module-scoped fixture (a rendered store, a batch) is built once;
# the files that read the session's rendered demo reports share one worker, so each report is
# run once per test run, not once per worker.
_REPORT_FILES = {
    "test_notebooks.py",
    "test_report_content.py",
    "test_report_layout.py",
    "test_report_browser.py",
}


def _xdist_group(item) -> str:
    name = Path(str(item.fspath)).name
    return "rendered-reports" if name in _REPORT_FILES else name


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        if not any(m.name == "xdist_group" for m in item.iter_markers()):
            item.add_marker(pytest.mark.xdist_group(_xdist_group(item)))
    # nbval runs the committed notebooks with their default parameters: they need the store.
    if any(type(i).__name__ == "IPyNbCell" for i in items):
        ensure_demo_db()
