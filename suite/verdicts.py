"""The verdict vocabulary: every verdict word, its severity, its groups, and how it is drawn.

One home for all of it: the run (which word a case gets), the report (markdown symbols,
HTML colours, rich styles), the progress line, ``compare`` (a verdict that got worse) and
``nightly`` read these tables and never spell a verdict themselves.

=====================  ========  ===================================================
verdict                severity  meaning
=====================  ========  ===================================================
``identical``          0         every comparison made is bitwise equal
``close``              1         every comparison made is within the precision's tolerance
``unsupported``        2         the case cannot run here (no GPU, XLA cannot compile...)
``incomparable``       3         a comparison the run asked for could not be made
``diverged``           3         a comparison is beyond the tolerance
``nondeterministic``   4         reruns of the same case differ
``structural-mismatch`` 5        the member cannot take the reference's weights, or its outputs
                                 have other shapes for the same inputs
``error``              6         the case failed
=====================  ========  ===================================================
"""

from __future__ import annotations

from dataclasses import dataclass

IDENTICAL = "identical"
CLOSE = "close"
DIVERGED = "diverged"
NONDETERMINISTIC = "nondeterministic"
STRUCTURAL_MISMATCH = "structural-mismatch"
INCOMPARABLE = "incomparable"
UNSUPPORTED = "unsupported"
ERROR = "error"


@dataclass(frozen=True)
class Look:
    """How one verdict is drawn.

    Attributes:
        severity: higher is worse (``--sort verdict``, ``compare``, the worst mark of a cell).
        symbol: one character per case in the verdict matrix (Markdown, legend).
        marker: put before the verdict word in tables and findings (empty: none).
        colour: HTML colour of its mark and row.
        mark_style: rich style of its mark in the terminal matrix.
        row_style: rich style of a whole row (terminal table, findings, progress line); empty: plain.
    """

    severity: int
    symbol: str
    marker: str
    colour: str
    mark_style: str
    row_style: str


#: every verdict, mildest first (the order of legends and counts)
LOOKS: dict[str, Look] = {
    IDENTICAL: Look(0, "=", "", "#2da44e", "green", ""),
    CLOSE: Look(1, "≈", "", "#8fd19e", "bright_green", ""),
    UNSUPPORTED: Look(2, "∅", "∅", "#d0d7de", "bright_black", "dim"),
    INCOMPARABLE: Look(3, "?", "?", "#0969da", "bold blue", "bold blue"),
    DIVERGED: Look(3, "✖", "✖", "#cf222e", "bold red", "bold red"),
    NONDETERMINISTIC: Look(4, "⚠", "⚠", "#d4a72c", "bold yellow", "bold yellow"),
    STRUCTURAL_MISMATCH: Look(5, "≠", "≠", "#8250df", "magenta", "magenta"),
    ERROR: Look(6, "!", "✖", "#6e0b0b", "bold dark_red", "red"),
}

#: the verdict words, in the order of the design notes (identical first, error last)
VERDICTS: tuple[str, ...] = (
    IDENTICAL,
    CLOSE,
    DIVERGED,
    NONDETERMINISTIC,
    STRUCTURAL_MISMATCH,
    INCOMPARABLE,
    UNSUPPORTED,
    ERROR,
)
#: verdict -> severity (higher is worse)
SEVERITY: dict[str, int] = {v: look.severity for v, look in LOOKS.items()}
#: verdicts of a case whose numbers agree
AGREE: tuple[str, ...] = (IDENTICAL, CLOSE)
#: verdicts whose numbers were measured and compared (a stable case: agree or diverged)
STABLE: tuple[str, ...] = (IDENTICAL, CLOSE, DIVERGED)
#: verdicts that are problems for a member that is not a control, in the order they are listed
PROBLEM: tuple[str, ...] = (NONDETERMINISTIC, DIVERGED, INCOMPARABLE, STRUCTURAL_MISMATCH, ERROR)
#: verdicts of cases that did not run here (not a problem of the numbers)
NOT_RUN: tuple[str, ...] = (UNSUPPORTED,)
#: what a control (a deliberately faulty member) is expected to get
CONTROL_EXPECTED: tuple[str, ...] = (STRUCTURAL_MISMATCH, DIVERGED)
#: verdicts of a reference case whose outputs do not exist (its dependants cannot compare)
UNAVAILABLE: tuple[str, ...] = (ERROR, UNSUPPORTED, STRUCTURAL_MISMATCH)
#: verdicts whose numbers differ from the reference (plots mark them; localisation explains them)
DIFFERING: tuple[str, ...] = (DIVERGED, NONDETERMINISTIC)
#: verdicts of a case that failed or could not run (no numbers; ``--retry-errors`` retries errors)
FAILED: tuple[str, ...] = (UNSUPPORTED, ERROR)


def severity_of(verdict: str) -> int:
    """The severity of a verdict; an unknown word sorts after every known one."""
    return SEVERITY.get(verdict, len(SEVERITY) + 1)


def symbol_of(verdict: str) -> str:
    """The matrix symbol of a verdict (``?`` for an unknown word)."""
    look = LOOKS.get(verdict)
    return look.symbol if look else "?"


def marker_of(verdict: str) -> str:
    """The marker shown before a verdict word (empty for agreeing and unknown verdicts)."""
    look = LOOKS.get(verdict)
    return look.marker if look else ""


def colour_of(verdict: str) -> str:
    """The HTML colour of a verdict (grey for an unknown word)."""
    look = LOOKS.get(verdict)
    return look.colour if look else "#999999"


def mark_style_of(verdict: str) -> str | None:
    """The rich style of a verdict's mark in the terminal matrix."""
    look = LOOKS.get(verdict)
    return look.mark_style if look else None


def row_style_of(verdict: str) -> str | None:
    """The rich style of a row (or progress line) with this verdict; None: plain."""
    look = LOOKS.get(verdict)
    return (look.row_style or None) if look else "bold red"
