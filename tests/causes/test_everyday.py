"""The everyday pairs of issue 23 (its thirteen, and relu6 for relu): verdict and cause, both values.

Each pair (``tests/pairs/everyday_pairs.py``) runs through :func:`suite.check_models` in eager mode,
``predict`` and ``train_step``; pairs that share a reference run in one call (its cases are
made once). The equivalent builds must be ``identical``/``close`` with no structural cause;
the others must name their cause with both values, on the first row that differs.
"""

from __future__ import annotations

import pytest
from cause_checks import member_frames, one_row
from everyday_pairs import PAIRS, X, Y

from suite.causes.cause import MEMBER_KINDS, Cause, describe, grouped
from suite.causes.engine import LATENT_FLAG
from suite.verdicts import IDENTICAL

#: reference builder name -> the pairs that share it
GROUPS: dict[str, list[str]] = {}
for _name, _spec in PAIRS.items():
    GROUPS.setdefault(_spec.members[0].__name__, []).append(_name)


@pytest.fixture(scope="module")
def frames():
    return member_frames(
        (
            (
                f"everyday_{reference}",
                PAIRS[names[0]].members[0],
                {n: PAIRS[n].members[1] for n in names},
                (X, Y),
            )
            for reference, names in GROUPS.items()
        ),
        modes=("eager",),
    )


def _tags(value) -> list[str]:
    """A frame cell of flags: a list, or nothing."""
    return list(value) if isinstance(value, list | tuple) else []


@pytest.mark.parametrize("name", list(PAIRS))
def test_everyday_pair_gets_the_verdict_and_names_the_cause(frames, name):
    spec = PAIRS[name]
    frame = frames[name]
    predict, train = one_row(frame, "predict"), one_row(frame, "train_step")
    assert (predict["verdict"], train["verdict"]) == (spec.predict, spec.train), (
        predict["reason"],
        train["reason"],
    )
    for row in (predict, train):
        if row["verdict"] == IDENTICAL:
            assert not row["causes"], row["causes"]  # an identical row carries no cause
            # ...but says when the builds still compute differently; equivalent builds never do
            latent = LATENT_FLAG in _tags(row["flags"])
            assert latent == bool(spec.latent), (row["flags"], row["notes"])
            for word in spec.latent:
                assert word in str(row["notes"]), row["notes"]
    first = predict if predict["verdict"] != IDENTICAL else train
    causes = [Cause.from_dict(c) for c in (first["causes"] if isinstance(first["causes"], list) else [])]
    if spec.kind is None:  # equivalent builds: rounding at most, never a structural cause
        assert not [c for c in causes if c.kind in MEMBER_KINDS and c.kind != "rounding"], causes
        return
    assert causes, first["reason"]
    top = causes[0]
    assert top.kind == spec.kind, [describe(c) for c in causes]
    text = describe(top)
    for word in spec.words:
        assert word in text, text
    assert first["reason"].startswith(grouped(causes)[0]), first["reason"]
    assert first["cause"] == describe(top)
