"""asv: speed of the divergence metrics on 100M-element float32 tensors.

Thin: every benchmark is one call into :mod:`suite.divergence.metrics`. The arrays are built
once per process (asv runs ``setup`` before every sample) and take about 1.6 GB of memory.
"""

from __future__ import annotations

import numpy as np

from suite.divergence.metrics import compare_arrays
from suite.divergence.outputs import rerun_spread

#: elements per tensor
N = 100_000_000

_ARRAYS: dict[str, np.ndarray] = {}


def _arrays() -> dict[str, np.ndarray]:
    """``reference`` and three candidates: bitwise ``identical``, ``close`` (every 7th element
    one ULP away) and ``diverged`` (unrelated values)."""
    if not _ARRAYS:
        rng = np.random.default_rng(0)
        reference = rng.standard_normal(N, dtype=np.float32)
        close = reference.copy()
        close[::7] = np.nextafter(close[::7], np.float32(np.inf))
        _ARRAYS.update(
            reference=reference,
            identical=reference.copy(),
            close=close,
            diverged=rng.standard_normal(N, dtype=np.float32),
        )
    return _ARRAYS


class CompareArrays:
    """``compare_arrays(candidate, reference)`` for each kind of candidate."""

    params = ["identical", "close", "diverged"]
    param_names = ["candidate"]
    number = 1
    repeat = 3
    warmup_time = 0
    timeout = 600

    def setup(self, candidate: str) -> None:
        self.arrays = _arrays()

    def time_compare_arrays(self, candidate: str) -> None:
        compare_arrays(self.arrays[candidate], self.arrays["reference"])

    def peakmem_compare_arrays(self, candidate: str) -> None:
        compare_arrays(self.arrays[candidate], self.arrays["reference"])


class RerunSpread:
    """``rerun_spread`` of three reruns, one of which differs (hashing plus one comparison)."""

    number = 1
    repeat = 3
    warmup_time = 0
    timeout = 600

    def setup(self) -> None:
        self.arrays = _arrays()

    def time_rerun_spread(self) -> None:
        a = self.arrays
        rerun_spread([{"out": a["reference"]}, {"out": a["close"]}, {"out": a["identical"]}])
