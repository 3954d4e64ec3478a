"""Structural findings of the audit (:mod:`suite.zoo.audit`) as causes.

The audit says in words what differs in structure: a layer called twice (shared weights),
untracked ``tf.Variable`` attributes, missing biases, missing or extra layers and variables,
other shapes, trainable flags, activations, initialisers, and outputs of other shapes for
the same inputs (:mod:`suite.zoo.outputs`). :func:`structural_causes` turns
each message into a :class:`~suite.causes.cause.Cause` with both values, so that a
``structural-mismatch`` record names its real cause first (``layer hidden is called 2 times:
its weights are shared``), and a member whose weights could be copied carries its findings
as causes of the numbers they can change (an untracked variable is not trained: training
only). Counts (``trainable params 714 vs 650``) are evidence, not causes.
"""

from __future__ import annotations

import re
from dataclasses import replace

from suite.causes.cause import ALL, LIKELY, NONE, TRAINING, Cause

_SHARED = re.compile(
    r"^layer (?P<where>.+?) is called (?P<n>\d+) times: its weights are shared \((?P<rest>.*)\)$"
)
_UNTRACKED = re.compile(
    r"^(?:the reference's )?(?P<where>\S+) (?P<shape>\(.*?\)) is a tf\.Variable that Keras does not track"
)
_NO_BIAS_IN = re.compile(r"^no bias in (?P<where>\S+) (?P<shape>\(.*\))$")
_NO_BIAS_AFTER = re.compile(r"^no bias (?P<where>after \S+|at the start) \(the reference adds (?P<ref>.*)\)$")
_LAYER = re.compile(r"^(?P<what>missing|extra) layer (?P<where>\S+) \((?P<rest>.*)\)$")
_VARIABLE = re.compile(r"^(?P<what>missing|extra) variable (?P<where>\S+) (?P<shape>\(.*\))$")
_SHAPE = re.compile(r"^(?P<attr>shape|dtype) of (?P<where>\S+) (?P<mine>.+?) vs (?P<theirs>.+)$")
_ACTIVATION = re.compile(
    r"^(?P<attr>(?:recurrent )?activation) (?P<mine>\S+) vs (?P<theirs>\S+) (?:in|after) (?P<where>\S+)"
    r"(?: \((?P<ops>.*)\))?$"
)
_TRAINABLE = re.compile(
    r"^(?P<where>\S+)(?: \(the reference's \S+\))? is (?P<state>trainable|non-trainable) in the member"
)
_INIT = re.compile(r"^(?P<attr>\w+ initializer) (?P<mine>\S+) vs (?P<theirs>\S+) in (?P<where>.+)$")
_OUTPUT_SHAPE = re.compile(
    r"^output shape(?: of (?P<where>\S+))? (?P<mine>\([^()]*\)) vs (?P<theirs>\([^()]*\))$"
)
_OUTPUTS = re.compile(r"^outputs (?P<mine>\d+ tensors? \(.*\)) vs (?P<theirs>\d+ tensors? \(.*\))$")
#: attributes of the ``structure`` causes that say how the members' outputs differ
OUTPUT_ATTRIBUTES = frozenset({"output shape", "outputs"})
#: what an output of another shape or structure rests on
_OUTPUT_EVIDENCE = "both members called on the same inputs: outputs of other shapes cannot be compared"


def structural_causes(messages: list[str], *, copied: bool) -> list[Cause]:
    """Causes from audit messages (member first, as the audit says them).

    Args:
        messages: the audit's differences.
        copied: the weights could be copied (then initialisers cannot change the numbers,
            and findings that only stop training say so).

    Returns:
        The causes, in the order of the messages (counts and unknown messages left out).
    """
    causes: list[Cause] = []
    for text in messages:
        cause = _one(text, copied)
        if cause is not None:
            causes.append(cause)
    return _frozen_by_layer(_by_layer(causes))


def _frozen_by_layer(causes: list[Cause]) -> list[Cause]:
    """Variables of one layer frozen in one member only said once, of the layer: ``training
    behaviour of dense: trainable frozen (trainable=False) vs trained``."""
    out: list[Cause] = []
    for cause in causes:
        layer, _, leaf = cause.where.rpartition("/")
        if cause.kind != "training-flag" or cause.attribute != "trainable" or not layer:
            out.append(cause)
            continue
        twin = next(
            (
                c
                for c in out
                if c.kind == "training-flag"
                and c.attribute == "trainable"
                and c.where == layer
                and (c.member, c.reference) == (cause.member, cause.reference)
            ),
            None,
        )
        if twin is None:
            out.append(replace(cause, where=layer, evidence=f"{leaf}: {cause.evidence}"))
        else:
            leaves, _, rest = twin.evidence.partition(": ")
            out[out.index(twin)] = replace(twin, evidence=f"{leaves}, {leaf}: {rest}")
    return out


def _by_layer(causes: list[Cause]) -> list[Cause]:
    """Missing (or extra) variables of one layer said once: ``missing variables of bn_1:
    moving_mean (16,), gamma (16,)...``."""
    out: list[Cause] = []
    for cause in causes:
        layer, _, leaf = cause.where.rpartition("/")
        side = "member" if cause.member == "absent" else "reference"
        twin = next(
            (
                c
                for c in out
                if c.kind == "structure"
                and c.attribute == "variables"
                and c.where == layer
                and getattr(c, side) == "absent"
            ),
            None,
        )
        if cause.kind != "structure" or cause.attribute != "variable" or not layer:
            out.append(cause)
        elif twin is None:
            shape = cause.reference if side == "member" else cause.member
            values = {"member": "absent", "reference": f"{leaf} {shape}"}
            if side == "reference":
                values = {"member": f"{leaf} {shape}", "reference": "absent"}
            out.append(Cause(kind="structure", where=layer, attribute="variables", **values))
        else:
            shape = cause.reference if side == "member" else cause.member
            other = "reference" if side == "member" else "member"
            merged = f"{getattr(twin, other)}, {leaf} {shape}"
            out[out.index(twin)] = Cause(
                kind="structure", where=layer, attribute="variables", **{side: "absent", other: merged}
            )
    return out


def _one(text: str, copied: bool) -> Cause | None:
    if m := _OUTPUT_SHAPE.match(text):
        return Cause(
            kind="structure",
            where=m["where"] or "",
            attribute="output shape",
            member=m["mine"],
            reference=m["theirs"],
            evidence=_OUTPUT_EVIDENCE,
        )
    if m := _OUTPUTS.match(text):
        return Cause(
            kind="structure",
            attribute="outputs",
            member=m["mine"],
            reference=m["theirs"],
            evidence=_OUTPUT_EVIDENCE,
        )
    if m := _SHARED.match(text):
        n = int(m["n"])
        return Cause(
            kind="shared-layer",
            where=m["where"],
            member=f"{n} times",
            reference=m["rest"],
            evidence="its variables are read once per call in the traced forward graph",
        )
    if m := _UNTRACKED.match(text):
        return Cause(
            kind="untracked-variable",
            where=m["where"],
            member=f"a tf.Variable attribute {m['shape']} Keras does not track: not trained, saved, counted",
            reference="a tracked weight",
            evidence="not in model.trainable_variables: no optimizer updates it",
            affects=TRAINING if copied else ALL,
        )
    if m := _NO_BIAS_IN.match(text):
        return Cause(
            kind="missing-bias",
            where=m["where"],
            attribute="in",
            member="no bias",
            reference=f"bias {m['shape']}",
        )
    if m := _NO_BIAS_AFTER.match(text):
        where = m["where"].removeprefix("after ") if m["where"] != "at the start" else ""
        return Cause(
            kind="missing-bias",
            where=where,
            attribute="after",
            member="no bias",
            reference=f"bias {m['ref']}",
        )
    if m := _LAYER.match(text):
        missing = m["what"] == "missing"
        return Cause(
            kind="structure",
            where=m["where"],
            attribute="layer",
            member="absent" if missing else m["rest"],
            reference=m["rest"] if missing else "absent",
        )
    if m := _VARIABLE.match(text):
        missing = m["what"] == "missing"
        return Cause(
            kind="structure",
            where=m["where"],
            attribute="variable",
            member="absent" if missing else m["shape"],
            reference=m["shape"] if missing else "absent",
        )
    if m := _SHAPE.match(text):
        return Cause(
            kind="structure", where=m["where"], attribute=m["attr"], member=m["mine"], reference=m["theirs"]
        )
    if m := _ACTIVATION.match(text):
        return Cause(
            kind="activation",
            where=m["where"],
            attribute="recurrent_activation" if m["attr"].startswith("recurrent") else "",
            member=m["mine"],
            reference=m["theirs"],
            evidence=m["ops"] or "the layers' activation arguments",
        )
    if m := _TRAINABLE.match(text):
        frozen = m["state"] == "non-trainable"
        return Cause(
            kind="training-flag",
            where=m["where"],
            attribute="trainable",
            member="frozen (trainable=False)" if frozen else "trained",
            reference="trained" if frozen else "frozen (trainable=False)",
            evidence="the optimizer updates only trainable variables",
            affects=TRAINING,
        )
    if m := _INIT.match(text):
        return Cause(
            kind="initialization",
            where=m["where"],
            attribute=m["attr"].replace(" ", "_"),
            member=m["mine"],
            reference=m["theirs"],
            evidence="each member would start from its own initial weights",
            confidence=LIKELY,
            affects=NONE if copied else ALL,
        )
    return None
