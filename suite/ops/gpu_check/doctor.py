"""The ``doctor`` part: ``pairbench doctor --json`` and the imports the report needs; it tells
whether TensorFlow sees a GPU (else :func:`probe_gpus` asks TensorFlow in a subprocess).
"""

from __future__ import annotations

import json
import time
from typing import Any

from suite.ops.doctor_probe import gpu_count
from suite.ops.gpu_check.context import Context
from suite.ops.gpu_check.outcome import Check, PartResult, join_reasons
from suite.ops.gpu_check.steps import run_step, step_json

#: prints the versions of the modules the check needs, found without importing them
#: (tensorboard would import TensorFlow)
IMPORTS_PROBE = """
import importlib.metadata, importlib.util, json
out = {}
dists = {"pynvml": "nvidia-ml-py", "tensorboard_plugin_profile": "tensorboard-plugin-profile"}
names = ("tensorflow", "pyarrow", "pynvml", "tensorboard", "xprof", "tensorboard_plugin_profile")
for name in names:
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    try:
        out[name] = importlib.metadata.version(dists.get(name, name)) if found else None
    except importlib.metadata.PackageNotFoundError:
        out[name] = "present"
print(json.dumps(out))
"""
#: the modules ``doctor.imports`` needs
WANTED_IMPORTS: tuple[str, ...] = ("pyarrow", "pynvml", "tensorboard", "xprof")
#: how long the GPU probe may take at most
PROBE_S = 90.0


def part_doctor(ctx: Context, part: PartResult, deadline: float) -> None:
    """``pairbench doctor --json`` and the imports the report needs; learns the GPU count.

    Args:
        ctx: the check.
        part: where the part's figures, checks and steps go.
        deadline: when the part must be done (``time.monotonic()``).
    """
    doctor_json = ctx.work / "doctor.json"
    step = ctx.step(part, "doctor", ctx.suite("doctor", "--json"), deadline, stdout_path=doctor_json)
    if step.status == "failed" and step.returncode == 1:  # doctor says "not ready": a check, not a crash
        part.status, part.reason = "ok", ""
    try:
        doc = json.loads(doctor_json.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        part.fail(f"no JSON from pairbench doctor ({exc})")
    else:
        doctor_checks(ctx, part, doc)
    probe_out = ctx.work / "imports.json"
    ctx.step(part, "imports", [ctx.python, "-c", IMPORTS_PROBE], deadline, stdout_path=probe_out)
    imports = step_json(probe_out)
    imports = imports if isinstance(imports, dict) else {}
    part.figures["imports"] = imports
    missing = [m for m in WANTED_IMPORTS if not imports.get(m)]
    why = f"missing: {', '.join(missing)} (pack them: docs/gpu-check.md)" if missing else ""
    if not imports:
        why = "the import probe gave no answer (see logs/doctor-imports.log)"
    part.checks.append(
        Check(
            "doctor.imports",
            "fail" if missing else "pass",
            {m: imports.get(m) for m in WANTED_IMPORTS},
            "pyarrow (pairbench report), pynvml, tensorboard and xprof import",
            why,
        )
    )


def doctor_checks(ctx: Context, part: PartResult, doc: dict[str, Any]) -> None:
    """The doctor's figures and checks, and the GPU count (unless ``--gpus`` said)."""
    prov = doc.get("provenance") or {}
    gpus = gpu_count(doc)
    if ctx.gpus is None:
        ctx.gpus, ctx.gpu_source = gpus, "pairbench doctor"
    nvml = prov.get("gpus") or []
    ctx.gpu_name = ctx.gpu_name or (nvml[0].get("name") if nvml else None)
    checks = {c.get("name"): c for c in doc.get("checks") or []}

    def detail(name: str) -> Any:
        """The ``detail`` of the doctor's check ``name`` (None when it has none)."""
        return (checks.get(name) or {}).get("detail")

    part.figures.update(
        {
            "ready": doc.get("ok"),
            "problems": doc.get("problems"),
            **{name: detail(name) for name in ("tensorflow", "build", "devices", "nvml")},
            "xla": {k: v.get("detail") for k, v in checks.items() if str(k).startswith("xla:")},
            "profile_plugin": detail("profile-plugin"),
            "driver": prov.get("driver_version"),
        }
    )
    part.checks.append(
        Check(
            "doctor.ready",
            "pass" if doc.get("ok") else "fail",
            doc.get("ok"),
            "exit 0: the suite can run",
            join_reasons(*(doc.get("problems") or [])),
        )
    )
    part.checks.append(
        ctx.gpu_only("doctor.gpu_visible", bool(gpus), part.figures["devices"], "TensorFlow lists a GPU")
    )
    xla_gpu = checks.get("xla:gpu:0") or {}
    part.checks.append(
        ctx.gpu_only(
            "doctor.xla_gpu", bool(xla_gpu.get("ok")), xla_gpu.get("detail"), "XLA compiles on gpu:0"
        )
    )


def probe_gpus(ctx: Context, deadline: float) -> None:
    """How many GPUs TensorFlow sees, when the doctor did not say (a subprocess, time-boxed).

    Args:
        ctx: the check; its ``gpus`` and ``gpu_source`` are set (0 when the probe failed).
        deadline: when the probe must be done (it gets :data:`PROBE_S` at most).
    """
    out = ctx.work / "gpu-probe.txt"
    code = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    step = run_step(
        "gpu-probe",
        [ctx.python, "-c", code],
        deadline=min(deadline, time.monotonic() + PROBE_S),
        log_path=ctx.logs / "gpu-probe.log",
        env=ctx.env(),
        stdout_path=out,
    )
    try:
        ctx.gpus, ctx.gpu_source = int(out.read_text().strip().splitlines()[-1]), "probe"
    except (OSError, ValueError, IndexError):
        ctx.gpus, ctx.gpu_source = 0, f"probe {step.status}: {step.tail}"
