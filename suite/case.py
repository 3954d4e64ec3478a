"""A case: one point of the matrix, and its stable identifier."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

#: what makes an axis value read from a file unusable in a case id, which names files in the run
#: folder: nothing at all, a leading dot, ``..``, a path separator or a control character (the
#: same pattern works in Python and in Arrow's RE2)
UNSAFE_AXIS = r"^$|^\.|\.\.|[/\\\x00-\x1f\x7f-\x9f]"
_UNSAFE_AXIS = re.compile(UNSAFE_AXIS)


@dataclass(frozen=True, order=True)
class Case:
    """One (pair, member, workload, mode, device, precision, determinism, size).

    ``case_id`` is stable across runs and is how records, outputs, traces and
    ``compare`` refer to a case.
    """

    pair: str
    member: str
    workload: str
    mode: str
    device: str
    precision: str
    determinism: str
    size: str

    @property
    def case_id(self) -> str:
        """``pair/member/workload/mode/device/precision/det-<on|off>/size`` with ``:`` made safe."""
        parts = (
            self.pair,
            self.member,
            self.workload,
            self.mode,
            self.device.replace(":", ""),
            self.precision,
            f"det-{self.determinism}",
            self.size,
        )
        return ".".join(parts)

    @property
    def worker_key(self) -> tuple[str, str]:
        """Process-global state this case needs; cases with the same key may share a worker."""
        return (self.precision, self.determinism)

    def with_(self, **changes: str) -> Case:
        """A copy with some axes changed (``case.with_(mode="eager")``)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the axes."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        """Inverse of :meth:`to_dict` (extra keys are ignored).

        Raises:
            ValueError: an axis is missing, not a string, or not a plain name (empty, a leading
                dot, ``..``, a path separator, a control character: see :data:`UNSAFE_AXIS`).
        """
        values = {}
        for k in cls.__dataclass_fields__:
            value = data.get(k) if isinstance(data, dict) else None
            if not isinstance(value, str):
                raise ValueError(f"case axis {k!r} is missing or not a string")
            if _UNSAFE_AXIS.search(value):
                raise ValueError(
                    f"case axis {k!r} is {value[:60]!r}: not a plain name (a case id names files in the run "
                    "folder: no path parts, no control characters)"
                )
            values[k] = value
        return cls(**values)


def fp64_reference(case: Case, reference_member: str) -> Case:
    """The float64 run of the pair's reference member on CPU, eager, determinism off: the case
    ``vs_fp64`` compares ``case`` with (a run holds it besides its plan)."""
    from suite.axes import FLOAT64

    return Case(
        pair=case.pair,
        member=reference_member,
        workload=case.workload,
        mode="eager",
        device="cpu",
        precision=FLOAT64,
        determinism="off",
        size=case.size,
    )
