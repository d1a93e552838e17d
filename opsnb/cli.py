"""The one command-line app of opsnb (typer). ``opsnb --help`` lists every command.

Each domain has a section below; heavy imports happen inside the commands so that
``opsnb --help`` stays fast. Invalid input data exit with status 2 and a message naming the
file, row and column; other opsnb errors exit with status 1.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="opsnb",
    help="opsnb: parameterized notebooks for e-commerce operations (运营笔记本工具箱).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 1) -> "typer.Exit":
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _handle(exc: Exception) -> "typer.Exit":
    """Map opsnb errors to exit codes: data contract → 2, everything else of ours → 1."""
    from .errors import DataContractError, OpsnbError

    if isinstance(exc, DataContractError):
        return _fail(str(exc), 2)
    if isinstance(exc, (OpsnbError, ValueError, FileNotFoundError)):
        return _fail(str(exc), 1)
    raise exc


# ---------------------------------------------------------------------------------------------
# foundation: demo, run, params, validate, load
# ---------------------------------------------------------------------------------------------

# (filled in by the foundation)

# ---------------------------------------------------------------------------------------------
# monitoring: detect
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# A/B tests: ab
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# goals, plans, what-if: whatif
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# market and customers: rfm, cohorts
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# retrospective: ledger
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# batch and delivery: batch, send
# ---------------------------------------------------------------------------------------------


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
