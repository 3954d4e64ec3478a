#!/usr/bin/env python3
"""pairbench's timed unit and the hand loop's step in ONE process, alternating (issue 17).

    python scripts/inprocess_ab.py PAIR WORKLOAD MODE [--loops 30] [--size default]

Builds the case as ``pairbench run`` does (:func:`suite.measure.execution.prepare_case`) and the
hand loop's step (:func:`suite.measure.hand_loop.build_step`) of the same pair, warms both up, then
times ``--loops`` loops of each (about 50 ms, the garbage collector off, one device sync
each), alternating which goes first, and prints both medians and their ratio. Whatever
differs between processes (memory layout, which vCPU, the neighbours of a VM) touches both
alike here, so a ratio near 1 says pairbench's timed path adds nothing measurable and a
difference ``pairbench overhead`` reports comes from between processes. Not a test: run it on
a quiet machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time


def main(argv: list[str] | None = None) -> int:
    """Time both callables; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pair")
    parser.add_argument("workload", choices=("predict", "train_step"))
    parser.add_argument("mode", choices=("eager", "function", "xla"))
    parser.add_argument("--loops", type=int, default=30)
    parser.add_argument("--size", default="default")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from suite.case import Case
    from suite.measure.execution import prepare_case
    from suite.measure.hand_loop import build_step
    from suite.measure.process import configure_process
    from suite.zoo import get_pair

    configure_process("float32", "off")
    member = get_pair(args.pair).reference
    prep = prepare_case(Case(args.pair, member, args.workload, args.mode, "cpu", "float32", "off", args.size))
    hand = build_step(args.pair, args.workload, args.mode, args.size)
    sync = tf.test.experimental.sync_devices

    def loop(step, n: int) -> float:
        gc.disable()
        start = time.perf_counter()
        for _ in range(n):
            step()
        sync()
        seconds = time.perf_counter() - start
        gc.enable()
        return seconds / n

    for step in (hand, prep.unit):
        loop(step, 50)
    n = max(1, round(0.05 / loop(hand, 10)))
    ours, theirs = [], []
    for i in range(args.loops):
        order = [(theirs, hand), (ours, prep.unit)]
        for out, step in order if i % 2 else order[::-1]:
            out.append(loop(step, n))
    a, b = statistics.median(theirs), statistics.median(ours)
    print(
        f"{args.pair} {args.workload} {args.mode}: hand loop {a * 1e3:.3f} ms, pairbench {b * 1e3:.3f} ms, "
        f"ratio {b / a:.3f} ({args.loops} loops of {n} steps each, one process)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
