"""A measured case against its references: the metrics of each comparison made, and why each
comparison that could not be made was not.

A reference (``vs_pair``, ``vs_eager``, ``vs_cpu``, ``vs_fp64``; see :mod:`suite.run.references`)
is *requested* when its case is in the run (the float64 reference: when ``--fp64`` is on).
A requested comparison that cannot be made is an :class:`Unavailable` with the cause: the
reference case failed ("reference unavailable: the eager case error: ..."), has no outputs,
or its outputs cannot be compared with the case's (tensor names, shapes or dtypes differ).
A reference whose case is not in the run is listed too, as not requested.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from suite.case import Case
from suite.results.record import Record
from suite.results.run_dir import RunDir
from suite.run.references import references_of
from suite.verdicts import ERROR, STRUCTURAL_MISMATCH, UNSUPPORTED

#: record flag of a case with a requested comparison that could not be made
REFERENCE_UNAVAILABLE = "reference-unavailable"


class Records(Protocol):
    """What a comparison needs to know about the other cases of the run."""

    def get(self, case: Case) -> Record | None:
        """The record of another case of this run, if it has one."""

    def planned(self, case: Case) -> bool:
        """Whether a case is part of this run's matrix."""


@dataclass(frozen=True)
class Unavailable:
    """A comparison that was not made.

    Attributes:
        reference: ``vs_pair``, ``vs_eager``, ``vs_cpu`` or ``vs_fp64``.
        case_id: the reference case.
        why: the cause, one line (``"reference unavailable: ..."``, ``"cannot compare: ..."``,
            ``"not in this run"``).
        requested: the reference case is in the run (its absence is then a problem).
    """

    reference: str
    case_id: str
    why: str
    requested: bool = True

    @property
    def text(self) -> str:
        """``"vs_eager: reference unavailable: ..."``."""
        return f"{self.reference}: {self.why}"


def _label(name: str, ref: Case) -> str:
    return {
        "vs_pair": f"the reference member {ref.member}",
        "vs_eager": "the eager case",
        "vs_cpu": "the cpu case",
        "vs_fp64": "the float64 reference",
    }.get(name, ref.case_id)


def _why_no_outputs(name: str, ref: Case, record: Record | None) -> str:
    label = _label(name, ref)
    if record is None:
        return f"reference unavailable: {label} ({ref.case_id}) has no record"
    failed = {
        ERROR: "failed",
        UNSUPPORTED: "is unsupported",
        STRUCTURAL_MISMATCH: "is a structural mismatch",
    }
    if record.verdict in failed:
        return f"reference unavailable: {label} {failed[record.verdict]}: {record.reason}"
    return f"reference unavailable: {label} ({ref.case_id}) has no outputs file"


def compare_with_references(
    run: RunDir,
    case: Case,
    outputs: dict[str, Any],
    others: Records,
    *,
    reference_member: str,
    tolerance: dict[str, float],
    with_fp64: bool,
) -> tuple[dict[str, Any], list[Unavailable]]:
    """Compare a case's outputs with every reference that applies.

    Args:
        run: the run folder (reference outputs are read from ``outputs/``).
        case: the case.
        outputs: its outputs (first repeat).
        others: the other records of the run.
        reference_member: the pair's reference member.
        tolerance: the case precision's ``{"rtol", "atol"}`` (adds ``tol_ratio``; not used
            for ``vs_fp64``, which measures accuracy).
        with_fp64: whether the run has float64 references (``--fp64``).

    Returns:
        ``(divergence, unavailable)``: reference -> metrics (``None`` for a requested
        comparison that was not made), and the comparisons not made with their causes.
    """
    from suite.divergence import compare_outputs

    divergence: dict[str, Any] = {}
    unavailable: list[Unavailable] = []
    for name, ref in references_of(case, reference_member).items():
        if name == "vs_fp64" and not with_fp64:
            continue
        if name != "vs_fp64" and not others.planned(ref):
            unavailable.append(Unavailable(name, ref.case_id, "not in this run", requested=False))
            continue
        ref_outputs = run.read_outputs(ref.case_id)
        divergence[name] = None
        if ref_outputs is None:
            unavailable.append(Unavailable(name, ref.case_id, _why_no_outputs(name, ref, others.get(ref))))
            continue
        try:
            divergence[name] = compare_outputs(
                outputs, ref_outputs, tolerance=None if name == "vs_fp64" else tolerance
            )
        except ValueError as exc:
            unavailable.append(
                Unavailable(name, ref.case_id, f"cannot compare with {_label(name, ref)}: {exc}")
            )
    return divergence, unavailable
