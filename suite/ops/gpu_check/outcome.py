"""What the check found: a :class:`Check`, a :class:`Step` (one subprocess) and a
:class:`PartResult`, with the rule that says whether the whole check is ok.

Statuses are the check's own words, not verdicts: a check is ``pass``, ``fail``, ``skipped`` or
``info``; a step is ``ok``, ``failed`` or ``timeout``; a part is ``ok``, ``timeout``, ``failed``
or ``skipped``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: every check status, in the order they are counted
CHECK_STATUSES: tuple[str, ...] = ("pass", "fail", "skipped", "info")


@dataclass
class Check:
    """One check: what was measured (``figure``), what was expected, and whether it held.

    Attributes:
        name: ``<part>.<what>``.
        status: ``pass``, ``fail``, ``skipped`` (cannot be answered here: ``reason`` says why;
            the figure is still shown) or ``info`` (a figure with no expectation).
        figure: the measured value (JSON-ready).
        expected: what a pass needs, in words.
        reason: why it failed or was skipped.
    """

    name: str
    status: str
    figure: Any = None
    expected: str = ""
    reason: str = ""


@dataclass
class Step:
    """One subprocess of a part.

    Attributes:
        name: what it is (``run-<run_id>``, ``doctor``...); its log is named after it.
        argv: its command line.
        status: ``ok`` (exit 0), ``failed`` or ``timeout``.
        returncode: its exit status (None when it could not be read).
        wall_s: how long it ran.
        log: its log file.
        tail: the last lines of its log (one line), or why it did not run.
    """

    name: str
    argv: list[str]
    status: str
    returncode: int | None
    wall_s: float
    log: str
    tail: str = ""


@dataclass
class PartResult:
    """What a part did: ``status`` is ``ok``, ``timeout``, ``failed`` or ``skipped``."""

    part: str
    status: str = "ok"
    reason: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    wall_s: float = 0.0
    budget_s: float = 0.0
    runs: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``summary.json``'s ``parts``)."""
        return asdict(self)

    def note_step(self, step: Step) -> None:
        """Keep a step and let a timeout or failure mark the part (a timeout wins)."""
        self.steps.append(step)
        if step.status == "timeout":
            self.status = "timeout"
            self.add_reason(f"{step.name} ran out of time after {step.wall_s:.0f} s")
        elif step.status != "ok" and self.status == "ok":
            self.status = "failed"
            self.add_reason(f"{step.name} exited {step.returncode}: {step.tail}")

    def fail(self, reason: str, status: str = "failed") -> None:
        """Mark the part ``status`` (unless it already timed out or failed) and add ``reason``."""
        self.status = status if self.status == "ok" else self.status
        self.add_reason(reason)

    def add_reason(self, reason: str) -> None:
        """Append ``reason`` to the part's reason (``; `` between them)."""
        self.reason = join_reasons(self.reason, reason)


def join_reasons(*parts: str) -> str:
    """The non-empty ``parts`` joined by ``; ``."""
    return "; ".join(p for p in parts if p)


def check_counts(parts: Sequence[PartResult]) -> dict[str, int]:
    """How many checks of ``parts`` passed, failed, were skipped or are figures only."""
    counts = dict.fromkeys(CHECK_STATUSES, 0)
    for part in parts:
        for check in part.checks:
            counts[check.status] = counts.get(check.status, 0) + 1
    return counts


def is_ok(parts: Sequence[PartResult]) -> bool:
    """No failed check and no failed or timed-out part."""
    return check_counts(parts)["fail"] == 0 and all(p.status in ("ok", "skipped") for p in parts)
