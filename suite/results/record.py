"""The record: one result row for a case.

Units live in field names (``_s`` seconds, ``_bytes`` bytes, ``_per_s`` per second).
Every row carries its device and precision, plus the TF32 and determinism state that
was actually in force.

Schema history (``SCHEMA_VERSION``):
  1: first version.
  2: ``flags`` (machine-readable tags such as ``non-finite``) and ``notes`` (sentences that
     must be shown wherever the verdict is shown); verdict ``incomparable``.
  3: ``causes``: why a case's numbers differ, ranked (``kind``, ``where``, ``attribute``,
     ``member``, ``reference``, ``evidence``, ``confidence``, ``affects``; see
     ``suite/causes/cause.py`` and docs/causes.md); the reason starts with the top cause. A
     record without it (versions 1, 2) loads with no causes.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from suite.case import Case

SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Record:
    """One row of ``records.jsonl``.

    Attributes:
        case: the axes of the case.
        verdict: one of :data:`suite.verdicts.VERDICTS`.
        reason: why (for ``unsupported``/``error``/``structural-mismatch``/``diverged``...).
        timing: ``compile_s``, ``step_s_median``, ``step_s_p10``, ``step_s_p90``, ``step_s_iqr``,
            ``step_s`` (all samples), ``samples_per_s``, ``steps_per_repeat``, ``batch``, ``repeats``.
        memory: ``peak_device_bytes`` (None on CPU if TensorFlow cannot tell), ``host_rss_bytes``.
        divergence: ``{"vs_pair"|"vs_eager"|"vs_cpu"|"vs_fp64": {metric: value} | None,
            "rerun": {"distinct": int, "max_abs": float, ...}}``.
        numerics: state actually in force: ``tf32_enabled``, ``determinism_enabled``,
            ``dtype_policy``, ``jit_compile``, ``tf_device``.
        localisation: first differing layer/gradient (see ``suite.divergence``), or None.
        profile: ``trace_dir``, ``top_kernels``, ``kernels_csv``... or None.
        telemetry: NVML summary or ``{"reason": "..."}``.
        extra: free-form metadata (worker pid, wall time, output file...). A member's case
            also has ``weight_match`` (``name``, ``structure`` or ``order``: how its variables
            were matched with the reference's) and ``weight_map`` (``[[member variable,
            reference variable], ...]``); a measured case has ``loss`` (how it was chosen).
        flags: machine-readable tags that qualify the verdict (e.g. ``non-finite``,
            ``reference-unavailable``); see ``docs/divergence.md``.
        notes: sentences that must be shown next to the verdict (terminal, report, summary).
        causes: why the numbers differ, most explanatory first: one dict per
            :class:`suite.causes.Cause` (empty for ``identical`` and for failures).
    """

    case: Case
    verdict: str
    reason: str = ""
    timing: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    divergence: dict[str, Any] = field(default_factory=dict)
    numerics: dict[str, Any] = field(default_factory=dict)
    localisation: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    telemetry: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    causes: list[dict[str, Any]] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    @property
    def case_id(self) -> str:
        """The case's identifier."""
        return self.case.case_id

    def to_json(self) -> str:
        """One line of JSON (NaN/Inf become ``null``-safe strings are avoided: they become None)."""
        data = asdict(self)
        data["case"] = self.case.to_dict()
        data["case_id"] = self.case_id
        return json.dumps(strict_json(data), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """Build a record from a parsed JSON object (unknown keys are ignored).

        Raises:
            ValueError: not an object, no valid ``case``, or a field of the wrong type
                (the message names the field).
        """
        if not isinstance(data, dict):
            raise ValueError(f"a record must be a JSON object, not {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        case = data.get("case")
        if not isinstance(case, dict):
            raise ValueError("field 'case' is missing or not an object")
        kwargs["case"] = Case.from_dict(case)
        stored = data.get("case_id")
        if stored is not None and stored != kwargs["case"].case_id:
            raise ValueError(f"field 'case_id' {stored!r} is not the id of its case ({kwargs['case'].case_id})")
        if not isinstance(kwargs.get("verdict"), str):
            raise ValueError("field 'verdict' is missing or not a string")
        if "schema_version" in kwargs and kwargs["schema_version"] is not None:
            check_schema_version(kwargs["schema_version"])
        for name, kinds in _FIELD_TYPES.items():
            if name in kwargs and kwargs[name] is not None and not isinstance(kwargs[name], kinds):
                raise ValueError(f"field {name!r} has the wrong type ({type(kwargs[name]).__name__})")
            if name in kwargs and kwargs[name] is None and name not in _NULLABLE:
                kwargs.pop(name)
        return cls(**kwargs)


def check_schema_version(version: Any) -> int:
    """A record's ``schema_version``, if this pairbench can read it: a whole number from 1 to
    :data:`SCHEMA_VERSION` (absent or null means the current one).

    Raises:
        ValueError: not a whole number (``"1"``, ``2.0``, ``true``), or a version this pairbench
            does not know (a newer writer's record is not read as if it were an older one).
    """
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"schema_version must be a whole number, not {type(version).__name__} {version!r:.20}")
    if version > SCHEMA_VERSION:
        raise ValueError(f"schema_version {version} is newer than this pairbench reads (1 to {SCHEMA_VERSION})")
    if version < 1:
        raise ValueError(f"schema_version {version} is not a version (1 to {SCHEMA_VERSION})")
    return version


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "reason": str,
    "timing": dict,
    "memory": dict,
    "divergence": dict,
    "numerics": dict,
    "localisation": dict,
    "profile": dict,
    "telemetry": dict,
    "extra": dict,
    "flags": list,
    "notes": list,
    "causes": list,
    "schema_version": int,
}
_NULLABLE = {"localisation", "profile"}


def strict_json(obj: Any) -> Any:
    """Replace non-finite floats with ``None`` so the line is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(v) for v in obj]
    return obj
