"""The top of a report: counts per verdict, a one-sentence highlight, one finding per problem.

Counts are of the matrix: the float64 reference cases (``vs_fp64``) are counted on their own
("+2 float64 references, 1 unavailable"), never as rows of the matrix. Flags that qualify a
verdict (``non-finite``, ``reference-unavailable``) are counted next to the verdicts and get
findings of their own, with their notes, so that a NaN-filled "identical" row is never silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from suite.axes import FLOAT64
from suite.report.table import MISSING, VERDICT_SEVERITY, fmt_number, is_missing

#: verdicts the summary calls out, in this order
PROBLEM_VERDICTS: tuple[str, ...] = (
    "nondeterministic",
    "diverged",
    "structural-mismatch",
    "incomparable",
    "error",
    "unsupported",
)
#: verdicts of a reference case whose outputs do not exist
UNAVAILABLE_VERDICTS: tuple[str, ...] = ("error", "unsupported", "structural-mismatch")
#: flags the summary counts and calls out (after the problem verdicts), with their labels
FLAG_LABELS: dict[str, str] = {
    "non-finite": "with NaN/Inf outputs",
    "reference-unavailable": "with a reference unavailable",
}


@dataclass(frozen=True)
class Finding:
    """One case the summary calls out."""

    verdict: str
    case_id: str
    text: str


@dataclass(frozen=True)
class Summary:
    """The top of a report.

    Attributes:
        headline: ``"19 cases: 12 identical, 4 close, 1 nondeterministic, ..."``.
        highlight: one sentence on the problem verdicts (empty when there are none).
        findings: one per problem case, in the order of :data:`PROBLEM_VERDICTS`.
    """

    headline: str
    highlight: str
    findings: list[Finding] = field(default_factory=list)


def _text(value: Any) -> str | None:
    return None if is_missing(value) else str(value)


def _finding_text(row: Any) -> str:
    parts = []
    if row.verdict == "nondeterministic" and not is_missing(row.rerun_distinct):
        spread = f"rerun {row.rerun_distinct} distinct of {fmt_number(row.rerun_runs)}"
        if not is_missing(row.rerun_max_abs):
            spread += f" (max abs {fmt_number(row.rerun_max_abs, 2)})"
        parts.append(spread)
    elif _text(row.reason):
        parts.append(str(row.reason))
    if _text(getattr(row, "notes", None)) and row.verdict != "incomparable":
        parts.append(str(row.notes))
    if _text(row.first_divergence):
        parts.append(f"first divergence: {row.first_divergence}")
    if row.verdict == "nondeterministic" and _text(row.top_kernels):
        parts.append(f"top kernels: {row.top_kernels}")
    return "; ".join(parts) or MISSING


def _highlight(verdict: str, rows: list[Any]) -> str:
    n = len(rows)
    noun = f"{n} {verdict} case{'s' if n > 1 else ''}"
    detail = None
    if verdict == "nondeterministic":
        for r in rows:
            if _text(r.first_divergence):
                detail = f"first diverging: {r.first_divergence}"
                if _text(r.top_kernels):
                    detail += f"; top kernel: {str(r.top_kernels).split('; ')[0]}"
                break
    elif verdict == "structural-mismatch":
        detail = next((f"{r.member}: {r.reason}" for r in rows if _text(r.reason)), None)
    else:
        detail = next((_text(r.first_divergence) or _text(r.reason) for r in rows if _text(r.reason)), None)
    if detail is None:
        return noun
    return f"{noun} ({detail}{' ...' if n > 1 else ''})"


def _grouped_by_member(verdict: str, rows: list[Any]) -> list[Finding]:
    """One finding per (pair, member): a structural mismatch is the same in every mode and workload."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for r in rows:
        groups.setdefault((r.pair, r.member), []).append(r)
    out = []
    for (pair, member), members in groups.items():
        label = members[0].case_id if len(members) == 1 else f"{pair}.{member}.* ({len(members)} cases)"
        out.append(Finding(verdict, label, _finding_text(members[0])))
    return out


def _flags(row: Any) -> list[str]:
    value = getattr(row, "flags", None)
    return [] if is_missing(value) else [f.strip() for f in str(value).split(",") if f.strip()]


def flag_counts(frame) -> dict[str, int]:
    """Flag -> number of matrix rows carrying it (float64 reference rows left out)."""
    counts: dict[str, int] = {}
    for row in frame.itertuples(index=False):
        if row.precision == FLOAT64:
            continue
        for flag in _flags(row):
            counts[flag] = counts.get(flag, 0) + 1
    return counts


def _references_text(n: int, unavailable: int) -> str:
    """`` (+2 float64 references, 1 unavailable)`` or ``""``."""
    if not n:
        return ""
    text = f"+{n} float64 reference{'s' if n != 1 else ''}"
    return f" ({text}, {unavailable} unavailable)" if unavailable else f" ({text})"


def _flags_text(flags: dict[str, int]) -> str:
    """``"2 with NaN/Inf outputs, 1 with a reference unavailable"`` (known flags first)."""
    order = [*(f for f in FLAG_LABELS if f in flags), *sorted(f for f in flags if f not in FLAG_LABELS)]
    return ", ".join(f"{flags[f]} {FLAG_LABELS.get(f, f)}" for f in order)


def run_summary_line(
    counts: dict[str, int], reference_counts: dict[str, int], flag_counts: dict[str, int] | None = None
) -> str:
    """The last line of ``pairbench run``: ``"15 identical, 1 incomparable; 2 with NaN/Inf outputs
    (+2 float64 references, 1 unavailable)"``.

    Args:
        counts: verdict -> matrix cases.
        reference_counts: verdict -> float64 reference cases (counted apart: a failed one is
            "unavailable" here, and each case that needed it says so in its note).
        flag_counts: flag -> matrix cases carrying it.
    """
    text = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no new cases"
    flagged = _flags_text(flag_counts or {})
    if flagged:
        text += "; " + flagged
    bad = sum(n for v, n in reference_counts.items() if v in UNAVAILABLE_VERDICTS)
    return text + _references_text(sum(reference_counts.values()), bad)


def summarize(frame) -> Summary:
    """Counts per verdict and flag, a one-sentence highlight and one finding per problem case.

    Args:
        frame: a report frame.

    Returns:
        The :class:`Summary`.
    """
    all_rows = list(frame.itertuples(index=False))
    rows_all = [r for r in all_rows if r.precision != FLOAT64]
    refs = [r for r in all_rows if r.precision == FLOAT64]
    n = len(rows_all)
    counts: dict[str, int] = {}
    for r in rows_all:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    order = sorted(counts.keys(), key=lambda v: (VERDICT_SEVERITY.get(v, 99), v))
    flagged = _flags_text(flag_counts(frame))
    headline = f"{n} case{'s' if n != 1 else ''}" + (
        ": " + ", ".join(f"{counts[v]} {v}" for v in order) if n else " (the run has no records)"
    )
    headline += f"; {flagged}" if flagged else ""
    headline += _references_text(len(refs), sum(r.verdict in UNAVAILABLE_VERDICTS for r in refs))
    highlights, findings = [], []
    for verdict in PROBLEM_VERDICTS:
        rows = [r for r in rows_all if r.verdict == verdict]
        if not rows:
            continue
        highlights.append(_highlight(verdict, rows))
        if verdict == "structural-mismatch":
            findings.extend(_grouped_by_member(verdict, rows))
        else:
            findings.extend(Finding(verdict, r.case_id, _finding_text(r)) for r in rows)
    for flag in FLAG_LABELS:
        rows = [r for r in rows_all if flag in _flags(r) and not _shown(r, flag)]
        if rows:
            noun = f"{len(rows)} case{'s' if len(rows) > 1 else ''} {FLAG_LABELS[flag]}"
            highlights.append(f"{noun} ({_note_of(rows[0], flag)}{' ...' if len(rows) > 1 else ''})")
            findings.extend(_grouped_by_note(flag, rows))
    return Summary(headline, "; ".join(highlights), findings)


def _note_of(row: Any, flag: str) -> str:
    """The note of a row that explains ``flag``."""
    notes = str(row.notes).split("; ") if _text(row.notes) else []
    wanted = ("non-finite",) if flag == "non-finite" else ("vs_",)
    chosen = [n for n in notes if n.startswith(wanted)]
    return "; ".join(chosen or notes) or MISSING


def _grouped_by_note(flag: str, rows: list[Any]) -> list[Finding]:
    """One finding per distinct note (a failed float64 reference flags every case of its pair)."""
    groups: dict[str, list[Any]] = {}
    for r in rows:
        groups.setdefault(_note_of(r, flag), []).append(r)
    out = []
    for note, members in groups.items():
        label = (
            members[0].case_id if len(members) == 1 else f"{members[0].case_id} (+{len(members) - 1} more)"
        )
        verdicts = ", ".join(dict.fromkeys(str(m.verdict) for m in members))
        out.append(Finding(flag, label, f"{verdicts}: {note}"))
    return out


def _shown(row: Any, flag: str) -> bool:
    """A flag already explained by the row's verdict finding (an ``incomparable`` row's
    unavailable reference is its reason)."""
    return flag == "reference-unavailable" and row.verdict == "incomparable"
