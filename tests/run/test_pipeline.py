"""End to end through real runs: the ground truth of DESIGN.md shows up in the records (issue 5)."""

from __future__ import annotations

import pytest
from conftest import pairbench, read_records

pytestmark = pytest.mark.slow

CORRECT = ("sequential", "functional", "subclass")


def _rows(run, **axes):
    return [
        r
        for r in read_records(run).values()
        if all(r["case"][k] == v for k, v in axes.items()) and r["case"]["precision"] == "float32"
    ]


def test_keras_flavors_are_bitwise_identical_in_eager(quick_run):
    rows = [r for r in _rows(quick_run, mode="eager") if r["case"]["member"] in CORRECT]
    assert len(rows) >= 20
    for rec in rows:
        assert rec["verdict"] == "identical", (rec["case_id"], rec["reason"])
        if rec["case"]["member"] != "sequential" and rec["divergence"].get("vs_pair"):
            assert rec["divergence"]["vs_pair"]["bitwise_equal"] is True


def test_xla_differs_from_eager_by_rounding_only(quick_run):
    rec = _rows(quick_run, pair="mlp_seed", member="sequential", workload="predict", mode="xla")[0]
    vs_eager = rec["divergence"]["vs_eager"]
    assert rec["verdict"] == "close", rec["reason"]
    assert 0 < vs_eager["max_abs"] < 1e-5
    assert vs_eager["bitwise_equal"] is False and vs_eager["max_ulp"] >= 1
    # and the float64 reference was measured for it
    assert rec["divergence"]["vs_fp64"]["max_abs"] < 1e-5
    # the eager twin of the same group is known when the xla row is judged: accuracy is compared
    accuracy = rec["reason"].split("vs float64")[-1]
    assert "than eager" in accuracy or "as eager" in accuracy, rec["reason"]


def test_faulty_controls_are_structural_mismatches_naming_what_is_missing(quick_run):
    rows = _rows(quick_run, member="faulty")
    assert {r["case"]["pair"] for r in rows} >= {"mlp_seed", "mlp", "cnn", "lstm", "transformer", "embedding"}
    for rec in rows:
        assert rec["verdict"] == "structural-mismatch"
    seed = _rows(quick_run, pair="mlp_seed", member="faulty", mode="eager", workload="predict")[0]
    assert "no bias in dense_0 (64,)" in seed["reason"]
    assert "activation None vs relu in dense_0" in seed["reason"]


def test_rerun_spread_is_zero_on_cpu_for_the_zoo(quick_run):
    for rec in read_records(quick_run).values():
        rerun = rec["divergence"].get("rerun")
        if rerun and rec["case"]["pair"] != "embedding":
            assert rerun["distinct"] == 1, rec["case_id"]


def test_nondeterministic_layer_is_flagged_and_localised(chaos_run):
    records = read_records(chaos_run)
    rec = records["chaos.sequential.predict.eager.cpu.float32.det-off.tiny"]
    assert rec["verdict"] == "nondeterministic"
    assert rec["divergence"]["rerun"]["distinct"] > 1 and rec["divergence"]["rerun"]["max_abs"] > 0
    loc = rec["localisation"]
    assert loc["against"] == "rerun"
    assert loc["forward"]["layer"] == "chaos"


def test_op_without_deterministic_kernel_is_unsupported_with_its_name(chaos_run):
    records = read_records(chaos_run)
    rec = records["chaos.fractional_pool.predict.eager.cpu.float32.det-on.tiny"]
    assert rec["verdict"] == "unsupported"
    assert "fractional_max_pool" in rec["reason"]
    # with determinism off the same op runs (and is nondeterministic)
    off = records["chaos.fractional_pool.predict.eager.cpu.float32.det-off.tiny"]
    assert off["verdict"] == "nondeterministic"
    assert off["numerics"]["determinism_enabled"] is False
    det_on = records["chaos.sequential.predict.eager.cpu.float32.det-on.tiny"]
    assert det_on["numerics"]["determinism_enabled"] is True


def test_profiled_cases_have_a_tensorboard_trace_and_host_ops(chaos_run):
    rec = read_records(chaos_run)["chaos.sequential.predict.xla.cpu.float32.det-off.tiny"]
    profile = rec["profile"]
    assert not profile.get("error"), profile
    xplanes = list((chaos_run / profile["trace_dir"]).glob("plugins/profile/*/*.xplane.pb"))
    assert len(xplanes) == 1 and xplanes[0].stat().st_size > 0
    assert profile["host_ops"] and profile["device_kernels"] == 0  # CPU: host ops, no kernels
    proc = pairbench("trace", chaos_run.name, "--results-dir", str(chaos_run.parent))
    assert proc.returncode == 0, proc.stderr
    assert "tensorboard --logdir" in proc.stdout and str(chaos_run / "traces") in proc.stdout
