"""What goes back from the device: at most :data:`MAX_FILES` files of at most
:data:`MAX_FILE_BYTES` under ``--out`` (the device tool's limits), rewritten after every part so
that a check killed from outside still leaves what was finished, and the summary printed last.

``summary.json`` (every part and check with its figure), ``records.jsonl`` (every run's records,
each with ``gpu_check: {part, run_id}``), ``report.md`` (the checks, then each run's report),
``doctor.json``, ``kernels.tar.gz`` (kernel CSVs of the nondeterministic cases),
``trace.tar.gz`` (one small trace), ``runs.tar.gz`` (the run folders without outputs and traces,
and every step's log) and ``gpu_check.log``.
"""

from __future__ import annotations

import json
import os
import socket
import tarfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from suite.ops.gpu_check.context import NO_GPU, Context
from suite.ops.gpu_check.outcome import PartResult, check_counts, is_ok
from suite.ops.gpu_check.records import run_records
from suite.results.names import CACHE, OUTPUTS, REPORT_MD, TRACES
from suite.verdicts import NONDETERMINISTIC

SCHEMA = "pairbench-gpu-check/1"
#: the device tool brings back at most this many files of at most this size
MAX_FILES = 8
MAX_FILE_BYTES = 16 * 1024 * 1024
OUTPUT_FILES: tuple[str, ...] = (
    "summary.json",
    "records.jsonl",
    "report.md",
    "doctor.json",
    "kernels.tar.gz",
    "trace.tar.gz",
    "runs.tar.gz",
    "gpu_check.log",
)
#: top-level entries of a run folder left out of ``runs.tar.gz``
NOT_SENT: frozenset[str] = frozenset({OUTPUTS, TRACES, CACHE})

assert len(OUTPUT_FILES) <= MAX_FILES


def write_whole(dest: Path, data: bytes) -> None:
    """Write a file under the output folder, whole (a temporary file renamed), cut to the limit."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_bytes(data[:MAX_FILE_BYTES])
    os.replace(tmp, dest)


def tar_files(dest: Path, files: Iterable[tuple[Path, str]]) -> list[str]:
    """A gzipped tarball of ``(path, arcname)`` whose contents stay under the file limit.

    Returns:
        The arcnames left out (too large for what was left of the limit).
    """
    budget = MAX_FILE_BYTES - min(256 * 1024, MAX_FILE_BYTES // 16)  # headers; compression only shrinks
    left_out = []
    tmp = dest.with_name(f".{dest.name}.tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for path, arcname in files:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size + 512 > budget:
                left_out.append(arcname)
                continue
            budget -= size + 512
            tar.add(path, arcname=arcname, recursive=False)
    os.replace(tmp, dest)
    return left_out


def run_files(ctx: Context) -> list[tuple[Path, str]]:
    """The run folders without outputs, traces, caches and parquet tables, then every step log."""
    files = []
    for run_id in ctx.runs:
        run_dir = ctx.results / run_id
        for path in sorted(run_dir.rglob("*")):
            rel = path.relative_to(run_dir)
            if path.is_file() and rel.parts[0] not in NOT_SENT and not path.name.endswith(".parquet"):
                files.append((path, f"{run_id}/{rel}"))
    files += [(p, f"logs/{p.name}") for p in sorted(ctx.logs.glob("*.log"))]
    return files


def write_outputs(
    ctx: Context, parts: Sequence[PartResult], budget_s: float, argv: Sequence[str]
) -> list[str]:
    """Write the (at most :data:`MAX_FILES`) output files; called after every part.

    Args:
        ctx: the check.
        parts: the parts so far.
        budget_s: the whole check's budget.
        argv: the check's command line.

    Returns:
        Notes on what was cut to fit the limits.
    """
    ctx.out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    lines = []
    nondet_csvs: dict[str, Path] = {}  # arcname -> file (a case recorded twice is tarred once)
    for run_id, part in ctx.runs.items():
        for rec in run_records(ctx.results / run_id, latest=False):
            lines.append(json.dumps({**rec, "gpu_check": {"part": part, "run_id": run_id}}, sort_keys=True))
            csv = (rec.get("profile") or {}).get("kernels_csv")
            if rec.get("verdict") == NONDETERMINISTIC and csv:
                nondet_csvs[f"{run_id}/{csv}"] = ctx.results / run_id / csv
    data = "".join(line + "\n" for line in lines).encode()
    if len(data) > MAX_FILE_BYTES:
        notes.append(f"records.jsonl cut to {MAX_FILE_BYTES} bytes (whole lines)")
        data = data[: data.rfind(b"\n", 0, MAX_FILE_BYTES) + 1]
    write_whole(ctx.out / "records.jsonl", data)
    for name in ("doctor.json", "trace.tar.gz"):
        if (ctx.work / name).exists():
            write_whole(ctx.out / name, (ctx.work / name).read_bytes())
    if nondet_csvs:
        kernels = [(f, n) for n, f in nondet_csvs.items()]
        notes += [f"kernels.tar.gz: left out {n}" for n in tar_files(ctx.out / "kernels.tar.gz", kernels)]
    notes += [f"runs.tar.gz: left out {n}" for n in tar_files(ctx.out / "runs.tar.gz", run_files(ctx))]
    report = report_markdown(ctx, parts).encode()
    if len(report) > MAX_FILE_BYTES:
        notes.append("report.md cut to the file limit")
    write_whole(ctx.out / "report.md", report)
    summary = summary_dict(ctx, parts, budget_s, argv)
    summary["notes"] = notes
    write_whole(ctx.out / "summary.json", json.dumps(summary, indent=1, default=str).encode())
    if (ctx.work / "gpu_check.log").exists():
        log = (ctx.work / "gpu_check.log").read_bytes()
        write_whole(ctx.out / "gpu_check.log", log[-MAX_FILE_BYTES:])
    return notes


def summary_dict(ctx: Context, parts: Sequence[PartResult], budget_s: float, argv: Sequence[str]) -> dict:
    """What ``summary.json`` holds (``schema`` :data:`SCHEMA`)."""
    return {
        "schema": SCHEMA,
        "argv": list(argv),
        "mode": ctx.mode,
        "host": socket.gethostname(),
        "gpu": {
            "visible": ctx.real_gpu,
            "count": ctx.gpus,
            "name": ctx.gpu_name,
            "source": ctx.gpu_source,
            "simulated": ctx.simulated,
        },
        "budget_s": budget_s,
        "wall_s": round(time.monotonic() - ctx.started, 1),
        "work_dir": str(ctx.work),
        "ok": is_ok(parts),
        "checks": check_counts(parts),
        "parts": [p.to_dict() for p in parts],
        "files": list(OUTPUT_FILES),
    }


def figure_text(figure: Any, width: int) -> str:
    """A check's figure as JSON, cut to ``width`` characters (``...`` at the end when cut)."""
    text = json.dumps(figure, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def fallback_report(records: list[dict[str, Any]]) -> str:
    """A minimal markdown table of records (when ``pairbench report`` could not write one)."""
    lines = ["| case | verdict | step ms | compile s | reason |", "|---|---|---:|---:|---|"]
    for r in records:
        t = r.get("timing") or {}
        step, compile_s = t.get("step_s_median"), t.get("compile_s")
        step_ms = "" if step is None else f"{step * 1e3:.3g}"
        compiled = "" if compile_s is None else f"{compile_s:.3g}"
        reason = str(r.get("reason", "")).replace("|", "/")[:160]
        lines.append(f"| {r.get('case_id')} | {r.get('verdict')} | {step_ms} | {compiled} | {reason} |")
    return "\n".join(lines)


def report_markdown(ctx: Context, parts: Sequence[PartResult]) -> str:
    """``report.md``: the parts and their checks, then each run's own report."""
    counts = check_counts(parts)
    gpu = ctx.gpu_name or ("simulated gpu:0 on the CPU" if ctx.simulated else NO_GPU)
    out = [
        f"# pairbench GPU check ({ctx.mode})",
        "",
        f"Host {socket.gethostname()}, GPU: {gpu}. Checks: {counts['pass']} pass, {counts['fail']} fail, "
        f"{counts['skipped']} skipped, {counts['info']} figures.",
        "",
        "| part | status | wall s | reason |",
        "|---|---|---:|---|",
    ]
    out += [f"| {p.part} | {p.status} | {p.wall_s:.0f} | {p.reason.replace('|', '/')[:200]} |" for p in parts]
    out += ["", "| check | status | figure | expected | reason |", "|---|---|---|---|---|"]
    for p in parts:
        for c in p.checks:
            fig = figure_text(c.figure, 300).replace("|", "/")
            out.append(f"| {c.name} | {c.status} | `{fig}` | {c.expected} | {c.reason} |")
    for run_id, part in ctx.runs.items():
        run_dir = ctx.results / run_id
        if not run_dir.is_dir():
            continue
        out += ["", f"## {part}: run `{run_id}`", ""]
        report = run_dir / REPORT_MD
        if report.exists():
            text = report.read_text(errors="replace")
            out.append("\n".join("##" + line if line.startswith("#") else line for line in text.splitlines()))
        else:
            out += ["(`pairbench report` wrote nothing: the records as they are)", ""]
            out.append(fallback_report(run_records(run_dir, latest=False)))
    return "\n".join(out) + "\n"


#: how a check's status is tagged in the printed summary
TAGS: dict[str, str] = {"pass": "ok  ", "fail": "FAIL", "skipped": "skip", "info": "info"}


def human_summary(ctx: Context, parts: Sequence[PartResult], budget_s: float) -> str:
    """The lines printed at the end (what the device tool's output tail shows): one per part,
    one per check with its figure, and the verdict of the whole check."""
    counts = check_counts(parts)
    gpu = ctx.gpu_name or (f"{NO_GPU} (simulated gpu:0)" if ctx.simulated else NO_GPU)
    lines = [
        "",
        f"== pairbench GPU check ({ctx.mode}): {gpu}; "
        f"{time.monotonic() - ctx.started:.0f} s of {budget_s:.0f} s ==",
    ]
    for p in parts:
        tally = ", ".join(f"{n} {s}" for s, n in sorted(check_counts([p]).items()) if n)
        lines.append(
            f"{p.part:<12} {p.status:<8} {p.wall_s:6.0f} s  {tally}"
            + (f"  ({p.reason[:150]})" if p.reason else "")
        )
    for p in parts:
        for c in p.checks:
            lines.append(
                f"  {TAGS.get(c.status, c.status)} {c.name}: {figure_text(c.figure, 220)}"
                + (f"  [{c.reason[:120]}]" if c.reason and c.status != "pass" else "")
            )
    verdict = "OK" if is_ok(parts) else "NOT OK"
    files = ", ".join(sorted(p.name for p in ctx.out.iterdir())) if ctx.out.is_dir() else "none"
    lines.append(
        f"{verdict}: {counts['pass']} pass, {counts['fail']} fail, {counts['skipped']} skipped, "
        f"{counts['info']} figures; outputs in {ctx.out}: {files}"
    )
    return "\n".join(lines)
