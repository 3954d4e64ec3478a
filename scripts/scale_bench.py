#!/usr/bin/env python3
"""Measure what scale-out does (issue 18; docs/scale.md, "Measured").

    python scripts/scale_bench.py cluster [--nodes 2] [RUN OPTIONS...]
        The same plan run by one local worker at a time (--executor serial) and on a local Ray
        cluster (a head and --nodes worker nodes of one CPU each, on this machine): wall
        times, and a check that both give the same cases and verdicts.

    python scripts/scale_bench.py gpus [RUN OPTIONS...]
        On a machine with several GPUs: the same GPU cases one worker at a time (serial) and
        one worker per GPU at once (local); per case, how much the concurrent step time
        differs from the serial one (target: within 2%). Without GPUs it says so and stops.

RUN OPTIONS are `pairbench run` axis options (default: a small CPU matrix). Timings on a
shared or busy machine are disturbed: run this on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_PLAN = ["--pairs", "mlp_seed,mlp", "--workloads", "predict,train_step", "--sizes", "tiny"]


def pairbench_run(results: Path, *args: str) -> tuple[Path, float]:
    """Run ``pairbench run ARGS`` into a fresh results folder; return (run folder, wall seconds)."""
    t0 = time.monotonic()
    cmd = [
        sys.executable,
        "-m",
        "suite",
        "run",
        *args,
        "--results-dir",
        str(results),
        "--no-report",
        "--quiet",
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    (run,) = [p for p in results.iterdir() if (p / "run.json").is_file()]
    return run, seconds


def records(run: Path) -> dict[str, dict]:
    """case_id -> record (every case once, or the measurement is void)."""
    lines = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines() if x.strip()]
    out = {r["case_id"]: r for r in lines}
    if len(out) != len(lines):
        sys.exit(f"{run}: a case was recorded twice")
    return out


def cluster(args: argparse.Namespace, plan: list[str]) -> None:
    """One local worker vs a local Ray cluster, same plan."""
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="ray-bench-", dir="/tmp")
    common = {"object_store_memory": 80 * 2**20, "temp_dir": temp}
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, **common})
    try:
        for _ in range(args.nodes):
            made.add_node(num_cpus=1, **common)
        made.wait_for_nodes()
        with tempfile.TemporaryDirectory() as tmp:
            local, local_s = pairbench_run(Path(tmp) / "local", *plan, "--executor", "serial")
            ray_run, ray_s = pairbench_run(
                Path(tmp) / "ray", *plan, "--executor", "ray", "--address", made.address
            )
            a, b = records(local), records(ray_run)
            same = {k: r["verdict"] for k, r in a.items()} == {k: r["verdict"] for k, r in b.items()}
    finally:
        made.shutdown()
    print(f"plan: {' '.join(plan)}: {len(a)} cases; same cases and verdicts: {same}")
    print(f"one local worker at a time: {local_s:.1f} s")
    print(f"Ray cluster, {args.nodes} worker node(s) of 1 CPU: {ray_s:.1f} s ({local_s / ray_s:.2f}x)")


def gpus(args: argparse.Namespace, plan: list[str]) -> None:
    """GPU step times, one worker at a time vs one worker per GPU at once."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = subprocess.run(
            [sys.executable, "-m", "suite.run.child", "--probe"], capture_output=True, text=True
        )
        n = json.loads(probe.stdout.strip().splitlines()[-1])["gpus"] if probe.returncode == 0 else 0
        if n < 2:
            print(f"{n} GPU(s) here: concurrency across GPUs cannot be measured on this machine")
            return
        devices = ",".join(f"gpu:{i}" for i in range(n))
        gpu_plan = [*plan, "--devices", devices, "--no-fp64"]
        serial, serial_s = pairbench_run(Path(tmp) / "serial", *gpu_plan, "--executor", "serial")
        local, local_s = pairbench_run(Path(tmp) / "local", *gpu_plan, "--executor", "local")
        a, b = records(serial), records(local)
    diffs = []
    for case_id, rec in a.items():
        one, many = (
            rec["timing"].get("step_s_median"),
            b.get(case_id, {}).get("timing", {}).get("step_s_median"),
        )
        if one and many:
            diffs.append(abs(many / one - 1.0))
    if not diffs:
        sys.exit("no GPU case was timed in both runs")
    diffs.sort()
    print(f"{n} GPUs, {len(diffs)} GPU cases timed both ways")
    print(f"wall: serial {serial_s:.1f} s, one worker per GPU {local_s:.1f} s ({serial_s / local_s:.2f}x)")
    print(
        f"|concurrent/serial - 1| of the median step time: median {statistics.median(diffs):.2%}, "
        f"p90 {diffs[int(0.9 * (len(diffs) - 1))]:.2%}, max {diffs[-1]:.2%} (target: within 2%)"
    )


def main() -> None:
    """Parse the command line and measure."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("cluster", "gpus"))
    parser.add_argument("--nodes", type=int, default=2, help="Ray worker nodes (cluster)")
    args, plan = parser.parse_known_args()
    {"cluster": cluster, "gpus": gpus}[args.what](args, plan or DEFAULT_PLAN)


if __name__ == "__main__":
    main()
