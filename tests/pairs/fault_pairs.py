"""Test-only pairs for fault injection and scheduling (``--pairs-from``).

``held``: three tiny Dense members. While the file named by ``PAIRBENCH_TEST_HOLD`` exists,
building the ``subclass`` member waits, so a test can signal, kill or fill the disk at a
known point: the ``sequential`` and ``functional`` cases (and the float64 reference) are
on disk, ``subclass`` is in flight.

``gate``: the same members, for the local executor's concurrency (simulated GPUs). In a worker
pinned to a (simulated) GPU, building a member waits until a worker pinned to each of the
``$PAIRBENCH_SIMULATED_GPUS`` GPUs has got that far (one file per GPU in
``$PAIRBENCH_TEST_BARRIER``): unless the GPU workers run at the same time, the cases fail. In
a worker that is not pinned (CPU cases), building a member fails while a GPU worker of the
same run is alive: CPU cases must run alone.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np

from suite.zoo import Batch, Pair, register_pair

HOLD_ENV = "PAIRBENCH_TEST_HOLD"
BARRIER_ENV = "PAIRBENCH_TEST_BARRIER"
BARRIER_WAIT_S = 180.0


def _hold() -> None:
    path = os.environ.get(HOLD_ENV)
    while path and os.path.exists(path):
        time.sleep(0.05)


def _dense(hp):
    inputs = keras.Input((hp["features"],))
    return keras.Model(inputs, keras.layers.Dense(2, name="dense_0")(inputs))


@register_pair
class Held(Pair):
    name = "held"
    description = "tiny Dense members; subclass waits while $PAIRBENCH_TEST_HOLD exists"
    sizes = {s: {"batch": 4, "features": 3} for s in ("tiny", "default", "large")}
    loss = "mse"

    def inputs(self, hp, seed):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((hp["batch"], hp["features"])).astype("float32")
        return Batch(x=x, y=rng.standard_normal((hp["batch"], 2)).astype("float32"))

    def sequential(self, hp):
        return keras.Sequential([keras.Input((hp["features"],)), keras.layers.Dense(2, name="dense_0")])

    def functional(self, hp):
        return _dense(hp)

    def subclass(self, hp):
        _hold()
        return _dense(hp)


def _run_dir() -> Path | None:
    job = Path(sys.argv[-1]) if sys.argv and sys.argv[-1].endswith(".json") else None
    return job.parents[1] if job else None


def _gpu_workers_alive(run_dir: Path) -> list[str]:
    """``PAIRBENCH_PINNED_GPU`` of the other live workers of this run."""
    pinned = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "suite.run.child" not in cmd or str(run_dir) not in cmd:
                continue
            for item in (entry / "environ").read_bytes().split(b"\0"):
                if item.startswith(b"PAIRBENCH_PINNED_GPU="):
                    pinned.append(item.split(b"=", 1)[1].decode())
    return pinned


def _gate() -> None:
    folder, pinned = os.environ.get(BARRIER_ENV), os.environ.get("PAIRBENCH_PINNED_GPU")
    run_dir = _run_dir()
    if not folder or run_dir is None:
        return
    if not pinned:
        others = _gpu_workers_alive(run_dir)
        if others:
            raise RuntimeError(f"a CPU case runs while GPU workers run: {others}")
        return
    Path(folder, pinned.replace(":", "")).touch()
    wanted = int(os.environ.get("PAIRBENCH_SIMULATED_GPUS", "1"))
    deadline = time.monotonic() + BARRIER_WAIT_S
    while len(list(Path(folder).iterdir())) < wanted:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"barrier: {pinned} waited {BARRIER_WAIT_S:.0f} s alone: the GPU workers do not run at once"
            )
        time.sleep(0.05)


@register_pair
class Gate(Held):
    name = "gate"
    description = "tiny Dense members; GPU workers meet at a barrier, CPU cases check they run alone"

    def sequential(self, hp):
        _gate()
        return super().sequential(hp)

    def functional(self, hp):
        _gate()
        return super().functional(hp)
