"""``pairbench merge``: join the shard runs of one matrix (``run --shard K/N``) into one run."""

from __future__ import annotations

import argparse
import sys

from suite.commands.common import add_results_dir

HELP = "join shard runs (pairbench run --shard K/N) into one run folder with one report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pairbench merge``."""
    parser.add_argument(
        "runs", nargs="+", metavar="RUN", help="shard runs: ids under --results-dir, or folders"
    )
    add_results_dir(parser, "where run ids are looked up and the merged run goes")
    parser.add_argument("--run-id", help="name of the merged run folder (default: UTC timestamp)")
    parser.add_argument(
        "--partial",
        action="store_true",
        help="accept missing shards and unfinished runs (run.json says which)",
    )
    parser.add_argument("--no-report", action="store_true", help="do not write the report")


def run(args: argparse.Namespace) -> int:
    """Merge, write the report, print where they are.

    Raises:
        UsageError: runs that are not shards of one run (settings, software, plan), a shard
            given twice, overlapping cases, missing or unfinished shards without ``--partial``.
    """
    from suite.run.merge import merge_runs

    result = merge_runs(
        args.runs,
        results_dir=args.results_dir,
        run_id=args.run_id,
        partial=args.partial,
        argv=["pairbench", *sys.argv[1:]],
    )
    shards = ", ".join(r.run_id for r in result.sources)
    counts = f"{result.cases} cases, {result.records} records"
    print(f"merged {len(result.sources)} shard run(s) ({shards}): {counts}")
    if result.missing_shards:
        print(f"missing shards: {', '.join(map(str, result.missing_shards))} (--partial)")
    print(f"run: {result.run.path}")
    if not args.no_report:
        from suite.report import write_report

        for kind, path in write_report(result.run).items():
            print(f"{kind}: {path}")
    return 0
