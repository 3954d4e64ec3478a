"""NVML telemetry (suite.machine.telemetry) with NVML absent, failing, and faked."""

from __future__ import annotations

import csv
import threading
import time
from types import SimpleNamespace

import pynvml
import pytest

from suite.machine import nvml
from suite.machine.nvml import NvmlUnavailable, normalise_pci_bus_id, nvml_handle_for_bus_id, parse_pci_bus_id
from suite.machine.telemetry import (
    CSV_COLUMNS,
    NvmlSampler,
    decode_throttle_reasons,
    telemetry_unavailable_reason,
)


class FakeNvml:
    """Just enough of ``pynvml`` for the sampler, with the real error classes and constants."""

    NVMLError = pynvml.NVMLError
    NVMLError_NotSupported = pynvml.NVMLError_NotSupported
    NVMLError_LibraryNotFound = pynvml.NVMLError_LibraryNotFound
    NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM
    NVML_CLOCK_MEM = pynvml.NVML_CLOCK_MEM
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU

    def __init__(self, bus_ids=("00000000:3B:00.0",), temperature_supported=False, power_fails=False):
        self.bus_ids = list(bus_ids)
        self.n = 0  # utilisation queries so far
        self.energy_mj = 1_000_000  # cumulative since "driver load"
        self.temperature_calls = 0
        self.temperature_supported = temperature_supported
        self.power_fails = power_fails
        self.shutdowns = 0

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        return len(self.bus_ids)

    def nvmlDeviceGetHandleByIndex(self, i):
        return ("handle", i)

    def nvmlDeviceGetPciInfo(self, handle):
        return SimpleNamespace(busId=self.bus_ids[handle[1]].encode())

    def nvmlDeviceGetUtilizationRates(self, handle):
        self.n += 1
        return SimpleNamespace(gpu=(self.n * 10) % 100, memory=self.n % 7)

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=1000 * self.n, total=80 * 2**30)

    def nvmlDeviceGetPowerUsage(self, handle):
        if self.power_fails:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        return 100_000 + 1000 * self.n  # milliwatts

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        self.energy_mj += 500
        return self.energy_mj

    def nvmlDeviceGetClockInfo(self, handle, kind):
        return 1980 if kind == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetTemperature(self, handle, sensor):
        self.temperature_calls += 1
        if not self.temperature_supported:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return 40 + self.n

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return 0x1 | 0x4 if self.n % 2 else 0x1


def _sample_until(sampler, n, limit_s=10.0):
    deadline = time.monotonic() + limit_s
    while len(sampler.samples) < n and time.monotonic() < deadline:
        time.sleep(0.005)


def _sampler_threads():
    return [t for t in threading.enumerate() if t.name == "pairbench-nvml"]


def test_fake_nvml_summary_matches_samples(tmp_path):
    fake = FakeNvml()
    sampler = NvmlSampler(lambda nv: nv.nvmlDeviceGetHandleByIndex(0), interval_s=0.005, nvml=fake)
    with sampler:
        assert _sampler_threads()
        _sample_until(sampler, 5)
    assert not _sampler_threads()  # thread stopped and joined
    n = len(sampler.samples)
    assert n >= 5
    time.sleep(0.05)
    assert len(sampler.samples) == n  # nothing samples after exit

    s = sampler.summary()
    util = [x["gpu_util_pct"] for x in sampler.samples]
    power = [x["power_w"] for x in sampler.samples]
    assert s["samples"] == n
    assert s["gpu_util_pct_mean"] == pytest.approx(sum(util) / n)
    assert s["gpu_util_pct_max"] == max(util)
    assert s["power_w_mean"] == pytest.approx(sum(power) / n)
    assert s["power_w_max"] == pytest.approx(max(power))
    assert s["mem_used_bytes_max"] == max(x["mem_used_bytes"] for x in sampler.samples)
    assert s["sm_clock_mhz_mean"] == 1980
    assert s["interval_s"] == 0.005
    # 500 mJ per energy query: one at start, one per sample, one at the end
    assert s["energy_j"] == pytest.approx(0.5 * (n + 1))
    assert s["throttle_reasons"] == ["gpu_idle", "sw_power_cap"]
    # NotSupported: None, asked once, not an error
    assert s["temperature_c_mean"] is None and s["temperature_c_max"] is None
    assert fake.temperature_calls == 1
    assert "errors" not in s
    assert fake.shutdowns == 0  # the caller owns an injected NVML module

    path = sampler.write_csv(tmp_path / "telemetry" / "case.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert len(rows) == n
    assert [float(r["gpu_util_pct"]) for r in rows] == util
    assert rows[0]["temperature_c"] == ""


def test_failing_query_is_recorded_not_raised():
    fake = FakeNvml(temperature_supported=True, power_fails=True)
    with NvmlSampler(lambda nv: nv.nvmlDeviceGetHandleByIndex(0), interval_s=0.005, nvml=fake) as sampler:
        _sample_until(sampler, 2)
    s = sampler.summary()
    assert s["power_w_mean"] is None
    assert "power_w" in s["errors"]
    assert s["temperature_c_max"] == max(x["temperature_c"] for x in sampler.samples)


def test_nvml_library_missing(monkeypatch, tmp_path):
    def no_library():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    sampler = NvmlSampler.for_device("gpu:0")
    with sampler:
        assert not _sampler_threads()
    assert sampler.summary() == {"reason": "NVML unavailable: no NVIDIA driver (NVML library not found)"}
    assert sampler.write_csv(tmp_path / "t.csv") is None
    assert not (tmp_path / "t.csv").exists()
    assert not sampler.available


def test_device_matching_failure_becomes_reason():
    fake = FakeNvml()

    def resolve(nv):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)

    with NvmlSampler(resolve, nvml=fake) as sampler:
        pass
    assert sampler.summary()["reason"].startswith("NVML unavailable: ")
    assert sampler.samples == []


def test_cpu_has_no_telemetry(tmp_path):
    assert telemetry_unavailable_reason("cpu") == "telemetry is GPU-only"
    assert telemetry_unavailable_reason("gpu:1") is None
    with NvmlSampler.for_device("cpu") as sampler:
        pass
    assert sampler.summary() == {"reason": "telemetry is GPU-only"}
    assert sampler.write_csv(tmp_path / "x.csv") is None


def test_pci_bus_ids_match_across_spellings():
    assert normalise_pci_bus_id("0000:3b:00.0") == "00000000:3B:00.0"
    assert normalise_pci_bus_id(b"00000000:3B:00.0\x00") == "00000000:3B:00.0"
    assert normalise_pci_bus_id("3b:00.0") == "00000000:3B:00.0"
    desc = "device: 0, name: NVIDIA H100 80GB HBM3, pci bus id: 0000:86:00.0, compute capability: 9.0"
    assert parse_pci_bus_id(desc) == "0000:86:00.0"
    assert parse_pci_bus_id("device: 0, name: x") is None
    fake = FakeNvml(bus_ids=("00000000:3B:00.0", "00000000:86:00.0"))
    assert nvml_handle_for_bus_id(fake, "0000:86:00.0") == ("handle", 1)
    with pytest.raises(NvmlUnavailable, match=r"no NVML device at PCI bus id 0000:99:00\.0$"):
        nvml_handle_for_bus_id(fake, "0000:99:00.0")


def test_tf_gpu_matched_by_bus_id_not_index(monkeypatch):
    """TensorFlow's GPU 0 may be NVML device 1 (CUDA_VISIBLE_DEVICES=1)."""
    fake = FakeNvml(bus_ids=("00000000:3B:00.0", "00000000:86:00.0"))
    monkeypatch.setattr(nvml, "tf_gpu_pci_bus_id", lambda i: {0: "0000:86:00.0"}.get(i))
    assert nvml.nvml_handle_for_tf_gpu(0, fake) == ("handle", 1)
    with pytest.raises(NvmlUnavailable, match="TensorFlow has no GPU:1"):
        nvml.nvml_handle_for_tf_gpu(1, fake)


def test_decode_throttle_reasons():
    assert decode_throttle_reasons(0) == []
    assert decode_throttle_reasons(None) == []
    assert decode_throttle_reasons(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert decode_throttle_reasons(0x1 | 0x1000) == ["gpu_idle", "bit_0x1000"]
    # names agree with the bits nvidia-ml-py defines
    assert decode_throttle_reasons(pynvml.nvmlClocksEventReasonHwPowerBrakeSlowdown) == [
        "hw_power_brake_slowdown"
    ]
