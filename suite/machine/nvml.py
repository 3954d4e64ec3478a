"""NVML, the driver's management library (``nvidia-ml-py``, imported as ``pynvml``): loading it,
and finding the NVML device of a TensorFlow GPU.

NVML indices ignore ``CUDA_VISIBLE_DEVICES``, so a TensorFlow GPU is matched to its NVML device
by PCI bus id. Nothing here crashes a run: every failure is :class:`NvmlUnavailable` with the
reason (not installed, no driver, no such device).
"""

from __future__ import annotations

import functools
import re
from typing import Any


class NvmlUnavailable(Exception):
    """NVML cannot be used for this device (the message is the reason)."""


def load_nvml() -> Any:
    """Import ``pynvml`` (from ``nvidia-ml-py``) and initialise NVML.

    Returns:
        The initialised ``pynvml`` module (call ``nvmlShutdown`` when done).

    Raises:
        NvmlUnavailable: with the reason (not installed, library not found, no driver...).
    """
    try:
        import pynvml
    except ImportError:
        raise NvmlUnavailable("NVML unavailable: nvidia-ml-py is not installed") from None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise NvmlUnavailable(f"NVML unavailable: {nvml_error_text(pynvml, exc)}") from None
    return pynvml


def nvml_error_text(nvml: Any, exc: Exception) -> str:
    """One line for an NVML error (a missing library: ``no NVIDIA driver (NVML library not found)``)."""
    if isinstance(exc, getattr(nvml, "NVMLError_LibraryNotFound", ())):
        return "no NVIDIA driver (NVML library not found)"
    return " ".join(str(exc).split()) or type(exc).__name__


def normalise_pci_bus_id(bus_id: str | bytes) -> str:
    """Canonical PCI bus id: 8-hex-digit domain, upper case (``00000000:3B:00.0``).

    NVML reports ``00000000:3B:00.0``; TensorFlow reports ``0000:3b:00.0``.
    """
    text = bus_id.decode() if isinstance(bus_id, bytes) else str(bus_id)
    text = text.strip().rstrip("\x00").upper()
    parts = text.split(":")
    if len(parts) == 2:  # no domain
        parts.insert(0, "0")
    if len(parts) != 3:
        return text
    return f"{int(parts[0], 16):08X}:{parts[1]}:{parts[2]}"


@functools.cache
def tf_gpu_pci_bus_id(tf_device_index: int) -> str | None:
    """PCI bus id of TensorFlow's ``/GPU:<index>`` (from its physical device description).

    ``tf.config.experimental.get_device_details`` gives only the name and compute capability,
    so this reads ``device_lib.list_local_devices()`` (which initialises the GPUs); the answer
    is cached for the life of the process.

    Args:
        tf_device_index: TensorFlow's GPU index.

    Returns:
        The bus id as TensorFlow writes it, or None if TensorFlow has no such GPU.
    """
    from tensorflow.python.client import device_lib

    for dev in device_lib.list_local_devices():
        if dev.device_type == "GPU" and dev.name.endswith(f":GPU:{tf_device_index}"):
            return parse_pci_bus_id(dev.physical_device_desc)
    return None


def parse_pci_bus_id(physical_device_desc: str) -> str | None:
    """The ``pci bus id`` field of TensorFlow's physical device description, if any."""
    match = re.search(r"pci bus id:\s*([0-9A-Fa-f:.]+)", physical_device_desc)
    return match.group(1) if match else None


def nvml_handle_for_bus_id(nvml: Any, bus_id: str) -> Any:
    """The NVML handle of the GPU at a PCI bus id (compared after normalising both sides).

    Args:
        nvml: the initialised ``pynvml`` module.
        bus_id: a PCI bus id in any of the usual spellings.

    Returns:
        The handle.

    Raises:
        NvmlUnavailable: if no NVML device has that bus id.
    """
    wanted = normalise_pci_bus_id(bus_id)
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        if normalise_pci_bus_id(nvml.nvmlDeviceGetPciInfo(handle).busId) == wanted:
            return handle
    raise NvmlUnavailable(f"NVML unavailable: no NVML device at PCI bus id {bus_id}")


def nvml_handle_for_tf_gpu(tf_device_index: int, nvml: Any = None) -> Any:
    """The NVML handle of TensorFlow's ``/GPU:<tf_device_index>``, matched by PCI bus id.

    Args:
        tf_device_index: TensorFlow's GPU index (``gpu:1`` -> 1).
        nvml: an initialised ``pynvml`` module (default: :func:`load_nvml`).

    Returns:
        The handle.

    Raises:
        NvmlUnavailable: if NVML cannot be used or TensorFlow has no such GPU.
    """
    nvml = nvml if nvml is not None else load_nvml()
    bus_id = tf_gpu_pci_bus_id(tf_device_index)
    if bus_id is None:
        raise NvmlUnavailable(f"NVML unavailable: TensorFlow has no GPU:{tf_device_index} with a PCI bus id")
    return nvml_handle_for_bus_id(nvml, bus_id)
