"""Scale-out runs on this machine (issue 18): all GPUs of a host at once, tested without a GPU,
and static shards merged back into one run.

``$PAIRBENCH_SIMULATED_GPUS=2`` makes the parent believe two GPUs exist; the workers run the
``gpu:N`` cases on the CPU and every such record says so (flag ``simulated-gpu``). The
``gate`` pair (``tests/pairs/fault_pairs.py``) makes the proof: its GPU cases wait for each other
at a barrier (they fail unless one worker per GPU runs at the same time) and its CPU cases
fail if any GPU worker of the run is alive (CPU cases run alone).
"""

from __future__ import annotations

import json

import pytest
from conftest import PAIRS, QUICK_TIMING, SCALE_PLAN, only_run, pairbench, read_records, verdicts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_gpu_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("two-gpus")
    barrier = base / "barrier"
    barrier.mkdir()
    proc = pairbench(
        "run",
        "--pairs-from",
        str(PAIRS / "fault_pairs.py"),
        "--pairs",
        "gate",
        "--members",
        "sequential,functional",
        "--workloads",
        "predict",
        "--modes",
        "eager,function",
        "--sizes",
        "tiny",
        "--results-dir",
        str(base / "results"),
        "--no-report",
        "--no-fp64",
        *QUICK_TIMING,
        env={"PAIRBENCH_SIMULATED_GPUS": "2", "PAIRBENCH_TEST_BARRIER": str(barrier)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return only_run(base / "results")


def test_one_worker_per_gpu_at_once_and_cpu_cases_alone(two_gpu_run):
    records = read_records(two_gpu_run)
    lines = (two_gpu_run / "records.jsonl").read_text().splitlines()
    assert len(lines) == len(records) == 2 * 2 * 3  # members x modes x (cpu, gpu:0, gpu:1)
    bad = {k: r["reason"] for k, r in records.items() if r["verdict"] in ("error", "unsupported")}
    assert not bad, bad  # the barrier met and no CPU case saw a GPU worker
    overlapped: dict[str, bool] = {}
    for record in records.values():
        worker, device = record["extra"]["worker"], record["case"]["device"]
        assert record["extra"]["executor"] == "local"
        if device == "cpu":
            assert worker["pinned_gpu"] is None and record["extra"]["ran_alongside"] == []
            assert "simulated-gpu" not in record["flags"]
        else:
            index = device.split(":")[1]
            assert worker["pinned_gpu"] == device and worker["cuda_visible_devices"] == index
            assert worker["unit"].startswith(f"b0-gpu{index}-")
            assert record["extra"]["gpu"] == {"simulated": True}
            assert "simulated-gpu" in record["flags"] and any(
                "simulated on the CPU" in n for n in record["notes"]
            )
            assert record["numerics"]["tf_device"] == "/CPU:0"
            other = "gpu1" if index == "0" else "gpu0"
            alongside = record["extra"]["ran_alongside"]
            assert all(f".{other}." in c for c in alongside), alongside  # never a CPU case, never its own
            overlapped[device] = overlapped.get(device, False) or bool(alongside)
    # the barrier holds each worker's first group until the other's starts, so each GPU has
    # records that ran alongside the other GPU's; later groups may run alone on a loaded machine
    assert overlapped == {"gpu:0": True, "gpu:1": True}, overlapped


def test_run_json_says_the_gpus_were_simulated(two_gpu_run):
    meta = json.loads((two_gpu_run / "run.json").read_text())
    assert meta["simulated_gpus"] == 2 and meta["visible_gpus"] == 2
    assert meta["options"]["executor"] == "local"
    assert meta["invocations"][0]["executor"]["simulated_gpus"] == "2"
    assert not meta["provenance"]["gpus"], "the provenance keeps what TensorFlow really saw"
    logs = sorted(p.name for p in (two_gpu_run / "logs").glob("worker-*.log"))
    assert [n for n in logs if "gpu" in n] == [
        "worker-b0-gpu0-float32-detoff-1.log",
        "worker-b0-gpu1-float32-detoff-1.log",
    ]


def test_shards_merged_reproduce_the_unsharded_run(scale_baseline, tmp_path):
    baseline, _ = scale_baseline
    results = tmp_path / "results"
    for k in (1, 2):
        proc = pairbench(
            "run", *SCALE_PLAN, "--shard", f"{k}/2", "--run-id", f"s{k}", "--results-dir", str(results)
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    shard_ids = [set(verdicts(results / f"s{k}")) for k in (1, 2)]
    assert shard_ids[0] and shard_ids[1] and not shard_ids[0] & shard_ids[1]
    meta = json.loads((results / "s2" / "run.json").read_text())
    assert meta["options"]["shard"] == "2/2" and meta["shard"]["plan_cases"] == 16

    merged = pairbench("merge", "s1", "s2", "--run-id", "all", "--results-dir", str(results))
    assert merged.returncode == 0, merged.stderr[-3000:]
    assert verdicts(results / "all") == verdicts(baseline)
    assert (results / "all" / "report.md").is_file()
    again = pairbench("merge", "s1", "s1", "--results-dir", str(results))
    assert again.returncode == 2 and "given twice" in again.stderr

    resumed = pairbench("run", "--resume", "s1", "--results-dir", str(results), "--no-report")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "nothing to run" in resumed.stdout + resumed.stderr
    assert json.loads((results / "s1" / "run.json").read_text())["options"]["shard"] == "1/2"
