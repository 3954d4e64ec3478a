"""``pairbench trace RUN``: where a run's profiler traces are and how to open them in TensorBoard.

Lists the cases that have a trace (``traces/<case_id>/plugins/profile/<session>/*.xplane.pb``),
prints the ``tensorboard --logdir ...`` command, and with ``--kernels`` the top device kernels
of each case (from ``kernels/<case_id>.csv``, else parsed from the trace; for a CPU trace, the
top host ops).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from suite.errors import UsageError
from suite.results import DEFAULT_RESULTS_DIR, RunDir, open_run

HELP = "show a run's profiler traces and the TensorBoard command to open them"

DEFAULT_PORT = 6006


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``RUN``, ``--results-dir``, ``--case``, ``--kernels``, ``--top``, ``--port``."""
    parser.add_argument("run_id", metavar="RUN", help="run id, run folder, or 'latest'")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=DEFAULT_RESULTS_DIR,
        help=f"where runs live (default: {DEFAULT_RESULTS_DIR})",
    )
    parser.add_argument(
        "--case", metavar="CASE_ID", help="only this case (TensorBoard then opens only its trace)"
    )
    parser.add_argument("--kernels", action="store_true", help="print the top device kernels of each case")
    parser.add_argument(
        "--top", type=int, default=10, metavar="N", help="rows per kernel table (default: 10)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port for the printed command (default: {DEFAULT_PORT})",
    )


def traced_cases(run: RunDir) -> dict[str, Path]:
    """Cases of a run that have at least one trace file.

    Args:
        run: the run folder.

    Returns:
        ``{case_id: its logdir}``, sorted by case id.
    """
    from suite.profiling.xplane import find_xplanes

    traces = run.path / "traces"
    if not traces.is_dir():
        return {}
    return {d.name: d for d in sorted(traces.iterdir()) if d.is_dir() and find_xplanes(d)}


def run(args: argparse.Namespace) -> int:
    """Print the traces, the TensorBoard command and optionally the kernel tables."""
    from rich.console import Console

    if args.top < 1:
        raise UsageError(f"--top must be >= 1, got {args.top}")
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be a TCP port from 1 to 65535, got {args.port}")
    rd = open_run(args.run_id, args.results_dir)
    cases = traced_cases(rd)
    if not cases:
        raise UsageError(f"run {rd.run_id!r} has no traces (profile cases with `pairbench run --profile`)")
    if args.case is not None:
        if args.case not in cases:
            known = ", ".join(list(cases)[:5]) + (" ..." if len(cases) > 5 else "")
            raise UsageError(f"case {args.case!r} has no trace in run {rd.run_id!r}; traced cases: {known}")
        cases = {args.case: cases[args.case]}
        logdir = cases[args.case].resolve()
    else:
        logdir = (rd.path / "traces").resolve()

    console = Console(highlight=False)
    console.print(f"Run [bold]{rd.run_id}[/]: {len(cases)} case(s) with traces")
    for case_id, case_dir in cases.items():
        sessions = _sessions(case_dir)
        console.print(
            f"  {case_id}  ({len(sessions)} session{'s' if len(sessions) != 1 else ''})", soft_wrap=True
        )
    console.print("\nOpen in TensorBoard:")
    console.print(f"  tensorboard --logdir {logdir} --port {args.port}", soft_wrap=True, markup=False)
    console.print(
        f"then browse to http://localhost:{args.port}/ and open the [bold]Profile[/] tab "
        "(tools: trace_viewer, kernel_stats, op_profile, framework_op_stats); "
        "pick a case in the Runs list. Port busy? pass another --port.",
        soft_wrap=True,
    )
    if args.kernels:
        for case_id, case_dir in cases.items():
            _print_kernels(console, rd, case_id, case_dir, args.top)
    return 0


def _sessions(case_dir: Path) -> list[str]:
    from suite.profiling.xplane import find_xplanes

    return sorted({p.parent.name for p in find_xplanes(case_dir)})


def _print_kernels(console: Any, rd: RunDir, case_id: str, case_dir: Path, top: int) -> None:
    import pandas as pd
    from rich.table import Table

    from suite.profiling.xplane import KERNEL_COLUMNS, summarise_trace_dir

    csv_path = rd.path / "kernels" / f"{case_id}.csv"
    summary: dict[str, Any] | None = None
    if csv_path.is_file():
        kernels = pd.read_csv(csv_path, keep_default_na=False, na_values=[""])
        missing = [c for c in KERNEL_COLUMNS if c not in kernels.columns]
        if missing:
            raise UsageError(f"{csv_path}: not a kernels table (missing columns {', '.join(missing)})")
        rows = kernels.head(top).to_dict(orient="records")
        source = str(csv_path)
    else:
        summary = summarise_trace_dir(case_dir, top=top)
        if summary["error"]:
            console.print(f"\n[bold]{case_id}[/]: [red]{summary['error']}[/]", soft_wrap=True)
            return
        rows = summary["top_kernels"]
        source = "parsed from the trace"
    console.print()
    if rows:
        table = Table(title=f"{case_id}: top device kernels ({source})", title_justify="left")
        table.add_column("kernel", overflow="fold")
        table.add_column("op", overflow="fold")
        for col in ("count", "total µs", "mean µs", "share"):
            table.add_column(col, justify="right", no_wrap=True)
        for r in rows:
            table.add_row(
                _shorten(str(r["name"])),
                "" if pd.isna(r["op_name"]) else str(r["op_name"]),
                str(int(r["count"])),
                f"{r['total_us']:.1f}",
                f"{r['mean_us']:.2f}",
                f"{r['share']:.1%}",
            )
        console.print(table)
        return
    if summary is None:
        summary = summarise_trace_dir(case_dir, top=top)
    console.print(f"[bold]{case_id}[/]: no device kernels (CPU trace)", soft_wrap=True)
    if summary["error"]:
        console.print(f"[red]{summary['error']}[/]", soft_wrap=True)
    if summary["host_ops"]:
        table = Table(title=f"{case_id}: top host ops (inclusive time)", title_justify="left")
        table.add_column("op", overflow="fold")
        for col in ("count", "total µs", "mean µs"):
            table.add_column(col, justify="right", no_wrap=True)
        for r in summary["host_ops"]:
            table.add_row(
                _shorten(str(r["name"])), str(r["count"]), f"{r['total_us']:.1f}", f"{r['mean_us']:.2f}"
            )
        console.print(table)


def _shorten(name: str, width: int = 44) -> str:
    """Cut the middle of a long kernel name (the CSV keeps it whole)."""
    if len(name) <= width:
        return name
    keep = (width - 1) // 2
    return f"{name[:keep]}…{name[-(width - 1 - keep) :]}"
