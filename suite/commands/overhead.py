"""``pairbench overhead``: pairbench's reported step time vs a minimal hand-written loop."""

from __future__ import annotations

import argparse
import json
import platform
import re
from dataclasses import asdict
from datetime import date
from pathlib import Path

from suite.axes import MODES, SIZES, check_names, parse_list

HELP = "benchmark pairbench's timing overhead against a hand-written loop (goal: ratio <= 1.03)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options."""
    parser.add_argument("--pairs", help="comma-separated (default: every pair)")
    parser.add_argument("--workloads", default="predict,train_step", help="predict,train_step")
    parser.add_argument("--modes", default=",".join(MODES), help="eager,function,xla")
    parser.add_argument("--device", default="cpu", help="cpu or gpu:N")
    parser.add_argument("--size", default="default", help="size preset (default: default)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds per case")
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    parser.add_argument("--markdown", type=Path, help="also write the table as markdown to this file")


def run(args: argparse.Namespace) -> int:
    """Measure and print the table."""
    from suite.errors import UsageError
    from suite.zoo import registered

    pairs = check_names("pair", parse_list(args.pairs) or list(registered()), list(registered()))
    workloads = check_names("workload", parse_list(args.workloads) or [], ["predict", "train_step"])
    modes = check_names("mode", parse_list(args.modes) or [], MODES)
    if args.rounds < 3:
        raise UsageError("--rounds must be at least 3")
    check_names("size", [args.size], SIZES)
    if not re.fullmatch(r"cpu|gpu:\d+", args.device):
        raise UsageError(f"unknown device {args.device!r}; valid: cpu, gpu:0, gpu:1, ...")
    from rich.console import Console
    from rich.table import Table

    from suite.execution import configure_process
    from suite.overhead import measure, overhead_cases, to_markdown
    from suite.tf_noise import quiet_native_stderr

    with quiet_native_stderr():
        configure_process("float32", "off")
        import tensorflow as tf

        visible = len(tf.config.list_logical_devices("GPU"))
    if args.device != "cpu" and int(args.device.split(":")[1]) >= visible:
        raise UsageError(f"no {args.device}: TensorFlow sees {visible} GPU(s)")
    console = Console(stderr=args.json)
    rows = []
    for case in overhead_cases(pairs, workloads, modes, args.device, args.size):
        console.print(f"measuring {case.case_id} ...", highlight=False)
        rows.append(measure(case, rounds=args.rounds))
    from suite.provenance import cpu_model

    machine = f"{cpu_model()} ({platform.machine()}), device {args.device}, size {args.size}, {date.today()}"
    if args.json:
        print(json.dumps([{**asdict(r), "ratio": r.ratio} for r in rows], indent=2))
    else:
        table = Table(title=f"pairbench overhead — {machine}")
        for col in ("pair", "workload", "mode", "pairbench ms/step", "hand ms/step", "ratio"):
            table.add_column(col, justify="right" if "ms" in col or col == "ratio" else "left")
        for r in rows:
            style = "" if r.ratio <= 1.03 else "yellow"
            table.add_row(
                r.pair,
                r.workload,
                r.mode,
                f"{r.pairbench_s * 1e3:.3f}",
                f"{r.hand_s * 1e3:.3f}",
                f"{r.ratio:.3f}",
                style=style,
            )
        console.print(table)
    if args.markdown:
        args.markdown.write_text(to_markdown(rows, machine) + "\n", encoding="utf-8")
    return 0
