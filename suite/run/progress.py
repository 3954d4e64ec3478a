"""Progress output for ``pairbench run``: a rich bar on a terminal, a plain line per case otherwise."""

from __future__ import annotations

import sys
import time

from suite.results.record import Record
from suite.run.lifecycle import Progress
from suite.text import clean_line
from suite.verdicts import DIFFERING, ERROR, INCOMPARABLE, row_style_of

#: verdicts printed above the bar as they come (structural mismatches are listed by the report:
#: every control gets one)
LIVE: tuple[str, ...] = (*DIFFERING, INCOMPARABLE, ERROR)


class PlainProgress(Progress):
    """One log line per finished case (for CI logs and pipes)."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.t0 = time.monotonic()

    def begin(self, total: int, done: int) -> None:
        """Remember the totals."""
        self.total, self.done = total, done

    def finished(self, record: Record) -> None:
        """``[12/90] mlp.sequential.predict.xla.cpu.float32.det-off.tiny  close  1.23 ms/step``."""
        self.done += 1
        step = record.timing.get("step_s_median")
        timing = f"{step * 1e3:.3f} ms/step" if step else record.reason[:100]
        elapsed = time.monotonic() - self.t0
        flags = f" [{', '.join(record.flags)}]" if record.flags else ""
        where = f"[{self.done}/{self.total} {elapsed:6.1f}s]"
        print(clean_line(f"{where} {record.case_id}  {record.verdict}{flags}  {timing}"), flush=True)

    def message(self, text: str) -> None:
        """Print a line."""
        print(clean_line(text), flush=True)


class QuietProgress(Progress):
    """Nothing at all."""


class RichProgress(Progress):
    """A rich progress bar with the current case, done/total and ETA."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichBar

        self.console = Console()
        self.bar = RichBar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.task = None
        self.counts: dict[str, int] = {}

    def begin(self, total: int, done: int) -> None:
        """Start the bar."""
        self.bar.start()
        self.task = self.bar.add_task("starting", total=total, completed=done)

    def current(self, case_ids: list[str]) -> None:
        """Show the running group."""
        label = case_ids[0] if len(case_ids) == 1 else f"{case_ids[0]} (+{len(case_ids) - 1} modes)"
        from rich.markup import escape

        self.bar.update(self.task, description=escape(clean_line(label)))

    def finished(self, record: Record) -> None:
        """Advance; print notable verdicts above the bar."""
        self.bar.advance(self.task)
        from rich.text import Text

        if record.verdict in LIVE:  # Text: a reason's "[node ...]" is not rich markup
            line = Text.assemble(
                (record.verdict, row_style_of(record.verdict) or ""),
                clean_line(f" {record.case_id}: {record.reason[:160]}"),
            )
            self.bar.console.print(line, highlight=False)
        if "non-finite" in record.flags:
            note = next((n for n in record.notes if n.startswith("non-finite")), "")
            text = clean_line(f" {record.case_id}: {note[:160]}")
            self.bar.console.print(Text.assemble(("non-finite", "red"), text))

    def message(self, text: str) -> None:
        """Print a line above the bar."""
        self.console.print(clean_line(text), markup=False, highlight=False)

    def end(self) -> None:
        """Stop the bar."""
        self.bar.stop()


def make_progress(*, quiet: bool = False) -> Progress:
    """Rich bar on a terminal, plain lines when stdout is not one, nothing with ``quiet``."""
    if quiet:
        return QuietProgress()
    if sys.stdout.isatty():
        return RichProgress()
    return PlainProgress()
