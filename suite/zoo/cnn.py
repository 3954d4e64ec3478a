"""``cnn``: Conv2D + BatchNormalization + ReLU + max-pooling blocks, global pooling, softmax head.

Block ``i``: ``conv_i`` (3x3, same padding, no bias) -> ``bn_i`` -> ``act_i`` (relu) ->
``pool_i`` (2x2 max); then ``gap`` (global average pooling) and ``head`` (softmax).
BatchNorm uses the size's ``bn_momentum``/``bn_epsilon`` in every member; the ``raw``
member keeps its own moving mean/variance variables and updates them in training exactly
as Keras does. The ``faulty`` control leaves out the last BatchNormalization.
"""

from __future__ import annotations

from typing import Any

from suite.zoo.base import Batch, Pair, normal_batch, register_pair

_BN = {"bn_momentum": 0.9, "bn_epsilon": 1e-3}


def _keras_block(hp: dict[str, Any], i: int, filters: int, *, with_bn: bool = True) -> list[Any]:
    import keras

    layers = [keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv_{i}")]
    if with_bn:
        layers.append(
            keras.layers.BatchNormalization(
                momentum=hp["bn_momentum"], epsilon=hp["bn_epsilon"], name=f"bn_{i}"
            )
        )
    layers += [
        keras.layers.Activation("relu", name=f"act_{i}"),
        keras.layers.MaxPooling2D(2, name=f"pool_{i}"),
    ]
    return layers


def _keras_layers(hp: dict[str, Any], *, skip_bn: int | None = None) -> list[Any]:
    import keras

    layers: list[Any] = []
    for i, filters in enumerate(hp["filters"]):
        layers += _keras_block(hp, i, filters, with_bn=i != skip_bn)
    layers += [
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(hp["classes"], activation="softmax", name="head"),
    ]
    return layers


def _call_stack(layers: list[Any], x: Any, training: bool) -> Any:
    import keras

    for layer in layers:
        x = layer(x, training=training) if isinstance(layer, keras.layers.BatchNormalization) else layer(x)
    return x


@register_pair
class Cnn(Pair):
    """Conv/BN/ReLU/pool blocks over ``height x width x channels`` images."""

    name = "cnn"
    description = "CNN: [Conv2D 3x3 -> BatchNorm -> ReLU -> MaxPool] x n -> GAP -> Dense(softmax)"
    sizes = {
        "tiny": {
            "batch": 8,
            "height": 16,
            "width": 16,
            "channels": 3,
            "filters": [8, 16],
            "classes": 10,
            **_BN,
        },
        "default": {
            "batch": 64,
            "height": 32,
            "width": 32,
            "channels": 3,
            "filters": [16, 32],
            "classes": 10,
            **_BN,
        },
        "large": {
            "batch": 512,
            "height": 64,
            "width": 64,
            "channels": 3,
            "filters": [64, 128, 256],
            "classes": 100,
            **_BN,
        },
    }

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Standard-normal float32 images (NHWC) and uniform integer class labels."""
        return normal_batch(hp, seed, "height", "width", "channels")

    def sequential(self, hp: dict[str, Any]) -> Any:
        """The reference: ``keras.Sequential``."""
        import keras

        inp = keras.Input((hp["height"], hp["width"], hp["channels"]))
        return keras.Sequential([inp, *_keras_layers(hp)], name="cnn_sequential")

    def functional(self, hp: dict[str, Any]) -> Any:
        """The Functional API."""
        import keras

        x = keras.Input((hp["height"], hp["width"], hp["channels"]))
        return keras.Model(x, _call_stack(_keras_layers(hp), x, training=None), name="cnn_functional")

    def subclass(self, hp: dict[str, Any]) -> Any:
        """A subclassed ``keras.Model`` passing ``training`` to BatchNorm explicitly."""
        import keras

        class CnnSubclass(keras.Model):
            def __init__(self) -> None:
                super().__init__(name="cnn_subclass")
                self.stack = _keras_layers(hp)

            def call(self, x: Any, training: bool = False) -> Any:
                return _call_stack(self.stack, x, training)

        return CnnSubclass()

    def raw(self, hp: dict[str, Any]) -> Any:
        """``tf.Module`` with raw conv, batch-norm (own moving statistics), pooling and dense."""
        from suite.zoo._layers import raw

        RawModule = raw("RawModule")
        Conv2D, BatchNorm, MaxPool2D = raw("Conv2D"), raw("BatchNorm"), raw("MaxPool2D")
        GlobalAveragePool2D, Dense = raw("GlobalAveragePool2D"), raw("Dense")

        class CnnRaw(RawModule):
            def __init__(self) -> None:
                super().__init__("cnn_raw")
                self.blocks = []
                channels = hp["channels"]
                for i, filters in enumerate(hp["filters"]):
                    self.blocks.append(
                        (
                            Conv2D(f"conv_{i}", channels, filters, 3, padding="same", use_bias=False),
                            BatchNorm(f"bn_{i}", filters, hp["bn_momentum"], hp["bn_epsilon"]),
                            MaxPool2D(f"pool_{i}", 2),
                        )
                    )
                    self.layer_activations[f"conv_{i}"] = None
                    self.layer_activations[f"act_{i}"] = "relu"
                    channels = filters
                self.gap = GlobalAveragePool2D("gap")
                self.head = Dense("head", channels, hp["classes"], "softmax")
                self.layer_activations["head"] = "softmax"

            def __call__(self, x: Any, training: bool = False) -> Any:
                import tensorflow as tf

                x = self.cast_input(x)
                for conv, bn, pool in self.blocks:
                    x = pool(tf.nn.relu(bn(conv(x), training=training)))
                return self.head(self.gap(x))

        return CnnRaw()

    def faulty(self, hp: dict[str, Any]) -> Any:
        """Control: the last block has no BatchNormalization."""
        import keras

        last = len(hp["filters"]) - 1

        class CnnFaulty(keras.Model):
            def __init__(self) -> None:
                super().__init__(name="cnn_faulty")
                self.stack = _keras_layers(hp, skip_bn=last)

            def call(self, x: Any, training: bool = False) -> Any:
                return _call_stack(self.stack, x, training)

        return CnnFaulty()
