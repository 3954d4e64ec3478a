"""One case in two runs: its speed ratio with significance, and how its numerics got worse."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from suite.compare.significance import SpeedChange, speed_change
from suite.results.columns import REFERENCES
from suite.results.record import Record
from suite.verdicts import NONDETERMINISTIC, severity_of

#: a case whose IQR is at least this fraction of its median is flagged unstable (pyperf's habit)
UNSTABLE_IQR = 0.10


@dataclass(frozen=True)
class DivergenceChange:
    """One way a case's numerics got worse from run a to run b.

    Attributes:
        kind: ``verdict`` (worse verdict), ``nondeterministic`` (became so), ``non-finite``
            (NaN/Inf appeared in its outputs) or ``ulp`` (max ULP against a reference grew).
        text: one line for people.
        factor: ULP growth factor (``inf`` for 0 -> n), for ``ulp`` changes.
    """

    kind: str
    text: str
    factor: float | None = None


@dataclass(frozen=True)
class CaseDelta:
    """One case present in both runs."""

    case_id: str
    verdict_a: str
    verdict_b: str
    median_a_s: float | None
    median_b_s: float | None
    ratio: float | None
    significant: bool
    unstable: bool
    changes: tuple[DivergenceChange, ...] = ()
    speed: SpeedChange | None = None

    @property
    def speed_text(self) -> str:
        """``"1.50x slower"``, ``"1.20x faster"``, ``"same"`` or why there is no ratio."""
        if self.ratio is None:
            missing = [r for r, m in (("a", self.median_a_s), ("b", self.median_b_s)) if m is None]
            return f"no timing in {' and '.join(missing)}"
        if self.ratio == 1.0:
            return "same"
        return f"{self.ratio:.2f}x slower" if self.ratio > 1 else f"{1 / self.ratio:.2f}x faster"

    @property
    def notable(self) -> bool:
        """Shown without ``--all``: a significant speed change, a divergence change or a new verdict."""
        return self.significant or bool(self.changes) or self.verdict_a != self.verdict_b


def samples(timing: dict[str, Any]) -> list[float]:
    """The per-repeat step times of a record (empty for records without them)."""
    return [
        float(x) for x in timing.get("step_s") or [] if isinstance(x, int | float) and not isinstance(x, bool)
    ]


def speed_significant(timing_a: dict[str, Any], timing_b: dict[str, Any]) -> bool:
    """Whether the step times of two records differ significantly (see :mod:`suite.compare.significance`)."""
    return speed_change(samples(timing_a), samples(timing_b)).significant


def median(timing: dict[str, Any]) -> float | None:
    value = timing.get("step_s_median")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 and math.isfinite(value):
        return float(value)
    return None


def unstable(timing: dict[str, Any]) -> bool:
    med, iqr = median(timing), timing.get("step_s_iqr")
    return med is not None and isinstance(iqr, int | float) and iqr / med >= UNSTABLE_IQR


def _nondeterministic(rec: Record) -> bool:
    distinct = ((rec.divergence or {}).get("rerun") or {}).get("distinct")
    return rec.verdict == NONDETERMINISTIC or (isinstance(distinct, int | float) and distinct > 1)


def divergence_changes(a: Record, b: Record) -> list[DivergenceChange]:
    """How the numerics of one case got worse from ``a`` to ``b`` (empty when they did not)."""
    changes = []
    nd_a, nd_b = _nondeterministic(a), _nondeterministic(b)
    sev_a, sev_b = severity_of(a.verdict), severity_of(b.verdict)
    if sev_b > sev_a and not (b.verdict == NONDETERMINISTIC and not nd_a):  # else said below
        changes.append(DivergenceChange("verdict", f"verdict {a.verdict} -> {b.verdict}"))
    if "non-finite" in b.flags and "non-finite" not in a.flags:
        note = next((n for n in b.notes if n.startswith("non-finite")), "NaN/Inf in its outputs")
        changes.append(DivergenceChange("non-finite", f"became non-finite ({note})"))
    if nd_b and not nd_a:
        ra = ((a.divergence or {}).get("rerun") or {}).get("distinct")
        rb = ((b.divergence or {}).get("rerun") or {}).get("distinct")
        changes.append(
            DivergenceChange(NONDETERMINISTIC, f"became {NONDETERMINISTIC} (rerun distinct {ra} -> {rb})")
        )
    if nd_a or nd_b:
        return changes
    for ref in REFERENCES:
        ua = ((a.divergence or {}).get(ref) or {}).get("max_ulp")
        ub = ((b.divergence or {}).get(ref) or {}).get("max_ulp")
        if not (isinstance(ua, int | float) and isinstance(ub, int | float)) or ub <= ua:
            continue
        factor = ub / ua if ua > 0 else math.inf
        shown = "from 0" if ua == 0 else f"x{factor:.1f}"
        changes.append(DivergenceChange("ulp", f"max ULP {ref} {ua:g} -> {ub:g} ({shown})", factor))
    return changes
