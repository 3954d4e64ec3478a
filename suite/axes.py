"""The vocabulary of the matrix: every axis and its allowed values (see the README's *The matrix*).

Names here are the names used in code, on the command line and in tables.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence

from suite.errors import UsageError

MEMBERS: tuple[str, ...] = ("sequential", "functional", "subclass", "raw", "faulty")
MODES: tuple[str, ...] = ("eager", "function", "xla")
WORKLOADS: tuple[str, ...] = ("predict", "train_step", "fit")
PRECISIONS: tuple[str, ...] = ("float32", "tf32", "mixed_float16", "mixed_bfloat16")
#: Internal precision of the float64 reference run (``vs_fp64``); never a user-selectable axis value.
FLOAT64 = "float64"
DETERMINISM: tuple[str, ...] = ("off", "on")
SIZES: tuple[str, ...] = ("tiny", "default", "large")


#: a pair or member name: letters, digits, ``_`` and ``-``, a letter or digit first, at most
#: :data:`MAX_NAME` characters (a case id joins a pair and a member name with the other axes and
#: names files in the run folder, so both must be one plain, short file-name component)
MAX_NAME = 64
_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_NAME - 1}}}")


def check_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it can name a pair or a member, else raise a one-line :class:`UsageError`.

    The one rule for pair and member names, whoever gives them (``@register_pair``,
    ``register_models``, ``check_models``): letters, digits, ``_`` and ``-``, starting with a
    letter or digit, 1 to :data:`MAX_NAME` characters. So no path separator, ``..``, newline,
    escape sequence or HTML can reach a file name, a terminal or a report through a name.

    Args:
        name: the name.
        what: what it names, for the message (``"pair name"``, ``"member name"``).
    """
    if isinstance(name, str) and _NAME.fullmatch(name):
        return name
    shown = repr(name) if len(repr(name)) <= 80 else f"{repr(name)[:77]}..."
    raise UsageError(
        f"{what} {shown} must be letters, digits, '_' or '-' (1 to {MAX_NAME} characters, a letter "
        "or digit first: it names files in the run folder)"
    )


def parse_list(value: str | None) -> list[str] | None:
    """Split a comma-separated CLI value (``"mlp,cnn"``) into names; ``None``/empty stays ``None``."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def parse_filter(flag: str, value: str | None) -> list[str] | None:
    """A comma-separated filter option (``--pairs mlp,cnn``): None when not given ("all").

    Raises:
        UsageError: the option was given but names nothing (``--pairs ''``, ``--modes ,``): never
            read as "all".
    """
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise UsageError(f"{flag} is empty: name at least one value (leave the option out for all)")
    return items


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


#: set by the parent in a worker pinned to one GPU (``gpu:3``): the worker's ``CUDA_VISIBLE_DEVICES``
#: names only that GPU, so TensorFlow sees it as ``/GPU:0``
PINNED_GPU_ENV = "PAIRBENCH_PINNED_GPU"
#: for tests of the scheduling only: the parent believes this many GPUs exist and the workers run
#: the ``gpu:N`` cases on the CPU; every such record is flagged ``simulated-gpu``
SIMULATED_GPUS_ENV = "PAIRBENCH_SIMULATED_GPUS"


def gpu_index(device: str, environ: Mapping[str, str] | None = None) -> int | None:
    """TensorFlow's index of the pairbench GPU ``device`` in this process.

    ``gpu:N`` is TensorFlow's ``/GPU:N``, except in a worker pinned to that GPU (``/GPU:0``, the
    only one it sees) and with simulated GPUs (None: the case runs on the CPU).

    Raises:
        UsageError: not a GPU name, or a GPU other than the one this worker is pinned to.
    """
    environ = os.environ if environ is None else environ
    if not is_gpu(device) or not device.split(":", 1)[1].isdigit():
        raise UsageError(f"unknown GPU {device!r}; valid: gpu:0, gpu:1, ...")
    if environ.get(SIMULATED_GPUS_ENV):
        return None
    pinned = environ.get(PINNED_GPU_ENV)
    if pinned:
        if pinned != device:
            raise UsageError(f"this worker is pinned to {pinned} and cannot run a case on {device}")
        return 0
    return int(device.split(":", 1)[1])


def tf_device(device: str) -> str:
    """Map a pairbench device name (``cpu``, ``gpu:0``) to a TensorFlow device string
    (see :func:`gpu_index` for pinned workers and simulated GPUs)."""
    if device == "cpu":
        return "/CPU:0"
    if is_gpu(device):
        index = gpu_index(device)
        return "/CPU:0" if index is None else f"/GPU:{index}"
    raise UsageError(f"unknown device {device!r}; valid: cpu, gpu:N")
