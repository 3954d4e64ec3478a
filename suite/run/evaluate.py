"""Evaluation of a measured case: outputs, divergence, verdict, localisation, profile.

Runs in the child after a case's timed repeats. It stores the case's outputs, compares them
with the reference cases already on disk (``vs_pair``, ``vs_eager``, ``vs_cpu``,
``vs_fp64``; :mod:`suite.run.comparisons`) and with its own reruns, decides the verdict
(``incomparable`` when a requested comparison could not be made), flags what the verdict
alone would hide (``non-finite`` outputs, a ``reference-unavailable``) with a note that is
shown wherever the verdict is, localises a difference when there is one (the comparison
that explains the verdict: :func:`suite.divergence.explaining_comparison`), and captures a
profiler trace (after timing, never inside it). A failure of a case (preparing, timing or
evaluating it) becomes a row with its root cause and the full traceback stored in the run
folder (``logs/tracebacks/<case_id>.txt``, pointed at by ``extra.traceback``).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from suite.case import Case
from suite.causes.cause import Cause, lead
from suite.errors import classify_failure
from suite.measure.calibration import timing_record
from suite.measure.execution import Prepared, RepeatResult
from suite.measure.process import ProcessState
from suite.results.record import Record
from suite.results.run_dir import RunDir
from suite.run.comparisons import REFERENCE_UNAVAILABLE, Unavailable, compare_with_references
from suite.run.options import RunOptions
from suite.verdicts import DIFFERING, ERROR


def host_memory() -> dict[str, int | None]:
    """Current and peak resident set size of this process (Linux ``/proc``; None elsewhere)."""
    out: dict[str, int | None] = {"host_rss_bytes": None, "host_peak_rss_bytes": None}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["host_rss_bytes"] = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                out["host_peak_rss_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def numerics(state: ProcessState, case: Case) -> dict[str, Any]:
    """The numerics state actually in force for a case."""
    from suite.axes import tf_device

    return {
        "tf32_enabled": state.tf32_enabled,
        "determinism_enabled": state.determinism_enabled,
        "dtype_policy": state.dtype_policy,
        "jit_compile": case.mode == "xla",
        "tf_device": tf_device(case.device),
    }


def failure_record(
    run: RunDir,
    case: Case,
    exc: BaseException,
    state: ProcessState | None,
    *,
    started: float | None = None,
    telemetry: dict[str, Any] | None = None,
    context: str = "",
) -> Record:
    """A row for a case that failed: verdict and one-line root cause from the exception, the
    full traceback stored in ``logs/tracebacks/<case_id>.txt`` and pointed at from ``extra``
    (for every failed case, ``unsupported`` ones too)."""
    verdict, reason = classify_failure(exc)
    if context and verdict == ERROR:
        reason = f"{context}: {reason}"
    causes = failure_causes(exc)
    reason = lead(reason, causes)
    extra: dict[str, Any] = {"finished_at": time.time()}
    if started is not None:
        extra["wall_s"] = time.time() - started
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    extra["traceback"] = run.write_traceback(case.case_id, text)  # ResultsWriteError stops the run
    return Record(
        case=case,
        verdict=verdict,
        reason=reason,
        numerics=numerics(state, case) if state is not None else {},
        memory=host_memory(),
        telemetry=telemetry or {},
        extra=extra,
        flags=list(getattr(exc, "flags", [])),
        causes=[c.to_dict() for c in causes],
    )


def failure_causes(exc: BaseException) -> list[Cause]:
    """The causes of a case that failed: for a member whose weights cannot take the
    reference's, its structural differences as causes, the real one first (a shared layer
    before the variables it leaves unmatched, a configuration that changes shapes before the
    shapes it explains: :func:`suite.causes.engine.mismatch_causes`); none for other failures."""
    from suite.causes.cause import rank
    from suite.causes.engine import mismatch_causes
    from suite.causes.structure import structural_causes
    from suite.errors import StructuralMismatch

    if not isinstance(exc, StructuralMismatch):
        return []
    if exc.models is not None:
        return mismatch_causes(*exc.models, exc.differences, weight_map=exc.weight_map)
    return rank(structural_causes(exc.differences, copied=False))


class RunRecords:
    """The records of other cases of this run that a case's evaluation looks at.

    Holds the records this worker made (at once) and reads ``records.jsonl`` incrementally
    for the records the parent appended (complete lines only, never twice).
    """

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self._seen: dict[str, Record] = {}
        self._offset = 0
        self._planned: set[str] | None = None

    def planned(self, case: Case) -> bool:
        """Whether a case is in the run's matrix (``plan.json``; the float64 references are not)."""
        if self._planned is None:
            try:
                self._planned = {Case.from_dict(c).case_id for c in self.run.read_plan()}
            except (OSError, ValueError, TypeError, KeyError):  # no plan: every reference counts
                self._planned = set()
                return True
        return case.case_id in self._planned or not self._planned

    def remember(self, record: Record) -> None:
        """Make a record of this worker visible to later cases at once."""
        self._seen[record.case_id] = record

    def get(self, case: Case) -> Record | None:
        """The record of another case of this run, if it has one already."""
        if case.case_id not in self._seen:
            found, self._offset = self.run.records_after(self._offset)
            for rec in found:
                self._seen.setdefault(rec.case_id, rec)
        return self._seen.get(case.case_id)


def finish(
    run: RunDir,
    options: RunOptions,
    case: Case,
    prep: Prepared,
    repeats: list[RepeatResult],
    state: ProcessState,
    telemetry: dict[str, Any],
    others: RunRecords,
) -> Record:
    """The record of a measured case (see the module docstring)."""
    from suite.divergence import decide_verdict, rerun_spread
    from suite.divergence.verdict import tolerance_for
    from suite.zoo import get_pair
    from suite.zoo.prepare import rng_verdict

    timing = timing_record(prep, repeats)
    outputs = repeats[0].outputs
    out_file = run.write_outputs(case.case_id, outputs)
    divergence, unavailable = compare_with_references(
        run,
        case,
        outputs,
        others,
        reference_member=get_pair(case.pair).reference,
        tolerance=tolerance_for(case.precision),
        with_fp64=options.reference_fp64,
    )
    if len(repeats) > 1:
        divergence["rerun"] = rerun_spread([r.outputs for r in repeats])
    verdict, reason = decide_verdict(
        case.precision,
        divergence,
        fp64_baselines=_eager_fp64_baseline(others, case),
        unavailable={u.reference: u.why for u in unavailable if u.requested},
        absent=[u.reference for u in unavailable if not u.requested],
    )
    verdict, reason = rng_verdict(verdict, reason, prep.rng_layers)
    note = _determinism_note(others, case, verdict, divergence)
    if note:
        reason = f"{reason}; {note}" if reason else note
    flags, notes = qualifiers(outputs, unavailable)
    localisation = _localise(options, case, prep, verdict, divergence) if options.localise else None
    state_numerics = numerics(state, case)
    started = time.perf_counter()
    causes, note, cause_flags = explain_causes(
        options, case, prep, verdict, divergence, localisation, state_numerics
    )
    causes_s = time.perf_counter() - started
    record = Record(
        case=case,
        verdict=verdict,
        reason=lead(reason, causes),
        timing=timing,
        memory={"peak_device_bytes": prep.peak_device_bytes(), **host_memory()},
        divergence=divergence,
        numerics=state_numerics,
        telemetry=telemetry,
        extra={"outputs": out_file, "finished_at": time.time(), "causes_s": causes_s, **prep.extra},
        flags=list(dict.fromkeys([*prep.flags, *flags, *cause_flags])),
        notes=[*prep.notes, *notes, *([note] if note else [])],
        causes=[c.to_dict() for c in causes],
    )
    profile = _profile(run, case, prep) if options.profile else None
    if localisation is not None or profile is not None:
        record = replace(record, localisation=localisation, profile=profile)
    return record


def explain_causes(
    options: RunOptions,
    case: Case,
    prep: Prepared,
    verdict: str,
    divergence: dict[str, Any],
    localisation: dict[str, Any] | None,
    state_numerics: dict[str, Any],
) -> tuple[list[Cause], str, list[str]]:
    """The causes of a measured case (:mod:`suite.causes.engine`), and a note for what differs
    but cannot change its numbers, or did not on these inputs (an ``identical`` member whose
    graph or configuration still computes otherwise: ``relu6`` for ``relu``). The member's
    comparison with the reference runs once per member in this process, only for a case
    compared with the reference (``vs_pair``).

    Returns:
        ``(causes, note, flags)``: ``flags`` holds :data:`~suite.causes.engine.LATENT_FLAG` for
        such an ``identical`` member.
    """
    from suite.axes import FLOAT64
    from suite.causes.engine import (
        EXPLAINED,
        LATENT_FLAG,
        configuration_findings,
        dormant_note,
        latent_causes,
        latent_note,
        member_findings,
        random_layers,
        record_causes,
    )
    from suite.verdicts import DIVERGED, IDENTICAL
    from suite.zoo import analysis_cache, get_pair

    pair = get_pair(case.pair)
    key = analysis_cache.cache_key(pair, case.member, case.size, options.seed, case.precision == FLOAT64)

    def findings_of_member():
        return member_findings(
            prep.reference_model,
            prep.model,
            prep.x,
            prep.extra.get("weight_map"),
            prep.audit,
            loss=str(prep.extra.get("loss", "")),
            cache_key=key,
        )

    if verdict == IDENTICAL and divergence.get("vs_pair") and prep.reference_model is not prep.model:
        found = configuration_findings(
            prep.reference_model, prep.model, prep.extra.get("weight_map"), cache_key=key
        )
        dormant = dormant_note([c for c in found if not c.applies_to(case.workload)], case.workload)
        latent = latent_causes(findings_of_member(), case.workload)
        note = "; ".join(n for n in (latent_note(latent), dormant) if n)
        return [], note, [LATENT_FLAG] if latent else []
    if verdict not in EXPLAINED:
        return [], "", []
    findings = None
    vs_pair = divergence.get("vs_pair")
    if vs_pair and not vs_pair.get("bitwise_equal") and prep.reference_model is not prep.model:
        findings = findings_of_member()
    randomised = list(prep.rng_layers)
    eager = divergence.get("vs_eager")
    if case.workload != "predict" and case.mode == "xla" and verdict == DIVERGED and eager:
        # random draws that differ under XLA: which layers of the training pass draw them
        randomised = random_layers(prep.model, prep.x, training=True, cache_key=key)
    causes, dormant = record_causes(
        workload=case.workload,
        mode=case.mode,
        precision=case.precision,
        verdict=verdict,
        divergence=divergence,
        localisation=localisation,
        numerics=state_numerics,
        findings=findings,
        random=randomised,
    )
    return causes, dormant_note(dormant, case.workload), []


def qualifiers(outputs: dict[str, Any], unavailable: list[Unavailable]) -> tuple[list[str], list[str]]:
    """The flags and notes of a measured case: NaN/Inf in its outputs, and each requested
    comparison that could not be made (shown wherever the verdict is shown)."""
    from suite.divergence.finite import NON_FINITE, non_finite_note

    flags: list[str] = []
    notes: list[str] = []
    note = non_finite_note(outputs)
    if note:
        flags.append(NON_FINITE)
        notes.append(note)
    missing = [u for u in unavailable if u.requested]
    if missing:
        flags.append(REFERENCE_UNAVAILABLE)
        notes += [u.text for u in missing]
    return flags, notes


def _localise(
    options: RunOptions, case: Case, prep: Prepared, verdict: str, divergence: dict[str, Any]
) -> dict[str, Any] | None:
    """First differing layer, gradient and update of a ``nondeterministic`` or ``diverged`` row,
    against the comparison that explains its verdict (the rule ``pairbench explain`` uses)."""
    from suite.divergence import explaining_comparison, localise
    from suite.divergence.verdict import tolerance_for

    if verdict not in DIFFERING:
        return None
    explained = explaining_comparison(verdict, divergence, case.precision)
    if explained is None:
        return None
    against, use_tolerance = explained
    models, mode, device = [prep.model], case.mode, None
    if against == "vs_pair":
        if prep.reference_model is None:
            return None
        models = [prep.reference_model, prep.model]
    elif against == "vs_eager":
        mode = ("eager", case.mode)
    elif against == "vs_cpu":
        device = ("cpu", case.device)
    try:
        import tensorflow as tf

        from suite.axes import tf_device
        from suite.measure.workloads import make_optimizer
        from suite.zoo import get_pair

        pair = get_pair(case.pair)
        with tf.device(tf_device(case.device)):
            prep.restore()  # back to the initial weights, identical to the reference's
            return localise(
                models,
                prep.x,
                prep.y,
                prep.loss,
                mode=mode,
                device=device,
                training=case.workload != "predict",
                reruns=max(options.repeats, 2),
                tolerance=tolerance_for(case.precision) if use_tolerance else None,
                against=against,
                optimizer=(lambda: make_optimizer(pair)) if case.workload != "predict" else None,
            )
    except Exception as exc:  # localisation is diagnostic: its failure is recorded, not fatal
        from suite.errors import root_cause

        return {"error": root_cause(exc)}


def _eager_fp64_baseline(others: RunRecords, case: Case) -> dict[str, Any] | None:
    """The eager twin's ``vs_fp64`` metrics, so the reason can say which mode is closer to float64."""
    if case.mode == "eager":
        return None
    twin = others.get(case.with_(mode="eager"))
    metrics = twin.divergence.get("vs_fp64") if twin else None
    return {"eager": metrics} if metrics else None


def _determinism_note(others: RunRecords, case: Case, verdict: str, divergence: dict[str, Any]) -> str:
    """With determinism on: compare with the same case run with determinism off."""
    from suite.divergence import determinism_note

    if case.determinism != "on":
        return ""
    twin = others.get(case.with_(determinism="off"))
    if twin is None:
        return ""
    return determinism_note(
        twin.verdict, verdict, off_rerun=twin.divergence.get("rerun"), on_rerun=divergence.get("rerun")
    )


def _profile(run: RunDir, case: Case, prep: Prepared) -> dict[str, Any]:
    """Trace a few steps after timing into ``traces/<case_id>/`` and summarise the kernels."""
    from suite.profiling import capture_trace, summarise_trace_dir

    trace_dir = run.trace_dir(case.case_id)
    try:
        capture_trace(prep.step, trace_dir, steps=3)
        summary = summarise_trace_dir(trace_dir, kernels_csv=run.kernels_csv(case.case_id))
    except Exception as exc:  # a failed trace must not lose the measured row
        from suite.errors import root_cause

        return {"error": root_cause(exc)}
    for key in ("trace_dir", "kernels_csv"):
        if summary.get(key):
            summary[key] = run.relative(summary[key])
    return summary
