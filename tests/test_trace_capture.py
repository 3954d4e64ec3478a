"""Trace capture (suite.profiling.trace_capture) and serving the result with a real TensorBoard."""

from __future__ import annotations

import gzip
import json
import os
import re
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
SESSION = re.compile(r"^\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}$")


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

    # layout TensorBoard's profile plugin expects
    files = [Path(p) for p in info["xplane_files"]]
    assert len(files) == 1
    rel = files[0].relative_to(logdir).parts
    assert rel[:2] == ("plugins", "profile") and SESSION.match(rel[2]) and rel[3].endswith(".xplane.pb")
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
            str(traces),
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
            if any(rel[2] in r for r in runs):
                break
            time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "tensorboard.log").read_text(errors="replace")[-2000:]
        ours = [r for r in runs if rel[2] in r]
        assert ours, f"TensorBoard did not list the trace within 60 s (runs: {runs})"
        assert CASE in ours[0]
        tools = _get_json(f"{base}/run_tools?run={urllib.parse.quote(ours[0])}")
        assert any(t.startswith("trace_viewer") for t in tools), tools
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
