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
from cause_checks import member_frames, one_row
from cause_pairs import PAIRS

from suite.causes.cause import Cause, describe, grouped
from suite.verdicts import IDENTICAL

#: (reference builder, data) -> the pairs that share it
GROUPS: dict[tuple[object, int], list[str]] = {}
for _name, _fault in PAIRS.items():
    GROUPS.setdefault((_fault.members[0], id(_fault.data)), []).append(_name)


@pytest.fixture(scope="module")
def frames():
    return member_frames(
        (
            (
                f"faults_{reference.__name__}",
                reference,
                {n: PAIRS[n].members[1] for n in names},
                PAIRS[names[0]].data,
            )
            for (reference, _), names in GROUPS.items()
        ),
        modes=("eager",),
        workloads=("predict", "train_step"),
        localise=False,
    )


@pytest.mark.parametrize("name", list(PAIRS))
def test_a_fault_gets_its_verdict_and_its_cause_first(frames, name):
    fault = PAIRS[name]
    predict, train = one_row(frames[name], "predict"), one_row(frames[name], "train_step")
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
