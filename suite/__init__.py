"""pairbench: the same TensorFlow model built several ways, run several ways.

The import package is ``suite``; the command is ``pairbench`` (or ``python -m suite``).
TensorFlow is imported lazily by the modules that need it, so ``import suite`` is cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: Bumped when what a benchmark measures changes (asv's ``version`` attribute uses it),
#: so asv results are invalidated only when the measured code really changes.
BENCHMARK_VERSION = "1"

__all__ = ["BENCHMARK_VERSION", "__version__"]
