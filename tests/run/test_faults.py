"""Fault injection against real runs (issue 13): signals, kill -9, torn lines, disk full,
read-only folders, concurrent resumes. Each test asserts that no finished record is lost or
recorded twice and that a resumed run keeps the settings it started with.

The runs use ``tests/pairs/fault_pairs.py``: while the hold file exists the ``subclass`` member
waits in its builder, so every fault hits the same point (4 of 6 records on disk). No float64
references (``--no-fp64``): one worker process per run, the faults are the point.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PAIRS, ROOT, pairbench

from suite.results.run_dir import RunDir

pytestmark = pytest.mark.slow

FAULT_PAIRS = PAIRS / "fault_pairs.py"
N_ALL = 6  # 3 members x 2 modes
N_HELD = 4  # everything but the two subclass cases


def _cmd(results: Path, pairs_file: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "suite",
        "run",
        "--pairs-from",
        str(pairs_file),
        "--pairs",
        "held",
        "--workloads",
        "predict",
        "--modes",
        "eager,function",
        "--sizes",
        "tiny",
        "--results-dir",
        str(results),
        "--no-report",
        "--quiet",
        "--no-fp64",
        *("--min-sample-time", "0.005", "--max-warmup", "0"),  # timing is not the point here
        *extra,
    ]


def _env(hold: Path | None) -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("PAIRBENCH_TEST_HOLD", None)
    if hold is not None:
        env["PAIRBENCH_TEST_HOLD"] = str(hold)
    return env


def _lines(run: Path) -> list[str]:
    return (run / "records.jsonl").read_text().splitlines()


def _ids(run: Path) -> list[str]:
    return [json.loads(line)["case_id"] for line in _lines(run)]


def _start_held_run(tmp_path: Path, results: Path) -> tuple[subprocess.Popen, Path]:
    """Start a run of :data:`FAULT_PAIRS` whose held member waits while ``tmp_path/hold`` exists, and
    wait until its first records are in: the process and the run folder."""
    hold = tmp_path / "hold"
    hold.touch()
    proc = subprocess.Popen(
        _cmd(results, FAULT_PAIRS), env=_env(hold), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return proc, _wait_for_records(results, N_HELD, proc)


def _wait_for_records(results: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [p for p in results.iterdir() if (p / "records.jsonl").is_file()] if results.exists() else []
        if runs and len(_lines(runs[0])) >= n:
            return runs[0]
        if proc.poll() is not None:
            pytest.fail(f"the run ended early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"fewer than {n} records after {timeout} s")


def _workers_of(run: Path) -> list[int]:
    """Pids of live worker processes whose command line names this run folder."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "suite.run.child" in cmd and str(run) in cmd:
                pids.append(int(entry.name))
    return pids


def _no_workers_within(run: Path, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _workers_of(run):
            return True
        time.sleep(0.2)
    return False


def _resume(results: Path, run: Path, *extra: str, hold: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "suite", "run", "--resume", run.name, "--results-dir", str(results), *extra],
        env=_env(hold),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )


def _assert_complete(run: Path, before: list[str]) -> None:
    """Every record written before the fault is still there, unchanged; nothing twice; all cases done."""
    lines = _lines(run)
    assert lines[: len(before)] == before, "a finished record changed or was lost"
    ids = _ids(run)
    assert len(ids) == len(set(ids)) == N_ALL, ids


@pytest.fixture(scope="module")
def held_run(tmp_path_factory) -> tuple[Path, Path]:
    """A run started with non-default settings and stopped by Ctrl-C with 4 of 6 records.

    Ctrl-C keeps the finished cases, exits 130 saying how to resume and leaves the run
    ``interrupted``; the tests below resume copies of it (only the missing cases run).
    Returns ``(results_dir, pairs_file)``; tests copy the run before changing it.
    """
    base = tmp_path_factory.mktemp("held")
    pairs_file = base / "my_pairs.py"
    shutil.copy(FAULT_PAIRS, pairs_file)
    hold = base / "hold"
    hold.touch()
    results = base / "results"
    extra = ("--seed", "7", "--repeats", "2", "--timeout", "300", "--no-localise", "--run-id", "r")
    proc = subprocess.Popen(
        _cmd(results, pairs_file, *extra),
        env=_env(hold),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = _wait_for_records(results, N_HELD, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert f"--resume {run.name}" in err
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    assert len(_lines(run)) == N_HELD
    return results, pairs_file


def _copy(held_run: tuple[Path, Path], dest: Path) -> tuple[Path, Path]:
    results, _ = held_run
    shutil.copytree(results, dest / "results", symlinks=True)
    return dest / "results", dest / "results" / "r"


# SIGHUP goes through the same handler as SIGTERM (suite.errors.stop_on_signals, checked for both
# in tests/test_errors.py): one real run is enough for the two
@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_sigterm_and_sighup_stop_like_ctrl_c(tmp_path, signum):
    results = tmp_path / "results"
    proc, run = _start_held_run(tmp_path, results)
    assert _workers_of(run), "the held worker should be running"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err[-2000:]
    assert len(err.strip().splitlines()) == 1 and signal.Signals(signum).name in err and "--resume" in err
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert _no_workers_within(run), "a worker outlived the stopped run"
    assert len(set(_ids(run))) == len(_ids(run)) == N_HELD


def test_parent_killed_with_9_leaves_no_worker_and_resume_loses_nothing(tmp_path):
    results = tmp_path / "results"
    proc, run = _start_held_run(tmp_path, results)
    assert _workers_of(run)
    proc.kill()
    proc.wait(timeout=30)
    assert _no_workers_within(run), "the worker became an orphan"
    before = _lines(run)
    first_logs = {p.name for p in (run / "logs").glob("worker-*.log")}
    resumed = _resume(results, run, "--no-report")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_complete(run, before)
    logs = {p.name for p in (run / "logs").glob("worker-*.log")}
    assert first_logs and first_logs < logs, logs  # the first invocation's logs are kept


def test_killed_worker_is_an_error_row_quoting_why_and_retry_errors_reruns_it(tmp_path):
    results = tmp_path / "results"
    proc, run = _start_held_run(tmp_path, results)
    (worker,) = _workers_of(run)
    os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    errors = [json.loads(x) for x in _lines(run) if json.loads(x)["verdict"] == "error"]
    assert {r["case"]["member"] for r in errors} == {"subclass"} and len(errors) == 2
    assert all("worker died (signal 9)" in r["reason"] for r in errors)
    assert all("cudart_stub" not in r["reason"] and "absl" not in r["reason"] for r in errors)
    before = _lines(run)
    (tmp_path / "hold").unlink()
    resumed = _resume(results, run, "--retry-errors", "--no-report")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _lines(run)[: len(before)] == before
    latest = {r.case_id: r for r in RunDir(run).records()}
    assert len(latest) == N_ALL and not [r for r in latest.values() if r.verdict == "error"]


def test_resume_keeps_the_settings_of_run_json_and_refuses_to_change_them(held_run, tmp_path):
    """A resume refuses other settings, keeps run.json's, and quarantines a torn last line (one
    resume for both: each is what a resume must keep)."""
    results, run = _copy(held_run, tmp_path)
    _, pairs_file = held_run
    options_before = json.loads((run / "run.json").read_text())["options"]
    changed = _resume(results, run, "--seed", "0")
    assert changed.returncode == 2 and "--seed cannot be changed" in changed.stderr
    assert len(changed.stderr.strip().splitlines()) == 1
    before = _lines(run)
    # and a crash in the middle of a write left a torn last line: the resume quarantines it, and
    # it never swallows the record written after it
    with open(run / "records.jsonl", "a") as fh:
        fh.write('{"case": {"pair": "held", "member": "subcl')
    resumed = _resume(results, run, "--no-report")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_complete(run, before)
    quarantined = [json.loads(x) for x in (run / "records.quarantine.jsonl").read_text().splitlines()]
    assert len(quarantined) == 1 and quarantined[0]["line"] == N_HELD + 1
    assert quarantined[0]["text"].startswith('{"case"')
    meta = json.loads((run / "run.json").read_text())
    assert meta["options"] == options_before and meta["status"] == "finished"
    assert options_before["seed"] == 7 and options_before["repeats"] == 2
    assert options_before["pairs_from"][0]["path"] == str(pairs_file.resolve())
    assert len(meta["invocations"]) == 2
    records = [json.loads(x) for x in _lines(run)]
    timed = [r for r in records if r["case"]["precision"] == "float32"]
    assert {r["timing"]["repeats"] for r in timed} == {2}
    # same seed as the reference member: the resumed subclass rows are bitwise equal to it
    assert {r["verdict"] for r in timed if r["case"]["mode"] == "eager"} == {"identical"}


def test_resume_refuses_a_changed_pairs_file(held_run, tmp_path):
    _, pairs_file = held_run
    results, run = _copy(held_run, tmp_path)
    original = pairs_file.read_text()
    try:
        pairs_file.write_text(original + "\n# edited\n")
        proc = _resume(results, run)
        assert proc.returncode == 2 and "changed since the run started" in proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        pairs_file.write_text(original)


def test_two_resumes_of_one_run_never_record_a_case_twice(held_run, tmp_path):
    results, run = _copy(held_run, tmp_path)
    hold = tmp_path / "hold"
    hold.touch()
    first = subprocess.Popen(
        [sys.executable, "-m", "suite", "run", "--resume", "r", "--results-dir", str(results), "--no-report"],
        env=_env(hold),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not _workers_of(run):
        time.sleep(0.2)
    assert _workers_of(run), "the first resume did not start its worker"
    second = _resume(results, run, "--no-report")
    assert second.returncode == 2, second.stderr
    assert "in use by another pairbench process" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    hold.unlink()
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    ids = _ids(run)
    assert len(ids) == len(set(ids)) == N_ALL


@contextlib.contextmanager
def _tmpfs(path: Path, size: str):
    path.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {proc.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
    return filler


def test_disk_full_fails_the_run_with_one_line_and_resume_loses_nothing(held_run, tmp_path):
    with _tmpfs(tmp_path / "disk", "8m") as disk:
        results, run = _copy(held_run, disk)
        before = _lines(run)
        filler = _fill(disk)
        proc = _resume(results, run, "--no-report")
        assert proc.returncode == 1, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert "disk full" in proc.stderr
        meta = json.loads((run / "run.json").read_text())
        assert meta["status"] == "failed" and "disk full" in meta["failure"]
        assert _lines(run) == before
        filler.unlink()
        resumed = _resume(results, run, "--no-report")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        _assert_complete(run, before)


def _chattr(flag: str, path: Path) -> bool:
    """``chattr`` on a folder and every folder below it (files stay writable, no file can be created)."""
    folders = [path, *(p for p in path.rglob("*") if p.is_dir())]
    return all(subprocess.run(["chattr", flag, str(p)], capture_output=True).returncode == 0 for p in folders)


def test_immutable_run_folder_fails_with_one_line_and_resume_loses_nothing(held_run, tmp_path):
    results, run = _copy(held_run, tmp_path)
    before = _lines(run)
    if not _chattr("+i", run):
        pytest.skip("chattr +i is not available here (needs root and a file system that supports it)")
    try:
        proc = _resume(results, run, "--no-report")
    finally:
        _chattr("-i", run)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "operation not permitted" in proc.stderr
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    assert _lines(run) == before
    resumed = _resume(results, run, "--no-report")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_complete(run, before)


def test_an_immutable_results_dir_is_refused_before_anything_runs(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    if not _chattr("+i", results):
        pytest.skip("chattr +i is not available here")
    try:
        proc = pairbench("run", "--pairs", "mlp_seed", "--results-dir", str(results))
    finally:
        _chattr("-i", results)
    assert proc.returncode == 2 and "not writable" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not any(results.iterdir())
