"""`pairbench run` on real runs (issue 4): crash safety, timeouts, the quick matrix, unsupported
rows. Ctrl-C, signals and resume are in ``test_faults.py``, the matrix itself in ``test_matrix.py``,
the run folder in ``tests/results/``."""

from __future__ import annotations

import json

import pytest
from conftest import PAIRS, QUICK_TIMING, only_run, pairbench, read_records

from suite.results.record import Record


def _args(results, *extra):
    return ["--results-dir", str(results), "--sizes", "tiny", "--no-report", *extra]


@pytest.mark.slow
def test_killed_and_hung_workers_become_error_rows_and_the_run_goes_on(tmp_path):
    """``crashy``'s functional member SIGKILLs its worker while building, ``hangs``'s subclass
    member never finishes building: one run, both faults. (Every in-flight case of a killed
    worker becoming an error row, and --retry-errors, are in ``test_faults.py``; the dispatcher's
    rules with scripted workers in ``test_scale.py``.)"""
    proc = pairbench(
        "run",
        "--pairs-from",
        str(PAIRS / "crash_pairs.py"),
        "--pairs",
        "crashy,hangs",
        "--workloads",
        "predict",
        "--modes",
        "eager",
        "--timeout",
        "8",
        "--no-fp64",
        *_args(tmp_path, *QUICK_TIMING),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = read_records(only_run(tmp_path))
    crashed = records["crashy.functional.predict.eager.cpu.float32.det-off.tiny"]
    assert crashed["verdict"] == "error" and "worker died (signal 9)" in crashed["reason"]
    # the cases after the crash ran in a fresh worker
    assert records["crashy.subclass.predict.eager.cpu.float32.det-off.tiny"]["verdict"] == "identical"
    assert records["crashy.sequential.predict.eager.cpu.float32.det-off.tiny"]["verdict"] == "identical"
    hung = records["hangs.subclass.predict.eager.cpu.float32.det-off.tiny"]
    assert hung["verdict"] == "error" and "timed out after 8 s" in hung["reason"]
    assert records["hangs.sequential.predict.eager.cpu.float32.det-off.tiny"]["verdict"] == "identical"
    assert len(records) == 3 + 2  # crashy's 3 members, hangs's 2


@pytest.mark.slow
def test_quick_run_has_a_record_for_every_case_and_a_report(quick_run):
    plan = json.loads((quick_run / "plan.json").read_text())
    records = read_records(quick_run)
    planned = {Record.from_dict({"case": c, "verdict": "x"}).case_id for c in plan}
    assert planned <= set(records)
    assert not [r for r in records.values() if r["verdict"] == "error"]
    for name in ("report.md", "report.html", "table.csv", "table.parquet"):
        assert (quick_run / name).stat().st_size > 0
    assert len(list((quick_run / "plots").glob("*.png"))) >= 2
    meta = json.loads((quick_run / "run.json").read_text())
    assert meta["status"] == "finished" and meta["provenance"]["tensorflow"]["version"].startswith("2.21")
    timed = [r for r in records.values() if r["timing"]]
    for rec in timed:
        t = rec["timing"]
        assert t["step_s_p10"] <= t["step_s_median"] <= t["step_s_p90"]
        expected_repeats = 1 if rec["case"]["precision"] == "float64" else 3  # references run once
        assert t["samples_per_s"] > 0 and t["compile_s"] > 0 and t["repeats"] == expected_repeats
        assert rec["numerics"]["tf_device"] == "/CPU:0" and rec["numerics"]["dtype_policy"]


@pytest.mark.slow
def test_unavailable_gpu_and_cpu_tf32_are_unsupported_rows(tmp_path):
    proc = pairbench(
        "run",
        "--pairs",
        "mlp_seed",
        "--members",
        "sequential",
        "--workloads",
        "predict",
        "--modes",
        "eager",
        "--devices",
        "cpu,gpu:0",
        "--precisions",
        "float32,tf32",
        "--no-fp64",
        *_args(tmp_path, *QUICK_TIMING),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = read_records(only_run(tmp_path))
    gpu = records["mlp_seed.sequential.predict.eager.gpu0.float32.det-off.tiny"]
    assert gpu["verdict"] == "unsupported" and "no gpu:0" in gpu["reason"]
    tf32 = records["mlp_seed.sequential.predict.eager.cpu.tf32.det-off.tiny"]
    assert tf32["verdict"] == "unsupported" and "tf32" in tf32["reason"]
    assert records["mlp_seed.sequential.predict.eager.cpu.float32.det-off.tiny"]["verdict"] == "identical"
