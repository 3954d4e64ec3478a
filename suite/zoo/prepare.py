"""Build a case's reference and member with the same initial weights, and say what differs.

:func:`build_members` is what ``prepare_case`` (timing), ``pairbench explain`` and
:func:`suite.check_models` share: seeded builds, the float64 reference given its float32
donor's weights, the member's variables matched with the reference's (by name or by
structure) and copied bitwise, the audit, the members' output shapes for the same inputs
(another shape is a structural mismatch: the numbers cannot be compared), the training
target and loss, and what the member does with random numbers at inference.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from suite.errors import AmbiguousAlignment, CaseUnsupported, StructuralMismatch
from suite.verdicts import INCOMPARABLE, NONDETERMINISTIC
from suite.zoo.align import Alignment
from suite.zoo.loss import Training

#: flag of a record whose member draws random numbers with ``training=False``
RNG_FLAG = "rng-at-inference"
#: flag of a record whose member keeps ``tf.Variable`` attributes Keras does not track
UNTRACKED_FLAG = "untracked-variables"


@dataclass
class Members:
    """A case's models, ready to run.

    Attributes:
        reference: the reference member.
        model: the member (the reference itself for the reference's cases).
        training: target and loss of ``train_step``/``fit``.
        alignment: how the member's variables took the reference's (None for the reference).
        audit: differences that did not keep the weights from being copied (an activation...).
        rng_layers: layers that draw random numbers at inference.
        notes: sentences to show next to the verdict.
        flags: machine-readable tags (:data:`RNG_FLAG`, :data:`UNTRACKED_FLAG`).
    """

    reference: Any
    model: Any
    training: Training
    alignment: Alignment | None = None
    audit: list[str] = field(default_factory=list)
    rng_layers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def extra(self) -> dict[str, Any]:
        """What the record keeps in ``extra``: ``weight_match`` (``name``/``structure``/``order``),
        ``weight_map`` (``[[member variable, reference variable], ...]``) and ``loss``."""
        out: dict[str, Any] = {"loss": self.training.description}
        if self.alignment is not None:
            out["weight_match"] = self.alignment.method
            out["weight_map"] = self.alignment.mapping()
        return out

    def require_trainable(self) -> None:
        """Refuse a training workload for a member without trainable variables, unless it took
        the weights of a reference that has some: then it is trained as Keras would train it
        (not at all: its variables are untracked or frozen) and its numbers say so.

        Raises:
            CaseUnsupported: ``no trainable variables`` (naming untracked ones if any).
        """
        if list(self.model.trainable_variables):
            return
        if self.alignment is not None and list(self.reference.trainable_variables):
            return
        untracked = [n for n in self.notes if "does not track" in n]
        raise CaseUnsupported("no trainable variables" + (f" ({'; '.join(untracked)})" if untracked else ""))


@contextmanager
def fresh_names() -> Iterator[None]:
    """Keras numbers unnamed layers from ``dense`` again inside, as in a fresh process.

    Each build of a case (reference, member, float64 donor) runs inside one, so it names its
    layers alike whatever was built before in this process: variable keys and output names
    agree across modes, workers and runs, and two members read ``dense``, ``dense_1`` as a
    user who builds each alone would see them. The counters are given back afterwards, so a
    notebook's own layer names go on as before.
    """
    from keras.src.backend.common import global_state

    saved = global_state.get_global_attribute("object_name_uids")
    global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute("object_name_uids", saved)


def inference_rng(model: Any, x: Any) -> list[str]:
    """Layers of ``model`` whose ``training=False`` output depends on random numbers.

    Returns:
        Layer labels (see :func:`suite.zoo.forward.random_layers`); empty when none, or when
        the member cannot be traced (nothing can be said then).
    """
    from suite.zoo.forward import random_layers, trace_forward
    from suite.zoo.variables import layer_names

    try:
        trace = trace_forward(model, x, [], training=False)
    except Exception:  # a member tf.function cannot trace: its eager reruns still tell
        return []
    return random_layers(trace, layer_names(model))


def _float32_donor(pair: Any, size: str, reference: Any, x_np: Any, seed: int) -> None:
    """Give a float64 build the float32 build's initial weights (cast exactly), matched by name
    or, when the builder names nothing (auto-numbered layers), by creation order.

    Raises:
        CaseUnsupported: the builder does not follow the float64 policy (float32 variables).
    """
    import keras

    from suite.zoo.variables import inventory
    from suite.zoo.weights import copy_weights, ensure_built

    narrow = [i for i in inventory(reference) if i.dtype in ("float32", "float16", "bfloat16")]
    if narrow:
        raise CaseUnsupported(
            f"the reference member does not build in float64 ({narrow[0].key} is {narrow[0].dtype}): "
            "give a class or a function that builds it, so the dtype policy applies"
        )
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        keras.utils.set_random_seed(seed)
        donor = pair.build(pair.reference, size)
        ensure_built(donor, as_inputs(x_np, "float32"))
    finally:
        keras.mixed_precision.set_global_policy(policy)
    copy_weights(donor, reference, allow_cast=True, by="order")


def as_inputs(array: Any, dtype: str) -> Any:
    """Inputs as tensors, float ones cast to ``dtype`` (integer ids stay integers); nested
    structures (dicts, lists of arrays) keep their structure."""
    import tensorflow as tf

    def convert(a: Any) -> Any:
        tensor = tf.constant(a)
        return tf.cast(tensor, dtype) if tensor.dtype.is_floating else tensor

    return tf.nest.map_structure(convert, array)


def build_members(
    pair: Any, member: str, size: str, batch: Any, x: Any, seed: int, *, float64: bool = False
) -> Members:
    """Build the reference (seed ``seed``) and the member (``seed + 1``), copy the weights.

    Args:
        pair: the :class:`~suite.zoo.base.Pair`.
        member: the member to build (the reference's name for the reference's cases).
        size: the size preset.
        batch: the pair's :class:`~suite.zoo.base.Batch` (numpy).
        x: ``batch.x`` as tensors in the compute dtype.
        seed: seeds weights (and a generated target).
        float64: the float64 reference run: take the float32 build's initial weights.

    Returns:
        :class:`Members`.

    Raises:
        StructuralMismatch: the member cannot take the reference's weights (the whole audit),
            or its outputs have other shapes than the reference's for the same inputs
            (:func:`suite.zoo.outputs.output_differences` first, then the audit).
        AmbiguousAlignment: its variables match the reference's in more than one way.
        CaseUnsupported: the float64 reference cannot be built.
    """
    import keras

    from suite.zoo import analysis_cache
    from suite.zoo.audit import examine, untracked_messages
    from suite.zoo.loss import resolve_training
    from suite.zoo.outputs import output_differences
    from suite.zoo.variables import inventory
    from suite.zoo.weights import copy_weights, ensure_built

    with fresh_names():
        keras.utils.set_random_seed(seed)
        reference = pair.build(pair.reference, size)
        ensure_built(reference, x)
    model = reference
    if member != pair.reference:
        with fresh_names():
            keras.utils.set_random_seed(seed + 1)
            model = pair.build(member, size)
            ensure_built(model, x)
    if float64:
        with fresh_names():
            _float32_donor(pair, size, reference, batch.x, seed)
    training = resolve_training(pair.loss, batch.y, reference, x, seed)
    key = analysis_cache.cache_key(pair, member, size, seed, float64)
    known = analysis_cache.recall(key)
    examined = None
    if member == pair.reference:
        found = Members(reference, reference, training, notes=untracked_messages(inventory(reference)))
    else:
        examined = analysis_cache.rebind(known, reference, model) if known is not None else None
        if examined is None:
            known = None
            examined = examine(reference, model, x)
            if examined.ambiguous or examined.alignment is None:  # the same for every mode: kept too
                analysis_cache.remember(key, examined, [])
        if examined.ambiguous:
            raise AmbiguousAlignment(examined.ambiguous)
        if examined.alignment is None:
            raise structural_mismatch(examined.differences, (reference, model, x))
        outputs = list(known.outputs) if known is not None else output_differences(reference, model, x)
        if outputs:  # the weights map, the outputs cannot be compared: kept for every mode too
            analysis_cache.remember(key, examined, [], outputs=outputs)
            raise structural_mismatch(
                outputs + examined.differences, (reference, model, x), examined.alignment.mapping()
            )
        copy_weights(reference, model, alignment=examined.alignment)
        found = Members(reference, model, training, alignment=examined.alignment, audit=examined.differences)
        found.notes = [d for d in examined.differences if "does not track" in d]
    if found.notes:
        found.flags.append(UNTRACKED_FLAG)
    if known is not None:
        found.rng_layers = list(known.rng_layers)
    else:
        found.rng_layers = inference_rng(found.model, x)
        analysis_cache.remember(key, examined, found.rng_layers)
    if found.rng_layers:
        found.flags.append(RNG_FLAG)
        found.notes += [f"layer {name} draws random numbers at inference" for name in found.rng_layers]
    return found


def structural_mismatch(
    differences: list[str],
    models: tuple[Any, Any, Any] | None = None,
    weight_map: list[list[str]] | None = None,
) -> StructuralMismatch:
    """The error of a member whose weights cannot take the reference's, or whose outputs have
    other shapes: every difference (the audit puts the real structural one first: a shared
    layer before the variables it leaves unmatched; output shapes come before the audit),
    flagged when untracked variables are among them; with ``(reference, member, inputs)`` for
    the configuration and the forward passes of the layers that do match, and the weight map
    when the weights did map."""
    untracked = any("does not track" in d for d in differences)
    return StructuralMismatch(
        differences, flags=[UNTRACKED_FLAG] if untracked else [], models=models, weight_map=weight_map
    )


def rng_verdict(verdict: str, reason: str, rng_layers: list[str]) -> tuple[str, str]:
    """A verdict that does not call a member drawing random numbers at inference nondeterministic.

    Every repeat starts from the same random state, so such a member's reruns agree when its
    draws come from that state (eager ops, Keras seed generators). When they still differ (a
    stateful random op inside ``tf.function``/XLA keeps its own state), the reruns cannot be
    compared: the verdict is ``incomparable`` and the reason names the layers.

    Args:
        verdict: the verdict from the divergence numbers.
        reason: its reason.
        rng_layers: :attr:`Members.rng_layers`.

    Returns:
        ``(verdict, reason)``.
    """
    if verdict != NONDETERMINISTIC or not rng_layers:
        return verdict, reason
    names = ", ".join(rng_layers)
    return INCOMPARABLE, (
        f"reruns differ because layer {names} draws random numbers at inference (its training=False "
        f"output depends on the random state; not a nondeterministic kernel): {reason}"
    )
