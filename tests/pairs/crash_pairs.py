"""Test-only pairs whose members kill or hang their worker process (``--pairs-from``).

- ``crashy``: ``functional`` SIGKILLs its own process while building (what the kernel's OOM
  killer does); ``sequential`` and ``subclass`` are ordinary.
- ``hangs``: ``subclass`` sleeps far longer than any test timeout while building.
"""

from __future__ import annotations

import os
import signal
import time

import keras
import numpy as np

from suite.zoo import Batch, Pair, register_pair

_SIZES = {
    "tiny": {"batch": 4, "features": 3},
    "default": {"batch": 4, "features": 3},
    "large": {"batch": 4, "features": 3},
}


def _dense(hp):
    inputs = keras.Input((hp["features"],))
    return keras.Model(inputs, keras.layers.Dense(2, name="dense_0")(inputs))


class _Base(Pair):
    sizes = _SIZES
    loss = "mse"

    def inputs(self, hp, seed):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((hp["batch"], hp["features"])).astype("float32")
        return Batch(x=x, y=rng.standard_normal((hp["batch"], 2)).astype("float32"))

    def sequential(self, hp):
        return keras.Sequential([keras.Input((hp["features"],)), keras.layers.Dense(2, name="dense_0")])


@register_pair
class Crashy(_Base):
    name = "crashy"
    description = "functional member SIGKILLs its worker"

    def functional(self, hp):
        os.kill(os.getpid(), signal.SIGKILL)
        return _dense(hp)

    def subclass(self, hp):
        return _dense(hp)


@register_pair
class Hangs(_Base):
    name = "hangs"
    description = "subclass member hangs its worker"

    def subclass(self, hp):
        time.sleep(600)
        return _dense(hp)
