"""Wall time of ``pairbench run --quick`` for one or more checkouts, alternating (before/after).

    python scripts/quick_wall_time.py [--rounds 3] [--keep DIR] CHECKOUT [CHECKOUT ...]

Each round runs ``python -m suite run --quick`` once per checkout (with that checkout first on
``PYTHONPATH``), in an order that flips every round, and prints the median wall time of each.
The last checkout's runs are also checked with ``scripts/check_first_sample.py`` (the first
timed sample no slower than 1.10x the median in 90% of the records). Not a test: run it on a
quiet machine. To compare with an older commit: ``git worktree add /tmp/pb-old <commit>`` and
pass ``/tmp/pb-old .``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_quick(checkout: Path, results: Path, run_id: str) -> tuple[float, float]:
    """One ``pairbench run --quick`` of ``checkout``: its wall time and the CPU time of its process
    tree (user + system, workers included), in seconds. CPU time moves much less than wall time
    when other processes share the machine."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "TF_CPP_MIN_LOG_LEVEL": "2"}
    argv = [sys.executable, "-m", "suite", "run", "--quick", "--quiet", "--results-dir", str(results)]
    cpu0, start = _children_cpu_s(), time.perf_counter()
    proc = subprocess.run([*argv, "--run-id", run_id], cwd=checkout, env=env, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, _children_cpu_s() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"{checkout}: pairbench run --quick exited {proc.returncode}: {proc.stderr[-500:]}")
    return seconds, cpu


def main(argv: list[str] | None = None) -> int:
    """Time the checkouts; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="+", type=Path, help="repository checkouts (the last is checked)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args(argv)
    checkouts = [c.resolve() for c in args.checkouts]
    with tempfile.TemporaryDirectory(prefix="quick-wall-") as tmp:
        results = args.keep or Path(tmp)
        results.mkdir(parents=True, exist_ok=True)
        times: dict[Path, list[tuple[float, float]]] = {c: [] for c in checkouts}
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for r in range(args.rounds):
            for checkout in checkouts if r % 2 == 0 else checkouts[::-1]:
                seconds, cpu = run_quick(checkout, results, f"quick-{stamp}-r{r}-{checkouts.index(checkout)}")
                times[checkout].append((seconds, cpu))
                print(f"round {r + 1}: {checkout}: {seconds:.1f} s wall, {cpu:.1f} s CPU", flush=True)
        print("\nmedian of `pairbench run --quick` (wall time / CPU time of its process tree):")
        for checkout, values in times.items():
            wall = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[1] for v in values)
            print(f"  {wall:6.1f} s wall  {cpu:6.1f} s CPU  {checkout}  ({len(values)} rounds)")
        last = len(checkouts) - 1
        status = 0
        for run in sorted(results.glob(f"quick-{stamp}-r*-{last}")):
            check = subprocess.run(
                [sys.executable, str(HERE / "check_first_sample.py"), str(run), "--worst", "3"],
                env={**os.environ, "PYTHONPATH": str(checkouts[-1])},
                capture_output=True,
                text=True,
            )
            print(f"{run.name}: {check.stdout.strip()}")
            status = max(status, check.returncode)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
