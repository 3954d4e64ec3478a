"""``pairbench run --executor ray``: the units of a run as tasks on a Ray cluster.

The driver (this process, the one writer of ``records.jsonl``) connects to the cluster
(``--address``, else ``$RAY_ADDRESS``, else the cluster ``ray start`` left on this machine,
else a new local Ray), and submits each unit as a Ray task that runs the usual worker process
(:mod:`suite.run.ray_task`) and streams its messages back (a Ray generator task). Ray places
the tasks:

- a GPU unit requests one GPU (``num_gpus=1``, and ``accelerator_type`` with ``--gpu-type``):
  Ray sets ``CUDA_VISIBLE_DEVICES`` to the GPU it assigns, so the worker sees only that GPU;
- a CPU unit requests as many CPUs as the largest node has, i.e. a whole node of that size,
  so nothing else runs beside it (CPU cases only run on the largest nodes, which keeps their
  timings comparable). Without any GPU in the cluster (when the executor starts, and without
  ``--gpu-type``), GPU units run the same way and their cases are recorded as ``unsupported``.

Tasks have ``max_retries=0``: the dispatcher (:mod:`suite.run.dispatch`) decides what runs
again, so a lost node never records a case twice; it submits no more units than the cluster
can run at once, so a unit that stays silent past its start-up deadline was lost, not queued.
The run folder must be on a volume every node mounts at the same path (``deploy/``).
Ray is the optional extra ``pairbench[ray]``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from suite.axes import PINNED_GPU_ENV, SIMULATED_GPUS_ENV
from suite.errors import UsageError, one_line
from suite.machine.provenance import NUMERICS_ENV_VARS
from suite.results.run_dir import RunDir
from suite.run.dispatch import Events
from suite.run.job import PARENT_PID_ENV, Job
from suite.run.matrix import JobPlan
from suite.run.parent import log_summary
from suite.run.schedule import Unit, make_units

#: variables of the driver's environment passed on to the workers (the node's own
#: ``CUDA_VISIBLE_DEVICES`` is Ray's to set)
_NOT_FORWARDED = {"CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", PARENT_PID_ENV, PINNED_GPU_ENV}
#: seconds between two looks at the cluster's nodes
_REFRESH_S = 2.0
#: seconds the probe task may wait for a node
PROBE_TIMEOUT_S = 900.0
#: seconds a cancelled task's stream gets to end before the driver goes on
STOP_WAIT_S = 10.0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--executor ray needs Ray, which is not installed: pip install 'pairbench[ray]'"
        ) from None
    return ray


def forwarded_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The driver's numerics settings and ``PAIRBENCH_*`` variables, for the workers."""
    environ = dict(os.environ) if environ is None else environ
    names = set(NUMERICS_ENV_VARS) | {"TF_CPP_MIN_LOG_LEVEL"}
    return {
        k: v
        for k, v in environ.items()
        if (k in names or k.startswith("PAIRBENCH_")) and k not in _NOT_FORWARDED
    }


class RayWorker:
    """A unit's Ray task; a thread moves each streamed message onto the dispatcher's queue."""

    def __init__(self, ray: Any, generator: Any, log_file: Path, events: Events):
        self._ray = ray
        self._generator = generator
        self.log_file = log_file
        self._events = events
        self._code: int | None = None
        self._lost: str | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for ref in self._generator:
                msg = self._ray.get(ref)
                if isinstance(msg, dict):
                    if msg.get("event") == "exit":
                        self._code = int(msg.get("code", 1))
                    self._events.put((self, msg))
        except Exception as exc:  # the node died, the task was killed or cancelled
            self._lost = one_line(exc)
        finally:
            # released while Ray is connected (a generator freed after ray.shutdown complains)
            self._generator = None
        self._events.put((self, None))

    def ended(self) -> tuple[int | None, str | None]:
        """``(exit code of the worker, None)``, or ``(None, why)`` when the cluster lost the task."""
        if self._lost is not None or self._code is None:
            return None, self._lost or "the Ray task ended without its worker's exit status"
        return self._code, None

    def stop(self) -> None:
        """Cancel the task (its worker process dies with it)."""
        if not self._stopped:
            self._stopped = True
            generator = self._generator
            if generator is not None:
                with contextlib.suppress(Exception):
                    self._ray.cancel(generator, force=True)
                del generator
            self._thread.join(timeout=STOP_WAIT_S)

    def fatal_summary(self) -> str:
        """Why the worker died, from its log in the (shared) run folder."""
        return log_summary(self.log_file)


@contextlib.contextmanager
def _keep_signal_handlers() -> Iterator[None]:
    """Restore the handlers of SIGINT, SIGTERM and SIGHUP after the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)


class RayExecutor:
    """Units as Ray tasks (see the module docstring)."""

    name = "ray"
    remote = True
    barrier = False

    def __init__(self, *, address: str | None = None, gpu_type: str | None = None):
        if os.environ.get(SIMULATED_GPUS_ENV):
            raise UsageError(f"{SIMULATED_GPUS_ENV} is for the local executor; Ray nodes declare their GPUs")
        self._ray = ray = _import_ray()
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.gpu_type = gpu_type
        try:
            with _keep_signal_handlers():  # ray.init replaces SIGTERM's: pairbench stops cleanly on it
                ray.init(address=self.address, logging_level="WARNING", log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(
                f"cannot connect to the Ray cluster at {self.address or 'auto'}: {one_line(exc)}"
            ) from None
        from suite.run.ray_task import probe_node, run_unit

        self._run_unit = ray.remote(run_unit)
        self._probe = ray.remote(probe_node)
        self._seen_at = 0.0
        self._nodes: list[dict[str, Any]] = []
        self._refresh(force=True)
        self._check_gpu_types()
        #: decided once: GPU units request a GPU (and wait for one) for the whole invocation
        self.uses_gpus = self.gpu_type is not None or self.gpu_slots > 0

    # ------------------------------------------------------------------ the cluster
    def _refresh(self, force: bool = False) -> None:
        if force or time.monotonic() - self._seen_at > _REFRESH_S:
            self._nodes = [n for n in self._ray.nodes() if n.get("Alive")]
            self._seen_at = time.monotonic()

    def _gpu_types(self) -> set[str]:
        return {
            key.split(":", 1)[1]
            for n in self._nodes
            if n.get("Resources", {}).get("GPU")
            for key in n.get("Resources", {})
            if key.startswith("accelerator_type:")
        }

    def _check_gpu_types(self) -> None:
        types = self._gpu_types()
        if self.gpu_type is None and len(types) > 1:
            raise UsageError(
                f"the Ray cluster has GPUs of several types ({', '.join(sorted(types))}): pick one with "
                "--gpu-type (a run's GPU cases are compared with each other)"
            )

    @property
    def gpu_slots(self) -> int:
        """GPUs the cluster has now (of ``--gpu-type``)."""
        total = 0.0
        for n in self._nodes:
            res = n.get("Resources", {})
            if self.gpu_type is None or res.get(f"accelerator_type:{self.gpu_type}"):
                total += float(res.get("GPU", 0))
        return int(total)

    @property
    def node_cpus(self) -> float:
        """CPUs of the largest node (what a CPU unit reserves)."""
        return max((float(n.get("Resources", {}).get("CPU", 0)) for n in self._nodes), default=1.0) or 1.0

    def _cpu_slots(self) -> int:
        size = self.node_cpus
        return sum(1 for n in self._nodes if float(n.get("Resources", {}).get("CPU", 0)) >= size) or 1

    def _on_gpu(self, unit: Unit) -> bool:
        return unit.kind == "gpu" and self.uses_gpus

    # ------------------------------------------------------------------ the executor
    def probe(self) -> dict[str, Any]:
        """What TensorFlow sees on a node where GPU cases run (a CPU node without GPUs).

        Raises:
            UsageError: the probe failed on the node (the cause, in one line), or no node took it.
        """
        on_gpu = self.uses_gpus
        options: dict[str, Any] = {"max_retries": 0, "num_cpus": 1, "num_gpus": 1 if on_gpu else 0}
        if self.gpu_type:
            options["accelerator_type"] = self.gpu_type
        ref = self._probe.options(**options).remote()
        try:
            info = self._ray.get(ref, timeout=PROBE_TIMEOUT_S)
        except self._ray.exceptions.GetTimeoutError:
            self._ray.cancel(ref, force=True)
            raise UsageError(f"no Ray node took the probe within {PROBE_TIMEOUT_S:.0f} s") from None
        except self._ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, UsageError):
                raise UsageError(f"on the Ray cluster: {cause}") from None
            raise UsageError(f"the probe failed on the Ray cluster: {one_line(exc)}") from None
        except self._ray.exceptions.RayError as exc:
            raise UsageError(f"the probe failed on the Ray cluster: {one_line(exc)}") from None
        return {**info, "gpus": 1 if on_gpu else 0, "cluster": self.describe()}

    def units(self, plans: list[JobPlan]) -> list[Unit]:
        """Units per device, the plan split into one bucket per node with CPUs."""
        self._refresh(force=True)
        workers = sum(1 for n in self._nodes if float(n.get("Resources", {}).get("CPU", 0)) > 0)
        return make_units(plans, split_devices=True, buckets=max(1, workers))

    def admit(self, unit: Unit, running: list[Unit]) -> bool:
        """No more units than the cluster can run at once (GPUs, largest nodes)."""
        self._refresh()
        if self._on_gpu(unit):
            return sum(1 for r in running if self._on_gpu(r)) < max(1, self.gpu_slots)
        return sum(1 for r in running if not self._on_gpu(r)) < self._cpu_slots()

    def start(self, run: RunDir, unit: Unit, job: Job, events: Events) -> RayWorker:
        """Submit the unit's task."""
        job_file = run.new_log(f"job-{job.name}", ".json")
        run.write_text(run.relative(job_file), job.to_json())
        log_file = run.new_log(f"worker-{job.name}")
        env = forwarded_env()
        options: dict[str, Any] = {"max_retries": 0}
        if self._on_gpu(unit):
            env[PINNED_GPU_ENV] = unit.device
            options.update(num_gpus=1, num_cpus=1)
            if self.gpu_type:
                options["accelerator_type"] = self.gpu_type
        else:
            if unit.kind == "gpu":
                env[PINNED_GPU_ENV] = unit.device
            options.update(num_gpus=0, num_cpus=self.node_cpus)
        generator = self._run_unit.options(**options).remote(str(job_file), str(log_file), env)
        return RayWorker(self._ray, generator, log_file, events)

    def describe(self) -> dict[str, Any]:
        """The address and the alive nodes (host, CPUs, GPUs, GPU type)."""
        self._refresh()
        nodes = []
        for n in self._nodes:
            res = n.get("Resources", {})
            types = [k.split(":", 1)[1] for k in res if k.startswith("accelerator_type:")]
            nodes.append(
                {
                    "ray_node_id": n.get("NodeID"),
                    "hostname": n.get("NodeManagerHostname"),
                    "cpus": res.get("CPU", 0),
                    "gpus": res.get("GPU", 0),
                    "gpu_type": types[0] if types else None,
                }
            )
        return {
            "executor": self.name,
            "address": self.address or "auto",
            "gpu_type": self.gpu_type,
            "nodes": nodes,
        }

    def close(self) -> None:
        """Disconnect from the cluster (a local Ray started here stops)."""
        with contextlib.suppress(Exception):
            self._ray.shutdown()
