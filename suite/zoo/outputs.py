"""The shapes of two members' outputs for the same inputs, compared before anything runs.

Two members whose weights map onto each other can still compute outputs of other shapes: an
``LSTM(return_sequences=True)`` where the reference returns the last step only, a pooling
forgotten before the last ``Dense``. Their numbers cannot be compared (nor can one training
target serve both), so :func:`suite.zoo.prepare.build_members` calls both members once on the
case's inputs and, when the shapes differ, makes the member a structural mismatch whose
differences start with :func:`output_differences` (and whose causes start with the
configuration that explains them: :func:`suite.causes.engine.mismatch_causes`).

Messages read *member vs reference*, the leading axis of the batch's size said ``batch``:
``"output shape (batch, 5, 4) vs (batch, 4)"``, ``"output shape of logits (batch, 2) vs
(batch, 3)"``, ``"outputs 2 tensors vs 1"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: an output's place in a nested structure (``""`` for a single tensor) and its shape
Leaf = tuple[str, tuple[int, ...]]


def output_leaves(output: Any, path: str = "") -> list[Leaf]:
    """Every tensor of a (nested) output with its place: dict keys in sorted order, list and
    tuple items by index (``"logits"``, ``"1"``, ``"heads/0"``); ``""`` for a single tensor."""
    if isinstance(output, dict):
        items = [(str(k), output[k]) for k in sorted(output, key=str)]
    elif isinstance(output, list | tuple):
        items = [(str(i), item) for i, item in enumerate(output)]
    else:
        shape = getattr(output, "shape", None)
        return [(path, tuple(int(d) if d is not None else -1 for d in shape))] if shape is not None else []
    return [leaf for key, item in items for leaf in output_leaves(item, f"{path}/{key}" if path else key)]


def shape_text(shape: tuple[int, ...], rows: int) -> str:
    """A shape in words, its leading axis ``batch`` when it has the batch's size:
    ``(batch, 5, 4)``; ``()`` for a scalar."""
    dims = [str(d) if d >= 0 else "None" for d in shape]
    if dims and rows > 0 and shape[0] == rows:
        dims[0] = "batch"
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def compare_leaves(mine: list[Leaf], theirs: list[Leaf], rows: int) -> list[str]:
    """What differs between two members' output leaves (member first); empty when nothing does.

    Args:
        mine: the member's :func:`output_leaves`.
        theirs: the reference's.
        rows: the batch's number of rows (its leading axis is said ``batch``).

    Returns:
        ``"output shape (batch, 5, 4) vs (batch, 4)"`` per output whose shape differs, or one
        ``"outputs 2 tensors (...) vs 1 tensor (...)"`` when the structures differ.
    """
    if [p for p, _ in mine] != [p for p, _ in theirs]:

        def said(leaves: list[Leaf]) -> str:
            n = len(leaves)
            shapes = ", ".join(f"{p + ' ' if p else ''}{shape_text(s, rows)}" for p, s in leaves)
            return f"{n} tensor{'s' if n != 1 else ''} ({shapes})"

        return [f"outputs {said(mine)} vs {said(theirs)}"]
    return [
        f"output shape{' of ' + path if path else ''} {shape_text(a, rows)} vs {shape_text(b, rows)}"
        for (path, a), (_, b) in zip(mine, theirs, strict=True)
        if a != b
    ]


def output_differences(reference: Any, model: Any, x: Any) -> list[str]:
    """The members' output shapes for the same inputs ``x`` (inference mode), compared.

    Both models are called once, eagerly, on the whole batch (the shapes a case compares);
    their variables are given back their values afterwards (a layer that draws random numbers
    at inference advances its seed state).

    Args:
        reference: the reference member (built).
        model: the member (built).
        x: the case's inputs, as tensors.

    Returns:
        :func:`compare_leaves`' messages; empty when the shapes agree or when a member cannot
        be called here (its case then fails with its own reason).
    """
    import tensorflow as tf

    from suite.zoo.paths import call_model

    try:
        with kept_state([reference, model]):
            theirs = output_leaves(call_model(reference, x, training=False))
            mine = output_leaves(call_model(model, x, training=False))
    except Exception:  # a member that cannot run says so when its case runs
        return []
    first = tf.nest.flatten(x)
    shape = tuple(getattr(first[0], "shape", ())) if first else ()
    rows = int(shape[0]) if shape and shape[0] is not None else -1
    return compare_leaves(mine, theirs, rows)


@contextmanager
def kept_state(models: list[Any]) -> Iterator[None]:
    """The models' variables hold the same values after the block as before it."""
    saved = [(v, v.numpy()) for m in models for v in m.variables]
    try:
        yield
    finally:
        for var, value in saved:
            var.assign(value)
