#!/usr/bin/env bash
# Issue 17's measured checks, in one go. Run from the repository root, with pairbench
# installed (or PYTHONPATH pointing at this checkout), on a QUIET machine: every figure is a
# timing. Takes about 30-40 minutes on a 2-core CPU.
#
#   scripts/timing_checks.sh [OLD_CHECKOUT]
#
# 1. the side-by-side check: `pairbench run --repeats 10` vs a hand loop in its own process,
#    alternating, 4 rounds, default sizes, every pair and mode -> $OUT/overhead-cpu.md
#    (the README's table);
# 2. `pairbench run --quick` wall time, alternating with OLD_CHECKOUT when given (before/after),
#    and the first-sample criterion on its records;
# 3. the wall time of asv's default grid (`asv run --dry-run`, this interpreter).
set -euo pipefail
OUT=${OUT:-results/timing-checks}
PY=${PYTHON:-python}
mkdir -p "$OUT"
export TF_CPP_MIN_LOG_LEVEL=2

echo "== 1. side by side (pairbench overhead) =="
"$PY" -m suite overhead --rounds 4 --repeats 10 --size default --markdown "$OUT/overhead-cpu.md"

echo "== 2. pairbench run --quick: wall time and first timed sample =="
"$PY" scripts/quick_wall_time.py --rounds 3 --keep "$OUT/quick" ${1:+"$1"} .

echo "== 3. asv default grid =="
export ASV_PYTHONPATH=$PWD
"$PY" -m asv machine --yes --machine timing-check >/dev/null
start=$(date +%s)
"$PY" -m asv run -E "existing:$(command -v "$PY")" --machine timing-check --dry-run --bench bench_pairs \
    > "$OUT/asv-default-grid.log" 2>&1 || true
echo "asv default grid: $(( $(date +%s) - start )) s (log: $OUT/asv-default-grid.log)"
