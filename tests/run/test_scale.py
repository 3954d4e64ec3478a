"""Scale-out without processes (issue 18): shards, units, the dispatcher's guarantees with
scripted workers, pinning, options, merge refusals and the fleet report.

The real runs (GPUs simulated on this machine, a Ray cluster) are in ``test_scale_runs.py``
and ``test_ray_cluster.py``.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fake_runs import H100, make_record, make_run, provenance, standard_records

from suite.axes import PINNED_GPU_ENV, SIMULATED_GPUS_ENV, gpu_index, tf_device
from suite.case import Case
from suite.cli import main
from suite.errors import UsageError
from suite.results.run_dir import RunDir
from suite.results.runs import create_run
from suite.run.dispatch import MAX_LOSSES, Dispatcher
from suite.run.executors import LocalExecutor, SerialExecutor, make_executor, pin_value
from suite.run.matrix import Selection, expand, plan_jobs
from suite.run.merge import merge_runs
from suite.run.options import RunOptions, make_options
from suite.run.schedule import make_units, pending_plans
from suite.run.shard import Shard, cluster_key, parse_shard, plan_digest, shard_cases, split_clusters


def _cases(n_gpus: int = 2, pairs=("mlp_seed", "mlp"), workloads=("predict", "train_step")) -> list[Case]:
    sel = Selection(pairs=pairs, workloads=workloads, sizes=("tiny",), determinism=("off", "on"))
    return expand(sel, n_gpus=n_gpus)


# ---- shards ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["0/4", "5/4", "1/0", "a/b", "1-4", "", "1/100000"])
def test_bad_shard_specs_are_one_line_usage_errors(spec):
    with pytest.raises(UsageError) as err:
        parse_shard(spec)
    assert "\n" not in str(err.value) and "--shard" in str(err.value)


def test_shards_partition_the_plan_keep_clusters_whole_and_are_deterministic():
    cases = _cases()
    parts = [shard_cases(cases, Shard(k, 3)) for k in (1, 2, 3)]
    ids = [c.case_id for part in parts for c in part]
    assert sorted(ids) == sorted(c.case_id for c in cases) and len(ids) == len(set(ids))
    owner = {}
    for k, part in enumerate(parts):
        for case in part:
            assert owner.setdefault(cluster_key(case), k) == k, "a cluster was split over shards"
    assert all(part for part in parts)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= max(len([c for c in cases if cluster_key(c) == key]) for key in owner)
    again = [shard_cases(list(cases), Shard(k, 3)) for k in (1, 2, 3)]
    assert again == parts
    assert plan_digest(cases) == plan_digest(list(reversed(cases)))


def test_more_shards_than_clusters_leaves_some_empty():
    cases = _cases(pairs=("mlp_seed",), workloads=("predict",))
    parts = split_clusters(cases, 3)
    assert sorted(len(p) for p in parts) == [0, 0, len(cases)]


# ---- units --------------------------------------------------------------------------------


def test_serial_units_are_the_jobs_in_plan_order():
    plans = plan_jobs(_cases())
    units = make_units(plans, split_devices=False)
    assert [(u.precision, u.determinism) for u in units] == [(p.precision, p.determinism) for p in plans]
    assert all(u.device == "any" for u in units)
    assert [u.after for u in units[1:]] == [(u.name,) for u in units[:-1]]


def test_local_units_split_devices_and_wait_for_what_they_compare_with():
    plans = plan_jobs(_cases(n_gpus=2))
    units = make_units(plans, split_devices=True)
    by_name = {u.name: u for u in units}
    assert len(by_name) == len(units)
    kinds = [u.kind for u in units]
    assert kinds == sorted(kinds, key=lambda k: k != "cpu"), "CPU units must come first"
    for unit in units:
        assert {c.device for c in unit.cases} == {unit.device}
    order = [u.name for u in units]
    position = {c.case_id: u.name for u in units for c in u.cases}

    def finished_before(a: str, b: str) -> bool:  # a is in the transitive `after` of b
        todo, seen = [b], set()
        while todo:
            for dep in by_name[todo.pop()].after:
                if dep == a:
                    return True
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return False

    from suite.run.references import references_of
    from suite.zoo import get_pair

    for unit in units:
        for case in unit.cases:
            refs = list(references_of(case, get_pair(case.pair).reference).values())
            if case.determinism == "on":
                refs.append(case.with_(determinism="off"))
            for ref in refs:
                if ref.case_id in position and position[ref.case_id] != unit.name:
                    assert finished_before(position[ref.case_id], unit.name), (case.case_id, ref.case_id)
    assert order.index("b0-gpu0-float32-detoff") < order.index("b0-gpu0-float32-deton")


def test_buckets_keep_clusters_together_and_pending_plans_drop_done_cases():
    plans = plan_jobs(_cases(n_gpus=1))
    units = make_units(plans, split_devices=True, buckets=2)
    assert {u.bucket for u in units} == {0, 1}
    buckets: dict[tuple, set[int]] = {}
    for unit in units:
        for case in unit.cases:
            buckets.setdefault(cluster_key(case), set()).add(unit.bucket)
    assert all(len(b) == 1 for b in buckets.values())
    done = {c.case_id for c in plans[0].cases}
    pending = pending_plans(plans, done)
    assert pending[0].precision != "float64" and len(pending) == len(plans) - 1


# ---- the local executor -------------------------------------------------------------------


def test_local_admits_gpu_units_together_and_cpu_units_alone():
    units = make_units(plan_jobs(_cases(n_gpus=2)), split_devices=True)
    cpu = next(u for u in units if u.kind == "cpu")
    gpu0 = next(u for u in units if u.device == "gpu:0")
    gpu1 = next(u for u in units if u.device == "gpu:1")
    gpu0_on = next(u for u in units if u.device == "gpu:0" and u is not gpu0)
    local, serial = LocalExecutor(), SerialExecutor()
    assert local.admit(gpu1, [gpu0]) and not local.admit(gpu0_on, [gpu0])
    assert not local.admit(cpu, [gpu0]) and not local.admit(gpu0, [cpu]) and local.admit(cpu, [])
    assert not serial.admit(gpu1, [gpu0])


def test_pin_value_follows_the_parents_cuda_visible_devices():
    assert pin_value("gpu:1", {}) == "1"
    assert pin_value("gpu:1", {"CUDA_VISIBLE_DEVICES": "2,3"}) == "3"
    assert pin_value("gpu:0", {"CUDA_VISIBLE_DEVICES": "GPU-abc, GPU-def"}) == "GPU-abc"
    assert pin_value("gpu:0", {"CUDA_VISIBLE_DEVICES": ""}) == "-1"  # hidden from the parent, hidden here
    assert pin_value("gpu:2", {"CUDA_VISIBLE_DEVICES": "0,1"}) == "-1"


def test_a_pinned_worker_sees_its_gpu_as_gpu0_and_refuses_another():
    assert gpu_index("gpu:3", {}) == 3
    assert gpu_index("gpu:3", {PINNED_GPU_ENV: "gpu:3"}) == 0
    with pytest.raises(UsageError, match="pinned to gpu:3"):
        gpu_index("gpu:1", {PINNED_GPU_ENV: "gpu:3"})
    assert gpu_index("gpu:1", {SIMULATED_GPUS_ENV: "2"}) is None


def test_simulated_gpus_run_on_the_cpu(monkeypatch):
    monkeypatch.setenv(SIMULATED_GPUS_ENV, "2")
    assert tf_device("gpu:1") == "/CPU:0"
    monkeypatch.delenv(SIMULATED_GPUS_ENV)
    monkeypatch.setenv(PINNED_GPU_ENV, "gpu:1")
    assert tf_device("gpu:1") == "/GPU:0"


# ---- options and command line -------------------------------------------------------------


def test_scale_out_options_are_saved_and_read_back_whole():
    options = make_options(executor="ray", shard="2/3", gpu_type="A100")
    again = RunOptions.from_dict(json.loads(json.dumps(options.to_dict())))
    assert again == options and again.shard == "2/3" and again.executor == "ray"
    assert (
        RunOptions.from_dict(
            {k: v for k, v in options.to_dict().items() if k not in ("executor", "shard", "gpu_type")}
        ).executor
        == "local"
    )


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"executor": "slurm"}, "unknown executor 'slurm'"),
        ({"gpu_type": "A100"}, "needs --executor ray"),
        ({"executor": "ray", "gpu_type": "a:b"}, "--gpu-type must be"),
        ({"shard": "3/2"}, "K must be from 1 to N"),
    ],
)
def test_bad_scale_out_options_are_refused(values, words):
    with pytest.raises(UsageError, match=words):
        make_options(**values)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "--shard", "0/2"], "--shard 0/2"),
        (["run", "--address", "1.2.3.4:6379"], "needs --executor ray"),
        (["run", "--executor", "ray", "--gpu-type", "x:y"], "--gpu-type must be"),
        (["merge", "nope"], "no run 'nope'"),
        (["fleet", "/nonexistent", "--out", "x"], "not a run folder or a results folder"),
    ],
)
def test_bad_scale_out_input_exits_2_with_one_line(argv, words, tmp_path, capsys):
    code = main([*argv, "--results-dir", str(tmp_path)] if argv[0] != "fleet" else argv)
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_executor_ray_without_ray_is_one_line(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(UsageError) as err:
        make_executor("ray")
    assert "pip install 'pairbench[ray]'" in str(err.value) and "\n" not in str(err.value)


def test_resume_refuses_a_new_executor_or_shard(tmp_path, capsys):
    for flag in (["--executor", "serial"], ["--shard", "1/2"]):
        assert main(["run", "--resume", "r", "--results-dir", str(tmp_path), *flag]) == 2
        assert "cannot be changed" in capsys.readouterr().err


# ---- the dispatcher, with scripted workers -------------------------------------------------


class ScriptedHandle:
    """A worker that plays a script in a thread: ``("msg", dict)``, ``("wait", barrier)``,
    ``("lost", why)``, ``("exit", code)``; then it ends."""

    def __init__(self, script: list[tuple[str, Any]], events: queue.Queue, log: Path):
        self.log_file = log
        self._code, self._lost = None, None
        threading.Thread(target=self._play, args=(script, events), daemon=True).start()

    def _play(self, script, events):
        for kind, value in script:
            if kind == "msg":
                events.put((self, value))
            elif kind == "wait":
                value.wait(timeout=10)
            elif kind == "lost":
                self._lost = value
            elif kind == "exit":
                self._code = value
        events.put((self, None))

    def ended(self):
        return self._code, self._lost

    def stop(self):
        pass

    def fatal_summary(self):
        return "RuntimeError: boom"


class ScriptedExecutor(SerialExecutor):
    """Serial or local admission; each start plays the next script for its unit."""

    def __init__(self, scripts, *, remote=False, local=False):
        self.scripts = scripts
        self.remote = remote
        self.local = local
        self.started: list[tuple[str, list[str]]] = []
        self.name = "local" if local else "serial"

    def units(self, plans):
        return make_units(plans, split_devices=self.local)

    def admit(self, unit, running):
        return LocalExecutor.admit(self, unit, running) if self.local else not running

    def start(self, run, unit, job, events):
        self.started.append((unit.name, [c.case_id for c in job.cases]))
        script = self.scripts(unit, job, len(self.started))
        return ScriptedHandle(script, events, run.path / "logs" / "x.log")


def _record_msg(case: Case) -> dict:
    return {"event": "record", "record": json.loads(make_record(case).to_json())}


def _ok(job) -> list:
    out = []
    for group in job.groups:
        out.append(("msg", {"event": "start", "case_ids": [c.case_id for c in group]}))
        out += [("msg", _record_msg(c)) for c in group]
    return [*out, ("exit", 0)]


def _dispatch(tmp_path, executor, cases, options=None) -> list:
    run = create_run(tmp_path / "results", "r")
    recorded = []
    dispatcher = Dispatcher(run, options or RunOptions(timeout_s=30.0), executor, recorded.append)
    dispatcher.run(executor.units(plan_jobs(cases, with_fp64=False)))
    return recorded


def _small(devices=("cpu",)) -> list[Case]:
    sel = Selection(
        pairs=("mlp_seed",),
        members=("sequential",),
        workloads=("predict",),
        modes=("eager", "function"),
        devices=devices,
        sizes=("tiny",),
    )
    return expand(sel, n_gpus=0)


def test_a_lost_worker_reruns_its_in_flight_case_once_and_never_records_twice(tmp_path):
    cases = _small()

    def script(unit, job, n):
        if n == 1:  # records the first case, then the node dies with the second in flight
            first, second = job.cases
            return [
                ("msg", {"event": "start", "case_ids": [first.case_id, second.case_id]}),
                ("msg", _record_msg(first)),
                ("msg", _record_msg(first)),  # a duplicate line: recorded once
                ("lost", "NodeDiedError: node 1 died"),
            ]
        return _ok(job)

    executor = ScriptedExecutor(script, remote=True)
    recorded = _dispatch(tmp_path, executor, cases)
    ids = [r.case_id for r in recorded]
    assert sorted(ids) == sorted(c.case_id for c in cases) and len(ids) == len(set(ids))
    assert all(r.verdict != "error" for r in recorded)
    assert executor.started[1][1] == [cases[1].case_id], "only the lost case runs again"
    assert recorded[1].extra["worker"]["attempt"] == 2


def test_a_case_lost_too_often_becomes_an_error_row(tmp_path):
    cases = _small()

    def script(unit, job, n):
        return [
            ("msg", {"event": "start", "case_ids": [c.case_id for c in job.cases]}),
            ("lost", "WorkerCrashedError: gone"),
        ]

    recorded = _dispatch(tmp_path, ScriptedExecutor(script, remote=True), cases)
    assert len(recorded) == len(cases) and {r.verdict for r in recorded} == {"error"}
    assert all(
        f"lost this case's worker {MAX_LOSSES} times" in r.reason and "WorkerCrashedError" in r.reason
        for r in recorded
    )


def test_a_crashed_worker_is_an_error_row_quoting_its_log_and_the_rest_runs(tmp_path):
    cases = _small()

    def script(unit, job, n):
        if n == 1:
            return [("msg", {"event": "start", "case_ids": [job.cases[0].case_id]}), ("exit", -9)]
        return _ok(job)

    recorded = _dispatch(tmp_path, ScriptedExecutor(script), cases)
    assert recorded[0].verdict == "error"
    assert "worker died (signal 9): RuntimeError: boom" in recorded[0].reason
    assert recorded[1].verdict == "identical" and len(recorded) == 2


def test_a_worker_that_runs_nothing_ends_its_unit(tmp_path):
    recorded = _dispatch(tmp_path, ScriptedExecutor(lambda u, j, n: [("exit", 0)]), _small())
    assert {r.reason for r in recorded} == {"worker exited without running this case"}


def test_records_say_where_they_ran_and_what_ran_alongside(tmp_path):
    cases = _small(devices=("cpu", "gpu:0", "gpu:1"))
    barrier = threading.Barrier(2)

    def script(unit, job, n):
        gpus = {unit.device: {"uuid": f"GPU-{unit.device}"}} if unit.kind == "gpu" else {}
        hello = {"event": "hello", "placement": {"hostname": "h", "gpus": gpus}}
        steps = _ok(job)
        if unit.kind == "gpu":  # both GPU workers have their group open before either records
            steps.insert(1, ("wait", barrier))
        return [("msg", hello), *steps]

    recorded = _dispatch(tmp_path, ScriptedExecutor(script, local=True), cases)
    by_id = {r.case_id: r for r in recorded}
    assert len(by_id) == len(cases) == len(recorded)
    for r in recorded:
        assert r.extra["executor"] == "local" and r.extra["worker"]["hostname"] == "h"
        if r.case.device == "cpu":
            assert r.extra["ran_alongside"] == [] and "gpu" not in r.extra
        else:
            other = "gpu:1" if r.case.device == "gpu:0" else "gpu:0"
            assert r.extra["gpu"] == {"uuid": f"GPU-{r.case.device}"}
            assert any(by_id[o].case.device == other for o in r.extra["ran_alongside"]), r.extra


def test_simulated_gpu_records_are_flagged(tmp_path):
    cases = _small(devices=("gpu:0",))

    def script(unit, job, n):
        return [("msg", {"event": "hello", "placement": {"simulated_gpus": True}}), *_ok(job)]

    recorded = _dispatch(tmp_path, ScriptedExecutor(script, local=True), cases)
    assert all("simulated-gpu" in r.flags and "not GPU measurements" in r.notes[-1] for r in recorded)


# ---- merge refusals (synthetic shard runs) ------------------------------------------------


ALL = standard_records()


def _shard(results: Path, run_id: str, k: int, n: int, records, **meta) -> RunDir:
    run = make_run(results, records, run_id=run_id)
    base = run.read_meta()
    digest = plan_digest([r.case for r in ALL])
    base.update(
        options=make_options(shard=f"{k}/{n}").to_dict(),
        shard={"index": k, "count": n, "plan_cases": len(ALL), "plan_sha256": digest},
        machine="m",
    )
    base.update(meta)
    run.write_meta(base)
    run.write_plan([r.case.to_dict() for r in records])
    return run


def test_merge_joins_shards_and_refuses_what_is_not_one_run(tmp_path):
    results = tmp_path / "results"
    records = standard_records()
    half = len(records) // 2
    _shard(results, "s1", 1, 2, records[:half])
    _shard(results, "s2", 2, 2, records[half:])
    merged = merge_runs(["s1", "s2"], results_dir=results, run_id="all")
    run = merged.run
    assert sorted(r.case_id for r in run.records()) == sorted(r.case_id for r in records)
    meta = run.read_meta()
    assert meta["status"] == "finished" and meta["options"]["shard"] is None
    assert [m["run_id"] for m in meta["merged_from"]] == ["s1", "s2"]

    _shard(results, "s1b", 1, 2, records[:1])
    with pytest.raises(UsageError, match="both shard 1/2"):
        merge_runs(["s1", "s1b"], results_dir=results)
    with pytest.raises(UsageError, match=r"shard\(s\) 2/2 missing"):
        merge_runs(["s1"], results_dir=results)
    _shard(
        results,
        "other-tf",
        2,
        2,
        records[half:],
        provenance=provenance(gpu_name=H100) | {"tensorflow": {"version": "2.20.0"}},
    )
    with pytest.raises(UsageError, match="differ in software: tensorflow"):
        merge_runs(["s1", "other-tf"], results_dir=results)
    _shard(results, "other-seed", 2, 2, records[half:], options=make_options(shard="2/2", seed=3).to_dict())
    with pytest.raises(UsageError, match="differ in settings: seed"):
        merge_runs(["s1", "other-seed"], results_dir=results)
    _shard(results, "overlap", 2, 2, records[half - 1 :])
    with pytest.raises(UsageError, match="the shards overlap"):
        merge_runs(["s1", "overlap"], results_dir=results)
    _shard(results, "stopped", 2, 2, records[half:], status="interrupted")
    with pytest.raises(UsageError, match="has not finished"):
        merge_runs(["s1", "stopped"], results_dir=results)
    partial = merge_runs(["s1"], results_dir=results, partial=True)
    assert partial.run.read_meta()["merge"]["missing_shards"] == [2]
    plain = make_run(results, records[:2], run_id="plain")
    with pytest.raises(UsageError, match="not a shard"):
        merge_runs(["s1", plain.run_id], results_dir=results)


# ---- the fleet report ----------------------------------------------------------------------


def test_fleet_report_groups_two_machines_and_refuses_one_name_twice(tmp_path):
    from suite.ops.fleet import find_sources, write_fleet_report

    records = standard_records()
    runs = []
    for machine, gpu in (("h100-a", H100), ("a100-b", "NVIDIA A100-SXM4-80GB")):
        folder = tmp_path / machine
        run = make_run(folder, [replace(r, reason=r.reason) for r in records], prov=provenance(gpu_name=gpu))
        run.write_meta({**run.read_meta(), "machine": machine})
        runs.append(folder)
    sources = find_sources(runs)
    assert [s.machine for s in sources] == ["h100-a", "a100-b"]
    written = write_fleet_report(sources, tmp_path / "fleet", group_by="device")
    import pandas as pd

    table = pd.read_csv(written["table.csv"])
    assert sorted(table["machine"].unique()) == ["a100-b", "h100-a"] and len(table) == 2 * len(records)
    assert list(table["machine"]) == sorted(table["machine"]), "rows are grouped by machine first"
    md = written["report.md"].read_text()
    assert "machine = h100-a" in md and "machine = a100-b" in md and "A100-SXM4" in md
    with pytest.raises(UsageError, match="both come from machine 'h100-a'"):
        find_sources([runs[0], runs[0] / next(p.name for p in runs[0].iterdir())])
