"""Same-code false-regression rate of ``pairbench compare --fail-on speed:T``, before and after.

Runs the same code K times on this machine (or reuses runs already in ``--results-dir``),
compares each run with the next, and counts the cases each speed rule calls a significant
slowdown past the threshold. Every such case is a false regression: the code did not change.

Rules compared:

- ``main``: the rule of git main before issue 14 (``suite/compare/runs.py`` at f9c2fa0): at least
  3 repeats per run, the p10–p90 ranges of the per-repeat step times disjoint, and the
  ratio of medians at or above the threshold.
- ``now``: :mod:`suite.compare.significance` (Mann–Whitney U and a distribution-free interval of the
  slowdown, at least 5 repeats, and the run-to-run noise over all cases), through
  :meth:`suite.compare.runs.Comparison.speed_regressions`, what ``--fail-on speed:T`` uses.

With ``--truncate 3`` both rules are also applied to the first 3 repeats of every case (what
``pairbench run --quick`` records), which is the setting of the issue's report.

Example (quiet machine; about 2 minutes per run on 2 cores)::

    python scripts/false_regressions.py --runs 6 --repeats 7 --truncate 3 \\
        --results-dir /tmp/same-code

Prints a Markdown table per run pair and the rates; ``--json FILE`` writes them too.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from suite.compare.runs import compare_records  # noqa: E402
from suite.results.record import Record  # noqa: E402
from suite.results.runs import open_run  # noqa: E402

SELECTION = [
    "--pairs",
    "mlp_seed,embedding,cnn",
    "--members",
    "sequential,functional",
    "--workloads",
    "predict,train_step",
    "--sizes",
    "tiny",
    "--no-fp64",
    "--no-localise",
]


def main_rule(a: list[float], b: list[float], threshold: float) -> bool:
    """git main's rule (f9c2fa0): >= 3 repeats, disjoint p10–p90 ranges, median ratio >= threshold."""
    if min(len(a), len(b)) < 3:
        return False
    lo_a, hi_a = np.percentile(a, [10, 90])
    lo_b, hi_b = np.percentile(b, [10, 90])
    disjoint = hi_a < lo_b or hi_b < lo_a
    return bool(disjoint and np.median(b) / np.median(a) >= threshold)


def _truncated(rec: Record, k: int | None) -> Record:
    import dataclasses

    samples = list((rec.timing or {}).get("step_s") or [])
    if k is None or not samples:
        return rec
    s = np.asarray(samples[:k], dtype=float)
    p10, p25, p50, p75, p90 = np.percentile(s, [10, 25, 50, 75, 90])
    timing = {
        **rec.timing,
        "step_s": s.tolist(),
        "step_s_median": float(p50),
        "step_s_p10": float(p10),
        "step_s_p90": float(p90),
        "step_s_iqr": float(p75 - p25),
        "repeats": len(s),
    }
    return dataclasses.replace(rec, timing=timing)


def compare_pair(run_a: Any, run_b: Any, threshold: float, k: int | None) -> dict[str, Any]:
    """False regressions of both rules between two same-code runs (first ``k`` repeats)."""
    recs_a = [_truncated(r, k) for r in run_a.records()]
    recs_b = [_truncated(r, k) for r in run_b.records()]
    by_b = {r.case_id: r for r in recs_b}
    timed, main_hits = 0, []
    for ra in recs_a:
        rb = by_b.get(ra.case_id)
        sa, sb = (ra.timing or {}).get("step_s"), ((rb.timing if rb else None) or {}).get("step_s")
        if not sa or not sb:
            continue
        timed += 1
        if main_rule(sa, sb, threshold):
            main_hits.append((ra.case_id, float(np.median(sb) / np.median(sa))))
    comp = compare_records(recs_a, recs_b, run_a=run_a.run_id, run_b=run_b.run_id)
    now_hits = [(c.case_id, c.ratio) for c in comp.speed_regressions(threshold)]
    return {
        "a": run_a.run_id,
        "b": run_b.run_id,
        "repeats": k or "all",
        "timed_cases": timed,
        "main": main_hits,
        "now": now_hits,
        "max_ratio": max((c.ratio for c in comp.cases if c.ratio), default=None),
        "noise": {"drift": comp.noise.drift, "spread": comp.noise.spread, "cases": comp.noise.n},
    }


def make_runs(results: Path, n: int, repeats: int, extra: list[str]) -> None:
    """Run the same selection ``n`` times into ``results`` (run ids ``same-0``, ``same-1``...)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    for i in range(n):
        run_id = f"same-{i}"
        if (results / run_id / "run.json").exists():
            print(f"{run_id}: exists, reused", file=sys.stderr)
            continue
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", "suite", "run", *SELECTION, *extra]
        cmd += ["--repeats", str(repeats), "--results-dir", str(results), "--run-id", run_id]
        cmd += ["--no-report", "--quiet"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            sys.exit(f"run {run_id} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        print(f"{run_id}: {time.monotonic() - t0:.0f} s", file=sys.stderr)


def _rate(rows: list[dict[str, Any]], rule: str) -> str:
    pairs = len(rows)
    failing = sum(bool(r[rule]) for r in rows)
    cases = sum(r["timed_cases"] for r in rows)
    hits = sum(len(r[rule]) for r in rows)
    return (
        f"{failing}/{pairs} run pairs fail (exit 1), "
        f"{hits}/{cases} case comparisons flagged ({hits / cases:.1%})"
        if cases
        else "no timed cases"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results-dir", type=Path, required=True, help="where the same-code runs go")
    parser.add_argument("--runs", type=int, default=4, help="same-code runs to make (default 4)")
    parser.add_argument("--repeats", type=int, default=10, help="timed repeats per case (default 10)")
    parser.add_argument("--threshold", type=float, default=1.10, help="the speed:T of --fail-on (1.10)")
    parser.add_argument(
        "--truncate", type=int, action="append", default=[], help="also on the first K repeats"
    )
    parser.add_argument("--all-pairs", action="store_true", help="compare every pair of runs, not neighbours")
    parser.add_argument("--reuse", action="store_true", help="only compare the runs already in --results-dir")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("run_args", nargs="*", help="extra `pairbench run` arguments (after --)")
    args = parser.parse_args(argv)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    if not args.reuse:
        make_runs(args.results_dir, args.runs, args.repeats, args.run_args)
    ids = sorted(p.name for p in args.results_dir.iterdir() if (p / "records.jsonl").is_file())
    runs = [open_run(i, args.results_dir) for i in ids]
    if len(runs) < 2:
        sys.exit("need at least two runs to compare")
    pairs = list(itertools.combinations(runs, 2)) if args.all_pairs else list(itertools.pairwise(runs))
    report: dict[str, Any] = {"threshold": args.threshold, "settings": {}}
    for k in [None, *args.truncate]:
        rows = [compare_pair(a, b, args.threshold, k) for a, b in pairs]
        label = f"first {k} repeats" if k else "all repeats"
        report["settings"][label] = {"pairs": rows, "main": _rate(rows, "main"), "now": _rate(rows, "now")}
        print(f"\n### {label}, --fail-on speed:{args.threshold:g}\n")
        print(
            "| a | b | timed cases | main: false regressions (ratio) | now: false regressions | max ratio |"
        )
        print("|---|---|---|---|---|---|")
        for r in rows:
            main_text = ", ".join(f"{cid.split('.det')[0]} {x:.2f}x" for cid, x in r["main"]) or "0"
            now_text = ", ".join(f"{cid.split('.det')[0]} {x:.2f}x" for cid, x in r["now"]) or "0"
            top = f"{r['max_ratio']:.2f}" if r["max_ratio"] else "—"
            noise = f"{r['noise']['drift']:.2f}x, {r['noise']['spread']:.2f}x"
            print(
                f"| {r['a']} | {r['b']} | {r['timed_cases']} | {main_text} | {now_text} | {top} | {noise} |"
            )
        print(f"\nmain (p10–p90 overlap): {report['settings'][label]['main']}")
        print(f"now (Mann–Whitney + interval + run-to-run noise): {report['settings'][label]['now']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
