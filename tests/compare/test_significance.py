"""The speed rule of ``compare`` and the nightly alert: Mann–Whitney U, the interval, the minimum."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from suite.compare.significance import (
    ALPHA,
    MIN_REPEATS,
    mann_whitney,
    ratio_interval,
    speed_change,
)


def _brute_force_p(a, b):
    """Two-sided exact p-value by enumerating every split of the pooled sample (no ties)."""
    pooled = [*a, *b]
    m, n = len(a), len(b)

    def u_of(first):
        rest = [pooled[i] for i in range(m + n) if i not in first]
        return sum(y > pooled[i] for i in first for y in rest)

    observed = sum(y > x for x in a for y in b)
    tail = min(observed, m * n - observed)
    splits = list(itertools.combinations(range(m + n), m))
    extreme = sum(min(u, m * n - u) <= tail for u in map(u_of, splits))
    return extreme / len(splits)


@pytest.mark.parametrize("seed", range(6))
def test_exact_p_value_matches_enumeration(seed):
    rng = random.Random(seed)
    m, n = rng.randint(2, 6), rng.randint(2, 6)
    a = [rng.gauss(1.0, 0.1) for _ in range(m)]
    b = [rng.gauss(1.0 + 0.1 * seed, 0.1) for _ in range(n)]
    _, p = mann_whitney(a, b)
    assert p == pytest.approx(_brute_force_p(a, b))


def test_separated_samples_reach_the_level_only_from_five_repeats():
    a5, b5 = [1.0, 1.01, 0.99, 1.02, 0.98], [1.5, 1.51, 1.49, 1.52, 1.48]
    assert mann_whitney(a5, b5)[1] == pytest.approx(2 / math.comb(10, 5))
    assert mann_whitney(a5, b5)[1] < ALPHA
    assert mann_whitney(a5[:4], b5[:4])[1] > ALPHA  # 4 + 4: the smallest p is 2/70


def test_too_few_repeats_are_not_tested_and_say_why():
    change = speed_change([1.0, 1.0, 1.0], [6.3, 6.3, 6.3])
    assert change.ratio == pytest.approx(6.3)
    assert not change.significant and not change.slower_by_at_least(1.1)
    assert "3 repeats" in change.why_untested and f"at least {MIN_REPEATS}" in change.why_untested
    assert change.text == change.why_untested


def test_interval_brackets_the_true_factor_and_decides_the_threshold():
    rng = random.Random(1)
    a = [rng.gauss(1.0, 0.02) for _ in range(10)]
    b = [1.5 * rng.gauss(1.0, 0.02) for _ in range(10)]
    change = speed_change(a, b)
    assert change.significant and change.p_value < ALPHA
    assert change.ci_low < 1.5 < change.ci_high
    assert change.slower_by_at_least(1.10) and not change.slower_by_at_least(1.7)
    assert "99% CI" in change.text


def test_overlapping_noise_is_not_significant_even_with_a_large_median_ratio():
    # bimodal per-repeat times (a busy machine): medians 2x apart, samples interleaved
    a = [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    b = [1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    change = speed_change(a, b)
    assert not change.significant and not change.slower_by_at_least(1.1)


def test_a_small_but_consistent_shift_is_significant_but_below_the_threshold():
    a = [1.00, 1.01, 1.02, 1.03, 1.04, 1.05, 1.06]
    b = [x * 1.08 for x in a]
    change = speed_change(a, b)
    assert change.ratio == pytest.approx(1.08)
    assert not change.slower_by_at_least(1.10)


def test_interval_needs_enough_samples():
    assert ratio_interval([1.0, 2.0], [3.0, 4.0]) is None
    low, high = ratio_interval([1.0] * 5, [2.0] * 5)
    assert low == high == pytest.approx(2.0)


def test_large_samples_use_the_normal_approximation():
    rng = random.Random(2)
    a = [rng.gauss(1.0, 0.05) for _ in range(40)]
    same = [rng.gauss(1.0, 0.05) for _ in range(40)]
    slower = [1.2 * rng.gauss(1.0, 0.05) for _ in range(40)]
    assert speed_change(a, slower).slower_by_at_least(1.1)
    assert not speed_change(a, same).slower_by_at_least(1.1)


def test_missing_or_bad_samples():
    assert speed_change([], [1.0]).why_untested == "no per-repeat times in a"
    change = speed_change([1.0, float("nan"), -1.0, 1.0, 1.0, 1.0, 1.0], [1.0] * 5)
    assert change.n_a == 5 and change.ratio == 1.0 and not change.significant


def _comparison_with_ratios(ratios, *, repeats=10, noise=0.01, seed=0):
    """Two fake runs whose cases differ by ``ratios`` (b/a), each case tightly measured."""
    import dataclasses

    from fake_runs import case, make_record, timing

    from suite.compare.runs import compare_records

    rng = random.Random(seed)
    a, b = [], []
    for i, ratio in enumerate(ratios):
        rec = make_record(case(pair=f"p{i}"))
        base = 0.002 * (1 + rng.random())
        a.append(dataclasses.replace(rec, timing=timing(base, repeats=repeats, noise=noise, seed=2 * i)))
        b.append(
            dataclasses.replace(
                rec, timing=timing(base * ratio, repeats=repeats, noise=noise, seed=2 * i + 1)
            )
        )
    return compare_records(a, b)


def test_a_busy_machine_moves_every_case_and_fails_none():
    rng = random.Random(3)
    # same code, a machine whose load changed between the runs: each case 0.6x..2.5x, all tightly measured
    ratios = [math.exp(rng.gauss(0.3, 0.4)) for _ in range(30)]
    comp = _comparison_with_ratios(ratios)
    assert sum(c.speed.slower_by_at_least(1.1) for c in comp.cases) > 5  # each case on its own: "slower"
    assert not comp.noise.resolves(1.1) and comp.speed_regressions(1.1) == []
    assert comp.failures("speed:1.10") == []
    assert "run-to-run noise" in comp.noise.text(1.1)


def test_a_case_that_stands_out_from_the_noise_still_fails():
    rng = random.Random(4)
    ratios = [math.exp(rng.gauss(0.0, 0.1)) for _ in range(30)]
    ratios[7] = 3.0
    comp = _comparison_with_ratios(ratios)
    assert [c.case_id.split(".")[0] for c in comp.speed_regressions(1.1)] == ["p7"]


def test_on_a_quiet_machine_a_change_that_slows_every_case_fails_every_case():
    comp = _comparison_with_ratios([1.3] * 20)
    assert comp.noise.resolves(1.1) and comp.noise.drift == pytest.approx(1.3, rel=0.02)
    assert len(comp.speed_regressions(1.1)) == 20


def test_too_few_cases_to_estimate_the_noise_leave_each_case_to_its_own_test():
    comp = _comparison_with_ratios([1.5, 0.6, 2.0])
    assert comp.noise.n == 3 and comp.noise.resolves(1.1)
    assert {c.case_id.split(".")[0] for c in comp.speed_regressions(1.1)} == {"p0", "p2"}


def test_the_vectorised_rule_gives_the_same_results_as_the_one_case_rule():
    from suite.compare.significance import speed_changes

    rng = random.Random(5)
    pairs = []
    for _ in range(60):
        m, n = rng.choice([(5, 5), (10, 10), (7, 5), (3, 10), (40, 40)])
        shift = rng.choice([1.0, 1.05, 1.5, 0.7])
        a = [round(rng.gauss(1.0, 0.05), 3) for _ in range(m)]  # rounded: some ties
        pairs.append((a, [round(shift * rng.gauss(1.0, 0.05), 3) for _ in range(n)]))
    pairs.append(([], [1.0]))
    assert speed_changes(pairs) == [speed_change(a, b) for a, b in pairs]
