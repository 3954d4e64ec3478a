"""Which variable of a member takes which variable of the reference.

Two members built by different people rarely name their layers alike: Keras numbers unnamed
layers with a process-wide counter (``dense_12`` in one model, ``dense_14`` in the other), a
subclass may nest a block in a ``Sequential`` (``sequential_3/conv_0/kernel``), raw code
names nothing. :func:`match_variables` therefore matches in three ways:

1. **by name** when every key lines up and the names were chosen, not generated (the built-in
   zoo names its layers alike; ``dense``/``dense_1`` in both members say nothing);
2. **by structure** otherwise: the variables in the order the forward pass first uses them
   (read from the traced graph, so nesting and attribute order do not matter), checked
   position by position by shape and dtype. Within a run of neighbours of one shape (a
   BatchNorm's four ``(C,)`` vectors), variable names decide the order when both members
   name them alike. Variables the inference pass never touches (dropout seed state) are
   ordered by a training pass; those neither pass touches are matched by shape, or
   reported as ambiguous;
3. **by creation order** for a member built by the same builder (the float64 reference and
   its float32 donor).

An alignment that cannot be made without a guess raises
:class:`~suite.errors.AmbiguousAlignment` naming the variables and why; one that does not
fit raises :class:`~suite.errors.StructuralMismatch` with what is missing, extra or shaped
differently (:mod:`suite.zoo.mismatch`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from suite.errors import AmbiguousAlignment, StructuralMismatch
from suite.zoo.mismatch import name_differences, signature_differences, variable_differences
from suite.zoo.variables import VariableInfo, inventory, signature

#: how the variables were matched
METHODS = ("name", "structure", "order")


@dataclass
class Ordered:
    """A member's variables in forward order.

    Attributes:
        used: variables the forward pass uses, in order of first use.
        unused: variables no traced pass touches, in creation order.
        traced: False when the member could not be traced (no graph to read ops from).
        traces: the inference trace (and the training trace when one was needed).
        source: where the order comes from: ``graph`` (traced), ``eager`` (trainable variables
            in the order an eager call reads them, the others by name and shape), or
            ``creation`` (neither worked).
    """

    used: list[VariableInfo]
    unused: list[VariableInfo]
    traced: bool = True
    traces: list[Any] = field(default_factory=list)
    source: str = "graph"


@dataclass
class Alignment:
    """The variables of a member matched with the reference's.

    Attributes:
        method: ``name``, ``structure`` or ``order`` (see the module docstring).
        pairs: ``(member variable, reference variable)`` for every variable.
        member: the member's variables in forward order (structure only).
        reference: the reference's variables in forward order (structure only).
    """

    method: str
    pairs: list[tuple[VariableInfo, VariableInfo]]
    member: Ordered | None = None
    reference: Ordered | None = None

    def mapping(self) -> list[list[str]]:
        """``[[member key, reference key], ...]``: what the record stores as ``weight_map``."""
        return [[m.key, r.key] for m, r in self.pairs]

    def renamed(self) -> list[tuple[str, str]]:
        """The pairs whose keys differ (empty when matched by name)."""
        return [(m.key, r.key) for m, r in self.pairs if m.key != r.key]


def order_variables(model: Any, x: Any, infos: list[VariableInfo]) -> Ordered:
    """A member's variables in the order its forward pass first uses them.

    Args:
        model: a built member.
        x: inputs it can be called on (in its compute dtype).
        infos: its :func:`~suite.zoo.variables.inventory`.

    Returns:
        :class:`Ordered`; when the member cannot be traced, creation order with
        ``traced=False``.
    """
    from suite.zoo.forward import trace_forward

    by_id = {id(i.var): i for i in infos}
    variables = [i.var for i in infos]
    try:
        traces = [trace_forward(model, x, variables, training=False)]
    except Exception:  # a member tf.function cannot trace (Python side effects): read it eagerly
        return _eager_order(model, x, infos)
    order = list(traces[0].order)
    if len(order) < len(infos):
        try:
            traces.append(trace_forward(model, x, variables, training=True))
            order += [v for v in traces[1].order if v not in order]
        except Exception:  # a training pass that does not trace leaves those variables unordered
            pass
    used = [by_id[v] for v in order]
    unused = [i for i in infos if id(i.var) not in set(order)]
    return Ordered(used=used, unused=unused, traces=traces)


def _eager_order(model: Any, x: Any, infos: list[VariableInfo]) -> Ordered:
    """Trainable variables in the order an eager inference call reads them (what a gradient
    tape watches); the rest are matched by name and shape. Creation order if the call fails."""
    import tensorflow as tf

    from suite.zoo.forward import tf_variable
    from suite.zoo.paths import call_model

    by_tf = {id(tf_variable(i.var)): i for i in infos}
    try:
        with tf.GradientTape(watch_accessed_variables=True) as tape:
            call_model(model, x, False)
        watched = [by_tf[id(v)] for v in tape.watched_variables() if id(v) in by_tf]
    except Exception:  # nothing tells the forward order: creation order
        return Ordered(used=list(infos), unused=[], traced=False, source="creation")
    seen = {id(i.var) for i in watched}
    return Ordered(
        used=watched, unused=[i for i in infos if id(i.var) not in seen], traced=False, source="eager"
    )


def _by_leaf(ref_run: list[VariableInfo], mem_run: list[VariableInfo]) -> list[VariableInfo]:
    """A run of same-shaped neighbours, reordered to the reference's when both name them alike."""
    ref_leaves, mem_leaves = [r.leaf for r in ref_run], [m.leaf for m in mem_run]
    if len(set(ref_leaves)) == len(ref_run) and sorted(ref_leaves) == sorted(mem_leaves):
        by_leaf = {m.leaf: m for m in mem_run}
        return [by_leaf[leaf] for leaf in ref_leaves]
    return mem_run


def _pair_in_order(
    ref: list[VariableInfo], mem: list[VariableInfo], allow_cast: bool
) -> list[tuple[VariableInfo, VariableInfo]] | None:
    """Position-by-position pairs when every position has one signature; None otherwise."""
    if len(ref) != len(mem) or any(
        signature(r, allow_cast) != signature(m, allow_cast) for r, m in zip(ref, mem, strict=True)
    ):
        return None
    pairs: list[tuple[VariableInfo, VariableInfo]] = []
    i = 0
    while i < len(ref):
        j = i + 1
        while j < len(ref) and signature(ref[j], allow_cast) == signature(ref[i], allow_cast):
            j += 1
        pairs += list(zip(_by_leaf(ref[i:j], mem[i:j]), ref[i:j], strict=True))
        i = j
    return pairs


def _pair_unused(
    ref: list[VariableInfo], mem: list[VariableInfo], allow_cast: bool
) -> list[tuple[VariableInfo, VariableInfo]] | None:
    """Pairs of variables no pass uses, by signature; None when the signatures do not agree.

    Raises:
        AmbiguousAlignment: several unused variables share a signature and their names do not
            tell them apart.
    """
    groups: dict[tuple[Any, ...], tuple[list[VariableInfo], list[VariableInfo]]] = {}
    for info in ref:
        groups.setdefault(signature(info, allow_cast), ([], []))[0].append(info)
    for info in mem:
        groups.setdefault(signature(info, allow_cast), ([], []))[1].append(info)
    pairs = []
    for (shape, *_), (rs, ms) in groups.items():
        if len(rs) != len(ms):
            return None
        if len(rs) == 1:
            pairs.append((ms[0], rs[0]))
            continue
        ordered = _by_leaf(rs, ms)
        if ordered is ms and [m.leaf for m in ms] != [r.leaf for r in rs]:
            raise AmbiguousAlignment(
                f"{len(ms)} variables of shape {shape} are never used in the forward pass "
                f"({', '.join(m.key for m in ms)}): cannot tell which of the reference's "
                f"{', '.join(r.key for r in rs)} each one is"
            )
        pairs += list(zip(ordered, rs, strict=True))
    return pairs


def _pair_seed_states_apart(
    ref: Ordered, mem: Ordered, allow_cast: bool
) -> tuple[list[tuple[VariableInfo, VariableInfo]] | None, list[tuple[VariableInfo, VariableInfo]] | None]:
    """Pair the weights by forward order and the random-seed states apart, in order.

    A dropout that one member runs in training and the other never runs (``training=False``
    hard-coded) uses its seed state in one training pass only: the seed states then sit in
    different lists, though every weight lines up. Weights are paired as usual; seed states
    (which the copy gives the same values) by their order of use, then creation.

    Returns:
        ``(weight pairs, seed-state pairs)``, or ``(None, None)`` when that does not fit either.
    """
    from suite.zoo.paths import is_param

    def split(order: Ordered) -> tuple[list[VariableInfo], list[VariableInfo], list[VariableInfo]]:
        used = [i for i in order.used if is_param(i.key)]
        unused = [i for i in order.unused if is_param(i.key)]
        seeds = [i for i in order.used + order.unused if not is_param(i.key)]
        return used, unused, seeds

    ref_used, ref_unused, ref_seeds = split(ref)
    mem_used, mem_unused, mem_seeds = split(mem)
    if not ref_seeds and not mem_seeds:
        return None, None
    used = _pair_in_order(ref_used, mem_used, allow_cast)
    unused = _pair_unused(ref_unused, mem_unused, allow_cast) if used is not None else None
    seeds = _pair_in_order(ref_seeds, mem_seeds, allow_cast)
    if used is None or unused is None or seeds is None:
        return None, None
    return used, unused + seeds


def _check_names(pairs: list[tuple[VariableInfo, VariableInfo]], ref_keys: set[str]) -> None:
    """Raise :class:`AmbiguousAlignment` when names and forward order point at different variables."""
    for mem, ref in pairs:
        if mem.layer is not None and _auto_named(mem.layer):
            continue  # a generated name says nothing: the same name may well be another layer
        if mem.key != ref.key and mem.key in ref_keys:
            raise AmbiguousAlignment(
                f"names and forward order disagree: the member's {mem.key} is used where the "
                f"reference uses {ref.key}, but the reference also has a {mem.key}"
            )


def _auto_named(layer: Any) -> bool:
    """True when a Keras layer's name is one Keras would generate (``dense``, ``dense_3``)."""
    from keras.src.utils.naming import to_snake_case

    base = re.escape(to_snake_case(type(layer).__name__))
    return re.fullmatch(rf"{base}(_[1-9]\d*)?", layer.name) is not None


def names_chosen(infos: list[VariableInfo]) -> bool:
    """True unless every variable belongs to a Keras layer with a generated name.

    Generated names that happen to be equal in two members (each build numbers its layers
    from ``dense`` again) say nothing about which layer is which, so they are not matched by.
    """
    layers = [i.layer for i in infos]
    return not layers or any(layer is None or not _auto_named(layer) for layer in layers)


def _by_name(ref: list[VariableInfo], mem: list[VariableInfo], allow_cast: bool) -> Alignment:
    by_key = {m.key: m for m in mem}
    pairs = [(by_key[r.key], r) for r in ref]
    bad = signature_differences(pairs, allow_cast, same_keys=True)
    if bad:
        raise StructuralMismatch(bad)
    return Alignment("name", pairs)


def match_variables(
    ref: Any,
    member: Any,
    x: Any = None,
    *,
    allow_cast: bool = False,
    by: str | None = None,
    orders: tuple[Ordered, Ordered] | None = None,
) -> Alignment:
    """Match every variable of ``member`` with one of ``ref`` (see the module docstring).

    Args:
        ref: the built reference.
        member: the built member.
        x: inputs both can be called on; without them only names (or ``by="order"``) match.
        allow_cast: dtypes may differ (float32 weights into a float64 build).
        by: ``"order"`` to match by creation order (same builder); None: names, then structure.
        orders: the reference's and the member's :func:`order_variables`, if already made.

    Returns:
        The :class:`Alignment`.

    Raises:
        StructuralMismatch: the members do not have the same variables (names what differs).
        AmbiguousAlignment: more than one matching fits and nothing decides between them.
    """
    ref_infos, mem_infos = inventory(ref), inventory(member)
    ref_keys = {i.key for i in ref_infos}
    same_keys = ref_keys == {i.key for i in mem_infos}
    if same_keys and (names_chosen(ref_infos + mem_infos) or (x is None and orders is None)):
        return _by_name(ref_infos, mem_infos, allow_cast)
    if by == "order":
        pairs = _pair_in_order(ref_infos, mem_infos, allow_cast)
        if pairs is None:
            raise StructuralMismatch(variable_differences(ref_infos, mem_infos, allow_cast=allow_cast))
        return Alignment("order", pairs)
    if x is None and orders is None:
        raise StructuralMismatch(name_differences(ref_infos, mem_infos))
    ref_order, mem_order = orders or (
        order_variables(ref, x, ref_infos),
        order_variables(member, x, mem_infos),
    )
    used = _pair_in_order(ref_order.used, mem_order.used, allow_cast)
    unused = _pair_unused(ref_order.unused, mem_order.unused, allow_cast) if used is not None else None
    if used is None or unused is None:
        used, unused = _pair_seed_states_apart(ref_order, mem_order, allow_cast)
    if used is None or unused is None:
        raise StructuralMismatch(
            variable_differences(
                ref_order.used + ref_order.unused, mem_order.used + mem_order.unused, allow_cast=allow_cast
            )
        )
    pairs = used + unused
    _check_names(pairs, ref_keys)
    return Alignment("structure", pairs, member=mem_order, reference=ref_order)
