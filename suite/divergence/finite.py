"""NaN and Inf in a case's own outputs: a mandatory note, whatever the comparisons say.

Two members that both train into NaN agree bitwise, and a NaN-filled rerun is "stable": the
comparisons cannot see that the numbers are garbage. :func:`non_finite_note` looks at the
outputs themselves (predictions; loss trajectory and final weights of a training step) and
returns one sentence that the record carries as a note with the flag ``non-finite``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from suite.divergence.metrics import CHUNK

#: record flag of a case whose outputs hold NaN or Inf
NON_FINITE = "non-finite"
#: the loss trajectory is shown value by value up to this many steps
_SHOWN_VALUES = 8


def _counts(array: np.ndarray) -> tuple[int, int]:
    """(NaN, Inf) counts of a float array, in chunks (no full-size temporary)."""
    flat = array.reshape(-1)
    nan = inf = 0
    for start in range(0, flat.size, CHUNK):
        chunk = flat[start : start + CHUNK]
        nan += int(np.count_nonzero(np.isnan(chunk)))
        inf += int(np.count_nonzero(np.isinf(chunk)))
    return nan, inf


def _is_float(array: np.ndarray) -> bool:
    return array.dtype.kind == "f" or array.dtype.name == "bfloat16"


def _values(array: np.ndarray) -> str:
    values = [f"{float(v):.2g}" for v in array.reshape(-1)[:_SHOWN_VALUES]]
    more = ", …" if array.size > _SHOWN_VALUES else ""
    return "[" + ", ".join(values) + more + "]"


def non_finite_note(outputs: Mapping[str, Any]) -> str:
    """One sentence on the NaN/Inf values in a case's outputs, or ``""`` when all are finite.

    Args:
        outputs: tensor name -> array (``predictions``; ``loss`` and ``weights/<path>``).

    Returns:
        e.g. ``"non-finite values (NaN/Inf): loss [1.7e+18, inf, nan]; weights: 4 of 4
        tensors, 1354 NaN and 0 Inf in 1354 values (first: weights/dense_0/kernel)"``.
    """
    parts: list[str] = []
    groups: dict[str, list[tuple[str, int, int, int]]] = {}
    for name in sorted(outputs):
        array = np.asarray(outputs[name])
        if not _is_float(array) or array.size == 0:
            continue
        nan, inf = _counts(array)
        group = name.split("/", 1)[0] if "/" in name else name
        groups.setdefault(group, []).append((name, nan, inf, array.size))
    for group, tensors in groups.items():
        bad = [t for t in tensors if t[1] or t[2]]
        if not bad:
            continue
        if len(tensors) == 1 and tensors[0][3] <= _SHOWN_VALUES:
            parts.append(f"{group} {_values(np.asarray(outputs[tensors[0][0]]))}")
            continue
        nan, inf = sum(t[1] for t in bad), sum(t[2] for t in bad)
        total = sum(t[3] for t in tensors)
        text = f"{group}: {nan} NaN and {inf} Inf in {total} values"
        if len(tensors) > 1:
            text = f"{group}: {len(bad)} of {len(tensors)} tensors, {nan} NaN and {inf} Inf in {total} values"
            text += f" (first: {bad[0][0]})"
        parts.append(text)
    return "non-finite values (NaN/Inf): " + "; ".join(parts) if parts else ""
