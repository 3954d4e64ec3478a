"""Overhead of pairbench's timing versus a minimal hand-written loop (a benchmark, not a test).

For each pair (reference member) and mode, the same model and inputs are timed two ways in
the same process, alternating round by round:

- ``pairbench``: :meth:`suite.execution.Prepared.repeat` (what every record reports);
- ``hand``: ``for _ in range(n): y = f(x)`` then one device sync, with ``f`` the plain
  ``tf.function``/eager call (predict) or a textbook GradientTape + SGD step (train_step).

The ratio of medians should be close to 1 (goal: <= 1.03).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from suite.case import Case


@dataclass(frozen=True)
class OverheadRow:
    """One (pair, workload, mode) comparison; times are per step, in seconds."""

    pair: str
    workload: str
    mode: str
    device: str
    size: str
    pairbench_s: float
    hand_s: float
    pairbench_spread: float
    hand_spread: float
    rounds: int

    @property
    def ratio(self) -> float:
        """pairbench / hand-written median step time."""
        return self.pairbench_s / self.hand_s


def _hand_loop(prepared: Any) -> Any:
    """A minimal loop doing the same work as ``prepared.unit`` (built independently of it)."""
    import keras
    import tensorflow as tf

    from suite.zoo import get_pair

    model, x, y, case = prepared.model, prepared.x, prepared.y, prepared.case
    jit = case.mode == "xla"
    if case.workload == "predict":

        def fn():
            return model(x, training=False)

    else:
        pair = get_pair(case.pair)
        loss_fn = keras.losses.get(pair.loss)
        opt = keras.optimizers.SGD(learning_rate=pair.learning_rate)
        opt.build(model.trainable_variables)

        def fn():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(loss_fn(y, tf.cast(model(x, training=True), tf.float32)))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

    if case.mode != "eager":
        fn = tf.function(fn, jit_compile=jit)
    fn()  # trace/compile outside the timing, like pairbench's warm-up
    fn()
    return fn


def measure(case: Case, *, rounds: int = 7, seed: int = 0) -> OverheadRow:
    """Alternate ``rounds`` pairbench repeats with ``rounds`` hand-written loops of the same length."""
    import tensorflow as tf

    from suite.axes import tf_device
    from suite.execution import prepare_case, sync_device

    prepared = prepare_case(case, seed=seed)
    steps = prepared.steps * prepared.steps_per_unit
    with tf.device(tf_device(case.device)):
        hand = _hand_loop(prepared)
        ours, theirs = [], []
        for _ in range(rounds):
            ours.append(prepared.repeat().seconds / steps)
            prepared.restore()
            sync_device()
            start = time.perf_counter()
            for _ in range(steps):
                hand()
            sync_device()
            theirs.append((time.perf_counter() - start) / steps)
    o, t = np.asarray(ours), np.asarray(theirs)
    return OverheadRow(
        pair=case.pair,
        workload=case.workload,
        mode=case.mode,
        device=case.device,
        size=case.size,
        pairbench_s=float(np.median(o)),
        hand_s=float(np.median(t)),
        pairbench_spread=float(np.subtract(*np.percentile(o, [90, 10]))),
        hand_spread=float(np.subtract(*np.percentile(t, [90, 10]))),
        rounds=rounds,
    )


def overhead_cases(
    pairs: list[str], workloads: list[str], modes: list[str], device: str, size: str
) -> list[Case]:
    """The reference member of each pair, for every workload and mode."""
    from suite.zoo import get_pair

    return [
        Case(p, get_pair(p).reference, w, m, device, "float32", "off", size)
        for p in pairs
        for w in workloads
        for m in modes
    ]


def to_markdown(rows: list[OverheadRow], machine: str) -> str:
    """A markdown table of the rows with the machine line."""
    lines = [
        f"Machine: {machine}",
        "",
        "| pair | workload | mode | pairbench ms/step | hand loop ms/step | ratio |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.pair} | {r.workload} | {r.mode} | {r.pairbench_s * 1e3:.3f} | "
            f"{r.hand_s * 1e3:.3f} | {r.ratio:.3f} |"
        )
    ratios = np.asarray([r.ratio for r in rows])
    if ratios.size:
        lines.append("")
        lines.append(
            f"Geometric-mean ratio {float(np.exp(np.log(ratios).mean())):.3f}; "
            f"max {ratios.max():.3f}; {int((ratios <= 1.03).sum())}/{ratios.size} within 1.03."
        )
    return "\n".join(lines)
