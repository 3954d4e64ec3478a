"""The check's command line and its loop: the selected parts one after the other, each under
its share of ``--budget-s``, the outputs rewritten after every part, and the summary last.

When a part starts it gets its weight's share (:data:`WEIGHTS`) of the time left less
:data:`FINAL_RESERVE_S`, at least :data:`MIN_PART_S` when that much is left; time a part does not
use goes to the parts after it. SIGTERM and SIGHUP stop the current step and keep what is done.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from suite.ops.gpu_check.context import NO_GPU, Context
from suite.ops.gpu_check.determinism import part_determinism
from suite.ops.gpu_check.doctor import part_doctor, probe_gpus
from suite.ops.gpu_check.matrix import part_matrix
from suite.ops.gpu_check.outcome import PartResult, is_ok
from suite.ops.gpu_check.outputs import human_summary, write_outputs
from suite.ops.gpu_check.speed import part_speed
from suite.ops.gpu_check.steps import share
from suite.ops.gpu_check.trace import part_trace

DESCRIPTION = "The whole GPU check of pairbench in one device call (issues 25 and 26)."
PARTS: tuple[str, ...] = ("doctor", "determinism", "trace", "matrix", "speed")
DEFAULT_PARTS: tuple[str, ...] = ("doctor", "determinism", "trace", "matrix")
#: parts that need a GPU (run reduced on a simulated one with --cpu-smoke)
GPU_PARTS = frozenset({"determinism", "trace", "matrix", "speed"})
#: how the budget is shared: a part gets its weight's share of what is left when it starts
WEIGHTS: dict[str, float] = {"doctor": 1.0, "determinism": 4.0, "trace": 1.5, "matrix": 9.0, "speed": 9.0}
#: a part gets at least this long when that much is left (TensorFlow's import alone takes seconds)
MIN_PART_S: dict[str, float] = {"doctor": 40.0, "trace": 40.0}
DEFAULT_BUDGET_S = 480.0
#: kept back at the end for writing the outputs
FINAL_RESERVE_S = 15.0

PART_FUNCTIONS: dict[str, Callable[[Context, PartResult, float], None]] = {
    "doctor": part_doctor,
    "determinism": part_determinism,
    "trace": part_trace,
    "matrix": part_matrix,
    "speed": part_speed,
}


def parse_parts(text: str) -> tuple[str, ...]:
    """``doctor,matrix`` / ``all`` -> parts in their run order.

    Raises:
        argparse.ArgumentTypeError: an unknown part.
    """
    names = [p.strip() for p in text.split(",") if p.strip()]
    if names == ["all"]:
        return PARTS
    unknown = [n for n in names if n not in PARTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown part(s) {', '.join(unknown) or '(none)'}; valid: {', '.join(PARTS)}, all"
        )
    return tuple(p for p in PARTS if p in names)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line (docs/gpu-check.md); exits 2 on bad arguments."""
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--out", type=Path, required=True, help="where the (at most 8) output files go")
    parser.add_argument(
        "--budget-s", type=float, default=DEFAULT_BUDGET_S, help="seconds for everything (480)"
    )
    parser.add_argument(
        "--parts",
        type=parse_parts,
        default=DEFAULT_PARTS,
        help=f"comma list of {', '.join(PARTS)} or all (default: {','.join(DEFAULT_PARTS)})",
    )
    parser.add_argument(
        "--cpu-smoke", action="store_true", help="reduced parts on a simulated gpu:0 without a GPU"
    )
    parser.add_argument(
        "--work-dir", type=Path, help="run folders and logs (default: a new temporary folder)"
    )
    parser.add_argument("--gpus", type=int, help="GPUs TensorFlow sees (skips the probe; for tests)")
    parser.add_argument(
        "--matrix-pairs", help="comma list (default: every pair; cpu-smoke: mlp_seed,transformer)"
    )
    parser.add_argument("--matrix-workloads", default="train_step", help="comma list (default: train_step)")
    parser.add_argument(
        "--det-repeats", type=int, help="reruns of the determinism cases, >= 5 (8; cpu-smoke 5)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.budget_s <= 3600:
        parser.error("--budget-s must be from 1 to 3600")
    if args.det_repeats is not None and args.det_repeats < 5:
        parser.error("--det-repeats must be at least 5 (the issue asks for >= 5 reruns)")
    return args


class Interrupted(BaseException):
    """SIGTERM/SIGHUP reached the check: stop the current step, keep what is done."""


def _raise_interrupted(signum: int, _frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _comma_list(text: str | None) -> tuple[str, ...]:
    return tuple(p for p in (text or "").split(",") if p)


def part_deadline(ctx: Context, name: str, later_parts: Sequence[str]) -> float:
    """When part ``name`` must be done: its weight's share of the time left, less the final
    reserve, at least its :data:`MIN_PART_S` when that much is left.

    Args:
        ctx: the check (its ``hard_deadline`` and what it knows about the GPU).
        name: the part.
        later_parts: the parts selected after it (GPU parts count unless they will be skipped).
    """
    may_run = ctx.real_gpu or ctx.smoke or ctx.gpus is None  # GPU parts run (or might)
    later = sum(WEIGHTS[p] for p in later_parts if p not in GPU_PARTS or may_run)
    deadline = share(ctx.hard_deadline, WEIGHTS[name], later, reserve=FINAL_RESERVE_S)
    floor = min(time.monotonic() + MIN_PART_S.get(name, 0.0), ctx.hard_deadline - FINAL_RESERVE_S)
    return max(deadline, floor)


def main(argv: Sequence[str] | None = None, *, echo: bool = True) -> int:
    """Run the selected parts under the budget and write the outputs (docs/gpu-check.md).

    Args:
        argv: the command line (default ``sys.argv[1:]``); ``--bare-matmul DEVICE M K N`` prints
            :func:`~suite.ops.gpu_check.speed.bare_matmul`'s rows instead (a step of the speed part).
        echo: print the log lines and the summary on stdout.

    Returns:
        0 when no check failed and no part failed or ran out of time, else 1 (2, through
        SystemExit, on bad arguments).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--bare-matmul"]:
        from suite.ops.gpu_check.speed import bare_matmul

        print(json.dumps(bare_matmul(argv[1], *(int(a) for a in argv[2:5]))))
        return 0
    args = parse_args(argv)
    started = time.monotonic()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        out=args.out,
        work=work,
        smoke=args.cpu_smoke,
        gpus=args.gpus,
        gpu_source="--gpus" if args.gpus is not None else "",
        hard_deadline=started + args.budget_s,
        started=started,
        echo=echo,
        matrix_pairs=_comma_list(args.matrix_pairs) or None,
        matrix_workloads=_comma_list(args.matrix_workloads),
        det_repeats=args.det_repeats,
    )
    old = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    parts: list[PartResult] = []
    start = time.monotonic()
    ctx.log(
        f"gpu check: parts {','.join(args.parts)}, budget {args.budget_s:.0f} s, work {work}, out {args.out}"
    )
    try:
        for i, name in enumerate(args.parts):
            part = PartResult(name)
            parts.append(part)
            if name in GPU_PARTS and ctx.gpus is None:
                probe_gpus(ctx, ctx.hard_deadline - FINAL_RESERVE_S)
                ctx.log(f"GPUs TensorFlow sees: {ctx.gpus} ({ctx.gpu_source})")
            if name in GPU_PARTS and not ctx.real_gpu and not ctx.smoke:
                part.status, part.reason = "skipped", f"{NO_GPU} (--cpu-smoke runs it reduced on the CPU)"
                ctx.log(f"{name}: skipped: {part.reason}")
                continue
            deadline = part_deadline(ctx, name, args.parts[i + 1 :])
            part.budget_s = round(deadline - time.monotonic(), 1)
            start = time.monotonic()
            try:
                PART_FUNCTIONS[name](ctx, part, deadline)
            except Exception as exc:  # a bug or a surprise in one part must not lose the others
                part.status = "failed"
                part.add_reason(f"{type(exc).__name__}: {exc}")
                ctx.log(f"{name}: failed: {type(exc).__name__}: {exc}")
            part.wall_s = round(time.monotonic() - start, 1)
            ctx.log(f"{name}: {part.status} in {part.wall_s:.0f} s (budget {part.budget_s:.0f} s)")
            write_outputs(ctx, parts, args.budget_s, argv)
    except (Interrupted, KeyboardInterrupt) as exc:
        ctx.log(f"interrupted ({exc or 'SIGINT'}): writing what is done")
        if parts and parts[-1].status != "skipped" and not parts[-1].wall_s:
            parts[-1].status = "timeout"
            parts[-1].add_reason(f"interrupted by {exc or 'SIGINT'}")
            parts[-1].wall_s = round(time.monotonic() - start, 1)
        done = {p.part for p in parts}
        parts += [
            PartResult(p, "skipped", "interrupted before it started") for p in args.parts if p not in done
        ]
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    write_outputs(ctx, parts, args.budget_s, argv)
    text = human_summary(ctx, parts, args.budget_s)
    if echo:
        print(text, flush=True)
    with open(work / "gpu_check.log", "a", encoding="utf-8") as fh:
        fh.write(text + "\n")
    write_outputs(ctx, parts, args.budget_s, argv)  # the log with the summary
    return 0 if is_ok(parts) else 1
