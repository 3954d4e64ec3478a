"""``pairbench run``: expand the matrix, run every case in workers, write records and a report."""

from __future__ import annotations

import argparse
import sys

from suite.commands.common import add_results_dir
from suite.errors import UsageError
from suite.run.option_specs import add_arguments as add_run_options
from suite.run.option_specs import add_axis_arguments, axis_values, given_flags
from suite.run.option_specs import overrides as run_option_values

HELP = "run the matrix (pairs x members x workloads x modes x devices x precisions x determinism)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Presets, axis filters and run options (declared in :mod:`suite.run.option_specs`)."""
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--quick", action="store_true", help="minute-scale CPU run: tiny sizes, float32")
    preset.add_argument("--full", action="store_true", help="every axis; default size on CPU, large on GPU")
    add_axis_arguments(parser)
    add_run_options(parser)
    parser.add_argument(
        "--address",
        metavar="ADDR",
        help="with --executor ray: the cluster (default: $RAY_ADDRESS, else the one `ray start` "
        "left here, else a new local Ray); may change on --resume",
    )
    add_results_dir(parser, "where run folders go")
    parser.add_argument("--run-id", help="name of the new run folder (default: UTC timestamp)")
    parser.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue a run with the options it started with: only cases without a record run",
    )
    parser.add_argument(
        "--retry-errors",
        action="store_true",
        help="with --resume: run the cases whose record is an error again",
    )
    parser.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress output, only the summary")


def _fixed_on_resume(args: argparse.Namespace) -> list[str]:
    """The flags given that decide what a run measures: fixed when it starts, read back on --resume."""
    fixed = given_flags(args)
    fixed += [flag for flag, given in (("--quick", args.quick), ("--full", args.full)) if given]
    fixed += ["--run-id"] if args.run_id else []
    fixed += ["--pairs-from"] if args.pairs_from else []
    return fixed


def run(args: argparse.Namespace) -> int:
    """Run the matrix; exit 0 when every case has a record (whatever its verdict)."""
    from suite.run import make_options, run_selection
    from suite.run.progress import make_progress

    argv = ["pairbench", *sys.argv[1:]]
    if args.resume:
        fixed = _fixed_on_resume(args)
        if fixed:
            flags = ", ".join(fixed)
            raise UsageError(
                f"--resume continues a run with the options it started with; {flags} cannot be changed "
                "(start a new run instead)"
            )
        options = None
    else:
        if args.retry_errors:
            raise UsageError("--retry-errors only makes sense with --resume RUN_ID")
        options = make_options(
            preset="quick" if args.quick else "full" if args.full else None,
            axes=axis_values(args),
            pairs_from=tuple(args.pairs_from),
            **run_option_values(args),
        )
    progress = make_progress(quiet=args.quiet)
    if args.resume:
        progress.message(f"resuming {args.resume} ...")
    outcome = run_selection(
        options,
        results_dir=args.results_dir,
        run_id=args.run_id,
        resume=args.resume,
        retry_errors=args.retry_errors,
        progress=progress,
        argv=argv,
        report=not args.no_report,
        console=None if args.quiet else _console(),
        address=args.address,
    )
    run_dir = outcome.run
    if outcome.status != "finished":
        from suite.text import clean_line

        sys.stderr.write(f"pairbench: {clean_line(outcome.message)}\n")
        return outcome.exit_code
    from suite.report.summary import run_summary_line

    line = run_summary_line(outcome.counts, outcome.reference_counts, outcome.flag_counts)
    print(f"run {run_dir.run_id} finished: {line}")
    print(f"records: {run_dir.records_path}")
    for kind, path in outcome.report.items():
        print(f"{kind}: {path}")
    return 0


def _console():
    from rich.console import Console

    return Console()
