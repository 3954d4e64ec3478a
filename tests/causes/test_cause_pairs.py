"""Pairs with one fault each (``tests/pairs/cause_pairs.py``): the verdict, and the cause with both values.

Each pair runs through :func:`suite.check_models` in eager mode, ``predict`` and
``train_step``; the pairs that share a reference run in one call (module-scoped: the
TensorFlow work is shared). Builds that only look different must be ``identical`` with no
cause; the others must name their cause first, with both values, on the first row that is
not ``identical`` (a ``structural-mismatch`` row too: its reason starts with the cause), and
some (raw ``tf.Module`` members) that cause alone on every row that differs.
"""

from __future__ import annotations

import pytest
from cause_pairs import PAIRS

from suite.causes.cause import Cause, describe, grouped
from suite.verdicts import IDENTICAL

#: (reference builder, data) -> the pairs that share it
GROUPS: dict[tuple[object, int], list[str]] = {}
for _name, _fault in PAIRS.items():
    GROUPS.setdefault((_fault.members[0], id(_fault.data)), []).append(_name)


@pytest.fixture(scope="module")
def frames():
    import suite

    out = {}
    for (reference, _), names in GROUPS.items():
        x, y = PAIRS[names[0]].data
        members = {reference.__name__: reference, **{n: PAIRS[n].members[1] for n in names}}
        frame = suite.check_models(
            members,
            x=x,
            y=y,
            modes=("eager",),
            workloads=("predict", "train_step"),
            repeats=1,
            steps=1,
            localise=False,
            reference_fp64=False,
            min_sample_s=0.001,
            max_warmup_s=0.0,
            name=f"faults_{reference.__name__}",
        )
        for name in names:
            out[name] = frame[frame["member"] == name]
    return out


def _row(frame, workload):
    rows = frame[frame["workload"] == workload]
    assert len(rows) == 1, rows
    return rows.iloc[0]


@pytest.mark.parametrize("name", list(PAIRS))
def test_a_fault_gets_its_verdict_and_its_cause_first(frames, name):
    fault = PAIRS[name]
    predict, train = _row(frames[name], "predict"), _row(frames[name], "train_step")
    assert (predict["verdict"], train["verdict"]) == (fault.predict, fault.train), (
        predict["reason"],
        train["reason"],
    )
    first = predict if predict["verdict"] != IDENTICAL else train
    causes = [Cause.from_dict(c) for c in (first["causes"] if isinstance(first["causes"], list) else [])]
    if fault.kind is None:
        assert first["verdict"] == IDENTICAL and not causes, causes
        if fault.note:
            assert any(fault.note in n for n in predict["notes"]), predict["notes"]
        return
    assert causes, first["reason"]
    top = causes[0]
    assert top.kind == fault.kind, [describe(c) for c in causes]
    line = grouped(causes)[0]
    for word in fault.words:
        assert word in line, line
    assert first["reason"].startswith(line), first["reason"]
    for word in fault.also:
        assert word in first["reason"], first["reason"]
    for row in (predict, train) if fault.alone else ():
        if row["verdict"] != IDENTICAL:
            assert grouped([Cause.from_dict(c) for c in row["causes"]]) == [line], row["reason"]
