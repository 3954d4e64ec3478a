"""The step localisation runs: one forward + backward (+ update) pass of a member, captured.

:class:`StepRunner` wraps a member for :func:`suite.divergence.localise.localise`: it captures
every layer's output (:mod:`suite.divergence.layer_outputs`), computes the loss, the gradients
of every trainable variable and, for a training workload, the optimizer's update, in eager,
``tf.function`` or XLA mode, and brings everything to the host as a :class:`Pass`. Every pass
starts from the same variable values (including random-seed state): they are snapshotted
first, restored before each pass and restored again at the end. Gradients are compared as the
step computed them: an ``IndexedSlices`` gradient (embedding lookups) is densified on the host
in a fixed order, never by TensorFlow's own (possibly nondeterministic) segment sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from suite.axes import tf_device
from suite.divergence.layer_ops import HARNESS, NOISE_OPS
from suite.divergence.layer_outputs import LayerCapture


@dataclass
class Pass:
    """One forward + backward (+ update) pass, on the host."""

    layers: dict[str, dict[str, np.ndarray]]  # key -> {tensor name: array}, completion order
    grads: dict[str, np.ndarray]  # variable key -> dense gradient
    outputs: dict[str, np.ndarray]
    updates: dict[str, np.ndarray]  # variable key -> value after the optimizer's update


class StepRunner:
    """A member wrapped for localisation: capture, step function per mode, initial state."""

    def __init__(self, model: Any, loss: Any, training: bool, optimizer: Any = None):
        from suite.zoo.weights import snapshot, variables_by_path

        self.model = model
        self.capture = LayerCapture(model)
        self.variables = {k: v for k, v in variables_by_path(model).items() if v.trainable}
        self.initial = snapshot(model)
        self.loss = loss
        self.training = training
        self.optimizer = None
        self._optimizer_state: list[tuple[Any, np.ndarray]] = []
        if optimizer is not None:
            opt = optimizer()
            opt = getattr(opt, "inner_optimizer", opt)  # a loss-scale wrapper: the update is the inner's
            opt.build(list(self.variables.values()))
            self.optimizer = opt
            self._optimizer_state = [(v, np.array(v.numpy())) for v in opt.variables]
        self._steps: dict[str, Any] = {}
        #: the gradients of the last pass, on the host (``IndexedSlices`` as their parts)
        self.last_gradients: dict[str, Any] = {}

    def restore(self) -> None:
        from suite.zoo.weights import restore

        restore(self.model, self.initial)
        for var, value in self._optimizer_state:
            var.assign(value)

    def step(self, mode: str) -> Any:
        if mode not in self._steps:
            self._steps[mode] = self._make_step(mode)
        return self._steps[mode]

    def _make_step(self, mode: str) -> Any:
        import tensorflow as tf

        keys, variables = list(self.variables), list(self.variables.values())

        from suite.zoo.loss import total_loss

        def step(x: Any, y: Any) -> dict[str, Any]:
            self.capture.start()
            with tf.GradientTape() as tape:
                pred = self.model(x, training=self.training)
                with tf.name_scope(HARNESS):
                    value = tf.reduce_mean(self.loss(y, _float32(pred)))
                    if self.training:  # as the training workloads (and fit) minimise it
                        value, _ = total_loss(self.model, value)
            layers = self.capture.stop()
            grads = tape.gradient(value, variables)
            computed = {k: _as_computed(g) for k, g in zip(keys, grads, strict=True) if g is not None}
            updates = {}
            if self.optimizer is not None:
                present = [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
                self.optimizer.apply_gradients(present)
                updates = {k: tf.convert_to_tensor(v) for k, v in self.variables.items()}
            return {
                "layers": layers,
                "grads": computed,
                "outputs": {"predictions": pred, "loss": value},
                "updates": updates,
            }

        if mode == "eager":
            return step
        return tf.function(step, jit_compile=mode == "xla")

    def run(self, mode: str, x: Any, y: Any, device: str | None) -> Pass:
        self.restore()
        with device_scope(device), self.capture:
            raw = self.step(mode)(_on_device(x), _on_device(y))
        self.restore()
        self.last_gradients = {k: _on_host(v) for k, v in raw["grads"].items()}
        return Pass(
            layers={k: _named(k, v) for k, v in raw["layers"].items()},
            grads={k: _dense_on_host(v) for k, v in self.last_gradients.items()},
            outputs={k: np.asarray(v) for k, v in _flat_outputs(raw["outputs"]).items()},
            updates={k: np.asarray(v) for k, v in raw["updates"].items()},
        )

    def update_ops(self, key: str, gradient: Any) -> list[str]:
        """The op types with which the optimizer writes variable ``key`` (``ResourceScatterSub``,
        ``AssignSubVariableOp``...), traced with a gradient shaped like the step's."""
        import tensorflow as tf

        variable = self.variables[key]
        opt = type(self.optimizer).from_config(self.optimizer.get_config())
        opt.build([variable])

        def apply() -> None:
            opt.apply_gradients([(gradient, variable)])

        graph = tf.function(apply).get_concrete_function().graph
        handle = _handle(variable)
        inner = {id(internal) for external, internal in graph.captures if external is handle}
        found: list[str] = []
        for op in graph.get_operations():
            if op.type in NOISE_OPS or op.type in found:
                continue
            if any(id(t) in inner for t in op.inputs):
                found.append(op.type)
        return found

    def call_inputs(self, keys: set[str], x: Any, device: str | None) -> dict[str, tuple[Any, Any]]:
        """The arguments each layer in ``keys`` received, from one eager forward pass."""
        self.restore()
        self.capture.inputs_for = set(keys)
        self.capture.inputs = {}
        try:
            with device_scope(device), self.capture:
                self.capture.start()
                self.model(_on_device(x), training=self.training)
                self.capture.stop()
        finally:
            self.capture.inputs_for = set()
            self.restore()
        return dict(self.capture.inputs)


def _as_computed(gradient: Any) -> Any:
    """A gradient as the step computed it: dense, or the parts of an ``IndexedSlices``."""
    import tensorflow as tf

    if isinstance(gradient, tf.IndexedSlices):
        shape = gradient.dense_shape if gradient.dense_shape is not None else tf.shape(gradient.values)
        return {"values": gradient.values, "indices": gradient.indices, "dense_shape": shape}
    return gradient


def _on_host(gradient: Any) -> Any:
    if isinstance(gradient, dict):
        return {k: np.asarray(v) for k, v in gradient.items()}
    return np.asarray(gradient)


def _dense_on_host(gradient: Any) -> np.ndarray:
    """A computed gradient as a dense array; ``IndexedSlices`` parts are summed in index order
    (``np.add.at``: sequential, so equal parts always give equal bits)."""
    if not isinstance(gradient, dict):
        return np.asarray(gradient)
    values = np.asarray(gradient["values"])
    dense = np.zeros(tuple(int(d) for d in np.asarray(gradient["dense_shape"])), dtype=values.dtype)
    np.add.at(dense, np.asarray(gradient["indices"]), values)
    return dense


def _handle(variable: Any) -> Any:
    """The resource handle of a ``tf.Variable`` or a Keras variable."""
    inner = getattr(variable, "value", None)
    return getattr(variable, "handle", None) if inner is None else getattr(inner, "handle", None)


def _float32(pred: Any) -> Any:
    import tensorflow as tf

    def cast(t: Any) -> Any:
        return tf.cast(t, tf.float32) if tf.is_tensor(t) and t.dtype.is_floating else t

    return tf.nest.map_structure(cast, pred)


def _flat_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    import tensorflow as tf

    flat: dict[str, Any] = {}
    for name, value in outputs.items():
        parts = tf.nest.flatten(value)
        if len(parts) == 1:
            flat[name] = parts[0]
        else:
            flat.update({f"{name}[{i}]": p for i, p in enumerate(parts)})
    return flat


def _named(key: str, tensors: Sequence[Any]) -> dict[str, np.ndarray]:
    if len(tensors) == 1:
        return {key: np.asarray(tensors[0])}
    return {f"{key}[{i}]": np.asarray(t) for i, t in enumerate(tensors)}


class _NoScope:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def device_scope(device: str | None) -> Any:
    import tensorflow as tf

    return _NoScope() if device is None else tf.device(tf_device(device))


def _on_device(value: Any) -> Any:
    import tensorflow as tf

    return tf.nest.map_structure(lambda v: tf.identity(v) if tf.is_tensor(v) else tf.constant(v), value)


def loss_function(loss: Any) -> Any:
    import keras

    return keras.losses.get(loss) if isinstance(loss, str) else loss


def as_input(batch_x: Any, model: Any) -> Any:
    """Float inputs in the member's compute dtype (as the runner feeds them)."""
    import keras
    import tensorflow as tf

    dtype = getattr(model, "compute_dtype", None) or keras.config.dtype_policy().compute_dtype

    def convert(v: Any) -> Any:
        t = tf.convert_to_tensor(v)
        return tf.cast(t, dtype) if t.dtype.is_floating else t

    return tf.nest.map_structure(convert, batch_x)
