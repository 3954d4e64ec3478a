"""Two members' traced graphs compared op by op, in order.

Each graph (:mod:`suite.causes.graph`) is read as a sequence of *units*:

- a **layer** unit: the ops of one matched layer (by its name scope, or, for raw code, the
  ops that take one of its matched variables, and those a raw normalisation computes from its
  input before it takes its weights: ``tf.nn.moments``, ``x - mean``), labelled with the
  reference's layer path, with the float constants its ops take;
- an **activation** unit: an activation recognised from its ops, wherever it runs
  (:mod:`suite.causes.activations`): ``Dense(64, activation="relu")``, ``Dense(64)`` then
  ``Activation("relu")`` and ``tf.nn.relu`` in ``call()`` are the same unit after the same
  layer; ``gelu``'s five ops are one ``gelu``;
- an **op** unit: one op that changes the numbers outside every matched layer, with its
  constants and, when it takes several tensors, where they come from: ``RealDiv(x, 2)`` on
  the input, ``AddV2(input, dense_1)`` (a residual), ``ConcatV2(dense, dense_1, 1)``,
  ``MaxPool``, ``Transpose(x, (0, 2, 1))``, ``Cast to int32``, a cast to float16/bfloat16, a
  random draw. Ops are units one by one whatever scope holds them, so that raw code (no
  scopes) and Keras layers (a scope each) read alike; where two sequences differ, the
  consecutive op units of one scope are said as one chain (``RealDiv(x, 2) -> AddV2(x, 1)``,
  :func:`chained`).

Plumbing (reads, reshapes, identities, constants, shape arithmetic: anything that does not
produce floats from floats) is no unit, so structures that compute the same thing read
alike. Two unit sequences are diffed (``difflib``): a unit present in both but elsewhere is
an **order** change (``order of ops after dense: relu -> batch_normalization vs
batch_normalization -> relu``); a unit in one only and another unit in the other at the same
place is one cause with both values (``activation after dense: gelu vs relu``, ``pooling
after conv2d: AvgPool vs MaxPool``, of kind ``activation`` or ``op-substitution``); a unit in
one only is an **activation** (``relu vs None``) or an **extra-op** (``extra op RealDiv(x, 2)
before dense: runs vs absent``; a cast to float16: **dtype-policy**). A layer both have whose
constants differ where no configuration says it (raw code) is a **configuration** cause
(``configuration of bn_0: constant 0.1 vs 0.001``, :func:`constant_causes`). Matched layer
units whose op types differ but compute the same math (``Einsum``/``MatMul``,
``AddV2``/``BiasAdd``) give a **rounding** cause, the only thing such builds can differ by.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field, replace

from suite.causes.cause import LIKELY, POSSIBLE, TRAINING, Cause
from suite.causes.graph import INPUT, OTHER, Op, OpGraph, consumers

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
#: ops that pass values through unchanged (their layout included) or only compute shapes
PLUMBING = frozenset(
    {
        "Const",
        "NoOp",
        "Placeholder",
        "Identity",
        "IdentityN",
        "Snapshot",
        "ReadVariableOp",
        "VarHandleOp",
        "Shape",
        "ShapeN",
        "Size",
        "Rank",
        "Reshape",
        "ExpandDims",
        "Squeeze",
        "StopGradient",
        "PreventGradient",
        "EnsureShape",
        "CheckNumerics",
        "BroadcastTo",
        "BroadcastArgs",
        "Fill",
        "ZerosLike",
        "OnesLike",
        "Range",
    }
)
_FLOATS = frozenset({"float16", "bfloat16", "float32", "float64"})
#: casts that change the precision a layer computes in (a dtype policy; a cast to float32 is
#: Keras' autocast back)
_CASTS = ("float16", "bfloat16", "float64")
#: pooling ops (a substitution of one by another reads ``pooling after ...``)
POOLING = frozenset(
    {"MaxPool", "MaxPoolV2", "AvgPool", "MaxPool3D", "AvgPool3D", "FractionalMaxPool", "FractionalAvgPool"}
)
#: ops taking an axis (an int constant input), normalised to count from 0
_AXIS_OPS = frozenset({"ConcatV2", "Mean", "Sum", "Max", "Min", "Prod", "ArgMax", "ArgMin", "Cumsum"})
#: ops whose operands may be swapped
_COMMUTATIVE = frozenset({"Mul", "AddV2", "Add", "Maximum", "Minimum", "AddN"})
#: ops reducing a tensor over axes: a statistic of it
_REDUCTIONS = frozenset({"Mean", "Sum", "Max", "Min", "Prod", "EuclideanNorm"})
#: longest op chain shown in one unit
_CHAIN = 6


@dataclass
class Unit:
    """One unit of a graph (see the module docstring).

    Attributes:
        kind: ``layer``, ``act`` or ``op``.
        name: the layer label, the activation's name, or the op unit's ops in words.
        ops: a layer unit's op types.
        detail: what else tells two op units apart (pooling windows), said when the names agree.
        owner: the label of the layer pair whose scope holds the unit (its configuration
            says the same, see :func:`diff_units`), or ``""``.
        layer: for an op unit in the scope of a Keras layer: ``dropout (Dropout)``.
        random: an op unit that draws random numbers.
        sources: for a layer unit, what produces the data it takes from outside itself: the
            producing unit's :attr:`key` and the layer that data comes from (``("act", "relu",
            "", "dense")``), or ``("input",)``. A layer found at another place in the other
            member's sequence but fed alike (two independent branches traced in another
            order) has not moved.
        cls: for a layer unit, the class of the layer whose scope holds it, ``keras.`` before
            Keras' own (``keras.BatchNormalization``); ``""`` for raw code.
        constants: for a layer unit, ``(what takes it, value)`` of each float constant its ops
            take (``("AddV2 with a weight of bn_0", 0.001)``): what a configuration says of a
            layer raw code writes (:func:`constant_causes`).
    """

    kind: str  # "layer", "act", "op"
    name: str
    ops: list[str] = field(default_factory=list)
    detail: str = ""
    owner: str = ""
    layer: str = ""
    random: bool = False
    sources: set[tuple[str, ...]] = field(default_factory=set)
    cls: str = ""
    constants: list[tuple[str, float]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.name, self.detail


def _number(value: float) -> str:
    return f"{int(value)}" if value == int(value) and abs(value) < 1e6 else f"{value:.4g}"


def _const_text(op: Op, axis_rank: int = -1) -> str:
    if op.value is None:
        return f"const{op.shape}" if op.shape else "const"
    values = list(op.value)
    if axis_rank > 0:
        values = [v % axis_rank if v == int(v) else v for v in values]
    if len(values) == 1 and (not op.shape or len(op.value) == 1):
        uniform = " (every element)" if op.shape and any(d > 1 for d in op.shape) else ""
        return _number(values[0]) + uniform
    if len(values) <= 4:
        return "(" + ", ".join(_number(v) for v in values) + ")"
    return f"const{op.shape}"


class _Reader:
    """Reads one graph's units (see :func:`units`)."""

    def __init__(
        self,
        graph: OpGraph,
        var_label: dict[int, str],
        layer_label: dict[int, str],
        owner_label: dict[int, str],
    ) -> None:
        from suite.causes.activations import find

        self.ops = graph.ops
        self.graph = graph
        self.live = graph.live or frozenset(range(len(graph.ops)))
        self.layer_label = layer_label
        self.owner_label = owner_label
        self.acts = {i: f for f in find(graph) if f.output in self.live for i in f.ops}
        self._consts: dict[int, bool] = {}
        self.var_label = var_label
        self.consumers = consumers(graph.ops)
        # ops computing from one matched layer's variables only (raw code: a read, its cast) or
        # from what the layer computes on the side (raw code: its batch statistics)
        self.weight_side: dict[int, str] = {}
        # the ops of each matched layer (its scope's; raw code: those taking a weight and data)
        self.layer_of: dict[int, str] = {}
        self.side = self._side_computations()
        self._origin: dict[int, str] = {}

    def _classify(self, side: dict[int, str]) -> None:
        """Fill :attr:`weight_side` and :attr:`layer_of`; the ops of ``side`` (op index -> the
        raw layer computing them, :meth:`_side_computations`) are that layer's: its statistics
        (a reduction, and what is computed from statistics and weights only) on its weight
        side, the others (``x - mean``) its own ops."""
        graph, ops = self.graph, self.ops
        self.weight_side, self.layer_of = {}, {}
        for i, op in enumerate(ops):
            if i in side:
                data = [j for j in op.inputs if not self._const(j) and self.weight_side.get(j) != side[i]]
                into = self.weight_side if op.type in _REDUCTIONS or not data else self.layer_of
                into[i] = side[i]
                continue
            label = next((self.var_label[v] for v in op.reads + op.writes if v in self.var_label), "")
            if label:
                self.weight_side[i] = label
                continue
            if op.layer in self.layer_label:
                self.layer_of[i] = self.layer_label[op.layer]
                continue
            outer = graph.internal.get(op.layer)
            if outer is not None:  # inside Keras' own layer (an attention's softmax): that layer's op
                self.layer_of[i] = self.owner_label.get(outer) or graph.layer_names.get(outer, "?")
                continue
            if op.layer in graph.weighted:  # a layer with weights the other member lacks: its audit
                self.layer_of[i] = graph.layer_names.get(op.layer, "?")  # says what is missing
                continue
            if i in self.acts:
                continue
            sides = {self.weight_side.get(j) for j in op.inputs if not self._const(j)}
            taken = sides - {None}
            if taken and sides == taken and len(taken) == 1:
                self.weight_side[i] = taken.pop()
            elif taken:  # takes an activation and a weight: the layer's own op (raw code)
                self.layer_of[i] = sorted(taken)[0]

    def _side_computations(self) -> dict[int, str]:
        """The ops a raw normalisation computes from its input before it takes its weights,
        -> its label (what Keras' scope would hold in the layer).

        Raw code has no scope: ``mean, variance = tf.nn.moments(x)`` and ``(x - mean) *
        rsqrt(variance + eps)`` take no weight, and would read as ops of their own. They
        belong to a layer when their results flow into that layer's ops only, the layer's
        weights are per-feature vectors (gamma, beta, moving statistics: a normalisation; a
        layer with a kernel takes its input as it is, so what runs before it is an op of its
        own, an ``l2_normalize`` before a ``Dense``), and they read their input at two places
        at least (its statistics and the data path), once the ops that take the input alone
        before that (a pooling, a cast, ``x / 2``) are left out of the layer. Leaves
        :attr:`weight_side` and :attr:`layer_of` classified with them."""
        self._classify({})
        first = {**self.weight_side, **self.layer_of}
        candidates = self._feeding_one_layer()
        kept: dict[int, str] = {}
        for label in sorted(set(candidates.values())):
            if not self._normalising(label):
                continue
            region = self._trimmed({i for i, owner in candidates.items() if owner == label}, label, first)
            entries = self._entries(region, label, first)
            if entries and all(sum(c in region for c in self.consumers[j]) >= 2 for j in entries):
                kept.update(dict.fromkeys(region, label))
        self._classify(kept)
        return kept

    def _feeding_one_layer(self) -> dict[int, str]:
        """Ops in no layer's scope whose results flow (through such ops) into the ops of one
        matched layer only, -> that layer's label."""
        found: dict[int, str] = {}
        scoped = self.graph.layer_names
        for i in range(len(self.ops) - 1, -1, -1):
            owned = i in self.weight_side or i in self.layer_of or i in self.acts
            if owned or self._const(i) or self.ops[i].layer in scoped:
                continue
            labels = {
                self.layer_of.get(c) or self.weight_side.get(c) or found.get(c) for c in self.consumers[i]
            }
            if len(labels) == 1 and None not in labels:
                found[i] = labels.pop()
        return found

    def _normalising(self, label: str) -> bool:
        """A layer of raw code (no Keras scope) whose weights are all vectors or scalars."""
        if label in self.layer_label.values():
            return False
        ranks = [
            op.rank
            for op in self.ops
            if op.type == "ReadVariableOp" and any(self.var_label.get(v) == label for v in op.reads)
        ]
        return bool(ranks) and max(ranks) <= 1

    def _entries(self, region: set[int], label: str, first: dict[int, str]) -> set[int]:
        """The data the ops of ``region`` take from outside it and outside layer ``label``
        (``first``: what each op belonged to before the region was)."""
        return {
            j
            for i in region
            for j in self.ops[i].inputs
            if j not in region
            and first.get(j) != label
            and j != OTHER
            and self._float(j)
            and not self._const(j)
        }

    def _trimmed(self, region: set[int], label: str, first: dict[int, str]) -> set[int]:
        """``region`` without the ops that take one of its inputs alone, before the layer reads
        it (a pooling, a cast, ``x / 2``), one after the other."""
        region = set(region)
        while True:
            for j in sorted(self._entries(region, label, first)):
                users = [c for c in self.consumers[j] if c in region]
                if len(users) == 1 and all(k == j or self._const(k) for k in self.ops[users[0]].inputs):
                    region.discard(users[0])
                    break
            else:
                return region

    def _const(self, i: int) -> bool:
        """A constant, or computed from constants only (``max - min`` of a random range)."""
        if i < 0:
            return False
        if i not in self._consts:
            op = self.ops[i]
            self._consts[i] = op.type == "Const" or (
                bool(op.inputs) and not op.reads and not op.random and all(self._const(j) for j in op.inputs)
            )
        return self._consts[i]

    def _float(self, i: int) -> bool:
        return i == INPUT or (i >= 0 and self.ops[i].dtype in _FLOATS)

    def origin(self, i: int) -> str:
        """What a tensor comes from: the layer whose output it is, or ``input``."""
        if i == INPUT:
            return "input"
        if i < 0:
            return "a captured tensor"
        if i in self._origin:
            return self._origin[i]
        if i in self.layer_of:
            found = self.layer_of[i]
        elif i in self.acts:
            found = self.origin(self.acts[i].source)
        else:
            data = [j for j in self.ops[i].inputs if self._data(j)]
            found = self.origin(data[0]) if data else "a constant"
        self._origin[i] = found
        return found

    def _data(self, i: int) -> bool:
        """An input that carries activations (floats that are neither constants nor weights)."""
        return self._float(i) and not self._const(i) and i not in self.weight_side and i != OTHER

    def semantic(self, i: int) -> bool:
        """The op changes numbers (floats from floats), outside every matched layer."""
        op = self.ops[i]
        if op.type in PLUMBING or op.type.startswith(("Assign", "StatelessRandomGet")) or self._const(i):
            return False
        if op.type == "Cast":
            src = op.inputs[0] if op.inputs else INPUT
            return (
                self._float(src)
                and op.cast_to != "float32"
                and not self._cast_back(i)
                and not self._layer_autocast(i)
            )
        return op.dtype in _FLOATS or op.random

    def _dtype(self, i: int) -> str:
        if i == INPUT:
            return self.graph.input_dtype
        return self.ops[i].dtype if i >= 0 else ""

    def _origin_dtype(self, i: int) -> str:
        """The dtype a tensor held before the widening casts that led to it."""
        dtype = self._dtype(i)
        while i >= 0 and self.ops[i].type == "Cast" and self.ops[i].inputs:
            src = self.ops[i].inputs[0]
            if not _widening(self._dtype(src), dtype):
                break
            i, dtype = src, self._dtype(src)
        return dtype

    def _layer_autocast(self, i: int) -> bool:
        """Cast ``i`` takes a matched layer's result back to the dtype that layer's data came in
        (raw code computing a normalisation in float32 under a float16 policy), or a lookup's
        result to the compute dtype (an embedding's ids are no floats): what a Keras layer does
        inside its own scope, so the layer's own cast, not a dtype policy."""
        op = self.ops[i]
        src = op.inputs[0] if op.inputs else INPUT
        label = self.layer_of.get(src)
        if label is None:
            return False
        for k, owner in self.layer_of.items():
            if owner != label:
                continue
            for j in self.ops[k].inputs:
                outside = self._data(j) and self.layer_of.get(j) != label
                dtype = self._origin_dtype(j) if outside else ""
                if dtype in _FLOATS and dtype != op.cast_to:  # not ids: an embedding's lookup
                    return False
        return True

    def _cast_back(self, i: int) -> bool:
        """Cast ``i`` returns a value to a dtype it held before, through widening casts only
        (``float16 -> float32 -> float16``, a Keras input layer's cast and a layer's autocast):
        exact, so no cast at all in the math."""
        target = self.ops[i].cast_to
        j = self.ops[i].inputs[0] if self.ops[i].inputs else INPUT
        while True:
            dtype = self._dtype(j)
            if dtype == target:
                return True
            if j < 0 or self.ops[j].type != "Cast" or not self.ops[j].inputs:
                return False
            src = self.ops[j].inputs[0]
            if not _widening(self._dtype(src), dtype):
                return False
            j = src

    def text(self, i: int) -> str:
        """An op in words: ``RealDiv(x, 2)``, ``AddV2(input, dense_1)``, ``MaxPool``.

        Constants are said with their values (an int one only where it is an axis or a
        permutation); tensors as ``x`` when the op takes one, else by where they come from."""
        op = self.ops[i]
        if op.type == "Cast":
            return f"Cast to {op.cast_to}"
        data = [j for j in op.inputs if self._data(j)]
        rank = -1
        if op.type in _AXIS_OPS and data:
            rank = self.ops[data[0]].rank if data[0] >= 0 else self.graph.input_rank
        origins = {self.origin(j) for j in data}
        args: list[tuple[int, str]] = []
        for j in op.inputs:
            if j >= 0 and self.ops[j].type == "Const":
                if self._float(j) or op.type in _AXIS_OPS or op.type == "Transpose":
                    args.append((1, _const_text(self.ops[j], rank)))
            elif j in self.weight_side:
                args.append((0, f"a weight of {self.weight_side[j]}"))
            elif self._data(j):
                args.append((0, self.origin(j) if len(origins) > 1 else "x"))
        if op.type in _COMMUTATIVE:
            args.sort()
        if all(text == "x" for _, text in args):
            return op.type
        return f"{op.type}({', '.join(text for _, text in args)})"

    def units(self) -> list[Unit]:
        """The unit sequence (see :func:`units`): every op outside the matched layers that
        changes numbers is a unit of its own, whatever scope holds it (chains are made where
        two sequences differ, :func:`diff_units`)."""
        out: list[Unit] = []
        unit_of: dict[int, Unit] = {}  # op index -> the unit holding it
        attached: set[int] = set()  # weight-side ops said with their layer's unit
        for i, op in enumerate(self.ops):
            found = self.acts.get(i)
            if found is not None:
                if i == min(found.ops):
                    owners = {self.ops[j].layer for j in found.ops}
                    owner = self.owner_label.get(owners.pop(), "") if len(owners) == 1 else ""
                    held = self._add(out, Unit("act", found.name, owner=owner))
                    unit_of.update(dict.fromkeys(found.ops, held))
                continue
            if i in self.layer_of:
                if op.type in PLUMBING:
                    continue
                random = op.random or "Random" in op.type
                label = self.layer_of[i]
                held = self._add(out, Unit("layer", label, [op.type], random=random, cls=self._class(op)))
                weights = self._weight_inputs(i, label, attached)
                held.ops += [self.ops[k].type for k in weights]
                held.constants += self._constants([i, *weights], label)
                unit_of[i] = held
                held.sources |= self._sources(i, held, unit_of)
                continue
            if i in self.weight_side or i not in self.live or not self.semantic(i):
                continue
            if op.cast_to in _CASTS:
                unit_of[i] = self._add(out, Unit("op", f"Cast to {op.cast_to}"))
                continue
            text = self.text(i)
            layer = ""
            if op.layer in self.graph.layer_names:
                layer = f"{self.graph.layer_names[op.layer]} ({self.graph.layer_classes.get(op.layer, '?')})"
            detail = ", ".join(f"{k} {v}" for k, v in op.attrs)
            random = op.random or "Random" in op.type
            unit = Unit("op", text, [text], detail, self.owner_label.get(op.layer, ""), layer, random)
            out.append(unit)
            unit_of[i] = unit
        return out

    def _class(self, op: Op) -> str:
        """The class of the layer whose scope holds a layer op (``BatchNormalization``), with
        ``keras.`` before Keras' own; ``""`` for raw code (no layer, no configuration)."""
        if op.layer not in self.graph.layer_classes:
            return ""
        name = self.graph.layer_classes[op.layer]
        return f"keras.{name}" if op.layer in self.graph.builtin else name

    def _weight_inputs(self, i: int, label: str, attached: set[int]) -> list[int]:
        """The weight-side ops of layer ``label`` that op ``i`` takes, with theirs, not yet
        said with a unit (:attr:`Unit.ops`: raw code computes ``moving_variance + epsilon``
        where Keras' scope holds it), in graph order, plumbing left out."""
        found: list[int] = []
        todo = [j for j in self.ops[i].inputs if j >= 0]
        while todo:
            j = todo.pop()
            if j in attached or self.weight_side.get(j) != label:
                continue
            attached.add(j)
            op = self.ops[j]
            if op.type not in PLUMBING and not op.type.startswith("Assign") and not self._const(j):
                found.append(j)
            todo += [k for k in op.inputs if k >= 0]
        return sorted(found)

    def _constants(self, indexes: list[int], label: str) -> list[tuple[str, float]]:
        """``(what takes it, value)`` of each float constant the ops ``indexes`` of layer
        ``label`` take: ``("AddV2 with a weight of bn_0", 0.001)``."""
        found: list[tuple[str, float]] = []
        for k in sorted(indexes):
            op = self.ops[k]
            for j in op.inputs:
                value = self.ops[j].value if j >= 0 and self.ops[j].type == "Const" else None
                if value is None or len(value) != 1 or not self._float(j):
                    continue
                others = [self._operand(x, label) for x in op.inputs if x != j and not self._const(x)]
                found.append((f"{op.type} with {' and '.join(others)}" if others else op.type, value[0]))
        return found

    def _operand(self, j: int, label: str) -> str:
        """A tensor a layer op takes, in words: ``a weight of bn_0``, ``a value bn_0 computes``
        (its batch statistics), ``the input of bn_0``."""
        if self.weight_side.get(j) == label and j not in self.side:
            return f"a weight of {label}"
        if j in self.side or self.layer_of.get(j) == label:
            return f"a value {label} computes"
        return f"the input of {label}"

    def _sources(self, i: int, held: Unit, unit_of: dict[int, Unit]) -> set[tuple[str, ...]]:
        """What produces the data op ``i`` of unit ``held`` takes from outside that unit (see
        :attr:`Unit.sources`), looking through ops that belong to no unit (plumbing)."""
        found: set[tuple[str, ...]] = set()
        for j in self.ops[i].inputs:
            if not self._data(j):
                continue
            k = j
            while k >= 0 and k not in unit_of:
                data = [d for d in self.ops[k].inputs if self._data(d)]
                if not data:
                    break
                k = data[0]
            producer = unit_of.get(k)
            if producer is held:
                continue
            found.add((*producer.key, self.origin(k)) if producer is not None else (self.origin(k),))
        return found

    @staticmethod
    def _add(out: list[Unit], unit: Unit) -> Unit:
        """Append a unit, or merge it into the last one (more ops of the same layer, the same
        activation again); returns the unit that holds it."""
        if out and out[-1].kind == unit.kind == "layer" and out[-1].name == unit.name:
            out[-1].ops += unit.ops
            out[-1].random = out[-1].random or unit.random
            out[-1].cls = out[-1].cls or unit.cls
        elif not (out and out[-1].kind == unit.kind == "act" and out[-1].name == unit.name):
            out.append(unit)
        return out[-1]


#: float widths, for casts that lose nothing
_WIDTH = {"float16": 16, "bfloat16": 16, "float32": 32, "float64": 64}


def _widening(src: str, dst: str) -> bool:
    """A cast from ``src`` to ``dst`` is exact (``float16 -> float32``, ``float32 -> float64``)."""
    return src in _WIDTH and dst in _WIDTH and _WIDTH[dst] > _WIDTH[src]


def _chain(texts: list[str]) -> str:
    shown = texts[:_CHAIN] + (["..."] if len(texts) > _CHAIN else [])
    return " -> ".join(shown)


def units(
    graph: OpGraph,
    var_label: dict[int, str],
    layer_label: dict[int, str],
    owner_label: dict[int, str] | None = None,
) -> list[Unit]:
    """The unit sequence of a graph.

    Args:
        graph: the traced pass.
        var_label: matched variable ``id`` -> the reference's layer label.
        layer_label: layer ``id`` owning matched variables -> the reference's layer label.
        owner_label: layer ``id`` of every matched layer pair (those without variables too)
            -> its label: the unit a layer's scope holds is said to be that layer's.
    """
    return _Reader(graph, var_label, layer_label, owner_label or {}).units()


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
                last, name=_chain(ops), ops=ops, detail=detail, random=last.random or unit.random
            )
            continue
        out.append(unit)
    return out


def constant_causes(
    ref: list[Unit], mem: list[Unit], *, phase: str = "forward", affects: str = "all"
) -> list[Cause]:
    """The float constants of a layer both members have that differ: ``configuration of
    bn_0: constant 0.1 vs 0.001`` (an epsilon, a slope, a clip value), for a layer written as
    raw code on one side at least, or as a user's class against another class: where no
    ``get_config()`` comparison says it (two layers of one class, or two of Keras' own, are
    compared by their configuration, :mod:`suite.causes.config_diff`). Constants are paired
    by the op taking them; a constant one member only has is no cause here (its ops differ)."""
    causes: list[Cause] = []
    for label, (theirs, mine) in _layer_constants(ref, mem).items():
        for context, reference, member in _paired_constants(theirs, mine):
            text_mem, text_ref = _number(member), _number(reference)
            if text_mem == text_ref:
                text_mem, text_ref = repr(member), repr(reference)
            causes.append(
                Cause(
                    kind="configuration",
                    where=label,
                    attribute="constant",
                    member=text_mem,
                    reference=text_ref,
                    evidence=f"{phase} graphs compared op by op: the constant of {context}; "
                    "no get_config() to compare",
                    affects=affects,
                )
            )
    return causes


#: a layer's class (``""``: raw code) and the float constants its ops take
_LayerConstants = tuple[str, list[tuple[str, float]]]


def _layer_constants(
    ref: list[Unit], mem: list[Unit]
) -> dict[str, tuple[list[tuple[str, float]], list[tuple[str, float]]]]:
    """Label -> the reference's and the member's layer constants, for the layers both have
    whose configurations pairbench cannot compare (see :func:`constant_causes`)."""
    theirs, mine = _by_layer(ref), _by_layer(mem)
    return {
        label: (theirs[label][1], mine[label][1])
        for label in theirs
        if label in mine and not _configured(theirs[label][0], mine[label][0])
    }


def _by_layer(seq: list[Unit]) -> dict[str, _LayerConstants]:
    """Label -> the class and the constants of its layer units, in order."""
    out: dict[str, _LayerConstants] = {}
    for unit in seq:
        if unit.kind == "layer":
            cls, constants = out.get(unit.name, ("", []))
            out[unit.name] = (cls or unit.cls, constants + unit.constants)
    return out


def _configured(theirs: str, mine: str) -> bool:
    """Two layer classes whose configurations :mod:`suite.causes.config_diff` compares (one
    class on both sides, its ``get_config()`` or public attributes), or that say what differs
    by their classes (two of Keras' own)."""
    both_keras = theirs.startswith("keras.") and mine.startswith("keras.")
    return bool(theirs and mine) and (theirs == mine or both_keras)


def _paired_constants(
    theirs: list[tuple[str, float]], mine: list[tuple[str, float]]
) -> list[tuple[str, float, float]]:
    """``(what takes it, reference value, member value)`` of the constants that differ, paired
    by the op type taking them, in order; equal ones and unpaired ones left out."""

    def typed(constants: list[tuple[str, float]]) -> list[tuple[str, float, str]]:
        return [(context.split(" ")[0], value, context) for context, value in constants]

    common = Counter(t[:2] for t in typed(theirs)) & Counter(t[:2] for t in typed(mine))
    rest: list[list[tuple[str, float, str]]] = [[], []]
    for side, constants in enumerate((theirs, mine)):
        shared = Counter(common)
        for op, value, context in typed(constants):
            if shared[(op, value)] > 0:
                shared[(op, value)] -= 1
            else:
                rest[side].append((op, value, context))
    out: list[tuple[str, float, float]] = []
    for op, value, context in rest[0]:
        match = next((k for k, other in enumerate(rest[1]) if other[0] == op), None)
        if match is not None:
            out.append((context, value, rest[1].pop(match)[1]))
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
                )
            )
    return causes


def _types(unit: Unit) -> list[str]:
    """The op types of an op unit (``ConcatV2(a, b, 1)`` -> ``ConcatV2``)."""
    return [t.split("(")[0] for t in unit.ops]


def _is_cast(unit: Unit) -> bool:
    return unit.kind == "op" and unit.name in {f"Cast to {dtype}" for dtype in _CASTS}


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
        canon_mine = {_CANONICAL.get(t, t) for t in mine}
        canon_theirs = {_CANONICAL.get(t, t) for t in theirs}
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
