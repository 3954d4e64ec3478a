"""Speed regressions are real, not noise: same code twice passes ``--fail-on speed:1.10``, an
injected 1.5x slowdown fails it, and the nightly alert uses the same rule.

Runs take 10 repeats (the ``--full`` default): with 5, the smallest that can reach the test's
level, the 99% interval spans every pairwise ratio, so one slow repeat in the baseline (a busy
machine) is enough to keep a real slowdown below the threshold.

The slowdown is injected deterministically: the ``sleepy`` pair of ``tests/pairs/verdict_pairs.py``
sleeps in its forward call, 1.5 times longer when ``PAIRBENCH_TEST_SLOWDOWN=1.5`` is set in
the environment of the run (its workers inherit it). Nothing here asserts a measured time.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import PAIRS, pairbench, run_tiny

from suite.results.runs import open_run

#: ``tests/pairs/verdict_pairs.py``'s slowdown variable. Not imported from there: importing that file
#: registers its pairs in this process, and every later test would see them in the registry.
SLOWDOWN_ENV = "PAIRBENCH_TEST_SLOWDOWN"

pytestmark = pytest.mark.slow

SLEEPY = "sleepy.sequential.predict.eager.cpu.float32.det-off.tiny"


def _run(results: Path, run_id: str, *, slowdown: str | None = None, repeats: int = 10) -> None:
    run_tiny(
        results,
        *("--pairs-from", str(PAIRS / "verdict_pairs.py"), "--pairs", "sleepy", "--members", "sequential"),
        *("--workloads", "predict", "--modes", "eager,function", "--repeats", str(repeats)),
        *("--no-fp64", "--no-localise", "--no-report", "--run-id", run_id),
        *("--steps", "1"),  # one forward call of outputs per repeat: outputs are not the point
        env={SLOWDOWN_ENV: slowdown} if slowdown else {},
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """``base`` and ``same`` (same code), ``slow`` (1.5x sleep), laid out as nightly runs (the
    newest is the new night). Too few repeats never being significant, and ``compare`` saying
    so, is checked on synthetic runs (``test_runs.py``): the rule does not depend on the run."""
    results = tmp_path_factory.mktemp("speed") / "nightly"
    _run(results, "20260101-000000-base")
    _run(results, "20260101-000001-same")
    _run(results, "20260101-000002-slow", slowdown="1.5")
    return results


def _compare(results: Path, a: str, b: str, *extra: str):
    return pairbench("compare", a, b, "--results-dir", str(results), *extra)


def test_same_code_twice_passes_the_speed_gate(runs):
    proc = _compare(runs, "20260101-000000-base", "20260101-000001-same", "--fail-on", "speed:1.10", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["failures"] == [] and len(data["cases"]) == 2
    for case in data["cases"]:
        test = case["speed_test"]
        assert test["n_a"] == test["n_b"] == 10 and test["p_value"] is not None  # it was tested


def test_an_injected_slowdown_fails_the_speed_gate(runs):
    proc = _compare(runs, "20260101-000000-base", "20260101-000002-slow", "--fail-on", "speed:1.10")
    assert proc.returncode == 1, proc.stdout[-3000:]
    line = next(ln for ln in proc.stderr.splitlines() if SLEEPY in ln)
    assert line.startswith(f"regression: {SLEEPY}: 1.") and "x slower (significant: p=" in line


def _nightly(tmp_path: Path, runs: Path, baseline: str, new: str) -> tuple[object, object]:
    """``step_compare`` of a nightly whose folder holds ``baseline`` and then ``new``."""
    from suite.ops.nightly import NightlyOptions, step_compare
    from suite.ops.summary import NightlyResult

    nightly = tmp_path / new / "nightly"
    for run_id in (baseline, new):
        shutil.copytree(runs / run_id, nightly / run_id)
    result = NightlyResult()
    step = step_compare(
        NightlyOptions(results_dir=nightly.parent, fail_on="speed:1.10"), open_run(new, nightly), result
    )
    assert result.baseline == baseline
    return step, result


def test_the_nightly_alert_uses_the_same_rule(runs, tmp_path):
    same, _ = _nightly(tmp_path, runs, "20260101-000000-base", "20260101-000001-same")
    assert same.status == "ok", same.detail
    slow, result = _nightly(tmp_path, runs, "20260101-000000-base", "20260101-000002-slow")
    assert slow.status == "regression", slow.detail
    assert any(r.startswith(f"{SLEEPY}: 1.") for r in result.regressions)
