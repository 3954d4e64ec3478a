"""GPU telemetry: sample one NVIDIA GPU through NVML in a background thread while a case runs.

``NvmlSampler.for_device("gpu:0")`` finds TensorFlow's GPU 0 in NVML by PCI bus id (NVML
indices ignore ``CUDA_VISIBLE_DEVICES``), samples it about ten times a second and summarises
mean/max per metric. Nothing here ever crashes a run: no NVML library, no GPU, a CPU device
or a failing query give ``{"reason": "..."}`` (or None for a metric the GPU does not report).

Sample columns (also the CSV columns): ``t_s`` (seconds since the sampler started),
``gpu_util_pct``, ``mem_util_pct``, ``mem_used_bytes``, ``power_w``, ``sm_clock_mhz``,
``mem_clock_mhz``, ``temperature_c``, ``throttle_mask`` (NVML clocks-event bitmask),
``throttle_reasons`` (decoded names joined by ``|``), ``energy_j`` (since the sampler started).
"""

from __future__ import annotations

import contextlib
import csv
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from suite.machine.nvml import NvmlUnavailable, load_nvml, nvml_error_text, nvml_handle_for_tf_gpu

DEFAULT_INTERVAL_S = 0.1

#: Metrics averaged and maximised in :meth:`NvmlSampler.summary`.
METRICS: tuple[str, ...] = (
    "gpu_util_pct",
    "mem_util_pct",
    "mem_used_bytes",
    "power_w",
    "sm_clock_mhz",
    "mem_clock_mhz",
    "temperature_c",
)
CSV_COLUMNS: tuple[str, ...] = ("t_s", *METRICS, "throttle_mask", "throttle_reasons", "energy_j")

#: NVML clocks-event ("throttle") reason bits (nvml.h ``nvmlClocksEventReason*``).
THROTTLE_REASONS: tuple[tuple[int, str], ...] = (
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
)


def decode_throttle_reasons(mask: int | None) -> list[str]:
    """Names of the set bits of an NVML clocks-event reason mask.

    Args:
        mask: the bitmask (None for "not reported").

    Returns:
        Names in bit order, e.g. ``["gpu_idle", "sw_power_cap"]``; unknown bits as ``bit_0x...``.
    """
    if not mask:
        return []
    names = [name for bit, name in THROTTLE_REASONS if mask & bit]
    known = 0
    for bit, _ in THROTTLE_REASONS:
        known |= bit
    rest = mask & ~known
    bit = 1
    while rest:
        if rest & bit:
            names.append(f"bit_{bit:#x}")
            rest &= ~bit
        bit <<= 1
    return names


def telemetry_unavailable_reason(device: str) -> str | None:
    """Why a pairbench device cannot have telemetry, before trying NVML.

    Args:
        device: ``cpu`` or ``gpu:N``.

    Returns:
        ``"telemetry is GPU-only"`` for the CPU, None for a GPU.
    """
    if device.startswith("gpu:"):
        return None
    return "telemetry is GPU-only"


class NvmlSampler:
    """Context manager that samples one GPU in a background thread.

    Use :meth:`for_device`; after the ``with`` block read :attr:`samples`, :meth:`summary` and
    :meth:`write_csv`. A sampler with a ``reason`` (CPU device, no NVML...) samples nothing and
    its summary is ``{"reason": reason}``.

    Args:
        resolve_handle: called with the initialised NVML module on entry, returns the device
            handle (raise :class:`NvmlUnavailable` to give a reason).
        interval_s: time between samples.
        reason: if set, do not sample; the summary is ``{"reason": reason}``.
        nvml: an NVML module to use instead of importing and initialising ``pynvml`` (tests).
    """

    def __init__(
        self,
        resolve_handle: Callable[[Any], Any] | None,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        reason: str | None = None,
        nvml: Any = None,
    ):
        self.interval_s = float(interval_s)
        self.reason = reason if reason is not None or resolve_handle is not None else "no device"
        self.samples: list[dict[str, Any]] = []
        self.errors: dict[str, str] = {}
        self._resolve = resolve_handle
        self._nvml = nvml
        self._owns_nvml = nvml is None
        self._handle: Any = None
        self._unsupported: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._energy0_mj: int | None = None
        self._energy_j: float | None = None
        self._duration_s = 0.0
        self._lock = threading.Lock()

    @classmethod
    def for_device(cls, device: str, *, interval_s: float = DEFAULT_INTERVAL_S) -> NvmlSampler:
        """A sampler for a pairbench device (``cpu`` -> a no-op sampler with a reason).

        Args:
            device: ``cpu`` or ``gpu:N`` (TensorFlow's GPU index).
            interval_s: time between samples.

        Returns:
            The sampler (never raises; problems become its ``reason`` on entry).
        """
        reason = telemetry_unavailable_reason(device)
        if reason is not None:
            return cls(None, interval_s=interval_s, reason=reason)
        from suite.axes import gpu_index
        from suite.errors import UsageError

        try:
            index = gpu_index(device)
        except UsageError as exc:
            return cls(None, interval_s=interval_s, reason=f"telemetry: {exc}")
        if index is None:
            return cls(None, interval_s=interval_s, reason="telemetry: simulated GPU (runs on the CPU)")
        return cls(lambda nvml, index=index: nvml_handle_for_tf_gpu(index, nvml), interval_s=interval_s)

    @property
    def available(self) -> bool:
        """True while/after sampling a real device (no ``reason``)."""
        return self.reason is None

    def __enter__(self) -> NvmlSampler:
        if self.reason is not None or self._resolve is None:
            return self
        try:
            if self._nvml is None:
                self._nvml = load_nvml()
            self._handle = self._resolve(self._nvml)
        except NvmlUnavailable as exc:
            self._fail(str(exc))
            return self
        except Exception as exc:  # NVMLError or anything raised while matching devices
            self._fail(f"NVML unavailable: {nvml_error_text(self._nvml, exc) if self._nvml else exc}")
            return self
        self._t0 = time.perf_counter()
        self._energy0_mj = self._query("energy_j", self._nvml.nvmlDeviceGetTotalEnergyConsumption)
        self._take_sample()
        self._thread = threading.Thread(target=self._loop, name="pairbench-nvml", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._take_sample()
        self._duration_s = time.perf_counter() - self._t0
        end_mj = self._query("energy_j", self._nvml.nvmlDeviceGetTotalEnergyConsumption)
        if self._energy0_mj is not None and end_mj is not None:
            self._energy_j = (end_mj - self._energy0_mj) / 1000.0
        self._shutdown()

    def summary(self) -> dict[str, Any]:
        """Mean and max of every metric over the samples.

        Returns:
            ``{"<metric>_mean", "<metric>_max" (None if never reported), "energy_j",
            "throttle_reasons" (names seen), "samples", "interval_s", "duration_s"}``, plus
            ``"errors"`` when queries failed; or ``{"reason": "..."}`` if nothing was sampled.
        """
        if self.reason is not None:
            return {"reason": self.reason}
        if not self.samples:
            return {"reason": "NVML unavailable: no sample taken (sampler not entered)"}
        with self._lock:
            samples = list(self.samples)
        out: dict[str, Any] = {}
        for metric in METRICS:
            values = [s[metric] for s in samples if s.get(metric) is not None]
            out[f"{metric}_mean"] = sum(values) / len(values) if values else None
            out[f"{metric}_max"] = max(values) if values else None
        seen = 0
        for s in samples:
            seen |= s.get("throttle_mask") or 0
        out["throttle_reasons"] = decode_throttle_reasons(seen)
        out["energy_j"] = self._energy_j
        out["samples"] = len(samples)
        out["interval_s"] = self.interval_s
        out["duration_s"] = self._duration_s
        if self.errors:
            out["errors"] = dict(self.errors)
        return out

    def write_csv(self, path: Path) -> Path | None:
        """Write the samples (:data:`CSV_COLUMNS`) to ``path``.

        Args:
            path: the CSV file (parent folders are created).

        Returns:
            ``path``, or None (nothing written) when the sampler had no device.
        """
        if self.reason is not None or not self.samples:
            return None
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS), extrasaction="ignore")
            writer.writeheader()
            for sample in self.samples:
                row = dict(sample)
                row["throttle_reasons"] = "|".join(row.get("throttle_reasons") or [])
                writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
        return path

    # -- internals -------------------------------------------------------------------------------

    def _fail(self, reason: str) -> None:
        self.reason = reason
        self._shutdown()

    def _shutdown(self) -> None:
        if self._owns_nvml and self._nvml is not None:
            with contextlib.suppress(Exception):  # nothing useful to do if shutdown fails
                self._nvml.nvmlShutdown()
            self._nvml = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._take_sample()

    def _query(self, metric: str, fn: Callable[..., Any], *args: Any) -> Any:
        """One NVML query; None when the GPU does not support it (not asked again) or it fails."""
        if metric in self._unsupported:
            return None
        nvml = self._nvml
        try:
            return fn(self._handle, *args)
        except Exception as exc:
            if isinstance(exc, getattr(nvml, "NVMLError_NotSupported", ())):
                self._unsupported.add(metric)
            else:
                self.errors.setdefault(metric, nvml_error_text(nvml, exc))
            return None

    def _take_sample(self) -> None:
        nv = self._nvml
        util = self._query("util", nv.nvmlDeviceGetUtilizationRates)
        mem = self._query("mem", nv.nvmlDeviceGetMemoryInfo)
        power_mw = self._query("power_w", nv.nvmlDeviceGetPowerUsage)
        energy_mj = self._query("energy_j", nv.nvmlDeviceGetTotalEnergyConsumption)
        # nvidia-ml-py >= 12.535 names it "clocks event reasons"; older ones "throttle reasons"
        reasons_fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None)
        if reasons_fn is None:
            reasons_fn = nv.nvmlDeviceGetCurrentClocksThrottleReasons
        mask = self._query("throttle", reasons_fn)
        sample = {
            "t_s": time.perf_counter() - self._t0,
            "gpu_util_pct": float(util.gpu) if util is not None else None,
            "mem_util_pct": float(util.memory) if util is not None else None,
            "mem_used_bytes": int(mem.used) if mem is not None else None,
            "power_w": power_mw / 1000.0 if power_mw is not None else None,
            "sm_clock_mhz": self._query("sm_clock_mhz", nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_SM),
            "mem_clock_mhz": self._query("mem_clock_mhz", nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_MEM),
            "temperature_c": self._query(
                "temperature_c", nv.nvmlDeviceGetTemperature, nv.NVML_TEMPERATURE_GPU
            ),
            "throttle_mask": int(mask) if mask is not None else None,
            "throttle_reasons": decode_throttle_reasons(mask),
            "energy_j": (energy_mj - self._energy0_mj) / 1000.0
            if energy_mj is not None and self._energy0_mj is not None
            else None,
        }
        with self._lock:
            self.samples.append(sample)
