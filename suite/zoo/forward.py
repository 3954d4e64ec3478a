"""What a member's forward pass does, read from its traced graph.

:func:`trace_forward` traces ``model(x, training=...)`` with ``tf.function`` (nothing runs) and
reads the graph TensorFlow built, for any member: Keras models of every flavor, nested
sub-models, ``tf.Module`` code and raw ``tf.Variable`` attributes alike:

- the order in which variables are first used (the order of the forward pass, not of
  attribute assignment, and the same however the model is nested);
- for each variable, the op that consumes it (``MatMul``, ``BiasAdd``, ``Conv2D``...);
- the op sequence as tokens: variable uses and computing ops (``var(kernel), MatMul,
  var(bias), BiasAdd, Relu``), so two members' activations can be compared even when
  neither exposes them as attributes (:data:`ACTIVATION_OPS`);
- the random ops (and the layer whose name scope holds them): a forward pass that draws
  random numbers with ``training=False`` gives a different output on every call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from suite.zoo.paths import call_model

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

#: ops that pass a variable's value through unchanged (looked through to find its consumer)
_TRANSPARENT = {"ReadVariableOp", "Identity", "Cast", "IdentityN", "Reshape", "ExpandDims", "Squeeze"}
#: random ops: stateful ones, and stateless ones whose seed is not a constant
#: ops that compute nothing a reader of the op sequence cares about
_NOT_COMPUTING = {"Const", "NoOp", "Shape", "StridedSlice", "Pack", "Placeholder"}
_RANDOM = re.compile(r"Random|TruncatedNormal|Multinomial|^Rng|^Stateful(Uniform|StandardNormal|Truncated)")
_STATELESS = re.compile(r"^Stateless")


@dataclass
class ForwardTrace:
    """What one traced forward pass did.

    Attributes:
        order: ``id`` of each given variable, in the order the pass first used it.
        consumers: variable ``id`` -> op type that consumes its value (``MatMul``...).
        tokens: in graph order, ``("var", id)`` at a variable's first use and ``("op", type)``
            for every op that computes something (reads, casts and constants left out).
        random_ops: names of the ops that draw random numbers.
        reads: variable ``id`` -> how many ops read it (a layer called twice reads its
            variables twice: shared weights).
    """

    order: list[int] = field(default_factory=list)
    consumers: dict[int, str] = field(default_factory=dict)
    tokens: list[tuple[str, Any]] = field(default_factory=list)
    random_ops: list[str] = field(default_factory=list)
    reads: dict[int, int] = field(default_factory=dict)


def tf_variable(var: Any) -> Any:
    """The ``tf.Variable`` behind a variable (a Keras 3 variable wraps one)."""
    import tensorflow as tf

    if isinstance(var, tf.Variable):
        return var
    inner = getattr(var, "_value", None)
    return inner if isinstance(inner, tf.Variable) else var.value


def _sample(x: Any) -> Any:
    import tensorflow as tf

    return tf.nest.map_structure(tf.convert_to_tensor, x)


def trace_forward(model: Any, x: Any, variables: list[Any], *, training: bool = False) -> ForwardTrace:
    """Trace ``model(x, training=training)`` and read the graph (see the module docstring).

    Args:
        model: a built member.
        x: a batch of inputs (numpy or tensors, possibly nested), already in the dtype the
            member is called with.
        variables: the variables to follow (tracked and untracked).
        training: the ``training`` argument of the traced call.

    Returns:
        The :class:`ForwardTrace`; variables the pass never touches are absent from ``order``.

    Raises:
        Exception: whatever tracing the member raises (the caller decides what that means).
    """
    import tensorflow as tf

    by_handle = {id(tf_variable(v).handle): id(v) for v in variables}
    fn = tf.function(lambda inp: call_model(model, inp, training))
    graph = fn.get_concrete_function(_sample(x)).graph
    placeholder_var = {
        internal.op.name: by_handle[id(external)]
        for external, internal in graph.captures
        if id(external) in by_handle
    }
    trace = ForwardTrace()
    for op in graph.get_operations():
        if op.type == "Placeholder":
            continue
        for tensor in op.inputs:
            var_id = placeholder_var.get(tensor.op.name)
            if var_id is not None and op.type == "ReadVariableOp":
                trace.reads[var_id] = trace.reads.get(var_id, 0) + 1
            if var_id is not None and var_id not in trace.consumers:
                trace.order.append(var_id)
                trace.consumers[var_id] = _consumer(op)
                trace.tokens.append(("var", var_id))
        if is_random_op(op):
            trace.random_ops.append(op.name)
        if op.type not in _TRANSPARENT and op.type not in _NOT_COMPUTING:
            trace.tokens.append(("op", op.type))
    return trace


def _consumer(op: Any) -> str:
    """The first op that does something with a value read by ``op`` (looking through reads)."""
    seen, frontier = set(), [op]
    while frontier:
        current = frontier.pop(0)
        if current.type not in _TRANSPARENT:
            return current.type
        if current.name in seen:
            continue
        seen.add(current.name)
        for out in current.outputs:
            frontier += sorted(out.consumers(), key=lambda o: o._id)
    return op.type


def is_random_op(op: Any) -> bool:
    """A random op whose numbers can change from call to call (a constant seed cannot)."""
    if not _RANDOM.search(op.type) or op.type in ("StatelessRandomGetAlg",):
        return False
    if not _STATELESS.match(op.type):
        return True
    if "V2" in op.type or op.type == "StatelessRandomGetKeyCounterAlg":
        return False  # fed by a StatelessRandomGetKeyCounter, which is judged instead
    seed = op.inputs[0] if op.type == "StatelessRandomGetKeyCounter" else op.inputs[1]
    return seed.op.type != "Const"


def random_layers(trace: ForwardTrace, layer_names: list[str]) -> list[str]:
    """The layers whose name scopes hold the trace's random ops (innermost name that matches).

    Args:
        trace: a trace of an inference pass.
        layer_names: names of the member's layers (any depth).

    Returns:
        One label per random op's layer, in order of first appearance: the path of known
        layers in its name scope (``"my_dropout/dropout"``), or, for an op outside every known
        layer, its op name (``"op random_normal/RandomStandardNormal"``).
    """
    known = set(layer_names)
    found: list[str] = []
    for name in trace.random_ops:
        owners = [owner for part in name.split("/")[:-1] if (owner := _layer_of_scope(part, known))]
        label = "/".join(owners) if owners else f"op {name}"
        if label not in found:
            found.append(label)
    return found


def _layer_of_scope(part: str, known: set[str]) -> str | None:
    """The layer a name-scope component stands for. Keras suffixes the scopes it opens while
    tracing (``dense_1`` for layer ``dense``, ``dense_1_2`` for layer ``dense_1``), so the
    name without its last ``_N`` is tried first."""
    base = re.sub(r"_\d+$", "", part)
    if base != part and base in known:
        return base
    return part if part in known else None
