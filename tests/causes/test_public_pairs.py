"""Pairs from public code (``tests/pairs/public_pairs.py``): the verdict and the cause with both values.

Each runs through :func:`suite.check_models` in eager mode, ``predict`` and ``train_step``;
the transformer block also under XLA, where Keras' dropout draws other masks (random masks).
"""

from __future__ import annotations

import pytest
from cause_checks import one_row, quick_check
from public_pairs import PAIRS, SEQUENCE_LABELS, SEQUENCES, transformer_block

from suite.causes.cause import MEMBER_KINDS, Cause, describe, grouped
from suite.verdicts import CLOSE, DIVERGED, IDENTICAL


def _check(members, data, **kw):
    x, y = data
    return quick_check(members, x=x, y=y, **{"localise": False, **kw})


@pytest.fixture(scope="module")
def frames():
    return {
        name: _check(
            dict(zip(("author", "variant"), spec.members, strict=True)),
            spec.data,
            modes=("eager",),
            name=name,
        )
        for name, spec in PAIRS.items()
    }


def _row(frame, workload):
    return one_row(frame, workload, "variant")


@pytest.mark.parametrize("name", list(PAIRS))
def test_public_pair_gets_the_verdict_and_names_the_cause(frames, name):
    spec = PAIRS[name]
    predict, train = _row(frames[name], "predict"), _row(frames[name], "train_step")
    assert (predict["verdict"], train["verdict"]) == (spec.predict, spec.train), (
        predict["reason"],
        train["reason"],
    )
    first = predict if predict["verdict"] != IDENTICAL else train
    causes = [Cause.from_dict(c) for c in (first["causes"] if isinstance(first["causes"], list) else [])]
    if spec.kind is None:
        assert not [c for c in causes if c.kind in MEMBER_KINDS and c.kind != "rounding"], causes
        return
    top = causes[0]
    assert top.kind == spec.kind, [describe(c) for c in causes]
    text = grouped(causes)[0]
    for word in spec.words:
        assert word in text, text
    assert first["reason"].startswith(text)


def test_dropout_masks_under_xla_are_named_for_the_transformer_block():
    frame = _check(
        {"transformer": transformer_block},
        (SEQUENCES, SEQUENCE_LABELS),
        modes=("eager", "xla"),
        workloads=("predict", "train_step"),
        localise=True,
        name="transformer_block",
    )
    rows = {(r.workload, r.mode): r for r in frame.itertuples()}
    train = rows[("train_step", "xla")]
    assert train.verdict == DIVERGED, train.reason
    top = Cause.from_dict(train.causes[0])
    assert top.kind == "random-masks" and top.where.startswith("dropout"), describe(top)
    assert "XLA's random draws vs eager's random draws" in train.reason.split(" — ")[0]
    predict = rows[("predict", "xla")]  # no dropout at inference: XLA only rounds
    assert predict.verdict == CLOSE, predict.reason
    assert Cause.from_dict(predict.causes[0]).kind == "xla-rounding"
    assert "max_ulp" in Cause.from_dict(predict.causes[0]).evidence
