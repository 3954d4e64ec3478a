"""``lstm``: stacked Keras LSTMs and a softmax head; cuDNN kernel versus the generic one.

Layers ``lstm_0 .. lstm_{layers-1}`` (``units`` each; all but the last return sequences)
and ``head``. The reference uses Keras' default ``use_cudnn="auto"``, which picks the
cuDNN kernel on a GPU; the extra member ``generic`` forces the generic (``while_loop``)
kernel with ``use_cudnn=False``, so comparing the two isolates the cuDNN kernel. On CPU
both run the generic kernel. The ``faulty`` control has no LSTM bias and no softmax.
"""

from __future__ import annotations

from typing import Any

from suite.zoo.base import Batch, Pair, normal_batch, register_pair


def _keras_layers(hp: dict[str, Any], *, use_cudnn: Any = "auto", faulty: bool = False) -> list[Any]:
    import keras

    n = hp["layers"]
    layers = [
        keras.layers.LSTM(
            hp["units"],
            return_sequences=i < n - 1,
            use_cudnn=use_cudnn,
            use_bias=not (faulty and i == 0),
            name=f"lstm_{i}",
        )
        for i in range(n)
    ]
    activation = None if faulty else "softmax"
    return [*layers, keras.layers.Dense(hp["classes"], activation=activation, name="head")]


def _call_stack(layers: list[Any], x: Any, training: Any) -> Any:
    for layer in layers[:-1]:
        x = layer(x, training=training)
    return layers[-1](x)


def _subclass(hp: dict[str, Any], name: str, **kw: Any) -> Any:
    import keras

    class LstmSubclass(keras.Model):
        def __init__(self) -> None:
            super().__init__(name=name)
            self.stack = _keras_layers(hp, **kw)

        def call(self, x: Any, training: bool = False) -> Any:
            return _call_stack(self.stack, x, training)

    return LstmSubclass()


@register_pair
class Lstm(Pair):
    """``layers`` stacked LSTM(units) over ``timesteps x features`` sequences."""

    name = "lstm"
    description = "LSTM stack -> Dense(softmax); cuDNN (auto) vs generic kernel"
    extra_members = ("generic",)
    sizes = {
        "tiny": {"batch": 8, "timesteps": 8, "features": 4, "units": 16, "layers": 1, "classes": 5},
        "default": {"batch": 64, "timesteps": 32, "features": 32, "units": 64, "layers": 1, "classes": 10},
        "large": {
            "batch": 1024,
            "timesteps": 128,
            "features": 256,
            "units": 1024,
            "layers": 2,
            "classes": 100,
        },
    }

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Standard-normal float32 sequences and uniform integer class labels."""
        return normal_batch(hp, seed, "timesteps", "features")

    def sequential(self, hp: dict[str, Any]) -> Any:
        """The reference: ``keras.Sequential`` with ``use_cudnn="auto"`` (cuDNN on a GPU)."""
        import keras

        inp = keras.Input((hp["timesteps"], hp["features"]))
        return keras.Sequential([inp, *_keras_layers(hp)], name="lstm_sequential")

    def generic(self, hp: dict[str, Any]) -> Any:
        """Sequential with ``use_cudnn=False``: the generic kernel everywhere."""
        import keras

        inp = keras.Input((hp["timesteps"], hp["features"]))
        return keras.Sequential([inp, *_keras_layers(hp, use_cudnn=False)], name="lstm_generic")

    def functional(self, hp: dict[str, Any]) -> Any:
        """The Functional API."""
        import keras

        x = keras.Input((hp["timesteps"], hp["features"]))
        return keras.Model(x, _call_stack(_keras_layers(hp), x, None), name="lstm_functional")

    def subclass(self, hp: dict[str, Any]) -> Any:
        """A subclassed ``keras.Model``."""
        return _subclass(hp, "lstm_subclass")

    def faulty(self, hp: dict[str, Any]) -> Any:
        """Control: the first LSTM has no bias and the head no softmax."""
        return _subclass(hp, "lstm_faulty", faulty=True)
