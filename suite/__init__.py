"""pairbench: the same TensorFlow model built several ways, run several ways.

The import package is ``suite``; the command is ``pairbench`` (or ``python -m suite``).
TensorFlow is imported lazily by the modules that need it, so ``import suite`` is cheap.

From Python: :func:`check_models` (your models in every mode, records as a DataFrame),
:func:`assert_models_match` (the same, as an assertion for your own tests) and
:func:`register_models` (your models as a pair in a ``--pairs-from`` file); they are
imported on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: Bumped when what a benchmark measures changes (asv's ``version`` attribute uses it),
#: so asv results are invalidated only when the measured code really changes.
BENCHMARK_VERSION = "1"

#: public name -> module, imported on first use
_LAZY = {
    "check_models": "suite.api",
    "assert_models_match": "suite.testing",
    "register_models": "suite.zoo.models",
}

__all__ = ["BENCHMARK_VERSION", "__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'suite' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
