"""Compare two runs case by case: speed ratios with significance, divergence changes, regressions.

Cases are matched by ``case_id``. For each case in both runs:

* speed: ``ratio = median step time of b / median step time of a`` (> 1: b is slower),
  tested on the per-repeat step times (``timing.step_s``) by
  :func:`suite.compare.significance.speed_change`: a Mann–Whitney U test and a distribution-free
  interval of the slowdown factor, at least :data:`~suite.compare.significance.MIN_REPEATS`
  repeats per run (fewer: not tested, and the comparison says so). ``speed:T`` fails a case
  only when the whole interval lies at or above ``T``. The nightly alert uses the same rule.
* divergence: a verdict that got worse (see :data:`suite.verdicts.SEVERITY`), a case whose outputs
  became non-finite (flag ``non-finite``), a case that became
  nondeterministic (rerun ``distinct`` 1 -> more), a max ULP against a reference
  (``vs_pair``/``vs_eager``/``vs_cpu``/``vs_fp64``) that grew (0 -> n counts as infinite
  growth). ULP changes are not compared for cases that are nondeterministic in either
  run: their magnitudes are random.

``--fail-on`` (:mod:`suite.compare.fail_on`) turns these into an exit code. Runs measured on
different GPU models or drivers, or timed with different settings (thread pools, CPU affinity,
governor, GPU clocks: :mod:`suite.compare.comparability`), are refused unless ``force=True``.
One case's delta is :mod:`suite.compare.deltas`; for runs Arrow can read, every delta is
computed on columns (:mod:`suite.compare.columns`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from suite.compare.comparability import machine_differences, timing_settings_differences
from suite.compare.deltas import CaseDelta, divergence_changes, median, samples, unstable
from suite.compare.fail_on import FailOn, parse_fail_on
from suite.compare.significance import MIN_REPEATS, RunNoise, speed_changes
from suite.errors import UsageError
from suite.results.record import Record
from suite.results.run_dir import RunDir
from suite.verdicts import NONDETERMINISTIC


@dataclass(frozen=True)
class Comparison:
    """Two runs, case by case (b relative to a)."""

    run_a: str
    run_b: str
    cases: list[CaseDelta]
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    machine_differences: list[str] = field(default_factory=list)

    @property
    def noise(self) -> RunNoise:
        """The run-to-run noise of the step times over the cases timed in both runs."""
        return RunNoise.of([c.ratio for c in self.cases if c.ratio is not None])

    def speed_regressions(self, threshold: float) -> list[CaseDelta]:
        """Cases significantly slower by at least ``threshold`` (see :mod:`suite.compare.significance`):
        the case's own interval at or above it and, when the run-to-run noise is too large
        for the threshold, standing out from the other cases too."""
        noise = self.noise
        return [
            c
            for c in self.cases
            if c.speed is not None
            and c.speed.slower_by_at_least(threshold)
            and (noise.resolves(threshold) or noise.stands_out(c.speed.ratio or 1.0, threshold))
        ]

    @property
    def speed_untested(self) -> str:
        """One line when some timed cases had too few repeats for a speed test, else ``""``."""
        untested = [c for c in self.cases if c.speed is not None and c.speed.why_untested]
        if not untested:
            return ""
        fewest = min(min(c.speed.n_a, c.speed.n_b) for c in untested if c.speed is not None)
        return (
            f"{len(untested)} of {sum(c.speed is not None for c in self.cases)} timed case(s) not tested "
            f"for speed: as few as {fewest} repeat(s) per run, a significant change needs at least "
            f"{MIN_REPEATS} (pairbench run --repeats {MIN_REPEATS})"
        )

    @property
    def geomean_ratio(self) -> float | None:
        """Geometric mean of the b/a step-time ratios over cases timed in both runs."""
        ratios = [c.ratio for c in self.cases if c.ratio is not None]
        return float(np.exp(np.mean(np.log(ratios)))) if ratios else None

    def failures(self, fail_on: str | FailOn | None) -> list[str]:
        """Regressions past the ``--fail-on`` thresholds, one line per case.

        Args:
            fail_on: a ``--fail-on`` string (parsed with :func:`parse_fail_on`), a
                :class:`FailOn`, or None (no thresholds: nothing fails).

        Returns:
            ``"<case_id>: 1.52x slower (significant: p=0.0079, 99% CI 1.4–1.6x; threshold 1.1);
            became nondeterministic ..."``
            for each failing case, in case-id order; empty when nothing passes a threshold.

        Raises:
            UsageError: for a malformed ``fail_on`` string.
        """
        if fail_on is None:
            return []
        rule = parse_fail_on(fail_on) if isinstance(fail_on, str) else fail_on
        slower = {c.case_id for c in self.speed_regressions(rule.speed)} if rule.speed is not None else set()
        lines = []
        for c in sorted(self.cases, key=lambda c: c.case_id):
            why = []
            if c.case_id in slower and c.speed is not None:
                why.append(f"{c.speed_text} (significant: {c.speed.text}; threshold {rule.speed:g})")
            for ch in c.changes:
                if (
                    "any" in rule.divergence
                    or (
                        "verdict" in rule.divergence
                        and ch.kind in ("verdict", NONDETERMINISTIC, "non-finite")
                    )
                    or (
                        "ulp" in rule.divergence
                        and ch.kind == "ulp"
                        and (ch.factor or 0) >= (rule.ulp_factor or 1)
                    )
                ):
                    why.append(ch.text)
            if why:
                lines.append(f"{c.case_id}: {'; '.join(why)}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``inf`` factors become None)."""
        data = asdict(self)
        data["geomean_ratio"] = self.geomean_ratio
        data["speed_untested"] = self.speed_untested
        noise = self.noise
        data["speed_noise"] = {"cases": noise.n, "drift": noise.drift, "spread": noise.spread}
        for case, delta in zip(data["cases"], self.cases, strict=True):
            case["speed_test"] = case.pop("speed")
            case["speed"] = delta.speed_text
            for ch in case["changes"]:
                if ch["factor"] is not None and not math.isfinite(ch["factor"]):
                    ch["factor"] = None
        return data


def compare_records(
    records_a: list[Record], records_b: list[Record], *, run_a: str = "a", run_b: str = "b"
) -> Comparison:
    """Compare two lists of records by ``case_id`` (no machine check; see :func:`compare_runs`)."""
    by_a = {r.case_id: r for r in records_a}
    by_b = {r.case_id: r for r in records_b}
    common = sorted(by_a.keys() & by_b.keys())
    timed = [cid for cid in common if median(by_a[cid].timing or {}) and median(by_b[cid].timing or {})]
    tests = speed_changes([(samples(by_a[c].timing), samples(by_b[c].timing)) for c in timed])
    speeds = dict(zip(timed, tests, strict=True))
    deltas = []
    for cid in common:
        a, b = by_a[cid], by_b[cid]
        ta, tb = a.timing or {}, b.timing or {}
        ma, mb = median(ta), median(tb)
        speed = speeds.get(cid)
        deltas.append(
            CaseDelta(
                case_id=cid,
                verdict_a=a.verdict,
                verdict_b=b.verdict,
                median_a_s=ma,
                median_b_s=mb,
                ratio=mb / ma if ma and mb else None,
                significant=bool(speed and speed.significant),
                speed=speed,
                unstable=unstable(ta) or unstable(tb),
                changes=tuple(divergence_changes(a, b)),
            )
        )
    return Comparison(
        run_a=run_a,
        run_b=run_b,
        cases=deltas,
        only_a=sorted(by_a.keys() - by_b.keys()),
        only_b=sorted(by_b.keys() - by_a.keys()),
    )


def compare_runs(a: RunDir, b: RunDir, *, force: bool = False) -> Comparison:
    """Compare run ``b`` against run ``a``.

    Args:
        a: the baseline run.
        b: the new run.
        force: compare even when the GPU models, the driver or the timing settings differ.

    Returns:
        The :class:`Comparison` (with ``machine_differences`` filled when forced: the machine's,
        then the timing settings').

    Raises:
        UsageError: when the GPUs, the driver or the timing settings differ and ``force`` is False.
    """
    meta_a, meta_b = a.read_meta(), b.read_meta()
    diffs = machine_differences(meta_a, meta_b)
    if diffs and not force:
        raise UsageError(
            f"runs {a.run_id} and {b.run_id} were measured on different machines "
            f"({'; '.join(diffs)}); pass --force to compare anyway"
        )
    settings = timing_settings_differences(meta_a, meta_b)
    if settings and not force:
        raise UsageError(
            f"runs {a.run_id} and {b.run_id} were timed with different settings "
            f"({'; '.join(settings)}); pass --force to compare anyway"
        )
    diffs += settings
    from suite.compare.columns import deltas_of_columns
    from suite.compare.load import match_runs
    from suite.machine.gc_control import paused_gc

    matched = match_runs(a, b)
    cases: list[CaseDelta] = []
    aligned = matched.aligned_tables()
    with paused_gc(collect=False):
        if aligned is not None:
            cases = deltas_of_columns(matched.both, *aligned, matched.records_of)
        else:
            for records_a, records_b in matched.chunks():
                cases += compare_records(records_a, records_b).cases
    return Comparison(a.run_id, b.run_id, cases, matched.only_a, matched.only_b, diffs)
