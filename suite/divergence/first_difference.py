"""The first difference between passes (pure): the first layer, gradient and update that differ.

Two passes (two members, two modes or two devices) are compared layer by layer in execution
order, gradients in *backprop order* (the last layer's variables first, as backpropagation
computes them), then updated variables; for reruns of one member, the first layer, gradient or
update whose rerun spread is non-zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from suite.divergence.layer_outputs import base_key
from suite.divergence.outputs import compare_outputs, rerun_spread, worst_rerun
from suite.divergence.step_runner import Pass


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


def first_pairwise_differences(first: Pass, second: Pass, tolerance: Any) -> dict[str, Any]:
    """The first layer, gradient and update where ``second`` differs from ``first``.

    Args:
        first: the reference's pass.
        second: the candidate's pass.
        tolerance: ``{"rtol", "atol"}`` (differs: beyond it), or None (differs: not bitwise).

    Returns:
        ``{"forward", "backward", "update", "notes"}``: each finding ``{"layer"|"variable",
        "metrics"}`` or None; ``notes`` says what was compared and found.
    """
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


def first_rerun_differences(passes: Sequence[Pass]) -> dict[str, Any]:
    """The first layer, gradient and update whose value varies over reruns of one member.

    Returns:
        As :func:`first_pairwise_differences`; a finding also has ``rerun`` (its spread).
    """
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
