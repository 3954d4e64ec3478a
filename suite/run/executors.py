"""Executors: where the units of a run run (``pairbench run --executor``).

- ``local`` (default): worker processes on this machine. GPU cases run concurrently, one
  worker per GPU, each pinned to its GPU (``CUDA_VISIBLE_DEVICES`` names only that GPU, so two
  cases never share a device); CPU cases run with nothing else running, since any concurrency
  disturbs CPU timings. With no GPU (or one) this is the serial order.
- ``serial``: one worker at a time, CPU and GPU groups of a job in one worker (how every run
  ran before scale-out; the baseline to measure what concurrency does to GPU timings).
- ``ray``: tasks on a Ray cluster (:mod:`suite.run.ray_executor`, the ``pairbench[ray]`` extra).

Every executor runs the same units (:mod:`suite.run.schedule`) through the same dispatcher
(:mod:`suite.run.dispatch`), so records, verdicts and resume behave the same on all of them.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from suite.axes import PINNED_GPU_ENV, SIMULATED_GPUS_ENV
from suite.errors import UsageError
from suite.results.run_dir import RunDir
from suite.run.dispatch import Events, Executor
from suite.run.job import Job
from suite.run.matrix import JobPlan
from suite.run.options import EXECUTORS
from suite.run.parent import LocalWorker, probe
from suite.run.schedule import Unit, make_units


class SerialExecutor:
    """One worker at a time on this machine (see the module docstring)."""

    name = "serial"
    remote = False
    barrier = True

    def probe(self) -> dict[str, Any]:
        """What TensorFlow sees here (:func:`suite.run.parent.probe`)."""
        return probe()

    def units(self, plans: list[JobPlan]) -> list[Unit]:
        """One unit per job."""
        return make_units(plans, split_devices=False)

    def admit(self, unit: Unit, running: list[Unit]) -> bool:
        """Only when nothing else runs."""
        return not running

    def start(self, run: RunDir, unit: Unit, job: Job, events: Events) -> LocalWorker:
        """A worker subprocess."""
        return LocalWorker(run, job, events)

    def describe(self) -> dict[str, Any]:
        """``{"executor", "hostname"}``."""
        return {"executor": self.name, "hostname": socket.gethostname()}

    def close(self) -> None:
        """Nothing to release."""


class LocalExecutor(SerialExecutor):
    """A worker per GPU of this machine, CPU cases alone (see the module docstring)."""

    name = "local"

    def units(self, plans: list[JobPlan]) -> list[Unit]:
        """A job's CPU groups and its groups on each GPU are separate units."""
        return make_units(plans, split_devices=True)

    def admit(self, unit: Unit, running: list[Unit]) -> bool:
        """A CPU unit when nothing runs; a GPU unit when no CPU unit runs and its GPU is free."""
        if unit.kind != "gpu":
            return not running
        return all(r.kind == "gpu" and r.device != unit.device for r in running)

    def start(self, run: RunDir, unit: Unit, job: Job, events: Events) -> LocalWorker:
        """A worker subprocess; a GPU unit's worker sees only its GPU."""
        env = {}
        if unit.kind == "gpu":
            env = {"CUDA_VISIBLE_DEVICES": pin_value(unit.device), PINNED_GPU_ENV: unit.device}
        return LocalWorker(run, job, events, env=env)

    def describe(self) -> dict[str, Any]:
        """``{"executor", "hostname", "simulated_gpus"?}``."""
        out = super().describe()
        if os.environ.get(SIMULATED_GPUS_ENV):
            out["simulated_gpus"] = os.environ[SIMULATED_GPUS_ENV]
        return out


def pin_value(device: str, environ: dict[str, str] | None = None) -> str:
    """The ``CUDA_VISIBLE_DEVICES`` value that shows a worker only TensorFlow's ``gpu:N``.

    TensorFlow numbers the GPUs CUDA shows it, in CUDA's order: ``gpu:N`` is the N-th entry of
    this process's ``CUDA_VISIBLE_DEVICES`` when it is set (an index, a UUID or a MIG device),
    else CUDA device N. The worker inherits ``CUDA_DEVICE_ORDER``, so it counts the same way.
    A GPU this process does not see stays hidden from the worker too (``-1``: no device).
    """
    environ = dict(os.environ) if environ is None else environ
    index = int(device.split(":", 1)[1])
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return str(index)
    entries = [e.strip() for e in visible.split(",") if e.strip()]
    return entries[index] if index < len(entries) else "-1"


def make_executor(kind: str, *, address: str | None = None, gpu_type: str | None = None) -> Executor:
    """The executor named ``kind``.

    Args:
        kind: ``local``, ``serial`` or ``ray``.
        address: the Ray cluster (``ray`` only; default ``$RAY_ADDRESS``, else a local Ray).
        gpu_type: the Ray accelerator type GPU cases must run on (``ray`` only).

    Raises:
        UsageError: an unknown executor; ``address`` without ``ray``; Ray is not installed or
            the cluster cannot be reached.
    """
    if kind not in EXECUTORS:
        raise UsageError(f"unknown executor {kind!r}; valid: {', '.join(EXECUTORS)}")
    if kind != "ray":
        if address:
            raise UsageError("--address is the Ray cluster to run on: it needs --executor ray")
        return LocalExecutor() if kind == "local" else SerialExecutor()
    from suite.run.ray_executor import RayExecutor

    return RayExecutor(address=address, gpu_type=gpu_type)
