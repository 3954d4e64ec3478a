"""Run one group of cases inside a worker: the same member in several modes, alternating.

For each case: prepare (build, copy weights, warm up), then ``repeats`` timed repeats with
the modes interleaved, then save outputs, compute divergence against the reference cases
already on disk, decide the verdict, localise when it is ``diverged``/``nondeterministic``,
and capture a profiler trace (after timing, never inside it). A case that fails becomes a
row with its reason; the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from suite.case import Case
from suite.errors import classify_failure
from suite.execution import Prepared, ProcessState, RepeatResult, prepare_case
from suite.record import Record
from suite.references import references_of
from suite.results import RunDir
from suite.timing import step_stats

if TYPE_CHECKING:
    from suite.worker import Job


def outputs_path(run: RunDir, case: Case) -> Path:
    """Where a case's numeric outputs (first repeat) are stored."""
    return run.path / "outputs" / f"{case.case_id}.npz"


def save_outputs(run: RunDir, case: Case, outputs: dict[str, np.ndarray]) -> Path:
    """Store outputs as ``.npz`` (bfloat16 arrays are stored as float32, which is exact)."""
    path = run.sub("outputs", f"{case.case_id}.npz")
    safe = {k: (v.astype(np.float32) if v.dtype.name == "bfloat16" else v) for k, v in outputs.items()}
    with open(path, "wb") as fh:
        np.savez(fh, **{k.replace("/", "|"): v for k, v in safe.items()})
    return path


def load_outputs(run: RunDir, case: Case) -> dict[str, np.ndarray] | None:
    """A case's stored outputs, or None if it has none (not run, or failed)."""
    path = outputs_path(run, case)
    if not path.exists():
        return None
    with np.load(path) as data:
        return {k.replace("|", "/"): data[k] for k in data.files}


def run_group(job: Job, group: list[Case], state: ProcessState) -> Iterator[Record]:
    """Run a group of cases (see the module docstring) and yield one record per case."""
    from suite.telemetry import NvmlSampler

    run = RunDir(Path(job.run_dir))
    prepared: dict[Case, Prepared] = {}
    results: dict[Case, list[RepeatResult]] = {}
    for case in group:
        started = time.time()
        try:
            prepared[case] = prepare_case(case, seed=job.seed, steps=job.steps)
            results[case] = []
        except Exception as exc:
            verdict, reason = classify_failure(exc)
            yield _record(case, verdict, reason, state, started=started)
    repeats = 1 if group[0].precision == "float64" else job.repeats
    sampler = NvmlSampler.for_device(group[0].device)
    failed: dict[Case, Exception] = {}
    with sampler:
        for _ in range(repeats):
            for case, prep in prepared.items():
                if case in failed:
                    continue
                try:
                    results[case].append(prep.repeat())
                except Exception as exc:
                    failed[case] = exc
    telemetry = _telemetry(sampler, run, group, len(prepared))
    for case, prep in prepared.items():
        if case in failed:
            verdict, reason = classify_failure(failed[case])
            yield _record(case, verdict, reason, state, prep=prep, telemetry=telemetry)
            continue
        try:
            record = _finish(job, run, case, prep, results[case], state, telemetry)
        except Exception as exc:  # a bug while evaluating one case must not lose the group
            import traceback

            traceback.print_exc()
            _, reason = classify_failure(exc)
            record = _record(case, "error", f"while evaluating results: {reason}", state, prep=prep)
        _remember(run, record)
        yield record


def _telemetry(sampler: Any, run: RunDir, group: list[Case], n_cases: int) -> dict[str, Any]:
    summary = dict(sampler.summary())
    if "reason" not in summary:
        csv = run.sub("telemetry", f"{group[0].case_id}.csv")
        sampler.write_csv(csv)
        summary["csv"] = str(csv.relative_to(run.path))
        summary["scope"] = f"{n_cases} alternating case(s) of one group"
    return summary


def _record(
    case: Case,
    verdict: str,
    reason: str,
    state: ProcessState,
    *,
    prep: Prepared | None = None,
    started: float | None = None,
    telemetry: dict[str, Any] | None = None,
) -> Record:
    from suite.worker import _rss

    return Record(
        case=case,
        verdict=verdict,
        reason=reason,
        numerics=_numerics(state, case, prep),
        memory=_rss(),
        telemetry=telemetry or {},
        extra={"finished_at": time.time(), "wall_s": (time.time() - started) if started else None},
    )


def _numerics(state: ProcessState, case: Case, prep: Prepared | None) -> dict[str, Any]:
    from suite.axes import tf_device

    return {
        "tf32_enabled": state.tf32_enabled,
        "determinism_enabled": state.determinism_enabled,
        "dtype_policy": state.dtype_policy,
        "jit_compile": case.mode == "xla",
        "tf_device": tf_device(case.device),
    }


def _finish(
    job: Job,
    run: RunDir,
    case: Case,
    prep: Prepared,
    repeats: list[RepeatResult],
    state: ProcessState,
    telemetry: dict[str, Any],
) -> Record:
    from suite.divergence import compare_outputs, decide_verdict, rerun_spread
    from suite.divergence.verdict import tolerance_for
    from suite.worker import _rss
    from suite.zoo import get_pair

    timing = step_stats(
        [r.seconds for r in repeats],
        units=prep.steps,
        steps_per_unit=prep.steps_per_unit,
        batch=prep.batch_size,
        compile_s=prep.compile_s,
    )
    outputs = repeats[0].outputs
    out_file = save_outputs(run, case, outputs)
    reference_member = get_pair(case.pair).reference
    divergence: dict[str, Any] = {}
    notes: list[str] = []
    for name, ref_case in references_of(case, reference_member).items():
        ref_outputs = load_outputs(run, ref_case)
        if ref_outputs is None:
            divergence[name] = None
            continue
        tolerance = None if name == "vs_fp64" else tolerance_for(case.precision)
        try:
            divergence[name] = compare_outputs(outputs, ref_outputs, tolerance=tolerance)
        except ValueError as exc:
            divergence[name] = None
            notes.append(f"{name}: {exc}")
    if len(repeats) > 1:
        divergence["rerun"] = rerun_spread([r.outputs for r in repeats])
    baselines = _eager_fp64_baseline(run, case)
    verdict, reason = decide_verdict(
        case.precision, divergence, structural=prep.audit or None, fp64_baselines=baselines
    )
    note = _determinism_note(run, case, verdict, divergence)
    if note:
        reason = f"{reason}; {note}" if reason else note
    if notes:
        reason = "; ".join([reason, *notes]) if reason else "; ".join(notes)
    memory = {"peak_device_bytes": prep.peak_device_bytes(), **_rss()}
    record = Record(
        case=case,
        verdict=verdict,
        reason=reason,
        timing=timing,
        memory=memory,
        divergence=divergence,
        numerics=_numerics(state, case, prep),
        telemetry=telemetry,
        extra={"outputs": str(out_file.relative_to(run.path)), "finished_at": time.time()},
    )
    localisation = _localise(job, case, prep, verdict, divergence) if job.localise else None
    profile = _profile(run, case, prep) if job.profile else None
    if localisation is not None or profile is not None:
        from dataclasses import replace

        record = replace(record, localisation=localisation, profile=profile)
    return record


def _localise(
    job: Job, case: Case, prep: Prepared, verdict: str, divergence: dict[str, Any]
) -> dict[str, Any] | None:
    """First differing layer/gradient for ``nondeterministic`` (rerun) and ``diverged`` vs_pair rows."""
    from suite.divergence import localise
    from suite.divergence.verdict import tolerance_for

    mode: str | tuple[str, str] = case.mode
    if verdict == "nondeterministic":
        models = [prep.model]
    elif verdict != "diverged":
        return None
    elif _beyond(divergence.get("vs_pair")) and prep.reference_model is not None:
        models = [prep.reference_model, prep.model]
    elif _beyond(divergence.get("vs_eager")):
        models, mode = [prep.model], ("eager", case.mode)
    else:
        return None
    try:
        import tensorflow as tf

        from suite.axes import tf_device
        from suite.zoo import get_pair

        with tf.device(tf_device(case.device)):
            prep.restore()  # back to the initial weights, identical to the reference's
            return localise(
                models,
                prep.x,
                prep.y,
                get_pair(case.pair).loss,
                mode=mode,
                training=case.workload != "predict",
                reruns=max(job.repeats, 2),
                tolerance=tolerance_for(case.precision),
            )
    except Exception as exc:  # localisation is diagnostic: its failure is recorded, not fatal
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}


def _beyond(metrics: dict[str, Any] | None) -> bool:
    """True when a reference comparison is outside the tolerance (``tol_ratio > 1``)."""
    return bool(metrics) and not metrics.get("bitwise_equal") and (metrics.get("tol_ratio") or 0) > 1


#: records seen so far, per run folder: those this worker made (immediately) and those the
#: runner has appended to ``records.jsonl`` (read incrementally, never twice)
_SEEN: dict[Path, dict[str, Record]] = {}
_OFFSETS: dict[Path, int] = {}


def _remember(run: RunDir, record: Record) -> None:
    """Make a record of this worker visible to later cases at once (the runner appends it later)."""
    _SEEN.setdefault(run.path, {})[record.case_id] = record


def _stored_record(run: RunDir, case: Case) -> Record | None:
    """The record of another case of this run, if it has one already."""
    import json

    seen = _SEEN.setdefault(run.path, {})
    if case.case_id not in seen and run.records_path.exists():
        with open(run.records_path, encoding="utf-8") as fh:
            fh.seek(_OFFSETS.get(run.path, 0))
            while line := fh.readline():
                if not line.endswith("\n"):  # a line the runner is still writing
                    break
                _OFFSETS[run.path] = fh.tell()
                try:
                    rec = Record.from_dict(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    continue
                seen.setdefault(rec.case_id, rec)
    return seen.get(case.case_id)


def _eager_fp64_baseline(run: RunDir, case: Case) -> dict[str, Any] | None:
    """The eager twin's ``vs_fp64`` metrics, so the reason can say which mode is closer to float64."""
    if case.mode == "eager":
        return None
    twin = _stored_record(run, case.with_(mode="eager"))
    metrics = twin.divergence.get("vs_fp64") if twin else None
    return {"eager": metrics} if metrics else None


def _determinism_note(run: RunDir, case: Case, verdict: str, divergence: dict[str, Any]) -> str:
    """With determinism on: compare with the same case run with determinism off."""
    from suite.divergence import determinism_note

    if case.determinism != "on":
        return ""
    twin = _stored_record(run, case.with_(determinism="off"))
    if twin is None:
        return ""
    return determinism_note(
        twin.verdict, verdict, off_rerun=twin.divergence.get("rerun"), on_rerun=divergence.get("rerun")
    )


def _profile(run: RunDir, case: Case, prep: Prepared) -> dict[str, Any]:
    """Trace a few steps after timing into ``traces/<case_id>/`` and summarise the kernels."""
    from suite.profiling import capture_trace, summarise_trace_dir

    trace_dir = run.path / "traces" / case.case_id
    try:
        capture_trace(prep.step, trace_dir, steps=3)
        summary = summarise_trace_dir(trace_dir, kernels_csv=run.sub("kernels", f"{case.case_id}.csv"))
    except Exception as exc:  # a failed trace must not lose the measured row
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    for key in ("trace_dir", "kernels_csv"):
        if summary.get(key):
            summary[key] = str(Path(summary[key]).resolve().relative_to(run.path.resolve()))
    return summary
