"""The report table: one row per case, units in column names.

:func:`report_frame` is the run's typed frame (:mod:`suite.results.frame`) with every column;
:func:`arrange` groups and sorts it; :func:`display_frame` formats it for text outputs
("—" for missing values).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from suite.axes import check_names
from suite.errors import UsageError
from suite.results.columns import AXES, REFERENCES, as_float
from suite.results.frame import COLUMN_NAMES, run_frame, with_all_columns
from suite.results.run_dir import RunDir
from suite.verdicts import SEVERITY

__all__ = ["AXES", "COLUMN_NAMES", "MISSING", "REFERENCES", "as_float"]

MISSING = "—"


GROUP_KEYS: tuple[str, ...] = (*AXES, "machine", "verdict")
SORT_KEYS: dict[str, str] = {
    "case": "case id (pair, member, workload, mode, ...)",
    "verdict": "worst verdict first",
    "step": "slowest median step first",
    "throughput": "highest samples/s first",
    "divergence": "largest max ULP (any reference) first, then max abs",
    "rerun": "largest rerun spread first",
    "compile": "longest compile first",
    "memory": "largest peak device memory first",
}


def report_frame(run: RunDir):
    """One row per case of ``run`` (last record wins when a case was recorded twice), every column.

    Args:
        run: the run folder.

    Returns:
        The typed frame (:func:`suite.results.frame.run_frame`) with every :data:`COLUMN_NAMES`
        column, also those missing on every row (all-NA, typed), so reports can rely on them.
    """
    return with_all_columns(run_frame(run))


def parse_group_by(value: str | Sequence[str] | None) -> list[str]:
    """Validate ``--group-by`` (comma list of :data:`GROUP_KEYS`).

    Raises:
        UsageError: for an unknown key.
    """
    if value is None:
        return []
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    names = [n for n in names if n]
    return check_names("group-by key", names, GROUP_KEYS)


def divergence_key(frame) -> Any:
    """Per row: the largest max ULP over the references (NaN when none), for sorting."""
    cols = [f"{ref}_max_ulp" for ref in REFERENCES]
    return frame[cols].max(axis=1, skipna=True)


def arrange(frame, *, group_by: str | Sequence[str] | None = None, sort: str | None = None):
    """Order rows by the group keys, then by ``sort`` (ties by case id).

    Args:
        frame: a report frame.
        group_by: comma list or sequence of :data:`GROUP_KEYS`.
        sort: one of :data:`SORT_KEYS` (default ``case``).

    Returns:
        A re-ordered copy (index reset).

    Raises:
        UsageError: for an unknown group or sort key.
    """
    groups = parse_group_by(group_by)
    sort = sort or "case"
    if sort not in SORT_KEYS:
        raise UsageError(f"unknown sort key {sort!r}; valid: {', '.join(SORT_KEYS)}")
    work = frame.copy()
    keys: dict[str, Any] = {
        "verdict": -work["verdict"].astype(str).map(SEVERITY).astype(float).fillna(-1),
        "step": -work["step_ms_median"],
        "throughput": -work["samples_per_s"],
        "divergence": -divergence_key(work),
        "rerun": -work["rerun_max_abs"],
        "compile": -work["compile_ms"],
        "memory": -work["peak_mem_mib"],
    }
    by = list(groups)
    if sort != "case":
        work["_key"] = keys[sort]
        if sort == "divergence":
            work["_key2"] = -work[[f"{r}_max_abs" for r in REFERENCES]].max(axis=1, skipna=True)
            by += ["_key", "_key2"]
        else:
            by.append("_key")
    by.append("case_id")
    work = work.sort_values(by, kind="stable", na_position="last")
    return work.drop(columns=[c for c in ("_key", "_key2") if c in work]).reset_index(drop=True)


def fmt_number(value: Any, digits: int = 3) -> str:
    """A compact number for text outputs ("—" when missing)."""
    v = as_float(value)
    if v is None:
        return MISSING
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) < 1e-3:
        return f"{v:.{max(digits - 1, 1)}e}"
    return f"{v:.{digits}g}"


def _pair_text(abs_v: Any, ulp_v: Any) -> str:
    a, u = fmt_number(abs_v, 2), fmt_number(ulp_v)
    if a == MISSING and u == MISSING:
        return MISSING
    return f"{a} / {u}"


def is_missing(value: Any) -> bool:
    """True for None, NaN and ``pd.NA``."""
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


#: display column -> header (with units) for text outputs
DISPLAY_HEADERS: dict[str, str] = {
    **{axis: axis for axis in AXES},
    "step": "step ms median [p10–p90]",
    "samples_per_s": "samples/s",
    "compile_s": "compile s",
    "peak_mem_mib": "peak MiB",
    **{ref: f"{ref} max abs / ULP" for ref in REFERENCES},
    "rerun": "rerun distinct/runs (max abs)",
    "verdict": "verdict",
    "reason": "reason",
}


#: shorter headers of the terminal table (``compact=True``)
COMPACT_HEADERS: dict[str, str] = {
    **DISPLAY_HEADERS,
    "step": "step ms ±p10–p90",
    **{ref: f"{ref} abs" for ref in REFERENCES},
    "rerun": "rerun",
    "case": "case",
}


def verdict_text(verdict: Any, flags: Any) -> str:
    """The verdict with the record's flags: ``"diverged [non-finite]"``."""
    return f"{verdict} [{flags}]" if not is_missing(flags) else str(verdict)


def reason_text(reason: Any, notes: Any) -> str:
    """The reason followed by the record's notes (which must be shown wherever the verdict is)."""
    parts = [str(v) for v in (reason, notes) if not is_missing(v) and str(v)]
    return " — ".join(parts) or MISSING


def display_frame(
    frame,
    *,
    reason_width: int | None = 80,
    compact: bool = False,
    join_axes: bool = False,
    hide: Sequence[str] = (),
):
    """Format a report frame for text outputs.

    Axes with one value in the whole frame are left out of the table and returned as
    ``constants`` (shown once above it); columns that are missing on every row are dropped.

    Args:
        frame: a (possibly arranged) report frame.
        reason_width: cut ``reason`` to this many characters (None: keep all).
        compact: narrower cells for the terminal (see :data:`COMPACT_HEADERS`): the varying
            axes joined by dots in one ``case`` column, step time as
            ``median ±half the p10–p90 range in %``, divergences as max abs only.
        join_axes: the varying axes joined by dots in one ``case`` column (as ``compact``
            does), full number formats otherwise.
        hide: axes to leave out of the table (the group keys, shown in group headings).

    Returns:
        ``(table, constants)``: a DataFrame of strings whose columns are keys of
        :data:`DISPLAY_HEADERS`, and ``{axis: value}`` for the constant axes.
    """
    import pandas as pd

    constants = {a: str(frame[a].iloc[0]) for a in AXES if len(frame) and frame[a].nunique() == 1}
    varying = [a for a in AXES if a not in constants and a not in hide]
    if (compact or join_axes) and varying:
        out: dict[str, list[str]] = {
            "case": [".".join(map(str, r)) for r in frame[varying].itertuples(index=False)]
        }
    else:
        out = {a: [str(v) for v in frame[a]] for a in varying}
    if not len(frame):
        return pd.DataFrame(columns=["verdict"]), constants

    def step(r: Any) -> str:
        med = fmt_number(r.step_ms_median)
        if med == MISSING:
            return MISSING
        lo, hi = fmt_number(r.step_ms_p10), fmt_number(r.step_ms_p90)
        if MISSING in (lo, hi):
            return med
        if compact:
            return f"{med} ±{(r.step_ms_p90 - r.step_ms_p10) / 2 / r.step_ms_median * 100:.0f}%"
        return f"{med} [{lo}–{hi}]"

    def rerun(r: Any) -> str:
        if is_missing(r.rerun_distinct):
            return MISSING
        text = f"{r.rerun_distinct}/{fmt_number(r.rerun_runs)}"
        if not is_missing(r.rerun_max_abs) and r.rerun_max_abs > 0:
            text += (
                f" {fmt_number(r.rerun_max_abs, 2)}" if compact else f" ({fmt_number(r.rerun_max_abs, 2)})"
            )
        return text

    rows = list(frame.itertuples(index=False))
    out["step"] = [step(r) for r in rows]
    out["samples_per_s"] = [fmt_number(v) for v in frame["samples_per_s"]]
    out["compile_s"] = [fmt_number(v / 1e3) for v in frame["compile_ms"]]
    out["peak_mem_mib"] = [fmt_number(v) for v in frame["peak_mem_mib"]]
    for ref in REFERENCES:
        pairs = zip(frame[f"{ref}_max_abs"], frame[f"{ref}_max_ulp"], strict=True)
        out[ref] = [fmt_number(a, 2) if compact else _pair_text(a, u) for a, u in pairs]
    out["rerun"] = [rerun(r) for r in rows]
    out["verdict"] = [verdict_text(v, f) for v, f in zip(frame["verdict"], frame["flags"], strict=True)]
    reasons = []
    for reason, notes in zip(frame["reason"], frame["notes"], strict=True):
        text = reason_text(reason, notes)
        if reason_width and len(text) > reason_width:
            text = text[: reason_width - 1] + "…"
        reasons.append(text)
    out["reason"] = reasons
    table = pd.DataFrame(out)
    keep = [c for c in table.columns if c in (*AXES, "case", "verdict") or (table[c] != MISSING).any()]
    return table[keep], constants


def display_groups(
    frame,
    group_by: Sequence[str] = (),
    *,
    reason_width: int | None = 80,
    compact: bool = False,
    join_axes: bool = False,
):
    """:func:`display_frame` split into the ``group_by`` groups, in the frame's row order.

    Args:
        frame: an arranged report frame (see :func:`arrange`).
        group_by: group keys (already validated).
        reason_width: passed to :func:`display_frame`.
        compact: passed to :func:`display_frame`.
        join_axes: passed to :func:`display_frame`.

    Returns:
        ``(constants, groups)``: the constant axes and a list of ``(heading, table)``;
        the heading is ``""`` when there is no grouping; the tables leave out the
        group-by axes (but always keep ``verdict``).
    """
    hide = [k for k in group_by if k != "verdict"]
    table, constants = display_frame(
        frame, reason_width=reason_width, compact=compact, join_axes=join_axes, hide=hide
    )
    if not group_by or not len(frame):
        return constants, [("", table)]
    labels = [" · ".join(f"{k} = {frame[k].iloc[i]}" for k in group_by) for i in range(len(frame))]
    groups: list[tuple[str, Any]] = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            groups.append((labels[start], table.iloc[start:i]))
            start = i
    return constants, groups
