"""Workers end with the run, whatever they do on their way out (issue 27).

A worker that sent every record but never exits (a non-daemon thread, a GPU driver's teardown,
an allocator deadlocked after a failed allocation) is killed after a grace period: the run
finishes with every record and ``run.json`` says ``finished``. A parent killed with ``kill -9``
while the device probe runs leaves no probe process behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, only_run, read_records

pytestmark = pytest.mark.slow

HANGS_AT_EXIT = """
import threading
import time

import keras
import numpy as np

from suite.zoo import Batch, Pair, register_pair


@register_pair
class HangsAtExit(Pair):
    name = "hangs_at_exit"
    sizes = {"tiny": {"batch": 4}}
    loss = "mse"

    def inputs(self, hp, seed):
        rng = np.random.default_rng(seed)
        x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
        return Batch(x.astype("float32"), y.astype("float32"))

    def sequential(self, hp):
        # only workers build members: this worker cannot exit while the thread sleeps
        threading.Thread(target=time.sleep, args=(3600,), name="never-ends").start()
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def test_a_worker_that_never_exits_is_killed_and_the_run_finishes(tmp_path):
    pairs = tmp_path / "exit_pairs.py"
    pairs.write_text(HANGS_AT_EXIT)
    results = tmp_path / "results"
    argv = ["run", "--pairs-from", str(pairs), "--pairs", "hangs_at_exit", "--workloads", "predict"]
    argv += ["--modes", "eager", "--sizes", "tiny", "--devices", "cpu", "--no-fp64", "--no-localise"]
    argv += ["--repeats", "1", "--timeout", "600", "--no-report", "--quiet", "--results-dir", str(results)]
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "suite", *argv],
        env=_env(PAIRBENCH_EXIT_GRACE_S="2"),
        capture_output=True,
        text=True,
        timeout=300,  # the --timeout of 600 s is not what ends the worker
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = only_run(results)
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert [r["verdict"] for r in read_records(run).values()] == ["identical"]
    logs = " ".join(p.read_text() for p in (run / "logs").glob("worker-*.log"))
    assert "did not exit within 2 s after its output closed: killed" in logs
    assert time.monotonic() - start < 240


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":
                found.append(
                    (int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
                )
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_parent_killed_during_the_probe_leaves_no_probe_behind(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "suite",
            "run",
            "--pairs",
            "mlp_seed",
            "--results-dir",
            str(tmp_path),
            "--quiet",
        ],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        deadline, probe = time.monotonic() + 120, None
        while probe is None and time.monotonic() < deadline and proc.poll() is None:
            probe = next((pid for pid, cmd in _children(proc.pid) if "suite.run.child --probe" in cmd), None)
            time.sleep(0.05)
        assert probe is not None, "no probe process seen"
        time.sleep(0.5)  # the probe has set its parent-death signal (the first thing it does)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        gone_by = time.monotonic() + 1.5  # importing TensorFlow alone takes longer
        while _alive(probe) and time.monotonic() < gone_by:
            time.sleep(0.05)
        assert not _alive(probe), "the probe outlived its parent"
    finally:
        if proc.poll() is None:
            proc.kill()
