"""``pairbench nightly``: doctor, asv, the matrix, compare with the last night, publish, prune.

The logic is in :mod:`suite.ops.nightly`; see ``docs/nightly.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from suite.commands.common import add_results_dir
from suite.errors import UsageError
from suite.machine.identity import MACHINE_ENV
from suite.ops.nightly import ASV_ENVS, DEFAULT_FAIL_ON, DEFAULT_KEEP, MATRICES, NightlyOptions, run_nightly
from suite.run.option_specs import SPECS, add_axis_arguments, axis_values
from suite.run.option_specs import add_arguments as add_run_options
from suite.run.option_specs import overrides as run_option_values

#: the run options the nightly offers
NIGHTLY_SPECS = tuple(spec for spec in SPECS if spec.nightly)

HELP = "one run for cron/CI: doctor, asv run, the matrix, compare with the previous night, asv publish"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pairbench nightly`` (the matrix's run options are those of ``pairbench run``)."""
    add_results_dir(parser, "results volume: runs go to DIR/nightly, asv results and html to DIR/asv")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=Path("."),
        help="the git checkout with asv.conf.json (default: the current directory)",
    )
    parser.add_argument(
        "--matrix",
        choices=MATRICES,
        default="auto",
        help="preset of the matrix: auto = full with a GPU, quick without (default auto)",
    )
    add_axis_arguments(parser, "axis filters (comma-separated, as for pairbench run)")
    add_run_options(parser, nightly=True)
    parser.add_argument(
        "--fail-on",
        default=DEFAULT_FAIL_ON,
        metavar="RULES",
        help=f"regressions against the previous night that fail the run (default {DEFAULT_FAIL_ON})",
    )
    parser.add_argument(
        "--keep", type=int, default=DEFAULT_KEEP, help=f"nightly runs to keep (default {DEFAULT_KEEP})"
    )
    parser.add_argument(
        "--doctor", action=argparse.BooleanOptionalAction, default=True, help="run pairbench doctor first"
    )
    parser.add_argument(
        "--asv",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run asv (default: when the project is a git checkout with asv.conf.json; "
        "--asv makes its absence a failure)",
    )
    parser.add_argument(
        "--asv-env",
        choices=ASV_ENVS,
        default="existing",
        help="existing: benchmark this Python's install; config: asv.conf.json's environments",
    )
    parser.add_argument(
        "--asv-args", default="", help="extra arguments for asv run (one shell-quoted string)"
    )
    parser.add_argument(
        "--machine",
        help=f"asv machine name (default: ${MACHINE_ENV}, else the hostname)",
    )
    parser.add_argument(
        "--force", action="store_true", help="rerun asv for a commit that already has results here"
    )
    parser.add_argument(
        "--skip-same-commit",
        action="store_true",
        help="skip the matrix when the last nightly run measured the same commit and selection",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output, only the summary")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def options_from_args(args: argparse.Namespace) -> NightlyOptions:
    """The :class:`~suite.ops.nightly.NightlyOptions` of parsed arguments.

    Raises:
        UsageError: an empty axis filter, or ``--asv-args`` that is not one shell-quoted string.
    """
    try:
        asv_args = tuple(shlex.split(args.asv_args))
    except ValueError as exc:
        raise UsageError(f"--asv-args {args.asv_args!r} is not a shell-quoted string ({exc})") from None
    return NightlyOptions(
        results_dir=args.results_dir,
        project_dir=args.project_dir,
        matrix=args.matrix,
        axes=axis_values(args),
        run={k: v for k, v in run_option_values(args, NIGHTLY_SPECS).items() if v is not None},
        pairs_from=tuple(args.pairs_from),
        fail_on=args.fail_on,
        keep=args.keep,
        doctor=args.doctor,
        asv=args.asv,
        asv_env=args.asv_env,
        asv_args=asv_args,
        machine=args.machine,
        force=args.force,
        skip_same_commit=args.skip_same_commit,
        quiet=args.quiet,
        argv=["pairbench", *sys.argv[1:]],
    )


def run(args: argparse.Namespace) -> int:
    """Run the nightly; print the one-paragraph summary (or JSON).

    Returns:
        0 when every step passed and nothing regressed, 1 otherwise.

    Raises:
        UsageError: bad options (exit 2).
    """
    result = run_nightly(options_from_args(args))
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
    else:
        print(result.paragraph, flush=True)
    return result.exit_code
