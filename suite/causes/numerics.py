"""Causes read from a record's numbers: modes, devices, precisions, reruns.

What differs between *modes* or *devices* of one member, or between its reruns, is not its
structure: the same weights run through other kernels. These causes come from the record
itself (its divergence, localisation and numerics state) plus which layers draw random
numbers in the pass that ran:

- ``xla-rounding``: XLA compiled the step; fused kernels round differently from eager
  (``close``), or the rounding grew past the tolerance through the step (``diverged``);
- ``random-masks``: a layer that draws random numbers (Keras ``Dropout``) draws other numbers
  under XLA than eagerly for the same seed state;
- ``rounding``: ``tf.function``'s graph rewrites (Grappler) change the op order;
- ``tf32`` / ``device``: another device's kernels (TF32 matmuls when on);
- ``mixed-precision``: the run computes in float16/bfloat16;
- ``nondeterministic-kernel``: reruns differ; the localised op is named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from suite.causes.cause import CERTAIN, LIKELY, Cause


def _fmt(value: Any) -> str:
    """A number as the verdicts' reasons write it (``3.1e-07``, ``12``, ``n/a``)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool | int):
        return str(value)
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    return f"{value:.3g}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def _numbers(metrics: Mapping[str, Any]) -> str:
    return f"max_abs {_fmt(metrics.get('max_abs'))}, max_ulp {_fmt(metrics.get('max_ulp'))}"


def _first(localisation: Mapping[str, Any] | None) -> tuple[str, list[str]]:
    """The first differing layer (or gradient/update variable) and its ops."""
    loc = localisation or {}
    for key, name in (("forward", "layer"), ("backward", "variable"), ("update", "variable")):
        found = loc.get(key)
        if found:
            return str(found.get(name, "")), list(found.get("ops") or [])
    return "", []


def _differs(metrics: Any) -> bool:
    return bool(metrics) and not metrics.get("bitwise_equal")


def numeric_causes(
    *,
    workload: str,
    mode: str,
    precision: str,
    verdict: str,
    divergence: Mapping[str, Any],
    localisation: Mapping[str, Any] | None,
    numerics: Mapping[str, Any],
    random_layers: list[str],
) -> list[Cause]:
    """The causes a record's numbers name (see the module docstring).

    Args:
        workload: the case's workload.
        mode: its mode.
        precision: its precision.
        verdict: its verdict (``close``, ``diverged`` or ``nondeterministic``).
        divergence: its ``divergence``.
        localisation: its ``localisation`` (may be None).
        numerics: its ``numerics`` (``tf32_enabled``...).
        random_layers: layers that draw random numbers in the pass the workload runs.
    """
    from suite.verdicts import DIVERGED, NONDETERMINISTIC

    causes: list[Cause] = []
    where, ops = _first(localisation)
    ops_text = f" (ops {', '.join(ops[:6])})" if ops else ""
    loc = localisation or {}
    update = bool(loc.get("update")) and not loc.get("forward") and not loc.get("backward")
    if verdict == NONDETERMINISTIC:
        rerun = divergence.get("rerun") or {}
        causes.append(
            Cause(
                kind="nondeterministic-kernel",
                where=where,
                attribute=", ".join(ops[:3]) if update else "",  # an update's op is the culprit itself
                member=f"{rerun.get('distinct')} distinct results in {rerun.get('runs')} reruns",
                reference="1 result (a deterministic kernel)",
                evidence=f"rerun spread {_numbers(rerun)}{ops_text}; op determinism makes such kernels "
                "deterministic or refuses them",
                confidence=CERTAIN if where else LIKELY,
            )
        )
    eager = divergence.get("vs_eager")
    if _differs(eager) and mode == "xla":
        randomised = [layer for layer in random_layers if layer]
        if randomised and verdict == DIVERGED:
            hit = next((r for r in randomised if where and (where == r or where.startswith(r + "/"))), "")
            causes.append(
                Cause(
                    kind="random-masks",
                    where=hit or randomised[0],
                    member="XLA's random draws",
                    reference="eager's random draws",
                    evidence=f"{', '.join(randomised[:4])} draw random numbers in this pass; under XLA "
                    "Keras' stateless random ops give other numbers for the same seed state (vs_eager "
                    f"{_numbers(eager)})",
                    confidence=CERTAIN if hit else LIKELY,
                )
            )
        else:
            causes.append(
                Cause(
                    kind="xla-rounding",
                    where=where,
                    member="XLA",
                    reference="eager",
                    evidence=f"vs_eager {_numbers(eager)}{ops_text}: fused kernels round and order float "
                    "ops differently"
                    + (", and the difference grows through the step" if verdict == DIVERGED else ""),
                    confidence=CERTAIN if verdict != DIVERGED else LIKELY,
                )
            )
    elif _differs(eager) and mode == "function":
        causes.append(
            Cause(
                kind="rounding",
                where=where,
                member="tf.function",
                reference="eager",
                evidence=f"vs_eager {_numbers(eager)}{ops_text}: Grappler's graph rewrites (fusion, folding) "
                "change the order of float ops",
                confidence=LIKELY,
            )
        )
    cpu = divergence.get("vs_cpu")
    if _differs(cpu):
        if numerics.get("tf32_enabled"):
            causes.append(
                Cause(
                    kind="tf32",
                    where=where,
                    member="TF32 on",
                    reference="float32 on the CPU",
                    evidence=f"vs_cpu {_numbers(cpu)}: TF32 rounds matmul/convolution inputs to a 10-bit "
                    "mantissa",
                    confidence=CERTAIN if precision == "tf32" else LIKELY,
                )
            )
        else:
            causes.append(
                Cause(
                    kind="device",
                    where=where,
                    member=str(numerics.get("tf_device") or "GPU"),
                    reference="CPU",
                    evidence=f"vs_cpu {_numbers(cpu)}{ops_text}: the device's kernels (cuDNN, cuBLAS) order "
                    "float sums differently",
                    confidence=LIKELY,
                )
            )
    if precision.startswith("mixed_") and causes:
        causes.append(
            Cause(
                kind="mixed-precision",
                member=precision,
                reference="float32",
                evidence=f"activations are stored in {precision.removeprefix('mixed_')}: every rounding "
                "difference is larger",
                confidence=LIKELY,
            )
        )
    return causes
