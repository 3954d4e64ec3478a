"""Which other case each case is compared with (``vs_pair``, ``vs_eager``, ``vs_cpu``, ``vs_fp64``)."""

from __future__ import annotations

from suite.axes import FLOAT64
from suite.case import Case, fp64_reference

__all__ = ["fp64_reference", "references_of"]


def references_of(case: Case, reference_member: str) -> dict[str, Case]:
    """The cases whose outputs this case is compared with; a reference that would be the
    case itself is left out (the reference member has no ``vs_pair``, eager no ``vs_eager``...).

    ``vs_cpu`` compares a GPU case with the same case on CPU, so it exists only for GPU cases.
    The float64 reference case itself has no references.
    """
    if case.precision == FLOAT64:
        return {}
    refs: dict[str, Case] = {}
    if case.member != reference_member:
        refs["vs_pair"] = case.with_(member=reference_member)
    if case.mode != "eager":
        refs["vs_eager"] = case.with_(mode="eager")
    if case.device != "cpu":
        refs["vs_cpu"] = case.with_(device="cpu")
    refs["vs_fp64"] = fp64_reference(case, reference_member)
    return refs
