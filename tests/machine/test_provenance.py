"""Provenance (suite.machine.provenance): the run.json environment block."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pynvml
import pytest

from suite import __version__
from suite.machine import provenance

PROVENANCE_KEYS = {
    "hostname",
    "platform",
    "python",
    "cpu_model",
    "tensorflow",
    "keras",
    "pairbench",
    "tf_devices",
    "gpus",
    "driver_version",
    "cuda_runtime_version",
    "nvml",
    "env",
    "tf32_enabled",
    "determinism_enabled",
    "timing",
}
GPU_KEYS = {"index", "name", "uuid", "pci_bus_id", "memory_total_bytes", "compute_capability"}


@pytest.fixture(scope="module")
def prov():
    return provenance.collect()


def test_collect_matches_the_documented_schema(prov):
    import keras
    import tensorflow as tf

    assert set(prov) == PROVENANCE_KEYS
    json.dumps(prov)  # plain JSON, no default= needed
    assert prov["tensorflow"]["version"] == tf.__version__
    assert prov["tensorflow"]["git_version"] == tf.version.GIT_VERSION
    assert set(prov["tensorflow"]["build"]) == {"cuda_version", "cudnn_version", "is_cuda_build"}
    assert prov["tensorflow"]["build"]["is_cuda_build"] == bool(
        tf.sysconfig.get_build_info()["is_cuda_build"]
    )
    assert prov["keras"] == keras.__version__
    assert prov["pairbench"] == __version__
    assert [d["name"] for d in prov["tf_devices"]] == [d.name for d in tf.config.list_physical_devices()]
    assert prov["tf32_enabled"] == tf.config.experimental.tensor_float_32_execution_enabled()
    assert isinstance(prov["determinism_enabled"], bool)
    assert set(prov["nvml"]) == {"available", "reason"}
    for gpu in prov["gpus"]:
        assert set(gpu) == GPU_KEYS
    timing = prov["timing"]  # what moves timings (issue 17)
    assert timing["cpu_count"] == os.cpu_count()
    assert timing["cpu_affinity"] and (timing["cpu_governor"] or timing["cpu_governor_reason"])


def test_nvml_absent_is_explained_not_raised(monkeypatch):
    def no_library():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    info = provenance.nvml_info()
    assert info == {
        "gpus": [],
        "driver_version": None,
        "cuda_runtime_version": None,
        "nvml": {"available": False, "reason": "NVML unavailable: no NVIDIA driver (NVML library not found)"},
    }


class _FakeNvml:
    NVMLError = pynvml.NVMLError
    NVMLError_LibraryNotFound = pynvml.NVMLError_LibraryNotFound

    def __init__(self):
        self.shut = False

    def nvmlSystemGetDriverVersion(self):
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self):
        return 12040

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetCudaComputeCapability(self, h):
        return (9, 0)

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUUID(self, h):
        return f"GPU-0000-{h}"

    def nvmlDeviceGetPciInfo(self, h):
        return SimpleNamespace(busId=f"00000000:{0x3B + h:02X}:00.0")

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(total=85899345920, used=0)

    def nvmlShutdown(self):
        self.shut = True


def test_nvml_gpus_listed(monkeypatch):
    fake = _FakeNvml()
    monkeypatch.setattr(provenance, "load_nvml", lambda: fake)
    info = provenance.nvml_info()
    assert info["nvml"] == {"available": True, "reason": None}
    assert info["driver_version"] == "550.54.15"
    assert info["cuda_runtime_version"] == "12.4"
    assert [g["pci_bus_id"] for g in info["gpus"]] == ["00000000:3B:00.0", "00000000:3C:00.0"]
    assert info["gpus"][0] == {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": "GPU-0000-0",
        "pci_bus_id": "00000000:3B:00.0",
        "memory_total_bytes": 85899345920,
        "compute_capability": "9.0",
    }
    assert fake.shut


def test_env_lists_only_numerics_vars_that_are_set(monkeypatch):
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)
    monkeypatch.setenv("PAIRBENCH_UNRELATED", "1")
    env = provenance.collect()["env"]
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert "NVIDIA_TF32_OVERRIDE" not in env and "PAIRBENCH_UNRELATED" not in env
    assert set(env) <= set(provenance.NUMERICS_ENV_VARS)


def test_probe_xla_on_cpu():
    assert provenance.probe_xla_devices(["cpu"]) == {"cpu": {"ok": True, "error": None}}
    bad = provenance.probe_xla_devices(["gpu:7"])["gpu:7"]  # no such device here
    assert bad["ok"] is False and "\n" not in bad["error"]


@pytest.mark.slow
def test_numerics_state_is_read_from_tensorflow():
    """Determinism and TF32 are process-global: check them in a fresh process."""
    code = (
        "import json, tensorflow as tf\n"
        "from suite.machine import provenance\n"
        "tf.config.experimental.enable_op_determinism()\n"
        "tf.config.experimental.enable_tensor_float_32_execution(False)\n"
        "p = provenance.collect()\n"
        "print(json.dumps([p['determinism_enabled'], p['tf32_enabled']]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=120,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, False]
