"""opsnb: parameterized notebooks and tested helpers for e-commerce operations teams."""

__version__ = "0.1.0"

from opsnb.errors import (
    DataContractError,
    NotebookRunError,
    OpsnbError,
    OpsnbWarning,
    ParameterError,
)  # noqa: E402
from opsnb.i18n import Labels  # noqa: E402

__all__ = [
    "__version__",
    "OpsnbError",
    "ParameterError",
    "DataContractError",
    "NotebookRunError",
    "OpsnbWarning",
    "Labels",
]
