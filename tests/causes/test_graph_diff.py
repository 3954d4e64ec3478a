"""Two graphs' units compared in order (pure: units made by hand)."""

from __future__ import annotations

from suite.causes.cause import headline
from suite.causes.graph_diff import Unit, diff_units, rounding_causes


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
