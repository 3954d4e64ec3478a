"""Trace capture (suite.profiling.trace_capture) and serving the result with a real TensorBoard."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from suite.profiling import TraceCaptureError, capture_trace, parse_xspace

CASE = "mlp.sequential.predict.xla.cpu.float32.det-off.tiny"


def _tiny_step():
    import tensorflow as tf

    fn = tf.function(lambda a: tf.nn.relu(tf.matmul(a, a)), jit_compile=True)
    x = tf.ones((8, 8))
    fn(x)  # compile outside the trace
    return lambda: fn(x).numpy()


def test_steps_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="steps must be >= 1"):
        capture_trace(lambda: None, tmp_path, steps=0)


def test_busy_profiler_is_a_clear_error(tmp_path):
    import tensorflow as tf

    tf.profiler.experimental.start(str(tmp_path / "other"))
    try:
        with pytest.raises(TraceCaptureError, match="another profiler session is already running"):
            capture_trace(lambda: None, tmp_path / "mine")
    finally:
        tf.profiler.experimental.stop()


def test_step_error_propagates_and_profiler_is_stopped(tmp_path):
    calls = []

    def boom():
        calls.append(1)
        raise ZeroDivisionError("step failed")

    with pytest.raises(ZeroDivisionError, match="step failed"):
        capture_trace(boom, tmp_path / "a")
    assert calls == [1]
    # the profiler was stopped: a new capture can start
    info = capture_trace(lambda: None, tmp_path / "b", steps=1)
    assert info["xplane_files"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as resp:  # loopback only
        body = resp.read()
        if resp.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    return json.loads(body)


@pytest.mark.slow
def test_capture_layout_parse_and_tensorboard_serves_it(tmp_path):
    traces = tmp_path / "run" / "traces"
    logdir = traces / CASE
    info = capture_trace(_tiny_step(), logdir, steps=3, python_tracer=True)

    # layout TensorBoard's profile plugin expects, the session named after the case
    files = [Path(p) for p in info["xplane_files"]]
    assert len(files) == 1
    rel = files[0].relative_to(logdir).parts
    assert rel[:2] == ("plugins", "profile") and rel[2] == CASE and rel[3].endswith(".xplane.pb")
    again = capture_trace(_tiny_step(), logdir, steps=1)  # a later capture of the same case
    assert Path(again["session_dir"]).name == f"{CASE}-2"
    assert info["trace_dir"] == str(logdir)
    assert info["requested"] == {"host_tracer_level": 2, "device_tracer_level": 1, "python_tracer_level": 1}
    # TF 2.21 ignores ProfilerOptions: the file records what was really used
    assert info["effective"] == {"host_tracer_level": 2, "device_tracer_level": 1, "python_tracer_level": 0}

    summary = parse_xspace(files[0])
    assert summary.kernels.empty  # CPU: no device kernels
    assert not summary.host_ops.empty
    assert summary.host_ops["name"].str.startswith("MatMul").any()  # the XLA dot ran on the host

    port = _free_port()
    log = open(tmp_path / "tensorboard.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(logdir),  # what `pairbench trace RUN --case CASE` prints
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    base = f"http://127.0.0.1:{port}/data/plugin/profile"
    try:
        runs: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                runs = _get_json(f"{base}/runs")
            except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
                runs = []
            if len(runs) == 2:
                break
            time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "tensorboard.log").read_text(errors="replace")[-2000:]
        # the Runs list names the case, not a bare timestamp
        assert sorted(runs) == [CASE, f"{CASE}-2"], f"TensorBoard's runs within 60 s: {runs}"
        tools = _get_json(f"{base}/run_tools?run={urllib.parse.quote(CASE)}")
        assert any(t.startswith("trace_viewer") for t in tools), tools
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
