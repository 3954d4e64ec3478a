"""The float constants of matched layers compared, where no configuration says them.

A layer both members have whose ops take other float constants (a raw batch normalisation's
epsilon in ``AddV2(variance, 0.1)``) is a **configuration** cause with both values
(``configuration of bn_0: constant 0.1 vs 0.001``), said only where ``get_config()`` cannot
tell: raw code on one side at least, or a user's class against another class.
"""

from __future__ import annotations

from collections import Counter

from suite.causes.cause import Cause
from suite.causes.units import Unit, number_text


def constant_causes(
    ref: list[Unit], mem: list[Unit], *, phase: str = "forward", affects: str = "all"
) -> list[Cause]:
    """The float constants of a layer both members have that differ: ``configuration of
    bn_0: constant 0.1 vs 0.001`` (an epsilon, a slope, a clip value), for a layer written as
    raw code on one side at least, or as a user's class against another class: where no
    ``get_config()`` comparison says it (two layers of one class, or two of Keras' own, are
    compared by their configuration, :mod:`suite.causes.config_diff`). Constants are paired
    by the op taking them; a constant one member only has is no cause here (its ops differ)."""
    causes: list[Cause] = []
    for label, (theirs, mine) in _layer_constants(ref, mem).items():
        for context, reference, member in _paired_constants(theirs, mine):
            text_mem, text_ref = number_text(member), number_text(reference)
            if text_mem == text_ref:
                text_mem, text_ref = repr(member), repr(reference)
            causes.append(
                Cause(
                    kind="configuration",
                    where=label,
                    attribute="constant",
                    member=text_mem,
                    reference=text_ref,
                    evidence=f"{phase} graphs compared op by op: the constant of {context}; "
                    "no get_config() to compare",
                    affects=affects,
                )
            )
    return causes


#: a layer's class (``""``: raw code) and the float constants its ops take
_LayerConstants = tuple[str, list[tuple[str, float]]]


def _layer_constants(
    ref: list[Unit], mem: list[Unit]
) -> dict[str, tuple[list[tuple[str, float]], list[tuple[str, float]]]]:
    """Label -> the reference's and the member's layer constants, for the layers both have
    whose configurations pairbench cannot compare (see :func:`constant_causes`)."""
    theirs, mine = _by_layer(ref), _by_layer(mem)
    return {
        label: (theirs[label][1], mine[label][1])
        for label in theirs
        if label in mine and not _configured(theirs[label][0], mine[label][0])
    }


def _by_layer(seq: list[Unit]) -> dict[str, _LayerConstants]:
    """Label -> the class and the constants of its layer units, in order."""
    out: dict[str, _LayerConstants] = {}
    for unit in seq:
        if unit.kind == "layer":
            cls, constants = out.get(unit.name, ("", []))
            out[unit.name] = (cls or unit.cls, constants + unit.constants)
    return out


def _configured(theirs: str, mine: str) -> bool:
    """Two layer classes whose configurations :mod:`suite.causes.config_diff` compares (one
    class on both sides, its ``get_config()`` or public attributes), or that say what differs
    by their classes (two of Keras' own)."""
    both_keras = theirs.startswith("keras.") and mine.startswith("keras.")
    return bool(theirs and mine) and (theirs == mine or both_keras)


def _paired_constants(
    theirs: list[tuple[str, float]], mine: list[tuple[str, float]]
) -> list[tuple[str, float, float]]:
    """``(what takes it, reference value, member value)`` of the constants that differ, paired
    by the op type taking them, in order; equal ones and unpaired ones left out."""

    def typed(constants: list[tuple[str, float]]) -> list[tuple[str, float, str]]:
        return [(context.split(" ")[0], value, context) for context, value in constants]

    common = Counter(t[:2] for t in typed(theirs)) & Counter(t[:2] for t in typed(mine))
    rest: list[list[tuple[str, float, str]]] = [[], []]
    for side, constants in enumerate((theirs, mine)):
        shared = Counter(common)
        for op, value, context in typed(constants):
            if shared[(op, value)] > 0:
                shared[(op, value)] -= 1
            else:
                rest[side].append((op, value, context))
    out: list[tuple[str, float, float]] = []
    for op, value, context in rest[0]:
        match = next((k for k, other in enumerate(rest[1]) if other[0] == op), None)
        if match is not None:
            out.append((context, value, rest[1].pop(match)[1]))
    return out
