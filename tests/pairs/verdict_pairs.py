"""Test-only pairs for verdicts that must not mislead (``--pairs-from tests/pairs/verdict_pairs.py``).

- ``segments`` (comparisons that cannot be made): ``sequential`` (the reference) pools with
  ``tf.math.segment_sum``, which XLA cannot compile (``unsupported`` naming ``SegmentSum``);
  ``functional`` pools the same sums with ``unsorted_segment_sum`` (XLA compiles it), so its
  XLA case has no ``vs_pair`` reference: ``incomparable``. ``subclass`` has the same layers
  but returns its predictions with an extra axis: shapes differ from the reference's, so
  none of its ``vs_pair`` comparisons could be made: a ``structural-mismatch`` that says
  the shapes before anything runs (issue 23; ``incomparable`` before).
- ``blowup`` (trains into NaN): a linear model on features that were never normalised
  (~1e6): SGD explodes, the loss goes ``[~4e11, ~4e35, inf, nan]`` in four steps and the
  weights end NaN, identically in every member (so every comparison is "bitwise equal").
- ``scatter64`` (a user layer whose float64 call fails inside): ``ScatterAddDup`` adds its
  inputs into a float32 zero tensor with ``tf.tensor_scatter_nd_add``; under the float64
  policy the updates are float64 and TensorFlow refuses the op, so only the float64
  reference fails (Keras wraps the cause in "Exception encountered when calling ...").
- ``sparse_update`` (nondeterministic only in its update): token ids -> ``Embedding`` ->
  mean over the sequence -> ``Dense``. The embedding's gradient is an ``IndexedSlices`` with
  ~131k duplicate-heavy indices (50 distinct); SGD applies it with ``ResourceScatterSub``, which the CPU
  runs in parallel, so the order of the float32 additions (and the result) changes from run
  to run without op determinism. Forward outputs and gradients are bitwise stable.
- ``sleepy`` (a deterministic slowdown): each forward call sleeps :data:`BASE_SLEEP_S`
  (eager and ``tf.function``; a ``tf.py_function``, so not under XLA), times the factor in
  the environment variable :data:`SLOWDOWN_ENV` when it is set (``1.5``: 50% slower).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from suite.zoo import Batch, Pair, normal_batch, register_pair

#: a factor (e.g. "1.5") that multiplies the sleep of the ``sleepy`` pair's forward call
SLOWDOWN_ENV = "PAIRBENCH_TEST_SLOWDOWN"
#: seconds each ``sleepy`` forward call sleeps without a slowdown
BASE_SLEEP_S = 0.02

_SIZES3 = ("tiny", "default", "large")


def _classification(hp: dict[str, Any], seed: int) -> Batch:
    return normal_batch(hp, seed, "features")


class _Stacked(Pair):
    """A ``sequential`` reference and a ``functional`` member built from the same layer stack."""

    def _input(self, hp: dict[str, Any]) -> Any:
        import keras

        return keras.Input((hp["features"],))

    def _stack(self, hp: dict[str, Any]) -> list[Any]:
        raise NotImplementedError

    def sequential(self, hp: dict[str, Any]) -> Any:
        """The reference."""
        import keras

        return keras.Sequential([self._input(hp), *self._stack(hp)])

    def functional(self, hp: dict[str, Any]) -> Any:
        """The same layers, functional."""
        import keras

        x = h = self._input(hp)
        for layer in self._stack(hp):
            h = layer(h)
        return keras.Model(x, h)


def _segment_layers() -> dict[str, type]:
    import keras
    import tensorflow as tf

    def ids(x: Any) -> Any:
        return tf.range(tf.shape(x)[0]) // 2  # sorted: rows (0, 1), (2, 3), ...

    class PairSum(keras.layers.Layer):
        """Sums rows two by two with ``segment_sum`` (no XLA kernel)."""

        def call(self, x: Any) -> Any:
            return tf.math.segment_sum(x, ids(x))

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (None, *input_shape[1:])

    class UnsortedPairSum(PairSum):
        """The same sums with ``unsorted_segment_sum`` (XLA compiles it)."""

        def call(self, x: Any) -> Any:
            return tf.math.unsorted_segment_sum(x, ids(x), (tf.shape(x)[0] + 1) // 2)

    return {"PairSum": PairSum, "UnsortedPairSum": UnsortedPairSum}


@register_pair
class Segments(Pair):
    """Members whose comparisons cannot all be made (see the module docstring)."""

    name = "segments"
    description = "test-only: reference XLA-unsupported (SegmentSum); a member with another output shape"
    sizes = {s: {"batch": 8, "features": 6, "hidden": 8, "classes": 3} for s in _SIZES3}
    labels_per_row = False  # the model pools pairs of rows: one label per pair

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Standard-normal features, integer labels (one per pair of rows)."""
        batch = _classification(hp, seed)
        return Batch(batch.x, batch.y[: hp["batch"] // 2])

    def _stack(self, hp: dict[str, Any], pool: str) -> list[Any]:
        import keras

        return [
            keras.layers.Dense(hp["hidden"], activation="relu", name="dense_0"),
            _segment_layers()[pool](name="pool"),
            keras.layers.Dense(hp["classes"], activation="softmax", name="dense_1"),
        ]

    def sequential(self, hp: dict[str, Any]) -> Any:
        """The reference: ``segment_sum`` pooling."""
        import keras

        return keras.Sequential([keras.Input((hp["features"],)), *self._stack(hp, "PairSum")])

    def functional(self, hp: dict[str, Any]) -> Any:
        """``unsorted_segment_sum`` pooling: the same numbers, and XLA compiles it."""
        import keras

        x = h = keras.Input((hp["features"],))
        for layer in self._stack(hp, "UnsortedPairSum"):
            h = layer(h)
        return keras.Model(x, h)

    def subclass(self, hp: dict[str, Any]) -> Any:
        """The reference's layers, predictions returned with an extra axis (batch, 1, classes)."""
        import keras
        import tensorflow as tf

        stack = self._stack(hp, "PairSum")

        class ExtraAxis(keras.Model):
            def __init__(self) -> None:
                super().__init__()
                self.stack = stack

            def call(self, x: Any, training: bool = False) -> Any:
                for layer in self.stack:
                    x = layer(x)
                return tf.expand_dims(x, 1)

        return ExtraAxis()


@register_pair
class Blowup(_Stacked):
    """A linear regression on unnormalised features: SGD explodes into NaN."""

    name = "blowup"
    description = "test-only: trains into NaN in four steps (features ~1e6, never normalised)"
    sizes = {s: {"batch": 8, "features": 4} for s in _SIZES3}
    loss = "mse"
    learning_rate = 1.0
    train_steps = 4

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Features of size ~1e6, targets ~1000."""
        rng = np.random.default_rng(seed)
        x = (1e6 * rng.standard_normal((hp["batch"], hp["features"]))).astype(np.float32)
        y = (1000 + 10 * rng.standard_normal((hp["batch"], 1))).astype(np.float32)
        return Batch(x, y)

    def _stack(self, hp: dict[str, Any]) -> list[Any]:
        import keras

        return [keras.layers.Dense(1, name="dense_0")]


def _scatter_layer() -> type:
    import keras
    import tensorflow as tf

    class ScatterAddDup(keras.layers.Layer):
        """Adds every row of its input into row 0 of a float32 zero tensor (a user's bug: the
        zeros are float32 whatever the dtype policy)."""

        def call(self, x: Any) -> Any:
            index = tf.zeros((tf.shape(x)[0], 1), tf.int32)
            base = tf.zeros((4, x.shape[-1]), tf.float32)
            return tf.tensor_scatter_nd_add(base, index, x)

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (4, input_shape[-1])

    return ScatterAddDup


@register_pair
class Scatter64(_Stacked):
    """Works in float32; its float64 reference fails inside a user layer."""

    name = "scatter64"
    description = "test-only: a user layer whose float64 call fails (float64 updates, float32 tensor)"
    sizes = {s: {"batch": 4, "features": 3} for s in _SIZES3}
    loss = "mse"

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Standard-normal features and targets."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((hp["batch"], hp["features"]), dtype=np.float32)
        return Batch(x, rng.standard_normal((4, 2), dtype=np.float32))

    def _stack(self, hp: dict[str, Any]) -> list[Any]:
        import keras

        return [_scatter_layer()(name="scatter"), keras.layers.Dense(2, name="dense_0")]


@register_pair
class SparseUpdate(_Stacked):
    """An embedding whose SGD update (a parallel CPU scatter) is the only nondeterministic part."""

    name = "sparse_update"
    description = "test-only: embedding step nondeterministic only in its sparse update (CPU scatter)"
    sizes = {s: {"batch": 1024, "seq_len": 128, "vocab": 50, "embed_dim": 64, "classes": 4} for s in _SIZES3}
    learning_rate = 0.1
    train_steps = 1

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Zipf-distributed token ids (many duplicates), integer labels."""
        rng = np.random.default_rng(seed)
        x = ((rng.zipf(1.3, (hp["batch"], hp["seq_len"])) - 1) % hp["vocab"]).astype(np.int32)
        y = rng.integers(0, hp["classes"], size=hp["batch"], dtype=np.int32)
        return Batch(x, y)

    def _stack(self, hp: dict[str, Any]) -> list[Any]:
        import keras

        return [
            keras.layers.Embedding(hp["vocab"], hp["embed_dim"], name="embed"),
            keras.layers.GlobalAveragePooling1D(name="pool"),
            keras.layers.Dense(hp["classes"], activation="softmax", name="head"),
        ]

    def _input(self, hp: dict[str, Any]) -> Any:
        import keras

        return keras.Input((hp["seq_len"],), dtype="int32")


def _sleep_layer() -> type:
    import keras
    import tensorflow as tf

    def pause() -> float:
        factor = float(os.environ.get(SLOWDOWN_ENV) or 1.0)
        time.sleep(BASE_SLEEP_S * factor)
        return 0.0

    class Sleep(keras.layers.Layer):
        """Identity that sleeps (in eager and ``tf.function``) before returning its input."""

        def call(self, x: Any) -> Any:
            zero = tf.py_function(pause, [], tf.float32)
            zero.set_shape(())
            return x + tf.cast(zero, x.dtype)

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

    return Sleep


@register_pair
class Sleepy(_Stacked):
    """A tiny MLP whose forward call sleeps; longer when :data:`SLOWDOWN_ENV` is set."""

    name = "sleepy"
    description = "test-only: forward call sleeps 20 ms (times $PAIRBENCH_TEST_SLOWDOWN)"
    sizes = {s: {"batch": 4, "features": 6, "classes": 3} for s in _SIZES3}

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Standard-normal features, integer labels."""
        return _classification(hp, seed)

    def _stack(self, hp: dict[str, Any]) -> list[Any]:
        import keras

        return [keras.layers.Dense(hp["classes"], name="dense_0"), _sleep_layer()(name="sleep")]
