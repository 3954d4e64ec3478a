"""The Cause type, its wording and ranking, and the causes read from a record's numbers (pure)."""

from __future__ import annotations

import json

import pytest

from suite.causes.cause import (
    KINDS,
    Cause,
    causes_text,
    describe,
    grouped,
    headline,
    lead,
    rank,
    top_kind,
)
from suite.causes.engine import Findings, dormant_note, record_causes
from suite.causes.numerics import numeric_causes
from suite.causes.structure import structural_causes
from suite.results.record import SCHEMA_VERSION, Record
from suite.verdicts import CLOSE, DIVERGED, IDENTICAL, NONDETERMINISTIC

BN = [
    Cause(
        "configuration", "batch_normalization", "epsilon", "0.001", "1e-05", "BatchNormalization.get_config()"
    ),
    Cause("configuration", "batch_normalization", "momentum", "0.99", "0.9", affects="training"),
]


def test_a_cause_round_trips_through_json_and_rejects_unknown_words():
    cause = BN[0]
    assert Cause.from_dict(json.loads(json.dumps(cause.to_dict()))) == cause
    with pytest.raises(ValueError, match="unknown cause kind"):
        Cause("bad-kind")
    with pytest.raises(ValueError, match="unknown confidence"):
        Cause("configuration", confidence="sure")
    assert Cause.from_dict({"kind": "from-the-future", "confidence": "?"}).kind == "undetermined"
    assert set(KINDS) >= {"shared-layer", "op-order", "random-masks", "tf32", "nondeterministic-kernel"}


def test_configuration_of_one_layer_reads_in_one_line_with_both_values():
    assert grouped(BN) == [
        "configuration of batch_normalization: epsilon 0.001 vs 1e-05; momentum 0.99 vs 0.9"
    ]
    assert describe(BN[0]) == (
        "configuration of batch_normalization: epsilon 0.001 vs 1e-05 (BatchNormalization.get_config())"
    )
    assert causes_text([c.to_dict() for c in BN]) == grouped(BN)[0]
    assert causes_text([]) is None and top_kind([c.to_dict() for c in BN]) == "configuration"


def test_headlines_of_structural_and_training_causes():
    shared = Cause(
        "shared-layer", "hidden (dense_1)", member="2 times", reference="the reference has 2 layers"
    )
    assert (
        headline(shared)
        == "layer hidden (dense_1) is called twice: its weights are shared (the reference has 2 layers)"
    )
    order = Cause("op-order", "dense", member="relu -> bn", reference="bn -> relu")
    assert headline(order) == "order of ops after dense: relu -> bn vs bn -> relu"
    untracked = [Cause("untracked-variable", w) for w in ("w1", "b1")]
    assert grouped(untracked) == [
        "variables w1, b1 are tf.Variables Keras does not track: not trained, saved or counted"
    ]
    assert headline(Cause("undetermined", evidence="checked x")) == "cause not determined"


def test_rank_puts_the_first_diverging_layer_first_then_confidence_then_kind():
    xla = Cause("xla-rounding", member="XLA", reference="eager", confidence="certain")
    config = Cause("configuration", "ln", "epsilon", "0.001", "1e-05")
    unsure = Cause("rounding", "dense", member="Einsum", reference="MatMul", confidence="possible")
    assert rank([xla, unsure, config]) == [config, xla, unsure]
    assert rank([config, unsure], first_layer="dense")[0] == unsure
    assert rank([Cause("undetermined"), unsure])[0] == unsure
    assert rank([config, config]) == [config]


def test_the_reason_starts_with_the_top_cause_and_keeps_the_numbers():
    reason = lead("vs_pair: max_abs 0.1", BN)
    assert reason.startswith(
        "configuration of batch_normalization: epsilon 0.001 vs 1e-05; momentum 0.99 vs 0.9"
    )
    assert reason.endswith("— vs_pair: max_abs 0.1")
    assert lead("bitwise equal", []) == "bitwise equal"


def test_old_records_without_causes_load_and_new_ones_carry_them():
    assert SCHEMA_VERSION == 3
    line = {
        "case": {
            "pair": "p",
            "member": "m",
            "workload": "predict",
            "mode": "eager",
            "device": "cpu",
            "precision": "float32",
            "determinism": "off",
            "size": "tiny",
        },
        "verdict": "diverged",
        "schema_version": 2,
    }
    old = Record.from_dict(line)
    assert old.causes == []
    new = Record.from_dict({**line, "causes": [BN[0].to_dict()]})
    assert Record.from_dict(json.loads(new.to_json())).causes == [BN[0].to_dict()]
    with pytest.raises(ValueError, match="causes"):
        Record.from_dict({**line, "causes": "epsilon"})


def test_audit_messages_become_causes():
    causes = structural_causes(
        [
            "layer hidden (dense_1) is called 2 times: its weights are shared (the reference has 2 separate "
            "layers with kernel (16, 16): dense_1, dense_2)",
            "w1 (10, 64) is a tf.Variable that Keras does not track: not trained, saved or counted",
            "no bias in dense_0 (64,)",
            "no bias after w2 (the reference adds dense_1/bias (10,))",
            "missing layer dense_2 (kernel (64, 64), bias (64,))",
            "shape of dense_1/kernel (32, 10) vs (32, 32)",
            "activation None vs relu after w1 (ops MatMul vs MatMul -> BiasAdd -> Relu in the reference's "
            "dense)",
            "dense_0/kernel is non-trainable in the member, not in the reference",
            "kernel initializer HeNormal vs GlorotUniform in dense",
            "trainable params 714 vs 650",
        ],
        copied=False,
    )
    kinds = [c.kind for c in causes]
    assert kinds == [
        "shared-layer",
        "untracked-variable",
        "missing-bias",
        "missing-bias",
        "structure",
        "structure",
        "activation",
        "training-flag",
        "initialization",
    ]
    assert causes[3].where == "w2" and causes[3].reference == "bias dense_1/bias (10,)"
    assert (causes[6].member, causes[6].reference) == ("None", "relu")
    assert causes[7].affects == "training" and causes[7].member == "frozen (trainable=False)"


def test_record_causes_pick_what_can_change_the_workload_and_note_the_rest():
    findings = Findings(
        causes=(
            Cause("regularization", "dense", "kernel_regularizer", "None", "L2(l2=0.01)", affects="training"),
            Cause(
                "initialization", "dense", "kernel_initializer", "HeNormal", "GlorotUniform", affects="none"
            ),
            Cause("configuration", "ln", "epsilon", "0.001", "1e-05"),
        ),
        checked=("the configuration of 2 matched layers",),
    )
    pair = {"vs_pair": {"bitwise_equal": False, "max_abs": 0.1, "max_ulp": 9}}
    common = dict(
        mode="eager", precision="float32", divergence=pair, localisation=None, numerics={}, random=[]
    )
    causes, dormant = record_causes(workload="predict", verdict=DIVERGED, findings=findings, **common)
    assert [c.kind for c in causes] == ["configuration"]
    assert {c.kind for c in dormant} == {"regularization", "initialization"}
    note = dormant_note(dormant, "predict")
    assert "acts in training only, not in predict" in note and "reference's weights" in note
    causes, _ = record_causes(workload="train_step", verdict=DIVERGED, findings=findings, **common)
    assert [c.kind for c in causes] == ["configuration", "regularization"]
    assert record_causes(workload="predict", verdict=IDENTICAL, findings=findings, **common) == ([], [])
    nothing, _ = record_causes(
        workload="predict", verdict=CLOSE, findings=Findings(checked=("the graphs",)), **common
    )
    assert [c.kind for c in nothing] == ["undetermined"] and "checked the graphs" in nothing[0].evidence


def _numeric(**kw):
    base = dict(
        workload="train_step",
        mode="xla",
        precision="float32",
        verdict=CLOSE,
        divergence={},
        localisation=None,
        numerics={},
        random_layers=[],
    )
    return numeric_causes(**{**base, **kw})


def test_numbers_name_xla_rounding_random_masks_tf32_devices_and_nondeterminism():
    eager = {"vs_eager": {"bitwise_equal": False, "max_abs": 3e-8, "max_ulp": 5}}
    (xla,) = _numeric(divergence=eager)
    assert xla.kind == "xla-rounding" and "max_ulp 5" in xla.evidence and xla.confidence == "certain"
    located = {"forward": {"layer": "drop_attn_0", "ops": ["StatelessRandomUniformV2"]}}
    (masks,) = _numeric(
        divergence=eager, verdict=DIVERGED, localisation=located, random_layers=["drop_attn_0"]
    )
    assert (masks.kind, masks.where, masks.confidence) == ("random-masks", "drop_attn_0", "certain")
    gpu = {"vs_cpu": {"bitwise_equal": False, "max_abs": 1e-3, "max_ulp": 9000}}
    (tf32,) = _numeric(mode="eager", divergence=gpu, numerics={"tf32_enabled": True}, precision="tf32")
    assert tf32.kind == "tf32" and tf32.confidence == "certain"
    (device,) = _numeric(mode="eager", divergence=gpu, numerics={"tf_device": "/GPU:0"})
    assert device.kind == "device" and device.member == "/GPU:0"
    rerun = {"rerun": {"runs": 3, "distinct": 3, "max_abs": 1e-6, "max_ulp": 12}}
    update = {"update": {"variable": "embed/embeddings", "ops": ["ResourceScatterSub"]}}
    (kernel,) = _numeric(mode="eager", verdict=NONDETERMINISTIC, divergence=rerun, localisation=update)
    assert kernel.kind == "nondeterministic-kernel" and kernel.where == "embed/embeddings"
    assert kernel.member == "3 distinct results in 3 reruns" and "ResourceScatterSub" in kernel.attribute
    mixed = _numeric(divergence=eager, precision="mixed_float16")
    assert [c.kind for c in mixed] == ["xla-rounding", "mixed-precision"]
