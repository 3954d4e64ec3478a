"""Timing you can quote (issue 17): calibrated samples, warm-up until stable, the garbage
collector outside timed regions, outputs independent of the calibration, thread settings
applied and recorded, ``pairbench overhead`` through the run code path (the machine's settings:
``tests/machine/test_timing_settings.py``; compare refusing different settings:
``tests/compare/test_comparability.py``). Mechanisms only: no test asserts a timing.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ROOT, only_run, pairbench, read_records

from suite.case import Case
from suite.cli import main
from suite.errors import UsageError
from suite.machine import timing_settings
from suite.measure import execution
from suite.measure.calibration import calibrate, timing_record
from suite.measure.execution import Prepared
from suite.measure.timing import (
    WARMUP_WINDOW,
    SamplingPlan,
    first_sample_ratios,
    is_stable,
    position_shares,
    step_stats,
    units_for,
)
from suite.measure.timing_loop import alternate
from suite.run.options import RunOptions, make_options

CASE = Case("mlp_seed", "sequential", "train_step", "xla", "cpu", "float32", "off", "tiny")


# ---- a fake case on a fake clock: the calibration logic without TensorFlow ------------------


class FakeClock:
    """``perf_counter`` that only moves when a unit runs."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


class FakeCase:
    """A case whose n-th unit costs ``cost(n)`` seconds and whose state is a step counter."""

    def __init__(self, clock: FakeClock, cost, steps: int = 3) -> None:
        self.clock, self.cost, self.calls, self.state = clock, cost, 0, 0
        self.gc_in_units: list[bool] = []
        self.prepared = Prepared(
            case=CASE,
            model=None,
            reference_model=None,
            x=None,
            y=None,
            batch_size=4,
            steps=steps,
            unit=self.unit,
            restore=self.restore,
            collect=lambda results: {"state": np.asarray([self.state]), "losses": np.asarray(results)},
        )

    def unit(self) -> int:
        self.clock.now += self.cost(self.calls)
        self.calls += 1
        self.state += 1
        self.gc_in_units.append(gc.isenabled())
        return self.state

    def restore(self) -> None:
        self.state = 0


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(execution, "time", SimpleNamespace(perf_counter=fake.perf_counter))
    monkeypatch.setattr(execution, "sync_device", lambda: None)
    monkeypatch.setattr(execution, "_device", lambda case: contextlib.nullcontext())
    # a full collection before each sample walks this test process's whole heap (TensorFlow and
    # every earlier test's objects: tens of ms each, seconds per test); that the collector runs
    # there is checked in test_gc_is_paused_in_timed_samples_only_and_collected_before_each
    monkeypatch.setattr(gc, "collect", lambda *a: 0)
    return fake


def test_units_per_sample_are_calibrated_to_the_minimum_sample_time(clock):
    fake = FakeCase(clock, lambda n: 0.001)
    cal = calibrate(fake.prepared, SamplingPlan(min_sample_s=0.02, max_warmup_s=5.0))
    assert cal.units_per_sample == 20  # 20 x 1 ms = the 20 ms asked for
    assert cal.warmup_stable
    assert cal.warmup_samples == 5  # 1 unit, 10 (x10 growth at most), 20, 20, 20: no faster
    assert fake.prepared.units_per_sample == 20
    result = fake.prepared.repeat()
    assert result.units == 20 and result.seconds == pytest.approx(0.020)


def test_warmup_goes_on_while_the_case_gets_faster(clock):
    fake = FakeCase(clock, lambda n: 0.001 * (1 + 4 * math.exp(-n / 40)))  # 5x slower at first
    cal = calibrate(fake.prepared, SamplingPlan(min_sample_s=0.02, max_warmup_s=5.0))
    assert cal.warmup_stable
    assert fake.calls > 150  # before that, three samples in a row differ by more than 5%
    assert cal.warmup_step_s[-1] < 0.001 * 1.05  # it stopped close to the steady state
    assert cal.units_per_sample == 20


def test_warmup_stops_at_the_stated_maximum_when_never_stable(clock):
    fake = FakeCase(clock, lambda n: 0.002 * 0.995**n)  # ~10% faster every sample, for ever
    cal = calibrate(fake.prepared, SamplingPlan(min_sample_s=0.02, max_warmup_s=0.3))
    assert not cal.warmup_stable
    assert 0.3 <= cal.warmup_s <= 2 * 0.3 + 10 * 0.02  # past the maximum only to finish calibrating


def test_zero_warmup_only_calibrates(clock):
    fake = FakeCase(clock, lambda n: 0.004)
    cal = calibrate(fake.prepared, SamplingPlan(min_sample_s=0.02, max_warmup_s=0.0))
    assert cal.warmup_samples == 2 and cal.units_per_sample == 5  # 1 unit, then the 5 it asked for
    assert not cal.warmup_stable


def test_a_descheduled_first_sample_does_not_shrink_the_samples(clock):
    fake = FakeCase(clock, lambda n: 0.5 if n == 0 else 0.001)  # the first unit waited 0.5 s
    cal = calibrate(fake.prepared, SamplingPlan(min_sample_s=0.02, max_warmup_s=0.3))
    assert cal.units_per_sample == 20  # sized from the fastest unit seen, not from the hiccup


def test_gc_is_paused_in_timed_samples_only_and_collected_before_each(clock, monkeypatch):
    collections = []
    monkeypatch.setattr(gc, "collect", lambda *a: collections.append(gc.isenabled()) or 0)
    fake = FakeCase(clock, lambda n: 0.001, steps=3)
    assert gc.isenabled()
    fake.prepared.repeat(units=5)
    assert fake.gc_in_units == [True] * 3 + [False] * 5  # output window: on; timed sample: off
    assert collections == [True]  # one collection, before the timed region
    assert gc.isenabled()  # restored afterwards


def test_outputs_come_from_the_output_window_whatever_the_sample_length(clock):
    fake = FakeCase(clock, lambda n: 0.001, steps=3)
    short, long = fake.prepared.repeat(units=1), fake.prepared.repeat(units=50)
    assert short.units == 1 and long.units == 50
    for key in ("state", "losses"):
        np.testing.assert_array_equal(short.outputs[key], long.outputs[key])
    assert short.outputs["state"].tolist() == [3]  # restored, then the 3 window steps


def test_alternate_calibrates_every_case_then_interleaves_repeats(clock):
    order = []
    cases = {}
    for mode in ("eager", "function", "xla"):
        fake = FakeCase(clock, lambda n: 0.001)
        fake.prepared.case = CASE.with_(mode=mode)
        original = fake.prepared.restore
        fake.prepared.restore = lambda m=mode, r=original: (order.append(m), r())[1]
        cases[fake.prepared.case] = fake.prepared
    results, failed = alternate(cases, 2, SamplingPlan(min_sample_s=0.02, max_warmup_s=1.0))
    assert not failed
    assert order == ["eager", "function", "xla"] * 2  # repeat by repeat, in group order
    assert all(p.calibration is not None for p in cases.values())
    assert {r.units for rs in results.values() for r in rs} == {20}


def test_timing_stats_record_the_calibration_and_thread_settings(clock, monkeypatch):
    monkeypatch.setattr(
        timing_settings,
        "thread_settings",
        lambda: {"intra_op_threads": 1, "inter_op_threads": 2, "cpu_affinity": "0"},
    )
    fake = FakeCase(clock, lambda n: 0.001, steps=3)
    calibrate(fake.prepared, SamplingPlan(min_sample_s=0.02, max_warmup_s=1.0))
    stats = timing_record(fake.prepared, [fake.prepared.repeat() for _ in range(3)])
    assert stats["steps_per_repeat"] == 20 and stats["units_per_sample"] == 20
    assert stats["output_steps"] == 3 and stats["repeats"] == 3
    assert stats["warmup_stable"] is True and stats["warmup_samples"] >= WARMUP_WINDOW
    assert stats["min_sample_s"] == 0.02 and "paused" in stats["gc"]
    assert (stats["intra_op_threads"], stats["inter_op_threads"], stats["cpu_affinity"]) == (1, 2, "0")
    json.dumps(stats)


def test_pure_helpers():
    assert units_for(0.001, 0.02) == 20 and units_for(0.5, 0.02) == 1
    assert units_for(float("nan"), 0.02) == 1
    assert not is_stable([1.0, 1.0, 1.0]) and is_stable([2.0, 1.0, 1.02, 1.04, 1.01])
    assert not is_stable([2.0, 1.0, 1.02, 1.04])  # faster than everything before it
    assert is_stable([1.0, 1.3, 0.97, 1.5])  # noise only adds time: the minimum did not move
    assert not is_stable([1.0, 1.0, 0.9, 1.0])  # still getting faster
    assert first_sample_ratios([[3.0, 1.0, 1.0], [1.0], [1.0, 2.0, 2.0]]) == [3.0, 0.5]
    # medians 1, 2, 1: positions 0 and 2 are over 1.1x once each, position 1 never
    lists = [[3.0, 1.0, 1.0, 9.0], [1.0], [2.0, 2.0, 2.0], [1.0, 1.0, 1.2]]
    assert position_shares(lists) == pytest.approx([2 / 3, 1.0, 2 / 3])
    assert position_shares([[1.0]]) == []
    stats = step_stats([0.2, 0.4], units=10, steps_per_unit=2, batch=8, compile_s=1.0, output_steps=3)
    assert stats["step_s"] == pytest.approx([0.01, 0.02]) and stats["steps_per_repeat"] == 20
    assert stats["output_steps"] == 3


# ---- options ---------------------------------------------------------------------------------


def test_timing_options_are_validated_and_saved_whole():
    options = make_options(
        intra_op_threads=1, inter_op_threads=2, min_sample_s=0.1, max_warmup_s=0.0, preset="quick"
    )
    assert RunOptions.from_dict(json.loads(json.dumps(options.to_dict()))) == options
    assert options.sampling_plan() == SamplingPlan(min_sample_s=0.1, max_warmup_s=0.0)
    assert make_options(preset="quick").min_sample_s < RunOptions().min_sample_s
    for bad in (
        {"intra_op_threads": 0},
        {"inter_op_threads": True},
        {"min_sample_s": 0.0},
        {"min_sample_s": float("inf")},
        {"max_warmup_s": -1.0},
    ):
        with pytest.raises(UsageError):
            make_options(**bad)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--intra-op-threads", "0"), ("--min-sample-time", "nan"), ("--max-warmup", "-1")],
)
def test_bad_timing_flags_exit_2_with_one_line(capsys, tmp_path, flag, value):
    assert main(["run", flag, value, "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err
    assert not any(tmp_path.iterdir())


def test_resume_refuses_other_thread_settings(capsys, tmp_path):
    assert main(["run", "--resume", "x", "--intra-op-threads", "2", "--results-dir", str(tmp_path)]) == 2
    assert "--intra-op-threads cannot be changed" in capsys.readouterr().err


# ---- the independent hand loop shares no timing code with pairbench ----------------------------


def test_hand_loop_imports_no_pairbench_timing_code():
    from suite_imports import import_graph

    graph = import_graph()
    seen, todo = set(), ["suite.measure.hand_loop"]
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo += graph.get(mod, ())
    forbidden = {
        "suite.measure.execution",
        "suite.measure.calibration",
        "suite.measure.timing",
        "suite.machine.gc_control",
        "suite.measure.overhead",
    }
    assert not {m for m in seen if m in forbidden or m.startswith("suite.run")}


# ---- real TensorFlow, real runs (slow) ---------------------------------------------------------


@pytest.mark.slow
def test_real_case_outputs_do_not_depend_on_the_sample_length():
    """A repeat of k calibrated steps compares the same outputs as one of any other length."""
    code = (
        "import json, numpy as np\n"
        "from suite.case import Case\n"
        "from suite.measure.execution import prepare_case\n"
        "from suite.measure.process import configure_process\n"
        "from suite.measure.timing import SamplingPlan\n"
        "from suite.measure.calibration import calibrate\n"
        "configure_process('float32', 'off')\n"
        "p = prepare_case(Case('mlp_seed','raw','train_step','xla','cpu','float32','off','tiny'))\n"
        "calibrate(p, SamplingPlan(0.005, 0.2))\n"
        "a, b, c = p.repeat(units=1), p.repeat(units=17), p.repeat()\n"
        "same = all(np.array_equal(a.outputs[k], x.outputs[k]) for x in (b, c) for k in a.outputs)\n"
        "print(json.dumps([same, sorted(a.outputs), c.units, p.calibration.units_per_sample]))\n"
    )
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    same, keys, units, calibrated = json.loads(proc.stdout.strip().splitlines()[-1])
    assert same and "loss" in keys and any(k.startswith("weights/") for k in keys)
    assert units == calibrated


@pytest.mark.slow
def test_thread_settings_are_applied_in_the_worker_and_recorded(tmp_path):
    proc = pairbench(
        "run", "--pairs", "mlp_seed", "--members", "sequential", "--workloads", "predict",
        "--modes", "eager,xla", "--sizes", "tiny", "--no-fp64", "--no-report", "--repeats", "2",
        "--intra-op-threads", "1", "--inter-op-threads", "2", "--min-sample-time", "0.005",
        "--max-warmup", "0.2", "--results-dir", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = only_run(tmp_path)
    meta = json.loads((run / "run.json").read_text())
    assert meta["options"]["intra_op_threads"] == 1 and meta["options"]["inter_op_threads"] == 2
    assert set(meta["provenance"]["timing"]) >= {"cpu_affinity", "cpu_governor", "gpu_clocks"}
    records = read_records(run)
    assert len(records) == 2
    for rec in records.values():
        t = rec["timing"]
        assert (t["intra_op_threads"], t["inter_op_threads"]) == (1, 2)  # read back from TensorFlow
        assert t["steps_per_repeat"] == t["units_per_sample"] >= 1 and t["output_steps"] == 10
        assert t["repeats"] == len(t["step_s"]) == 2 and t["warmup_samples"] >= 1
        assert rec["divergence"]["rerun"]["runs"] == 2


@pytest.mark.slow
def test_overhead_measures_a_real_run_and_a_separate_hand_loop(tmp_path):
    from suite.measure.overhead import hand_round, pairbench_round

    ours = pairbench_round(
        ["mlp_seed"], ["predict"], ["xla"], device="cpu", size="tiny", repeats=3,
        results_dir=tmp_path, run_id="check", extra=("--min-sample-time", "0.005", "--max-warmup", "0.2"),
    )  # fmt: skip
    run = tmp_path / "check-sequential"
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "finished" and meta["argv"][1] == "run"  # a real `pairbench run`
    (rec,) = read_records(run).values()
    assert ours == {("mlp_seed", "predict", "xla"): rec["timing"]["step_s_median"]}
    assert rec["timing"]["repeats"] == 3 and "units_per_sample" in rec["timing"]
    theirs = hand_round(["mlp_seed"], ["predict"], ["xla"], device="cpu", size="tiny")
    assert set(theirs) == {("mlp_seed", "predict", "xla")} and theirs[("mlp_seed", "predict", "xla")] > 0
