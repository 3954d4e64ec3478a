"""Your own models through the CLI (issue 12's acceptance): the pasted seed example and
upstream-style models, run with ``pairbench run --pairs-from`` and explained."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, only_run, pairbench, read_records

from suite.cli import main

pytestmark = pytest.mark.slow  # real runs

EXAMPLES = ROOT / "docs" / "examples"


def _run(tmp_path_factory, name: str, *args: str) -> tuple[Path, dict[str, dict]]:
    results = tmp_path_factory.mktemp(name)
    proc = pairbench(
        "run",
        "--pairs-from",
        str(EXAMPLES / f"{name}.py"),
        "--repeats",
        "2",
        *("--min-sample-time", "0.005", "--max-warmup", "0"),  # timing is not the point
        "--results-dir",
        str(results),
        "--no-report",
        *args,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = only_run(results)
    return run, read_records(run)


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    return _run(
        tmp_path_factory, "seed_models", "--pairs", "seed_models", "--workloads", "predict,train_step"
    )


def _case(pair: str, member: str, workload: str, mode: str, precision: str = "float32") -> str:
    return f"{pair}.{member}.{workload}.{mode}.cpu.{precision}.det-off.default"


@pytest.mark.parametrize("workload", ["predict", "train_step"])
def test_pasted_subclass_is_identical_to_the_sequential_and_close_under_xla(seed_run, workload):
    _, records = seed_run
    for mode, expected in (("eager", "identical"), ("function", "identical"), ("xla", "close")):
        rec = records[_case("seed_models", "subclass", workload, mode)]
        assert rec["verdict"] == expected, (mode, rec["reason"])
        assert rec["divergence"]["vs_pair"]["bitwise_equal"], mode  # same weights, same kernels
        assert rec["extra"]["weight_match"] == "structure" and len(rec["extra"]["weight_map"]) == 4
    fp64 = records[_case("seed_models", "sequential", workload, "eager", "float64")]
    assert fp64["verdict"] == "identical"  # the float64 reference took its float32 donor's weights
    assert (
        records[_case("seed_models", "subclass", workload, "eager")]["divergence"]["vs_fp64"]["max_abs"]
        < 1e-5
    )


def test_pasted_broken_model_names_untracked_variables_biases_and_activations(seed_run):
    _, records = seed_run
    for workload in ("predict", "train_step"):
        rec = records[_case("seed_models", "broken", workload, "eager")]
        assert rec["verdict"] == "structural-mismatch"
        assert "untracked-variables" in rec["flags"], (workload, rec["flags"])  # train_step fails early
        for expected in (
            "w1 (10, 64) is a tf.Variable that Keras does not track: not trained, saved or counted",
            "w2 (64, 10) is a tf.Variable that Keras does not track",
            "no bias after w1 (the reference adds dense/bias (64,))",
            "no bias after w2 (the reference adds dense_1/bias (10,))",
            "activation None vs relu after w1",
            "activation None vs softmax after w2",
        ):
            assert expected in rec["reason"], (expected, rec["reason"])


def test_explain_shows_the_weight_mapping(seed_run, capsys, clean_registry):
    run, _ = seed_run
    case_id = _case("seed_models", "subclass", "predict", "xla")
    capsys.readouterr()
    code = main(["explain", run.name, case_id, "--results-dir", str(run.parent)])  # in-process
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    assert "weights matched by structure (forward order, shape, dtype)" in out.out
    assert "dense/kernel -> dense/kernel" in out.out and "dense_1/bias -> dense_1/bias" in out.out


def test_upstream_style_models_pair_without_edits(tmp_path_factory):
    args = ("--pairs", "benchmark_stack,guide_classifier", "--workloads", "predict,train_step")
    _, records = _run(tmp_path_factory, "upstream_models", *args, "--modes", "eager,function")
    members = [r for r in records.values() if r["case"]["member"] != "functional"]
    assert {r["case"]["pair"] for r in members} == {"benchmark_stack", "guide_classifier"}
    for rec in members:
        if rec["case"]["precision"] == "float64":
            continue
        assert rec["verdict"] == "identical", (rec["case_id"], rec["reason"])
        assert rec["divergence"]["vs_pair"]["bitwise_equal"], rec["case_id"]
        assert rec["extra"]["weight_match"] == "structure"
    losses = {r["case"]["pair"]: r["extra"]["loss"] for r in members}
    assert losses["benchmark_stack"].startswith("mean_squared_error")  # float labels
    assert losses["guide_classifier"].startswith("sparse_categorical_crossentropy")  # integer labels
