"""The :class:`Cause` type: why two runs differ, with both values, in words a user acts on.

A cause is plain data (it goes into a record's JSON as a dict): *what kind* of difference
(:data:`KINDS`, a small fixed vocabulary), *where* (a layer or an op), the member's and the
reference's values, one line of evidence, how sure pairbench is (:data:`CONFIDENCE`), and
which numbers it can change at all (:data:`AFFECTS`: a dropout rate cannot change a forward
pass in inference mode). :func:`rank` orders the causes of a record (the first diverging
layer first), :func:`headline` says one in a line, and :func:`lead` puts the top cause at
the start of a record's reason.

Values read *member vs reference*, as everywhere in pairbench: ``epsilon 0.001 vs 1e-05``
means the member has 0.001 where the reference has 1e-05.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

#: kind -> what it means (docs/causes.md has a minimal pair and pairbench's output for each)
KINDS: dict[str, str] = {
    "shared-layer": "one layer object is called several times where the reference has separate layers",
    "untracked-variable": "a tf.Variable attribute Keras does not track: not trained, saved or counted",
    "missing-bias": "a layer has no bias where the reference adds one",
    "structure": "a layer or variable is missing, extra, or shaped differently",
    "activation": "an activation is applied in one member and not (or another one) in the other",
    "op-order": "the same ops run in another order (e.g. ReLU before BatchNorm instead of after)",
    "extra-op": "an op (pooling, arithmetic on the input, a residual, cast, random draw...) runs in one "
    "member only",
    "op-substitution": "another op runs at the same place (AvgPool for MaxPool, a Mul for a RealDiv)",
    "configuration": "a layer argument differs (epsilon, momentum, rate, axis, padding...)",
    "regularization": "loss terms differ: regularizers or add_loss terms that training adds to the loss",
    "training-flag": "a layer runs in inference mode during training (or the other way round), "
    "or is frozen in one member",
    "dtype-policy": "a layer computes in another dtype (its dtype policy), with the casts that brings",
    "initialization": "initialisers differ: the builds start from different weights on their own",
    "rounding": "the same math through other kernels or another op order rounds differently",
    "xla-rounding": "XLA fuses and reorders float ops: results round differently from eager",
    "random-masks": "random draws (dropout masks) differ between modes for the same seed state",
    "tf32": "TensorFloat-32 matmuls/convolutions round their inputs to a 10-bit mantissa",
    "mixed-precision": "the run's precision policy computes in float16/bfloat16",
    "device": "another device's kernels compute the same ops with other rounding",
    "nondeterministic-kernel": "a kernel gives another result on every run (atomics, parallel reductions)",
    "undetermined": "nothing pairbench checks explains the difference (what was checked is listed)",
}

CERTAIN = "certain"
LIKELY = "likely"
POSSIBLE = "possible"
#: how sure a cause is, surest first
CONFIDENCE: tuple[str, ...] = (CERTAIN, LIKELY, POSSIBLE)

#: the cause changes every workload's numbers (forward pass in inference mode included)
ALL = "all"
#: the cause changes training only (``train_step``, ``fit``): a dropout rate, a momentum
TRAINING = "training"
#: the cause changes inference only (``predict``): a layer drawing random numbers at inference
#: in one member (training draws them in both)
INFERENCE = "inference"
#: the cause cannot change the compared numbers (initialisers: pairbench copies the weights)
NONE = "none"
AFFECTS: tuple[str, ...] = (ALL, TRAINING, INFERENCE, NONE)

#: kinds that explain a difference between two members (the others: modes, devices, reruns)
MEMBER_KINDS = frozenset(
    {
        "shared-layer",
        "untracked-variable",
        "missing-bias",
        "structure",
        "activation",
        "op-order",
        "extra-op",
        "op-substitution",
        "configuration",
        "regularization",
        "training-flag",
        "dtype-policy",
        "initialization",
        "rounding",
    }
)
#: order of kinds when everything else ties (structural and configuration first, numerics last)
_KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}


@dataclass(frozen=True)
class Cause:
    """One reason why a case's numbers differ.

    Attributes:
        kind: one of :data:`KINDS`.
        where: the layer (``batch_normalization``) or op (``Relu``) concerned; ``""`` for the
            whole model or step.
        attribute: what differs there (``epsilon``, ``kernel_regularizer``, ``order``...);
            ``""`` when the kind says it.
        member: the member's value (``"0.001"``), or what the member does.
        reference: the reference's value, or what the reference does.
        evidence: one line: what pairbench saw (ops, config, the comparison's numbers).
        confidence: one of :data:`CONFIDENCE`.
        affects: one of :data:`AFFECTS`: which workloads the cause can change.
    """

    kind: str
    where: str = ""
    attribute: str = ""
    member: str = ""
    reference: str = ""
    evidence: str = ""
    confidence: str = CERTAIN
    affects: str = ALL

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown cause kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.confidence not in CONFIDENCE:
            raise ValueError(f"unknown confidence {self.confidence!r}; known: {', '.join(CONFIDENCE)}")
        if self.affects not in AFFECTS:
            raise ValueError(f"unknown affects {self.affects!r}; known: {', '.join(AFFECTS)}")

    def to_dict(self) -> dict[str, str]:
        """The record's JSON form (every field, strings)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cause:
        """A cause from its JSON form (unknown keys ignored; an unknown kind is ``undetermined``)."""
        known = {k: str(v) for k, v in data.items() if k in cls.__dataclass_fields__ and v is not None}
        if known.get("kind") not in KINDS:
            known["kind"] = "undetermined"
        known.setdefault("kind", "undetermined")
        if known.get("confidence") not in CONFIDENCE:
            known["confidence"] = POSSIBLE
        if known.get("affects") not in AFFECTS:
            known["affects"] = ALL
        return cls(**known)

    def with_confidence(self, confidence: str) -> Cause:
        """The same cause, surer or less sure."""
        return replace(self, confidence=confidence)

    def applies_to(self, workload: str) -> bool:
        """Whether the cause can change the numbers of a workload (``predict``, ``train_step``, ``fit``)."""
        if self.affects == NONE:
            return False
        if self.affects == INFERENCE:
            return workload == "predict"
        return self.affects == ALL or workload != "predict"


def _values(cause: Cause) -> str:
    if not cause.member and not cause.reference:
        return ""
    return f"{cause.member or '-'} vs {cause.reference or '-'}"


def headline(cause: Cause | Mapping[str, Any]) -> str:
    """One line for a cause, without its evidence.

    Examples: ``configuration of batch_normalization: epsilon 0.001 vs 1e-05``,
    ``order of ops after dense: relu -> batch_normalization vs batch_normalization -> relu``,
    ``order of ops: dropout before dense vs after dense``,
    ``layer hidden is called 2 times: its weights are shared``.
    """
    c = cause if isinstance(cause, Cause) else Cause.from_dict(cause)
    values = _values(c)
    at = f" {c.where}" if c.where else ""
    if c.kind in ("configuration", "regularization", "dtype-policy", "initialization", "training-flag"):
        label = {
            "configuration": "configuration of",
            "regularization": "loss terms of" if not c.where else "regularization of",
            "dtype-policy": "dtype policy of",
            "initialization": "initialisation of",
            "training-flag": "training behaviour of",
        }[c.kind]
        head = f"{label}{at}" if c.where else label.replace(" of", "")
        what = f"{c.attribute} " if c.attribute else ""
        return f"{head}: {what}{values}".rstrip(": ")
    if c.kind == "shared-layer":
        calls = "twice" if c.member == "2 times" else c.member
        return f"layer{at} is called {calls}: its weights are shared ({c.reference})"
    if c.kind == "op-order" and c.attribute == "place":  # one unit found at another place
        return f"order of ops: {c.where} {values}"
    if c.kind == "op-order":
        return f"order of ops{_place(c.where)}: {values}"
    if c.kind == "activation" and c.attribute:  # read from the layers' arguments
        return f"{c.attribute.replace('_', ' ')} of{at}: {values}"
    if c.kind == "activation":
        return f"activation{_place(c.where)}: {values}"
    if c.kind == "op-substitution" and c.attribute == "ops in":
        return f"ops in{at}: {values}"
    if c.kind == "op-substitution":
        return f"{c.attribute or 'op'}{_place(c.where)}: {values}"
    if c.kind == "extra-op":
        what = f" {c.attribute}" if c.attribute else ""
        return f"extra op{what}{_place(c.where)}: {values}"
    if c.kind == "undetermined":
        return "cause not determined"
    if c.kind == "untracked-variable":
        return f"variable{at} is a tf.Variable Keras does not track: not trained, saved or counted"
    if c.kind == "missing-bias":
        where = f" {c.attribute or 'after'}{at}" if c.where else " at the start"
        return f"no bias{where} ({c.reference} in the reference)"
    if c.kind == "structure" and c.attribute == "variables":
        if c.member == "absent":
            return f"missing variables of{at}: {c.reference}"
        return f"extra variables of{at}: {c.member}"
    if c.kind == "structure" and c.attribute in ("layer", "variable"):
        if c.member == "absent":
            return f"missing {c.attribute}{at} {c.reference}"
        return f"extra {c.attribute}{at} {c.member}"
    if c.kind == "structure":
        return f"{c.attribute}{' of' + at if c.where else ''}: {values}"
    label = c.kind.replace("-", " ")
    what = f" {c.attribute}" if c.attribute else ""
    tail = f": {values}" if values else ""
    return f"{label}{what}{' in' + at if c.where else ''}{tail}"


def _place(where: str) -> str:
    """`` after dense``, `` before dense`` (a ``where`` of ``before dense``: at the start), ``""``."""
    if not where:
        return ""
    return f" {where}" if where.startswith("before ") else f" after {where}"


def describe(cause: Cause | Mapping[str, Any]) -> str:
    """A cause in one line with its evidence and, unless certain, how sure pairbench is."""
    c = cause if isinstance(cause, Cause) else Cause.from_dict(cause)
    text = headline(c)
    if c.evidence:
        text += f" ({c.evidence})"
    if c.confidence != CERTAIN:
        text += f" [{c.confidence}]"
    return text


def grouped(causes: Sequence[Cause]) -> list[str]:
    """Headlines with the causes of one kind and place said together:
    ``configuration of batch_normalization: epsilon 0.001 vs 1e-05; momentum 0.99 vs 0.9``;
    untracked variables in one line (``variables w1, b1 are tf.Variables Keras does not track...``)."""
    lines: list[str] = []
    keys: list[tuple[str, str]] = []
    untracked: list[str] = []
    for c in causes:
        key = (c.kind, c.where)
        if c.kind == "untracked-variable":
            if not untracked:
                keys.append((c.kind, "*"))
                lines.append("")
            untracked.append(c.where)
            continue
        if c.kind in _GROUPED and key in keys:
            i = keys.index(key)
            lines[i] += f"; {c.attribute + ' ' if c.attribute else ''}{_values(c)}"
            continue
        keys.append(key)
        lines.append(headline(c))
    if untracked:
        what = (
            f"variable {untracked[0]} is a tf.Variable"
            if len(untracked) == 1
            else f"variables {', '.join(untracked)} are tf.Variables"
        )
        lines[keys.index(("untracked-variable", "*"))] = (
            f"{what} Keras does not track: not trained, saved or counted"
        )
    return lines


#: kinds whose causes at one place are said in one line
_GROUPED = frozenset({"configuration", "regularization", "dtype-policy", "initialization"})


def _matches(where: str, layer: str | None) -> bool:
    if not where or not layer:
        return False
    where = where.removeprefix("before ")
    layer = layer.split("#")[0]
    return where == layer or layer.endswith("/" + where) or where.endswith("/" + layer)


def rank(causes: Iterable[Cause], first_layer: str | None = None) -> list[Cause]:
    """The causes, most explanatory first: the first diverging layer's first, then by
    confidence, then by kind (structure and configuration before numerics); duplicates dropped."""
    unique: list[Cause] = []
    for c in causes:
        if c not in unique:
            unique.append(c)
    confidence = {c: i for i, c in enumerate(CONFIDENCE)}
    return sorted(
        unique,
        key=lambda c: (
            c.kind == "undetermined",
            not _matches(c.where, first_layer),
            confidence[c.confidence],
            _KIND_ORDER[c.kind],
        ),
    )


def lead(reason: str, causes: Sequence[Cause], limit: int = 3) -> str:
    """A record's reason that starts with its top cause (its evidence too), then the others'
    headlines (at most ``limit`` in all), then the reason that was (the numbers)."""
    if not causes:
        return reason
    lines = grouped(causes)
    top = lines[0]
    if causes[0].evidence:
        top += f" ({causes[0].evidence})"
    if causes[0].confidence != CERTAIN:
        top += f" [{causes[0].confidence}]"
    rest = lines[1:limit]
    more = len(lines) - limit
    parts = [top, *rest]
    if more > 0:
        parts.append(f"{more} more cause{'s' if more > 1 else ''}")
    head = "; ".join(parts)
    return f"{head} — {reason}" if reason else head


def causes_text(causes: Iterable[Any] | None) -> str | None:
    """Every cause of a record in one line (``; ``-joined headlines), or None when it has none."""
    items = [c if isinstance(c, Cause) else Cause.from_dict(c) for c in causes or () if c]
    return " | ".join(grouped(items)) or None


def top_kind(causes: Iterable[Any] | None) -> str | None:
    """The kind of a record's top cause, or None."""
    for c in causes or ():
        if isinstance(c, Cause):
            return c.kind
        if isinstance(c, Mapping):
            return str(c.get("kind") or "undetermined")
    return None
