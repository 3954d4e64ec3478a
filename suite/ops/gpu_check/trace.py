"""The ``trace`` part: one small trace (the determinism run's, else a tiny case of its own)
served by TensorBoard's profile plugin on a free loopback port, and asked over HTTP what a user
would see: ``/data/plugin/profile/runs``, ``run_tools`` lists ``trace_viewer`` and
``kernel_stats``, and ``kernel_stats`` has rows.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from suite.ops.gpu_check.context import FAST_TIMING, Context
from suite.ops.gpu_check.outcome import Check, PartResult
from suite.ops.gpu_check.outputs import tar_files
from suite.ops.gpu_check.records import case_of, run_records
from suite.ops.gpu_check.steps import log_tail, share, spawn, stop_process
from suite.verdicts import NONDETERMINISTIC

#: the tiny traced case of the part's own run, when the determinism run left no trace
OWN_RUN_ARGS: tuple[str, ...] = (
    *("--pairs", "mlp_seed", "--members", "sequential", "--workloads", "predict", "--modes", "function"),
    *("--devices", "gpu:0", "--sizes", "tiny", "--repeats", "1", "--profile", "--no-fp64", "--no-localise"),
    *FAST_TIMING,
)


def traces_of(logdir: Path) -> list[Path]:
    """The ``.xplane.pb`` files of a case's logdir (:func:`suite.profiling.xplane.find_xplanes`)."""
    from suite.profiling.xplane import find_xplanes

    return find_xplanes(logdir)


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, timeout: float) -> Any:
    """GET a JSON document (gzip or not) from the loopback TensorBoard."""
    with urllib.request.urlopen(url, timeout=max(1.0, timeout)) as resp:  # loopback only
        body = resp.read()
        if resp.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    return json.loads(body)


def gviz_rows(data: Any) -> int:
    """Rows of a gviz table (or of every table of a list of them)."""
    if isinstance(data, list):
        return sum(gviz_rows(d) for d in data)
    if isinstance(data, dict):
        return len(data.get("rows") or [])
    return 0


def query_tensorboard(ctx: Context, logdir: Path, deadline: float, log_path: Path) -> dict[str, Any]:
    """Serve ``logdir`` with TensorBoard and ask its profile plugin what a user would see.

    Args:
        ctx: the check (its interpreter and environment).
        logdir: a case's trace folder.
        deadline: when the answers must be in (``time.monotonic()``); TensorBoard is stopped then.
        log_path: TensorBoard's log.

    Returns:
        ``{"port", "runs", "run", "tools", "kernel_stats_rows", "error", "wall_s"}``.
    """
    port = free_port()
    argv = [ctx.python, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1"]
    argv += ["--port", str(port)]
    found: dict[str, Any] = {"port": port, "runs": [], "run": None, "tools": [], "kernel_stats_rows": None}
    found["error"] = None
    start = time.monotonic()
    base = f"http://127.0.0.1:{port}/data/plugin/profile"
    with open(log_path, "ab") as log:
        proc = spawn(argv, env=ctx.env(), stdout=log, stderr=log)
        try:
            while time.monotonic() < deadline and proc.poll() is None and not found["runs"]:
                with contextlib.suppress(
                    urllib.error.URLError, ConnectionError, json.JSONDecodeError, OSError
                ):
                    found["runs"] = get_json(f"{base}/runs", deadline - time.monotonic())
                if not found["runs"]:
                    time.sleep(0.5)
            if proc.poll() is not None:
                found["error"] = f"tensorboard exited {proc.returncode}: {log_tail(log_path)}"
            elif not found["runs"]:
                found["error"] = "tensorboard listed no runs before the deadline"
            else:
                run = found["run"] = found["runs"][0]
                q = urllib.parse.quote(run)
                found["tools"] = get_json(f"{base}/run_tools?run={q}", deadline - time.monotonic())
                tool = "kernel_stats"
                hosts = get_json(f"{base}/hosts?run={q}&tag={tool}", deadline - time.monotonic())
                host = hosts[0].get("hostname", "") if hosts and isinstance(hosts[0], dict) else ""
                url = f"{base}/data?run={q}&tag={tool}&host={urllib.parse.quote(host)}"
                found["kernel_stats_rows"] = gviz_rows(get_json(url, deadline - time.monotonic()))
        except (urllib.error.URLError, OSError, ValueError, IndexError) as exc:
            found["error"] = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            stop_process(proc, grace_s=5)
    found["wall_s"] = round(time.monotonic() - start, 1)
    return found


def traced(run_dir: Path, records: list[dict[str, Any]]) -> list[Path]:
    """The logdirs of ``records`` that hold a trace file, in the order of the records."""
    dirs = [run_dir / t for t in ((r.get("profile") or {}).get("trace_dir") for r in records) if t]
    return [d for d in dirs if traces_of(d)]


def pick_trace(ctx: Context) -> Path | None:
    """The determinism run's trace of a nondeterministic ``embedding`` case (else any of its traces)."""
    run_dir = ctx.results / "determinism"
    ranked = sorted(
        run_records(run_dir, latest=False),
        key=lambda r: (
            case_of(r).get("pair") != "embedding",
            r.get("verdict") != NONDETERMINISTIC,
            case_of(r).get("mode") != "function",
        ),
    )
    return next(iter(traced(run_dir, ranked)), None)


def part_trace(ctx: Context, part: PartResult, deadline: float) -> None:
    """One small trace, served by TensorBoard's profile plugin and checked over its HTTP API.

    Args:
        ctx: the check.
        part: where the part's figures, checks and steps go.
        deadline: when the part must be done (``time.monotonic()``).
    """
    logdir = pick_trace(ctx)
    if logdir is None:
        records = ctx.pairbench_run(part, "trace", OWN_RUN_ARGS, share(deadline, 1, 1))
        logdir = next(reversed(traced(ctx.results / "trace", records)), None)
    if logdir is None:
        part.fail("no trace was captured")
        part.checks.append(Check("trace.captured", "fail", None, "a trace file", "no trace was captured"))
        return
    tarball = ctx.work / "trace.tar.gz"
    files = [(p, f"{logdir.name}/{p.relative_to(logdir)}") for p in traces_of(logdir)]
    left_out = tar_files(tarball, files)
    part.figures["trace"] = {
        "logdir": str(logdir.relative_to(ctx.work)),
        "files": [name for _, name in files if name not in left_out],
    }
    part.figures["trace_bytes"] = tarball.stat().st_size
    ctx.log(f"trace: TensorBoard on {logdir.name} (up to {max(0.0, deadline - time.monotonic()):.0f} s)")
    found = query_tensorboard(ctx, logdir, deadline, ctx.logs / "trace-tensorboard.log")
    ctx.log(
        f"trace: TensorBoard answered in {found['wall_s']} s: runs {found['runs']}, tools {found['tools']}"
    )
    part.figures["tensorboard"] = found
    if found["error"]:
        part.status = "timeout" if "deadline" in found["error"] else "failed"
        part.add_reason(f"tensorboard: {found['error']}")
    tools = [str(t) for t in found["tools"] or []]
    part.checks.append(
        Check(
            "trace.tensorboard_runs",
            "pass" if found["runs"] else "fail",
            found["runs"],
            "TensorBoard's /data/plugin/profile/runs lists the trace",
            found["error"] or "",
        )
    )
    has_viewer = any(t.startswith("trace_viewer") for t in tools)
    part.checks.append(
        Check("trace.trace_viewer", "pass" if has_viewer else "fail", tools, "run_tools lists trace_viewer")
    )
    part.checks.append(
        ctx.gpu_only(
            "trace.kernel_stats_listed",
            any(t.rstrip("@") == "kernel_stats" for t in tools),
            tools,
            "run_tools lists kernel_stats",
        )
    )
    rows = found["kernel_stats_rows"]
    part.checks.append(
        ctx.gpu_only("trace.kernel_stats_rows", bool(rows), rows, "kernel_stats has a row per kernel")
    )
