"""Variables by structural path, lazy building, and bitwise-verified weight copy.

Every member of a pair names its layers identically, so a variable is identified by
``<layer>/<var>`` (``dense_0/kernel``, ``lstm_0/lstm_cell/bias``, ``bn_0/moving_mean``),
whatever the model's own name or flavor:

- Keras models: the variable's ``path`` from its top-level layer's name on (the model's
  name prefix that Sequential and subclassed models add is dropped). Random-seed state
  (``SeedGenerator`` of a ``Dropout``/``LSTM``), whose Keras path carries a process-global
  counter, is keyed by its owning layer: ``<layer>/seed_generator_state``.
- ``tf.Module`` members (``raw``): the ``tf.Variable`` name without the ``:0`` suffix, so
  ``tf.Variable(..., name="dense_0/kernel")`` is ``dense_0/kernel``.

Positional ``get_weights``/``set_weights`` is never used: it follows attribute order in
subclassed models and silently misassigns (see DESIGN.md).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from suite.errors import StructuralMismatch

#: key suffix of random-number-generator state (not a parameter, but copied and restored)
SEED_STATE = "seed_generator_state"

_SUFFIX = re.compile(r":\d+$")


def is_keras(model: Any) -> bool:
    """True for Keras layers/models, False for plain ``tf.Module`` members."""
    import keras

    return isinstance(model, keras.layers.Layer)


def is_param(key: str) -> bool:
    """True unless the key names random-seed state (which ``count_params`` ignores too)."""
    return not key.endswith(SEED_STATE)


def _keras_variables(model: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    seen: set[int] = set()

    def add(key: str, var: Any) -> None:
        if key in found:
            raise StructuralMismatch(
                [f"two variables named {key} in {model.name!r} (layer names must be unique)"]
            )
        found[key] = var
        seen.add(id(var))

    for layer in getattr(model, "layers", []):
        seeds = 0
        for var in layer.variables:
            if id(var) in seen:  # a shared layer lists the same variable twice
                continue
            parts = var.path.split("/")
            if layer.name in parts:
                add("/".join(parts[parts.index(layer.name) :]), var)
            else:  # SeedGenerator state: path is "seed_generator_<global counter>/..."
                add(f"{layer.name}/{var.name}" + (f"_{seeds}" if seeds else ""), var)
                seeds += 1
    prefix = f"{model.name}/"
    for var in model.variables:  # variables the model itself owns (add_weight in a subclass)
        if id(var) not in seen:
            path = var.path[len(prefix) :] if var.path.startswith(prefix) else var.path
            add(path, var)
    return found


def variables_by_path(model: Any) -> dict[str, Any]:
    """Every variable of a member, trainable and not, keyed ``<layer>/<var>``.

    Args:
        model: a built ``keras.Model`` or a ``tf.Module`` (call :func:`ensure_built` first
            for subclassed models).

    Returns:
        Key -> variable (``keras.Variable`` or ``tf.Variable``), in creation order.

    Raises:
        StructuralMismatch: two different variables map to the same key (duplicate layer
            names), which would make a copy by name ambiguous.
    """
    if is_keras(model):
        return _keras_variables(model)
    found: dict[str, Any] = {}
    for var in model.variables:
        key = _SUFFIX.sub("", var.name)
        if key in found:
            raise StructuralMismatch([f"two variables named {key} (variable names must be unique)"])
        found[key] = var
    return found


def ensure_built(model: Any, x: Any) -> None:
    """Create a member's variables by calling it once on the first sample of ``x``.

    Sequential and Functional models are built at construction; a subclassed model only
    creates its sublayers' weights when called (``build((None, D))`` is not enough). The
    call runs in inference mode, so it changes no state (no BatchNorm update, no dropout
    draw). Members that already have variables are left alone.

    Args:
        model: a member as returned by ``Pair.build``.
        x: a batch of inputs (numpy array or nested structure of arrays).
    """
    import tensorflow as tf

    if is_keras(model):
        if model.built and model.variables:
            return
    elif list(model.variables):
        return
    model(tf.nest.map_structure(lambda a: a[:1], x), training=False)


def _bits(value: np.ndarray) -> np.ndarray:
    """The raw bits of an array as unsigned integers (``-0.0 != 0.0``, NaN == same NaN)."""
    value = np.ascontiguousarray(value)
    if value.dtype == np.bool_:
        return value.view(np.uint8)
    return value.view(f"u{value.dtype.itemsize}")


def bitwise_equal(a: Any, b: Any) -> bool:
    """True if two arrays have the same shape, dtype and bits."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(_bits(a), _bits(b))


def _dtype_name(var: Any) -> str:
    dtype = var.dtype
    return dtype if isinstance(dtype, str) else dtype.name


def shape_of(var: Any) -> tuple[int, ...]:
    """A variable's shape as a plain tuple of ints."""
    return tuple(int(d) for d in var.shape)


def structural_differences(
    src: dict[str, Any], dst: dict[str, Any], *, compare_dtypes: bool = True
) -> list[str]:
    """Missing/extra variables and shape/dtype differences between two variable maps.

    Args:
        src: the reference's variables (:func:`variables_by_path`).
        dst: the member's variables.
        compare_dtypes: also report dtype differences.

    Returns:
        Messages such as ``"no bias in dense_1 (64,)"``, ``"missing variable bn_0/gamma (8,)"``,
        ``"extra variable dense_2/kernel (64, 64)"``, ``"shape of dense_0/kernel (10, 32) vs
        (10, 64)"`` (member first, reference second); empty when the structures match.
    """
    diffs: list[str] = []
    for key, var in src.items():
        if key not in dst:
            layer, _, name = key.rpartition("/")
            if name == "bias" and layer and any(k.startswith(f"{layer}/") for k in dst):
                diffs.append(f"no bias in {layer} {shape_of(var)}")
            else:
                diffs.append(f"missing variable {key} {shape_of(var)}")
    diffs += [f"extra variable {k} {shape_of(v)}" for k, v in dst.items() if k not in src]
    for key in (k for k in src if k in dst):
        s, d = src[key], dst[key]
        if shape_of(s) != shape_of(d):
            diffs.append(f"shape of {key} {shape_of(d)} vs {shape_of(s)}")
        elif compare_dtypes and _dtype_name(s) != _dtype_name(d):
            diffs.append(f"dtype of {key} {_dtype_name(d)} vs {_dtype_name(s)}")
    return diffs


def copy_weights(src: Any, dst: Any, *, allow_cast: bool = False) -> None:
    """Copy every variable of ``src`` into ``dst`` by path, then verify the copy bitwise.

    Both models must be built (:func:`ensure_built`). Random-seed state is copied too, so
    dropout masks match given the same call order.

    Args:
        src: the reference member.
        dst: the member that receives the weights.
        allow_cast: allow dtype differences and cast the values (e.g. float32 weights into
            a float64 reference build); verification then compares with the cast values.

    Raises:
        StructuralMismatch: missing/extra variables, shape (or, without ``allow_cast``,
            dtype) differences, or a copy that did not reproduce the bits.
    """
    source, target = variables_by_path(src), variables_by_path(dst)
    diffs = structural_differences(source, target, compare_dtypes=not allow_cast)
    if diffs:
        raise StructuralMismatch(diffs)
    bad = []
    for key, var in target.items():
        value = np.asarray(source[key].numpy()).astype(_dtype_name(var), copy=False)
        var.assign(value)
        if not bitwise_equal(var.numpy(), value):
            bad.append(key)
    if bad:
        raise StructuralMismatch([f"copy of {key} is not bitwise equal" for key in bad])


def snapshot(model: Any) -> dict[str, np.ndarray]:
    """Host copies of every variable (key -> array), e.g. to restore the initial state."""
    return {k: np.array(v.numpy()) for k, v in variables_by_path(model).items()}


def restore(model: Any, values: dict[str, np.ndarray]) -> None:
    """Assign a :func:`snapshot` back (same keys required).

    Raises:
        StructuralMismatch: the snapshot's keys do not match the model's variables.
    """
    target = variables_by_path(model)
    if set(target) != set(values):
        missing = sorted(set(target) - set(values))
        extra = sorted(set(values) - set(target))
        raise StructuralMismatch(
            [f"snapshot lacks {k}" for k in missing] + [f"snapshot has unknown {k}" for k in extra]
        )
    for key, var in target.items():
        var.assign(values[key])


def parameter_counts(model: Any) -> dict[str, int]:
    """Trainable and non-trainable parameter totals (random-seed state excluded).

    Works on models whose Keras variables are not yet initialised (built inside
    ``keras.StatelessScope``): only shapes are read.

    Returns:
        ``{"trainable": n, "non_trainable": m, "total": n + m}``.
    """
    import math

    counts = {"trainable": 0, "non_trainable": 0}
    for key, var in variables_by_path(model).items():
        if is_param(key):
            counts["trainable" if var.trainable else "non_trainable"] += math.prod(shape_of(var))
    counts["total"] = counts["trainable"] + counts["non_trainable"]
    return counts
