"""Timing: how samples are sized and warmed up, and the statistics over them (pure).

pairbench's timing follows pyperf's rules (see ``README.md``, *How a case is timed*):

- a **sample** is one timed region of ``units`` back-to-back calls of the case's unit (a
  forward call, a train step, a ``fit`` of k steps) closed by a device sync; ``units`` is
  **calibrated** (:func:`units_for`) so that a sample lasts at least ``min_sample_s``, long
  enough to dwarf the timer, the sync and whatever the previous sample left in the caches;
- the **warm-up** takes samples until the per-step time is stable (:func:`is_stable`: the
  case has stopped getting faster: the fastest of the last :data:`WARMUP_WINDOW` full-length
  samples is no more than :data:`WARMUP_TOLERANCE` faster than the fastest before them), or
  until ``max_warmup_s`` has passed, and says which of the two happened. Minima, because noise
  from other processes only ever adds time: a noisy machine still ends its warm-ups, while a
  case that keeps getting faster keeps warming up;
- :func:`step_stats` turns the timed samples into the record's ``timing`` fields.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

#: the warm-up is over when the fastest of this many last full-length samples ...
WARMUP_WINDOW = 3
#: ... is no more than this fraction faster than the fastest full-length sample before them
WARMUP_TOLERANCE = 0.05
#: a sample of at least this fraction of ``min_sample_s`` counts towards stability (the first
#: samples of a fast case have too few units: their time is mostly the timer and the sync)
FULL_SAMPLE_FRACTION = 0.5
#: the most units one sample may hold (a unit timed at 0 s must not ask for infinitely many)
MAX_UNITS_PER_SAMPLE = 1_000_000


@dataclass(frozen=True)
class SamplingPlan:
    """How the samples of a case are sized and warmed up (from the run's options).

    Attributes:
        min_sample_s: the shortest a timed sample may be; units per sample are calibrated to it.
        max_warmup_s: the stated maximum of the warm-up of one case (seconds of warm-up samples).
    """

    min_sample_s: float
    max_warmup_s: float


@dataclass(frozen=True)
class Calibration:
    """What the warm-up of one case found (stored in the record's ``timing``).

    Attributes:
        units_per_sample: calibrated units in each timed sample.
        warmup_samples: warm-up samples taken (untimed for the record).
        warmup_s: seconds spent in them.
        warmup_stable: True when the warm-up ended because the timing was stable, False when it
            hit ``max_warmup_s`` first.
        warmup_step_s: per-step times of the warm-up samples, in order.
        min_sample_s: the calibration target.
    """

    units_per_sample: int
    warmup_samples: int
    warmup_s: float
    warmup_stable: bool
    warmup_step_s: tuple[float, ...]
    min_sample_s: float

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields (``warmup_step_s`` as a list)."""
        data = asdict(self)
        data["warmup_step_s"] = list(self.warmup_step_s)
        return data


def units_for(unit_s: float, min_sample_s: float) -> int:
    """Units a sample needs to last at least ``min_sample_s``, given one unit takes ``unit_s``.

    Args:
        unit_s: measured seconds per unit (0 or less when the timer saw nothing: the most units).
        min_sample_s: the target sample length.

    Returns:
        At least 1, at most :data:`MAX_UNITS_PER_SAMPLE`.
    """
    if not unit_s > 0 or not math.isfinite(unit_s):
        return MAX_UNITS_PER_SAMPLE if unit_s == 0 else 1
    return int(min(MAX_UNITS_PER_SAMPLE, max(1, math.ceil(min_sample_s / unit_s))))


def is_stable(per_unit_s: Sequence[float]) -> bool:
    """True when the case has stopped getting faster: the fastest of the last
    :data:`WARMUP_WINDOW` per-unit times is at least ``1 - WARMUP_TOLERANCE`` times the fastest
    one before them (so at least ``WARMUP_WINDOW + 1`` samples are needed).

    Args:
        per_unit_s: per-unit times of the full-length warm-up samples, in order.
    """
    if len(per_unit_s) <= WARMUP_WINDOW:
        return False
    before, last = per_unit_s[:-WARMUP_WINDOW], per_unit_s[-WARMUP_WINDOW:]
    return min(last) >= (1.0 - WARMUP_TOLERANCE) * min(before)


def step_stats(
    sample_seconds: Sequence[float],
    *,
    units: int,
    steps_per_unit: int,
    batch: int,
    compile_s: float,
    output_steps: int | None = None,
) -> dict[str, float | int | list[float]]:
    """Median and spread of the per-step time over the timed samples.

    Args:
        sample_seconds: wall time of each timed sample.
        units: units in each sample (forward calls, train steps or ``fit`` calls).
        steps_per_unit: optimizer steps per unit (``k`` for ``fit``, else 1).
        batch: samples per step.
        compile_s: first-call (trace/compile) time.
        output_steps: steps from the initial state whose outputs each repeat compares
            (None: same as the steps of a sample).

    Returns:
        ``step_s`` (per sample), ``step_s_median``, ``step_s_p10``, ``step_s_p90``,
        ``step_s_iqr``, ``samples_per_s`` (from the median), ``compile_s``, ``repeats``,
        ``steps_per_repeat`` (the calibrated steps of the one timed sample of each repeat),
        ``output_steps``,
        ``batch``.
    """
    steps = units * steps_per_unit
    per_step = np.asarray(sample_seconds, dtype=np.float64) / steps
    if per_step.size == 0:
        raise ValueError("no timed samples")
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
        "output_steps": int(steps if output_steps is None else output_steps),
        "batch": int(batch),
    }


#: the first timed sample of a case should be no slower than this many times the median ...
FIRST_SAMPLE_LIMIT = 1.10
#: ... in at least this share of the records (issue 17's warm-up criterion)
FIRST_SAMPLE_SHARE = 0.90


def first_sample_ratios(step_s_lists: Sequence[Sequence[float]]) -> list[float]:
    """First timed sample / median of each case with at least two samples (a warm-up check).

    Args:
        step_s_lists: the ``timing.step_s`` of each record.

    Returns:
        One ratio per case with two or more samples, in order.
    """
    out = []
    for samples in step_s_lists:
        values = [float(v) for v in samples if isinstance(v, int | float)]
        if len(values) >= 2 and np.median(values) > 0:
            out.append(values[0] / float(np.median(values)))
    return out


def position_shares(
    step_s_lists: Sequence[Sequence[float]], limit: float = FIRST_SAMPLE_LIMIT
) -> list[float]:
    """For each sample position k, the share of cases whose k-th sample is at most ``limit``
    times the case's median (cases with at least two samples; positions all of them have).

    A warm-up that is too short shows as a first share below the others; machine noise (drift,
    neighbours) lowers every position alike, and drift favours the middle ones (closest in
    time to the median).

    Returns:
        One share per position, from the first; empty when no case has two samples.
    """
    rows = [[float(v) for v in samples if isinstance(v, int | float)] for samples in step_s_lists]
    rows = [r for r in rows if len(r) >= 2 and np.median(r) > 0]
    if not rows:
        return []
    n = min(len(r) for r in rows)
    return [sum(r[k] <= limit * float(np.median(r)) for r in rows) / len(rows) for k in range(n)]
