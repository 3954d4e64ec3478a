"""Two members' traced graphs compared op by op, in order.

Each graph (:mod:`suite.causes.graph`) is read as a sequence of *units*:

- a **layer** unit: the ops of one matched layer (by its name scope, or, for raw code, the
  ops after one of its matched variables), labelled with the reference's layer path;
- an **activation** unit: an activation op (``Relu``, ``Softmax``, ``Erf``...), wherever it
  runs: ``Dense(64, activation="relu")``, ``Dense(64)`` then ``Activation("relu")`` and
  ``tf.nn.relu`` in ``call()`` are the same unit after the same layer;
- an **op** unit: an op that changes the numbers outside every matched layer (pooling, a
  cast to float16/bfloat16, a random draw).

Plumbing (reads, reshapes, identities, constants) is no unit, so structures that compute the
same thing read alike. Two unit sequences are diffed (``difflib``): a unit present in both
but elsewhere is an **order** change (``order of ops after dense: relu -> batch_normalization
vs batch_normalization -> relu``); an activation in one only is an **activation** cause; an
op unit in one only is an **extra-op** (a cast to float16: **dtype-policy**). Matched layer
units whose op types differ but compute the same math (``Einsum``/``MatMul``,
``AddV2``/``BiasAdd``) give a **rounding** cause, the only thing such builds can differ by.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field

from suite.causes.cause import LIKELY, POSSIBLE, TRAINING, Cause
from suite.causes.graph import SKIPPED, OpGraph

#: op type -> activation name (what a Keras ``activation=`` would be called)
ACTIVATION_OPS: dict[str, str] = {
    "Relu": "relu",
    "Relu6": "relu6",
    "LeakyRelu": "leaky_relu",
    "Elu": "elu",
    "Selu": "selu",
    "Softplus": "softplus",
    "Softsign": "softsign",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Softmax": "softmax",
    "LogSoftmax": "log_softmax",
    "Erf": "gelu",
}
#: ops that change the numbers outside any layer (said when one member lacks them)
_SEMANTIC = frozenset(
    {"MaxPool", "MaxPoolV2", "AvgPool", "MaxPool3D", "AvgPool3D", "FractionalMaxPool", "FractionalAvgPool"}
)
#: op types that compute the same math as another (what ``rounding`` can say)
_CANONICAL = {
    "BatchMatMulV2": "MatMul",
    "BatchMatMulV3": "MatMul",
    "Einsum": "MatMul",
    "BiasAdd": "Add",
    "AddV2": "Add",
    "Add": "Add",
    "RealDiv": "Div",
    "Mean": "Mean",
}


@dataclass
class Unit:
    """One unit of a graph (see the module docstring)."""

    kind: str  # "layer", "act", "op"
    name: str
    ops: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.name


def units(graph: OpGraph, var_label: dict[int, str], layer_label: dict[int, str]) -> list[Unit]:
    """The unit sequence of a graph.

    Args:
        graph: the traced pass.
        var_label: matched variable ``id`` -> the reference's layer label.
        layer_label: layer ``id`` owning matched variables -> the reference's layer label.
    """
    out: list[Unit] = []
    current = ""
    for op in graph.ops:
        for v in op.reads:
            current = var_label.get(v, current)
        if op.type in SKIPPED or op.type.startswith(("Assign", "StatelessRandomGet")):
            continue
        if op.type in ACTIVATION_OPS:
            unit = Unit("act", ACTIVATION_OPS[op.type])
        elif op.layer in layer_label:
            unit = Unit("layer", layer_label[op.layer], [op.type])
        elif op.cast_to in ("float16", "bfloat16"):
            unit = Unit("op", f"Cast to {op.cast_to}")
        elif op.type in _SEMANTIC or op.random:
            unit = Unit("op", op.type)
        elif current and op.type != "Cast":
            unit = Unit("layer", current, [op.type])
        else:
            continue
        if out and out[-1].key == unit.key and unit.kind != "act":
            out[-1].ops += unit.ops
        elif not (out and out[-1].key == unit.key and unit.kind == "act"):
            out.append(unit)
    return out


def _name(unit: Unit) -> str:
    return unit.name


def _before(seq: list[Unit], index: int) -> str:
    """The label of the last layer unit before ``index`` (``""`` at the start)."""
    for unit in reversed(seq[:index]):
        if unit.kind == "layer":
            return unit.name
    return ""


def _window(seq: list[Unit], lo: int, hi: int) -> str:
    return " -> ".join(_name(u) for u in seq[max(lo, 0) : hi])


def diff_units(ref: list[Unit], mem: list[Unit], *, phase: str = "forward") -> list[Cause]:
    """Causes from two unit sequences (see the module docstring).

    Args:
        ref: the reference's units.
        mem: the member's units.
        phase: ``forward`` (inference pass) or ``training`` (training pass: causes found only
            there act on training only).
    """
    affects = TRAINING if phase == "training" else "all"
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
    for i in deleted:
        if ref[i].kind == "layer":
            continue
        match = next((j for j in inserted if j not in moved_mem and mem[j].key == ref[i].key), None)
        if match is None:
            continue
        moved_ref.add(i)
        moved_mem.add(match)
        # the stretch between the last unit both agree on before the move and the first after it
        lo_ref, hi_ref = _span(ref, i, mem, match, matcher, side="ref")
        lo_mem, hi_mem = _span(ref, i, mem, match, matcher, side="mem")
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
    for i in deleted:
        if i in moved_ref or ref[i].kind == "layer":
            continue
        causes.append(_one_sided(ref[i], member=False, where=_before(ref, i), phase=phase, affects=affects))
    for j in inserted:
        if j in moved_mem or mem[j].kind == "layer":
            continue
        causes.append(_one_sided(mem[j], member=True, where=_before(mem, j), phase=phase, affects=affects))
    return _merge_activations(causes)


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


def _one_sided(unit: Unit, *, member: bool, where: str, phase: str, affects: str) -> Cause:
    mine, theirs = (unit.name, "None") if member else ("None", unit.name)
    if unit.kind == "act":
        return Cause(
            kind="activation",
            where=where,
            member=mine,
            reference=theirs,
            evidence=f"{phase} graphs compared op by op",
            affects=affects,
        )
    if unit.name.startswith("Cast to"):
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
    return Cause(
        kind="extra-op",
        where=where,
        attribute=unit.name,
        member="runs" if member else "absent",
        reference="absent" if member else "runs",
        evidence=f"{phase} graphs compared op by op",
        confidence=LIKELY,
        affects=affects,
    )


def _merge_activations(causes: list[Cause]) -> list[Cause]:
    """An activation missing in one place and another one there: one cause ``gelu vs relu``."""
    out: list[Cause] = []
    for cause in causes:
        twin = next(
            (
                c
                for c in out
                if c.kind == cause.kind == "activation"
                and c.where == cause.where
                and "None" in (c.member, c.reference)
                and "None" in (cause.member, cause.reference)
                and (c.member == "None") != (cause.member == "None")
            ),
            None,
        )
        if twin is None:
            out.append(cause)
            continue
        member = twin.member if twin.member != "None" else cause.member
        reference = twin.reference if twin.reference != "None" else cause.reference
        out[out.index(twin)] = Cause(
            kind="activation",
            where=cause.where,
            member=member,
            reference=reference,
            evidence=twin.evidence,
            affects=twin.affects,
        )
    return out


def rounding_causes(ref: list[Unit], mem: list[Unit]) -> list[Cause]:
    """Matched layers whose ops differ but compute the same math: ``Einsum, AddV2 vs MatMul,
    BiasAdd in dense`` (each build's kernels round in their own way)."""
    by_name_ref: dict[str, Counter] = {}
    by_name_mem: dict[str, Counter] = {}
    for seq, into in ((ref, by_name_ref), (mem, by_name_mem)):
        for unit in seq:
            if unit.kind == "layer":
                into.setdefault(unit.name, Counter()).update(unit.ops)
    causes = []
    for name, theirs in by_name_ref.items():
        mine = by_name_mem.get(name)
        if mine is None or set(mine) == set(theirs):
            continue
        canon_mine = {_CANONICAL.get(t, t) for t in mine}
        canon_theirs = {_CANONICAL.get(t, t) for t in theirs}
        if canon_mine != canon_theirs:
            continue
        only_mine = sorted(set(mine) - set(theirs))
        only_theirs = sorted(set(theirs) - set(mine))
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
    return causes
