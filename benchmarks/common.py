"""Shared pieces of the asv benchmark files: the parameter grid, skips, the version.

Thin on purpose: the grid, the cached cases and the numbers come from :mod:`suite.asv.grid`.
Importing this file does not import TensorFlow (asv's discovery stays fast).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from suite import BENCHMARK_VERSION
from suite.asv import grid as asv_support
from suite.errors import CaseUnsupported

try:
    from asv_runner.benchmarks.mark import SkipNotImplemented
except ImportError:  # not under asv (e.g. imported by a test): same meaning for asv

    class SkipNotImplemented(NotImplementedError):
        """Stand-in for asv's skip exception."""


#: the grid (same on every machine; ``PAIRBENCH_ASV_GRID=full`` for every member; shrunk by
#: ``PAIRBENCH_ASV_SIZE`` / ``PAIRBENCH_ASV_PAIRS``)
GRID = asv_support.grid()


@contextlib.contextmanager
def skipping() -> Iterator[None]:
    """Turn :class:`CaseUnsupported` into asv's skip (``n/a`` in the results), keeping the reason."""
    try:
        yield
    except CaseUnsupported as exc:
        print(f"pairbench: skipped: {exc}")
        raise SkipNotImplemented(str(exc)) from None


class CaseBenchmark:
    """Base of the per-case benchmark classes: ``(pair, member, mode, device, size)``.

    ``version`` is :data:`suite.BENCHMARK_VERSION`, so results are invalidated only when what
    is measured changes, not when this file is edited.
    """

    version = BENCHMARK_VERSION
    params = [GRID.pairs, GRID.members, GRID.modes, GRID.devices, [GRID.size]]
    param_names = ["pair", "member", "mode", "device", "size"]


class WorkloadBenchmark(CaseBenchmark):
    """Base with a workload axis: ``(pair, member, mode, device, workload, size)``."""

    params = [GRID.pairs, GRID.members, GRID.modes, GRID.devices, GRID.workloads, [GRID.size]]
    param_names = ["pair", "member", "mode", "device", "workload", "size"]
