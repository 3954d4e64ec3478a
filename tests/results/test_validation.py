"""What a run folder holds is checked where it is read (issue 27).

A record line with a ``schema_version`` this pairbench does not read (a string, a future one)
or a case axis that is not a plain name (``../``) is a bad line on every reader (the line
reader and the Arrow paths alike); records of cases outside the run's plan are warned about by
``report`` and ``compare`` and refused by ``--resume``; a refused ``--resume`` leaves ``run.json``
as it was; ``compare`` of runs without a case in common is an error, not a passing gate.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_runs import case, make_record, make_run

from suite.case import Case
from suite.cli import main
from suite.results.record import SCHEMA_VERSION
from suite.results.run_dir import RunDir, parse_record
from suite.run.options import RunOptions

PLANNED = [case(member=m, device="cpu") for m in ("sequential", "functional")]
OTHER = case(pair="cnn", member="subclass", device="cpu")  # a case of another run


def _line(c: Case, **changes) -> str:
    data = json.loads(make_record(c).to_json())
    for key, value in changes.items():
        if key.startswith("case."):
            data["case"][key[5:]] = value
            data["case_id"] = Case(**data["case"]).case_id  # the id such a case would have
        else:
            data[key] = value
    return json.dumps(data) + "\n"


def _planned_run(results: Path, run_id: str = "r", records=PLANNED) -> RunDir:
    """A run of built-in ``mlp`` cases with a plan and options, as ``run`` leaves it (interrupted)."""
    options = RunOptions()
    run = make_run(results, [make_record(c) for c in records], run_id=run_id)
    run.write_plan([c.to_dict() for c in PLANNED])
    meta = run.read_meta()
    run.write_meta(
        {
            **meta,
            "status": "interrupted",
            "selection": options.selection.to_dict(),
            "options": options.to_dict(),
            "pairs": {"mlp": {"reference": "sequential", "controls": ["faulty"]}},
            "invocations": [],
        }
    )
    return run


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"schema_version": "1"}, ["schema_version must be a whole number"]),
        ({"schema_version": 2.0}, ["schema_version must be a whole number"]),
        ({"schema_version": SCHEMA_VERSION + 997}, [f"schema_version {SCHEMA_VERSION + 997} is newer"]),
        ({"schema_version": 0}, ["schema_version 0 is not a version"]),
        ({"case.pair": "../../etc"}, ["'pair'", "not a plain name"]),
        ({"case.member": "a\x1b]0;x\x07"}, ["'member'", "not a plain name"]),
        ({"case.size": ""}, ["'size'", "not a plain name"]),
    ],
)
def test_a_bad_line_is_named_by_report_and_compare(tmp_path, capsys, changes, words):
    run = make_run(tmp_path, [make_record(c) for c in PLANNED], run_id="r")
    make_run(tmp_path, [make_record(c) for c in PLANNED], run_id="other")
    with open(run.records_path, "a", encoding="utf-8") as fh:
        fh.write(_line(case(member="subclass", device="cpu"), **changes))
    with pytest.raises(ValueError):
        parse_record(run.records_path.read_text().splitlines()[-1])
    for argv in (["report", "r", "--no-plots"], ["compare", "other", "r"]):
        assert main([*argv, "--results-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "records.jsonl:3" in err, err
        for word in words:
            assert word in err, err


def test_records_of_another_run_are_warned_about_by_report_and_compare(tmp_path, capsys):
    run = _planned_run(tmp_path, records=[*PLANNED, OTHER])
    _planned_run(tmp_path, "twin")
    fp64 = Case("mlp", "sequential", "predict", "eager", "cpu", "float64", "off", "tiny")
    run.append(make_record(fp64))  # the plan's float64 reference is the run's own
    assert main(["report", "r", "--results-dir", str(tmp_path), "--no-plots", "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and OTHER.case_id in err and "not in the plan" in err, err
    assert OTHER.case_id in (run.path / "report.md").read_text()
    assert main(["compare", "twin", "r", "--results-dir", str(tmp_path), "--force"]) == 0
    err = capsys.readouterr().err
    assert "not in the plan of run r" in err and fp64.case_id not in err, err


def test_resume_refuses_records_of_another_run_and_leaves_run_json_alone(tmp_path, capsys):
    run = _planned_run(tmp_path, records=[PLANNED[0], OTHER])
    before = run.meta_path.read_bytes()
    assert main(["run", "--resume", "r", "--results-dir", str(tmp_path), "--no-report", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and OTHER.case_id in err and "another run" in err, err
    assert run.meta_path.read_bytes() == before


def test_a_refused_resume_of_a_plan_naming_an_unknown_pair_leaves_run_json_alone(tmp_path, capsys):
    run = _planned_run(tmp_path)
    run.write_plan([case(pair="gone", device="cpu").to_dict()])
    before = run.meta_path.read_bytes()
    assert main(["run", "--resume", "r", "--results-dir", str(tmp_path), "--no-report", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown pair 'gone'" in err, err
    assert run.meta_path.read_bytes() == before
    assert json.loads(before)["status"] == "interrupted"


def test_compare_without_a_case_in_common_is_an_error_also_under_fail_on(tmp_path, capsys):
    make_run(tmp_path, [make_record(c) for c in PLANNED], run_id="a")
    make_run(tmp_path, [make_record(OTHER)], run_id="b")
    assert main(["compare", "a", "b", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no case in common" in err, err
    assert main(["compare", "a", "b", "--results-dir", str(tmp_path), "--fail-on", "speed:1.1"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no case in common" in err, err
