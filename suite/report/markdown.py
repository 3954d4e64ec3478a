"""The report as Markdown (``report.md``); problem rows carry a marker before their verdict."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suite.report.table import DISPLAY_HEADERS, display_groups

if TYPE_CHECKING:
    from suite.report.summary import Summary

#: verdict -> marker put before the verdict in tables and findings
MARKERS: dict[str, str] = {
    "nondeterministic": "⚠",
    "diverged": "✖",
    "error": "✖",
    "structural-mismatch": "≠",
    "incomparable": "?",
    "unsupported": "∅",
    "non-finite": "⚠",
    "reference-unavailable": "?",
}


#: characters Markdown gives a meaning to in running text (emphasis, code, links, table cells);
#: "_" is left alone: inside words (layer names such as dense_1) it never means emphasis
_MD_SPECIAL = re.compile(r"([\\`*|\[])")


def escape(text: Any) -> str:
    """Make a user-supplied string (pair name, reason, description) plain text in Markdown.

    Markdown punctuation is backslash-escaped, HTML is written as entities (so ``<script>``
    shows as text and never runs), and newlines become spaces (one line per table row).
    """
    out = html.escape(" ".join(str(text).splitlines()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", out)


def code(text: Any) -> str:
    """A code span (case ids): literal text in Markdown; backticks and newlines cannot break it."""
    return "`" + " ".join(str(text).splitlines()).replace("`", "'") + "`"


def cell(text: Any) -> str:
    """Escape a value for a Markdown table cell (see :func:`escape`)."""
    return escape(text)


class Markup(str):
    """Markdown written by pairbench itself: put in a cell as it is, not escaped."""


def marked(verdict: str) -> Markup:
    """``⚠ **nondeterministic**`` for problem verdicts, the verdict itself otherwise."""
    marker = MARKERS.get(verdict)
    return Markup(f"{marker} **{escape(verdict)}**" if marker else escape(verdict))


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Lines of a pipe table; cells are escaped unless they are :class:`Markup`."""

    def one(value: Any) -> str:
        return value if isinstance(value, Markup) else cell(value)

    lines = ["| " + " | ".join(one(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(one(v) for v in row) + " |" for row in rows]
    return lines


def render_markdown(
    frame: Any,
    *,
    title: str,
    summary: Summary,
    provenance: list[tuple[str, str]],
    group_by: Sequence[str] = (),
    plots: dict[str, Path] | None = None,
    notes: Sequence[str] = (),
    base: Path | None = None,
) -> str:
    """The whole report as Markdown.

    Args:
        frame: an arranged report frame.
        title: first heading.
        summary: counts, highlight and findings.
        provenance: ``(label, value)`` pairs for the machine and software block.
        group_by: group keys (a sub-heading and table per group).
        plots: ``{name: png path}``; linked relative to ``base``.
        notes: lines about plots that were skipped.
        base: the folder ``report.md`` lives in (for relative image links).

    Returns:
        The Markdown text.
    """
    out = [f"# {escape(title)}", "", f"**{escape(summary.headline)}**", ""]
    if summary.highlight:
        out += [f"> ⚠ {escape(summary.highlight)}", ""]
    if summary.findings:
        out += ["## Findings", ""]
        out += [f"- {marked(f.verdict)} {code(f.case_id)}: {escape(f.text)}" for f in summary.findings]
        out.append("")
    out += ["## Results", ""]
    constants, groups = display_groups(frame, group_by, reason_width=None)
    if constants:
        out += ["Same for every case: " + ", ".join(f"{k} {escape(v)}" for k, v in constants.items()), ""]
    for heading, table in groups:
        if heading:
            out += [f"### {escape(heading)}", ""]
        cols = list(table.columns)
        rows = [
            [marked(v) if c == "verdict" else v for c, v in zip(cols, row, strict=True)]
            for row in table.itertuples(index=False)
        ]
        out += [*md_table([DISPLAY_HEADERS.get(c, c) for c in cols], rows), ""]
    out += [
        "Missing values are shown as —. `table.csv` and `table.parquet` hold every column "
        "(units in the column names; NaN when missing).",
        "",
    ]
    if plots or notes:
        out += ["## Plots", ""]
        for name, path in (plots or {}).items():
            rel = os.path.relpath(path, base) if base else str(path)
            out += [f"![{name}]({Path(rel).as_posix()})", ""]
        out += [f"- {escape(n)}" for n in notes]
        out.append("")
    out += ["## Machine and software", "", *md_table(["", ""], provenance), ""]
    return "\n".join(out)
