"""The per-case deltas of two runs computed on their Arrow columns (a million cases in seconds).

Medians, ratios and the unstable flag are computed on whole columns, the speed tests as for
records; records are built only for the cases whose numerics might have got worse, which
:func:`suite.compare.deltas.divergence_changes` then decides as for any record. A test checks
that this path and :func:`suite.compare.runs.compare_records` give the same comparison.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from suite.compare.deltas import UNSTABLE_IQR, CaseDelta, DivergenceChange, divergence_changes
from suite.compare.significance import speed_changes
from suite.results.columns import REFERENCES
from suite.verdicts import NONDETERMINISTIC, severity_of

#: cases compared at once on columns
COLUMN_CHUNK = 100_000


def deltas_of_columns(ids: list[str], ta: Any, tb: Any, records_of: Any) -> list[CaseDelta]:
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
