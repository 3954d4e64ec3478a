"""Calibration: warm a prepared case up until its timing is stable, and size its samples.

The rules are :mod:`suite.measure.timing`'s; this module applies them to a
:class:`~suite.measure.execution.Prepared` case (:func:`calibrate`) and turns a case's repeats into
the record's ``timing`` (:func:`timing_record`).
"""

from __future__ import annotations

from typing import Any

from suite.measure.execution import Prepared, RepeatResult
from suite.measure.timing import (
    FULL_SAMPLE_FRACTION,
    Calibration,
    SamplingPlan,
    is_stable,
    step_stats,
    units_for,
)

#: a warm-up sample may hold at most this many times the units of the previous one
#: (calibration grows the sample geometrically, as pyperf doubles its loops)
CALIBRATION_GROWTH = 10
#: a sample is calibrated when the units it asks for are within this fraction of those it ran
CALIBRATION_SLACK = 0.10


def calibrate(prepared: Prepared, plan: SamplingPlan) -> Calibration:
    """Warm up until the per-step time is stable (or ``plan.max_warmup_s``), calibrating the
    units per sample on the way; sets ``prepared.calibration`` and returns it.

    Warm-up samples are timed regions (:meth:`~suite.measure.execution.Prepared.time_units`) that start
    at one unit and grow (at most :data:`CALIBRATION_GROWTH` times per sample) to the units
    that last ``plan.min_sample_s`` at the fastest per-unit time seen so far (the fastest, because
    a process that was descheduled for a moment must not shrink the samples for good). The
    warm-up ends once the samples are calibrated (a second sample at least, and they ran about
    the units they ask for) and either the timing is stable (:func:`~suite.measure.timing.is_stable`,
    over the samples at least :data:`~suite.measure.timing.FULL_SAMPLE_FRACTION` of ``min_sample_s``
    long) or ``max_warmup_s`` has passed; at most ``2 * max_warmup_s + 10 * min_sample_s`` in
    any case.
    ``max_warmup_s=0``: calibrate only. The samples run from wherever the state is (training
    goes on): every repeat restores it anyway.
    """
    units, per_unit, full = 1, [], []
    spent, stable = 0.0, False
    hard_limit = 2 * plan.max_warmup_s + 10 * plan.min_sample_s
    while True:
        seconds = prepared.time_units(units)
        spent += seconds
        per_unit.append(seconds / units)
        if seconds >= FULL_SAMPLE_FRACTION * plan.min_sample_s:
            full.append(seconds / units)
        wanted = units_for(min(per_unit), plan.min_sample_s)
        calibrated = len(per_unit) > 1 and wanted <= units * (1 + CALIBRATION_SLACK)  # confirmed once
        stable = calibrated and is_stable(full)
        if stable or (calibrated and spent >= plan.max_warmup_s) or spent >= hard_limit:
            break
        if not calibrated:
            units = min(wanted, units * CALIBRATION_GROWTH)
    prepared.calibration = Calibration(
        units_per_sample=units,
        warmup_samples=len(per_unit),
        warmup_s=spent,
        warmup_stable=stable,
        warmup_step_s=tuple(u / prepared.steps_per_unit for u in per_unit),
        min_sample_s=plan.min_sample_s,
    )
    return prepared.calibration


def timing_record(prepared: Prepared, repeats: list[RepeatResult]) -> dict[str, Any]:
    """The record's ``timing``: :func:`~suite.measure.timing.step_stats` of the repeats' samples, the
    calibration, and the thread settings in force (:func:`suite.machine.timing_settings.thread_settings`).

    Raises:
        ValueError: no repeats, or repeats of different lengths.
    """
    from suite.machine.timing_settings import thread_settings

    units = {r.units for r in repeats}
    if len(units) > 1:
        raise ValueError(f"timed samples of different lengths: {sorted(units)} units")
    timing: dict[str, Any] = step_stats(
        [r.seconds for r in repeats],
        units=units.pop() if units else 1,
        steps_per_unit=prepared.steps_per_unit,
        batch=prepared.batch_size,
        compile_s=prepared.compile_s,
        output_steps=prepared.steps * prepared.steps_per_unit,
    )
    if prepared.calibration is not None:
        timing.update(prepared.calibration.to_dict())
    timing["gc"] = "paused in timed samples, collected between them"
    timing["rng_reset"] = prepared.rng.label
    timing.update(thread_settings())
    return timing
