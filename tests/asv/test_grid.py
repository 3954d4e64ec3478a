"""asv integration: the grid, static skips, discovery without TensorFlow, values, and a smoke run.

The smoke run is the CI path that needs no environment build: ``asv check`` and a quick dry
``asv run`` against the current interpreter (``-E existing:<python>``) on a tiny subset.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from suite import BENCHMARK_VERSION
from suite.asv import grid as asv_support
from suite.errors import CaseUnsupported, UsageError
from suite.zoo import registered

ROOT = Path(__file__).resolve().parents[2]


def _case(member="subclass", mode="eager", device="cpu", workload="predict", pair="mlp_seed"):
    return asv_support.case_for(pair, member, workload, mode, device, "tiny")


def test_full_grid_comes_from_the_registry():
    grid = asv_support.grid({"PAIRBENCH_ASV_GRID": "full"})
    registry = registered()
    assert grid.full and grid.pairs == list(registry)
    every_member = {m for cls in registry.values() for m in cls().members()}
    assert set(grid.members) == every_member and len(grid.members) == len(every_member)
    assert grid.members[:2] == ["sequential", "functional"]
    assert grid.devices == ["cpu", "gpu:0"]
    assert grid.modes == ["eager", "function", "xla"]
    assert grid.workloads == ["predict", "train_step"]
    assert grid.size == "default"


def test_default_grid_is_one_member_and_the_train_step_divergence():
    """The default grid is small enough for a 2-core CPU (issue 17); ``full`` is one switch away."""
    grid = asv_support.grid({})
    assert not grid.full and grid.pairs == list(registered())
    assert grid.members == list(asv_support.DEFAULT_MEMBERS) == ["subclass"]
    members = {p: registered()[p]().members() for p in grid.pairs}
    without = {p: m for p, m in members.items() if "subclass" not in m}
    assert not without, without
    assert grid.modes == ["eager", "function", "xla"] and grid.devices == ["cpu", "gpu:0"]
    assert grid.workloads == ["train_step"]
    with pytest.raises(UsageError, match="PAIRBENCH_ASV_GRID='huge'"):
        asv_support.grid({"PAIRBENCH_ASV_GRID": "huge"})


def test_grid_is_shrunk_by_the_environment():
    grid = asv_support.grid(
        {
            "PAIRBENCH_ASV_PAIRS": "transformer, mlp_seed",
            "PAIRBENCH_ASV_SIZE": "tiny",
            "PAIRBENCH_ASV_GRID": "full",
        }
    )
    assert grid.pairs == ["transformer", "mlp_seed"]
    expected = set(registered()["transformer"]().members()) | set(registered()["mlp_seed"]().members())
    assert set(grid.members) == expected
    assert grid.size == "tiny"
    assert grid.devices == ["cpu", "gpu:0"]  # never shrunk: the grid is the same on every machine


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PAIRBENCH_ASV_SIZE": "large"}, "PAIRBENCH_ASV_SIZE='large'"),
        ({"PAIRBENCH_ASV_PAIRS": "mlp,nosuch"}, "'nosuch'"),
    ],
)
def test_bad_environment_is_a_usage_error(environ, message):
    with pytest.raises(UsageError, match=message):
        asv_support.grid(environ)


@pytest.mark.parametrize(
    ("case", "kind", "reason"),
    [
        (_case(member="generic"), "time", "has no member 'generic'"),
        (_case(member="faulty"), "time", "control member"),
        (_case(member="faulty"), "rerun", "control member"),
        (_case(member="sequential"), "vs_pair", "reference member"),
        (_case(mode="eager"), "vs_eager", "reference mode"),
        (_case(device="cpu"), "device_memory", "no peak memory on cpu"),
    ],
)
def test_static_skips_name_their_reason(case, kind, reason):
    with pytest.raises(CaseUnsupported, match=reason):
        asv_support.check_static(case, kind)


def test_static_checks_let_runnable_cases_through():
    asv_support.check_static(_case(member="faulty"), "vs_pair")  # the detector's control
    asv_support.check_static(_case(mode="xla"), "vs_eager")
    asv_support.check_static(_case(), "time")
    with pytest.raises(ValueError, match="unknown benchmark kind"):
        asv_support.check_static(_case(), "speed")


def test_gpu_cases_skip_without_device_files_and_pass_with_them(tmp_path, monkeypatch):
    monkeypatch.setattr(asv_support, "GPU_DEVICE_GLOBS", (str(tmp_path / "nvidia[0-9]*"),))
    with pytest.raises(CaseUnsupported, match="no gpu:0: no GPU device files"):
        asv_support.check_static(_case(device="gpu:0"), "device_memory")
    (tmp_path / "nvidia0").touch()
    asv_support.check_static(_case(device="gpu:0"), "device_memory")  # TensorFlow decides later


def test_track_value_is_a_plain_float_and_refuses_missing_numbers():
    value = asv_support.track_value({"max_ulp": 3}, "max_ulp")
    assert value == 3.0 and type(value) is float
    assert asv_support.track_value({"max_abs": math.inf}, "max_abs") == math.inf
    with pytest.raises(ValueError, match="no value"):
        asv_support.track_value({"max_abs": None}, "max_abs")
    with pytest.raises(KeyError):
        asv_support.track_value({}, "max_abs")


_DISCOVER = """
import json, sys
from asv_runner.discovery import disc_benchmarks
found = {b.name: {"version": b.version, "unit": b.unit, "params": b.params, "type": b.type}
         for b in disc_benchmarks(sys.argv[1]) if b.name.startswith("bench_pairs.")}
print(json.dumps({"benchmarks": found, "tensorflow": "tensorflow" in sys.modules}))
"""


def _discover(grid: str) -> dict:
    env = dict(
        os.environ, PAIRBENCH_ASV_PAIRS="mlp_seed,lstm", PAIRBENCH_ASV_SIZE="tiny", PAIRBENCH_ASV_GRID=grid
    )
    out = subprocess.run(
        [sys.executable, "-c", _DISCOVER, str(ROOT / "benchmarks")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


_UNITS = {
    "bench_pairs.Predict.time_predict": "seconds",
    "bench_pairs.Predict.peakmem_predict": "bytes",
    "bench_pairs.Predict.track_compile_s": "seconds",
    "bench_pairs.TrainStep.time_train_step": "seconds",
    "bench_pairs.TrainStep.peakmem_train_step": "bytes",
    "bench_pairs.TrainStep.track_compile_s": "seconds",
    "bench_pairs.DeviceMemory.track_peak_device_mem": "bytes",
    "bench_pairs.Divergence.track_vs_pair_max_abs": "abs",
    "bench_pairs.Divergence.track_vs_pair_max_ulp": "ULP",
    "bench_pairs.Divergence.track_vs_eager_max_ulp": "ULP",
    "bench_pairs.Divergence.track_rerun_max_abs": "abs",
}


def test_discovery_is_fast_and_sees_the_benchmarks():
    """asv's own discovery, in a fresh interpreter: no TensorFlow import, versions, units, params."""
    data = _discover("full")
    assert data["tensorflow"] is False
    found = data["benchmarks"]
    assert {name: b["unit"] for name, b in found.items()} == _UNITS
    assert {b["version"] for b in found.values()} == {BENCHMARK_VERSION}
    members = ["'sequential'", "'functional'", "'subclass'", "'raw'", "'faulty'", "'generic'"]
    assert found["bench_pairs.Predict.time_predict"]["params"] == [
        ["'mlp_seed'", "'lstm'"],
        members,
        ["'eager'", "'function'", "'xla'"],
        ["'cpu'", "'gpu:0'"],
        ["'tiny'"],
    ]
    assert found["bench_pairs.Divergence.track_rerun_max_abs"]["params"][4] == ["'predict'", "'train_step'"]


def test_default_grid_discovery_has_one_member_and_fewer_benchmarks():
    data = _discover("default")
    assert data["tensorflow"] is False
    found = data["benchmarks"]
    full_only = (".peakmem_", ".track_compile_s", ".track_vs_pair_max_abs")
    assert {name: b["unit"] for name, b in found.items()} == {
        name: unit for name, unit in _UNITS.items() if not any(part in name for part in full_only)
    }
    assert found["bench_pairs.Predict.time_predict"]["params"][1] == ["'subclass'"]
    assert found["bench_pairs.Divergence.track_rerun_max_abs"]["params"][4] == ["'train_step'"]


@pytest.mark.slow
def test_values_and_cache_in_process():
    """The numbers behind the track benchmarks, on CPU where ground truth is known (DESIGN.md)."""
    asv_support.clear_cache()
    case = _case()
    first = asv_support.prepared(case)
    assert asv_support.prepared(case) is first  # cached: asv's per-sample setup is a lookup
    assert asv_support.compile_seconds(case) > 0
    vs_pair = asv_support.vs_pair(case)
    assert vs_pair["bitwise_equal"] and asv_support.track_value(vs_pair, "max_abs") == 0.0
    rerun = asv_support.rerun(case)
    assert rerun["runs"] == asv_support.RERUNS and rerun["max_abs"] == 0.0  # CPU is deterministic
    vs_eager = asv_support.vs_eager(case.with_(mode="function"))
    assert vs_eager["n_elements"] > 0 and 0.0 <= asv_support.track_value(vs_eager, "max_ulp") < 1e4
    train = asv_support.vs_pair(case.with_(workload="train_step", member="raw"))
    hp = registered()["mlp_seed"]().hparams("tiny")
    n_weights = (hp["features"] + 1) * hp["hidden"] + (hp["hidden"] + 1) * hp["classes"]
    assert train["n_elements"] == n_weights + registered()["mlp_seed"].train_steps  # weights + losses
    with pytest.raises(CaseUnsupported, match="reference member"):
        asv_support.vs_pair(case.with_(member="sequential"))
    with pytest.raises(CaseUnsupported, match="no peak memory on cpu"):
        asv_support.peak_device_bytes(case)
    faulty = case.with_(member="faulty")
    with pytest.raises(CaseUnsupported, match="structural mismatch: no bias") as first_error:
        asv_support.prepared(faulty)
    with pytest.raises(CaseUnsupported) as second_error:
        asv_support.prepared(faulty)
    assert second_error.value is first_error.value  # the failure is cached, not retried
    asv_support.clear_cache()


def _asv(*args: str, env: dict[str, str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "asv", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_asv_smoke_against_the_current_interpreter(tmp_path):
    """``asv check`` and a quick dry ``asv run`` with ``-E existing``: the CI path, no env build.

    A config copy sends results and HTML to ``tmp_path``, so the project tree is left as it was.
    """
    conf = json.loads(_strip_comments((ROOT / "asv.conf.json").read_text()))
    conf.update(
        repo=str(ROOT),
        benchmark_dir=str(ROOT / "benchmarks"),
        results_dir=str(tmp_path / "results"),
        html_dir=str(tmp_path / "html"),
        env_dir=str(tmp_path / "env"),
    )
    config = tmp_path / "asv.conf.json"
    config.write_text(json.dumps(conf))
    env = dict(
        os.environ,
        HOME=str(tmp_path),
        PAIRBENCH_ASV_SIZE="tiny",
        PAIRBENCH_ASV_PAIRS="mlp_seed",
        PAIRBENCH_ASV_GRID="full",  # the faulty control member is only in the full grid
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    common = ["--config", str(config), "-E", f"existing:{sys.executable}"]
    check = _asv("check", *common, env=env, cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No problems found" in check.stdout
    machine = _asv("machine", "--yes", "--machine", "smoke", "--config", str(config), env=env, cwd=ROOT)
    assert machine.returncode == 0, machine.stdout + machine.stderr
    benches = [  # 3 cases import TensorFlow; the rest skip before it (control member, no GPU)
        r"^bench_pairs\.Predict\.time_predict\('mlp_seed', '(subclass|faulty)', 'eager', '(cpu|gpu:0)'",
        r"^bench_pairs\.Divergence\.track_vs_pair_max_abs"
        r"\('mlp_seed', '(subclass|faulty)', 'eager', 'cpu', 'predict'",
    ]
    selection = [arg for regex in benches for arg in ("--bench", regex)]
    run = _asv(
        "run", *common, "--machine", "smoke", "--quick", "--dry-run", "--show-stderr", *selection,
        env=env, cwd=ROOT,
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 0, out  # asv run exits 2 when a benchmark fails
    assert "bench_pairs.Predict.time_predict" in out and "bench_pairs.Divergence.track_vs_pair_max_abs" in out
    assert "structural mismatch: no bias in dense_0" in out  # faulty mlp_seed: skipped with its reason
    assert "control member" in out  # faulty is not timed
    assert "no gpu:0" in out or "TensorFlow sees 0 GPU" in out
    saved = sorted(p.name for p in (tmp_path / "results" / "smoke").glob("*.json"))
    assert saved == ["machine.json"]  # --dry-run saved no result file


def _strip_comments(text: str) -> str:
    """``asv.conf.json`` minus its ``//`` comment lines (asv itself reads JSONC)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
