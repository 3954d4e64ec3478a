"""The cause engine: every verdict other than ``identical`` gets its causes, ranked.

Two steps, so that nothing costly runs for a case that does not need it:

1. :func:`member_findings` compares a member with the reference once per member and process
   (cached like the audit, :mod:`suite.zoo.analysis_cache`): the configuration of every
   matched layer (:mod:`suite.causes.config_diff`), the traced inference and training graphs
   op by op in order (:mod:`suite.causes.graph_diff`), training semantics
   (:mod:`suite.causes.training`) and the audit's structural findings
   (:mod:`suite.causes.structure`). It is computed only for a record whose ``vs_pair``
   comparison is not bitwise equal.
2. :func:`record_causes` (pure) picks, for one record, the findings that can change its
   workload's numbers (a dropout rate cannot change ``predict``), adds what the numbers
   themselves say (XLA rounding, random masks, TF32, nondeterministic kernels:
   :mod:`suite.causes.numerics`), and ranks them, the first diverging layer's first. When
   nothing explains a difference, the one cause is ``undetermined`` with what was checked.

Findings that cannot change the compared numbers (initialisers: pairbench copied the
reference's weights; a regularizer for ``predict``) are returned apart, to be said as a note.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from suite.causes.cause import MEMBER_KINDS, POSSIBLE, Cause, headline, rank
from suite.verdicts import CLOSE, DIVERGED, NONDETERMINISTIC

#: verdicts that carry causes
EXPLAINED = (CLOSE, DIVERGED, NONDETERMINISTIC)


@dataclass(frozen=True)
class Findings:
    """What differs between a member and the reference, whatever the workload.

    Attributes:
        causes: every finding that can change some numbers (each says which: ``affects``).
        rounding: matched layers computing the same math with other ops, or of other classes
            (said when nothing else explains a difference).
        checked: what was compared (for ``cause not determined``).
    """

    causes: tuple[Cause, ...] = ()
    rounding: tuple[Cause, ...] = ()
    checked: tuple[str, ...] = ()


@dataclass
class _Entry:
    findings: Findings | None = None
    random_layers: dict[bool, list[str]] = field(default_factory=dict)
    config: tuple[Cause, ...] | None = None


#: pair class -> analysis key -> entry
_CACHE: weakref.WeakKeyDictionary[type, dict[tuple[Any, ...], _Entry]] = weakref.WeakKeyDictionary()


def _entry(key: tuple[Any, ...] | None) -> _Entry:
    if key is None:
        return _Entry()
    cls, rest = key
    return _CACHE.setdefault(cls, {}).setdefault(rest, _Entry())


def clear() -> None:
    """Forget every cached analysis (tests)."""
    _CACHE.clear()


def _rebound(reference: Any, model: Any, weight_map: list[list[str]] | None) -> list[tuple[Any, Any]]:
    """The weight alignment's ``(member info, reference info)`` pairs, from ``extra["weight_map"]``."""
    from suite.zoo.variables import inventory

    ref = {i.key: i for i in inventory(reference)}
    mem = {i.key: i for i in inventory(model)}
    mapping = weight_map if weight_map is not None else [[k, k] for k in ref if k in mem]
    return [(mem[m], ref[r]) for m, r in mapping if m in mem and r in ref]


def _graphs(
    model: Any, x: Any, variables: list[Any], phases: tuple[bool, ...] = (False, True)
) -> dict[bool, Any]:
    from suite.causes.graph import read_graph

    out = {}
    for training in phases:
        try:
            out[training] = read_graph(model, x, variables, training=training)
        except Exception:  # a member tf.function cannot trace: its config and audit still tell
            return {}
    return out


def member_findings(
    reference: Any,
    model: Any,
    x: Any,
    weight_map: list[list[str]] | None,
    audit: list[str],
    *,
    loss: str = "",
    cache_key: tuple[Any, ...] | None = None,
) -> Findings:
    """Compare a member with the reference (see the module docstring); cached under ``cache_key``.

    Args:
        reference: the reference model.
        model: the member (holding the reference's weights or not: nothing is run).
        x: inputs in the member's compute dtype.
        weight_map: the record's ``extra["weight_map"]`` (None: by name).
        audit: the audit's differences that did not keep the weights from being copied.
        loss: the training loss's description (``extra["loss"]``).
        cache_key: :func:`suite.zoo.analysis_cache.cache_key` of the member, or None.

    Returns:
        The :class:`Findings`.
    """
    entry = _entry(cache_key)
    if entry.findings is not None:
        return entry.findings
    from suite.causes.config_diff import config_causes
    from suite.causes.graph_diff import diff_units, rounding_causes
    from suite.causes.layers import anchors, layer_anchors, matched_layers
    from suite.causes.structure import structural_causes
    from suite.causes.training import logits_causes, loss_term_causes, mode_causes
    from suite.causes.units import units

    pairs = _rebound(reference, model, weight_map)
    mem_vars, ref_vars = anchors(pairs)
    mem_layers, ref_layers = layer_anchors(pairs)
    ref_graphs = _graphs(reference, x, [r.var for _, r in pairs])
    mem_graphs = _graphs(model, x, [m.var for m, _ in pairs]) if ref_graphs else {}
    traced = bool(ref_graphs and mem_graphs)
    layer_pairs = matched_layers(reference, model, pairs)
    causes = structural_causes(
        [a for a in audit if not (traced and a.startswith(("activation ", "recurrent activation ")))],
        copied=True,
    )
    config = config_causes(layer_pairs, graph_checked=traced)
    causes += config
    rounding: list[Cause] = []
    checked = [f"the configuration of {len(layer_pairs)} matched layers", "the structural audit"]
    if traced:
        flags = mode_causes(ref_graphs[True], mem_graphs[True], pairs)
        explained = _explained(layer_pairs, config) | {c.where for c in flags}
        mem_owner = {id(p.member): p.label for p in layer_pairs}
        ref_owner = {id(p.reference): p.label for p in layer_pairs}
        seqs = {
            training: (
                units(ref_graphs[training], ref_vars, ref_layers, ref_owner),
                units(mem_graphs[training], mem_vars, mem_layers, mem_owner),
            )
            for training in (False, True)
        }
        forward = diff_units(*seqs[False], explained=explained)
        seen = {(c.kind, c.where, c.attribute, c.member, c.reference) for c in forward}
        training = [
            c
            for c in diff_units(*seqs[True], phase="training", explained=explained)
            if (c.kind, c.where, c.attribute, c.member, c.reference) not in seen
        ]
        causes += forward + training + flags
        regularized = {c.where for c in causes if c.kind == "regularization"}
        causes += [
            c
            for c in loss_term_causes(ref_graphs[True], mem_graphs[True], (mem_layers, ref_layers))
            if c.where not in regularized
        ]
        rounding = rounding_causes(*seqs[False])
        checked += ["the inference and training graphs op by op", "training flags and loss terms"]
    causes = _without_config_dtype_twins(causes)
    rounding += logits_causes(reference, model, x, loss)
    rounding += [  # said when nothing else explains a difference: another class may compute otherwise
        Cause(
            kind="structure",
            where=p.label,
            attribute="layer class",
            member=type(p.member).__name__,
            reference=type(p.reference).__name__,
            evidence="the layers holding the same weights are of other classes",
            confidence=POSSIBLE,
        )
        for p in layer_pairs
        if type(p.member).__name__ != type(p.reference).__name__
    ]
    entry.findings = Findings(causes=tuple(causes), rounding=tuple(rounding), checked=tuple(checked))
    return entry.findings


def _explained(layer_pairs: list[Any], config: list[Cause]) -> frozenset[str]:
    """Layers without weights (pooling, dropout, activation layers) whose configuration differs:
    what their ops do differently is what the configuration cause says (a layer with weights
    has other ops too: its activation is not explained by its ``use_bias``)."""
    weightless = {p.label for p in layer_pairs if not p.reference.weights and not p.member.weights}
    return frozenset(c.where.split(" (the member's ")[0] for c in config) & weightless


def _without_config_dtype_twins(causes: list[Cause]) -> list[Cause]:
    """A dtype policy said by the config needs no second cause from the casts it brings."""
    from_config = {c.where for c in causes if c.kind == "dtype-policy" and c.attribute == "dtype"}
    if not from_config:
        return causes
    return [c for c in causes if not (c.kind == "dtype-policy" and c.attribute != "dtype")]


def configuration_findings(
    reference: Any,
    model: Any,
    weight_map: list[list[str]] | None,
    *,
    cache_key: tuple[Any, ...] | None = None,
) -> tuple[Cause, ...]:
    """The configuration differences of matched layers alone (no tracing: cheap), for an
    ``identical`` record's note: what differs but cannot change its numbers (initialisers,
    regularizers for ``predict``). Activations are left out (equal numbers: equal math)."""
    from suite.causes.config_diff import config_causes
    from suite.causes.layers import matched_layers

    entry = _entry(cache_key)
    if entry.config is None:
        pairs = _rebound(reference, model, weight_map)
        entry.config = tuple(config_causes(matched_layers(reference, model, pairs), graph_checked=True))
    return entry.config


def mismatch_causes(
    reference: Any,
    model: Any,
    x: Any,
    differences: list[str],
    *,
    weight_map: list[list[str]] | None = None,
) -> list[Cause]:
    """The causes of a member whose weights cannot take the reference's, or whose outputs
    have other shapes.

    The audit's differences (:mod:`suite.causes.structure`), with what the layers that do
    match say (through the weight map when the weights did map, else by variable name when
    most names line up, else by class in order): their configuration, and the ops their
    forward passes run between them (a ``ConcatV2`` where the reference adds, a ``Mean``
    where it flattens). After a shared layer and a missing bias, a configuration that changes
    shapes or variables (``padding valid vs same``, ``return_sequences True vs False``) and
    the ops that change shapes are said before the shapes, outputs and variables they explain.

    Args:
        reference: the reference model (built).
        model: the member (built).
        x: inputs both can be called on.
        differences: the audit's differences (output shapes first, when they differ).
        weight_map: ``[[member variable, reference variable], ...]`` when the weights did map.

    Returns:
        The ranked causes.
    """
    from suite.causes.config_diff import SHAPE_KEYS, VARIABLE_KEYS, config_causes
    from suite.causes.graph_diff import diff_units
    from suite.causes.layers import anchors, layer_anchors, matched_layers, wrapper_differences
    from suite.causes.structure import OUTPUT_ATTRIBUTES, structural_causes
    from suite.causes.units import units
    from suite.zoo.mismatch import mostly_named_alike
    from suite.zoo.variables import inventory

    structural = structural_causes(differences, copied=False)
    config: list[Cause] = []
    ops: list[Cause] = []
    wrapped: list[Cause] = []
    try:
        ref_infos, mem_infos = inventory(reference), inventory(model)
        pairs = []
        if weight_map is not None:
            pairs = _rebound(reference, model, weight_map)
        elif mostly_named_alike(ref_infos, mem_infos):
            by_key = {m.key: m for m in mem_infos}
            pairs = [(by_key[r.key], r) for r in ref_infos if r.key in by_key]
        layer_pairs = matched_layers(reference, model, pairs)
        shared = any(c.kind == "shared-layer" for c in structural)
        # a layer called twice shifts every layer after it: names no longer say which is which
        config = [] if shared else config_causes(layer_pairs, graph_checked=True, shapes=True)
        wrapped = [
            Cause(
                kind="structure",
                where=label,
                attribute="wrapper",
                member=mine,
                reference=theirs,
                evidence="the layers holding the matched layers",
            )
            for label, mine, theirs in wrapper_differences(reference, model, layer_pairs)
        ]
        if pairs and not shared:  # a layer called twice reads alike nowhere: its audit says it
            graphs = [
                _graphs(m, x, [i.var for i in infos], phases=(False,))
                for m, infos in ((reference, [r for _, r in pairs]), (model, [m for m, _ in pairs]))
            ]
            if all(graphs):
                mem_vars, ref_vars = anchors(pairs)
                mem_layers, ref_layers = layer_anchors(pairs)
                explained = _explained(layer_pairs, config)
                ref_owner = {id(p.reference): p.label for p in layer_pairs}
                mem_owner = {id(p.member): p.label for p in layer_pairs}
                ops = [
                    c
                    for c in diff_units(
                        units(graphs[0][False], ref_vars, ref_layers, ref_owner),
                        units(graphs[1][False], mem_vars, mem_layers, mem_owner),
                        explained=explained,
                    )
                    if c.kind in ("extra-op", "op-substitution", "activation")
                ]
                # the traced ops say which activations run, not the layers' arguments
                structural = [c for c in structural if c.kind != "activation" or c.attribute]
    except Exception:  # the audit's differences still say what differs
        pass
    if wrapped:  # a wrapper shifts the forward order the audit pairs biases by: no bias is missing
        structural = [c for c in structural if c.kind != "missing-bias"]
    first = [c for c in structural if c.kind == "shared-layer"] + wrapped
    # an untracked variable explains the op that uses it (read as a captured constant)
    first += [c for c in structural if c.kind in ("untracked-variable", "missing-bias")]
    explaining = [c for c in config if c.attribute in SHAPE_KEYS | VARIABLE_KEYS]
    explaining += [c for c in ops if c.kind != "activation"]
    outputs = [c for c in structural if c.kind == "structure" and c.attribute in OUTPUT_ATTRIBUTES]
    explaining += [c for c in outputs if c not in explaining]
    rest = rank([c for c in structural + config + ops if c not in first and c not in explaining])
    return [*first, *explaining, *rest]


def random_layers(
    model: Any, x: Any, *, training: bool, cache_key: tuple[Any, ...] | None = None
) -> list[str]:
    """Layers of ``model`` whose ``training`` pass draws random numbers (cached under ``cache_key``).

    Returns:
        Layer names in graph order (``"op"`` for random ops outside every layer); empty when
        the member cannot be traced.
    """
    entry = _entry(cache_key)
    if training in entry.random_layers:
        return entry.random_layers[training]
    from suite.causes.graph import read_graph

    try:
        graph = read_graph(model, x, [], training=training)
    except Exception:  # nothing can be said without a graph
        found: list[str] = []
    else:
        found = [graph.layer_names.get(layer, "op") for layer in graph.random_layers()]
    entry.random_layers[training] = found
    return found


def record_causes(
    *,
    workload: str,
    mode: str,
    precision: str,
    verdict: str,
    divergence: Mapping[str, Any],
    localisation: Mapping[str, Any] | None,
    numerics: Mapping[str, Any],
    findings: Findings | None,
    random: list[str],
) -> tuple[list[Cause], list[Cause]]:
    """The ranked causes of one record, and the findings that cannot change its numbers.

    Args:
        workload: the case's workload.
        mode: its mode.
        precision: its precision.
        verdict: its verdict; only ``close``, ``diverged`` and ``nondeterministic`` get causes.
        divergence: its ``divergence``.
        localisation: its ``localisation`` (None when not localised).
        numerics: its ``numerics``.
        findings: :func:`member_findings`, when ``vs_pair`` is not bitwise equal.
        random: layers drawing random numbers in the workload's pass.

    Returns:
        ``(causes, dormant)``.
    """
    from suite.causes.numerics import numeric_causes

    if verdict not in EXPLAINED:
        return [], []
    causes: list[Cause] = []
    dormant: list[Cause] = []
    pair = divergence.get("vs_pair")
    if pair and not pair.get("bitwise_equal") and findings is not None:
        applicable = [c for c in findings.causes if c.applies_to(workload)]
        dormant = [c for c in findings.causes if not c.applies_to(workload)]
        causes += applicable or list(findings.rounding)
        if not causes:
            causes.append(
                Cause(
                    kind="undetermined",
                    evidence=f"vs_pair {'within' if verdict == CLOSE else 'beyond'} tolerance; checked "
                    + ", ".join(findings.checked)
                    + ": no difference found",
                    confidence=POSSIBLE,
                )
            )
    causes += numeric_causes(
        workload=workload,
        mode=mode,
        precision=precision,
        verdict=verdict,
        divergence=divergence,
        localisation=localisation,
        numerics=numerics,
        random_layers=random,
    )
    if not causes:
        causes.append(
            Cause(
                kind="undetermined",
                evidence="no comparison names a difference pairbench can explain",
                confidence=POSSIBLE,
            )
        )
    first = ((localisation or {}).get("forward") or {}).get("layer")
    return rank(causes, first), dormant


def dormant_note(dormant: list[Cause], workload: str) -> str:
    """A note for findings that cannot change this record's numbers, or ``""``."""
    if not dormant:
        return ""
    parts = []
    for cause in dormant:
        why = {
            "none": "pairbench gave both members the reference's weights",
            "inference": f"acts at inference only, not in {workload}",
        }.get(cause.affects, f"acts in training only, not in {workload}")
        parts.append(f"{headline(cause)} ({why})")
    return "also differs, not a cause of these numbers: " + "; ".join(parts)


#: the flag of an ``identical`` record whose members still compute differently
LATENT_FLAG = "latent-difference"

#: kinds that can leave a member's numbers equal on the inputs used and differ on others
_LATENT_KINDS = MEMBER_KINDS - {"rounding", "initialization"}


def latent_causes(findings: Findings, workload: str) -> list[Cause]:
    """Findings that change the math of ``workload`` although its numbers came out identical:
    the inputs did not reach the difference (``relu6`` for ``relu`` where no value exceeds 6, a
    ``ReLU(max_value=6)``), ranked."""
    return rank([c for c in findings.causes if c.kind in _LATENT_KINDS and c.applies_to(workload)])


def latent_note(latent: list[Cause]) -> str:
    """The note of an ``identical`` record whose members still compute differently, or ``""``."""
    if not latent:
        return ""
    return (
        "identical on these inputs, but the builds compute differently (other inputs may tell "
        "them apart): " + "; ".join(headline(c) for c in latent)
    )
