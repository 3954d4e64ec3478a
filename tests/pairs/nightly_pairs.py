"""Test-only pair for ``pairbench nightly``: load with ``--pairs-from tests/pairs/nightly_pairs.py``.

``nightly_probe``: Dense(8, relu) -> Dense(4) on 6 features, as a Sequential (the reference)
and a subclassed model; the two are bitwise equal in eager mode. With the environment
variable :data:`REGRESSION_ENV` set to ``1`` (the workers inherit it), the subclassed member
adds 0.01 to its output: a deterministic numeric regression (``identical`` -> ``diverged``)
that a nightly comparison must catch and name.
"""

from __future__ import annotations

import os
from typing import Any

from suite.zoo import Batch, Pair, normal_batch, register_pair

#: set to "1" to make the subclass member diverge
REGRESSION_ENV = "PAIRBENCH_TEST_REGRESSION"


@register_pair
class NightlyProbe(Pair):
    """Two members, bitwise equal unless :data:`REGRESSION_ENV` is set."""

    name = "nightly_probe"
    description = "test-only: a tiny MLP whose subclass member diverges when PAIRBENCH_TEST_REGRESSION=1"
    sizes = {
        "tiny": {"batch": 4, "features": 6, "hidden": 8, "classes": 4},
        "default": {"batch": 16, "features": 6, "hidden": 8, "classes": 4},
        "large": {"batch": 64, "features": 6, "hidden": 8, "classes": 4},
    }

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Standard-normal features, integer labels."""
        return normal_batch(hp, seed, "features")

    def sequential(self, hp: dict[str, Any]) -> Any:
        """The reference."""
        import keras

        return keras.Sequential(
            [
                keras.Input((hp["features"],)),
                keras.layers.Dense(hp["hidden"], activation="relu", name="dense_0"),
                keras.layers.Dense(hp["classes"], name="dense_1"),
            ],
            name="nightly_probe_sequential",
        )

    def subclass(self, hp: dict[str, Any]) -> Any:
        """The same layers, subclassed; shifted by 0.01 when the regression is injected."""
        import keras

        shift = 0.01 if os.environ.get(REGRESSION_ENV) == "1" else 0.0

        class NightlyProbeSubclass(keras.Model):
            def __init__(self) -> None:
                super().__init__(name="nightly_probe_subclass")
                self.dense_0 = keras.layers.Dense(hp["hidden"], activation="relu", name="dense_0")
                self.dense_1 = keras.layers.Dense(hp["classes"], name="dense_1")

            def call(self, x: Any, training: bool = False) -> Any:
                out = self.dense_1(self.dense_0(x))
                return out + shift if shift else out

        return NightlyProbeSubclass()
