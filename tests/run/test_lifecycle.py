"""`pairbench run` on real runs (issue 4): crash safety, timeouts, Ctrl-C and resume, the quick
matrix, unsupported rows. The matrix itself is in ``test_matrix.py``, the run folder in
``tests/results/``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import PAIRS, only_run, pairbench, read_records

from suite.results.record import Record


def _args(results, *extra):
    return ["--results-dir", str(results), "--sizes", "tiny", "--no-report", *extra]


@pytest.mark.slow
def test_killed_worker_becomes_error_row_and_the_run_goes_on(tmp_path):
    proc = pairbench(
        "run",
        "--pairs-from",
        str(PAIRS / "crash_pairs.py"),
        "--pairs",
        "crashy",
        "--workloads",
        "predict",
        "--modes",
        "eager,function",
        *_args(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = read_records(only_run(tmp_path))
    crashed = [r for cid, r in records.items() if ".functional." in cid]
    assert len(crashed) == 2
    for rec in crashed:
        assert rec["verdict"] == "error"
        assert "worker died (signal 9)" in rec["reason"]
    # the cases after the crash ran in a fresh worker
    after = [r for cid, r in records.items() if ".subclass." in cid and ".float32." in cid]
    assert len(after) == 2 and all(r["verdict"] == "identical" for r in after)
    assert len(records) == 7  # 3 members x 2 modes + the float64 reference


@pytest.mark.slow
def test_hung_worker_times_out_into_an_error_row(tmp_path):
    proc = pairbench(
        "run",
        "--pairs-from",
        str(PAIRS / "crash_pairs.py"),
        "--pairs",
        "hangs",
        "--workloads",
        "predict",
        "--modes",
        "eager",
        "--timeout",
        "8",
        *_args(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = read_records(only_run(tmp_path))
    hung = records["hangs.subclass.predict.eager.cpu.float32.det-off.tiny"]
    assert hung["verdict"] == "error" and "timed out after 8 s" in hung["reason"]
    assert records["hangs.sequential.predict.eager.cpu.float32.det-off.tiny"]["verdict"] == "identical"


@pytest.mark.slow
def test_ctrl_c_keeps_finished_cases_and_resume_runs_only_the_missing(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "suite",
        "run",
        "--pairs",
        "mlp_seed",
        "--members",
        "sequential,subclass,raw",
        "--workloads",
        "predict,train_step",
        *_args(tmp_path),
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    records_file = None
    while time.monotonic() < deadline:
        runs = [p for p in tmp_path.iterdir() if (p / "records.jsonl").exists()]
        if runs and len((runs[0] / "records.jsonl").read_text().splitlines()) >= 4:
            records_file = runs[0] / "records.jsonl"
            break
        time.sleep(0.2)
    assert records_file is not None, "the run produced no records"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    run_dir = records_file.parent
    assert "--resume" in err and run_dir.name in err
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    before = read_records(run_dir)
    planned = {json.dumps(c, sort_keys=True) for c in json.loads((run_dir / "plan.json").read_text())}
    assert 4 <= len(before) < len(planned) + 2  # + the float64 references

    resumed = pairbench("run", "--resume", run_dir.name, "--results-dir", str(tmp_path), "--no-report")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    lines = [json.loads(x) for x in records_file.read_text().splitlines()]
    ids = [r["case_id"] for r in lines]
    assert len(ids) == len(set(ids)), "a finished case ran twice"
    assert set(ids) >= set(before)
    assert len(ids) == 18 + 2  # 3 members x 2 workloads x 3 modes + 2 float64 references


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
        *_args(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = read_records(only_run(tmp_path))
    gpu = records["mlp_seed.sequential.predict.eager.gpu0.float32.det-off.tiny"]
    assert gpu["verdict"] == "unsupported" and "no gpu:0" in gpu["reason"]
    tf32 = records["mlp_seed.sequential.predict.eager.cpu.tf32.det-off.tiny"]
    assert tf32["verdict"] == "unsupported" and "tf32" in tf32["reason"]
    assert records["mlp_seed.sequential.predict.eager.cpu.float32.det-off.tiny"]["verdict"] == "identical"
