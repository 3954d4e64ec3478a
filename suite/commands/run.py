"""``pairbench run``: expand the matrix, run every case in workers, write records and a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from suite.axes import parse_list
from suite.errors import UsageError
from suite.matrix import PRESETS, Selection, apply_preset
from suite.progress import make_progress
from suite.runner import RunOptions, finish_meta, prepare_run, run_cases

HELP = "run the matrix (pairs x members x workloads x modes x devices x precisions x determinism)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Axis filters, presets and run options."""
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
    parser.add_argument("--repeats", type=int, help="timed repeats per case = reruns compared (default 3)")
    parser.add_argument(
        "--steps", type=int, help="units per repeat (default: 10 forward calls, 3 train steps)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, inputs and dropout")
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="capture a profiler trace per case after timing (default: on with --full)",
    )
    parser.add_argument(
        "--localise",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="localise diverged/nondeterministic cases to a layer (default: on)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per case before the worker is killed"
    )
    parser.add_argument("--results-dir", type=Path, default=Path("results"), help="where run folders go")
    parser.add_argument("--run-id", help="name of the new run folder (default: UTC timestamp)")
    parser.add_argument("--resume", metavar="RUN_ID", help="continue a run: only cases without a record run")
    parser.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress output, only the summary")


def selection_from_args(args: argparse.Namespace) -> tuple[Selection, dict]:
    """Build the selection from the preset and axis options."""
    preset = "quick" if args.quick else "full" if args.full else None
    selection, preset_options = apply_preset(Selection(), preset)
    overrides = {}
    for axis in ("pairs", "members", "workloads", "modes", "devices", "precisions", "determinism", "sizes"):
        values = parse_list(getattr(args, axis))
        if values:
            overrides[axis] = tuple(values)
    from dataclasses import replace

    return replace(selection, **overrides), preset_options


def run(args: argparse.Namespace) -> int:
    """Run the matrix; exit 0 when every case has a record (whatever its verdict)."""
    for name in ("repeats", "steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name} must be at least 1 (got {value})")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive (got {args.timeout})")
    selection, preset_options = selection_from_args(args)
    assert PRESETS  # presets documented in suite.matrix
    options = RunOptions(
        results_dir=args.results_dir,
        repeats=args.repeats or preset_options.get("repeats", 3),
        steps=args.steps,
        seed=args.seed,
        profile=args.profile if args.profile is not None else preset_options.get("profile", False),
        localise=args.localise,
        timeout_s=args.timeout,
        pairs_from=tuple(args.pairs_from),
        resume=args.resume,
        run_id=args.run_id,
        argv=["pairbench", *sys.argv[1:]],
    )
    progress = make_progress(quiet=args.quiet)
    progress.message("probing TensorFlow devices ..." if not args.resume else f"resuming {args.resume} ...")
    run_dir, cases, _ = prepare_run(selection, options)
    progress.message(f"run {run_dir.run_id}: {len(cases)} cases + float64 references -> {run_dir.path}")
    try:
        counts = run_cases(run_dir, cases, options, progress)
    except KeyboardInterrupt:
        progress.end()
        finish_meta(run_dir, "interrupted")
        sys.stderr.write(
            f"pairbench: interrupted; finished cases are in {run_dir.records_path}; "
            f"continue with: pairbench run --resume {run_dir.run_id} --results-dir {args.results_dir}\n"
        )
        return 130
    progress.end()
    finish_meta(run_dir, "finished")
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no new cases"
    print(f"run {run_dir.run_id} finished: {summary}")
    print(f"records: {run_dir.records_path}")
    if not args.no_report:
        from suite.report import write_report

        paths = write_report(run_dir, console=None if not args.quiet else False)
        for kind, path in paths.items():
            print(f"{kind}: {path}")
    return 0
