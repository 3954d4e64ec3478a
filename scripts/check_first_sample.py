"""Is the warm-up long enough? The first timed sample vs the median, over a run's records.

Issue 17's criterion: the first timed sample is no slower than 1.10x the case's median in at
least 90% of the records (with two or more samples) of a ``pairbench run --quick``.

    python scripts/check_first_sample.py results/<run-id> [--limit 1.10] [--share 0.90]

Prints the share and the worst cases; exits 0 when the criterion holds, 1 when it does not,
2 on bad input. Not a test: timings depend on the machine (run it on a quiet one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from suite.results import RunDir
from suite.timing import FIRST_SAMPLE_LIMIT, FIRST_SAMPLE_SHARE, first_sample_ratios


def main(argv: list[str] | None = None) -> int:
    """Check one run folder; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder (results/<run-id>)")
    parser.add_argument("--limit", type=float, default=FIRST_SAMPLE_LIMIT, help="first / median at most")
    parser.add_argument("--share", type=float, default=FIRST_SAMPLE_SHARE, help="of the records at least")
    parser.add_argument("--worst", type=int, default=10, help="how many of the slowest first samples to list")
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
