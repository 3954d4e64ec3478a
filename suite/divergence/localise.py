"""Localisation: the first layer (forward), gradient (backward) and variable update where runs differ.

:func:`localise` runs one whole step: a forward pass, the loss, the gradients of every
trainable variable and, for a training workload, the optimizer's update of every variable,
capturing every layer's output (:mod:`suite.divergence.layer_outputs`), and compares:

- two members (``vs_pair``), or one member under two modes (``vs_eager``) or two devices
  (``vs_cpu``): the first layer, in execution order, whose output differs, the first
  gradient, in *backprop order* (the last layer's variables first, as backpropagation
  computes them), that differs, and the first variable whose updated value differs;
- one member run ``reruns`` times (``rerun``): the first layer/gradient/update whose rerun
  spread is non-zero. A difference that only the update makes (a sparse ``scatter`` update
  with duplicate indices, order-dependent on a multi-threaded CPU or with GPU atomics) is
  found there, with the op that applies it (``ResourceScatterSub``...).

Gradients are compared as the step computed them: an ``IndexedSlices`` gradient (embedding
lookups) is densified on the host in a fixed order, never by TensorFlow's own (possibly
nondeterministic) segment sum.

Every run starts from the same variable values (including random-seed state): they are
snapshotted first, restored before each pass and restored again at the end. The TensorFlow
ops of the layer found are listed by tracing that layer alone (``tf.function(...)
.get_concrete_function().graph.get_operations()``), before any XLA fusion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from suite.axes import MODES, tf_device
from suite.divergence.layer_outputs import LayerCapture, base_key
from suite.divergence.metrics import compare_outputs, rerun_spread, worst_rerun

#: op types that carry no computation of their own
NOISE_OPS = frozenset(
    {
        "Identity",
        "IdentityN",
        "NoOp",
        "ReadVariableOp",
        "Const",
        "Placeholder",
        "VarHandleOp",
        "_Arg",
        "_Retval",
    }
)
_FUNCTIONAL_OPS = frozenset(
    {"While", "StatelessWhile", "If", "StatelessIf", "PartitionedCall", "StatefulPartitionedCall", "Case"}
)
_HARNESS = "pairbench_harness"
_DENSIFY = "pairbench_densify"


@dataclass
class _Pass:
    """One forward + backward (+ update) pass, on the host."""

    layers: dict[str, dict[str, np.ndarray]]  # key -> {tensor name: array}, completion order
    grads: dict[str, np.ndarray]  # variable key -> dense gradient
    outputs: dict[str, np.ndarray]
    updates: dict[str, np.ndarray]  # variable key -> value after the optimizer's update


class _Runner:
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

        def step(x: Any, y: Any) -> dict[str, Any]:
            self.capture.start()
            with tf.GradientTape() as tape:
                pred = self.model(x, training=self.training)
                with tf.name_scope(_HARNESS):
                    value = tf.reduce_mean(self.loss(y, _float32(pred)))
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

    def run(self, mode: str, x: Any, y: Any, device: str | None) -> _Pass:
        self.restore()
        with _device_scope(device), self.capture:
            raw = self.step(mode)(_on_device(x), _on_device(y))
        self.restore()
        self.last_gradients = {k: _on_host(v) for k, v in raw["grads"].items()}
        return _Pass(
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
            with _device_scope(device), self.capture:
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


def _device_scope(device: str | None) -> Any:
    import tensorflow as tf

    return _NoScope() if device is None else tf.device(tf_device(device))


def _on_device(value: Any) -> Any:
    import tensorflow as tf

    return tf.nest.map_structure(lambda v: tf.identity(v) if tf.is_tensor(v) else tf.constant(v), value)


def _loss_fn(loss: Any) -> Any:
    import keras

    return keras.losses.get(loss) if isinstance(loss, str) else loss


def _as_input(batch_x: Any, model: Any) -> Any:
    """Float inputs in the member's compute dtype (as the runner feeds them)."""
    import keras
    import tensorflow as tf

    dtype = getattr(model, "compute_dtype", None) or keras.config.dtype_policy().compute_dtype

    def convert(v: Any) -> Any:
        t = tf.convert_to_tensor(v)
        return tf.cast(t, dtype) if t.dtype.is_floating else t

    return tf.nest.map_structure(convert, batch_x)


# -- ops of a layer ------------------------------------------------------------------------


def layer_ops(
    layer: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], *, backward: bool = False
) -> list[str]:
    """The TensorFlow op types one call of a layer runs (deduplicated, in graph order).

    Args:
        layer: a Keras layer or a callable ``tf.Module``.
        args: the positional arguments of the call (as recorded by :class:`LayerCapture`).
        kwargs: its keyword arguments.
        backward: list the ops of the layer's gradient (w.r.t. its trainable variables and
            float inputs) instead of its forward ops.

    Returns:
        Op types such as ``["MatMul", "BiasAdd", "Relu"]``, without :data:`NOISE_OPS`. Ops in
        nested functions (loops, conditionals) are included.
    """
    import tensorflow as tf

    from suite.zoo.weights import is_keras

    fn = layer.call if is_keras(layer) else layer
    variables = list(layer.trainable_variables)

    def forward() -> Any:
        return fn(*args, **kwargs)

    def gradient() -> Any:
        watched = [
            t for t in tf.nest.flatten((args, dict(kwargs))) if tf.is_tensor(t) and t.dtype.is_floating
        ]
        with tf.GradientTape() as tape:
            tape.watch(watched)
            out = fn(*args, **kwargs)
            with tf.name_scope(_HARNESS):
                parts = [
                    tf.reduce_sum(tf.cast(o, tf.float32)) for o in tf.nest.flatten(out) if tf.is_tensor(o)
                ]
                total = tf.add_n(parts)
        grads = tape.gradient(total, variables + watched)
        with tf.name_scope(_DENSIFY):
            return [tf.convert_to_tensor(g) for g in grads if g is not None]

    graph_fn = tf.function(gradient if backward else forward)
    concrete = graph_fn.get_concrete_function()
    found: list[str] = []
    nested = False
    for op in concrete.graph.get_operations():
        name = op.name
        if op.type in NOISE_OPS or _HARNESS in name.split("/"):
            continue
        in_backward = name.startswith("gradient_tape/") or name.startswith(_DENSIFY)
        if backward != in_backward:
            continue
        nested |= op.type in _FUNCTIONAL_OPS
        if op.type not in found:
            found.append(op.type)
    if nested:
        for function in concrete.graph.as_graph_def().library.function:
            for node in function.node_def:
                if node.op not in NOISE_OPS and node.op not in found:
                    found.append(node.op)
    return found


# -- comparison ----------------------------------------------------------------------------


def _differs(metrics: Mapping[str, Any] | None, tolerance: Mapping[str, float] | None) -> bool:
    if metrics is None:
        return True
    if tolerance is None:
        return not metrics["bitwise_equal"]
    return metrics.get("tol_ratio", 0.0) > 1.0


def _compare(a: Mapping[str, Any], b: Mapping[str, Any], tolerance: Any) -> tuple[dict[str, Any] | None, str]:
    try:
        return compare_outputs(a, b, tolerance=tolerance), ""
    except ValueError as exc:
        return None, str(exc)


def _backprop_order(grad_keys: Sequence[str], layer_order: Sequence[str]) -> list[str]:
    """Variables ordered as backpropagation computes them: the last layer's first."""
    bases: list[str] = []
    for key in layer_order:
        b = base_key(key)
        if b not in bases:
            bases.append(b)
    position = {b: i for i, b in enumerate(bases)}

    def owner_index(var: str) -> int:
        owner = owner_of(var, bases)
        return -1 if owner is None else position[owner]

    indexed = [(owner_index(k), i, k) for i, k in enumerate(grad_keys)]
    owned = sorted((t for t in indexed if t[0] >= 0), key=lambda t: (-t[0], t[1]))
    unowned = [t for t in indexed if t[0] < 0][::-1]
    return [k for _, _, k in owned + unowned]


def owner_of(var_key: str, layer_keys: Sequence[str]) -> str | None:
    """The most specific layer key that a variable key (``dense_0/kernel``) belongs to."""
    owners = [k for k in layer_keys if var_key.startswith(k + "/")]
    return max(owners, key=len) if owners else None


def _pairwise(first: _Pass, second: _Pass, tolerance: Any) -> dict[str, Any]:
    notes: list[str] = []
    forward = None
    order = list(first.layers)
    common = [k for k in order if k in second.layers]
    only_a = [k for k in order if k not in second.layers]
    only_b = [k for k in second.layers if k not in first.layers]
    first_bitwise = None
    for index, key in enumerate(common):
        metrics, problem = _compare(second.layers[key], first.layers[key], tolerance)
        if first_bitwise is None and (metrics is None or not metrics["bitwise_equal"]):
            first_bitwise = key
        if _differs(metrics, tolerance):
            forward = {"layer": key, "ops": [], "metrics": metrics}
            notes.append(
                f"forward: first difference at {key} (layer {index + 1} of {len(common)} in execution order)"
            )
            if problem:
                notes.append(f"{key}: {problem}")
            break
    else:
        notes.append(f"forward: all {len(common)} layer outputs agree")
    if tolerance is not None and first_bitwise and (forward is None or first_bitwise != forward["layer"]):
        notes.append(f"first bitwise difference at {first_bitwise}")
    if only_a or only_b:
        notes.append(
            "layers not in both: "
            + ", ".join([*(f"{k} (first only)" for k in only_a), *(f"{k} (second only)" for k in only_b)])
        )
    grad_order = _backprop_order([k for k in first.grads if k in second.grads], order)
    backward = _first_pairwise(
        grad_order,
        first.grads,
        second.grads,
        tolerance,
        notes,
        found=lambda k, i, n: (
            f"backward: first difference at the gradient of {k} "
            f"({i} of {n} in backprop order, last layer first)"
        ),
        none=lambda n: f"backward: all {n} gradients agree",
    )
    update = _first_pairwise(
        _backprop_order([k for k in first.updates if k in second.updates], order),
        first.updates,
        second.updates,
        tolerance,
        notes,
        found=lambda k, i, n: (
            f"update: first difference in the updated value of {k} ({i} of {n} in backprop order)"
        ),
        none=lambda n: f"update: all {n} variable updates agree",
    )
    final, _ = _compare(second.outputs, first.outputs, tolerance)
    if forward is None and _differs(final, tolerance):
        notes.append(
            "the model outputs differ although no layer output does: the difference comes from "
            "code outside the layers (the model's own call)"
        )
    return {"forward": forward, "backward": backward, "update": update, "notes": notes}


def _first_pairwise(
    keys: Sequence[str],
    first: Mapping[str, np.ndarray],
    second: Mapping[str, np.ndarray],
    tolerance: Any,
    notes: list[str],
    *,
    found: Callable[[str, int, int], str],
    none: Callable[[int], str],
) -> dict[str, Any] | None:
    """The first of ``keys`` (variables) whose tensor differs between two passes, with a note."""
    for index, key in enumerate(keys):
        metrics, problem = _compare({key: second[key]}, {key: first[key]}, tolerance)
        if _differs(metrics, tolerance):
            notes.append(found(key, index + 1, len(keys)))
            if problem:
                notes.append(f"{key}: {problem}")
            return {"variable": key, "ops": [], "metrics": metrics}
    if keys:
        notes.append(none(len(keys)))
    return None


def _first_varying(
    keys: Sequence[str],
    passes: Sequence[Mapping[str, np.ndarray]],
    notes: list[str],
    *,
    found: Callable[[str, int, int, dict[str, Any]], str],
    none: Callable[[int], str],
) -> dict[str, Any] | None:
    """The first of ``keys`` (variables) whose tensor varies over reruns, with a note."""
    for index, key in enumerate(keys):
        runs = [{key: p[key]} for p in passes]
        spread = rerun_spread(runs)
        if spread["distinct"] > 1:
            notes.append(found(key, index + 1, len(keys), spread))
            return {"variable": key, "ops": [], "metrics": worst_rerun(runs), "rerun": spread}
    if keys:
        notes.append(none(len(keys)))
    return None


def _reruns(passes: Sequence[_Pass]) -> dict[str, Any]:
    notes: list[str] = [f"{len(passes)} reruns from identical state"]
    forward = None
    order = list(passes[0].layers)
    for index, key in enumerate(order):
        runs = [p.layers.get(key) for p in passes]
        if any(r is None for r in runs):
            notes.append(f"{key} did not run in every rerun")
            continue
        spread = rerun_spread(runs)
        if spread["distinct"] > 1:
            forward = {"layer": key, "ops": [], "metrics": worst_rerun(runs), "rerun": spread}
            notes.append(
                f"forward: {key} is the first layer whose output varies "
                f"({spread['distinct']} distinct of {spread['runs']}; layer {index + 1} of {len(order)})"
            )
            break
    else:
        notes.append(f"forward: all {len(order)} layer outputs are bitwise stable")
    backward = _first_varying(
        _backprop_order(list(passes[0].grads), order),
        [p.grads for p in passes],
        notes,
        found=lambda k, i, n, spread: (
            f"backward: the gradient of {k} is the first that varies "
            f"({i} of {n} in backprop order, last layer first)"
        ),
        none=lambda n: f"backward: all {n} gradients are bitwise stable",
    )
    stable_gradients = backward is None
    update = _first_varying(
        _backprop_order(list(passes[0].updates), order),
        [p.updates for p in passes],
        notes,
        found=lambda k, i, n, spread: (
            f"update: the optimizer's update of {k} is the first that varies "
            f"({spread['distinct']} distinct of {spread['runs']}; {i} of {n} in backprop order)"
            + (
                "; its gradient does not vary: the update itself is nondeterministic"
                if stable_gradients
                else ""
            )
        ),
        none=lambda n: f"update: all {n} variable updates are bitwise stable",
    )
    final = rerun_spread([p.outputs for p in passes])
    if forward is None and final["distinct"] > 1:
        notes.append("the model outputs vary although no layer output does: code outside the layers varies")
    return {"forward": forward, "backward": backward, "update": update, "notes": notes}


def _pair(value: Any, name: str) -> tuple[Any, Any]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} takes one value or two (first, second), not {len(value)}")
        return value[0], value[1]
    return value, value


def _default_against(n_models: int, modes: tuple[str, str], devices: tuple[Any, Any], rerun: bool) -> str:
    if rerun:
        return "rerun"
    if n_models == 2:
        return "vs_pair"
    if modes[0] != modes[1]:
        return "vs_eager" if "eager" in modes else "vs_mode"
    return "vs_cpu" if "cpu" in devices else "vs_device"


def localise(
    models: Sequence[Any],
    batch_x: Any,
    batch_y: Any,
    loss: Any,
    *,
    mode: str | Sequence[str] = "eager",
    training: bool = False,
    reruns: int = 3,
    device: str | Sequence[str | None] | None = None,
    tolerance: Mapping[str, float] | None = None,
    against: str | None = None,
    optimizer: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Find the first layer, gradient and variable update where two runs differ.

    Args:
        models: one member (rerun localisation, or one member under two modes/devices) or two
            (the reference first, then the candidate), built and holding the same weights.
        batch_x: the inputs (numpy or tensors); float inputs are cast to the member's compute
            dtype.
        batch_y: the targets for ``loss``.
        loss: a Keras loss identifier or a callable ``loss(y_true, y_pred)`` (reduced by mean).
        mode: ``eager``, ``function`` or ``xla`` (``tf.function(jit_compile=True)``), or a pair
            ``(first, second)``; with one member and two modes the member is compared with
            itself across modes (``("eager", "xla")`` localises ``vs_eager``).
        training: call the members with ``training=True`` (dropout and batch statistics).
        reruns: passes for rerun localisation (at least 2).
        device: a pairbench device (``cpu``, ``gpu:0``), a pair of them, or None (the current
            placement).
        tolerance: ``{"rtol", "atol"}``: a layer differs when it is beyond it (``tol_ratio >
            1``); None: when it is not bitwise equal.
        against: the label of the result (default: ``vs_pair``, ``vs_eager``, ``vs_cpu`` or
            ``rerun``, from the arguments).
        optimizer: with ``training``, a factory of the optimizer the workload applies (each
            member gets its own); every pass then applies one update from the same state and
            the updated variables are compared too. None: the update is not examined.

    Returns:
        ``{"against", "forward": {"layer", "ops", "metrics"(, "rerun")} | None,
        "backward": {"variable", "layer", "ops", "metrics"(, "rerun")} | None,
        "update": {"variable", "layer", "ops", "metrics"(, "rerun")} | None, "note"}``:
        ``metrics`` as :func:`~suite.divergence.metrics.compare_outputs` (candidate vs
        reference / worst rerun vs the first), ``ops`` the op types of that layer's forward
        (resp. gradient) computation, or of the optimizer's write to the variable (update),
        ``note`` one line saying what was compared and found.

    Raises:
        ValueError: bad arguments (number of models, unknown mode, ``reruns < 2``).
    """
    if len(models) not in (1, 2):
        raise ValueError(f"localise takes one or two models, not {len(models)}")
    modes = _pair(mode, "mode")
    devices = _pair(device, "device")
    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r}; valid: {', '.join(MODES)}")
    rerun = len(models) == 1 and modes[0] == modes[1] and devices[0] == devices[1]
    if rerun and reruns < 2:
        raise ValueError(f"rerun localisation needs reruns >= 2, not {reruns}")
    loss_fn = _loss_fn(loss)
    runners = [_Runner(m, loss_fn, training, optimizer if training else None) for m in models]
    first_runner, second_runner = runners[0], runners[-1]
    x = _as_input(batch_x, models[0])
    if rerun:
        passes = [first_runner.run(modes[0], x, batch_y, devices[0]) for _ in range(reruns)]
        found = _reruns(passes)
        ops_runner, ops_device = first_runner, devices[0]
    else:
        first = first_runner.run(modes[0], x, batch_y, devices[0])
        second = second_runner.run(modes[1], _as_input(batch_x, models[-1]), batch_y, devices[1])
        found = _pairwise(first, second, tolerance)
        ops_runner, ops_device = second_runner, devices[1]
    notes = found["notes"]
    _add_ops(found, ops_runner, x, ops_device, notes)
    _add_update_ops(found, ops_runner, notes)
    if "xla" in modes and (found["forward"] or found["backward"] or found["update"]):
        notes.append("ops are TensorFlow ops before XLA fusion")
    criterion = (
        "bitwise"
        if tolerance is None or rerun
        else f"beyond rtol {tolerance['rtol']:g}, atol {tolerance['atol']:g}"
    )
    head = " vs ".join(dict.fromkeys(modes))
    if devices[0] is not None or devices[1] is not None:
        head += " on " + " vs ".join(str(d) for d in dict.fromkeys(devices))
    return {
        "against": against or _default_against(len(models), modes, devices, rerun),
        "forward": found["forward"],
        "backward": found["backward"],
        "update": found["update"],
        "note": f"{head}, {criterion}: " + "; ".join(notes),
    }


def _add_update_ops(found: dict[str, Any], runner: _Runner, notes: list[str]) -> None:
    """Fill ``ops`` (and ``layer``) of the update finding: how the optimizer writes that variable."""
    update = found["update"]
    if update is None or runner.optimizer is None:
        return
    import tensorflow as tf

    key = update["variable"]
    owner = owner_of(key, list(runner.capture.targets))
    if owner is not None:
        update["layer"] = owner
    last = runner.last_gradients.get(key)
    try:
        gradient = (
            tf.IndexedSlices(
                tf.constant(last["values"]), tf.constant(last["indices"]), tf.constant(last["dense_shape"])
            )
            if isinstance(last, dict)
            else tf.zeros_like(runner.variables[key])
        )
        update["ops"] = runner.update_ops(key, gradient)
    except Exception as exc:  # listing ops is diagnostic; the comparison stands without it
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        notes.append(f"could not trace the update of {key}: {type(exc).__name__}: {first_line}")


def _add_ops(found: dict[str, Any], runner: _Runner, x: Any, device: str | None, notes: list[str]) -> None:
    """Fill ``ops`` of the forward/backward findings by tracing the layer alone."""
    targets = runner.capture.targets
    wanted: dict[str, tuple[str, bool]] = {}  # entry -> (layer key, backward)
    if found["forward"] is not None and base_key(found["forward"]["layer"]) in targets:
        wanted["forward"] = (base_key(found["forward"]["layer"]), False)
    if found["backward"] is not None:
        owner = owner_of(found["backward"]["variable"], list(targets))
        if owner is None:
            notes.append(f"no layer owns {found['backward']['variable']}: ops not listed")
        else:
            wanted["backward"] = (owner, True)
            found["backward"]["layer"] = owner
    if not wanted:
        return
    try:
        inputs = runner.call_inputs({key for key, _ in wanted.values()}, x, device)
    except Exception as exc:  # listing ops is diagnostic; the comparison stands without it
        notes.append(f"could not replay the layers to list their ops: {type(exc).__name__}: {exc}")
        return
    for entry, (key, backward) in wanted.items():
        if key not in inputs:
            notes.append(f"{key} was not called directly: ops not listed")
            continue
        args, kwargs = inputs[key]
        try:
            with _device_scope(device):
                found[entry]["ops"] = layer_ops(targets[key], args, kwargs, backward=backward)
        except Exception as exc:  # diagnostic only, see above
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            notes.append(f"could not trace the ops of {key}: {type(exc).__name__}: {first_line}")
