"""``pairbench doctor --json`` in a subprocess, for the nightly (TensorFlow stays out of its process)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from suite.errors import output_tail
from suite.machine.tf_noise import quiet_tf_env


def run_doctor(timeout_s: float = 600.0) -> dict[str, Any]:
    """``pairbench doctor --json`` in a subprocess (TensorFlow stays out of this process).

    Returns:
        The doctor report (``ok``, ``problems``, ``checks``, ``provenance``); a doctor that
        crashes or prints no JSON gives ``ok: False`` with the reason in ``problems``.
    """
    cmd = [sys.executable, "-m", "suite", "doctor", "--json"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=quiet_tf_env())
    except subprocess.TimeoutExpired:
        return {"ok": False, "problems": [f"doctor: no answer after {timeout_s:.0f} s"], "provenance": None}
    start = proc.stdout.find("{")
    if start >= 0:
        try:
            return json.loads(proc.stdout[start:])
        except json.JSONDecodeError:
            pass
    why = output_tail(proc.stderr) or "no output"
    return {"ok": False, "problems": [f"doctor: exit {proc.returncode}: {why}"], "provenance": None}


def gpu_count(report: dict[str, Any] | None) -> int:
    """GPUs TensorFlow sees, from a doctor report (0 without one)."""
    devices = ((report or {}).get("provenance") or {}).get("tf_devices") or []
    return sum(1 for d in devices if d.get("device_type") == "GPU")
