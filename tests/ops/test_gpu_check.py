"""The GPU check (``suite.ops.gpu_check``, run by ``scripts/gpu_check.py``) without a GPU and
without TensorFlow: the time box, skipped GPU parts, the outputs and their limits, and the checks
on hand-made records (the real parts run on the lent GPU machine; ``--cpu-smoke`` runs them
reduced on the CPU)."""

from __future__ import annotations

import json
import sys
import tarfile
import time

import pytest

from suite.case import Case
from suite.ops.gpu_check import cli, outputs, steps
from suite.ops.gpu_check.context import Context
from suite.ops.gpu_check.determinism import control_check, determinism_checks
from suite.ops.gpu_check.matrix import tf32_agreement
from suite.ops.gpu_check.outcome import Check, PartResult
from suite.ops.gpu_check.records import missing_cases

HANG = [sys.executable, "-c", "import time; time.sleep(60)"]


def _record(case_id: str, verdict: str, **fields) -> dict:
    pair, member, workload, mode, device, precision, det, size = case_id.split(".")
    device = "gpu:0" if device == "gpu0" else device
    case = Case(pair, member, workload, mode, device, precision, det.removeprefix("det-"), size)
    return {"case": case.to_dict(), "case_id": case_id, "verdict": verdict, "reason": "", **fields}


def test_a_step_that_hangs_is_stopped_at_its_deadline(tmp_path):
    start = time.monotonic()
    step = steps.run_step("hang", HANG, deadline=start + 1.5, log_path=tmp_path / "hang.log", grace_s=3)
    took = time.monotonic() - start
    assert step.status == "timeout" and step.returncode is not None  # stopped, and reaped
    assert 1.4 <= took < 6, took
    assert (tmp_path / "hang.log").read_text().startswith("$ ")
    quick = steps.run_step(
        "quick",
        [sys.executable, "-c", "raise SystemExit(3)"],
        deadline=time.monotonic() + 30,
        log_path=tmp_path / "quick.log",
    )
    assert quick.status == "failed" and quick.returncode == 3


def test_a_part_that_runs_out_is_reported_and_finished_parts_keep_their_records(tmp_path, monkeypatch):
    def finished_part(ctx, part, deadline):  # a part that wrote a run folder with two records
        run = ctx.results / "r1"
        run.mkdir(parents=True)
        (run / "run.json").write_text("{}")
        lines = [_record(f"mlp.sequential.predict.{m}.gpu0.float32.det-off.tiny", "identical") for m in "ab"]
        (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"damaged')
        ctx.runs["r1"] = part.part
        part.checks.append(Check("doctor.fake", "pass", 1))

    def hanging_part(ctx, part, deadline):
        ctx.step(part, "hang", HANG, deadline)

    monkeypatch.setitem(cli.PART_FUNCTIONS, "doctor", finished_part)
    monkeypatch.setitem(cli.PART_FUNCTIONS, "matrix", hanging_part)
    monkeypatch.setattr(cli, "FINAL_RESERVE_S", 1.0)
    monkeypatch.setattr(steps, "GRACE_S", 3.0)
    monkeypatch.setattr(cli, "MIN_PART_S", {})
    out = tmp_path / "out"
    start = time.monotonic()
    argv = ["--out", str(out), "--work-dir", str(tmp_path / "w"), "--budget-s", "4", "--gpus", "1"]
    code = cli.main([*argv, "--parts", "doctor,matrix"], echo=False)
    assert time.monotonic() - start < 12
    assert code == 1
    summary = json.loads((out / "summary.json").read_text())
    parts = {p["part"]: p for p in summary["parts"]}
    assert parts["doctor"]["status"] == "ok"
    assert parts["matrix"]["status"] == "timeout" and "hang ran out of time" in parts["matrix"]["reason"]
    assert parts["matrix"]["wall_s"] <= 4
    assert summary["ok"] is False and summary["checks"]["pass"] == 1
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == 2  # the damaged last line is left out, the finished ones kept
    assert all(r["gpu_check"] == {"part": "doctor", "run_id": "r1"} for r in records)
    assert "matrix | timeout" in (out / "report.md").read_text()


def test_without_a_gpu_the_gpu_parts_are_skipped_with_the_reason(tmp_path):
    out = tmp_path / "out"
    argv = ["--out", str(out), "--work-dir", str(tmp_path / "w"), "--gpus", "0"]
    code = cli.main([*argv, "--parts", "determinism,trace,matrix,speed"], echo=False)
    summary = json.loads((out / "summary.json").read_text())
    assert [p["part"] for p in summary["parts"]] == ["determinism", "trace", "matrix", "speed"]
    for part in summary["parts"]:
        assert part["status"] == "skipped"
        assert part["reason"].startswith("no GPU visible to TensorFlow"), part
    assert summary["gpu"] == {
        "visible": False,
        "count": 0,
        "name": None,
        "source": "--gpus",
        "simulated": False,
    }
    assert code == 0  # nothing failed: nothing could run
    files = sorted(p.name for p in out.iterdir())
    assert set(files) <= set(outputs.OUTPUT_FILES) and len(files) <= outputs.MAX_FILES


def test_outputs_stay_within_the_device_tools_limits(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "MAX_FILE_BYTES", 64 * 1024)
    ctx = Context(out=tmp_path / "out", work=tmp_path / "w", echo=False)
    run = ctx.results / "big"
    (run / "kernels").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    csv = "kernels/embedding.sequential.train_step.eager.gpu0.float32.det-off.default.csv"
    (run / csv).write_text("name,op_name\nk,op\n")
    (run / "huge.log").write_bytes(b"x" * 200_000)  # over the limit: left out of runs.tar.gz
    rec = _record(
        "embedding.sequential.train_step.eager.gpu0.float32.det-off.default",
        "nondeterministic",
        profile={"kernels_csv": csv},
        extra={"pad": "y" * 3000},
    )
    (run / "records.jsonl").write_text((json.dumps(rec) + "\n") * 40)  # ~130 KB: cut at a whole line
    ctx.runs["big"] = "determinism"
    parts = [PartResult("determinism", checks=[Check("determinism.x", "pass", 1)])]
    notes = outputs.write_outputs(ctx, parts, 60.0, [])
    files = list(ctx.out.iterdir())
    assert len(files) <= outputs.MAX_FILES
    assert all(f.stat().st_size <= 64 * 1024 for f in files), [(f.name, f.stat().st_size) for f in files]
    lines = (ctx.out / "records.jsonl").read_text().splitlines()
    assert 0 < len(lines) < 40 and all(json.loads(line)["case_id"] == rec["case_id"] for line in lines)
    assert any("records.jsonl cut" in n for n in notes) and any("huge.log" in n for n in notes)
    with tarfile.open(ctx.out / "kernels.tar.gz") as tar:
        assert tar.getnames() == [f"big/{csv}"]
    with tarfile.open(ctx.out / "runs.tar.gz") as tar:
        assert "big/huge.log" not in tar.getnames() and "big/run.json" in tar.getnames()
    assert json.loads((ctx.out / "summary.json").read_text())["notes"] == notes


def test_tf32_rows_are_judged_with_the_tf32_tolerance_and_float32_twins_excuse_shared_differences():
    def metrics(ratio):
        return {"max_abs": ratio * 1e-3, "max_rel": ratio * 1e-3, "tol_ratio": ratio, "bitwise_equal": False}

    base = "mlp.subclass.train_step.{}.gpu0.{}.det-off.default"
    records = [
        _record(base.format("eager", "tf32"), "close", divergence={"vs_cpu": metrics(0.2)}),
        # beyond the TF32 tolerance, and its float32 twin is beyond float32's: excused (XLA's doing)
        _record(base.format("xla", "tf32"), "diverged", divergence={"vs_eager": metrics(15.0)}),
        _record(base.format("xla", "float32"), "diverged", divergence={"vs_eager": metrics(15000.0)}),
        # beyond, while the float32 twin agrees: TF32's doing
        _record(base.format("function", "tf32"), "diverged", divergence={"vs_cpu": metrics(3.0)}),
        _record(base.format("function", "float32"), "close", divergence={"vs_cpu": metrics(0.5)}),
        # nondeterministic, but its comparisons are within the tolerance
        _record(
            "embedding.sequential.train_step.function.gpu0.tf32.det-off.default",
            "nondeterministic",
            divergence={"vs_eager": metrics(0.01)},
        ),
    ]
    figure = tf32_agreement(records)
    assert figure["rows"] == 4 and figure["within"] == 2
    assert [e.split(":")[0] for e in figure["excused"]] == [base.format("xla", "tf32")]
    assert [e.split(":")[0] for e in figure["outside"]] == [base.format("function", "tf32")]
    assert figure["worst_tol_ratio"] == 15.0 and figure["vs_cpu_filled"] == 2


def test_determinism_checks_need_nondeterminism_off_stability_on_and_a_localisation(tmp_path):
    ctx = Context(out=tmp_path, work=tmp_path, gpus=1, echo=False)
    loc = {"forward": {"layer": "pool", "ops": ["UnsortedSegmentSum"]}, "backward": None, "update": None}
    kernels = {"top_kernels": [{"name": "UnsortedSegmentSumKernel", "op_name": "pool/Seg", "share": 0.4}]}
    rid = "embedding.sequential.train_step.{}.gpu0.float32.det-{}.default"
    records = [
        _record(
            rid.format(m, "off"),
            "nondeterministic",
            divergence={"rerun": {"runs": 8, "distinct": 8}},
            localisation=loc,
            profile=kernels,
        )
        for m in ("eager", "function")
    ] + [
        _record(rid.format(m, "on"), "identical", divergence={"rerun": {"runs": 8, "distinct": 1}})
        for m in ("eager", "function")
    ]
    status = {c.name: c.status for c in determinism_checks(ctx, records)}
    assert status == {
        "determinism.embedding_off_nondeterministic": "pass",
        "determinism.embedding_on_stable": "pass",
        "determinism.note": "info",
        "determinism.localised": "pass",
        "determinism.top_kernels": "pass",
    }
    records[-1]["divergence"]["rerun"]["distinct"] = 2  # determinism on, yet two results
    records[0]["localisation"] = {"forward": None, "backward": None, "update": None}
    records[0]["profile"] = {"top_kernels": []}
    status = {c.name: c.status for c in determinism_checks(ctx, records)}
    assert status["determinism.embedding_on_stable"] == "fail"
    assert status["determinism.localised"] == "fail" and status["determinism.top_kernels"] == "fail"
    no_gpu = Context(out=tmp_path, work=tmp_path, gpus=0, echo=False)
    skipped = {c.name: c for c in determinism_checks(no_gpu, records)}
    assert skipped["determinism.top_kernels"].status == "skipped"
    assert skipped["determinism.top_kernels"].reason.startswith("no GPU visible to TensorFlow")


def test_unknown_parts_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        cli.main(["--out", str(tmp_path), "--parts", "doctor,bogus"], echo=False)
    assert err.value.code == 2 and "bogus" in capsys.readouterr().err
    assert cli.parse_parts("matrix,doctor") == ("doctor", "matrix")  # run order, not typed order
    assert cli.parse_parts("all") == cli.PARTS


FAKE_RUN = """
import json, os, sys, time
args = sys.argv[1:]
if args[0] == "report":
    raise SystemExit(0)
run = os.path.join(args[args.index("--results-dir") + 1], args[args.index("--run-id") + 1])
os.makedirs(run)
cases = [dict(pair="mlp", member="sequential", workload="predict", mode=m, device="gpu:0",
              precision="float32", determinism="off", size="tiny") for m in ("eager", "xla")]
open(os.path.join(run, "run.json"), "w").write("{}")
open(os.path.join(run, "plan.json"), "w").write(json.dumps(cases))
with open(os.path.join(run, "records.jsonl"), "w") as fh:
    for case in cases[: int(os.environ["FAKE_RECORDS"])]:
        fh.write(json.dumps({"case": case, "verdict": "identical"}) + "\\n")  # a record RunDir reads
time.sleep(60)  # winding down, or stuck in the next case
"""


@pytest.mark.parametrize(("recorded", "status"), [(2, "ok"), (1, "timeout")])
def test_a_run_stopped_at_its_deadline_is_a_timeout_only_when_a_case_is_missing(
    tmp_path, monkeypatch, recorded, status
):
    fake = tmp_path / "fake_run.py"
    fake.write_text(FAKE_RUN)
    monkeypatch.setenv("FAKE_RECORDS", str(recorded))
    monkeypatch.setattr(steps, "GRACE_S", 2.0)
    ctx = Context(out=tmp_path / "out", work=tmp_path / "w", echo=False)
    ctx.hard_deadline = time.monotonic() + 30
    ctx.suite = lambda *args: [sys.executable, str(fake), *args]
    part = PartResult("matrix")
    records = ctx.pairbench_run(part, "r1", ["--pairs", "mlp"], time.monotonic() + 3)
    assert len(records) == recorded
    assert part.status == status and part.runs == ["r1"] and ctx.runs == {"r1": "matrix"}
    assert len(missing_cases(ctx.results / "r1")) == 2 - recorded
    assert [s.name for s in part.steps] == ["run-r1", "report-r1"]


def test_shares_of_the_time_left():
    now = time.monotonic()
    assert steps.share(now + 100, 1, 9) - now == pytest.approx(10, abs=0.5)
    assert steps.share(now + 100, 1, 9, reserve=50) - now == pytest.approx(5, abs=0.5)
    assert steps.share(now + 100, 1, 9, floor=50) - now == pytest.approx(50, abs=0.5)
    assert steps.share(now + 100, 1, 9, floor=500) - now == pytest.approx(100, abs=0.5)  # never past it
    assert steps.share(now - 5, 1, 0) <= time.monotonic()  # no time left: now


def test_a_control_passes_only_when_it_ran_and_stayed_nondeterministic():
    ran = {"eager": "nondeterministic 5/5"}
    assert control_check(Check("determinism.chaos_on_stable", "fail", ran), "x").status == "pass"
    assert control_check(Check("determinism.chaos_on_stable", "pass", ran), "x").status == "fail"
    empty = control_check(Check("determinism.chaos_on_stable", "fail", {}), "x")
    assert empty.status == "fail" and empty.name == "determinism.chaos_on_control"
