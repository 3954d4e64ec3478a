"""Building blocks of the ``raw`` members: ``tf.Module`` layers on explicit ``tf.Variable``.

Each block replays the exact TensorFlow op sequence of the Keras 3 layer it stands for
(``tf.matmul`` -> ``tf.nn.bias_add`` -> activation for ``Dense``; float32 statistics and
the same moving-average expression for ``BatchNormalization``...), so that a raw member is
bitwise equal to the Keras members in eager mode on CPU. Dtypes follow the global Keras
dtype policy (``keras.config.dtype_policy()``): variables in its ``variable_dtype``,
arithmetic in its ``compute_dtype``, so one builder serves float32, float64 and the mixed
policies. Variables are named ``<layer>/<var>`` like their Keras counterparts.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any


def policy_dtypes() -> tuple[str, str]:
    """``(compute_dtype, variable_dtype)`` of the global Keras dtype policy."""
    import keras

    policy = keras.config.dtype_policy()
    return policy.compute_dtype, policy.variable_dtype


def softmax(x: Any) -> Any:
    """``tf.nn.softmax`` that, like Keras' softmax activation, keeps its logits.

    Keras losses given probabilities look for ``_keras_logits`` on the tensor and then
    compute the cross-entropy from the logits; without it they take the log of clipped
    probabilities, a different op sequence and different gradients.
    """
    import tensorflow as tf

    out = tf.nn.softmax(x, axis=-1)
    with contextlib.suppress(AttributeError):  # some tensor types refuse attributes
        out._keras_logits = x
    return out


def activation_fn(name: str | None) -> Callable[[Any], Any]:
    """The TensorFlow function behind a Keras activation name (``None``: identity)."""
    import tensorflow as tf

    table: dict[str | None, Callable[[Any], Any]] = {
        None: lambda x: x,
        "relu": tf.nn.relu,
        "tanh": tf.math.tanh,
        "sigmoid": tf.math.sigmoid,
        "softmax": softmax,
    }
    if name not in table:
        raise ValueError(f"raw layers support activations {sorted(map(str, table))}, not {name!r}")
    return table[name]


def make_variable(name: str, shape: tuple[int, ...], initializer: str = "glorot_uniform", **kw: Any) -> Any:
    """A ``tf.Variable`` named ``name`` in the policy's variable dtype, Keras-initialised.

    Args:
        name: ``<layer>/<var>``, e.g. ``"dense_0/kernel"``.
        shape: the variable's shape.
        initializer: a Keras initializer name (``"zeros"``, ``"ones"``, ``"glorot_uniform"``).
        **kw: passed to ``tf.Variable`` (e.g. ``trainable=False``).
    """
    import keras
    import tensorflow as tf

    _, variable_dtype = policy_dtypes()
    value = keras.initializers.get(initializer)(shape, dtype=variable_dtype)
    return tf.Variable(value, name=name, **kw)


def raw(name: str) -> type:
    """One of the raw layer classes: ``RawModule``, ``Dense``, ``Conv2D``, ``BatchNorm``,
    ``MaxPool2D``, ``GlobalAveragePool2D`` (defined on first use, so importing needs no TF)."""
    return _build_classes()[name]


@functools.cache
def _build_classes() -> dict[str, type]:
    import tensorflow as tf

    class RawModule(tf.Module):
        """Base of raw members: casts inputs to the policy's compute dtype.

        Attributes:
            layer_activations: layer name -> activation name (``None`` for identity), read
                by ``suite.zoo.audit``.
        """

        def __init__(self, name: str):
            super().__init__(name=name)
            self.compute_dtype, self.variable_dtype = policy_dtypes()
            self.layer_activations: dict[str, str | None] = {}

        def cast_input(self, x: Any) -> Any:
            """Float inputs to the compute dtype (as Keras layers do); integers untouched."""
            x = tf.convert_to_tensor(x)
            return tf.cast(x, self.compute_dtype) if x.dtype.is_floating else x

        def cast_var(self, var: Any) -> Any:
            """A variable read in the compute dtype (Keras' autocast)."""
            return tf.cast(var, self.compute_dtype)

    class Dense(RawModule):
        """``keras.layers.Dense`` on rank-2 inputs: matmul, bias_add, activation."""

        def __init__(self, name: str, in_dim: int, units: int, activation: str | None, use_bias: bool = True):
            super().__init__(name=name)
            self.kernel = make_variable(f"{name}/kernel", (in_dim, units), "glorot_uniform")
            self.bias = make_variable(f"{name}/bias", (units,), "zeros") if use_bias else None
            self.activation = activation_fn(activation)

        def __call__(self, x: Any) -> Any:
            y = tf.matmul(x, self.cast_var(self.kernel))
            if self.bias is not None:
                y = tf.nn.bias_add(y, self.cast_var(self.bias))
            return self.activation(y)

    class Conv2D(RawModule):
        """``keras.layers.Conv2D`` (channels_last, stride 1, dilation 1)."""

        def __init__(
            self,
            name: str,
            in_channels: int,
            filters: int,
            kernel_size: int,
            padding: str = "same",
            activation: str | None = None,
            use_bias: bool = True,
        ):
            super().__init__(name=name)
            shape = (kernel_size, kernel_size, in_channels, filters)
            self.kernel = make_variable(f"{name}/kernel", shape, "glorot_uniform")
            self.bias = make_variable(f"{name}/bias", (filters,), "zeros") if use_bias else None
            self.padding = padding.upper()
            self.activation = activation_fn(activation)

        def __call__(self, x: Any) -> Any:
            y = tf.nn.convolution(
                x, self.cast_var(self.kernel), (1, 1), self.padding, data_format="NHWC", dilations=(1, 1)
            )
            if self.bias is not None:
                y = tf.nn.bias_add(y, self.cast_var(self.bias), data_format="NHWC")
            return self.activation(y)

    class BatchNorm(RawModule):
        """``keras.layers.BatchNormalization(axis=-1)``: float32 (or wider) statistics,
        moving averages ``m * momentum + batch * (1 - momentum)`` updated in training."""

        def __init__(self, name: str, channels: int, momentum: float, epsilon: float):
            super().__init__(name=name)
            self.gamma = make_variable(f"{name}/gamma", (channels,), "ones")
            self.beta = make_variable(f"{name}/beta", (channels,), "zeros")
            self.moving_mean = make_variable(f"{name}/moving_mean", (channels,), "zeros", trainable=False)
            self.moving_variance = make_variable(
                f"{name}/moving_variance", (channels,), "ones", trainable=False
            )
            self.momentum = float(momentum)
            self.epsilon = float(epsilon)

        def __call__(self, x: Any, training: bool = False) -> Any:
            stats_dtype = tf.float64 if x.dtype == tf.float64 else tf.float32
            x = tf.cast(x, stats_dtype)
            moving_mean = tf.cast(self.moving_mean, stats_dtype)
            moving_variance = tf.cast(self.moving_variance, stats_dtype)
            gamma = tf.cast(self.gamma, stats_dtype)
            beta = tf.cast(self.beta, stats_dtype)
            if training:
                mean, variance = tf.nn.moments(x, axes=list(range(len(x.shape) - 1)), keepdims=False)
                self.moving_mean.assign(
                    tf.cast(moving_mean * self.momentum + mean * (1.0 - self.momentum), self.variable_dtype)
                )
                self.moving_variance.assign(
                    tf.cast(
                        moving_variance * self.momentum + variance * (1.0 - self.momentum),
                        self.variable_dtype,
                    )
                )
            else:
                mean, variance = moving_mean, moving_variance
            y = tf.nn.batch_normalization(
                x, mean, variance, offset=beta, scale=gamma, variance_epsilon=self.epsilon
            )
            return tf.cast(y, self.compute_dtype)

    class MaxPool2D(RawModule):
        """``keras.layers.MaxPooling2D`` with ``pool_size == strides``, valid padding."""

        def __init__(self, name: str, pool: int):
            super().__init__(name=name)
            self.pool = (pool, pool)

        def __call__(self, x: Any) -> Any:
            return tf.nn.max_pool(x, self.pool, self.pool, "VALID", "NHWC")

    class GlobalAveragePool2D(RawModule):
        """``keras.layers.GlobalAveragePooling2D``: the mean in float32 (or wider), cast back."""

        def __call__(self, x: Any) -> Any:
            wide = tf.float64 if x.dtype == tf.float64 else tf.float32
            return tf.cast(tf.reduce_mean(tf.cast(x, wide), axis=[1, 2], keepdims=False), x.dtype)

    return {
        "RawModule": RawModule,
        "Dense": Dense,
        "Conv2D": Conv2D,
        "BatchNorm": BatchNorm,
        "MaxPool2D": MaxPool2D,
        "GlobalAveragePool2D": GlobalAveragePool2D,
    }
