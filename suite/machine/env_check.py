"""Environment variables that change TensorFlow's numerics, checked before TensorFlow starts.

TensorFlow reads some of them in ways that hurt: an unknown flag in ``XLA_FLAGS`` aborts the
process at the first XLA compile (a glog ``F`` line, no Python exception), and a value of
``TF_DETERMINISTIC_OPS`` it cannot parse is ignored. These checks name the variable instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

#: values of boolean variables that TensorFlow parses (case-insensitive)
BOOL_VALUES = frozenset({"", "0", "1", "true", "false"})
BOOL_VARIABLES = ("TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC", "TF_ENABLE_ONEDNN_OPTS")
_FATAL = re.compile(r"^F\d{4} [^\]]*\] (.*)$", re.MULTILINE)


def boolean_problems(env: dict[str, str] | None = None) -> list[str]:
    """One message per boolean variable whose value TensorFlow cannot parse."""
    env = dict(os.environ if env is None else env)
    return [
        f"{name}={env[name]!r} is not a boolean: use 0, 1, true or false"
        for name in BOOL_VARIABLES
        if name in env and env[name].strip().lower() not in BOOL_VALUES
    ]


def xla_flags_problem(env: dict[str, str] | None = None, timeout_s: float = 300) -> str | None:
    """Compile one XLA function in a subprocess with ``XLA_FLAGS`` as set; None if fine or unset.

    Returns:
        ``"XLA_FLAGS='--garbage' is rejected by XLA: Unknown flag in XLA_FLAGS: --garbage"``.
    """
    env = dict(os.environ if env is None else env)
    flags = env.get("XLA_FLAGS", "").strip()
    if not flags:
        return None
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    code = (
        "import tensorflow as tf; tf.function(lambda v: v * 2.0, jit_compile=True)(tf.constant(1.0)).numpy()"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return f"XLA_FLAGS={flags!r}: compiling one XLA function took over {timeout_s:.0f} s"
    if proc.returncode == 0:
        return None
    fatal = _FATAL.findall(proc.stderr)
    why = fatal[-1] if fatal else (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    return f"XLA_FLAGS={flags!r} is rejected by XLA: {why.strip()}"
