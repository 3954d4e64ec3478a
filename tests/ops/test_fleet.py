"""One view of a fleet (issue 18, point 4): two machines' results folders, each with its own
nightly run and asv results under its own machine name, become one report grouped by machine
and one asv site holding both machines.
"""

from __future__ import annotations

import json

import pytest
from asv_toy import toy_project
from fake_runs import H100, make_run, provenance, standard_records

from suite.cli import main
from suite.machine.identity import git_commit
from suite.ops.nightly import NightlyOptions, nightly_dir, step_asv_run

pytestmark = pytest.mark.slow


def test_two_machines_make_one_report_and_one_asv_site(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # asv writes ~/.asv-machine.json
    project = toy_project(tmp_path / "toy")
    commit = git_commit(project)
    folders = []
    for machine, gpu in (("h100-nightly", H100), ("a100-nightly", "NVIDIA A100-SXM4-80GB")):
        results = tmp_path / machine
        step = step_asv_run(
            NightlyOptions(results_dir=results, project_dir=project, asv_args=("--quick",)), commit, machine
        )
        assert step.status == "ok", step.detail
        run = make_run(nightly_dir(results), standard_records(), prov=provenance(gpu_name=gpu))
        run.write_meta({**run.read_meta(), "nightly": {"machine": machine, "git_commit": commit}})
        folders.append(results)

    out = tmp_path / "fleet"
    code = main(["fleet", *map(str, folders), "--out", str(out), "--project-dir", str(project)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    index = json.loads((out / "html" / "index.json").read_text())
    assert sorted(index["machines"]) == ["a100-nightly", "h100-nightly"]
    md = (out / "report.md").read_text()
    assert "### machine = a100-nightly" in md and "### machine = h100-nightly" in md
    assert "A100-SXM4-80GB" in md and "H100 80GB" in md
    table = (out / "table.csv").read_text().splitlines()
    assert len(table) == 1 + 2 * len(standard_records())
    assert "asv site (a100-nightly, h100-nightly)" in printed.out

    # a second source with a machine name already used is refused, in one line
    code = main(["fleet", str(folders[0]), str(folders[0]), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "both come from machine 'h100-nightly'" in err and len(err.strip().splitlines()) == 1


def test_compare_refuses_runs_of_two_gpu_types_unless_forced(tmp_path, capsys):
    a = make_run(tmp_path, standard_records(), run_id="h100", prov=provenance(gpu_name=H100))
    b = make_run(
        tmp_path, standard_records(), run_id="a100", prov=provenance(gpu_name="NVIDIA A100-SXM4-80GB")
    )
    code = main(["compare", a.run_id, b.run_id, "--results-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "different machines" in err
    assert main(["compare", a.run_id, b.run_id, "--results-dir", str(tmp_path), "--force"]) == 0
