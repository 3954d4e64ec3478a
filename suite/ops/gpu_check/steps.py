"""Running the check's subprocesses under a deadline, and sharing the time left between pieces
of work.

A step runs in a session of its own; one that runs out is sent SIGTERM (a ``pairbench run``
answers by ending its workers with every finished record on disk), then its whole process group
is killed after :data:`GRACE_S`. :func:`share` gives the next piece of work its weight's share of
what is left, so time a piece does not use goes to the pieces after it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from suite.errors import output_tail
from suite.ops.gpu_check.outcome import Step

#: the project root: every step runs there (``--pairs-from tests/...`` is relative to it)
ROOT = Path(__file__).resolve().parents[3]
#: between SIGTERM and SIGKILL of a step that ran out
GRACE_S = 10.0
#: a step's reason quotes at most this many characters of its log's last lines
TAIL_WIDTH = 300


def stop_process(proc: subprocess.Popen, grace_s: float | None = None) -> int | None:
    """Stop a step started in its own session: SIGTERM to it, then SIGKILL to its group.

    A ``pairbench run`` answers SIGTERM by ending its workers, keeping every finished record
    and marking the run ``interrupted``; its workers are not signalled directly, so none of
    them is mistaken for a crash. Whatever is left of the group after ``grace_s`` is killed.

    Args:
        proc: the process (started with ``start_new_session=True``).
        grace_s: seconds between SIGTERM and SIGKILL (default :data:`GRACE_S`).

    Returns:
        The exit status (None if it could not be read).
    """
    grace_s = GRACE_S if grace_s is None else grace_s
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        code: int | None = proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        code = None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if code is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = proc.wait(timeout=grace_s)
    return code


def log_tail(path: Path) -> str:
    """The last lines of a log as one line (:func:`suite.errors.output_tail`), for reasons."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return output_tail(text)[-TAIL_WIDTH:]


def step_json(path: Path) -> Any:
    """The JSON document a step wrote to ``path`` (None when it wrote none, or not JSON)."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def run_step(
    name: str,
    argv: Sequence[str],
    *,
    deadline: float,
    log_path: Path,
    env: dict[str, str] | None = None,
    stdout_path: Path | None = None,
    grace_s: float | None = None,
) -> Step:
    """Run one subprocess in :data:`ROOT` until it ends or ``deadline`` (``time.monotonic()``) passes.

    Its stderr (and stdout, unless ``stdout_path`` is given) go to ``log_path``. It starts in a
    session of its own, so that a step that runs out is stopped with everything it started
    (:func:`stop_process`). A KeyboardInterrupt (or the SIGTERM handler of the check) stops it
    too and is raised again.

    Args:
        name: the step's name.
        argv: its command line.
        deadline: when it must have ended.
        log_path: its log (appended to; the command line comes first).
        env: its environment (default: this process's).
        stdout_path: where its stdout goes, when not into the log.
        grace_s: seconds between SIGTERM and SIGKILL (default :data:`GRACE_S`).

    Returns:
        The :class:`Step`: ``ok`` (exit 0), ``failed`` (another exit status, or it could not
        start) or ``timeout``.
    """
    argv = [str(a) for a in argv]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    if deadline - start < 1.0:
        return Step(name, argv, "timeout", None, 0.0, str(log_path), "no time left to start it")
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(log_path, "ab"))
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        out = stack.enter_context(open(stdout_path, "wb")) if stdout_path else log
        try:
            proc = spawn(argv, env=env, stdout=out, stderr=log)
        except OSError as exc:
            return Step(name, argv, "failed", None, 0.0, str(log_path), f"cannot start: {exc}")
        try:
            code: int | None = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            status = "ok" if code == 0 else "failed"
        except subprocess.TimeoutExpired:
            status = "timeout"
            code = stop_process(proc, grace_s)
        except BaseException:
            stop_process(proc, grace_s)
            raise
        # a step that exited normally may leave workers behind (it should not): end them
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    wall = time.monotonic() - start
    return Step(name, argv, status, code, round(wall, 2), str(log_path), log_tail(log_path))


def spawn(
    argv: Sequence[str], *, env: dict[str, str] | None, stdout: IO[bytes], stderr: IO[bytes]
) -> subprocess.Popen:
    """Start ``argv`` in :data:`ROOT`, in a session of its own, with no stdin.

    Raises:
        OSError: it could not start.
    """
    return subprocess.Popen(
        list(argv),
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )


def share(deadline: float, weight: float, later: float, reserve: float = 0.0, floor: float = 0.0) -> float:
    """The deadline of the next piece of work: its ``weight``'s share of the time left.

    Args:
        deadline: when all the remaining work must be done (``time.monotonic()``).
        weight: the next piece's weight.
        later: the summed weights of the pieces after it.
        reserve: seconds kept back before ``deadline``.
        floor: at least this many seconds, when that much is left (a ``pairbench run`` needs
            about 20 s before its first case).

    Returns:
        The next piece's deadline (``time.monotonic()``), never past ``deadline - reserve``.
    """
    now = time.monotonic()
    left = max(0.0, deadline - reserve - now)
    return now + max(left * weight / max(weight + later, 1e-9), min(floor, left))
