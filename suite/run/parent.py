"""The parent of a run: start worker processes, read their records, survive their deaths.

The parent never imports TensorFlow (a parent that initialised CUDA would hold GPU memory
the workers need). It hands each job to a fresh ``python -m suite.run.child`` process and
gives every record the child reports to ``on_record`` (the lifecycle appends it to
``records.jsonl`` at once). A worker that crashes, hangs past the timeout or runs out of
memory turns its in-flight cases into ``error`` rows quoting the fatal line of its log, and
a fresh worker picks up the job's remaining groups.

Workers run in their own session (Ctrl-C in the terminal reaches only the parent, which
stops them) and die with the parent (see :func:`suite.run.child.die_with_parent`). Start
workers from a thread that lives as long as the worker: Linux's parent-death signal follows
the thread that forked.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from suite.case import Case
from suite.errors import UsageError
from suite.matrix import JobPlan
from suite.record import Record
from suite.results import ResultsWriteError, RunDir
from suite.run.job import PARENT_PID_ENV, Job
from suite.run.options import RunOptions
from suite.tf_noise import is_noise

#: lines of worker stderr quoted in an error row
STDERR_TAIL_LINES = 4
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
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not is_noise(ln)]
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
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise UsageError("the TensorFlow probe printed no result (see `pairbench doctor`)") from None


class Worker:
    """A worker subprocess with a reader thread feeding a queue of messages."""

    def __init__(self, run: RunDir, job: Job):
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
            env=worker_env(),
            start_new_session=True,  # Ctrl-C goes to the parent, which stops the worker
        )
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(msg, dict):
                self.messages.put(msg)
        self.messages.put(None)

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
        try:
            return fatal_summary(self.log_file.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return ""


def error_record(case: Case, reason: str, **extra: Any) -> Record:
    """A row for a case whose worker died or hung (no numbers were measured)."""
    return Record(case=case, verdict="error", reason=reason, extra={"finished_at": time.time(), **extra})


def run_job(
    run: RunDir,
    plan: JobPlan,
    groups: list[list[Case]],
    options: RunOptions,
    on_record: Callable[[Record], None],
    on_start: Callable[[list[str]], None] = lambda ids: None,
    name: str = "worker",
) -> None:
    """Run a job's groups, starting a fresh worker after a crash or a hang."""
    remaining = list(groups)
    attempt = 0
    while remaining:
        attempt += 1
        job = Job(
            run_dir=str(run.path),
            precision=plan.precision,
            determinism=plan.determinism,
            groups=remaining,
            options=options,
            name=f"{name}-{plan.precision}-det{plan.determinism}-{attempt}",
        )
        finished = _run_worker(run, job, options.timeout_s, on_record, on_start)
        if not finished:  # a worker that exits cleanly but runs nothing must not loop forever
            for case in job.cases:
                on_record(error_record(case, "worker exited without running this case"))
            return
        remaining = [[c for c in g if c.case_id not in finished] for g in remaining]
        remaining = [g for g in remaining if g]


def _run_worker(
    run: RunDir,
    job: Job,
    timeout_s: float,
    on_record: Callable[[Record], None],
    on_start: Callable[[list[str]], None],
) -> set[str]:
    """Run one worker until it is done or dies; return the case ids it finished (or failed)."""
    worker = Worker(run, job)
    finished: set[str] = set()
    in_flight: list[str] = []
    deadline = time.monotonic() + timeout_s * 2  # start-up: importing TensorFlow, probing devices
    try:
        while True:
            try:
                msg = worker.messages.get(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            except queue.Empty:
                if time.monotonic() > deadline:
                    worker.stop()
                    reason = f"timed out after {timeout_s:.0f} s per case (worker killed)"
                    _fail_in_flight(run, job, in_flight, finished, reason, worker, on_record)
                    return finished
                continue
            if msg is None:  # the worker's stdout closed: it exited
                code = worker.proc.wait()
                if in_flight or (not finished and code != 0):
                    how = f"signal {-code}" if code < 0 else f"exit code {code}"
                    ids = in_flight or [c.case_id for c in job.cases]
                    _fail_in_flight(run, job, ids, finished, f"worker died ({how})", worker, on_record)
                return finished
            event = msg.get("event")
            if event == "start":
                in_flight = [str(c) for c in msg.get("case_ids", [])]
                deadline = time.monotonic() + timeout_s * max(1, len(in_flight))
                on_start(in_flight)
            elif event == "record":
                try:
                    record = Record.from_dict(msg["record"])
                except (KeyError, ValueError):
                    continue
                on_record(record)
                finished.add(record.case_id)
                in_flight = [c for c in in_flight if c != record.case_id]
            elif event == "done":
                worker.proc.wait()
                return finished
            elif event == "fatal":
                raise ResultsWriteError(str(msg.get("reason") or "the worker cannot write the run folder"))
    finally:
        worker.stop()


def _fail_in_flight(
    run: RunDir,
    job: Job,
    case_ids: list[str],
    finished: set[str],
    reason: str,
    worker: Worker,
    on_record: Callable[[Record], None],
) -> None:
    why = worker.fatal_summary()
    full = f"{reason}: {why}" if why else reason
    log = run.relative(worker.log_file)
    by_id = {c.case_id: c for c in job.cases}
    for case_id in case_ids:
        if case_id in finished or case_id not in by_id:
            continue
        on_record(error_record(by_id[case_id], full, worker_log=log))
        finished.add(case_id)


def job_groups(plan: JobPlan, done: set[str]) -> list[list[Case]]:
    """A job's groups without the cases that already have a record."""
    groups = [[c for c in g if c.case_id not in done] for g in plan.groups]
    return [g for g in groups if g]


def worker_pids() -> list[int]:
    """Pids of this process's live children (for tests and diagnostics; Linux only)."""
    try:
        text = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]
