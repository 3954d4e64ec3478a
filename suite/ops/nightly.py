"""One nightly run for cron or CI: doctor, asv, the matrix, compare, publish, retention, a summary.

Steps, in order (``NightlyResult.steps``; each is ``ok``, ``skipped`` with a reason,
``failed`` with a reason, or ``regression``):

1. ``doctor``: ``pairbench doctor --json`` in a subprocess; not ready stops here.
2. ``asv-run``: ``asv run`` for the checkout's commit, once per (commit, machine): results in
   ``<results-dir>/asv`` through a generated config; skipped with a reason without
   ``asv.conf.json`` or a git checkout.
3. ``matrix``: ``--full`` on a machine with a GPU, ``--quick`` without (``--matrix``),
   run by :func:`suite.run.run_selection` (the lifecycle of ``pairbench run``) into
   ``<results-dir>/nightly/<run-id>``. It runs every
   night, also on an unchanged commit: the rerun is the noise and nondeterminism check.
4. ``compare``: against the newest earlier finished nightly run measured on the same GPUs
   and driver, with ``--fail-on``.
5. ``asv-publish``: ``asv publish`` into ``<results-dir>/html``.
6. ``retention``: keep the newest ``--keep`` nightly runs (the new one always).

The summary (one paragraph) goes to stdout, ``<run>/nightly-summary.{txt,json}`` and
``<results-dir>/nightly/latest-summary.{txt,json}``. Exit code: 0 all fine, 1 a regression
or a failed step. The parent process never imports TensorFlow.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from suite.errors import UsageError
from suite.results.run_dir import RunDir
from suite.results.runs import list_runs
from suite.verdicts import ERROR, INCOMPARABLE

SUMMARY_SCHEMA_VERSION = 1
DEFAULT_FAIL_ON = "speed:1.10,divergence:any"
DEFAULT_KEEP = 14
MATRICES = ("auto", "quick", "full")
ASV_ENVS = ("existing", "config")
#: lines of a failing subprocess's output quoted in the summary
TAIL_LINES = 3
#: the generated asv configuration, in the results folder
ASV_CONFIG = "asv-nightly.conf.json"


@dataclass
class NightlyOptions:
    """Everything ``pairbench nightly`` takes (see ``docs/nightly.md``).

    The matrix's options (``repeats`` ... ``pairs_from``) are None when not given: their
    defaults live in :class:`suite.run.options.RunOptions`, as for ``pairbench run``.
    """

    results_dir: Path = Path("results")
    project_dir: Path = Path(".")
    matrix: str = "auto"
    axes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    repeats: int | None = None
    steps: int | None = None
    profile: bool | None = None
    localise: bool | None = None
    timeout_s: float | None = None
    reference_fp64: bool | None = None
    min_sample_s: float | None = None
    max_warmup_s: float | None = None
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    pairs_from: tuple[str, ...] = ()
    fail_on: str = DEFAULT_FAIL_ON
    keep: int = DEFAULT_KEEP
    doctor: bool = True
    asv: bool | None = None
    asv_env: str = "existing"
    asv_args: tuple[str, ...] = ()
    asv_timeout_s: float = 4 * 3600.0
    machine: str | None = None
    force: bool = False
    skip_same_commit: bool = False
    quiet: bool = False
    argv: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One step's outcome: ``status`` is ``ok``, ``skipped``, ``failed`` or ``regression``."""

    name: str
    status: str
    detail: str
    seconds: float = 0.0


@dataclass
class NightlyResult:
    """What a nightly did; ``paragraph`` is the alert text."""

    status: str = "ok"
    exit_code: int = 0
    machine: str = ""
    hostname: str = ""
    git_commit: str | None = None
    matrix: str | None = None
    run_id: str | None = None
    run_dir: str | None = None
    baseline: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    regressions: list[str] = field(default_factory=list)
    removed_runs: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""
    paragraph: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``schema_version`` first)."""
        return {"schema_version": SUMMARY_SCHEMA_VERSION, **asdict(self)}


def nightly_dir(results_dir: Path) -> Path:
    """``<results-dir>/nightly``: where nightly run folders live."""
    return Path(results_dir) / "nightly"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _tail(text: str, n: int = TAIL_LINES) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def git_commit(project_dir: Path) -> str | None:
    """The checkout's HEAD commit, or None when ``project_dir`` is not a git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(project_dir), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_doctor(timeout_s: float = 600.0) -> dict[str, Any]:
    """``pairbench doctor --json`` in a subprocess (TensorFlow stays out of this process).

    Returns:
        The doctor report (``ok``, ``problems``, ``checks``, ``provenance``); a doctor that
        crashes or prints no JSON gives ``ok: False`` with the reason in ``problems``.
    """
    cmd = [sys.executable, "-m", "suite", "doctor", "--json"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=_env())
    except subprocess.TimeoutExpired:
        return {"ok": False, "problems": [f"doctor: no answer after {timeout_s:.0f} s"], "provenance": None}
    start = proc.stdout.find("{")
    if start >= 0:
        try:
            return json.loads(proc.stdout[start:])
        except json.JSONDecodeError:
            pass
    why = _tail(proc.stderr) or "no output"
    return {"ok": False, "problems": [f"doctor: exit {proc.returncode}: {why}"], "provenance": None}


def _gpu_count(report: dict[str, Any] | None) -> int:
    devices = ((report or {}).get("provenance") or {}).get("tf_devices") or []
    return sum(1 for d in devices if d.get("device_type") == "GPU")


def previous_run(runs: list[RunDir], new: RunDir | None) -> tuple[RunDir | None, list[str]]:
    """The newest finished run before ``new`` measured on the same GPUs and driver.

    Args:
        runs: nightly runs, oldest first (:func:`suite.results.runs.list_runs`).
        new: the new run (excluded; its ``run.json`` gives the machine), or None.

    Returns:
        ``(run or None, ids of newer finished runs skipped because their machine differs)``.
    """
    from suite.compare.runs import machine_differences

    meta_new = new.read_meta() if new else {}
    skipped = []
    for run in reversed(runs):
        if new is not None and run.path.resolve() == new.path.resolve():
            continue
        meta = run.read_meta()
        if meta.get("status") != "finished":
            continue
        if new is not None and machine_differences(meta, meta_new):
            skipped.append(run.run_id)
            continue
        return run, skipped
    return None, skipped


def prune_runs(directory: Path, keep: int, protect: RunDir | None = None) -> list[str]:
    """Delete all but the newest ``keep`` run folders in ``directory``.

    Args:
        directory: a folder of run folders (``<results-dir>/nightly``).
        keep: how many to keep (at least 1).
        protect: a run never deleted, whatever its age (the new run).

    Returns:
        The ids of the deleted runs, oldest first.

    Raises:
        UsageError: ``keep`` below 1.
    """
    if keep < 1:
        raise UsageError(f"--keep must be at least 1 (got {keep})")
    runs = list_runs(directory)
    if not runs:
        return []
    newest_first = list(reversed(runs))
    kept = {newest_first[0].path.resolve()}
    if protect is not None:
        kept.add(protect.path.resolve())
    for run in newest_first:
        if len(kept) >= keep:
            break
        kept.add(run.path.resolve())
    removed = [run for run in runs if run.path.resolve() not in kept]
    for run in removed:
        shutil.rmtree(run.path)
    return [run.run_id for run in removed]


# ---------------------------------------------------------------------------------------- asv


def asv_config(project_dir: Path, results_dir: Path) -> Path:
    """Write ``<results_dir>/asv-nightly.conf.json``: the project's ``asv.conf.json`` with
    results in ``<results_dir>/asv``, the html in ``<results_dir>/html`` (the project's own
    layout when ``results_dir`` is its ``results/``) and every other path made absolute.

    Raises:
        OSError: the project's ``asv.conf.json`` cannot be read.
        ValueError: it is not valid JSON (with ``//`` comments).
    """
    from asv.util import load_json

    conf = load_json(str(project_dir / "asv.conf.json"), js_comments=True)
    repo = str(conf.get("repo", "."))
    if "://" not in repo and not repo.startswith("git@"):
        conf["repo"] = str((project_dir / repo).resolve())
    for key, default in (("benchmark_dir", "benchmarks"), ("env_dir", "env")):
        conf[key] = str((project_dir / conf.get(key, default)).resolve())
    results_dir = results_dir.resolve()
    conf.update(results_dir=str(results_dir / "asv"), html_dir=str(results_dir / "html"))
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / ASV_CONFIG
    path.write_text(json.dumps(conf, indent=2) + "\n", encoding="utf-8")
    return path


def _asv(args: list[str], log: Path, timeout_s: float) -> tuple[int, str]:
    """Run ``python -m asv ARGS`` with its output in ``log``; return (exit code, output tail)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "asv", *args]
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n")
        fh.flush()
        try:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s, env=_env())
            code = proc.returncode
        except subprocess.TimeoutExpired:
            fh.write(f"timed out after {timeout_s:.0f} s\n")
            code = 124
    return code, _tail(log.read_text(encoding="utf-8", errors="replace"))


def asv_has_results(asv_results: Path, machine: str, commit: str) -> bool:
    """Whether ``<asv_results>/<machine>`` already holds results of ``commit``."""
    from asv.results import iter_results_for_machine_and_hash

    try:
        return any(True for _ in iter_results_for_machine_and_hash(str(asv_results), machine, commit))
    except OSError:
        return False


def _asv_reason(opts: NightlyOptions, commit: str | None) -> str | None:
    """Why asv cannot run here (None: it can)."""
    project = opts.project_dir.resolve()
    if not (project / "asv.conf.json").is_file():
        return f"no asv.conf.json in {project}"
    if commit is None:
        return f"{project} is not a git checkout"
    return None


def step_asv_run(opts: NightlyOptions, commit: str | None, machine: str) -> Step:
    """Step 2: ``asv machine`` + ``asv run`` for the commit (once per commit and machine)."""
    t0 = time.monotonic()
    if opts.asv is False:
        return Step("asv-run", "skipped", "--no-asv")
    reason = _asv_reason(opts, commit)
    if reason:
        return Step("asv-run", "failed" if opts.asv else "skipped", reason)
    assert commit is not None
    try:
        conf = asv_config(opts.project_dir.resolve(), opts.results_dir)
    except Exception as exc:  # OSError, JSON errors, asv's UserError: a failed step, not a crash
        return Step("asv-run", "failed", f"cannot use asv.conf.json: {type(exc).__name__}: {exc}")
    log = _asv_logs(opts) / f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{commit[:8]}.log"
    code, tail = _asv(["machine", "--machine", machine, "--yes", "--config", str(conf)], log, 120)
    if code != 0:
        return Step("asv-run", "failed", f"asv machine exited {code}: {tail}", time.monotonic() - t0)
    if not opts.force and asv_has_results(opts.results_dir / "asv", machine, commit):
        detail = f"commit {commit[:8]} already has asv results on machine {machine} (--force reruns it)"
        return Step("asv-run", "skipped", detail, time.monotonic() - t0)
    args = ["run", "--config", str(conf), "--machine", machine, "--show-stderr"]
    if opts.asv_env == "existing":
        args += ["-E", f"existing:{sys.executable}", "--set-commit-hash", commit]
    else:
        hashfile = _asv_logs(opts) / "hashes.txt"
        hashfile.write_text(commit + "\n", encoding="utf-8")
        args += [f"HASHFILE:{hashfile}", *(() if opts.force else ("--skip-existing-commits",))]
    code, tail = _asv([*args, *opts.asv_args], log, opts.asv_timeout_s)
    elapsed = time.monotonic() - t0
    if code != 0:
        return Step("asv-run", "failed", f"asv run exited {code} (log {log}): {tail}", elapsed)
    return Step("asv-run", "ok", f"commit {commit[:8]} on machine {machine} (log {log})", elapsed)


def step_asv_publish(opts: NightlyOptions, commit: str | None) -> Step:
    """Step 5: ``asv publish`` into ``<results-dir>/html`` (when asv is set up here)."""
    if opts.asv is False:
        return Step("asv-publish", "skipped", "--no-asv")
    reason = _asv_reason(opts, commit)
    if reason:
        return Step("asv-publish", "skipped", reason)
    conf = opts.results_dir / ASV_CONFIG
    if not conf.is_file() or not (opts.results_dir / "asv").is_dir():
        return Step("asv-publish", "skipped", f"no asv results in {opts.results_dir / 'asv'}")
    t0 = time.monotonic()
    code, tail = _asv(["publish", "--config", str(conf)], _asv_logs(opts) / "publish.log", 1800)
    if code != 0:
        return Step("asv-publish", "failed", f"asv publish exited {code}: {tail}", time.monotonic() - t0)
    from suite.asv.offline import make_offline

    html = opts.results_dir / "html"
    try:  # nightly GPU boxes are often offline: the site must not depend on CDNs
        make_offline(html)
    except UsageError as exc:
        return Step(
            "asv-publish", "failed", f"published, but not for offline use: {exc}", time.monotonic() - t0
        )
    return Step("asv-publish", "ok", f"{html / 'index.html'} (works offline)", time.monotonic() - t0)


def _asv_logs(opts: NightlyOptions) -> Path:
    path = nightly_dir(opts.results_dir) / "asv-logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ------------------------------------------------------------------------------------- matrix


def run_options(opts: NightlyOptions, preset: str):
    """The :class:`~suite.run.options.RunOptions` of the nightly matrix (same builder as ``run``)."""
    from suite.run.matrix import validate
    from suite.run.options import make_options

    options = make_options(
        preset=preset,
        axes=opts.axes,
        pairs_from=opts.pairs_from,
        repeats=opts.repeats,
        steps=opts.steps,
        profile=opts.profile,
        localise=opts.localise,
        timeout_s=opts.timeout_s,
        reference_fp64=opts.reference_fp64,
        min_sample_s=opts.min_sample_s,
        max_warmup_s=opts.max_warmup_s,
        intra_op_threads=opts.intra_op_threads,
        inter_op_threads=opts.inter_op_threads,
    )
    validate(options.selection)
    return options


def step_matrix(
    opts: NightlyOptions, preset: str, commit: str | None, machine: str, flags: dict[str, int] | None = None
) -> tuple[Step, RunDir | None, dict[str, int]]:
    """Step 3: run the matrix into ``<results-dir>/nightly/<run-id>`` and write its report.

    Returns the step, the run and its verdict counts; ``flags`` (when given) receives the
    counts of flagged cases (``non-finite``...), which the alert names too.
    """
    from suite.run import run_selection
    from suite.run.progress import make_progress

    t0 = time.monotonic()
    progress = make_progress(quiet=opts.quiet)
    try:
        outcome = run_selection(
            run_options(opts, preset),
            results_dir=nightly_dir(opts.results_dir),
            progress=progress,
            argv=opts.argv,
            meta_extra={"nightly": {"git_commit": commit, "matrix": preset, "machine": machine}},
            report=True,
            console=None,
        )
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # reported as a failed step, never as numbers
        text = " ".join(str(exc).split())[:400]
        return Step("matrix", "failed", f"{type(exc).__name__}: {text}", time.monotonic() - t0), None, {}
    run = outcome.run
    if outcome.status == "interrupted":  # Ctrl-C, SIGTERM, SIGHUP: stop the nightly here
        sys.stderr.write(f"pairbench: {outcome.message}\n")
        raise SystemExit(outcome.exit_code)
    if outcome.status != "finished":
        return Step("matrix", "failed", outcome.message, time.monotonic() - t0), run, outcome.counts
    from suite.report.summary import run_summary_line

    counts = outcome.counts
    if flags is not None:
        flags.update(outcome.flag_counts)
    done = run_summary_line(counts, outcome.reference_counts, outcome.flag_counts) if counts else "no cases"
    detail = f"{preset}: {sum(counts.values())} cases ({done}) -> {run.path}"
    return Step("matrix", "ok", detail, time.monotonic() - t0), run, counts


def step_compare(opts: NightlyOptions, run: RunDir, result: NightlyResult) -> Step:
    """Step 4: compare the new run with the previous nightly run (``--fail-on``)."""
    from suite.compare.runs import compare_runs, parse_fail_on

    t0 = time.monotonic()
    prev, other_machines = previous_run(list_runs(nightly_dir(opts.results_dir)), run)
    note = f" ({len(other_machines)} newer run(s) from other GPUs/drivers skipped)" if other_machines else ""
    if prev is None:
        return Step("compare", "skipped", f"first nightly run here: nothing to compare against{note}")
    result.baseline = prev.run_id
    comp = compare_runs(prev, run)
    failures = comp.failures(opts.fail_on)
    data = {**comp.to_dict(), "fail_on": opts.fail_on, "failures": failures}
    run.write_text("compare.json", json.dumps(data, indent=2, sort_keys=True) + "\n")
    result.regressions = failures
    head = f"compared with {prev.run_id}{note}: {len(comp.cases)} cases in common"
    if not comp.cases:
        head += " (the selection changed?)"
    if comp.speed_untested:
        head += f" ({comp.speed_untested})"
    threshold = parse_fail_on(opts.fail_on).speed
    noise = comp.noise.text(threshold) if threshold is not None else ""
    if noise:
        head += f" ({noise})"
    if not failures:
        return Step("compare", "ok", f"{head}, no regression past {opts.fail_on}", time.monotonic() - t0)
    shown = "; ".join(failures[:5]) + (f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
    detail = f"{head}, {len(failures)} regression(s) past {opts.fail_on}: {shown}"
    return Step("compare", "regression", detail, time.monotonic() - t0)


# ------------------------------------------------------------------------------------ summary


def summary_paragraph(result: NightlyResult) -> str:
    """One paragraph for an alert: the verdict first, then one sentence per step."""
    commit = result.git_commit[:10] if result.git_commit else "unknown commit"
    failed = [s.name for s in result.steps if s.status == "failed"]
    if failed:
        head = f"FAILED ({', '.join(failed)})"
    elif result.regressions:
        head = f"REGRESSION: {len(result.regressions)} case(s) worse than {result.baseline}"
    else:
        head = "OK"
    loud = [
        f"{counts[key]} case(s) {text}"
        for counts, key, text in (
            (result.counts, ERROR, f"with verdict {ERROR}"),
            (result.counts, INCOMPARABLE, INCOMPARABLE),
            (result.flags, "non-finite", "with NaN/Inf outputs"),
        )
        if counts.get(key)
    ]
    if loud:
        head += f" ({', '.join(loud)})"
    host = f" ({result.hostname})" if result.hostname and result.hostname != result.machine else ""
    parts = [f"pairbench nightly on {result.machine}{host}, {commit}: {head}."]
    for step in result.steps:
        parts.append(f"{step.name} {step.status}: {step.detail.rstrip('.')}.")
    if result.run_dir:
        parts.append(f"Report: {Path(result.run_dir) / 'report.html'}.")
    return " ".join(" ".join(p.split()) for p in parts)


def write_summary(result: NightlyResult, opts: NightlyOptions) -> list[Path]:
    """Write ``nightly-summary.{txt,json}`` into the run and ``latest-summary.*`` next to the runs."""
    from suite.results.atomic import atomic_write

    texts = {
        ".txt": result.paragraph + "\n",
        ".json": json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n",
    }
    written = []
    for suffix, text in texts.items():
        path = nightly_dir(opts.results_dir) / f"latest-summary{suffix}"
        atomic_write(path, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
        written.append(path)
        if result.run_dir:
            written.append(RunDir(Path(result.run_dir)).write_text(f"nightly-summary{suffix}", text))
    return written


def _finish(result: NightlyResult, opts: NightlyOptions) -> NightlyResult:
    if any(s.status == "failed" for s in result.steps):
        result.status, result.exit_code = "failed", 1
    elif result.regressions:
        result.status, result.exit_code = "regression", 1
    result.finished_at = _now()
    result.paragraph = summary_paragraph(result)
    write_summary(result, opts)
    return result


def check_options(opts: NightlyOptions) -> None:
    """Validate options before anything runs.

    Raises:
        UsageError: one line naming the bad option.
    """
    from suite.compare.runs import parse_fail_on

    if opts.matrix not in MATRICES:
        raise UsageError(f"--matrix must be one of {', '.join(MATRICES)} (got {opts.matrix!r})")
    if opts.asv_env not in ASV_ENVS:
        raise UsageError(f"--asv-env must be one of {', '.join(ASV_ENVS)} (got {opts.asv_env!r})")
    if opts.keep < 1:
        raise UsageError(f"--keep must be at least 1 (got {opts.keep})")
    parse_fail_on(opts.fail_on)
    run_options(opts, "quick")  # bad values, unknown pair/member/mode: fail now, not after an hour of asv


def run_nightly(opts: NightlyOptions) -> NightlyResult:
    """Run every step (see the module docstring) and write the summary.

    Returns:
        The :class:`NightlyResult` (``exit_code`` 0 or 1, ``paragraph`` the alert text).

    Raises:
        UsageError: bad options, or another nightly holds the lock of this results folder.
    """
    check_options(opts)
    machine = opts.machine or os.environ.get("PAIRBENCH_MACHINE") or socket.gethostname()
    result = NightlyResult(machine=machine, hostname=socket.gethostname(), started_at=_now())
    result.git_commit = commit = git_commit(opts.project_dir)
    folder = nightly_dir(opts.results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another pairbench nightly is running on {folder}") from None
        return _run_locked(opts, result, machine, commit)


def _run_locked(
    opts: NightlyOptions, result: NightlyResult, machine: str, commit: str | None
) -> NightlyResult:
    report = None
    if opts.doctor:
        t0 = time.monotonic()
        report = run_doctor()
        if not report.get("ok"):
            problems = "; ".join(report.get("problems") or ["not ready"])
            result.steps.append(Step("doctor", "failed", f"not ready: {problems}", time.monotonic() - t0))
            return _finish(result, opts)
        result.steps.append(
            Step("doctor", "ok", f"ready, {_gpu_count(report)} GPU(s)", time.monotonic() - t0)
        )
    else:
        result.steps.append(Step("doctor", "skipped", "--no-doctor"))

    result.steps.append(step_asv_run(opts, commit, machine))

    preset = opts.matrix
    if preset == "auto":
        if report is not None:
            n_gpus = _gpu_count(report)
        else:
            from suite.run.parent import probe

            n_gpus = int(probe()["gpus"])
        preset = "full" if n_gpus else "quick"
    result.matrix = preset
    runs = list_runs(nightly_dir(opts.results_dir))
    last, _ = previous_run(runs, None)
    last_meta = last.read_meta() if last else {}
    if (
        opts.skip_same_commit
        and commit
        and (last_meta.get("nightly") or {}).get("git_commit") == commit
        and last_meta.get("selection")
        == json.loads(json.dumps(run_options(opts, preset).selection.to_dict()))
    ):
        detail = f"run {last.run_id} already measured commit {commit[:8]} (--skip-same-commit)"
        result.steps.append(Step("matrix", "skipped", detail))
    else:
        step, run, result.counts = step_matrix(opts, preset, commit, machine, result.flags)
        result.steps.append(step)
        if run is not None:
            result.run_id, result.run_dir = run.run_id, str(run.path)
        if step.status == "ok" and run is not None:
            try:
                result.steps.append(step_compare(opts, run, result))
            except Exception as exc:  # an unreadable run: a failed step, not a crash
                result.steps.append(Step("compare", "failed", f"{type(exc).__name__}: {exc}"))

    result.steps.append(step_asv_publish(opts, commit))
    if result.run_id:
        protect = RunDir(Path(result.run_dir or ""))
        result.removed_runs = prune_runs(nightly_dir(opts.results_dir), opts.keep, protect)
        detail = f"kept the newest {opts.keep}, removed {len(result.removed_runs)}"
        result.steps.append(Step("retention", "ok", detail))
    return _finish(result, opts)
