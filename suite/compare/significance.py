"""Is one run's step time really different from another's? (pure Python, no scipy)

The per-repeat step times of a case in run a and run b are two samples. The rule, used by
``pairbench compare`` and the nightly alert alike (:func:`speed_change`):

1. Each sample needs at least :data:`MIN_REPEATS` repeats; with fewer, no test at a level of
   :data:`ALPHA` can come out significant, so none is run and the result says so.
2. The Mann–Whitney U test (two-sided, exact for up to :data:`EXACT_MAX` repeats per run,
   normal approximation with tie correction above) gives a p-value. Ties count half and the
   exact p-value is taken at the conservative side.
3. A distribution-free confidence interval of the slowdown factor at level ``1 - ALPHA``:
   the interval of the pairwise log ratios ``log(b_j / a_i)`` that the U distribution
   leaves out on either side (Hodges–Lehmann/Bauer), back-transformed. It excludes 1
   exactly when the test rejects at ``ALPHA``; the change is *significant* then.
4. A slowdown passes a threshold ``T`` (``--fail-on speed:T``) only when the whole interval
   lies at or above ``T``: the data say, with confidence ``1 - ALPHA``, that b is at least
   ``T`` times slower, not merely that it differs and the medians happen to be ``T`` apart.
5. Run-to-run noise (:class:`RunNoise`): the repeats of one run share its machine state, so
   a machine busier during one run slows every repeat of a case and the test above cannot
   tell. Over all cases of the comparison (at least :data:`MIN_CASES`), the median ratio is
   the drift and the scaled median absolute deviation of the log ratios the noise. When that
   noise is too large for ``T`` to stand above it (``NOISE_Z`` spreads beyond ``T``), a case
   must also stand out from the other cases: ``NOISE_Z`` spreads and ``T`` beyond the median.
   Otherwise (a quiet machine, or too few cases to tell) step 4 alone decides, so a change
   that slows every case is caught.

The point estimate shown is the ratio of the medians (``b / a``).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

#: two-sided significance level of the test and 1 - coverage of the interval
ALPHA = 0.01
#: fewest repeats per run that can reach ``ALPHA`` (5 + 5: smallest two-sided p = 2/252)
MIN_REPEATS = 5
#: largest repeats per run with the exact U distribution (above: normal approximation)
EXACT_MAX = 30


@dataclass(frozen=True)
class SpeedChange:
    """The comparison of two samples of step times (b against a).

    Attributes:
        ratio: median of b / median of a (> 1: b is slower); None without samples.
        n_a: repeats in a.
        n_b: repeats in b.
        p_value: two-sided Mann–Whitney p-value; None when not tested.
        ci_low: lower end of the ``1 - ALPHA`` interval of the slowdown factor (None: untested).
        ci_high: upper end (None: untested).
        significant: the interval excludes 1 (equivalently ``p_value < ALPHA``).
        why_untested: why no test was made (too few repeats, no samples), else ``""``.
    """

    ratio: float | None
    n_a: int
    n_b: int
    p_value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    significant: bool = False
    why_untested: str = ""

    def slower_by_at_least(self, threshold: float) -> bool:
        """Significantly slower and the whole interval at or above ``threshold``."""
        return self.significant and self.ci_low is not None and self.ci_low >= threshold

    @property
    def text(self) -> str:
        """``"p=0.0004, 99% CI 1.41–1.63x"`` or the reason it was not tested."""
        if self.why_untested:
            return self.why_untested
        assert self.p_value is not None and self.ci_low is not None and self.ci_high is not None
        level = f"{(1 - ALPHA) * 100:g}%"
        return f"p={self.p_value:.2g}, {level} CI {self.ci_low:.3g}–{self.ci_high:.3g}x"


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


@lru_cache(maxsize=256)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """Number of orderings of m a's and n b's giving each U = 0..m*n (no ties)."""
    # f_{m,n}(u) = f_{m-1,n}(u - n) + f_{m,n-1}(u); built up over m with rows over n
    rows = [[1] for _ in range(n + 1)]  # m = 0: only U = 0, for every n
    for i in range(1, m + 1):
        new = [[1]]  # n = 0: only U = 0
        for j in range(1, n + 1):
            size = i * j + 1
            counts = [0] * size
            for u, c in enumerate(rows[j]):  # f_{i-1,j}(u - j)
                counts[u + j] += c
            for u, c in enumerate(new[j - 1]):  # f_{i,j-1}(u)
                counts[u] += c
            new.append(counts)
        rows = new
    return tuple(rows[n])


@lru_cache(maxsize=256)
def _u_cdf_table(m: int, n: int) -> tuple[float, ...]:
    """P(U <= u) for u = 0..m*n under the null hypothesis, exact."""
    total = math.comb(m + n, m)
    out, running = [], 0
    for count in _u_counts(m, n):
        running += count
        out.append(running / total)
    return tuple(out)


def _u_cdf(m: int, n: int, u: int) -> float:
    """P(U <= u) under the null hypothesis, exact."""
    if u < 0:
        return 0.0
    table = _u_cdf_table(m, n)
    return table[min(u, len(table) - 1)]


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Mann–Whitney U test of two samples.

    Args:
        a: first sample.
        b: second sample.

    Returns:
        ``(u, p)``: ``u`` = pairs with ``b_j > a_i`` (ties count half), ``p`` the two-sided
        p-value (exact up to :data:`EXACT_MAX` per sample, conservative with ties; normal
        approximation with tie correction above).

    Raises:
        ValueError: an empty sample.
    """
    m, n = len(a), len(b)
    if not m or not n:
        raise ValueError("mann_whitney needs two non-empty samples")
    ordered = sorted(a)
    u = sum(bisect_left(ordered, y) + 0.5 * (bisect_right(ordered, y) - bisect_left(ordered, y)) for y in b)
    tail = min(u, m * n - u)
    if max(m, n) <= EXACT_MAX:
        return u, min(1.0, 2.0 * _u_cdf(m, n, math.ceil(tail)))
    pooled = sorted([*a, *b])
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1] == pooled[i]:
            j += 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    total = m + n
    var = m * n / 12.0 * ((total + 1) - ties / (total * (total - 1)))
    if var <= 0:
        return u, 1.0
    z = (tail + 0.5 - m * n / 2.0) / math.sqrt(var)  # continuity correction towards the mean
    return u, min(1.0, math.erfc(-z / math.sqrt(2.0)))


@lru_cache(maxsize=1024)
def _rank_for_interval(m: int, n: int, alpha: float) -> int:
    """The largest k with P(U <= k - 1) <= alpha / 2 (0: no interval at this level)."""
    if max(m, n) > EXACT_MAX:
        mean, sd = m * n / 2.0, math.sqrt(m * n * (m + n + 1) / 12.0)
        z = _normal_quantile(1.0 - alpha / 2.0)
        return max(0, math.floor(mean - z * sd))
    k = 0
    while k < m * n and _u_cdf(m, n, k) <= alpha / 2.0:
        k += 1
    return k


def _normal_quantile(p: float) -> float:
    """Inverse of the standard normal CDF (bisection on ``erfc``; plenty for a rank)."""
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if 0.5 * math.erfc(-mid / math.sqrt(2.0)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def ratio_interval(
    a: Sequence[float], b: Sequence[float], alpha: float = ALPHA
) -> tuple[float, float] | None:
    """Distribution-free ``1 - alpha`` interval of the factor b/a (positive samples).

    The interval of the sorted pairwise log ratios ``log(b_j) - log(a_i)`` from the k-th
    smallest to the k-th largest, k from the U distribution (a shift model in log time).

    Returns:
        ``(low, high)``, or None when the samples are too small for that level.
    """
    k = _rank_for_interval(len(a), len(b), alpha)
    if k < 1:
        return None
    ratios = sorted([y / x for x in a for y in b])  # the order of log(b) - log(a), without logs
    return ratios[k - 1], ratios[len(ratios) - k]


def speed_change(samples_a: Sequence[float], samples_b: Sequence[float]) -> SpeedChange:
    """Compare two samples of per-repeat step times (see the module docstring).

    Args:
        samples_a: per-repeat step times of the baseline (seconds, positive).
        samples_b: per-repeat step times of the new run.

    Returns:
        The :class:`SpeedChange`.
    """
    a, b = _positives(samples_a), _positives(samples_b)
    if not a or not b:
        missing = " and ".join(r for r, s in (("a", a), ("b", b)) if not s)
        return SpeedChange(None, len(a), len(b), why_untested=f"no per-repeat times in {missing}")
    ratio = _median(b) / _median(a)
    if min(len(a), len(b)) < MIN_REPEATS:
        why = (
            f"not tested: {min(len(a), len(b))} repeats, a speed change needs at least "
            f"{MIN_REPEATS} per run (--repeats {MIN_REPEATS})"
        )
        return SpeedChange(ratio, len(a), len(b), why_untested=why)
    _, p = mann_whitney(a, b)
    interval = ratio_interval(a, b)
    assert interval is not None  # MIN_REPEATS guarantees an interval at ALPHA
    low, high = interval
    return SpeedChange(
        ratio, len(a), len(b), p_value=p, ci_low=low, ci_high=high, significant=low > 1.0 or high < 1.0
    )


def speed_changes(pairs: Sequence[tuple[Sequence[float], Sequence[float]]]) -> list[SpeedChange]:
    """:func:`speed_change` of many cases at once (the same results), vectorised with numpy over
    the cases that share their repeat counts: about a microsecond a case instead of tens.

    Args:
        pairs: ``(samples_a, samples_b)`` per case.

    Returns:
        One :class:`SpeedChange` per pair, in order.
    """
    import numpy as np

    out: list[SpeedChange | None] = [None] * len(pairs)
    groups: dict[tuple[int, int], list[tuple[int, list[float], list[float]]]] = {}
    for i, (samples_a, samples_b) in enumerate(pairs):
        a, b = _positives(samples_a), _positives(samples_b)
        m, n = len(a), len(b)
        if min(m, n) < MIN_REPEATS or max(m, n) > EXACT_MAX:  # untested, or the normal approximation
            out[i] = speed_change(a, b)
        else:
            groups.setdefault((m, n), []).append((i, a, b))
    for (m, n), items in groups.items():
        a_all = np.array([a for _, a, _ in items])
        b_all = np.array([b for _, _, b in items])
        above = b_all[:, None, :] > a_all[:, :, None]
        ties = b_all[:, None, :] == a_all[:, :, None]
        u = above.sum(axis=(1, 2)) + 0.5 * ties.sum(axis=(1, 2))
        tail = np.ceil(np.minimum(u, m * n - u)).astype(np.int64)
        p = np.minimum(1.0, 2.0 * np.asarray(_u_cdf_table(m, n))[tail])
        ratios = np.sort((b_all[:, None, :] / a_all[:, :, None]).reshape(len(items), m * n), axis=1)
        k = _rank_for_interval(m, n, ALPHA)
        low, high = ratios[:, k - 1], ratios[:, m * n - k]
        ratio = np.median(b_all, axis=1) / np.median(a_all, axis=1)
        for j, (i, _, _) in enumerate(items):
            lo, hi = float(low[j]), float(high[j])
            out[i] = SpeedChange(
                float(ratio[j]),
                m,
                n,
                p_value=float(p[j]),
                ci_low=lo,
                ci_high=hi,
                significant=lo > 1.0 or hi < 1.0,
            )
    return [c for c in out if c is not None]


def _positive(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _positives(values: Sequence[object]) -> list[float]:
    """The finite positive numbers of a sample (numbers that all are pass in a few C-level calls)."""
    try:
        if values and min(values) > 0.0 and math.isfinite(math.fsum(values)):  # type: ignore[arg-type]
            return [float(x) for x in values]  # type: ignore[arg-type]
    except TypeError:  # something that is not a number
        pass
    return [float(x) for x in values if _positive(x)]


#: fewest cases timed in both runs from which the run-to-run noise is estimated
MIN_CASES = 8
#: how many robust standard deviations of the run-to-run noise a case must stand out by
NOISE_Z = 3.0


@dataclass(frozen=True)
class RunNoise:
    """How much the speed of the same case moves between the two runs, over all cases.

    Repeats within a run share the run's machine state, so the test of :func:`speed_change`
    cannot see a machine that was busier during one run than the other. Assuming most cases
    did not really change, the spread of their log ratios (median absolute deviation, scaled
    to a standard deviation) is the run-to-run noise, and their median the run's drift.

    Attributes:
        n: cases timed in both runs.
        drift: median ratio b/a over those cases (1.0 when ``n`` is 0).
        spread: ``exp`` of the robust standard deviation of the log ratios (1.0: none).
    """

    n: int
    drift: float = 1.0
    spread: float = 1.0

    @classmethod
    def of(cls, ratios: Sequence[float]) -> RunNoise:
        """The noise of a comparison from the median ratios of its cases (positive numbers)."""
        logs = [math.log(r) for r in ratios if _positive(r)]
        if not logs:
            return cls(0)
        mid = _median(logs)
        mad = _median([abs(x - mid) for x in logs])
        return cls(len(logs), math.exp(mid), math.exp(1.4826 * mad))

    def resolves(self, threshold: float) -> bool:
        """Whether a change of ``threshold`` stands above the run-to-run noise: too few cases
        to tell, or a spread below ``threshold ** (1 / NOISE_Z)``."""
        return self.n < MIN_CASES or NOISE_Z * math.log(self.spread) <= math.log(threshold)

    def stands_out(self, ratio: float, threshold: float) -> bool:
        """A case's ratio is beyond both the drift times ``threshold`` and ``NOISE_Z`` spreads."""
        excess = math.log(ratio) - math.log(self.drift)
        return excess >= max(math.log(threshold), NOISE_Z * math.log(self.spread))

    def text(self, threshold: float) -> str:
        """One line when the noise decides (``""`` otherwise)."""
        if self.resolves(threshold):
            return ""
        return (
            f"run-to-run noise: the same case moves by {self.spread:.2f}x between these runs "
            f"(robust spread over {self.n} cases; median ratio {self.drift:.2f}x), more than "
            f"speed:{threshold:g} can resolve on its own: a case fails only when it is also "
            f"{max(threshold, self.spread**NOISE_Z):.2f}x beyond the median (a busy machine? "
            "compare runs from a quiet one)"
        )
