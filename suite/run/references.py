"""Which other case each case is compared with (``vs_pair``, ``vs_eager``, ``vs_cpu``, ``vs_fp64``)."""

from __future__ import annotations

from suite.axes import FLOAT64
from suite.case import Case, fp64_reference

__all__ = ["fp64_reference", "references_of"]


def references_of(case: Case, reference_member: str) -> dict[str, Case]:
    """The cases whose outputs this case is compared with; a reference that would be the
    case itself is left out (the reference member has no ``vs_pair``, eager no ``vs_eager``...).

    ``vs_cpu`` compares a GPU case with the same case on CPU, so it exists only for GPU cases.
    TF32 does not exist on the CPU (a ``tf32`` CPU case is ``unsupported``): the ``vs_cpu`` of a
    ``tf32`` GPU case is the ``float32`` CPU case, judged with the TF32 tolerance, which is what
    TF32 changed. The float64 reference case itself has no references.
    """
    if case.precision == FLOAT64:
        return {}
    refs: dict[str, Case] = {}
    if case.member != reference_member:
        refs["vs_pair"] = case.with_(member=reference_member)
    if case.mode != "eager":
        refs["vs_eager"] = case.with_(mode="eager")
    if case.device != "cpu":
        cpu_precision = "float32" if case.precision == "tf32" else case.precision
        refs["vs_cpu"] = case.with_(device="cpu", precision=cpu_precision)
    refs["vs_fp64"] = fp64_reference(case, reference_member)
    return refs
