"""Worker processes on this machine: start them, read their messages, say why they died.

The parent never imports TensorFlow (a parent that initialised CUDA would hold GPU memory
the workers need). Each unit of a run (:mod:`suite.run.schedule`) runs in a fresh
``python -m suite.run.child`` process, a :class:`LocalWorker`, whose messages the dispatcher
(:mod:`suite.run.dispatch`) reads; a worker that crashes is described by the fatal line of its
log (:func:`fatal_summary`). :func:`probe` asks a short-lived worker what TensorFlow sees.

Workers run in their own session (Ctrl-C in the terminal reaches only the parent, which
stops them) and die with the parent (see :func:`suite.run.child.die_with_parent`). Start
workers from a thread that lives as long as the worker: Linux's parent-death signal follows
the thread that forked.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from suite.axes import SIMULATED_GPUS_ENV
from suite.errors import UsageError
from suite.machine.tf_noise import is_noise
from suite.results.run_dir import RunDir
from suite.run.job import PARENT_PID_ENV, Job
from suite.text import clean_text

#: lines of worker stderr quoted in an error row
STDERR_TAIL_LINES = 4
#: seconds a worker may take to exit after its output closed or it said ``done`` (it has sent all
#: it will send); then it is killed: its records are in, and a hang on the way out (a thread that
#: never ends, a driver's teardown) must not hold the run. ``$PAIRBENCH_EXIT_GRACE_S`` overrides it.
EXIT_GRACE_S = 20.0
EXIT_GRACE_ENV = "PAIRBENCH_EXIT_GRACE_S"


def exit_grace_s() -> float:
    """:data:`EXIT_GRACE_S`, or ``$PAIRBENCH_EXIT_GRACE_S`` when it is a positive number."""
    try:
        value = float(os.environ.get(EXIT_GRACE_ENV) or EXIT_GRACE_S)
    except ValueError:
        return EXIT_GRACE_S
    return value if 0 < value < 3600 else EXIT_GRACE_S


_GLOG_PREFIX = re.compile(r"^[FEWI]\d{4} [\d:.]+\s+\d+ ")
#: lines that name why a process died (most telling first)
_FATAL = (
    re.compile(r"^F\d{4} .*?\] (.*)"),  # glog FATAL: "F0000 ... parse_flags_from_env.cc:234] Unknown flag"
    re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception|Exit|Interrupt))\b:?(.*)"),  # Python exception
    re.compile(r"(Check failed: .*|Segmentation fault.*|Aborted.*|Killed.*|out of memory.*)", re.IGNORECASE),
)


def worker_env() -> dict[str, str]:
    """The environment of a worker process."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    env[PARENT_PID_ENV] = str(os.getpid())
    return env


def fatal_summary(text: str, max_lines: int = STDERR_TAIL_LINES) -> str:
    """The lines of a worker's log that say why it died, on one line.

    TensorFlow's start-up noise is dropped; the fatal line (a glog ``F`` line, the Python
    exception, ``Check failed``) comes first, followed by the last other lines.
    """
    lines = [ln.strip() for ln in clean_text(text).splitlines() if ln.strip() and not is_noise(ln)]
    fatal = None
    for pattern in _FATAL:
        for line in reversed(lines):
            if pattern.search(line):
                fatal = line
                break
        if fatal:
            break
    tail = list(deque((ln for ln in lines if ln != fatal), maxlen=max_lines - (1 if fatal else 0)))
    parts = [_GLOG_PREFIX.sub("", ln) for ln in ([fatal] if fatal else []) + tail]
    return " | ".join(parts)[:1500]


def probe() -> dict[str, Any]:
    """Ask a short-lived worker how many GPUs TensorFlow sees, and for provenance.

    Raises:
        UsageError: TensorFlow cannot start (memory limit, broken install, bad ``XLA_FLAGS``):
            one line with the fatal message.
    """
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "suite.run.child", "--probe"],
            capture_output=True,
            text=True,
            errors="replace",
            env=worker_env(),
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        raise UsageError("TensorFlow did not start within 600 s in a worker process") from None
    except OSError as exc:
        raise UsageError(f"cannot start a worker process: {exc.strerror}") from None
    if proc.returncode != 0:
        why = fatal_summary(proc.stderr, max_lines=2) or f"exit code {proc.returncode}"
        hint = ""
        if "XLA_FLAGS" in proc.stderr:
            hint = " (check the XLA_FLAGS environment variable)"
        raise UsageError(f"TensorFlow could not start in a worker process{hint}: {why}")
    try:
        info = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise UsageError("the TensorFlow probe printed no result (see `pairbench doctor`)") from None
    return with_simulated_gpus(info)


def with_simulated_gpus(info: dict[str, Any]) -> dict[str, Any]:
    """The probe's answer with the simulated GPUs of ``$PAIRBENCH_SIMULATED_GPUS`` (tests only).

    The count of GPUs becomes N (so the matrix has ``gpu:0`` ... ``gpu:N-1``) and the answer says
    ``simulated_gpus: N``; the provenance keeps what TensorFlow really saw.

    Raises:
        UsageError: the variable is not a whole number from 1 to 64.
    """
    raw = os.environ.get(SIMULATED_GPUS_ENV)
    if not raw:
        return info
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise UsageError(f"{SIMULATED_GPUS_ENV} must be a whole number from 1 to 64 (got {raw!r})")
    count = int(raw)
    return {**info, "gpus": count, "simulated_gpus": count}


def reap(proc: subprocess.Popen, log: Any = None) -> str:
    """Wait for a worker whose output has closed to exit, at most :func:`exit_grace_s`, then kill it.

    Args:
        proc: the worker process.
        log: its open log file; a kill is noted there.

    Returns:
        ``""``, or the note saying it was killed.
    """
    grace = exit_grace_s()
    try:
        proc.wait(timeout=grace)
        return ""
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    note = f"the worker did not exit within {grace:g} s after its output closed: killed"
    if log is not None:
        with contextlib.suppress(OSError, ValueError):
            log.write(f"pairbench: {note}\n")
            log.flush()
    return note


class LocalWorker:
    """A worker subprocess on this machine; a reader thread puts ``(self, message)`` on
    ``events`` for each message and ``(self, None)`` when its stdout closes."""

    def __init__(
        self,
        run: RunDir,
        job: Job,
        events: queue.Queue[tuple[Any, dict[str, Any] | None]],
        env: dict[str, str] | None = None,
    ):
        self.job_file = run.new_log(f"job-{job.name}", ".json")
        run.write_text(run.relative(self.job_file), job.to_json())
        self.log_file = run.new_log(f"worker-{job.name}")
        self._log = open(self.log_file, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "suite.run.child", str(self.job_file)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env={**worker_env(), **(env or {})},
            start_new_session=True,  # Ctrl-C goes to the parent, which stops the worker
        )
        self._events = events
        self.exit_note = ""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for msg in read_messages(self.proc.stdout):
            self._events.put((self, msg))
        self._reap()
        self._events.put((self, None))

    def _reap(self) -> None:
        """Wait for the worker to exit once its output has closed, at most :func:`exit_grace_s`;
        then kill it, and say so in its log. A worker that hangs on its way out (a thread that
        never ends, a GPU driver's teardown, an allocator's deadlock after a failed allocation)
        has sent everything it will ever send: the run must not wait for it."""
        self.exit_note = reap(self.proc, self._log)

    def ended(self) -> tuple[int | None, str | None]:
        """``(exit code, None)`` once the worker's stdout has closed (it never gets lost); the
        reader thread has reaped it by then (killed if it hung on its way out)."""
        return self.proc.wait(), None

    def stop(self) -> None:
        """Kill the worker if it is still running, and wait for it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if not self._log.closed:
            self._log.close()

    def fatal_summary(self) -> str:
        """Why the worker died, from its log (see :func:`fatal_summary`)."""
        if not self._log.closed:
            self._log.flush()
        return log_summary(self.log_file)


def read_messages(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The protocol messages among a worker's stdout lines (anything else is skipped)."""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(msg, dict):
            yield msg


def log_summary(log_file: Path) -> str:
    """Why a worker died, from its log file ("" when it cannot be read)."""
    try:
        return fatal_summary(log_file.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""


def worker_pids() -> list[int]:
    """Pids of this process's live children (for tests and diagnostics; Linux only)."""
    try:
        text = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]
