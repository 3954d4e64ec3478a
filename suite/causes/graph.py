"""A member's traced graph as a list of ops, each with its layer and the variables it reads and writes.

:func:`read_graph` traces ``model(x, training=...)`` with ``tf.function`` (nothing runs, as
:func:`suite.zoo.forward.trace_forward` does) and keeps, op by op in graph order:

- the op type and the dtype it casts to (``Cast``: ``DstT``);
- the layer whose name scope holds it (Keras opens a scope per layer call: the innermost
  scope that names one of the member's layers), or none (ops in ``call()`` itself, raw code);
- the followed variables it reads (``ReadVariableOp``) and writes (``AssignVariableOp``...);
- whether it draws random numbers.

That is what the cause engine compares between two members, in order
(:mod:`suite.causes.graph_diff`) and for training semantics (:mod:`suite.causes.training`):
which moving statistics a training pass updates, which dropout draws a mask, which layer is
called twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: op types that write a resource variable
_WRITES = re.compile(r"^(Assign(Add|Sub)?VariableOp|ResourceApply|ResourceScatter|ResourceSparseApply)")
#: op types that compute nothing a reader of the graph cares about
SKIPPED = frozenset(
    {
        "Const",
        "NoOp",
        "Placeholder",
        "Identity",
        "IdentityN",
        "ReadVariableOp",
        "Shape",
        "StridedSlice",
        "Pack",
        "Reshape",
        "ExpandDims",
        "Squeeze",
        "StopGradient",
        "VarHandleOp",
        "ShapeN",
        "Fill",
        "Range",
        "ConcatV2",
        "Prod",
        "GatherV2",
        "Size",
        "Rank",
        "BroadcastTo",
        "BroadcastArgs",
    }
)


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
    """

    type: str
    layer: int = 0
    reads: tuple[int, ...] = ()
    writes: tuple[int, ...] = ()
    cast_to: str = ""
    random: bool = False


@dataclass
class OpGraph:
    """A traced pass (:func:`read_graph`).

    Attributes:
        ops: every op in graph order.
        layer_names: layer ``id`` -> its name.
        losses: layer ``id`` (0: the model itself) -> number of loss terms it added in the
            pass (``add_loss``, activity regularizers).
    """

    ops: list[Op] = field(default_factory=list)
    layer_names: dict[int, str] = field(default_factory=dict)
    losses: dict[int, int] = field(default_factory=dict)

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
    import tensorflow as tf

    from suite.zoo.forward import is_random_op, tf_variable
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
    out = OpGraph(layer_names={id(layer): layer.name for layer in layers})
    for layer in [model, *layers]:
        own = len(getattr(layer, "_losses", None) or [])
        if own:
            out.losses[0 if layer is model else id(layer)] = own
    for op in graph.get_operations():
        if op.type == "Placeholder":
            continue
        handles = [placeholder_var[t.op.name] for t in op.inputs if t.op.name in placeholder_var]
        reads = tuple(handles) if op.type == "ReadVariableOp" else ()
        writes = tuple(handles) if _WRITES.match(op.type) else ()
        owner = 0
        for part in op.name.split("/")[:-1]:
            layer = _scope_owner(part, by_name)
            if layer is not None:
                owner = id(layer)
        cast_to = ""
        if op.type == "Cast":
            try:
                cast_to = op.get_attr("DstT").name
            except (ValueError, AttributeError):
                cast_to = ""
        out.ops.append(
            Op(
                type=op.type,
                layer=owner,
                reads=reads,
                writes=writes,
                cast_to=cast_to,
                random=is_random_op(op),
            )
        )
    return out
