"""Lazy building and bitwise-verified weight copy (variable keys: :mod:`suite.zoo.paths`).

Variables are matched by key when every key lines up, otherwise by structure
(:mod:`suite.zoo.align`).

Positional ``get_weights``/``set_weights`` is never used: it follows attribute order in
subclassed models and silently misassigns across flavors (a subclass lists its weights in
attribute-assignment order, a Sequential in layer order).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from suite.errors import StructuralMismatch
from suite.zoo.paths import (
    SEED_STATE,
    call_model,
    dtype_name,
    is_keras,
    is_param,
    shape_of,
    structural_differences,
    variables_by_path,
)

__all__ = [
    "SEED_STATE",
    "bitwise_equal",
    "copy_weights",
    "ensure_built",
    "is_keras",
    "is_param",
    "parameter_counts",
    "restore",
    "shape_of",
    "snapshot",
    "structural_differences",
    "variables_by_path",
]


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
    call_model(model, tf.nest.map_structure(lambda a: a[:1], x), training=False)


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


def copy_weights(
    src: Any,
    dst: Any,
    *,
    allow_cast: bool = False,
    x: Any = None,
    by: str | None = None,
    alignment: Any = None,
) -> Any:
    """Copy every variable of ``src`` into the matching variable of ``dst``, verified bitwise.

    Variables are matched by name when every name lines up, otherwise by structure (the
    forward order, needs ``x``) or, with ``by="order"``, by creation order; see
    :func:`suite.zoo.align.match_variables`. Both models must be built
    (:func:`ensure_built`). Random-seed state is copied too, so dropout masks match given the
    same call order.

    Args:
        src: the reference member.
        dst: the member that receives the weights.
        allow_cast: allow dtype differences and cast the values (e.g. float32 weights into
            a float64 build); verification then compares with the cast values.
        x: inputs both can be called on (to match unnamed variables by structure).
        by: ``"order"`` to match by creation order (two builds of one builder).
        alignment: a :class:`~suite.zoo.align.Alignment` already made (skips the matching).

    Returns:
        The :class:`~suite.zoo.align.Alignment` used (member -> reference variable).

    Raises:
        StructuralMismatch: missing/extra variables, shape (or, without ``allow_cast``,
            dtype) differences, or a copy that did not reproduce the bits.
        AmbiguousAlignment: the variables can be matched in more than one way.
    """
    from suite.zoo.align import match_variables

    if alignment is None:
        alignment = match_variables(src, dst, x, allow_cast=allow_cast, by=by)
    bad = []
    for mem, ref in alignment.pairs:
        value = np.asarray(ref.var.numpy()).astype(dtype_name(mem.var), copy=False)
        mem.var.assign(value)
        if not bitwise_equal(mem.var.numpy(), value):
            bad.append(mem.key)
    if bad:
        raise StructuralMismatch([f"copy of {key} is not bitwise equal" for key in bad])
    return alignment


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
