"""``pairbench report``: tables, HTML, plots and exports of one run."""

from __future__ import annotations

import argparse

from suite.commands.common import add_results_dir
from suite.report.table import GROUP_KEYS, SORT_KEYS
from suite.results.runs import open_run

HELP = "tabulate a run: terminal table, report.md, report.html, table.csv/.parquet, plots"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pairbench report``."""
    parser.add_argument("run_id", nargs="?", default="latest", help="run id, path, or 'latest' (default)")
    add_results_dir(parser, "folder holding the runs")
    parser.add_argument(
        "--group-by",
        metavar="KEYS",
        help=f"comma list of {', '.join(GROUP_KEYS)}: one table per group",
    )
    parser.add_argument(
        "--sort",
        metavar="KEY",
        default="case",
        help=f"row order within groups: {', '.join(SORT_KEYS)} (default: case)",
    )
    parser.add_argument("--no-plots", action="store_true", help="do not draw plots/*.png")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no table on the terminal, only the summary and files"
    )


def run(args: argparse.Namespace) -> int:
    """Write the report files into the run folder and print the table.

    Returns:
        0 (the report does not judge the run; use ``pairbench compare --fail-on`` for that).

    Raises:
        UsageError: unknown run, group or sort key.
    """
    from rich.console import Console

    from suite.report import write_report

    run_dir = open_run(args.run_id, args.results_dir)
    console = Console()
    if not console.is_terminal:  # piped or logged: do not squeeze the table into 80 columns
        console = Console(width=200)
    written = write_report(
        run_dir,
        group_by=args.group_by,
        sort=args.sort,
        plots=not args.no_plots,
        console=console,
        summary_only=args.quiet,
    )
    console.print(f"wrote {', '.join(sorted(written))} in {run_dir.path}", highlight=False)
    return 0
