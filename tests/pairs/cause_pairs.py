"""Pairs with one fault each, written the way users write them, tiny: what the cause engine must name.

A ``keras.Sequential`` (or functional model) as the tutorials write it, and the subclass a user
writes next to it with one difference they would not see by reading the two: an activation,
an op on the input, a pooling, a padding, a stride, an argument of a recurrent layer (one that
returns sequences: outputs of another shape), a dropout called with ``training=True`` or
applied at another place, a residual, the order of a concatenation... and builds
that only look different (``activation=tf.nn.relu``, a ``Softmax`` layer, ``Dropout(0.0)``).
Raw ``tf.Variable`` members (a ``tf.Module``: :func:`raw`) stand next to them: a batch
normalisation with its own statistics, with Keras' epsilon or another, a layer normalisation
with another epsilon, a bias never added, ops between two matmuls, a ``tf.nn.dropout`` on the
input.
``PAIRS`` maps a name to the two builders, the data they take and what pairbench must say
(``tests/causes/test_cause_pairs.py``); pairs that share a reference share its run.

Data: ``VECTORS`` (16 rows, 12 features), ``IMAGES`` (16, 8x8x3), ``SEQUENCES`` (16, 5
steps, 3 features), ``TOKENS`` (16, 6 ids, the last two 0: padding), labels over 4 classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from suite.verdicts import DIVERGED, IDENTICAL, STRUCTURAL_MISMATCH

_rng = np.random.default_rng(31)
LABELS = _rng.integers(0, 4, size=16)
VECTORS = (_rng.standard_normal((16, 12)).astype(np.float32), LABELS)
IMAGES = (_rng.standard_normal((16, 8, 8, 3)).astype(np.float32), LABELS)
SEQUENCES = (_rng.standard_normal((16, 5, 3)).astype(np.float32), LABELS)
_tokens = _rng.integers(1, 10, size=(16, 6)).astype(np.int32)
_tokens[:, -2:] = 0
TOKENS = (_tokens, LABELS)


@dataclass(frozen=True)
class Fault:
    """One pair and what pairbench must find.

    Attributes:
        members: ``(reference builder, member builder)``.
        data: ``(x, y)``.
        predict: the member's expected eager ``predict`` verdict.
        train: its expected eager ``train_step`` verdict.
        kind: the top cause's kind on the first row that is not ``identical`` (None: no cause
            but rounding).
        words: strings the top cause's line must contain (both values).
        note: a string the ``identical`` predict row's notes must contain.
        also: strings the reason must contain after the top cause (the next causes).
        alone: every row that is not ``identical`` has the top cause as its only cause.
    """

    members: tuple[Callable[[], Any], Callable[[], Any]]
    data: tuple[Any, Any]
    predict: str
    train: str
    kind: str | None = None
    words: tuple[str, ...] = field(default_factory=tuple)
    note: str = ""
    also: tuple[str, ...] = field(default_factory=tuple)
    alone: bool = False


def subclass(build: Callable[[Any], None], call: Callable[[Any, Any], Any]) -> Callable[[], Any]:
    """A builder of ``class Net(keras.Model)`` whose ``__init__`` runs ``build(self)`` and whose
    ``call(x)`` returns ``call(self, x)``: the subclass a user writes, in one line."""

    def make() -> Any:
        import keras

        class Net(keras.Model):
            def __init__(self):
                super().__init__()
                build(self)

            def call(self, x, training=None):
                return call(self, x)

        return Net()

    return make


def raw(build: Callable[[Any], None], call: Callable[[Any, Any, Any], Any]) -> Callable[[], Any]:
    """A builder of ``class Net(tf.Module)`` whose ``__init__`` runs ``build(self)`` and whose
    ``__call__(x, training)`` returns ``call(self, x, training)``: raw ``tf.Variable`` code."""

    def make() -> Any:
        import tensorflow as tf

        class Net(tf.Module):
            def __init__(self):
                super().__init__()
                build(self)

            def __call__(self, x, training=False):
                return call(self, x, training)

        return Net()

    return make


# --- references ---------------------------------------------------------------------------------
def mlp() -> Any:
    import keras
    from keras import layers

    return keras.Sequential([keras.Input((12,)), layers.Dense(16, activation="relu"), layers.Dense(4)])


def mlp_dropout() -> Any:
    import keras
    from keras import layers

    return keras.Sequential(
        [keras.Input((12,)), layers.Dense(16, activation="relu"), layers.Dropout(0.5), layers.Dense(4)]
    )


def mlp_softmax() -> Any:
    import keras
    from keras import layers

    return keras.Sequential(
        [keras.Input((12,)), layers.Dense(16, activation="relu"), layers.Dense(4, activation="softmax")]
    )


def mlp_layernorm() -> Any:
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((12,)),
            layers.Dense(16, activation="relu"),
            layers.LayerNormalization(),
            layers.Dense(4),
        ]
    )


def two_branches(merge: str) -> Callable[[], Any]:
    def make() -> Any:
        import keras
        from keras import layers

        x = keras.Input((12,))
        a, b = layers.Dense(8, name="a")(x), layers.Dense(8, name="b")(x)
        joined = layers.Concatenate()([a, b]) if merge == "concat" else layers.Add()([a, b])
        return keras.Model(x, layers.Dense(4)(joined))

    return make


def residual() -> Any:
    import keras
    from keras import layers

    x = keras.Input((12,))
    h = layers.Dense(12, activation="relu")(x)
    return keras.Model(x, layers.Dense(4)(layers.Add()([x, h])))


def convnet() -> Any:
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(4, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(4),
        ]
    )


def conv_bn() -> Any:
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(4, 3, use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Flatten(),
            layers.Dense(4),
        ]
    )


def conv_dropout() -> Any:
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(4),
        ]
    )


def lstm() -> Any:
    import keras
    from keras import layers

    return keras.Sequential([keras.Input((5, 3)), layers.LSTM(6), layers.Dense(4)])


def gru() -> Any:
    import keras
    from keras import layers

    return keras.Sequential([keras.Input((5, 3)), layers.GRU(6), layers.Dense(4)])


def attention() -> Any:
    import keras
    from keras import layers

    x = keras.Input((5, 3))
    h = layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    return keras.Model(x, layers.Dense(4)(layers.GlobalAveragePooling1D()(h)))


def embedding_lstm() -> Any:
    import keras
    from keras import layers

    return keras.Sequential(
        [keras.Input((6,), dtype="int32"), layers.Embedding(10, 4), layers.LSTM(5), layers.Dense(4)]
    )


# --- members --------------------------------------------------------------------------------------
def _mlp(*, act: Any = "relu", extra: Callable[[Any], None] | None = None, **dense: Any):
    def build(net: Any) -> None:
        from keras import layers

        net.d1 = layers.Dense(16, activation=act, **dense)
        net.d2 = layers.Dense(4)
        if extra is not None:
            extra(net)

    return build


def _untracked_scale(net: Any) -> None:
    import tensorflow as tf

    net.scale = tf.Variable(1.0)


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _layers() -> Any:
    from keras import layers

    return layers


def _dropout(rate: float = 0.5, **kw: Any) -> Callable[[Any], None]:
    return lambda net: setattr(net, "drop", _layers().Dropout(rate, **kw))


def _conv(pool: str = "max", head: str = "flatten", **conv: Any) -> Callable[[], Any]:
    def build(net: Any) -> None:
        layers = _layers()
        net.conv = layers.Conv2D(
            **{"filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu", **conv}
        )
        net.pool = layers.MaxPooling2D(2) if pool == "max" else layers.AveragePooling2D(2)
        net.head = layers.Flatten() if head == "flatten" else layers.GlobalAveragePooling2D()
        net.out = layers.Dense(4)

    return subclass(build, lambda net, x: net.out(net.head(net.pool(net.conv(x)))))


def _recurrent(cell: str = "LSTM", **kw: Any) -> Callable[[], Any]:
    def build(net: Any) -> None:
        net.rnn = getattr(_layers(), cell)(6, **kw)
        net.out = _layers().Dense(4)

    return subclass(build, lambda net, x: net.out(net.rnn(x)))


def _conv_bn(**kw: Any) -> Callable[[], Any]:
    def build(net: Any) -> None:
        layers = _layers()
        net.conv = layers.Conv2D(4, 3, use_bias=kw.pop("use_bias", False))
        net.bn = layers.BatchNormalization(**kw)
        net.flat = layers.Flatten()
        net.out = layers.Dense(4)

    return subclass(build, lambda net, x: net.out(net.flat(_tf().nn.relu(net.bn(net.conv(x))))))


def _branches(call: Callable[[Any, Any], Any]) -> Callable[[], Any]:
    def build(net: Any) -> None:
        layers = _layers()
        net.a, net.b, net.out = layers.Dense(8, name="a"), layers.Dense(8, name="b"), layers.Dense(4)

    return subclass(build, call)


def _attention(causal: bool) -> Callable[[], Any]:
    def build(net: Any) -> None:
        net.attn = _layers().MultiHeadAttention(num_heads=2, key_dim=4)
        net.out = _layers().Dense(4)

    return subclass(
        build, lambda net, x: net.out(_tf().reduce_mean(net.attn(x, x, use_causal_mask=causal), axis=1))
    )


def _bidirectional() -> Any:
    def build(net: Any) -> None:
        net.rnn = _layers().Bidirectional(_layers().LSTM(3))
        net.out = _layers().Dense(4)

    return subclass(build, lambda net, x: net.out(net.rnn(x)))()


def _mask_zero() -> Any:
    def build(net: Any) -> None:
        layers = _layers()
        net.embed, net.rnn, net.out = layers.Embedding(10, 4, mask_zero=True), layers.LSTM(5), layers.Dense(4)

    return subclass(build, lambda net, x: net.out(net.rnn(net.embed(x))))()


def _spatial_dropout() -> Any:
    def build(net: Any) -> None:
        layers = _layers()
        net.conv, net.drop = layers.Conv2D(4, 3, activation="relu"), layers.SpatialDropout2D(0.3)
        net.flat, net.out = layers.Flatten(), layers.Dense(4)

    return subclass(build, lambda net, x: net.out(net.flat(net.drop(net.conv(x)))))()


def _no_pooling() -> Any:
    def build(net: Any) -> None:
        net.attn = _layers().MultiHeadAttention(num_heads=2, key_dim=4)
        net.out = _layers().Dense(4)

    return subclass(build, lambda net, x: net.out(net.attn(x, x)))()


def _layernorm_first() -> Any:
    def build(net: Any) -> None:
        layers = _layers()
        net.d1, net.norm, net.d2 = layers.Dense(16), layers.LayerNormalization(), layers.Dense(4)

    return subclass(build, lambda net, x: net.d2(_tf().nn.relu(net.norm(net.d1(x)))))()


def _variables(**shapes: tuple[int, ...]) -> Callable[[Any], None]:
    """``build`` of a raw member: a ``tf.Variable`` attribute of each shape (``w1=(12, 16)``);
    its initial value does not matter (pairbench copies the reference's weights)."""

    def build(net: Any) -> None:
        tf = _tf()
        for name, shape in shapes.items():
            setattr(net, name, tf.Variable(tf.ones(shape), name=name))

    return build


_RAW_MLP = _variables(w1=(12, 16), b1=(16,), w2=(16, 4), b2=(4,))
_RAW_NORM = _variables(w1=(12, 16), b1=(16,), gamma=(16,), beta=(16,), w2=(16, 4), b2=(4,))


def _raw_hidden(net: Any, x: Any, *, bias: bool = True) -> Any:
    """The first Dense(16, relu) of the MLPs in raw ops."""
    tf = _tf()
    h = tf.matmul(x, net.w1)
    return tf.nn.relu(h + net.b1 if bias else h)


def _raw_layernorm(net: Any, h: Any, epsilon: float) -> Any:
    """A layer normalisation as raw code writes it: moments over the features, then scale and shift."""
    tf = _tf()
    mean, variance = tf.nn.moments(h, axes=[-1], keepdims=True)
    return (h - mean) * tf.math.rsqrt(variance + epsilon) * net.gamma + net.beta


def _raw_dropout(x: Any, training: Any) -> Any:
    return _tf().nn.dropout(x, 0.5, seed=1) if training else x


def _raw_bn_build(net: Any) -> None:
    tf = _tf()
    net.kernel = tf.Variable(tf.ones((3, 3, 3, 4)), name="kernel")
    net.gamma, net.beta = tf.Variable(tf.ones(4), name="gamma"), tf.Variable(tf.zeros(4), name="beta")
    net.moving_mean = tf.Variable(tf.zeros(4), name="moving_mean", trainable=False)
    net.moving_variance = tf.Variable(tf.ones(4), name="moving_variance", trainable=False)
    net.w, net.b = tf.Variable(tf.ones((144, 4)), name="w"), tf.Variable(tf.zeros(4), name="b")


def _raw_conv_bn(epsilon: float) -> Callable[[], Any]:
    """Conv2D(4, 3, no bias) -> BatchNormalization -> ReLU -> Flatten -> Dense(4) in raw ops,
    the batch normalisation with its own moving statistics and ``epsilon``."""

    def call(net: Any, x: Any, training: Any) -> Any:
        tf = _tf()
        h = tf.nn.conv2d(x, net.kernel, 1, "VALID")
        if training:
            mean, variance = tf.nn.moments(h, axes=[0, 1, 2])
            net.moving_mean.assign(net.moving_mean * 0.99 + mean * (1.0 - 0.99))
            net.moving_variance.assign(net.moving_variance * 0.99 + variance * (1.0 - 0.99))
        else:
            mean, variance = net.moving_mean, net.moving_variance
        h = tf.nn.batch_normalization(h, mean, variance, net.beta, net.gamma, epsilon)
        return tf.matmul(tf.reshape(tf.nn.relu(h), (-1, 144)), net.w) + net.b

    return raw(_raw_bn_build, call)


def _mean() -> np.ndarray:
    return np.linspace(0.0, 1.0, 12).astype(np.float32)


MLP = subclass(_mlp(), lambda net, x: net.d2(net.d1(x)))

PAIRS: dict[str, Fault] = {
    # the four pairs of the first probe
    "gelu": Fault(
        (mlp, subclass(_mlp(act="gelu"), lambda net, x: net.d2(net.d1(x)))),
        VECTORS,
        DIVERGED,
        DIVERGED,
        "activation",
        ("activation after dense: gelu vs relu",),
    ),
    "input_scaled": Fault(
        (mlp, subclass(_mlp(), lambda net, x: net.d2(net.d1(x / 2.0)))),
        VECTORS,
        DIVERGED,
        DIVERGED,
        "extra-op",
        ("extra op RealDiv(x, 2) before dense: runs vs absent",),
    ),
    "pooling": Fault(
        (convnet, _conv(pool="avg")),
        IMAGES,
        DIVERGED,
        DIVERGED,
        "op-substitution",
        ("pooling after conv2d: AvgPool vs MaxPool",),
    ),
    "padding": Fault(
        (convnet, _conv(padding="valid")),
        IMAGES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "configuration",
        ("configuration of conv2d: padding valid vs same",),
    ),
    # a learnable scale kept in a plain tf.Variable: Keras does not track it, so nothing maps
    # to it; its multiplication reads as an op with a captured value, said after the variable
    "untracked_scale": Fault(
        (mlp, subclass(_mlp(extra=_untracked_scale), lambda net, x: net.d2(net.d1(x)) * net.scale)),
        VECTORS,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "untracked-variable",
        ("scale", "Keras does not track"),
    ),
    # ops a subclass adds between layers
    "times_255": Fault(
        (mlp, subclass(_mlp(), lambda net, x: net.d2(net.d1(x * 255.0)))),
        VECTORS,
        DIVERGED,
        DIVERGED,
        "extra-op",
        ("extra op Mul(x, 255) before dense",),
    ),
    "minus_mean": Fault(
        (mlp, subclass(_mlp(), lambda net, x: net.d2(net.d1(x - _mean())))),
        VECTORS,
        DIVERGED,
        DIVERGED,
        "extra-op",
        ("extra op Sub(x, const(12,)) before dense",),
    ),
    "l2_normalize": Fault(
        (mlp, subclass(_mlp(), lambda net, x: net.d2(_tf().nn.l2_normalize(net.d1(x), -1)))),
        VECTORS,
        DIVERGED,
        DIVERGED,
        "extra-op",
        ("Rsqrt", "after dense: runs vs absent"),
    ),
    "cast_to_int": Fault(
        (
            mlp,
            subclass(
                _mlp(), lambda net, x: net.d2(net.d1(_tf().cast(_tf().cast(x * 4, "int32"), "float32")))
            ),
        ),
        VECTORS,
        DIVERGED,
        DIVERGED,
        "extra-op",
        ("Cast to int32 before dense",),
    ),
    "transpose": Fault(
        (
            mlp,
            subclass(
                _mlp(),
                lambda net, x: net.d2(
                    _tf().reshape(_tf().transpose(_tf().reshape(net.d1(x), (-1, 4, 4)), (0, 2, 1)), (-1, 16))
                ),
            ),
        ),
        VECTORS,
        DIVERGED,
        DIVERGED,
        "extra-op",
        ("extra op Transpose(x, (0, 2, 1)) after dense",),
    ),
    "reshape_only": Fault(
        (
            mlp,
            subclass(
                _mlp(), lambda net, x: net.d2(_tf().reshape(_tf().reshape(net.d1(x), (-1, 4, 4)), (-1, 16)))
            ),
        ),
        VECTORS,
        IDENTICAL,
        IDENTICAL,
    ),
    "no_residual": Fault(
        (
            residual,
            subclass(
                lambda net: (
                    setattr(net, "d1", _layers().Dense(12, activation="relu")),
                    setattr(net, "d2", _layers().Dense(4)),
                ),
                lambda net, x: net.d2(net.d1(x)),
            ),
        ),
        VECTORS,
        DIVERGED,
        DIVERGED,
        "extra-op",
        ("extra op AddV2(dense, input) in add (Add) after dense: absent vs runs",),
    ),
    "concat_swapped": Fault(
        (
            two_branches("concat"),
            _branches(lambda net, x: net.out(_tf().concat([net.b(x), net.a(x)], axis=-1))),
        ),
        VECTORS,
        DIVERGED,
        DIVERGED,
        "op-substitution",
        ("ConcatV2(b, a, 1) vs ConcatV2(a, b, 1)",),
    ),
    "concat_axis_1": Fault(
        (
            two_branches("concat"),
            _branches(lambda net, x: net.out(_tf().concat([net.a(x), net.b(x)], axis=1))),
        ),
        VECTORS,
        IDENTICAL,
        IDENTICAL,
    ),
    "concat_for_add": Fault(
        (two_branches("add"), _branches(lambda net, x: net.out(_tf().concat([net.a(x), net.b(x)], axis=-1)))),
        VECTORS,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "op-substitution",
        ("op after b: ConcatV2(a, b, 1) vs AddV2(a, b)",),
    ),
    "relu_after_layernorm": Fault(
        (mlp_layernorm, _layernorm_first),
        VECTORS,
        DIVERGED,
        DIVERGED,
        "op-order",
        ("layer_normalization -> relu vs relu -> layer_normalization",),
    ),
    # builds that only look different
    "callable_relu": Fault(  # tf.keras style: activation=tf.nn.relu
        (mlp, subclass(lambda net: _mlp(act=_tf().nn.relu)(net), lambda net, x: net.d2(net.d1(x)))),
        VECTORS,
        IDENTICAL,
        IDENTICAL,
    ),
    "softmax_layer": Fault(
        (
            mlp_softmax,
            subclass(
                lambda net: (_mlp()(net), setattr(net, "soft", _layers().Softmax())),
                lambda net, x: net.soft(net.d2(net.d1(x))),
            ),
        ),
        VECTORS,
        IDENTICAL,
        IDENTICAL,
    ),
    "he_normal": Fault(
        (mlp, subclass(_mlp(kernel_initializer="he_normal"), lambda net, x: net.d2(net.d1(x)))),
        VECTORS,
        IDENTICAL,
        IDENTICAL,
        note="kernel_initializer HeNormal vs GlorotUniform",
    ),
    "dropout_zero": Fault(
        (mlp, subclass(_mlp(extra=_dropout(0.0)), lambda net, x: net.d2(net.drop(net.d1(x))))),
        VECTORS,
        IDENTICAL,
        IDENTICAL,
    ),
    # training semantics
    "frozen_layer": Fault(
        (mlp, subclass(_mlp(trainable=False), lambda net, x: net.d2(net.d1(x)))),
        VECTORS,
        IDENTICAL,
        DIVERGED,
        "training-flag",
        ("training behaviour of dense: trainable frozen (trainable=False) vs trained",),
    ),
    "dropout_training_true": Fault(
        (
            mlp_dropout,
            subclass(_mlp(extra=_dropout()), lambda net, x: net.d2(net.drop(net.d1(x), training=True))),
        ),
        VECTORS,
        DIVERGED,
        IDENTICAL,
        "training-flag",
        ("training behaviour of dropout: training mode at inference", "vs inference mode (a no-op)"),
    ),
    "dropout_missing": Fault(
        (mlp_dropout, MLP),
        VECTORS,
        IDENTICAL,
        DIVERGED,
        "extra-op",
        ("extra op dropout (Dropout) after dense: absent vs runs",),
    ),
    "dropout_first": Fault(  # the dropout applied to the input, not after the first Dense
        (mlp_dropout, subclass(_mlp(extra=_dropout()), lambda net, x: net.d2(net.d1(net.drop(x))))),
        VECTORS,
        IDENTICAL,
        DIVERGED,
        "op-order",
        ("order of ops: dropout before dense vs after dense",),
    ),
    "dropout_last": Fault(  # after the last Dense: the dropout and dense_1 swapped places
        (mlp_dropout, subclass(_mlp(extra=_dropout()), lambda net, x: net.drop(net.d2(net.d1(x))))),
        VECTORS,
        IDENTICAL,
        DIVERGED,
        "op-order",
        ("order of ops: dropout after dense_1 vs after dense",),
    ),
    "dropout_first_rate": Fault(  # moved, and another rate: both said
        (mlp_dropout, subclass(_mlp(extra=_dropout(0.3)), lambda net, x: net.d2(net.d1(net.drop(x))))),
        VECTORS,
        IDENTICAL,
        DIVERGED,
        "op-order",
        ("order of ops: dropout before dense vs after dense",),
        also=("configuration of dropout: rate 0.3 vs 0.5",),
    ),
    "noise_shape": Fault(
        (
            mlp_dropout,
            subclass(_mlp(extra=_dropout(noise_shape=(1, 16))), lambda net, x: net.d2(net.drop(net.d1(x)))),
        ),
        VECTORS,
        IDENTICAL,
        DIVERGED,
        "configuration",
        ("noise_shape (1, 16) vs None",),
    ),
    "spatial_dropout": Fault(
        (conv_dropout, _spatial_dropout),
        IMAGES,
        IDENTICAL,
        DIVERGED,
        "structure",
        ("layer class of dropout: SpatialDropout2D vs Dropout",),
    ),
    # convolutions
    "strides": Fault(
        (convnet, _conv(strides=2)),
        IMAGES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "configuration",
        ("strides (2, 2) vs (1, 1)",),
    ),
    "dilation": Fault(
        (convnet, _conv(dilation_rate=2)),
        IMAGES,
        DIVERGED,
        DIVERGED,
        "configuration",
        ("dilation_rate (2, 2) vs (1, 1)",),
    ),
    "kernel_size": Fault(
        (convnet, _conv(kernel_size=5)),
        IMAGES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "configuration",
        ("kernel_size (5, 5) vs (3, 3)",),
    ),
    "filters": Fault(
        (convnet, _conv(filters=8)),
        IMAGES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "configuration",
        ("filters 8 vs 4",),
    ),
    "global_pooling": Fault(
        (convnet, _conv(head="gap")),
        IMAGES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "extra-op",
        (
            "extra op Mean(x, (1, 2)) in global_average_pooling2d (GlobalAveragePooling2D)",
            "after conv2d: runs vs absent",
        ),
    ),
    "conv_bias_before_bn": Fault(
        (conv_bn, _conv_bn(use_bias=True)),
        IMAGES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "configuration",
        ("use_bias True vs False",),
    ),
    "bn_center": Fault(
        (conv_bn, _conv_bn(center=False)),
        IMAGES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "configuration",
        ("center False vs True",),
    ),
    "bn_axis": Fault(
        (conv_bn, _conv_bn(axis=1)),
        IMAGES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "configuration",
        ("axis 1 vs -1",),
    ),
    # recurrent layers, attention, embeddings
    "go_backwards": Fault(
        (lstm, _recurrent(go_backwards=True)),
        SEQUENCES,
        DIVERGED,
        DIVERGED,
        "configuration",
        ("configuration of lstm: go_backwards True vs False",),
    ),
    "recurrent_activation": Fault(
        (lstm, _recurrent(recurrent_activation="hard_sigmoid")),
        SEQUENCES,
        DIVERGED,
        DIVERGED,
        "activation",
        ("recurrent activation of lstm: hard_sigmoid vs sigmoid",),
    ),
    "lstm_activation": Fault(
        (lstm, _recurrent(activation="relu")),
        SEQUENCES,
        DIVERGED,
        DIVERGED,
        "activation",
        ("activation of lstm: relu vs tanh",),
    ),
    "reset_after": Fault(
        (gru, _recurrent("GRU", reset_after=False)),
        SEQUENCES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "configuration",
        ("configuration of gru: reset_after False vs True",),
    ),
    "return_sequences": Fault(  # the weights map, the outputs have other shapes
        (lstm, _recurrent(return_sequences=True)),
        SEQUENCES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "configuration",
        ("configuration of lstm: return_sequences True vs False",),
        also=("output shape: (batch, 5, 4) vs (batch, 4)",),
    ),
    "gru_return_sequences": Fault(
        (gru, _recurrent("GRU", return_sequences=True)),
        SEQUENCES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "configuration",
        ("configuration of gru: return_sequences True vs False",),
        also=("output shape: (batch, 5, 4) vs (batch, 4)",),
    ),
    "bidirectional": Fault(
        (lstm, _bidirectional),
        SEQUENCES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "structure",
        ("wrapper of lstm: Bidirectional vs nothing",),
    ),
    "causal_mask": Fault(
        (attention, _attention(causal=True)),
        SEQUENCES,
        DIVERGED,
        DIVERGED,
        "op-substitution",
        (
            "ops in multi_head_attention:",
            "MatrixBandPart",
        ),
    ),
    "no_pooling": Fault(  # the pooling forgotten: the Dense runs on every step
        (attention, _no_pooling),
        SEQUENCES,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "extra-op",
        ("extra op Mean(x, 1) in global_average_pooling1d (GlobalAveragePooling1D)", "absent vs runs"),
        also=("output shape: (batch, 5, 4) vs (batch, 4)",),
    ),
    "mask_zero": Fault(
        (embedding_lstm, _mask_zero),
        TOKENS,
        DIVERGED,
        DIVERGED,
        "configuration",
        ("configuration of embedding: mask_zero True vs False",),
    ),
    # raw tf.Variable code (a tf.Module): no layer scope, no configuration; its ops say what it computes
    "raw_conv_bn": Fault(  # a batch normalisation with its own statistics, Keras' epsilon: the same numbers
        (conv_bn, _raw_conv_bn(1e-3)),
        IMAGES,
        IDENTICAL,
        IDENTICAL,
    ),
    "raw_bn_epsilon": Fault(
        (conv_bn, _raw_conv_bn(1e-2)),
        IMAGES,
        DIVERGED,
        DIVERGED,
        "configuration",
        ("configuration of batch_normalization: constant 0.01 vs 0.001",),
        alone=True,
    ),
    "raw_no_bias_add": Fault(  # the bias variable is there, never added: nothing takes its weights
        (mlp, raw(_RAW_MLP, lambda net, x, training: _raw_hidden(net, x, bias=False) @ net.w2 + net.b2)),
        VECTORS,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "missing-bias",
        ("no bias after w1 (bias dense/bias (16,) in the reference)",),
        also=("extra variable b1 (16,)",),
    ),
    "raw_extra_ops": Fault(
        (mlp, raw(_RAW_MLP, lambda net, x, training: (_raw_hidden(net, x) / 2.0 + 1.0) @ net.w2 + net.b2)),
        VECTORS,
        DIVERGED,
        DIVERGED,
        "extra-op",
        ("extra op RealDiv(x, 2) -> AddV2(x, 1) after dense: runs vs absent",),
        alone=True,
    ),
    "raw_layernorm_epsilon": Fault(
        (
            mlp_layernorm,
            raw(
                _RAW_NORM,
                lambda net, x, training: _raw_layernorm(net, _raw_hidden(net, x), 1e-5) @ net.w2 + net.b2,
            ),
        ),
        VECTORS,
        DIVERGED,
        DIVERGED,
        "configuration",
        ("configuration of layer_normalization: constant 1e-05 vs 0.001",),
        alone=True,
    ),
    "raw_dropout_first": Fault(  # tf.nn.dropout on the input: other ops than Keras' dropout, at another place
        (
            mlp_dropout,
            raw(
                _RAW_MLP,
                lambda net, x, training: _raw_hidden(net, _raw_dropout(x, training)) @ net.w2 + net.b2,
            ),
        ),
        VECTORS,
        IDENTICAL,
        DIVERGED,
        "extra-op",
        ("extra op dropout (Dropout) after dense: absent vs runs",),
        also=("extra op Mul(x, 2) -> RandomUniform -> SelectV2(x, 0) before dense: runs vs absent",),
    ),
    "float64_layer": Fault(
        (mlp, subclass(_mlp(dtype="float64"), lambda net, x: net.d2(net.d1(x)))),
        VECTORS,
        STRUCTURAL_MISMATCH,
        STRUCTURAL_MISMATCH,
        "dtype-policy",
        ("dtype policy of dense: dtype float64 vs float32",),
    ),
}
