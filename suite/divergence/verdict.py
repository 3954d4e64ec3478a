"""Verdicts: one word (and a one-line reason) from a case's divergence numbers.

Order of the rules (the first that applies wins):

1. ``structural-mismatch``: the member's structure differs from the reference's (audit).
2. ``nondeterministic``: reruns of the same case gave more than one bitwise-distinct result.
3. ``diverged``: a comparison that was made is beyond the precision's tolerance (the reason
   names it and the numbers).
4. ``incomparable``: a comparison the run asked for (its reference case is in the run) could
   not be made (the reference failed, tensor names or shapes differ), or none could be made
   although some apply; the reason says which and why, and what was compared. Never a success.
5. ``identical``: every comparison made (``vs_pair``, ``vs_eager``, ``vs_cpu``) is bitwise
   equal (also: the reference case itself, when nothing applies).
6. ``close``: every comparison made is within the precision's tolerance.

``vs_fp64`` measures accuracy, not agreement: it never makes a row ``diverged`` or
``incomparable``, but the reason reports it (and whether the case is closer to float64 than
a baseline). Which comparison explains a verdict (what ``localise`` and ``pairbench explain``
look at) is :func:`explaining_comparison`, one rule for both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from suite.axes import FLOAT64
from suite.verdicts import (
    CLOSE,
    DIVERGED,
    IDENTICAL,
    INCOMPARABLE,
    NONDETERMINISTIC,
    STABLE,
    STRUCTURAL_MISMATCH,
    UNSUPPORTED,
    VERDICTS,
)

#: per precision: ``rtol``/``atol`` of the element-wise check ``|a - b| <= atol + rtol * |b|``
#: (``b`` the reference), and why. See docs/divergence.md.
TOLERANCES: dict[str, dict[str, Any]] = {
    FLOAT64: {"rtol": 1e-7, "atol": 1e-7, "why": "torch.testing defaults for float64"},
    "float32": {"rtol": 1.3e-6, "atol": 1e-5, "why": "torch.testing defaults for float32"},
    "tf32": {
        "rtol": 1e-3,
        "atol": 1e-3,
        "why": "TF32 rounds matmul/conv inputs to a 10-bit mantissa (eps 9.8e-4, as float16: "
        "torch.testing uses rtol 1e-3); the rounding scales with the operands, not the result, "
        "so near-zero outputs need atol of the same size",
    },
    "mixed_float16": {
        "rtol": 5e-3,
        "atol": 5e-3,
        "why": "activations are stored in float16 (eps 9.8e-4) between layers: a few roundings "
        "per layer, about 5 eps for small models",
    },
    "mixed_bfloat16": {
        "rtol": 3e-2,
        "atol": 3e-2,
        "why": "bfloat16 has an 8-bit mantissa (eps 7.8e-3; torch.testing uses rtol 1.6e-2 for "
        "one op); a few layers of rounding, about 4 eps",
    },
}

#: references that measure agreement (``vs_fp64`` measures accuracy and is informative only)
AGREEMENT: tuple[str, ...] = ("vs_pair", "vs_eager", "vs_cpu")


def tolerance_for(precision: str) -> dict[str, float]:
    """``{"rtol", "atol"}`` of a precision (for ``compare_outputs(..., tolerance=...)``).

    Raises:
        ValueError: unknown precision.
    """
    if precision not in TOLERANCES:
        raise ValueError(f"no tolerance for precision {precision!r}; known: {', '.join(TOLERANCES)}")
    tol = TOLERANCES[precision]
    return {"rtol": tol["rtol"], "atol": tol["atol"]}


def fmt(value: Any) -> str:
    """A number for a one-line reason (``3.1e-07``, ``12``, ``inf``, ``n/a``)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.3g}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def within_tolerance(metrics: Mapping[str, Any], tol: Mapping[str, float]) -> bool:
    """Whether a reference's metrics are within a tolerance.

    Uses the element-wise ``tol_ratio`` when the metrics have one (computed with the same
    tolerance); otherwise the stricter aggregate test ``max_abs <= atol or max_rel <= rtol``
    (each implies the element-wise check; the converse does not hold). Missing or NaN
    numbers (e.g. ``inf`` that became ``null`` in JSON) are not within tolerance.
    """
    if metrics.get("bitwise_equal"):
        return True
    ratio = metrics.get("tol_ratio")
    if ratio is not None:
        return bool(ratio <= 1.0)
    max_abs, max_rel = metrics.get("max_abs"), metrics.get("max_rel")
    ok_abs = max_abs is not None and max_abs <= tol["atol"]
    ok_rel = max_rel is not None and max_rel <= tol["rtol"]
    return bool(ok_abs or ok_rel)


def _describe(name: str, m: Mapping[str, Any], tol: Mapping[str, float]) -> str:
    parts = [
        f"max_abs {fmt(m.get('max_abs'))} (atol {fmt(tol['atol'])})",
        f"max_rel {fmt(m.get('max_rel'))} (rtol {fmt(tol['rtol'])})",
        f"max_ulp {fmt(m.get('max_ulp'))}",
    ]
    if m.get("tol_ratio") is not None:
        parts.append(f"{fmt(m['tol_ratio'])}x tolerance")
    if m.get("frac_diff") is not None:
        parts.append(f"{m['frac_diff']:.1%} of elements differ")
    if m.get("nan_count"):
        parts.append(f"{m['nan_count']} NaN")
    if m.get("worst_tensor"):
        parts.append(f"worst tensor {m['worst_tensor']}")
    return f"{name}: " + ", ".join(parts)


def _accuracy(divergence: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]] | None) -> str:
    mine = divergence.get("vs_fp64")
    if not mine or mine.get("max_abs") is None:
        return ""
    text = f"vs float64: max_abs {fmt(mine['max_abs'])}"
    for label, other in (baselines or {}).items():
        if not other or other.get("max_abs") is None:
            continue
        a, b = mine["max_abs"], other["max_abs"]
        if a < b:
            text += f", closer to float64 than {label} ({fmt(a)} vs {fmt(b)})"
        elif a > b:
            text += f", farther from float64 than {label} ({fmt(a)} vs {fmt(b)})"
        else:
            text += f", as close to float64 as {label}"
    return text


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _missing(missing: Mapping[str, str]) -> list[str]:
    return [f"{k}: {why}" for k, why in missing.items()]


def _incomparable(
    present: Mapping[str, Mapping[str, Any]], missing: Mapping[str, str], absent: Sequence[str], accuracy: str
) -> str:
    """The reason of an ``incomparable`` verdict: what could not be compared and why, then what was."""
    parts = _missing(missing)
    if not present and not missing:
        parts.append(f"nothing compared: {', '.join(absent)} not in this run")
    made = [
        f"{k} bitwise equal"
        if m.get("bitwise_equal")
        else f"{k} within tolerance (max_abs {fmt(m.get('max_abs'))})"
        for k, m in present.items()
    ]
    if made:
        parts.append("compared: " + ", ".join(made))
    return _join(*parts, accuracy)


def decide_verdict(
    precision: str,
    divergence: Mapping[str, Any],
    *,
    structural: list[str] | None = None,
    fp64_baselines: Mapping[str, Mapping[str, Any]] | None = None,
    unavailable: Mapping[str, str] | None = None,
    absent: Sequence[str] = (),
) -> tuple[str, str]:
    """The verdict of a case and a one-line reason.

    Args:
        precision: the case's precision (a key of :data:`TOLERANCES`).
        divergence: ``{"vs_pair"|"vs_eager"|"vs_cpu"|"vs_fp64": METRICS | None, "rerun": RERUN}``
            (``None`` or absent: not applicable).
        structural: audit differences between the member and the reference, if any.
        fp64_baselines: optional label -> another case's ``vs_fp64`` metrics (e.g.
            ``{"eager": ...}``), to say whether this case is closer to float64 than that one.
        unavailable: agreement comparisons (``vs_pair``, ``vs_eager``, ``vs_cpu``) the run asked
            for that could not be made -> why (``"reference unavailable: ..."``,
            ``"cannot compare: ..."``).
        absent: agreement comparisons that apply but whose reference case is not in the run.

    Returns:
        ``(verdict, reason)`` with ``verdict`` in :data:`suite.verdicts.VERDICTS`.

    Raises:
        ValueError: unknown precision.
    """
    tol = tolerance_for(precision)
    if structural:
        return STRUCTURAL_MISMATCH, "structure differs: " + "; ".join(structural)
    rerun = divergence.get("rerun") or {}
    accuracy = _accuracy(divergence, fp64_baselines)
    if rerun.get("distinct", 1) > 1:
        reason = (
            f"{rerun['distinct']} distinct results in {rerun.get('runs', '?')} reruns "
            f"(max_abs {fmt(rerun.get('max_abs'))}, max_ulp {fmt(rerun.get('max_ulp'))})"
        )
        return NONDETERMINISTIC, reason
    present = {k: divergence[k] for k in AGREEMENT if divergence.get(k)}
    missing = {k: why for k, why in (unavailable or {}).items() if k in AGREEMENT and k not in present}
    beyond = {k: m for k, m in present.items() if not within_tolerance(m, tol)}
    if beyond:
        return DIVERGED, _join(
            *(_describe(k, m, tol) for k, m in beyond.items()), *_missing(missing), accuracy
        )
    if missing or (not present and absent):
        return INCOMPARABLE, _incomparable(present, missing, absent, accuracy)
    if not present:
        stable = f"bitwise stable over {rerun['runs']} reruns" if rerun.get("runs", 0) > 1 else ""
        return IDENTICAL, _join("reference case: nothing to compare with", stable, accuracy)
    if all(m.get("bitwise_equal") for m in present.values()):
        return IDENTICAL, _join(f"bitwise equal to {', '.join(present)}", accuracy)
    close = [
        f"{k} max_abs {fmt(m.get('max_abs'))}, max_ulp {fmt(m.get('max_ulp'))}"
        if not m.get("bitwise_equal")
        else f"{k} bitwise equal"
        for k, m in present.items()
    ]
    head = f"within {precision} tolerance (rtol {fmt(tol['rtol'])}, atol {fmt(tol['atol'])})"
    return CLOSE, _join(head + ": " + ", ".join(close), accuracy)


def determinism_note(
    off_verdict: str,
    on_verdict: str,
    *,
    off_rerun: Mapping[str, Any] | None = None,
    on_rerun: Mapping[str, Any] | None = None,
) -> str:
    """A sentence comparing the same case with op determinism off and on, or ``""``.

    Args:
        off_verdict: the verdict with determinism off.
        on_verdict: the verdict with determinism on.
        off_rerun: optional rerun spread with determinism off (for the distinct counts).
        on_rerun: optional rerun spread with determinism on.

    Returns:
        e.g. ``"nondeterministic with determinism off, stable with determinism on: a
        nondeterministic kernel (3/3 distinct results off, 1/3 on)"``; ``""`` when the pair of
        verdicts says nothing about determinism.
    """
    for v in (off_verdict, on_verdict):
        if v not in VERDICTS:
            raise ValueError(f"unknown verdict {v!r}; valid: {', '.join(VERDICTS)}")
    counts = ""
    if off_rerun and on_rerun:
        counts = (
            f" ({off_rerun.get('distinct')}/{off_rerun.get('runs')} distinct results off, "
            f"{on_rerun.get('distinct')}/{on_rerun.get('runs')} on)"
        )
    if off_verdict == NONDETERMINISTIC and on_verdict in STABLE:
        return (
            "nondeterministic with determinism off, stable with determinism on: "
            f"a nondeterministic kernel{counts}"
        )
    if off_verdict == NONDETERMINISTIC and on_verdict == UNSUPPORTED:
        return (
            "nondeterministic with determinism off; with determinism on an op refuses to run: "
            "it has no deterministic implementation"
        )
    if off_verdict == NONDETERMINISTIC and on_verdict == NONDETERMINISTIC:
        return (
            "nondeterministic even with determinism on: a source op determinism does not cover "
            f"(unseeded host-side randomness, stateful ops, custom code){counts}"
        )
    if off_verdict in STABLE and on_verdict == NONDETERMINISTIC:
        return f"stable with determinism off but nondeterministic with determinism on: unexpected{counts}"
    if off_verdict in STABLE and on_verdict == UNSUPPORTED:
        return "stable with determinism off; with determinism on an op refuses to run"
    return ""


def explaining_comparison(
    verdict: str, divergence: Mapping[str, Any], precision: str
) -> tuple[str, bool] | None:
    """Which comparison explains a verdict, and whether "differs" means beyond the tolerance.

    The one rule used by the run (a record's ``localisation``) and by ``pairbench explain``:

    - ``nondeterministic``: ``rerun`` (bitwise);
    - ``diverged``: the first of ``vs_pair``, ``vs_eager``, ``vs_cpu`` beyond the precision's
      tolerance (tolerance);
    - otherwise: the first of them that is not bitwise equal (bitwise).

    Args:
        verdict: the record's verdict.
        divergence: the record's ``divergence``.
        precision: the case's precision.

    Returns:
        ``(against, use_tolerance)``, or None when no comparison differs.
    """
    if verdict == NONDETERMINISTIC:
        return "rerun", False
    present = [(k, divergence[k]) for k in AGREEMENT if divergence.get(k)]
    if verdict == DIVERGED:
        tol = tolerance_for(precision)
        for key, metrics in present:
            if not within_tolerance(metrics, tol):
                return key, True
    for key, metrics in present:
        if not metrics.get("bitwise_equal"):
            return key, False
    return None
