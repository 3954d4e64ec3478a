"""The training loss and target of a pair: given, or inferred from the labels.

A pair's ``loss`` is a Keras loss identifier or callable, or ``"auto"`` (what pairs made
from plain models use) to infer it from the labels and the reference's output:

- no labels: mean squared error against a seeded standard-normal target shaped like the
  reference's output;
- integer labels, one per output row: sparse categorical cross-entropy; with a single
  output unit, or labels shaped like the output: binary cross-entropy;
- one-hot labels (shaped like the output, each row one 1): categorical cross-entropy;
- other float labels: mean squared error.

Cross-entropies take ``from_logits=True`` when the reference's output is not already a
probability (values outside ``[0, 1]``, or rows that do not sum to 1 for a softmax loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: the ``Pair.loss`` value that asks for inference
AUTO = "auto"
#: tolerance of the "rows sum to 1" test (mixed precision rounds the softmax)
_SUM_TOL = 1e-2


@dataclass(frozen=True)
class Training:
    """What a training step minimises.

    Attributes:
        y: the target (the labels, or a seeded target when there are none).
        loss: a Keras loss identifier or loss object.
        description: how it was chosen, e.g. ``"sparse_categorical_crossentropy (inferred
            from integer labels)"``.
    """

    y: Any
    loss: Any
    description: str


def _is_probability(pred: np.ndarray, *, rows: bool) -> bool:
    if pred.size == 0 or not np.all(np.isfinite(pred)) or pred.min() < 0 or pred.max() > 1:
        return False
    return not rows or bool(np.all(np.abs(pred.sum(axis=-1) - 1.0) <= _SUM_TOL))


def infer_loss(y: np.ndarray | None, pred: np.ndarray) -> tuple[str, bool, str]:
    """``(loss name, from_logits, why)`` for labels ``y`` and the reference's output ``pred``."""
    if y is None:
        return "mean_squared_error", False, "no labels: a seeded random target"
    y = np.asarray(y)
    one_unit = pred.ndim >= 1 and pred.shape[-1] == 1
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        if one_unit or y.shape == pred.shape:
            return "binary_crossentropy", not _is_probability(pred, rows=False), "0/1 labels"
        if y.shape == pred.shape[:-1] or y.shape == (*pred.shape[:-1], 1):
            return "sparse_categorical_crossentropy", not _is_probability(pred, rows=True), "integer labels"
    elif y.shape == pred.shape and pred.ndim >= 2:
        values = np.unique(y)
        if np.all(np.isin(values, (0, 1))) and np.all(y.sum(axis=-1) == 1):
            return "categorical_crossentropy", not _is_probability(pred, rows=True), "one-hot labels"
    return "mean_squared_error", False, "float labels"


def seeded_target(pred: np.ndarray, seed: int) -> np.ndarray:
    """A standard-normal float32 target shaped like the reference's output (same for every member)."""
    rng = np.random.default_rng([seed, 0x7A12])
    return rng.standard_normal(pred.shape).astype(np.float32)


def resolve_training(loss: Any, y: Any, reference: Any, x: Any, seed: int) -> Training:
    """The target and the loss of a pair for one batch.

    Args:
        loss: the pair's ``loss`` (``"auto"`` to infer it).
        y: the batch's labels (None: none).
        reference: the built reference member (called once in inference mode when the loss
            is inferred or the target generated).
        x: its inputs.
        seed: seeds a generated target.

    Returns:
        :class:`Training`; ``y`` is a tensor.
    """
    import keras
    import tensorflow as tf

    if loss != AUTO and y is not None:
        return Training(y=tf.constant(y), loss=loss, description=_name(loss))
    pred = np.asarray(tf.cast(tf.nest.flatten(reference(x, training=False))[0], tf.float32))
    target = seeded_target(pred, seed) if y is None else y
    if loss != AUTO:
        return Training(
            y=tf.constant(target), loss=loss, description=f"{_name(loss)} (a seeded random target)"
        )
    name, from_logits, why = infer_loss(y, pred)
    chosen: Any = name
    description = f"{name} (inferred from {why})"
    if from_logits:
        classes = {
            "binary_crossentropy": keras.losses.BinaryCrossentropy,
            "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
            "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
        }
        chosen = classes[name](from_logits=True)
        description = f"{name}(from_logits=True) (inferred from {why}; the output is not a probability)"
    return Training(y=tf.constant(target), loss=chosen, description=description)


def _name(loss: Any) -> str:
    return loss if isinstance(loss, str) else getattr(loss, "name", None) or type(loss).__name__


def total_loss(model: Any, main: Any) -> tuple[Any, int]:
    """The loss Keras' ``fit`` minimises: the main loss plus every term of ``model.losses``.

    As ``keras.Model.compute_loss`` does: each extra term (weight regularizers, activity
    regularizers, ``add_loss``) is summed to a scalar and the list ``[main, term, ...]`` is
    summed; with no extra term the main loss is returned as it is. Call it inside the tape,
    right after the model's forward pass (``add_loss`` terms belong to the last call).

    Args:
        model: the member (a ``tf.Module`` has no ``losses``: nothing is added).
        main: the main loss, a float scalar tensor.

    Returns:
        ``(total, number of extra terms)``.
    """
    import tensorflow as tf

    extra = list(getattr(model, "losses", None) or []) if hasattr(model, "losses") else []
    if not extra:
        return main, 0
    terms = [main, *(tf.cast(tf.reduce_sum(term), main.dtype) for term in extra)]
    return tf.reduce_sum(tf.stack(terms)), len(extra)


def describe_loss_terms(model: Any, main: str, n_extra: int | None = None) -> list[str]:
    """What a training step of ``model`` minimises, term by term (``extra["loss_terms"]``).

    Args:
        model: the member.
        main: the main loss's description (:attr:`Training.description`).
        n_extra: how many terms ``model.losses`` added in the step (None: not known).

    Returns:
        ``["sparse_categorical_crossentropy (...)", "L2(l2=0.01) on dense/kernel", "activity
        L1(l1=0.001) of dense_1", "1 add_loss term"]``: the main loss first.
    """
    from suite.zoo.paths import is_keras, variables_by_path

    terms = [main]
    if not is_keras(model):
        return terms
    weights = 0
    for key, var in variables_by_path(model).items():
        regularizer = getattr(var, "regularizer", None)
        if regularizer is not None and var.trainable:
            weights += 1
            terms.append(f"{regularizer_name(regularizer)} on {key}")
    activity = 0
    for layer in model._flatten_layers(include_self=True, recursive=True):
        regularizer = getattr(layer, "activity_regularizer", None)
        if regularizer is not None:
            activity += 1
            terms.append(f"activity {regularizer_name(regularizer)} of {layer.name}")
    if n_extra is not None and n_extra > weights + activity:
        others = n_extra - weights - activity
        terms.append(f"{others} add_loss term{'s' if others > 1 else ''}")
    return terms


def regularizer_name(regularizer: Any) -> str:
    """``L2(l2=0.01)``, ``L1L2(l1=0.0, l2=0.001)``; the class name for a custom one."""
    name = type(regularizer).__name__
    config = getattr(regularizer, "get_config", dict)()
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items())
    return f"{name}({shown})" if shown else name
