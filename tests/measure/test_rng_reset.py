"""How repeats reset the random state (issue 17): TensorFlow's kernel caches are cleared only
for a case with stateful random kernels, and the repeats still start from one state."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from suite.case import Case
from suite.measure.rng_reset import SEEDS_ONLY, WITH_KERNELS, RngReset, is_stateful_random, settle

tf = pytest.importorskip("tensorflow")


def test_stateful_random_op_types():
    for op in ("RandomUniform", "RandomStandardNormal", "TruncatedNormal", "Multinomial", "RandomShuffle"):
        assert is_stateful_random(op), op
    for op in ("StatelessRandomUniformV2", "StatelessRandomGetKeyCounter", "MatMul", "RngReadAndSkip"):
        assert not is_stateful_random(op), op
    assert is_stateful_random("MyCustomRandomNoise") and not is_stateful_random("MyCustomMatMul")


def _case(mode: str, workload: str = "predict") -> Case:
    return Case("mlp", "raw", workload, mode, "cpu", "float32", "off", "tiny")


def _prepared(fn, mode: str, workload: str = "predict"):
    unit = fn if mode == "eager" else tf.function(fn, jit_compile=mode == "xla")
    unit()  # traced, as prepare_case leaves it
    return SimpleNamespace(unit=unit, rng=RngReset(0))


x = tf.ones((2, 3))


def stateless():
    return tf.random.stateless_uniform((2, 3), seed=(1, 2)) + x  # like a Keras Dropout


def stateful():
    return tf.random.normal((2, 3)) + x  # draws from its kernel's stream


def nested_stateful():
    return tf.map_fn(lambda row: row + tf.random.uniform((3,)), x)  # inside a called function


def test_a_group_without_stateful_kernels_reseeds_without_clearing_caches():
    group = {_case(m): _prepared(stateless, m) for m in ("eager", "function", "xla")}
    settle(group)
    assert {p.rng.label for p in group.values()} == {SEEDS_ONLY}


@pytest.mark.parametrize("fn", [stateful, nested_stateful])
def test_one_stateful_kernel_makes_the_whole_group_clear_caches(fn):
    group = {_case(m): _prepared(fn, m) for m in ("eager", "function")}
    settle(group)
    assert {p.rng.label for p in group.values()} == {WITH_KERNELS}


def test_what_cannot_be_read_keeps_the_safe_reset():
    eager_only = {_case("eager"): _prepared(stateless, "eager")}
    fit = {_case(m, "fit"): _prepared(stateless, m) for m in ("eager", "function")}
    for group in (eager_only, fit):
        settle(group)
        assert {p.rng.label for p in group.values()} == {WITH_KERNELS}


def test_both_resets_restart_what_they_must():
    import keras

    gen_draw = lambda: float(keras.random.uniform(()))  # noqa: E731  Keras' global seed generator
    draws = {}
    for kernels in (False, True):
        rng = RngReset(5, kernels=kernels)
        rng.apply()
        first = (np.random.rand(), gen_draw())
        rng.apply()
        assert (np.random.rand(), gen_draw()) == first
        draws[kernels] = first
    assert draws[False] == draws[True]
    rng = RngReset(5, kernels=True)  # a stateful kernel restarts only with the caches cleared
    fn = tf.function(stateful)
    rng.apply()
    a = fn().numpy()
    rng.apply()
    np.testing.assert_array_equal(fn().numpy(), a)
