"""The report as Markdown (``report.md``); problem rows carry a marker before their verdict."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suite.report.overview import MODE_LABELS, Overview, VerdictMatrix, overview, speed_text
from suite.report.table import DISPLAY_HEADERS, display_groups
from suite.text import clean_line
from suite.verdicts import LOOKS, marker_of, symbol_of

if TYPE_CHECKING:
    from suite.report.summary import Summary


#: characters Markdown gives a meaning to in running text (emphasis, code, links, table cells);
#: "_" is left alone: inside words (layer names such as dense_1) it never means emphasis
_MD_SPECIAL = re.compile(r"([\\`*|\[])")


def escape(text: Any) -> str:
    """Make a user-supplied string (pair name, reason, description) plain text in Markdown.

    Markdown punctuation is backslash-escaped, HTML is written as entities (so ``<script>``
    shows as text and never runs), newlines become spaces (one line per table row), and
    control characters and terminal escape sequences are dropped (:func:`suite.text.clean_line`).
    """
    out = html.escape(" ".join(clean_line(text).splitlines()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", out)


def code(text: Any) -> str:
    """A code span (case ids): literal text in Markdown; backticks and newlines cannot break it."""
    return "`" + " ".join(clean_line(text).splitlines()).replace("`", "'") + "`"


def cell(text: Any) -> str:
    """Escape a value for a Markdown table cell (see :func:`escape`)."""
    return escape(text)


class Markup(str):
    """Markdown written by pairbench itself: put in a cell as it is, not escaped."""


def marked(verdict: str, text: str | None = None) -> Markup:
    """``⚠ **nondeterministic**`` for problem verdicts, the verdict itself otherwise.

    Args:
        verdict: the verdict (chooses the marker).
        text: what to show (default the verdict; e.g. the verdict with its flags).
    """
    marker = marker_of(verdict)
    shown = escape(verdict if text is None else text)
    return Markup(f"{marker} **{shown}**" if marker else shown)


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Lines of a pipe table; cells are escaped unless they are :class:`Markup`."""

    def one(value: Any) -> str:
        return value if isinstance(value, Markup) else cell(value)

    lines = ["| " + " | ".join(one(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(one(v) for v in row) + " |" for row in rows]
    return lines


def matrix_lines(matrix: VerdictMatrix) -> list[str]:
    """The verdict matrix as a Markdown table: one symbol per case (:func:`suite.verdicts.symbol`)."""
    if not matrix.rows:
        return []
    header = ["pair", "member", *(f"{w} {MODE_LABELS.get(m, m)}" for w, m in matrix.columns)]
    rows = []
    for i, (pair, member, control) in enumerate(matrix.rows):
        cells = []
        for j in range(len(matrix.columns)):
            marks = matrix.cells.get((i, j)) or []
            cells.append("".join("·" if m is None else symbol_of(m.verdict) for m in marks))
        rows.append([pair, f"{member} (control)" if control else member, *cells])
    used = {m.verdict for marks in matrix.cells.values() for m in marks if m is not None}
    legend = ", ".join(f"{symbol_of(v)} {v}" for v in LOOKS if v in used)
    if matrix.worst_only:
        legend += "; one symbol per cell: the worst verdict of its cases"
    elif matrix.sub_axes:
        legend += f"; symbols in a cell ({'·'.join(matrix.sub_axes)}): " + " | ".join(
            "·".join(k) for k in matrix.sub_keys
        )
    out = [f"Legend: {escape(legend)}", "", *md_table(header, rows)]
    if matrix.hidden_rows:
        out += [
            "",
            f"{matrix.hidden_rows} more (pair, member) rows with only identical/close cases not shown.",
        ]
    return out


def speed_lines(view: Overview) -> list[str]:
    """The speed table as Markdown (median step ms [p10–p90] per mode, speed-up over eager)."""
    header, table = speed_text(view)
    if not table:
        return []
    note = (
        "Median over the pair's members (controls left out); [p10–p90] over their repeats; × = eager / mode"
    )
    if view.speed_total > len(table):
        note += f"; first {len(table)} of {view.speed_total:,} rows"
    return [*md_table(header, table), "", note + "."]


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
    shown: Any = None,
    view: Overview | None = None,
) -> str:
    """The whole report as Markdown, in the order of ``report.html``: problems first.

    Args:
        frame: an arranged report frame (every case).
        title: first heading.
        summary: counts, problems, controls.
        provenance: ``(label, value)`` pairs for the machine and software block.
        group_by: group keys (a sub-heading and table per group).
        plots: ``{name: png path}``; linked relative to ``base``.
        notes: lines about plots that were skipped, and about rows left out.
        base: the folder ``report.md`` lives in (for relative image links).
        shown: the rows of the results table (default ``frame``).
        view: the verdict matrix and speed table (default: computed from ``frame``).

    Returns:
        The Markdown text.
    """
    shown = frame if shown is None else shown
    view = overview(frame) if view is None else view
    out = [f"# {escape(title)}", "", f"**{escape(summary.headline)}**", ""]
    if summary.highlight:
        out += [f"> ⚠ {escape(summary.highlight)}", ""]
    if summary.findings:
        out += ["## Problems", ""]
        for f in summary.findings:
            kind = "**control not caught** " if f.control else ""
            out.append(f"- {kind}{marked(f.verdict)} {code(f.case_id)}: {escape(f.text)}")
        if summary.more_findings:
            out.append(f"- ... and {summary.more_findings} more (table.parquet)")
        out.append("")
    else:
        out += ["No problems: every case is identical or close (controls aside).", ""]
    if summary.controls.line:
        out += [("**" + escape(summary.controls.line) + "**") if summary.controls.unexpected else
                escape(summary.controls.line), ""]  # fmt: skip
    if summary.not_run:
        out += [escape(summary.not_run), ""]
    matrix = matrix_lines(view.matrix)
    if matrix:
        out += ["## Verdicts", "", *matrix, ""]
    speed = speed_lines(view)
    if speed:
        out += ["## Speed", "", *speed, ""]
    out += ["## Results", ""]
    constants, groups = display_groups(shown, group_by, reason_width=None)
    if constants:
        out += ["Same for every case: " + ", ".join(f"{k} {escape(v)}" for k, v in constants.items()), ""]
    for heading, table in groups:
        if heading:
            out += [f"### {escape(heading)}", ""]
        cols = list(table.columns)
        verdicts = shown.loc[table.index, "verdict"].astype(str)
        rows = [
            [
                marked(v, shown_text) if c == "verdict" else shown_text
                for c, shown_text in zip(cols, row, strict=True)
            ]
            for row, v in zip(table.itertuples(index=False), verdicts, strict=True)
        ]
        out += [*md_table([DISPLAY_HEADERS.get(c, c) for c in cols], rows), ""]
    out += [
        "Missing values are shown as —. `table.csv` and `table.parquet` hold every column "
        "(units in the column names; see docs/columns.md).",
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
