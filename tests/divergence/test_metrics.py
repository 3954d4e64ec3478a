"""Divergence metrics against hand-computed cases and a brute-force reference."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

from suite.divergence import metrics
from suite.divergence.metrics import METRIC_KEYS, compare_arrays
from suite.divergence.outputs import compare_outputs, rerun_spread

BF16 = np.dtype(ml_dtypes.bfloat16)
FLOATS = [np.dtype(np.float16), BF16, np.dtype(np.float32), np.dtype(np.float64)]


def _bits_plus(x: float, dtype: np.dtype, k: int) -> np.ndarray:
    """The float ``k`` representable steps above ``x`` (through the integer view)."""
    arr = np.array([x], dtype=dtype)
    return (arr.view(f"u{dtype.itemsize}") + k).view(dtype)


def _ordered(value: np.ndarray) -> int:
    """Brute-force ordered integer of one float (Python ints, no overflow)."""
    width = value.dtype.itemsize * 8
    bits = int(value.view(f"u{value.dtype.itemsize}")[()])
    magnitude = bits & ((1 << (width - 1)) - 1)
    return -magnitude if bits >> (width - 1) else magnitude


def _brute_ulps(a: np.ndarray, b: np.ndarray) -> list[int]:
    return [abs(_ordered(x) - _ordered(y)) for x, y in zip(a, b, strict=True)]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_signed_zeros_are_zero_ulp_apart_but_not_bitwise_equal(dtype):
    r = compare_arrays(np.array([0.0], dtype), np.array([-0.0], dtype))
    assert r["max_ulp"] == 0 and r["max_abs"] == 0.0
    assert r["bitwise_equal"] is False and r["frac_diff"] == 1.0


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_smallest_subnormals_of_opposite_sign_are_two_ulp_apart(dtype):
    tiny = _bits_plus(0.0, dtype, 1)
    r = compare_arrays(tiny, -tiny)
    assert r["max_ulp"] == 2
    assert r["max_abs"] == pytest.approx(2 * float(tiny[0]))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_one_and_its_successor_are_one_ulp_apart(dtype):
    one = np.array([1.0], dtype)
    nxt = _bits_plus(1.0, dtype, 1)
    r = compare_arrays(nxt, one)
    assert r["max_ulp"] == 1 and r["p99_ulp"] == 1
    assert r["max_abs"] == float(ml_dtypes.finfo(dtype).eps)
    assert r["max_rel"] == float(ml_dtypes.finfo(dtype).eps)


def test_keys_are_exactly_the_documented_ones():
    r = compare_arrays(np.ones(3, np.float32), np.ones(3, np.float32))
    assert tuple(r) == METRIC_KEYS
    assert "tol_ratio" in compare_arrays(np.ones(3), np.ones(3), tolerance={"rtol": 1e-6, "atol": 1e-6})


def test_nan_handling():
    nan = np.float32("nan")
    same = compare_arrays(np.array([nan, 1.0], np.float32), np.array([nan, 1.0], np.float32))
    assert same["bitwise_equal"] and same["max_abs"] == 0.0 and same["max_ulp"] == 0
    assert same["nan_count"] == 1
    # a NaN with another payload: equal as a difference, but not bitwise
    other = np.array([nan, 1.0], np.float32)
    other.view(np.uint32)[0] += 1
    assert np.isnan(other[0])
    r = compare_arrays(other, np.array([nan, 1.0], np.float32))
    assert r["max_abs"] == 0.0 and r["max_ulp"] == 0 and not r["bitwise_equal"]
    assert r["frac_diff"] == 0.5
    # NaN against a number is an infinite difference
    r = compare_arrays(np.array([1.0, 2.0], np.float32), np.array([nan, 2.0], np.float32))
    assert math.isinf(r["max_abs"]) and math.isinf(r["max_rel"]) and math.isinf(r["max_ulp"])
    assert math.isinf(r["rmse"]) and r["nan_count"] == 1 and r["frac_diff"] == 0.5


def test_inf_handling():
    inf = np.inf
    r = compare_arrays(np.array([inf, -inf, 1.0]), np.array([inf, -inf, 1.0]))
    assert r["bitwise_equal"] and r["max_abs"] == 0.0 and r["inf_count"] == 2
    r = compare_arrays(
        np.array([inf, 1.0], np.float32), np.array([np.finfo(np.float32).max, 1.0], np.float32)
    )
    assert math.isinf(r["max_abs"]) and r["max_ulp"] == 1  # infinity is the next float after max
    assert r["inf_count"] == 1
    r = compare_arrays(np.array([inf]), np.array([-inf]))
    assert math.isinf(r["max_abs"])
    assert r["max_ulp"] == 2 * _ordered(np.array(inf))  # exact, beyond int64: no overflow


def test_float64_extremes_do_not_overflow():
    big = np.finfo(np.float64).max
    a, b = np.array([big, -big, 5e-324]), np.array([-big, big, -5e-324])
    r = compare_arrays(a, b)
    assert r["max_ulp"] == max(_brute_ulps(a, b)) > 2**63


def test_cosine():
    assert compare_arrays(np.array([1.0, 0.0]), np.array([0.0, 1.0]))["cosine"] == 0.0
    assert compare_arrays(np.array([1.0, 2.0]), np.array([-1.0, -2.0]))["cosine"] == pytest.approx(-1.0)
    assert compare_arrays(np.zeros(3), np.zeros(3))["cosine"] == 1.0
    assert compare_arrays(np.zeros(3), np.ones(3))["cosine"] == 0.0


def test_rmse_frac_diff_and_max_rel():
    a = np.array([1.0, 2.0, 4.0, 8.0])
    b = np.array([1.0, 2.0, 5.0, 10.0])
    r = compare_arrays(a, b)
    assert r["max_abs"] == 2.0
    assert r["max_rel"] == pytest.approx(0.2)
    assert r["rmse"] == pytest.approx(math.sqrt((1 + 4) / 4))
    assert r["frac_diff"] == 0.5 and r["n_elements"] == 4


def test_tol_ratio_is_the_elementwise_allclose_margin():
    a = np.array([1.0 + 2e-6, 1e-6], np.float64)
    b = np.array([1.0, 0.0], np.float64)
    r = compare_arrays(a, b, tolerance={"rtol": 1e-6, "atol": 1e-6})
    expected = max(2e-6 / (1e-6 + 1e-6), 1e-6 / 1e-6)
    assert r["tol_ratio"] == pytest.approx(expected)
    assert np.allclose(a, b, rtol=1e-6, atol=1e-6) == (r["tol_ratio"] <= 1)


def test_mixed_dtypes_count_ulp_in_the_less_precise_format():
    a32 = np.array([1.0, 2.0], np.float32)
    b64 = np.array([1.0 + 2.0**-30, 2.0])  # rounds to 1.0 in float32
    r = compare_arrays(a32, b64)
    assert r["max_ulp"] == 0 and r["max_abs"] == 2.0**-30
    assert not r["bitwise_equal"] and r["frac_diff"] == 0.5  # bitwise in float64
    exact = compare_arrays(np.array([1.5], BF16), np.array([1.5], np.float16))
    assert exact["bitwise_equal"] and exact["max_ulp"] == 0


def test_integers_compare_exactly():
    r = compare_arrays(np.array([1, 5, -3], np.int32), np.array([1, 2, 3], np.int32))
    assert r["max_ulp"] == 6 and r["max_abs"] == 6.0 and r["frac_diff"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="int32 with float32"):
        compare_arrays(np.array([1], np.int32), np.array([1.0], np.float32))


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) vs \(3, 2\)"):
        compare_arrays(np.zeros((2, 3)), np.zeros((3, 2)))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_ulp_and_p99_match_brute_force_across_chunks_and_refinement(dtype, monkeypatch):
    """Small chunks and a small collect limit force every code path of the p99 selection."""
    monkeypatch.setattr(metrics, "CHUNK", 64)
    monkeypatch.setattr(metrics, "_COLLECT", 16)
    rng = np.random.default_rng(7)
    n = 1000
    a = (rng.standard_normal(n) * rng.choice([1e-3, 1.0, 1e3], n)).astype(dtype)
    a[:10] = 0.0
    a[10:20] = -0.0
    width = dtype.itemsize * 8
    steps = rng.integers(0, 1 << (width // 2), n).astype(f"u{dtype.itemsize}")
    b = (a.view(f"u{dtype.itemsize}") + steps).view(dtype)  # up to 2**(width/2) steps away
    b[np.isnan(b) | np.isinf(b)] = 1.0
    b[::3] = -b[::3]
    ulps = sorted(_brute_ulps(a, b))
    r = compare_arrays(a, b)
    assert r["max_ulp"] == ulps[-1]
    assert r["p99_ulp"] == ulps[math.ceil(0.99 * n) - 1]


def test_large_arrays_are_chunked_consistently(monkeypatch):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(5000).astype(np.float32)
    b = a + rng.standard_normal(5000).astype(np.float32) * 1e-6
    whole = compare_arrays(a, b)
    monkeypatch.setattr(metrics, "CHUNK", 333)
    chunked = compare_arrays(a, b)
    for key in ("max_abs", "max_rel", "max_ulp", "p99_ulp", "frac_diff", "bitwise_equal", "n_elements"):
        assert chunked[key] == whole[key], key
    assert chunked["cosine"] == pytest.approx(whole["cosine"], abs=1e-12)
    assert chunked["rmse"] == pytest.approx(whole["rmse"], rel=1e-9)


def test_compare_outputs_aggregates_the_worst_tensor():
    a = {"x": np.array([1.0, 2.0], np.float32), "y": np.array([1.0, 1.0, 1.0, 1.0], np.float32)}
    b = {"x": np.array([1.0, 2.0], np.float32), "y": np.array([1.0, 1.0, 1.0, 3.0], np.float32)}
    r = compare_outputs(a, b)
    assert r["worst_tensor"] == "y" and not r["bitwise_equal"]
    assert r["max_abs"] == 2.0 and r["n_elements"] == 6
    assert r["frac_diff"] == pytest.approx(1 / 6)
    assert compare_outputs(a, a)["worst_tensor"] is None


def test_compare_outputs_names_missing_tensors():
    with pytest.raises(ValueError, match="only in the first: z"):
        compare_outputs({"x": np.ones(1), "z": np.ones(1)}, {"x": np.ones(1)})
    with pytest.raises(ValueError, match=r"^x: shape mismatch"):
        compare_outputs({"x": np.ones(2)}, {"x": np.ones(3)})


def test_rerun_spread_counts_distinct_results():
    x = {"out": np.array([1.0, 2.0], np.float32)}
    y = {"out": np.array([1.0, 2.5], np.float32)}
    z = {"out": np.array([1.0, -0.0], np.float32) + np.float32(1)}
    assert rerun_spread([x, x, x]) == {"runs": 3, "distinct": 1, "max_abs": 0.0, "max_ulp": 0}
    two = rerun_spread([x, y, x])
    assert two["distinct"] == 2 and two["max_abs"] == 0.5
    three = rerun_spread([x, y, z])
    assert three["distinct"] == 3 and three["max_abs"] == 1.0
    signed = rerun_spread([{"o": np.array([0.0])}, {"o": np.array([-0.0])}])
    assert signed["distinct"] == 2 and signed["max_ulp"] == 0
    with pytest.raises(ValueError, match="at least one run"):
        rerun_spread([])
    with pytest.raises(ValueError, match="run 1 vs run 0"):
        rerun_spread([x, {"other": x["out"]}])
