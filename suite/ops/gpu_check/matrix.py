"""The ``matrix`` part: every pair's reference and subclass member x eager/function/xla x
float32/tf32 at ``default`` size on ``gpu:0``, with the CPU at the same size for ``vs_cpu`` (one
run per reference member): TF32 rows within the TF32 tolerance, ``vs_cpu``, ``compile_s``, peak
device memory and NVML telemetry filled, GPU vs CPU step time.

The smallest run goes first with its share of the part's time, the largest gets what is left;
a run cut at its share is resumed (``pairbench run --resume``) with the time left at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from suite.ops.gpu_check.context import FAST_TIMING, RUN_MIN_S, Context
from suite.ops.gpu_check.outcome import Check, PartResult
from suite.ops.gpu_check.records import (
    all_sampled,
    case_key,
    case_of,
    has_plan,
    is_gpu,
    is_gpu_device,
    missing_cases,
    num,
    run_plan,
    run_records,
    same_case,
    speedups,
)
from suite.ops.gpu_check.steps import share
from suite.verdicts import FAILED, INCOMPARABLE, STRUCTURAL_MISMATCH

#: relative cost of a pair's cases, to share the matrix part's time between its runs
PAIR_COST: dict[str, float] = {"transformer": 2.0, "lstm": 1.5}
#: the least time worth resuming a cut run with (a run's start alone takes 10-20 s)
RESUME_MIN_S = 45.0
#: verdicts that fail ``matrix.no_errors``
BAD: tuple[str, ...] = (*FAILED, INCOMPARABLE, STRUCTURAL_MISMATCH)


def matrix_groups(pairs: Iterable[str] | None) -> list[tuple[str, list[str]]]:
    """Pairs grouped by their reference member (one run each: ``--members <ref>,subclass``),
    smallest group first: it gets its share of the time, the largest gets what is left.

    Pairs without a ``subclass`` member run their reference alone.

    Args:
        pairs: the pairs (None: every registered pair).

    Returns:
        ``[(members, pairs)]``, ``members`` as ``--members`` takes them.
    """
    from suite.zoo import get_pair, registered

    names = list(pairs) if pairs else sorted(registered())
    groups: dict[str, list[str]] = {}
    for name in names:
        pair = get_pair(name)
        members = [pair.reference] + (["subclass"] if "subclass" in pair.members() else [])
        groups.setdefault(",".join(dict.fromkeys(members)), []).append(name)
    return sorted(groups.items(), key=lambda kv: (len(kv[1]), kv[0]))


def matrix_args(ctx: Context, members: str, pairs: list[str]) -> list[str]:
    """``pairbench run`` arguments of one matrix run."""
    return [
        *("--pairs", ",".join(pairs), "--members", members, "--workloads", ",".join(ctx.matrix_workloads)),
        *("--modes", "eager,function,xla", "--devices", "cpu,gpu:0", "--precisions", "float32,tf32"),
        *("--sizes", ctx.size("default"), "--repeats", "3", "--timeout", "120", *FAST_TIMING),
        *(("--no-fp64",) if ctx.smoke else ()),  # one worker less per run on the 2-core CPU
    ]


def matrix_checks(
    ctx: Context, records: list[dict[str, Any]], planned: list[dict[str, Any]]
) -> tuple[list[Check], dict[str, Any]]:
    """The checks of the matrix part on the records of its runs (and their plans).

    Returns:
        The checks, and figures for the part (``verdicts``, ``gpu_vs_cpu``).
    """
    from suite.divergence.verdict import tolerance_for

    checks: list[Check] = []
    figures: dict[str, Any] = {}
    have = {case_key(case_of(r)) for r in records}
    gpu_plan = [c for c in planned if is_gpu_device(c.get("device", ""))]
    missing = [c for c in gpu_plan if case_key(c) not in have]
    checks.append(
        Check(
            "matrix.coverage",
            "pass" if gpu_plan and not missing else "fail",
            f"{len(gpu_plan) - len(missing)}/{len(gpu_plan)} GPU cases",
            "every planned GPU case has a record",
            f"{len(missing)} without a record (cut by the time box?)" if missing else "",
        )
    )
    verdicts: dict[str, int] = {}
    for r in records:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    figures["verdicts"] = verdicts
    bad = {
        r["case_id"]: f"{r['verdict']}: {str(r.get('reason', ''))[:160]}"
        for r in records
        if r["verdict"] in BAD and not tf32_on_cpu(r)
    }
    checks.append(
        Check(
            "matrix.no_errors",
            "fail" if bad else "pass",
            bad or 0,
            "no error/unsupported/incomparable row (tf32 on the CPU is unsupported by design)",
        )
    )
    gpu = [r for r in records if is_gpu(r) and r.get("timing")]
    tol = tolerance_for("tf32")
    figure = tf32_agreement(records)
    checks.append(
        ctx.gpu_only(
            "matrix.tf32_close",
            bool(figure["rows"]) and not figure["outside"],
            figure,
            f"every tf32 GPU row within the TF32 tolerance (rtol {tol['rtol']}, atol {tol['atol']}) of its "
            "references (vs_cpu: the float32 CPU case); a comparison its float32 twin fails too is "
            "excused (not TF32's doing)",
        )
    )
    on_cpu = {same_case(r) for r in records if case_of(r).get("device") == "cpu" and not tf32_on_cpu(r)}
    want = [r for r in gpu if same_case(r) in on_cpu]
    filled = [r for r in want if (r.get("divergence") or {}).get("vs_cpu")]
    checks.append(
        Check(
            "matrix.vs_cpu",
            "pass" if want and len(filled) == len(want) else "fail",
            f"{len(filled)}/{len(want)} GPU rows whose case ran on the CPU",
            "vs_cpu filled wherever the same case ran on the CPU at the same size",
        )
    )
    checks.append(compile_check(gpu))
    peaks = [(r.get("memory") or {}).get("peak_device_bytes") for r in gpu]
    known = [v for v in peaks if isinstance(v, int)]
    checks.append(
        ctx.gpu_only(
            "matrix.peak_device_memory",
            all_sampled(peaks),
            {"filled": f"{len(known)}/{len(peaks)}", "max_mib": num(max(known) / 2**20) if known else None},
            "peak device memory filled on every timed GPU row",
        )
    )
    samples = [(r.get("telemetry") or {}).get("samples") for r in gpu]
    checks.append(
        ctx.gpu_only(
            "matrix.telemetry",
            all_sampled(samples),
            f"{sum(isinstance(v, int) and v > 0 for v in samples)}/{len(samples)} GPU rows with NVML samples",
            "NVML telemetry samples on every timed GPU row",
        )
    )
    figures["gpu_vs_cpu"] = speedups(records)
    checks.append(
        Check("matrix.gpu_vs_cpu_speed", "info", figures["gpu_vs_cpu"], "CPU step / GPU step, float32")
    )
    return checks, figures


def compile_check(gpu: list[dict[str, Any]]) -> Check:
    """``matrix.compile_s``: filled (> 0) on every timed GPU row; the figure is min/max per mode."""
    compile_s = [r["timing"].get("compile_s") for r in gpu]
    ok = bool(gpu) and all(isinstance(v, int | float) and v > 0 for v in compile_s)
    by_mode: dict[str, list[float]] = {}
    for r in gpu:
        if isinstance(r["timing"].get("compile_s"), int | float):
            by_mode.setdefault(case_of(r)["mode"], []).append(r["timing"]["compile_s"])
    return Check(
        "matrix.compile_s",
        "pass" if ok else "fail",
        {m: {"min": num(min(v)), "max": num(max(v))} for m, v in sorted(by_mode.items())},
        "compile_s filled (> 0) on every timed GPU row",
    )


def tf32_agreement(records: list[dict[str, Any]]) -> dict[str, Any]:
    """How the tf32 GPU rows agree with their references, judged with the TF32 tolerance.

    A row is *within* when every agreement comparison it made (``vs_pair``, ``vs_eager``,
    ``vs_cpu``) is within the TF32 tolerance, whatever its verdict word (a nondeterministic row
    is judged by its first repeat's comparisons). A comparison beyond it is *excused* when the
    same comparison of the float32 twin (same case, float32) is beyond the float32 tolerance
    too: the difference is not TF32's (e.g. XLA's dropout masks); otherwise the row is *outside*.
    Rows that failed (``FAILED`` verdicts) are outside.

    Returns:
        ``{"rows", "within", "excused", "outside", "worst_tol_ratio", "worst", "vs_cpu_filled"}``.
    """
    from suite.divergence.verdict import AGREEMENT, tolerance_for, within_tolerance

    tol, tol32 = tolerance_for("tf32"), tolerance_for("float32")
    twins = {same_case(r): r for r in records if is_gpu(r) and case_of(r).get("precision") == "float32"}
    rows = [r for r in records if is_gpu(r) and case_of(r).get("precision") == "tf32"]
    worst: tuple[float, str] = (0.0, "")
    within, excused, outside = 0, [], []
    for r in rows:
        if r.get("verdict") in FAILED:
            outside.append(f"{r['case_id']}: {r['verdict']}: {str(r.get('reason', ''))[:120]}")
            continue
        div = r.get("divergence") or {}
        made = {k: div[k] for k in AGREEMENT if div.get(k)}
        for key, m in made.items():
            ratio = m.get("tol_ratio")
            if ratio is not None and ratio > worst[0]:
                worst = (float(ratio), f"{r['case_id']} {key}")
        beyond = [k for k, m in made.items() if not within_tolerance(m, tol)]
        if not made:
            outside.append(f"{r['case_id']}: nothing compared ({r.get('verdict')})")
        elif not beyond:
            within += 1
        else:
            twin_div = (twins.get(same_case(r)) or {}).get("divergence") or {}
            twin_beyond = [k for k in beyond if twin_div.get(k) and not within_tolerance(twin_div[k], tol32)]
            text = f"{r['case_id']}: {', '.join(beyond)} ({r.get('verdict')})"
            (excused if len(twin_beyond) == len(beyond) else outside).append(text)
    return {
        "rows": len(rows),
        "within": within,
        "excused": excused[:10],
        "outside": outside[:10],
        "worst_tol_ratio": num(worst[0]),
        "worst": worst[1],
        "vs_cpu_filled": sum(1 for r in rows if (r.get("divergence") or {}).get("vs_cpu")),
    }


def tf32_on_cpu(rec: dict[str, Any]) -> bool:
    """A ``tf32`` CPU case: unsupported by design (TF32 exists only on GPUs)."""
    return case_of(rec).get("device") == "cpu" and case_of(rec).get("precision") == "tf32"


def part_matrix(ctx: Context, part: PartResult, deadline: float) -> None:
    """Every pair's reference and subclass member x modes x float32/tf32, GPU and CPU.

    Args:
        ctx: the check.
        part: where the part's figures, checks and steps go.
        deadline: when the part must be done (``time.monotonic()``).
    """
    pairs = ctx.matrix_pairs or (("mlp_seed", "transformer") if ctx.smoke else None)
    groups = matrix_groups(pairs)
    weights = [sum(1.0 if ctx.smoke else PAIR_COST.get(p, 1.0) for p in g) for _, g in groups]
    run_ids = [f"matrix-{members.split(',')[0]}" for members, _ in groups]
    for i, (members, group) in enumerate(groups):
        run_deadline = share(deadline, weights[i], sum(weights[i + 1 :]), floor=RUN_MIN_S)
        ctx.pairbench_run(part, run_ids[i], matrix_args(ctx, members, group), run_deadline)
    # a run cut at its share gets the time the later ones left: `pairbench run --resume`
    cut = [r for r in run_ids if has_plan(ctx.results / r) and missing_cases(ctx.results / r)]
    for i, run_id in enumerate(cut):
        if deadline - time.monotonic() < RESUME_MIN_S:
            ctx.log(f"matrix: no time left to resume {run_id}")
            break
        ctx.pairbench_run(part, run_id, (), share(deadline, 1, len(cut) - i - 1), resume=True)
    if part.status == "timeout" and not any(missing_cases(ctx.results / r) for r in run_ids):
        part.status, part.reason = "ok", f"{', '.join(cut)} cut at its share and completed by --resume"
    records = [rec for r in run_ids for rec in run_records(ctx.results / r)]
    planned = [case for r in run_ids for case in run_plan(ctx.results / r)]
    part.figures["resumed"] = cut
    part.figures["runs"] = {f"matrix-{m.split(',')[0]}": {"members": m, "pairs": g} for m, g in groups}
    part.figures["records"] = len(records)
    checks, figures = matrix_checks(ctx, records, planned)
    part.figures.update(figures)
    part.checks.extend(checks)
