"""The report on the terminal (rich), in the order of ``report.html``: problems first.

Headline, problems (controls that were not caught first), the controls in one line, the
verdict matrix (one coloured ``■`` per case), the speed table, then the results table
(reasons left out to stay narrow: they are in the problems list and in report.md/.html).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from suite.report.overview import MODE_LABELS, Overview, overview, speed_text
from suite.report.table import AXES, COMPACT_HEADERS, display_groups
from suite.verdicts import LOOKS, mark_style_of, row_style_of

if TYPE_CHECKING:
    from suite.report.summary import Summary


def _print_matrix(console: Any, view: Overview) -> None:
    from rich.table import Table
    from rich.text import Text

    matrix = view.matrix
    if not matrix.rows:
        return
    table = Table(
        title="Verdicts (one ■ per case)", title_justify="left", header_style="bold", pad_edge=False
    )
    table.add_column("pair")
    table.add_column("member")
    for w, m in matrix.columns:
        table.add_column(f"{w}\n{MODE_LABELS.get(m, m)}", no_wrap=True)
    for i, (pair, member, control) in enumerate(matrix.rows):
        cells: list[Any] = [
            Text(pair),
            Text(f"{member} (control)", style="italic dim") if control else Text(member),
        ]
        for j in range(len(matrix.columns)):
            text = Text()
            for mark in matrix.cells.get((i, j)) or []:
                text.append(
                    "·" if mark is None else "■",
                    style=None if mark is None else mark_style_of(mark.verdict),
                )
            cells.append(text)
        table.add_row(*cells)
    console.print(table)
    used = {m.verdict for marks in matrix.cells.values() for m in marks if m is not None}
    legend = Text()
    for verdict in LOOKS:
        if verdict in used:
            legend.append("■ ", style=mark_style_of(verdict)).append(f"{verdict}  ")
    if matrix.worst_only:
        legend.append("(one mark per cell: the worst verdict)", style="dim")
    elif matrix.sub_axes:
        legend.append(f"(marks in a cell: {' | '.join('·'.join(k) for k in matrix.sub_keys)})", style="dim")
    console.print(legend)


def _print_speed(console: Any, view: Overview) -> None:
    from rich.table import Table
    from rich.text import Text

    header, rows = speed_text(view)
    if not rows:
        return
    table = Table(title="Speed: step ms median \\[p10–p90], × = speed-up over eager", title_justify="left")
    for col in header:
        numeric = col.endswith((" ms", " ×"))
        table.add_column(col, justify="right" if numeric else "left", no_wrap=col.endswith(" ms"))
    for cells in rows:
        table.add_row(*(Text(c) for c in cells))
    console.print(table)
    if view.speed_total > len(rows):
        console.print(f"(first {len(rows)} of {view.speed_total:,} rows)", style="dim")


def print_report(
    console: Any,
    frame: Any,
    *,
    title: str,
    summary: Summary,
    group_by: Sequence[str] = (),
    shown: tuple[Any, int] | None = None,
    view: Overview | None = None,
) -> None:
    """Print the summary, problems, controls, verdict matrix, speed table and results table.

    Args:
        console: a ``rich.console.Console``.
        frame: an arranged report frame (every case).
        title: the report title.
        summary: the report's summary.
        group_by: group keys (one results table per group).
        shown: ``(rows, left out)`` of the results table (default: every row).
        view: the verdict matrix and speed table (default: computed from ``frame``).
    """
    from rich.table import Table
    from rich.text import Text

    rows, left_out = shown if shown is not None else (frame, 0)
    console.print(Text(title, style="bold"))
    console.print(summary.headline)
    for finding in summary.findings:
        kind = "CONTROL NOT CAUGHT " if finding.control else ""
        style = row_style_of(finding.verdict) or "bold red"
        console.print(Text(f"{kind}{finding.verdict}: {finding.case_id}: {finding.text}", style=style))
    if summary.more_findings:
        console.print(f"... and {summary.more_findings} more problems (table.parquet)")
    if not summary.findings and len(frame):
        console.print(Text("No problems: every case is identical or close (controls aside).", style="green"))
    if summary.controls.line:
        console.print(Text(summary.controls.line, style="bold red" if summary.controls.unexpected else "dim"))
    if summary.not_run:
        console.print(Text(summary.not_run, style="dim"))
    view = overview(frame) if view is None else view
    _print_matrix(console, view)
    _print_speed(console, view)
    constants, groups = display_groups(rows, group_by, compact=True)
    if constants:
        console.print(Text(" · ".join(f"{k}: {v}" for k, v in constants.items()), style="dim"))
    for heading, table in groups:
        rt = Table(title=heading or None, show_lines=False, header_style="bold", title_justify="left")
        verdicts = rows.loc[table.index, "verdict"].astype(str).tolist()
        table = table.drop(columns=[c for c in ("reason",) if c in table.columns])
        for col in table.columns:
            left = col in (*AXES, "case", "verdict")
            header = (
                ".".join(a for a in AXES if a not in (*constants, *group_by))
                if col == "case"
                else COMPACT_HEADERS[col]
            )
            rt.add_column(header, justify="left" if left else "right", no_wrap=True)
        for row, verdict in zip(table.itertuples(index=False), verdicts, strict=True):
            rt.add_row(*(Text(str(v)) for v in row), style=row_style_of(verdict))
        console.print(rt)
    if left_out:
        console.print(
            f"({left_out:,} identical/close cases not listed: see report.md or table.parquet)", style="dim"
        )
