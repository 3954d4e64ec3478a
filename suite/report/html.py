"""The report as one self-contained HTML file (``report.html``).

Inline CSS, plots embedded as base64 PNG, no JavaScript and no external resource, so the
file can be mailed, archived as a CI artifact or opened offline.

The first screen answers "is anything wrong, and what is fast?": the verdict counts, the
real problems (controls that were not caught first), the controls in one line, then the
verdict matrix (one coloured mark per case, linking to its row) next to the speed table.
Details follow: findings with their full reasons, the results table (long reasons folded
in ``<details>``), plots, machine and software. Nothing is wider than a laptop screen
(1366 px): long words wrap, tables fit the page.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suite.report.overview import MODE_LABELS, Overview, VerdictMatrix, overview
from suite.report.table import DISPLAY_HEADERS, display_groups, fmt_number
from suite.text import clean_line
from suite.verdicts import CONTROL_EXPECTED, LOOKS, NOT_RUN, colour_of

if TYPE_CHECKING:
    from suite.report.summary import Summary


def escape(text: Any) -> str:
    """Text for HTML: control characters and escape sequences dropped (:func:`suite.text.clean_line`),
    then ``&<>"'`` written as entities."""
    return html.escape(clean_line(text), quote=True)


#: mode -> matrix column label (narrow columns: the matrix and the speed table share the first screen)
MODE_SHORT = {"eager": "eager", "function": "fn", "xla": "XLA"}
#: reasons longer than this are folded
FOLD_AT = 90

CSS = """
html { -webkit-text-size-adjust: 100%; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1rem 1.25rem; color: #1b1f24;
  max-width: 100%; overflow-wrap: anywhere; font-size: 15px; }
h1 { font-size: 1.15rem; margin: 0 0 .3rem; } h2 { font-size: 1.05rem; margin: 1.6rem 0 .4rem; }
h3 { font-size: .95rem; margin: .8rem 0 .3rem; }
table { border-collapse: collapse; font-size: .78rem; margin: .3rem 0 .8rem; max-width: 100%; }
th, td { border: 1px solid #d0d7de; padding: .15rem .35rem; vertical-align: top; }
th { background: #f3f4f6; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; overflow-wrap: normal; }
th { overflow-wrap: normal; }
.status { margin: .2rem 0 .5rem; }
.headline { font-size: .95rem; font-weight: 600; margin: .2rem 0; }
.problems { border-left: 4px solid #cf222e; background: #fff5f5; padding: .3rem .6rem; margin: .4rem 0;
  font-size: .85rem; }
.problems ul { margin: .2rem 0; padding-left: 1.1rem; } .problems li { margin: .1rem 0; }
.ok { border-left: 4px solid #2da44e; background: #f0fff4; padding: .3rem .6rem; margin: .4rem 0;
  font-size: .85rem; }
.controls { font-size: .85rem; color: #57606a; margin: .2rem 0; }
.controls.loud { color: #cf222e; font-weight: 700; border: 2px solid #cf222e; padding: .3rem .5rem; }
.first { display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; align-items: flex-start; }
.first > section { min-width: 0; max-width: 100%; }
.first h2 { margin: .4rem 0 .2rem; }
.speed .note { font-size: .68rem; width: 0; min-width: 100%; }
table.matrix, table.speed { font-size: .7rem; margin-top: 0; }
table.matrix td { padding: 0 .15rem; white-space: nowrap; line-height: 0; }
table.matrix th { white-space: nowrap; padding: 0 .3rem; line-height: 1.1; }
table.speed th, table.speed td { white-space: nowrap; padding: 0 .3rem; line-height: 1.3; }
table.matrix th.ctl { color: #57606a; font-weight: 400; font-style: italic; }
a.m { display: inline-block; width: 9px; height: 9px; margin: 1px; border-radius: 2px;
  vertical-align: middle; }
span.m0 { display: inline-block; width: 7px; height: 7px; margin: 1px; border: 1px dashed #d0d7de;
  vertical-align: middle; }
a.m.flag { outline: 2px solid #1b1f24; outline-offset: -1px; }
a.m.ctl { opacity: .45; }
a.m.bad { outline: 2px solid #cf222e; outline-offset: 1px; opacity: 1; }
.legend { font-size: .7rem; color: #57606a; margin: 0 0 .2rem; line-height: 1.4; width: 0; min-width: 100%; }
.legend span.k { display: inline-block; width: 10px; height: 10px; border-radius: 2px; vertical-align: -1px;
  margin-right: 2px; }
table.speed td.best { font-weight: 700; }
table.results { width: 100%; }
table.results td.verdict { font-weight: 600; }
table.results td.case { overflow-wrap: normal; }
tr.v-nondeterministic td { background: #fff3c4; }
tr.v-diverged td { background: #ffd7d5; }
tr.v-error td { background: #ffe6e6; color: #8a1010; }
tr.v-incomparable td { background: #ddf4ff; }
tr.v-structural-mismatch td { background: #f1e3ff; }
tr.ctl td { background: #f6f8fa !important; color: #57606a; }
tr.v-unsupported td { color: #6e7781; }
tr:target td { outline: 2px solid #0969da; }
details summary { cursor: pointer; }
.note, .constants { color: #57606a; font-size: .8rem; }
code { font-size: .85em; }
figure { margin: .8rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
table.prov td:first-child { font-weight: 600; white-space: nowrap; }
"""


def img_tag(path: Path, alt: str) -> str:
    """An ``<img>`` with the PNG at ``path`` embedded as a base64 data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def anchor(case_id: str) -> str:
    """The ``id`` of a case's row in the results table."""
    return f"c-{case_id}"


def folded(text: str, limit: int = FOLD_AT) -> str:
    """Escaped text; longer than ``limit`` it is folded in ``<details>`` behind its first words."""
    if len(text) <= limit:
        return escape(text)
    head = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return f"<details><summary>{escape(head)} …</summary>{escape(text)}</details>"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + " …"


def _case_link(case_id: str, label: str, linked: set[str]) -> str:
    if case_id in linked:
        return f'<a href="#{escape(anchor(case_id))}">{escape(label)}</a>'
    return escape(label)


def _status(summary: Summary, linked: set[str]) -> list[str]:
    """Headline, one line per kind of problem (details in Findings), the controls, what did not run."""
    out = [f'<p class="headline">{escape(summary.headline)}</p>']
    if summary.findings:
        kinds: dict[tuple[bool, str], list[Any]] = {}
        for f in summary.findings:
            kinds.setdefault((f.control, f.verdict), []).append(f)
        n = len(summary.findings) + summary.more_findings
        out.append(f'<div class="problems"><strong>{n} problem{"s" if n != 1 else ""}</strong> '
                   '(<a href="#findings">details</a>):<ul>')  # fmt: skip
        for (control, verdict), found in kinds.items():
            kind = f"control not caught: {verdict}" if control else verdict
            links = _case_link(found[0].anchor, found[0].case_id, linked)
            more = f" +{len(found) - 1}" if len(found) > 1 else ""
            text = escape(_short(found[0].text, 80))
            out.append(f"<li><strong>{escape(kind)}</strong> ×{len(found)}: {links}{more} — {text}</li>")
        out.append("</ul></div>")
    else:
        out.append('<p class="ok">No problems: every case is identical or close (controls aside).</p>')
    if summary.controls.line:
        loud = " loud" if summary.controls.unexpected else ""
        out.append(f'<p class="controls{loud}">{escape(summary.controls.line)}</p>')
    if summary.not_run:
        out.append(f'<p class="controls">{escape(summary.not_run)}</p>')
    return out


def _legend(matrix: VerdictMatrix, verdicts: set[str]) -> str:
    keys = " ".join(
        f'<span class="k" style="background:{colour_of(v)}"></span>{escape(v)}'
        for v in LOOKS
        if v in verdicts
    )
    extra = ["faded: control", "outlined: flagged"]
    if matrix.worst_only:
        extra.append("one mark per cell: the worst verdict of its cases")
    elif matrix.sub_axes:
        order = " | ".join("·".join(k) for k in matrix.sub_keys)
        extra.append(f"marks in a cell ({escape('·'.join(matrix.sub_axes))}): {escape(order)}")
    return f'<p class="legend">{keys} — {"; ".join(extra)}</p>'


def render_matrix(matrix: VerdictMatrix, linked: set[str]) -> list[str]:
    """The verdict matrix as an HTML table (one coloured mark per case, linking to its row)."""
    if not matrix.rows:
        return ['<p class="note">No cases.</p>']
    workloads: dict[str, int] = {}
    for w, _ in matrix.columns:
        workloads[w] = workloads.get(w, 0) + 1
    verdicts = {m.verdict for marks in matrix.cells.values() for m in marks if m is not None}
    out = [_legend(matrix, verdicts), '<table class="matrix"><thead><tr><th rowspan="2">pair</th>',
           '<th rowspan="2">member</th>']  # fmt: skip
    out += [f'<th colspan="{n}">{escape(w)}</th>' for w, n in workloads.items()]
    out.append("</tr><tr>")
    out += [
        f'<th title="{escape(MODE_LABELS.get(m, m))}">{escape(MODE_SHORT.get(m, m))}</th>'
        for _, m in matrix.columns
    ]
    out.append("</tr></thead><tbody>")
    spans: dict[str, int] = {}
    for pair, _, _ in matrix.rows:
        spans[pair] = spans.get(pair, 0) + 1
    seen: set[str] = set()
    for i, (pair, member, control) in enumerate(matrix.rows):
        cells = []
        if pair not in seen:
            seen.add(pair)
            cells.append(f'<th rowspan="{spans[pair]}">{escape(pair)}</th>')
        label = f"{member} (control)" if control else member
        cells.append(f'<th class="{"ctl" if control else ""}">{escape(label)}</th>')
        for j in range(len(matrix.columns)):
            marks = matrix.cells.get((i, j))
            if not marks:
                cells.append("<td></td>")
                continue
            html = []
            for mark in marks:
                if mark is None:
                    html.append('<span class="m0"></span>')
                    continue
                cls = ["m"]
                if mark.flagged:
                    cls.append("flag")
                if control:
                    cls.append("bad" if mark.verdict not in (*CONTROL_EXPECTED, *NOT_RUN) else "ctl")
                href = f' href="#{escape(anchor(mark.case_id))}"' if mark.case_id in linked else ""
                colour = colour_of(mark.verdict)
                style = f'style="background:{colour}"'
                html.append(f'<a class="{" ".join(cls)}"{href} title="{escape(mark.title)}" {style}></a>')
            cells.append("<td>" + "".join(html) + "</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if matrix.hidden_rows:
        out.append(f'<p class="note">{matrix.hidden_rows} more (pair, member) rows with only identical/close '
                   "cases are not shown; table.parquet has every case.</p>")  # fmt: skip
    return out


def render_speed(view: Overview) -> list[str]:
    """The speed table: step time per mode [p10–p90] and the speed-up over eager, per pair."""
    modes, rows = view.modes, view.speed
    if not rows:
        return ['<p class="note">No case was timed.</p>']
    key_axes = list(rows[0].key)
    out = ['<table class="speed"><thead><tr><th>pair</th>']
    out += [f"<th>{escape(a)}</th>" for a in key_axes]
    out += [f"<th>{escape(MODE_LABELS.get(m, m))} ms</th>" for m in modes]
    out += [f"<th>{escape(MODE_LABELS.get(m, m))} ×</th>" for m in modes if m != "eager"]
    out.append("</tr></thead><tbody>")
    for row in rows:
        best = min(row.step_ms, key=lambda m: row.step_ms[m][0])
        cells = [f"<td>{escape(row.pair)}</td>", *(f"<td>{escape(row.key[a])}</td>" for a in key_axes)]
        for m in modes:
            if m not in row.step_ms:
                cells.append('<td class="num">—</td>')
                continue
            med, lo, hi = row.step_ms[m]
            cls = "num best" if m == best and len(row.step_ms) > 1 else "num"
            spread = f'<span class="note">[{fmt_number(lo)}–{fmt_number(hi)}]</span>'
            cells.append(f'<td class="{cls}">{fmt_number(med)} {spread}</td>')
        for m in modes:
            if m != "eager":
                value = row.speedup.get(m)
                cells.append(f'<td class="num">{f"{value:.2f}×" if value else "—"}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    note = (
        "median over the pair's members (controls left out); [p10–p90] over their repeats; × = eager / mode"
    )
    if view.speed_total > len(rows):
        note += f"; first {len(rows)} of {view.speed_total:,} rows (table.parquet has every case)"
    out.append(f'<p class="note">{escape(note)}.</p>')
    return out


def _results_table(table: Any, frame: Any) -> list[str]:
    cols = list(table.columns)
    out = ['<table class="results">', "<thead><tr>"]
    out += [f"<th>{escape(DISPLAY_HEADERS.get(c, c))}</th>" for c in cols]
    out.append("</tr></thead><tbody>")
    source = frame.loc[table.index]
    for row, (case_id, verdict, control) in zip(
        table.itertuples(index=False),
        zip(source["case_id"], source["verdict"].astype(str), source["control"].fillna(False), strict=True),
        strict=True,
    ):
        values = dict(zip(cols, row, strict=True))
        cells = []
        for c in cols:
            text = str(values[c])
            if c == "reason":
                cells.append(f"<td>{folded(text)}</td>")
            elif c == "verdict":
                cells.append(f'<td class="verdict">{escape(text)}</td>')
            elif c in (
                "case",
                "pair",
                "member",
                "workload",
                "mode",
                "device",
                "precision",
                "determinism",
                "size",
            ):
                cells.append(f"<td>{escape(text)}</td>")
            else:
                cells.append(f'<td class="num">{escape(text)}</td>')
        cls = f"v-{verdict}" + (" ctl" if control else "")
        out.append(f'<tr id="{escape(anchor(case_id))}" class="{escape(cls)}">' + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return out


def render_html(
    frame: Any,
    *,
    title: str,
    summary: Summary,
    provenance: list[tuple[str, str]],
    group_by: Sequence[str] = (),
    plots: dict[str, Path] | None = None,
    notes: Sequence[str] = (),
    view: Overview | None = None,
    shown: Any = None,
) -> str:
    """The whole report as a self-contained HTML page.

    Args:
        frame: an arranged report frame (every case: the matrix and speed table use all).
        title: page title and first heading.
        summary: counts, problems, controls.
        provenance: ``(label, value)`` pairs for the machine and software block.
        group_by: group keys (a sub-heading and table per group).
        plots: ``{name: png path}``, embedded as base64.
        notes: lines about plots that were skipped, and about rows left out.
        view: the verdict matrix and speed table (default: computed from ``frame``).
        shown: the rows of the results table (default ``frame``; see ``write_report``'s cap).

    Returns:
        The HTML text.
    """
    view = overview(frame) if view is None else view
    shown = frame if shown is None else shown
    linked = set(shown["case_id"])
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        *_status(summary, linked),
        '<div class="first"><section id="matrix"><h2>Verdicts</h2>',
        *render_matrix(view.matrix, linked),
        '</section><section id="speed"><h2>Speed</h2>',
        *render_speed(view),
        "</section></div>",
    ]
    if summary.findings:
        out += ['<h2 id="findings">Findings</h2>', '<table class="findings"><tbody>']
        for f in summary.findings:
            kind = "control not caught: " if f.control else ""
            label = _case_link(f.anchor, f.case_id, linked)
            out.append(
                f'<tr class="v-{escape(f.verdict)}"><td class="verdict">{escape(kind + f.verdict)}</td>'
                f"<td><code>{label}</code></td><td>{folded(f.text)}</td></tr>"
            )
        out.append("</tbody></table>")
        if summary.more_findings:
            out.append(f'<p class="note">{summary.more_findings} more findings: see table.parquet.</p>')
    out.append('<h2 id="results">Results</h2>')
    constants, groups = display_groups(shown, group_by, reason_width=None, join_axes=True)
    if constants:
        same = ", ".join(f"{escape(k)} <code>{escape(v)}</code>" for k, v in constants.items())
        out.append(f'<p class="constants">Same for every case: {same}</p>')
    for heading, table in groups:
        if heading:
            out.append(f"<h3>{escape(heading)}</h3>")
        out += _results_table(table, shown)
    out.append(
        '<p class="note">Missing values are shown as —. table.csv and table.parquet next to this file '
        "hold every column (units in the column names; see docs/columns.md).</p>"
    )
    if plots or notes:
        out.append("<h2>Plots</h2>")
        for name, path in (plots or {}).items():
            out.append(f"<figure>{img_tag(path, name)}<figcaption>{escape(name)}</figcaption></figure>")
        out += [f'<p class="note">{escape(n)}</p>' for n in notes]
    out += ["<h2>Machine and software</h2>", '<table class="prov"><tbody>']
    out += [f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in provenance]
    out += ["</tbody></table>", "</body></html>", ""]
    return "\n".join(out)
