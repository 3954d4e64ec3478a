"""A case that runs out of memory is an ``error`` whose reason starts with "out of memory" (issue 27).

Under a memory limit numpy raises ``_ArrayMemoryError`` ("Unable to allocate 64.0 MiB for an
array with shape (8388608,)"), which user code or a library may wrap in another exception;
TensorFlow raises ``ResourceExhaustedError``; a worker killed for memory leaves its fatal line
in its log. All of them name memory.
"""

from __future__ import annotations

import numpy as np
import pytest

from suite.errors import classify_failure, mentions_out_of_memory, out_of_memory


def _numpy_oom() -> MemoryError:
    try:
        np.empty((1 << 50,), dtype=np.float64)  # 8 PiB: never allocatable
    except MemoryError as exc:
        return exc
    pytest.skip("numpy allocated 8 PiB")


class ResourceExhaustedError(Exception):
    """Named like TensorFlow's (``tf.errors.ResourceExhaustedError``), without importing it."""


def _wrapped(inner: BaseException) -> RuntimeError:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise RuntimeError(f"model failed: {exc}") from None  # the cause is not chained
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "make",
    [
        lambda: MemoryError(),
        _numpy_oom,
        lambda: _wrapped(_numpy_oom()),
        lambda: RuntimeError(
            "Unable to allocate 64.0 MiB for an array with shape (8388608,) and data type float64"
        ),
        lambda: ResourceExhaustedError("OOM when allocating tensor with shape[8192,8192]"),
        lambda: ValueError("CUDA_ERROR_OUT_OF_MEMORY: out of memory"),
    ],
    ids=["MemoryError", "numpy", "numpy-wrapped", "numpy-message", "tensorflow", "cuda"],
)
def test_out_of_memory_is_named(make):
    exc = make()
    assert out_of_memory(exc)
    verdict, reason = classify_failure(exc)
    assert verdict == "error" and reason.startswith("out of memory: "), reason


def test_other_errors_are_not_memory():
    assert not out_of_memory(ValueError("shapes (2,3) and (4,5) not aligned"))
    assert classify_failure(ValueError("bad"))[1] == "ValueError: bad"


def test_a_worker_log_that_says_memory_is_recognised():
    assert mentions_out_of_memory("MemoryError: Unable to allocate 8.00 GiB for an array")
    assert mentions_out_of_memory("F0000 bfc_allocator.cc:4] Check failed: failed to allocate memory")
    assert not mentions_out_of_memory("Segmentation fault (core dumped)")
