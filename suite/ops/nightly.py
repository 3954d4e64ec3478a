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
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from suite.asv import publish as asv
from suite.errors import UsageError
from suite.machine.identity import git_commit, machine_name
from suite.ops.doctor_probe import gpu_count, run_doctor
from suite.ops.retention import previous_run, prune_runs
from suite.ops.summary import NightlyResult, Step, summary_paragraph, write_summary
from suite.results.names import ASV_DIR, COMPARE_JSON, DEFAULT_RESULTS_DIR, HTML_DIR, LOCK, NIGHTLY_DIR
from suite.results.run_dir import RunDir, utc_now
from suite.results.runs import list_runs
from suite.text import clean_line

DEFAULT_FAIL_ON = "speed:1.10,divergence:any"
DEFAULT_KEEP = 14
MATRICES = ("auto", "quick", "full")
ASV_ENVS = ("existing", "config")


@dataclass
class NightlyOptions:
    """Everything ``pairbench nightly`` takes (see ``docs/nightly.md``).

    ``run`` holds the matrix's run options the user gave (``{"repeats": 5}``; fields of
    :class:`suite.run.options.RunOptions`, declared once in :mod:`suite.run.option_specs`):
    the others come from the preset and ``RunOptions``, as for ``pairbench run``.
    """

    results_dir: Path = DEFAULT_RESULTS_DIR
    project_dir: Path = Path(".")
    matrix: str = "auto"
    axes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
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


def nightly_dir(results_dir: Path) -> Path:
    """``<results-dir>/nightly``: where nightly run folders live."""
    return Path(results_dir) / NIGHTLY_DIR


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
        conf = asv.asv_config(opts.project_dir.resolve(), opts.results_dir)
    except Exception as exc:  # OSError, JSON errors, asv's UserError: a failed step, not a crash
        return Step("asv-run", "failed", f"cannot use asv.conf.json: {type(exc).__name__}: {exc}")
    log = _asv_logs(opts) / f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{commit[:8]}.log"
    code, tail = asv.run_asv(["machine", "--machine", machine, "--yes", "--config", str(conf)], log, 120)
    if code != 0:
        return Step("asv-run", "failed", f"asv machine exited {code}: {tail}", time.monotonic() - t0)
    if not opts.force and asv.asv_has_results(opts.results_dir / ASV_DIR, machine, commit):
        detail = f"commit {commit[:8]} already has asv results on machine {machine} (--force reruns it)"
        return Step("asv-run", "skipped", detail, time.monotonic() - t0)
    args = ["run", "--config", str(conf), "--machine", machine, "--show-stderr"]
    if opts.asv_env == "existing":
        args += ["-E", f"existing:{sys.executable}", "--set-commit-hash", commit]
    else:
        hashfile = _asv_logs(opts) / "hashes.txt"
        hashfile.write_text(commit + "\n", encoding="utf-8")
        args += [f"HASHFILE:{hashfile}", *(() if opts.force else ("--skip-existing-commits",))]
    code, tail = asv.run_asv([*args, *opts.asv_args], log, opts.asv_timeout_s)
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
    conf = opts.results_dir / asv.ASV_CONFIG
    if not conf.is_file() or not (opts.results_dir / ASV_DIR).is_dir():
        return Step("asv-publish", "skipped", f"no asv results in {opts.results_dir / ASV_DIR}")
    t0 = time.monotonic()
    try:
        index = asv.publish(conf, opts.results_dir / HTML_DIR, _asv_logs(opts) / "publish.log")
    except UsageError as exc:
        return Step("asv-publish", "failed", str(exc), time.monotonic() - t0)
    return Step("asv-publish", "ok", f"{index} (works offline)", time.monotonic() - t0)


def _asv_logs(opts: NightlyOptions) -> Path:
    path = nightly_dir(opts.results_dir) / "asv-logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ------------------------------------------------------------------------------------- matrix


def run_options(opts: NightlyOptions, preset: str):
    """The :class:`~suite.run.options.RunOptions` of the nightly matrix (same builder as ``run``)."""
    from suite.run.matrix import validate
    from suite.run.options import make_options

    options = make_options(preset=preset, axes=opts.axes, pairs_from=opts.pairs_from, **opts.run)
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
        sys.stderr.write(f"pairbench: {clean_line(outcome.message)}\n")
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
    from suite.compare.fail_on import parse_fail_on
    from suite.compare.runs import compare_runs

    t0 = time.monotonic()
    prev, other_machines = previous_run(list_runs(nightly_dir(opts.results_dir)), run)
    note = f" ({len(other_machines)} newer run(s) from other GPUs/drivers skipped)" if other_machines else ""
    if prev is None:
        return Step("compare", "skipped", f"first nightly run here: nothing to compare against{note}")
    result.baseline = prev.run_id
    comp = compare_runs(prev, run)
    failures = comp.failures(opts.fail_on)
    data = {**comp.to_dict(), "fail_on": opts.fail_on, "failures": failures}
    run.write_text(COMPARE_JSON, json.dumps(data, indent=2, sort_keys=True) + "\n")
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


def _finish(result: NightlyResult, opts: NightlyOptions) -> NightlyResult:
    if any(s.status == "failed" for s in result.steps):
        result.status, result.exit_code = "failed", 1
    elif result.regressions:
        result.status, result.exit_code = "regression", 1
    result.finished_at = utc_now()
    result.paragraph = summary_paragraph(result)
    write_summary(result, nightly_dir(opts.results_dir))
    return result


def check_options(opts: NightlyOptions) -> None:
    """Validate options before anything runs.

    Raises:
        UsageError: one line naming the bad option.
    """
    from suite.compare.fail_on import parse_fail_on

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
    machine = machine_name(opts.machine)
    result = NightlyResult(machine=machine, hostname=socket.gethostname(), started_at=utc_now())
    result.git_commit = commit = git_commit(opts.project_dir)
    folder = nightly_dir(opts.results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "w", encoding="utf-8") as lock:
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
        result.steps.append(Step("doctor", "ok", f"ready, {gpu_count(report)} GPU(s)", time.monotonic() - t0))
    else:
        result.steps.append(Step("doctor", "skipped", "--no-doctor"))

    result.steps.append(step_asv_run(opts, commit, machine))

    preset = opts.matrix
    if preset == "auto":
        if report is not None:
            n_gpus = gpu_count(report)
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
