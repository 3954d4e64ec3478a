"""Two members' traced graphs compared op by op, in order.

Each graph is read as a sequence of units (:mod:`suite.causes.units`: layers, activations,
ops). Two unit sequences are diffed (``difflib``): a unit present in both but elsewhere is
an **order** change (``order of ops after dense: relu -> batch_normalization vs
batch_normalization -> relu``); a unit in one only and another unit in the other at the same
place is one cause with both values (``activation after dense: gelu vs relu``, ``pooling
after conv2d: AvgPool vs MaxPool``, of kind ``activation`` or ``op-substitution``); a unit in
one only is an **activation** (``relu vs None``) or an **extra-op** (``extra op RealDiv(x, 2)
before dense: runs vs absent``; a cast to float16: **dtype-policy**). A layer both have whose
constants differ where no configuration says it (raw code) is a **configuration** cause
(``configuration of bn_0: constant 0.1 vs 0.001``, :mod:`suite.causes.constants`). Matched layer
units whose op types differ but compute the same math (``Einsum``/``MatMul``,
``AddV2``/``BiasAdd``) give a **rounding** cause, the only thing such builds can differ by.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import replace

from suite.causes.cause import INFERENCE, LIKELY, POSSIBLE, TRAINING, Cause
from suite.causes.constants import constant_causes
from suite.causes.units import CANONICAL, CASTS, POOLING, Unit, chain_text


def _name(unit: Unit) -> str:
    return unit.name


def _before(seq: list[Unit], index: int) -> str:
    """Where a unit runs: ``dense`` (after the last layer unit before it), ``before dense`` (at
    the start: before the first layer after it), ``""`` (no layer at all)."""
    for unit in reversed(seq[:index]):
        if unit.kind == "layer":
            return unit.name
    for unit in seq[index + 1 :]:
        if unit.kind == "layer":
            return f"before {unit.name}"
    return ""


def _window(seq: list[Unit], lo: int, hi: int) -> str:
    return " -> ".join(_name(u) for u in seq[max(lo, 0) : hi])


def diff_units(
    ref: list[Unit], mem: list[Unit], *, phase: str = "forward", explained: frozenset[str] = frozenset()
) -> list[Cause]:
    """Causes from two unit sequences (see the module docstring).

    Args:
        ref: the reference's units.
        mem: the member's units.
        phase: ``forward`` (inference pass) or ``training`` (training pass: causes found only
            there act on training only).
        explained: labels of layer pairs whose configurations or training flags differ: a
            unit of such a layer on both sides in place of the other
            (``leaky_relu(negative_slope=0.3)`` for ``0.2``), or in one side only (the draws
            of a dropout that runs with ``training=False``), is what that cause says already.
    """
    affects = TRAINING if phase == "training" else "all"
    constants = constant_causes(ref, mem, phase=phase, affects=affects)
    ref, mem = chained(ref, mem)
    matcher = difflib.SequenceMatcher(None, [u.key for u in ref], [u.key for u in mem], autojunk=False)
    deleted: list[int] = []
    inserted: list[int] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("delete", "replace"):
            deleted += range(i1, i2)
        if tag in ("insert", "replace"):
            inserted += range(j1, j2)
    causes: list[Cause] = []
    moved_ref: set[int] = set()
    moved_mem: set[int] = set()
    # activations of a layer that moves travel with it: said with the layer's move
    carried = {k for i, _ in _layer_moves(ref, mem, deleted, inserted) for k in _carried(ref, i)}
    for i in deleted:
        if ref[i].kind == "layer" or i in carried:
            continue
        match = next((j for j in inserted if j not in moved_mem and mem[j].key == ref[i].key), None)
        if match is None:
            continue
        moved_ref.add(i)
        moved_mem.add(match)
        # the stretch between the last unit both agree on before the move and the first after it
        lo_ref, hi_ref = _span(ref, i, mem, match, matcher, side="ref")
        lo_mem, hi_mem = _span(ref, i, mem, match, matcher, side="mem")
        if not (lo_ref <= i < hi_ref and lo_mem <= match < hi_mem):  # moved past units both agree on
            causes.append(_moved(ref, i, mem, match, phase=phase, affects=affects))
            continue
        where = _before(ref, lo_ref) or _before(mem, lo_mem)
        causes.append(
            Cause(
                kind="op-order",
                where=where,
                member=_window(mem, lo_mem, hi_mem),
                reference=_window(ref, lo_ref, hi_ref),
                evidence=f"{phase} graphs compared op by op: {ref[i].name} runs at another place",
                affects=affects,
            )
        )
    for i in deleted:  # a layer unit that swapped places with its neighbour: the neighbour moved
        j = next((j for j in inserted if j not in moved_mem and mem[j].key == ref[i].key), None)
        if ref[i].kind != "layer" or j is None:
            continue
        for a, b in ((i - 1, j + 1), (i + 1, j - 1)):
            if not (0 <= a < len(ref) and 0 <= b < len(mem)) or a in moved_ref or b in moved_mem:
                continue
            if ref[a].kind == "layer" or ref[a].key != mem[b].key:
                continue
            moved_ref.update((a, i))
            moved_mem.update((b, j))
            lo_ref, lo_mem = min(a, i), min(b, j)
            causes.append(
                Cause(
                    kind="op-order",
                    where=_before(ref, lo_ref) or _before(mem, lo_mem),
                    member=_window(mem, lo_mem, lo_mem + 2),
                    reference=_window(ref, lo_ref, lo_ref + 2),
                    evidence=f"{phase} graphs compared op by op: {ref[a].name} runs at another place",
                    affects=affects,
                )
            )
            break
    for i, j in _layer_moves(ref, mem, deleted, inserted):  # a layer found at another place
        if i in moved_ref or j in moved_mem:
            continue
        i, j = _random_neighbour(ref, i, mem, j) or (i, j)
        if _fed_alike(ref[i], mem[j]):
            continue
        moved_ref.update((i, *_carried(ref, i)))
        moved_mem.update((j, *_carried(mem, j)))
        causes.append(_moved(ref, i, mem, j, phase=phase, affects=affects))
    if phase == "forward":  # a layer both have that draws random numbers at inference in one only
        causes += _drawing_layers(ref, mem, deleted, inserted)
    theirs = [(i, _before(ref, i)) for i in deleted if i not in moved_ref and ref[i].kind != "layer"]
    mine = [(j, _before(mem, j)) for j in inserted if j not in moved_mem and mem[j].kind != "layer"]
    for i, where in list(theirs):
        if _is_cast(ref[i]):
            continue
        j = next((j for j, at in mine if at == where and not _is_cast(mem[j])), None)
        if j is None:
            continue
        theirs.remove((i, where))
        mine.remove((j, where))
        if ref[i].owner and ref[i].owner == mem[j].owner and ref[i].owner in explained:
            continue
        causes.append(_substitution(ref[i], mem[j], where=where, phase=phase, affects=affects))
    for i, where in list(theirs):  # the same ops elsewhere (its inputs in another order): one cause
        j = next((j for j, _ in mine if mem[j].kind == "op" and _types(mem[j]) == _types(ref[i])), None)
        if j is None or ref[i].kind != "op" or _is_cast(ref[i]):
            continue
        theirs.remove((i, where))
        mine = [(k, at) for k, at in mine if k != j]
        causes.append(_substitution(ref[i], mem[j], where=where, phase=phase, affects=affects))
    for i, where in theirs:
        if ref[i].owner not in explained:
            causes.append(_one_sided(ref[i], member=False, where=where, phase=phase, affects=affects))
    for j, where in mine:
        if mem[j].owner not in explained:
            causes.append(_one_sided(mem[j], member=True, where=where, phase=phase, affects=affects))
    return constants + causes


def chained(ref: list[Unit], mem: list[Unit]) -> tuple[list[Unit], list[Unit]]:
    """Both sequences with the consecutive op units of one scope that the other sequence
    does not have at that place (one stretch of the diff) said as one chain: ``RealDiv(x, 2)
    -> AddV2(x, 1)``, a dropout's five ops. Units are read op by op so that where Keras'
    scopes cut a chain (``pool_1``, then ``gap``) and raw code does not, the same ops still
    read alike; a chain is how a difference is said."""
    matcher = difflib.SequenceMatcher(None, [u.key for u in ref], [u.key for u in mem], autojunk=False)
    out_ref: list[Unit] = []
    out_mem: list[Unit] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        same = tag == "equal"
        out_ref += ref[i1:i2] if same else _chain_ops(ref[i1:i2])
        out_mem += mem[j1:j2] if same else _chain_ops(mem[j1:j2])
    return out_ref, out_mem


def _chain_ops(stretch: list[Unit]) -> list[Unit]:
    """Consecutive op units of one scope (the same Keras layer, or none) as one unit."""
    out: list[Unit] = []
    for unit in stretch:
        last = out[-1] if out else None
        chainable = unit.kind == "op" and not _is_cast(unit)
        if (
            last is not None
            and chainable
            and last.kind == "op"
            and not _is_cast(last)
            and last.layer == unit.layer
        ):
            ops = last.ops + unit.ops
            detail = "; ".join(d for d in (last.detail, unit.detail) if d)
            out[-1] = replace(
                last, name=chain_text(ops), ops=ops, detail=detail, random=last.random or unit.random
            )
            continue
        out.append(unit)
    return out


def _layer_moves(
    ref: list[Unit], mem: list[Unit], deleted: list[int], inserted: list[int]
) -> list[tuple[int, int]]:
    """Layer units the diff found in both members at other places: ``(ref index, member index)``
    of each layer that runs once in each pass and takes its data from elsewhere (a ``Dropout``
    applied to the input in one member and after the first ``Dense`` in the other)."""
    counts_ref = Counter(u.key for u in ref)
    counts_mem = Counter(u.key for u in mem)
    moves = []
    for i in deleted:
        key = ref[i].key
        if ref[i].kind != "layer" or counts_ref[key] != 1 or counts_mem[key] != 1:
            continue
        j = next((j for j in inserted if mem[j].key == key), None)
        if j is not None and not _fed_alike(ref[i], mem[j]):
            moves.append((i, j))
    return moves


def _fed_alike(theirs: Unit, mine: Unit) -> bool:
    """Two units of one layer that take the same data (or, both, none that tells): traced
    elsewhere, not moved."""
    return theirs.sources == mine.sources


def _random_neighbour(ref: list[Unit], i: int, mem: list[Unit], j: int) -> tuple[int, int] | None:
    """When layer unit ``i`` (``j`` in the member) only swapped places with a neighbouring layer
    that draws random numbers, that layer is the one said to move: ``dropout after dense_1 vs
    after dense`` rather than ``dense_1 after dense vs after dropout`` (either reads the same
    diff; a dropout or a noise layer is what a user places). Returns the neighbour's indexes."""
    if ref[i].random:
        return None
    for a, b in ((i - 1, j + 1 + len(_carried(mem, j))), (i + 1 + len(_carried(ref, i)), j - 1)):
        inside = 0 <= a < len(ref) and 0 <= b < len(mem)
        if inside and ref[a].kind == "layer" and ref[a].random and ref[a].key == mem[b].key:
            return a, b
    return None


def _carried(seq: list[Unit], i: int) -> list[int]:
    """Indexes of the activation units right after layer unit ``i`` that its own scope holds
    (``Dense(16, activation="relu")``'s relu): they move with it."""
    out = []
    for k in range(i + 1, len(seq)):
        if seq[k].kind != "act" or seq[k].owner != seq[i].name:
            break
        out.append(k)
    return out


def _place(seq: list[Unit], i: int) -> str:
    """Where unit ``i`` runs, by what runs just before it: ``after dense`` (a layer, with the
    activation its own scope holds), ``after relu`` (an activation of its own), ``before
    dense`` (at the start: the first unit after it), ``""`` (alone)."""
    if i > 0:
        k = i - 1
        while k > 0 and seq[k].kind == "act" and seq[k - 1].key == ("layer", seq[k].owner, ""):
            k -= 1  # the activation of the layer before, its own scope's: that layer
        return f"after {seq[k].name}"
    after = i + 1 + len(_carried(seq, i))
    return f"before {seq[after].name}" if after < len(seq) else ""


def _moved(ref: list[Unit], i: int, mem: list[Unit], j: int, *, phase: str, affects: str) -> Cause:
    """A unit both members run, found at another place past units both agree on: ``order of
    ops: dropout before dense vs after dense``, with both neighbourhoods as evidence."""
    mine, theirs = _place(mem, j), _place(ref, i)
    if mine == theirs:  # what runs before it is alike: what runs after it is not
        mine, theirs = (f"{at}, {_place_after(seq, k)}" for at, seq, k in ((mine, mem, j), (theirs, ref, i)))
    span_ref, span_mem = 1 + len(_carried(ref, i)), 1 + len(_carried(mem, j))
    return Cause(
        kind="op-order",
        where=ref[i].name,
        attribute="place",
        member=mine,
        reference=theirs,
        evidence=f"{phase} graphs compared op by op: {ref[i].name} runs at another place "
        f"({_window(mem, j - 2, j + span_mem + 2)} vs {_window(ref, i - 2, i + span_ref + 2)})",
        affects=affects,
    )


def _place_after(seq: list[Unit], i: int) -> str:
    """``before dense_1``: the unit that runs after unit ``i`` (its activations left out), or
    ``at the end``."""
    carried = _carried(seq, i)
    k = (carried[-1] if carried else i) + 1
    return f"before {seq[k].name}" if k < len(seq) else "at the end"


def _drawing_layers(ref: list[Unit], mem: list[Unit], deleted: list[int], inserted: list[int]) -> list[Cause]:
    """Layers in one inference pass only that draw random numbers there (a ``Dropout`` called
    with ``training=True``): the other member's runs as a no-op."""
    causes = []
    for seq, other, indexes, member in ((mem, ref, inserted, True), (ref, mem, deleted, False)):
        names = {u.name for u in other if u.kind == "layer"}
        for i in indexes:
            unit = seq[i]
            if unit.kind != "layer" or not unit.random or unit.name in names:
                continue
            draws = "training mode at inference (draws random numbers: training=True in call())"
            causes.append(
                Cause(
                    kind="training-flag",
                    where=unit.name,
                    member=draws if member else "inference mode (a no-op)",
                    reference="inference mode (a no-op)" if member else draws,
                    evidence=f"inference graphs: {unit.name} draws random numbers in one member only",
                    affects=INFERENCE,
                )
            )
    return causes


def _types(unit: Unit) -> list[str]:
    """The op types of an op unit (``ConcatV2(a, b, 1)`` -> ``ConcatV2``)."""
    return [t.split("(")[0] for t in unit.ops]


def _is_cast(unit: Unit) -> bool:
    return unit.kind == "op" and unit.name in {f"Cast to {dtype}" for dtype in CASTS}


def _span(
    ref: list[Unit], i: int, mem: list[Unit], j: int, matcher: difflib.SequenceMatcher, *, side: str
) -> tuple[int, int]:
    """Indexes ``[lo, hi)`` of the stretch that holds a moved unit in both sequences."""
    blocks = matcher.get_matching_blocks()
    a_lo, b_lo = 0, 0
    a_hi, b_hi = len(ref), len(mem)
    for block in blocks:
        a_end, b_end = block.a + block.size, block.b + block.size
        if block.size and a_end <= i and b_end <= j:
            a_lo, b_lo = max(a_lo, a_end - 1), max(b_lo, b_end - 1)
    for block in blocks:
        if block.size and block.a > i and block.b > j:
            a_hi, b_hi = min(a_hi, block.a + 1), min(b_hi, block.b + 1)
            break
    lo, hi = (a_lo + 1, a_hi - 1) if side == "ref" else (b_lo + 1, b_hi - 1)
    seq = ref if side == "ref" else mem
    hi = min(max(hi, lo + 1), len(seq))
    # show the unit the move is relative to as well when the stretch holds only the moved unit
    if hi - lo < 2:
        hi = min(hi + 1, len(seq))
    return lo, hi


#: op types of an op unit that suggest an activation the templates do not know
_TRANSCENDENTAL = frozenset(
    {"Erf", "Erfc", "Exp", "Expm1", "Log", "Log1p", "Tanh", "Sigmoid", "Softplus", "Relu", "Relu6", "Elu"}
)


def _value(unit: Unit, *, with_detail: bool = False) -> str:
    """A unit as one side of a substitution."""
    if unit.kind == "act":
        return unit.name
    text = f"{unit.name} ({unit.detail})" if with_detail and unit.detail else unit.name
    return f"an activation the graph does not name (ops {text})" if _unnamed_activation(unit) else text


def _unnamed_activation(unit: Unit) -> bool:
    return unit.kind == "op" and any(t.split("(")[0] in _TRANSCENDENTAL for t in unit.ops)


def _substitution(theirs: Unit, mine: Unit, *, where: str, phase: str, affects: str) -> Cause:
    """A unit of the reference replaced by another at the same place: one cause, both values."""
    detail = theirs.name == mine.name
    member, reference = _value(mine, with_detail=detail), _value(theirs, with_detail=detail)
    if "act" in (theirs.kind, mine.kind):
        return Cause(
            kind="activation",
            where=where,
            member=member,
            reference=reference,
            evidence=f"{phase} graphs compared op by op",
            affects=affects,
        )
    pooling = all(t.split("(")[0] in POOLING for t in theirs.ops + mine.ops)
    same = _types(theirs) == _types(mine)
    what = "the same ops on other inputs" if same else "another op at the same place"
    return Cause(
        kind="op-substitution",
        where=where,
        attribute="pooling" if pooling else "op",
        member=member,
        reference=reference,
        evidence=f"{phase} graphs compared op by op: {what}",
        affects=affects,
    )


def _one_sided(unit: Unit, *, member: bool, where: str, phase: str, affects: str) -> Cause:
    if unit.kind == "act" or _unnamed_activation(unit):
        mine, theirs = (_value(unit), "None") if member else ("None", _value(unit))
        return Cause(
            kind="activation",
            where=where,
            member=mine,
            reference=theirs,
            evidence=f"{phase} graphs compared op by op",
            affects=affects,
        )
    if _is_cast(unit):
        dtype = unit.name.rpartition(" ")[2]
        return Cause(
            kind="dtype-policy",
            where=where,
            member=f"casts to {dtype}" if member else "no cast",
            reference="no cast" if member else f"casts to {dtype}",
            evidence=f"{phase} graphs: a Cast to {dtype} in one member only (a {dtype} dtype policy)",
            confidence=LIKELY,
            affects=affects,
        )
    if unit.random and unit.owner and phase == "forward":  # a layer both have draws at inference
        draws = "training mode at inference (draws random numbers: training=True in call())"
        return Cause(
            kind="training-flag",
            where=unit.owner,
            member=draws if member else "inference mode (a no-op)",
            reference="inference mode (a no-op)" if member else draws,
            evidence=f"inference graphs: {unit.layer or unit.owner} draws random numbers in one member only "
            f"(ops {unit.name})",
            affects=INFERENCE,
        )
    what = unit.name
    if unit.layer:  # a few ops are said with their layer, a longer stretch by its layer alone
        what = f"{unit.name} in {unit.layer}" if len(unit.ops) <= 2 else unit.layer
    return Cause(
        kind="extra-op",
        where=where,
        attribute=what,
        member="runs" if member else "absent",
        reference="absent" if member else "runs",
        evidence=f"{phase} graphs compared op by op" + (f": ops {unit.name}" if what == unit.layer else ""),
        affects=affects,
    )


def rounding_causes(ref: list[Unit], mem: list[Unit]) -> list[Cause]:
    """Matched layers whose ops differ: ``Einsum, AddV2 vs MatMul, BiasAdd in dense`` when they
    compute the same math (each build's kernels round in their own way: ``rounding``), else
    the ops one runs and the other does not (``ops in multi_head_attention: Cumsum, SelectV2
    vs -``: a call argument such as a mask, or another code path). Said when nothing else
    explains a difference."""
    by_name_ref: dict[str, Counter] = {}
    by_name_mem: dict[str, Counter] = {}
    raw: set[str] = set()  # layers raw code writes in one member at least
    for seq, into in ((ref, by_name_ref), (mem, by_name_mem)):
        for unit in seq:
            if unit.kind == "layer":
                into.setdefault(unit.name, Counter()).update(unit.ops)
                if not unit.cls:
                    raw.add(unit.name)
    causes = []
    for name, theirs in by_name_ref.items():
        mine = by_name_mem.get(name)
        if mine is None or set(mine) == set(theirs):
            continue
        only_mine = sorted(set(mine) - set(theirs))
        only_theirs = sorted(set(theirs) - set(mine))
        canon_mine = {CANONICAL.get(t, t) for t in mine}
        canon_theirs = {CANONICAL.get(t, t) for t in theirs}
        if canon_mine == canon_theirs:
            causes.append(
                Cause(
                    kind="rounding",
                    where=name,
                    member=", ".join(only_mine),
                    reference=", ".join(only_theirs),
                    evidence="the same math through other kernels: each rounds in its own way",
                    confidence=POSSIBLE,
                )
            )
            continue
        causes.append(
            Cause(
                kind="op-substitution",
                where=name,
                attribute="ops in",
                member=", ".join(only_mine) or "-",
                reference=", ".join(only_theirs) or "-",
                evidence="the same layer runs other ops: raw code computes it with other ops (the same "
                "math in another order rounds differently)"
                if name in raw
                else "the same layer runs other ops: an argument of its call (a mask, a flag) or "
                "another code path of its class",
                confidence=LIKELY,
            )
        )
    return causes
