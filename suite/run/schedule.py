"""The units of a run: which worker process runs which groups, after which other units.

:func:`suite.run.matrix.plan_jobs` groups cases into jobs (one precision and determinism each,
references first). An executor turns those jobs into :class:`Unit` s, each one worker
process's share, with the units it must wait for:

- ``serial`` (one worker at a time, as before scale-out): one unit per job, in plan order;
- ``local`` and ``ray``: a job's CPU groups and its groups on each GPU are separate units, so
  that every GPU gets its own worker (pinned to it) and CPU cases can run alone. ``ray`` also
  splits the plan into ``buckets`` of independent clusters (:mod:`suite.run.shard`), so CPU
  cases spread over the nodes of a cluster.

The waits keep every comparison of the serial order: a GPU unit runs after the CPU units
of its bucket up to its job (``vs_cpu`` and ``vs_fp64`` read their outputs), and after the
earlier units on the same device (the reference member runs first; determinism ``on`` reads
the ``off`` record). Units are listed in the order an executor should start them: CPU units
first (they hold up the GPU units), then the GPU units job by job.
"""

from __future__ import annotations

from dataclasses import dataclass

from suite.case import Case
from suite.run.matrix import JobPlan
from suite.run.shard import split_clusters

#: the device of a unit that runs CPU and GPU groups in one worker (``serial``)
ANY_DEVICE = "any"


@dataclass(frozen=True)
class Unit:
    """One worker process's share of a run.

    Attributes:
        name: unique in the run (``b0-gpu1-float32-detoff``); names the worker's log.
        precision, determinism: the process-global state of the worker.
        groups: lists of cases to alternate, in run order.
        device: ``cpu``, ``gpu:N`` (the worker is pinned to that GPU) or ``any``.
        after: names of the units that must have finished first.
        bucket: the part of the plan (independent clusters) the unit belongs to.
    """

    name: str
    precision: str
    determinism: str
    groups: tuple[tuple[Case, ...], ...]
    device: str
    after: tuple[str, ...] = ()
    bucket: int = 0

    @property
    def kind(self) -> str:
        """``cpu``, ``gpu`` or ``any``."""
        return "gpu" if self.device.startswith("gpu:") else self.device

    @property
    def cases(self) -> list[Case]:
        """Every case of the unit, in run order."""
        return [c for g in self.groups for c in g]


def _device_of(group: list[Case] | tuple[Case, ...]) -> str:
    return group[0].device


def _tag(device: str) -> str:
    return device.replace(":", "")


def make_units(plans: list[JobPlan], *, split_devices: bool, buckets: int = 1) -> list[Unit]:
    """The units of ``plans`` (see the module docstring).

    Args:
        plans: the run's jobs, in plan order (without the cases that already have a record).
        split_devices: one unit per device of a job (``local``, ``ray``); False: one per job.
        buckets: independent parts of the plan (``ray``); 1 keeps the plan whole.
    """
    if not split_devices:
        units: list[Unit] = []
        for plan in plans:
            if not plan.groups:
                continue
            name = f"{plan.precision}-det{plan.determinism}"
            after = (units[-1].name,) if units else ()
            groups = tuple(tuple(g) for g in plan.groups)
            units.append(Unit(name, plan.precision, plan.determinism, groups, ANY_DEVICE, after))
        return units
    cases = [c for plan in plans for c in plan.cases]
    parts = split_clusters(cases, max(1, buckets))
    bucket_of = {c: b for b, part in enumerate(parts) for c in part}
    cpu_units: list[Unit] = []
    gpu_units: list[Unit] = []
    for b in range(len(parts)):
        last_cpu: str | None = None
        last_on: dict[str, str] = {}
        for plan in plans:
            by_device: dict[str, list[tuple[Case, ...]]] = {}
            for group in plan.groups:
                if group and bucket_of[group[0]] == b:
                    by_device.setdefault(_device_of(group), []).append(tuple(group))
            job = f"{plan.precision}-det{plan.determinism}"
            if "cpu" in by_device:
                name = f"b{b}-cpu-{job}"
                after = (last_cpu,) if last_cpu else ()
                cpu_units.append(
                    Unit(name, plan.precision, plan.determinism, tuple(by_device.pop("cpu")), "cpu", after, b)
                )
                last_cpu = name
            for device in sorted(by_device, key=lambda d: (len(d), d)):
                name = f"b{b}-{_tag(device)}-{job}"
                after = tuple(x for x in (last_cpu, last_on.get(device)) if x)
                gpu_units.append(
                    Unit(name, plan.precision, plan.determinism, tuple(by_device[device]), device, after, b)
                )
                last_on[device] = name
    return cpu_units + gpu_units


def pending_plans(plans: list[JobPlan], done: set[str]) -> list[JobPlan]:
    """The jobs without the cases that already have a record (jobs left empty are dropped)."""
    out = []
    for plan in plans:
        groups = [[c for c in g if c.case_id not in done] for g in plan.groups]
        groups = [g for g in groups if g]
        if groups:
            out.append(JobPlan(precision=plan.precision, determinism=plan.determinism, groups=groups))
    return out
