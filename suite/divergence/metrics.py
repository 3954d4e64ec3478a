"""Divergence metrics: how far two arrays are apart (sets of named outputs and reruns:
:mod:`suite.divergence.outputs`).

Pure, vectorised numpy (no TensorFlow import). Supported dtypes: ``float16``,
``ml_dtypes.bfloat16``, ``float32``, ``float64`` and integers/bool. Arrays are processed
in chunks of :data:`CHUNK` elements, so 100M-element tensors need a few hundred MB of
temporaries at most, never many full-size copies.

Conventions (see ``docs/divergence.md``):

- ``b`` is the reference: ``max_rel`` divides by ``max(|b|, tiny)``.
- NaN at the same position in both arrays counts as equal (0 difference, 0 ULP; it is
  *not* bitwise equal unless the payloads match). NaN against a number is an infinite
  difference: ``max_abs = max_rel = rmse = inf`` and that element's ULP distance is inf.
- ``+inf`` vs ``+inf`` is equal; ``inf`` vs a finite number has ``max_abs = inf`` (its ULP
  distance is finite: infinity is the next representable value after the largest float).
- ULP distance: the raw bits as a signed integer, negatives mapped to ``INT_MIN - i`` so that
  the integers are ordered like the floats; ``+0`` and ``-0`` are 0 ULP apart. With mixed
  float dtypes the ULP is counted in the *less precise* format (fewer mantissa bits; both
  arrays are rounded to it), bitwise equality in the *wider* one (both converted exactly),
  value metrics in float64.
- ``nan_count``/``inf_count``: positions where at least one of the two arrays holds a NaN
  (an infinity).
- ``cosine`` is computed over positions where both values are finite; two all-zero arrays
  have cosine 1.0, a zero array against a non-zero one 0.0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import ml_dtypes
import numpy as np

#: elements per chunk (1M: 8 MB per float64 buffer; a workspace of 7 buffers is reused)
CHUNK = 1 << 20
#: ULP distances below this are counted exactly in the first pass (p99 needs no second pass)
_SMALL_ULP = 4096
#: a second pass collects at most this many candidates before it narrows further
_COLLECT = 1 << 22
#: integer stand-in for "infinitely many ULPs" (NaN against a number)
_ULP_INF = np.uint64(np.iinfo(np.uint64).max)

_FLOATS: dict[np.dtype, int] = {  # dtype -> mantissa bits
    np.dtype(np.float16): 10,
    np.dtype(ml_dtypes.bfloat16): 7,
    np.dtype(np.float32): 23,
    np.dtype(np.float64): 52,
}

#: keys of :func:`compare_arrays` (``tol_ratio`` is added when a tolerance is given)
METRIC_KEYS: tuple[str, ...] = (
    "max_abs",
    "max_rel",
    "max_ulp",
    "p99_ulp",
    "cosine",
    "rmse",
    "frac_diff",
    "bitwise_equal",
    "nan_count",
    "inf_count",
    "n_elements",
)


def _kind(dtype: np.dtype) -> str:
    if dtype in _FLOATS:
        return "float"
    if dtype.kind in "iub":
        return "int"
    raise ValueError(f"unsupported dtype {dtype}: compare float16, bfloat16, float32, float64 or integers")


def _dtypes(da: np.dtype, db: np.dtype) -> tuple[np.dtype, np.dtype, Any]:
    """(ULP dtype, bitwise dtype, ``tiny`` for max_rel) of a float comparison."""
    if da == db:
        return da, da, ml_dtypes.finfo(db).tiny
    narrow = min((da, db), key=lambda d: _FLOATS[d])
    # the larger itemsize; float16 vs bfloat16 both convert exactly to float32
    wide = max((da, db), key=lambda d: d.itemsize) if da.itemsize != db.itemsize else np.dtype(np.float32)
    return narrow, wide, ml_dtypes.finfo(db).tiny


def _dot(x: np.ndarray, y: np.ndarray) -> float:
    """Sum of products without BLAS (multithreaded BLAS dots on 1M-element chunks are ~10x
    slower than numpy's own loop on a busy machine)."""
    return float(np.einsum("i,i->", x, y))


def _ordered(bits: np.ndarray, width: int) -> np.ndarray:
    """Signed-int view of float bits -> int64 ordered like the floats (+0 and -0 both 0)."""
    i = bits.astype(np.int64)
    int_min = np.int64(-(1 << (width - 1)))
    return np.where(i < 0, int_min - i, i)


def _ulp(a: np.ndarray, b: np.ndarray, na: np.ndarray | None, nb: np.ndarray | None) -> np.ndarray:
    """Element-wise ULP distance (uint64) of two same-dtype float chunks; NaN/NaN -> 0, NaN/x -> inf.

    The plain (allocating) version, used for chunks holding NaN/inf; :class:`_Workspace` has
    the in-place one. Both compute the same numbers.
    """
    width = a.dtype.itemsize * 8
    ia = _ordered(a.view(f"i{a.dtype.itemsize}"), width)
    ib = _ordered(b.view(f"i{b.dtype.itemsize}"), width)
    if width < 64:
        u = np.abs(ia - ib).astype(np.uint64)
    else:  # the difference can exceed int64: subtract as uint64 (mod 2**64) in the right order
        ua, ub = ia.view(np.uint64), ib.view(np.uint64)
        u = np.where(ia >= ib, ua - ub, ub - ua)
    if na is not None and nb is not None:
        u[na & nb] = 0
        u[na ^ nb] = _ULP_INF
    return u


def _int_ulp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ia, ib = a.astype(np.int64), b.astype(np.int64)
    ua, ub = ia.view(np.uint64), ib.view(np.uint64)
    return np.where(ia >= ib, ua - ub, ub - ua)


def _bits_view(x: np.ndarray) -> np.ndarray:
    return x.view(f"u{x.dtype.itemsize}")


class _Workspace:
    """Chunk-sized buffers reused for every chunk (fresh 32 MB temporaries cost more in page
    faults than the arithmetic)."""

    def __init__(self, size: int):
        self.f = [np.empty(size, np.float64) for _ in range(3)]
        self.i = [np.empty(size, np.int64) for _ in range(3)]
        self.m = np.empty(size, np.bool_)

    def ulp(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """ULP distances of two same-dtype NaN-free float chunks, as a uint64 view of a buffer."""
        k, width = a.size, a.dtype.itemsize * 8
        ia, ib, sign = (buf[:k] for buf in self.i)
        mag = np.int64((1 << (width - 1)) - 1)
        for src, dst in ((a, ia), (b, ib)):
            dst[...] = src.view(f"i{src.dtype.itemsize}")  # sign-extending copy
            np.right_shift(dst, 63, out=sign)  # -1 where the sign bit is set, else 0
            np.bitwise_and(dst, mag, out=dst)
            np.bitwise_xor(dst, sign, out=dst)  # sign-magnitude -> two's complement:
            np.subtract(dst, sign, out=dst)  # INT_MIN - i for negatives, so -0 -> 0
        if width < 64:
            np.subtract(ia, ib, out=ia)
            np.abs(ia, out=ia)
            return ia.view(np.uint64)
        less = np.less(ia, ib, out=self.m[:k])
        u = np.subtract(ia.view(np.uint64), ib.view(np.uint64), out=sign.view(np.uint64))
        np.negative(u, out=u, where=less)  # |difference| modulo 2**64
        return u


class _Plan:
    """How to compare two flat arrays, chunk by chunk."""

    def __init__(self, a: np.ndarray, b: np.ndarray):
        self.a, self.b = a, b
        self.n = a.size
        ka, kb = _kind(a.dtype), _kind(b.dtype)
        if ka != kb:
            raise ValueError(f"cannot compare {a.dtype} with {b.dtype} (one is integer, one is float)")
        self.is_float = ka == "float"
        if self.is_float:
            self.ulp_dtype, self.bit_dtype, tiny = _dtypes(a.dtype, b.dtype)
            self.tiny = float(tiny)
        else:
            self.ulp_dtype = self.bit_dtype = None
            self.tiny = 1.0
        self.ws = _Workspace(min(CHUNK, self.n)) if self.is_float else None

    def slices(self) -> Iterator[slice]:
        for start in range(0, self.n, CHUNK):
            yield slice(start, min(start + CHUNK, self.n))

    def narrow(self, s: slice) -> tuple[np.ndarray, np.ndarray]:
        """The chunk of both arrays in the ULP dtype."""
        return self.a[s].astype(self.ulp_dtype, copy=False), self.b[s].astype(self.ulp_dtype, copy=False)

    def ulp_chunk(self, s: slice) -> np.ndarray:
        """ULP distances of one chunk (recomputed by the p99 refinement passes)."""
        if not self.is_float:
            return _int_ulp(self.a[s], self.b[s])
        a, b = self.narrow(s)
        na, nb = np.isnan(a), np.isnan(b)
        if na.any() or nb.any():
            return _ulp(a, b, na, nb)
        return self.ws.ulp(a, b)


class _Accumulator:
    def __init__(self) -> None:
        self.max_abs = 0.0
        self.max_rel = 0.0
        self.max_ulp = 0
        self.ab = self.aa = self.bb = 0.0
        self.sq = 0.0
        self.n_diff = 0
        self.nan = 0
        self.inf = 0
        self.small = np.zeros(_SMALL_ULP, dtype=np.int64)
        self.tol_ratio = 0.0

    def add_ulp(self, u: np.ndarray) -> None:
        if not u.size:
            return
        top = int(u.max())
        self.max_ulp = max(self.max_ulp, top)
        if top < _SMALL_ULP:
            self.small += np.bincount(u.view(np.int64), minlength=_SMALL_ULP)
        else:
            self.small += np.bincount(u[u < _SMALL_ULP].astype(np.int64), minlength=_SMALL_ULP)


def _chunk(plan: _Plan, s: slice, acc: _Accumulator, tol: tuple[float, float] | None) -> None:
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if plan.is_float and _fast_chunk(plan, s, acc, tol):
            return
        _chunk_values(plan, s, acc, tol)
    _chunk_bits(plan, s, acc)


def _fast_chunk(plan: _Plan, s: slice, acc: _Accumulator, tol: tuple[float, float] | None) -> bool:
    """One all-finite float chunk, in place in the workspace; False (nothing added) if the
    chunk holds NaN/inf, which the slower general path handles."""
    a, b = plan.a[s], plan.b[s]
    k = a.size
    a64, b64, t = (buf[:k] for buf in plan.ws.f)
    a64[...] = a
    b64[...] = b
    aa, bb = _dot(a64, a64), _dot(b64, b64)
    if not (math.isfinite(aa) and math.isfinite(bb)):
        return False
    acc.aa += aa
    acc.bb += bb
    acc.ab += _dot(a64, b64)
    if a.dtype == b.dtype:
        n_diff = int(np.count_nonzero(np.not_equal(_bits_view(a), _bits_view(b), out=plan.ws.m[:k])))
    else:
        wa, wb = a.astype(plan.bit_dtype, copy=False), b.astype(plan.bit_dtype, copy=False)
        n_diff = int(np.count_nonzero(_bits_view(wa) != _bits_view(wb)))
    acc.n_diff += n_diff
    if n_diff == 0:  # bitwise equal: no difference and 0 ULP anywhere
        acc.small[0] += k
        return True
    d = np.subtract(a64, b64, out=a64)
    np.abs(d, out=d)
    acc.max_abs = max(acc.max_abs, float(d.max()))
    acc.sq += _dot(d, d)
    np.abs(b64, out=t)
    if tol is not None:
        rtol, atol = tol
        np.multiply(t, rtol, out=b64)
        np.add(b64, atol, out=b64)
        np.maximum(b64, plan.tiny, out=b64)
        acc.tol_ratio = max(acc.tol_ratio, float(np.divide(d, b64, out=b64).max()))
    np.maximum(t, plan.tiny, out=t)
    acc.max_rel = max(acc.max_rel, float(np.divide(d, t, out=t).max()))
    acc.add_ulp(plan.ws.ulp(*plan.narrow(s)))
    return True


def _chunk_values(plan: _Plan, s: slice, acc: _Accumulator, tol: tuple[float, float] | None) -> None:
    """Value metrics of a chunk with NaN/inf (or of integers): the general, allocating path."""
    a, b = plan.a[s], plan.b[s]
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    d = np.abs(a64 - b64)
    denom = np.maximum(np.abs(b64), plan.tiny)
    if plan.is_float:
        na, nb = np.isnan(a64), np.isnan(b64)
        fa, fb = np.isfinite(a64), np.isfinite(b64)
        acc.nan += int(np.count_nonzero(na | nb))
        acc.inf += int(np.count_nonzero((~fa & ~na) | (~fb & ~nb)))
        d[(a64 == b64) | (na & nb)] = 0.0
        d[np.isnan(d)] = np.inf
        both = fa & fb
        a64, b64 = a64[both], b64[both]
    acc.ab += _dot(a64, b64)
    acc.aa += _dot(a64, a64)
    acc.bb += _dot(b64, b64)
    rel = d / denom
    rel[d == 0] = 0.0
    rel[np.isinf(d)] = np.inf
    if d.size:
        acc.max_abs = max(acc.max_abs, float(d.max()))
        acc.max_rel = max(acc.max_rel, float(rel.max()))
        acc.sq += _dot(d, d) if math.isfinite(acc.max_abs) else math.inf
    if tol is not None and d.size:
        rtol, atol = tol
        ratio = d / np.maximum(atol + rtol * np.abs(b.astype(np.float64)), plan.tiny)
        ratio[d == 0] = 0.0
        ratio[np.isinf(d)] = np.inf
        acc.tol_ratio = max(acc.tol_ratio, float(ratio.max()))


def _chunk_bits(plan: _Plan, s: slice, acc: _Accumulator) -> None:
    """Bitwise differences (in the wider dtype, an exact conversion) and ULP distances."""
    a, b = plan.a[s], plan.b[s]
    if plan.is_float:
        wa = a.astype(plan.bit_dtype, copy=False)
        wb = b.astype(plan.bit_dtype, copy=False)
        acc.n_diff += int(np.count_nonzero(_bits_view(wa) != _bits_view(wb)))
    elif a.dtype == b.dtype:
        acc.n_diff += int(np.count_nonzero(_bits_view(a) != _bits_view(b)))
    else:
        acc.n_diff += int(np.count_nonzero(a.astype(np.int64) != b.astype(np.int64)))
    acc.add_ulp(plan.ulp_chunk(s))


def _kth_ulp(plan: _Plan, k: int, acc: _Accumulator) -> int:
    """The k-th smallest ULP distance (1-based), exact, in bounded memory (radix selection)."""
    cum = np.cumsum(acc.small)
    if cum.size and cum[-1] >= k:
        return int(np.searchsorted(cum, k))
    lo, hi = _SMALL_ULP, acc.max_ulp
    rank = k - int(cum[-1])
    count = plan.n - int(cum[-1])
    while True:
        lo_u, hi_u = np.uint64(lo), np.uint64(hi)
        if count <= _COLLECT or lo == hi:
            if lo == hi:
                return lo
            parts = []
            for s in plan.slices():
                u = plan.ulp_chunk(s)
                parts.append(u[(u >= lo_u) & (u <= hi_u)])
            cand = np.concatenate(parts)
            return int(np.partition(cand, rank - 1)[rank - 1])
        shift = max(0, (hi - lo).bit_length() - 16)
        bins = np.zeros(((hi - lo) >> shift) + 1, dtype=np.int64)
        for s in plan.slices():
            u = plan.ulp_chunk(s)
            sel = u[(u >= lo_u) & (u <= hi_u)]
            bins += np.bincount(((sel - lo_u) >> np.uint64(shift)).astype(np.int64), minlength=bins.size)
        cb = np.cumsum(bins)
        j = int(np.searchsorted(cb, rank))
        before = int(cb[j - 1]) if j else 0
        rank -= before
        count = int(bins[j])
        lo, hi = lo + (j << shift), min(hi, lo + ((j + 1) << shift) - 1)


def _as_array(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    return arr.reshape(-1) if arr.flags.c_contiguous else np.ascontiguousarray(arr).reshape(-1)


def _ulp_value(u: int) -> int | float:
    return math.inf if u == int(_ULP_INF) else int(u)


def compare_arrays(a: Any, b: Any, *, tolerance: Mapping[str, float] | None = None) -> dict[str, Any]:
    """How far ``a`` is from the reference ``b``.

    Args:
        a: the candidate array (numpy, or anything ``np.asarray`` accepts).
        b: the reference array, same shape.
        tolerance: optional ``{"rtol", "atol"}`` (e.g. ``verdict.TOLERANCES["float32"]``); when
            given, the result also holds ``tol_ratio`` = max over elements of
            ``|a - b| / (atol + rtol * |b|)`` (at most 1.0 means element-wise allclose).

    Returns:
        ``max_abs``, ``max_rel``, ``max_ulp`` (int, or inf when a NaN meets a number),
        ``p99_ulp`` (the smallest ULP distance that at least 99% of the elements do not
        exceed), ``cosine``, ``rmse``, ``frac_diff`` (fraction of elements not bitwise equal),
        ``bitwise_equal``, ``nan_count``, ``inf_count``, ``n_elements`` (and ``tol_ratio``).
        Floats and ints are plain Python numbers.

    Raises:
        ValueError: different shapes (both named), an unsupported dtype, or an integer
            array compared with a float array.
    """
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"shape mismatch: {a_arr.shape} vs {b_arr.shape}")
    plan = _Plan(_as_array(a_arr), _as_array(b_arr))
    tol = None if tolerance is None else (float(tolerance["rtol"]), float(tolerance["atol"]))
    acc = _Accumulator()
    for s in plan.slices():
        _chunk(plan, s, acc, tol)
    n = plan.n
    if acc.aa == 0.0 and acc.bb == 0.0:
        cosine = 1.0
    elif acc.aa == 0.0 or acc.bb == 0.0:
        cosine = 0.0
    else:
        norms = acc.aa * acc.bb
        if math.isfinite(norms) and norms > 0.0:
            cosine = acc.ab / math.sqrt(norms)
        else:  # the product over/underflows: take the roots first
            cosine = acc.ab / (math.sqrt(acc.aa) * math.sqrt(acc.bb))
        cosine = max(-1.0, min(1.0, cosine)) if math.isfinite(cosine) else math.nan
    result: dict[str, Any] = {
        "max_abs": acc.max_abs,
        "max_rel": acc.max_rel,
        "max_ulp": _ulp_value(acc.max_ulp),
        "p99_ulp": _ulp_value(_kth_ulp(plan, math.ceil(0.99 * n), acc)) if n else 0,
        "cosine": float(cosine),
        "rmse": math.sqrt(acc.sq / n) if n else 0.0,
        "frac_diff": acc.n_diff / n if n else 0.0,
        "bitwise_equal": acc.n_diff == 0,
        "nan_count": acc.nan,
        "inf_count": acc.inf,
        "n_elements": n,
    }
    if tol is not None:
        result["tol_ratio"] = acc.tol_ratio
    return result


def same_bits(a: Any, b: Any) -> bool:
    """Same dtype, shape and bits (chunked: no full-size temporary)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    fa, fb = _as_array(a), _as_array(b)
    if fa.dtype.kind not in "biufV" or fa.dtype.itemsize not in (1, 2, 4, 8):
        return bool(np.array_equal(fa, fb))
    ua, ub = _bits_view(fa), _bits_view(fb)
    return all(np.array_equal(ua[i : i + CHUNK], ub[i : i + CHUNK]) for i in range(0, ua.size, CHUNK))


__all__: list[str] = [
    "CHUNK",
    "METRIC_KEYS",
    "compare_arrays",
    "same_bits",
]
