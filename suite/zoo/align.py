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
differently (see :func:`variable_differences`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from suite.errors import AmbiguousAlignment, StructuralMismatch
from suite.zoo.variables import VariableInfo, inventory

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


def _signature(info: VariableInfo, allow_cast: bool) -> tuple[Any, ...]:
    return (info.shape,) if allow_cast else info.signature


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
        _signature(r, allow_cast) != _signature(m, allow_cast) for r, m in zip(ref, mem, strict=True)
    ):
        return None
    pairs: list[tuple[VariableInfo, VariableInfo]] = []
    i = 0
    while i < len(ref):
        j = i + 1
        while j < len(ref) and _signature(ref[j], allow_cast) == _signature(ref[i], allow_cast):
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
        groups.setdefault(_signature(info, allow_cast), ([], []))[0].append(info)
    for info in mem:
        groups.setdefault(_signature(info, allow_cast), ([], []))[1].append(info)
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


def _signature_differences(
    pairs: list[tuple[VariableInfo, VariableInfo]], allow_cast: bool, *, same_keys: bool
) -> list[str]:
    """``shape of X (member) vs (reference)`` / ``dtype of ...`` for pairs that cannot take
    each other's values (the reference's key is named too unless both keys are one)."""
    messages = []
    for m, r in pairs:
        if _signature(m, allow_cast) == _signature(r, allow_cast):
            continue
        theirs = "" if same_keys else f"{r.key} "
        if m.shape != r.shape:
            messages.append(f"shape of {m.key} {m.shape} vs {theirs}{r.shape}")
        else:
            messages.append(f"dtype of {m.key} {m.dtype} vs {theirs}{r.dtype}")
    return messages


def _by_name(ref: list[VariableInfo], mem: list[VariableInfo], allow_cast: bool) -> Alignment:
    by_key = {m.key: m for m in mem}
    pairs = [(by_key[r.key], r) for r in ref]
    bad = _signature_differences(pairs, allow_cast, same_keys=True)
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
        raise StructuralMismatch(
            variable_differences(
                ref_order.used + ref_order.unused, mem_order.used + mem_order.unused, allow_cast=allow_cast
            )
        )
    pairs = used + unused
    _check_names(pairs, ref_keys)
    return Alignment("structure", pairs, member=mem_order, reference=ref_order)


def name_differences(ref: list[VariableInfo], mem: list[VariableInfo]) -> list[str]:
    """Missing/extra variables and shape/dtype differences, matching by key (member first).

    Returns:
        ``"no bias in dense_1 (64,)"``, ``"missing variable bn_0/gamma (8,)"``, ``"extra variable
        dense_2/kernel (64, 64)"``, ``"shape of dense_0/kernel (10, 32) vs (10, 64)"``...
    """
    from suite.zoo.paths import structural_differences

    return structural_differences({r.key: r.var for r in ref}, {m.key: m.var for m in mem})


def mostly_named_alike(ref: list[VariableInfo], mem: list[VariableInfo]) -> bool:
    """True when at least half of the reference's keys are also the member's (names are meant)."""
    common = {r.key for r in ref} & {m.key for m in mem}
    return bool(ref) and 2 * len(common) >= len(ref)


def _groups(infos: list[VariableInfo]) -> list[list[VariableInfo]]:
    """Runs of neighbours that belong to one layer (an untracked variable is a run of its own)."""
    runs: list[list[VariableInfo]] = []
    for info in infos:
        if runs and info.layer_key and runs[-1][-1].layer_key == info.layer_key:
            runs[-1].append(info)
        else:
            runs.append([info])
    return runs


def _diff(
    ref: list[VariableInfo], mem: list[VariableInfo], allow_cast: bool, out: tuple[list, list, list]
) -> None:
    """Variable-level diff by signature into ``out`` (pairs, missing, extra)."""
    pairs, missing, extra = out
    matcher = difflib.SequenceMatcher(
        None,
        [_signature(r, allow_cast) for r in ref],
        [_signature(m, allow_cast) for m in mem],
        autojunk=False,
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            pairs += list(zip(mem[j1:j2], ref[i1:i2], strict=True))
        else:
            missing += ref[i1:i2]
            extra += mem[j1:j2]


def sequence_pairs(
    ref: list[VariableInfo], mem: list[VariableInfo], allow_cast: bool = False
) -> tuple[list[tuple[VariableInfo, VariableInfo]], list[VariableInfo], list[VariableInfo]]:
    """The closest alignment of two forward orders that do not match: a diff of their layers
    (runs of one layer's variables), then of the variables inside layers that differ.

    Returns:
        ``(pairs, missing, extra)``: matched ``(member, reference)`` pairs (same signature, or
        the same position in a replaced stretch), reference variables the member lacks, and
        member variables the reference lacks.
    """
    out: tuple[list, list, list] = ([], [], [])
    ref_runs, mem_runs = _groups(ref), _groups(mem)

    def key(run: list[VariableInfo]) -> tuple[Any, ...]:
        return tuple(_signature(i, allow_cast) for i in run)

    matcher = difflib.SequenceMatcher(
        None, [key(r) for r in ref_runs], [key(m) for m in mem_runs], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        flat_ref = [v for run in ref_runs[i1:i2] for v in run]
        flat_mem = [v for run in mem_runs[j1:j2] for v in run]
        if tag in ("delete", "insert"):
            out[1].extend(flat_ref)
            out[2].extend(flat_mem)
        elif tag == "equal" or i2 - i1 != j2 - j1:
            _diff(flat_ref, flat_mem, allow_cast, out)
        else:
            for r_run, m_run in zip(ref_runs[i1:i2], mem_runs[j1:j2], strict=True):
                _diff(r_run, m_run, allow_cast, out)
    return out


def variable_differences(
    ref: list[VariableInfo], mem: list[VariableInfo], *, allow_cast: bool = False
) -> list[str]:
    """What keeps a member from taking the reference's weights, member first.

    Matches by name when most names line up, else by the closest forward-order alignment:
    ``"no bias after w1 (the reference adds dense/bias (64,))"``, ``"missing layer dense_2
    (kernel (64, 64), bias (64,))"``, ``"extra variable w3 (10,)"``, ``"shape of w1 (10, 32) vs
    dense/kernel (10, 64)"``.
    """
    if mostly_named_alike(ref, mem):
        return name_differences(ref, mem)
    pairs, missing, extra = sequence_pairs(ref, mem, allow_cast)
    messages = _signature_differences(pairs, allow_cast, same_keys=False)
    messages += _missing_messages(ref, missing, pairs)
    messages += _layer_messages(mem, extra, "extra")
    return messages


def _missing_messages(
    ref: list[VariableInfo], missing: list[VariableInfo], pairs: list[tuple[VariableInfo, VariableInfo]]
) -> list[str]:
    """Missing biases named as such (after the member variable that precedes them)."""
    member_of = {id(r.var): m for m, r in pairs}
    position = {id(r.var): i for i, r in enumerate(ref)}
    biases, others = [], []
    for info in missing:
        if info.leaf == "bias" or (len(info.shape) == 1 and "bias" in info.key):
            before = [r for r in ref[: position[id(info.var)]] if id(r.var) in member_of]
            where = f"after {member_of[id(before[-1].var)].key}" if before else "at the start"
            biases.append(f"no bias {where} (the reference adds {info.key} {info.shape})")
        else:
            others.append(info)
    return biases + _layer_messages(ref, others, "missing")


def _layer_messages(all_infos: list[VariableInfo], unmatched: list[VariableInfo], what: str) -> list[str]:
    """``missing layer X (...)`` when a whole layer is unmatched, else one line per variable."""
    by_layer: dict[str, list[VariableInfo]] = {}
    for info in all_infos:
        by_layer.setdefault(info.layer_key, []).append(info)
    messages, done = [], set()
    for info in unmatched:
        layer = by_layer.get(info.layer_key, [])
        whole = info.layer_key and all(any(u is v for u in unmatched) for v in layer)
        if whole and info.layer_key not in done:
            done.add(info.layer_key)
            parts = ", ".join(f"{v.leaf} {v.shape}" for v in layer)
            messages.append(f"{what} layer {info.layer_key} ({parts})")
        elif not whole:
            messages.append(f"{what} variable {info.key} {info.shape}")
    return messages
