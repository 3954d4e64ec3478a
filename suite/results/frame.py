"""A run's records as one typed pandas DataFrame: what ``load_frame()`` returns and ``table.parquet`` holds.

One row per case (the last record wins when a case was recorded twice), one column per
:data:`COLUMNS` entry, each with one dtype whatever the run holds:

* axes and ``verdict`` are ``category``; text is ``string`` (``<NA>`` when missing);
* counts (``batch``, ``repeats``, ``rerun_distinct``...) are nullable ``Int64``;
* every time is in milliseconds (``_ms``), memory in MiB (``_mib``), throughput per second;
  other numbers are ``float64`` (NaN when missing or not finite);
* ``tf32`` and ``control`` are nullable ``boolean``;
* a column that is missing on every row of a run is left out (an all-empty ``vs_cpu``
  column says nothing); the identity columns (``run_id``, ``case_id``, the axes,
  ``control``, ``verdict``) are always there.

``docs/columns.md`` documents every column; a test keeps it in step with :data:`COLUMNS`.
Records are read column by column (:mod:`suite.results.columns`), so a million records load
in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.results.columns import AXES, REFERENCES, read_raw_table, tables_from_records
from suite.results.record import Record
from suite.results.names import DEFAULT_RESULTS_DIR
from suite.results.run_dir import RunDir, machine_of
from suite.results.runs import open_run

#: controls of a pair when ``run.json`` does not say (runs before the ``pairs`` block): the default
#: of :attr:`suite.zoo.Pair.controls`
DEFAULT_CONTROLS: tuple[str, ...] = ("faulty",)
_MS, _MIB = 1e3, 1.0 / 2**20


@dataclass(frozen=True)
class Column:
    """One column of the typed frame.

    Attributes:
        name: the column name (units in it).
        dtype: the pandas dtype.
        description: what it holds, for ``docs/columns.md``.
        source: the raw column (:data:`suite.results.columns.RAW_COLUMNS`) it comes from.
        scale: factor from record units to the column's unit.
    """

    name: str
    dtype: str
    description: str
    source: str | None = None
    scale: float = 1.0


COLUMNS: tuple[Column, ...] = (
    Column("run_id", "string", "the run folder's name"),
    Column(
        "machine",
        "string",
        "the machine of the run (the nightly's `--machine`, `$PAIRBENCH_MACHINE` or the host name): "
        "`pairbench fleet` groups by it",
    ),
    Column(
        "case_id", "string", "stable case identifier, `pair.member.workload.mode.device.precision.det-X.size`"
    ),
    *(Column(axis, "category", f"case axis: {axis}", axis) for axis in AXES),
    Column(
        "control",
        "boolean",
        "the member is a known-wrong control of its pair (expected verdict "
        "structural-mismatch or diverged; `run.json` `pairs`)",
    ),
    Column(
        "verdict",
        "category",
        "identical, close, diverged, nondeterministic, structural-mismatch, incomparable, unsupported, error",
        "verdict",
    ),
    Column("reason", "string", "why (for anything but identical)", "reason"),
    Column(
        "flags",
        "string",
        "machine-readable tags qualifying the verdict (e.g. non-finite), `; `-joined",
        "flags",
    ),
    Column("notes", "string", "sentences to show next to the verdict, `; `-joined", "notes"),
    Column(
        "causes",
        "string",
        "why the numbers differ, most explanatory first, each with both values "
        "(member vs reference), ` | `-joined (docs/causes.md)",
        "causes",
    ),
    Column(
        "cause_kind", "string", "the kind of the top cause (docs/causes.md), e.g. configuration", "cause_kind"
    ),
    Column("tf32", "boolean", "TF32 matmuls actually enabled in the worker", "tf32"),
    Column("batch", "Int64", "samples per step", "batch"),
    Column("repeats", "Int64", "timed repeats (samples)", "repeats"),
    Column("steps_per_repeat", "Int64", "steps in one timed repeat", "steps_per_repeat"),
    Column("step_ms_median", "float64", "median step time over repeats, milliseconds", "step_s_median", _MS),
    Column("step_ms_p10", "float64", "10th percentile of step time, milliseconds", "step_s_p10", _MS),
    Column("step_ms_p90", "float64", "90th percentile of step time, milliseconds", "step_s_p90", _MS),
    Column("step_ms_iqr", "float64", "interquartile range of step time, milliseconds", "step_s_iqr", _MS),
    Column(
        "samples_per_s", "float64", "throughput at the median step time, samples per second", "samples_per_s"
    ),
    Column("compile_ms", "float64", "first call (trace/compile) time, milliseconds", "compile_s", _MS),
    Column("peak_mem_mib", "float64", "peak device memory, MiB (2**20 bytes)", "peak_device_bytes", _MIB),
    Column("host_rss_mib", "float64", "host resident memory of the worker, MiB", "host_rss_bytes", _MIB),
    *(
        col
        for ref in REFERENCES
        for col in (
            Column(f"{ref}_max_abs", "float64", f"largest absolute difference {ref}", f"{ref}_max_abs"),
            Column(
                f"{ref}_max_ulp",
                "float64",
                f"largest difference {ref}, units in the last place",
                f"{ref}_max_ulp",
            ),
        )
    ),
    Column("rerun_runs", "Int64", "reruns of the same case", "rerun_runs"),
    Column(
        "rerun_distinct", "Int64", "distinct results among the reruns (1 = deterministic)", "rerun_distinct"
    ),
    Column("rerun_max_abs", "float64", "largest absolute difference between reruns", "rerun_max_abs"),
    Column("rerun_max_ulp", "float64", "largest difference between reruns, ULP", "rerun_max_ulp"),
    Column(
        "first_divergence", "string", "first differing layer / gradient (localisation)", "first_divergence"
    ),
    Column(
        "top_kernels",
        "string",
        "top device kernels of the trace with their share of device time",
        "top_kernels",
    ),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
#: columns every frame has, even when empty
IDENTITY: tuple[str, ...] = ("run_id", "case_id", *AXES, "control", "verdict")


def controls_of(meta: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Pair -> its control members, from ``run.json``'s ``pairs`` block (empty when absent)."""
    pairs = meta.get("pairs")
    if not isinstance(pairs, dict):
        return {}
    out = {}
    for name, info in pairs.items():
        controls = info.get("controls") if isinstance(info, dict) else None
        if isinstance(controls, list):
            out[str(name)] = tuple(str(c) for c in controls)
    return out


def typed_frame(
    raw: Any,
    *,
    run_id: str = "",
    controls: dict[str, tuple[str, ...]] | None = None,
    machine: str | None = None,
):
    """The typed frame of a raw column table (one row per case, sorted by case id).

    Args:
        raw: a ``pyarrow.Table`` of raw columns (:func:`suite.results.columns.read_raw_table`).
        run_id: the value of the ``run_id`` column.
        controls: pair -> control members; pairs not listed use :data:`DEFAULT_CONTROLS`.
        machine: the value of the ``machine`` column (None: left out).

    Returns:
        The DataFrame (see :data:`COLUMNS`).
    """
    import numpy as np
    import pandas as pd

    controls = controls or {}
    raw = clean_strings(raw)
    data: dict[str, Any] = {}
    n = raw.num_rows
    for col in COLUMNS:
        if col.source is None:
            continue
        values = raw.column(col.source)
        if col.dtype in ("float64", "Int64"):
            array = values.to_numpy(zero_copy_only=False).astype("float64") * col.scale
            if col.dtype == "Int64":
                array = pd.array(np.round(array), dtype="Float64").astype("Int64")
            data[col.name] = array
        elif col.dtype == "boolean":
            data[col.name] = pd.array(values.to_pylist(), dtype="boolean")
        elif col.dtype == "category":
            data[col.name] = pd.Categorical(values.to_pylist())
        else:
            data[col.name] = pd.array(values.to_pylist() if n else [], dtype="string")
    frame = pd.DataFrame(data, index=pd.RangeIndex(n))
    frame.insert(0, "case_id", pd.array(raw.column("case_id").to_pylist(), dtype="string"))
    frame = frame.drop_duplicates("case_id", keep="last").sort_values("case_id", kind="stable")
    frame = frame.reset_index(drop=True)
    frame.insert(0, "run_id", pd.array([run_id] * len(frame), dtype="string"))
    frame.insert(1, "machine", pd.array([machine] * len(frame), dtype="string"))
    pair_controls = {p: controls.get(p, DEFAULT_CONTROLS) for p in frame["pair"].unique()}
    is_control = [m in pair_controls[p] for p, m in zip(frame["pair"], frame["member"], strict=True)]
    frame.insert(frame.columns.get_loc("verdict"), "control", pd.array(is_control, dtype="boolean"))
    keep = [c.name for c in COLUMNS if c.name in IDENTITY or frame[c.name].notna().any()]
    return frame[keep]


#: :data:`suite.text.UNSAFE` for Arrow's regular expressions (RE2)
_UNSAFE_RE2 = r"[\x00-\x1f\x7f-\x9f\x{202a}-\x{202e}\x{2066}-\x{2069}]"


def clean_strings(raw: Any) -> Any:
    """A raw column table whose text holds no control characters or escape sequences.

    Everything a record says came from a file, and its names and reasons from user code: each
    text value is one line as :func:`suite.text.clean_line` makes it. Arrow finds the values
    that need it, so a clean million-record run costs one scan per text column.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from suite.text import clean_line

    for i, field in enumerate(raw.schema):
        if not pa.types.is_string(field.type) or raw.num_rows == 0:
            continue
        column = raw.column(i)
        unsafe = pc.match_substring_regex(column, _UNSAFE_RE2)
        if not pc.any(unsafe).as_py():
            continue
        values = [
            clean_line(v) if v is not None and bad else v
            for v, bad in zip(column.to_pylist(), unsafe.to_pylist(), strict=True)
        ]
        raw = raw.set_column(i, field, pa.array(values, pa.string()))
    return raw


def with_all_columns(frame):
    """``frame`` with every :data:`COLUMNS` column, in order; those it lacks are all-NA (typed)."""
    import pandas as pd

    missing = [c for c in COLUMNS if c.name not in frame.columns]
    if not missing:
        return frame[list(COLUMN_NAMES)]
    frame = frame.copy()
    for col in missing:
        frame[col.name] = pd.Series(pd.NA if col.dtype != "float64" else float("nan"), index=frame.index)
        frame[col.name] = frame[col.name].astype(col.dtype)
    return frame[list(COLUMN_NAMES)]


def frame_from_records(
    records: Iterable[Record],
    *,
    run_id: str = "",
    controls: dict | None = None,
    machine: str | None = None,
    all_columns: bool = False,
):
    """The typed frame of some records (tests, records held in memory).

    Args:
        records: records, in the order they were written (the last of a case wins).
        run_id: the value of the ``run_id`` column.
        controls: pair -> control members (default :data:`DEFAULT_CONTROLS`).
        machine: the value of the ``machine`` column.
        all_columns: keep every column, also those missing on every row (the report's frame,
            :func:`with_all_columns`).
    """
    import pyarrow as pa

    from suite.results.columns import raw_schema

    tables = list(tables_from_records(records))
    raw = pa.concat_tables(tables) if tables else raw_schema().empty_table()
    frame = typed_frame(raw, run_id=run_id, controls=controls, machine=machine)
    return with_all_columns(frame) if all_columns else frame


def run_frame(run: RunDir, sink: Any = None):
    """The typed frame of a run folder (what ``table.parquet`` holds).

    ``sink`` sees the parsed blocks of ``records.jsonl`` (see
    :func:`suite.results.columns.read_raw_table`).

    Raises:
        UsageError: ``run.json`` is unreadable.
    """
    meta = run.read_meta()
    return typed_frame(
        read_raw_table(run, sink), run_id=run.run_id, controls=controls_of(meta), machine=machine_of(meta)
    )


def load_frame(run: RunDir | str | Path, results_dir: Path | str = DEFAULT_RESULTS_DIR):
    """Load a run's records as the typed DataFrame, one row per case (see :data:`COLUMNS`).

    The same frame as the run's ``table.parquet`` (``pd.read_parquet`` gives it back
    unchanged). Every column is documented in ``docs/columns.md``.

    Args:
        run: a :class:`RunDir`, a run id, ``latest`` or a run folder.
        results_dir: where run ids are looked up (a path or a string).

    Raises:
        UsageError: no such run, or its ``run.json`` is unreadable.
    """
    rd = run if isinstance(run, RunDir) else open_run(str(run), Path(results_dir))
    return run_frame(rd)


def _flatten(data: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            _flatten(value, f"{name}.", out)
        else:
            out[name] = value


def _column(values: list[Any]) -> Any:
    """Whole numbers stay integers (nullable ``Int64``) even where some rows lack them."""
    import pandas as pd

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pd.array(values, dtype="Int64")
    return values


def records_frame(run: RunDir | str | Path, results_dir: Path | str = DEFAULT_RESULTS_DIR):
    """Every field of a run's records, one row per case, nested fields flattened with dots.

    The whole record (``extra.weight_map``, ``divergence.vs_eager.cosine``,
    ``localisation.update.op``...), for notebooks and :func:`suite.check_models`; the
    documented, typed summary is :func:`load_frame`. Counts are nullable integers. Meant for
    runs that fit in memory as Python objects (thousands of records, not millions).

    Args:
        run: a :class:`RunDir`, a run id, ``latest`` or a run folder.
        results_dir: where run ids are looked up (a path or a string).
    """
    import json

    import pandas as pd

    rd = run if isinstance(run, RunDir) else open_run(str(run), Path(results_dir))
    rows: list[dict[str, Any]] = []
    for rec in rd.records():
        data = json.loads(rec.to_json())
        case = data.pop("case")
        row: dict[str, Any] = {}
        _flatten({**case, **data}, "", row)
        rows.append(row)
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    frame = pd.DataFrame({name: _column([row.get(name) for row in rows]) for name in names})
    frame.insert(0, "run_id", rd.run_id)
    return frame
