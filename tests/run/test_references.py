"""Which case each case is compared with (``suite.run.references``), in particular the ``vs_cpu``
of a TF32 GPU case: TF32 does not exist on the CPU, so it is the float32 CPU case."""

from __future__ import annotations

from suite.case import Case
from suite.run.matrix import Selection, expand, plan_jobs
from suite.run.references import references_of
from suite.run.schedule import make_units


def _case(**axes: str) -> Case:
    base = dict(
        pair="mlp",
        member="subclass",
        workload="train_step",
        mode="xla",
        device="gpu:0",
        precision="float32",
        determinism="off",
        size="default",
    )
    return Case(**{**base, **axes})


def test_vs_cpu_of_a_tf32_gpu_case_is_the_float32_cpu_case():
    refs = references_of(_case(precision="tf32"), "sequential")
    assert refs["vs_cpu"] == _case(device="cpu", precision="float32")
    # the other references keep TF32: they measure the build and the mode, not TF32
    assert refs["vs_pair"] == _case(precision="tf32", member="sequential")
    assert refs["vs_eager"] == _case(precision="tf32", mode="eager")


def test_vs_cpu_keeps_every_other_precision():
    for precision in ("float32", "mixed_float16", "mixed_bfloat16"):
        refs = references_of(_case(precision=precision), "sequential")
        assert refs["vs_cpu"] == _case(device="cpu", precision=precision)
    assert "vs_cpu" not in references_of(_case(device="cpu"), "sequential")


def test_a_tf32_gpu_unit_waits_for_the_float32_cpu_unit_it_reads():
    sel = Selection(
        pairs=("mlp_seed",),
        members=("sequential",),
        workloads=("predict",),
        devices=("cpu", "gpu:0"),
        precisions=("float32", "tf32"),
        sizes=("tiny",),
    )
    units = make_units(plan_jobs(expand(sel, n_gpus=1)), split_devices=True)
    by_name = {u.name: u for u in units}
    owner = {c.case_id: u.name for u in units for c in u.cases}

    def waits_for(unit: str, other: str) -> bool:
        todo, seen = [unit], set()
        while todo:
            for dep in by_name[todo.pop()].after:
                if dep == other:
                    return True
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return False

    checked = 0
    for unit in units:
        for case in unit.cases:
            if case.device != "cpu" and case.precision == "tf32":
                ref = references_of(case, "sequential")["vs_cpu"]
                assert ref.precision == "float32"
                assert waits_for(unit.name, owner[ref.case_id]), (case.case_id, ref.case_id)
                checked += 1
    assert checked == 3  # eager, function, xla
