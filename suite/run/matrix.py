"""The matrix: which cases a run holds (selection, presets, expansion) and how they are
grouped into worker jobs."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from suite.axes import (
    DETERMINISM,
    FLOAT64,
    MODES,
    PRECISIONS,
    SIZES,
    WORKLOADS,
    check_names,
)
from suite.case import Case
from suite.errors import UsageError
from suite.run.references import fp64_reference

_DEVICE_RE = re.compile(r"^(cpu|gpu:\d+)$")


@dataclass(frozen=True)
class Selection:
    """Requested values per axis; ``None`` means "all" (devices: every visible one).

    ``sizes_by_device`` maps ``"cpu"``/``"gpu"`` to a size when no ``sizes`` are given
    (``--full`` runs ``default`` on the CPU and ``large`` on GPUs).
    """

    pairs: tuple[str, ...] | None = None
    members: tuple[str, ...] | None = None
    workloads: tuple[str, ...] = ("predict", "train_step", "fit")
    modes: tuple[str, ...] = MODES
    devices: tuple[str, ...] | None = None
    precisions: tuple[str, ...] = ("float32",)
    determinism: tuple[str, ...] = ("off",)
    sizes: tuple[str, ...] | None = None
    sizes_by_device: dict[str, str] = field(default_factory=lambda: {"cpu": "default", "gpu": "default"})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for ``run.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Selection:
        """Inverse of :meth:`to_dict`."""
        conv = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
        return cls(**conv)


#: keys of a preset that are run options (:class:`suite.run.RunOptions`), not axes
PRESET_OPTIONS: tuple[str, ...] = ("repeats", "profile", "min_sample_s", "max_warmup_s")
#: named presets; CLI axis options override their values
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "workloads": ("predict", "train_step"),
        "precisions": ("float32",),
        "determinism": ("off",),
        "sizes_by_device": {"cpu": "tiny", "gpu": "tiny"},
        "repeats": 3,
        "min_sample_s": 0.02,
        "max_warmup_s": 0.3,
    },
    "full": {
        "workloads": WORKLOADS,
        "precisions": PRECISIONS,
        "determinism": DETERMINISM,
        "sizes_by_device": {"cpu": "default", "gpu": "large"},
        "repeats": 10,
        "profile": True,
    },
}


def validate(selection: Selection) -> Selection:
    """Check every name against its axis (pairs against the registry, members against the
    union of the selected pairs' members).

    Raises:
        UsageError: one line naming the unknown value and listing the valid ones.
    """
    from suite.zoo import registered

    for axis in ("pairs", "members", "workloads", "modes", "devices", "precisions", "determinism", "sizes"):
        value = getattr(selection, axis)
        if value is not None and not value:  # None is "all"; an empty list would run nothing
            raise UsageError(f"{axis} is empty: name at least one value (or leave it out for all)")
    reg = registered()
    if selection.pairs:
        check_names("pair", selection.pairs, list(reg))
    if selection.members:
        pairs = selection.pairs or tuple(reg)
        valid = sorted({m for p in pairs for m in reg[p]().members()})
        check_names("member", selection.members, valid)
    check_names("workload", selection.workloads, WORKLOADS)
    check_names("mode", selection.modes, MODES)
    check_names("precision", selection.precisions, PRECISIONS)
    check_names("determinism", selection.determinism, DETERMINISM)
    if selection.sizes:
        check_names("size", selection.sizes, SIZES)
    for device in selection.devices or ():
        if not _DEVICE_RE.match(device):
            raise UsageError(f"unknown device {device!r}; valid: cpu, gpu:0, gpu:1, ...")
    return selection


def expand(selection: Selection, n_gpus: int) -> list[Case]:
    """All cases of a selection, in a stable order.

    Devices default to ``cpu`` plus every visible GPU; a requested GPU that is not visible
    still yields cases (the worker records them as ``unsupported``).
    """
    from suite.zoo import registered

    reg = registered()
    devices = selection.devices or ("cpu", *(f"gpu:{i}" for i in range(n_gpus)))
    cases = []
    for pair_name in selection.pairs or tuple(reg):
        pair = reg[pair_name]()
        members = [m for m in pair.members() if not selection.members or m in selection.members]
        for device in devices:
            kind = "cpu" if device == "cpu" else "gpu"
            wanted = selection.sizes or (selection.sizes_by_device[kind],)
            for size in dict.fromkeys(pair.size_for(s) for s in wanted):  # a pair may have one size
                for member in members:
                    for workload in selection.workloads:
                        for mode in selection.modes:
                            for precision in selection.precisions:
                                for det in selection.determinism:
                                    cases.append(
                                        Case(pair_name, member, workload, mode, device, precision, det, size)
                                    )
    return cases


@dataclass(frozen=True)
class JobPlan:
    """One worker's share: cases with the same process-global state, grouped for alternation."""

    precision: str
    determinism: str
    groups: list[list[Case]]

    @property
    def cases(self) -> list[Case]:
        """Every case of the job, in run order."""
        return [c for g in self.groups for c in g]


def plan_jobs(cases: list[Case], *, with_fp64: bool = True) -> list[JobPlan]:
    """Group cases into worker jobs, ordered so every reference runs before what uses it.

    Order: the float64 reference job first; then per precision, determinism ``off`` before
    ``on`` (so the ``on`` rows can say whether determinism fixed a nondeterministic case).
    Inside a job, groups hold one member's modes (alternated while timing); CPU groups come
    before GPU groups and the pair's reference member before the other members.
    """
    from suite.zoo import get_pair

    refs: dict[str, str] = {}

    def reference(pair: str) -> str:
        if pair not in refs:
            refs[pair] = get_pair(pair).reference
        return refs[pair]

    all_cases = list(cases)
    if with_fp64:
        seen = set(all_cases)
        for case in cases:
            ref = fp64_reference(case, reference(case.pair))
            if ref not in seen:
                seen.add(ref)
                all_cases.append(ref)
    by_job: dict[tuple[str, str], dict[tuple, list[Case]]] = defaultdict(lambda: defaultdict(list))
    for case in all_cases:
        key = (case.pair, case.size, case.workload, case.device, case.member)
        by_job[case.worker_key][key].append(case)

    def job_order(key: tuple[str, str]) -> tuple:
        precision, det = key
        rank = -1 if precision == FLOAT64 else PRECISIONS.index(precision)
        return (rank, DETERMINISM.index(det))

    def group_order(key: tuple) -> tuple:
        pair, size, workload, device, member = key
        return (pair, size, workload, device != "cpu", device, member != reference(pair), member)

    plans = []
    for job_key in sorted(by_job, key=job_order):
        groups = by_job[job_key]
        ordered = [
            sorted(groups[k], key=lambda c: MODES.index(c.mode)) for k in sorted(groups, key=group_order)
        ]
        plans.append(JobPlan(precision=job_key[0], determinism=job_key[1], groups=ordered))
    return plans


def apply_preset(selection: Selection, preset: str | None) -> tuple[Selection, dict[str, Any]]:
    """Selection with a preset's axis values; returns the preset's run options too."""
    if not preset:
        return selection, {}
    values = dict(PRESETS[preset])
    options = {k: values.pop(k) for k in PRESET_OPTIONS if k in values}
    return replace(selection, **values), options
