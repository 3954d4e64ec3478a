"""Reruns that differ name the kernel; the zoo's faulty controls are still caught, with causes."""

from __future__ import annotations

import numpy as np
from cause_checks import quick_check
from shuffled_pairs import X, shuffled_model

from suite.causes.cause import Cause, describe
from suite.verdicts import NONDETERMINISTIC


def test_a_nondeterministic_layer_is_named_with_its_reruns():
    frame = quick_check(
        shuffled_model, x=X, workloads=("predict",), modes=("eager",), repeats=3, steps=None, name="shuffled"
    )
    (row,) = frame.itertuples()
    assert row.verdict == NONDETERMINISTIC, row.reason
    top = Cause.from_dict(row.causes[0])
    assert top.kind == "nondeterministic-kernel" and top.where == "shuffled_sum", describe(top)
    assert top.member.endswith("distinct results in 3 reruns") and top.reference.startswith("1 result")
    assert row.reason.startswith("nondeterministic kernel")


def _control(pair_name: str):
    import tensorflow as tf

    from suite.errors import StructuralMismatch
    from suite.run.evaluate import failure_causes
    from suite.zoo import get_pair, load_builtin_pairs
    from suite.zoo.prepare import as_inputs, build_members

    load_builtin_pairs()
    pair = get_pair(pair_name)
    batch = pair.inputs(pair.hparams("tiny"), 0)
    with tf.device("/CPU:0"):
        try:
            build_members(pair, "faulty", "tiny", batch, as_inputs(batch.x, "float32"), 0)
        except StructuralMismatch as exc:
            return failure_causes(exc)
    raise AssertionError(f"{pair_name}.faulty took the reference's weights")


def test_faulty_controls_are_caught_with_their_real_cause_first():
    shared = _control("mlp")  # dense_1 applied twice where dense_2 belongs
    assert shared[0].kind == "shared-layer" and "dense_1" in shared[0].where, [describe(c) for c in shared]
    assert "dense_1, dense_2" in shared[0].reference
    no_bias = _control("mlp_seed")
    assert [c.kind for c in no_bias[:2]] == ["missing-bias", "missing-bias"]
    assert any(c.kind == "activation" and (c.member, c.reference) == ("None", "relu") for c in no_bias)
    bn = _control("cnn")  # the last BatchNormalization left out
    assert bn[0].kind == "structure" and bn[0].where == "bn_1" and "moving_mean" in bn[0].reference
    assert np.all([c.confidence == "certain" for c in shared + no_bias])
