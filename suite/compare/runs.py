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

``--fail-on`` (see :func:`parse_fail_on`) turns these into an exit code. Runs measured on
different GPU models or drivers, or timed with different settings (thread pools, CPU affinity,
governor, GPU clocks: :func:`timing_settings_differences`), are refused unless ``force=True``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from suite.compare.significance import MIN_REPEATS, RunNoise, SpeedChange, speed_change, speed_changes
from suite.errors import UsageError
from suite.report.table import REFERENCES
from suite.results.record import Record
from suite.results.run_dir import RunDir
from suite.verdicts import NONDETERMINISTIC, severity_of

#: a case whose IQR is at least this fraction of its median is flagged unstable (pyperf's habit)
UNSTABLE_IQR = 0.10
#: cases compared at once on columns (:func:`compare_runs` of runs read by Arrow)
COLUMN_CHUNK = 100_000
FAIL_ON_GRAMMAR = "comma list of speed:<ratio>, divergence:any, divergence:verdict, divergence:ulp:<factor>"


@dataclass(frozen=True)
class DivergenceChange:
    """One way a case's numerics got worse from run a to run b.

    Attributes:
        kind: ``verdict`` (worse verdict), ``nondeterministic`` (became so), ``non-finite``
            (NaN/Inf appeared in its outputs) or ``ulp`` (max ULP against a reference grew).
        text: one line for people.
        factor: ULP growth factor (``inf`` for 0 -> n), for ``ulp`` changes.
    """

    kind: str
    text: str
    factor: float | None = None


@dataclass(frozen=True)
class CaseDelta:
    """One case present in both runs."""

    case_id: str
    verdict_a: str
    verdict_b: str
    median_a_s: float | None
    median_b_s: float | None
    ratio: float | None
    significant: bool
    unstable: bool
    changes: tuple[DivergenceChange, ...] = ()
    speed: SpeedChange | None = None

    @property
    def speed_text(self) -> str:
        """``"1.50x slower"``, ``"1.20x faster"``, ``"same"`` or why there is no ratio."""
        if self.ratio is None:
            missing = [r for r, m in (("a", self.median_a_s), ("b", self.median_b_s)) if m is None]
            return f"no timing in {' and '.join(missing)}"
        if self.ratio == 1.0:
            return "same"
        return f"{self.ratio:.2f}x slower" if self.ratio > 1 else f"{1 / self.ratio:.2f}x faster"

    @property
    def notable(self) -> bool:
        """Shown without ``--all``: a significant speed change, a divergence change or a new verdict."""
        return self.significant or bool(self.changes) or self.verdict_a != self.verdict_b


@dataclass(frozen=True)
class FailOn:
    """Parsed ``--fail-on``.

    Attributes:
        speed: fail when a case is significantly slower by at least this ratio (None: never).
        divergence: subset of ``{"any", "verdict", "ulp"}``.
        ulp_factor: the factor of ``divergence:ulp:<factor>``.
    """

    speed: float | None = None
    divergence: frozenset[str] = frozenset()
    ulp_factor: float | None = None


def _positive(text: str, item: str, minimum: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            f"--fail-on {item!r}: {text!r} is not a number; expected {FAIL_ON_GRAMMAR}"
        ) from None
    if not math.isfinite(value) or value < minimum:
        raise UsageError(f"--fail-on {item!r}: the value must be a finite number >= {minimum:g}")
    return value


def parse_fail_on(text: str) -> FailOn:
    """Parse ``--fail-on``, e.g. ``"speed:1.10,divergence:any"``.

    Grammar: a comma list of ``speed:<ratio>`` (ratio >= 1: fail when a case is
    significantly slower by at least that ratio), ``divergence:any`` (any divergence
    change), ``divergence:verdict`` (a worse verdict, newly nondeterministic or non-finite) and
    ``divergence:ulp:<factor>`` (factor >= 1: a max ULP grew by at least that factor).

    Args:
        text: the option's value.

    Returns:
        The :class:`FailOn`.

    Raises:
        UsageError: for anything else (one line naming the bad item).
    """
    speed, kinds, ulp = None, set(), None
    items = [i.strip() for i in str(text).split(",")]
    if not any(items):
        raise UsageError(f"--fail-on is empty; expected {FAIL_ON_GRAMMAR}")
    for item in items:
        key, _, value = item.partition(":")
        if key == "speed" and value:
            if speed is not None:
                raise UsageError(f"--fail-on: speed given twice ({text!r})")
            speed = _positive(value, item, 1.0)
        elif key == "divergence" and value in ("any", "verdict"):
            kinds.add(value)
        elif key == "divergence" and value.startswith("ulp:"):
            ulp = _positive(value[4:], item, 1.0)
            kinds.add("ulp")
        else:
            raise UsageError(f"--fail-on: cannot parse {item!r}; expected {FAIL_ON_GRAMMAR}")
    return FailOn(speed, frozenset(kinds), ulp)


def _samples(timing: dict[str, Any]) -> list[float]:
    """The per-repeat step times of a record (empty for records without them)."""
    return [
        float(x) for x in timing.get("step_s") or [] if isinstance(x, int | float) and not isinstance(x, bool)
    ]


def speed_significant(timing_a: dict[str, Any], timing_b: dict[str, Any]) -> bool:
    """Whether the step times of two records differ significantly (see :mod:`suite.compare.significance`)."""
    return speed_change(_samples(timing_a), _samples(timing_b)).significant


def _median(timing: dict[str, Any]) -> float | None:
    value = timing.get("step_s_median")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 and math.isfinite(value):
        return float(value)
    return None


def _unstable(timing: dict[str, Any]) -> bool:
    med, iqr = _median(timing), timing.get("step_s_iqr")
    return med is not None and isinstance(iqr, int | float) and iqr / med >= UNSTABLE_IQR


def _nondeterministic(rec: Record) -> bool:
    distinct = ((rec.divergence or {}).get("rerun") or {}).get("distinct")
    return rec.verdict == NONDETERMINISTIC or (isinstance(distinct, int | float) and distinct > 1)


def divergence_changes(a: Record, b: Record) -> list[DivergenceChange]:
    """How the numerics of one case got worse from ``a`` to ``b`` (empty when they did not)."""
    changes = []
    nd_a, nd_b = _nondeterministic(a), _nondeterministic(b)
    sev_a, sev_b = severity_of(a.verdict), severity_of(b.verdict)
    if sev_b > sev_a and not (b.verdict == NONDETERMINISTIC and not nd_a):  # else said below
        changes.append(DivergenceChange("verdict", f"verdict {a.verdict} -> {b.verdict}"))
    if "non-finite" in b.flags and "non-finite" not in a.flags:
        note = next((n for n in b.notes if n.startswith("non-finite")), "NaN/Inf in its outputs")
        changes.append(DivergenceChange("non-finite", f"became non-finite ({note})"))
    if nd_b and not nd_a:
        ra = ((a.divergence or {}).get("rerun") or {}).get("distinct")
        rb = ((b.divergence or {}).get("rerun") or {}).get("distinct")
        changes.append(
            DivergenceChange(NONDETERMINISTIC, f"became {NONDETERMINISTIC} (rerun distinct {ra} -> {rb})")
        )
    if nd_a or nd_b:
        return changes
    for ref in REFERENCES:
        ua = ((a.divergence or {}).get(ref) or {}).get("max_ulp")
        ub = ((b.divergence or {}).get(ref) or {}).get("max_ulp")
        if not (isinstance(ua, int | float) and isinstance(ub, int | float)) or ub <= ua:
            continue
        factor = ub / ua if ua > 0 else math.inf
        shown = "from 0" if ua == 0 else f"x{factor:.1f}"
        changes.append(DivergenceChange("ulp", f"max ULP {ref} {ua:g} -> {ub:g} ({shown})", factor))
    return changes


def _gpu_names(meta: dict[str, Any]) -> list[str] | None:
    prov = meta.get("provenance")
    if not isinstance(prov, dict):
        return None
    return sorted(str(g.get("name")) for g in prov.get("gpus") or [])


def machine_differences(meta_a: dict[str, Any], meta_b: dict[str, Any]) -> list[str]:
    """What differs between two runs' GPU models and drivers (``run.json`` provenance).

    Returns:
        Human-readable differences, empty when the GPUs and the driver are the same.
    """
    diffs = []
    ga, gb = _gpu_names(meta_a), _gpu_names(meta_b)
    if ga != gb:
        diffs.append(f"GPUs {ga if ga is not None else 'unknown'} vs {gb if gb is not None else 'unknown'}")
    da = (meta_a.get("provenance") or {}).get("driver_version")
    db = (meta_b.get("provenance") or {}).get("driver_version")
    if da != db:
        diffs.append(f"driver {da or 'unknown'} vs {db or 'unknown'}")
    return diffs


#: run options that change step times (``run.json`` ``options``; None = TensorFlow's default)
TIMING_OPTIONS: dict[str, str] = {
    "intra_op_threads": "intra-op threads",
    "inter_op_threads": "inter-op threads",
}
#: machine settings that change step times (``run.json`` ``provenance.timing``)
TIMING_MACHINE: dict[str, str] = {
    "cpu_count": "CPU count",
    "cpu_affinity": "CPU affinity",
    "cpu_governor": "CPU governor",
    "cpu_boost": "CPU boost",
}
#: per-GPU settings that change step times (``provenance.timing.gpu_clocks[i]``)
TIMING_GPU: tuple[str, ...] = (
    "persistence_mode",
    "sm_app_clock_mhz",
    "mem_app_clock_mhz",
    "power_limit_w",
    "compute_mode",
)
#: environment variables that size thread pools (``provenance.env``)
THREAD_ENV_VARS: tuple[str, ...] = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def timing_settings_differences(meta_a: dict[str, Any], meta_b: dict[str, Any]) -> list[str]:
    """What differs between the settings two runs were timed with (``run.json`` of each).

    Compared: the thread pools the run asked for (``options``; absent means TensorFlow's
    default), the thread environment variables, CPU count, affinity, governor and boost, and
    each GPU's persistence mode, application clocks, power limit and compute mode
    (``provenance.timing``). A machine setting that one run did not record (an older run) or
    could not read (None) is not compared.

    Returns:
        Human-readable differences (``"intra-op threads 1 vs default"``), empty when none.
    """
    diffs = []
    opts_a, opts_b = meta_a.get("options") or {}, meta_b.get("options") or {}
    for key, label in TIMING_OPTIONS.items():
        va, vb = opts_a.get(key), opts_b.get(key)
        if va != vb:
            diffs.append(f"{label} {_or(va, 'default')} vs {_or(vb, 'default')}")
    prov_a, prov_b = meta_a.get("provenance") or {}, meta_b.get("provenance") or {}
    env_a, env_b = prov_a.get("env") or {}, prov_b.get("env") or {}
    for var in THREAD_ENV_VARS:
        if env_a.get(var) != env_b.get(var):
            diffs.append(f"{var} {_or(env_a.get(var), 'unset')} vs {_or(env_b.get(var), 'unset')}")
    ta, tb = prov_a.get("timing"), prov_b.get("timing")
    if not isinstance(ta, dict) or not isinstance(tb, dict):
        return diffs
    diffs += _known_differences(ta, tb, TIMING_MACHINE, "")
    gpu_labels = {key: key.replace("_", " ") for key in TIMING_GPU}
    for ga, gb in zip(ta.get("gpu_clocks") or [], tb.get("gpu_clocks") or [], strict=False):
        diffs += _known_differences(ga, gb, gpu_labels, f"GPU {ga.get('index')} ")
    return diffs


def _or(value: Any, missing: str) -> str:
    return missing if value is None else str(value)


def _known_differences(
    a: dict[str, Any], b: dict[str, Any], labels: dict[str, str], prefix: str
) -> list[str]:
    """``"<prefix><label> A vs B"`` for each key both dicts know (not None) and that differs."""
    return [
        f"{prefix}{label} {a[key]} vs {b[key]}"
        for key, label in labels.items()
        if a.get(key) is not None and b.get(key) is not None and a[key] != b[key]
    ]


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
    timed = [cid for cid in common if _median(by_a[cid].timing or {}) and _median(by_b[cid].timing or {})]
    tests = speed_changes([(_samples(by_a[c].timing), _samples(by_b[c].timing)) for c in timed])
    speeds = dict(zip(timed, tests, strict=True))
    deltas = []
    for cid in common:
        a, b = by_a[cid], by_b[cid]
        ta, tb = a.timing or {}, b.timing or {}
        ma, mb = _median(ta), _median(tb)
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
                unstable=_unstable(ta) or _unstable(tb),
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


def _deltas_of_columns(ids: list[str], ta: Any, tb: Any, records_of: Any) -> list[CaseDelta]:
    """:func:`compare_records`' case deltas, computed on the two runs' columns.

    ``ta``/``tb`` hold :func:`suite.results.compare_cache.compare_schema`'s columns, row ``i`` of
    each being case ``ids[i]``. Medians, ratios and the unstable flag are computed on whole
    columns, the speed tests with :func:`~suite.compare.significance.speed_changes` as there; records
    are built (``records_of(ids)``) only for the cases whose numerics might have got worse (a
    worse verdict, a non-finite flag, a nondeterministic run, a max ULP that grew), which
    :func:`divergence_changes` then decides as for any record. A million cases take seconds
    where records take a minute; a test checks both give the same comparison.
    """
    import pyarrow.compute as pc

    def column(table: Any, *path: str) -> Any:
        array = table.column(path[0])
        for key in path[1:]:
            array = pc.struct_field(array, key)
        return array

    def numbers(table: Any, *path: str) -> np.ndarray:
        return np.asarray(column(table, *path).to_numpy(zero_copy_only=False), dtype=float)  # null: NaN

    def medians(table: Any) -> tuple[np.ndarray, np.ndarray]:
        values = numbers(table, "timing", "step_s_median")
        with np.errstate(invalid="ignore"):
            return values, np.isfinite(values) & (values > 0)

    def unstable(table: Any, med: np.ndarray, ok: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return ok & (numbers(table, "timing", "step_s_iqr") / med >= UNSTABLE_IQR)

    def nondeterministic(table: Any, verdicts: list[str]) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            many = numbers(table, "divergence", "rerun", "distinct") > 1
        return many | np.array([v == NONDETERMINISTIC for v in verdicts], dtype=bool)

    def flagged(table: Any, flag: str) -> np.ndarray:
        lists = table.column("flags").combine_chunks()
        out = np.zeros(len(lists), dtype=bool)
        values = pc.list_flatten(lists)
        if len(values):
            hits = pc.equal(values, flag).to_numpy(zero_copy_only=False)
            out[np.asarray(pc.list_parent_indices(lists))[hits.astype(bool)]] = True
        return out

    def chunk(ids: list[str], ta: Any, tb: Any) -> list[CaseDelta]:
        va, vb = ta.column("verdict").to_pylist(), tb.column("verdict").to_pylist()
        ma, ok_a = medians(ta)
        mb, ok_b = medians(tb)
        timed = np.flatnonzero(ok_a & ok_b)
        samples = [
            [
                [x for x in s if x is not None] if s else []
                for s in column(t, "timing", "step_s").take(timed).to_pylist()
            ]
            for t in (ta, tb)
        ]
        speeds = dict(zip(timed.tolist(), speed_changes(list(zip(*samples, strict=True))), strict=True))
        shaky = unstable(ta, ma, ok_a) | unstable(tb, mb, ok_b)
        severity = {v: severity_of(v) for v in {*va, *vb}}
        maybe = np.array([severity[b] > severity[a] for a, b in zip(va, vb, strict=True)], dtype=bool)
        maybe |= flagged(tb, "non-finite") | nondeterministic(ta, va) | nondeterministic(tb, vb)
        with np.errstate(invalid="ignore"):
            for ref in REFERENCES:
                maybe |= numbers(tb, "divergence", ref, "max_ulp") > numbers(ta, "divergence", ref, "max_ulp")
        changes: dict[int, tuple[DivergenceChange, ...]] = {}
        rows = np.flatnonzero(maybe).tolist()
        recs_a, recs_b = records_of([ids[i] for i in rows])
        for i, ra, rb in zip(rows, recs_a, recs_b, strict=True):
            changes[i] = tuple(divergence_changes(ra, rb))
        med_a = [float(m) if ok else None for m, ok in zip(ma.tolist(), ok_a.tolist(), strict=True)]
        med_b = [float(m) if ok else None for m, ok in zip(mb.tolist(), ok_b.tolist(), strict=True)]
        deltas = []
        for i, cid in enumerate(ids):
            x, y, speed = med_a[i], med_b[i], speeds.get(i)
            deltas.append(
                CaseDelta(
                    case_id=cid,
                    verdict_a=va[i],
                    verdict_b=vb[i],
                    median_a_s=x,
                    median_b_s=y,
                    ratio=y / x if x and y else None,
                    significant=bool(speed and speed.significant),
                    speed=speed,
                    unstable=bool(shaky[i]),
                    changes=changes.get(i, ()),
                )
            )
        return deltas

    deltas: list[CaseDelta] = []
    for start in range(0, len(ids), COLUMN_CHUNK):  # bounds what the samples and masks take
        end = min(start + COLUMN_CHUNK, len(ids))
        deltas += chunk(ids[start:end], ta.slice(start, end - start), tb.slice(start, end - start))
    return deltas


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
    from suite.compare.load import match_runs
    from suite.results.columns import gc_paused

    matched = match_runs(a, b)
    cases: list[CaseDelta] = []
    aligned = matched.aligned_tables()
    with gc_paused():
        if aligned is not None:
            cases = _deltas_of_columns(matched.both, *aligned, matched.records_of)
        else:
            for records_a, records_b in matched.chunks():
                cases += compare_records(records_a, records_b).cases
    return Comparison(a.run_id, b.run_id, cases, matched.only_a, matched.only_b, diffs)
