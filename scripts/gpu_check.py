"""The whole GPU check of pairbench in one device call (issues 25 and 26).

Run from the project root on the lent GPU machine, after ``source .gpu/tools/activate``
(docs/gpu-check.md)::

    python3 scripts/gpu_check.py --out "$OUT"                  # doctor, determinism, trace, matrix
    python3 scripts/gpu_check.py --out "$OUT" --parts doctor,speed   # issue 26's speed part
    python3 scripts/gpu_check.py --out /tmp/o --cpu-smoke --budget-s 300   # here, without a GPU

Each *part* runs ``python -m suite ...`` subprocesses under its own deadline: the parts share
``--budget-s`` (default 480 s) by weight, time a part does not use goes to the parts after it,
and a step that runs out is stopped (SIGTERM, which a ``pairbench run`` answers by ending its
workers with every finished record on disk, then SIGKILL for what is left) and reported as
``timeout``. Every run folder gets its report (``pairbench report``) even when its run was cut
short, and the outputs are rewritten after every part, so a run killed from outside still leaves
what was finished.

Parts:

- ``doctor``: ``pairbench doctor --json`` and the imports the report needs; tells whether
  TensorFlow sees a GPU.
- ``determinism``: the ``embedding`` pair's ``train_step`` on ``gpu:0`` with op determinism off
  and on, >= 5 reruns, localisation and traces on: distinct results per mode, the layer and op
  it is localised to, the top CUDA kernels of each nondeterministic case.
- ``trace``: one small trace (the determinism run's, else a tiny case of its own) served by
  TensorBoard's profile plugin on a free port: ``/data/plugin/profile/runs``, ``run_tools``
  lists ``kernel_stats``, and ``kernel_stats`` has rows.
- ``matrix``: every pair's reference and subclass member x eager/function/xla x float32/tf32
  at ``default`` size on ``gpu:0``, with the CPU at the same size for ``vs_cpu`` (one run per
  reference member): TF32 rows within the TF32 tolerance, ``vs_cpu``, ``compile_s``, peak
  device memory and NVML telemetry filled, GPU vs CPU step time.
- ``speed`` (issue 26, only when named): the ``mlp`` pair at ``large`` under float32, tf32,
  mixed_bfloat16 and mixed_float16 (tf.function and XLA) against a bare matmul loop's achieved
  TFLOP/s, NVML telemetry per case, the same ``mlp`` case on the CPU and the GPU, and
  ``pairbench overhead`` per pair on ``gpu:0``.

Without a GPU the GPU parts are ``skipped`` ("no GPU visible to TensorFlow"); with
``--cpu-smoke`` they run reduced (tiny sizes, fewer cases) on a simulated ``gpu:0`` on the CPU
(``PAIRBENCH_SIMULATED_GPUS=1``), so every command and every check runs, and the checks that
only a GPU can answer are ``skipped`` with their figure shown.

Outputs under ``--out`` (at most 8 files of at most 16 MiB: the device tool's limit):
``summary.json`` (every part and check with its figure), ``records.jsonl`` (every run's
records, each with ``gpu_check: {part, run_id}``), ``report.md`` (the checks, then each run's
report), ``doctor.json``, ``kernels.tar.gz`` (kernel CSVs of the nondeterministic cases),
``trace.tar.gz`` (one small trace), ``runs.tar.gz`` (the run folders without outputs and traces,
and every step's log) and ``gpu_check.log``. Exit code 0 when no check failed and no part
failed or ran out of time, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

SCHEMA = "pairbench-gpu-check/1"
PARTS: tuple[str, ...] = ("doctor", "determinism", "trace", "matrix", "speed")
DEFAULT_PARTS: tuple[str, ...] = ("doctor", "determinism", "trace", "matrix")
#: parts that need a GPU (run reduced on a simulated one with --cpu-smoke)
GPU_PARTS = frozenset({"determinism", "trace", "matrix", "speed"})
#: how the budget is shared: a part gets its weight's share of what is left when it starts
WEIGHTS: dict[str, float] = {"doctor": 1.0, "determinism": 4.0, "trace": 1.5, "matrix": 9.0, "speed": 9.0}
#: a part gets at least this long when that much is left (TensorFlow's import alone takes seconds)
MIN_PART_S: dict[str, float] = {"doctor": 40.0, "trace": 40.0}
DEFAULT_BUDGET_S = 480.0
#: kept back at the end for writing the outputs
FINAL_RESERVE_S = 15.0
#: kept back in a part after each ``pairbench run`` for its ``pairbench report``
REPORT_RESERVE_S = 15.0
#: a report gets at least this long (within the whole budget): 1-2 s on a quiet machine
REPORT_MIN_S = 30.0
#: the least time worth resuming a cut run with (a run's start alone takes 10-20 s)
RESUME_MIN_S = 45.0
#: the least time a run of a part gets when that much is left
RUN_MIN_S = 50.0
#: between SIGTERM and SIGKILL of a step that ran out
GRACE_S = 10.0
#: the device tool brings back at most this many files of at most this size
MAX_FILES = 8
MAX_FILE_BYTES = 16 * 1024 * 1024
NO_GPU = "no GPU visible to TensorFlow"
OUTPUT_FILES: tuple[str, ...] = (
    "summary.json",
    "records.jsonl",
    "report.md",
    "doctor.json",
    "kernels.tar.gz",
    "trace.tar.gz",
    "runs.tar.gz",
    "gpu_check.log",
)
#: relative cost of a pair's cases, to share the matrix part's time between its runs
PAIR_COST: dict[str, float] = {"transformer": 2.0, "lstm": 1.5}
#: the verdicts of a comparison that agreed
AGREED = ("identical", "close")
#: timing options of the check's runs: short samples and warm-up (the check is about numbers)
FAST_TIMING: tuple[str, ...] = ("--min-sample-time", "0.02", "--max-warmup", "0.3")

assert len(OUTPUT_FILES) <= MAX_FILES


# ---- results of steps, checks and parts ---------------------------------------------------


@dataclass
class Check:
    """One check: what was measured (``figure``), what was expected, and whether it held.

    Attributes:
        name: ``<part>.<what>``.
        status: ``pass``, ``fail``, ``skipped`` (cannot be answered here: ``reason`` says why;
            the figure is still shown) or ``info`` (a figure with no expectation).
        figure: the measured value (JSON-ready).
        expected: what a pass needs, in words.
        reason: why it failed or was skipped.
    """

    name: str
    status: str
    figure: Any = None
    expected: str = ""
    reason: str = ""


@dataclass
class Step:
    """One subprocess of a part."""

    name: str
    argv: list[str]
    status: str  # ok, failed, timeout
    returncode: int | None
    wall_s: float
    log: str
    tail: str = ""


@dataclass
class PartResult:
    """What a part did: ``status`` is ``ok``, ``timeout``, ``failed`` or ``skipped``."""

    part: str
    status: str = "ok"
    reason: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    wall_s: float = 0.0
    budget_s: float = 0.0
    runs: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``summary.json``'s ``parts``)."""
        return asdict(self)

    def note_step(self, step: Step) -> None:
        """Keep a step and let a timeout or failure mark the part (a timeout wins)."""
        self.steps.append(step)
        if step.status == "timeout":
            self.status = "timeout"
            self.reason = _join(self.reason, f"{step.name} ran out of time after {step.wall_s:.0f} s")
        elif step.status != "ok" and self.status == "ok":
            self.status = "failed"
            self.reason = _join(self.reason, f"{step.name} exited {step.returncode}: {step.tail}")


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# ---- running steps under a deadline --------------------------------------------------------


def stop_process(proc: subprocess.Popen, grace_s: float = GRACE_S) -> int | None:
    """Stop a step started in its own session: SIGTERM to it, then SIGKILL to its group.

    A ``pairbench run`` answers SIGTERM by ending its workers, keeping every finished record
    and marking the run ``interrupted``; its workers are not signalled directly, so none of
    them is mistaken for a crash. Whatever is left of the group after ``grace_s`` is killed.

    Returns:
        the exit status (None if it could not be read).
    """
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


def tail_of(path: Path, lines: int = 3, width: int = 300) -> str:
    """The last non-empty lines of a log, joined by `` | `` (for one-line reasons)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[-width:]


def run_step(
    name: str,
    argv: Sequence[str],
    *,
    deadline: float,
    log_path: Path,
    env: dict[str, str] | None = None,
    stdout_path: Path | None = None,
    grace_s: float = GRACE_S,
) -> Step:
    """Run one subprocess until it ends or ``deadline`` (``time.monotonic()``) passes.

    Its stderr (and stdout, unless ``stdout_path`` is given) go to ``log_path``. It starts in a
    session of its own, so that a step that runs out is stopped with everything it started
    (:func:`stop_process`). A KeyboardInterrupt (or the SIGTERM handler of :func:`main`) stops
    it too and is raised again.

    Returns:
        the :class:`Step`: ``ok`` (exit 0), ``failed`` (another exit status, or it could not
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
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=log,
                start_new_session=True,
            )
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
    return Step(name, argv, status, code, round(wall, 2), str(log_path), tail_of(log_path))


def share(deadline: float, weight: float, later: float, reserve: float = 0.0, floor: float = 0.0) -> float:
    """The deadline of the next piece of work: its ``weight``'s share of the time left.

    Args:
        deadline: when all the remaining work must be done (``time.monotonic()``).
        weight: the next piece's weight.
        later: the summed weights of the pieces after it.
        reserve: seconds kept back before ``deadline``.
        floor: at least this many seconds, when that much is left (a ``pairbench run`` needs
            about 20 s before its first case).
    """
    now = time.monotonic()
    left = max(0.0, deadline - reserve - now)
    return now + max(left * weight / max(weight + later, 1e-9), min(floor, left))


# ---- the context of a check ----------------------------------------------------------------


@dataclass
class Context:
    """Where a check writes, what it runs, and what it learned so far.

    Attributes:
        out: the folder that goes back (at most :data:`MAX_FILES` files).
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

    def env(self) -> dict[str, str]:
        """The environment of every step."""
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
        """Run a step of ``part`` (:func:`run_step`), log it and (with ``note``) record it in the part."""
        self.log(f"{part.part}: {name} (up to {max(0.0, deadline - time.monotonic()):.0f} s)")
        step = run_step(
            name,
            argv,
            deadline=deadline,
            log_path=self.logs / f"{part.part}-{name}.log",
            env=self.env(),
            **kw,
        )
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
    ) -> list[dict]:
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
            the run's records (dicts; empty if it wrote none).
        """
        left = deadline - time.monotonic()
        run_deadline = deadline - min(REPORT_RESERVE_S, left * 0.25)
        run_dir = self.results / run_id
        if resume:
            argv = self.suite("run", "--resume", run_id, "--results-dir", str(self.results))
        else:
            argv = self.suite("run", *args, "--results-dir", str(self.results), "--run-id", run_id)
            self.runs[run_id] = part.part  # before it starts: an interrupted check keeps its records too
            part.runs.append(run_id)
        name = f"{'resume' if resume else 'run'}-{run_id}"
        step = self.step(part, name, [*argv, "--no-report", "--quiet"], run_deadline, note=False)
        if step.status == "timeout" and (run_dir / "plan.json").exists() and not missing_cases(run_dir):
            step.status, step.tail = "ok", "stopped at its deadline after its last case: no case missing"
        part.note_step(step)
        if not (run_dir / "run.json").exists():
            return []
        pairs_from = [a for i, a in enumerate(args) if i and args[i - 1] == "--pairs-from"]
        report = self.suite("report", run_id, "--results-dir", str(self.results), "--no-plots", "-q")
        for path in pairs_from:
            report += ["--pairs-from", path]
        report_deadline = min(self.hard_deadline, max(deadline, time.monotonic() + REPORT_MIN_S))
        step = run_step(
            f"report-{run_id}",
            report,
            deadline=report_deadline,
            log_path=self.logs / f"{part.part}-report-{run_id}.log",
            env=self.env(),
        )
        part.steps.append(step)  # a missing report is a note, not a failed part: report.md falls back
        if step.status != "ok":
            self.log(f"{part.part}: pairbench report {run_id} {step.status}: {step.tail}")
        return read_records(run_dir)


def read_records(run_dir: Path) -> list[dict]:
    """The records of a run folder as dicts; a damaged line (a run killed mid-write) is skipped."""
    out = []
    path = run_dir / "records.jsonl"
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            rec = json.loads(line)
            if isinstance(rec, dict) and isinstance(rec.get("case"), dict):
                out.append(rec)
    return out


def missing_cases(run_dir: Path) -> list[dict]:
    """The planned cases of a run that have no record (all of them if it has no plan)."""
    have = {json.dumps(_case(r), sort_keys=True) for r in read_records(run_dir)}
    plan = read_plan(run_dir)
    return [c for c in plan if json.dumps(c, sort_keys=True) not in have] if plan else [{}]


def read_plan(run_dir: Path) -> list[dict]:
    """The planned cases of a run (``plan.json``; empty if unreadable)."""
    try:
        plan = json.loads((run_dir / "plan.json").read_text())
    except (OSError, json.JSONDecodeError):
        return []
    return [c for c in plan if isinstance(c, dict)] if isinstance(plan, list) else []


# ---- record helpers ---------------------------------------------------------------------


def _case(rec: dict) -> dict:
    return rec.get("case") or {}


def _is_gpu(rec: dict) -> bool:
    return str(_case(rec).get("device", "")).startswith("gpu")


def _label(rec: dict, *axes: str) -> str:
    case = _case(rec)
    return ".".join(str(case.get(a)) for a in axes)


def _num(value: Any, digits: int = 3) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    return value


def _rerun(rec: dict) -> dict:
    return (rec.get("divergence") or {}).get("rerun") or {}


def _distinct(rec: dict) -> str:
    rerun = _rerun(rec)
    return f"{rerun.get('distinct', '?')}/{rerun.get('runs', '?')}"


def localisation_text(rec: dict) -> str | None:
    """``forward pool [UnsortedSegmentSum]; update embed/embeddings [ResourceScatterSub]`` or None
    when the record names no layer with its ops."""
    loc = rec.get("localisation") or {}
    parts = []
    for stage in ("forward", "backward", "update"):
        entry = loc.get(stage)
        if not isinstance(entry, dict):
            continue
        where = entry.get("layer") or entry.get("variable")
        ops = [str(o) for o in entry.get("ops") or []]
        if where and ops:
            parts.append(f"{stage} {where} [{', '.join(ops[:6])}]")
    return "; ".join(parts) or None


def top_kernels(rec: dict, n: int = 3) -> list[dict]:
    """The record's top ``n`` device kernels: name (shortened), op, count, share of kernel time."""
    rows = ((rec.get("profile") or {}).get("top_kernels")) or []
    out = []
    for row in rows[:n]:
        name = str(row.get("name", ""))
        out.append(
            {
                "name": name if len(name) <= 80 else name[:77] + "...",
                "op": row.get("op_name") or "",
                "count": row.get("count"),
                "share": _num(row.get("share")),
            }
        )
    return out


# ---- part: doctor ------------------------------------------------------------------------

IMPORTS_PROBE = """
import importlib.metadata, importlib.util, json
out = {}
dists = {"pynvml": "nvidia-ml-py", "tensorboard_plugin_profile": "tensorboard-plugin-profile"}
names = ("tensorflow", "pyarrow", "pynvml", "tensorboard", "xprof", "tensorboard_plugin_profile")
for name in names:  # found without importing (tensorboard would import TensorFlow)
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    try:
        out[name] = importlib.metadata.version(dists.get(name, name)) if found else None
    except importlib.metadata.PackageNotFoundError:
        out[name] = "present"
print(json.dumps(out))
"""


def part_doctor(ctx: Context, part: PartResult, deadline: float) -> None:
    """``pairbench doctor --json`` and the imports the report needs; learns the GPU count."""
    doctor_json = ctx.work / "doctor.json"
    step = ctx.step(part, "doctor", ctx.suite("doctor", "--json"), deadline, stdout_path=doctor_json)
    if step.status == "failed" and step.returncode == 1:  # doctor says "not ready": a check, not a crash
        part.status, part.reason = "ok", ""
    try:
        doc = json.loads(doctor_json.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        part.status = part.status if part.status != "ok" else "failed"
        part.reason = _join(part.reason, f"no JSON from pairbench doctor ({exc})")
        doc = None
    if doc is not None:
        prov = doc.get("provenance") or {}
        gpus = [d for d in prov.get("tf_devices") or [] if str(d.get("device_type", "")).upper() == "GPU"]
        if ctx.gpus is None:
            ctx.gpus, ctx.gpu_source = len(gpus), "pairbench doctor"
        nvml = prov.get("gpus") or []
        ctx.gpu_name = ctx.gpu_name or (nvml[0].get("name") if nvml else None)
        checks = {c.get("name"): c for c in doc.get("checks") or []}
        part.figures.update(
            {
                "ready": doc.get("ok"),
                "problems": doc.get("problems"),
                "tensorflow": (checks.get("tensorflow") or {}).get("detail"),
                "build": (checks.get("build") or {}).get("detail"),
                "devices": (checks.get("devices") or {}).get("detail"),
                "nvml": (checks.get("nvml") or {}).get("detail"),
                "xla": {k: v.get("detail") for k, v in checks.items() if str(k).startswith("xla:")},
                "profile_plugin": (checks.get("profile-plugin") or {}).get("detail"),
                "driver": prov.get("driver_version"),
            }
        )
        part.checks.append(
            Check(
                "doctor.ready",
                "pass" if doc.get("ok") else "fail",
                doc.get("ok"),
                "exit 0: the suite can run",
                _join(*(doc.get("problems") or [])),
            )
        )
        part.checks.append(
            ctx.gpu_only("doctor.gpu_visible", bool(gpus), part.figures["devices"], "TensorFlow lists a GPU")
        )
        xla_gpu = checks.get("xla:gpu:0") or {}
        part.checks.append(
            ctx.gpu_only(
                "doctor.xla_gpu", bool(xla_gpu.get("ok")), xla_gpu.get("detail"), "XLA compiles on gpu:0"
            )
        )
    probe_out = ctx.work / "imports.json"
    ctx.step(part, "imports", [ctx.python, "-c", IMPORTS_PROBE], deadline, stdout_path=probe_out)
    try:
        imports = json.loads(probe_out.read_text())
    except (OSError, json.JSONDecodeError):
        imports = {}
    part.figures["imports"] = imports
    wanted = ("pyarrow", "pynvml", "tensorboard", "xprof")
    missing = [m for m in wanted if not imports.get(m)]
    why = f"missing: {', '.join(missing)} (pack them: docs/gpu-check.md)" if missing else ""
    if not imports:
        why = "the import probe gave no answer (see logs/doctor-imports.log)"
    part.checks.append(
        Check(
            "doctor.imports",
            "fail" if missing else "pass",
            {m: imports.get(m) for m in wanted},
            "pyarrow (pairbench report), pynvml, tensorboard and xprof import",
            why,
        )
    )


def probe_gpus(ctx: Context, deadline: float) -> None:
    """How many GPUs TensorFlow sees, when the doctor did not say (a subprocess, time-boxed)."""
    out = ctx.work / "gpu-probe.txt"
    code = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    step = run_step(
        "gpu-probe",
        [ctx.python, "-c", code],
        deadline=min(deadline, time.monotonic() + 90),
        log_path=ctx.logs / "gpu-probe.log",
        env=ctx.env(),
        stdout_path=out,
    )
    try:
        ctx.gpus, ctx.gpu_source = int(out.read_text().strip().splitlines()[-1]), "probe"
    except (OSError, ValueError, IndexError):
        ctx.gpus, ctx.gpu_source = 0, f"probe {step.status}: {step.tail}"


# ---- part: determinism -------------------------------------------------------------------


def determinism_args(ctx: Context) -> list[str]:
    """The ``pairbench run`` arguments of the determinism part."""
    pairs, modes = "embedding", "eager,function,xla"
    extra: list[str] = []
    if ctx.smoke:  # plus a pair that is nondeterministic on the CPU, for the localisation plumbing
        pairs, modes = "embedding,chaos", "eager,function"
        extra = ["--pairs-from", "tests/chaos_pairs.py"]
    return [
        *("--pairs", pairs, "--members", "sequential", "--workloads", "train_step", "--modes", modes),
        *("--devices", "gpu:0", "--precisions", "float32", "--determinism", "off,on"),
        *("--sizes", ctx.size("default"), "--repeats", str(ctx.det_repeats or (5 if ctx.smoke else 8))),
        *("--profile", "--localise", "--no-fp64", "--timeout", "120", *FAST_TIMING, *extra),
    ]


def determinism_checks(ctx: Context, records: list[dict], pair: str = "embedding") -> list[Check]:
    """The checks of the determinism part on its records."""
    checks = []
    gpu = [r for r in records if _is_gpu(r)]
    mine = [r for r in gpu if _case(r).get("pair") == pair]
    off = {_case(r)["mode"]: r for r in mine if _case(r).get("determinism") == "off"}
    on = {_case(r)["mode"]: r for r in mine if _case(r).get("determinism") == "on"}
    figure = {m: f"{r['verdict']} {_distinct(r)}" for m, r in sorted(off.items())}
    tf_modes = [m for m in ("eager", "function") if m in off]
    ok = bool(tf_modes) and all(
        off[m]["verdict"] == "nondeterministic" and _rerun(off[m]).get("runs", 0) >= 5 for m in tf_modes
    )
    checks.append(
        ctx.gpu_only(
            f"determinism.{pair}_off_nondeterministic",
            ok,
            figure,
            f"{pair} train_step with determinism off: nondeterministic (distinct results over >= 5 "
            "reruns) in eager and tf.function (XLA shown for information)",
        )
    )
    figure_on = {m: f"{r['verdict']} {_distinct(r)}" for m, r in sorted(on.items())}
    ok_on = bool(on) and all(
        r["verdict"] not in ("nondeterministic", "error", "unsupported") and _rerun(r).get("distinct") == 1
        for r in on.values()
    )
    checks.append(
        Check(
            f"determinism.{pair}_on_stable",
            "pass" if ok_on else "fail",
            figure_on,
            f"{pair} train_step with determinism on: bitwise stable over the reruns (1 distinct result)",
            "" if ok_on else "a determinism-on case is not bitwise stable, or none ran",
        )
    )
    notes = sorted({n for r in on.values() for n in r.get("notes") or [] if "determinism" in n})
    checks.append(Check("determinism.note", "info", notes, "what the determinism-on rows say"))
    nondet = [
        r for r in gpu if r.get("verdict") == "nondeterministic" and _case(r).get("determinism") == "off"
    ]
    where = {_label(r, "pair", "mode"): localisation_text(r) for r in nondet}
    ok_loc = bool(nondet) and all(where.values())
    checks.append(
        Check(
            "determinism.localised",
            "pass" if ok_loc else "fail",
            where,
            "every nondeterministic case is localised to a layer and its ops",
            ""
            if ok_loc
            else ("no nondeterministic case to localise" if not nondet else "a case names no layer/op"),
        )
    )
    kernels = {_label(r, "pair", "mode"): top_kernels(r) for r in nondet}
    ok_k = bool(kernels) and all(kernels.values())
    checks.append(
        ctx.gpu_only(
            "determinism.top_kernels",
            ok_k,
            kernels,
            "the top CUDA kernels of every nondeterministic case (from its trace)",
        )
    )
    return checks


def part_determinism(ctx: Context, part: PartResult, deadline: float) -> None:
    """The ``embedding`` train step with op determinism off and on (see the module docstring)."""
    records = ctx.pairbench_run(part, "determinism", determinism_args(ctx), deadline)
    part.figures["records"] = len(records)
    part.figures["cases"] = {
        r.get("case_id"): {
            "verdict": r.get("verdict"),
            "rerun": _distinct(r),
            "localised": localisation_text(r),
            "top_kernels": top_kernels(r, 5),
            "kernels_csv": (r.get("profile") or {}).get("kernels_csv"),
        }
        for r in records
    }
    part.checks.extend(determinism_checks(ctx, records))
    if ctx.smoke:  # chaos is nondeterministic with determinism on too (its design): the control
        chaos = {c.name: c for c in determinism_checks(ctx, records, "chaos")}
        part.checks.append(
            _invert(chaos["determinism.chaos_on_stable"], "chaos stays nondeterministic when on")
        )


def _invert(check: Check, expected: str) -> Check:
    """A control check: it must fail for the plumbing to be right (and a case must have run)."""
    status = {"pass": "fail", "fail": "pass"}.get(check.status, check.status)
    reason = "" if status == "pass" else "the control was stable"
    if not check.figure:
        status, reason = "fail", "no case of the control ran"
    name = check.name.replace("_on_stable", "_on_control")
    return Check(name, status, check.figure, expected, reason)


# ---- part: trace -------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, timeout: float) -> Any:
    """GET a JSON document (gzip or not) from the loopback TensorBoard."""
    with urllib.request.urlopen(url, timeout=max(1.0, timeout)) as resp:  # loopback only
        body = resp.read()
        if resp.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    return json.loads(body)


def _rows(data: Any) -> int:
    """Rows of a gviz table (or of the first table of a list of them)."""
    if isinstance(data, list):
        return sum(_rows(d) for d in data)
    if isinstance(data, dict):
        return len(data.get("rows") or [])
    return 0


def query_tensorboard(ctx: Context, logdir: Path, deadline: float, log_path: Path) -> dict[str, Any]:
    """Serve ``logdir`` with TensorBoard and ask its profile plugin what a user would see.

    Returns:
        ``{"port", "runs", "run", "tools", "kernel_stats_rows", "error", "wall_s"}``.
    """
    port = free_port()
    argv = [ctx.python, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1"]
    argv += ["--port", str(port)]
    found: dict[str, Any] = {"port": port, "runs": [], "run": None, "tools": [], "kernel_stats_rows": None}
    found["error"] = None
    start = time.monotonic()
    base = f"http://127.0.0.1:{port}/data/plugin/profile"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=ctx.env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            while time.monotonic() < deadline and proc.poll() is None and not found["runs"]:
                with contextlib.suppress(
                    urllib.error.URLError, ConnectionError, json.JSONDecodeError, OSError
                ):
                    found["runs"] = get_json(f"{base}/runs", deadline - time.monotonic())
                if not found["runs"]:
                    time.sleep(0.5)
            if proc.poll() is not None:
                found["error"] = f"tensorboard exited {proc.returncode}: {tail_of(log_path)}"
            elif not found["runs"]:
                found["error"] = "tensorboard listed no runs before the deadline"
            else:
                run = found["run"] = found["runs"][0]
                q = urllib.parse.quote(run)
                found["tools"] = get_json(f"{base}/run_tools?run={q}", deadline - time.monotonic())
                tool = "kernel_stats"
                hosts = get_json(f"{base}/hosts?run={q}&tag={tool}", deadline - time.monotonic())
                host = hosts[0].get("hostname", "") if hosts and isinstance(hosts[0], dict) else ""
                url = f"{base}/data?run={q}&tag={tool}&host={urllib.parse.quote(host)}"
                found["kernel_stats_rows"] = _rows(get_json(url, deadline - time.monotonic()))
        except (urllib.error.URLError, OSError, ValueError, IndexError) as exc:
            found["error"] = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            stop_process(proc, grace_s=5)
    found["wall_s"] = round(time.monotonic() - start, 1)
    return found


def pick_trace(ctx: Context) -> Path | None:
    """The determinism run's trace of a nondeterministic ``embedding`` case (else any of its traces)."""
    run_dir = ctx.results / "determinism"
    records = read_records(run_dir)
    ranked = sorted(
        (r for r in records if (r.get("profile") or {}).get("trace_dir")),
        key=lambda r: (
            _case(r).get("pair") != "embedding",
            r.get("verdict") != "nondeterministic",
            _case(r).get("mode") != "function",
        ),
    )
    for rec in ranked:
        logdir = run_dir / rec["profile"]["trace_dir"]
        if any(logdir.rglob("*.xplane.pb")):
            return logdir
    return None


def tar_trace(logdir: Path, dest: Path) -> list[str]:
    """Tar the trace files of one case's logdir (``<case>/plugins/profile/<session>/*.xplane.pb``)."""
    members = sorted(logdir.rglob("*.xplane.pb"))
    budget = MAX_FILE_BYTES - 64 * 1024
    kept = []
    with tarfile.open(dest, "w:gz") as tar:
        for path in members:
            size = path.stat().st_size
            if size > budget:
                continue
            budget -= size + 1024
            arcname = f"{logdir.name}/{path.relative_to(logdir)}"
            tar.add(path, arcname=arcname)
            kept.append(arcname)
    return kept


def part_trace(ctx: Context, part: PartResult, deadline: float) -> None:
    """One small trace, served by TensorBoard's profile plugin and checked over its HTTP API."""
    logdir = pick_trace(ctx)
    if logdir is None:
        args = [
            *(
                "--pairs",
                "mlp_seed",
                "--members",
                "sequential",
                "--workloads",
                "predict",
                "--modes",
                "function",
            ),
            *(
                "--devices",
                "gpu:0",
                "--sizes",
                "tiny",
                "--repeats",
                "1",
                "--profile",
                "--no-fp64",
                "--no-localise",
            ),
            *FAST_TIMING,
        ]
        records = ctx.pairbench_run(part, "trace", args, share(deadline, 1, 1))
        for rec in records:
            trace_dir = (rec.get("profile") or {}).get("trace_dir")
            if trace_dir and any((ctx.results / "trace" / trace_dir).rglob("*.xplane.pb")):
                logdir = ctx.results / "trace" / trace_dir
    if logdir is None:
        part.status = "failed" if part.status == "ok" else part.status
        part.reason = _join(part.reason, "no trace was captured")
        part.checks.append(Check("trace.captured", "fail", None, "a trace file", "no trace was captured"))
        return
    kept = tar_trace(logdir, ctx.work / "trace.tar.gz")
    part.figures["trace"] = {"logdir": str(logdir.relative_to(ctx.work)), "files": kept}
    part.figures["trace_bytes"] = (ctx.work / "trace.tar.gz").stat().st_size
    ctx.log(f"trace: TensorBoard on {logdir.name} (up to {max(0.0, deadline - time.monotonic()):.0f} s)")
    found = query_tensorboard(ctx, logdir, deadline, ctx.logs / "trace-tensorboard.log")
    ctx.log(
        f"trace: TensorBoard answered in {found['wall_s']} s: runs {found['runs']}, tools {found['tools']}"
    )
    part.figures["tensorboard"] = found
    if found["error"]:
        part.status = "timeout" if "deadline" in found["error"] else "failed"
        part.reason = _join(part.reason, f"tensorboard: {found['error']}")
    tools = [str(t) for t in found["tools"] or []]
    part.checks.append(
        Check(
            "trace.tensorboard_runs",
            "pass" if found["runs"] else "fail",
            found["runs"],
            "TensorBoard's /data/plugin/profile/runs lists the trace",
            found["error"] or "",
        )
    )
    has_viewer = any(t.startswith("trace_viewer") for t in tools)
    part.checks.append(
        Check("trace.trace_viewer", "pass" if has_viewer else "fail", tools, "run_tools lists trace_viewer")
    )
    part.checks.append(
        ctx.gpu_only(
            "trace.kernel_stats_listed",
            any(t.rstrip("@") == "kernel_stats" for t in tools),
            tools,
            "run_tools lists kernel_stats",
        )
    )
    rows = found["kernel_stats_rows"]
    part.checks.append(
        ctx.gpu_only("trace.kernel_stats_rows", bool(rows), rows, "kernel_stats has a row per kernel")
    )


# ---- part: matrix ------------------------------------------------------------------------


def matrix_groups(pairs: Iterable[str] | None) -> list[tuple[str, list[str]]]:
    """Pairs grouped by their reference member (one run each: ``--members <ref>,subclass``),
    smallest group first: it gets its share of the time, the largest gets what is left.

    Pairs without a ``subclass`` member run their reference alone.
    """
    from suite.zoo import get_pair, registered

    names = list(pairs) if pairs else sorted(registered())
    groups: dict[str, list[str]] = {}
    for name in names:
        pair = get_pair(name)
        members = [pair.reference] + (["subclass"] if "subclass" in pair.members() else [])
        groups.setdefault(",".join(dict.fromkeys(members)), []).append(name)
    return sorted(groups.items(), key=lambda kv: (len(kv[1]), kv[0]))


def matrix_args(ctx: Context, members: str, pairs: list[str]) -> list[str]:
    """``pairbench run`` arguments of one matrix run."""
    return [
        *("--pairs", ",".join(pairs), "--members", members, "--workloads", ",".join(ctx.matrix_workloads)),
        *("--modes", "eager,function,xla", "--devices", "cpu,gpu:0", "--precisions", "float32,tf32"),
        *("--sizes", ctx.size("default"), "--repeats", "3", "--timeout", "120", *FAST_TIMING),
        *(("--no-fp64",) if ctx.smoke else ()),  # one worker less per run on the 2-core CPU
    ]


def matrix_checks(ctx: Context, records: list[dict], planned: list[dict]) -> tuple[list[Check], dict]:
    """The checks of the matrix part on the records of its runs (and their plans)."""
    from suite.divergence.verdict import tolerance_for

    checks: list[Check] = []
    figures: dict[str, Any] = {}
    have = {json.dumps(_case(r), sort_keys=True) for r in records}
    gpu_plan = [c for c in planned if str(c.get("device", "")).startswith("gpu")]
    missing = [c for c in gpu_plan if json.dumps(c, sort_keys=True) not in have]
    done = len(gpu_plan) - len(missing)
    checks.append(
        Check(
            "matrix.coverage",
            "pass" if gpu_plan and not missing else "fail",
            f"{done}/{len(gpu_plan)} GPU cases",
            "every planned GPU case has a record",
            f"{len(missing)} without a record (cut by the time box?)" if missing else "",
        )
    )
    verdicts: dict[str, int] = {}
    for r in records:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    figures["verdicts"] = verdicts
    bad = {
        r["case_id"]: f"{r['verdict']}: {str(r.get('reason', ''))[:160]}"
        for r in records
        if r["verdict"] in ("error", "unsupported", "incomparable", "structural-mismatch")
        and not _tf32_on_cpu(r)
    }
    checks.append(
        Check(
            "matrix.no_errors",
            "fail" if bad else "pass",
            bad or 0,
            "no error/unsupported/incomparable row (tf32 on the CPU is unsupported by design)",
        )
    )
    gpu = [r for r in records if _is_gpu(r) and r.get("timing")]
    tol = tolerance_for("tf32")
    figure = tf32_agreement(records)
    checks.append(
        ctx.gpu_only(
            "matrix.tf32_close",
            bool(figure["rows"]) and not figure["outside"],
            figure,
            f"every tf32 GPU row within the TF32 tolerance (rtol {tol['rtol']}, atol {tol['atol']}) of its "
            "references (vs_cpu: the float32 CPU case); a comparison its float32 twin fails too is "
            "excused (not TF32's doing)",
        )
    )
    on_cpu = {_same_case(r) for r in records if _case(r).get("device") == "cpu" and not _tf32_on_cpu(r)}
    want = [r for r in gpu if _same_case(r) in on_cpu]
    filled = [r for r in want if (r.get("divergence") or {}).get("vs_cpu")]
    checks.append(
        Check(
            "matrix.vs_cpu",
            "pass" if want and len(filled) == len(want) else "fail",
            f"{len(filled)}/{len(want)} GPU rows whose case ran on the CPU",
            "vs_cpu filled wherever the same case ran on the CPU at the same size",
        )
    )
    compile_s = [r["timing"].get("compile_s") for r in gpu]
    ok_c = bool(gpu) and all(isinstance(v, int | float) and v > 0 for v in compile_s)
    by_mode: dict[str, list[float]] = {}
    for r in gpu:
        if isinstance(r["timing"].get("compile_s"), int | float):
            by_mode.setdefault(_case(r)["mode"], []).append(r["timing"]["compile_s"])
    checks.append(
        Check(
            "matrix.compile_s",
            "pass" if ok_c else "fail",
            {m: {"min": _num(min(v)), "max": _num(max(v))} for m, v in sorted(by_mode.items())},
            "compile_s filled (> 0) on every timed GPU row",
        )
    )
    peaks = [(r.get("memory") or {}).get("peak_device_bytes") for r in gpu]
    ok_m = bool(gpu) and all(isinstance(v, int) and v > 0 for v in peaks)
    known = [v for v in peaks if isinstance(v, int)]
    checks.append(
        ctx.gpu_only(
            "matrix.peak_device_memory",
            ok_m,
            {"filled": f"{len(known)}/{len(peaks)}", "max_mib": _num(max(known) / 2**20) if known else None},
            "peak device memory filled on every timed GPU row",
        )
    )
    samples = [(r.get("telemetry") or {}).get("samples") for r in gpu]
    ok_t = bool(gpu) and all(isinstance(v, int) and v > 0 for v in samples)
    checks.append(
        ctx.gpu_only(
            "matrix.telemetry",
            ok_t,
            f"{sum(isinstance(v, int) and v > 0 for v in samples)}/{len(samples)} GPU rows with NVML samples",
            "NVML telemetry samples on every timed GPU row",
        )
    )
    figures["gpu_vs_cpu"] = speedups(records)
    checks.append(
        Check("matrix.gpu_vs_cpu_speed", "info", figures["gpu_vs_cpu"], "CPU step / GPU step, float32")
    )
    return checks, figures


def tf32_agreement(records: list[dict]) -> dict[str, Any]:
    """How the tf32 GPU rows agree with their references, judged with the TF32 tolerance.

    A row is *within* when every agreement comparison it made (``vs_pair``, ``vs_eager``,
    ``vs_cpu``) is within the TF32 tolerance, whatever its verdict word (a nondeterministic row
    is judged by its first repeat's comparisons). A comparison beyond it is *excused* when the
    same comparison of the float32 twin (same case, float32) is beyond the float32 tolerance
    too: the difference is not TF32's (e.g. XLA's dropout masks); otherwise the row is *outside*.
    Rows that failed (``error``, ``unsupported``) are outside.

    Returns:
        ``{"rows", "within", "excused", "outside", "worst_tol_ratio", "worst", "vs_cpu_filled"}``.
    """
    from suite.divergence.verdict import AGREEMENT, tolerance_for, within_tolerance

    tol, tol32 = tolerance_for("tf32"), tolerance_for("float32")
    twins = {_same_case(r): r for r in records if _is_gpu(r) and _case(r).get("precision") == "float32"}
    rows = [r for r in records if _is_gpu(r) and _case(r).get("precision") == "tf32"]
    worst: tuple[float, str] = (0.0, "")
    within, excused, outside = 0, [], []
    for r in rows:
        if r.get("verdict") in ("error", "unsupported"):
            outside.append(f"{r['case_id']}: {r['verdict']}: {str(r.get('reason', ''))[:120]}")
            continue
        div = r.get("divergence") or {}
        made = {k: div[k] for k in AGREEMENT if div.get(k)}
        for key, m in made.items():
            ratio = m.get("tol_ratio")
            if ratio is not None and ratio > worst[0]:
                worst = (float(ratio), f"{r['case_id']} {key}")
        beyond = [k for k, m in made.items() if not within_tolerance(m, tol)]
        if not made:
            outside.append(f"{r['case_id']}: nothing compared ({r.get('verdict')})")
        elif not beyond:
            within += 1
        else:
            twin_div = (twins.get(_same_case(r)) or {}).get("divergence") or {}
            twin_beyond = [k for k in beyond if twin_div.get(k) and not within_tolerance(twin_div[k], tol32)]
            text = f"{r['case_id']}: {', '.join(beyond)} ({r.get('verdict')})"
            (excused if len(twin_beyond) == len(beyond) else outside).append(text)
    return {
        "rows": len(rows),
        "within": within,
        "excused": excused[:10],
        "outside": outside[:10],
        "worst_tol_ratio": _num(worst[0]),
        "worst": worst[1],
        "vs_cpu_filled": sum(1 for r in rows if (r.get("divergence") or {}).get("vs_cpu")),
    }


def _tf32_on_cpu(rec: dict) -> bool:
    """A ``tf32`` CPU case: ``unsupported`` by design (TF32 exists only on GPUs)."""
    return _case(rec).get("device") == "cpu" and _case(rec).get("precision") == "tf32"


def _same_case(rec: dict) -> tuple:
    """The axes a case shares with its ``vs_cpu`` reference (device and precision aside)."""
    c = _case(rec)
    return (
        c.get("pair"),
        c.get("member"),
        c.get("workload"),
        c.get("mode"),
        c.get("size"),
        c.get("determinism"),
    )


def speedups(records: list[dict]) -> dict[str, float]:
    """CPU median step time / GPU median step time per (pair, member, mode), float32."""
    steps: dict[tuple, dict[str, float]] = {}
    for r in records:
        c = _case(r)
        median = (r.get("timing") or {}).get("step_s_median")
        if c.get("precision") != "float32" or not median:
            continue
        key = (c["pair"], c["member"], c["workload"], c["mode"])
        steps.setdefault(key, {})["gpu" if _is_gpu(r) else "cpu"] = float(median)
    return {
        ".".join(k): _num(v["cpu"] / v["gpu"]) for k, v in sorted(steps.items()) if "cpu" in v and "gpu" in v
    }


def part_matrix(ctx: Context, part: PartResult, deadline: float) -> None:
    """Every pair's reference and subclass member x modes x float32/tf32, GPU and CPU."""
    pairs = ctx.matrix_pairs or (("mlp_seed", "transformer") if ctx.smoke else None)
    groups = matrix_groups(pairs)
    weights = [sum(1.0 if ctx.smoke else PAIR_COST.get(p, 1.0) for p in g) for _, g in groups]
    run_ids = [f"matrix-{members.split(',')[0]}" for members, _ in groups]
    for i, (members, group) in enumerate(groups):
        run_deadline = share(deadline, weights[i], sum(weights[i + 1 :]), floor=RUN_MIN_S)
        ctx.pairbench_run(part, run_ids[i], matrix_args(ctx, members, group), run_deadline)
    # a run cut at its share gets the time the later ones left: `pairbench run --resume`
    cut = [r for r in run_ids if (ctx.results / r / "plan.json").exists() and missing_cases(ctx.results / r)]
    for i, run_id in enumerate(cut):
        if deadline - time.monotonic() < RESUME_MIN_S:
            ctx.log(f"matrix: no time left to resume {run_id}")
            break
        ctx.pairbench_run(part, run_id, (), share(deadline, 1, len(cut) - i - 1), resume=True)
    if part.status == "timeout" and not any(missing_cases(ctx.results / r) for r in run_ids):
        part.status, part.reason = "ok", f"{', '.join(cut)} cut at its share and completed by --resume"
    records = [rec for r in run_ids for rec in read_records(ctx.results / r)]
    planned = [case for r in run_ids for case in read_plan(ctx.results / r)]
    part.figures["resumed"] = cut
    part.figures["runs"] = {f"matrix-{m.split(',')[0]}": {"members": m, "pairs": g} for m, g in groups}
    part.figures["records"] = len(records)
    checks, figures = matrix_checks(ctx, records, planned)
    part.figures.update(figures)
    part.checks.extend(checks)


# ---- part: speed (issue 26) --------------------------------------------------------------

BARE_PRECISIONS: tuple[str, ...] = ("float32", "tf32", "bfloat16", "float16")


def bare_matmul(device: str, m: int, k: int, n: int, seconds: float = 1.0) -> list[dict[str, Any]]:
    """Achieved TFLOP/s of a bare ``tf.matmul`` loop per precision, tf.function and XLA.

    Each (precision, mode): a warm-up call, then back-to-back calls for about ``seconds``, then
    a device sync; TFLOP/s = ``2 m k n`` x calls / time. ``tf32`` is float32 with TF32 on.
    """
    import tensorflow as tf

    out = []
    dev = "/GPU:0" if device.startswith("gpu") else "/CPU:0"
    for precision in BARE_PRECISIONS:
        tf.config.experimental.enable_tensor_float_32_execution(precision == "tf32")
        dtype = {"bfloat16": tf.bfloat16, "float16": tf.float16}.get(precision, tf.float32)
        for mode in ("function", "xla"):
            row: dict[str, Any] = {"precision": precision, "mode": mode, "device": device, "shape": [m, k, n]}
            try:
                with tf.device(dev):
                    a = tf.random.stateless_normal((m, k), seed=(1, 2), dtype=dtype)
                    b = tf.random.stateless_normal((k, n), seed=(3, 4), dtype=dtype)
                    fn = tf.function(lambda x, y: tf.matmul(x, y), jit_compile=mode == "xla")
                    fn(a, b).numpy()
                    calls, start = 0, time.perf_counter()
                    while time.perf_counter() - start < seconds:
                        for _ in range(10):
                            result = fn(a, b)
                        calls += 10
                        result.numpy()  # a sync every 10 calls keeps the queue bounded
                    tf.test.experimental.sync_devices()
                    took = time.perf_counter() - start
                row.update(
                    calls=calls, seconds=round(took, 4), tflops=round(2 * m * k * n * calls / took / 1e12, 3)
                )
            except Exception as exc:  # a precision the device cannot run is a row with the reason
                row["error"] = f"{type(exc).__name__}: {exc}"[:200]
            out.append(row)
    tf.config.experimental.enable_tensor_float_32_execution(True)
    return out


def mlp_flops(size: str) -> float:
    """FLOPs of one ``mlp`` train step: forward, weight gradients and input gradients of every
    matmul (the first layer has no input gradient)."""
    from suite.zoo import get_pair

    hp = get_pair("mlp").hparams(size)
    dims = [hp["features"]] + [hp["width"]] * hp["depth"] + [hp["classes"]]
    macs = [dims[i] * dims[i + 1] for i in range(len(dims) - 1)]
    return 2.0 * hp["batch"] * (3 * sum(macs) - macs[0])


def part_speed(ctx: Context, part: PartResult, deadline: float) -> None:
    """Issue 26's speed figures (see the module docstring), each step time-boxed."""
    size = ctx.size("large")
    device = "gpu:0"
    mlp_case = ("--pairs", "mlp", "--members", "sequential", "--workloads", "train_step")
    args = [
        *mlp_case,
        *("--modes", "function,xla", "--devices", device, "--sizes", size),
        *("--precisions", "float32,tf32,mixed_bfloat16,mixed_float16"),
        *("--repeats", "5", "--no-fp64", "--no-localise", "--timeout", "120"),
    ]
    records = ctx.pairbench_run(part, "speed-mlp", args, share(deadline, 3, 6, floor=RUN_MIN_S))
    flops = mlp_flops(size)
    mlp = {
        f"{_case(r)['precision']}.{_case(r)['mode']}": _num(flops / r["timing"]["step_s_median"] / 1e12)
        for r in records
        if _is_gpu(r) and (r.get("timing") or {}).get("step_s_median")
    }
    part.figures["mlp_tflops"] = mlp
    # the same case on the CPU and the GPU (default size: large takes seconds a step on a CPU)
    args = [*mlp_case, "--modes", "function", "--devices", f"cpu,{device}", "--sizes", ctx.size("default")]
    args += ["--repeats", "5", "--no-fp64", "--no-localise", "--timeout", "120"]
    both = ctx.pairbench_run(part, "speed-cpu-gpu", args, share(deadline, 1, 5, floor=RUN_MIN_S))
    ratio_cpu = speedups(both)
    part.checks.append(
        Check("speed.cpu_vs_gpu", "info", ratio_cpu, "CPU step / GPU step of the same case (mlp, default)")
    )
    # the bare loop: the MLP's largest matmul (batch x width x width)
    hp = {"batch": 64, "width": 256} if ctx.smoke else None
    if hp is None:
        from suite.zoo import get_pair

        hp = get_pair("mlp").hparams(size)
    bare_out = ctx.work / "bare-matmul.json"
    shape = [str(hp["batch"]), str(hp["width"]), str(hp["width"])]
    bare_device = "cpu" if ctx.simulated else device
    ctx.step(
        part,
        "bare-matmul",
        [ctx.python, str(Path(__file__).resolve()), "--bare-matmul", bare_device, *shape],
        share(deadline, 1, 4),
        stdout_path=bare_out,
    )
    try:
        bare = json.loads(bare_out.read_text())
    except (OSError, json.JSONDecodeError):
        bare = []
    best = {}
    for row in bare:
        if row.get("tflops"):
            key = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}.get(
                row["precision"], row["precision"]
            )
            best[f"{key}.{row['mode']}"] = row["tflops"]
    part.figures["bare_matmul_tflops"] = best
    ratio = {k: _num(v / best[k]) for k, v in mlp.items() if best.get(k)}
    part.checks.append(
        Check(
            "speed.mlp_vs_bare_matmul",
            "info",
            {"mlp_tflops": mlp, "bare_tflops": best, "ratio": ratio},
            "the mlp train step's achieved TFLOP/s against a bare matmul loop's, per precision and mode",
        )
    )
    gpu = [r for r in records if _is_gpu(r) and r.get("timing")]
    samples = {r["case_id"]: (r.get("telemetry") or {}).get("samples") for r in gpu}
    ok = bool(gpu) and all(isinstance(v, int) and v > 0 for v in samples.values())
    part.checks.append(ctx.gpu_only("speed.telemetry", ok, samples, "NVML samples in every GPU case"))
    # pairbench overhead per pair (each its own process and deadline, so a slow pair loses only itself)
    from suite.zoo import registered

    pairs = ["mlp_seed"] if ctx.smoke else sorted(registered())
    over_device = "cpu" if ctx.simulated else device
    rows: dict[str, Any] = {}
    for i, pair in enumerate(pairs):
        out = ctx.work / f"overhead-{pair}.json"
        cases = ("predict", "function") if ctx.smoke else ("train_step", "function,xla")
        argv = ctx.suite(
            *("overhead", "--pairs", pair, "--device", over_device, "--size", ctx.size("large")),
            *("--rounds", "1" if ctx.smoke else "2", "--repeats", "3" if ctx.smoke else "5"),
            *("--workloads", cases[0], "--modes", cases[1], "--json"),
        )
        ctx.step(part, f"overhead-{pair}", argv, share(deadline, 1, len(pairs) - i - 1), stdout_path=out)
        with contextlib.suppress(OSError, json.JSONDecodeError):
            for row in json.loads(out.read_text()):
                rows[f"{row['pair']}.{row['workload']}.{row['mode']}"] = _num(row.get("ratio"))
    part.figures["overhead_ratio"] = rows
    part.checks.append(
        Check(
            "speed.overhead",
            "pass" if rows else "fail",
            rows,
            "pairbench overhead gave a step-time ratio (pairbench / hand loop) per pair",
        )
    )


# ---- outputs -----------------------------------------------------------------------------

PART_FUNCTIONS: dict[str, Callable[[Context, PartResult, float], None]] = {
    "doctor": part_doctor,
    "determinism": part_determinism,
    "trace": part_trace,
    "matrix": part_matrix,
    "speed": part_speed,
}


def check_counts(parts: Sequence[PartResult]) -> dict[str, int]:
    """How many checks passed, failed, were skipped or are figures only."""
    counts = {"pass": 0, "fail": 0, "skipped": 0, "info": 0}
    for part in parts:
        for check in part.checks:
            counts[check.status] = counts.get(check.status, 0) + 1
    return counts


def is_ok(parts: Sequence[PartResult]) -> bool:
    """No failed check and no failed or timed-out part."""
    return check_counts(parts)["fail"] == 0 and all(p.status in ("ok", "skipped") for p in parts)


def summary_dict(ctx: Context, parts: Sequence[PartResult], budget_s: float, argv: Sequence[str]) -> dict:
    """What ``summary.json`` holds."""
    return {
        "schema": SCHEMA,
        "argv": list(argv),
        "mode": "cpu-smoke" if ctx.smoke else "full",
        "host": socket.gethostname(),
        "gpu": {
            "visible": ctx.real_gpu,
            "count": ctx.gpus,
            "name": ctx.gpu_name,
            "source": ctx.gpu_source,
            "simulated": ctx.simulated,
        },
        "budget_s": budget_s,
        "wall_s": round(time.monotonic() - ctx.started, 1),
        "work_dir": str(ctx.work),
        "ok": is_ok(parts),
        "checks": check_counts(parts),
        "parts": [p.to_dict() for p in parts],
        "files": list(OUTPUT_FILES),
    }


def _fallback_report(records: list[dict]) -> str:
    """A minimal markdown table of records (when ``pairbench report`` could not write one)."""
    lines = ["| case | verdict | step ms | compile s | reason |", "|---|---|---:|---:|---|"]
    for r in records:
        t = r.get("timing") or {}
        step, compile_s = t.get("step_s_median"), t.get("compile_s")
        step_ms = "" if step is None else f"{step * 1e3:.3g}"
        compiled = "" if compile_s is None else f"{compile_s:.3g}"
        reason = str(r.get("reason", "")).replace("|", "/")[:160]
        lines.append(f"| {r.get('case_id')} | {r.get('verdict')} | {step_ms} | {compiled} | {reason} |")
    return "\n".join(lines)


def report_markdown(ctx: Context, parts: Sequence[PartResult]) -> str:
    """``report.md``: the checks, then each run's own report."""
    counts = check_counts(parts)
    gpu = ctx.gpu_name or ("simulated gpu:0 on the CPU" if ctx.simulated else NO_GPU)
    out = [
        f"# pairbench GPU check ({'cpu-smoke' if ctx.smoke else 'full'})",
        "",
        f"Host {socket.gethostname()}, GPU: {gpu}. Checks: {counts['pass']} pass, {counts['fail']} fail, "
        f"{counts['skipped']} skipped, {counts['info']} figures.",
        "",
        "| part | status | wall s | reason |",
        "|---|---|---:|---|",
    ]
    out += [f"| {p.part} | {p.status} | {p.wall_s:.0f} | {p.reason.replace('|', '/')[:200]} |" for p in parts]
    out += ["", "| check | status | figure | expected | reason |", "|---|---|---|---|---|"]
    for p in parts:
        for c in p.checks:
            fig = json.dumps(c.figure, default=str)
            fig = fig if len(fig) <= 300 else fig[:297] + "..."
            out.append(f"| {c.name} | {c.status} | `{fig.replace('|', '/')}` | {c.expected} | {c.reason} |")
    for run_id, part in ctx.runs.items():
        run_dir = ctx.results / run_id
        if not run_dir.is_dir():
            continue
        out += ["", f"## {part}: run `{run_id}`", ""]
        report = run_dir / "report.md"
        if report.exists():
            text = report.read_text(errors="replace")
            out.append("\n".join("##" + line if line.startswith("#") else line for line in text.splitlines()))
        else:
            out += ["(`pairbench report` wrote nothing: the records as they are)", ""]
            out.append(_fallback_report(read_records(run_dir)))
    return "\n".join(out) + "\n"


def _write(dest: Path, data: bytes) -> None:
    """Write a file under the output folder, whole (a temporary file renamed)."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_bytes(data[:MAX_FILE_BYTES])
    os.replace(tmp, dest)


def _tar(dest: Path, files: Iterable[tuple[Path, str]]) -> list[str]:
    """A gzipped tarball of ``(path, arcname)`` whose contents stay under the file limit;
    returns what was left out."""
    budget = MAX_FILE_BYTES - min(256 * 1024, MAX_FILE_BYTES // 16)  # headers; compression only shrinks
    left_out = []
    tmp = dest.with_name(f".{dest.name}.tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for path, arcname in files:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size + 512 > budget:
                left_out.append(arcname)
                continue
            budget -= size + 512
            tar.add(path, arcname=arcname, recursive=False)
    os.replace(tmp, dest)
    return left_out


def run_files(ctx: Context) -> list[tuple[Path, str]]:
    """The run folders without outputs, traces and caches, then every step log."""
    files = []
    skip = {"outputs", "traces", "cache"}
    for run_id in ctx.runs:
        run_dir = ctx.results / run_id
        for path in sorted(run_dir.rglob("*")):
            rel = path.relative_to(run_dir)
            if path.is_file() and rel.parts[0] not in skip and not path.name.endswith(".parquet"):
                files.append((path, f"{run_id}/{rel}"))
    files += [(p, f"logs/{p.name}") for p in sorted(ctx.logs.glob("*.log"))]
    return files


def write_outputs(
    ctx: Context, parts: Sequence[PartResult], budget_s: float, argv: Sequence[str]
) -> list[str]:
    """Write the (at most :data:`MAX_FILES`) output files; called after every part.

    Returns:
        notes on what was cut to fit the limits.
    """
    ctx.out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    lines = []
    nondet_csvs: dict[str, Path] = {}  # arcname -> file (a case recorded twice is tarred once)
    for run_id, part in ctx.runs.items():
        for rec in read_records(ctx.results / run_id):
            lines.append(json.dumps({**rec, "gpu_check": {"part": part, "run_id": run_id}}, sort_keys=True))
            csv = (rec.get("profile") or {}).get("kernels_csv")
            if rec.get("verdict") == "nondeterministic" and csv:
                nondet_csvs[f"{run_id}/{csv}"] = ctx.results / run_id / csv
    data = "".join(line + "\n" for line in lines).encode()
    if len(data) > MAX_FILE_BYTES:
        notes.append(f"records.jsonl cut to {MAX_FILE_BYTES} bytes (whole lines)")
        data = data[: data.rfind(b"\n", 0, MAX_FILE_BYTES) + 1]
    _write(ctx.out / "records.jsonl", data)
    if (ctx.work / "doctor.json").exists():
        _write(ctx.out / "doctor.json", (ctx.work / "doctor.json").read_bytes())
    if nondet_csvs:
        notes += [
            f"kernels.tar.gz: left out {n}"
            for n in _tar(ctx.out / "kernels.tar.gz", [(f, n) for n, f in nondet_csvs.items()])
        ]
    if (ctx.work / "trace.tar.gz").exists():
        _write(ctx.out / "trace.tar.gz", (ctx.work / "trace.tar.gz").read_bytes())
    notes += [f"runs.tar.gz: left out {n}" for n in _tar(ctx.out / "runs.tar.gz", run_files(ctx))]
    report = report_markdown(ctx, parts).encode()
    if len(report) > MAX_FILE_BYTES:
        notes.append("report.md cut to the file limit")
    _write(ctx.out / "report.md", report)
    summary = summary_dict(ctx, parts, budget_s, argv)
    summary["notes"] = notes
    _write(ctx.out / "summary.json", json.dumps(summary, indent=1, default=str).encode())
    if (ctx.work / "gpu_check.log").exists():
        log = (ctx.work / "gpu_check.log").read_bytes()
        _write(ctx.out / "gpu_check.log", log[-MAX_FILE_BYTES:])
    return notes


def human_summary(ctx: Context, parts: Sequence[PartResult], budget_s: float) -> str:
    """The lines printed at the end (what the device tool's output tail shows)."""
    counts = check_counts(parts)
    gpu = ctx.gpu_name or (f"{NO_GPU} (simulated gpu:0)" if ctx.simulated else NO_GPU)
    lines = [
        "",
        f"== pairbench GPU check ({'cpu-smoke' if ctx.smoke else 'full'}): {gpu}; "
        f"{time.monotonic() - ctx.started:.0f} s of {budget_s:.0f} s ==",
    ]
    for p in parts:
        by = {}
        for c in p.checks:
            by[c.status] = by.get(c.status, 0) + 1
        tally = ", ".join(f"{n} {s}" for s, n in sorted(by.items()))
        lines.append(
            f"{p.part:<12} {p.status:<8} {p.wall_s:6.0f} s  {tally}"
            + (f"  ({p.reason[:150]})" if p.reason else "")
        )
    for p in parts:
        for c in p.checks:
            fig = json.dumps(c.figure, default=str)
            fig = fig if len(fig) <= 220 else fig[:217] + "..."
            tag = {"pass": "ok  ", "fail": "FAIL", "skipped": "skip", "info": "info"}.get(c.status, c.status)
            lines.append(
                f"  {tag} {c.name}: {fig}"
                + (f"  [{c.reason[:120]}]" if c.reason and c.status != "pass" else "")
            )
    verdict = "OK" if is_ok(parts) else "NOT OK"
    files = ", ".join(sorted(p.name for p in ctx.out.iterdir())) if ctx.out.is_dir() else "none"
    lines.append(
        f"{verdict}: {counts['pass']} pass, {counts['fail']} fail, {counts['skipped']} skipped, "
        f"{counts['info']} figures; outputs in {ctx.out}: {files}"
    )
    return "\n".join(lines)


# ---- main --------------------------------------------------------------------------------


def parse_parts(text: str) -> tuple[str, ...]:
    """``doctor,matrix`` / ``all`` -> parts in their run order.

    Raises:
        argparse.ArgumentTypeError: an unknown part.
    """
    names = [p.strip() for p in text.split(",") if p.strip()]
    if names == ["all"]:
        return PARTS
    unknown = [n for n in names if n not in PARTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown part(s) {', '.join(unknown) or '(none)'}; valid: {', '.join(PARTS)}, all"
        )
    return tuple(p for p in PARTS if p in names)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where the (at most 8) output files go")
    parser.add_argument(
        "--budget-s", type=float, default=DEFAULT_BUDGET_S, help="seconds for everything (480)"
    )
    parser.add_argument(
        "--parts",
        type=parse_parts,
        default=DEFAULT_PARTS,
        help=f"comma list of {', '.join(PARTS)} or all (default: {','.join(DEFAULT_PARTS)})",
    )
    parser.add_argument(
        "--cpu-smoke", action="store_true", help="reduced parts on a simulated gpu:0 without a GPU"
    )
    parser.add_argument(
        "--work-dir", type=Path, help="run folders and logs (default: a new temporary folder)"
    )
    parser.add_argument("--gpus", type=int, help="GPUs TensorFlow sees (skips the probe; for tests)")
    parser.add_argument(
        "--matrix-pairs", help="comma list (default: every pair; cpu-smoke: mlp_seed,transformer)"
    )
    parser.add_argument("--matrix-workloads", default="train_step", help="comma list (default: train_step)")
    parser.add_argument(
        "--det-repeats", type=int, help="reruns of the determinism cases, >= 5 (8; cpu-smoke 5)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.budget_s <= 3600:
        parser.error("--budget-s must be from 1 to 3600")
    if args.det_repeats is not None and args.det_repeats < 5:
        parser.error("--det-repeats must be at least 5 (the issue asks for >= 5 reruns)")
    return args


class Interrupted(BaseException):
    """SIGTERM/SIGHUP reached the check: stop the current step, keep what is done."""


def _raise_interrupted(signum: int, _frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None, *, echo: bool = True) -> int:
    """Run the selected parts under the budget and write the outputs; see the module docstring."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--bare-matmul"]:
        print(json.dumps(bare_matmul(argv[1], *(int(a) for a in argv[2:5]))))
        return 0
    args = parse_args(argv)
    started = time.monotonic()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        out=args.out,
        work=work,
        smoke=args.cpu_smoke,
        gpus=args.gpus,
        gpu_source="--gpus" if args.gpus is not None else "",
        hard_deadline=started + args.budget_s,
        started=started,
        echo=echo,
        matrix_pairs=tuple(p for p in args.matrix_pairs.split(",") if p) if args.matrix_pairs else None,
        matrix_workloads=tuple(w for w in args.matrix_workloads.split(",") if w),
        det_repeats=args.det_repeats,
    )
    old = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    parts: list[PartResult] = []
    start = time.monotonic()
    ctx.log(
        f"gpu check: parts {','.join(args.parts)}, budget {args.budget_s:.0f} s, work {work}, out {args.out}"
    )
    try:
        for i, name in enumerate(args.parts):
            part = PartResult(name)
            parts.append(part)
            if name in GPU_PARTS and ctx.gpus is None:
                probe_gpus(ctx, ctx.hard_deadline - FINAL_RESERVE_S)
                ctx.log(f"GPUs TensorFlow sees: {ctx.gpus} ({ctx.gpu_source})")
            if name in GPU_PARTS and not ctx.real_gpu and not ctx.smoke:
                part.status, part.reason = "skipped", f"{NO_GPU} (--cpu-smoke runs it reduced on the CPU)"
                ctx.log(f"{name}: skipped: {part.reason}")
                continue
            may_run = ctx.real_gpu or ctx.smoke or ctx.gpus is None  # GPU parts run (or might)
            runs_later = [p for p in args.parts[i + 1 :] if p not in GPU_PARTS or may_run]
            later = sum(WEIGHTS[p] for p in runs_later)
            deadline = share(ctx.hard_deadline, WEIGHTS[name], later, reserve=FINAL_RESERVE_S)
            floor = min(time.monotonic() + MIN_PART_S.get(name, 0.0), ctx.hard_deadline - FINAL_RESERVE_S)
            deadline = max(deadline, floor)
            part.budget_s = round(deadline - time.monotonic(), 1)
            start = time.monotonic()
            try:
                PART_FUNCTIONS[name](ctx, part, deadline)
            except Exception as exc:  # a bug or a surprise in one part must not lose the others
                part.status = "failed"
                part.reason = _join(part.reason, f"{type(exc).__name__}: {exc}")
                ctx.log(f"{name}: failed: {type(exc).__name__}: {exc}")
            part.wall_s = round(time.monotonic() - start, 1)
            ctx.log(f"{name}: {part.status} in {part.wall_s:.0f} s (budget {part.budget_s:.0f} s)")
            write_outputs(ctx, parts, args.budget_s, argv)
    except (Interrupted, KeyboardInterrupt) as exc:
        ctx.log(f"interrupted ({exc or 'SIGINT'}): writing what is done")
        if parts and parts[-1].status != "skipped" and not parts[-1].wall_s:
            parts[-1].status = "timeout"
            parts[-1].reason = _join(parts[-1].reason, f"interrupted by {exc or 'SIGINT'}")
            parts[-1].wall_s = round(time.monotonic() - start, 1)
        done = {p.part for p in parts}
        parts += [
            PartResult(p, "skipped", "interrupted before it started") for p in args.parts if p not in done
        ]
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    write_outputs(ctx, parts, args.budget_s, argv)
    text = human_summary(ctx, parts, args.budget_s)
    if echo:
        print(text, flush=True)
    with open(work / "gpu_check.log", "a", encoding="utf-8") as fh:
        fh.write(text + "\n")
    write_outputs(ctx, parts, args.budget_s, argv)  # the log with the summary
    return 0 if is_ok(parts) else 1


if __name__ == "__main__":
    sys.exit(main())
