"""The alternating timing loop: the repeats of one member's modes, interleaved.

Modes of one member are compared with each other (``vs_eager``, speed-ups), so their timed
repeats alternate: repeat 1 of eager, of tf.function, of XLA, then repeat 2 of each...
Slow drifts of the machine (thermal, other load) then touch every mode alike. A case whose
repeat raises stops; the others go on.
"""

from __future__ import annotations

from collections.abc import Mapping

from suite.case import Case
from suite.execution import Prepared, RepeatResult


def alternate(
    prepared: Mapping[Case, Prepared], repeats: int
) -> tuple[dict[Case, list[RepeatResult]], dict[Case, BaseException]]:
    """Run ``repeats`` timed repeats of every prepared case, interleaved.

    Args:
        prepared: the cases of one group, warmed up, in the order they alternate.
        repeats: timed repeats per case.

    Returns:
        ``(results, failed)``: the repeats of each case that finished them all, and the
        exception of each case whose repeat raised (its earlier repeats are dropped).
    """
    results: dict[Case, list[RepeatResult]] = {case: [] for case in prepared}
    failed: dict[Case, BaseException] = {}
    for _ in range(repeats):
        for case, prep in prepared.items():
            if case in failed:
                continue
            try:
                results[case].append(prep.repeat())
            except Exception as exc:
                failed[case] = exc
    return {c: r for c, r in results.items() if c not in failed}, failed
