"""The alternating timing loop: warm up and calibrate each case, then interleave their repeats.

Modes of one member are compared with each other (``vs_eager``, speed-ups), so their timed
repeats alternate: repeat 1 of eager, of tf.function, of XLA, then repeat 2 of each... Slow
drifts of the machine (thermal, other load) then touch every mode alike. What alternation
must not do is charge one mode's switch to another: every repeat starts with the untimed
output window (:meth:`~suite.measure.execution.Prepared.repeat`), which re-warms the case after the
previous case ran, and each timed sample is calibrated to last ``min_sample_s`` or more, so
that what is left of the switch is a small fraction of it.

Before the first repeat, :func:`suite.measure.rng_reset.settle` decides how the group's repeats reset
the random state (clearing TensorFlow's kernel caches only for stateful random kernels), and
every case is warmed up until its timing is stable and its units per
sample are calibrated (:func:`~suite.measure.calibration.calibrate`). The whole loop runs with
the heap frozen (:func:`~suite.machine.gc_control.frozen_heap`), so the garbage collection before each
timed sample only scans what the samples made. A case whose calibration or repeat raises
stops; the others go on.
"""

from __future__ import annotations

from collections.abc import Mapping

from suite.case import Case
from suite.machine.gc_control import frozen_heap
from suite.measure.calibration import calibrate
from suite.measure.execution import Prepared, RepeatResult
from suite.measure.rng_reset import settle
from suite.measure.timing import SamplingPlan


def alternate(
    prepared: Mapping[Case, Prepared], repeats: int, plan: SamplingPlan
) -> tuple[dict[Case, list[RepeatResult]], dict[Case, BaseException]]:
    """Calibrate every prepared case, then run ``repeats`` repeats of each, interleaved.

    Args:
        prepared: the cases of one group, in the order they alternate.
        repeats: repeats per case (each one rerun and one timed sample).
        plan: sample length and warm-up limit (each case's calibration is left on it).

    Returns:
        ``(results, failed)``: the repeats of each case that finished them all, and the
        exception of each case whose calibration or repeat raised (its repeats are dropped).
    """
    results: dict[Case, list[RepeatResult]] = {case: [] for case in prepared}
    failed: dict[Case, BaseException] = {}
    settle(prepared)  # how each repeat resets the random state
    with frozen_heap():
        for case, prep in prepared.items():
            try:
                calibrate(prep, plan)
            except Exception as exc:
                failed[case] = exc
        for _ in range(repeats):
            for case, prep in prepared.items():
                if case in failed:
                    continue
                try:
                    results[case].append(prep.repeat())
                except Exception as exc:
                    failed[case] = exc
    return {c: r for c, r in results.items() if c not in failed}, failed
