"""Append-only run storage: ``<results-dir>/<run-id>/{run.json,records.jsonl,...}``.

A record is appended, flushed and fsynced as soon as its case finishes, so a crash
or Ctrl-C never loses a finished case. Loading tolerates a corrupt line: it is
reported with its line number and the other lines still load.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from suite.errors import UsageError
from suite.record import Record

RECORDS = "records.jsonl"
RUN_META = "run.json"
DEFAULT_RESULTS_DIR = Path("results")


class CorruptLineWarning(UserWarning):
    """A line of ``records.jsonl`` could not be parsed (the rest still loads)."""


def new_run_id(now: datetime | None = None) -> str:
    """A sortable run id, ``YYYYmmdd-HHMMSS`` in UTC (suffixed if needed by :func:`create_run`)."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S")


@dataclass(frozen=True)
class RunDir:
    """One run's folder."""

    path: Path

    @property
    def run_id(self) -> str:
        """The folder name."""
        return self.path.name

    @property
    def records_path(self) -> Path:
        """``records.jsonl``."""
        return self.path / RECORDS

    @property
    def meta_path(self) -> Path:
        """``run.json``."""
        return self.path / RUN_META

    def sub(self, *parts: str) -> Path:
        """A path inside the run folder (parents created)."""
        p = self.path.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def append(self, record: Record) -> None:
        """Append one record and make it durable (flush + fsync)."""
        line = record.to_json()
        with open(self.records_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Write ``run.json`` atomically."""
        tmp = self.meta_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str), encoding="utf-8")
        os.replace(tmp, self.meta_path)

    def read_meta(self) -> dict[str, Any]:
        """``run.json`` as a dict (empty if missing)."""
        if not self.meta_path.exists():
            return {}
        try:
            return json.loads(self.meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{self.meta_path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None

    def iter_records(self) -> Iterator[Record]:
        """Yield every parseable record; warn (:class:`CorruptLineWarning`) with the line number
        for each line that is not."""
        if not self.records_path.exists():
            return
        with open(self.records_path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield Record.from_dict(json.loads(line))
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    warnings.warn(
                        f"{self.records_path}:{lineno}: corrupt record skipped ({exc})",
                        CorruptLineWarning,
                        stacklevel=2,
                    )

    def records(self) -> list[Record]:
        """All parseable records, last one wins when a case appears twice."""
        latest: dict[str, Record] = {}
        for rec in self.iter_records():
            latest[rec.case_id] = rec
        return list(latest.values())

    def finished_case_ids(self) -> set[str]:
        """Case ids that already have a record (for ``--resume``)."""
        return {r.case_id for r in self.records()}


def create_run(results_dir: Path, run_id: str | None = None) -> RunDir:
    """Create a new run folder under ``results_dir`` (never reuses an existing one)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    base = run_id or new_run_id()
    candidate, n = base, 1
    while (results_dir / candidate).exists():
        if run_id:
            raise UsageError(f"run {run_id!r} already exists in {results_dir}; use --resume {run_id}")
        n += 1
        candidate = f"{base}-{n}"
    path = results_dir / candidate
    path.mkdir()
    return RunDir(path)


def list_runs(results_dir: Path) -> list[RunDir]:
    """Run folders under ``results_dir`` (those with ``run.json``), oldest first."""
    if not results_dir.is_dir():
        return []
    runs = [RunDir(p) for p in results_dir.iterdir() if (p / RUN_META).is_file()]
    return sorted(runs, key=lambda r: (r.read_meta().get("started_at", ""), r.run_id))


def open_run(ref: str | Path, results_dir: Path = DEFAULT_RESULTS_DIR) -> RunDir:
    """Find a run by id (under ``results_dir``), by path, or ``latest``.

    Raises:
        UsageError: if there is no such run.
    """
    ref_s = str(ref)
    if ref_s == "latest":
        runs = list_runs(results_dir)
        if not runs:
            raise UsageError(f"no runs in {results_dir}")
        return runs[-1]
    for cand in (Path(ref_s), results_dir / ref_s):
        if cand.is_dir() and ((cand / RUN_META).exists() or (cand / RECORDS).exists()):
            return RunDir(cand)
    raise UsageError(f"no run {ref_s!r} (looked in {results_dir} and as a path)")


def load_frame(run: RunDir | str | Path, results_dir: Path | str = DEFAULT_RESULTS_DIR):
    """A run's records as a pandas DataFrame: see :func:`suite.frame.load_frame`."""
    from suite.frame import load_frame as _load_frame

    return _load_frame(run, results_dir)
