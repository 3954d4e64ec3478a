"""``pairbench nightly``: three real nights on CPU, asv on a toy project, retention, failures."""

from __future__ import annotations

import fcntl
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from asv_toy import toy_project
from conftest import TINY_NIGHTLY_ARGS
from fake_runs import make_run, provenance

from suite.case import Case
from suite.cli import main
from suite.errors import UsageError
from suite.machine.identity import git_commit
from suite.ops.nightly import (
    DEFAULT_FAIL_ON,
    NightlyOptions,
    nightly_dir,
    run_nightly,
    step_asv_publish,
    step_asv_run,
)
from suite.ops.retention import previous_run, prune_runs
from suite.ops.summary import NightlyResult, Step, summary_paragraph
from suite.results.runs import create_run, list_runs
from suite.run.matrix import Selection, apply_preset

ROOT = Path(__file__).resolve().parents[2]
REGRESSION_ENV = "PAIRBENCH_TEST_REGRESSION"
TINY = [
    "--no-asv",
    *TINY_NIGHTLY_ARGS,
    "--fail-on",
    "divergence:any",  # speed is left out: tiny CPU timings are noise, and tests must not time
]
SUBCLASS = Case("nightly_probe", "subclass", "predict", "eager", "cpu", "float32", "off", "tiny").case_id


@pytest.fixture(autouse=True)
def _restore_pair_registry():
    """``--pairs-from`` in-process registers ``nightly_probe``: keep other tests' registry clean."""
    from suite.zoo import base, registered

    registered()  # built-ins first: they load once per process
    before = dict(base._REGISTRY)
    yield
    base._REGISTRY.clear()
    base._REGISTRY.update(before)


def latest(results: Path) -> dict:
    return json.loads((nightly_dir(results) / "latest-summary.json").read_text())


def step(summary: dict, name: str) -> dict:
    (found,) = [s for s in summary["steps"] if s["name"] == name]
    return found


@pytest.mark.slow
def test_three_nights_compare_with_the_previous_and_catch_a_regression(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    args = ["nightly", "--results-dir", str(results), "--keep", "2", *TINY]
    monkeypatch.delenv(REGRESSION_ENV, raising=False)

    assert main(args) == 0  # the first night also runs the real doctor
    first = latest(results)
    assert step(first, "doctor")["status"] == "ok"
    assert step(first, "compare")["status"] == "skipped"
    assert "nothing to compare" in step(first, "compare")["detail"]
    assert first["counts"] and set(first["counts"]) == {"identical"}

    assert main([*args, "--no-doctor"]) == 0
    second = latest(results)
    assert second["baseline"] == first["run_id"] != second["run_id"]
    assert step(second, "compare")["status"] == "ok"
    assert f"compared with {first['run_id']}" in second["paragraph"]
    assert second["regressions"] == []

    monkeypatch.setenv(REGRESSION_ENV, "1")  # the workers inherit it: subclass output + 0.01
    capsys.readouterr()
    assert main([*args, "--no-doctor"]) == 1
    out = capsys.readouterr().out
    third = latest(results)
    assert third["status"] == "regression" and third["exit_code"] == 1
    assert third["baseline"] == second["run_id"]
    assert len(third["regressions"]) == 1
    assert third["regressions"][0].startswith(f"{SUBCLASS}: ")
    assert "diverged" in third["regressions"][0]
    assert third["paragraph"] in out and SUBCLASS in out
    assert "\n" not in third["paragraph"]
    run_dir = Path(third["run_dir"])
    assert (run_dir / "nightly-summary.txt").read_text().strip() == third["paragraph"]
    assert json.loads((run_dir / "compare.json").read_text())["failures"] == third["regressions"]

    # --keep 2: the first night is gone, the last two stay
    assert third["removed_runs"] == [first["run_id"]]
    assert [r.run_id for r in list_runs(nightly_dir(results))] == [second["run_id"], third["run_id"]]


def test_doctor_failure_stops_early_with_the_reason(tmp_path, monkeypatch, capsys):
    import suite.ops.nightly as nightly

    reason = "xla:cpu: XLA could not compile a matmul"
    monkeypatch.setattr(nightly, "run_doctor", lambda *a, **k: {"ok": False, "problems": [reason]})
    monkeypatch.setattr(nightly, "step_matrix", lambda *a, **k: pytest.fail("the matrix ran"))
    results = tmp_path / "results"
    assert main(["nightly", "--results-dir", str(results), "--no-asv", "--matrix", "quick"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    summary = latest(results)
    assert summary["status"] == "failed" and summary["exit_code"] == 1
    assert out[-1] == summary["paragraph"]
    assert "FAILED (doctor)" in summary["paragraph"] and reason in summary["paragraph"]
    assert [s["name"] for s in summary["steps"]] == ["doctor"]
    assert list_runs(nightly_dir(results)) == []


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--keep", "0"], "--keep"),
        (["--fail-on", "speed:0.5"], "--fail-on"),
        (["--pairs", "no_such_pair"], "no_such_pair"),
        (["--repeats", "0"], "--repeats"),
    ],
)
def test_bad_options_exit_2_before_anything_runs(tmp_path, capsys, extra, message):
    results = tmp_path / "results"
    assert main(["nightly", "--results-dir", str(results), "--no-asv", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (results / "nightly" / "latest-summary.json").exists()


def test_default_fail_on_is_speed_and_divergence():
    from suite.compare.fail_on import parse_fail_on

    rule = parse_fail_on(DEFAULT_FAIL_ON)
    assert rule.speed == pytest.approx(1.10) and rule.divergence == frozenset({"any"})


def test_a_second_nightly_on_the_same_results_is_refused(tmp_path):
    folder = nightly_dir(tmp_path)
    folder.mkdir(parents=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(UsageError, match="another pairbench nightly"):
            run_nightly(NightlyOptions(results_dir=tmp_path, asv=False, doctor=False, matrix="quick"))


def _runs(folder: Path, n: int) -> list:
    return [
        make_run(folder, [], run_id=f"night-{i}", started_at=f"2026-01-0{i + 1}T00:00:00+00:00")
        for i in range(n)
    ]


def test_prune_keeps_the_newest_runs(tmp_path):
    runs = _runs(tmp_path, 5)
    (tmp_path / "asv-logs").mkdir()  # not a run: never touched
    assert prune_runs(tmp_path, keep=2, protect=runs[-1]) == ["night-0", "night-1", "night-2"]
    assert [r.run_id for r in list_runs(tmp_path)] == ["night-3", "night-4"]
    assert (tmp_path / "asv-logs").is_dir()
    assert prune_runs(tmp_path, keep=1) == ["night-3"]
    assert prune_runs(tmp_path, keep=1) == []  # the newest is never deleted
    with pytest.raises(UsageError, match="--keep"):
        prune_runs(tmp_path, keep=0)


def test_prune_never_deletes_the_protected_run(tmp_path):
    runs = _runs(tmp_path, 4)
    assert prune_runs(tmp_path, keep=2, protect=runs[0]) == ["night-1", "night-2"]
    assert [r.run_id for r in list_runs(tmp_path)] == ["night-0", "night-3"]


def test_previous_run_skips_unfinished_runs_and_other_machines(tmp_path):
    same = make_run(tmp_path, [], run_id="same", started_at="2026-01-01T00:00:00+00:00")
    other = make_run(
        tmp_path, [], run_id="other", started_at="2026-01-02T00:00:00+00:00", prov=provenance("NVIDIA A100")
    )
    running = make_run(tmp_path, [], run_id="running", started_at="2026-01-03T00:00:00+00:00")
    running.write_meta({**running.read_meta(), "status": "running"})
    new = make_run(tmp_path, [], run_id="new", started_at="2026-01-04T00:00:00+00:00")
    prev, skipped = previous_run(list_runs(tmp_path), new)
    assert prev is not None and prev.run_id == same.run_id
    assert skipped == [other.run_id]
    assert previous_run([new], new) == (None, [])


def test_skip_same_commit_reuses_the_last_run(tmp_path, capsys):
    commit = git_commit(ROOT)
    if commit is None:
        pytest.skip("the project is not a git checkout here")
    folder = nightly_dir(tmp_path)
    selection, _ = apply_preset(Selection(), "quick")
    selection = replace(selection, pairs=("mlp_seed",), modes=("eager",))
    last = create_run(folder, "last")
    last.write_meta(
        {
            "started_at": "2026-01-01T00:00:00+00:00",
            "status": "finished",
            "selection": json.loads(json.dumps(selection.to_dict())),
            "nightly": {"git_commit": commit},
        }
    )
    argv = ["nightly", "--results-dir", str(tmp_path), "--project-dir", str(ROOT), "--no-doctor", "--no-asv"]
    argv += ["--matrix", "quick", "--pairs", "mlp_seed", "--modes", "eager", "--skip-same-commit"]
    assert main(argv) == 0
    summary = latest(tmp_path)
    assert step(summary, "matrix")["status"] == "skipped"
    assert "already measured" in step(summary, "matrix")["detail"]
    assert [r.run_id for r in list_runs(folder)] == ["last"]


def test_summary_paragraph_puts_the_verdict_first():
    result = NightlyResult(machine="h100-a", hostname="abc123", git_commit="0123456789abcdef")
    result.baseline = "night-1"
    result.regressions = ["mlp.raw.predict.xla.gpu0.float32.det-off.large: 1.52x slower"]
    result.steps = [Step("doctor", "ok", "ready, 1 GPU(s)"), Step("compare", "regression", "1 regression")]
    text = summary_paragraph(result)
    assert text.startswith("pairbench nightly on h100-a (abc123), 0123456789: REGRESSION: 1 case(s)")
    result.steps.append(Step("asv-run", "failed", "asv run exited 2"))
    result.counts = {"identical": 3, "error": 2}
    text = summary_paragraph(result)
    assert "FAILED (asv-run) (2 case(s) with verdict error)." in text
    assert "asv-run failed: asv run exited 2." in text


# ---------------------------------------------------------------------------------------- asv


@pytest.mark.slow
def test_asv_runs_once_per_commit_and_publishes(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # asv writes ~/.asv-machine.json
    project = toy_project(tmp_path / "toy")
    commit = git_commit(project)
    results = tmp_path / "results"
    opts = NightlyOptions(results_dir=results, project_dir=project, asv_args=("--quick",))

    ran = step_asv_run(opts, commit, "toy-machine")
    assert ran.status == "ok", ran.detail
    files = list((results / "asv" / "toy-machine").glob(f"{commit[:8]}-existing-*.json"))
    assert len(files) == 1
    assert json.loads(files[0].read_text())["commit_hash"] == commit

    again = step_asv_run(opts, commit, "toy-machine")
    assert again.status == "skipped" and "already has asv results" in again.detail
    forced = step_asv_run(replace(opts, force=True), commit, "toy-machine")
    assert forced.status == "ok", forced.detail

    published = step_asv_publish(opts, commit)
    assert published.status == "ok", published.detail
    index = (results / "html" / "index.html").read_text()
    assert "works offline" in published.detail
    assert not re.search(r'<(script|link)[^>]*(src|href)="https?://', index)  # served from vendor/
    assert (results / "html" / "vendor" / "jquery.min.js").is_file()


def test_asv_failure_is_a_failed_step_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = toy_project(tmp_path / "toy")
    opts = NightlyOptions(results_dir=tmp_path / "results", project_dir=project, asv_args=("--no-such-flag",))
    ran = step_asv_run(opts, git_commit(project), "toy-machine")
    assert ran.status == "failed"
    assert "asv run exited" in ran.detail and "--no-such-flag" in ran.detail


def test_asv_is_skipped_with_a_reason_where_it_cannot_run(tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    skipped = step_asv_run(NightlyOptions(results_dir=tmp_path, project_dir=bare), None, "m")
    assert skipped.status == "skipped" and "no asv.conf.json" in skipped.detail
    demanded = step_asv_run(NightlyOptions(results_dir=tmp_path, project_dir=bare, asv=True), None, "m")
    assert demanded.status == "failed" and "no asv.conf.json" in demanded.detail
    no_git = toy_project(tmp_path / "nogit", git=False)
    assert git_commit(no_git) is None
    step_ = step_asv_run(NightlyOptions(results_dir=tmp_path, project_dir=no_git), None, "m")
    assert step_.status == "skipped" and "not a git checkout" in step_.detail
    publish = step_asv_publish(NightlyOptions(results_dir=tmp_path, project_dir=no_git), None)
    assert publish.status == "skipped"
