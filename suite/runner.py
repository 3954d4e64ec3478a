"""The runner: expand the matrix, run each job in a worker process, never lose a record.

The runner itself never imports TensorFlow (a parent that initialised CUDA would hold GPU
memory the workers need). It is the only writer of ``records.jsonl``: each record a worker
reports is appended and fsynced at once. A worker that crashes, hangs past the timeout or
runs out of memory turns its in-flight cases into ``error`` rows with the last lines of its
stderr, and a fresh worker picks up the job's remaining groups.
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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from suite import __version__
from suite.case import Case
from suite.matrix import JobPlan, Selection, expand, plan_jobs, validate
from suite.record import Record
from suite.results import RunDir, create_run, open_run
from suite.worker import Job, failure_record

#: lines of worker stderr quoted in an error row
STDERR_TAIL_LINES = 8


@dataclass
class RunOptions:
    """How to run a selection (everything but the axes)."""

    results_dir: Path = Path("results")
    repeats: int = 3
    steps: int | None = None
    seed: int = 0
    profile: bool = False
    localise: bool = True
    timeout_s: float = 600.0
    pairs_from: tuple[str, ...] = ()
    resume: str | None = None
    run_id: str | None = None
    argv: list[str] = field(default_factory=list)


class Progress:
    """What the runner tells the user; the CLI supplies a rich or plain implementation."""

    def begin(self, total: int, done: int) -> None:
        """Called once with the number of cases."""

    def current(self, case_ids: list[str]) -> None:
        """A group of cases has started."""

    def finished(self, record: Record) -> None:
        """A case has a record."""

    def message(self, text: str) -> None:
        """A line for the user."""

    def end(self) -> None:
        """Called once at the end."""


def probe(pairs_from: tuple[str, ...] = ()) -> dict[str, Any]:
    """Ask a short-lived worker how many GPUs TensorFlow sees, and for provenance."""
    env = _worker_env()
    proc = subprocess.run(
        [sys.executable, "-m", "suite.worker", "--probe"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"TensorFlow probe failed (exit {proc.returncode}): {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def prepare_run(selection: Selection, options: RunOptions) -> tuple[RunDir, list[Case], dict[str, Any]]:
    """Create (or reopen with ``resume``) the run folder and expand the matrix."""
    validate(selection)
    if options.resume:
        run = open_run(options.resume, options.results_dir)
        meta = run.read_meta()
        plan_file = run.path / "plan.json"
        if not plan_file.exists():
            raise_usage(f"run {run.run_id} has no plan.json: cannot resume it")
        cases = [Case.from_dict(c) for c in json.loads(plan_file.read_text())]
        return run, cases, meta
    info = probe(options.pairs_from)
    cases = expand(selection, info["gpus"])
    run = create_run(options.results_dir, options.run_id)
    (run.path / "plan.json").write_text(json.dumps([c.to_dict() for c in cases], indent=0))
    meta = {
        "run_id": run.run_id,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": options.argv,
        "pairbench_version": __version__,
        "git_commit": _git_commit(),
        "selection": selection.to_dict(),
        "options": {
            "repeats": options.repeats,
            "steps": options.steps,
            "seed": options.seed,
            "profile": options.profile,
            "timeout_s": options.timeout_s,
            "pairs_from": [str(Path(p).resolve()) for p in options.pairs_from],
        },
        "n_cases": len(cases),
        "visible_gpus": info["gpus"],
        "provenance": info["provenance"],
        "status": "running",
    }
    run.write_meta(meta)
    return run, cases, meta


def raise_usage(message: str) -> None:
    """Raise a one-line usage error."""
    from suite.errors import UsageError

    raise UsageError(message)


def run_cases(run: RunDir, cases: list[Case], options: RunOptions, progress: Progress) -> dict[str, int]:
    """Run every case that has no record yet; return verdict counts of this invocation."""
    done = run.finished_case_ids()
    plans = plan_jobs(cases)
    todo_total = sum(1 for p in plans for c in p.cases if c.case_id not in done)
    progress.begin(total=len({c.case_id for p in plans for c in p.cases}), done=len(done))
    counts: dict[str, int] = {}

    def on_record(record: Record) -> None:
        run.append(record)
        done.add(record.case_id)
        counts[record.verdict] = counts.get(record.verdict, 0) + 1
        progress.finished(record)

    for plan in plans:
        groups = [[c for c in g if c.case_id not in done] for g in plan.groups]
        groups = [g for g in groups if g]
        if groups:
            _run_job(run, plan, groups, options, progress, on_record)
    if todo_total == 0:
        progress.message("nothing to run: every case already has a record")
    return counts


def _run_job(
    run: RunDir,
    plan: JobPlan,
    groups: list[list[Case]],
    options: RunOptions,
    progress: Progress,
    on_record: Callable[[Record], None],
) -> None:
    """Run a job's groups, restarting the worker after a crash or a hang."""
    remaining = list(groups)
    attempt = 0
    while remaining:
        attempt += 1
        job = Job(
            run_dir=str(run.path),
            precision=plan.precision,
            determinism=plan.determinism,
            groups=remaining,
            repeats=options.repeats,
            steps=options.steps,
            seed=options.seed,
            profile=options.profile,
            localise=options.localise,
            pairs_from=tuple(str(Path(p).resolve()) for p in options.pairs_from),
        )
        finished = _run_worker(run, job, attempt, options.timeout_s, progress, on_record)
        if not finished:  # a worker that exits cleanly but runs nothing must not loop forever
            for group in remaining:
                for case in group:
                    on_record(failure_record(case, "error", "worker exited without running this case"))
            return
        remaining = [[c for c in g if c.case_id not in finished] for g in remaining]
        remaining = [g for g in remaining if g]


class _Worker:
    """A worker subprocess with a reader thread feeding a queue of messages."""

    def __init__(self, job_file: Path, log_file: Path):
        self.log_file = log_file
        self._log = open(log_file, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "suite.worker", str(job_file)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=_worker_env(),
            start_new_session=True,  # Ctrl-C goes to the runner, which stops the worker
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
                self.messages.put(json.loads(line))
            except json.JSONDecodeError:
                continue
        self.messages.put(None)

    def stop(self) -> None:
        """Kill the worker if it is still running."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._log.close()

    def stderr_tail(self) -> str:
        """The last lines of the worker's stderr, joined on one line."""
        if not self._log.closed:
            self._log.flush()
        try:
            lines = self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        tail = list(deque((ln.strip() for ln in lines if ln.strip()), maxlen=STDERR_TAIL_LINES))
        # the exception line ("ValueError: ...") says most: put it first
        errors = [ln for ln in tail if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b", ln)]
        if errors:
            tail.remove(errors[-1])
            tail.insert(0, errors[-1])
        return " | ".join(tail)


def _run_worker(
    run: RunDir,
    job: Job,
    attempt: int,
    timeout_s: float,
    progress: Progress,
    on_record: Callable[[Record], None],
) -> set[str]:
    """Run one worker until it is done or dies; return the case ids it finished (or failed)."""
    name = f"{job.precision}-det{job.determinism}-{attempt}"
    job_file = run.sub("logs", f"job-{name}.json")
    job_file.write_text(job.to_json(), encoding="utf-8")
    worker = _Worker(job_file, run.sub("logs", f"worker-{name}.log"))
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
                    _fail_in_flight(job, in_flight, finished, reason, worker, on_record)
                    return finished
                continue
            if msg is None:  # the worker's stdout closed: it exited
                code = worker.proc.wait()
                if in_flight or (not finished and code != 0):
                    how = f"signal {-code}" if code < 0 else f"exit code {code}"
                    reason = f"worker died ({how})"
                    _fail_in_flight(job, in_flight or _all_ids(job), finished, reason, worker, on_record)
                return finished
            event = msg.get("event")
            if event == "start":
                in_flight = list(msg["case_ids"])
                deadline = time.monotonic() + timeout_s * max(1, len(in_flight))
                progress.current(in_flight)
            elif event == "record":
                record = Record.from_dict(msg["record"])
                on_record(record)
                finished.add(record.case_id)
                in_flight = [c for c in in_flight if c != record.case_id]
            elif event == "done":
                worker.proc.wait()
                return finished
    finally:
        worker.stop()


def _all_ids(job: Job) -> list[str]:
    return [c.case_id for g in job.groups for c in g]


def _fail_in_flight(
    job: Job,
    case_ids: list[str],
    finished: set[str],
    reason: str,
    worker: _Worker,
    on_record: Callable[[Record], None],
) -> None:
    tail = worker.stderr_tail()
    full = f"{reason}: {tail}" if tail else reason
    by_id = {c.case_id: c for g in job.groups for c in g}
    for case_id in case_ids:
        if case_id in finished or case_id not in by_id:
            continue
        on_record(failure_record(by_id[case_id], "error", full, worker_log=str(worker.log_file.name)))
        finished.add(case_id)


def finish_meta(run: RunDir, status: str) -> None:
    """Record the end of the run in ``run.json``."""
    meta = run.read_meta()
    meta["status"] = status
    meta["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    run.write_meta(meta)
