"""Which layer of a member stands for which layer of the reference.

Layers that own variables are paired through the weight alignment (the variables the member
took from the reference): ``hidden`` in a subclass is the Sequential's ``dense`` when its
kernel took ``dense/kernel``. Layers without variables (``Activation``, ``Dropout`` without a
seed state, pooling, ``Flatten``) are paired by their class, in the order the two models list
their layers, between the paired ones. Each pair is labelled with the reference's layer path,
the name causes use for it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from suite.zoo.variables import VariableInfo


@dataclass(frozen=True)
class LayerPair:
    """A member's layer and the reference's layer it stands for.

    Attributes:
        member: the member's layer object.
        reference: the reference's layer object.
        label: the reference's layer path (``dense``, ``block/conv``): what causes call it.
        member_label: the member's layer path.
    """

    member: Any
    reference: Any
    label: str
    member_label: str


def label_of(info: VariableInfo) -> str:
    """The layer path a variable belongs to (``dense`` for ``dense/kernel``); the owning layer's
    name when the path does not say it (seed-generator state), the key itself for raw variables."""
    if info.layer is not None and info.layer.name not in info.layer_key.split("/"):
        return info.layer.name
    return info.layer_key or info.key


def anchors(pairs: list[tuple[VariableInfo, VariableInfo]]) -> tuple[dict[int, str], dict[int, str]]:
    """``(member variable id -> label, reference variable id -> label)`` of matched variables."""
    member, reference = {}, {}
    for mem, ref in pairs:
        label = label_of(ref)
        member[id(mem.var)] = label
        reference[id(ref.var)] = label
    return member, reference


def layer_anchors(pairs: list[tuple[VariableInfo, VariableInfo]]) -> tuple[dict[int, str], dict[int, str]]:
    """``(member layer id -> label, reference layer id -> label)`` of layers owning matched variables."""
    member, reference = {}, {}
    for mem, ref in pairs:
        label = label_of(ref)
        if mem.layer is not None:
            member.setdefault(id(mem.layer), label)
        if ref.layer is not None:
            reference.setdefault(id(ref.layer), label)
    return member, reference


def _leaves(model: Any) -> list[Any]:
    from suite.zoo.paths import is_keras

    if not is_keras(model):
        return []
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if not list(layer._flatten_layers(include_self=False, recursive=False))
    ]


def matched_layers(
    reference: Any, member: Any, pairs: list[tuple[VariableInfo, VariableInfo]]
) -> list[LayerPair]:
    """Every layer pair of two members (see the module docstring), in the reference's order.

    Args:
        reference: the reference model.
        member: the member model.
        pairs: the weight alignment's ``(member variable, reference variable)`` pairs.

    Returns:
        The :class:`LayerPair` list (empty for raw ``tf.Module`` members).
    """
    found: dict[tuple[int, int], LayerPair] = {}
    for mem, ref in pairs:
        if mem.layer is None or ref.layer is None:
            continue
        key = (id(mem.layer), id(ref.layer))
        if key not in found:
            found[key] = LayerPair(mem.layer, ref.layer, label_of(ref), label_of(mem))
    paired_mem = {k[0] for k in found}
    paired_ref = {k[1] for k in found}
    ref_free = [layer for layer in _leaves(reference) if id(layer) not in paired_ref]
    mem_free = [layer for layer in _leaves(member) if id(layer) not in paired_mem]
    matcher = difflib.SequenceMatcher(
        None, [type(x).__name__ for x in ref_free], [type(x).__name__ for x in mem_free], autojunk=False
    )
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            ref_layer, mem_layer = ref_free[block.a + k], mem_free[block.b + k]
            found[(id(mem_layer), id(ref_layer))] = LayerPair(
                mem_layer, ref_layer, ref_layer.name, mem_layer.name
            )
    order = {id(layer): i for i, layer in enumerate(_leaves(reference))}
    return sorted(found.values(), key=lambda p: order.get(id(p.reference), len(order)))
