"""asv: speed, compile time, memory and numeric divergence of every pair member.

Every benchmark is one call into :mod:`suite.asv.grid` (which uses :mod:`suite.measure.execution`,
the same code as ``pairbench run``). Parameters: ``pair, member, mode, device[, workload],
size`` from the zoo registry; what cannot run here is skipped with its reason. Prepared cases
are cached per process, so asv's ``setup`` before every sample costs a dict lookup. The
``default`` grid has one member per pair and leaves out ``peakmem_*``, ``track_compile_s`` and
``track_vs_pair_max_abs``; ``PAIRBENCH_ASV_GRID=full`` has every member and every benchmark
(see ``docs/asv.md``).
"""

from __future__ import annotations

from suite.asv import grid as support

from .common import GRID, CaseBenchmark, WorkloadBenchmark, skipping


class _Timed(CaseBenchmark):
    """Timing of one workload: ``setup`` prepares (and caches) the case outside the timing."""

    workload = ""
    rounds = 1
    repeat = (5, 30, 10.0)

    def setup(self, pair: str, member: str, mode: str, device: str, size: str) -> None:
        self.case = support.case_for(pair, member, self.workload, mode, device, size)
        with skipping():
            support.check_static(self.case, "time")
            self.prepared = support.prepared(self.case)

    if GRID.full:

        def track_compile_s(self, *params: str) -> float:
            """First call (tracing, XLA compilation, autotuning) of the workload, seconds."""
            return support.compile_seconds(self.case)

        track_compile_s.unit = "seconds"


class Predict(_Timed):
    """Forward pass (``model(x, training=False)``) of a member in a mode on a device."""

    workload = "predict"

    def time_predict(self, *params: str) -> None:
        self.prepared.step()

    if GRID.full:

        def peakmem_predict(self, *params: str) -> None:
            self.prepared.step()


class TrainStep(_Timed):
    """One optimizer step (GradientTape + SGD, custom loop) of a member in a mode on a device."""

    workload = "train_step"

    def time_train_step(self, *params: str) -> None:
        self.prepared.step()

    if GRID.full:

        def peakmem_train_step(self, *params: str) -> None:
            self.prepared.step()


class DeviceMemory(WorkloadBenchmark):
    """Peak GPU memory of a case, which ``peakmem_*`` (host RSS) cannot see; skipped on cpu."""

    def setup(self, pair: str, member: str, mode: str, device: str, workload: str, size: str) -> None:
        self.case = support.case_for(pair, member, workload, mode, device, size)
        with skipping():
            support.check_static(self.case, "device_memory")

    def track_peak_device_mem(self, *params: str) -> int:
        with skipping():
            return support.peak_device_bytes(self.case)

    track_peak_device_mem.unit = "bytes"


class Divergence(WorkloadBenchmark):
    """How far a case's outputs are from its references (higher is worse; 0 is bitwise equal).

    ``vs_pair``: the pair's reference member, same mode/device/workload; ``vs_eager``: the same
    case in eager mode; ``rerun``: the largest difference over three reruns of the case.
    """

    def setup(self, pair: str, member: str, mode: str, device: str, workload: str, size: str) -> None:
        self.case = support.case_for(pair, member, workload, mode, device, size)

    def _track(self, kind: str, key: str) -> float:
        with skipping():
            support.check_static(self.case, kind)
            metrics = {"vs_pair": support.vs_pair, "vs_eager": support.vs_eager, "rerun": support.rerun}
            return support.track_value(metrics[kind](self.case), key)

    if GRID.full:

        def track_vs_pair_max_abs(self, *params: str) -> float:
            return self._track("vs_pair", "max_abs")

        track_vs_pair_max_abs.unit = "abs"

    def track_vs_pair_max_ulp(self, *params: str) -> float:
        return self._track("vs_pair", "max_ulp")

    def track_vs_eager_max_ulp(self, *params: str) -> float:
        return self._track("vs_eager", "max_ulp")

    def track_rerun_max_abs(self, *params: str) -> float:
        return self._track("rerun", "max_abs")

    track_vs_pair_max_ulp.unit = "ULP"
    track_vs_eager_max_ulp.unit = "ULP"
    track_rerun_max_abs.unit = "abs"
