"""The shared shape of opsnb's result values: a frozen dataclass with ``to_dict``/``to_frame``.

Examples
--------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Lift(Result):
...     estimate: float
...     p_value: float
>>> Lift(0.1, 0.03).to_dict()
{'estimate': 0.1, 'p_value': 0.03}
"""

from __future__ import annotations

from dataclasses import asdict

__all__ = ["Result"]


class Result:
    """Mixin for frozen dataclass results: ``to_dict()`` and a one-row ``to_frame()``."""

    __slots__ = ()

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    def to_frame(self):
        """A one-row DataFrame with a column per field."""
        import pandas as pd

        return pd.DataFrame([self.to_dict()])
