"""``suite.check_models`` as the cause tests call it: one step, one repeat, no timing to speak of.

The cause tests check verdicts and causes, never speed: :func:`quick_check` runs a check with
1 ms samples and no warm-up (and no float64 reference unless asked), :func:`member_frames` runs
the pairs that share a reference in one call and splits the frame by member, and
:func:`one_row` picks a member's row of one workload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

#: options of every cause test's check: what they check does not depend on timing
QUICK = {
    "repeats": 1,
    "steps": 1,
    "reference_fp64": False,
    "min_sample_s": 0.001,
    "max_warmup_s": 0.0,
}


def quick_check(*args: Any, **options: Any) -> Any:
    """``suite.check_models(*args, **QUICK, **options)`` (``options`` win)."""
    import suite

    return suite.check_models(*args, **{**QUICK, **options})


def member_frames(
    groups: Iterable[tuple[str, Callable[[], Any], dict[str, Callable[[], Any]], tuple[Any, Any]]],
    **options: Any,
) -> dict[str, Any]:
    """One :func:`quick_check` per group of pairs sharing a reference; each member's rows.

    Args:
        groups: ``(name, reference builder, {member name: builder}, (x, y))``.
        options: passed on (``modes``, ``workloads``...).

    Returns:
        member name -> its rows of the group's frame.
    """
    out = {}
    for name, reference, members, (x, y) in groups:
        ref_name = getattr(reference, "__name__", "reference")
        frame = quick_check({ref_name: reference, **members}, x=x, y=y, name=name, **options)
        for member in members:
            out[member] = frame[frame["member"] == member]
    return out


def one_row(frame: Any, workload: str, member: str | None = None) -> Any:
    """The one row of ``workload`` (and ``member``) in ``frame``; fails if there is not exactly one."""
    rows = frame[frame["workload"] == workload]
    if member is not None:
        rows = rows[rows["member"] == member]
    assert len(rows) == 1, rows
    return rows.iloc[0]
