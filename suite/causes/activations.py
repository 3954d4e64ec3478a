"""Activations recognised from a traced graph's ops, whatever wrote them.

An activation is a small piece of data flow: ``gelu`` is ``Mul(Mul(0.5, x), Erfc(Mul(Neg(x),
0.7071)))`` in Keras 3, ``silu`` is ``Mul(x, Sigmoid(Mul(1.0, x)))``, ``relu`` one ``Relu``.
Each activation Keras offers (``keras.activations``), and the ``tf.nn`` spellings of them
(``tf.nn.gelu(approximate=True)``, ``x * tf.sigmoid(x)``), is traced once on a placeholder
into a **template**; :func:`find` looks for the templates in a graph (op types, the data flow
between them, constants equal to the template's: ``tf.clip_by_value(x, 0, 6)`` is not
``hard_tanh``), largest first, so that ``hard_silu`` is not read as ``hard_sigmoid`` times x.

A layer's ``activation`` argument decides what its activation is called when its ops match no
template (a user's own function is traced as a template of its own, named after it), and is
never contradicted: a match of another name inside a layer whose ``activation`` names a Keras
activation keeps the argument's name. Names are Keras' (``swish`` is ``silu``, ``hard_swish``
is ``hard_silu``); a leaky ReLU says its slope (``leaky_relu(negative_slope=0.3)``), gelu's
tanh approximation says so (``gelu(approximate=True)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from suite.causes.graph import INPUT, Op, OpGraph

#: the same function under another name (Keras' aliases, ``tf.nn``'s names)
ALIASES = {
    "swish": "silu",
    "hard_swish": "hard_silu",
    "softmax_v2": "softmax",
    "log_softmax_v2": "log_softmax",
    "sigmoid_v2": "sigmoid",
    "leaky_relu_v2": "leaky_relu",
}
#: ops whose operands may be swapped
COMMUTATIVE = frozenset({"Mul", "AddV2", "Add", "Maximum", "Minimum"})
#: Keras activations that need more than one argument or depend on the input's shape
_SKIPPED = frozenset({"threshold", "sparsemax", "linear", "get", "serialize", "deserialize"})


def canonical(name: str) -> str:
    """An activation's name as Keras calls it (``swish`` -> ``silu``)."""
    return ALIASES.get(name, name)


def callable_name(fn: Any) -> str:
    """The name of an activation callable (``relu`` for ``tf.nn.relu`` and ``"relu"``)."""
    if fn is None:
        return "linear"
    if isinstance(fn, str):
        return canonical(fn)
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return canonical(name)


@dataclass(frozen=True)
class Template:
    """One activation's ops, as traced on a placeholder (:data:`~suite.causes.graph.INPUT`)."""

    name: str
    ops: tuple[Op, ...]
    output: int

    @property
    def size(self) -> int:
        return sum(1 for op in self.ops if op.type != "Const")


@dataclass(frozen=True)
class Found:
    """An activation found in a graph.

    Attributes:
        name: what it is called (``gelu``, ``leaky_relu(negative_slope=0.3)``).
        ops: indexes of its ops (constants left out).
        output: index of the op that produces its result.
        source: index of the op producing its input (:data:`INPUT` for the traced inputs).
    """

    name: str
    ops: frozenset[int]
    output: int
    source: int


_LIBRARY: list[Template] | None = None
_OWN: dict[int, Template | None] = {}


def _trace(fn: Any, name: str) -> Template | None:
    """A template of ``fn`` (None when it cannot be traced on a float32 (2, 8) placeholder)."""
    import tensorflow as tf

    from suite.causes.graph import graph_ops

    try:
        traced = tf.function(lambda x: fn(x), autograph=False)
        graph = traced.get_concrete_function(tf.TensorSpec((2, 8), tf.float32)).graph
    except Exception:  # an activation that needs another shape or more arguments
        return None
    ops, roots = graph_ops(graph, 1)
    if not roots or roots[0] < 0:
        return None
    template = Template(name, tuple(ops), roots[0])
    return template if template.size else None


def library() -> list[Template]:
    """Every known activation's template, largest first (traced once per process)."""
    global _LIBRARY
    if _LIBRARY is None:
        import keras
        import tensorflow as tf

        found: list[Template] = []
        for name in sorted(dir(keras.activations)):
            fn = getattr(keras.activations, name)
            if name.startswith("_") or name in _SKIPPED or not callable(fn):
                continue
            template = _trace(fn, callable_name(fn))
            if template is not None:
                found.append(template)
        extra = {
            "gelu(approximate=True)": [lambda x: keras.activations.gelu(x, approximate=True)],
            "gelu": [tf.nn.gelu],
            "silu": [lambda x: x * tf.sigmoid(x), lambda x: tf.sigmoid(x) * x],
            "log_sigmoid": [tf.math.log_sigmoid],
        }
        for name, fns in extra.items():
            found += [t for t in (_trace(fn, name) for fn in fns) if t is not None]
        unique: dict[tuple[Any, ...], Template] = {}
        for template in found:
            unique.setdefault(_key(template), template)
        _LIBRARY = sorted(unique.values(), key=lambda t: -t.size)
    return _LIBRARY


def _key(template: Template) -> tuple[Any, ...]:
    """What a template computes (two functions with one key are one activation)."""
    return tuple((op.type, op.inputs, op.ports, op.value) for op in template.ops)


def _own(fn: Any) -> Template | None:
    """A template of a layer's own activation function (named after it)."""
    key = id(fn)
    if key not in _OWN:
        _OWN[key] = _trace(fn, callable_name(fn))
    return _OWN[key]


def _close(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> bool:
    if a is None or b is None or len(a) != len(b):
        return False
    return all(abs(x - y) <= 1e-3 * max(abs(x), abs(y)) + 1e-12 for x, y in zip(a, b, strict=True))


def _match(
    template: Template, t: int, ops: list[Op], g: int, bound: dict[int, int], taken: set[int]
) -> dict[int, int] | None:
    """Bind template op ``t`` to graph op ``g`` (and their inputs); the bindings, or None.

    ``bound`` maps template op indexes (and :data:`INPUT`) to graph op indexes.
    """
    if t == INPUT:
        if INPUT in bound:
            return bound if bound[INPUT] == g else None
        return {**bound, INPUT: g}
    if t < 0 or g < 0 or g in taken:
        return None
    if t in bound:
        return bound if bound[t] == g else None
    mine, theirs = template.ops[t], ops[g]
    if mine.type != theirs.type or len(mine.inputs) != len(theirs.inputs):
        return None
    if mine.type == "Const":
        return {**bound, t: g} if _close(mine.value, theirs.value) else None
    bound = {**bound, t: g}
    pairs = list(zip(theirs.inputs, theirs.ports or (0,) * len(theirs.inputs), strict=True))
    orders = [pairs]
    if mine.type in COMMUTATIVE and len(pairs) == 2:
        orders.append(pairs[::-1])
    ports = mine.ports or (0,) * len(mine.inputs)
    for order in orders:
        trial: dict[int, int] | None = bound
        for t_in, t_port, (g_in, g_port) in zip(mine.inputs, ports, order, strict=True):
            if trial is None or t_port != g_port:
                trial = None
                break
            trial = _match(template, t_in, ops, g_in, trial, taken)
        if trial is not None:
            return trial
    return None


def _name(template: Template, ops: list[Op], members: frozenset[int]) -> str:
    """The template's name, with a leaky ReLU's slope read from its op."""
    for i in sorted(members):
        if ops[i].type == "LeakyRelu":
            alpha = dict(ops[i].attrs).get("alpha")
            if alpha is not None:
                return f"{template.name}(negative_slope={alpha})"
    return template.name


def _scan(templates: list[Template], ops: list[Op], taken: set[int]) -> list[Found]:
    found: list[Found] = []
    for template in templates:
        root = template.ops[template.output].type
        for g in range(len(ops) - 1, -1, -1):
            if ops[g].type != root or g in taken:
                continue
            bound = _match(template, template.output, ops, g, {}, taken)
            if bound is None:
                continue
            members = frozenset(v for k, v in bound.items() if k != INPUT and template.ops[k].type != "Const")
            taken |= members
            found.append(Found(_name(template, ops, members), members, g, bound.get(INPUT, INPUT)))
    return found


def find(graph: OpGraph) -> list[Found]:
    """The activations of a traced pass (see the module docstring), in graph order.

    Inside a layer whose ``activation`` argument names a function, the activation found there
    takes the function's name when the two disagree; a function no template knows is traced
    as a template of its own; when nothing matches at all, the layer's last op stands for it.
    """
    ops = graph.ops
    taken = {i for i, op in enumerate(ops) if op.layer in graph.internal}  # Keras' own layers' ops
    known = {t.name.split("(")[0] for t in library()}
    keys = {_key(t) for t in library()}
    own = [t for t in (_own(fn) for fn in graph.activations.values()) if t is not None]
    # a user's function first (it may be built of known ones: x * tanh(exp(x))), unless it
    # computes what a known activation does (then it is called that)
    found = _scan([t for t in own if t.name not in known and _key(t) not in keys], ops, taken)
    found += _scan(library(), ops, taken)
    by_layer: dict[int, list[Found]] = {}
    for f in found:
        layers = {ops[i].layer for i in f.ops}
        if len(layers) == 1:
            by_layer.setdefault(layers.pop(), []).append(f)
    for layer, fn in graph.activations.items():
        expected = callable_name(fn)
        inside = by_layer.get(layer, [])
        if any(f.name.split("(")[0] == expected for f in inside):
            continue
        if inside and expected not in known:  # a user's function (a lambda) doing what a known one does
            continue
        if inside:  # another Keras activation than the layer's argument: the argument is what was written
            last = inside[-1]
            found[found.index(last)] = Found(expected, last.ops, last.output, last.source)
            continue
        mine = [
            i
            for i, op in enumerate(ops)
            if op.layer == layer and op.type != "Const" and op.dtype and i not in taken
        ]
        if mine:  # its ops are unknown: all of an Activation layer's, a Dense's last op
            members = frozenset(mine) if layer not in graph.weighted else frozenset({max(mine)})
            taken |= members
            found.append(Found(expected, members, max(members), INPUT))
    return sorted(found, key=lambda f: min(f.ops))
