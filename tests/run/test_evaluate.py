"""Verdicts that never mislead (issue 14), on real TensorFlow runs of ``tests/pairs/verdict_pairs.py``.

- a comparison that cannot be made is ``incomparable`` (counted as such, never a success);
- NaN/Inf in a case's outputs is flagged everywhere the verdict is shown;
- failure reasons carry the root cause and the op, and point at the full traceback;
- localisation covers the optimizer's update and names its op; ``explain`` uses the run's rule;
- a failed float64 reference is "reference unavailable" on the cases that needed it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import PAIRS, pairbench, read_records, run_tiny

pytestmark = pytest.mark.slow

PAIRS_FILE = str(PAIRS / "verdict_pairs.py")
FP64_ERROR = "scatter64.sequential.predict.eager.cpu.float64.det-off.tiny"


def _says_errors(line: str, n: int) -> bool:
    """A summary line counts ``n`` errors (none is not counted at all)."""
    return bool(re.search(rf"\b{n} error\b", line)) if n else not re.search(r"\d+ errors?\b", line)


def _case(pair: str, member: str, workload: str, mode: str, precision: str = "float32") -> str:
    return f"{pair}.{member}.{workload}.{mode}.cpu.{precision}.det-off.tiny"


@pytest.fixture(scope="module")
def verdict_run(tmp_path_factory) -> tuple[Path, str]:
    """segments, blowup and scatter64: predict and train_step, eager and XLA, float64 references on."""
    return run_tiny(
        tmp_path_factory.mktemp("verdicts"),
        *("--pairs-from", PAIRS_FILE, "--pairs", "segments,blowup,scatter64"),
        *("--workloads", "predict,train_step", "--modes", "eager,xla"),
        *("--min-sample-time", "0.005", "--max-warmup", "0"),  # timing is not the point
    )


@pytest.fixture(scope="module")
def records(verdict_run) -> dict[str, dict]:
    return read_records(verdict_run[0])


def test_a_missing_reference_makes_the_case_incomparable_with_the_cause(records):
    rec = records[_case("segments", "functional", "predict", "xla")]
    assert rec["verdict"] == "incomparable"
    assert rec["divergence"]["vs_pair"] is None and rec["divergence"]["vs_eager"] is not None
    assert "vs_pair: reference unavailable: the reference member sequential is unsupported" in rec["reason"]
    assert "SegmentSum" in rec["reason"] and "compared: vs_eager" in rec["reason"]
    assert "reference-unavailable" in rec["flags"]


def test_outputs_of_another_shape_make_a_structural_mismatch_that_says_the_shapes(records):
    for workload in ("predict", "train_step"):
        rec = records[_case("segments", "subclass", workload, "eager")]
        assert rec["verdict"] == "structural-mismatch", rec["reason"]
        assert rec["reason"].startswith("output shape: (4, 1, 3) vs (4, 3)"), rec["reason"]
        assert rec["causes"][0]["attribute"] == "output shape"


def test_the_unsupported_reference_names_the_op_and_keeps_its_traceback(verdict_run, records):
    run_dir, _ = verdict_run
    rec = records[_case("segments", "sequential", "predict", "xla")]
    assert rec["verdict"] == "unsupported"
    assert rec["reason"].startswith("XLA cannot compile SegmentSum (node ")
    traceback = run_dir / rec["extra"]["traceback"]
    assert "Detected unsupported operations" in traceback.read_text()


def test_training_into_nan_is_flagged_with_the_loss(records):
    for member in ("sequential", "functional"):
        rec = records[_case("blowup", member, "train_step", "eager")]
        assert rec["verdict"] == "identical"  # every member blows up identically ...
        assert "non-finite" in rec["flags"]  # ... and that is never silent
        note = next(n for n in rec["notes"] if n.startswith("non-finite values"))
        assert re.search(r"loss \[[^\]]*inf, nan\]", note) and "weights: 2 of 2 tensors" in note
    assert records[_case("blowup", "sequential", "predict", "eager")]["flags"] == []


def test_nan_against_a_number_is_never_close(records):
    rec = records[_case("blowup", "functional", "train_step", "xla")]  # XLA's NaNs fall elsewhere
    assert rec["verdict"] == "diverged" and "NaN" in rec["reason"] and "non-finite" in rec["flags"]


def test_nan_is_loud_in_the_summary_line_terminal_and_reports(verdict_run, records):
    run_dir, stdout = verdict_run
    finished = next(line for line in stdout.splitlines() if line.startswith(f"run {run_dir.name} finished:"))
    assert "incomparable" in finished and "with NaN/Inf outputs" in finished
    errors = [r for r in records.values() if r["verdict"] == "error"]
    matrix_errors = [r for r in errors if r["case"]["precision"] != "float64"]
    assert len(matrix_errors) < len(errors)  # the failed float64 references are not matrix errors
    assert _says_errors(finished, len(matrix_errors))
    assert re.search(r"\(\+\d+ float64 references, 2 unavailable\)", finished)
    md = (run_dir / "report.md").read_text()
    html = (run_dir / "report.html").read_text()
    head = md.splitlines()[2]
    assert "incomparable" in head and "with NaN/Inf outputs" in head and "float64 references" in head
    for text in (md, html):
        assert "non-finite values (NaN/Inf): loss " in text
        assert "blowup.functional.train_step.eager.cpu.float32" in text  # a finding of its own
    report = pairbench("report", str(run_dir), "--no-plots")  # the terminal
    assert report.returncode == 0, report.stderr
    text = " ".join(report.stdout.split())
    headline = text[: text.index("float64 references")]
    assert re.search(r"\d+ cases: .* \d+ with NaN/Inf outputs", headline)
    assert any(ln.startswith("identical: blowup.sequential.train_step") for ln in report.stdout.splitlines())
    assert "non-finite values (NaN/Inf): loss" in text and "flags: non-finite" in text


def test_a_failed_float64_reference_is_reference_unavailable_not_a_matrix_error(verdict_run, records):
    run_dir, _ = verdict_run
    failed = records[FP64_ERROR]
    assert failed["verdict"] == "error"
    assert "ScatterAddDup.call()" in failed["reason"] and "TensorScatterAdd" in failed["reason"]
    assert "Exception encountered" not in failed["reason"]
    assert (run_dir / failed["extra"]["traceback"]).is_file()
    for mode in ("eager", "xla"):
        rec = records[_case("scatter64", "functional", "predict", mode)]
        assert rec["verdict"] in ("identical", "close") and "reference-unavailable" in rec["flags"]
        assert any(
            n.startswith("vs_fp64: reference unavailable: the float64 reference failed: ")
            for n in rec["notes"]
        )
    md = (run_dir / "report.md").read_text()
    head = md.splitlines()[2]
    matrix = [r for r in records.values() if r["case"]["precision"] != "float64"]
    assert head.startswith(f"**{len(matrix)} cases:")
    assert _says_errors(head, sum(r["verdict"] == "error" for r in matrix))


@pytest.fixture(scope="module")
def no_fp64_run(tmp_path_factory) -> tuple[Path, str]:
    """One run without float64 references (``--no-fp64``), eager, 5 repeats: ``scatter64`` (whose
    float64 reference would fail), ``sparse_update`` (nondeterministic only in its sparse update:
    CPU scatter) and ``mlp_seed`` with its ``faulty`` control (a structural mismatch)."""
    return run_tiny(
        tmp_path_factory.mktemp("no-fp64"),
        *("--pairs-from", PAIRS_FILE, "--pairs", "scatter64,sparse_update,mlp_seed"),
        *("--members", "sequential,functional,faulty", "--workloads", "predict,train_step"),
        *("--modes", "eager", "--repeats", "5", "--min-sample-time", "0.005", "--max-warmup", "0"),
        *("--no-fp64", "--no-report"),
    )


@pytest.fixture
def explain(capsys, clean_registry):
    """``pairbench explain ARGS`` in this process (the run's pairs file is loaded into the registry,
    which ``clean_registry`` restores): (exit code, stdout)."""
    from suite.cli import main

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["explain", *args])
        captured = capsys.readouterr()
        assert code == 0, captured.err[-3000:]
        return code, captured.out

    return run


def test_no_fp64_switch_runs_no_reference_and_flags_nothing(no_fp64_run):
    run_dir, stdout = no_fp64_run
    recs = read_records(run_dir)
    assert not any(r["case"]["precision"] == "float64" for r in recs.values())
    for rec in recs.values():
        assert "vs_fp64" not in rec["divergence"]
    scatter64 = [r for r in recs.values() if r["case"]["pair"] == "scatter64"]
    assert len(scatter64) == 4 and all(r["flags"] == [] for r in scatter64)
    assert "float64" not in stdout


def test_nondeterminism_only_in_the_update_is_localised_to_the_update_and_its_op(no_fp64_run):
    rec = read_records(no_fp64_run[0])[_case("sparse_update", "sequential", "train_step", "eager")]
    assert rec["verdict"] == "nondeterministic"
    loc = rec["localisation"]
    assert loc["against"] == "rerun"
    assert loc["forward"] is None and loc["backward"] is None  # outputs and gradients are stable
    assert loc["update"]["variable"] == "embed/embeddings" and loc["update"]["layer"] == "embed"
    assert "ResourceScatterSub" in loc["update"]["ops"]
    assert "its gradient does not vary: the update itself is nondeterministic" in loc["note"]


def test_explain_uses_the_recorded_rule_and_finds_the_update(no_fp64_run, explain):
    run_dir, _ = no_fp64_run
    case_id = _case("sparse_update", "sequential", "train_step", "eager")
    _, stdout = explain(str(run_dir), case_id, "--json")
    out = json.loads(stdout)
    recorded = read_records(run_dir)[case_id]["localisation"]
    assert out["localisation"]["against"] == recorded["against"] == "rerun"
    assert out["localisation"]["update"]["variable"] == "embed/embeddings"
    assert "ResourceScatterSub" in out["localisation"]["update"]["ops"]


def test_explain_on_a_structural_mismatch_shows_the_whole_audit(no_fp64_run, explain):
    run_dir, _ = no_fp64_run
    case_id = _case("mlp_seed", "faulty", "predict", "eager")
    _, stdout = explain(str(run_dir), case_id, "--json")
    out = json.loads(stdout)
    assert out["localisation"] is None  # the weights do not fit: nothing to localise
    audit = out["audit"]
    assert any("no bias in dense_0" in d for d in audit)  # what stopped the weight copy
    assert any(d.startswith("activation None vs relu") for d in audit)  # and what did not
    record = read_records(run_dir)[case_id]
    head, _, listed = record["reason"].partition(" — ")  # the causes first, then every difference
    assert audit == listed.split(" ; ")
    assert record["causes"][0]["kind"] == "missing-bias" and head.startswith("no bias in dense_0")
    _, text = explain(str(run_dir), case_id)
    assert f"structural audit against the reference ({len(audit)} differences)" in text
