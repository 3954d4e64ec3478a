"""The top of a report: is anything wrong? Counts, real problems first, controls summarised.

Controls (the members a pair lists in ``controls``, e.g. ``faulty``) are known-wrong builds:
the detector is expected to catch them (verdict ``structural-mismatch`` or ``diverged``).
When it does, that is good news and takes one line ("controls behaved as expected"); when a
control comes out ``identical``, ``close`` or anything else, that is a problem of the
detector and is listed first, loudly. Real problems are the other cases whose verdict is in
:data:`suite.verdicts.PROBLEM` or whose record carries ``flags`` (e.g. ``non-finite``).

The float64 reference cases (``vs_fp64``) are counted apart ("+2 float64 references, 1
unavailable"), never as cases of the matrix: a failed one is said on the cases that needed
it (flag ``reference-unavailable``, note "vs_fp64: reference unavailable: <cause>").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from suite.axes import FLOAT64
from suite.report.table import MISSING, fmt_number, is_missing, reason_text
from suite.verdicts import (
    CONTROL_EXPECTED,
    NONDETERMINISTIC,
    NOT_RUN,
    PROBLEM,
    STRUCTURAL_MISMATCH,
    UNAVAILABLE,
    severity_of,
)

#: findings listed at most (grouped by verdict, pair and member); the rest are counted
MAX_FINDINGS = 60
#: flags counted by the run's summary line, with their labels
FLAG_LABELS: dict[str, str] = {
    "non-finite": "with NaN/Inf outputs",
    "reference-unavailable": "with a reference unavailable",
    "latent-difference": "identical here but computing differently",
}


def references_text(n: int, unavailable: int) -> str:
    """`` (+2 float64 references, 1 unavailable)`` or ``""``."""
    if not n:
        return ""
    text = f"+{n} float64 reference{'s' if n != 1 else ''}"
    return f" ({text}, {unavailable} unavailable)" if unavailable else f" ({text})"


def flags_text(flags: dict[str, int]) -> str:
    """``"2 with NaN/Inf outputs, 1 with a reference unavailable"`` (known flags first)."""
    order = [*(f for f in FLAG_LABELS if f in flags), *sorted(f for f in flags if f not in FLAG_LABELS)]
    return ", ".join(f"{flags[f]:,} {FLAG_LABELS.get(f, f)}" for f in order)


def _flag_counts(frame: Any) -> dict[str, int]:
    """Flag -> rows carrying it (the frame's ``flags`` column joins them with "; ")."""
    counts: dict[str, int] = {}
    for value in frame["flags"].dropna():
        for flag in str(value).split("; "):
            counts[flag] = counts.get(flag, 0) + 1
    return counts


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
    flagged = flags_text(flag_counts or {})
    if flagged:
        text += f"; {flagged}"
    bad = sum(n for v, n in reference_counts.items() if v in UNAVAILABLE)
    return text + references_text(sum(reference_counts.values()), bad)


@dataclass(frozen=True)
class Finding:
    """One problem the summary calls out (one case, or several of one member with the same verdict).

    Attributes:
        verdict: the verdict (``control`` findings carry the control's actual verdict).
        case_id: the case id, or ``pair.member.* (n cases)`` for a group.
        text: reason, localisation, rerun spread, flags and notes.
        control: the finding is a control that did not behave as expected.
        anchor: the case id of the first case (for links to its detail).
    """

    verdict: str
    case_id: str
    text: str
    control: bool = False
    anchor: str = ""


@dataclass(frozen=True)
class Controls:
    """How the controls behaved.

    Attributes:
        expected: ``"mlp.faulty structural-mismatch"`` or ``"faulty of 6 pairs structural-mismatch"``:
            the controls caught as expected, by member and verdict.
        unexpected: findings for controls that were not caught (also in ``Summary.findings``).
        not_run: control cases that did not run here (unsupported).
        cases: control cases in all.
    """

    expected: list[str] = field(default_factory=list)
    unexpected: list[Finding] = field(default_factory=list)
    not_run: int = 0
    cases: int = 0

    @property
    def line(self) -> str:
        """``"Controls behaved as expected (12 cases): faulty of 6 pairs structural-mismatch."``, or not."""
        if not self.cases:
            return ""
        if self.unexpected:
            names = ", ".join(f.case_id for f in self.unexpected[:5])
            more = f" (+{len(self.unexpected) - 5})" if len(self.unexpected) > 5 else ""
            return (
                f"CONTROLS NOT CAUGHT: {len(self.unexpected)} control finding(s) did not come out "
                f"{' or '.join(CONTROL_EXPECTED)}: {names}{more}. The detector missed a known-wrong build."
            )
        shown = ", ".join(self.expected[:8]) + (
            f" and {len(self.expected) - 8} more" if len(self.expected) > 8 else ""
        )
        skipped = f"; {self.not_run} not run here (unsupported)" if self.not_run else ""
        cases = f"{self.cases} case{'s' if self.cases != 1 else ''}"
        return f"Controls behaved as expected ({cases}): {shown}{skipped}."


@dataclass(frozen=True)
class Summary:
    """The top of a report.

    Attributes:
        headline: ``"19 cases: 12 identical, 4 close, 1 nondeterministic, ..."`` (controls counted apart).
        highlight: one sentence on the real problems (empty when there are none).
        findings: controls that were not caught, then one finding per problem case (grouped
            by member when a member has several of one verdict), in the order of
            :data:`suite.verdicts.PROBLEM`; at most :data:`MAX_FINDINGS`.
        controls: how the controls behaved.
        not_run: one line on the cases that did not run here (empty when none).
        more_findings: findings left out past :data:`MAX_FINDINGS`.
    """

    headline: str
    highlight: str
    findings: list[Finding] = field(default_factory=list)
    controls: Controls = field(default_factory=Controls)
    not_run: str = ""
    more_findings: int = 0


def _text(value: Any) -> str | None:
    return None if is_missing(value) else str(value)


def finding_text(row: Any) -> str:
    """What a finding says about one case: spread, reason (it starts with the top cause) and notes,
    localisation, flags, kernels."""
    parts = []
    if row.verdict == NONDETERMINISTIC and not is_missing(row.rerun_distinct):
        spread = f"rerun {row.rerun_distinct} distinct of {fmt_number(row.rerun_runs)}"
        if not is_missing(row.rerun_max_abs):
            spread += f" (max abs {fmt_number(row.rerun_max_abs, 2)})"
        parts.append(spread)
        if _text(getattr(row, "causes", None)):
            parts.append(f"cause: {row.causes}")
        if _text(row.notes):
            parts.append(str(row.notes))
    elif _text(row.reason) or _text(row.notes):
        parts.append(reason_text(row.reason, row.notes))
    if _text(row.first_divergence):
        parts.append(f"first divergence: {row.first_divergence}")
    if _text(row.flags):
        parts.append(f"flags: {row.flags}")
    if row.verdict == NONDETERMINISTIC and _text(row.top_kernels):
        parts.append(f"top kernels: {row.top_kernels}")
    return "; ".join(parts) or MISSING


def _grouped(rows: Any, *, control: bool = False, limit: int = MAX_FINDINGS) -> tuple[list[Finding], int]:
    """One finding per (verdict, pair, member): the same problem in every mode is said once.

    Returns:
        ``(findings, groups)``: the first ``limit`` findings (in the rows' order) and how many
        groups there are in all.
    """
    if rows.empty:
        return [], 0
    grouped = rows.groupby(["verdict", "pair", "member"], sort=False, observed=True)
    sizes = grouped.size()
    firsts = grouped.head(1)
    out = []
    for first in firsts.head(limit).itertuples(index=False):
        n = int(sizes[(first.verdict, first.pair, first.member)])
        label = first.case_id if n == 1 else f"{first.pair}.{first.member}.* ({n} cases)"
        out.append(Finding(str(first.verdict), label, finding_text(first), control, str(first.case_id)))
    return out, len(firsts)


def _highlight(verdict: str, rows: Any) -> str:
    n = len(rows)
    noun = f"{n} {verdict} case{'s' if n > 1 else ''}"
    first = next(rows.itertuples(index=False))
    detail = None
    if verdict == NONDETERMINISTIC:
        located = rows[rows["first_divergence"].notna()]
        if len(located):
            r = next(located.itertuples(index=False))
            detail = f"first diverging: {r.first_divergence}"
            if _text(r.top_kernels):
                detail += f"; top kernel: {str(r.top_kernels).split('; ')[0]}"
    elif verdict == STRUCTURAL_MISMATCH:
        detail = f"{first.member}: {first.reason}" if _text(first.reason) else None
    else:
        top = _text(getattr(first, "causes", None))
        detail = (
            (top.split(" | ")[0] if top else None) or _text(first.first_divergence) or _text(first.reason)
        )
    if detail is None:
        return noun
    return f"{noun} ({detail}{' ...' if n > 1 else ''})"


def _counts(frame: Any) -> str:
    counts = frame["verdict"].astype(str).value_counts()
    order = sorted(counts.index, key=lambda v: (severity_of(v), v))
    return ", ".join(f"{counts[v]:,} {v}" for v in order)


def problem_mask(frame: Any) -> Any:
    """Per row: is it a problem? (a problem verdict or flags; a control that was not caught)."""
    verdicts = frame["verdict"].astype(str)
    control = frame["control"].fillna(False).astype(bool)
    member_problem = ~control & (verdicts.isin(PROBLEM) | frame["flags"].notna())
    control_problem = control & ~verdicts.isin((*CONTROL_EXPECTED, *NOT_RUN))
    return member_problem | control_problem


def _controls(frame: Any) -> Controls:
    ctl = frame[frame["control"].fillna(False).astype(bool)]
    if ctl.empty:
        return Controls()
    verdicts = ctl["verdict"].astype(str)
    not_run = int(verdicts.isin(NOT_RUN).sum())
    wrong = ctl[~verdicts.isin((*CONTROL_EXPECTED, *NOT_RUN))]
    caught = ctl[verdicts.isin(CONTROL_EXPECTED)]
    expected = []
    for (member, verdict), g in caught.assign(verdict=verdicts).groupby(["member", "verdict"], observed=True):
        pairs = sorted(g["pair"].astype(str).unique())
        where = f"{pairs[0]}.{member}" if len(pairs) == 1 else f"{member} of {len(pairs)} pairs"
        expected.append(f"{where} {verdict}")
    return Controls(expected, _grouped(wrong, control=True)[0], not_run, len(ctl))


def summarize(frame) -> Summary:
    """Counts, the real problems (controls that were not caught first) and the controls in one line.

    Args:
        frame: a report frame.

    Returns:
        The :class:`Summary`.
    """
    is_reference = frame["precision"].astype(str) == FLOAT64
    references = frame[is_reference]
    frame = frame[~is_reference]
    n = len(frame)
    refs = references_text(len(references), int(references["verdict"].astype(str).isin(UNAVAILABLE).sum()))
    if not n:
        return Summary(f"0 cases (the run has no records){refs}", "")
    is_control = frame["control"].fillna(False).astype(bool)
    controls = _controls(frame)
    members = frame[~is_control]
    headline = f"{n:,} case{'s' if n != 1 else ''}"
    if len(members):
        headline += f": {_counts(members)}"
    if controls.cases:
        plural = "s" if controls.cases != 1 else ""
        headline += f"; {controls.cases:,} control case{plural} ({_counts(frame[is_control])})"
    flagged = flags_text(_flag_counts(frame))
    headline += (f"; {flagged}" if flagged else "") + refs
    verdicts = members["verdict"].astype(str)
    flagged = members["flags"].notna() & ~verdicts.isin(PROBLEM)
    highlights, findings = [], list(controls.unexpected)
    total = len(findings)
    for verdict in PROBLEM:
        rows = members[verdicts == verdict]
        if rows.empty:
            continue
        highlights.append(_highlight(verdict, rows))
        found, groups = _grouped(rows, limit=max(0, MAX_FINDINGS - len(findings)))
        findings += found
        total += groups
    if flagged.any():
        rows = members[flagged]
        highlights.append(f"{len(rows)} case{'s' if len(rows) > 1 else ''} flagged ({rows['flags'].iloc[0]})")
        found, groups = _grouped(rows, limit=max(0, MAX_FINDINGS - len(findings)))
        findings += found
        total += groups
    if controls.unexpected:
        highlights.insert(0, f"{len(controls.unexpected)} control(s) not caught")
    not_run = ""
    skipped = members[verdicts.isin(NOT_RUN)]
    if len(skipped):
        reasons = skipped["reason"].dropna().astype(str).value_counts()
        top = f": {reasons.index[0]}" + (
            f" (and {len(reasons) - 1} other reasons)" if len(reasons) > 1 else ""
        )
        plural = "s" if len(skipped) > 1 else ""
        not_run = f"{len(skipped):,} case{plural} did not run here{top if len(reasons) else ''}"
    return Summary(headline, "; ".join(highlights), findings, controls, not_run, total - len(findings))
