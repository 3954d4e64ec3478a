"""The lifecycle of a run, from options to a finished (or cleanly stopped) run folder.

:func:`run_selection` is the one lifecycle used by ``pairbench run``, ``--resume`` and
``pairbench nightly``:

1. A new run: check the environment, load the user's pair files, validate the selection,
   probe TensorFlow in a worker, expand the matrix, create the run folder. A resumed run:
   open the folder, read its options back from ``run.json`` (never from today's defaults),
   check that its pair files are unchanged, and load its plan.
2. Take the run's lock (a second process on the same run is refused), move lines that are
   not records into quarantine (a torn last line after a crash), and record this invocation.
3. Run every case without a record (``retry_errors``: also those whose record is an error)
   on the run's executor (:mod:`suite.run.executors`: this machine's GPUs at once, one worker
   at a time, or a Ray cluster) through :mod:`suite.run.dispatch`, appending each record at
   once. ``--shard K/N`` runs only shard K of the matrix (:mod:`suite.run.shard`).
4. End with ``run.json`` saying ``finished``, ``interrupted`` (Ctrl-C, SIGTERM, SIGHUP: the
   workers are stopped, every finished record is on disk) or ``failed`` with the reason
   (the results folder became unwritable: disk full, read-only), and optionally the report.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite import __version__
from suite.case import Case
from suite.errors import RunInterrupted, UsageError, stop_on_signals
from suite.machine.identity import git_commit, machine_name
from suite.results.atomic import ResultsWriteError
from suite.results.names import DEFAULT_RESULTS_DIR, check_run_id
from suite.results.record import Record
from suite.results.run_dir import RunDir, utc_now
from suite.results.runs import check_results_dir, create_run, open_run_for_writing, resume_command
from suite.results.validation import refuse_foreign_records
from suite.run.dispatch import Dispatcher, Executor
from suite.run.executors import make_executor
from suite.run.matrix import JobPlan, Selection, expand, plan_jobs, validate
from suite.run.options import RunOptions, options_from_meta
from suite.run.schedule import pending_plans
from suite.run.shard import parse_shard, plan_digest, shard_cases
from suite.verdicts import ERROR

#: exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report)
SIGINT_EXIT = 128 + signal.SIGINT


class Progress:
    """What the lifecycle tells the user; the CLI supplies a rich or plain implementation."""

    def begin(self, total: int, done: int) -> None:
        """Called once with the number of cases and how many already have a record."""

    def current(self, case_ids: list[str]) -> None:
        """A group of cases has started."""

    def finished(self, record: Record) -> None:
        """A case has a record."""

    def message(self, text: str) -> None:
        """A line for the user."""

    def end(self) -> None:
        """Called once at the end."""


@dataclass
class RunOutcome:
    """How a run (or this invocation of it) ended.

    Attributes:
        run: the run folder.
        status: ``finished``, ``interrupted`` or ``failed``.
        exit_code: 0 finished, 1 failed, 128 + signal number when interrupted.
        counts: verdicts of the matrix cases recorded by this invocation.
        reference_counts: verdicts of the float64 reference cases recorded by this invocation.
        flag_counts: flags (``non-finite``, ``reference-unavailable``) of those matrix cases.
        message: one line for the user (why it failed, how to continue).
        report: paths of the report files, when written.
    """

    run: RunDir
    status: str
    exit_code: int
    counts: dict[str, int] = field(default_factory=dict)
    reference_counts: dict[str, int] = field(default_factory=dict)
    flag_counts: dict[str, int] = field(default_factory=dict)
    message: str = ""
    report: dict[str, Path] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)


def check_environment(env: dict[str, str] | None = None) -> None:
    """Refuse environment variables TensorFlow would misread, naming the variable.

    Raises:
        UsageError: ``TF_DETERMINISTIC_OPS`` (or another boolean TensorFlow variable) is not a
            boolean. A bad ``XLA_FLAGS`` is caught by the probe, which compiles with XLA.
    """
    from suite.machine.env_check import boolean_problems

    problems = boolean_problems(env)
    if problems:
        raise UsageError(problems[0])


def _load_pairs(options: RunOptions) -> None:
    from suite.machine.tf_noise import quiet_native_stderr
    from suite.zoo import load_pairs_from

    with quiet_native_stderr():  # pair files import TensorFlow
        for pairs_file in options.pairs_from:
            load_pairs_from(pairs_file.path)


def _check_inputs(selection: Selection, seed: int) -> None:
    """Check the inputs of every pair of the selection at every size it may run
    (:func:`suite.zoo.inputs.check_pair_inputs`), before the probe starts a process.

    The sizes are those of the devices the selection names (``--devices``), or of the CPU and
    the GPUs when it names none (the probe has not counted the GPUs yet).

    Raises:
        UsageError: one line naming the pair and what is wrong with its inputs.
    """
    from suite.zoo import get_pair, registered
    from suite.zoo.inputs import check_pair_inputs

    kinds = {"cpu" if d == "cpu" else "gpu" for d in selection.devices or ("cpu", "gpu")}
    wanted = selection.sizes or tuple(dict.fromkeys(selection.sizes_by_device[k] for k in sorted(kinds)))
    pairs = [get_pair(name) for name in selection.pairs or tuple(registered())]
    used = dict.fromkeys((pair.name, pair.size_for(size)) for pair in pairs for size in wanted)
    check_pair_inputs(((get_pair(name), size) for name, size in used), seed)


def _pair_roles(names: list[str]) -> dict[str, dict[str, Any]]:
    """Each pair's reference and controls, for reports (which never import the zoo's models)."""
    from suite.zoo import get_pair

    roles = {}
    for name in names:
        pair = get_pair(name)
        roles[name] = {
            "reference": pair.reference,
            "controls": [m for m in pair.members() if m in pair.controls],
        }
    return roles


def start_run(
    options: RunOptions,
    *,
    results_dir: Path,
    executor: Executor,
    run_id: str | None = None,
    argv: list[str] | None = None,
    meta_extra: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> tuple[RunDir, list[Case]]:
    """Create a new run folder with its plan and ``run.json`` (status ``created``)."""
    check_environment()
    if run_id is not None:
        check_run_id(run_id)
    _load_pairs(options)
    validate(options.selection)
    _check_inputs(options.selection, options.seed)  # a bad batch: one line now, not error rows later
    check_results_dir(results_dir)  # created only for a run that passed every check
    if progress:
        progress.message("probing TensorFlow devices ...")
    info = executor.probe()
    cases = expand(options.selection, int(info["gpus"]))
    extra: dict[str, Any] = {}
    if options.shard is not None:
        shard = parse_shard(options.shard)
        extra["shard"] = {
            "index": shard.index,
            "count": shard.count,
            "plan_cases": len(cases),
            "plan_sha256": plan_digest(cases),
        }
        cases = shard_cases(cases, shard)
    for key in ("simulated_gpus", "cluster"):
        if key in info:
            extra[key] = info[key]
    run = create_run(results_dir, run_id)
    run.write_plan([c.to_dict() for c in cases])
    meta = {
        "run_id": run.run_id,
        "started_at": utc_now(),
        "argv": list(argv or []),
        "pairbench_version": __version__,
        "git_commit": git_commit(),
        "selection": options.selection.to_dict(),
        "options": options.to_dict(),
        "n_cases": len(cases),
        "pairs": _pair_roles(sorted({c.pair for c in cases})),
        "visible_gpus": info["gpus"],
        "provenance": info["provenance"],
        "invocations": [],
        "status": "created",
        "machine": machine_name(),
        **extra,
        **(meta_extra or {}),
    }
    run.write_meta(meta)
    return run, cases


@contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    restore = stop_on_signals()
    try:
        yield
    finally:
        restore()


def run_selection(
    options: RunOptions | None = None,
    *,
    results_dir: Path | str = DEFAULT_RESULTS_DIR,
    run_id: str | None = None,
    resume: str | None = None,
    retry_errors: bool = False,
    progress: Progress | None = None,
    argv: list[str] | None = None,
    meta_extra: dict[str, Any] | None = None,
    report: bool = True,
    console: Any = None,
    address: str | None = None,
) -> RunOutcome:
    """Run (or resume) a run to its end; see the module docstring.

    Args:
        options: the options of a new run (ignored with ``resume``: they come from ``run.json``).
        results_dir: where run folders live.
        run_id: name of a new run folder (default: the UTC time).
        resume: id (or path inside ``results_dir``) of a run to continue.
        retry_errors: with ``resume``, also run again the cases whose record is an error.
        progress: where progress goes (default: nowhere).
        argv: the command line, recorded in ``run.json``.
        meta_extra: more keys for ``run.json`` of a new run (e.g. ``nightly``).
        report: write the report when the run finishes.
        console: a ``rich`` console the report's table and summary are printed on (None: none).
        address: the Ray cluster of the ``ray`` executor (not an option of the run: a resumed
            run may continue on another cluster).

    Raises:
        UsageError: bad options, an unknown or locked run, a changed pair file, TensorFlow
            cannot start, the executor cannot start; nothing has been measured then.
    """
    progress = progress or Progress()
    results_dir = Path(results_dir)
    executor: Executor | None = None
    try:
        if resume:
            run = open_run_for_writing(resume, results_dir)
        else:
            if options is None:
                raise UsageError("no options for a new run")
            executor = make_executor(options.executor, address=address, gpu_type=options.gpu_type)
            run, _ = start_run(
                options,
                results_dir=results_dir,
                executor=executor,
                run_id=run_id,
                argv=argv,
                meta_extra=meta_extra,
                progress=progress,
            )
        outcome = _locked(run, options, executor, resume, retry_errors, progress, argv, address)
    finally:
        if executor is not None:
            executor.close()
    progress.end()
    if outcome.status == "finished" and report:
        from suite.report import write_report

        outcome.report = write_report(run, console=console)
    return outcome


def _locked(
    run: RunDir,
    options: RunOptions | None,
    executor: Executor | None,
    resume: str | None,
    retry_errors: bool,
    progress: Progress,
    argv: list[str] | None,
    address: str | None,
) -> RunOutcome:
    """Steps 2 to 4 under the run's lock (``executor`` is made here for a resumed run)."""
    with run.lock():
        meta = run.read_meta()
        if resume:
            options = options_from_meta(meta, run)
            for pairs_file in options.pairs_from:
                pairs_file.check_unchanged()
            check_environment()
            _load_pairs(options)
        assert options is not None
        if executor is not None:
            return _invocation(run, meta, options, executor, retry_errors, progress, argv)
        executor = make_executor(options.executor, address=address, gpu_type=options.gpu_type)
        try:
            return _invocation(run, meta, options, executor, retry_errors, progress, argv)
        finally:
            executor.close()


def _invocation(
    run: RunDir,
    meta: dict[str, Any],
    options: RunOptions,
    executor: Executor,
    retry_errors: bool,
    progress: Progress,
    argv: list[str] | None,
) -> RunOutcome:
    """Check the plan and the records, record this invocation, run the cases without a record,
    record how it ended. A refusal (unknown pair or member, records of another run) comes before
    anything is written: ``run.json`` stays as it was."""
    cases = [Case.from_dict(c) for c in run.read_plan()]
    plans = _checked_plans(cases, options)
    refuse_foreign_records(run, run.recorded_case_ids(), meta)
    try:
        repaired = run.repair_records()
        for line in repaired:
            progress.message(f"quarantined a line that was not a record: {line}")
        meta.setdefault("invocations", []).append(
            {
                "started_at": utc_now(),
                "argv": list(argv or []),
                "pid": os.getpid(),
                "retry_errors": retry_errors,
                "executor": executor.describe(),
            }
        )
        meta["status"] = "running"
        meta.pop("failure", None)
        run.write_meta(meta)
    except ResultsWriteError as exc:
        outcome = RunOutcome(run=run, status="failed", exit_code=1)
        outcome.message = f"run {run.run_id} failed: {exc}; {_continue_hint(run)} once it is writable"
    else:
        progress.message(
            f"run {run.run_id}: {len(cases)} cases"
            + (" + float64 references" if options.reference_fp64 else "")
            + f" -> {run.path}"
        )
        try:
            outcome = _run_cases(run, cases, plans, options, progress, retry_errors, executor)
        except UsageError as exc:  # the executor refused after the start was recorded: say so
            _finish_meta(run, RunOutcome(run=run, status="failed", exit_code=2, message=str(exc)))
            raise
        outcome.repaired = repaired
    _finish_meta(run, outcome)
    return outcome


def _checked_plans(cases: list[Case], options: RunOptions) -> list[JobPlan]:
    """The worker jobs of a plan whose every pair and member is registered.

    Raises:
        UsageError: the plan names a pair or a member no loaded pair file defines (a pair file
            changed or was not given), before anything of the run is written.
    """
    from suite.zoo import get_pair

    members: dict[str, tuple[str, ...]] = {}
    for case in cases:
        if case.pair not in members:
            members[case.pair] = get_pair(case.pair).members()
        if case.member not in members[case.pair]:
            raise UsageError(
                f"the plan has member {case.member!r} of pair {case.pair!r}, which defines "
                f"{', '.join(members[case.pair])}: was its pair file changed?"
            )
    return plan_jobs(cases, with_fp64=options.reference_fp64)


def _run_cases(
    run: RunDir,
    cases: list[Case],
    plans: list[JobPlan],
    options: RunOptions,
    progress: Progress,
    retry_errors: bool,
    executor: Executor,
) -> RunOutcome:
    records = run.records()
    done = {r.case_id for r in records if not (retry_errors and r.verdict == ERROR)}
    matrix_ids = {c.case_id for c in cases}
    all_ids = {c.case_id for p in plans for c in p.cases}
    progress.begin(total=len(all_ids), done=len(done & all_ids))
    outcome = RunOutcome(run=run, status="running", exit_code=0)

    def on_record(record: Record) -> None:
        run.append(record)  # ResultsWriteError stops the run
        done.add(record.case_id)
        counts = outcome.counts if record.case_id in matrix_ids else outcome.reference_counts
        counts[record.verdict] = counts.get(record.verdict, 0) + 1
        for flag in record.flags if record.case_id in matrix_ids else ():
            outcome.flag_counts[flag] = outcome.flag_counts.get(flag, 0) + 1
        progress.finished(record)

    try:
        with _signals_as_interrupts():
            units = executor.units(pending_plans(plans, done))
            Dispatcher(run, options, executor, on_record, on_start=progress.current).run(units)
    except KeyboardInterrupt:
        outcome.status, outcome.exit_code = "interrupted", SIGINT_EXIT
        outcome.message = f"interrupted (SIGINT); {_continue_hint(run)}"
        return outcome
    except RunInterrupted as exc:
        outcome.status, outcome.exit_code = "interrupted", exc.exit_code
        outcome.message = f"interrupted ({exc}); {_continue_hint(run)}"
        return outcome
    except ResultsWriteError as exc:
        outcome.status, outcome.exit_code = "failed", 1
        outcome.message = f"run {run.run_id} failed: {exc}; {_continue_hint(run)} once it is writable"
        return outcome
    if not (all_ids - done):
        outcome.status = "finished"
    else:  # cannot happen unless a worker lost cases silently: say so, never call it finished
        outcome.status, outcome.exit_code = "failed", 1
        outcome.message = f"run {run.run_id}: {len(all_ids - done)} case(s) have no record"
    if not outcome.counts and not outcome.reference_counts:
        progress.message("nothing to run: every case already has a record")
    return outcome


def _continue_hint(run: RunDir) -> str:
    return f"finished cases are in {run.records_path}; continue with: {resume_command(run)}"


def _finish_meta(run: RunDir, outcome: RunOutcome) -> None:
    """Record the end of this invocation in ``run.json`` (best effort when the disk is full)."""
    try:
        meta = run.read_meta()
        meta["status"] = outcome.status
        meta["finished_at"] = utc_now()
        if outcome.status == "failed":
            meta["failure"] = outcome.message
        invocations = meta.get("invocations") or [{}]
        invocations[-1].update({"finished_at": meta["finished_at"], "status": outcome.status})
        run.write_meta(meta)
    except (ResultsWriteError, UsageError) as exc:
        if outcome.status != "failed":
            outcome.status, outcome.exit_code = "failed", 1
            outcome.message = f"run {run.run_id}: cannot record its end: {exc}"
