"""What moves timings besides the code: thread pools, CPU affinity and governor, GPU clocks.

One thread instead of TensorFlow's default changes a CPU step time by -28% to +33% on a
2-core machine; a CPU governor other than ``performance``, turbo/boost, GPU application
clocks, persistence mode and the power limit move timings too. This module reads (and, for
TensorFlow's thread pools, sets) them:

- :func:`apply_threads` sets TensorFlow's intra-/inter-op thread pools (before TensorFlow's
  context starts: :func:`suite.measure.process.configure_process` calls it in every worker);
- :func:`thread_settings` is what one process runs with (stored in every record's ``timing``);
- :func:`collect` is the machine's side (``run.json`` ``provenance.timing``): CPU count and
  affinity, governor and boost where ``/sys`` has them, GPU clocks and persistence where NVML
  gives them. What cannot be read is None, with the reason next to it; nothing here raises.

``pairbench compare`` refuses two runs whose settings differ
(:func:`suite.compare.comparability.timing_settings_differences`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

#: where Linux exposes CPU frequency scaling
SYS_CPU = Path("/sys/devices/system/cpu")


def apply_threads(intra_op_threads: int | None, inter_op_threads: int | None) -> None:
    """Size TensorFlow's thread pools (None: leave TensorFlow's default, one thread per core).

    Raises:
        RuntimeError: TensorFlow's context is already initialised (call this first in a process).
    """
    import tensorflow as tf

    if intra_op_threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(int(intra_op_threads))
    if inter_op_threads is not None:
        tf.config.threading.set_inter_op_parallelism_threads(int(inter_op_threads))


def thread_settings() -> dict[str, Any]:
    """The thread settings this process runs with.

    Returns:
        ``{"intra_op_threads", "inter_op_threads"}`` as TensorFlow reports them (0: TensorFlow's
        default, one thread per schedulable core) and ``"cpu_affinity"`` (e.g. ``"0-1"``, None
        where the OS does not say).
    """
    import tensorflow as tf

    return {
        "intra_op_threads": int(tf.config.threading.get_intra_op_parallelism_threads()),
        "inter_op_threads": int(tf.config.threading.get_inter_op_parallelism_threads()),
        "cpu_affinity": cpu_list_text(cpu_affinity()),
    }


def cpu_affinity() -> list[int] | None:
    """The CPUs this process may run on (sorted), or None where the OS does not say."""
    getter: Callable[[int], Iterable[int]] | None = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    try:
        return sorted(getter(0))
    except OSError:
        return None


def cpu_list_text(cpus: Iterable[int] | None) -> str | None:
    """Linux's CPU list syntax: ``[0, 1, 2, 5]`` -> ``"0-2,5"`` (None stays None)."""
    if cpus is None:
        return None
    ranges: list[list[int]] = []
    for cpu in sorted(set(cpus)):
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def cpu_governor(cpus: Iterable[int] | None = None, root: Path = SYS_CPU) -> dict[str, Any]:
    """The frequency governor and boost state of the CPUs a process may run on.

    Args:
        cpus: which CPUs (default: this process's affinity, else every CPU under ``root``).
        root: ``/sys/devices/system/cpu`` (tests pass a fake tree).

    Returns:
        ``{"cpu_governor": "performance" | "cpu0=powersave,cpu1=performance" | None,
        "cpu_boost": bool | None, "cpu_governor_reason": None | why it is unknown}``.
    """
    if cpus is None:
        cpus = cpu_affinity()
    if cpus is None:
        cpus = sorted(int(p.name[3:]) for p in root.glob("cpu[0-9]*") if p.name[3:].isdigit())
    governors = {cpu: _read(root / f"cpu{cpu}" / "cpufreq" / "scaling_governor") for cpu in cpus}
    known = {cpu: g for cpu, g in governors.items() if g is not None}
    if not known:
        where = f"{root}/cpu*/cpufreq/scaling_governor"
        governor, reason = None, f"not readable ({where}: no cpufreq driver, e.g. a VM)"
    elif len(set(known.values())) == 1 and len(known) == len(governors):
        governor, reason = next(iter(known.values())), None
    else:
        governor = ",".join(f"cpu{cpu}={g or 'unknown'}" for cpu, g in sorted(governors.items()))
        reason = None
    boost = _read(root / "cpufreq" / "boost")
    no_turbo = _read(root / "intel_pstate" / "no_turbo")
    if boost in ("0", "1"):
        boosted: bool | None = boost == "1"
    elif no_turbo in ("0", "1"):
        boosted = no_turbo == "0"
    else:
        boosted = None
    return {"cpu_governor": governor, "cpu_boost": boosted, "cpu_governor_reason": reason}


#: NVML queries per GPU: field -> (pynvml function name, extra arguments by constant name, scale)
_GPU_QUERIES: dict[str, tuple[str, tuple[str, ...], float]] = {
    "persistence_mode": ("nvmlDeviceGetPersistenceMode", (), 1.0),
    "sm_app_clock_mhz": ("nvmlDeviceGetApplicationsClock", ("NVML_CLOCK_SM",), 1.0),
    "mem_app_clock_mhz": ("nvmlDeviceGetApplicationsClock", ("NVML_CLOCK_MEM",), 1.0),
    "sm_max_clock_mhz": ("nvmlDeviceGetMaxClockInfo", ("NVML_CLOCK_SM",), 1.0),
    "mem_max_clock_mhz": ("nvmlDeviceGetMaxClockInfo", ("NVML_CLOCK_MEM",), 1.0),
    "power_limit_w": ("nvmlDeviceGetPowerManagementLimit", (), 1e-3),
    "compute_mode": ("nvmlDeviceGetComputeMode", (), 1.0),
}


def gpu_clock_settings(nvml: Any = None) -> dict[str, Any]:
    """Clocks, persistence and power limit of every GPU, as NVML gives them.

    Args:
        nvml: an initialised ``pynvml`` module (default: load and initialise it here).

    Returns:
        ``{"gpu_clocks": [{"index", "pci_bus_id", "persistence_mode", "sm_app_clock_mhz",
        "mem_app_clock_mhz", "sm_max_clock_mhz", "mem_max_clock_mhz", "power_limit_w",
        "compute_mode"}], "gpu_clocks_reason": None | why there are none}``; a query the GPU
        does not support is None.
    """
    from suite.machine.nvml import NvmlUnavailable, load_nvml, normalise_pci_bus_id, nvml_error_text

    owned = nvml is None
    try:
        nvml = load_nvml() if owned else nvml
    except NvmlUnavailable as exc:
        return {"gpu_clocks": [], "gpu_clocks_reason": str(exc)}
    gpus = []
    try:
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            entry: dict[str, Any] = {
                "index": index,
                "pci_bus_id": normalise_pci_bus_id(nvml.nvmlDeviceGetPciInfo(handle).busId),
            }
            for field, (name, constants, scale) in _GPU_QUERIES.items():
                entry[field] = _gpu_query(nvml, name, handle, constants, scale)
            gpus.append(entry)
    except nvml.NVMLError as exc:
        return {"gpu_clocks": gpus, "gpu_clocks_reason": f"NVML query failed: {nvml_error_text(nvml, exc)}"}
    finally:
        if owned:
            with contextlib.suppress(Exception):
                nvml.nvmlShutdown()
    return {"gpu_clocks": gpus, "gpu_clocks_reason": None if gpus else "no GPU"}


def _gpu_query(nvml: Any, name: str, handle: Any, constants: tuple[str, ...], scale: float) -> Any:
    """One NVML query; None when this GPU or driver does not support it."""
    fn = getattr(nvml, name, None)
    if fn is None:
        return None
    try:
        value = fn(handle, *(getattr(nvml, c) for c in constants))
    except nvml.NVMLError:
        return None
    return value * scale if scale != 1.0 else value


def collect() -> dict[str, Any]:
    """The machine's timing settings (``run.json`` ``provenance.timing``).

    Returns:
        ``{"cpu_count", "cpu_affinity", "cpu_governor", "cpu_boost", "cpu_governor_reason",
        "gpu_clocks", "gpu_clocks_reason"}`` (see :func:`cpu_governor`, :func:`gpu_clock_settings`).
    """
    affinity = cpu_affinity()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": cpu_list_text(affinity),
        **cpu_governor(affinity),
        **gpu_clock_settings(),
    }
