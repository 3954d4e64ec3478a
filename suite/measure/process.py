"""Process-global state of a worker: precision policy, TF32, op determinism, thread pools.

:func:`configure_process` sets it once per worker process (before any model is built);
:func:`check_device_supported` refuses a case this machine cannot run, and
:func:`sync_device` ends a timed region.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from suite.axes import FLOAT64, gpu_index, is_gpu, tf_device
from suite.case import Case
from suite.errors import CaseUnsupported, one_line


@dataclass(frozen=True)
class ProcessState:
    """What :func:`configure_process` set, read back from TensorFlow."""

    precision: str
    determinism: str
    dtype_policy: str
    tf32_enabled: bool
    determinism_enabled: bool
    intra_op_threads: int = 0
    inter_op_threads: int = 0


def configure_process(
    precision: str,
    determinism: str,
    *,
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
) -> ProcessState:
    """Set the process-global state for a worker (call once, before building models).

    ``float32`` and the mixed policies run with TF32 off, so that ``float32`` means IEEE float32
    on Ampere+ GPUs; ``tf32`` turns it on. Determinism ``on`` calls
    ``tf.config.experimental.enable_op_determinism()`` (it cannot be turned off again).
    ``intra_op_threads`` / ``inter_op_threads`` size TensorFlow's thread pools (None: its
    default, one thread per core); the state read back has them (0 meaning the default).
    """
    import keras
    import tensorflow as tf

    from suite.machine.timing_settings import apply_threads

    apply_threads(intra_op_threads, inter_op_threads)
    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # already initialised
            tf.config.experimental.set_memory_growth(gpu, True)
    policy = {
        "float32": "float32",
        "tf32": "float32",
        FLOAT64: "float64",
        "mixed_float16": "mixed_float16",
        "mixed_bfloat16": "mixed_bfloat16",
    }[precision]
    keras.mixed_precision.set_global_policy(policy)
    tf.config.experimental.enable_tensor_float_32_execution(precision == "tf32")
    if determinism == "on":
        tf.config.experimental.enable_op_determinism()
    return ProcessState(
        precision=precision,
        determinism=determinism,
        dtype_policy=keras.mixed_precision.global_policy().name,
        tf32_enabled=bool(tf.config.experimental.tensor_float_32_execution_enabled()),
        determinism_enabled=_determinism_enabled(),
        intra_op_threads=int(tf.config.threading.get_intra_op_parallelism_threads()),
        inter_op_threads=int(tf.config.threading.get_inter_op_parallelism_threads()),
    )


def _determinism_enabled() -> bool:
    from suite.machine.provenance import determinism_enabled

    return bool(determinism_enabled())


def check_device_supported(case: Case) -> None:
    """Raise :class:`CaseUnsupported` when this machine cannot run the case's device/precision."""
    import tensorflow as tf

    if is_gpu(case.device):
        index = gpu_index(case.device)
        gpus = tf.config.list_logical_devices("GPU")
        if index is not None and index >= len(gpus):
            raise CaseUnsupported(f"no {case.device}: TensorFlow sees {len(gpus)} GPU(s)")
    elif case.precision == "tf32":
        raise CaseUnsupported(
            "tf32 only changes float32 matmuls on NVIDIA Ampere+ GPUs; on cpu it is float32"
        )
    if case.precision == "mixed_bfloat16":
        try:
            with tf.device(tf_device(case.device)):
                a = tf.ones((4, 4), tf.bfloat16)
                tf.linalg.matmul(a, a).numpy()
        except Exception as exc:  # the probe's own failure is the reason
            raise CaseUnsupported(f"bfloat16 matmul fails on {case.device}: {one_line(exc)}") from None


def sync_device() -> None:
    """Wait for every device to finish queued work (the end of a timed region)."""
    import tensorflow as tf

    tf.test.experimental.sync_devices()
