"""Finding, creating and listing run folders under a results folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from suite.errors import UsageError
from suite.results.atomic import write_error
from suite.results.names import DEFAULT_RESULTS_DIR, RECORDS, RUN_META, check_run_id, new_run_id
from suite.results.run_dir import RunDir
from suite.text import command

#: the middle of a hidden folder's name while :func:`build_run` makes a run in it
BUILDING = ".building-"


def check_results_dir(results_dir: Path | str) -> Path:
    """Make sure ``results_dir`` is a folder this process can write (created if missing).

    Raises:
        UsageError: it is a file, cannot be created, or is not writable (read-only, immutable).
    """
    results_dir = Path(results_dir)
    if results_dir.exists() and not results_dir.is_dir():
        raise UsageError(f"results dir {results_dir} is a file, not a folder")
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        probe = results_dir / f".write-test-{os.getpid()}"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"results dir {results_dir} is not writable ({exc.strerror})") from None
    return results_dir


def _free_path(results_dir: Path, run_id: str | None) -> Path:
    """``results_dir/run_id``, or a new time-stamped name, that does not exist yet.

    Raises:
        UsageError: ``run_id`` is given and exists.
    """
    base = run_id or new_run_id()
    candidate, n = base, 1
    while (results_dir / candidate).exists():
        if run_id:
            raise UsageError(f"run {run_id!r} already exists in {results_dir}; use --resume {run_id}")
        n += 1
        candidate = f"{base}-{n}"
    return results_dir / candidate


def create_run(results_dir: Path | str, run_id: str | None = None) -> RunDir:
    """Create a new run folder under ``results_dir`` (never reuses an existing one).

    Raises:
        UsageError: invalid run id, the run exists, or the results folder is not a writable folder.
    """
    if run_id is not None:
        check_run_id(run_id)
    results_dir = check_results_dir(results_dir)
    path = _free_path(results_dir, run_id)
    try:
        path.mkdir()
    except OSError as exc:
        raise UsageError(f"cannot create run folder {path} ({exc.strerror})") from None
    return RunDir(path)


@dataclass(frozen=True)
class RunBuild:
    """A run folder being made from others (:func:`build_run`).

    Attributes:
        run: the hidden folder the run is built in (write every file here).
        run_id: the name it gets once complete (write this into ``run.json``).
        final: where it goes then.
    """

    run: RunDir
    run_id: str
    final: Path


@contextmanager
def build_run(results_dir: Path | str, run_id: str | None = None) -> Iterator[RunBuild]:
    """Build a new run folder from others (``merge``) in one step: complete, or not at all.

    The run is made in a hidden folder next to its final place (``.<run-id>.building-<pid>``,
    never listed as a run) and renamed into place when the ``with`` block ends without an
    error; on any error (a refusal, a full disk, Ctrl-C) the hidden folder is removed, so a
    refused merge leaves nothing behind.

    Raises:
        UsageError: invalid or existing run id, or the results folder is not a writable folder.
        ResultsWriteError: the finished folder cannot be renamed into place.
    """
    if run_id is not None:
        check_run_id(run_id)
    results_dir = check_results_dir(results_dir)
    final = _free_path(results_dir, run_id)
    tmp = results_dir / f".{final.name}{BUILDING}{os.getpid()}"
    try:
        tmp.mkdir()
    except OSError as exc:
        raise UsageError(f"cannot create run folder {tmp} ({exc.strerror})") from None
    try:
        yield RunBuild(RunDir(tmp), final.name, final)
        if final.exists():  # made meanwhile by another process: never replace it
            raise UsageError(f"run {final.name!r} appeared in {results_dir} meanwhile; try again")
        try:
            os.rename(tmp, final)
        except OSError as exc:
            raise write_error(final, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def list_runs(results_dir: Path | str) -> list[RunDir]:
    """Run folders under ``results_dir`` (those with ``run.json``), oldest first; hidden folders
    (a run still being built by :func:`build_run`) are not runs."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return []
    runs = [
        RunDir(p) for p in results_dir.iterdir() if not p.name.startswith(".") and (p / RUN_META).is_file()
    ]

    def started(run: RunDir) -> str:
        try:
            return str(run.read_meta().get("started_at", ""))
        except UsageError:
            return ""

    return sorted(runs, key=lambda r: (started(r), r.run_id))


def open_run(ref: str | Path, results_dir: Path | str = DEFAULT_RESULTS_DIR) -> RunDir:
    """Find a run by id (under ``results_dir``), by path, or ``latest``.

    Raises:
        UsageError: if there is no such run, or ``results_dir`` is not a folder.
    """
    results_dir = Path(results_dir)
    if results_dir.exists() and not results_dir.is_dir():
        raise UsageError(f"results dir {results_dir} is a file, not a folder")
    ref_s = str(ref)
    if "\n" in ref_s or "\0" in ref_s:
        raise UsageError(f"invalid run {ref_s!r}")
    if ref_s == "latest":
        runs = list_runs(results_dir)
        if not runs:
            raise UsageError(f"no runs in {results_dir}")
        return runs[-1]
    for cand in (Path(ref_s), results_dir / ref_s):
        if cand.is_dir() and ((cand / RUN_META).exists() or (cand / RECORDS).exists()):
            return RunDir(cand)
    raise UsageError(f"no run {ref_s!r} (looked in {results_dir} and as a path)")


def open_run_for_writing(ref: str, results_dir: Path | str) -> RunDir:
    """Find a run to resume: by id under ``results_dir``, or a path inside ``results_dir``.

    Raises:
        UsageError: no such run, or the path lies outside ``results_dir``.
    """
    results_dir = Path(results_dir)
    if "/" not in ref and os.sep not in ref and ref != "latest":
        check_run_id(ref)
    run = open_run(ref, results_dir)
    try:
        run.path.resolve().relative_to(results_dir.resolve())
    except ValueError:
        raise UsageError(
            f"run {ref!r} is not inside the results dir {results_dir}; pass --results-dir"
        ) from None
    return RunDir(results_dir / run.path.resolve().relative_to(results_dir.resolve()))


def resume_command(run: RunDir) -> str:
    """``pairbench run --resume RUN --results-dir DIR`` for the user to copy, every word quoted
    for a shell (a results path with a space or a ``;`` is pasted as one argument)."""
    return command("pairbench", "run", "--resume", run.run_id, "--results-dir", str(run.path.parent))
