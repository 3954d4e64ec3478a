"""A minimal hand-written training/predict loop, timed in steady state: the yardstick of
``pairbench overhead``.

Run as ``python -m suite.measure.hand_loop --pair mlp --workloads predict,train_step --modes
eager,function,xla [--size default] [--device cpu]``; prints one JSON line per case:
``{"pair", "workload", "mode", "step_s": [per-step seconds of each timed loop]}``.

It shares nothing with pairbench's timing: no :mod:`suite.measure.execution`, no calibration, no
restore, no alternation. It takes the pair's reference member and inputs from the zoo (the
same model and batch ``pairbench run`` times), writes the step the way a tutorial does
(``model(x)``; ``GradientTape`` + SGD), traces/compiles it, runs it for
:data:`WARMUP_S` seconds, then times :data:`LOOPS` loops of ``n`` back-to-back steps and one
device sync each, ``n`` chosen so a loop lasts about :data:`LOOP_S`, with the garbage
collector off inside each loop as :mod:`timeit` does. That is the steady state a user
measures by hand, in its own process.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from typing import Any

#: seconds of untimed steps before timing
WARMUP_S = 1.0
#: target length of one timed loop, seconds
LOOP_S = 0.05
#: timed loops per case
LOOPS = 20


def build_step(pair_name: str, workload: str, mode: str, size: str, seed: int = 0) -> Any:
    """The step function of the pair's reference member (built, traced and compiled)."""
    import keras
    import tensorflow as tf

    from suite.zoo import get_pair

    pair = get_pair(pair_name)
    hp = pair.hparams(size)
    batch = pair.inputs(hp, seed)
    x = tf.constant(batch.x)
    if x.dtype.is_floating:
        x = tf.cast(x, tf.float32)
    y = tf.constant(batch.y)
    keras.utils.set_random_seed(seed)
    model = pair.build(pair.reference, size)
    model(x, training=False)  # builds the weights, eagerly
    if workload == "predict":

        def step():
            return model(x, training=False)

    elif workload == "train_step":
        loss_fn = keras.losses.get(pair.loss)
        optimizer = keras.optimizers.SGD(learning_rate=pair.learning_rate)
        variables = list(model.trainable_variables)
        optimizer.build(variables)

        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(loss_fn(y, tf.cast(model(x, training=True), tf.float32)))
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables, strict=True))
            return loss

    else:
        raise ValueError(f"the hand loop has no {workload!r} workload (predict, train_step)")
    if mode != "eager":
        step = tf.function(step, jit_compile=mode == "xla")
    step()  # trace / compile
    return step


def time_steady_state(step: Any) -> list[float]:
    """Warm up for :data:`WARMUP_S`, then per-step seconds of :data:`LOOPS` timed loops."""
    import tensorflow as tf

    sync = tf.test.experimental.sync_devices
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < WARMUP_S or n < 2:
        step()
        n += 1
    sync()
    per_step = (time.perf_counter() - start) / n
    steps = max(1, round(LOOP_S / per_step))
    out = []
    for _ in range(LOOPS):
        gc.disable()  # as timeit does
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        out.append((time.perf_counter() - t0) / steps)
        gc.enable()
    return out


def main(argv: list[str] | None = None) -> int:
    """Time every (workload, mode) of one pair; one JSON line each on stdout."""
    parser = argparse.ArgumentParser(prog="python -m suite.measure.hand_loop")
    parser.add_argument("--pair", required=True)
    parser.add_argument("--workloads", default="predict,train_step")
    parser.add_argument("--modes", default="eager,function,xla")
    parser.add_argument("--size", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--intra-op-threads", type=int)
    parser.add_argument("--inter-op-threads", type=int)
    parser.add_argument("--pairs-from", action="append", default=[])
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from suite.zoo import load_pairs_from

    for path in args.pairs_from:
        load_pairs_from(path)

    if args.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    if args.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    tf.config.experimental.enable_tensor_float_32_execution(False)  # pairbench's float32
    device = "/CPU:0" if args.device == "cpu" else f"/GPU:{args.device.split(':', 1)[1]}"
    for workload in args.workloads.split(","):
        for mode in args.modes.split(","):
            with tf.device(device):
                step = build_step(args.pair, workload, mode, args.size)
                times = time_steady_state(step)
            line = {"pair": args.pair, "workload": workload, "mode": mode, "step_s": times}
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
