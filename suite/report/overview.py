"""The first screen of a report, as data: the verdict matrix and the speed table.

*Verdict matrix*: one row per (pair, member), one column per (workload, mode), and in each
cell one mark per case: the other axes that vary in the run (device, precision,
determinism, size) are the *sub-keys* of a cell, always in the same order, so a 500-case
run is a grid of a few hundred marks. When a cell would hold more than
:data:`MAX_MARKS_PER_CELL` cases, it shows their worst verdict instead (and says so).

*Speed table*: per pair and workload (and per device, precision, determinism and size where
they vary), the step time in each mode (median over the pair's members that are not
controls, with the p10–p90 range over their repeats) and the speed-up of ``tf.function``
and XLA over eager.

Both are computed with pandas group-bys, so they cost the same for 20 cases or a million;
the renderers cap how many rows they show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from suite.axes import FLOAT64, MEMBERS, MODES, WORKLOADS
from suite.verdicts import severity_of

#: axes that make the sub-keys of a matrix cell (in this order)
SUB_AXES: tuple[str, ...] = ("device", "precision", "determinism", "size")
#: a cell with more cases than this shows their worst verdict
MAX_MARKS_PER_CELL = 8
#: rows of the matrix shown at most (pairs x members)
MAX_MATRIX_ROWS = 120
#: rows of the speed table built at most (the renderers show them all)
MAX_SPEED_ROWS = 40
#: mode -> column label of the speed table
MODE_LABELS = {"eager": "eager", "function": "tf.function", "xla": "XLA"}


@dataclass(frozen=True)
class Mark:
    """One case in a matrix cell (or the worst of several, see :attr:`count`)."""

    case_id: str
    verdict: str
    flagged: bool
    title: str
    count: int = 1


@dataclass(frozen=True)
class VerdictMatrix:
    """Rows (pair, member, is control) × columns (workload, mode); cells hold :class:`Mark` lists.

    Attributes:
        rows: ``(pair, member, control)`` in display order.
        columns: ``(workload, mode)`` in display order.
        cells: ``{(row index, column index): marks}``; a mark is None where the sub-key has no case.
        sub_axes: the axes whose values make the sub-keys (those that vary in the run).
        sub_keys: the sub-keys in mark order (each a tuple of values of ``sub_axes``).
        worst_only: cells show the worst verdict of their cases (too many sub-keys).
        hidden_rows: rows left out past :data:`MAX_MATRIX_ROWS`.
    """

    rows: list[tuple[str, str, bool]]
    columns: list[tuple[str, str]]
    cells: dict[tuple[int, int], list[Mark | None]] = field(default_factory=dict)
    sub_axes: tuple[str, ...] = ()
    sub_keys: list[tuple[str, ...]] = field(default_factory=list)
    worst_only: bool = False
    hidden_rows: int = 0


def _ordered(values: Any, known: tuple[str, ...]) -> list[str]:
    present = {str(v) for v in values}
    return [v for v in known if v in present] + sorted(present - set(known))


def verdict_matrix(frame: Any, max_rows: int = MAX_MATRIX_ROWS) -> VerdictMatrix:
    """The verdict matrix of a report frame.

    Args:
        frame: a report frame.
        max_rows: most (pair, member) rows (problem rows are kept first).

    Returns:
        The :class:`VerdictMatrix` (empty rows/columns for an empty frame).
    """
    import pandas as pd

    if not len(frame):
        return VerdictMatrix([], [])
    names = ("case_id", "pair", "member", "workload", "mode", *SUB_AXES, "verdict", "flags")
    data = pd.DataFrame({c: frame[c].to_numpy(dtype=object) for c in names})
    data["control"] = frame["control"].fillna(False).to_numpy(dtype=bool)
    data["severity"] = data["verdict"].map(severity_of).to_numpy()
    sub_axes = tuple(a for a in SUB_AXES if data[a].nunique() > 1)
    sub_keys = sorted(set(data[list(sub_axes)].drop_duplicates().itertuples(index=False, name=None))) or [()]
    worst_only = len(sub_keys) > MAX_MARKS_PER_CELL
    present = set(data[["workload", "mode"]].drop_duplicates().itertuples(index=False, name=None))
    columns = [
        (w, m)
        for w in _ordered(data["workload"].unique(), WORKLOADS)
        for m in _ordered(data["mode"].unique(), MODES)
    ]
    columns = [c for c in columns if c in present]
    by_row = data.groupby(["pair", "member"], sort=False)
    controls = by_row["control"].first()
    row_worst = by_row["severity"].max()
    rows = []
    for pair in sorted(data["pair"].unique()):
        members = [m for p, m in row_worst.index if p == pair]
        rows += [(pair, m, bool(controls[(pair, m)])) for m in _ordered(members, MEMBERS)]
    hidden = 0
    if len(rows) > max_rows:  # keep the rows with the worst verdicts, in display order
        keep = {(p, m) for p, m, _ in sorted(rows, key=lambda r: -row_worst[(r[0], r[1])])[:max_rows]}
        hidden = len(rows) - max_rows
        rows = [r for r in rows if (r[0], r[1]) in keep]
        data = data[pd.MultiIndex.from_arrays([data["pair"], data["member"]]).isin(list(keep))]
    row_index = {(p, m): i for i, (p, m, _) in enumerate(rows)}
    col_index = {c: j for j, c in enumerate(columns)}
    key_index = {k: i for i, k in enumerate(sub_keys)}
    cells: dict[tuple[int, int], list[Mark | None]] = {}
    for r in data.itertuples(index=False):
        i, j = row_index[(r.pair, r.member)], col_index[(r.workload, r.mode)]
        sub = tuple(getattr(r, a) for a in sub_axes)
        flagged = isinstance(r.flags, str) and bool(r.flags)
        title = f"{r.case_id}: {r.verdict}" + (f" [{r.flags}]" if flagged else "")
        mark = Mark(str(r.case_id), str(r.verdict), flagged, title)
        if worst_only:
            cell = cells.setdefault((i, j), [None])
            old = cell[0]
            if old is None:
                cell[0] = mark
            else:
                worse = severity_of(mark.verdict) > severity_of(old.verdict)
                best = mark if worse else old
                cell[0] = Mark(
                    best.case_id, best.verdict, old.flagged or mark.flagged, best.title, old.count + 1
                )
        else:
            cells.setdefault((i, j), [None] * len(sub_keys))[key_index[sub]] = mark
    if worst_only:
        for key, (mark,) in cells.items():
            if mark is not None and mark.count > 1:
                title = f"worst of {mark.count} cases: {mark.title}"
                cells[key] = [Mark(mark.case_id, mark.verdict, mark.flagged, title, mark.count)]
    return VerdictMatrix(rows, columns, cells, sub_axes, sub_keys, worst_only, hidden)


# ------------------------------------------------------------------------------------ speed table


@dataclass(frozen=True)
class SpeedRow:
    """One row of the speed table.

    Attributes:
        pair: the pair.
        key: ``{axis: value}`` of the other axes that vary (workload always, then device,
            precision, determinism, size where they vary).
        step_ms: ``{mode: (median, p10, p90)}`` in milliseconds: the median over members of
            their median step time, and the smallest p10 / largest p90 over members.
        speedup: ``{mode: eager median / mode median}`` for the modes other than eager.
        members: members timed (not controls).
    """

    pair: str
    key: dict[str, str]
    step_ms: dict[str, tuple[float, float, float]]
    speedup: dict[str, float]
    members: int


def speed_table(frame: Any, limit: int | None = None) -> tuple[list[str], list[SpeedRow], int]:
    """Step time per mode and the speed-up over eager, per pair (controls left out).

    Args:
        frame: a report frame.
        limit: build at most this many rows (the first ones); None: all.

    Returns:
        ``(modes, rows, total)``: the modes present (in :data:`suite.axes.MODES` order), the rows
        ordered by pair, workload, then the other key axes, and how many rows there are in all.
    """
    import pandas as pd

    timed = frame[frame["step_ms_median"].notna() & ~frame["control"].fillna(False).astype(bool)]
    if timed.empty:
        return [], [], 0
    names = ("pair", "member", "workload", "mode", *SUB_AXES)
    data = pd.DataFrame({c: timed[c].to_numpy(dtype=object) for c in names})
    for c in ("step_ms_median", "step_ms_p10", "step_ms_p90"):
        data[c] = timed[c].to_numpy(dtype=float)
    modes = _ordered(data["mode"].unique(), MODES)
    key_axes = ["workload", *(a for a in SUB_AXES if data[a].nunique() > 1)]
    workload_rank = {w: i for i, w in enumerate(_ordered(data["workload"].unique(), WORKLOADS))}
    data["_w"] = data["workload"].map(workload_rank)
    grouped = data.groupby(["pair", "_w", *key_axes, "mode"], sort=True).agg(
        median=("step_ms_median", "median"),
        p10=("step_ms_p10", "min"),
        p90=("step_ms_p90", "max"),
        members=("member", "nunique"),
    )
    wide = grouped.unstack("mode")
    total = len(wide)
    if limit is not None:
        wide = wide.head(limit)
    rows: list[SpeedRow] = []
    for index, values in zip(wide.index, wide.itertuples(index=False, name=None), strict=True):
        cells = dict(zip(wide.columns, values, strict=True))
        step = {
            m: (float(cells[("median", m)]), float(cells[("p10", m)]), float(cells[("p90", m)]))
            for m in modes
            if ("median", m) in cells and cells[("median", m)] == cells[("median", m)]
        }
        eager = step.get("eager", (None,))[0]
        speedup = {m: eager / v[0] for m, v in step.items() if m != "eager" and eager and v[0] > 0}
        key = dict(zip(key_axes, index[2:], strict=True))
        members = max(int(cells[("members", m)]) for m in step)
        rows.append(SpeedRow(index[0], key, step, speedup, members))
    return modes, rows, total


@dataclass(frozen=True)
class Overview:
    """The first screen's data, computed once and rendered by every output."""

    matrix: VerdictMatrix
    modes: list[str]
    speed: list[SpeedRow]
    speed_total: int


def overview(frame: Any, max_speed_rows: int = MAX_SPEED_ROWS) -> Overview:
    """The verdict matrix and the first ``max_speed_rows`` rows of the speed table of ``frame``.

    The float64 reference cases (precision ``float64``, run for ``vs_fp64``) are left out of
    both: they are references, not a precision the user chose (the results table lists them).
    """
    frame = frame[frame["precision"].astype(str) != FLOAT64]
    modes, rows, total = speed_table(frame, limit=max_speed_rows)
    return Overview(verdict_matrix(frame), modes, rows, total)


def speed_text(view: Overview) -> tuple[list[str], list[list[str]]]:
    """The speed table as text ``(header, rows)``: step times ``median [p10–p90]``, speed-ups ``2.31×``."""
    from suite.report.table import fmt_number

    modes, rows = view.modes, view.speed
    if not rows:
        return [], []
    key_axes = list(rows[0].key)
    header = ["pair", *key_axes, *(f"{MODE_LABELS.get(m, m)} ms" for m in modes)]
    header += [f"{MODE_LABELS.get(m, m)} ×" for m in modes if m != "eager"]
    table = []
    for row in rows:
        cells = [row.pair, *(row.key[a] for a in key_axes)]
        for m in modes:
            med, lo, hi = row.step_ms.get(m, (None, None, None))
            cells.append(f"{fmt_number(med)} [{fmt_number(lo)}–{fmt_number(hi)}]" if med is not None else "—")
        cells += [f"{row.speedup[m]:.2f}×" if m in row.speedup else "—" for m in modes if m != "eager"]
        table.append(cells)
    return header, table
