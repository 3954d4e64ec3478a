"""Do a run's records belong to it? Records of cases its plan does not hold.

``records.jsonl`` is appended to by one run; a file copied from another run, or lines pasted
from one, hold records of cases the run never planned. :func:`foreign_case_ids` finds them
(against ``plan.json`` and the float64 reference cases the plan implies); ``report`` and
``compare`` warn about them (:class:`ForeignRecordsWarning`) and ``merge`` and ``--resume``
refuse the run (:func:`refuse_foreign_records`), since they would carry the records on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from suite.errors import UsageError
from suite.results.run_dir import RunDir

if TYPE_CHECKING:
    from suite.case import Case

#: foreign case ids named in a message at most
SHOWN = 3


class ForeignRecordsWarning(UserWarning):
    """``records.jsonl`` holds records of cases that are not in the run's plan."""


def planned_cases(run: RunDir) -> list[Case] | None:
    """The cases of the run's ``plan.json``, or None without a readable plan."""
    from suite.case import Case

    if not run.plan_path.is_file():
        return None
    try:
        return [Case.from_dict(item) for item in run.read_plan()]
    except (UsageError, ValueError):
        return None


def allowed_case_ids(
    run: RunDir, meta: dict[str, Any] | None = None, plan: list[Case] | None = None
) -> set[str] | None:
    """The case ids a run may hold records of: its plan's and their float64 references'.

    Args:
        run: the run folder.
        meta: its ``run.json`` (read when not given), for each pair's reference member.
        plan: its planned cases (read when not given: :func:`planned_cases`).

    Returns:
        The ids, or None when the run has no readable ``plan.json`` (nothing to check against).
    """
    from suite.case import fp64_reference

    plan = planned_cases(run) if plan is None else plan
    if plan is None:
        return None
    if meta is None:
        try:
            meta = run.read_meta()
        except UsageError:
            meta = {}
    pairs = meta.get("pairs") if isinstance(meta.get("pairs"), dict) else {}
    references: dict[str, set[str]] = {}
    for case in plan:
        info = pairs.get(case.pair)
        reference = info.get("reference") if isinstance(info, dict) else None
        # without the pairs block (older runs), any member of the pair may be its reference
        references.setdefault(case.pair, set()).add(reference if isinstance(reference, str) else case.member)
    allowed = {case.case_id for case in plan}
    for case in plan:
        allowed.update(fp64_reference(case, ref).case_id for ref in references[case.pair])
    return allowed


def foreign_case_ids(
    run: RunDir, case_ids: Iterable[str], meta: dict[str, Any] | None = None, plan: list[Case] | None = None
) -> list[str]:
    """The case ids among ``case_ids`` that the run's plan does not hold, sorted.

    Empty when the run has no plan (a folder made by hand, an API run) or every record fits.
    """
    allowed = allowed_case_ids(run, meta, plan)
    if allowed is None:
        return []
    return sorted(set(case_ids) - allowed)


def foreign_message(run: RunDir, foreign: list[str]) -> str:
    """One line: how many records are not the run's, naming a few."""
    shown = ", ".join(foreign[:SHOWN]) + (f" and {len(foreign) - SHOWN} more" if len(foreign) > SHOWN else "")
    return (
        f"{run.records_path} holds records of {len(foreign)} case(s) that are not in the plan of run "
        f"{run.run_id} ({shown}): records of another run?"
    )


def warn_foreign_records(
    run: RunDir, case_ids: Iterable[str], meta: dict[str, Any] | None = None, plan: list[Case] | None = None
) -> str:
    """Warn (:class:`ForeignRecordsWarning`) when records are not the run's; return the message or ""."""
    import warnings

    foreign = foreign_case_ids(run, case_ids, meta, plan)
    if not foreign:
        return ""
    message = foreign_message(run, foreign)
    warnings.warn(message, ForeignRecordsWarning, stacklevel=2)
    return message


def refuse_foreign_records(run: RunDir, case_ids: Iterable[str], meta: dict[str, Any] | None = None) -> None:
    """Raise a one-line :class:`UsageError` when records are not the run's (``merge``, ``--resume``).

    Raises:
        UsageError: naming the run, how many records and a few of their cases.
    """
    foreign = foreign_case_ids(run, case_ids, meta)
    if foreign:
        raise UsageError(f"{foreign_message(run, foreign)} Move them out of {run.records_path.name} first")
