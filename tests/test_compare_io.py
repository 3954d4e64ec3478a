"""Loading and matching two runs for ``compare`` (issue 17 point 5): same result as the record path."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
from fake_runs import NONDET_CASE_ID, case, make_large_run, make_record, make_run, slowed, standard_records

from suite import compare_io
from suite.compare import compare_records, compare_runs
from suite.results import RunDir


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


def test_damaged_lines_use_the_line_reader(tmp_path):
    a, b = _runs(tmp_path)
    with open(b.records_path, "a") as fh:
        fh.write("{not json\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = compare_runs(a, b)
        slow = _by_records(a, b)
    assert fast.to_dict() == {**slow.to_dict(), "machine_differences": []}


def test_large_runs_compare_like_their_records(tmp_path, monkeypatch):
    a = make_large_run(tmp_path, 4000, n_pairs=20, run_id="a", seed=0)
    b = make_large_run(tmp_path, 4000, n_pairs=20, run_id="b", seed=1)
    monkeypatch.setattr(compare_io, "CHUNK", 1500)
    fast = compare_runs(a, b)
    assert len(fast.cases) == 4000
    assert fast.to_dict() == {**_by_records(a, b).to_dict(), "machine_differences": []}
