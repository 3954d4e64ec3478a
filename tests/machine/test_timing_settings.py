"""The machine's timing settings (issue 17): CPU governor and boost, affinity, GPU clocks from
NVML, read without ever raising (recorded in ``run.json``'s provenance)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from suite.machine import timing_settings


def test_cpu_governor_and_boost_from_sysfs(tmp_path):
    for cpu, governor in ((0, "performance"), (1, "performance")):
        (tmp_path / f"cpu{cpu}" / "cpufreq").mkdir(parents=True)
        (tmp_path / f"cpu{cpu}" / "cpufreq" / "scaling_governor").write_text(governor + "\n")
    (tmp_path / "cpufreq").mkdir()
    (tmp_path / "cpufreq" / "boost").write_text("0\n")
    same = timing_settings.cpu_governor([0, 1], root=tmp_path)
    assert same == {"cpu_governor": "performance", "cpu_boost": False, "cpu_governor_reason": None}
    (tmp_path / "cpu1" / "cpufreq" / "scaling_governor").write_text("powersave\n")
    mixed = timing_settings.cpu_governor([0, 1], root=tmp_path)
    assert mixed["cpu_governor"] == "cpu0=performance,cpu1=powersave"
    missing = timing_settings.cpu_governor([0, 1], root=tmp_path / "nothing")
    assert missing["cpu_governor"] is None and "not readable" in missing["cpu_governor_reason"]


def test_cpu_list_text():
    assert timing_settings.cpu_list_text([5, 0, 1, 2]) == "0-2,5"
    assert timing_settings.cpu_list_text([3]) == "3" and timing_settings.cpu_list_text(None) is None


class _FakeNvml:
    """Two GPUs; the second does not support application clocks."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM = 1, 2

    class NVMLError(Exception):
        pass

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetPciInfo(self, h):
        return SimpleNamespace(busId=f"0000:{h + 1:02x}:00.0")

    def nvmlDeviceGetPersistenceMode(self, h):
        return 1

    def nvmlDeviceGetApplicationsClock(self, h, clock):
        if h == 1:
            raise self.NVMLError("Not Supported")
        return {1: 1980, 2: 2619}[clock]

    def nvmlDeviceGetMaxClockInfo(self, h, clock):
        return {1: 1980, 2: 2619}[clock]

    def nvmlDeviceGetPowerManagementLimit(self, h):
        return 700000

    def nvmlDeviceGetComputeMode(self, h):
        return 0


def test_gpu_clock_settings_from_nvml_with_unsupported_queries_as_none():
    out = timing_settings.gpu_clock_settings(_FakeNvml())
    assert out["gpu_clocks_reason"] is None
    first, second = out["gpu_clocks"]
    assert first["pci_bus_id"] == "00000000:01:00.0" and first["sm_app_clock_mhz"] == 1980
    assert first["persistence_mode"] == 1 and first["power_limit_w"] == pytest.approx(700.0)
    assert second["sm_app_clock_mhz"] is None and second["mem_max_clock_mhz"] == 2619


def test_machine_settings_never_raise_here():
    out = timing_settings.collect()
    assert set(out) == {
        "cpu_count",
        "cpu_affinity",
        "cpu_governor",
        "cpu_boost",
        "cpu_governor_reason",
        "gpu_clocks",
        "gpu_clocks_reason",
    }
    assert out["cpu_governor"] is not None or out["cpu_governor_reason"]
    assert out["gpu_clocks"] or out["gpu_clocks_reason"]
    json.dumps(out)
