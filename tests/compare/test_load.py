"""Loading and matching two runs for ``compare`` (issue 17 point 5): same result as the record path."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
from fake_runs import NONDET_CASE_ID, case, make_large_run, make_record, make_run, slowed, standard_records

from suite.compare import columns as compare_columns
from suite.compare import load as compare_io
from suite.compare.runs import compare_records, compare_runs
from suite.results.run_dir import RunDir


def _by_records(a, b):
    return compare_records(a.records(), b.records(), run_a=a.run_id, run_b=b.run_id)


def _runs(tmp_path):
    recs = standard_records()
    changed = [slowed(r, 1.6 if r.case_id == NONDET_CASE_ID else 1.0) for r in recs]
    changed[0] = dataclasses.replace(changed[0], verdict="diverged", flags=["non-finite"], notes=["NaN"])
    extra = make_record(case("cnn", "raw"), "identical")
    return make_run(tmp_path, recs, run_id="a"), make_run(
        tmp_path, [*changed[1:], changed[0], extra], run_id="b"
    )


def test_fast_path_gives_the_comparison_of_the_records(tmp_path, monkeypatch):
    a, b = _runs(tmp_path)
    monkeypatch.setattr(compare_io, "CHUNK", 4)  # several chunks
    slow = _by_records(a, b)

    def no_line_reader(self):
        raise AssertionError("the fast path read records line by line")

    monkeypatch.setattr(RunDir, "records", no_line_reader)
    fast = compare_runs(a, b)
    assert fast.to_dict() == {**slow.to_dict(), "machine_differences": []}
    assert fast.only_b == ["cnn.raw.predict.eager.gpu0.float32.det-off.tiny"]
    nondet = next(c for c in fast.cases if c.case_id == NONDET_CASE_ID)
    assert nondet.significant and nondet.ratio == pytest.approx(1.6, rel=0.1)


def test_matching_is_chunked_and_the_last_record_of_a_case_wins(tmp_path):
    first = make_record(case(), "error", reason="first try", base_step_s=None)
    a = make_run(tmp_path, [first, make_record(case())], run_id="a")
    b = make_run(tmp_path, [make_record(case()), make_record(case("cnn"))], run_id="b")
    matched = compare_io.match_runs(a, b)
    assert matched.both == [case().case_id] and matched.only_b == [case("cnn").case_id]
    ((ra, rb),) = list(matched.chunks(size=10))
    assert ra[0].verdict == "identical" and rb[0].timing["step_s"]


def _damage(run):
    with open(run.records_path, "a") as fh:
        fh.write("{not json\n")


def test_damaged_lines_use_the_line_reader(tmp_path):
    a, b = _runs(tmp_path)
    _damage(b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = compare_runs(a, b)
        slow = _by_records(a, b)
    assert fast.to_dict() == {**slow.to_dict(), "machine_differences": []}


def test_large_runs_compare_like_their_records(tmp_path, monkeypatch):
    a = make_large_run(tmp_path, 4000, n_pairs=20, run_id="a", seed=0)
    b = make_large_run(tmp_path, 4000, n_pairs=20, run_id="b", seed=1)
    monkeypatch.setattr(compare_io, "CHUNK", 1500)
    monkeypatch.setattr(compare_columns, "COLUMN_CHUNK", 1500)
    fast = compare_runs(a, b)
    assert len(fast.cases) == 4000
    assert fast.to_dict() == {**_by_records(a, b).to_dict(), "machine_differences": []}


# ---------------------------------------------------------------- the compare-columns cache


def _no_parse(run):
    raise AssertionError(f"{run.run_id}: records.jsonl parsed although its cache is current")


def test_report_caches_what_compare_reads_and_compare_uses_it(tmp_path, monkeypatch):
    from suite.report import write_report
    from suite.results.compare_cache import CACHE

    a, b = _runs(tmp_path)
    slow = _by_records(a, b)
    for run in (a, b):
        written = write_report(run, plots=False)
        assert CACHE in written and (run.path / CACHE).is_file()
    monkeypatch.setattr(compare_io, "_parse_table", _no_parse)
    assert compare_runs(a, b).to_dict() == {**slow.to_dict(), "machine_differences": []}


def test_a_record_appended_after_the_cache_makes_it_stale(tmp_path, monkeypatch):
    from suite.report import write_report
    from suite.results.compare_cache import load_cached

    a, b = _runs(tmp_path)
    for run in (a, b):
        write_report(run, plots=False)
    late = make_record(case("lstm", "raw"), "diverged", reason="appended after the report")
    with open(b.records_path, "a") as fh:
        fh.write(late.to_json() + "\n")
    assert load_cached(a) is not None and load_cached(b) is None
    comp = compare_runs(a, b)
    assert late.case_id in comp.only_b
    assert comp.to_dict() == {**_by_records(a, b).to_dict(), "machine_differences": []}
    monkeypatch.setattr(compare_io, "_parse_table", _no_parse)  # that compare re-cached b
    assert compare_runs(a, b).to_dict() == comp.to_dict()


def test_no_cache_from_a_file_only_the_line_reader_reads(tmp_path):
    from suite.report import write_report
    from suite.results.compare_cache import CACHE

    a, _ = _runs(tmp_path)
    _damage(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        written = write_report(a, plots=False)
        compare_runs(a, a)
    assert CACHE not in written and not (a.path / CACHE).exists()


def test_an_unwritable_run_folder_compares_without_a_cache(tmp_path, monkeypatch):
    from suite.results.atomic import ResultsWriteError

    a, b = _runs(tmp_path)

    def refuse(self, relpath, write):
        raise ResultsWriteError(f"cannot write {relpath}: read-only file system")

    monkeypatch.setattr(RunDir, "write_with", refuse)
    assert compare_runs(a, b).to_dict() == {**_by_records(a, b).to_dict(), "machine_differences": []}
    assert not (a.path / "cache").exists()


def test_a_parse_without_a_field_compare_reads_caches_nothing(tmp_path):
    import pyarrow as pa

    from suite.results.compare_cache import CACHE, CompareColumns, compare_schema

    a, _ = _runs(tmp_path)
    full = compare_schema()
    timing = full.field("timing").type
    no_samples = pa.struct(
        [timing.field(i) for i in range(timing.num_fields) if timing.field(i).name != "step_s"]
    )
    schema = full.set(full.get_field_index("timing"), pa.field("timing", no_samples))
    sink = CompareColumns(a)
    sink(pa.RecordBatch.from_pylist([], schema))
    sink(None)  # Arrow would have cast the samples to nulls: they must not be cached as "none"
    assert not sink.written and not (a.path / CACHE).exists()
    complete = CompareColumns(a)
    complete(pa.RecordBatch.from_pylist([], full))
    complete(None)
    assert complete.written and (a.path / CACHE).is_file()


def test_every_kind_of_divergence_change_through_the_columns(tmp_path, monkeypatch):
    """The columnar comparison builds records only for the cases that may have got worse; each
    kind of change (and the unchanged cases around them) comes out as from the records."""
    from fake_runs import metrics

    def div(ulp: float, distinct: int = 1) -> dict:
        return {
            "vs_pair": metrics(1e-6, ulp),
            "vs_fp64": metrics(1e-6, ulp / 2),
            "rerun": {"distinct": distinct},
        }

    members = ("sequential", "functional", "subclass", "raw")
    kinds = [
        ("close", div(4), "close", div(40)),  # max ULP grew x10 against two references
        ("close", div(4), "close", div(0.5)),  # shrank: no change
        ("identical", div(0), "close", div(3)),  # worse verdict, ULP from 0
        ("close", div(4), "close", div(4, distinct=3)),  # became nondeterministic by its reruns
        ("nondeterministic", div(4, 2), "close", div(9)),  # was nondeterministic: ULPs not compared
        ("close", div(4), "diverged", div(4)),
    ]
    recs_a, recs_b = [], []
    for n, (verdict_a, div_a, verdict_b, div_b) in enumerate(kinds):
        c = case("mlp", members[n % 4], workload=("predict", "train_step")[n // 4])
        recs_a.append(make_record(c, verdict_a, divergence=div_a))
        recs_b.append(make_record(c, verdict_b, divergence=div_b, seed=1))
    a, b = make_run(tmp_path, recs_a, run_id="a"), make_run(tmp_path, recs_b, run_id="b")
    monkeypatch.setattr(compare_columns, "COLUMN_CHUNK", 4)  # two chunks
    built = []
    real_records_of = compare_io.Matched.records_of
    monkeypatch.setattr(
        compare_io.Matched, "records_of", lambda self, ids: built.extend(ids) or real_records_of(self, ids)
    )
    fast = compare_runs(a, b)
    assert fast.to_dict() == {**_by_records(a, b).to_dict(), "machine_differences": []}
    kinds_seen = {ch.kind for c in fast.cases for ch in c.changes}
    assert kinds_seen == {"ulp", "verdict", "nondeterministic"}
    assert len(built) == 5  # every case but the one whose ULPs shrank


def test_runs_without_any_change_compare_through_the_columns(tmp_path):
    """No case may have got worse: no record is built, and nothing fails for it."""
    recs = standard_records()
    a, b = make_run(tmp_path, recs, run_id="a"), make_run(tmp_path, recs, run_id="b")
    assert compare_io.match_runs(a, b).records_of([]) == ([], [])
    comp = compare_runs(a, b)
    assert comp.to_dict() == {**_by_records(a, b).to_dict(), "machine_differences": []}
    assert not any(c.changes for c in comp.cases) and len(comp.cases) == len(recs)


def test_a_corrupt_cache_is_read_around_and_rewritten(tmp_path):
    from suite.report import write_report
    from suite.results.compare_cache import CACHE, load_cached

    a, b = _runs(tmp_path)
    write_report(a, plots=False)
    (a.path / CACHE).write_bytes(b"PAR1 not a parquet file")  # a torn or foreign file
    assert load_cached(a) is None
    assert compare_runs(a, b).to_dict() == {**_by_records(a, b).to_dict(), "machine_differences": []}
    assert load_cached(a) is not None  # that compare wrote a good one
