#!/usr/bin/env bash
# The one-call GPU check (issues 25 and 26): see docs/gpu-check.md. Arguments go to gpu_check.py:
#   source .gpu/tools/activate && scripts/gpu_check.sh --out "$OUT"
exec "${PYTHON:-python3}" "$(dirname "$0")/gpu_check.py" "$@"
