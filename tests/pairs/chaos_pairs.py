"""Test-only pairs with known nondeterminism: load with ``--pairs-from tests/pairs/chaos_pairs.py``.

``chaos``: ``dense_0`` -> ``chaos`` -> ``dense_1`` (softmax). Every member but
``fractional_pool`` has the same layers and weights.

- ``chaos`` (:class:`ShuffledSum`) adds to each feature the float32 sum of all features
  taken in a shuffled order, like a GPU kernel whose threads add in whatever order they
  finish. The order comes from a counter (started from ``os.urandom``) that advances on every
  call and is hidden from Keras and pairbench, as a kernel's thread order is: resetting seeds
  or restoring weights does not repeat it, and no random op shows in the graph (it is not a
  layer drawing random numbers at inference). Every rerun gives different float32 rounding,
  in ``eager``, ``function`` and ``xla`` alike, with op determinism off *or on*. It is the
  control for "nondeterministic even with determinism on".
- ``fractional_pool`` (extra member, :class:`FractionalPool` as its ``chaos`` layer) uses
  ``tf.nn.fractional_max_pool`` with ``seed=0``: random pooling regions, so reruns differ
  with determinism off; with ``enable_op_determinism()`` the op raises ``ValueError``
  ("requires a non-zero seed ... when determinism is enabled") on CPU too, in every mode,
  whatever the global seed: the control for ``unsupported`` under determinism. XLA cannot
  compile ``FractionalMaxPool`` at all (``unsupported``/``error`` in ``xla`` mode).
"""

from __future__ import annotations

import os
from typing import Any

from suite.zoo import Batch, Pair, normal_batch, register_pair


def _layers() -> dict[str, type]:
    import keras
    import tensorflow as tf

    class Hidden:
        """Holds the call counter where neither Keras nor pairbench looks (a kernel's own state)."""

        def __init__(self) -> None:
            self.calls = tf.Variable(int.from_bytes(os.urandom(2), "little"), dtype=tf.int64)

    class ShuffledSum(keras.layers.Layer):
        """``x + sum(x[..., perm])`` with another ``perm`` on every call (float32 order)."""

        def build(self, input_shape: Any) -> None:
            self._hidden = Hidden()

        def call(self, x: Any) -> Any:
            calls = tf.cast(self._hidden.calls.assign_add(1), tf.float32)
            position = tf.range(1, tf.shape(x)[-1] + 1, dtype=tf.float32)
            perm = tf.argsort(tf.math.sin(position * (calls * 0.618034 + 12.9898)))
            shuffled = tf.gather(x, perm, axis=-1)
            total = tf.math.cumsum(shuffled, axis=-1)[..., -1:]  # a sequential sum in that order
            return x + total

    class FractionalPool(keras.layers.Layer):
        """``x + mean(fractional_max_pool(x))``: random pooling regions (unseeded op)."""

        def call(self, x: Any) -> Any:
            grid = tf.reshape(x, (-1, x.shape[-1], 1, 1))
            pooled, _, _ = tf.nn.fractional_max_pool(grid, [1.0, 1.5, 1.0, 1.0], pseudo_random=True)
            return x + tf.reduce_mean(tf.reshape(pooled, (tf.shape(x)[0], -1)), axis=-1, keepdims=True)

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape  # so building needs no call (which raises under op determinism)

    return {"ShuffledSum": ShuffledSum, "FractionalPool": FractionalPool}


@register_pair
class Chaos(Pair):
    """Deliberately nondeterministic members (tests and demos of ``nondeterministic``)."""

    name = "chaos"
    description = "test-only: a layer summing features in a random order each call; an unseeded op"
    sizes = {
        "tiny": {"batch": 8, "features": 16, "hidden": 16, "classes": 4},
        "default": {"batch": 64, "features": 64, "hidden": 64, "classes": 10},
        "large": {"batch": 1024, "features": 256, "hidden": 256, "classes": 10},
    }
    extra_members = ("fractional_pool",)

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Standard-normal float32 features, integer labels."""
        return normal_batch(hp, seed, "features")

    def _stack(self, hp: dict[str, Any], middle: str = "ShuffledSum") -> list[Any]:
        import keras

        return [
            keras.layers.Dense(hp["hidden"], activation="relu", name="dense_0"),
            _layers()[middle](name="chaos"),
            keras.layers.Dense(hp["classes"], activation="softmax", name="dense_1"),
        ]

    def sequential(self, hp: dict[str, Any]) -> Any:
        """The reference."""
        import keras

        return keras.Sequential([keras.Input((hp["features"],)), *self._stack(hp)], name="chaos_sequential")

    def functional(self, hp: dict[str, Any]) -> Any:
        """Functional API."""
        import keras

        x = h = keras.Input((hp["features"],))
        for layer in self._stack(hp):
            h = layer(h)
        return keras.Model(x, h, name="chaos_functional")

    def subclass(self, hp: dict[str, Any]) -> Any:
        """Subclassed model."""
        import keras

        stack = self._stack(hp)

        class ChaosSubclass(keras.Model):
            def __init__(self) -> None:
                super().__init__(name="chaos_subclass")
                self.stack = stack

            def call(self, x: Any, training: bool = False) -> Any:
                for layer in self.stack:
                    x = layer(x)
                return x

        return ChaosSubclass()

    def fractional_pool(self, hp: dict[str, Any]) -> Any:
        """``chaos`` is an unseeded fractional max pool (raises under op determinism)."""
        import keras

        x = h = keras.Input((hp["features"],))
        for layer in self._stack(hp, middle="FractionalPool"):
            h = layer(h)
        return keras.Model(x, h, name="chaos_fractional_pool")
