"""``pairbench fleet``: several machines' results as one report (grouped by machine) and one asv site."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "one report (grouped by machine) and one asv site from the results of several machines"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pairbench fleet``."""
    parser.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="a machine's results folder (its newest finished nightly run is shown) or a run folder",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the report files and html/")
    parser.add_argument("--group-by", metavar="KEYS", help="more group keys after machine (pair, device...)")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=Path("."),
        help="the pairbench checkout with asv.conf.json, for the asv site (default: .)",
    )
    parser.add_argument("--no-asv", action="store_true", help="only the pairbench report")


def run(args: argparse.Namespace) -> int:
    """Write the report and publish the asv site; print where they are.

    Raises:
        UsageError: ``--out`` is a file, a source that is neither a results folder nor a run, two
            sources with one machine name, an unknown group key, asv publish failing.
    """
    from suite.errors import UsageError
    from suite.ops.fleet import combine_asv, find_sources, publish_asv, write_fleet_report

    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file, not a folder: name a folder for the report")
    sources = find_sources(args.sources)
    written = write_fleet_report(sources, args.out, group_by=args.group_by)
    for source in sources:
        print(f"machine {source.machine}: run {source.run.path}")
    for name, path in written.items():
        print(f"{name}: {path}")
    if not args.no_asv:
        machines = combine_asv(sources, args.out)
        if machines:
            print(f"asv site ({', '.join(machines)}): {publish_asv(args.out, args.project_dir)}")
        else:
            print("asv site: none of the results folders has asv results")
    return 0
