"""The names in a results folder: every file and folder of a run, and the rule for a safe name.

The only module that spells them. ``<results-dir>/<run-id>/`` holds:

- :data:`RUN_META` (``run.json``): the run's metadata and its options, whole;
- :data:`PLAN` (``plan.json``): the cases of the matrix;
- :data:`RECORDS` (``records.jsonl``): one record per finished case, appended by the one
  writer (the parent process, holding :data:`LOCK`);
- :data:`QUARANTINE`: lines that were not records, moved out with their line numbers;
- :data:`OUTPUTS` ``/<case_id>.npz``: the numbers each case is compared by;
- :data:`LOGS` ``/``: one log per worker process, job files, :data:`TRACEBACKS` ``/<case_id>.txt``;
- :data:`TRACES` ``/<case_id>/``, :data:`KERNELS` ``/<case_id>.csv``, :data:`TELEMETRY`
  ``/<name>.csv``: profiling;
- derived files, made anew from the above at any time (:data:`DERIVED`): the report
  (:data:`REPORT_MD`, :data:`REPORT_HTML`, :data:`TABLE_CSV`, :data:`TABLE_PARQUET`,
  :data:`PLOTS`), :data:`COMPARE_JSON`, the nightly's summaries and :data:`CACHE`.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from suite.errors import UsageError

#: where run folders go unless ``--results-dir`` says otherwise
DEFAULT_RESULTS_DIR = Path("results")

RUN_META = "run.json"
PLAN = "plan.json"
RECORDS = "records.jsonl"
QUARANTINE = "records.quarantine.jsonl"
LOCK = ".lock"
OUTPUTS = "outputs"
LOGS = "logs"
TRACEBACKS = "tracebacks"
TRACES = "traces"
KERNELS = "kernels"
TELEMETRY = "telemetry"
CACHE = "cache"

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
TABLE_CSV = "table.csv"
TABLE_PARQUET = "table.parquet"
PLOTS = "plots"
#: the report's files, in the order they are listed
REPORT_FILES: tuple[str, ...] = (REPORT_MD, REPORT_HTML, TABLE_CSV, TABLE_PARQUET)
COMPARE_JSON = "compare.json"
#: ``nightly-summary.txt``/``.json`` in a nightly's run folder
NIGHTLY_SUMMARY = "nightly-summary"
#: ``latest-summary.txt``/``.json`` in the nightly folder
LATEST_SUMMARY = "latest-summary"
#: the folder of nightly runs and the asv site under a results folder
NIGHTLY_DIR = "nightly"
ASV_DIR = "asv"
HTML_DIR = "html"

#: the run's own state, made anew by a merge rather than copied
STATE: frozenset[str] = frozenset({RUN_META, PLAN, RECORDS, QUARANTINE, LOCK})
#: top-level entries derived from the rest of the folder (reports, caches, summaries): never
#: copied from one run into another, always rebuilt
DERIVED: frozenset[str] = frozenset({*REPORT_FILES, PLOTS, COMPARE_JSON, CACHE})

#: a run id or a file-name component: letters, digits, ``._-+``; no leading dot or dash
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}$")


def is_derived(name: str) -> bool:
    """Whether a top-level entry of a run folder is derived (see :data:`DERIVED`)."""
    return name in DERIVED or name.startswith(NIGHTLY_SUMMARY)


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is a plain folder name, else raise a one-line :class:`UsageError`.

    Run ids never contain path separators, newlines or ``..``, and do not start with a dot
    or a dash, so they can never address a path outside the results folder.
    """
    if not isinstance(run_id, str) or not _SAFE_NAME.match(run_id) or ".." in run_id:
        raise UsageError(
            f"invalid run id {run_id!r}: use letters, digits, '.', '_', '-' or '+' "
            "(no path separators, no leading dot or dash, at most 200 characters)"
        )
    return run_id


def safe_component(name: str, what: str = "name") -> str:
    """Return ``name`` if it can be used as one file-name component inside a run folder.

    Raises:
        UsageError: the name has a path separator, a newline, ``..`` or a leading dot/dash.
    """
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise UsageError(f"{what} {name!r} cannot be used as a file name in the run folder")
    return name


def new_run_id(now: datetime | None = None) -> str:
    """A sortable run id, ``YYYYmmdd-HHMMSS`` in UTC (suffixed if needed when the folder exists)."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S")
