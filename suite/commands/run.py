"""``pairbench run``: expand the matrix, run every case in workers, write records and a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from suite.errors import UsageError

HELP = "run the matrix (pairs x members x workloads x modes x devices x precisions x determinism)"

AXES = ("pairs", "members", "workloads", "modes", "devices", "precisions", "determinism", "sizes")
#: options that decide what a run measures: fixed when the run starts, read back on --resume
MEASURING = (
    "quick",
    "full",
    *AXES,
    "repeats",
    "steps",
    "min_sample_time",
    "max_warmup",
    "intra_op_threads",
    "inter_op_threads",
    "seed",
    "profile",
    "localise",
    "timeout",
    "fp64",
    "run_id",
    "executor",
    "shard",
    "gpu_type",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Axis filters, presets and run options (defaults live in :class:`suite.run.RunOptions`)."""
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--quick", action="store_true", help="minute-scale CPU run: tiny sizes, float32")
    preset.add_argument("--full", action="store_true", help="every axis; default size on CPU, large on GPU")
    axes = parser.add_argument_group("axis filters (comma-separated)")
    axes.add_argument("--pairs", help="e.g. mlp,cnn (default: every registered pair)")
    axes.add_argument("--members", help="e.g. sequential,subclass (default: all)")
    axes.add_argument("--workloads", help="predict,train_step,fit")
    axes.add_argument("--modes", help="eager,function,xla")
    axes.add_argument("--devices", help="cpu,gpu:0,... (default: cpu and every visible GPU)")
    axes.add_argument("--precisions", help="float32,tf32,mixed_float16,mixed_bfloat16")
    axes.add_argument("--determinism", help="off,on")
    axes.add_argument("--sizes", help="tiny,default,large")
    parser.add_argument(
        "--repeats", type=int, help="repeats per case: timed samples = reruns compared (default 3)"
    )
    parser.add_argument(
        "--steps",
        type=int,
        help="units from the initial state whose outputs are compared (default: 10 forward calls, "
        "3 train steps)",
    )
    add_timing_arguments(parser)
    parser.add_argument("--seed", type=int, help="seed for weights, inputs and dropout (default 0)")
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="capture a profiler trace per case after timing (default: on with --full)",
    )
    parser.add_argument(
        "--localise",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="localise diverged/nondeterministic cases to a layer (default: on)",
    )
    parser.add_argument(
        "--fp64",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the float64 reference of each pair for vs_fp64 (default: on)",
    )
    parser.add_argument(
        "--timeout", type=float, help="seconds per case before the worker is killed (default 600)"
    )
    parser.add_argument("--results-dir", type=Path, default=Path("results"), help="where run folders go")
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
    scale = parser.add_argument_group("where the cases run (docs/scale.md)")
    scale.add_argument(
        "--executor",
        choices=("local", "serial", "ray"),
        help="local: a worker per GPU of this machine at once, CPU cases alone (default); "
        "serial: one worker at a time; ray: tasks on a Ray cluster (pairbench[ray])",
    )
    scale.add_argument(
        "--address",
        metavar="ADDR",
        help="with --executor ray: the cluster (default: $RAY_ADDRESS, else the one `ray start` "
        "left here, else a new local Ray); may change on --resume",
    )
    scale.add_argument(
        "--gpu-type",
        metavar="TYPE",
        help="with --executor ray: run GPU cases on this accelerator type (A100...)",
    )
    scale.add_argument(
        "--shard",
        metavar="K/N",
        help="run only shard K of N of the matrix (1/4 ... 4/4; join the runs with `pairbench merge`)",
    )
    parser.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress output, only the summary")


def axis_values(args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    """Explicit axis filters; an empty list (``--pairs ''``) is refused, never read as "all"."""
    out = {}
    for axis in AXES:
        value = getattr(args, axis, None)
        if value is None:
            continue
        items = tuple(v.strip() for v in value.split(",") if v.strip())
        if not items:
            raise UsageError(f"--{axis} is empty: name at least one value (leave the option out for all)")
        out[axis] = items
    return out


def _given(args: argparse.Namespace, name: str) -> bool:
    value = getattr(args, name, None)
    return value is not None and value is not False


def run(args: argparse.Namespace) -> int:
    """Run the matrix; exit 0 when every case has a record (whatever its verdict)."""
    from suite.run import make_options, run_selection
    from suite.run.progress import make_progress
    from suite.run.shard import parse_shard

    argv = ["pairbench", *sys.argv[1:]]
    if args.resume:
        fixed = [name for name in MEASURING if _given(args, name)]
        if args.pairs_from:
            fixed.append("pairs_from")
        if fixed:
            flags = ", ".join("--" + n.replace("_", "-") for n in fixed)
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
            repeats=args.repeats,
            steps=args.steps,
            min_sample_s=args.min_sample_time,
            max_warmup_s=args.max_warmup,
            intra_op_threads=args.intra_op_threads,
            inter_op_threads=args.inter_op_threads,
            seed=args.seed,
            profile=args.profile,
            localise=args.localise,
            timeout_s=args.timeout,
            reference_fp64=args.fp64,
            executor=args.executor,
            shard=str(parse_shard(args.shard)) if args.shard is not None else None,
            gpu_type=args.gpu_type,
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
        sys.stderr.write(f"pairbench: {outcome.message}\n")
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


def add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    """``--min-sample-time``, ``--max-warmup``, ``--intra-op-threads``, ``--inter-op-threads``
    (``run`` and ``nightly``; their defaults live in :class:`~suite.run.options.RunOptions`)."""
    timing = parser.add_argument_group("timing (see README: How a case is timed)")
    timing.add_argument(
        "--min-sample-time",
        type=float,
        metavar="SECONDS",
        help="shortest timed sample: units per sample are calibrated to it (default 0.05; --quick 0.02)",
    )
    timing.add_argument(
        "--max-warmup",
        type=float,
        metavar="SECONDS",
        help="most warm-up per case; it stops earlier once the timing is stable (default 1; --quick 0.3)",
    )
    for pool in ("intra", "inter"):
        timing.add_argument(
            f"--{pool}-op-threads",
            type=int,
            metavar="N",
            help=f"TensorFlow {pool}-op threads in every worker (default: TensorFlow's, one per core)",
        )
