"""What runs inside a Ray task on a cluster node (see :mod:`suite.run.ray_executor`).

:func:`run_unit` starts ``python -m suite.run.child JOB.json`` as a subprocess of the Ray
worker, exactly as the local parent does (a fresh process per unit, dying with its parent),
and yields the child's protocol messages one by one: Ray streams each to the driver as it is
yielded, where the one writer appends the records. Before them it yields where it runs
(``node``), after them the child's exit code (``exit``). The run folder must be on a volume
every node mounts at the same path: the child reads the reference outputs there and writes
its own next to them.

This module imports neither TensorFlow nor the driver's modules.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from suite.run.parent import probe, read_messages, reap, worker_env


def node_placement() -> dict[str, Any]:
    """Where this task runs: Ray node, host, the GPU ids Ray gave it, ``CUDA_VISIBLE_DEVICES``."""
    import ray

    ctx = ray.get_runtime_context()
    out: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "ray_node_id": ctx.get_node_id(),
        "ray_node_ip": ray.util.get_node_ip_address(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    try:
        out["ray_gpu_ids"] = [str(g) for g in ctx.get_accelerator_ids().get("GPU", [])]
    except Exception:  # informative only
        out["ray_gpu_ids"] = None
    return out


def run_unit(job_file: str, log_file: str, env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """The body of a unit's Ray task (a generator: Ray streams what it yields).

    Args:
        job_file: the job, written by the driver into the run folder's ``logs/``.
        log_file: the worker's log in the run folder (created by the driver).
        env: variables the driver passes on (pinned GPU, numerics settings).
    """
    yield {"event": "node", "placement": node_placement()}
    if not Path(job_file).is_file():
        yield {
            "event": "fatal",
            "reason": f"the run folder is not visible on node {socket.gethostname()} ({job_file} is "
            "missing): put --results-dir on a volume every node mounts at the same path",
        }
        return
    with open(log_file, "a", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "suite.run.child", job_file],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env={**worker_env(), **env},
            start_new_session=True,
        )
        try:
            assert proc.stdout is not None
            yield from read_messages(proc.stdout)
            reap(proc, log)  # a worker hanging on its way out is killed, as on a local machine
            code = proc.wait()
        finally:  # the task was cancelled or the driver went away: no orphan worker
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    yield {"event": "exit", "code": code}


def probe_node() -> dict[str, Any]:
    """:func:`suite.run.parent.probe` on this node, with where it ran."""
    return {**probe(), "node": node_placement()}
