"""The TensorFlow ops one call of a layer runs (what a localisation finding lists).

The layer is traced alone (``tf.function(...).get_concrete_function().graph``), before any XLA
fusion; ops in nested functions (loops, conditionals) are included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: name scopes of the harness's own ops (left out of op listings)
HARNESS = "pairbench_harness"
DENSIFY = "pairbench_densify"
#: op types that carry no computation of their own
NOISE_OPS = frozenset(
    {
        "Identity",
        "IdentityN",
        "NoOp",
        "ReadVariableOp",
        "Const",
        "Placeholder",
        "VarHandleOp",
        "_Arg",
        "_Retval",
    }
)
#: op types that call nested functions (their ops are listed from the graph's library)
_FUNCTIONAL_OPS = frozenset(
    {"While", "StatelessWhile", "If", "StatelessIf", "PartitionedCall", "StatefulPartitionedCall", "Case"}
)


def layer_ops(
    layer: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], *, backward: bool = False
) -> list[str]:
    """The TensorFlow op types one call of a layer runs (deduplicated, in graph order).

    Args:
        layer: a Keras layer or a callable ``tf.Module``.
        args: the positional arguments of the call (as recorded by :class:`LayerCapture`).
        kwargs: its keyword arguments.
        backward: list the ops of the layer's gradient (w.r.t. its trainable variables and
            float inputs) instead of its forward ops.

    Returns:
        Op types such as ``["MatMul", "BiasAdd", "Relu"]``, without :data:`NOISE_OPS`. Ops in
        nested functions (loops, conditionals) are included.
    """
    import tensorflow as tf

    from suite.zoo.weights import is_keras

    fn = layer.call if is_keras(layer) else layer
    variables = list(layer.trainable_variables)

    def forward() -> Any:
        return fn(*args, **kwargs)

    def gradient() -> Any:
        watched = [
            t for t in tf.nest.flatten((args, dict(kwargs))) if tf.is_tensor(t) and t.dtype.is_floating
        ]
        with tf.GradientTape() as tape:
            tape.watch(watched)
            out = fn(*args, **kwargs)
            with tf.name_scope(HARNESS):
                parts = [
                    tf.reduce_sum(tf.cast(o, tf.float32)) for o in tf.nest.flatten(out) if tf.is_tensor(o)
                ]
                total = tf.add_n(parts)
        grads = tape.gradient(total, variables + watched)
        with tf.name_scope(DENSIFY):
            return [tf.convert_to_tensor(g) for g in grads if g is not None]

    graph_fn = tf.function(gradient if backward else forward)
    concrete = graph_fn.get_concrete_function()
    found: list[str] = []
    nested = False
    for op in concrete.graph.get_operations():
        name = op.name
        if op.type in NOISE_OPS or HARNESS in name.split("/"):
            continue
        in_backward = name.startswith("gradient_tape/") or name.startswith(DENSIFY)
        if backward != in_backward:
            continue
        nested |= op.type in _FUNCTIONAL_OPS
        if op.type not in found:
            found.append(op.type)
    if nested:
        for function in concrete.graph.as_graph_def().library.function:
            for node in function.node_def:
                if node.op not in NOISE_OPS and node.op not in found:
                    found.append(node.op)
    return found
