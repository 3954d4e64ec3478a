"""Capture a TensorFlow profiler trace of a few steps into a TensorBoard logdir.

The layout is the one TensorBoard's profile plugin reads:
``<logdir>/plugins/profile/<run>/<host>.xplane.pb``. TensorFlow names ``<run>`` by the time
(``YYYY_MM_DD_HH_MM_SS``), and the profile plugin lists a run as ``<logdir relative to
TensorBoard's --logdir>/<run>``: opened on one case's logdir, a trace showed up as a bare
timestamp. :func:`capture_trace` therefore renames the session folder to ``run_name`` (by
default the logdir's own name, which is the case id under ``traces/``; ``-2``, ``-3``... for
later captures), so the Runs list names the case whichever logdir TensorBoard is given.

TensorFlow 2.21 ignores ``ProfilerOptions`` (it logs "host_tracer_level expects an i value")
and always traces with host level 2, device level 1 and no Python tracer. We record what was
asked for (``requested``) and what the trace file itself says was used (``effective``, read
from the ``Task Environment`` plane's ``profile_options``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from suite.errors import one_line
from suite.profiling.xplane import TraceParseError, find_xplanes, load_xspace

HOST_TRACER_LEVEL = 2
DEVICE_TRACER_LEVEL = 1
_SESSION_DIR = re.compile(r"^\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}$")


class TraceCaptureError(Exception):
    """The profiler could not start or wrote no usable trace (one-line message)."""


def capture_trace(
    fn: Callable[[], None],
    logdir: Path,
    *,
    steps: int = 3,
    python_tracer: bool = False,
    run_name: str | None = None,
) -> dict[str, Any]:
    """Run ``fn`` ``steps`` times under the TensorFlow profiler.

    Each call is wrapped in ``tf.profiler.experimental.Trace("step", step_num=i, _r=1)`` so
    TensorBoard shows steps. ``fn`` should already be warmed up (traced/compiled) and should
    wait for the device itself if its work is asynchronous.

    Args:
        fn: one step of work.
        logdir: the TensorBoard logdir for this trace (created if needed).
        steps: how many times to call ``fn``.
        python_tracer: ask for the Python tracer (ignored by TensorFlow 2.21; see ``effective``).
        run_name: the name of the session folder, i.e. of the run in TensorBoard's profile
            plugin (default: ``logdir``'s name); taken names get ``-2``, ``-3``...

    Returns:
        ``{"trace_dir", "session_dir", "xplane_files", "steps", "requested": {levels},
        "effective": {levels or None}}``; levels are ``host_tracer_level``,
        ``device_tracer_level`` and ``python_tracer_level``.

    Raises:
        ValueError: if ``steps`` < 1.
        TraceCaptureError: if the profiler cannot start (e.g. another session is running in
            this process) or writes no trace file.
        Exception: whatever ``fn`` raises (the profiler is stopped first).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    import tensorflow as tf

    logdir = Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    requested = {
        "host_tracer_level": HOST_TRACER_LEVEL,
        "device_tracer_level": DEVICE_TRACER_LEVEL,
        "python_tracer_level": 1 if python_tracer else 0,
    }
    before = _snapshot(logdir)
    options = tf.profiler.experimental.ProfilerOptions(**requested)
    try:
        tf.profiler.experimental.start(str(logdir), options=options)
    except tf.errors.AlreadyExistsError:
        raise TraceCaptureError(
            "cannot start the profiler: another profiler session is already running in this process"
        ) from None
    except tf.errors.OpError as exc:
        raise TraceCaptureError(f"cannot start the profiler: {one_line(exc)}") from None
    try:
        for i in range(steps):
            with tf.profiler.experimental.Trace("step", step_num=i, _r=1):
                fn()
    except BaseException:
        with contextlib.suppress(tf.errors.OpError):  # fn's error is the one to report
            tf.profiler.experimental.stop()
        raise
    try:
        tf.profiler.experimental.stop()
    except tf.errors.OpError as exc:
        raise TraceCaptureError(f"cannot stop the profiler: {one_line(exc)}") from None
    written = [p for p, mtime in _snapshot(logdir).items() if before.get(p) != mtime]
    if not written:
        raise TraceCaptureError(f"the profiler wrote no .xplane.pb under {logdir}")
    for path in written:
        _check_layout(path, logdir)
    written = _rename_session(written, run_name or logdir.name)
    return {
        "trace_dir": str(logdir),
        "session_dir": str(written[0].parent),
        "xplane_files": [str(p) for p in sorted(written)],
        "steps": steps,
        "requested": requested,
        "effective": effective_options(written[0]),
    }


def effective_options(xplane: Path) -> dict[str, int | None]:
    """The tracer levels a trace was actually taken with, read from the file.

    Args:
        xplane: a ``.xplane.pb`` file.

    Returns:
        ``{"host_tracer_level", "device_tracer_level", "python_tracer_level"}``; all None if the
        file does not record its options (or cannot be read).
    """
    keys = ("host_tracer_level", "device_tracer_level", "python_tracer_level")
    unknown: dict[str, int | None] = dict.fromkeys(keys)
    try:
        space = load_xspace(xplane)
    except TraceParseError:
        return unknown
    from google.protobuf.message import DecodeError
    from tensorflow.tsl.profiler.protobuf import profiler_options_pb2

    for plane in space.planes:
        if plane.name != "Task Environment":
            continue
        for stat in plane.stats:
            md = plane.stat_metadata.get(stat.metadata_id)
            if md is None or md.name != "profile_options" or stat.WhichOneof("value") != "bytes_value":
                continue
            opts = profiler_options_pb2.ProfileOptions()
            try:
                opts.ParseFromString(stat.bytes_value)
            except DecodeError:
                return unknown
            return {k: int(getattr(opts, k)) for k in keys}
    return unknown


def _snapshot(logdir: Path) -> dict[Path, int]:
    """Trace files and their modification times (a session folder is named to the second, so a
    second capture within the same second rewrites the same path)."""
    return {p: p.stat().st_mtime_ns for p in find_xplanes(logdir)}


def _check_layout(path: Path, logdir: Path) -> None:
    rel = path.relative_to(logdir).parts
    if len(rel) != 4 or rel[:2] != ("plugins", "profile") or not _SESSION_DIR.match(rel[2]):
        raise TraceCaptureError(
            f"unexpected trace layout {path} (TensorBoard expects "
            f"{logdir}/plugins/profile/<YYYY_MM_DD_HH_MM_SS>/<host>.xplane.pb)"
        )


def _rename_session(written: list[Path], name: str) -> list[Path]:
    """Move the new session folder to ``plugins/profile/<name>`` (``<name>-2``... if taken)."""
    session = written[0].parent
    n, target = 1, session.with_name(name)
    while target.exists():
        n += 1
        target = session.with_name(f"{name}-{n}")
    try:
        session.rename(target)
    except OSError as exc:
        raise TraceCaptureError(f"cannot name the trace {target}: {exc.strerror or exc}") from None
    return [target / p.name for p in written]
