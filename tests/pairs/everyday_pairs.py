"""Thirteen everyday pairs, written the way users write them (issue 23), tiny.

Each is "the same model" twice: a ``keras.Sequential`` as the tutorials write it, and the
subclass (or second Sequential) a user writes next to it. Three really are equivalent; ten
differ in one way a user would not see by reading them. ``PAIRS`` maps a pair's name to its
two builders and what pairbench must say (``tests/causes/test_everyday.py``).

Inputs: ``X`` (16 rows, 6 features, seeded), integer labels ``Y`` over 4 classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

FEATURES, HIDDEN, CLASSES, ROWS = 6, 16, 4, 16
_rng = np.random.default_rng(23)
X = _rng.standard_normal((ROWS, FEATURES)).astype(np.float32)
Y = _rng.integers(0, CLASSES, size=ROWS)


@dataclass(frozen=True)
class Everyday:
    """One pair and what pairbench must find.

    Attributes:
        members: ``(reference builder, member builder)``.
        predict: the member's expected eager ``predict`` verdict.
        train: its expected eager ``train_step`` verdict.
        kind: the top cause's kind on the first non-identical row (None: no cause).
        words: strings the top cause must contain (both values).
        latent: for a member identical on these inputs that still computes differently,
            strings its ``latent-difference`` note must contain (empty: no such note).
    """

    members: tuple[Any, Any]
    predict: str
    train: str
    kind: str | None = None
    words: tuple[str, ...] = field(default_factory=tuple)
    latent: tuple[str, ...] = ()


# --- 1. an activation as its own layer, softmax in call() (equivalent) -------------------------
def textbook() -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )


def activation_layer() -> Any:
    import keras
    import tensorflow as tf

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(HIDDEN)
            self.act = keras.layers.Activation("relu")
            self.out = keras.layers.Dense(CLASSES)

        def call(self, x):
            return tf.nn.softmax(self.out(self.act(self.dense(x))))

    return Net()


# --- 2. Dense vs EinsumDense (equivalent) --------------------------------------------------------
def einsum_dense() -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.EinsumDense("ab,bc->ac", output_shape=HIDDEN, bias_axes="c", activation="relu"),
            keras.layers.EinsumDense("ab,bc->ac", output_shape=CLASSES, bias_axes="c", activation="softmax"),
        ]
    )


# --- 3. Sequential vs nested blocks (equivalent) -------------------------------------------------
def nested_blocks() -> Any:
    import keras

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.body = keras.Sequential([keras.layers.Dense(HIDDEN, activation="relu")])
            self.head = keras.Sequential([keras.layers.Dense(CLASSES, activation="softmax")])

        def call(self, x):
            return self.head(self.body(x))

    return Net()


# --- 4. an L2 regularizer in one member only ----------------------------------------------------
def regularized() -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(HIDDEN, activation="relu", kernel_regularizer=keras.regularizers.L2(0.01)),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )


class _Plain:
    """``Dense(relu) -> Dense(softmax)`` as a subclass (the unregularized port)."""

    @staticmethod
    def build() -> Any:
        import keras

        class Net(keras.Model):
            def __init__(self):
                super().__init__()
                self.hidden = keras.layers.Dense(HIDDEN, activation="relu")
                self.classifier = keras.layers.Dense(CLASSES, activation="softmax")

            def call(self, x):
                return self.classifier(self.hidden(x))

        return Net()


def plain_subclass() -> Any:
    return _Plain.build()


# --- 5. BatchNormalization(momentum=0.9, epsilon=1e-5) vs the defaults ---------------------------
def bn_torch_defaults() -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(HIDDEN),
            keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
            keras.layers.Activation("relu"),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )


def bn_subclass(*, training_flag: bool | None = None, relu_first: bool = False) -> Any:
    import keras
    import tensorflow as tf

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(HIDDEN)
            self.bn = (
                keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
                if training_flag is not None or relu_first
                else keras.layers.BatchNormalization()
            )
            self.out = keras.layers.Dense(CLASSES, activation="softmax")

        def call(self, x, training=False):
            h = self.dense(x)
            if relu_first:
                h = self.bn(tf.nn.relu(h), training=training)
            else:
                h = tf.nn.relu(self.bn(h, training=training if training_flag is None else training_flag))
            return self.out(h)

    return Net()


def bn_defaults() -> Any:
    return bn_subclass()


# --- 6. LayerNormalization(epsilon=1e-5) vs the default 1e-3 -------------------------------------
def layernorm(epsilon: float) -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(HIDDEN),
            keras.layers.LayerNormalization(epsilon=epsilon),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )


def layernorm_torch() -> Any:
    return layernorm(1e-5)


def layernorm_keras() -> Any:
    return layernorm(1e-3)


# --- 7. Dropout(0.2) vs Dropout(0.5) -------------------------------------------------------------
def dropout(rate: float) -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dropout(rate, seed=1),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )


def dropout_02() -> Any:
    return dropout(0.2)


def dropout_05() -> Any:
    return dropout(0.5)


# --- 8. one layer with dtype="mixed_float16" -----------------------------------------------------
def mixed_layer() -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(HIDDEN, activation="relu", dtype="mixed_float16"),
            keras.layers.Dense(CLASSES, activation="softmax", dtype="float32"),
        ]
    )


# --- 9. BatchNorm frozen in training: self.bn(x, training=False) ---------------------------------
def bn_frozen() -> Any:
    return bn_subclass(training_flag=False)


# --- 10. ReLU before BatchNorm instead of after --------------------------------------------------
def relu_before_bn() -> Any:
    return bn_subclass(relu_first=True)


# --- 11. one Dense called twice where the Sequential has two layers ------------------------------
def two_hidden() -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )


def shared_hidden() -> Any:
    import keras

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.inp = keras.layers.Dense(HIDDEN, activation="relu")
            self.hidden = keras.layers.Dense(HIDDEN, activation="relu")
            self.out = keras.layers.Dense(CLASSES, activation="softmax")

        def call(self, x):
            return self.out(self.hidden(self.hidden(self.inp(x))))

    return Net()


# --- 12. weights as raw tf.Variable attributes: Keras does not track them ------------------------
def untracked() -> Any:
    import keras
    import tensorflow as tf

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.w1 = tf.Variable(tf.random.normal([FEATURES, HIDDEN]))
            self.b1 = tf.Variable(tf.zeros([HIDDEN]))
            self.w2 = tf.Variable(tf.random.normal([HIDDEN, CLASSES]))
            self.b2 = tf.Variable(tf.zeros([CLASSES]))

        def call(self, x):
            h = tf.nn.relu(tf.matmul(x, self.w1) + self.b1)
            return tf.nn.softmax(tf.matmul(h, self.w2) + self.b2)

    return Net()


def _hidden_then_classifier(between: Any) -> Any:
    """A subclass ``Dense(HIDDEN)`` -> ``between`` -> ``Dense(CLASSES, softmax)``."""
    import keras

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(HIDDEN)
            self.classifier = keras.layers.Dense(CLASSES, activation="softmax")

        def call(self, x):
            return self.classifier(between(self.hidden(x)))

    return Net()


# --- 13. the activation forgotten in the subclass ------------------------------------------------
def forgot_relu() -> Any:
    return _hidden_then_classifier(lambda h: h)


# --- 14. relu6 for relu, on inputs that never reach 6 (identical, but not the same math) ---------
def relu6_for_relu() -> Any:
    import tensorflow as tf

    return _hidden_then_classifier(tf.nn.relu6)


PAIRS: dict[str, Everyday] = {
    "activation_layer": Everyday((textbook, activation_layer), "identical", "close"),
    "einsum_dense": Everyday((textbook, einsum_dense), "identical", "identical"),
    "relu6_for_relu": Everyday(
        (textbook, relu6_for_relu), "identical", "identical", latent=("activation", "relu6 vs relu")
    ),
    "nested_blocks": Everyday((textbook, nested_blocks), "identical", "identical"),
    "regularizer": Everyday(
        (regularized, plain_subclass), "identical", "diverged", "regularization", ("L2", "None")
    ),
    "batchnorm_config": Everyday(
        (bn_torch_defaults, bn_defaults),
        "diverged",
        "diverged",
        "configuration",
        ("epsilon", "0.001", "1e-05"),
    ),
    "layernorm_epsilon": Everyday(
        (layernorm_torch, layernorm_keras),
        "diverged",
        "diverged",
        "configuration",
        ("epsilon", "0.001", "1e-05"),
    ),
    "dropout_rate": Everyday(
        (dropout_02, dropout_05), "identical", "diverged", "configuration", ("rate", "0.5", "0.2")
    ),
    "mixed_layer": Everyday(
        (textbook, mixed_layer), "diverged", "diverged", "dtype-policy", ("mixed_float16", "float32")
    ),
    "batchnorm_frozen": Everyday(
        (bn_torch_defaults, bn_frozen),
        "identical",
        "diverged",
        "training-flag",
        ("inference mode", "training mode"),
    ),
    "relu_before_bn": Everyday(
        (bn_torch_defaults, relu_before_bn),
        "identical",
        "diverged",
        "op-order",
        ("relu", "batch_normalization"),
        # predict is identical at the initial moving statistics (BatchNorm is then a positive
        # scale, which commutes with relu), but the order still differs
        latent=("order of ops", "relu -> batch_normalization vs batch_normalization -> relu"),
    ),
    "shared_layer": Everyday(
        (two_hidden, shared_hidden),
        "structural-mismatch",
        "structural-mismatch",
        "shared-layer",
        ("hidden", "twice", "dense_1, dense_2"),
    ),
    "untracked_variables": Everyday(
        (textbook, untracked), "identical", "diverged", "untracked-variable", ("w1", "not trained")
    ),
    "forgot_activation": Everyday(
        (textbook, forgot_relu), "diverged", "diverged", "activation", ("None", "relu")
    ),
}
