"""``compare`` refuses two runs timed with different settings (issue 17) unless forced: thread
options, CPU governor and affinity, GPU clocks, threading variables."""

from __future__ import annotations

import pytest
from fake_runs import make_run, standard_records

from suite.cli import main


def _with_settings(run, *, options=None, timing=None, env=None):
    meta = run.read_meta()
    meta["options"] = {**meta.get("options", {}), **(options or {})}
    prov = meta["provenance"]
    if timing is not None:
        prov["timing"] = timing
    if env is not None:
        prov["env"] = env
    run.write_meta(meta)


MACHINE = {
    "cpu_count": 2,
    "cpu_affinity": "0-1",
    "cpu_governor": "performance",
    "cpu_boost": None,
    "gpu_clocks": [{"index": 0, "sm_app_clock_mhz": 1980, "persistence_mode": 1, "power_limit_w": 700.0}],
}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"options": {"intra_op_threads": 1}}, "intra-op threads default vs 1"),
        ({"timing": {**MACHINE, "cpu_governor": "powersave"}}, "CPU governor performance vs powersave"),
        ({"timing": {**MACHINE, "cpu_affinity": "0"}}, "CPU affinity 0-1 vs 0"),
        (
            {"timing": {**MACHINE, "gpu_clocks": [{**MACHINE["gpu_clocks"][0], "sm_app_clock_mhz": 1410}]}},
            "GPU 0 sm app clock mhz 1980 vs 1410",
        ),
        ({"env": {"OMP_NUM_THREADS": "1"}}, "OMP_NUM_THREADS unset vs 1"),
    ],
)
def test_compare_refuses_different_timing_settings_unless_forced(tmp_path, capsys, change, words):
    a = make_run(tmp_path, standard_records(), run_id="a")
    b = make_run(tmp_path, standard_records(), run_id="b")
    _with_settings(a, timing=MACHINE)
    _with_settings(b, timing=MACHINE)
    _with_settings(b, **change)
    argv = ["compare", "a", "b", "--results-dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "timed with different settings" in err and words in err
    assert main([*argv, "--force"]) == 0
    assert words in capsys.readouterr().out  # still shown, as a warning


def test_compare_ignores_settings_a_run_could_not_read(tmp_path, capsys):
    a = make_run(tmp_path, standard_records(), run_id="a")
    b = make_run(tmp_path, standard_records(), run_id="b")
    _with_settings(a, timing={**MACHINE, "cpu_governor": None})  # a VM: not readable
    _with_settings(b, timing=MACHINE)
    assert main(["compare", "a", "b", "--results-dir", str(tmp_path)]) == 0  # nothing known differs
