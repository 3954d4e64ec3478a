"""Test-only pair for fault injection (``--pairs-from``): a run that can be held mid-way.

``held``: three tiny Dense members. While the file named by ``PAIRBENCH_TEST_HOLD`` exists,
building the ``subclass`` member waits, so a test can signal, kill or fill the disk at a
known point: the ``sequential`` and ``functional`` cases (and the float64 reference) are
on disk, ``subclass`` is in flight.
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np

from suite.zoo import Batch, Pair, register_pair

HOLD_ENV = "PAIRBENCH_TEST_HOLD"


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
