"""The run's matrix (issue 4): the product of the axes, references planned first, unknown names
and bad numbers refused before anything starts."""

from __future__ import annotations

import pytest

from suite.cli import main
from suite.run.matrix import Selection, apply_preset, expand, plan_jobs


def test_expand_is_the_product_of_the_axes():
    sel = Selection(
        pairs=("mlp_seed",), members=("sequential", "raw"), workloads=("predict",), sizes=("tiny",)
    )
    cases = expand(sel, n_gpus=1)
    assert {c.device for c in cases} == {"cpu", "gpu:0"}
    assert len(cases) == 2 * 2 * 3  # members x devices x modes
    assert len({c.case_id for c in cases}) == len(cases)


def test_plan_runs_references_first():
    sel, _ = apply_preset(Selection(pairs=("mlp_seed",)), "quick")
    plans = plan_jobs(expand(sel, n_gpus=1))
    assert plans[0].precision == "float64"  # the float64 references come first
    order = [c.case_id for p in plans for c in p.cases]
    for case in (c for p in plans[1:] for c in p.cases):
        ref = case.with_(member="sequential")
        assert order.index(ref.case_id) <= order.index(case.case_id)
        if case.device != "cpu":
            assert order.index(case.with_(device="cpu").case_id) < order.index(case.case_id)
    # modes of one member are in one group, so their repeats alternate
    group = plans[1].groups[0]
    assert [c.mode for c in group] == ["eager", "function", "xla"]


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--pairs", "mlp,nope", ["unknown pair 'nope'", "mlp_seed"]),
        ("--modes", "fast", ["unknown mode 'fast'", "eager, function, xla"]),
        ("--devices", "tpu", ["unknown device 'tpu'", "gpu:0"]),
        ("--precisions", "fp8", ["unknown precision 'fp8'", "mixed_bfloat16"]),
        ("--members", "sequentail", ["unknown member 'sequentail'", "subclass"]),
    ],
)
def test_unknown_names_exit_2_with_one_line(capsys, tmp_path, flag, value, words):
    assert main(["run", flag, value, "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    for word in words:
        assert word in err
    assert not any(tmp_path.iterdir())  # nothing was started


def test_bad_numbers_exit_2(capsys, tmp_path):
    assert main(["run", "--repeats", "0", "--results-dir", str(tmp_path)]) == 2
    assert "--repeats must be at least 1" in capsys.readouterr().err
