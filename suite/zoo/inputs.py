"""The one check of a pair's inputs, before any case runs.

A pair's ``inputs(hp, seed)`` (or the ``x``/``y`` given to ``register_models``) must be a batch
every member can train on: ``x`` numbers (not strings or Python objects), at least one row, and
``y``, when given, numbers with as many rows as ``x`` (unless the pair says its model pools
rows: :attr:`~suite.zoo.base.Pair.labels_per_row`). :func:`check_batch` says what is wrong in
one line naming the pair; the run checks every (pair, size) of its plan with
:func:`check_pair_inputs` before it creates the run folder or starts a worker, so a bad input is
exit code 2 and not a row of errors (or ``identical`` on an empty batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from suite.errors import UsageError
from suite.zoo.base import Batch, Pair

#: numpy dtype kinds a model can take: bool, signed and unsigned integers, floats
_NUMERIC_KINDS = "biuf"


def _leaves(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """``(name, array-like)`` of every array in a nested ``x`` or ``y`` (dicts, lists, tuples)."""
    if isinstance(value, dict):
        for key in value:
            yield from _leaves(value[key], f"{where}[{key!r}]")
    elif isinstance(value, list | tuple) and _is_structure(value):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{where}[{i}]")
    else:
        yield where, value


def _is_structure(value: list | tuple) -> bool:
    """A list of arrays (several model inputs) rather than one array written as nested lists."""
    return any(isinstance(v, dict) or hasattr(v, "shape") for v in value)


def _array(name: str, value: Any, pair: str) -> Any:
    import numpy as np

    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        why = " ".join(str(exc).split())[:120]
        raise UsageError(f"pair {pair!r}: {name} is not an array ({why})") from None


def _rows(name: str, array: Any, pair: str) -> int:
    kind = array.dtype.kind
    if kind not in _NUMERIC_KINDS:
        what = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers"}.get(kind, "")
        raise UsageError(
            f"pair {pair!r}: {name} holds {what or array.dtype.name} (dtype {array.dtype}); "
            "give numbers (a float or integer numpy array)"
        )
    if array.ndim == 0:
        raise UsageError(f"pair {pair!r}: {name} is a single number; give a batch (an array of rows)")
    if array.shape[0] == 0:
        raise UsageError(f"pair {pair!r}: {name} is empty (0 rows); give at least one row")
    return int(array.shape[0])


def check_batch(pair: str, batch: Any, *, what: str = "inputs()", labels_per_row: bool = True) -> None:
    """Check one batch of a pair's inputs (see the module docstring).

    Args:
        pair: the pair's name (for the message).
        batch: what the pair's inputs gave: a :class:`~suite.zoo.base.Batch`.
        what: where the batch came from (for the message), e.g. ``"inputs(size 'tiny')"``.
        labels_per_row: ``y`` must have as many rows as ``x`` (:attr:`Pair.labels_per_row`).

    Raises:
        UsageError: one line naming the pair and the problem, e.g. ``pair 'mine': x has 32 rows
            but y has 31 (one label per row of x)``.
    """
    if not isinstance(batch, Batch):
        raise UsageError(
            f"pair {pair!r}: {what} returned a {type(batch).__name__}, not suite.zoo.Batch(x, y)"
        )
    if batch.x is None:
        raise UsageError(f"pair {pair!r}: {what} gave no x")
    x_rows = _check_part(pair, "x", batch.x)
    if batch.y is not None:
        y_rows = _check_part(pair, "y", batch.y)
        if labels_per_row and y_rows != x_rows:
            raise UsageError(
                f"pair {pair!r}: x has {x_rows} rows but y has {y_rows} (one label per row of x)"
            )


def _check_part(pair: str, part: str, value: Any) -> int:
    rows: dict[str, int] = {}
    for name, leaf in _leaves(value, part):
        rows[name] = _rows(name, _array(name, leaf, pair), pair)
    if not rows:
        raise UsageError(f"pair {pair!r}: {part} is empty (no arrays)")
    if len(set(rows.values())) > 1:
        shown = ", ".join(f"{name}: {n}" for name, n in rows.items())
        raise UsageError(f"pair {pair!r}: the arrays of {part} have different numbers of rows ({shown})")
    return next(iter(rows.values()))


def check_pair_inputs(pairs_and_sizes: Iterable[tuple[Pair, str]], seed: int) -> None:
    """Check the inputs of each (pair, size) a run will use, before anything runs.

    Args:
        pairs_and_sizes: the pairs (instances) and the sizes they run at.
        seed: the run's seed (the inputs the cases will get).

    Raises:
        UsageError: the first bad batch (see :func:`check_batch`), or an ``inputs()`` that raises.
    """
    for pair, size in pairs_and_sizes:
        where = f"inputs(size {size!r})"
        try:
            batch = pair.inputs(pair.hparams(size), seed)
        except UsageError:
            raise
        except Exception as exc:
            text = " ".join(str(exc).split())[:200]
            raise UsageError(f"pair {pair.name!r}: {where} raised {type(exc).__name__}: {text}") from None
        check_batch(pair.name, batch, what=where, labels_per_row=pair.labels_per_row)
