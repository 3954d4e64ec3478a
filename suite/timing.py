"""Timing statistics over repeats (pure)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def step_stats(
    repeat_seconds: Sequence[float], *, units: int, steps_per_unit: int, batch: int, compile_s: float
) -> dict[str, float | int | list[float]]:
    """Median and spread of the per-step time over repeats.

    Args:
        repeat_seconds: wall time of each timed repeat.
        units: units run per repeat (forward calls, train steps or ``fit`` calls).
        steps_per_unit: optimizer steps per unit (``k`` for ``fit``, else 1).
        batch: samples per step.
        compile_s: first-call (trace/compile) time.

    Returns:
        ``step_s`` (per repeat), ``step_s_median``, ``step_s_p10``, ``step_s_p90``,
        ``step_s_iqr``, ``samples_per_s`` (from the median), ``compile_s``, ``repeats``,
        ``steps_per_repeat``, ``batch``.
    """
    steps = units * steps_per_unit
    per_step = np.asarray(repeat_seconds, dtype=np.float64) / steps
    if per_step.size == 0:
        raise ValueError("no timed repeats")
    p10, p25, p50, p75, p90 = np.percentile(per_step, [10, 25, 50, 75, 90])
    return {
        "step_s": [float(v) for v in per_step],
        "step_s_median": float(p50),
        "step_s_p10": float(p10),
        "step_s_p90": float(p90),
        "step_s_iqr": float(p75 - p25),
        "samples_per_s": float(batch / p50) if p50 > 0 else float("nan"),
        "compile_s": float(compile_s),
        "repeats": int(per_step.size),
        "steps_per_repeat": int(steps),
        "batch": int(batch),
    }
