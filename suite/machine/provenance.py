"""Where a run's numbers came from: machine, TensorFlow build, GPUs, driver, numerics settings.

``collect()`` returns the ``provenance`` object of ``run.json`` (PROVENANCE in
docs/ARCHITECTURE.md). Every field is always present; what cannot be known is None (or an empty
list) and NVML problems are explained in ``nvml.reason``, never raised.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
from pathlib import Path
from typing import Any

from suite import __version__
from suite.errors import one_line
from suite.machine import timing_settings
from suite.machine.nvml import NvmlUnavailable, load_nvml, normalise_pci_bus_id, nvml_error_text

#: Environment variables that change numerics, device placement or threading.
NUMERICS_ENV_VARS: tuple[str, ...] = (
    "TF_DETERMINISTIC_OPS",
    "TF_CUDNN_DETERMINISTIC",
    "TF_CUDNN_USE_AUTOTUNE",
    "TF_CUDNN_WORKSPACE_LIMIT_IN_MB",
    "TF_AUTOTUNE_THRESHOLD",
    "CUBLAS_WORKSPACE_CONFIG",
    "NVIDIA_TF32_OVERRIDE",
    "XLA_FLAGS",
    "TF_XLA_FLAGS",
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_ENABLE_AUTO_MIXED_PRECISION",
    "TF_GPU_ALLOCATOR",
    "TF_FORCE_GPU_ALLOW_GROWTH",
    "TF_GPU_THREAD_MODE",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "OMP_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "PYTHONHASHSEED",
    "KERAS_BACKEND",
    "TF_USE_LEGACY_KERAS",
)


def collect(*, probe_xla: bool = False) -> dict[str, Any]:
    """The provenance of this process's environment.

    Args:
        probe_xla: also compile a tiny XLA function on every device (adds ``"xla"``, see
            :func:`probe_xla_devices`); off by default because it initialises the GPUs.

    Returns:
        ``{"hostname", "platform", "python", "cpu_model", "tensorflow": {"version",
        "git_version", "build": {"cuda_version", "cudnn_version", "is_cuda_build"}}, "keras",
        "pairbench", "tf_devices", "gpus", "driver_version", "cuda_runtime_version",
        "nvml": {"available", "reason"}, "env", "tf32_enabled", "determinism_enabled",
        "timing"}``; ``timing`` is what moves timings (CPU affinity, governor, GPU clocks:
        :func:`suite.machine.timing_settings.collect`).
    """
    import keras
    import tensorflow as tf

    build = dict(tf.sysconfig.get_build_info())
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "tensorflow": {
            "version": tf.__version__,
            "git_version": tf.version.GIT_VERSION,
            "build": {
                "cuda_version": build.get("cuda_version"),
                "cudnn_version": build.get("cudnn_version"),
                "is_cuda_build": bool(build.get("is_cuda_build", False)),
            },
        },
        "keras": keras.__version__,
        "pairbench": __version__,
        "tf_devices": tf_devices(),
    }
    info.update(nvml_info())
    info["env"] = {k: os.environ[k] for k in NUMERICS_ENV_VARS if k in os.environ}
    info["tf32_enabled"] = bool(tf.config.experimental.tensor_float_32_execution_enabled())
    info["determinism_enabled"] = determinism_enabled()
    info["timing"] = timing_settings.collect()
    if probe_xla:
        info["xla"] = probe_xla_devices()
    return info


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo``, else ``platform.processor()``), or None."""
    cpuinfo = Path("/proc/cpuinfo")
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def tf_devices() -> list[dict[str, Any]]:
    """Physical devices TensorFlow sees: ``[{"name", "device_type", "device_name"?,
    "compute_capability"?}]`` (the last two for GPUs)."""
    import tensorflow as tf

    out = []
    for dev in tf.config.list_physical_devices():
        entry: dict[str, Any] = {"name": dev.name, "device_type": dev.device_type}
        if dev.device_type == "GPU":
            details = tf.config.experimental.get_device_details(dev)
            entry["device_name"] = details.get("device_name")
            cc = details.get("compute_capability")
            entry["compute_capability"] = f"{cc[0]}.{cc[1]}" if cc else None
        out.append(entry)
    return out


def determinism_enabled() -> bool:
    """Whether op determinism is on (``enable_op_determinism()`` or ``TF_DETERMINISTIC_OPS``).

    TensorFlow 2.21 has no public getter (``tf.config.experimental.is_op_determinism_enabled``
    does not exist), so this asks ``tensorflow.python.framework.config``.
    """
    try:
        from tensorflow.python.framework import config as tf_config

        return bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):
        return os.environ.get("TF_DETERMINISTIC_OPS", "").lower() in ("1", "true")


def nvml_info() -> dict[str, Any]:
    """GPUs, driver and CUDA version through NVML.

    Returns:
        ``{"gpus": [{"index", "name", "uuid", "pci_bus_id", "memory_total_bytes",
        "compute_capability"}], "driver_version", "cuda_runtime_version",
        "nvml": {"available", "reason"}}``. ``index`` is NVML's index (which ignores
        ``CUDA_VISIBLE_DEVICES``); ``cuda_runtime_version`` is the newest CUDA version the
        driver supports (``nvmlSystemGetCudaDriverVersion``).
    """
    out: dict[str, Any] = {
        "gpus": [],
        "driver_version": None,
        "cuda_runtime_version": None,
        "nvml": {"available": False, "reason": None},
    }
    try:
        nvml = load_nvml()
    except NvmlUnavailable as exc:
        out["nvml"]["reason"] = str(exc)
        return out
    try:
        out["driver_version"] = _text(nvml.nvmlSystemGetDriverVersion())
        cuda = nvml.nvmlSystemGetCudaDriverVersion()
        out["cuda_runtime_version"] = f"{cuda // 1000}.{(cuda % 1000) // 10}"
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
            out["gpus"].append(
                {
                    "index": index,
                    "name": _text(nvml.nvmlDeviceGetName(handle)),
                    "uuid": _text(nvml.nvmlDeviceGetUUID(handle)),
                    "pci_bus_id": normalise_pci_bus_id(nvml.nvmlDeviceGetPciInfo(handle).busId),
                    "memory_total_bytes": int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
                    "compute_capability": f"{major}.{minor}",
                }
            )
        out["nvml"] = {"available": True, "reason": None}
    except nvml.NVMLError as exc:
        out["nvml"] = {"available": False, "reason": f"NVML query failed: {nvml_error_text(nvml, exc)}"}
    finally:
        with contextlib.suppress(nvml.NVMLError):
            nvml.nvmlShutdown()
    return out


def probe_xla_devices(devices: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Compile and run a tiny ``tf.function(jit_compile=True)`` matmul on each device.

    Args:
        devices: pairbench device names (``cpu``, ``gpu:0``); default: the CPU and every GPU
            TensorFlow sees.

    Returns:
        ``{device: {"ok": bool, "error": one-line message or None}}``.
    """
    import numpy as np
    import tensorflow as tf

    if devices is None:
        devices = ["cpu"] + [f"gpu:{i}" for i in range(len(tf.config.list_logical_devices("GPU")))]
    x = np.arange(16, dtype=np.float32).reshape(4, 4) / 16.0
    expected = x @ x
    out: dict[str, dict[str, Any]] = {}
    for device in devices:
        tf_name = "/CPU:0" if device == "cpu" else f"/GPU:{device.split(':', 1)[1]}"
        try:
            with tf.device(tf_name):
                fn = tf.function(lambda a: tf.matmul(a, a), jit_compile=True)
                result = fn(tf.constant(x))
            # soft placement silently falls back to the CPU for a missing device: check
            placed = result.device.rsplit("device:", 1)[-1]
            if placed.upper() != tf_name.strip("/").upper():
                raise RuntimeError(f"ran on {placed}, not {tf_name.strip('/')} (no such device?)")
            got = result.numpy()
            if not np.allclose(got, expected, rtol=1e-3, atol=1e-3):
                raise ValueError(f"XLA matmul gave wrong values (max error {np.abs(got - expected).max():g})")
            out[device] = {"ok": True, "error": None}
        except Exception as exc:  # any failure is the answer to "does XLA work here"
            out[device] = {"ok": False, "error": one_line(exc)}
    return out


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
