"""The report table: one row per case, units in column names.

:func:`report_frame` turns a run's records into a pandas DataFrame (NaN for missing
numbers, ``None`` for missing text); :func:`arrange` groups and sorts it;
:func:`display_frame` formats it for text outputs ("—" for missing values).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

from suite.axes import check_names
from suite.errors import UsageError
from suite.record import Record
from suite.results import RunDir, run_machine

AXES: tuple[str, ...] = ("pair", "member", "workload", "mode", "device", "precision", "determinism", "size")
REFERENCES: tuple[str, ...] = ("vs_pair", "vs_eager", "vs_cpu", "vs_fp64")
MISSING = "—"

#: verdict -> severity (higher is worse); used by ``--sort verdict`` and by ``compare``.
VERDICT_SEVERITY: dict[str, int] = {
    "identical": 0,
    "close": 1,
    "unsupported": 2,
    "incomparable": 3,
    "diverged": 3,
    "nondeterministic": 4,
    "structural-mismatch": 5,
    "error": 6,
}

#: (column, dtype kind, description with unit); the order of the exported table.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("case_id", "str", "stable case identifier"),
    *((axis, "str", f"case axis: {axis}") for axis in AXES),
    (
        "machine",
        "str",
        "the machine of the run (PAIRBENCH_MACHINE or the host name): a fleet report groups by it",
    ),
    ("tf32", "bool", "TF32 matmuls actually enabled in the worker"),
    ("batch", "int", "samples per step"),
    ("repeats", "int", "timed repeats"),
    ("step_ms_median", "float", "median step time over repeats, milliseconds"),
    ("step_ms_p10", "float", "10th percentile of step time, milliseconds"),
    ("step_ms_p90", "float", "90th percentile of step time, milliseconds"),
    ("step_ms_iqr", "float", "interquartile range of step time, milliseconds"),
    ("samples_per_s", "float", "throughput at the median step time, samples per second"),
    ("compile_s", "float", "first call (trace/compile) time, seconds"),
    ("peak_mem_mib", "float", "peak device memory, MiB (2**20 bytes)"),
    *(
        col
        for ref in REFERENCES
        for col in (
            (f"{ref}_max_abs", "float", f"largest absolute difference {ref}"),
            (f"{ref}_max_ulp", "float", f"largest difference {ref} in units in the last place"),
        )
    ),
    ("rerun_runs", "int", "reruns of the same case"),
    ("rerun_distinct", "int", "distinct results among the reruns (1 = deterministic)"),
    ("rerun_max_abs", "float", "largest absolute difference between reruns"),
    ("rerun_max_ulp", "float", "largest difference between reruns, ULP"),
    (
        "verdict",
        "str",
        "identical, close, diverged, nondeterministic, structural-mismatch, unsupported, error",
    ),
    ("reason", "str", "why (for anything but identical)"),
    ("first_divergence", "str", "first differing layer / gradient (localisation)"),
    ("top_kernels", "str", "top device kernels of the trace with their share of device time"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c[0] for c in COLUMNS)

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


def as_float(value: Any) -> float | None:
    """A finite float or None (bools and non-numbers are None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _scaled(value: Any, factor: float) -> float | None:
    v = as_float(value)
    return None if v is None else v * factor


def _ops_text(ops: Any, limit: int = 3) -> str:
    if not ops:
        return ""
    names = []
    for op in list(ops)[:limit]:
        if isinstance(op, dict):
            names.append(str(op.get("name") or op.get("type") or op.get("op") or op))
        else:
            names.append(str(op))
    more = f", +{len(ops) - limit}" if len(ops) > limit else ""
    return f" [{', '.join(names)}{more}]"


def localisation_text(loc: dict[str, Any] | None) -> str | None:
    """One line for a record's ``localisation``: ``"gradient of emb/embeddings [UnsortedSegmentSum]"``.

    Args:
        loc: ``record.localisation`` (``against``, ``forward``, ``backward``, ``note``) or None.

    Returns:
        The text, or None when there is no localisation.
    """
    if not loc:
        return None
    parts = []
    fwd, bwd = loc.get("forward"), loc.get("backward")
    if fwd:
        parts.append(f"forward {fwd.get('layer', '?')}{_ops_text(fwd.get('ops'))}")
    if bwd:
        parts.append(f"gradient of {bwd.get('variable', '?')}{_ops_text(bwd.get('ops'))}")
    note = loc.get("note")
    if note:
        parts.append(str(note))
    if not parts:
        return None
    against = loc.get("against")
    return ("; ".join(parts) + (f" ({against})" if against else "")).strip()


def top_kernels_text(profile: dict[str, Any] | None, limit: int = 3, width: int = 70) -> str | None:
    """The top kernels of a trace as ``"name 42%; name 22%"`` (``share`` is a fraction 0–1).

    Args:
        profile: ``record.profile`` or None.
        limit: how many kernels.
        width: longest kernel name kept (longer ones are cut with "…").

    Returns:
        The text, or None when the record has no kernels.
    """
    kernels = (profile or {}).get("top_kernels") or []
    parts = []
    for k in kernels[:limit]:
        name = str(k.get("name") or k.get("op_name") or "?")
        if len(name) > width:
            name = name[: width - 1] + "…"
        share = as_float(k.get("share"))
        parts.append(f"{name} {share * 100:.0f}%" if share is not None else name)
    return "; ".join(parts) or None


def record_row(rec: Record) -> dict[str, Any]:
    """One report row (a dict keyed by :data:`COLUMN_NAMES`) for a record."""
    t = rec.timing or {}
    mem = rec.memory or {}
    div = rec.divergence or {}
    row: dict[str, Any] = {"case_id": rec.case_id, **rec.case.to_dict()}
    tf32 = (rec.numerics or {}).get("tf32_enabled")
    row["tf32"] = tf32 if isinstance(tf32, bool) else None
    row["batch"] = as_float(t.get("batch"))
    row["repeats"] = as_float(t.get("repeats"))
    for key in ("median", "p10", "p90", "iqr"):
        row[f"step_ms_{key}"] = _scaled(t.get(f"step_s_{key}"), 1e3)
    row["samples_per_s"] = as_float(t.get("samples_per_s"))
    row["compile_s"] = as_float(t.get("compile_s"))
    row["peak_mem_mib"] = _scaled(mem.get("peak_device_bytes"), 1.0 / 2**20)
    for ref in REFERENCES:
        m = div.get(ref) or {}
        row[f"{ref}_max_abs"] = as_float(m.get("max_abs"))
        row[f"{ref}_max_ulp"] = as_float(m.get("max_ulp"))
    rr = div.get("rerun") or {}
    for key in ("runs", "distinct", "max_abs", "max_ulp"):
        row[f"rerun_{key}"] = as_float(rr.get(key))
    row["verdict"] = rec.verdict
    row["reason"] = rec.reason or None
    row["first_divergence"] = localisation_text(rec.localisation)
    row["top_kernels"] = top_kernels_text(rec.profile)
    return row


def frame_from_records(records: Iterable[Record], machine: str | None = None):
    """The report DataFrame for some records, sorted by case id.

    Args:
        records: records (one per case).
        machine: the machine they were measured on (the ``machine`` column).

    Returns:
        A DataFrame with :data:`COLUMN_NAMES`; numbers are float (NaN when missing),
        counts nullable ``Int64``, ``tf32`` nullable ``boolean``.
    """
    import pandas as pd

    rows = [{**record_row(r), "machine": machine} for r in records]
    frame = pd.DataFrame(rows, columns=list(COLUMN_NAMES))
    for name, kind, _ in COLUMNS:
        if kind == "float":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif kind == "int":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").round().astype("Int64")
        elif kind == "bool":
            frame[name] = frame[name].astype("boolean")
        else:
            frame[name] = frame[name].astype("object").where(frame[name].notna(), None)
    return frame.sort_values("case_id", kind="stable").reset_index(drop=True)


def report_frame(run: RunDir):
    """One row per case of ``run`` (last record wins when a case was recorded twice).

    Args:
        run: the run folder.

    Returns:
        The report DataFrame (see :data:`COLUMNS` for columns and units).
    """
    return frame_from_records(run.records(), run_machine(run))


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
        "verdict": -work["verdict"].map(VERDICT_SEVERITY).fillna(-1),
        "step": -work["step_ms_median"],
        "throughput": -work["samples_per_s"],
        "divergence": -divergence_key(work),
        "rerun": -work["rerun_max_abs"],
        "compile": -work["compile_s"],
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


def display_frame(frame, *, reason_width: int | None = 80, compact: bool = False, hide: Sequence[str] = ()):
    """Format a report frame for text outputs.

    Axes with one value in the whole frame are left out of the table and returned as
    ``constants`` (shown once above it); columns that are missing on every row are dropped.

    Args:
        frame: a (possibly arranged) report frame.
        reason_width: cut ``reason`` to this many characters (None: keep all).
        compact: narrower cells for the terminal (see :data:`COMPACT_HEADERS`): the varying
            axes joined by dots in one ``case`` column, step time as
            ``median ±half the p10–p90 range in %``, divergences as max abs only.
        hide: axes to leave out of the table (the group keys, shown in group headings).

    Returns:
        ``(table, constants)``: a DataFrame of strings whose columns are keys of
        :data:`DISPLAY_HEADERS`, and ``{axis: value}`` for the constant axes.
    """
    import pandas as pd

    constants = {a: str(frame[a].iloc[0]) for a in AXES if len(frame) and frame[a].nunique() == 1}
    varying = [a for a in AXES if a not in constants and a not in hide]
    if compact and varying:
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
    for col in ("samples_per_s", "compile_s", "peak_mem_mib"):
        out[col] = [fmt_number(v) for v in frame[col]]
    for ref in REFERENCES:
        pairs = zip(frame[f"{ref}_max_abs"], frame[f"{ref}_max_ulp"], strict=True)
        out[ref] = [fmt_number(a, 2) if compact else _pair_text(a, u) for a, u in pairs]
    out["rerun"] = [rerun(r) for r in rows]
    out["verdict"] = [str(v) for v in frame["verdict"]]
    reasons = []
    for v in frame["reason"]:
        text = MISSING if is_missing(v) else str(v)
        if reason_width and len(text) > reason_width:
            text = text[: reason_width - 1] + "…"
        reasons.append(text)
    out["reason"] = reasons
    table = pd.DataFrame(out)
    keep = [c for c in table.columns if c in (*AXES, "case", "verdict") or (table[c] != MISSING).any()]
    return table[keep], constants


def display_groups(
    frame, group_by: Sequence[str] = (), *, reason_width: int | None = 80, compact: bool = False
):
    """:func:`display_frame` split into the ``group_by`` groups, in the frame's row order.

    Args:
        frame: an arranged report frame (see :func:`arrange`).
        group_by: group keys (already validated).
        reason_width: passed to :func:`display_frame`.
        compact: passed to :func:`display_frame`.

    Returns:
        ``(constants, groups)``: the constant axes and a list of ``(heading, table)``;
        the heading is ``""`` when there is no grouping; the tables leave out the
        group-by axes (but always keep ``verdict``).
    """
    hide = [k for k in group_by if k != "verdict"]
    table, constants = display_frame(frame, reason_width=reason_width, compact=compact, hide=hide)
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
