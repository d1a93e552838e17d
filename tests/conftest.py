"""Shared test set-up.

Tests never touch the repository's own ``outputs/`` or ``data/``: outputs go to a temporary
folder (``$OPSNB_OUTPUTS``), and tests that need the demo shop get a store generated once per
session (``$OPSNB_DB``), which notebook kernels (papermill, nbval) inherit from the environment.
"""
from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared"

_TMP = Path(tempfile.mkdtemp(prefix="opsnb-tests-"))
os.environ.setdefault("OPSNB_OUTPUTS", str(_TMP / "outputs"))
os.environ["MPLBACKEND"] = "Agg"


@lru_cache(maxsize=1)
def ensure_demo_db() -> Path:
    """Generate the demo shop once per session into a temporary store; return its path."""
    from opsnb import demo

    path = _TMP / "demo" / "opsnb.duckdb"
    demo.write_demo(db_path=path, out_dir=_TMP / "demo" / "files")
    os.environ["OPSNB_DB"] = str(path)
    return path


@pytest.fixture(scope="session")
def demo_db() -> Path:
    return ensure_demo_db()


@pytest.fixture()
def outputs(tmp_path, monkeypatch) -> Path:
    """A fresh outputs folder for one test."""
    out = tmp_path / "outputs"
    monkeypatch.setenv("OPSNB_OUTPUTS", str(out))
    return out


def pytest_collection_modifyitems(session, config, items):
    # nbval runs the committed notebooks with their default parameters: they need the store.
    if any(type(i).__name__ == "IPyNbCell" for i in items):
        ensure_demo_db()
