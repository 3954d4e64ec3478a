"""Structural audit: what differs between a member and the reference, in plain words.

Compares trainable and non-trainable variables (count, names, shapes, dtypes), parameter
totals, and the activations of layers with the same name. Keras layers expose theirs
(``layer.activation``, ``layer.recurrent_activation``); ``tf.Module`` members may declare
them in a ``layer_activations`` attribute, e.g. ``{"dense_0": "relu", "dense_1": "softmax"}``
(and ``layer_recurrent_activations`` for recurrent layers).

Every message reads *member vs reference*: ``"activation None vs relu in dense_0"`` means
the member has no activation where the reference has ``relu``.
"""

from __future__ import annotations

import math
from typing import Any

from suite.zoo.weights import (
    is_keras,
    is_param,
    shape_of,
    structural_differences,
    variables_by_path,
)

#: layer attribute -> ``tf.Module`` attribute holding the same information by layer name
_ACTIVATION_ATTRS = {
    "activation": "layer_activations",
    "recurrent_activation": "layer_recurrent_activations",
}


def activation_name(fn: Any) -> str:
    """A readable name for an activation: ``"relu"``, ``"softmax"``; ``"None"`` for identity."""
    if fn is None:
        return "None"
    if isinstance(fn, str):
        return "None" if fn in ("linear", "None") else fn
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return "None" if name == "linear" else name


def layer_activations(model: Any, attr: str = "activation") -> dict[str, str] | None:
    """Layer name -> activation name, for the layers of ``model`` that have one.

    Args:
        model: a Keras model or a ``tf.Module`` with a ``layer_activations`` attribute.
        attr: ``"activation"`` or ``"recurrent_activation"``.

    Returns:
        The mapping, or ``None`` when the model does not expose its activations (a
        ``tf.Module`` without the attribute), so nothing can be compared.
    """
    if is_keras(model):
        return {
            layer.name: activation_name(getattr(layer, attr))
            for layer in getattr(model, "layers", [])
            if hasattr(layer, attr)
        }
    declared = getattr(model, _ACTIVATION_ATTRS[attr], None)
    if declared is None:
        return None
    return {name: activation_name(fn) for name, fn in declared.items()}


def _count(variables: dict[str, Any], trainable: bool) -> tuple[int, int]:
    chosen = [v for k, v in variables.items() if is_param(k) and bool(v.trainable) == trainable]
    return len(chosen), sum(math.prod(shape_of(v)) for v in chosen)


def audit(ref: Any, model: Any) -> list[str]:
    """Human-readable structural differences between a member and the reference.

    Both models must be built (``suite.zoo.weights.ensure_built``).

    Args:
        ref: the reference member.
        model: the member to audit.

    Returns:
        Messages (member first, reference second), e.g. ``"no bias in dense_1 (64,)"``,
        ``"activation None vs relu in dense_0"``, ``"extra variable dense_2/kernel (64, 64)"``,
        ``"trainable params 714 vs 650"``; empty if the structures match.
    """
    ref_vars, vars_ = variables_by_path(ref), variables_by_path(model)
    messages = structural_differences(ref_vars, vars_)
    for key in (k for k in ref_vars if k in vars_ and is_param(k)):
        if bool(ref_vars[key].trainable) != bool(vars_[key].trainable):
            state = "trainable" if vars_[key].trainable else "non-trainable"
            messages.append(f"{key} is {state} in the member, not in the reference")
    for trainable in (True, False):
        label = "trainable" if trainable else "non-trainable"
        (n_ref, p_ref), (n, p) = _count(ref_vars, trainable), _count(vars_, trainable)
        if n != n_ref:
            messages.append(f"{label} variables {n} vs {n_ref}")
        if p != p_ref:
            messages.append(f"{label} params {p} vs {p_ref}")
    for attr in _ACTIVATION_ATTRS:
        ref_act, act = layer_activations(ref, attr), layer_activations(model, attr)
        if ref_act is None or act is None:
            continue
        label = attr.replace("_", " ")
        for name, expected in ref_act.items():
            if name not in act:
                messages.append(f"missing layer {name} ({label} {expected})")
            elif act[name] != expected:
                messages.append(f"{label} {act[name]} vs {expected} in {name}")
        messages += [f"extra layer {n} ({label} {a})" for n, a in act.items() if n not in ref_act]
    return messages
