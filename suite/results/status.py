"""A run's status as it really is, and what its plan still lacks.

``run.json`` says ``running`` from the moment a run (or a resume) starts until it ends. A
process killed with ``kill -9`` (or a machine that lost power) never writes its end, so the
file keeps saying ``running``. The run's lock tells the truth: a live ``pairbench run`` holds
it. :func:`run_state` reads both, and counts the planned cases that have no record, so a report
of a dead run says ``interrupted``, how many planned cases are missing and how to continue.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from suite.results.run_dir import RunDir
from suite.results.runs import resume_command

if TYPE_CHECKING:
    from suite.case import Case

#: what ``run.json`` says while a process runs the run
LIVE_STATUSES = ("running", "created")
#: what a run whose process is gone is shown as (the status Ctrl-C leaves)
GONE = "interrupted"


@dataclass(frozen=True)
class RunState:
    """How a run stands.

    Attributes:
        status: ``run.json``'s status, or :data:`GONE` when it says ``running`` but no process
            holds the run (None when ``run.json`` has none).
        recorded: what ``run.json`` says.
        alive: a pairbench process holds the run's lock now.
        planned: cases in ``plan.json`` (None without a readable plan).
        missing: planned cases without a record.
        note: one line for the report ("" when there is nothing to say).
    """

    status: str | None
    recorded: str | None
    alive: bool
    planned: int | None
    missing: int
    note: str


def run_state(
    run: RunDir, meta: dict[str, Any], case_ids: Iterable[str], plan: list[Case] | None = None
) -> RunState:
    """The state of ``run`` given its ``run.json`` and the case ids that have a record.

    Args:
        run: the run folder.
        meta: its ``run.json``.
        case_ids: the case ids of its records.
        plan: its planned cases (read from ``plan.json`` when not given).
    """
    from suite.results.validation import planned_cases

    recorded = meta.get("status") if isinstance(meta.get("status"), str) else None
    alive = run.is_locked()
    status = GONE if recorded in LIVE_STATUSES and not alive else recorded
    planned: int | None = None
    missing = 0
    plan = planned_cases(run) if plan is None else plan
    if plan is not None:
        planned_ids = {case.case_id for case in plan}
        planned, missing = len(planned_ids), len(planned_ids - set(case_ids))
    parts = []
    if status != recorded:
        parts.append(
            f"run.json says {recorded!r} but no pairbench process holds the run: it was stopped "
            f"without recording its end (killed?), shown as {GONE}"
        )
    if missing:
        verb = "have no record yet (the run is in progress)" if alive else "have no record"
        parts.append(f"{missing} of {planned} planned cases {verb}")
    if parts and not alive and status != "finished":
        parts.append(f"continue with: {resume_command(run)}")
    return RunState(status, recorded, alive, planned, missing, "; ".join(parts))
