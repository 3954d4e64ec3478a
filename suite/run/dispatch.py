"""The dispatcher: run the units of a run on an executor, the parent being the one writer.

:class:`Dispatcher` starts each unit (:mod:`suite.run.schedule`) when the units it waits for
have finished and its executor admits it (:mod:`suite.run.executors`: one worker at a time,
one per GPU of this machine, or tasks on a Ray cluster). Every worker's messages arrive on one
queue, so one thread, the caller's, hands every record to ``on_record`` (the lifecycle appends
it to ``records.jsonl`` at once). A case is recorded at most once per invocation: a message
from a worker the dispatcher has given up on is dropped.

What a worker leaves behind:

- it crashes, hangs past the timeout or runs out of memory: its in-flight cases become
  ``error`` rows quoting the fatal line of its log; a fresh worker runs the unit's remaining
  groups (a worker that recorded nothing ends its unit with error rows, so nothing loops);
- the cluster loses it (a node died, the task was killed, it never started): its in-flight
  cases run again in a fresh worker, up to :data:`MAX_LOSSES` times, then become ``error``
  rows saying so.

Every record gets, in ``extra``: the ``executor``, the ``worker`` (unit, attempt, host, pid,
``CUDA_VISIBLE_DEVICES``, the Ray node), the physical ``gpu`` of a GPU case (name, UUID, PCI
bus id, as the worker saw it) and ``ran_alongside``: the cases of other workers that ran at
any moment between the start of the case's group and its record.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from suite.axes import is_gpu
from suite.case import Case
from suite.errors import mentions_out_of_memory
from suite.results.atomic import ResultsWriteError
from suite.results.record import Record
from suite.results.run_dir import RunDir
from suite.run.job import Job
from suite.run.matrix import JobPlan
from suite.run.options import RunOptions
from suite.run.schedule import Unit
from suite.text import clean_data, clean_line
from suite.verdicts import ERROR

#: times the cluster may lose a case's worker before the case becomes an error row; also the
#: number of losses in a row, without a record in between, that ends a unit
MAX_LOSSES = 3
SIMULATED_FLAG = "simulated-gpu"

Events = queue.Queue  # of (handle, message or None)


class Handle(Protocol):
    """A started worker; its messages arrive on the dispatcher's queue as ``(handle, message)``
    and ``(handle, None)`` once it has ended."""

    log_file: Path

    def ended(self) -> tuple[int | None, str | None]:
        """After ``None``: ``(exit code, None)``, or ``(None, why)`` when the cluster lost it."""

    def stop(self) -> None:
        """Kill the worker (nothing it sends afterwards is used)."""

    def fatal_summary(self) -> str:
        """Why the worker died, from its log."""


class Executor(Protocol):
    """Where units run (see :mod:`suite.run.executors`).

    Attributes:
        name: ``serial``, ``local`` or ``ray`` (recorded in every record).
        remote: a worker that sends nothing before its deadline was never started (a cluster
            task waiting for resources): a loss, not a hang.
        barrier: a unit that is not a GPU unit and cannot start yet holds up the units after it
            (so CPU cases get the machine to themselves instead of waiting forever).
    """

    name: str
    remote: bool
    barrier: bool

    def probe(self) -> dict[str, Any]:
        """``{"gpus": int, "provenance": {...}}`` of where the cases will run."""

    def units(self, plans: list[JobPlan]) -> list[Unit]:
        """The units of the plans, in start order."""

    def admit(self, unit: Unit, running: list[Unit]) -> bool:
        """Whether ``unit`` may start while ``running`` run."""

    def start(self, run: RunDir, unit: Unit, job: Job, events: Events) -> Handle:
        """Start a worker for ``job`` (the unit's remaining groups)."""

    def describe(self) -> dict[str, Any]:
        """What this invocation ran on (for ``run.json``)."""

    def close(self) -> None:
        """Release what the executor holds (a Ray connection)."""


def error_record(case: Case, reason: str, **extra: Any) -> Record:
    """A row for a case whose worker died, hung or was lost (no numbers were measured)."""
    return Record(case=case, verdict=ERROR, reason=reason, extra={"finished_at": time.time(), **extra})


@dataclass
class _Waiting:
    unit: Unit
    groups: list[list[Case]]
    attempt: int = 1


@dataclass
class _Running:
    unit: Unit
    groups: list[list[Case]]
    attempt: int
    job: Job
    handle: Handle
    deadline: float
    heard: bool = False
    in_flight: list[str] = field(default_factory=list)
    finished: set[str] = field(default_factory=set)
    placement: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.case_ids = frozenset(c.case_id for c in self.job.cases)


@dataclass
class _Activity:
    unit: str
    start: float
    end: float | None = None


class Dispatcher:
    """Runs units on an executor (see the module docstring)."""

    def __init__(
        self,
        run: RunDir,
        options: RunOptions,
        executor: Executor,
        on_record: Callable[[Record], None],
        on_start: Callable[[list[str]], None] = lambda ids: None,
    ):
        self.run_dir = run
        self.options = options
        self.executor = executor
        self.on_record = on_record
        self.on_start = on_start
        self.events: Events = queue.Queue()
        self.recorded: set[str] = set()
        self._losses: dict[str, int] = {}
        self._unit_losses: dict[str, int] = {}
        self._activity: dict[str, _Activity] = {}

    # ------------------------------------------------------------------ the loop
    def run(self, units: list[Unit]) -> None:
        """Run every unit to its end (every case gets a record, or the run stops)."""
        waiting = [_Waiting(u, [list(g) for g in u.groups]) for u in units]
        running: dict[int, _Running] = {}
        done: set[str] = set()
        try:
            while waiting or running:
                self._start_ready(waiting, running, done)
                if not running:
                    self._unschedulable(waiting)
                    break
                self._wait_once(waiting, running, done)
        finally:
            for state in running.values():
                state.handle.stop()

    def _start_ready(self, waiting: list[_Waiting], running: dict[int, _Running], done: set[str]) -> None:
        for item in list(waiting):
            if not all(name in done for name in item.unit.after):
                continue
            if self.executor.admit(item.unit, [s.unit for s in running.values()]):
                waiting.remove(item)
                state = self._start(item)
                running[id(state.handle)] = state
            elif self.executor.barrier and item.unit.kind != "gpu":
                break

    def _start(self, item: _Waiting) -> _Running:
        unit = item.unit
        job = Job(
            run_dir=str(self.run_dir.path),
            precision=unit.precision,
            determinism=unit.determinism,
            groups=item.groups,
            options=self.options,
            name=f"{unit.name}-{item.attempt}",
        )
        handle = self.executor.start(self.run_dir, unit, job, self.events)
        deadline = time.monotonic() + self.options.timeout_s * 2  # start-up: TensorFlow, devices
        return _Running(unit, item.groups, item.attempt, job, handle, deadline)

    def _wait_once(self, waiting: list[_Waiting], running: dict[int, _Running], done: set[str]) -> None:
        soonest = min(s.deadline for s in running.values())
        timeout = max(0.05, min(1.0, soonest - time.monotonic()))
        try:
            handle, msg = self.events.get(timeout=timeout)
        except queue.Empty:
            handle, msg = None, None
        state = running.get(id(handle)) if handle is not None else None
        if state is not None and state.handle is handle:
            if msg is None:
                del running[id(handle)]
                self._after(state, self._end(state, timed_out=None), waiting, done)
            else:
                state.heard = True
                self._message(state, msg)
        now = time.monotonic()
        for key, state in list(running.items()):
            if now > state.deadline:
                del running[key]
                state.handle.stop()
                reason = f"timed out after {self.options.timeout_s:.0f} s per case (worker killed)"
                self._after(state, self._end(state, timed_out=reason), waiting, done)

    def _after(
        self, state: _Running, remaining: list[list[Case]], waiting: list[_Waiting], done: set[str]
    ) -> None:
        if remaining:
            waiting.insert(0, _Waiting(state.unit, remaining, state.attempt + 1))
        else:
            done.add(state.unit.name)

    # ------------------------------------------------------------------ messages
    def _message(self, state: _Running, msg: dict[str, Any]) -> None:
        event = msg.get("event")
        if event in ("hello", "node") and isinstance(msg.get("placement"), dict):
            state.placement.update(msg["placement"])
            if event == "node":  # a cluster task has left the queue: its worker's start-up begins now
                state.deadline = time.monotonic() + self.options.timeout_s * 2
        elif event == "start":
            state.in_flight = [str(c) for c in msg.get("case_ids", [])]
            state.deadline = time.monotonic() + self.options.timeout_s * max(1, len(state.in_flight))
            now = time.time()
            for case_id in state.in_flight:
                self._activity[case_id] = _Activity(state.unit.name, now)
            self.on_start(state.in_flight)
        elif event == "record":
            try:
                record = Record.from_dict(msg["record"])
            except (KeyError, ValueError):
                return
            self._record(state, record)
        elif event == "done":  # everything is sent: a worker that does not exit now is killed soon
            from suite.run.parent import exit_grace_s

            state.deadline = min(state.deadline, time.monotonic() + exit_grace_s())
        elif event == "fatal":
            raise ResultsWriteError(str(msg.get("reason") or "the worker cannot write the run folder"))

    def _record(self, state: _Running, record: Record) -> None:
        case_id = record.case_id
        if case_id in self.recorded or case_id not in state.case_ids:
            return
        self.on_record(self._stamp(state, record))  # ResultsWriteError stops the run
        self.recorded.add(case_id)
        state.finished.add(case_id)
        state.in_flight = [c for c in state.in_flight if c != case_id]

    def _stamp(self, state: _Running, record: Record) -> Record:
        worker = {k: v for k, v in state.placement.items() if k != "gpus"}
        extra: dict[str, Any] = {
            **record.extra,
            "executor": self.executor.name,
            "worker": {"unit": state.unit.name, "attempt": state.attempt, **worker},
            "ran_alongside": self._alongside(state.unit.name, record.case_id),
        }
        # the one writer: what a worker says came from user code (names, messages), one clean line each
        flags, notes = [clean_line(f) for f in record.flags], [clean_line(n) for n in record.notes]
        if is_gpu(record.case.device):
            gpu = (state.placement.get("gpus") or {}).get(record.case.device)
            if gpu is not None:
                extra["gpu"] = gpu
            if state.placement.get("simulated_gpus") and SIMULATED_FLAG not in flags:
                flags.append(SIMULATED_FLAG)
                notes.append(
                    f"{record.case.device} was simulated on the CPU (PAIRBENCH_SIMULATED_GPUS, a test of "
                    "the scheduling): these numbers are not GPU measurements"
                )
        reason, causes = clean_line(record.reason), clean_data(record.causes)
        return replace(record, reason=reason, extra=extra, flags=flags, notes=notes, causes=causes)

    def _alongside(self, unit: str, case_id: str) -> list[str]:
        now = time.time()
        mine = self._activity.get(case_id)
        start = mine.start if mine else now
        others = sorted(
            other
            for other, a in self._activity.items()
            if a.unit != unit and a.start <= now and (a.end is None or a.end >= start)
        )
        if mine is not None:
            mine.end = now
        open_starts = [a.start for a in self._activity.values() if a.end is None]
        cutoff = min(open_starts, default=now)
        for other in [k for k, a in self._activity.items() if a.end is not None and a.end < cutoff]:
            del self._activity[other]
        return others

    # ------------------------------------------------------------------ endings
    def _end(self, state: _Running, timed_out: str | None) -> list[list[Case]]:
        """Record what an ended worker leaves behind; return its unit's groups still to run."""
        if timed_out is None:
            code, lost = state.handle.ended()
        else:
            code, lost = None, (timed_out if self.executor.remote and not state.heard else None)
        if lost is not None:
            self._lost(state, lost)
        else:
            if timed_out is not None:
                self._fail(state, state.in_flight, timed_out)
            elif state.in_flight or (not state.finished and code != 0):
                how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                ids = state.in_flight or [c.case_id for c in state.job.cases]
                self._fail(state, ids, f"worker died ({how})")
            if not state.finished:  # a worker that runs nothing must not loop forever
                why = timed_out or "worker exited without running this case"
                self._fail(state, [c.case_id for c in state.job.cases], why, quote=False)
        for case_id in state.in_flight:
            if case_id in self._activity:
                self._activity[case_id].end = time.time()
        remaining = [[c for c in g if c.case_id not in self.recorded] for g in state.groups]
        return [g for g in remaining if g]

    def _lost(self, state: _Running, reason: str) -> None:
        name = state.unit.name
        self._unit_losses[name] = 1 if state.finished else self._unit_losses.get(name, 0) + 1
        worn = []
        for case_id in state.in_flight:
            self._losses[case_id] = self._losses.get(case_id, 0) + 1
            if self._losses[case_id] >= MAX_LOSSES:
                worn.append(case_id)
        self._fail(
            state,
            worn,
            f"the cluster lost this case's worker {MAX_LOSSES} times, last: {reason}",
            quote=False,
        )
        if self._unit_losses[name] >= MAX_LOSSES:
            ids = [c.case_id for c in state.job.cases]
            why = f"the cluster lost this unit's worker {MAX_LOSSES} times in a row, last: {reason}"
            self._fail(state, ids, why, quote=False)

    def _fail(self, state: _Running, case_ids: list[str], reason: str, *, quote: bool = True) -> None:
        """Error rows for the cases among ``case_ids`` that have no record yet."""
        why = state.handle.fatal_summary() if quote and case_ids else ""
        full = f"{reason}: {why}" if why else reason
        if why and mentions_out_of_memory(why):
            full = f"out of memory: {full}"
        try:
            log = self.run_dir.relative(state.handle.log_file)
        except ValueError:
            log = str(state.handle.log_file)
        by_id = {c.case_id: c for c in state.job.cases}
        for case_id in case_ids:
            if case_id in by_id and case_id not in self.recorded:
                self._record(state, error_record(by_id[case_id], full, worker_log=log))

    def _unschedulable(self, waiting: list[_Waiting]) -> None:
        """Nothing runs and nothing can start: error rows, never a silent gap or a hang."""
        for item in waiting:
            for case in (c for g in item.groups for c in g):
                if case.case_id not in self.recorded:
                    self.on_record(
                        error_record(case, f"could not be scheduled on the {self.executor.name} executor")
                    )
                    self.recorded.add(case.case_id)
        waiting.clear()
