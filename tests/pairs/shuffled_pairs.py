"""A model with a nondeterministic layer, for the ``nondeterministic-kernel`` cause.

``ShuffledSum`` adds to each feature the float32 sum of all features taken in another order
on every call (the idea of ``tests/chaos_pairs.py``: a kernel whose threads add in whatever
order they finish). Its order comes from a counter nothing restores, so reruns differ.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

X = np.random.default_rng(11).standard_normal((8, 16)).astype(np.float32) * 100


def shuffled_model() -> Any:
    import keras
    import tensorflow as tf

    class Counter:
        def __init__(self) -> None:
            self.calls = tf.Variable(int.from_bytes(os.urandom(2), "little"), dtype=tf.int64)

    class ShuffledSum(keras.layers.Layer):
        def build(self, input_shape: Any) -> None:
            self._counter = Counter()

        def call(self, x: Any) -> Any:
            calls = tf.cast(self._counter.calls.assign_add(1), tf.float32)
            position = tf.range(1, tf.shape(x)[-1] + 1, dtype=tf.float32)
            perm = tf.argsort(tf.math.sin(position * (calls * 0.618034 + 12.9898)))
            total = tf.math.cumsum(tf.gather(x, perm, axis=-1), axis=-1)[..., -1:]
            return x + total

    return keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(16), ShuffledSum(name="shuffled_sum"), keras.layers.Dense(4)]
    )
