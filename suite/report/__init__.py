"""Reports of one run: terminal table, ``report.md``, ``report.html``, ``table.csv``/``.parquet``, plots.

The runner calls :func:`write_report` at the end of ``pairbench run``; ``pairbench report``
calls it on an existing run. Everything is derived from the run folder (``records.jsonl``
and ``run.json``), so a report can be rebuilt at any time.
"""

from __future__ import annotations

from suite.report.provenance import provenance_items
from suite.report.summary import Finding, Summary, summarize
from suite.report.table import report_frame
from suite.report.writer import write_report

__all__ = [
    "Finding",
    "Summary",
    "provenance_items",
    "report_frame",
    "summarize",
    "write_report",
]
