"""Test-only pair for the local executor's concurrency (``--pairs-from``, simulated GPUs).

``gate``: tiny Dense members. In a worker pinned to a (simulated) GPU, building a member waits
until a worker pinned to each of the ``$PAIRBENCH_SIMULATED_GPUS`` GPUs has got that far (one
file per GPU in ``$PAIRBENCH_TEST_BARRIER``): unless the GPU workers run at the same time, the
cases fail. In a worker that is not pinned (CPU cases), building a member fails while a
GPU worker of the same run is alive: CPU cases must run alone.
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

BARRIER_ENV = "PAIRBENCH_TEST_BARRIER"
WAIT_S = 180.0


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
    deadline = time.monotonic() + WAIT_S
    while len(list(Path(folder).iterdir())) < wanted:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"barrier: {pinned} waited {WAIT_S:.0f} s alone: the GPU workers do not run at once"
            )
        time.sleep(0.05)


@register_pair
class Gate(Pair):
    name = "gate"
    description = "tiny Dense members; GPU workers meet at a barrier, CPU cases check they run alone"
    sizes = {s: {"batch": 4, "features": 3} for s in ("tiny", "default", "large")}
    loss = "mse"

    def inputs(self, hp, seed):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((hp["batch"], hp["features"])).astype("float32")
        return Batch(x=x, y=rng.standard_normal((hp["batch"], 2)).astype("float32"))

    def sequential(self, hp):
        _gate()
        return keras.Sequential([keras.Input((hp["features"],)), keras.layers.Dense(2, name="dense_0")])

    def functional(self, hp):
        _gate()
        inputs = keras.Input((hp["features"],))
        return keras.Model(inputs, keras.layers.Dense(2, name="dense_0")(inputs))
