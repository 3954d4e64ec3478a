"""Training semantics: layers that train in another mode, and loss terms that differ.

From the two members' traced *training* passes (:mod:`suite.causes.graph`):

- a layer whose state the reference's training pass updates but the member's does not runs
  in inference mode during training: a ``BatchNormalization`` called with ``training=False``
  (frozen: it normalises with its moving statistics and never updates them), a ``Dropout``
  that draws no mask (a no-op). The other way round too (a layer the reference freezes);
- a layer that adds loss terms in one member only (``add_loss``, an activity regularizer)
  changes what training minimises. Weight regularizers of Keras layers are said by
  :mod:`suite.causes.config_diff` (with both values); this module names what the config
  cannot show.

Every cause here affects training only: an inference pass is the same either way.
"""

from __future__ import annotations

from typing import Any

from suite.causes.cause import TRAINING, Cause
from suite.causes.graph import OpGraph
from suite.causes.layers import label_of
from suite.zoo.variables import VariableInfo

_MODES = {
    "BatchNormalization": (
        "inference mode (normalises with its moving statistics, never updates them)",
        "training mode (batch statistics; moving statistics updated)",
    ),
    "Dropout": ("inference mode (no mask drawn: a no-op)", "training mode (drops units)"),
}


def _modes(layer: Any) -> tuple[str, str]:
    for cls in type(layer).__mro__ if layer is not None else ():
        if cls.__name__ in _MODES:
            return _MODES[cls.__name__]
    return "inference mode (its state is not updated)", "training mode (its state is updated)"


def mode_causes(
    ref_train: OpGraph, mem_train: OpGraph, pairs: list[tuple[VariableInfo, VariableInfo]]
) -> list[Cause]:
    """Layers that run in inference mode in one member's training pass and not in the other's.

    Args:
        ref_train: the reference's traced training pass.
        mem_train: the member's traced training pass.
        pairs: the weight alignment's ``(member variable, reference variable)`` pairs.
    """
    ref_written, mem_written = ref_train.written(), mem_train.written()
    causes: dict[str, Cause] = {}
    for mem, ref in pairs:
        if ref.trainable or mem.trainable:
            continue
        in_ref, in_mem = id(ref.var) in ref_written, id(mem.var) in mem_written
        if in_ref == in_mem:
            continue
        label = label_of(ref)
        if label in causes:
            continue
        inference, training = _modes(ref.layer)
        what = f"the reference's training pass updates {ref.leaf}, the member's does not"
        if in_mem:
            inference, training = _modes(mem.layer)
            training, inference = inference, training
            what = f"the member's training pass updates {mem.leaf}, the reference's does not"
        causes[label] = Cause(
            kind="training-flag",
            where=label,
            member=inference,
            reference=training,
            evidence=f"traced training graphs: {what}: training=False/True in call(), or a frozen layer",
            affects=TRAINING,
        )
    return list(causes.values())


def loss_term_causes(
    ref_train: OpGraph, mem_train: OpGraph, layer_labels: tuple[dict[int, str], dict[int, str]]
) -> list[Cause]:
    """Layers (or the model itself) that add loss terms in one member only, or more of them.

    Args:
        ref_train: the reference's traced training pass.
        mem_train: the member's traced training pass.
        layer_labels: ``(member layer id -> label, reference layer id -> label)``.
    """
    mem_labels, ref_labels = layer_labels

    def by_label(graph: OpGraph, labels: dict[int, str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for layer, n in graph.losses.items():
            label = labels.get(layer) or graph.layer_names.get(layer, "a layer")
            label = "the model" if layer == 0 else label
            out[label] = out.get(label, 0) + n
        return out

    mine, theirs = by_label(mem_train, mem_labels), by_label(ref_train, ref_labels)
    causes = []
    for label in [*theirs, *(k for k in mine if k not in theirs)]:
        a, b = mine.get(label, 0), theirs.get(label, 0)
        if a != b:
            causes.append(
                Cause(
                    kind="regularization",
                    where=label,
                    attribute="add_loss terms",
                    member=str(a),
                    reference=str(b),
                    evidence="loss terms the layer adds in a training pass (add_loss, activity regularizers)",
                    affects=TRAINING,
                )
            )
    return causes


def logits_causes(reference: Any, model: Any, x: Any, loss_description: str) -> list[Cause]:
    """A cross-entropy computed from different things in the two members, in eager mode.

    Keras' ``softmax``/``sigmoid`` activations keep their logits on the output tensor
    (``_keras_logits``), and Keras' cross-entropies then compute the loss from the logits; the
    output of ``tf.nn.softmax`` in ``call()`` has none, so the loss is computed from the
    probabilities. The forward passes are bitwise equal, the loss and its gradient round
    differently. (Inside ``tf.function``/XLA both losses find the ``Softmax`` op and use its
    input: they agree.)

    Args:
        reference: the reference model.
        model: the member.
        x: inputs.
        loss_description: the training loss's description (``extra["loss"]``).
    """
    if "crossentropy" not in loss_description or "from_logits=True" in loss_description:
        return []
    import tensorflow as tf

    from suite.zoo.paths import call_model

    try:
        kept = [
            hasattr(tf.nest.flatten(call_model(m, x, False))[0], "_keras_logits") for m in (model, reference)
        ]
    except Exception:  # a member that does not run eagerly: nothing to say
        return []
    if kept[0] == kept[1]:
        return []
    with_logits = "the logits Keras' activation keeps on its output"
    without = "the probabilities (an output without kept logits: tf.nn.softmax/sigmoid in call())"
    return [
        Cause(
            kind="rounding",
            where="the loss",
            member=with_logits if kept[0] else without,
            reference=with_logits if kept[1] else without,
            evidence="Keras cross-entropies read _keras_logits in eager mode: same forward pass, the loss "
            "and its gradient round differently (tf.function/XLA find the Softmax op in both)",
            confidence="likely",
            affects=TRAINING,
        )
    ]
