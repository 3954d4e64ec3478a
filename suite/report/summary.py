"""The top of a report: counts per verdict, a one-sentence highlight, one finding per problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from suite.report.table import MISSING, VERDICT_SEVERITY, fmt_number, is_missing

#: verdicts the summary calls out, in this order
PROBLEM_VERDICTS: tuple[str, ...] = (
    "nondeterministic",
    "diverged",
    "structural-mismatch",
    "error",
    "unsupported",
)


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


def summarize(frame) -> Summary:
    """Counts per verdict, a one-sentence highlight and one finding per problem case.

    Args:
        frame: a report frame.

    Returns:
        The :class:`Summary`.
    """
    n = len(frame)
    counts = frame["verdict"].value_counts() if n else {}
    order = sorted(counts.keys(), key=lambda v: (VERDICT_SEVERITY.get(v, 99), v))
    headline = f"{n} case{'s' if n != 1 else ''}" + (
        ": " + ", ".join(f"{counts[v]} {v}" for v in order) if n else " (the run has no records)"
    )
    highlights, findings = [], []
    for verdict in PROBLEM_VERDICTS:
        rows = [r for r in frame.itertuples(index=False) if r.verdict == verdict]
        if not rows:
            continue
        highlights.append(_highlight(verdict, rows))
        if verdict == "structural-mismatch":
            findings.extend(_grouped_by_member(verdict, rows))
        else:
            findings.extend(Finding(verdict, r.case_id, _finding_text(r)) for r in rows)
    return Summary(headline, "; ".join(highlights), findings)
