"""Load and match the records of two runs for ``compare``, fast and chunk by chunk.

``compare`` needs, per case in both runs, the two records' verdicts, timings and divergences.
For runs of a million records, parsing every line into a :class:`~suite.results.record.Record`
takes minutes and gigabytes; here each run's columns are read from its cache
(:mod:`suite.results.compare_cache`, written by the run's report) or else by Arrow's JSON reader
with an explicit schema of the fields ``compare`` reads
(:func:`~suite.results.compare_cache.compare_schema`: the case, verdict, reason, flags, notes,
timing and, per reference, the metrics), matched by case id, and turned into records a chunk
at a time, so at most :data:`CHUNK` pairs of records exist at once. The statistics stay in
:mod:`suite.compare.runs` (:func:`~suite.compare.runs.compare_records`), which sees ordinary records
holding those fields
(a field the record lacks is None, which ``compare`` reads as absent): a statistic that starts
reading another field must add it to that schema (a test compares this path with :meth:`RunDir.records`
on the same runs).

A file Arrow cannot read exactly like the line reader (a damaged or incomplete line, a value
of an unexpected type) is read with :meth:`RunDir.records` instead: same records, slower.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from suite.case import Case
from suite.machine.gc_control import paused_gc
from suite.results.columns import LineReaderNeeded, json_batches, stored_case_ids
from suite.results.compare_cache import compare_schema, load_cached, records_stamp, save
from suite.results.record import Record
from suite.results.run_dir import RunDir

#: pairs of records built at once
CHUNK = 50_000


class _Source:
    """One run's records: an Arrow table with the last row of each case, or parsed records."""

    def __init__(self, run: RunDir):
        self.table: Any = None
        self.rows: dict[str, int] = {}
        self.records: dict[str, Record] = {}
        table = _read_table(run)
        if table is None:
            self.records = {r.case_id: r for r in run.records()}
            return
        self.table = table
        self.rows = {
            cid: i for i, cid in enumerate(table.column("case_id").to_pylist())
        }  # the last record of a case wins

    def ids(self) -> set[str]:
        return set(self.rows) if self.table is not None else set(self.records)

    def rows_of(self, case_ids: list[str]) -> Any:
        """The table's rows of ``case_ids``, in that order (a table is required)."""
        return self.table.take(_indices([self.rows[c] for c in case_ids]))

    def take(self, case_ids: list[str]) -> list[Record]:
        """The records of ``case_ids``, in that order."""
        if self.table is None:
            return [self.records[c] for c in case_ids]
        part = self.table.take(_indices([self.rows[c] for c in case_ids]))
        return [
            Record(
                case=Case(**row["case"]),
                verdict=row["verdict"],
                reason=row["reason"] or "",
                timing=row["timing"] or {},
                divergence=row["divergence"] or {},
                flags=row["flags"] or [],
                notes=row["notes"] or [],
            )
            for row in part.to_pylist()
        ]


def _indices(rows: list[int]) -> Any:
    """Row numbers for ``Table.take`` (typed: an empty Python list would be a null array)."""
    import pyarrow as pa

    return pa.array(rows, type=pa.int64())


def _read_table(run: RunDir) -> Any:
    """The run's records as an Arrow table (:func:`compare_schema`), or None for the line reader.

    From the run's cache when it is current (:func:`~suite.results.compare_cache.load_cached`);
    otherwise parsed from ``records.jsonl``, and the cache written for the next compare.
    """
    cached = load_cached(run)
    if cached is not None:
        return cached
    stamp = records_stamp(run)
    table = _parse_table(run)
    if table is not None:
        save(run, table, stamp)
    return table


def _parse_table(run: RunDir) -> Any:
    """``records.jsonl`` parsed by Arrow's JSON reader, or None when only the line reader can read it."""
    import pyarrow as pa

    if not run.records_path.is_file():
        return None
    try:
        batches = list(json_batches(run, compare_schema()))
    except LineReaderNeeded:
        return None
    if not batches:
        return None
    table = pa.Table.from_batches(batches, schema=compare_schema())
    if table.column("verdict").null_count or stored_case_ids(table) is None:
        return None
    return table


@dataclass(frozen=True)
class Matched:
    """Two runs' records matched by case id.

    Attributes:
        only_a: case ids only in run a, sorted.
        only_b: case ids only in run b, sorted.
        both: case ids in both, sorted.
    """

    only_a: list[str]
    only_b: list[str]
    both: list[str]
    _a: _Source
    _b: _Source

    def aligned_tables(self) -> tuple[Any, Any] | None:
        """Both runs' columns (:func:`~suite.results.compare_cache.compare_schema`), row ``i`` of each
        being case ``both[i]``; None when a run could only be read line by line."""
        if self._a.table is None or self._b.table is None:
            return None
        return self._a.rows_of(self.both), self._b.rows_of(self.both)

    def records_of(self, case_ids: list[str]) -> tuple[list[Record], list[Record]]:
        """The two runs' records of some common cases, in that order."""
        return self._a.take(case_ids), self._b.take(case_ids)

    def chunks(self, size: int = CHUNK) -> Iterator[tuple[list[Record], list[Record]]]:
        """``(records of a, records of b)`` for the common cases, ``size`` at a time, in case-id order.

        Consume it inside :func:`~suite.machine.gc_control.paused_gc`: the records and the results
        built from them hold no reference cycles, and a million of them make every collection
        rescan them.
        """
        for start in range(0, len(self.both), size):
            ids = self.both[start : start + size]
            yield self._a.take(ids), self._b.take(ids)


def match_runs(a: RunDir, b: RunDir) -> Matched:
    """Read two runs and match their cases by case id (the last record of a case wins).

    Args:
        a: the baseline run.
        b: the new run.

    Returns:
        The :class:`Matched` cases; build their records with :meth:`Matched.chunks`.
    """
    with paused_gc(collect=False):
        source_a, source_b = _Source(a), _Source(b)
    ids_a, ids_b = source_a.ids(), source_b.ids()
    return Matched(sorted(ids_a - ids_b), sorted(ids_b - ids_a), sorted(ids_a & ids_b), source_a, source_b)
