"""Which design a readout's method stands for, its plan, and how much of the plan is reached.

Peeking is only safe when the design says what the looks are measured against:

* ``sequential`` with a plan (``planned_n`` total units or ``planned_days``) is the
  group-sequential design (Lan–DeMets spending over the daily looks, exactly α however often one
  looks before the plan is reached); **without a plan** it is the always-valid mixture SPRT,
  because a group-sequential boundary computed as if every look were the last one is the naive
  test again (10 000 simulated A/A tests, 28 daily looks: 23 % false positives);
* ``group_sequential`` needs a plan and says so (:class:`~opsnb.errors.ParameterError`);
* ``msprt`` is always valid; a plan only tunes its mixing variance (default
  :data:`~opsnb.abtest.sequential.DEFAULT_TUNING_N` units);
* ``frequentist`` and ``bayesian`` are read once, at the planned end.

With ``planned_n`` the information fraction of a look is its information over the planned
information; with ``planned_days`` the group-sequential design spends α on the calendar (the
share of the planned days elapsed at each look, :func:`spending_clock`), which keeps exactly α
under daily peeking even when weekend traffic swings; the mSPRT turns ``planned_days`` into a
planned number of units from the enrolment so far (:func:`planned_units`).

Examples
--------
>>> sequential_plan("sequential").design, sequential_plan("sequential", planned_days=14).design
('msprt', 'group_sequential')
>>> planned_units(sequential_plan("msprt", planned_days=28), 7_000, days_elapsed=7)
28000.0
>>> spending_clock(sequential_plan("sequential", planned_days=28), [1.0, 2.0], 8.0, [1, 2])
{'planned': None, 'spend_at': [0.03571428571428571, 0.07142857142857142]}
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from opsnb.abtest.groupseq import SPENDING
from opsnb.abtest.sequential import DEFAULT_TUNING_N
from opsnb.errors import ParameterError
from opsnb.results import Result

__all__ = [
    "METHODS",
    "DESIGNS",
    "SequentialPlan",
    "sequential_plan",
    "planned_units",
    "spending_clock",
    "elapsed_days",
]

METHODS = ("frequentist", "bayesian", "sequential", "group_sequential", "msprt")
"""Readout methods: ``sequential`` is group-sequential with a plan, the always-valid mSPRT
without one; ``group_sequential`` needs a plan (choose ``spending``); ``msprt`` is always valid."""
DESIGNS = ("fixed", "bayesian", "msprt", "group_sequential")
_METHOD_DESIGN = {"frequentist": "fixed", "bayesian": "bayesian", "msprt": "msprt"}
NAN = float("nan")


@dataclass(frozen=True)
class SequentialPlan(Result):
    """The design behind a readout.

    ``method``: as asked (frequentist | bayesian | sequential | group_sequential | msprt);
    ``design``: what is computed (fixed | bayesian | msprt | group_sequential);
    ``planned_n`` / ``planned_days``: the plan (NaN = none); ``spending``: obf | pocock for the
    group-sequential design, "" otherwise; ``tuning_n``: units the mSPRT mixing variance is
    tuned for when there is no plan (NaN for other designs).
    """

    method: str
    design: str
    planned_n: float = NAN
    planned_days: float = NAN
    spending: str = ""
    tuning_n: float = NAN

    @property
    def has_plan(self) -> bool:
        return self.planned_n == self.planned_n or self.planned_days == self.planned_days

    @property
    def is_sequential(self) -> bool:
        return self.design in ("msprt", "group_sequential")

    @property
    def allows_early_stop(self) -> bool:
        """True when the design lets one stop as soon as its boundary is crossed."""
        return self.is_sequential


def _plan_value(name: str, value) -> float:
    if value is None or value == 0:
        return NAN
    v = float(value)
    if not (v > 0 and math.isfinite(v)):
        raise ParameterError(
            f"{name} must be a positive number (0 or empty = no plan), got {value!r}"
        )
    return v


def sequential_plan(
    method: str, planned_n=None, planned_days=None, spending: str = "obf"
) -> SequentialPlan:
    """Resolve ``method`` and the plan into a :class:`SequentialPlan` (0 or None = no plan).

    Raises :class:`~opsnb.errors.ParameterError` for an unknown method or spending, and for
    ``group_sequential`` without a plan.
    """
    if method not in METHODS:
        raise ParameterError(f"method must be one of {METHODS}, got {method!r}")
    if spending not in SPENDING:
        raise ParameterError(f"spending must be one of {SPENDING}, got {spending!r}")
    n, days = _plan_value("planned_n", planned_n), _plan_value("planned_days", planned_days)
    has_plan = n == n or days == days
    if method == "group_sequential" and not has_plan:
        raise ParameterError(
            "method 'group_sequential' needs a plan: planned_n (total units across arms) or "
            "planned_days (with the assignment-time column); without a plan use 'sequential', "
            "which is then the always-valid mixture SPRT"
        )
    if method in ("sequential", "group_sequential"):
        design = "group_sequential" if has_plan else "msprt"
    else:
        design = _METHOD_DESIGN[method]
    return SequentialPlan(
        method=method,
        design=design,
        planned_n=n,
        planned_days=days,
        spending=spending if design == "group_sequential" else "",
        tuning_n=DEFAULT_TUNING_N if design == "msprt" and not has_plan else NAN,
    )


def elapsed_days(first_day, last_day) -> float:
    """Calendar days from the first look's day to the current one, both included."""
    import pandas as pd

    return float((pd.Timestamp(last_day) - pd.Timestamp(first_day)).days + 1)


def planned_units(plan: SequentialPlan, n_now: float, days_elapsed: float | None = None) -> float:
    """Total units the plan amounts to at the current look (the mSPRT's tuning):
    ``planned_n``, else ``n_now × planned_days / days_elapsed`` (never below ``n_now``: once the
    planned days have passed the plan is reached); NaN without a plan.

    ``planned_days`` without ``days_elapsed`` (no assignment-time column) raises
    :class:`~opsnb.errors.ParameterError`.
    """
    if plan.planned_n == plan.planned_n:
        return plan.planned_n
    if plan.planned_days != plan.planned_days:
        return NAN
    if days_elapsed is None or not days_elapsed == days_elapsed or days_elapsed <= 0:
        raise ParameterError(
            "planned_days needs the assignment-time column (time_col / --time-col) to know how "
            "many days have passed; give planned_n (total units) instead"
        )
    return float(n_now) * max(plan.planned_days / float(days_elapsed), 1.0)


def spending_clock(plan: SequentialPlan, info, n_now: float, look_days=None) -> dict:
    """Keyword arguments ``planned`` and ``spend_at`` of
    :func:`opsnb.abtest.groupseq.spending_boundaries` for ``plan`` at the current (last) look.

    ``info``: cumulative information of the looks so far; ``n_now``: units now (both arms);
    ``look_days``: calendar day of each look counted from the first (1, 2, ...). ``planned_n``
    → planned information ``info[-1] · planned_n / n_now``; ``planned_days`` → α spent at
    ``look_days / planned_days``; no plan → the last look is the planned end.
    """
    if plan.planned_n == plan.planned_n:
        return {"planned": float(info[-1]) * plan.planned_n / float(n_now), "spend_at": None}
    if plan.planned_days == plan.planned_days:
        if look_days is None:
            planned_units(plan, n_now, None)  # raises: planned_days needs the looks' days
        return {"planned": None, "spend_at": [float(d) / plan.planned_days for d in look_days]}
    return {"planned": None, "spend_at": None}
