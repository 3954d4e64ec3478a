"""What ``compare`` reads from a run, as Arrow columns, and a cached copy of them in the run folder.

Parsing a million-record ``records.jsonl`` (~1.6 GB of JSON) takes most of a minute even
with Arrow's reader, and ``compare`` reads two runs. So the columns ``compare`` needs
(:func:`compare_schema`) are kept in the run folder as ``cache/compare-columns.parquet``
(tens of MB for a million records), stamped with the size and modification time of the
``records.jsonl`` they were read from:

- ``report`` (which ends every ``run``, ``nightly`` and ``merge``) already parses the whole
  file for the typed frame; it hands its parsed blocks to a :class:`CompareColumns`, which
  writes the cache when the parse succeeded;
- ``compare`` uses the cache when its stamp matches the file as it is now
  (:func:`load_cached`), and otherwise parses the file itself and writes the cache for next
  time (:func:`save`).

Records are only ever appended, so a file that changed after the cache was written has
another size (or at least another modification time): a stale cache is never read. The cache
is a convenience: a run folder that cannot be written (read-only results) compares as well,
only slower.
"""

from __future__ import annotations

import os
from typing import Any

from suite.results.columns import AXES, REFERENCES
from suite.results.atomic import ResultsWriteError
from suite.results.names import CACHE as CACHE_DIR
from suite.results.run_dir import RunDir

#: the cache's path inside the run folder
CACHE = f"{CACHE_DIR}/compare-columns.parquet"
#: version of the cached table's layout (a different one is ignored and rewritten)
LAYOUT = "2"  # 2: the stored case_id column
#: the fields of a reference's METRICS dict that compare reads: name -> "float", "int", "bool" or "str"
METRICS = {"max_ulp": "float"}
#: the fields of the RERUN dict that compare reads
RERUN = {"distinct": "int"}
#: the fields of ``timing`` that compare reads (besides the ``step_s`` samples)
TIMING = {
    "step_s_median": "float",
    "step_s_p10": "float",
    "step_s_p90": "float",
    "step_s_iqr": "float",
    "repeats": "int",
}


def compare_schema() -> Any:
    """The Arrow schema of what ``compare`` reads from a record."""
    import pyarrow as pa

    kinds = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "str": pa.string()}

    def struct(fields: dict[str, str]) -> Any:
        return pa.struct([(k, kinds[v]) for k, v in fields.items()])

    text = pa.string()
    timing = pa.struct([*((k, kinds[v]) for k, v in TIMING.items()), ("step_s", pa.list_(pa.float64()))])
    divergence = pa.struct([*((ref, struct(METRICS)) for ref in REFERENCES), ("rerun", struct(RERUN))])
    return pa.schema(
        [
            ("case_id", text),
            ("case", pa.struct([(a, text) for a in AXES])),
            ("verdict", text),
            ("reason", text),
            ("flags", pa.list_(text)),
            ("notes", pa.list_(text)),
            ("timing", timing),
            ("divergence", divergence),
        ]
    )


def records_stamp(run: RunDir) -> dict[str, str] | None:
    """Size and modification time of the run's ``records.jsonl`` (None when it is not a file)."""
    try:
        st = os.stat(run.records_path)
    except OSError:
        return None
    return {"records_bytes": str(st.st_size), "records_mtime_ns": str(st.st_mtime_ns), "layout": LAYOUT}


def load_cached(run: RunDir) -> Any:
    """The cached columns (a ``pyarrow.Table`` of :func:`compare_schema`) when they were read from
    ``records.jsonl`` as it is now; None otherwise (no cache, stale, unreadable)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = run.path / CACHE
    stamp = records_stamp(run)
    if stamp is None or not path.is_file():
        return None
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException):
        return None
    saved = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    if any(saved.get(k) != v for k, v in stamp.items()):
        return None
    table = table.replace_schema_metadata(None)
    return table if table.schema.equals(compare_schema()) else None


def save(run: RunDir, table: Any, stamp: dict[str, str] | None) -> bool:
    """Write ``table`` (:func:`compare_schema`) as the run's cache, stamped with ``stamp`` (taken
    *before* the file was read, so that records appended meanwhile make it stale).

    Returns:
        True when written; False when there is no stamp or the run folder cannot be written.
    """
    import pyarrow.parquet as pq

    if stamp is None:
        return False
    stamped = table.replace_schema_metadata(stamp)
    try:
        run.write_with(CACHE, lambda tmp: pq.write_table(stamped, tmp, compression="zstd"))
    except (ResultsWriteError, OSError):
        return False
    return True


class CompareColumns:
    """Collects ``compare``'s columns from another reader's parse of ``records.jsonl``.

    Pass it as ``sink`` to :func:`suite.results.columns.read_raw_table`: it receives every
    parsed block (a superset of :func:`compare_schema`), then ``None`` when the whole file was
    parsed; it then writes the cache. A parse that fell back to the line reader never sends
    ``None``, and nothing is written.
    """

    def __init__(self, run: RunDir):
        self.run = run
        self.stamp = records_stamp(run)
        self.tables: list[Any] = []
        self.ok = True
        self.written = False

    def __call__(self, batch: Any) -> None:
        import pyarrow as pa

        if batch is None:
            if self.ok and self.tables:
                self.written = save(self.run, pa.concat_tables(self.tables), self.stamp)
            self.tables = []
            return
        if not self.ok:
            return
        schema = compare_schema()
        if not all(
            _covers(batch.schema.field(f.name).type, f.type) for f in schema if f.name in batch.schema.names
        ):
            self.ok, self.tables = False, []  # Arrow would fill a missing field with nulls
            return
        try:
            table = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
        except (pa.ArrowException, KeyError):  # e.g. a repeat count that is not a whole number
            self.ok, self.tables = False, []
            return
        self.tables.append(table)


def _covers(source: Any, target: Any) -> bool:
    """Whether every (nested) struct field of ``target`` is in ``source``."""
    import pyarrow as pa

    if not pa.types.is_struct(target):
        return True
    if not pa.types.is_struct(source):
        return False
    names = [source.field(i).name for i in range(source.num_fields)]
    return all(
        target.field(i).name in names
        and _covers(source.field(names.index(target.field(i).name)).type, target.field(i).type)
        for i in range(target.num_fields)
    )
