"""The context of a check: where it writes, how it runs ``python -m suite ...`` steps and
``pairbench run``s under a deadline, what it learned about the GPU, and the rule for checks only
a GPU can answer.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.machine.tf_noise import quiet_tf_env
from suite.ops.gpu_check.outcome import Check, PartResult, Step
from suite.ops.gpu_check.records import has_plan, missing_cases, run_records
from suite.ops.gpu_check.steps import ROOT, run_step
from suite.results.run_dir import RunDir

NO_GPU = "no GPU visible to TensorFlow"
#: kept back in a part after each ``pairbench run`` for its ``pairbench report``
REPORT_RESERVE_S = 15.0
#: a report gets at least this long (within the whole budget): 1-2 s on a quiet machine
REPORT_MIN_S = 30.0
#: the least time a run of a part gets when that much is left
RUN_MIN_S = 50.0
#: timing options of the check's runs: short samples and warm-up (the check is about numbers)
FAST_TIMING: tuple[str, ...] = ("--min-sample-time", "0.02", "--max-warmup", "0.3")


@dataclass
class Context:
    """Where a check writes, what it runs, and what it learned so far.

    Attributes:
        out: the folder that goes back (at most 8 files, :mod:`~suite.ops.gpu_check.outputs`).
        work: run folders, step logs, the trace tarball.
        smoke: ``--cpu-smoke``: reduced parts, a simulated ``gpu:0`` when there is no GPU.
        gpus: GPUs TensorFlow sees (None until the doctor or the probe said).
        gpu_source: where ``gpus`` came from.
        gpu_name: the first GPU's name (NVML), if known.
        hard_deadline: the end of the whole check (``time.monotonic()``).
        python: the interpreter of every step.
        runs: run id -> part, in the order they ran.
        started: ``time.monotonic()`` at the start.
        echo: print log lines on stdout too.
        matrix_pairs: the matrix part's pairs (None: its default).
        matrix_workloads: the matrix part's workloads.
        det_repeats: reruns of the determinism cases (None: its default).
    """

    out: Path
    work: Path
    smoke: bool = False
    gpus: int | None = None
    gpu_source: str = ""
    gpu_name: str | None = None
    hard_deadline: float = 0.0
    python: str = sys.executable
    runs: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    echo: bool = True
    matrix_pairs: tuple[str, ...] | None = None
    matrix_workloads: tuple[str, ...] = ("train_step",)
    det_repeats: int | None = None

    @property
    def results(self) -> Path:
        """The ``--results-dir`` of every run."""
        return self.work / "results"

    @property
    def logs(self) -> Path:
        """One log per step."""
        return self.work / "logs"

    @property
    def real_gpu(self) -> bool:
        """TensorFlow sees a GPU here."""
        return bool(self.gpus)

    @property
    def simulated(self) -> bool:
        """GPU parts run on a simulated ``gpu:0`` (``--cpu-smoke`` without a GPU)."""
        return self.smoke and not self.real_gpu

    @property
    def mode(self) -> str:
        """``cpu-smoke`` or ``full``."""
        return "cpu-smoke" if self.smoke else "full"

    def env(self) -> dict[str, str]:
        """The environment of every step: quiet TensorFlow, unbuffered, the project importable."""
        env = quiet_tf_env()
        env["PYTHONUNBUFFERED"] = "1"
        path = env.get("PYTHONPATH", "")
        if str(ROOT) not in path.split(os.pathsep):
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), path) if p)
        if self.simulated:
            env["PAIRBENCH_SIMULATED_GPUS"] = "1"
        return env

    def log(self, message: str) -> None:
        """A line of the check's own log (``gpu_check.log``), echoed on stdout."""
        line = f"[{time.monotonic() - self.started:7.1f}s] {message}"
        if self.echo:
            print(line, flush=True)
        self.work.mkdir(parents=True, exist_ok=True)
        with open(self.work / "gpu_check.log", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def size(self, full: str) -> str:
        """``full`` on the GPU, ``tiny`` in a smoke run."""
        return "tiny" if self.smoke else full

    def gpu_only(self, name: str, ok: bool, figure: Any, expected: str) -> Check:
        """A check only a GPU can answer: ``skipped`` (figure shown) without one."""
        if not self.real_gpu:
            why = NO_GPU + (": figure from a simulated gpu:0 on the CPU" if self.simulated else "")
            return Check(name, "skipped", figure, expected, why)
        return Check(name, "pass" if ok else "fail", figure, expected, "" if ok else "not met")

    def run(self, part: PartResult, name: str, argv: Sequence[str], deadline: float, **kw: Any) -> Step:
        """Run a step of ``part`` (:func:`~suite.ops.gpu_check.steps.run_step`) with its log in
        :attr:`logs`, named ``<part>-<name>.log``, and the check's environment."""
        log_path = self.logs / f"{part.part}-{name}.log"
        return run_step(name, argv, deadline=deadline, log_path=log_path, env=self.env(), **kw)

    def step(
        self,
        part: PartResult,
        name: str,
        argv: Sequence[str],
        deadline: float,
        *,
        note: bool = True,
        **kw: Any,
    ) -> Step:
        """Run a step of ``part`` (:meth:`run`), log it and (with ``note``) record it in the part."""
        self.log(f"{part.part}: {name} (up to {max(0.0, deadline - time.monotonic()):.0f} s)")
        step = self.run(part, name, argv, deadline, **kw)
        if note:
            part.note_step(step)
        self.log(
            f"{part.part}: {name} {step.status} in {step.wall_s:.1f} s"
            + (f": {step.tail}" if step.status != "ok" else "")
        )
        return step

    def suite(self, *args: str) -> list[str]:
        """``python -m suite ARGS``."""
        return [self.python, "-m", "suite", *args]

    def pairbench_run(
        self, part: PartResult, run_id: str, args: Sequence[str], deadline: float, *, resume: bool = False
    ) -> list[dict[str, Any]]:
        """``pairbench run`` into ``results/<run_id>`` until ``deadline``, then its report.

        The run gets the time up to ``deadline`` less :data:`REPORT_RESERVE_S`; the report runs
        even when the run was cut short (from a run's finished records). A run stopped at its
        deadline with no planned case missing (it was winding down) is not a timeout.

        Args:
            part: the part the run belongs to.
            run_id: the run folder's name.
            args: ``pairbench run`` options (ignored with ``resume``).
            deadline: when the run and its report must be done (``time.monotonic()``).
            resume: ``pairbench run --resume run_id``: only the cases without a record.

        Returns:
            The run's records (dicts; empty if it wrote none).
        """
        left = deadline - time.monotonic()
        run_deadline = deadline - min(REPORT_RESERVE_S, left * 0.25)
        run_dir = RunDir(self.results / run_id)
        if resume:
            argv = self.suite("run", "--resume", run_id, "--results-dir", str(self.results))
        else:
            argv = self.suite("run", *args, "--results-dir", str(self.results), "--run-id", run_id)
            self.runs[run_id] = part.part  # before it starts: an interrupted check keeps its records too
            part.runs.append(run_id)
        name = f"{'resume' if resume else 'run'}-{run_id}"
        step = self.step(part, name, [*argv, "--no-report", "--quiet"], run_deadline, note=False)
        if step.status == "timeout" and has_plan(run_dir.path) and not missing_cases(run_dir.path):
            step.status, step.tail = "ok", "stopped at its deadline after its last case: no case missing"
        part.note_step(step)
        if not run_dir.meta_path.exists():
            return []
        report = self.suite("report", run_id, "--results-dir", str(self.results), "--no-plots", "-q")
        for i, arg in enumerate(args):
            if i and args[i - 1] == "--pairs-from":
                report += ["--pairs-from", arg]
        report_deadline = min(self.hard_deadline, max(deadline, time.monotonic() + REPORT_MIN_S))
        step = self.run(part, f"report-{run_id}", report, report_deadline)
        part.steps.append(step)  # a missing report is a note, not a failed part: report.md falls back
        if step.status != "ok":
            self.log(f"{part.part}: pairbench report {run_id} {step.status}: {step.tail}")
        return run_records(run_dir.path)
