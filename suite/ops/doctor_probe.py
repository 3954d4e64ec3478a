"""``pairbench doctor --json`` in a subprocess, for the nightly (TensorFlow stays out of its process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

#: lines of a failing subprocess's output quoted in a reason
TAIL_LINES = 3


def tail(text: str, n: int = TAIL_LINES) -> str:
    """The last ``n`` non-empty lines of a process's output, joined by `` | ``."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def subprocess_env() -> dict[str, str]:
    """This process's environment with TensorFlow's C++ log noise turned down."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run_doctor(timeout_s: float = 600.0) -> dict[str, Any]:
    """``pairbench doctor --json`` in a subprocess (TensorFlow stays out of this process).

    Returns:
        The doctor report (``ok``, ``problems``, ``checks``, ``provenance``); a doctor that
        crashes or prints no JSON gives ``ok: False`` with the reason in ``problems``.
    """
    cmd = [sys.executable, "-m", "suite", "doctor", "--json"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=subprocess_env())
    except subprocess.TimeoutExpired:
        return {"ok": False, "problems": [f"doctor: no answer after {timeout_s:.0f} s"], "provenance": None}
    start = proc.stdout.find("{")
    if start >= 0:
        try:
            return json.loads(proc.stdout[start:])
        except json.JSONDecodeError:
            pass
    why = tail(proc.stderr) or "no output"
    return {"ok": False, "problems": [f"doctor: exit {proc.returncode}: {why}"], "provenance": None}


def gpu_count(report: dict[str, Any] | None) -> int:
    """GPUs TensorFlow sees, from a doctor report (0 without one)."""
    devices = ((report or {}).get("provenance") or {}).get("tf_devices") or []
    return sum(1 for d in devices if d.get("device_type") == "GPU")
