"""``pairbench run --executor ray`` on a real local Ray cluster (issue 18, point 2).

The cluster is a head node (no CPUs of its own, as KubeRay heads usually are) and two worker
node processes on this machine, started with ``ray.cluster_utils.Cluster`` in a temporary
folder: ``w1`` declares one CPU and one GPU (so Ray's GPU scheduling runs: the GPU task gets
``CUDA_VISIBLE_DEVICES``, and TensorFlow finds no GPU there, so ``gpu:0`` cases are
``unsupported`` as in a local run), ``w2`` one CPU. Object stores are the smallest Ray
accepts, and the cluster is shut down whatever happens. The tests check that a matrix gives
the same records as one local worker, and, on one held run, that a worker node killed mid-run
costs nothing (its case runs again on the other node, recorded once) and that the run, then
interrupted, stops its tasks and resumes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import PAIRS, QUICK_TIMING, ROOT, SCALE_PLAN, only_run, pairbench, verdicts

# Ray resolves "127.0.0.1" to the machine's network address unless it believes clusters are
# unsupported here (its switch for laptops): set before Ray is imported, so that the test
# cluster, its driver and its workers all stay on loopback.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip(
    "ray", reason="Ray is not installed (pip install 'pairbench[ray]'); `make test` installs it"
)
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = pytest.mark.slow

OBJECT_STORE = 80 * 2**20  # Ray's minimum is 75 MiB
HELD = ("--pairs-from", str(PAIRS / "fault_pairs.py"), "--pairs", "held", "--members", "sequential,subclass")
HELD += ("--workloads", "predict", "--modes", "eager", "--devices", "cpu", "--sizes", "tiny", "--no-report")
HELD += ("--no-fp64", *QUICK_TIMING)
N_HELD_ALL = 2  # sequential, subclass
N_HELD_DONE = 1  # subclass waits while the hold file exists


@pytest.fixture(scope="module")
def cluster():
    """A head and two worker nodes; always shut down (and their temp folder removed)."""
    temp = tempfile.mkdtemp(prefix="ray18-", dir="/tmp")  # Unix socket paths must stay short
    # Ray writes the address file of the newest cluster under its default temp folder
    # (/tmp/ray/ray_current_cluster), which exists only where Ray ran before: point that folder
    # into ours so that a brand-new machine works and nothing is left behind. Loopback only.
    saved_tmpdir = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = temp
    os.makedirs(os.path.join(temp, "ray"), exist_ok=True)
    common = {"object_store_memory": OBJECT_STORE, "temp_dir": temp, "node_ip_address": "127.0.0.1"}
    made = None
    try:
        made = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 0, "include_dashboard": False, **common},
        )
        nodes = {
            "w1": made.add_node(num_cpus=1, num_gpus=1, **common),
            "w2": made.add_node(num_cpus=1, **common),
        }
        made.wait_for_nodes()
        # a fresh machine has no /tmp/ray: the address file went into our folder, and every
        # node listens on loopback only
        assert (Path(temp) / "ray" / "ray_current_cluster").is_file()
        assert {n.node_ip_address for n in [made.head_node, *nodes.values()]} == {"127.0.0.1"}
        yield made, nodes
    finally:
        if made is not None:
            with contextlib.suppress(Exception):
                made.shutdown()
        if saved_tmpdir is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = saved_tmpdir
        shutil.rmtree(temp, ignore_errors=True)


def _ray_run(cluster, results: Path, *extra: str, hold: Path | None = None) -> subprocess.Popen:
    made, _ = cluster
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("RAY_ADDRESS", None)
    if hold is not None:
        env["PAIRBENCH_TEST_HOLD"] = str(hold)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "suite",
            "run",
            "--executor",
            "ray",
            "--address",
            made.address,
            *extra,
            "--results-dir",
            str(results),
            "--quiet",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _records(run: Path) -> list[dict]:
    path = run / "records.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def _wait_for(results: Path, n: int, proc: subprocess.Popen, timeout: float = 400) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [p for p in results.iterdir() if (p / "run.json").is_file()] if results.exists() else []
        if runs and len(_records(runs[0])) >= n:
            return runs[0]
        if proc.poll() is not None:
            pytest.fail(f"the run ended early ({proc.returncode}): {proc.stderr.read()[-3000:]}")
        time.sleep(0.3)
    proc.kill()
    pytest.fail(f"fewer than {n} records after {timeout} s")


def _children_of(run: Path) -> list[int]:
    """Live ``suite.run.child`` processes working on this run."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if "suite.run.child" in cmd and str(run) in cmd:
                    pids.append(int(entry.name))
    return pids


def _ancestors(pid: int) -> list[int]:
    out = []
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        out.append(pid)
    return out


def _node_running(cluster, pid: int) -> str | None:
    """The name of the worker node whose raylet is an ancestor of ``pid``."""
    _, nodes = cluster
    chain = set(_ancestors(pid))
    for name, node in nodes.items():
        raylets = node.all_processes.get("raylet") or []
        if any(info.process.pid in chain for info in raylets):
            return name
    return None


def _gone_within(run: Path, seconds: float = 30, pids: set[int] | None = None) -> bool:
    """Whether the run's workers (only ``pids`` among them, if given) are gone within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = set(_children_of(run))
        if not (alive & pids if pids is not None else alive):
            return True
        time.sleep(0.3)
    return False


def test_a_matrix_on_the_cluster_gives_the_records_of_one_local_worker(cluster, scale_baseline, tmp_path):
    baseline, local_s = scale_baseline
    t0 = time.monotonic()
    proc = _ray_run(cluster, tmp_path / "results", *SCALE_PLAN)
    _, err = proc.communicate(timeout=900)
    cluster_s = time.monotonic() - t0
    assert proc.returncode == 0, err[-3000:]
    run = only_run(tmp_path / "results")
    assert verdicts(run) == verdicts(baseline)  # same cases, same verdicts, nothing twice
    records = _records(run)
    w1_ids = set()
    for r in records:
        worker = r["extra"]["worker"]
        assert r["extra"]["executor"] == "ray" and worker["ray_node_id"]
        if r["case"]["device"] == "gpu:0":
            assert worker["ray_gpu_ids"] == ["0"] and worker["cuda_visible_devices"] == "0"
            assert worker["pinned_gpu"] == "gpu:0"
            w1_ids.add(worker["ray_node_id"])
        else:
            assert worker["ray_gpu_ids"] == []
    assert len(w1_ids) == 1, "GPU cases run on the node with the GPU"
    units = {r["extra"]["worker"]["unit"] for r in records}
    assert {u.split("-")[0] for u in units} == {"b0", "b1"}, "the plan is spread over both nodes"
    meta = json.loads((run / "run.json").read_text())
    described = meta["invocations"][0]["executor"]
    assert described["executor"] == "ray" and len(described["nodes"]) == 3
    assert meta["options"]["executor"] == "ray" and "address" not in meta["options"]
    print(
        f"\nwall time, same plan: one local worker {local_s:.0f} s, Ray cluster (2 nodes) {cluster_s:.0f} s"
    )


def _one_child(run: Path, but: int | None = None, timeout: float = 120) -> int:
    """The pid of the run's one live worker (other than ``but``), once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [pid for pid in _children_of(run) if pid != but]
        if children:
            (child,) = children
            return child
        time.sleep(0.3)
    pytest.fail(f"no worker of {run.name} started on a node within {timeout:.0f} s")


def test_a_node_killed_mid_run_then_ctrl_c_loses_nothing_and_the_run_resumes(cluster, tmp_path):
    """Both faults of a cluster run on one held run (the cluster loses a node for good, so this
    test runs last): the node running the held case is killed, and the case starts again on
    the other node; Ctrl-C then stops the run and its task on that node; ``--resume`` on the
    cluster finishes it with the settings it started with, nothing lost or recorded twice.
    (The dispatcher's rule, a lost case run again once with ``attempt`` 2 in its record, is
    checked with scripted workers in ``test_scale.py``.)"""
    hold = tmp_path / "hold"
    hold.touch()
    results = tmp_path / "results"
    proc = _ray_run(cluster, results, *HELD, "--run-id", "r", "--seed", "5", hold=hold)
    run = _wait_for(results, N_HELD_DONE, proc)
    child = _one_child(run)
    name = _node_running(cluster, child)
    assert name in ("w1", "w2"), "the held worker runs on a worker node"
    made, nodes = cluster
    before = (run / "records.jsonl").read_text().splitlines()
    assert len(before) == N_HELD_DONE
    killed = nodes.pop(name)
    made.remove_node(killed, allow_graceful=False)
    assert _gone_within(run, pids={child}), "the killed node's worker survived it"
    again = _one_child(run, but=child)
    (other,) = nodes
    assert _node_running(cluster, again) == other, "the lost case runs again on the other node"

    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "--resume" in err and len(err.strip().splitlines()) == 1, err
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    assert _gone_within(run), "a worker outlived the interrupted run on its node"
    assert (run / "records.jsonl").read_text().splitlines() == before

    hold.unlink()
    resumed = pairbench(
        "run", "--resume", "r", "--address", made.address, "--results-dir", str(results), "--no-report"
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = (run / "records.jsonl").read_text().splitlines()
    assert after[: len(before)] == before
    final = verdicts(run)
    assert len(final) == N_HELD_ALL and set(final.values()) == {"identical"}, final
    (retried,) = [r for r in _records(run) if r["case"]["member"] == "subclass"]
    assert retried["extra"]["worker"]["ray_node_id"] != killed.node_id, "it ran on the node left"
    meta = json.loads((run / "run.json").read_text())
    assert (
        meta["status"] == "finished" and meta["options"]["seed"] == 5 and meta["options"]["executor"] == "ray"
    )
    assert [inv["executor"]["executor"] for inv in meta["invocations"]] == ["ray", "ray"]
