"""A member's traced graph as a list of ops, each with its layer and the variables it reads and writes.

:func:`read_graph` traces ``model(x, training=...)`` with ``tf.function`` (nothing runs, as
:func:`suite.zoo.forward.trace_forward` does) and keeps, op by op in graph order:

- the op type and the dtype it casts to (``Cast``: ``DstT``);
- the layer whose name scope holds it (Keras opens a scope per layer call: the innermost
  scope that names one of the member's layers), or none (ops in ``call()`` itself, raw code);
- the followed variables it reads (``ReadVariableOp``) and writes (``AssignVariableOp``...);
- whether it draws random numbers;
- its data flow: which ops produce its inputs (looked through identities), the dtype and
  rank of what it produces, the value of a small constant, and the attributes that change
  what a pooling or leaky ReLU computes.

With the layers' ``activation`` callables (:attr:`OpGraph.activations`), that is enough to
recognise an activation from its ops (:mod:`suite.causes.activations`) and to name an op
that runs outside every layer (``RealDiv(x, 2)`` on the input).

That is what the cause engine compares between two members, in order
(:mod:`suite.causes.graph_diff`) and for training semantics (:mod:`suite.causes.training`):
which moving statistics a training pass updates, which dropout draws a mask, which layer is
called twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: op types that write a resource variable
_WRITES = re.compile(r"^(Assign(Add|Sub)?VariableOp|ResourceApply|ResourceScatter|ResourceSparseApply)")


@dataclass(frozen=True)
class Op:
    """One op of a traced pass.

    Attributes:
        type: the op type (``MatMul``, ``Relu``...).
        layer: ``id`` of the layer object whose scope holds it, or 0.
        reads: ``id`` of each followed variable it reads.
        writes: ``id`` of each followed variable it writes.
        cast_to: the dtype a ``Cast`` produces (``float16``), else ``""``.
        random: it draws random numbers.
        inputs: the index (in :attr:`OpGraph.ops`) of the op producing each input, looked
            through ``Identity``/``IdentityN``; :data:`INPUT` for the traced call's inputs,
            :data:`OTHER` for anything else (a captured tensor).
        ports: which output of that op each input is (``Split`` has several).
        dtype: the dtype of its first output (``float32``), ``""`` when it has none.
        rank: the rank of its first output (-1: unknown or none).
        value: a constant's value, flattened, when it has at most :data:`_SMALL` elements or
            all are equal (then one); None otherwise and for other ops.
        shape: a constant's shape.
        attrs: ``(name, value)`` of the attributes that change what it computes (pooling
            windows, a leaky ReLU's slope).
    """

    type: str
    layer: int = 0
    reads: tuple[int, ...] = ()
    writes: tuple[int, ...] = ()
    cast_to: str = ""
    random: bool = False
    inputs: tuple[int, ...] = ()
    ports: tuple[int, ...] = ()
    dtype: str = ""
    rank: int = -1
    value: tuple[float, ...] | None = None
    shape: tuple[int, ...] = ()
    attrs: tuple[tuple[str, str], ...] = ()


@dataclass
class OpGraph:
    """A traced pass (:func:`read_graph`).

    Attributes:
        ops: every op in graph order.
        layer_names: layer ``id`` -> its name.
        layer_classes: layer ``id`` -> its class name.
        losses: layer ``id`` (0: the model itself) -> number of loss terms it added in the
            pass (``add_loss``, activity regularizers).
        activations: layer ``id`` -> its ``activation`` callable, for the layers that have one
            (``Dense``, ``Conv2D``, ``Activation``...; ``linear`` left out; not recurrent
            layers, whose activations run inside a loop).
        live: indexes of the ops the traced call's outputs depend on (a loss term computed
            for ``add_loss`` is not among them).
        input_rank: the rank of the traced call's (first) input.
        input_dtype: the dtype of the traced call's (first) input (``float16`` under a mixed
            policy: pairbench calls members with inputs in the compute dtype).
        internal: ``id`` of Keras' own layers with weights and no ``activation`` argument
            (``LSTM``, ``MultiHeadAttention``, ``BatchNormalization``...), and of every layer
            inside one, -> the outermost such layer: what runs inside them (the softmax of an
            attention) is their configuration's business, not a separate activation.
        weighted: ``id`` of the layers that own variables themselves (not through a sublayer).
        builtin: ``id`` of the layers of Keras' own classes (their ``get_config()`` says every
            constant their ops use).
    """

    ops: list[Op] = field(default_factory=list)
    layer_names: dict[int, str] = field(default_factory=dict)
    layer_classes: dict[int, str] = field(default_factory=dict)
    losses: dict[int, int] = field(default_factory=dict)
    activations: dict[int, Any] = field(default_factory=dict)
    internal: dict[int, int] = field(default_factory=dict)
    weighted: set[int] = field(default_factory=set)
    builtin: set[int] = field(default_factory=set)
    live: frozenset[int] = frozenset()
    input_rank: int = -1
    input_dtype: str = ""

    def reads(self) -> dict[int, int]:
        """Variable ``id`` -> how many ops read it."""
        out: dict[int, int] = {}
        for op in self.ops:
            for v in op.reads:
                out[v] = out.get(v, 0) + 1
        return out

    def written(self) -> set[int]:
        """``id`` of every followed variable the pass writes (moving statistics, seed state)."""
        return {v for op in self.ops for v in op.writes}

    def random_layers(self) -> list[int]:
        """Layers (``id``) that draw random numbers, in order; 0 for random ops outside any layer."""
        out: list[int] = []
        for op in self.ops:
            if op.random and op.layer not in out:
                out.append(op.layer)
        return out


#: :attr:`Op.inputs` of the traced call's inputs
INPUT = -1
#: :attr:`Op.inputs` of any other tensor the graph did not make (a captured constant, a variable)
OTHER = -2
#: constants with at most this many elements keep their value
_SMALL = 16
#: ops that pass their input through (looked through in :attr:`Op.inputs`)
_PASS = frozenset({"Identity", "Snapshot"})
#: attributes kept in :attr:`Op.attrs`, by op type
_ATTRS = {
    "MaxPool": ("ksize", "strides", "padding"),
    "AvgPool": ("ksize", "strides", "padding"),
    "MaxPool3D": ("ksize", "strides", "padding"),
    "AvgPool3D": ("ksize", "strides", "padding"),
    "LeakyRelu": ("alpha",),
}


def _const(op: Any) -> tuple[tuple[float, ...] | None, tuple[int, ...]]:
    """``(value, shape)`` of a constant (value None when large and not uniform, or not numeric)."""
    import numpy as np
    import tensorflow as tf

    try:
        array = tf.make_ndarray(op.get_attr("value"))
    except Exception:  # a string or resource constant
        return None, ()
    shape = tuple(int(d) for d in array.shape)
    if array.dtype.kind not in "biuf":
        return None, shape
    flat = array.reshape(-1)
    if flat.size and bool(np.all(flat == flat[0])) and flat.size > 1:
        return (float(flat[0]),), shape
    if flat.size > _SMALL:
        return None, shape
    return tuple(float(v) for v in flat), shape


def _attrs(op: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for name in _ATTRS.get(op.type, ()):
        try:
            value = op.get_attr(name)
        except (ValueError, AttributeError):
            continue
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, list):
            value = "x".join(str(v) for v in value)
        if isinstance(value, float):
            value = f"{value:.4g}"
        out.append((name, str(value)))
    return tuple(out)


def _layers(model: Any) -> list[Any]:
    from suite.zoo.paths import is_keras

    if not is_keras(model):
        return []
    return list(model._flatten_layers(include_self=False, recursive=True))


def _scope_owner(part: str, by_name: dict[str, Any]) -> Any:
    """The layer a name-scope component stands for (Keras suffixes scopes opened while tracing:
    ``dense_1`` for layer ``dense``, ``dense_1_2`` for layer ``dense_1``)."""
    base = re.sub(r"_\d+$", "", part)
    if base != part and base in by_name:
        return by_name[base]
    return by_name.get(part)


def _owner(op_name: str, by_name: dict[str, Any]) -> int:
    """``id`` of the innermost layer whose scope holds an op, or 0."""
    owner = 0
    for part in op_name.split("/")[:-1]:
        layer = _scope_owner(part, by_name)
        if layer is not None:
            owner = id(layer)
    return owner


def graph_ops(
    graph: Any,
    n_inputs: int,
    *,
    owner: Callable[[str], int] | None = None,
    variable: dict[str, int] | None = None,
) -> tuple[list[Op], list[int]]:
    """The ops of a traced ``FuncGraph`` in graph order (see :class:`Op`), and the indexes of
    those producing its outputs.

    Args:
        graph: the traced graph.
        n_inputs: how many of ``graph.inputs`` are the traced call's inputs (the rest are
            captures).
        owner: op name -> ``id`` of the layer whose scope holds it (0: none).
        variable: placeholder op name of a captured variable -> the followed variable's ``id``.
    """
    from suite.zoo.forward import is_random_op

    variable = variable or {}
    inputs = {t.op.name for t in graph.inputs[:n_inputs]}
    index: dict[str, int] = {}

    def source(t: Any) -> tuple[int, int]:
        """``(index of the op producing t, which of its outputs)``, looked through identities."""
        while True:
            op = t.op
            if op.type == "Placeholder" and op.name in inputs:
                return INPUT, 0
            if op.type in _PASS and op.inputs:
                t = op.inputs[0]
            elif op.type == "IdentityN":
                t = op.inputs[t.value_index]
            else:
                return index.get(op.name, OTHER), t.value_index

    ops: list[Op] = []
    for op in graph.get_operations():
        if op.type == "Placeholder":
            continue
        handles = [variable[t.op.name] for t in op.inputs if t.op.name in variable]
        cast_to = ""
        if op.type == "Cast":
            try:
                cast_to = op.get_attr("DstT").name
            except (ValueError, AttributeError):
                cast_to = ""
        first = op.outputs[0] if op.outputs else None
        value, shape = _const(op) if op.type == "Const" else (None, ())
        sources = [source(t) for t in op.inputs]
        index[op.name] = len(ops)
        ops.append(
            Op(
                type=op.type,
                layer=owner(op.name) if owner else 0,
                reads=tuple(handles) if op.type == "ReadVariableOp" else (),
                writes=tuple(handles) if _WRITES.match(op.type) else (),
                cast_to=cast_to,
                random=is_random_op(op),
                inputs=tuple(i for i, _ in sources),
                ports=tuple(p for _, p in sources),
                dtype=first.dtype.name if first is not None else "",
                rank=first.shape.rank if first is not None and first.shape.rank is not None else -1,
                value=value,
                shape=shape,
                attrs=_attrs(op),
            )
        )
    return ops, [source(t)[0] for t in graph.outputs]


def live(ops: list[Op], roots: list[int]) -> frozenset[int]:
    """Indexes of the ops ``roots`` depend on (themselves included)."""
    seen: set[int] = set()
    todo = [r for r in roots if r >= 0]
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        todo += [j for j in ops[i].inputs if j >= 0 and j not in seen]
    return frozenset(seen)


def consumers(ops: list[Op]) -> dict[int, list[int]]:
    """Index of an op (:data:`INPUT` for the traced call's inputs) -> the indexes of the ops
    taking its results, in graph order."""
    out: dict[int, list[int]] = {i: [] for i in range(len(ops))}
    out[INPUT] = []
    for i, op in enumerate(ops):
        for j in dict.fromkeys(op.inputs):
            if j in out:
                out[j].append(i)
    return out


def read_graph(model: Any, x: Any, variables: list[Any], *, training: bool) -> OpGraph:
    """Trace ``model(x, training=training)`` and read its ops (see the module docstring).

    Args:
        model: a built member.
        x: inputs in the dtype the member is called with.
        variables: the variables to follow (their ``id`` keys the ops' reads and writes).
        training: the ``training`` argument of the traced call.

    Returns:
        The :class:`OpGraph`.

    Raises:
        Exception: whatever tracing the member raises (the caller decides what it means).
    """
    import keras
    import tensorflow as tf

    from suite.zoo.forward import tf_variable
    from suite.zoo.paths import call_model

    by_handle = {id(tf_variable(v).handle): id(v) for v in variables}
    layers = _layers(model)
    by_name: dict[str, Any] = {}
    for layer in layers:
        by_name.setdefault(layer.name, layer)
    sample = tf.nest.map_structure(tf.convert_to_tensor, x)
    try:  # Keras layers need no autograph; tracing without it is several times faster
        graph = tf.function(lambda inp: call_model(model, inp, training), autograph=False)
        graph = graph.get_concrete_function(sample).graph
    except Exception:  # Python control flow on tensors in a user's call(): autograph converts it
        graph = tf.function(lambda inp: call_model(model, inp, training)).get_concrete_function(sample).graph
    placeholder_var = {
        internal.op.name: by_handle[id(external)]
        for external, internal in graph.captures
        if id(external) in by_handle
    }
    out = OpGraph(
        layer_names={id(layer): layer.name for layer in layers},
        layer_classes={id(layer): type(layer).__name__ for layer in layers},
    )
    for layer in [model, *layers]:
        own = len(getattr(layer, "_losses", None) or [])
        if own:
            out.losses[0 if layer is model else id(layer)] = own
    for layer in layers:  # outer layers first
        recurrent = hasattr(layer, "recurrent_activation") or hasattr(layer, "cell")
        fn = getattr(layer, "activation", None) if not recurrent else None
        if callable(fn) and getattr(fn, "__name__", "") != "linear":
            out.activations[id(layer)] = fn
        children = list(layer._flatten_layers(include_self=False, recursive=True))
        inner = {id(v) for child in children for v in child.weights}
        if any(id(v) not in inner for v in layer.weights):
            out.weighted.add(id(layer))
        keras_own = type(layer).__module__.startswith(("keras", "tf_keras"))
        if keras_own:
            out.builtin.add(id(layer))
        keras_own = keras_own and not isinstance(layer, keras.Model) and bool(layer.weights)
        if id(layer) not in out.internal and keras_own and (recurrent or not hasattr(layer, "activation")):
            out.internal.update({id(x): id(layer) for x in [layer, *children]})
    out.ops, roots = graph_ops(
        graph,
        len(tf.nest.flatten(sample)),
        owner=lambda name: _owner(name, by_name),
        variable=placeholder_var,
    )
    out.live = live(out.ops, roots)
    out.input_rank = tf.nest.flatten(sample)[0].shape.rank or -1
    out.input_dtype = tf.nest.flatten(sample)[0].dtype.name
    return out
