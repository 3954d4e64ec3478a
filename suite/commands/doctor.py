"""``pairbench doctor``: can this machine run the suite, and on which devices?

Exit code 0 when the suite can run (TensorFlow imports and XLA compiles on the CPU), 1 when it
cannot (the reasons are listed). ``--json`` prints a stable object for machines::

    {"ok": bool,
     "problems": ["<check>: <detail>", ...],      # failed required checks
     "checks": [{"name", "ok", "required", "detail"}, ...],
     "provenance": {...} | null}                 # suite.machine.provenance.collect(), plus "xla"

Check names: ``environment`` (``TF_DETERMINISTIC_OPS`` and friends parse as booleans,
``XLA_FLAGS`` is accepted by XLA: checked in a subprocess), ``tensorflow``, ``keras``,
``build``, ``devices``, ``nvml``, ``gpu-visibility``
(only when NVML sees GPUs that TensorFlow does not), ``xla:<device>`` for every device,
``tf32``, ``determinism``, ``profile-plugin``, ``asv``. Only ``environment``,
``tensorflow``, ``keras``, ``devices`` and ``xla:cpu`` are required.
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from suite.errors import one_line

HELP = "check that this machine can run the suite (TensorFlow, XLA, GPUs, NVML, profiler)"

REQUIRED_CHECKS = frozenset({"environment", "tensorflow", "keras", "devices", "xla:cpu"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json``."""
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")


def run(args: argparse.Namespace) -> int:
    """Diagnose, print, and return 0 (ready) or 1 (not ready)."""
    report = diagnose()
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True, default=str))
    else:
        render(report)
    return 0 if report["ok"] else 1


def diagnose() -> dict[str, Any]:
    """Run every check.

    Returns:
        ``{"ok", "problems", "checks", "provenance"}`` (see the module docstring).
    """
    checks: list[dict[str, Any]] = []

    def add(name: str, ok: bool, detail: str) -> None:
        checks.append({"name": name, "ok": bool(ok), "required": name in REQUIRED_CHECKS, "detail": detail})

    prov: dict[str, Any] | None = None
    from suite.machine.env_check import boolean_problems, xla_flags_problem

    env_problems = boolean_problems()
    xla_problem = xla_flags_problem()
    if xla_problem:
        env_problems.append(xla_problem)
    add("environment", not env_problems, "; ".join(env_problems) or "numerics variables parse")
    if boolean_problems():  # TensorFlow aborts the process on such a value: check nothing else
        add("tensorflow", False, "not checked: fix the environment variable first")
        return _finish(checks, prov)
    try:
        from suite.machine.tf_noise import quiet_native_stderr

        with quiet_native_stderr():
            importlib.import_module("tensorflow")
    except Exception as exc:  # a broken install can raise anything on import
        add("tensorflow", False, f"cannot import tensorflow: {one_line(exc)}")
        return _finish(checks, prov)
    from suite.machine import provenance

    try:
        prov = provenance.collect()
    except Exception as exc:  # e.g. keras missing or broken
        add("keras", False, f"cannot collect the environment: {one_line(exc)}")
        return _finish(checks, prov)

    tf_info = prov["tensorflow"]
    add("tensorflow", True, f"{tf_info['version']} ({tf_info['git_version']})")
    add("keras", True, str(prov["keras"]))
    build = tf_info["build"]
    if build["is_cuda_build"]:
        add("build", True, f"CUDA build: CUDA {build['cuda_version']}, cuDNN {build['cudnn_version']}")
    else:
        add("build", True, "CPU-only build (no CUDA)")

    devices = prov["tf_devices"]
    tf_gpus = [d for d in devices if d["device_type"] == "GPU"]
    add("devices", any(d["device_type"] == "CPU" for d in devices), _describe_devices(devices))

    nvml = prov["nvml"]
    if nvml["available"]:
        add("nvml", True, _describe_gpus(prov))
    else:
        add("nvml", False, _strip_prefix(nvml["reason"] or "NVML unavailable"))
    if prov["gpus"] and not tf_gpus:
        add(
            "gpu-visibility",
            False,
            f"NVML sees {len(prov['gpus'])} GPU(s) but TensorFlow sees none "
            "(CUDA libraries missing? pip install 'tensorflow[and-cuda]'; check CUDA_VISIBLE_DEVICES)",
        )

    if xla_problem:  # compiling here would abort this process
        xla = {"cpu": {"ok": False, "error": f"not probed: {xla_problem}"}}
    else:
        xla = provenance.probe_xla_devices()
    prov["xla"] = xla
    for device, result in xla.items():
        add(
            f"xla:{device}",
            result["ok"],
            "compiles and runs a jit_compile=True matmul" if result["ok"] else result["error"],
        )

    if not prov["tf32_enabled"]:
        add("tf32", True, "off")
    elif tf_gpus:
        add("tf32", True, "on: float32 matmuls/convolutions on Ampere+ GPUs round inputs to TF32")
    else:
        add("tf32", True, "on (no effect here: TF32 only applies on Ampere+ GPUs)")
    add("determinism", True, "on (enable_op_determinism)" if prov["determinism_enabled"] else "off")
    add("profile-plugin", *_profile_plugin())
    add("asv", *_version_of("asv"))
    return _finish(checks, prov)


def render(report: dict[str, Any]) -> None:
    """Print the report as one screen (rich table and a verdict line)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="pairbench doctor", title_justify="left", show_lines=False)
    table.add_column("check", style="bold", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for check in report["checks"]:
        if check["ok"]:
            status = "[green]ok[/]"
        elif check["required"]:
            status = "[red]FAIL[/]"
        else:
            status = "[yellow]warn[/]"
        table.add_row(check["name"], status, check["detail"], end_section=False)
    console.print(table)
    if report["ok"]:
        xla = (report.get("provenance") or {}).get("xla", {})
        usable = ", ".join(d for d, r in xla.items() if r["ok"]) or "cpu"
        console.print(f"[green]ready[/]: the suite can run here (devices: {usable})")
    else:
        console.print("[red]not ready[/]: " + "; ".join(report["problems"]), soft_wrap=True)


def _finish(checks: list[dict[str, Any]], prov: dict[str, Any] | None) -> dict[str, Any]:
    problems = [f"{c['name']}: {c['detail']}" for c in checks if c["required"] and not c["ok"]]
    if not problems:  # a required check that never ran is a problem too
        ran = {c["name"] for c in checks}
        problems = [f"{name}: not checked" for name in sorted(REQUIRED_CHECKS - ran)]
    return {"ok": not problems, "problems": problems, "checks": checks, "provenance": prov}


def _describe_devices(devices: list[dict[str, Any]]) -> str:
    parts = []
    for d in devices:
        short = d["name"].replace("/physical_device:", "")
        if d["device_type"] == "GPU":
            short += f" ({d.get('device_name')}, cc {d.get('compute_capability')})"
        parts.append(short)
    return ", ".join(parts) or "none"


def _describe_gpus(prov: dict[str, Any]) -> str:
    lines = [f"driver {prov['driver_version']}, CUDA {prov['cuda_runtime_version']} (driver)"]
    for gpu in prov["gpus"]:
        gib = gpu["memory_total_bytes"] / 2**30
        lines.append(
            f"NVML {gpu['index']}: {gpu['name']}, {gib:.1f} GiB, cc {gpu['compute_capability']}, "
            f"bus {gpu['pci_bus_id']}"
        )
    if not prov["gpus"]:
        lines.append("no NVIDIA GPU")
    return "\n".join(lines)


def _profile_plugin() -> tuple[bool, str]:
    found = []
    for name in ("tensorboard", "tensorboard_plugin_profile", "xprof"):
        ok, detail = _version_of(name)
        found.append((name, ok, detail))
    tb_ok = found[0][1]
    plugin_ok = found[1][1] or found[2][1]
    detail = ", ".join(f"{n} {d}" for n, ok, d in found if ok)
    if not (tb_ok and plugin_ok):
        missing = [n for n, ok, _ in found if not ok]
        return (
            False,
            f"traces cannot be viewed: missing {', '.join(missing)} (pip install tensorboard-plugin-profile)",
        )
    return True, detail


def _version_of(module: str) -> tuple[bool, str]:
    from importlib import metadata

    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # not installed or broken
        return False, f"not importable ({one_line(exc)})"
    version = getattr(mod, "__version__", None)
    if version is None:
        dist = {"tensorboard_plugin_profile": "tensorboard-plugin-profile"}.get(module, module)
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "(version unknown)"
    return True, str(version)


def _strip_prefix(reason: str) -> str:
    prefix = "NVML unavailable: "
    return reason[len(prefix) :] if reason.startswith(prefix) else reason
