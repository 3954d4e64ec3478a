"""The records and plans of the check's run folders, read through
:class:`suite.results.run_dir.RunDir` as plain dicts (what ``records.jsonl`` holds), and the
small helpers the parts' checks share.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from suite.errors import UsageError
from suite.results.run_dir import CorruptLineWarning, RunDir


def run_records(run_dir: Path, *, latest: bool = True) -> list[dict[str, Any]]:
    """The records of a run folder as dicts; a damaged line (a run killed mid-write) is skipped.

    Args:
        run_dir: the run folder.
        latest: one record per case, the last one (:meth:`RunDir.records`); False: every
            record in the order of the file.

    Returns:
        The records (empty when the run has none or its records file cannot be read).
    """
    run = RunDir(run_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptLineWarning)  # a run cut by the time box, by design
        try:
            found = run.records() if latest else list(run.iter_records())
        except UsageError:
            return []
    return [json.loads(rec.to_json()) for rec in found]


def run_plan(run_dir: Path) -> list[dict[str, Any]]:
    """The planned cases of a run (:meth:`RunDir.read_plan`; empty when missing or unreadable)."""
    try:
        return RunDir(run_dir).read_plan()
    except UsageError:
        return []


def has_plan(run_dir: Path) -> bool:
    """Whether the run wrote its plan."""
    return RunDir(run_dir).plan_path.exists()


def case_key(case: dict[str, Any]) -> str:
    """A case's axes as one hashable text (plans and records compare by it)."""
    return json.dumps(case, sort_keys=True)


def missing_cases(run_dir: Path) -> list[dict[str, Any]]:
    """The planned cases of a run that have no record (one empty case if it has no plan)."""
    have = {case_key(case_of(r)) for r in run_records(run_dir)}
    plan = run_plan(run_dir)
    return [c for c in plan if case_key(c) not in have] if plan else [{}]


def case_of(rec: dict[str, Any]) -> dict[str, Any]:
    """A record's case axes."""
    return rec.get("case") or {}


def is_gpu(rec: dict[str, Any]) -> bool:
    """The record's case ran on a GPU (``gpu:N``)."""
    return is_gpu_device(case_of(rec).get("device", ""))


def is_gpu_device(device: Any) -> bool:
    """``gpu:N`` (or ``gpu``)."""
    return str(device).startswith("gpu")


def label(rec: dict[str, Any], *axes: str) -> str:
    """Some axes of a record's case joined by dots (``embedding.function``)."""
    case = case_of(rec)
    return ".".join(str(case.get(a)) for a in axes)


def num(value: Any, digits: int = 3) -> Any:
    """A float rounded to ``digits`` significant digits (anything else as it is)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    return value


def rerun(rec: dict[str, Any]) -> dict[str, Any]:
    """The record's rerun comparison (``runs``, ``distinct``...; empty without one)."""
    return (rec.get("divergence") or {}).get("rerun") or {}


def distinct(rec: dict[str, Any]) -> str:
    """``distinct/runs`` of the record's reruns (``?`` for what is unknown)."""
    found = rerun(rec)
    return f"{found.get('distinct', '?')}/{found.get('runs', '?')}"


def same_case(rec: dict[str, Any]) -> tuple[Any, ...]:
    """The axes a case shares with its ``vs_cpu`` reference (device and precision aside)."""
    c = case_of(rec)
    return tuple(c.get(a) for a in ("pair", "member", "workload", "mode", "size", "determinism"))


def all_sampled(rows: list[Any]) -> bool:
    """``rows`` is not empty and each is a positive integer (NVML samples, peak bytes)."""
    return bool(rows) and all(isinstance(v, int) and v > 0 for v in rows)


def speedups(records: list[dict[str, Any]]) -> dict[str, Any]:
    """CPU median step time / GPU median step time per (pair, member, workload, mode), float32."""
    steps: dict[tuple, dict[str, float]] = {}
    for r in records:
        c = case_of(r)
        median = (r.get("timing") or {}).get("step_s_median")
        if c.get("precision") != "float32" or not median:
            continue
        key = (c["pair"], c["member"], c["workload"], c["mode"])
        steps.setdefault(key, {})["gpu" if is_gpu(r) else "cpu"] = float(median)
    return {
        ".".join(k): num(v["cpu"] / v["gpu"]) for k, v in sorted(steps.items()) if "cpu" in v and "gpu" in v
    }
