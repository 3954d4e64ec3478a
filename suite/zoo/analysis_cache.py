"""What the analysis of a member found, kept per process and re-bound to each new build.

A worker prepares the same member once per mode (eager, ``tf.function``, XLA) and workload:
each case builds its own models, but the analysis of those builds (the variables matched with
the reference's, the audit, the layers that draw random numbers at inference) is the same
every time, because the builds are seeded and named alike (:func:`suite.zoo.prepare.fresh_names`).
Tracing the forward graphs for that analysis costs more than building the models, so
:func:`suite.zoo.prepare.build_members` remembers it here, as data (variable keys, never
variable objects), and re-binds it to the variables of the next build by key. A build whose
variables do not carry the remembered keys is analysed afresh.

Entries are kept per pair class, weakly (two pairs registered under one name, as
:func:`suite.check_models` does, never share an entry, and a notebook's finished
``check_models`` pairs, with the models and arrays they hold, are not kept alive by the cache),
then by member, size, seed, whether it is the float64 build, and the dtype policy.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from suite.zoo.align import Alignment
from suite.zoo.audit import Examination


@dataclass(frozen=True)
class Analysis:
    """One member's analysis, as data.

    Attributes:
        method: how the variables were matched (``name``/``structure``/``order``); None when
            they could not be (``differences`` then say why) or for the reference itself.
        mapping: ``(member key, reference key)`` of every matched variable.
        differences: the audit (every difference, member first).
        ambiguous: why the variables match in more than one way, or ``""``.
        rng_layers: layers that draw random numbers at inference.
        outputs: how the member's output shapes differ from the reference's
            (:func:`suite.zoo.outputs.output_differences`); empty when they agree.
    """

    method: str | None
    mapping: tuple[tuple[str, str], ...]
    differences: tuple[str, ...]
    ambiguous: str
    rng_layers: tuple[str, ...]
    outputs: tuple[str, ...] = ()


#: pair class -> (member, size, seed, float64, dtype policy) -> analysis
_CACHE: weakref.WeakKeyDictionary[type, dict[tuple[Any, ...], Analysis]] = weakref.WeakKeyDictionary()


def cache_key(pair: Any, member: str, size: str, seed: int, float64: bool) -> tuple[Any, ...]:
    """The key of a member's analysis in this process: ``(pair class, rest)`` (see the module
    docstring)."""
    import keras

    return (type(pair), (member, size, seed, float64, keras.mixed_precision.global_policy().name))


def remember(
    key: tuple[Any, ...],
    examined: Examination | None,
    rng_layers: list[str],
    outputs: list[str] | None = None,
) -> None:
    """Keep what :func:`~suite.zoo.audit.examine` found (None for the reference's own cases), and
    how the output shapes differ (``outputs``)."""
    alignment = examined.alignment if examined is not None else None
    cls, rest = key
    _CACHE.setdefault(cls, {})[rest] = Analysis(
        method=alignment.method if alignment is not None else None,
        mapping=tuple((m.key, r.key) for m, r in alignment.pairs) if alignment is not None else (),
        differences=tuple(examined.differences) if examined is not None else (),
        ambiguous=examined.ambiguous if examined is not None else "",
        rng_layers=tuple(rng_layers),
        outputs=tuple(outputs or ()),
    )


def recall(key: tuple[Any, ...]) -> Analysis | None:
    """The analysis kept under ``key``, if any."""
    cls, rest = key
    return _CACHE.get(cls, {}).get(rest)


def rebind(analysis: Analysis, reference: Any, model: Any) -> Examination | None:
    """The remembered examination with the variables of these builds, or None when their
    variables do not carry the remembered keys (then the caller analyses them afresh)."""
    from suite.zoo.variables import inventory

    ref_infos, mem_infos = inventory(reference), inventory(model)
    ref = {i.key: i for i in ref_infos}
    mem = {i.key: i for i in mem_infos}
    if len(ref) != len(ref_infos) or len(mem) != len(mem_infos):
        return None  # keys that repeat cannot be re-bound safely
    examined = Examination(
        alignment=None, differences=list(analysis.differences), ambiguous=analysis.ambiguous
    )
    if analysis.method is None:
        return examined
    try:
        pairs = [(mem[m], ref[r]) for m, r in analysis.mapping]
    except KeyError:
        return None
    if any(tuple(m.shape) != tuple(r.shape) for m, r in pairs):
        return None
    examined.alignment = Alignment(method=analysis.method, pairs=pairs)
    return examined


def clear() -> None:
    """Forget every analysis (tests; a pair file loaded again)."""
    _CACHE.clear()
