"""Activations named from their ops, whatever spelling wrote them (traced graphs, nothing run).

Every activation Keras offers reads as one unit of its Keras name whether it is a layer's
``activation=``, an ``Activation`` layer or called in ``call()``; two different activations
at one place are one cause with both names; ``tf.nn`` spellings and user functions are named
too, and ops no template knows are said as such, never as ``None``.
"""

from __future__ import annotations

import numpy as np
import pytest

from suite.causes.cause import headline

X = np.random.default_rng(0).standard_normal((4, 12)).astype(np.float32)
#: activations that need more than the input (threshold) or change the width (glu)
_APART = {"threshold", "glu", "linear", "get", "serialize", "deserialize"}
#: activations whose ops depend on the input's shape: known from a layer's argument only
_SHAPED = {"sparsemax"}


def _activations() -> list[str]:
    import keras

    return sorted(a for a in dir(keras.activations) if not a.startswith("_") and a not in _APART)


def _units(model):
    """The unit sequence of a model's inference pass, its layers with weights labelled in order."""
    import tensorflow as tf

    from suite.causes.graph import read_graph
    from suite.causes.units import units

    x = tf.constant(X)
    model(x)
    weighted = [layer for layer in model._flatten_layers(include_self=False) if layer.weights]
    labels = {id(layer): f"layer{i}" for i, layer in enumerate(weighted)}
    return units(read_graph(model, x, [], training=False), {}, labels)


def _sequential(activation):
    import keras

    return keras.Sequential(
        [keras.Input((12,)), keras.layers.Dense(8, activation=activation), keras.layers.Dense(4)]
    )


def _in_call(fn=None, layer=None):
    import keras

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.d1, self.d2 = keras.layers.Dense(8), keras.layers.Dense(4)
            self.act = keras.layers.Activation(layer) if layer else None

        def call(self, x):
            h = self.d1(x)
            h = self.act(h) if self.act is not None else fn(h)
            return self.d2(h)

    return Net()


def _diff(ref, mem):
    from suite.causes.graph_diff import diff_units

    return diff_units(_units(ref), _units(mem))


@pytest.fixture(scope="module")
def relu_units():
    return _units(_sequential("relu"))


@pytest.mark.parametrize("name", _activations())
def test_every_keras_activation_reads_alike_in_every_spelling_and_is_named_against_another(name, relu_units):
    import keras

    from suite.causes.activations import canonical
    from suite.causes.graph_diff import diff_units

    argument = _units(_sequential(name))
    assert [u.key for u in _units(_in_call(layer=name))] == [u.key for u in argument]
    keys = [u.key for u in argument]
    if name not in _SHAPED:
        assert [u.key for u in _units(_in_call(getattr(keras.activations, name)))] == keys
    expected = canonical(getattr(keras.activations, name).__name__)
    if name == "relu":
        return
    (cause,) = diff_units(relu_units, argument)
    assert cause.kind == "activation" and cause.reference == "relu", headline(cause)
    assert cause.member.split("(")[0] == expected, headline(cause)
    assert headline(cause).startswith(f"activation after layer0: {expected}")


def test_tf_nn_spellings_and_a_users_function_are_named_and_clip_is_not_an_activation():
    import tensorflow as tf

    from suite.causes.graph_diff import chained

    def my_act(x):
        return x * tf.math.tanh(tf.math.exp(x))

    named = {
        "tf.nn.gelu": (tf.nn.gelu, "gelu"),
        "tf.nn.gelu(approximate=True)": (lambda h: tf.nn.gelu(h, approximate=True), "gelu(approximate=True)"),
        "x * sigmoid(x)": (lambda h: h * tf.sigmoid(h), "silu"),
        "tf.nn.silu": (tf.nn.silu, "silu"),
        "tf.nn.leaky_relu(alpha=0.3)": (lambda h: tf.nn.leaky_relu(h, 0.3), "leaky_relu(negative_slope=0.3)"),
        "tf.nn.relu6": (tf.nn.relu6, "relu6"),
    }
    for spelling, (fn, expected) in named.items():
        acts = [u.name for u in _units(_in_call(fn)) if u.kind == "act"]
        assert acts == [expected], spelling
    assert [u.name for u in _units(_sequential(my_act)) if u.kind == "act"] == ["my_act"]
    clip = _units(_in_call(lambda h: tf.clip_by_value(h, 0.0, 6.0)))
    assert [(u.kind, u.name) for u in clip[1:3]] == [("op", "Minimum(x, 6)"), ("op", "Maximum(x, 0)")]
    said, _ = chained(clip, [])  # read op by op, said as one chain where the members differ
    assert [u.kind for u in said] == ["layer", "op", "layer"]
    assert said[1].name == "Minimum(x, 6) -> Maximum(x, 0)"


def test_an_activation_no_template_knows_is_said_with_its_ops_never_as_none(relu_units):
    import tensorflow as tf

    from suite.causes.graph_diff import diff_units

    def erf_gelu(h):
        return 0.5 * h * (1.0 + tf.math.erf(h / 1.4142135))

    (cause,) = diff_units(relu_units, _units(_in_call(erf_gelu)))
    assert cause.kind == "activation" and cause.reference == "relu"
    assert cause.member.startswith("an activation the graph does not name (ops ") and "Erf" in cause.member


def test_gelus_tanh_approximation_is_another_activation_than_gelu():
    import keras

    from suite.causes.graph_diff import diff_units

    gelu = _units(_sequential("gelu"))
    tanh_gelu = _units(_sequential(lambda x: keras.activations.gelu(x, approximate=True)))
    (cause,) = diff_units(gelu, tanh_gelu)
    assert headline(cause) == "activation after layer0: gelu(approximate=True) vs gelu"
