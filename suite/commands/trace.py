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

from suite.commands.common import add_results_dir
from suite.errors import UsageError, one_line
from suite.results.names import TRACES
from suite.results.run_dir import RunDir
from suite.results.runs import open_run
from suite.text import clean_line, command

HELP = "show a run's profiler traces and the TensorBoard command to open them"

DEFAULT_PORT = 6006


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``RUN``, ``--results-dir``, ``--case``, ``--kernels``, ``--top``, ``--port``."""
    parser.add_argument("run_id", metavar="RUN", help="run id, run folder, or 'latest'")
    add_results_dir(parser, "where runs live")
    parser.add_argument(
        "--case",
        metavar="CASE_ID",
        help="only this case (TensorBoard then opens only its trace, named by the case)",
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

    traces = run.path / TRACES
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
        logdir = (rd.path / TRACES).resolve()

    console = Console(highlight=False)
    console.print(f"Run [bold]{rd.run_id}[/]: {len(cases)} case(s) with traces")
    for case_id, case_dir in cases.items():
        sessions = _sessions(case_dir)
        console.print(
            f"  {clean_line(case_id)}  ({len(sessions)} session{'s' if len(sessions) != 1 else ''})",
            soft_wrap=True,
            markup=False,
        )
    console.print("\nOpen in TensorBoard:")
    tensorboard = command("tensorboard", "--logdir", logdir, "--port", str(args.port))
    console.print(f"  {tensorboard}", soft_wrap=True, markup=False)
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


#: extra columns of the converter's kernel table shown by ``--kernels`` (header, column, format)
_EXTRA = (("occupancy %", "occupancy_pct", "{:.0f}"), ("Tensor Cores", "uses_tensor_core", "{}"))


def _kernel_rows(rd: RunDir, case_id: str, case_dir: Path, top: int) -> tuple[list[dict], str, dict | None]:
    """The top kernels of a case: from ``kernels/<case>.csv`` when the run wrote it, else the trace."""
    from suite.profiling import summarise_trace_dir

    csv_path = rd.kernels_csv(case_id)
    if csv_path.is_file():
        kernels = _read_kernels_csv(csv_path)
        return kernels.head(top).to_dict(orient="records"), str(csv_path), None
    summary = summarise_trace_dir(case_dir, top=top)
    return summary["top_kernels"], f"parsed from the trace: {summary['kernel_source']}", summary


#: numeric columns of a kernels table, checked before they are printed
_NUMERIC = ("count", "total_us", "mean_us", "share")


def _read_kernels_csv(csv_path: Path) -> Any:
    """``kernels/<case>.csv`` as a DataFrame, or a one-line :class:`UsageError` naming the file
    and what is wrong with it (unreadable, not CSV, missing columns, a non-number)."""
    import pandas as pd

    from suite.profiling import KERNEL_COLUMNS

    try:
        kernels = pd.read_csv(csv_path, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise UsageError(f"{csv_path}: not a readable kernels table ({one_line(exc)})") from None
    missing = [c for c in KERNEL_COLUMNS if c not in kernels.columns]
    if missing:
        raise UsageError(f"{csv_path}: not a kernels table (missing columns {', '.join(missing)})")
    for col in _NUMERIC:
        values = pd.to_numeric(kernels[col], errors="coerce")
        if values.isna().any():
            first = int(values.isna().to_numpy().nonzero()[0][0])
            line = first + 2  # the header is line 1
            raise UsageError(
                f"{csv_path}:{line}: column {col!r} is not a number ({kernels[col].iloc[first]!r})"
            )
        kernels[col] = values
    return kernels


def _print_kernels(console: Any, rd: RunDir, case_id: str, case_dir: Path, top: int) -> None:
    """The top device kernels of one case, full names (two kernels that differ in the middle of
    a long name must not look the same), with occupancy and Tensor Core use when known."""
    import pandas as pd
    from rich.table import Table
    from rich.text import Text

    from suite.machine.tf_noise import quiet_native_stderr
    from suite.profiling import summarise_trace_dir

    with quiet_native_stderr():  # TensorFlow's protobufs and the converter log on fd 2
        rows, source, summary = _kernel_rows(rd, case_id, case_dir, top)
        if not rows and summary is None:
            summary = summarise_trace_dir(case_dir, top=top)
    console.print()
    if summary is not None and summary["error"]:
        console.print(Text(clean_line(f"{case_id}: {summary['error']}"), style="red"), soft_wrap=True)
        return
    if rows:
        table = Table(title=f"{case_id}: top device kernels ({source})", title_justify="left")
        table.add_column("#", justify="right")
        for col in ("count", "total µs", "mean µs", "share"):
            table.add_column(col, justify="right", no_wrap=True)
        extras = [e for e in _EXTRA if e[1] in rows[0]]
        for header, _, _ in extras:
            table.add_column(header, justify="right", no_wrap=True)
        for i, r in enumerate(rows, start=1):
            cells = [str(i), str(int(r["count"])), f"{r['total_us']:.1f}", f"{r['mean_us']:.2f}"]
            cells.append(f"{r['share']:.1%}")
            cells += ["" if pd.isna(r[col]) else fmt.format(r[col]) for _, col, fmt in extras]
            table.add_row(*cells)
        console.print(table)
        for i, r in enumerate(rows, start=1):  # whole names, one per line: never cut, never folded
            op = "" if pd.isna(r["op_name"]) or not str(r["op_name"]) else f"  (op {r['op_name']})"
            console.print(Text(clean_line(f"{i:>3}  {r['name']}{op}")), soft_wrap=True)
        return
    console.print(Text(f"{case_id}: no device kernels (CPU trace)", style="bold"), soft_wrap=True)
    if summary["host_ops"]:
        table = Table(title=f"{case_id}: top host ops (inclusive time)", title_justify="left")
        table.add_column("op", overflow="fold")
        for col in ("count", "total µs", "mean µs"):
            table.add_column(col, justify="right", no_wrap=True)
        for r in summary["host_ops"]:
            table.add_row(
                Text(clean_line(r["name"])), str(r["count"]), f"{r['total_us']:.1f}", f"{r['mean_us']:.2f}"
            )
        console.print(table)
