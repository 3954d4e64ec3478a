"""Trace parsing (suite.profiling.xplane) on real TF 2.21 traces, and ``pairbench trace``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from suite.cli import main
from suite.profiling import summarise_trace_dir
from suite.profiling.kernel_stats import converter_kernels, framework_ops, kernel_table
from suite.profiling.xplane import (
    HOST_OP_COLUMNS,
    KERNEL_COLUMNS,
    TraceParseError,
    decode_xspace,
    find_xplanes,
    merge_kernels,
    parse_xspace,
)

ROOT = Path(__file__).resolve().parents[2]
#: ``shared/fixtures`` next to the checkout (``../shared``), or next to a folder above it (a git
#: worktree under ``wt/`` finds the same fixtures)
FIXTURES = next(
    (p / "shared" / "fixtures" for p in ROOT.parents if (p / "shared" / "fixtures").is_dir()),
    ROOT.parent / "shared" / "fixtures",
)
H100 = FIXTURES / "h100-tf2.21-xla-mlp.xplane.pb"
CPU_ONLY = FIXTURES / "cpu-only-tf2.21-xla-mlp.xplane.pb"
SESSION = "2026_01_02_03_04_05"


def _logdir(root: Path, fixture: Path, session: str = SESSION, host: str = "vm") -> Path:
    """A TensorBoard logdir holding a copy of ``fixture`` in the profiler's layout."""
    dest = root / "plugins" / "profile" / session / f"{host}.xplane.pb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fixture, dest)
    return root


@pytest.fixture(scope="module")
def h100():
    return parse_xspace(H100)


def test_h100_fixture_has_gemm_and_fusion_kernels_with_ops(h100):
    k = h100.kernels
    assert list(k.columns) == list(KERNEL_COLUMNS)
    assert "/device:GPU:0" in h100.device_planes
    gemm = k[k["name"].str.contains("gemm")]
    fusion = k[k["name"].str.contains("fusion")]
    assert not gemm.empty and not fusion.empty
    assert (k["count"] > 0).all() and (k["total_us"] > 0).all()
    # cuBLAS GEMMs belong to the Keras Dense layers' MatMul ops
    assert gemm["op_name"].str.endswith("MatMul").any()
    assert (gemm["op_name"] != "").all()
    # memcpy/memset are device activity but not kernels
    assert not k["name"].str.startswith(("Memcpy", "Memset")).any()


def test_h100_table_arithmetic(h100):
    k = h100.kernels
    assert k["total_us"].is_monotonic_decreasing
    assert k["mean_us"].tolist() == pytest.approx((k["total_us"] / k["count"]).tolist())
    assert k["share"].sum() == pytest.approx(1.0)


def test_h100_matches_tensorboard_kernel_stats(tmp_path, h100):
    """Independent check: the profile plugin's own converter gives the same kernel table."""
    from xprof.convert import raw_to_tool_data

    copy = tmp_path / "vm.xplane.pb"  # the converter writes cache files next to its input
    shutil.copyfile(H100, copy)
    raw, _ = raw_to_tool_data.xspace_to_tool_data([str(copy)], "kernel_stats", {})
    table = json.loads(raw)
    cols = [c["id"] for c in table["cols"]]
    theirs = [dict(zip(cols, [cell.get("v") for cell in row["c"]], strict=True)) for row in table["rows"]]
    assert theirs, "the converter found no kernels in the H100 fixture"
    ours = h100.kernels.set_index("name")
    assert sorted(ours.index) == sorted(r["kernel_name"] for r in theirs)
    for r in theirs:
        mine = ours.loc[r["kernel_name"]]
        assert mine["count"] == r["occurrences"]
        assert mine["total_us"] == pytest.approx(r["total_duration_us"], abs=1e-3)
        if r["op_name"]:
            assert mine["op_name"] == r["op_name"]


def test_cpu_only_fixture_has_no_kernels_but_host_ops():
    s = parse_xspace(CPU_ONLY)
    assert s.kernels.empty
    assert list(s.kernels.columns) == list(KERNEL_COLUMNS)
    assert list(s.host_ops.columns) == list(HOST_OP_COLUMNS)
    assert not s.host_ops.empty
    assert (s.host_ops["total_us"] > 0).all()
    # XLA ran the MLP's matmuls on the host
    assert s.host_ops["name"].str.startswith("MatMul").any()


def test_every_truncation_of_a_trace_is_rejected():
    data = H100.read_bytes()
    accepted = []
    for cut in range(len(data)):
        try:
            decode_xspace(data[:cut], "x")
        except TraceParseError:
            continue
        accepted.append(cut)
    assert accepted == []
    assert len(decode_xspace(data, "x").planes) == 5


def _silent_cuts(data: bytes) -> list[int]:
    """Cut points where protobuf itself decodes the prefix without complaint."""
    from google.protobuf.message import DecodeError
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    cuts = []
    for cut in range(1, len(data)):
        try:
            xplane_pb2.XSpace().ParseFromString(data[:cut])
        except DecodeError:
            continue
        cuts.append(cut)
    return cuts


def test_truncated_copies_give_one_line_error_naming_the_file(tmp_path):
    data = H100.read_bytes()
    silent = _silent_cuts(data)
    assert silent, "expected protobuf to accept some prefixes silently (plane boundaries)"
    cuts = sorted({*silent, 0, 17, len(data) // 3, len(data) // 2, len(data) - 1})
    for cut in cuts:
        path = tmp_path / f"cut{cut}.xplane.pb"
        path.write_bytes(data[:cut])
        with pytest.raises(TraceParseError) as info:
            parse_xspace(path)
        msg = str(info.value)
        assert "\n" not in msg
        assert msg == f"{path}: not a valid XSpace protobuf (truncated or corrupt)"


def test_garbage_and_missing_files(tmp_path):
    junk = tmp_path / "junk.xplane.pb"
    junk.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(TraceParseError) as info:
        parse_xspace(junk)
    assert str(info.value) == f"{junk}: not a valid XSpace protobuf (truncated or corrupt)"
    missing = tmp_path / "missing.xplane.pb"
    with pytest.raises(TraceParseError) as info:
        parse_xspace(missing)
    assert str(info.value).startswith(f"{missing}: cannot read (")
    empty = tmp_path / "empty.xplane.pb"
    empty.write_bytes(b"")
    with pytest.raises(TraceParseError, match="truncated or corrupt"):
        parse_xspace(empty)


def test_summarise_trace_dir_writes_kernels_csv(tmp_path, h100):
    logdir = _logdir(tmp_path / "traces" / "case", H100)
    csv_path = tmp_path / "kernels" / "case.csv"
    prof = summarise_trace_dir(logdir, kernels_csv=csv_path, top=3)
    json.dumps(prof)  # plain JSON types only
    assert prof["error"] is None
    assert prof["kernels_csv"] == str(csv_path)
    assert prof["device_kernels"] == int(h100.kernels["count"].sum())
    assert len(prof["top_kernels"]) == 3
    assert set(KERNEL_COLUMNS) <= set(prof["top_kernels"][0])
    assert prof["top_kernels"][0]["name"] == h100.kernels.iloc[0]["name"]
    assert prof["kernel_source"] == "xprof kernel_stats"
    assert prof["top_kernels"][0]["uses_tensor_core"] is True
    back = pd.read_csv(csv_path, keep_default_na=False)
    assert list(back.columns)[: len(KERNEL_COLUMNS)] == list(KERNEL_COLUMNS)
    assert back["name"].tolist() == h100.kernels["name"].tolist()
    assert back["total_us"].tolist() == pytest.approx(h100.kernels["total_us"].tolist())


def test_kernels_csv_cells_from_user_names_are_neutralised(tmp_path, h100, monkeypatch):
    """Op names carry the user's layer names: a formula or a terminal escape in one must not
    reach the CSV as it is (a spreadsheet would run it)."""
    from suite.profiling import trace_summary

    evil = h100.kernels.copy()
    evil.loc[0, "name"] = "=cmd|' /C calc'!A0"
    evil.loc[1, "name"] = "\x1b]0;owned\x07dense/MatMul"
    monkeypatch.setattr(trace_summary, "kernel_table", lambda files: (evil, "xprof kernel_stats"))
    csv_path = tmp_path / "k.csv"
    summarise_trace_dir(_logdir(tmp_path / "case", H100), kernels_csv=csv_path)
    back = pd.read_csv(csv_path, keep_default_na=False)
    assert back["name"][0] == "'=cmd|' /C calc'!A0"
    assert "\x1b" not in back["name"][1] and "\x07" not in back["name"][1]
    assert back["name"][1].endswith("dense/MatMul")
    assert back["name"][2:].tolist() == h100.kernels["name"][2:].tolist()
    assert back["total_us"].tolist() == pytest.approx(h100.kernels["total_us"].tolist())


def test_summarise_cpu_trace(tmp_path):
    logdir = _logdir(tmp_path / "case", CPU_ONLY)
    csv_path = tmp_path / "k.csv"
    prof = summarise_trace_dir(logdir, kernels_csv=csv_path)
    assert prof["error"] is None
    assert prof["device_kernels"] == 0 and prof["top_kernels"] == []
    assert prof["host_ops"] and set(prof["host_ops"][0]) == set(HOST_OP_COLUMNS)
    assert pd.read_csv(csv_path).empty


def test_summarise_uses_latest_session_only(tmp_path):
    logdir = _logdir(tmp_path / "case", CPU_ONLY, session="2026_01_01_00_00_00")
    _logdir(logdir, H100, session="2026_01_01_00_00_09")
    assert len(find_xplanes(logdir)) == 2
    prof = summarise_trace_dir(logdir)
    assert prof["device_kernels"] == int(parse_xspace(H100).kernels["count"].sum())
    assert prof["xplane_files"] == [str(logdir / "plugins/profile/2026_01_01_00_00_09/vm.xplane.pb")]


def test_summarise_reports_errors_instead_of_raising(tmp_path):
    logdir = tmp_path / "case"
    bad = logdir / "plugins" / "profile" / SESSION / "vm.xplane.pb"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(H100.read_bytes()[:1000])
    prof = summarise_trace_dir(logdir, kernels_csv=tmp_path / "k.csv")
    assert prof["error"] == f"{bad}: not a valid XSpace protobuf (truncated or corrupt)"
    assert prof["device_kernels"] is None and prof["kernels_csv"] is None
    assert not (tmp_path / "k.csv").exists()
    empty = summarise_trace_dir(tmp_path / "nothing")
    assert "no .xplane.pb" in empty["error"]


def test_merge_kernels_adds_hosts(h100):
    both = merge_kernels([h100.kernels, h100.kernels])
    assert both["count"].sum() == 2 * h100.kernels["count"].sum()
    assert both["share"].tolist() == pytest.approx(h100.kernels["share"].tolist())


# -- pairbench trace ------------------------------------------------------------------------------

GPU_CASE = "mlp.sequential.predict.xla.gpu0.float32.det-off.tiny"
CPU_CASE = "mlp.sequential.predict.xla.cpu.float32.det-off.tiny"


@pytest.fixture
def traced_run(tmp_path):
    run = tmp_path / "results" / "r1"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": "r1"}))
    _logdir(run / "traces" / GPU_CASE, H100)
    _logdir(run / "traces" / CPU_CASE, CPU_ONLY)
    summarise_trace_dir(run / "traces" / GPU_CASE, kernels_csv=run / "kernels" / f"{GPU_CASE}.csv")
    return run


def test_trace_command_prints_tensorboard_command(traced_run, capsys):
    rc = main(["trace", "r1", "--results-dir", str(traced_run.parent), "--kernels", "--top", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"tensorboard --logdir {(traced_run / 'traces').resolve()}" in out
    assert "Profile" in out
    assert GPU_CASE in out and CPU_CASE in out
    assert "gemm" in out  # top kernel of the GPU case
    assert "no device kernels" in out  # the CPU case


def test_trace_command_one_case(traced_run, capsys):
    rc = main(["trace", "r1", "--results-dir", str(traced_run.parent), "--case", CPU_CASE])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"--logdir {(traced_run / 'traces' / CPU_CASE).resolve()}" in out
    assert GPU_CASE not in out


def test_trace_command_bad_input(traced_run, tmp_path, capsys):
    results = str(traced_run.parent)
    assert main(["trace", "nope", "--results-dir", results]) == 2
    assert main(["trace", "r1", "--results-dir", results, "--case", "x.y"]) == 2
    err = capsys.readouterr().err
    assert "no run 'nope'" in err and "'x.y' has no trace" in err
    bare = traced_run.parent / "r2"
    bare.mkdir()
    (bare / "run.json").write_text("{}")
    assert main(["trace", "r2", "--results-dir", results]) == 2
    assert "has no traces" in capsys.readouterr().err


# -- the profile plugin's converter vs pairbench's reader ------------------------------------------


def test_converter_and_reader_agree_on_the_h100_fixture(h100):
    """Same kernels, occurrences and times; the converter adds occupancy and Tensor Core use."""
    theirs = converter_kernels([H100])
    ours = h100.kernels
    assert sorted(theirs["name"]) == sorted(ours["name"])
    merged = theirs.merge(ours, on="name", suffixes=("_xprof", "_ours"))
    assert (merged["count_xprof"] == merged["count_ours"]).all()
    assert merged["total_us_xprof"].tolist() == pytest.approx(merged["total_us_ours"].tolist(), abs=1e-3)
    assert theirs["share"].sum() == pytest.approx(1.0)
    # what only the converter knows
    gemm = theirs[theirs["name"].str.startswith("sm90_xmma_gemm")]
    assert len(gemm) == 2 and gemm["uses_tensor_core"].all() and gemm["tensor_core_eligible"].all()
    assert theirs["occupancy_pct"].between(0, 100).all() and (theirs["registers_per_thread"] > 0).all()
    assert (theirs["min_us"] <= theirs["mean_us"]).all() and (theirs["mean_us"] <= theirs["max_us"]).all()
    # the documented difference: the converter leaves the Triton softmax fusion's op empty, the
    # HLO metadata in the trace names it; kernel_table fills it from our reader
    softmax = "triton_softmax_2"
    assert theirs.set_index("name").loc[softmax, "op_name"] == ""
    assert ours.set_index("name").loc[softmax, "op_name"] == "sequential_1_1/dense_8_1"
    table, source = kernel_table([H100])
    assert source == "xprof kernel_stats"
    assert table.set_index("name").loc[softmax, "op_name"] == "sequential_1_1/dense_8_1"
    assert (table["op_name"] != "").all()


def test_framework_op_stats_give_self_time(h100):
    ops = framework_ops([H100])
    device = ops[ops["where"] == "Device"].set_index("op_name")
    matmul = device.loc["sequential_1_1/dense_7_1/MatMul"]
    assert matmul["count"] == 3 and matmul["self_us"] == pytest.approx(2373.294)
    assert "IDLE" not in set(ops["op_type"])


def test_kernel_table_falls_back_to_the_reader(monkeypatch, h100):
    from suite.profiling import kernel_stats

    def broken(files, tool):
        raise kernel_stats.ConverterUnavailable("kernel_stats converter failed: boom")

    monkeypatch.setattr(kernel_stats, "convert", broken)
    table, source = kernel_table([H100])
    assert source == "pairbench xplane reader (kernel_stats converter failed: boom)"
    pd.testing.assert_frame_equal(table, h100.kernels)
    cpu, source = kernel_table([CPU_ONLY])
    assert cpu.empty and source.startswith("pairbench xplane reader")


def test_converter_leaves_its_input_untouched(tmp_path):
    logdir = _logdir(tmp_path / "case", H100)
    before = sorted(p.name for p in logdir.rglob("*"))
    converter_kernels(find_xplanes(logdir))
    assert sorted(p.name for p in logdir.rglob("*")) == before  # no cache files next to the trace


def test_trace_kernels_prints_full_names_without_tensorflow_noise(traced_run, capfd):
    rc = main(["trace", "r1", "--results-dir", str(traced_run.parent), "--kernels", "--case", GPU_CASE])
    out, err = capfd.readouterr()
    assert rc == 0
    names = [n for n in parse_xspace(H100).kernels["name"] if n.startswith("sm90_xmma_gemm")]
    flat = "".join(out.split())  # the table folds long names over lines
    assert len(names) == 2 and all(n in flat for n in names)
    assert "occupancy" in out and "Tensor" in out
    assert not [line for line in err.splitlines() if line.strip()]  # no absl / converter log lines
    # a case without kernels/<case>.csv is converted from its trace: still no log lines
    rc = main(["trace", "r1", "--results-dir", str(traced_run.parent), "--kernels", "--case", CPU_CASE])
    out, err = capfd.readouterr()
    assert rc == 0 and "no device kernels (CPU trace)" in out
    assert not [line for line in err.splitlines() if line.strip()], err
