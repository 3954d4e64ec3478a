"""``compare``: matching, significance, divergence changes, --fail-on and machine checks."""

from __future__ import annotations

import dataclasses
import json

import pytest
from fake_runs import (
    NONDET_CASE_ID,
    case,
    make_record,
    make_run,
    metrics,
    nondeterministic,
    provenance,
    slowed,
    standard_records,
    timing,
)

from suite.cli import main
from suite.compare.deltas import divergence_changes, speed_significant
from suite.compare.fail_on import FailOn, parse_fail_on
from suite.compare.runs import compare_records, compare_runs
from suite.errors import UsageError

SLOW_ID = "mlp.sequential.predict.eager.gpu0.float32.det-off.tiny"
FLIP_ID = "mlp.raw.predict.xla.gpu0.float32.det-off.tiny"
GATE = "speed:1.10,divergence:any"


def _cli(results, *args):
    return main(["compare", *map(str, args), "--results-dir", str(results)])


def _regressed():
    """Standard records with one case 1.5x slower and one newly nondeterministic."""
    out = []
    for r in standard_records():
        if r.case_id == SLOW_ID:
            r = slowed(r, 1.5)
        elif r.case_id == FLIP_ID:
            r = nondeterministic(r)
        out.append(r)
    return out


def _scaled_exactly(rec, factor):
    t = dict(rec.timing)
    if not t:
        return rec
    for key in ("step_s_median", "step_s_p10", "step_s_p90", "step_s_iqr"):
        t[key] *= factor
    t["step_s"] = [s * factor for s in t["step_s"]]
    t["samples_per_s"] /= factor
    return dataclasses.replace(rec, timing=t)


def test_identical_runs_pass_the_gate(tmp_path, capsys):
    make_run(tmp_path, standard_records(), run_id="a")
    make_run(tmp_path, standard_records(), run_id="b")
    assert _cli(tmp_path, "a", "b", "--fail-on", GATE) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "geometric mean" in captured.out and "same" in captured.out
    assert "hidden; --all shows them" in captured.out


def test_slower_and_nondeterministic_cases_fail_the_gate(tmp_path, capsys):
    make_run(tmp_path, standard_records(), run_id="a")
    make_run(tmp_path, _regressed(), run_id="b")
    assert _cli(tmp_path, "a", "b", "--fail-on", GATE) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    slow = next(line for line in lines if SLOW_ID in line)
    flip = next(line for line in lines if FLIP_ID in line)
    assert "x slower (significant: p=" in slow and "threshold 1.1)" in slow
    assert "became nondeterministic (rerun distinct 1 -> 3)" in flip
    # each threshold on its own
    assert _cli(tmp_path, "a", "b", "--fail-on", "speed:2.0") == 0
    assert _cli(tmp_path, "a", "b", "--fail-on", "divergence:verdict") == 1
    assert _cli(tmp_path, "a", "b") == 0  # no --fail-on: report only


def test_compare_api_for_nightly(tmp_path):
    a = make_run(tmp_path, standard_records(), run_id="a")
    b = make_run(tmp_path, _regressed(), run_id="b")
    comp = compare_runs(a, b)
    failures = comp.failures("speed:1.10,divergence:any")
    assert [f.split(":")[0] for f in failures] == sorted([FLIP_ID, SLOW_ID])
    assert comp.failures(None) == []
    delta = {c.case_id: c for c in comp.cases}[SLOW_ID]
    assert delta.significant and 1.3 < delta.ratio < 1.7 and delta.speed_text.endswith("x slower")


def test_geometric_mean_of_exact_slowdown():
    a = standard_records()
    comp = compare_records(a, [_scaled_exactly(r, 1.25) for r in a])
    assert comp.geomean_ratio == pytest.approx(1.25, rel=1e-9)
    timed = [c for c in comp.cases if c.ratio is not None]
    assert len(timed) == sum(bool(r.timing) for r in a)
    assert all(c.significant for c in timed)  # 25% with 2% noise: p10–p90 ranges apart


def test_significance_rule():
    base = {"step_s": [1.00, 1.01, 0.99, 1.02, 0.98]}
    assert speed_significant(base, {"step_s": [1.20, 1.21, 1.19, 1.22, 1.18]})
    assert not speed_significant(base, {"step_s": [1.01, 1.03, 0.97, 1.02, 1.00]})  # overlap
    assert not speed_significant({"step_s": [1.0, 1.0]}, {"step_s": [2.0, 2.0]})  # too few repeats


def test_too_few_repeats_never_fail_on_speed(tmp_path):
    c = case()
    a = make_record(c)
    few = dataclasses.replace(a, timing=timing(0.004, repeats=2))
    comp = compare_records([dataclasses.replace(a, timing=timing(0.002, repeats=2))], [few])
    assert comp.cases[0].ratio > 1.5 and not comp.cases[0].significant
    assert comp.failures("speed:1.1") == []


def test_too_few_repeats_are_never_called_significant_and_the_comparison_says_so(tmp_path, capsys):
    """A case timed 3 times, 1.5x slower than 10 repeats of it: never a speed failure, shown as
    untested, and the comparison says why (``compare --all``, as a user reads it)."""
    c = case()
    base = make_record(c)
    make_run(tmp_path, [dataclasses.replace(base, timing=timing(0.02, repeats=10))], run_id="base")
    make_run(tmp_path, [dataclasses.replace(base, timing=timing(0.03, repeats=3, seed=1))], run_id="few")
    assert _cli(tmp_path, "base", "few", "--fail-on", "speed:1.10", "--all") == 0
    out = capsys.readouterr().out
    assert "untested (3 repeats)" in out
    assert "not tested for speed: as few as 3 repeat(s) per run" in " ".join(out.split())


def test_ulp_growth_thresholds():
    c = case(mode="xla")
    div = {"vs_eager": metrics(4.8e-7, 4), "rerun": {"runs": 3, "distinct": 1, "max_abs": 0.0, "max_ulp": 0}}
    a = make_record(c, "close", divergence=div)
    b = make_record(c, "close", divergence={**div, "vs_eager": metrics(4.8e-6, 40)})
    (change,) = divergence_changes(a, b)
    assert change.kind == "ulp" and change.factor == pytest.approx(10)
    comp = compare_records([a], [b])
    assert len(comp.failures("divergence:ulp:8")) == 1
    assert comp.failures("divergence:ulp:16") == []
    assert comp.failures("divergence:verdict") == []
    assert len(comp.failures("divergence:any")) == 1
    # 0 -> n is infinite growth; a nondeterministic case's magnitudes are not compared
    zero = make_record(c, "close", divergence={**div, "vs_eager": metrics(0.0)})
    (from_zero,) = divergence_changes(zero, a)
    assert from_zero.factor == float("inf") and "from 0" in from_zero.text
    assert divergence_changes(nondeterministic(a), nondeterministic(b)) == []


def test_worse_verdict_and_better_verdict():
    c = case()
    ok = make_record(c, "identical")
    broken = make_record(c, "error", reason="OOM", base_step_s=None)
    (change,) = divergence_changes(ok, broken)
    assert change.kind == "verdict" and "identical -> error" in change.text
    assert divergence_changes(broken, ok) == []
    comp = compare_records([ok], [broken])
    assert comp.cases[0].ratio is None and comp.cases[0].speed_text == "no timing in b"
    assert len(comp.failures("divergence:verdict")) == 1


def test_cases_only_in_one_run_are_listed(tmp_path, capsys):
    recs = standard_records()
    make_run(tmp_path, recs[:-1], run_id="a")
    make_run(tmp_path, recs[1:], run_id="b")
    assert _cli(tmp_path, "a", "b", "--json", "--fail-on", GATE) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["only_a"] == [recs[0].case_id] and data["only_b"] == [recs[-1].case_id]
    assert data["failures"] == [] and data["geomean_ratio"] == pytest.approx(1.0)
    assert len(data["cases"]) == len(recs) - 2
    assert _cli(tmp_path, "a", "b", "--all") == 0
    out = capsys.readouterr().out
    assert f"only in a: {recs[0].case_id}" in out and f"only in b: {recs[-1].case_id}" in out
    assert NONDET_CASE_ID in out  # --all shows unchanged cases too


@pytest.mark.parametrize(
    "prov_b, what",
    [
        (provenance(driver_version="535.104.05"), "driver 550.54.15 vs 535.104.05"),
        (provenance(gpu_name="NVIDIA A100-SXM4-40GB"), "NVIDIA A100-SXM4-40GB"),
        (provenance(n_gpus=2), "GPUs"),
    ],
)
def test_different_machines_are_refused_unless_forced(tmp_path, capsys, prov_b, what):
    make_run(tmp_path, standard_records(), run_id="a")
    make_run(tmp_path, standard_records(), run_id="b", prov=prov_b)
    assert _cli(tmp_path, "a", "b", "--fail-on", GATE) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and what in err and "--force" in err
    assert _cli(tmp_path, "a", "b", "--fail-on", GATE, "--force") == 0
    assert "compared with --force" in capsys.readouterr().out


@pytest.mark.parametrize(
    "text",
    [
        "",
        "speed",
        "speed:",
        "speed:abc",
        "speed:0.9",
        "speed:nan",
        "speed:1.1,speed:1.2",
        "divergence",
        "divergence:some",
        "divergence:ulp:",
        "divergence:ulp:0.5",
        "latency:1.1",
        "speed:1.1;divergence:any",
    ],
)
def test_malformed_fail_on_is_a_usage_error(tmp_path, capsys, text):
    with pytest.raises(UsageError):
        parse_fail_on(text)
    make_run(tmp_path, standard_records(), run_id="a")
    assert _cli(tmp_path, "a", "a", "--fail-on", text) == 2
    assert capsys.readouterr().err.startswith("pairbench: error: --fail-on")


def test_fail_on_grammar():
    assert parse_fail_on("speed:1.10,divergence:any") == FailOn(1.10, frozenset({"any"}))
    assert parse_fail_on(" divergence:verdict , divergence:ulp:4 ") == FailOn(
        None, frozenset({"verdict", "ulp"}), 4.0
    )
