"""Shared fixtures: real runs of the CLI, shared per test session to keep CI short."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def pairbench(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600):
    """Run ``python -m suite ARGS`` in a subprocess; return the CompletedProcess."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "suite", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_records(run_dir: Path) -> dict[str, dict]:
    """case_id -> record dict of a run folder."""
    out = {}
    for line in (run_dir / "records.jsonl").read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            out[rec["case_id"]] = rec
    return out


def only_run(results_dir: Path) -> Path:
    """The single run folder under a results dir."""
    runs = [p for p in results_dir.iterdir() if (p / "run.json").exists()]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> Path:
    """``pairbench run --quick`` into a fresh results dir (the README's main job)."""
    results = tmp_path_factory.mktemp("quick")
    proc = pairbench("run", "--quick", "--results-dir", str(results), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return only_run(results)


@pytest.fixture(scope="session")
def chaos_run(tmp_path_factory) -> Path:
    """The nondeterministic test pair with determinism off and on."""
    results = tmp_path_factory.mktemp("chaos")
    proc = pairbench(
        "run",
        "--pairs-from",
        str(TESTS / "chaos_pairs.py"),
        "--pairs",
        "chaos",
        "--sizes",
        "tiny",
        "--workloads",
        "predict",
        "--modes",
        "eager,xla",
        "--determinism",
        "off,on",
        "--results-dir",
        str(results),
        "--no-report",
        "--profile",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return only_run(results)


def run_tiny(results: Path, *args: str, env: dict | None = None) -> tuple[Path, str]:
    """``pairbench run --sizes tiny --quiet --results-dir RESULTS ARGS`` that must succeed.

    Returns:
        The run folder and the command's stdout.
    """
    proc = pairbench("run", "--sizes", "tiny", "--quiet", "--results-dir", str(results), *args, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_id = next(
        ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("run ") and " finished:" in ln
    )
    return Path(results) / run_id, proc.stdout
