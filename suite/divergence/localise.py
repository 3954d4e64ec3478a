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
from typing import Any

from suite.axes import MODES
from suite.divergence.first_difference import first_pairwise_differences, first_rerun_differences, owner_of
from suite.divergence.layer_ops import layer_ops
from suite.divergence.layer_outputs import base_key
from suite.divergence.step_runner import StepRunner, as_input, device_scope, loss_function
from suite.errors import one_line


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
        ``metrics`` as :func:`~suite.divergence.outputs.compare_outputs` (candidate vs
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
    loss_fn = loss_function(loss)
    runners = [StepRunner(m, loss_fn, training, optimizer if training else None) for m in models]
    first_runner, second_runner = runners[0], runners[-1]
    x = as_input(batch_x, models[0])
    if rerun:
        passes = [first_runner.run(modes[0], x, batch_y, devices[0]) for _ in range(reruns)]
        found = first_rerun_differences(passes)
        ops_runner, ops_device = first_runner, devices[0]
    else:
        first = first_runner.run(modes[0], x, batch_y, devices[0])
        second = second_runner.run(modes[1], as_input(batch_x, models[-1]), batch_y, devices[1])
        found = first_pairwise_differences(first, second, tolerance)
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


def _add_update_ops(found: dict[str, Any], runner: StepRunner, notes: list[str]) -> None:
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
        notes.append(f"could not trace the update of {key}: {one_line(exc)}")


def _add_ops(found: dict[str, Any], runner: StepRunner, x: Any, device: str | None, notes: list[str]) -> None:
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
        notes.append(f"could not replay the layers to list their ops: {one_line(exc)}")
        return
    for entry, (key, backward) in wanted.items():
        if key not in inputs:
            notes.append(f"{key} was not called directly: ops not listed")
            continue
        args, kwargs = inputs[key]
        try:
            with device_scope(device):
                found[entry]["ops"] = layer_ops(targets[key], args, kwargs, backward=backward)
        except Exception as exc:  # diagnostic only, see above
            notes.append(f"could not trace the ops of {key}: {one_line(exc)}")
