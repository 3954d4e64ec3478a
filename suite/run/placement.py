"""Where a worker runs, as the worker itself sees it (sent to the parent in its ``hello``).

The parent stamps it on every record the worker makes: host, pid, ``CUDA_VISIBLE_DEVICES``,
the GPU the worker is pinned to, and the physical identity of each GPU its cases use (name,
UUID and PCI bus id through NVML, matched to TensorFlow's device by PCI bus id; NVML's own
numbering ignores ``CUDA_VISIBLE_DEVICES``). Nothing here may fail a worker: what cannot be
found out is None, or a ``reason``.
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

from suite.axes import PINNED_GPU_ENV, SIMULATED_GPUS_ENV, gpu_index, is_gpu


def gpu_identity(device: str) -> dict[str, Any]:
    """The physical GPU behind a pairbench ``gpu:N`` in this process.

    Returns:
        ``{"tf_device", "pci_bus_id", "uuid", "name"}``; ``{"simulated": True}`` for a simulated
        GPU; with ``reason`` when TensorFlow has no such GPU or NVML cannot tell.
    """
    try:
        index = gpu_index(device)
    except Exception as exc:  # a worker pinned elsewhere: say so, do not fail
        return {"reason": str(exc)}
    if index is None:
        return {"simulated": True}
    from suite.machine.nvml import NvmlUnavailable, load_nvml, nvml_handle_for_bus_id, tf_gpu_pci_bus_id

    out: dict[str, Any] = {"tf_device": f"/GPU:{index}", "pci_bus_id": None, "uuid": None, "name": None}
    try:
        out["pci_bus_id"] = tf_gpu_pci_bus_id(index)
    except Exception as exc:  # TensorFlow could not list its devices
        out["reason"] = f"{type(exc).__name__}: {exc}"[:200]
        return out
    if out["pci_bus_id"] is None:
        out["reason"] = f"TensorFlow has no /GPU:{index}"
        return out
    try:
        nvml = load_nvml()
    except NvmlUnavailable as exc:
        out["reason"] = str(exc)
        return out
    try:
        handle = nvml_handle_for_bus_id(nvml, out["pci_bus_id"])
        out["uuid"] = _text(nvml.nvmlDeviceGetUUID(handle))
        out["name"] = _text(nvml.nvmlDeviceGetName(handle))
    except Exception as exc:  # NvmlUnavailable or an NVML error
        out["reason"] = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    return out


def describe_worker(devices: list[str]) -> dict[str, Any]:
    """This worker's host, pid, ``CUDA_VISIBLE_DEVICES``, pinned GPU, and ``gpus``: the
    :func:`gpu_identity` of each GPU in ``devices``."""
    gpus = {d: gpu_identity(d) for d in sorted(set(devices)) if is_gpu(d)}
    return {
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "pinned_gpu": os.environ.get(PINNED_GPU_ENV),
        "simulated_gpus": bool(os.environ.get(SIMULATED_GPUS_ENV)),
        "gpus": gpus,
    }


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
