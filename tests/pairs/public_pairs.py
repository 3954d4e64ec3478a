"""Pairs built from public code by others: keras-io guides, TensorFlow tutorials, a PyTorch
port, forum questions and issues (issue 23).

The models follow the architecture and the arguments of the source named above each one
(layers, their order and settings), shrunk to tiny shapes; the code is written here, not
copied. Each pair is what a user does with such code: the author's model, and the port or
variant a user writes next to it with one difference in it (or none). ``PAIRS`` holds what
pairbench must say (``tests/causes/test_public_pairs.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

_rng = np.random.default_rng(2023)
#: 8x8 grey images, 3 classes (the MNIST examples, shrunk)
IMAGES = _rng.standard_normal((8, 8, 8, 1)).astype(np.float32)
IMAGE_LABELS = _rng.integers(0, 3, size=8)
#: 8 rows of 10 features (the tabular tutorials)
TABLE = _rng.standard_normal((8, 10)).astype(np.float32)
TABLE_TARGET = _rng.standard_normal((8, 1)).astype(np.float32)
#: 4 sequences of 5 steps of 8 features (the transformer example)
SEQUENCES = _rng.standard_normal((4, 5, 8)).astype(np.float32)
SEQUENCE_LABELS = _rng.integers(0, 2, size=4)
#: 8 images 6x6x2 (the ResNet block)
PATCHES = _rng.standard_normal((8, 6, 6, 2)).astype(np.float32)
PATCH_LABELS = _rng.integers(0, 3, size=8)


@dataclass(frozen=True)
class Public:
    """One pair from public code and what pairbench must find.

    Attributes:
        source: where the architecture comes from (repository and path, or the page).
        members: ``(the author's model, the variant a user writes)``.
        data: ``(x, y)``.
        predict: the variant's expected eager ``predict`` verdict.
        train: its expected eager ``train_step`` verdict.
        kind: the top cause's kind on the first row that differs (None: none).
        words: what the top cause must say (both values).
    """

    source: str
    members: tuple[Any, Any]
    data: tuple[Any, Any]
    predict: str
    train: str
    kind: str | None = None
    words: tuple[str, ...] = field(default_factory=tuple)


# keras-team/keras-io examples/nlp/text_classification_with_transformer.py: TransformerBlock
# (MultiHeadAttention with key_dim=embed_dim, a relu feed-forward, LayerNormalization(epsilon=1e-6)
# after each residual, Dropout(rate) before each). The port takes PyTorch's
# nn.TransformerEncoderLayer default layer_norm_eps=1e-5.
def transformer_block(epsilon: float = 1e-6) -> Any:
    import keras
    from keras import layers

    embed, heads, ff, rate = 8, 2, 16, 0.1
    inputs = keras.Input((5, embed))
    attention = layers.MultiHeadAttention(num_heads=heads, key_dim=embed)(inputs, inputs)
    attention = layers.Dropout(rate, seed=3)(attention)
    out1 = layers.LayerNormalization(epsilon=epsilon)(inputs + attention)
    hidden = layers.Dense(ff, activation="relu")(out1)
    hidden = layers.Dense(embed)(hidden)
    hidden = layers.Dropout(rate, seed=4)(hidden)
    out2 = layers.LayerNormalization(epsilon=epsilon)(out1 + hidden)
    pooled = layers.GlobalAveragePooling1D()(out2)
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(pooled))


def transformer_block_torch_eps() -> Any:
    return transformer_block(1e-5)


# keras-team/keras-io examples/vision/mnist_convnet.py: Conv2D(32, 3, relu), MaxPooling2D(2),
# Conv2D(64, 3, relu), MaxPooling2D(2), Flatten, Dropout(0.5), Dense(classes, softmax). The
# subclass port hard-codes training=False on its dropout (a common copy of inference code).
def mnist_convnet() -> Any:
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(4, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(8, kernel_size=(3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dropout(0.5, seed=7),
            layers.Dense(3, activation="softmax"),
        ]
    )


def mnist_convnet_frozen_dropout() -> Any:
    import keras
    from keras import layers

    class ConvNet(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv1 = layers.Conv2D(4, 3, activation="relu")
            self.pool = layers.MaxPooling2D(2)
            self.conv2 = layers.Conv2D(8, 3, activation="relu")
            self.flatten = layers.Flatten()
            self.dropout = layers.Dropout(0.5, seed=7)
            self.classifier = layers.Dense(3, activation="softmax")

        def call(self, x, training=False):
            x = self.conv2(self.pool(self.conv1(x)))
            return self.classifier(self.dropout(self.flatten(x), training=False))

    return ConvNet()


# tensorflow/docs site/en/tutorials/quickstart/advanced.ipynb: MyModel (Conv2D(32, 3, relu),
# Flatten, Dense(128, relu), Dense(10) logits) against the same layers as a Sequential.
def quickstart_sequential() -> Any:
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(16, activation="relu"),
            layers.Dense(3),
        ]
    )


def quickstart_subclass() -> Any:
    import keras
    from keras import layers

    class MyModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv1 = layers.Conv2D(4, 3, activation="relu")
            self.flatten = layers.Flatten()
            self.d1 = layers.Dense(16, activation="relu")
            self.d2 = layers.Dense(3)

        def call(self, x):
            return self.d2(self.d1(self.flatten(self.conv1(x))))

    return MyModel()


# tensorflow/docs site/en/tutorials/keras/overfit_and_underfit.ipynb: the "l2_model" (Dense
# layers with elu and kernel_regularizer=regularizers.l2(0.001)) against its unregularized twin.
def overfit_l2(regularized: bool = True) -> Any:
    import keras
    from keras import layers, regularizers

    reg = regularizers.l2(0.001) if regularized else None
    return keras.Sequential(
        [
            keras.Input((10,)),
            layers.Dense(16, activation="elu", kernel_regularizer=reg),
            layers.Dense(16, activation="elu", kernel_regularizer=reg),
            layers.Dense(1),
        ]
    )


def overfit_plain() -> Any:
    return overfit_l2(False)


# keras-team/keras-io guides/making_new_layers_and_models_via_subclassing.py: the
# VariationalAutoEncoder adds a KL term with self.add_loss() in call() (kept deterministic here:
# no sampling). The Functional rewrite of the same layers forgets the add_loss.
def autoencoder_functional() -> Any:
    import keras
    from keras import layers

    inputs = keras.Input((10,))
    hidden = layers.Dense(8, activation="relu")(inputs)
    z_mean = layers.Dense(4)(hidden)
    decoded = layers.Dense(8, activation="relu")(z_mean)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(decoded))


def autoencoder_add_loss() -> Any:
    import keras
    import tensorflow as tf
    from keras import layers

    class AutoEncoder(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense_proj = layers.Dense(8, activation="relu")
            self.dense_mean = layers.Dense(4)
            self.decoder_proj = layers.Dense(8, activation="relu")
            self.dense_output = layers.Dense(1, activation="sigmoid")

        def call(self, x):
            z_mean = self.dense_mean(self.dense_proj(x))
            self.add_loss(0.5 * tf.reduce_mean(tf.square(z_mean)))
            return self.dense_output(self.decoder_proj(z_mean))

    return AutoEncoder()


# stackoverflow.com/questions/34716454 "Where do I call the BatchNormalization function in
# Keras?": Dense -> BatchNormalization -> Activation("relu") against Dense(activation="relu")
# -> BatchNormalization, the two orders the answers argue about.
def bn_before_relu() -> Any:
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((10,)),
            layers.Dense(16),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Dense(1),
        ]
    )


def bn_after_relu() -> Any:
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((10,)),
            layers.Dense(16, activation="relu"),
            layers.BatchNormalization(),
            layers.Dense(1),
        ]
    )


# pytorch/vision torchvision/models/resnet.py BasicBlock (conv3x3 without bias, BatchNorm2d,
# ReLU, conv3x3, BatchNorm2d, identity shortcut, ReLU), ported to Keras twice: with the Keras
# BatchNormalization defaults, and with PyTorch's (momentum 0.1 -> Keras 0.9, eps 1e-5).
def resnet_block(torch_defaults: bool = False) -> Any:
    import keras
    from keras import layers

    bn = {"momentum": 0.9, "epsilon": 1e-5} if torch_defaults else {}
    inputs = keras.Input((6, 6, 2))
    x = layers.Conv2D(2, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization(**bn)(x)
    x = layers.ReLU()(x)
    x = layers.Conv2D(2, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(**bn)(x)
    x = layers.ReLU()(layers.Add()([x, inputs]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(3, activation="softmax")(x))


def resnet_block_torch() -> Any:
    return resnet_block(True)


# keras-team/keras-io guides/mixed_precision.py: Dense(relu) layers under a mixed_float16 policy,
# the output in float32. Here the policy is given per layer, as a user converting one model does.
def mixed_guide(mixed: bool = False) -> Any:
    import keras
    from keras import layers

    policy = "mixed_float16" if mixed else None
    return keras.Sequential(
        [
            keras.Input((10,)),
            layers.Dense(16, activation="relu", dtype=policy),
            layers.Dense(16, activation="relu", dtype=policy),
            layers.Dense(1, dtype="float32"),
        ]
    )


def mixed_guide_float16() -> Any:
    return mixed_guide(True)


# tensorflow/tensorflow issue 38211 / keras-team/keras issue 16797: tf.Variable attributes of a
# custom layer that Keras does not track (not trained), against add_weight.
def scale_layer_model(tracked: bool = True) -> Any:
    import keras
    import tensorflow as tf
    from keras import layers

    class Scale(layers.Layer):
        def build(self, input_shape):
            shape = (input_shape[-1],)
            if tracked:
                self.w = self.add_weight(shape=shape, initializer="ones")
            else:
                self.w = tf.Variable(tf.ones(shape))

        def call(self, x):
            return x * self.w

    return keras.Sequential([keras.Input((10,)), layers.Dense(8), Scale(), layers.Dense(1)])


def scale_layer_untracked() -> Any:
    return scale_layer_model(False)


PAIRS: dict[str, Public] = {
    "transformer_torch_eps": Public(
        "keras-team/keras-io examples/nlp/text_classification_with_transformer.py",
        (transformer_block, transformer_block_torch_eps),
        (SEQUENCES, SEQUENCE_LABELS),
        "close",
        "close",
        "configuration",
        ("epsilon", "1e-05", "1e-06"),
    ),
    "mnist_dropout_frozen": Public(
        "keras-team/keras-io examples/vision/mnist_convnet.py",
        (mnist_convnet, mnist_convnet_frozen_dropout),
        (IMAGES, IMAGE_LABELS),
        "identical",
        "diverged",
        "training-flag",
        ("dropout", "no mask drawn", "drops units"),
    ),
    "quickstart": Public(
        "tensorflow/docs site/en/tutorials/quickstart/advanced.ipynb",
        (quickstart_sequential, quickstart_subclass),
        (IMAGES, IMAGE_LABELS),
        "identical",
        "identical",
    ),
    "overfit_l2": Public(
        "tensorflow/docs site/en/tutorials/keras/overfit_and_underfit.ipynb",
        (overfit_l2, overfit_plain),
        (TABLE, TABLE_TARGET),
        "identical",
        "diverged",
        "regularization",
        ("kernel_regularizer", "None", "L2(l2=0.001)"),
    ),
    "vae_add_loss": Public(
        "keras-team/keras-io guides/making_new_layers_and_models_via_subclassing.py",
        (autoencoder_functional, autoencoder_add_loss),
        (TABLE, TABLE_TARGET),
        "identical",
        "diverged",
        "regularization",
        ("add_loss terms", "1 vs 0"),
    ),
    "bn_relu_order": Public(
        "stackoverflow.com/questions/34716454",
        (bn_before_relu, bn_after_relu),
        (TABLE, TABLE_TARGET),
        "identical",
        "diverged",
        "op-order",
        ("relu -> batch_normalization", "batch_normalization -> relu"),
    ),
    "resnet_torch_bn": Public(
        "pytorch/vision torchvision/models/resnet.py (BasicBlock)",
        (resnet_block, resnet_block_torch),
        (PATCHES, PATCH_LABELS),
        "diverged",
        "diverged",
        "configuration",
        ("epsilon", "1e-05", "0.001"),
    ),
    "mixed_precision": Public(
        "keras-team/keras-io guides/mixed_precision.py",
        (mixed_guide, mixed_guide_float16),
        (TABLE, TABLE_TARGET),
        "diverged",
        "diverged",
        "dtype-policy",
        ("mixed_float16", "float32"),
    ),
    "untracked_layer_variable": Public(
        "tensorflow/tensorflow issues/38211, keras-team/keras issues/16797",
        (scale_layer_model, scale_layer_untracked),
        (TABLE, TABLE_TARGET),
        "identical",
        "diverged",
        "untracked-variable",
        ("not trained",),
    ),
}
