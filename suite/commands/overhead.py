"""``pairbench overhead``: what ``pairbench run`` records vs an independent hand loop, side by side."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path

from suite.axes import MODES, SIZES, check_names, parse_filter

HELP = (
    "compare the step times `pairbench run` records with a hand-written loop in its own process, "
    "alternating (target ratio 0.97-1.03)"
)
WORKLOADS = ["predict", "train_step"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options."""
    parser.add_argument("--pairs", help="comma-separated (default: every pair)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="predict,train_step")
    parser.add_argument("--modes", default=",".join(MODES), help="eager,function,xla")
    parser.add_argument("--device", default="cpu", help="cpu or gpu:N")
    parser.add_argument("--size", default="default", help="size preset (default: default)")
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternating rounds of both processes (default 4)"
    )
    parser.add_argument("--repeats", type=int, default=10, help="pairbench run --repeats (default 10)")
    for pool in ("intra", "inter"):
        parser.add_argument(
            f"--{pool}-op-threads", type=int, metavar="N", help=f"{pool}-op threads, both sides"
        )
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    parser.add_argument("--markdown", type=Path, help="also write the table as markdown to this file")


def _check(args: argparse.Namespace) -> tuple[list[str], list[str], list[str]]:
    from suite.errors import UsageError
    from suite.zoo import registered

    pairs = check_names("pair", parse_filter("--pairs", args.pairs) or list(registered()), list(registered()))
    workloads = check_names("workload", parse_filter("--workloads", args.workloads) or [], WORKLOADS)
    modes = check_names("mode", parse_filter("--modes", args.modes) or [], MODES)
    if not workloads or not modes:
        raise UsageError("--workloads and --modes need at least one value")
    if not 1 <= args.rounds <= 100:
        raise UsageError(f"--rounds must be from 1 to 100 (got {args.rounds})")
    if not 3 <= args.repeats <= 1000:
        raise UsageError(f"--repeats must be from 3 to 1000 (got {args.repeats})")
    for flag in ("intra_op_threads", "inter_op_threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1 (got {value})")
    check_names("size", [args.size], SIZES)
    if not re.fullmatch(r"cpu|gpu:\d+", args.device):
        raise UsageError(f"unknown device {args.device!r}; valid: cpu, gpu:0, gpu:1, ...")
    if args.device != "cpu":  # ask a worker, before starting rounds of processes
        from suite.run.parent import probe

        visible = int(probe()["gpus"])
        if int(args.device.split(":")[1]) >= visible:
            raise UsageError(f"no {args.device}: TensorFlow sees {visible} GPU(s)")
    return pairs, workloads, modes


def _load() -> str:
    try:
        return "/".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def run(args: argparse.Namespace) -> int:
    """Measure and print the table."""
    from rich.console import Console
    from rich.table import Table

    from suite.machine.provenance import cpu_model
    from suite.measure.overhead import TARGET, measure, summary, to_markdown

    pairs, workloads, modes = _check(args)
    console = Console(stderr=args.json)
    load_before = _load()
    try:
        rows = measure(
            pairs,
            workloads,
            modes,
            device=args.device,
            size=args.size,
            rounds=args.rounds,
            repeats=args.repeats,
            threads=(args.intra_op_threads, args.inter_op_threads),
            pairs_from=tuple(str(Path(p).resolve()) for p in args.pairs_from),
            progress=lambda line: console.print(line, highlight=False),
        )
    except RuntimeError as exc:  # a process of the comparison failed: its reason, no traceback
        sys.stderr.write(f"pairbench: overhead: {exc}\n")
        return 1
    machine = (
        f"{cpu_model()} ({platform.machine()}, {os.cpu_count()} CPUs), device {args.device}, size "
        f"{args.size}, {args.rounds} rounds, pairbench run --repeats {args.repeats}, {date.today()}, "
        f"load average before {load_before}, after {_load()}"
    )
    if args.json:
        print(json.dumps([{**asdict(r), "ratio": r.ratio, "note": r.note} for r in rows], indent=2))
    else:
        table = Table(title=f"pairbench overhead — {machine}")
        for col in ("pair", "workload", "mode", "pairbench ms/step", "hand ms/step", "ratio", "note"):
            table.add_column(col, justify="right" if "ms" in col or col == "ratio" else "left")
        for r in rows:
            inside = TARGET[0] <= r.ratio <= TARGET[1]
            table.add_row(
                r.pair,
                r.workload,
                r.mode,
                f"{r.pairbench_s * 1e3:.3f}",
                f"{r.hand_s * 1e3:.3f}",
                f"{r.ratio:.3f}",
                r.note,
                style="" if inside else "yellow",
            )
        console.print(table)
        console.print(summary(rows), highlight=False)
    if args.markdown:
        args.markdown.write_text(to_markdown(rows, machine) + "\n", encoding="utf-8")
    return 0
