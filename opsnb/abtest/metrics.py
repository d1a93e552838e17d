"""The metrics of a readout: ``NAME:proportion``, ``NAME:mean``, ``NAME:mean:NUM/DEN`` (a ratio).

:func:`parse_metric` turns the text into a :class:`MetricSpec`; guardrail and lower-is-better
metrics (refunds, bounces) are named here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opsnb.errors import ParameterError

__all__ = [
    "MetricSpec",
    "parse_metric",
    "parse_metrics",
    "KINDS",
    "DEFAULT_GUARDRAILS",
    "LOWER_IS_BETTER",
]


KINDS = ("proportion", "mean", "ratio")


DEFAULT_GUARDRAILS = ("refund_rate",)


LOWER_IS_BETTER = (
    "refund_rate",
    "refund",
    "refunded",
    "refund_orders",
    "refund_amount",
    "bounce",
    "bounce_rate",
    "complaints",
)


@dataclass(frozen=True)
class MetricSpec:
    """One metric: ``kind`` proportion | mean | ratio; ``column`` (numerator), ``denominator``
    (ratio), ``covariate`` (pre-period column for CUPED), ``lower_is_better``."""

    name: str
    kind: str = "mean"
    column: str = ""
    denominator: str | None = None
    covariate: str | None = None
    lower_is_better: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ParameterError(
                f"metric {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}"
            )
        if not self.column:
            object.__setattr__(self, "column", self.name)
        if self.kind == "ratio" and not self.denominator:
            raise ParameterError(
                f"ratio metric {self.name!r} needs a denominator (NAME:mean:NUM/DEN)"
            )
        if self.kind == "ratio" and self.covariate:
            raise ParameterError(
                f"metric {self.name!r}: CUPED covariates are supported for "
                "proportion and mean metrics, not ratios"
            )

    @property
    def columns(self) -> list[str]:
        return [c for c in (self.column, self.denominator, self.covariate) if c]


def parse_metric(
    text: str | MetricSpec,
    covariates: Mapping[str, str] | None = None,
    guardrails: Sequence[str] = (),
) -> MetricSpec:
    """``"converted:proportion"``, ``"gmv:mean"``, ``"aov:mean:gmv/orders"`` (ratio), ``"gmv"``
    (a mean). ``covariates`` maps metric name → pre-period column (CUPED)."""
    if isinstance(text, MetricSpec):
        return text
    parts = [p.strip() for p in str(text).split(":")]
    if not parts[0] or len(parts) > 3:
        raise ParameterError(f"metric {text!r}: expected NAME:proportion|mean[:NUM/DEN]")
    name = parts[0]
    kind = parts[1] if len(parts) > 1 else "mean"
    if kind not in ("proportion", "mean"):
        raise ParameterError(
            f"metric {text!r}: type must be one of ('proportion', 'mean'), got {kind!r}"
        )
    num = den = None
    if len(parts) == 3:
        m = re.fullmatch(r"\s*([^/]+?)\s*/\s*([^/]+?)\s*", parts[2])
        if not m:
            raise ParameterError(
                f"metric {text!r}: the third part must be NUM/DEN, got {parts[2]!r}"
            )
        num, den = m.groups()
    cov = (covariates or {}).get(name)
    lower = name in LOWER_IS_BETTER or name in guardrails
    if den:
        return MetricSpec(name, "ratio", num, den, None, lower)
    return MetricSpec(name, kind, name, None, cov, lower)


def parse_metrics(texts, covariates=None, guardrails=()) -> list[MetricSpec]:
    """Parse a list or a comma-separated string of metric specs."""
    if isinstance(texts, str):
        texts = [t for t in texts.split(",") if t.strip()]
    return [parse_metric(t, covariates, guardrails) for t in texts]
