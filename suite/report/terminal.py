"""The report as a rich table on the terminal, problem rows coloured."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from suite.report.table import AXES, COMPACT_HEADERS, display_groups

if TYPE_CHECKING:
    from suite.report.summary import Summary

#: verdict -> rich style of the whole row
ROW_STYLES: dict[str, str] = {
    "nondeterministic": "bold yellow",
    "diverged": "bold red",
    "error": "red",
    "structural-mismatch": "magenta",
    "incomparable": "bold magenta",
    "unsupported": "dim",
    "non-finite": "bold red",
    "reference-unavailable": "magenta",
}


def print_report(
    console: Any,
    frame: Any,
    *,
    title: str,
    summary: Summary,
    group_by: Sequence[str] = (),
) -> None:
    """Print the summary, one table per group, and the problem cases with their reasons.

    The terminal table leaves out ``reason`` to stay narrow: the reasons of problem cases
    are printed below it, and every reason is in ``report.md``/``report.html``.

    Args:
        console: a ``rich.console.Console``.
        frame: an arranged report frame.
        title: the table title.
        summary: the report's summary (printed above the table).
        group_by: group keys (one table per group).
    """
    from rich.table import Table
    from rich.text import Text

    console.print(Text(title, style="bold"))
    console.print(summary.headline)
    if summary.highlight:
        console.print(Text(summary.highlight, style="bold yellow"))
    constants, groups = display_groups(frame, group_by, compact=True)
    if constants:
        console.print(Text(" · ".join(f"{k}: {v}" for k, v in constants.items()), style="dim"))
    for heading, table in groups:
        rt = Table(title=heading or None, show_lines=False, header_style="bold", title_justify="left")
        table = table.drop(columns=[c for c in ("reason",) if c in table.columns])
        for col in table.columns:
            left = col in (*AXES, "case", "verdict")
            header = (
                ".".join(a for a in AXES if a not in (*constants, *group_by))
                if col == "case"
                else COMPACT_HEADERS[col]
            )
            rt.add_column(header, justify="left" if left else "right", no_wrap=True)
        for row in table.itertuples(index=False):
            values = [str(v) for v in row]
            verdict = values[list(table.columns).index("verdict")]
            style = ROW_STYLES.get(verdict)
            if (
                style is None
                and "flags" in table.columns
                and "non-finite" in values[list(table.columns).index("flags")]
            ):
                style = ROW_STYLES["non-finite"]
            rt.add_row(*values, style=style)
        console.print(rt)
    for finding in summary.findings:
        style = ROW_STYLES.get(finding.verdict, "")
        console.print(Text(f"{finding.verdict}: {finding.case_id}: {finding.text}", style=style))
