"""Failure reasons carry the root cause and the op (real TensorFlow errors); stop signals."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from suite.errors import RunInterrupted, classify_failure, root_cause, stop_on_signals, xla_unsupported_ops

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


def _scatter_layer():
    class ScatterAddDup(keras.layers.Layer):
        def call(self, x):
            index = tf.zeros((tf.shape(x)[0], 1), tf.int32)
            return tf.tensor_scatter_nd_add(tf.zeros((4, x.shape[-1]), tf.float32), index, x)

    return ScatterAddDup(name="scatter", dtype="float64")  # as under the float64 reference's policy


@pytest.mark.parametrize("build", ["input", "call"])
def test_keras_wrapper_is_unwrapped_to_the_cause_and_the_op(build):
    with pytest.raises(Exception) as info:
        if build == "input":  # Keras infers the output spec symbolically at construction
            keras.Sequential([keras.Input((3,), dtype="float64"), _scatter_layer()])
        else:  # an eager call
            _scatter_layer()(np.ones((2, 3), np.float64))
    assert "Exception encountered when calling" in str(info.value)  # what Keras raises
    verdict, reason = classify_failure(info.value)
    assert verdict == "error"
    assert "ScatterAddDup.call()" in reason and "TensorScatterAdd" in reason
    assert "Exception encountered" not in reason and "\n" not in reason
    assert "float64" in reason or "double" in reason


def test_xla_names_the_unsupported_op_and_its_node():
    @tf.function(jit_compile=True)
    def pooled(x):
        return tf.math.segment_sum(x, tf.constant([0, 0, 1]))

    with pytest.raises(Exception) as info:
        pooled(tf.ones((3, 2)))
    verdict, reason = classify_failure(info.value)
    assert verdict == "unsupported"
    assert (
        reason.startswith("XLA cannot compile SegmentSum (node ") and "no XLA kernel on XLA_CPU_JIT" in reason
    )
    assert xla_unsupported_ops("some other error") is None


def test_tf_function_errors_name_the_inner_exception():
    @tf.function
    def loss(x):
        return keras.losses.sparse_categorical_crossentropy(tf.zeros((4,)), x)

    with pytest.raises(Exception) as info:
        loss(tf.ones((4, 1, 3)))
    assert str(info.value).startswith("in user code:")
    reason = root_cause(info.value)
    assert reason.startswith("ValueError: Argument `output` must have rank")


def test_op_errors_name_the_op_and_explicit_causes_are_followed():
    with pytest.raises(Exception) as info:
        tf.matmul(tf.ones((2, 3)), tf.ones((2, 3)))
    assert root_cause(info.value).endswith("(op MatMul)")
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as exc:
        assert root_cause(exc) == "KeyError: 'inner' (raised as RuntimeError: outer)"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_stop_signals_raise_run_interrupted_with_the_shells_exit_code(signum):
    """SIGTERM and SIGHUP stop like Ctrl-C: the handler raises ``RunInterrupted`` naming the signal
    (``pairbench: interrupted (SIGHUP)``, exit 128 + N), and the old handlers come back after.
    A real run stopped by SIGTERM: ``tests/run/test_faults.py``."""
    previous = signal.getsignal(signum)
    restore = stop_on_signals()
    try:
        with pytest.raises(RunInterrupted) as caught:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler runs in the main thread at the next bytecode
    finally:
        restore()
    assert str(caught.value) == signal.Signals(signum).name and caught.value.exit_code == 128 + signum
    assert signal.getsignal(signum) is previous
