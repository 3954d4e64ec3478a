"""Variable keys: how a member's variables are named, whatever its flavor.

Every member of a built-in pair names its layers identically, so a variable is identified by
``<layer>/<var>`` (``dense_0/kernel``, ``lstm_0/lstm_cell/bias``, ``bn_0/moving_mean``),
whatever the model's own name or flavor:

- Keras models: the variable's ``path`` from its top-level layer's name on (the model's
  name prefix that Sequential and subclassed models add is dropped). Random-seed state
  (``SeedGenerator`` of a ``Dropout``/``LSTM``), whose Keras path carries a process-global
  counter, is keyed by its owning layer: ``<layer>/seed_generator_state``.
- ``tf.Module`` members (``raw``): the ``tf.Variable`` name without the ``:0`` suffix, so
  ``tf.Variable(..., name="dense_0/kernel")`` is ``dense_0/kernel``; plain unnamed
  ``tf.Variable``s are keyed by attribute path (``w1``, ``layers.0.kernel``).

Members whose names do not line up are matched by structure (:mod:`suite.zoo.align`).
"""

from __future__ import annotations

import re
from typing import Any

#: key suffix of random-number-generator state (not a parameter, but copied and restored)
SEED_STATE = "seed_generator_state"
#: how deep :func:`attribute_variables` follows attributes, lists and dicts
_MAX_DEPTH = 12

_SUFFIX = re.compile(r":\d+$")


def is_keras(model: Any) -> bool:
    """True for Keras layers/models, False for plain ``tf.Module`` members."""
    import keras

    return isinstance(model, keras.layers.Layer)


def call_model(model: Any, x: Any, training: bool) -> Any:
    """``model(x, training=training)``, or ``model(x)`` for a ``tf.Module`` whose ``__call__``
    takes no ``training`` argument (raw code often does not)."""
    if is_keras(model):
        return model(x, training=training)
    import inspect

    try:
        params = inspect.signature(model.__call__).parameters
    except (TypeError, ValueError):
        return model(x, training=training)
    takes = "training" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
    return model(x, training=training) if takes else model(x)


def is_param(key: str) -> bool:
    """True unless the key names random-seed state (which ``count_params`` ignores too)."""
    return not key.endswith(SEED_STATE)


def _keras_variables(model: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    seen: set[int] = set()

    def add(key: str, var: Any) -> None:
        unique, n = key, 1
        while unique in found:  # two layers with one name (a subclass may do that): keep both
            n += 1
            unique = f"{key}#{n}"
        found[unique] = var
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


def _module_variables(model: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for var in model.variables:
        key = _SUFFIX.sub("", var.name)
        if key in found:  # unnamed tf.Variables are all "Variable": key by attribute path instead
            paths = {id(v): path for path, v in attribute_variables(model).items()}
            return {paths.get(id(v), f"variable_{i}"): v for i, v in enumerate(model.variables)}
        found[key] = var
    return found


def variables_by_path(model: Any) -> dict[str, Any]:
    """Every variable of a member, trainable and not, keyed ``<layer>/<var>``.

    Two layers of one Keras member with the same name key their variables ``dense/kernel``
    and ``dense/kernel#2``. A ``tf.Module`` whose variables do not have distinct names (plain
    ``tf.Variable(...)`` is named ``Variable``) keys them by attribute path (``w1``,
    ``layers.0.kernel``).

    Args:
        model: a built ``keras.Model`` or a ``tf.Module`` (call :func:`ensure_built` first
            for subclassed models).

    Returns:
        Key -> variable (``keras.Variable`` or ``tf.Variable``), in creation order.
    """
    if is_keras(model):
        return _keras_variables(model)
    return _module_variables(model)


def _children(obj: Any) -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        return [(str(k), v) for k, v in obj.items()]
    if isinstance(obj, list | tuple):
        return [(str(i), v) for i, v in enumerate(obj)]
    attrs = list(getattr(obj, "__dict__", {}).items())
    return [a for a in attrs if not a[0].startswith("_")] + [a for a in attrs if a[0].startswith("_")]


def attribute_variables(obj: Any) -> dict[str, Any]:
    """``tf.Variable`` objects reachable from ``obj``'s attributes, keyed by attribute path.

    Follows attributes (public ones first, so a variable gets its most readable path), lists,
    tuples and dicts, into nested Keras layers and ``tf.Module`` objects.

    Args:
        obj: a Keras layer/model or a ``tf.Module``.

    Returns:
        ``{"w1": var, "block.w": var, "weights.0": var}`` in the order they were found.
    """
    import keras
    import tensorflow as tf

    found: dict[str, Any] = {}
    seen: set[int] = set()

    def walk(value: Any, path: str, depth: int) -> None:
        if id(value) in seen or depth > _MAX_DEPTH:
            return
        if isinstance(value, tf.Variable):
            seen.add(id(value))
            found[path] = value
            return
        walkable = isinstance(value, keras.layers.Layer | tf.Module | list | tuple | dict)
        if not walkable or isinstance(value, str | bytes):
            return
        seen.add(id(value))
        for name, child in _children(value):
            walk(child, f"{path}.{name}" if path else name, depth + 1)

    walk(obj, "", 0)
    return found


def dtype_name(var: Any) -> str:
    """A variable's dtype as a string (``float32``)."""
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
        elif compare_dtypes and dtype_name(s) != dtype_name(d):
            diffs.append(f"dtype of {key} {dtype_name(d)} vs {dtype_name(s)}")
    return diffs
