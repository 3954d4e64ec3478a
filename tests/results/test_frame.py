"""The typed frame (issue 15 d) and reading a large run in bounded memory (issue 17 point 5)."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pandas as pd
import pytest
from fake_runs import MISMATCH_CASE_ID, case, make_large_run, make_record, make_run, standard_records

from suite.report import write_report
from suite.results import columns as record_columns
from suite.results.record import Record
from suite.results.frame import COLUMNS, IDENTITY, load_frame
from suite.results.runs import create_run
from suite.results.run_dir import CorruptLineWarning, RunDir

DOCS = Path(__file__).resolve().parents[2] / "docs" / "columns.md"


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path / "results", standard_records(), run_id="r1")


def test_every_column_has_its_documented_dtype(run):
    frame = load_frame(run)
    declared = {c.name: c.dtype for c in COLUMNS}
    assert {name: str(frame[name].dtype) for name in frame.columns} == {
        name: declared[name] for name in frame.columns
    }
    assert list(frame.columns) == [c.name for c in COLUMNS if c.name in frame.columns]
    # counts are nullable integers, not floats next to NaN
    assert frame["rerun_distinct"].dtype == "Int64" and frame["batch"].isna().any()
    # one time unit: every time column is in milliseconds
    assert [c for c in frame.columns if (c.endswith("_s") or "_s_" in c) and not c.endswith("_per_s")] == []
    rec = next(r for r in run.records() if r.timing)
    row = frame.set_index("case_id").loc[rec.case_id]
    assert row["compile_ms"] == pytest.approx(rec.timing["compile_s"] * 1e3)
    assert row["step_ms_p90"] == pytest.approx(rec.timing["step_s_p90"] * 1e3)


def test_no_all_empty_columns_but_identity_stays(tmp_path):
    only_failures = make_run(tmp_path, [make_record(case(), "error", reason="OOM", base_step_s=None)])
    frame = load_frame(only_failures)
    assert all(frame[c].notna().any() for c in frame.columns if c not in IDENTITY)
    assert "step_ms_median" not in frame.columns and set(IDENTITY) <= set(frame.columns)
    empty = load_frame(make_run(tmp_path, [], run_id="empty"))
    assert list(empty.columns) == list(IDENTITY) and len(empty) == 0


def test_table_parquet_is_load_frame(run):
    write_report(run, plots=False, sort="step", group_by="pair")  # the report's order is its own
    pd.testing.assert_frame_equal(pd.read_parquet(run.path / "table.parquet"), load_frame(run))


def test_docs_describe_every_column_with_its_dtype():
    text = DOCS.read_text()
    for col in COLUMNS:
        assert f"| `{col.name}` | {col.dtype} |" in text, col.name


def test_controls_come_from_run_json(tmp_path):
    recs = standard_records()
    run = make_run(tmp_path, recs, run_id="declared")
    meta = run.read_meta()
    run.write_meta({**meta, "pairs": {"mlp": {"reference": "sequential", "controls": ["raw"]}}})
    frame = load_frame(run).set_index("case_id")
    assert frame.loc["mlp.raw.predict.eager.gpu0.float32.det-off.tiny", "control"]
    assert not frame.loc[MISMATCH_CASE_ID, "control"]  # mlp declares raw, not faulty
    assert not frame.loc["embedding.functional.train_step.eager.gpu0.float32.det-off.tiny", "control"]


def _same_frames_both_paths(run: RunDir) -> pd.DataFrame:
    fast = load_frame(run)
    slow = load_frame_line_by_line(run)
    pd.testing.assert_frame_equal(fast, slow)
    return fast


def load_frame_line_by_line(run: RunDir) -> pd.DataFrame:
    """load_frame through the line reader (the Arrow path switched off)."""
    real = record_columns._arrow_tables

    def refuse(*args, **kwargs):
        raise record_columns.LineReaderNeeded
        yield  # pragma: no cover

    record_columns._arrow_tables = refuse
    try:
        return load_frame(run)
    finally:
        record_columns._arrow_tables = real


def test_arrow_and_line_reader_give_the_same_frame(tmp_path):
    recs = standard_records()
    flagged = dataclasses.replace(
        recs[0], flags=["non-finite", "reference-unavailable"], notes=["NaN in output"]
    )
    retried = make_record(case("lstm", "raw", mode="xla"), "identical")  # supersedes the error record
    run = make_run(tmp_path, [*recs, flagged, retried], run_id="both")
    frame = _same_frames_both_paths(run).set_index("case_id")
    assert frame.loc[recs[0].case_id, "flags"] == "non-finite; reference-unavailable"
    assert frame.loc[recs[0].case_id, "notes"] == "NaN in output"
    assert frame.loc[retried.case_id, "verdict"] == "identical"
    assert len(frame) == len({r.case_id for r in recs})


def test_bad_lines_fall_back_to_the_line_reader_with_line_numbers(run):
    with open(run.records_path, "a") as fh:
        fh.write('{"case": {"pair": 3}, "verdict": "identical"}\n')  # valid JSON, wrong type
        fh.write('{"case": {"pair": "cut\n')  # incomplete
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = load_frame(run)
    lines = [str(w.message) for w in caught if issubclass(w.category, CorruptLineWarning)]
    assert len(lines) == 2 and "records.jsonl:20:" in lines[0] and "records.jsonl:21:" in lines[1]
    assert len(frame) == 19


def test_large_run_is_read_block_by_block_in_bounded_memory(tmp_path, monkeypatch):
    import pyarrow as pa

    run = make_large_run(tmp_path, 12000, n_pairs=40, run_id="big")
    size = run.records_path.stat().st_size
    monkeypatch.setattr(record_columns, "BLOCK_BYTES", 64 * 1024)
    before, held, blocks, rows = pa.total_allocated_bytes(), [], 0, 0
    for table in record_columns._arrow_tables(run):  # one table per block, nothing kept here
        blocks, rows = blocks + 1, rows + table.num_rows
        held.append(pa.total_allocated_bytes() - before)
        del table
    assert blocks >= size // (64 * 1024) and rows == 12000
    # Arrow holds a bounded read-ahead of blocks and their columns, never the whole file
    assert max(held) < size / 4
    frame = _same_frames_both_paths(run)
    assert len(frame) == 12000 and frame["pair"].nunique() == 40
    assert set(frame["verdict"].astype(str)) >= {"identical", "close", "structural-mismatch", "diverged"}


def test_a_new_run_records_each_pairs_reference_and_controls():
    from suite.run.lifecycle import _pair_roles

    roles = _pair_roles(["mlp", "lstm"])
    assert roles["mlp"] == {"reference": "sequential", "controls": ["faulty"]}
    assert set(roles) == {"mlp", "lstm"} and roles["lstm"]["controls"] == ["faulty"]


def test_load_frame_takes_a_string_and_keeps_counts_integer(tmp_path):
    from fake_runs import case, make_record

    run = create_run(tmp_path, "r")
    run.append(make_record(case(pair="a")))
    run.append(Record(case=case(pair="b"), verdict="error", reason="boom"))  # no timing at all
    frame = load_frame("r", str(tmp_path))  # a run id and a results dir given as strings
    assert len(frame) == 2
    repeats = frame.set_index("pair")["repeats"]  # the typed frame (docs/columns.md)
    assert str(repeats.dtype) == "Int64" and repeats["a"] == 5 and repeats.isna()["b"]
