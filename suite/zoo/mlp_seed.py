"""``mlp_seed``: the textbook model, Dense(64, relu) on 10 inputs -> Dense(10, softmax).

Written out member by member as the template for a pair file of your own (see
``docs/zoo.md``): the same two layers built as a Sequential, a Functional and a subclassed
model, as raw ``tf.Variable`` code, and as a known-wrong control that omits the biases and
activations. Only the batch changes between sizes.
"""

from __future__ import annotations

from typing import Any

from suite.zoo.base import Batch, Pair, normal_batch, register_pair


@register_pair
class MlpSeed(Pair):
    """Dense(64, relu) -> Dense(10, softmax) on 10 features."""

    name = "mlp_seed"
    description = "textbook MLP: Dense(64, relu) on 10 inputs -> Dense(10, softmax)"
    sizes = {
        "tiny": {"batch": 32, "features": 10, "hidden": 64, "classes": 10},
        "default": {"batch": 4096, "features": 10, "hidden": 64, "classes": 10},
        "large": {"batch": 262144, "features": 10, "hidden": 64, "classes": 10},
    }

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Standard-normal float32 features and uniform integer class labels."""
        return normal_batch(hp, seed, "features")

    def sequential(self, hp: dict[str, Any]) -> Any:
        """The reference: ``keras.Sequential``."""
        import keras

        return keras.Sequential(
            [
                keras.Input((hp["features"],)),
                keras.layers.Dense(hp["hidden"], activation="relu", name="dense_0"),
                keras.layers.Dense(hp["classes"], activation="softmax", name="dense_1"),
            ],
            name="mlp_seed_sequential",
        )

    def functional(self, hp: dict[str, Any]) -> Any:
        """The Functional API."""
        import keras

        x = keras.Input((hp["features"],))
        h = keras.layers.Dense(hp["hidden"], activation="relu", name="dense_0")(x)
        y = keras.layers.Dense(hp["classes"], activation="softmax", name="dense_1")(h)
        return keras.Model(x, y, name="mlp_seed_functional")

    def subclass(self, hp: dict[str, Any]) -> Any:
        """A subclassed ``keras.Model`` (weights appear on the first call)."""
        import keras

        class MlpSeedSubclass(keras.Model):
            def __init__(self) -> None:
                super().__init__(name="mlp_seed_subclass")
                self.dense_0 = keras.layers.Dense(hp["hidden"], activation="relu", name="dense_0")
                self.dense_1 = keras.layers.Dense(hp["classes"], activation="softmax", name="dense_1")

            def call(self, x: Any, training: bool = False) -> Any:
                return self.dense_1(self.dense_0(x))

        return MlpSeedSubclass()

    def raw(self, hp: dict[str, Any]) -> Any:
        """``tf.Module`` with explicit variables and the ops Keras' ``Dense`` runs."""
        import tensorflow as tf

        from suite.zoo._layers import make_variable, policy_dtypes, softmax

        features, hidden, classes = hp["features"], hp["hidden"], hp["classes"]

        class MlpSeedRaw(tf.Module):
            def __init__(self) -> None:
                super().__init__(name="mlp_seed_raw")
                self.compute_dtype, _ = policy_dtypes()
                self.kernel_0 = make_variable("dense_0/kernel", (features, hidden))
                self.bias_0 = make_variable("dense_0/bias", (hidden,), "zeros")
                self.kernel_1 = make_variable("dense_1/kernel", (hidden, classes))
                self.bias_1 = make_variable("dense_1/bias", (classes,), "zeros")
                self.layer_activations = {"dense_0": "relu", "dense_1": "softmax"}

            def __call__(self, x: Any, training: bool = False) -> Any:
                dt = self.compute_dtype
                x = tf.cast(x, dt)
                h = tf.nn.relu(
                    tf.nn.bias_add(tf.matmul(x, tf.cast(self.kernel_0, dt)), tf.cast(self.bias_0, dt))
                )
                logits = tf.nn.bias_add(tf.matmul(h, tf.cast(self.kernel_1, dt)), tf.cast(self.bias_1, dt))
                return softmax(logits)

        return MlpSeedRaw()

    def faulty(self, hp: dict[str, Any]) -> Any:
        """Control: subclass without biases and activations (a structural mismatch)."""
        import keras

        class MlpSeedFaulty(keras.Model):
            def __init__(self) -> None:
                super().__init__(name="mlp_seed_faulty")
                self.dense_0 = keras.layers.Dense(hp["hidden"], use_bias=False, name="dense_0")
                self.dense_1 = keras.layers.Dense(hp["classes"], use_bias=False, name="dense_1")

            def call(self, x: Any, training: bool = False) -> Any:
                return self.dense_1(self.dense_0(x))

        return MlpSeedFaulty()
