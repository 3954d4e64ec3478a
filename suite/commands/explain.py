"""``pairbench explain RUN CASE``: rebuild a case and find the first layer, gradient and
variable update that differ.

The case's members are rebuilt from the zoo with the run's seed and the reference's
weights, the process is put in the case's numerics state (precision policy, TF32, op
determinism: ``enable_op_determinism()`` cannot be undone, but this process ends with the
command), and :func:`suite.divergence.localise` runs one whole step (forward, gradients and,
for a training workload, the optimizer's update) under the case's mode and device against
the comparison that explains the record's verdict. That choice is
:func:`suite.divergence.explaining_comparison`, the same rule the run used for the record's
``localisation``:

- ``rerun`` for a ``nondeterministic`` record (the same member run ``--reruns`` times);
- for a ``diverged`` record, the first of ``vs_pair``, ``vs_eager``, ``vs_cpu`` beyond the
  tolerance (layers then differ when beyond it);
- otherwise the first of them that is not bitwise equal (or, when nothing differs, the
  first that applies), bitwise.

``--against`` picks another, ``--bitwise``/``--tolerance`` the criterion. A
``structural-mismatch`` record shows the member's whole structural audit against the
reference (every difference, not only what stopped the weight copy), then, when the weights
could be copied, the localisation against ``vs_pair``.
"""

from __future__ import annotations

import argparse
import difflib
import json
from pathlib import Path
from typing import Any

from suite.commands.common import add_results_dir
from suite.errors import UsageError
from suite.results.record import strict_json
from suite.results.runs import open_run
from suite.verdicts import FAILED, STRUCTURAL_MISMATCH

HELP = "rebuild one case of a run and localise its difference to a layer and a gradient"

AGAINST = ("auto", "vs_pair", "vs_eager", "vs_cpu", "rerun")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pairbench explain``."""
    parser.add_argument("run_id", help="run id, path, or 'latest'")
    parser.add_argument("case_id", help="case id, e.g. mlp.functional.predict.xla.gpu0.float32.det-off.tiny")
    add_results_dir(parser, "folder holding the runs")
    parser.add_argument(
        "--against", choices=AGAINST, default="auto", help="what to compare with (default: from the verdict)"
    )
    parser.add_argument(
        "--reruns", type=int, default=None, help="passes for rerun localisation (default: run's repeats)"
    )
    criterion = parser.add_mutually_exclusive_group()
    criterion.add_argument("--bitwise", action="store_true", help="a layer differs when not bitwise equal")
    criterion.add_argument(
        "--tolerance", action="store_true", help="a layer differs when beyond the precision's tolerance"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a summary")


def _find_record(run_dir: Any, case_id: str) -> Any:
    records = {r.case_id: r for r in run_dir.records()}
    if case_id in records:
        return records[case_id]
    if not records:
        raise UsageError(f"run {run_dir.run_id} has no records")
    close = difflib.get_close_matches(case_id, list(records), n=3, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else f"; it has {len(records)} cases"
    raise UsageError(f"no case {case_id!r} in run {run_dir.run_id}{hint}")


def _load_pair(case: Any, meta: dict[str, Any]) -> Any:
    from suite.zoo import get_pair, load_pairs_from, registered

    if case.pair not in registered():
        for entry in meta.get("options", {}).get("pairs_from", []):
            path = entry.get("path", "") if isinstance(entry, dict) else str(entry)  # schema 2: a dict
            if path and Path(path).is_file():
                load_pairs_from(path)
    if case.pair not in registered():
        raise UsageError(f"pair {case.pair!r} is not registered; pass the run's --pairs-from FILE.py")
    return get_pair(case.pair)


def choose_against(record: Any, reference_member: str, requested: str = "auto") -> str:
    """The reference to localise against (see the module docstring).

    Raises:
        UsageError: the requested reference does not apply to this case.
    """
    case = record.case
    applies = {
        "vs_pair": case.member != reference_member,
        "vs_eager": case.mode != "eager",
        "vs_cpu": case.device != "cpu",
        "rerun": True,
    }
    if requested != "auto":
        if not applies[requested]:
            why = {
                "vs_pair": f"the case is the reference member {reference_member!r}",
                "vs_eager": "the case runs eagerly",
                "vs_cpu": "the case runs on the CPU",
            }[requested]
            raise UsageError(f"--against {requested} does not apply: {why}")
        return requested
    from suite.divergence import explaining_comparison

    if record.verdict == STRUCTURAL_MISMATCH and applies["vs_pair"]:
        return "vs_pair"
    explained = explaining_comparison(record.verdict, record.divergence or {}, case.precision)
    if explained is not None:
        return explained[0]
    divergence = record.divergence or {}
    candidates = [k for k in ("vs_pair", "vs_eager", "vs_cpu") if applies[k]]
    candidates.sort(key=lambda k: not divergence.get(k))  # comparisons that were made first
    return candidates[0] if candidates else "rerun"


def use_tolerance(record: Any, against: str, bitwise: bool = False, tolerance: bool = False) -> bool:
    """The criterion: ``--bitwise``/``--tolerance`` when given, else the shared rule's
    (:func:`suite.divergence.explaining_comparison`): the tolerance for the comparison that
    makes a ``diverged`` record diverge, bitwise otherwise."""
    from suite.divergence import explaining_comparison

    if bitwise or tolerance:
        return tolerance and against != "rerun"
    explained = explaining_comparison(record.verdict, record.divergence or {}, record.case.precision)
    return explained is not None and explained == (against, True)


def explain_case(
    record: Any, meta: dict[str, Any], against: str, reruns: int, tolerance: Any
) -> dict[str, Any]:
    """Rebuild the record's case in this process and localise it.

    Returns:
        The :func:`suite.divergence.localise` result, plus ``audit`` (every structural
        difference of the member against the reference; empty when none) and, when the
        weights could not be copied, ``copied: False`` and no localisation.

    Raises:
        UsageError: the case cannot be rebuilt here (unknown pair, device missing, weights do
            not fit, an op refuses to run under op determinism...).
    """
    case = record.case
    pair = _load_pair(case, meta)
    from suite.errors import CaseUnsupported, StructuralMismatch
    from suite.measure.process import check_device_supported, configure_process

    configure_process(case.precision, case.determinism)
    try:
        check_device_supported(case)
    except CaseUnsupported as exc:
        raise UsageError(f"cannot rebuild {case.case_id} here: {exc}") from None
    import keras
    import tensorflow as tf

    from suite.axes import FLOAT64, tf_device
    from suite.divergence import localise
    from suite.errors import AmbiguousAlignment, root_cause, unsupported_from_error
    from suite.measure.workloads import make_optimizer
    from suite.zoo.prepare import as_inputs, build_members

    seed = int(meta.get("options", {}).get("seed", 0))
    hp = pair.hparams(case.size)
    batch = pair.inputs(hp, seed)
    try:
        with tf.device(tf_device(case.device)):
            x = as_inputs(batch.x, keras.config.dtype_policy().compute_dtype)
            try:
                built = build_members(
                    pair, case.member, case.size, batch, x, seed, float64=case.precision == FLOAT64
                )
            except StructuralMismatch as exc:  # the whole audit, not only what blocked the copy
                return {"audit": list(exc.differences), "copied": False}
        reference, model = built.reference, built.model
        models, mode, device = [model], case.mode, case.device
        if against == "vs_pair":
            models = [reference, model]
        elif against == "vs_eager":
            mode = ("eager", case.mode)
        elif against == "vs_cpu":
            device = ("cpu", case.device)
        keras.utils.set_random_seed(seed)
        training = case.workload != "predict"
        found = localise(
            models,
            batch.x,
            built.training.y,
            built.training.loss,
            mode=mode,
            device=device,
            training=training,
            reruns=reruns,
            tolerance=tolerance,
            against=against,
            optimizer=(lambda: make_optimizer(pair)) if training else None,
        )
        return {**found, "audit": list(built.audit), "copied": True}
    except StructuralMismatch as exc:
        raise UsageError(f"{case.case_id}: structural mismatch, nothing to localise: {exc}") from None
    except AmbiguousAlignment as exc:
        raise UsageError(f"{case.case_id}: ambiguous weight alignment, nothing to localise: {exc}") from None
    except CaseUnsupported as exc:
        raise UsageError(f"cannot rebuild {case.case_id} here: {exc}") from None
    except Exception as exc:  # the case cannot be rebuilt or stepped here: one line, the cause
        reason = unsupported_from_error(exc)
        if reason:
            raise UsageError(f"{case.case_id} cannot run here: {reason}") from None
        raise UsageError(f"{case.case_id}: cannot localise against {against}: {root_cause(exc)}") from None


def run(args: argparse.Namespace) -> int:
    """Localise one case of a run and print the finding.

    Returns:
        0 when localisation ran (whether or not it found a difference).

    Raises:
        UsageError: unknown run or case (with close matches), a case that did not run, a
            reference that does not apply, or a case that cannot be rebuilt here.
    """
    from suite.divergence.verdict import tolerance_for

    run_dir = open_run(args.run_id, args.results_dir)
    record = _find_record(run_dir, args.case_id)
    if record.verdict in FAILED:
        raise UsageError(
            f"{record.case_id} did not run ({record.verdict}: {record.reason}); nothing to localise"
        )
    if args.reruns is not None and args.reruns < 2:
        raise UsageError(f"--reruns must be at least 2, not {args.reruns}")
    meta = run_dir.read_meta()
    pair_reference = _reference_member(record, meta)
    against = choose_against(record, pair_reference, args.against)
    reruns = args.reruns or max(2, int(meta.get("options", {}).get("repeats") or 3))
    criterion = use_tolerance(record, against, bitwise=args.bitwise, tolerance=args.tolerance)
    tolerance = tolerance_for(record.case.precision) if criterion else None
    result = explain_case(record, meta, against, reruns, tolerance)
    audit = result.pop("audit", [])
    copied = result.pop("copied", True)
    out = {
        "run_id": run_dir.run_id,
        "case_id": record.case_id,
        "verdict": record.verdict,
        "reason": record.reason,
        "flags": list(record.flags),
        "notes": list(record.notes),
        "audit": audit,
        "causes": list(record.causes),
        "weight_match": record.extra.get("weight_match"),
        "weight_map": record.extra.get("weight_map"),
        "localisation": result if copied else None,
    }
    if args.json:
        print(json.dumps(strict_json(out), indent=2, sort_keys=True))
    else:
        _print_summary(out)
    return 0


def _reference_member(record: Any, meta: dict[str, Any]) -> str:
    return _load_pair(record.case, meta).reference


def _metrics_line(metrics: dict[str, Any] | None) -> str:
    from suite.divergence.verdict import fmt

    if not metrics:
        return "no metrics (shapes differ)"
    return (
        f"max_abs {fmt(metrics.get('max_abs'))}, max_ulp {fmt(metrics.get('max_ulp'))}, "
        f"{metrics.get('frac_diff', 0.0):.1%} of elements differ, cosine {fmt(metrics.get('cosine'))}"
    )


def _print_summary(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from suite.text import clean_line

    loc = out["localisation"]
    console = Console()
    if not console.is_terminal:  # piped or logged: do not squeeze the table into 80 columns
        console = Console(width=160)
    flags = clean_line(f" [{', '.join(out['flags'])}]" if out["flags"] else "")
    case, run_id = clean_line(out["case_id"]), clean_line(out["run_id"])
    head = f"[bold]{escape(case)}[/bold] in run {escape(run_id)}: {escape(clean_line(out['verdict']))}"
    console.print(head + escape(flags), highlight=False)
    if out["reason"]:
        console.print(f"  {clean_line(out['reason'])}", highlight=False, markup=False)
    for note in out["notes"]:
        console.print(f"  note: {clean_line(note)}", highlight=False, markup=False)
    for line in cause_lines(out["causes"]):
        console.print(clean_line(line), highlight=False, markup=False)
    if out["audit"]:
        console.print(f"structural audit against the reference ({len(out['audit'])} differences):")
        for difference in out["audit"]:
            console.print(f"  - {clean_line(difference)}", highlight=False, markup=False)
    _print_weight_map(console, out.get("weight_match"), out.get("weight_map"))
    if loc is None:
        console.print("the reference's weights do not fit this member: nothing to localise")
        return
    table = Table(title=f"localisation against {loc['against']}", show_lines=True)
    table.add_column("pass")
    table.add_column("first difference")
    table.add_column("ops")
    table.add_column("numbers")
    fwd, bwd, upd = loc["forward"], loc["backward"], loc.get("update")
    table.add_row(
        "forward",
        fwd["layer"] if fwd else "none",
        ", ".join(fwd["ops"]) if fwd else "",
        _metrics_line(fwd["metrics"]) if fwd else "",
    )
    table.add_row(
        "backward",
        f"gradient of {bwd['variable']}" if bwd else "none",
        ", ".join(bwd["ops"]) if bwd else "",
        _metrics_line(bwd["metrics"]) if bwd else "",
    )
    table.add_row(
        "update",
        f"update of {upd['variable']}" if upd else "none",
        ", ".join(upd["ops"]) if upd else "",
        _metrics_line(upd["metrics"]) if upd else "",
    )
    console.print(table)
    console.print(loc["note"], highlight=False, markup=False)


def cause_lines(causes: list[dict[str, Any]]) -> list[str]:
    """A record's causes for a reader: a heading, then one line per cause, most explanatory
    first, with its evidence and how sure pairbench is (values read member vs reference)."""
    from suite.causes.cause import Cause, headline

    if not causes:
        return []
    lines = [f"causes ({len(causes)}, member vs reference, most explanatory first):"]
    for i, data in enumerate(causes, 1):
        cause = Cause.from_dict(data)
        lines.append(f"  {i}. [{cause.kind}, {cause.confidence}] {headline(cause)}")
        if cause.evidence:
            lines.append(f"       evidence: {cause.evidence}")
        if cause.affects in ("training", "inference"):
            lines.append(f"       acts in {cause.affects} only")
    return lines


def weight_map_lines(method: str | None, mapping: list[list[str]] | None, limit: int = 40) -> list[str]:
    """How the member's variables took the reference's, as lines for a reader.

    Args:
        method: the record's ``extra["weight_match"]`` (``name``, ``structure``, ``order``).
        mapping: its ``extra["weight_map"]``: ``[[member variable, reference variable], ...]``.
        limit: at most this many ``member -> reference`` lines.

    Returns:
        A heading and, unless matched by name, one ``member -> reference`` line per variable;
        empty when the record has no mapping (the reference member, an older run).
    """
    if not method or mapping is None:
        return []
    if method == "name":
        return [f"weights matched by name ({len(mapping)} variables)"]
    how = {"structure": "by structure (forward order, shape, dtype)", "order": "by creation order"}
    lines = [f"weights matched {how.get(method, method)}: member variable -> reference variable"]
    lines += [f"  {m} -> {r}" for m, r in mapping[:limit]]
    if len(mapping) > limit:
        lines.append(f"  ... {len(mapping) - limit} more (pairbench explain --json shows all)")
    return lines


def _print_weight_map(console: Any, method: str | None, mapping: list[list[str]] | None) -> None:
    for line in weight_map_lines(method, mapping):
        console.print(line, highlight=False, markup=False)
