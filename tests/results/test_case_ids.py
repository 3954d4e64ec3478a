"""Every record line stores its ``case_id``: the column readers use it, and a line whose stored id
is not its case's is refused by every reader alike."""

from __future__ import annotations

import json
import warnings

import pytest
from fake_runs import case, make_record, make_run

from suite.compare.load import match_runs
from suite.results.frame import run_frame
from suite.results.record import Record
from suite.results.run_dir import CorruptLineWarning


def _tamper(run, index: int, case_id: str) -> None:
    lines = run.records_path.read_text().splitlines()
    data = json.loads(lines[index])
    data["case_id"] = case_id
    lines[index] = json.dumps(data)
    run.records_path.write_text("\n".join(lines) + "\n")


def test_the_frame_takes_the_stored_ids(tmp_path):
    records = [make_record(case(member=m)) for m in ("sequential", "subclass", "raw")]
    run = make_run(tmp_path, records)
    frame = run_frame(run)
    assert sorted(frame["case_id"].astype(str)) == sorted(r.case_id for r in records)


def test_a_line_whose_stored_id_is_not_its_case_is_refused_by_both_readers(tmp_path):
    records = [make_record(case(member=m)) for m in ("sequential", "subclass", "raw")]
    run = make_run(tmp_path, records)
    _tamper(run, 1, "../../elsewhere")
    with pytest.raises(ValueError, match="is not the id of its case"):
        Record.from_dict(json.loads(run.records_path.read_text().splitlines()[1]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = run_frame(run)
    assert any(issubclass(w.category, CorruptLineWarning) and ":2:" in str(w.message) for w in caught)
    assert sorted(frame["case_id"].astype(str)) == sorted(r.case_id for r in (records[0], records[2]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptLineWarning)
        matched = match_runs(run, run)
    assert "../../elsewhere" not in matched.both
    assert records[1].case_id not in matched.both
