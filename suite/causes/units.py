"""A traced graph read as a sequence of units, the granularity two members are compared at.

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
alike.
:mod:`suite.causes.graph_diff` diffs two such sequences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from suite.causes.graph import INPUT, OTHER, Op, OpGraph, consumers

#: op types that compute the same math as another (what ``rounding`` can say)
CANONICAL = {
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
CASTS = ("float16", "bfloat16", "float64")
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
            layer raw code writes (:func:`suite.causes.constants.constant_causes`).
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


def number_text(value: float) -> str:
    return f"{int(value)}" if value == int(value) and abs(value) < 1e6 else f"{value:.4g}"


def _const_text(op: Op, axis_rank: int = -1) -> str:
    if op.value is None:
        return f"const{op.shape}" if op.shape else "const"
    values = list(op.value)
    if axis_rank > 0:
        values = [v % axis_rank if v == int(v) else v for v in values]
    if len(values) == 1 and (not op.shape or len(op.value) == 1):
        uniform = " (every element)" if op.shape and any(d > 1 for d in op.shape) else ""
        return number_text(values[0]) + uniform
    if len(values) <= 4:
        return "(" + ", ".join(number_text(v) for v in values) + ")"
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
            if op.cast_to in CASTS:
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


def chain_text(texts: list[str]) -> str:
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
