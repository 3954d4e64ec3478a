"""Which earlier nightly a run is compared with, and which nightly runs are kept."""

from __future__ import annotations

import shutil
from pathlib import Path

from suite.errors import UsageError
from suite.results.run_dir import RunDir
from suite.results.runs import list_runs


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
