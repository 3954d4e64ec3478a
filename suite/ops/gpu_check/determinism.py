"""The ``determinism`` part: the ``embedding`` pair's ``train_step`` on ``gpu:0`` with op
determinism off and on, >= 5 reruns, localisation and traces on: distinct results per mode, the
layer and op it is localised to, the top CUDA kernels of each nondeterministic case.

In a smoke run the test pair ``chaos`` (``tests/pairs/chaos_pairs.py``, nondeterministic on the
CPU whatever determinism says) runs alongside as the control of the localisation plumbing.
"""

from __future__ import annotations

from typing import Any

from suite.ops.gpu_check.context import FAST_TIMING, Context
from suite.ops.gpu_check.outcome import Check, PartResult
from suite.ops.gpu_check.records import case_of, distinct, is_gpu, label, rerun
from suite.results.columns import localisation_text, top_kernels_text
from suite.verdicts import FAILED, NONDETERMINISTIC

#: the stages of a localisation, each naming a layer or variable and its ops
STAGES: tuple[str, ...] = ("forward", "backward", "update")


def determinism_args(ctx: Context) -> list[str]:
    """The ``pairbench run`` arguments of the determinism part."""
    pairs, modes = "embedding", "eager,function,xla"
    extra: list[str] = []
    if ctx.smoke:  # plus a pair that is nondeterministic on the CPU, for the localisation plumbing
        pairs, modes = "embedding,chaos", "eager,function"
        extra = ["--pairs-from", "tests/pairs/chaos_pairs.py"]
    return [
        *("--pairs", pairs, "--members", "sequential", "--workloads", "train_step", "--modes", modes),
        *("--devices", "gpu:0", "--precisions", "float32", "--determinism", "off,on"),
        *("--sizes", ctx.size("default"), "--repeats", str(ctx.det_repeats or (5 if ctx.smoke else 8))),
        *("--profile", "--localise", "--no-fp64", "--timeout", "120", *FAST_TIMING, *extra),
    ]


def localised(rec: dict[str, Any]) -> str | None:
    """Where a record's difference is localised (:func:`suite.results.columns.localisation_text`),
    or None when no stage names a layer or variable with its ops."""
    loc = rec.get("localisation") or {}
    stages = [loc.get(stage) for stage in STAGES]
    named = any(
        isinstance(s, dict) and (s.get("layer") or s.get("variable")) and s.get("ops") for s in stages
    )
    return localisation_text(loc) if named else None


def top_kernels(rec: dict[str, Any], limit: int = 3) -> str | None:
    """The record's top device kernels with their share (:func:`suite.results.columns.top_kernels_text`)."""
    return top_kernels_text(rec.get("profile"), limit)


def verdicts_text(records: dict[str, dict[str, Any]]) -> dict[str, str]:
    """mode -> ``<verdict> <distinct>/<runs>``."""
    return {m: f"{r['verdict']} {distinct(r)}" for m, r in sorted(records.items())}


def determinism_checks(ctx: Context, records: list[dict[str, Any]], pair: str = "embedding") -> list[Check]:
    """The checks of the determinism part on its records.

    Args:
        ctx: the check (whether a GPU answers the GPU-only checks).
        records: the determinism run's records.
        pair: the pair whose determinism off/on is judged.

    Returns:
        ``<pair>_off_nondeterministic``, ``<pair>_on_stable``, ``note``, ``localised`` and
        ``top_kernels``.
    """
    checks = []
    gpu = [r for r in records if is_gpu(r)]
    mine = [r for r in gpu if case_of(r).get("pair") == pair]
    off = {case_of(r)["mode"]: r for r in mine if case_of(r).get("determinism") == "off"}
    on = {case_of(r)["mode"]: r for r in mine if case_of(r).get("determinism") == "on"}
    tf_modes = [m for m in ("eager", "function") if m in off]
    ok = bool(tf_modes) and all(
        off[m]["verdict"] == NONDETERMINISTIC and rerun(off[m]).get("runs", 0) >= 5 for m in tf_modes
    )
    checks.append(
        ctx.gpu_only(
            f"determinism.{pair}_off_nondeterministic",
            ok,
            verdicts_text(off),
            f"{pair} train_step with determinism off: nondeterministic (distinct results over >= 5 "
            "reruns) in eager and tf.function (XLA shown for information)",
        )
    )
    ok_on = bool(on) and all(
        r["verdict"] not in (NONDETERMINISTIC, *FAILED) and rerun(r).get("distinct") == 1 for r in on.values()
    )
    checks.append(
        Check(
            f"determinism.{pair}_on_stable",
            "pass" if ok_on else "fail",
            verdicts_text(on),
            f"{pair} train_step with determinism on: bitwise stable over the reruns (1 distinct result)",
            "" if ok_on else "a determinism-on case is not bitwise stable, or none ran",
        )
    )
    notes = sorted({n for r in on.values() for n in r.get("notes") or [] if "determinism" in n})
    checks.append(Check("determinism.note", "info", notes, "what the determinism-on rows say"))
    nondet = [
        r for r in gpu if r.get("verdict") == NONDETERMINISTIC and case_of(r).get("determinism") == "off"
    ]
    where = {label(r, "pair", "mode"): localised(r) for r in nondet}
    ok_loc = bool(nondet) and all(where.values())
    checks.append(
        Check(
            "determinism.localised",
            "pass" if ok_loc else "fail",
            where,
            "every nondeterministic case is localised to a layer and its ops",
            ""
            if ok_loc
            else ("no nondeterministic case to localise" if not nondet else "a case names no layer/op"),
        )
    )
    kernels = {label(r, "pair", "mode"): top_kernels(r) for r in nondet}
    checks.append(
        ctx.gpu_only(
            "determinism.top_kernels",
            bool(kernels) and all(kernels.values()),
            kernels,
            "the top CUDA kernels of every nondeterministic case (from its trace)",
        )
    )
    return checks


def part_determinism(ctx: Context, part: PartResult, deadline: float) -> None:
    """The ``embedding`` train step with op determinism off and on (see the module docstring).

    Args:
        ctx: the check.
        part: where the part's figures, checks and steps go.
        deadline: when the part must be done (``time.monotonic()``).
    """
    records = ctx.pairbench_run(part, "determinism", determinism_args(ctx), deadline)
    part.figures["records"] = len(records)
    part.figures["cases"] = {
        r.get("case_id"): {
            "verdict": r.get("verdict"),
            "rerun": distinct(r),
            "localised": localised(r),
            "top_kernels": top_kernels(r, 5),
            "kernels_csv": (r.get("profile") or {}).get("kernels_csv"),
        }
        for r in records
    }
    part.checks.extend(determinism_checks(ctx, records))
    if ctx.smoke:  # chaos is nondeterministic with determinism on too (its design): the control
        chaos = {c.name: c for c in determinism_checks(ctx, records, "chaos")}
        part.checks.append(
            control_check(chaos["determinism.chaos_on_stable"], "chaos stays nondeterministic when on")
        )


def control_check(check: Check, expected: str) -> Check:
    """A control check: it must fail for the plumbing to be right (and a case must have run).

    Args:
        check: the ``<pair>_on_stable`` check of the control pair.
        expected: what the control's pass means, in words.

    Returns:
        ``<pair>_on_control``: ``pass`` when ``check`` failed on cases that ran.
    """
    status = {"pass": "fail", "fail": "pass"}.get(check.status, check.status)
    reason = "" if status == "pass" else "the control was stable"
    if not check.figure:
        status, reason = "fail", "no case of the control ran"
    name = check.name.replace("_on_stable", "_on_control")
    return Check(name, status, check.figure, expected, reason)
