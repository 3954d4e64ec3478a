"""Configuration differences of matched layers: the whole ``get_config()``, minus names and noise.

For each pair of layers of one class (:mod:`suite.causes.layers`), every argument that
differs is a cause with both values, ``configuration of batch_normalization: epsilon 0.001
vs 1e-05``, of the kind the argument belongs to:

- regularizers (``kernel_regularizer``, ``activity_regularizer``...): ``regularization``,
  training only (they add loss terms);
- ``dtype`` (the layer's dtype policy): ``dtype-policy``;
- ``activation``: ``activation`` (said only when the graphs could not be compared: the traced
  ops are the better witness, an ``Activation`` layer computes what ``activation=`` does);
- initialisers: ``initialization``, which cannot change the compared numbers (pairbench gave
  both members the reference's weights) and is said as a note;
- everything else (epsilon, momentum, rate, axis, center/scale, use_bias, constraints, noise
  shapes, return_sequences, padding, strides...): ``configuration``. Arguments that only act
  while training (momentum, rates, constraints...) are marked so
  (:data:`TRAINING_ONLY`).

Names, seeds and build shapes are left out (:data:`IGNORED`). Layers of user classes whose
``get_config()`` says nothing are compared by their public scalar attributes.
"""

from __future__ import annotations

from typing import Any

from suite.causes.cause import ALL, LIKELY, NONE, TRAINING, Cause
from suite.causes.layers import LayerPair

#: config keys that never make a difference pairbench can see (names, seeds, input shapes)
IGNORED = frozenset(
    {
        "name",
        "seed",
        "trainable",
        "build_config",
        "input_shape",
        "batch_input_shape",
        "batch_shape",
        "sparse",
        "ragged",
        "quantization_config",
        "units",
        "filters",
        "input_dim",
        "output_dim",
    }
)
#: config keys that act only while training
TRAINING_ONLY = frozenset(
    {
        "momentum",
        "rate",
        "noise_shape",
        "stddev",
        "dropout",
        "recurrent_dropout",
        "renorm",
        "renorm_clipping",
        "renorm_momentum",
        "synchronized",
    }
)
#: attributes of layer objects that are not configuration
_NOT_CONFIG = frozenset({"name", "built", "trainable", "supports_masking", "input_spec", "autocast"})


def value_text(value: Any) -> str:
    """A config value in a cause: ``0.001``, ``1e-05``, ``L2(l2=0.01)``, ``mixed_float16``, ``None``."""
    if isinstance(value, dict) and "class_name" in value:
        name = value["class_name"]
        config = value.get("config") or {}
        if name in ("DTypePolicy", "FloatDTypePolicy") and "name" in config:
            return str(config["name"])
        shown = ", ".join(f"{k}={value_text(v)}" for k, v in config.items() if k != "seed" and v is not None)
        return f"{name}({shown})" if shown else name
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "(" + ", ".join(value_text(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _kind(key: str) -> tuple[str, str]:
    """``(kind, affects)`` of a config key."""
    if key.endswith("_regularizer"):
        return "regularization", TRAINING
    if key.endswith("_initializer"):
        return "initialization", NONE
    if key == "dtype":
        return "dtype-policy", ALL
    if key in ("activation", "recurrent_activation"):
        return "activation", ALL
    if key.endswith("_constraint") or key in TRAINING_ONLY:
        return "configuration", TRAINING
    return "configuration", ALL


def _config(layer: Any) -> dict[str, Any]:
    try:
        return dict(layer.get_config())
    except Exception:  # a user layer whose get_config needs arguments it does not have
        return {}


def _attributes(layer: Any) -> dict[str, Any]:
    """Public scalar attributes of a user layer (what its ``get_config`` may not say)."""
    return {
        k: v
        for k, v in vars(layer).items()
        if not k.startswith("_")
        and k not in _NOT_CONFIG
        and isinstance(v, bool | int | float | str | type(None))
    }


def _is_keras_class(layer: Any) -> bool:
    return type(layer).__module__.startswith(("keras", "tf_keras", "tensorflow"))


def config_causes(pairs: list[LayerPair], *, graph_checked: bool = False) -> list[Cause]:
    """Every configuration difference of the layer pairs (see the module docstring).

    Args:
        pairs: matched layers (:func:`suite.causes.layers.matched_layers`).
        graph_checked: the traced graphs were compared op by op, so activations are said by
            :mod:`suite.causes.graph_diff` and left out here.

    Returns:
        Causes, member value first.
    """
    causes: list[Cause] = []
    for pair in pairs:
        if type(pair.member).__name__ != type(pair.reference).__name__:
            continue
        mine, theirs = _config(pair.member), _config(pair.reference)
        confidence = "certain"
        evidence = f"{type(pair.reference).__name__}.get_config()"
        if not _is_keras_class(pair.reference):
            mine = {**_attributes(pair.member), **mine}
            theirs = {**_attributes(pair.reference), **theirs}
            confidence, evidence = LIKELY, f"attributes of {type(pair.reference).__name__}"
        where = (
            pair.label
            if pair.member_label == pair.label
            else f"{pair.label} (the member's {pair.member_label})"
        )
        for key in [*theirs, *(k for k in mine if k not in theirs)]:
            if key in IGNORED:
                continue
            a, b = value_text(mine.get(key)), value_text(theirs.get(key))
            if a == b:
                continue
            kind, affects = _kind(key)
            if kind == "activation" and graph_checked:
                continue
            causes.append(
                Cause(
                    kind=kind,
                    where=where,
                    attribute=key,
                    member=a,
                    reference=b,
                    evidence=evidence,
                    confidence=confidence,
                    affects=affects,
                )
            )
    return causes
