"""The vocabulary of the matrix: every axis and its allowed values (see DESIGN.md).

Names here are the names used in code, on the command line and in tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from suite.errors import UsageError

MEMBERS: tuple[str, ...] = ("sequential", "functional", "subclass", "raw", "faulty")
MODES: tuple[str, ...] = ("eager", "function", "xla")
WORKLOADS: tuple[str, ...] = ("predict", "train_step", "fit")
PRECISIONS: tuple[str, ...] = ("float32", "tf32", "mixed_float16", "mixed_bfloat16")
#: Internal precision of the float64 reference run (``vs_fp64``); never a user-selectable axis value.
FLOAT64 = "float64"
DETERMINISM: tuple[str, ...] = ("off", "on")
SIZES: tuple[str, ...] = ("tiny", "default", "large")
VERDICTS: tuple[str, ...] = (
    "identical",
    "close",
    "diverged",
    "nondeterministic",
    "structural-mismatch",
    "incomparable",
    "unsupported",
    "error",
)


def parse_list(value: str | None) -> list[str] | None:
    """Split a comma-separated CLI value (``"mlp,cnn"``) into names; ``None``/empty stays ``None``."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def check_names(axis: str, names: Iterable[str], valid: Sequence[str]) -> list[str]:
    """Return ``names`` if all are in ``valid``, else raise a one-line :class:`UsageError`.

    Args:
        axis: the axis name used in the message (``"mode"``, ``"pair"``...).
        names: requested values.
        valid: allowed values.

    Raises:
        UsageError: naming the unknown values and listing the valid ones.
    """
    names = list(names)
    unknown = [n for n in names if n not in valid]
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise UsageError(f"unknown {axis}{plural} {', '.join(map(repr, unknown))}; valid: {', '.join(valid)}")
    return names


def is_gpu(device: str) -> bool:
    """True for ``gpu:N`` device names."""
    return device.startswith("gpu:")


def tf_device(device: str) -> str:
    """Map a pairbench device name (``cpu``, ``gpu:0``) to a TensorFlow device string."""
    if device == "cpu":
        return "/CPU:0"
    if is_gpu(device):
        return f"/GPU:{device.split(':', 1)[1]}"
    raise UsageError(f"unknown device {device!r}; valid: cpu, gpu:N")
