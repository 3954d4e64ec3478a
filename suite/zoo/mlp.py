"""``mlp``: a wider, deeper MLP; ``large`` is a compute-bound GEMM chain on an H100.

Layers ``dense_0 .. dense_{depth-1}`` (``width`` units, relu) and ``dense_{depth}``
(``classes`` units, softmax). The ``faulty`` control reuses ``dense_1`` where ``dense_2``
belongs (weight sharing), so it lacks ``dense_2``'s variables.
"""

from __future__ import annotations

import itertools
from typing import Any

from suite.zoo.base import Batch, Pair, normal_batch, register_pair


def _layer_specs(hp: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    """``(name, in_dim, units, activation)`` of every Dense layer, in order."""
    dims = [hp["features"]] + [hp["width"]] * hp["depth"] + [hp["classes"]]
    specs = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(dims)):
        specs.append((f"dense_{i}", n_in, n_out, "relu" if i < hp["depth"] else "softmax"))
    return specs


def _keras_layers(hp: dict[str, Any]) -> list[Any]:
    import keras

    return [keras.layers.Dense(units, activation=act, name=name) for name, _, units, act in _layer_specs(hp)]


@register_pair
class Mlp(Pair):
    """``depth`` hidden Dense(width, relu) layers and a softmax head."""

    name = "mlp"
    description = "deep MLP: depth x Dense(width, relu) -> Dense(classes, softmax)"
    sizes = {
        "tiny": {"batch": 32, "features": 32, "width": 64, "depth": 3, "classes": 10},
        "default": {"batch": 256, "features": 256, "width": 512, "depth": 3, "classes": 10},
        "large": {"batch": 8192, "features": 1024, "width": 4096, "depth": 4, "classes": 1000},
    }

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Standard-normal float32 features and uniform integer class labels."""
        return normal_batch(hp, seed, "features")

    def sequential(self, hp: dict[str, Any]) -> Any:
        """The reference: ``keras.Sequential``."""
        import keras

        return keras.Sequential([keras.Input((hp["features"],)), *_keras_layers(hp)], name="mlp_sequential")

    def functional(self, hp: dict[str, Any]) -> Any:
        """The Functional API."""
        import keras

        x = h = keras.Input((hp["features"],))
        for layer in _keras_layers(hp):
            h = layer(h)
        return keras.Model(x, h, name="mlp_functional")

    def subclass(self, hp: dict[str, Any]) -> Any:
        """A subclassed ``keras.Model`` holding its layers in a list."""
        import keras

        class MlpSubclass(keras.Model):
            def __init__(self) -> None:
                super().__init__(name="mlp_subclass")
                self.stack = _keras_layers(hp)

            def call(self, x: Any, training: bool = False) -> Any:
                for layer in self.stack:
                    x = layer(x)
                return x

        return MlpSubclass()

    def raw(self, hp: dict[str, Any]) -> Any:
        """``tf.Module`` of raw Dense blocks (matmul, bias_add, activation)."""
        from suite.zoo._layers import raw

        RawModule, Dense = raw("RawModule"), raw("Dense")

        class MlpRaw(RawModule):
            def __init__(self) -> None:
                super().__init__("mlp_raw")
                self.stack = [Dense(*spec) for spec in _layer_specs(hp)]
                self.layer_activations = {name: act for name, _, _, act in _layer_specs(hp)}

            def __call__(self, x: Any, training: bool = False) -> Any:
                x = self.cast_input(x)
                for layer in self.stack:
                    x = layer(x)
                return x

        return MlpRaw()

    def faulty(self, hp: dict[str, Any]) -> Any:
        """Control: ``dense_1`` applied twice (shared weights) instead of ``dense_1``, ``dense_2``."""
        import keras

        if hp["depth"] < 3:
            raise ValueError("the faulty mlp needs depth >= 3 to share dense_1 with dense_2")

        class MlpFaulty(keras.Model):
            def __init__(self) -> None:
                super().__init__(name="mlp_faulty")
                self.stack = [layer for layer in _keras_layers(hp) if layer.name != "dense_2"]

            def call(self, x: Any, training: bool = False) -> Any:
                x = self.stack[1](self.stack[0](x))
                for layer in self.stack[1:]:  # dense_1 again, where dense_2 belongs
                    x = layer(x)
                return x

        return MlpFaulty()
