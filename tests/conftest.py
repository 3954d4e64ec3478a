"""Shared fixtures: real runs of the CLI, shared per test session to keep CI short."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
#: test-only pair files, for ``--pairs-from`` (``chaos_pairs.py``, ``fault_pairs.py``, ...)
PAIRS = TESTS / "pairs"
#: helper modules the tests import by name (``fake_runs``, ``pairtest``, ``browser_client``)
HELPERS = TESTS / "helpers"

# Test files live in one folder per area of suite/ (tests/run/, tests/zoo/, ...) and import the
# helpers and the pair files by module name, wherever they are.
for _folder in (HELPERS, PAIRS):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


#: run options for real runs whose timing is not what a test checks: two repeats (reruns still
#: compared), 5 ms samples, no warm-up beyond the calibration
QUICK_TIMING = ("--repeats", "2", "--min-sample-time", "0.005", "--max-warmup", "0")

#: ``pairbench nightly`` options of the smallest nightly (tests/pairs/nightly_pairs.py): two cases
#: (sequential and subclass, eager predict), no float64 reference, one worker a night
TINY_NIGHTLY_ARGS = (
    "--matrix",
    "quick",
    "--pairs-from",
    str(PAIRS / "nightly_pairs.py"),
    "--pairs",
    "nightly_probe",
    "--modes",
    "eager",
    "--workloads",
    "predict",
    "--repeats",
    "2",
    "--no-localise",
    "--no-fp64",
    "--quiet",
)


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
    """``pairbench run --quick`` into a fresh results dir (the README's main job): the quick matrix
    (every pair and member, both workloads, float64 references), its 3 repeats and the report;
    in eager and XLA only, with 5 ms samples, no warm-up and no localisation. No test of this run
    checks the function mode, timing or localisation (other runs and ``tests/measure`` do), and
    without them it takes 40% less CPU time."""
    results = tmp_path_factory.mktemp("quick")
    proc = pairbench(
        "run",
        "--quick",
        *("--modes", "eager,xla"),
        *("--min-sample-time", "0.005", "--max-warmup", "0", "--no-localise"),
        "--results-dir",
        str(results),
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return only_run(results)


@pytest.fixture(scope="session")
def chaos_run(tmp_path_factory) -> Path:
    """The nondeterministic test pair with determinism off and on."""
    results = tmp_path_factory.mktemp("chaos")
    proc = pairbench(
        "run",
        "--pairs-from",
        str(PAIRS / "chaos_pairs.py"),
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
        "--no-fp64",  # one worker per determinism setting, no float64 reference job
        *("--min-sample-time", "0.005", "--max-warmup", "0"),  # 3 repeats: the reruns are the point
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return only_run(results)


#: the plan of the scale-out tests (issue 18): 2 members x 2 workloads x 2 modes x (cpu, gpu:0),
#: two clusters (one per workload) so shards and cluster buckets both get work; gpu:0 cases are
#: ``unsupported`` on a machine without a GPU, the same way everywhere. Where the cases run is
#: the point, not their timing or a float64 reference.
SCALE_PLAN = (
    "--pairs-from",
    str(PAIRS / "fault_pairs.py"),
    "--pairs",
    "held",
    "--members",
    "sequential,functional",
    "--workloads",
    "predict,train_step",
    "--modes",
    "eager,function",
    "--devices",
    "cpu,gpu:0",
    "--sizes",
    "tiny",
    "--no-report",
    "--no-fp64",
    *QUICK_TIMING,
)


@pytest.fixture(scope="session")
def scale_baseline(tmp_path_factory) -> tuple[Path, float]:
    """:data:`SCALE_PLAN` run by one worker at a time (``--executor serial``): (run, wall seconds)."""
    import time

    results = tmp_path_factory.mktemp("scale-baseline")
    t0 = time.monotonic()
    proc = pairbench("run", *SCALE_PLAN, "--executor", "serial", "--results-dir", str(results))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return only_run(results), time.monotonic() - t0


@pytest.fixture
def clean_registry():
    """Built-ins loaded, and whatever a test registers removed afterwards."""
    from suite.zoo import base, load_builtin_pairs

    load_builtin_pairs()
    before = dict(base._REGISTRY)
    yield
    base._REGISTRY.clear()
    base._REGISTRY.update(before)


def verdicts(run_dir: Path) -> dict[str, str]:
    """case_id -> verdict of a run folder (asserting no case was recorded twice)."""
    lines = [json.loads(x) for x in (run_dir / "records.jsonl").read_text().splitlines() if x.strip()]
    ids = [r["case_id"] for r in lines]
    assert len(ids) == len(set(ids)), (
        f"a case was recorded twice: {sorted(i for i in ids if ids.count(i) > 1)}"
    )
    return {r["case_id"]: r["verdict"] for r in lines}


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


def pytest_configure(config: pytest.Config) -> None:
    """Give SIGINT back its default handler when the suite was started with it ignored.

    A shell starts an asynchronous command (``make test &`` in a script, a CI step run in the
    background) with SIGINT ignored, and every process it starts inherits that: a ``pairbench
    run`` child would then never see the Ctrl-C the fault tests send it. Handled (not ignored),
    SIGINT is reset to the default in each child at exec, as in a terminal.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
