"""The ``speed`` part (issue 26, only when named): the ``mlp`` pair at ``large`` under float32,
tf32, mixed_bfloat16 and mixed_float16 (tf.function and XLA) against a bare matmul loop's
achieved TFLOP/s, NVML telemetry per case, the same ``mlp`` case on the CPU and the GPU, and
``pairbench overhead`` per pair on ``gpu:0``.

:func:`bare_matmul` imports TensorFlow: it runs in a step of its own
(``python -m suite.ops.gpu_check --bare-matmul DEVICE M K N``), never in the check's process.
"""

from __future__ import annotations

import time
from typing import Any

from suite.ops.gpu_check.context import RUN_MIN_S, Context
from suite.ops.gpu_check.outcome import Check, PartResult
from suite.ops.gpu_check.records import all_sampled, case_of, is_gpu, num, speedups
from suite.ops.gpu_check.steps import share, step_json

#: the bare loop's precisions (``tf32``: float32 with TF32 on)
BARE_PRECISIONS: tuple[str, ...] = ("float32", "tf32", "bfloat16", "float16")
#: a bare precision -> the mixed policy whose matmuls it is
MIXED: dict[str, str] = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
#: the ``mlp`` case of the part's runs
MLP_CASE: tuple[str, ...] = ("--pairs", "mlp", "--members", "sequential", "--workloads", "train_step")
#: options of every run of the part
RUN_OPTIONS: tuple[str, ...] = ("--repeats", "5", "--no-fp64", "--no-localise", "--timeout", "120")


def bare_matmul(device: str, m: int, k: int, n: int, seconds: float = 1.0) -> list[dict[str, Any]]:
    """Achieved TFLOP/s of a bare ``tf.matmul`` loop per precision, tf.function and XLA.

    Each (precision, mode): a warm-up call, then back-to-back calls for about ``seconds``, then
    a device sync; TFLOP/s = ``2 m k n`` x calls / time. ``tf32`` is float32 with TF32 on.

    Args:
        device: ``gpu:0`` or ``cpu``.
        m: rows of the left operand.
        k: the shared dimension.
        n: columns of the right operand.
        seconds: how long each (precision, mode) is timed.

    Returns:
        One row per (precision, mode): ``precision``, ``mode``, ``device``, ``shape`` and
        ``calls``, ``seconds``, ``tflops`` (or ``error`` when the device cannot run it).
    """
    import tensorflow as tf

    out = []
    dev = "/GPU:0" if device.startswith("gpu") else "/CPU:0"
    for precision in BARE_PRECISIONS:
        tf.config.experimental.enable_tensor_float_32_execution(precision == "tf32")
        dtype = {"bfloat16": tf.bfloat16, "float16": tf.float16}.get(precision, tf.float32)
        for mode in ("function", "xla"):
            row: dict[str, Any] = {"precision": precision, "mode": mode, "device": device, "shape": [m, k, n]}
            try:
                with tf.device(dev):
                    a = tf.random.stateless_normal((m, k), seed=(1, 2), dtype=dtype)
                    b = tf.random.stateless_normal((k, n), seed=(3, 4), dtype=dtype)
                    fn = tf.function(lambda x, y: tf.matmul(x, y), jit_compile=mode == "xla")
                    fn(a, b).numpy()
                    calls, start = 0, time.perf_counter()
                    while time.perf_counter() - start < seconds:
                        for _ in range(10):
                            result = fn(a, b)
                        calls += 10
                        result.numpy()  # a sync every 10 calls keeps the queue bounded
                    tf.test.experimental.sync_devices()
                    took = time.perf_counter() - start
                row.update(
                    calls=calls, seconds=round(took, 4), tflops=round(2 * m * k * n * calls / took / 1e12, 3)
                )
            except Exception as exc:  # a precision the device cannot run is a row with the reason
                row["error"] = f"{type(exc).__name__}: {exc}"[:200]
            out.append(row)
    tf.config.experimental.enable_tensor_float_32_execution(True)
    return out


def mlp_flops(size: str) -> float:
    """FLOPs of one ``mlp`` train step: forward, weight gradients and input gradients of every
    matmul (the first layer has no input gradient)."""
    from suite.zoo import get_pair

    hp = get_pair("mlp").hparams(size)
    dims = [hp["features"]] + [hp["width"]] * hp["depth"] + [hp["classes"]]
    macs = [dims[i] * dims[i + 1] for i in range(len(dims) - 1)]
    return 2.0 * hp["batch"] * (3 * sum(macs) - macs[0])


def part_speed(ctx: Context, part: PartResult, deadline: float) -> None:
    """Issue 26's speed figures (see the module docstring), each step time-boxed.

    Args:
        ctx: the check.
        part: where the part's figures, checks and steps go.
        deadline: when the part must be done (``time.monotonic()``).
    """
    size = ctx.size("large")
    device = "gpu:0"
    args = [
        *MLP_CASE,
        *("--modes", "function,xla", "--devices", device, "--sizes", size),
        *("--precisions", "float32,tf32,mixed_bfloat16,mixed_float16", *RUN_OPTIONS),
    ]
    records = ctx.pairbench_run(part, "speed-mlp", args, share(deadline, 3, 6, floor=RUN_MIN_S))
    flops = mlp_flops(size)
    mlp = {
        f"{case_of(r)['precision']}.{case_of(r)['mode']}": num(flops / r["timing"]["step_s_median"] / 1e12)
        for r in records
        if is_gpu(r) and (r.get("timing") or {}).get("step_s_median")
    }
    part.figures["mlp_tflops"] = mlp
    # the same case on the CPU and the GPU (default size: large takes seconds a step on a CPU)
    args = [*MLP_CASE, "--modes", "function", "--devices", f"cpu,{device}", "--sizes", ctx.size("default")]
    both = ctx.pairbench_run(
        part, "speed-cpu-gpu", [*args, *RUN_OPTIONS], share(deadline, 1, 5, floor=RUN_MIN_S)
    )
    part.checks.append(
        Check(
            "speed.cpu_vs_gpu", "info", speedups(both), "CPU step / GPU step of the same case (mlp, default)"
        )
    )
    best = bare_tflops(ctx, part, size, share(deadline, 1, 4))
    part.figures["bare_matmul_tflops"] = best
    ratio = {k: num(v / best[k]) for k, v in mlp.items() if best.get(k)}
    part.checks.append(
        Check(
            "speed.mlp_vs_bare_matmul",
            "info",
            {"mlp_tflops": mlp, "bare_tflops": best, "ratio": ratio},
            "the mlp train step's achieved TFLOP/s against a bare matmul loop's, per precision and mode",
        )
    )
    gpu = [r for r in records if is_gpu(r) and r.get("timing")]
    samples = {r["case_id"]: (r.get("telemetry") or {}).get("samples") for r in gpu}
    part.checks.append(
        ctx.gpu_only(
            "speed.telemetry", all_sampled(list(samples.values())), samples, "NVML samples in every GPU case"
        )
    )
    rows = overhead_ratios(ctx, part, deadline)
    part.figures["overhead_ratio"] = rows
    part.checks.append(
        Check(
            "speed.overhead",
            "pass" if rows else "fail",
            rows,
            "pairbench overhead gave a step-time ratio (pairbench / hand loop) per pair",
        )
    )


def bare_tflops(ctx: Context, part: PartResult, size: str, deadline: float) -> dict[str, float]:
    """The bare loop of the MLP's largest matmul (batch x width x width) in a step of its own.

    Returns:
        ``<precision>.<mode>`` -> TFLOP/s, precisions named as the mlp's (``mixed_bfloat16``...).
    """
    if ctx.smoke:
        hp: dict[str, Any] = {"batch": 64, "width": 256}
    else:
        from suite.zoo import get_pair

        hp = get_pair("mlp").hparams(size)
    out = ctx.work / "bare-matmul.json"
    shape = [str(hp["batch"]), str(hp["width"]), str(hp["width"])]
    device = "cpu" if ctx.simulated else "gpu:0"
    argv = [ctx.python, "-m", "suite.ops.gpu_check", "--bare-matmul", device, *shape]
    ctx.step(part, "bare-matmul", argv, deadline, stdout_path=out)
    rows = step_json(out)
    return {
        f"{MIXED.get(row['precision'], row['precision'])}.{row['mode']}": row["tflops"]
        for row in rows or []
        if row.get("tflops")
    }


def overhead_ratios(ctx: Context, part: PartResult, deadline: float) -> dict[str, Any]:
    """``pairbench overhead`` per pair, each its own step and deadline (a slow pair loses only itself).

    Returns:
        ``<pair>.<workload>.<mode>`` -> step-time ratio (pairbench / hand loop).
    """
    from suite.zoo import registered

    pairs = ["mlp_seed"] if ctx.smoke else sorted(registered())
    device = "cpu" if ctx.simulated else "gpu:0"
    workloads, modes = ("predict", "function") if ctx.smoke else ("train_step", "function,xla")
    rows: dict[str, Any] = {}
    for i, pair in enumerate(pairs):
        out = ctx.work / f"overhead-{pair}.json"
        argv = ctx.suite(
            *("overhead", "--pairs", pair, "--device", device, "--size", ctx.size("large")),
            *("--rounds", "1" if ctx.smoke else "2", "--repeats", "3" if ctx.smoke else "5"),
            *("--workloads", workloads, "--modes", modes, "--json"),
        )
        ctx.step(part, f"overhead-{pair}", argv, share(deadline, 1, len(pairs) - i - 1), stdout_path=out)
        for row in step_json(out) or []:
            rows[f"{row['pair']}.{row['workload']}.{row['mode']}"] = num(row.get("ratio"))
    return rows
