"""The report as one self-contained HTML file (``report.html``).

Inline CSS, plots embedded as base64 PNG, no JavaScript and no external resource, so
the file can be mailed, archived as a CI artifact or opened offline.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suite.report.table import AXES, DISPLAY_HEADERS, display_groups

if TYPE_CHECKING:
    from suite.report.summary import Summary

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem; color: #1b1f24; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; } h3 { font-size: 1rem; }
table { border-collapse: collapse; font-size: 0.82rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: 0.2rem 0.45rem; vertical-align: top; }
th { background: #f3f4f6; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.v-nondeterministic td { background: #fff3c4; }
tr.v-diverged td { background: #ffd7d5; }
tr.v-error td { background: #ffe6e6; color: #8a1010; }
tr.v-structural-mismatch td { background: #f1e3ff; }
tr.v-incomparable td { background: #f1e3ff; }
tr.v-non-finite td, tr.flag-non-finite td { background: #ffd7d5; }
tr.v-reference-unavailable td { background: #f6f0ff; }
tr.v-unsupported td { color: #6e7781; }
td.verdict { font-weight: 600; white-space: nowrap; }
.headline { font-size: 1.05rem; font-weight: 600; }
.highlight { background: #fff3c4; border-left: 4px solid #d4a72c; padding: 0.5rem 0.8rem; }
.constants, .note { color: #57606a; }
code { font-size: 0.85em; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #d0d7de; }
table.prov td:first-child { font-weight: 600; white-space: nowrap; }
"""

_LEFT = {*AXES, "verdict", "reason"}


def img_tag(path: Path, alt: str) -> str:
    """An ``<img>`` with the PNG at ``path`` embedded as a base64 data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def _table(table: Any) -> list[str]:
    cols = list(table.columns)
    out = ['<table class="results">', "<thead><tr>"]
    out += [f"<th>{escape(DISPLAY_HEADERS.get(c, c))}</th>" for c in cols]
    out.append("</tr></thead><tbody>")
    for row in table.itertuples(index=False):
        values = dict(zip(cols, row, strict=True))
        verdict = str(values.get("verdict", ""))
        if "non-finite" in str(values.get("flags", "")):
            verdict += " flag-non-finite"
        cells = []
        for c in cols:
            cls = "verdict" if c == "verdict" else ("" if c in _LEFT else "num")
            attr = f' class="{cls}"' if cls else ""
            cells.append(f"<td{attr}>{escape(str(values[c]))}</td>")
        out.append(f'<tr class="v-{escape(verdict)}">' + "".join(cells) + "</tr>")
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
) -> str:
    """The whole report as a self-contained HTML page.

    Args:
        frame: an arranged report frame.
        title: page title and first heading.
        summary: counts, highlight and findings.
        provenance: ``(label, value)`` pairs for the machine and software block.
        group_by: group keys (a sub-heading and table per group).
        plots: ``{name: png path}``, embedded as base64.
        notes: lines about plots that were skipped.

    Returns:
        The HTML text.
    """
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="headline">{escape(summary.headline)}</p>',
    ]
    if summary.highlight:
        out.append(f'<p class="highlight">{escape(summary.highlight)}</p>')
    if summary.findings:
        out += ["<h2>Findings</h2>", '<table class="findings"><tbody>']
        for f in summary.findings:
            out.append(
                f'<tr class="v-{escape(f.verdict)}"><td class="verdict">{escape(f.verdict)}</td>'
                f"<td><code>{escape(f.case_id)}</code></td><td>{escape(f.text)}</td></tr>"
            )
        out.append("</tbody></table>")
    out.append("<h2>Results</h2>")
    constants, groups = display_groups(frame, group_by, reason_width=None)
    if constants:
        same = ", ".join(f"{escape(k)} <code>{escape(v)}</code>" for k, v in constants.items())
        out.append(f'<p class="constants">Same for every case: {same}</p>')
    for heading, table in groups:
        if heading:
            out.append(f"<h3>{escape(heading)}</h3>")
        out += _table(table)
    out.append(
        '<p class="note">Missing values are shown as —. table.csv and table.parquet next to this file '
        "hold every column (units in the column names; NaN when missing).</p>"
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
