"""Restoring the random state before each repeat, without slowing the timed sample down.

Every repeat starts from the same random state (:meth:`suite.measure.execution.Prepared.repeat`), so
that reruns can be compared. ``keras.utils.set_random_seed`` does that for Python, numpy,
Keras' global seed generator and TensorFlow's global seed; but TensorFlow's part
(``tf.random.set_seed``) also clears TensorFlow's kernel caches, so that *stateful* random
kernels (``tf.random.normal``, ``tf.nn.dropout``: ops with ``seed``/``seed2`` attributes that
keep their stream inside the kernel) restart their streams. Clearing the caches costs every
function of the process a re-instantiation: measured on a 2-core CPU VM (``mlp_seed``
train_step under tf.function, 40 resets), the first call after it took 8-10x a step and the
next ~40 calls 1.1-1.2x, which put 10-20% on tf.function step times (issue 17's "tf.function
rows lean above 1").

So a repeat clears the kernel caches only when the case has such kernels
(:func:`needs_kernel_reset`): Keras layers draw through seed generators whose state is a
variable (restored with the weights) and stateless ops, and need nothing of TensorFlow's
global seed. The record says which reset each case had (``timing.rng_reset``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: ``timing.rng_reset`` values
SEEDS_ONLY = "seeds"
WITH_KERNELS = "seeds+tf-kernel-caches"
#: op types that are random when TensorFlow does not know them (a custom op library)
_RANDOM_NAME = re.compile(r"Random|TruncatedNormal|Multinomial")


@dataclass
class RngReset:
    """How a case's repeats restore the random state.

    Attributes:
        seed: the run's seed.
        kernels: also reseed TensorFlow, which clears its kernel caches (the safe default until
            :func:`settle` finds that the case has no stateful random kernel).
    """

    seed: int
    kernels: bool = True

    def apply(self) -> None:
        """Reseed: everything ``keras.utils.set_random_seed`` seeds, TensorFlow only if ``kernels``."""
        import keras

        if self.kernels:
            keras.utils.set_random_seed(self.seed)
            return
        try:
            from keras.src.backend.common import global_state
            from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
            from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
        except ImportError:  # another Keras layout: the safe, slower reset
            keras.utils.set_random_seed(self.seed)
            return
        global_state.set_global_attribute(GLOBAL_RANDOM_SEED, self.seed)
        global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)  # recreated from the seed
        random.seed(self.seed)
        import numpy as np

        np.random.seed(self.seed)

    @property
    def label(self) -> str:
        """The record's ``timing.rng_reset``."""
        return WITH_KERNELS if self.kernels else SEEDS_ONLY


def is_stateful_random(op_type: str) -> bool:
    """Whether ops of this type keep a random stream inside their kernel (stateful, with
    ``seed``/``seed2`` attributes); an op type TensorFlow does not know counts when its name
    says random."""
    from tensorflow.python.framework import op_def_registry

    op_def = op_def_registry.get(op_type)
    if op_def is None:
        return bool(_RANDOM_NAME.search(op_type))
    return op_def.is_stateful and {"seed", "seed2"} <= {a.name for a in op_def.attr}


def graph_has_stateful_random(concrete: Any) -> bool:
    """Whether a concrete function (or a function it calls) holds a stateful random op."""
    graph_def = concrete.graph.as_graph_def()
    ops = {n.op for n in graph_def.node}
    for function in graph_def.library.function:
        ops |= {n.op for n in function.node_def}
    return any(is_stateful_random(op) for op in ops)


def needs_kernel_reset(unit: Any) -> bool | None:
    """Whether a case's traced ``tf.function`` holds a stateful random op (its repeats must then
    clear the kernel caches). Its graph is read; nothing is traced again.

    Returns:
        True or False; None when it cannot be told (``unit`` is not a traced ``tf.function``),
        which callers read as True.
    """
    try:
        concrete = unit.get_concrete_function()
    except Exception:  # not a tf.function (an eager step, model.fit), or one that needs arguments
        return None
    return graph_has_stateful_random(concrete)


def settle(prepared: Mapping[Any, Any]) -> None:
    """Decide the reset of every prepared case of a group (sets ``prepared.rng.kernels``).

    A ``tf.function``/XLA case is read from its traced graph; an eager case takes the answer of
    the group's traced cases (same member and workload: the same Python step), and keeps the
    safe reset when the group has none (tracing it only to find out could run the user's
    Python side effects). ``fit`` keeps the safe reset (``model.fit`` is not one traced
    function). Clearing TensorFlow's caches touches the whole process, so when one case of the
    group needs it, every case of the group gets it (and its record says so).
    """
    answers = {
        case: None if case.workload == "fit" else needs_kernel_reset(prep.unit)
        for case, prep in prepared.items()
        if case.mode != "eager"
    }
    traced = [a for a in answers.values() if a is not None]
    for case in prepared:
        if case not in answers:
            answers[case] = any(traced) if traced and case.workload != "fit" else None
    kernels = any(a is None or a for a in answers.values())
    for prep in prepared.values():
        prep.rng.kernels = kernels
