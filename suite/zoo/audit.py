"""Structural audit: what really differs between a member and the reference, in plain words.

Works for any two members, raw ones included. It names:

- ``tf.Variable`` attributes that Keras does not track (``"w1 (10, 64) is a tf.Variable that
  Keras does not track: not trained, saved or counted"``);
- variables that keep the weights from being copied: missing biases, missing or extra layers
  and variables, other shapes or dtypes (:mod:`suite.zoo.align`), matched by name when the
  names line up and by forward order otherwise;
- trainable flags and parameter totals;
- activations: of Keras layers with the same name (``layer.activation``; a ``tf.Module`` may
  declare them in ``layer_activations``, e.g. ``{"dense_0": "relu"}``, and
  ``layer_recurrent_activations``), or, when names do not line up or a member does not expose
  them, from the ops of the two traced forward graphs, after each matched variable
  (``MatMul -> BiasAdd -> Relu`` against ``MatMul``);
- different initialisers of matched layers, when the weights cannot be copied (then each
  member starts from its own initial weights).

Every message reads *member vs reference*: ``"activation None vs relu in dense_0"`` means the
member has no activation where the reference has ``relu``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from suite.errors import AmbiguousAlignment, StructuralMismatch
from suite.zoo.align import Alignment, Ordered, match_variables, names_chosen, order_variables
from suite.zoo.forward import ACTIVATION_OPS
from suite.zoo.mismatch import mostly_named_alike, sequence_pairs
from suite.zoo.paths import is_keras, is_param
from suite.zoo.variables import VariableInfo, inventory

#: layer attribute -> ``tf.Module`` attribute holding the same information by layer name
_ACTIVATION_ATTRS = {
    "activation": "layer_activations",
    "recurrent_activation": "layer_recurrent_activations",
}
#: op chains longer than this are shortened in messages
_CHAIN = 6

Pairs = list[tuple[VariableInfo, VariableInfo]]


def activation_name(fn: Any) -> str:
    """A readable name for an activation: ``"relu"``, ``"softmax"``; ``"None"`` for identity."""
    if fn is None:
        return "None"
    if isinstance(fn, str):
        return "None" if fn in ("linear", "None") else fn
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return "None" if name == "linear" else name


def layer_activations(model: Any, attr: str = "activation") -> dict[str, str] | None:
    """Layer name -> activation name, for the layers of ``model`` that have one.

    Args:
        model: a Keras model or a ``tf.Module`` with a ``layer_activations`` attribute.
        attr: ``"activation"`` or ``"recurrent_activation"``.

    Returns:
        The mapping, or ``None`` when the model does not expose its activations (a
        ``tf.Module`` without the attribute), so nothing can be compared.
    """
    if is_keras(model):
        return {
            layer.name: activation_name(getattr(layer, attr))
            for layer in getattr(model, "layers", [])
            if hasattr(layer, attr)
        }
    declared = getattr(model, _ACTIVATION_ATTRS[attr], None)
    if declared is None:
        return None
    return {name: activation_name(fn) for name, fn in declared.items()}


def untracked_messages(infos: list[VariableInfo], whose: str = "") -> list[str]:
    """One line per ``tf.Variable`` Keras does not track (``whose``: e.g. ``"the reference's "``)."""
    return [
        f"{whose}{i.key} {i.shape} is a tf.Variable that Keras does not track: not trained, saved or counted"
        for i in infos
        if not i.tracked
    ]


@dataclass
class Examination:
    """What :func:`examine` found.

    Attributes:
        alignment: how the member's variables take the reference's; None when they cannot.
        differences: every difference, member first (empty when the structures match).
        blocking: the differences that keep the weights from being copied.
        ambiguous: why the variables could be matched in more than one way, or ``""``.
    """

    alignment: Alignment | None
    differences: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    ambiguous: str = ""


def examine(ref: Any, model: Any, x: Any = None) -> Examination:
    """Match a member's variables with the reference's and audit everything that differs.

    Both models must be built (``suite.zoo.weights.ensure_built``).

    Args:
        ref: the reference member.
        model: the member to audit.
        x: inputs both can be called on (in their compute dtype). Without them variables are
            matched by name only and graph-based checks are skipped.

    Returns:
        The :class:`Examination`.
    """
    ref_infos, mem_infos = inventory(ref), inventory(model)
    named = {i.key for i in ref_infos} == {i.key for i in mem_infos}
    by_name = named and names_chosen(ref_infos + mem_infos)
    needs_graph = x is not None and (
        not by_name or _hides_activations(ref, ref_infos) or _hides_activations(model, mem_infos)
    )
    orders = (
        (order_variables(ref, x, ref_infos), order_variables(model, x, mem_infos)) if needs_graph else None
    )
    result = Examination(alignment=None, differences=untracked_messages(mem_infos))
    try:
        result.alignment = match_variables(ref, model, x, orders=orders)
    except StructuralMismatch as exc:
        result.blocking = list(exc.differences)
    except AmbiguousAlignment as exc:
        result.ambiguous = str(exc)
    if result.alignment is None and orders is not None and all(o.traced for o in orders):
        result.blocking = shared_layer_messages(*orders, attributes=_attribute_names(model)) + result.blocking
    result.differences += result.blocking
    pairs = _pairs(result.alignment, ref_infos, mem_infos, orders)
    result.differences += _trainable_messages(pairs)
    result.differences += _count_messages(ref_infos, mem_infos)
    named_activations: list[str] = []
    if by_name or (result.alignment is None and mostly_named_alike(ref_infos, mem_infos)):
        named_activations = _named_activation_messages(ref, model)
    if named_activations and x is not None and orders is None:
        # an activation argument may differ while the graphs compute the same (an Activation layer
        # instead of activation=): the traced ops decide
        orders = (order_variables(ref, x, ref_infos), order_variables(model, x, mem_infos))
        pairs = _pairs(result.alignment, ref_infos, mem_infos, orders)
    traced = orders is not None and all(o.traced for o in orders)
    graph_activations = _graph_activation_messages(pairs, *orders) if traced else []
    if traced and named_activations:
        shown = {_graph_layer(m) for m in graph_activations}
        named_activations = [
            m for m in named_activations if m.startswith("recurrent ") or _named_layer(m) in shown
        ]
        kept = {_named_layer(m) for m in named_activations}
        graph_activations = [m for m in graph_activations if _graph_layer(m) not in kept]
    result.differences += named_activations + graph_activations
    if not named:
        result.differences += _recurrent_messages(pairs)
    if result.blocking:
        result.differences += _initializer_messages(pairs)
    return result


def _named_layer(message: str) -> str | None:
    """The layer of ``activation A vs B in L`` (None for ``missing/extra layer ...``)."""
    head, sep, layer = message.partition(" in ")
    return layer if sep and head.startswith(("activation ", "recurrent activation ")) else None


def _graph_layer(message: str) -> str | None:
    """The reference's layer of ``activation A vs B after K (ops ... in the reference's L)``."""
    _, sep, rest = message.rpartition(" in the reference's ")
    return rest.rstrip(")") if sep else None


def _attribute_names(model: Any) -> dict[int, str]:
    """Layer ``id`` -> the attribute of ``model`` that holds it (``hidden``, ``blocks[1]``)."""
    out: dict[int, str] = {}
    for name, value in vars(model).items():
        if name.startswith("_"):
            continue
        items = list(enumerate(value)) if isinstance(value, list | tuple) else [(None, value)]
        for index, item in items:
            if hasattr(item, "get_config") and hasattr(item, "variables"):
                out.setdefault(id(item), name if index is None else f"{name}[{index}]")
    return out


def shared_layer_messages(
    ref_order: Ordered, mem_order: Ordered, attributes: dict[int, str] | None = None
) -> list[str]:
    """Layers the member calls several times where the reference has separate layers.

    A layer called twice reads its variables twice in the traced forward graph; when the
    reference has more layers with the same variable shapes than the member, the member shares
    one layer's weights where the reference has one set per call.

    Returns:
        ``"layer hidden is called 2 times: its weights are shared (the reference has separate
        layers dense_1, dense_2 with kernel (32, 32), bias (32,))"``; empty when none.
    """

    def layers(order: Ordered) -> dict[str, list[VariableInfo]]:
        out: dict[str, list[VariableInfo]] = {}
        for info in order.used + order.unused:
            if info.trainable:
                out.setdefault(info.layer_key or info.key, []).append(info)
        return out

    def calls(order: Ordered, infos: list[VariableInfo]) -> int:
        reads = order.traces[0].reads if order.traces else {}
        return min(reads.get(id(i.var), 0) for i in infos)

    def shapes(infos: list[VariableInfo]) -> tuple[Any, ...]:
        return tuple(i.signature for i in infos)

    ref_layers, mem_layers = layers(ref_order), layers(mem_order)
    messages = []
    for key, infos in mem_layers.items():
        n = calls(mem_order, infos)
        if n < 2:
            continue
        same = [k for k, v in ref_layers.items() if shapes(v) == shapes(infos)]
        mine = [k for k, v in mem_layers.items() if shapes(v) == shapes(infos)]
        if len(same) <= len(mine):
            continue
        parts = ", ".join(f"{i.leaf} {i.shape}" for i in infos)
        attribute = (attributes or {}).get(id(infos[0].layer)) if infos[0].layer is not None else None
        label = f"{attribute} ({key})" if attribute and attribute != key else key
        messages.append(
            f"layer {label} is called {n} times: its weights are shared (the reference has "
            f"{len(same)} separate layers with {parts}: {', '.join(same)})"
        )
    return messages


def audit(ref: Any, model: Any, x: Any = None) -> list[str]:
    """Human-readable structural differences between a member and the reference.

    Args:
        ref: the reference member (built).
        model: the member to audit (built).
        x: inputs both can be called on; needed to match unnamed variables by structure and
            to compare the ops of raw members (see :func:`examine`).

    Returns:
        Messages (member first, reference second), e.g. ``"no bias in dense_1 (64,)"``,
        ``"activation None vs relu in dense_0"``, ``"extra variable dense_2/kernel (64, 64)"``,
        ``"trainable params 714 vs 650"``, ``"w1 (10, 64) is a tf.Variable that Keras does not
        track: not trained, saved or counted"``; empty if the structures match.
    """
    found = examine(ref, model, x)
    ambiguous = [f"ambiguous weight alignment: {found.ambiguous}"] if found.ambiguous else []
    return found.differences + ambiguous


def _hides_activations(model: Any, infos: list[VariableInfo]) -> bool:
    """True when a member's activations can only be read from its graph."""
    if not is_keras(model):
        return layer_activations(model) is None
    return any(not i.tracked for i in infos)


def _pairs(
    alignment: Alignment | None,
    ref_infos: list[VariableInfo],
    mem_infos: list[VariableInfo],
    orders: tuple[Ordered, Ordered] | None,
) -> Pairs:
    """The matched pairs, or the closest partial matching when the weights do not fit."""
    if alignment is not None:
        return alignment.pairs
    if mostly_named_alike(ref_infos, mem_infos):
        by_key = {m.key: m for m in mem_infos}
        return [(by_key[r.key], r) for r in ref_infos if r.key in by_key]
    if orders is None:
        return []
    ref_order, mem_order = orders
    return sequence_pairs(ref_order.used + ref_order.unused, mem_order.used + mem_order.unused)[0]


def _trainable_messages(pairs: Pairs) -> list[str]:
    messages = []
    for mem, ref in pairs:
        if is_param(ref.key) and mem.trainable != ref.trainable:
            state = "trainable" if mem.trainable else "non-trainable"
            where = mem.key if mem.key == ref.key else f"{mem.key} (the reference's {ref.key})"
            messages.append(f"{where} is {state} in the member, not in the reference")
    return messages


def _count(infos: list[VariableInfo], trainable: bool) -> tuple[int, int]:
    chosen = [i for i in infos if i.tracked and is_param(i.key) and i.trainable == trainable]
    return len(chosen), sum(math.prod(i.shape) for i in chosen)


def _count_messages(ref_infos: list[VariableInfo], mem_infos: list[VariableInfo]) -> list[str]:
    messages = []
    for trainable in (True, False):
        label = "trainable" if trainable else "non-trainable"
        (n_ref, p_ref), (n, p) = _count(ref_infos, trainable), _count(mem_infos, trainable)
        if n != n_ref:
            messages.append(f"{label} variables {n} vs {n_ref}")
        if p != p_ref:
            messages.append(f"{label} params {p} vs {p_ref}")
    return messages


def _named_activation_messages(ref: Any, model: Any) -> list[str]:
    """Activations of the layers with the same name (Keras attributes or declared)."""
    messages = []
    for attr in _ACTIVATION_ATTRS:
        ref_act, act = layer_activations(ref, attr), layer_activations(model, attr)
        if ref_act is None or act is None:
            continue
        label = attr.replace("_", " ")
        for name, expected in ref_act.items():
            if name not in act:
                messages.append(f"missing layer {name} ({label} {expected})")
            elif act[name] != expected:
                messages.append(f"{label} {act[name]} vs {expected} in {name}")
        messages += [f"extra layer {n} ({label} {a})" for n, a in act.items() if n not in ref_act]
    return messages


def _segments(order: Ordered, anchor_of: dict[int, str]) -> dict[str, list[str]]:
    """Op types after each matched variable (until the next one), keyed by the anchor's key."""
    segments: dict[str, list[str]] = {"": []}
    current = ""
    for kind, value in order.traces[0].tokens:
        if kind == "var":
            if value in anchor_of:
                current = anchor_of[value]
                segments.setdefault(current, [])
        else:
            segments[current].append(value)
    return segments


def _activations(ops: list[str]) -> str:
    names = [ACTIVATION_OPS[op] for op in ops if op in ACTIVATION_OPS]
    return "+".join(names) if names else "None"


def _chain(ops: list[str]) -> str:
    shown = ops[:_CHAIN] + (["..."] if len(ops) > _CHAIN else [])
    return " -> ".join(shown) or "nothing"


def _graph_activation_messages(pairs: Pairs, ref_order: Ordered, mem_order: Ordered) -> list[str]:
    """Activations after each matched variable, read from the two forward graphs."""
    ref_anchor = {id(r.var): r.key for _, r in pairs}
    mem_anchor = {id(m.var): r.key for m, r in pairs}
    member_key = {r.key: m.key for m, r in pairs}
    layer_of = {r.key: r.layer_key or r.key for _, r in pairs}
    ref_segments = _segments(ref_order, ref_anchor)
    mem_segments = _segments(mem_order, mem_anchor)
    messages = []
    for anchor, ref_ops in ref_segments.items():
        mem_ops = mem_segments.get(anchor)
        if mem_ops is None or _activations(mem_ops) == _activations(ref_ops):
            continue
        where = f"after {member_key[anchor]}" if anchor else "before the first weight"
        theirs = f"the reference's {layer_of[anchor]}" if anchor else "the reference"
        messages.append(
            f"activation {_activations(mem_ops)} vs {_activations(ref_ops)} {where} "
            f"(ops {_chain(mem_ops)} vs {_chain(ref_ops)} in {theirs})"
        )
    return messages


def _recurrent_messages(pairs: Pairs) -> list[str]:
    """Activations of matched recurrent cells (their ops run inside a loop the graph hides)."""
    messages, seen = [], set()
    for mem, ref in pairs:
        m_layer, r_layer = mem.layer, ref.layer
        if m_layer is None or r_layer is None or id(m_layer) in seen:
            continue
        if not hasattr(r_layer, "recurrent_activation"):
            continue
        seen.add(id(m_layer))
        for attr in _ACTIVATION_ATTRS:
            mine, theirs = (
                activation_name(getattr(m_layer, attr, None)),
                activation_name(getattr(r_layer, attr)),
            )
            if mine != theirs:
                messages.append(
                    f"{attr.replace('_', ' ')} {mine} vs {theirs} in {mem.layer_key} "
                    f"(the reference's {ref.layer_key})"
                )
    return messages


def _initializer_name(init: Any) -> str:
    name = type(init).__name__
    config = getattr(init, "get_config", dict)()
    shown = {k: v for k, v in config.items() if k != "seed" and v is not None}
    return f"{name}({', '.join(f'{k}={v}' for k, v in shown.items())})" if shown else name


def _initializer_messages(pairs: Pairs) -> list[str]:
    """Initialisers of matched Keras layers that differ (only said when weights cannot be copied)."""
    messages, seen = [], set()
    for mem, ref in pairs:
        m_layer, r_layer = mem.layer, ref.layer
        if m_layer is None or r_layer is None or (id(m_layer), id(r_layer)) in seen:
            continue
        seen.add((id(m_layer), id(r_layer)))
        for attr in sorted(a for a in vars(r_layer) if a.endswith("_initializer")):
            mine, theirs = getattr(m_layer, attr, None), getattr(r_layer, attr)
            if mine is None or theirs is None:
                continue
            mine_name, theirs_name = _initializer_name(mine), _initializer_name(theirs)
            if mine_name != theirs_name:
                where = mem.layer_key
                if mem.layer_key != ref.layer_key:
                    where += f" (the reference's {ref.layer_key})"
                messages.append(f"{attr.replace('_', ' ')} {mine_name} vs {theirs_name} in {where}")
    return messages
