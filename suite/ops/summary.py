"""The nightly's outcome: its steps, one paragraph for an alert, and the files it is written to."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from suite.results.atomic import atomic_write, text_writer
from suite.results.names import LATEST_SUMMARY, NIGHTLY_SUMMARY, REPORT_HTML
from suite.results.run_dir import RunDir
from suite.text import clean_line
from suite.verdicts import ERROR, INCOMPARABLE

#: version of the summary's JSON (``nightly-summary.json``)
SUMMARY_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Step:
    """One step's outcome: ``status`` is ``ok``, ``skipped``, ``failed`` or ``regression``."""

    name: str
    status: str
    detail: str
    seconds: float = 0.0


@dataclass
class NightlyResult:
    """What a nightly did; ``paragraph`` is the alert text."""

    status: str = "ok"
    exit_code: int = 0
    machine: str = ""
    hostname: str = ""
    git_commit: str | None = None
    matrix: str | None = None
    run_id: str | None = None
    run_dir: str | None = None
    baseline: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    regressions: list[str] = field(default_factory=list)
    removed_runs: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""
    paragraph: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``schema_version`` first)."""
        return {"schema_version": SUMMARY_SCHEMA_VERSION, **asdict(self)}


def summary_paragraph(result: NightlyResult) -> str:
    """One paragraph for an alert: the verdict first, then one sentence per step."""
    commit = result.git_commit[:10] if result.git_commit else "unknown commit"
    failed = [s.name for s in result.steps if s.status == "failed"]
    if failed:
        head = f"FAILED ({', '.join(failed)})"
    elif result.regressions:
        head = f"REGRESSION: {len(result.regressions)} case(s) worse than {result.baseline}"
    else:
        head = "OK"
    loud = [
        f"{counts[key]} case(s) {text}"
        for counts, key, text in (
            (result.counts, ERROR, f"with verdict {ERROR}"),
            (result.counts, INCOMPARABLE, INCOMPARABLE),
            (result.flags, "non-finite", "with NaN/Inf outputs"),
        )
        if counts.get(key)
    ]
    if loud:
        head += f" ({', '.join(loud)})"
    host = f" ({result.hostname})" if result.hostname and result.hostname != result.machine else ""
    parts = [f"pairbench nightly on {result.machine}{host}, {commit}: {head}."]
    for step in result.steps:
        parts.append(f"{step.name} {step.status}: {step.detail.rstrip('.')}.")
    if result.run_dir:
        parts.append(f"Report: {Path(result.run_dir) / REPORT_HTML}.")
    return clean_line(" ".join(" ".join(p.split()) for p in parts))  # asv's output, case ids, reasons


def write_summary(result: NightlyResult, folder: Path) -> list[Path]:
    """Write ``nightly-summary.{txt,json}`` into the run and ``latest-summary.*`` into ``folder``
    (the nightly folder, next to the runs)."""
    texts = {
        ".txt": result.paragraph + "\n",
        ".json": json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n",
    }
    written = []
    for suffix, text in texts.items():
        path = folder / f"{LATEST_SUMMARY}{suffix}"
        atomic_write(path, text_writer(text))
        written.append(path)
        if result.run_dir:
            written.append(RunDir(Path(result.run_dir)).write_text(f"{NIGHTLY_SUMMARY}{suffix}", text))
    return written
