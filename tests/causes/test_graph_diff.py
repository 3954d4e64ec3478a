"""Two graphs' units compared in order (pure: units made by hand)."""

from __future__ import annotations

import pytest

from suite.causes.cause import headline
from suite.causes.constants import _paired_constants
from suite.causes.graph import INPUT, Op, OpGraph
from suite.causes.graph_diff import diff_units, rounding_causes
from suite.causes.units import Unit, units


def _seq(*names):
    out = []
    for name in names:
        kind, _, label = name.partition(":")
        out.append(Unit(kind, label, ["MatMul", "BiasAdd"] if kind == "layer" else []))
    return out


def test_a_moved_activation_is_an_order_change_with_both_orders():
    ref = _seq("layer:dense", "layer:batch_normalization", "act:relu", "layer:dense_1", "act:softmax")
    mem = _seq("layer:dense", "act:relu", "layer:batch_normalization", "layer:dense_1", "act:softmax")
    (cause,) = diff_units(ref, mem)
    assert cause.kind == "op-order" and cause.where == "dense"
    assert (cause.member, cause.reference) == ("relu -> batch_normalization", "batch_normalization -> relu")


def test_missing_extra_and_other_activations_and_casts():
    ref = _seq("layer:dense", "act:relu", "layer:dense_1")
    assert [
        (c.kind, c.where, c.member, c.reference)
        for c in diff_units(ref, _seq("layer:dense", "layer:dense_1"))
    ] == [("activation", "dense", "None", "relu")]
    (gelu,) = diff_units(ref, _seq("layer:dense", "act:gelu", "layer:dense_1"))
    assert (gelu.member, gelu.reference) == ("gelu", "relu")
    (cast,) = diff_units(ref, _seq("layer:dense", "op:Cast to float16", "act:relu", "layer:dense_1"))
    assert cast.kind == "dtype-policy" and cast.member == "casts to float16"
    (pool,) = diff_units(_seq("layer:conv", "op:MaxPool", "layer:dense"), _seq("layer:conv", "layer:dense"))
    assert (pool.kind, pool.attribute, pool.member) == ("extra-op", "MaxPool", "absent")
    training = diff_units(ref, _seq("layer:dense", "layer:dense_1"), phase="training")
    assert training[0].affects == "training"


def test_equivalent_structures_read_alike_and_other_kernels_are_only_rounding():
    ref = _seq("layer:dense", "act:relu", "layer:dense_1", "act:softmax")
    assert diff_units(ref, _seq("layer:dense", "act:relu", "layer:dense_1", "act:softmax")) == []
    einsum = [Unit("layer", "dense", ["Einsum", "AddV2"]), Unit("act", "relu")]
    (rounding,) = rounding_causes(
        [Unit("layer", "dense", ["MatMul", "BiasAdd"]), Unit("act", "relu")], einsum
    )
    assert rounding.kind == "rounding" and rounding.confidence == "possible"
    assert (rounding.member, rounding.reference) == ("AddV2, Einsum", "BiasAdd, MatMul")
    other_math = [Unit("layer", "dense", ["MatMul", "BiasAdd", "Mul"])]
    (other,) = rounding_causes([Unit("layer", "dense", ["MatMul", "BiasAdd"])], other_math)
    assert other.kind == "op-substitution" and (other.member, other.reference) == ("Mul", "-")
    assert headline(other) == "ops in dense: Mul vs -"


def _units(*names):
    """Units from ``kind:name`` words; ``layer:dropout*`` draws random numbers, ``act:relu@dense``
    is the activation its layer's own scope holds (``Dense(16, activation="relu")``), and a layer
    unit is fed by the unit before it and the layer before (``("input",)`` at the start)."""
    out: list[Unit] = []
    for name in names:
        kind, _, label = name.partition(":")
        label, _, owner = label.partition("@")
        unit = Unit(kind, label.rstrip("*"), ["Mul"] if kind == "layer" else [], owner=owner)
        unit.random = label.endswith("*")
        if kind == "layer":
            layers = [u.name for u in out if u.kind == "layer"]
            unit.sources = {(*out[-1].key, layers[-1] if layers else "input") if out else ("input",)}
        out.append(unit)
    return out


def test_a_layer_moved_past_others_is_said_with_both_places():
    ref = _units("layer:dense", "act:relu@dense", "layer:dropout*", "layer:dense_1")
    mem = _units("layer:dropout*", "layer:dense", "act:relu@dense", "layer:dense_1")
    (cause,) = diff_units(ref, mem, phase="training")
    assert (cause.kind, cause.where, cause.attribute) == ("op-order", "dropout", "place")
    assert headline(cause) == "order of ops: dropout before dense vs after dense"
    assert cause.affects == "training"
    assert "dropout -> dense -> relu vs dense -> relu -> dropout -> dense_1" in cause.evidence
    # between two other layers: after which one
    ref3 = _units("layer:dense", "act:relu@dense", "layer:dropout*", "layer:dense_1", "act:relu@dense_1")
    mem3 = _units("layer:dense", "act:relu@dense", "layer:dense_1", "act:relu@dense_1", "layer:dropout*")
    (later,) = diff_units(ref3, mem3)
    assert headline(later) == "order of ops: dropout after dense_1 vs after dense"


def test_a_random_layer_that_swapped_places_with_a_dense_is_the_one_said_to_move():
    ref = _units("layer:dense", "act:relu@dense", "layer:dropout*", "layer:dense_1")
    mem = _units("layer:dense", "act:relu@dense", "layer:dense_1", "layer:dropout*")
    (cause,) = diff_units(ref, mem, phase="training")
    assert headline(cause) == "order of ops: dropout after dense_1 vs after dense"


def test_a_moved_layer_carries_its_own_activation_and_an_op_moved_far_is_said_by_place():
    ref = _units("layer:dense", "act:relu@dense", "layer:dense_1", "act:tanh@dense_1", "layer:dense_2")
    mem = _units("layer:dense_1", "act:tanh@dense_1", "layer:dense", "act:relu@dense", "layer:dense_2")
    moved = ["order of ops: dense_1 before dense vs after dense"]
    assert [headline(c) for c in diff_units(ref, mem)] == moved
    div = Unit("op", "RealDiv(x, 2)", ["RealDiv(x, 2)"])
    ref_op = [div, *_units("layer:dense", "act:relu@dense", "layer:d")]
    mem_op = [*_units("layer:dense", "act:relu@dense"), div, *_units("layer:d")]
    (op,) = diff_units(ref_op, mem_op)
    assert headline(op) == "order of ops: RealDiv(x, 2) after dense vs before dense"


def test_branches_traced_in_another_order_have_not_moved():
    ref = _units("layer:a", "layer:b", "op:ConcatV2(a, b, 1)", "layer:out")
    mem = _units("layer:b", "layer:a", "op:ConcatV2(a, b, 1)", "layer:out")
    for unit in ref[:2] + mem[:2]:
        unit.sources = {("input",)}
    assert diff_units(ref, mem) == []


# --- ops read one by one, said as one chain where the members differ ------------------------------
def test_free_ops_are_diffed_one_by_one_and_said_as_one_chain():
    pool = Unit("op", "MaxPool", ["MaxPool"], layer="pool_1 (MaxPooling2D)")
    gap = Unit("op", "Mean(x, (1, 2))", ["Mean(x, (1, 2))"], layer="gap (GlobalAveragePooling2D)")
    keras_scopes = [*_units("layer:bn_1"), pool, gap, *_units("layer:head")]
    raw_code = [*_units("layer:bn_1"), Unit("op", "MaxPool", ["MaxPool"]), Unit("op", "Mean(x, (1, 2))")]
    raw_code += _units("layer:head")
    assert diff_units(keras_scopes, raw_code) == []  # two scopes or none: the same ops
    extra = [Unit("op", "RealDiv(x, 2)", ["RealDiv(x, 2)"]), Unit("op", "AddV2(x, 1)", ["AddV2(x, 1)"])]
    (cause,) = diff_units(
        _units("layer:dense", "layer:dense_1"), [*_units("layer:dense"), *extra, *_units("layer:dense_1")]
    )
    assert headline(cause) == "extra op RealDiv(x, 2) -> AddV2(x, 1) after dense: runs vs absent"
    # ops of two Keras layers missing at one place stay two causes, each said with its layer
    (a, b) = diff_units(keras_scopes, [*_units("layer:bn_1"), *_units("layer:head")])
    assert (a.attribute, b.attribute) == (
        "MaxPool in pool_1 (MaxPooling2D)",
        "Mean(x, (1, 2)) in gap (GlobalAveragePooling2D)",
    )


# --- raw code: a layer's constants where no configuration says them -------------------------------
def _layer(name, cls, *constants):
    """A layer unit of class ``cls`` (``""``: raw code) whose AddV2 takes each constant."""
    return Unit(
        "layer",
        name,
        ["AddV2", "Rsqrt"],
        cls=cls,
        constants=[(f"AddV2 with a weight of {name}", c) for c in constants],
    )


def test_a_constant_of_a_raw_layer_is_a_configuration_with_both_values():
    (cause,) = diff_units([_layer("bn_0", "keras.BatchNormalization", 0.001)], [_layer("bn_0", "", 0.1)])
    assert (cause.kind, cause.where, cause.attribute) == ("configuration", "bn_0", "constant")
    assert headline(cause) == "configuration of bn_0: constant 0.1 vs 0.001"
    assert "AddV2 with a weight of bn_0" in cause.evidence
    training = diff_units([_layer("bn_0", "", 0.001)], [_layer("bn_0", "", 0.1)], phase="training")
    assert training[0].affects == "training"
    # the same epsilon; Keras' own layers or one class on both sides (their configuration says it)
    assert diff_units([_layer("bn_0", "keras.BatchNormalization", 0.001)], [_layer("bn_0", "", 0.001)]) == []
    keras_pair = (
        [_layer("bn_0", "keras.BatchNormalization", 0.001)],
        [_layer("bn_0", "keras.BatchNormalization", 0.1)],
    )
    assert diff_units(*keras_pair) == []
    assert diff_units([_layer("bn_0", "MyNorm", 0.001)], [_layer("bn_0", "MyNorm", 0.1)]) == []
    # a user's class against Keras' own: no get_config() comparison, the constants tell
    assert (
        len(diff_units([_layer("bn_0", "keras.BatchNormalization", 0.001)], [_layer("bn_0", "MyNorm", 0.1)]))
        == 1
    )


def test_constants_pair_by_the_op_taking_them():
    theirs = [("AddV2 with a weight of bn", 0.001), ("Mul with a weight of bn", 0.99)]
    mine = [("Mul with a weight of bn", 0.99), ("AddV2 with a value bn computes", 0.1), ("Maximum", 0.0)]
    assert [(r, m) for _, r, m in _paired_constants(theirs, mine)] == [(0.001, 0.1)]
    assert _paired_constants([("Mul", 0.9)], [("AddV2", 0.1)]) == []


# --- raw code: a normalisation's statistics are its own -------------------------------------------
# a raw batch normalisation in training, op by op: variable ids 1 (conv kernel), 2 (gamma), 3 (beta)
_CONV = [
    Op("ReadVariableOp", reads=(1,), dtype="float32", rank=4),
    Op("Conv2D", inputs=(INPUT, 0), dtype="float32", rank=4),
]


def _raw_bn(x, start, epsilon=0.001):
    """The ops of ``tf.nn.moments`` and ``tf.nn.batch_normalization`` on op ``x``, numbered
    from ``start``."""
    f = {"dtype": "float32"}
    i = start
    return [
        Op("Const", value=(0.0, 1.0, 2.0), shape=(3,), dtype="int32"),  # i: axes
        Op("Mean", inputs=(x, i), rank=1, **f),  # i+1
        Op("StopGradient", inputs=(i + 1,), rank=1, **f),
        Op("SquaredDifference", inputs=(x, i + 2), rank=4, **f),
        Op("Mean", inputs=(i + 3, i), rank=1, **f),  # i+4: variance
        Op("Const", value=(epsilon,), **f),
        Op("AddV2", inputs=(i + 4, i + 5), rank=1, **f),
        Op("Rsqrt", inputs=(i + 6,), rank=1, **f),
        Op("ReadVariableOp", reads=(2,), rank=1, **f),  # i+8: gamma
        Op("Mul", inputs=(i + 7, i + 8), rank=1, **f),  # scale
        Op("Mul", inputs=(x, i + 9), rank=4, **f),  # i+10: x * scale
        Op("Mul", inputs=(i + 1, i + 9), rank=1, **f),
        Op("ReadVariableOp", reads=(3,), rank=1, **f),  # i+12: beta
        Op("Sub", inputs=(i + 12, i + 11), rank=1, **f),
        Op("AddV2", inputs=(i + 10, i + 13), rank=4, **f),  # i+14: the output
    ]


def _raw_ln(x, start, epsilon=0.001):
    """The ops of ``(x - mean) * rsqrt(variance + epsilon) * gamma + beta`` (moments over the
    last axis) on op ``x``, numbered from ``start``: every op reads ``x`` or the statistics."""
    f = {"dtype": "float32", "rank": 4}
    i = start
    return [
        Op("Const", value=(-1.0,), dtype="int32"),  # i: axis
        Op("Mean", inputs=(x, i), **f),  # i+1: mean (keepdims)
        Op("StopGradient", inputs=(i + 1,), **f),
        Op("SquaredDifference", inputs=(x, i + 2), **f),
        Op("Mean", inputs=(i + 3, i), **f),  # i+4: variance
        Op("Const", value=(epsilon,), dtype="float32"),
        Op("AddV2", inputs=(i + 4, i + 5), **f),
        Op("Rsqrt", inputs=(i + 6,), **f),
        Op("Sub", inputs=(x, i + 1), **f),  # i+8
        Op("Mul", inputs=(i + 8, i + 7), **f),
        Op("ReadVariableOp", reads=(2,), dtype="float32", rank=1),  # i+10: gamma
        Op("Mul", inputs=(i + 9, i + 10), **f),
        Op("ReadVariableOp", reads=(3,), dtype="float32", rank=1),  # i+12: beta
        Op("AddV2", inputs=(i + 11, i + 12), **f),  # i+13: the output
    ]


def _read(ops, monkeypatch):
    """``(kind, name)`` of each unit of a raw member's ops (no activation templates: no TF), and the units."""
    monkeypatch.setattr("suite.causes.activations.find", lambda graph: [])
    seq = units(OpGraph(ops=ops, input_rank=4), {1: "conv", 2: "bn", 3: "bn", 4: "dense"}, {})
    return [(u.kind, u.name) for u in seq], seq


@pytest.mark.parametrize(("norm", "size"), [(_raw_bn, 15), (_raw_ln, 14)])
def test_a_raw_normalisation_owns_the_statistics_it_computes_from_its_input(monkeypatch, norm, size):
    ops = [*_CONV, *norm(1, 2), Op("Relu", inputs=(1 + size,), dtype="float32", rank=4)]
    read, seq = _read(ops, monkeypatch)
    assert read == [("layer", "conv"), ("layer", "bn"), ("op", "Relu")]
    assert {"Mean", "SquaredDifference", "AddV2", "Rsqrt", "Mul"} <= set(seq[1].ops)
    assert seq[1].constants == [("AddV2 with a value bn computes", 0.001)]


@pytest.mark.parametrize(("norm", "size"), [(_raw_bn, 15), (_raw_ln, 14)])
def test_a_pooling_before_a_raw_normalisation_stays_an_op_of_its_own(monkeypatch, norm, size):
    pool = Op("MaxPool", inputs=(1,), dtype="float32", rank=4)
    ops = [*_CONV, pool, *norm(2, 3), Op("Relu", inputs=(2 + size,), dtype="float32", rank=4)]
    read, _ = _read(ops, monkeypatch)
    assert read == [("layer", "conv"), ("op", "MaxPool"), ("layer", "bn"), ("op", "Relu")]


def test_ops_before_a_layer_with_a_kernel_are_not_its_own(monkeypatch):
    f = {"dtype": "float32", "rank": 2}
    ops = [  # tf.nn.l2_normalize(x) @ w: the normalisation is an op of its own
        Op("Square", inputs=(INPUT,), **f),
        Op("Const", value=(1.0,), dtype="int32"),
        Op("Sum", inputs=(0, 1), **f),
        Op("Rsqrt", inputs=(2,), **f),
        Op("Mul", inputs=(INPUT, 3), **f),
        Op("ReadVariableOp", reads=(4,), **f),
        Op("MatMul", inputs=(4, 5), **f),
    ]
    read, _ = _read(ops, monkeypatch)
    assert read == [("op", "Square"), ("op", "Sum(x, 1)"), ("op", "Rsqrt"), ("op", "Mul"), ("layer", "dense")]


# --- casts under a mixed policy: only a cast that changes precision is a dtype policy ------------
def _cast(src, to):
    return Op("Cast", inputs=(src,), cast_to=to, dtype=to, rank=2)


def _read_casts(ops, monkeypatch, input_dtype="float16"):
    monkeypatch.setattr("suite.causes.activations.find", lambda graph: [])
    graph = OpGraph(ops=ops, input_rank=2, input_dtype=input_dtype)
    return [(u.kind, u.name) for u in units(graph, {1: "dense", 2: "bn"}, {})]


def test_a_cast_back_to_the_dtype_a_value_held_is_no_dtype_policy(monkeypatch):
    # Keras' float32 Input layer, then the Dense's autocast back to float16: exact, no cast at all
    dense = [Op("ReadVariableOp", reads=(1,), dtype="float16", rank=2)]
    ops = [
        _cast(INPUT, "float32"),
        _cast(0, "float16"),
        *dense,
        Op("MatMul", inputs=(1, 2), dtype="float16", rank=2),
    ]
    assert _read_casts(ops, monkeypatch) == [("layer", "dense")]
    # the same casts on a float32 input narrow it: a real cast to float16
    assert _read_casts(ops, monkeypatch, input_dtype="float32") == [
        ("op", "Cast to float16"),
        ("layer", "dense"),
    ]


def test_a_raw_layer_computing_in_float32_casts_back_to_its_input_dtype_as_its_own(monkeypatch):
    f32 = {"dtype": "float32", "rank": 2}
    ops = [
        _cast(INPUT, "float32"),  # 0: the layer widens its float16 input
        Op("ReadVariableOp", reads=(2,), **f32),  # 1: gamma
        Op("Mul", inputs=(0, 1), **f32),  # 2: the layer's op
        _cast(2, "float16"),  # 3: back to the dtype its data came in
        Op("Relu", inputs=(3,), dtype="float16", rank=2),
    ]
    assert _read_casts(ops, monkeypatch) == [("layer", "bn"), ("op", "Relu")]
    # a float32 input: the cast to float16 after the layer is a dtype policy of its own
    assert ("op", "Cast to float16") in _read_casts(ops, monkeypatch, input_dtype="float32")
