"""Is the warm-up long enough? The first timed sample vs the median, over a run's records.

Issue 17's criterion: the first timed sample is no slower than 1.10x the case's median in at
least 90% of the records (with two or more samples) of a ``pairbench run --quick``.

    python scripts/check_first_sample.py results/<run-id> [--limit 1.10] [--share 0.90] [--control 300]

Prints the share and the worst cases; exits 0 when the criterion holds, 1 when it does not,
2 on bad input. Not a test: timings depend on the machine (run it on a quiet one).

Two more lines tell a warm-up problem from a noisy machine:

- the same share for every sample position (:func:`suite.measure.timing.position_shares`): a warm-up
  that is too short makes the first position worse than the last; noise lowers them alike;
- a control (``--control N``, 0 to skip): the same criterion on N groups of as many
  consecutive samples of a pure-Python loop, each as long as the run's shortest sample
  (``min_sample_s``): no TensorFlow, no threads, nothing to warm up. Its share is what this
  machine allows right now; a run cannot be expected to do better.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from suite.errors import UsageError
from suite.measure.timing import FIRST_SAMPLE_LIMIT, FIRST_SAMPLE_SHARE, first_sample_ratios, position_shares
from suite.results.run_dir import RunDir


def control_share(sample_s: float, samples: int, groups: int, limit: float) -> float:
    """The criterion on ``groups`` groups of ``samples`` consecutive pure-Python samples of about
    ``sample_s`` seconds each (garbage collector off): the share whose first is within ``limit``."""
    import gc
    import statistics
    import time

    def spin(n: int) -> int:
        total = 0
        for i in range(n):
            total += i * i
        return total

    n = 10_000
    while True:  # size the loop to the sample length
        start = time.perf_counter()
        spin(n)
        took = time.perf_counter() - start
        if took >= sample_s / 4:
            n = max(1, round(n * sample_s / took))
            break
        n *= 4
    ok = 0
    gc.disable()
    try:
        for _ in range(groups):
            times = []
            for _ in range(samples):
                start = time.perf_counter()
                spin(n)
                times.append(time.perf_counter() - start)
            ok += times[0] <= limit * statistics.median(times)
    finally:
        gc.enable()
    return ok / groups


def main(argv: list[str] | None = None) -> int:
    """Check one run folder; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder (results/<run-id>)")
    parser.add_argument("--limit", type=float, default=FIRST_SAMPLE_LIMIT, help="first / median at most")
    parser.add_argument("--share", type=float, default=FIRST_SAMPLE_SHARE, help="of the records at least")
    parser.add_argument("--worst", type=int, default=10, help="how many of the slowest first samples to list")
    parser.add_argument(
        "--control", type=int, default=300, help="groups of pure-Python samples for the control (0: none)"
    )
    args = parser.parse_args(argv)
    if not (args.run / "records.jsonl").is_file():
        sys.stderr.write(f"check_first_sample: {args.run} has no records.jsonl\n")
        return 2
    records = [r for r in RunDir(args.run).records() if len((r.timing or {}).get("step_s") or []) >= 2]
    ratios = first_sample_ratios([r.timing["step_s"] for r in records])
    if not ratios:
        sys.stderr.write(f"check_first_sample: {args.run} has no record with two or more timed samples\n")
        return 2
    ok = sum(r <= args.limit for r in ratios)
    share = ok / len(ratios)
    verdict = "PASS" if share >= args.share else "FAIL"
    print(
        f"{verdict}: first timed sample <= {args.limit:g}x the median in {ok}/{len(ratios)} records "
        f"({share:.1%}; criterion {args.share:.0%})"
    )
    shares = position_shares([r.timing["step_s"] for r in records], args.limit)
    print("  by sample position: " + ", ".join(f"#{k + 1} {v:.1%}" for k, v in enumerate(shares)))
    if args.control > 0:
        try:
            options = RunDir(args.run).read_meta().get("options") or {}
        except UsageError as exc:  # no or a damaged run.json: the control takes the default length
            sys.stderr.write(f"check_first_sample: {exc}; the control uses 50 ms samples\n")
            options = {}
        sample_s = float(options.get("min_sample_s") or 0.05)
        n = min(len(r.timing["step_s"]) for r in records)
        floor = control_share(sample_s, n, args.control, args.limit)
        print(
            f"  control (pure Python, {args.control} groups of {n} samples of {sample_s * 1e3:g} ms): "
            f"first <= {args.limit:g}x the median in {floor:.1%}"
        )
    worst = sorted(zip(ratios, records, strict=True), key=lambda pair: -pair[0])[: args.worst]
    for ratio, rec in worst:
        if ratio > args.limit:
            t = rec.timing
            print(
                f"  {ratio:5.2f}x  {rec.case_id}  (steps/sample {t.get('steps_per_repeat')}, "
                f"warm-up {t.get('warmup_samples')} samples, stable {t.get('warmup_stable')})"
            )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
