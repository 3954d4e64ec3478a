"""The run folder (issue 4): a damaged records line is reported with its number, the rest loads."""

from __future__ import annotations

import warnings

from suite.results.frame import load_frame
from suite.results.run_dir import CorruptLineWarning, RunDir
from suite.results.runs import create_run


def test_corrupt_line_is_reported_with_its_number_and_the_rest_loads(tmp_path):
    from fake_runs import case, make_record

    run = create_run(tmp_path, "r")
    run.append(make_record(case(pair="a")))
    with open(run.records_path, "a") as fh:
        fh.write('{"case": {"pair": "trunc\n')
    run.append(make_record(case(pair="b")))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = run.records()
    assert sorted(r.case.pair for r in records) == ["a", "b"]
    messages = [str(w.message) for w in caught if issubclass(w.category, CorruptLineWarning)]
    assert len(messages) == 1 and "records.jsonl:2:" in messages[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = load_frame(RunDir(run.path))
    assert len(frame) == 2 and {"step_ms_median", "pair", "verdict"} <= set(frame.columns)
