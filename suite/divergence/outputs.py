"""Sets of named outputs compared: worst over tensors, bitwise equality, rerun spread.

A case's outputs are named tensors (``predictions``; ``loss`` and ``weights/<path>``);
:func:`compare_outputs` compares two such sets with :func:`~suite.divergence.metrics.compare_arrays`
tensor by tensor and keeps the worst, :func:`rerun_spread` and :func:`worst_rerun` measure how
reruns of one case spread. Pure numpy (no TensorFlow import).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from suite.divergence.metrics import compare_arrays, same_bits


def _one_sided_seed_states(a: Mapping[str, Any], b: Mapping[str, Any]) -> set[str]:
    """Random-seed states present on one side only (a dropout in one member only): no weight,
    nothing to compare them with."""
    from suite.zoo.paths import SEED_STATE

    return {k for k in set(a) ^ set(b) if k.endswith(SEED_STATE)}


def _check_keys(a: Mapping[str, Any], b: Mapping[str, Any], what: str = "") -> None:
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        parts = []
        if only_a:
            parts.append(f"only in the first{what}: {', '.join(only_a)}")
        if only_b:
            parts.append(f"only in the second{what}: {', '.join(only_b)}")
        raise ValueError("tensor names differ: " + "; ".join(parts))


def compare_outputs(
    a: Mapping[str, Any], b: Mapping[str, Any], *, tolerance: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Compare two sets of named tensors (candidate ``a``, reference ``b``).

    The result has the keys of :func:`compare_arrays`, aggregated as the worst over tensors
    (max of ``max_*``, ``p99_ulp``, ``rmse`` and ``tol_ratio``; min of ``cosine``),
    ``frac_diff`` weighted by elements, ``bitwise_equal`` over all tensors, counts summed,
    plus ``worst_tensor``: the tensor with the largest ``max_ulp`` (then ``max_abs``) among
    those that are not bitwise equal, or None when all are.

    Args:
        a: tensor name -> array.
        b: tensor name -> array, the same names (a random-seed state on one side only, from a
            dropout in one member only, is left out: it is no weight).
        tolerance: passed to :func:`compare_arrays` (adds ``tol_ratio``).

    Raises:
        ValueError: names missing on one side (named), or a tensor pair that
            :func:`compare_arrays` refuses (prefixed with the tensor's name).
    """
    apart = _one_sided_seed_states(a, b)
    if apart:
        a = {k: v for k, v in a.items() if k not in apart}
        b = {k: v for k, v in b.items() if k not in apart}
    _check_keys(a, b)
    per: dict[str, dict[str, Any]] = {}
    for name in sorted(a):
        try:
            per[name] = compare_arrays(a[name], b[name], tolerance=tolerance)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return aggregate(per)


def aggregate(per: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Worst-over-tensors summary of per-tensor :func:`compare_arrays` results (see
    :func:`compare_outputs`)."""
    n = sum(m["n_elements"] for m in per.values())
    out: dict[str, Any] = {
        "max_abs": max((m["max_abs"] for m in per.values()), default=0.0),
        "max_rel": max((m["max_rel"] for m in per.values()), default=0.0),
        "max_ulp": max((m["max_ulp"] for m in per.values()), default=0),
        "p99_ulp": max((m["p99_ulp"] for m in per.values()), default=0),
        "cosine": min((m["cosine"] for m in per.values()), default=1.0),
        "rmse": max((m["rmse"] for m in per.values()), default=0.0),
        "frac_diff": (sum(m["frac_diff"] * m["n_elements"] for m in per.values()) / n) if n else 0.0,
        "bitwise_equal": all(m["bitwise_equal"] for m in per.values()),
        "nan_count": sum(m["nan_count"] for m in per.values()),
        "inf_count": sum(m["inf_count"] for m in per.values()),
        "n_elements": n,
    }
    if any(math.isnan(m["cosine"]) for m in per.values()):
        out["cosine"] = math.nan
    if per and all("tol_ratio" in m for m in per.values()):
        out["tol_ratio"] = max(m["tol_ratio"] for m in per.values())
    differing = {k: m for k, m in per.items() if not m["bitwise_equal"]}
    out["worst_tensor"] = (
        max(differing, key=lambda k: (differing[k]["max_ulp"], differing[k]["max_abs"]))
        if differing
        else None
    )
    return out


def bitwise_equal_outputs(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """True when two sets of named tensors have the same names, dtypes, shapes and bits."""
    return set(a) == set(b) and all(same_bits(a[k], b[k]) for k in a)


def rerun_spread(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How much reruns of the same case spread.

    Args:
        runs: the outputs of each rerun (tensor name -> array), at least one.

    Returns:
        ``runs`` (count), ``distinct`` (bitwise-distinct results: same names, dtypes, shapes
        and bits),
        ``max_abs`` and ``max_ulp``: the largest over all runs compared with the first.

    Raises:
        ValueError: no runs, or a run whose tensor names differ from the first run's.
    """
    if not runs:
        raise ValueError("rerun_spread needs at least one run")
    first = runs[0]
    for i, run in enumerate(runs[1:], start=1):
        _check_keys(run, first, what=f" (run {i} vs run 0)")
    distinct: list[Mapping[str, Any]] = [first]  # one representative per bitwise-distinct result
    max_abs, max_ulp = 0.0, 0
    for run in runs[1:]:
        if bitwise_equal_outputs(run, first):
            continue
        if not any(bitwise_equal_outputs(run, rep) for rep in distinct[1:]):
            distinct.append(run)
        m = compare_outputs(run, first)
        max_abs = max(max_abs, m["max_abs"])
        max_ulp = max(max_ulp, m["max_ulp"])
    return {"runs": len(runs), "distinct": len(distinct), "max_abs": max_abs, "max_ulp": max_ulp}


def worst_rerun(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """:func:`compare_outputs` of the rerun farthest (largest ``max_ulp``) from the first run."""
    if len(runs) < 2:
        return compare_outputs(runs[0], runs[0])
    results = [compare_outputs(r, runs[0]) for r in runs[1:]]
    return max(results, key=lambda m: (m["max_ulp"], m["max_abs"]))


__all__: list[str] = [
    "aggregate",
    "bitwise_equal_outputs",
    "compare_outputs",
    "rerun_spread",
    "worst_rerun",
]
