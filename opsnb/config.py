"""Every path and setting opsnb uses, in one place.

The project root is ``$OPSNB_HOME`` when set, else the checkout that holds the ``opsnb`` package
(an editable install), else the current directory. Secrets (SMTP password) come from the
environment only, never from files in git.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "project_root",
    "notebooks_dir",
    "params_dir",
    "outputs_dir",
    "data_dir",
    "demo_dir",
    "default_db_path",
    "demo_db_path",
    "KERNEL_NAME",
]

KERNEL_NAME = "opsnb"
"""Jupyter kernel registered by the set-up for the project's interpreter."""


def project_root() -> Path:
    env = os.environ.get("OPSNB_HOME")
    if env:
        return Path(env).resolve()
    pkg_parent = Path(__file__).resolve().parent.parent
    if (pkg_parent / "notebooks").is_dir() and (pkg_parent / "pyproject.toml").is_file():
        return pkg_parent
    return Path.cwd().resolve()


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def params_dir() -> Path:
    return project_root() / "params"


def outputs_dir() -> Path:
    return Path(os.environ.get("OPSNB_OUTPUTS", project_root() / "outputs")).resolve()


def data_dir() -> Path:
    return project_root() / "data"


def demo_dir() -> Path:
    """Where ``opsnb demo`` writes the demo shop's files (CSV, Excel) besides the store."""
    return data_dir() / "demo"


def default_db_path() -> Path:
    """The user's embedded DuckDB store (``opsnb import``/``load`` fill it); ``$OPSNB_DB``
    overrides it."""
    return Path(os.environ.get("OPSNB_DB", data_dir() / "opsnb.duckdb")).resolve()


def demo_db_path() -> Path:
    """The demo shop's own store (``opsnb demo`` writes here, never into the user's store);
    ``$OPSNB_DEMO_DB`` overrides it. ``params/demo*.yaml`` point their reports at it."""
    return Path(os.environ.get("OPSNB_DEMO_DB", data_dir() / "demo.duckdb")).resolve()
