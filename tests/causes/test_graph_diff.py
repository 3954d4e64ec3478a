"""Two graphs' units compared in order (pure: units made by hand)."""

from __future__ import annotations

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
    assert rounding_causes([Unit("layer", "dense", ["MatMul", "BiasAdd"])], other_math) == []
