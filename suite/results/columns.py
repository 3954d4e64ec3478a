"""Read ``records.jsonl`` as columns, fast and in bounded memory, for the typed frame.

A million records are ~1.5 GB of JSON. Parsing each line into Python dicts and
:class:`~suite.results.record.Record` objects costs ~60 µs a line on a 2-core VM (and the garbage
collector multiplies it while millions of small objects pile up), so the frame is built
from Arrow's multithreaded JSON reader instead, block by block, with an explicit schema of
the fields the frame needs (:data:`SOURCES`): memory holds one block and the finished
columns, never every record.

The fast path is used only when it gives exactly what the line-by-line reader gives: a
file whose last line is complete, where every line parses and has the expected types, and
every record has its case axes and verdict. Anything else (a damaged line, an incomplete
last line, a value of another type) falls back to :meth:`RunDir.iter_records`, which warns
about each bad line with its number, with the garbage collector paused while it runs.

Both paths produce the same *raw columns* (:func:`read_raw_table`): plain values in record
units, before :mod:`suite.results.frame` names, scales and types them.
"""

from __future__ import annotations

import contextlib
import gc
import math
import numbers
from collections.abc import Iterator
from typing import Any

from suite.causes.cause import Cause, causes_text, top_kind
from suite.machine.gc_control import paused_gc
from suite.results.record import Record
from suite.results.run_dir import RunDir

#: case axes, in ``case_id`` order
AXES: tuple[str, ...] = ("pair", "member", "workload", "mode", "device", "precision", "determinism", "size")
REFERENCES: tuple[str, ...] = ("vs_pair", "vs_eager", "vs_cpu", "vs_fp64")
#: raw column -> path of a number in a record (read as float; None when absent or not a finite number)
SOURCES: dict[str, tuple[str, ...]] = {
    "batch": ("timing", "batch"),
    "repeats": ("timing", "repeats"),
    "steps_per_repeat": ("timing", "steps_per_repeat"),
    "step_s_median": ("timing", "step_s_median"),
    "step_s_p10": ("timing", "step_s_p10"),
    "step_s_p90": ("timing", "step_s_p90"),
    "step_s_iqr": ("timing", "step_s_iqr"),
    "samples_per_s": ("timing", "samples_per_s"),
    "compile_s": ("timing", "compile_s"),
    "peak_device_bytes": ("memory", "peak_device_bytes"),
    "host_rss_bytes": ("memory", "host_rss_bytes"),
    **{f"{ref}_{m}": ("divergence", ref, m) for ref in REFERENCES for m in ("max_abs", "max_ulp")},
    **{f"rerun_{m}": ("divergence", "rerun", m) for m in ("runs", "distinct", "max_abs", "max_ulp")},
}
#: text columns besides the axes
TEXT: tuple[str, ...] = (
    "case_id",
    "verdict",
    "reason",
    "flags",
    "notes",
    "causes",
    "cause_kind",
    "first_divergence",
    "top_kernels",
)
RAW_COLUMNS: tuple[str, ...] = (*TEXT[:1], *AXES, "tf32", *SOURCES, *TEXT[1:])
#: fields of a cause (what the Arrow reader reads of ``causes``)
CAUSE_FIELDS: tuple[str, ...] = tuple(Cause.__dataclass_fields__)
#: rows per chunk of the line-by-line path
CHUNK_ROWS = 50_000
#: bytes per block of the Arrow reader
BLOCK_BYTES = 4 << 20


def as_float(value: Any) -> float | None:
    """A finite float or None (bools and non-numbers are None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _ops_text(ops: Any, limit: int = 3) -> str:
    if not ops:
        return ""
    names = []
    for op in list(ops)[:limit]:
        if isinstance(op, dict):
            names.append(str(op.get("name") or op.get("type") or op.get("op") or op))
        else:
            names.append(str(op))
    more = f", +{len(ops) - limit}" if len(ops) > limit else ""
    return f" [{', '.join(names)}{more}]"


def localisation_text(loc: dict[str, Any] | None) -> str | None:
    """One line for a record's ``localisation``: ``"gradient of emb/embeddings [UnsortedSegmentSum]"``.

    Args:
        loc: ``record.localisation`` (``against``, ``forward``, ``backward``, ``update``,
            ``note``) or None.

    Returns:
        The text, or None when there is no localisation.
    """
    if not loc:
        return None
    parts = []
    fwd, bwd, upd = loc.get("forward"), loc.get("backward"), loc.get("update")
    if fwd:
        parts.append(f"forward {fwd.get('layer', '?')}{_ops_text(fwd.get('ops'))}")
    if bwd:
        parts.append(f"gradient of {bwd.get('variable', '?')}{_ops_text(bwd.get('ops'))}")
    if upd:
        parts.append(f"update of {upd.get('variable', '?')}{_ops_text(upd.get('ops'))}")
    note = loc.get("note")
    if note:
        parts.append(str(note))
    if not parts:
        return None
    against = loc.get("against")
    return ("; ".join(parts) + (f" ({against})" if against else "")).strip()


def top_kernels_text(profile: dict[str, Any] | None, limit: int = 3) -> str | None:
    """The top kernels of a trace as ``"name 42%; name 22%"`` (``share`` is a fraction 0–1).

    Names are kept whole: two kernels that differ only in the middle of a long name must
    not look the same.

    Args:
        profile: ``record.profile`` or None.
        limit: how many kernels.

    Returns:
        The text, or None when the record has no kernels.
    """
    kernels = (profile or {}).get("top_kernels") or []
    parts = []
    for k in kernels[:limit]:
        name = str(k.get("name") or k.get("op_name") or "?")
        share = as_float(k.get("share"))
        parts.append(f"{name} {share * 100:.0f}%" if share is not None else name)
    return "; ".join(parts) or None


def _joined(items: Any) -> str | None:
    return "; ".join(str(i) for i in items or ()) or None


def record_values(rec: Record) -> dict[str, Any]:
    """The raw columns (:data:`RAW_COLUMNS`) of one record."""
    row: dict[str, Any] = {"case_id": rec.case_id, **rec.case.to_dict()}
    tf32 = (rec.numerics or {}).get("tf32_enabled")
    row["tf32"] = tf32 if isinstance(tf32, bool) else None
    data = {"timing": rec.timing, "memory": rec.memory, "divergence": rec.divergence}
    for name, path in SOURCES.items():
        value: Any = data
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        row[name] = as_float(value)
    row["verdict"] = rec.verdict
    row["reason"] = rec.reason or None
    row["flags"] = _joined(rec.flags)
    row["notes"] = _joined(rec.notes)
    row["causes"] = causes_text(rec.causes)
    row["cause_kind"] = top_kind(rec.causes)
    row["first_divergence"] = localisation_text(rec.localisation)
    row["top_kernels"] = top_kernels_text(rec.profile)
    return row


def raw_schema() -> Any:
    """The Arrow schema of the raw columns (strings, floats, a boolean)."""
    import pyarrow as pa

    return pa.schema(
        [
            (c, pa.bool_() if c == "tf32" else pa.float64() if c in SOURCES else pa.string())
            for c in RAW_COLUMNS
        ]
    )


def tables_from_records(records: Any, chunk_rows: int = CHUNK_ROWS) -> Iterator[Any]:
    """Raw column tables (``pyarrow.Table``) of some records, at most ``chunk_rows`` rows each."""
    import pyarrow as pa

    schema = raw_schema()
    chunk: dict[str, list[Any]] = {c: [] for c in RAW_COLUMNS}
    n = 0
    for rec in records:
        for key, value in record_values(rec).items():
            chunk[key].append(value)
        n += 1
        if n == chunk_rows:
            yield pa.table(chunk, schema=schema)
            chunk, n = {c: [] for c in RAW_COLUMNS}, 0
    if n:
        yield pa.table(chunk, schema=schema)


# ------------------------------------------------------------------------------------ Arrow path


def _arrow_schema() -> Any:
    import pyarrow as pa

    f64, text = pa.float64(), pa.string()

    def struct(names: Any, kind: Any = f64) -> Any:
        return pa.struct([(n, kind) for n in names])

    step = ("batch", "repeats", "steps_per_repeat", "step_s_median", "step_s_p10", "step_s_p90")
    step += ("step_s_iqr", "samples_per_s", "compile_s")
    located = [("ops", pa.list_(text))]
    return pa.schema(
        [
            ("case_id", text),
            ("case", struct(AXES, text)),
            ("verdict", text),
            ("reason", text),
            ("timing", pa.struct([*((n, f64) for n in step), ("step_s", pa.list_(f64))])),
            ("memory", struct(("peak_device_bytes", "host_rss_bytes"))),
            (
                "divergence",
                pa.struct(
                    [(ref, struct(("max_abs", "max_ulp"))) for ref in REFERENCES]
                    + [("rerun", struct(("runs", "distinct", "max_abs", "max_ulp")))]
                ),
            ),
            ("numerics", pa.struct([("tf32_enabled", pa.bool_())])),
            (
                "localisation",
                pa.struct(
                    [
                        ("against", text),
                        ("note", text),
                        ("forward", pa.struct([("layer", text), *located])),
                        ("backward", pa.struct([("variable", text), *located])),
                    ]
                ),
            ),
            (
                "profile",
                pa.struct(
                    [
                        (
                            "top_kernels",
                            pa.list_(pa.struct([("name", text), ("op_name", text), ("share", f64)])),
                        )
                    ]
                ),
            ),
            ("flags", pa.list_(text)),
            ("notes", pa.list_(text)),
            ("causes", pa.list_(pa.struct([(name, text) for name in CAUSE_FIELDS]))),
        ]
    )


def stored_case_ids(batch: Any) -> Any:
    """The ``case_id`` every record line stores, checked against its ``case`` axes.

    Args:
        batch: an Arrow table or record batch with ``case_id`` and ``case`` columns.

    Returns:
        The ids (a string array), or None when a line lacks its id or axes, has an axis that is
        not a plain name (:data:`suite.case.UNSAFE_AXIS`: ``../``, a control character), or
        stores an id that is not its case's (such lines are for the line reader, which names them).
    """
    import pyarrow.compute as pc

    from suite.case import UNSAFE_AXIS

    ids, case = batch.column("case_id"), batch.column("case")
    if ids.null_count or case.null_count:
        return None
    parts = [pc.struct_field(case, axis) for axis in AXES]
    if any(p.null_count for p in parts):
        return None
    if any(len(p) and pc.any(pc.match_substring_regex(p, UNSAFE_AXIS)).as_py() for p in parts):
        return None
    parts[4] = pc.replace_substring(parts[4], ":", "")  # Case.case_id: gpu:0 -> gpu0, off -> det-off
    parts[6] = pc.binary_join_element_wise("det-", parts[6], "")
    if not pc.all(pc.equal(ids, pc.binary_join_element_wise(*parts, "."))).as_py():
        return None
    return ids


class LineReaderNeeded(Exception):
    """The Arrow path cannot give exactly what the line-by-line reader gives."""


def _finite(array: Any) -> Any:
    import pyarrow.compute as pc

    return pc.if_else(pc.is_finite(array), array, None)


def _text_of(array: Any, render: Any) -> Any:
    """``render(value)`` of each non-null struct value (rare columns: few rows have one)."""
    import pyarrow as pa

    if array.null_count == len(array):
        return pa.nulls(len(array), pa.string())
    return pa.array([render(v) if v is not None else None for v in array.to_pylist()], pa.string())


def _table_from_batch(batch: Any) -> Any:
    """The raw column table of one Arrow record batch.

    Raises:
        LineReaderNeeded: a record lacks its case axes or verdict.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    verdicts = batch.column("verdict")
    ids = stored_case_ids(batch)
    if ids is None or verdicts.null_count:
        raise LineReaderNeeded
    case = batch.column("case")
    out: dict[str, Any] = {"case_id": ids, **{axis: pc.struct_field(case, axis) for axis in AXES}}
    out["tf32"] = pc.struct_field(batch.column("numerics"), "tf32_enabled")
    for name, path in SOURCES.items():
        array = batch.column(path[0])
        for key in path[1:]:
            array = pc.struct_field(array, key)
        out[name] = _finite(array)
    out["verdict"] = verdicts
    reason = batch.column("reason")
    out["reason"] = pc.if_else(pc.equal(reason, ""), pa.scalar(None, pa.string()), reason)
    for name in ("flags", "notes"):
        joined = pc.binary_join(batch.column(name), "; ")
        out[name] = pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)
    causes = batch.column("causes")
    out["causes"] = _text_of(causes, causes_text)
    out["cause_kind"] = _text_of(causes, top_kind)
    out["first_divergence"] = _text_of(batch.column("localisation"), localisation_text)
    out["top_kernels"] = _text_of(batch.column("profile"), top_kernels_text)
    return pa.table(out, schema=raw_schema())


def _arrow_tables(run: RunDir, sink: Any = None) -> Iterator[Any]:
    """Raw tables through Arrow, block by block (each parsed block is also passed to ``sink``,
    then ``None`` once the whole file was parsed).

    Raises:
        LineReaderNeeded: the file needs the line-by-line reader (see the module docstring).
    """
    for batch in json_batches(run, _arrow_schema()):
        if sink is not None:
            sink(batch)
        yield _table_from_batch(batch)
    if sink is not None:
        sink(None)


def json_batches(run: RunDir, schema: Any) -> Iterator[Any]:
    """``records.jsonl`` parsed by Arrow's JSON reader with an explicit schema, block by block
    (the JSON text is never held whole); fields outside the schema are ignored.

    Raises:
        LineReaderNeeded: the last line is incomplete, a line does not fit the schema, or one has
            a ``schema_version`` this pairbench does not read: only the line-by-line reader
            (:meth:`RunDir.iter_records`) reads such a file exactly (and names the bad lines).
    """
    import pyarrow as pa
    import pyarrow.json as pj

    path = run.records_path
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            return
        fh.seek(-1, 2)
        if fh.read(1) != b"\n":  # an incomplete last line: the line reader warns and skips it
            raise LineReaderNeeded
    checked = schema.append(pa.field(_VERSION, pa.int64()))  # read to be checked, then dropped
    options = pj.ParseOptions(explicit_schema=checked, unexpected_field_behavior="ignore")
    try:
        reader = pj.open_json(
            path, read_options=pj.ReadOptions(block_size=BLOCK_BYTES), parse_options=options
        )
        for batch in reader:
            if not readable_versions(batch.column(_VERSION)):
                raise LineReaderNeeded
            yield batch.drop_columns([_VERSION])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise LineReaderNeeded from None


#: the field of a record line that says which schema wrote it (a whole number; absent: the current)
_VERSION = "schema_version"


def readable_versions(versions: Any) -> bool:
    """Whether every ``schema_version`` of an Arrow column (int64, null when absent) is one this
    pairbench reads (:func:`suite.results.record.check_schema_version`). A version that is not a
    whole number never gets here: Arrow refuses to parse it as int64."""
    import pyarrow.compute as pc

    from suite.results.record import SCHEMA_VERSION

    if versions.null_count == len(versions):
        return True
    low, high = pc.min_max(versions).values()
    return 1 <= low.as_py() and high.as_py() <= SCHEMA_VERSION


def read_raw_table(run: RunDir, sink: Any = None) -> Any:
    """The run's records as one raw column table (:data:`RAW_COLUMNS`), in file order.

    Duplicates (a retried case) are all kept; the caller keeps the last one. Bad lines are
    skipped with a :class:`~suite.results.run_dir.CorruptLineWarning` naming the line.

    Args:
        run: the run folder.
        sink: called with each block Arrow parsed (a ``pyarrow.RecordBatch`` with more fields
            than the raw columns, e.g. the timed samples), then with ``None`` once the whole
            file was parsed that way; never with ``None`` when the line reader was needed
            (:class:`suite.results.compare_cache.CompareColumns` caches ``compare``'s columns so).

    Returns:
        A ``pyarrow.Table``: numbers are float64 in record units (seconds, bytes), null when
        absent or not finite; ``tf32`` a boolean; text a string or null.
    """
    import pyarrow as pa

    schema = raw_schema()
    if not run.records_path.exists():
        return schema.empty_table()
    run.check_records_file()  # a records.jsonl that is a folder is bad input (one line, exit 2)
    with paused_gc(collect=False):
        try:
            tables = list(_arrow_tables(run, sink))
        except LineReaderNeeded:
            tables = list(tables_from_records(run.iter_records()))
    return pa.concat_tables(tables) if tables else schema.empty_table()
