"""The report shows a run as it is (issue 27).

A run killed with ``kill -9`` leaves ``run.json`` saying ``running`` and its lock free: the
report shows it ``interrupted``, says how many planned cases have no record and how to
continue. A run whose process holds the lock is in progress. A torn last line is one warning.
"""

from __future__ import annotations

import shlex

import pytest
from fake_runs import make_run, standard_records

from suite.cli import main
from suite.results.run_dir import RunDir
from suite.results.status import run_state

RECORDS = standard_records()


@pytest.fixture
def dead_run(tmp_path) -> RunDir:
    """5 of 8 planned cases recorded, ``run.json`` still ``running``, nobody holding the lock."""
    run = make_run(tmp_path / "my results", RECORDS[:5], run_id="r")
    run.write_plan([r.case.to_dict() for r in RECORDS[:8]])
    run.write_meta({**run.read_meta(), "status": "running"})
    (run.path / ".lock").write_text("pid 999999 since 2026-01-01\n")  # what a killed process leaves
    return run


def test_a_dead_run_is_shown_interrupted_with_its_missing_cases(dead_run, capsys):
    assert main(["report", "r", "--results-dir", str(dead_run.path.parent), "--no-plots", "-q"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "shown as interrupted" in out and "3 of 8 planned cases have no record" in out, out
    hint = out.split("continue with: ")[1].split(" wrote ")[0]
    assert shlex.split(hint) == [
        "pairbench",
        "run",
        "--resume",
        "r",
        "--results-dir",
        str(dead_run.path.parent),
    ]
    md = (dead_run.path / "report.md").read_text()
    assert "| run | r (interrupted) |" in md and "3 of 8 planned cases have no record" in md
    assert dead_run.read_meta()["status"] == "running"  # the report only reads


def test_a_run_whose_process_holds_the_lock_is_in_progress(dead_run):
    with dead_run.lock():
        state = run_state(dead_run, dead_run.read_meta(), [r.case_id for r in RECORDS[:5]])
    assert state.alive and state.status == "running" and state.missing == 3
    assert "have no record yet (the run is in progress)" in state.note and "continue" not in state.note
    state = run_state(dead_run, dead_run.read_meta(), [r.case_id for r in RECORDS[:5]])
    assert not state.alive and state.status == "interrupted"


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_a_torn_last_line_is_one_warning(tmp_path, capsys, quiet):
    run = make_run(tmp_path, RECORDS[:3], run_id="r")
    with open(run.records_path, "a", encoding="utf-8") as fh:
        fh.write('{"case": {"pair": "ml')
    assert main(["report", "r", "--results-dir", str(tmp_path), "--no-plots", *quiet]) == 0
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and "records.jsonl:4: incomplete last line" in warnings[0], warnings
