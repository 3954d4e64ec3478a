"""``pairbench doctor``: JSON schema, the no-NVML path and the not-ready exit code."""

from __future__ import annotations

import json

import pynvml
import pytest

from suite.cli import main
from suite.commands import doctor
from suite.machine import provenance

CHECK_KEYS = {"name", "ok", "required", "detail"}


def _no_nvml(monkeypatch):
    def no_library():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)


@pytest.fixture(scope="module")
def report():
    """``pairbench doctor --json`` run once in-process (TensorFlow is imported once)."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["doctor", "--json"])
    return rc, json.loads(buf.getvalue())


def test_json_schema_and_consistency_with_tensorflow(report):
    import tensorflow as tf

    rc, data = report
    assert set(data) == {"ok", "problems", "checks", "provenance"}
    assert rc == 0 and data["ok"] is True and data["problems"] == []
    checks = {c["name"]: c for c in data["checks"]}
    assert all(set(c) == CHECK_KEYS for c in data["checks"])
    assert set(checks) >= doctor.REQUIRED_CHECKS
    assert {n for n, c in checks.items() if c["required"]} == set(doctor.REQUIRED_CHECKS)
    assert checks["xla:cpu"]["ok"] is True
    n_gpus = len(tf.config.list_physical_devices("GPU"))
    assert {n for n in checks if n.startswith("xla:")} == {"xla:cpu"} | {
        f"xla:gpu:{i}" for i in range(n_gpus)
    }
    prov = data["provenance"]
    assert prov["tensorflow"]["version"] == tf.__version__
    assert tf.__version__ in checks["tensorflow"]["detail"]
    assert checks["nvml"]["ok"] == prov["nvml"]["available"]
    tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
    assert checks["tf32"]["detail"].startswith("on" if tf32 else "off")
    assert prov["xla"]["cpu"] == {"ok": True, "error": None}


def test_no_nvml_is_one_clear_line(monkeypatch, capsys):
    _no_nvml(monkeypatch)
    rc = main(["doctor"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "no NVIDIA driver (NVML library not found)" in captured.out
    assert "Traceback" not in captured.out + captured.err
    assert "ready: the suite can run here" in captured.out


def test_cpu_xla_failure_means_not_ready(monkeypatch, capsys):
    _no_nvml(monkeypatch)
    monkeypatch.setattr(
        provenance,
        "probe_xla_devices",
        lambda devices=None: {"cpu": {"ok": False, "error": "InternalError: XLA compilation failed"}},
    )
    assert main(["doctor", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert data["problems"] == ["xla:cpu: InternalError: XLA compilation failed"]
    assert main(["doctor"]) == 1
    assert "not ready" in capsys.readouterr().out


def test_tensorflow_import_failure(monkeypatch):
    real = doctor.importlib.import_module

    def fake(name, *a, **k):
        if name == "tensorflow":
            raise ImportError("libcudart.so.12: cannot open shared object file")
        return real(name, *a, **k)

    monkeypatch.setattr(doctor.importlib, "import_module", fake)
    data = doctor.diagnose()
    assert data["ok"] is False and data["provenance"] is None
    assert data["problems"] == [
        "tensorflow: cannot import tensorflow: ImportError: libcudart.so.12: cannot open shared object file"
    ]
