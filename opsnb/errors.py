"""One exception and warning hierarchy for opsnb, plus the error codes carried by results.

Misuse raises; degenerate data returns a result with an ``error_code``; problems that a report
should show without stopping are warnings (subclasses of :class:`OpsnbWarning`).
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "DataNotReadyError",
    "OpsnbError",
    "ParameterError",
    "DataContractError",
    "DataProblem",
    "NotebookRunError",
    "DeliveryError",
    "OpsnbWarning",
    "SmallSampleWarning",
    "SampleRatioMismatchWarning",
    "DataQualityWarning",
    "ErrorCode",
]

from dataclasses import dataclass


class OpsnbError(Exception):
    """Base class of every error opsnb raises on purpose."""


class ParameterError(OpsnbError, ValueError):
    """A notebook or function parameter is unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class DataProblem:
    """One problem in an input file: where it is and what was expected.

    ``row`` is the row as numbered in the file (the header is row 1, so the first data row of
    a CSV is row 2; for Excel it is the sheet row), or ``None`` for a whole-column problem.
    """

    file: str
    row: int | None
    column: str | None
    value: object
    expected: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        val = "" if self.value is None else f": got {self.value!r}"
        return f"{where}{val}; expected {self.expected}"


class DataContractError(OpsnbError, ValueError):
    """Input data break a table contract. ``problems`` lists every problem found at once."""

    def __init__(self, message: str, problems: list[DataProblem] | None = None):
        self.problems = list(problems or [])
        if self.problems:
            shown = "\n".join(f"  - {p}" for p in self.problems[:50])
            more = len(self.problems) - 50
            if more > 0:
                shown += f"\n  ... and {more} more"
            message = f"{message}\n{shown}"
        super().__init__(message)


class NotebookRunError(OpsnbError, RuntimeError):
    """A notebook failed while executing; the partial notebook is kept at ``partial_path``."""

    def __init__(
        self, message: str, partial_path: str | None = None, cell_source: str = "", error: str = ""
    ):
        self.partial_path = partial_path
        self.cell_source = cell_source
        self.error = error
        super().__init__(message)


class DeliveryError(OpsnbError, RuntimeError):
    """A report could not be delivered (SMTP down, refused recipient, size limit)."""


class OpsnbWarning(UserWarning):
    """Base class of warnings that show in a report without stopping it."""


class SmallSampleWarning(OpsnbWarning):
    """Too few observations for the method's approximation to be trusted."""


class SampleRatioMismatchWarning(OpsnbWarning):
    """Traffic split differs from the planned ratio (p < 0.001): results may be biased."""


class DataQualityWarning(OpsnbWarning):
    """Data look suspicious (gaps, duplicates, 口径 mismatches) but can still be analysed."""


class ErrorCode:
    """Codes carried by results computed on degenerate data (numbers are NaN then)."""

    OK = ""
    EMPTY_ARM = "empty_arm"
    ZERO_VARIANCE = "zero_variance"
    ZERO_DENOMINATOR = "zero_denominator"
    TOO_FEW_OBSERVATIONS = "too_few_observations"
    NO_HISTORY = "no_history"
    NOT_CONVERGED = "not_converged"


class DataNotReadyError(OpsnbError):
    """The day a report needs is not in the store yet (the morning export has not arrived).

    ``day`` is the missing day, ``latest`` the store's last day (None when the table is empty).
    """

    def __init__(self, message: str, *, table: str, day: dt.date, latest: dt.date | None):
        super().__init__(message)
        self.table, self.day, self.latest = table, day, latest
