#!/usr/bin/env python3
"""How long post-processing takes on large synthetic runs: load_frame, report, compare (issue 17.5).

Not a test (timings depend on the machine): a script that prints a table. It writes two
synthetic runs of ``--records`` records each (``tests/helpers/fake_runs.py``: realistic records,
~1.5 KB a line, mixed verdicts, ``--pairs`` pairs) into ``--work``, then runs each step in a
fresh Python process and reports its wall time and peak resident memory:

- ``load``: ``suite.results.frame.load_frame(run)``;
- ``report``: ``suite.report.write_report(run)`` (report.md/.html, table.csv/.parquet, plots),
  plus the width of ``plots/throughput.png``;
- ``compare-parse``: ``suite.compare.runs.compare_runs(a, b)`` on runs without their cached
  compare columns (deleted first; not timed): both ``records.jsonl`` are parsed, and the
  caches written;
- ``compare``: ``suite.compare.runs.compare_runs(a, b)`` as after two finished runs, whose reports
  cached the columns compare reads (``suite.results.compare_cache``).

``--code DIR`` runs the steps against another checkout (e.g. the ``main`` branch, for
before/after figures); the synthetic runs are reused between invocations.

Example (the issue's target: 1M records, each step under 60 s with bounded memory)::

    python scripts/bench_postprocessing.py --records 1000000 --pairs 1002
    python scripts/bench_postprocessing.py --records 100000 --pairs 1002 --code ../main
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: step -> Python code run in a child (``A`` and ``B`` are the run folders); it prints a JSON dict
STEPS = {
    "load": (
        "from suite.results.frame import load_frame; from suite.results.run_dir import RunDir\n"
        "frame = load_frame(RunDir(A)); extra = {'rows': len(frame), 'columns': frame.shape[1]}"
    ),
    "report": (
        "from suite.report import write_report; from suite.results.run_dir import RunDir\n"
        "written = write_report(RunDir(A))\n"
        "png = written.get('plots/throughput.png')\n"
        "extra = {'throughput_png_px': None}\n"
        "if png:\n"
        "    from matplotlib.image import imread\n"
        "    h, w = imread(str(png)).shape[:2]; extra['throughput_png_px'] = f'{w}x{h}'\n"
        "extra['html_mb'] = round(written['report.html'].stat().st_size / 1e6, 1)"
    ),
    "compare-parse": (
        "from suite.compare.runs import compare_runs; from suite.results.run_dir import RunDir\n"
        "from suite.results.compare_cache import CACHE\n"
        "for run in (A, B): (run / CACHE).unlink(missing_ok=True)\n"
        "t0 = time.perf_counter()\n"
        "comp = compare_runs(RunDir(A), RunDir(B)); extra = {'cases': len(comp.cases)}"
    ),
    "compare": (
        "from suite.compare.runs import compare_runs; from suite.results.run_dir import RunDir\n"
        "comp = compare_runs(RunDir(A), RunDir(B)); extra = {'cases': len(comp.cases)}"
    ),
}
CHILD = (
    "import json, resource, sys, time, warnings\n"
    "warnings.simplefilter('ignore')\n"
    "from pathlib import Path\n"
    "A, B = Path(sys.argv[1]), Path(sys.argv[2])\n"
    "t0 = time.perf_counter()\n"
    "{step}\n"
    "seconds = time.perf_counter() - t0\n"
    "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
    "print(json.dumps({{'seconds': seconds, 'peak_rss_mb': rss, **extra}}))\n"
)


def make_runs(work: Path, records: int, pairs: int) -> tuple[Path, Path]:
    """Two synthetic runs (seeds 0 and 1) under ``work``, made once and reused."""
    sys.path.insert(0, str(ROOT / "tests" / "helpers"))
    from fake_runs import make_large_run

    folder = work / f"r{records}-p{pairs}"
    runs = []
    for seed in (0, 1):
        run = folder / f"run{seed}"
        if not (run / "records.jsonl").is_file():
            t0 = time.perf_counter()
            make_large_run(folder, records, n_pairs=pairs, run_id=f"run{seed}", seed=seed)
            print(f"wrote {run} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        runs.append(run)
    return runs[0], runs[1]


def run_step(step: str, a: Path, b: Path, code: Path, timeout: float) -> dict:
    """Run one step in a fresh interpreter with ``code`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(code), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(step=STEPS[step]), str(a), str(b)],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if proc.returncode != 0:
        return {
            "error": proc.stderr.strip().splitlines()[-1]
            if proc.stderr.strip()
            else f"exit {proc.returncode}"
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Print the table of figures (and optionally write it as JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="records per run (default 100000)")
    parser.add_argument(
        "--pairs", type=int, default=1002, help="pairs the records spread over (default 1002)"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/pairbench-bench"), help="where the runs go")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose suite/ is measured")
    parser.add_argument(
        "--steps", default=",".join(STEPS), help="comma list of load,report,compare-parse,compare"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per step")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    a, b = make_runs(args.work, args.records, args.pairs)
    size = (a / "records.jsonl").stat().st_size / 1e6
    print(
        f"{args.records:,} records over {args.pairs:,} pairs ({size:,.0f} MB records.jsonl); code {args.code}"
    )
    print(f"{'step':8} {'seconds':>8} {'peak RSS MB':>12}  details")
    figures = {}
    for step in args.steps.split(","):
        result = run_step(step, a, b, args.code.resolve(), args.timeout)
        figures[step] = result
        if "error" in result:
            print(f"{step:8} {'failed':>8} {'':>12}  {result['error']}")
            continue
        details = ", ".join(f"{k}={v}" for k, v in result.items() if k not in ("seconds", "peak_rss_mb"))
        print(f"{step:8} {result['seconds']:8.1f} {result['peak_rss_mb']:12,.0f}  {details}")
    if args.json:
        args.json.write_text(json.dumps({"records": args.records, "pairs": args.pairs, **figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
