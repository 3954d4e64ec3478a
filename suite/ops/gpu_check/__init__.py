"""The whole GPU check of pairbench in one device call (issues 25 and 26; docs/gpu-check.md).

Run from the project root on the lent GPU machine, after ``source .gpu/tools/activate``::

    python3 scripts/gpu_check.py --out "$OUT"                  # doctor, determinism, trace, matrix
    python3 scripts/gpu_check.py --out "$OUT" --parts doctor,speed   # issue 26's speed part
    python3 scripts/gpu_check.py --out /tmp/o --cpu-smoke --budget-s 300   # here, without a GPU

(``python -m suite.ops.gpu_check`` is the same.) Each *part* runs ``python -m suite ...``
subprocesses under its own deadline; the check's own process never imports TensorFlow.

- :mod:`~suite.ops.gpu_check.cli`: the command line and the loop over the parts, the budget
  shared between them by weight;
- :mod:`~suite.ops.gpu_check.steps`: a subprocess under a deadline (SIGTERM, then SIGKILL to
  its group) and :func:`~suite.ops.gpu_check.steps.share` of the time left;
- :mod:`~suite.ops.gpu_check.context`: where the check writes, its steps and ``pairbench
  run``s (each with its report, even when cut short), the GPU it found;
- :mod:`~suite.ops.gpu_check.outcome`: checks, steps and parts, and whether the check is ok;
- :mod:`~suite.ops.gpu_check.records`: the run folders' records and plans as dicts;
- the parts: :mod:`~suite.ops.gpu_check.doctor`, :mod:`~suite.ops.gpu_check.determinism`,
  :mod:`~suite.ops.gpu_check.trace` (with TensorBoard's HTTP API),
  :mod:`~suite.ops.gpu_check.matrix`, :mod:`~suite.ops.gpu_check.speed` (only when named);
- :mod:`~suite.ops.gpu_check.outputs`: at most 8 files of at most 16 MiB under ``--out``,
  rewritten after every part, and the summary printed last.

Without a GPU the GPU parts are ``skipped`` ("no GPU visible to TensorFlow"); with
``--cpu-smoke`` they run reduced (tiny sizes, fewer cases) on a simulated ``gpu:0`` on the CPU
(``PAIRBENCH_SIMULATED_GPUS=1``), so every command and every check runs, and the checks that
only a GPU can answer are ``skipped`` with their figure shown. Exit code 0 when no check failed
and no part failed or ran out of time, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

from suite.ops.gpu_check.cli import main

__all__ = ["main"]
