"""One view of a fleet: the results of several machines as one report and one asv site.

Each machine of a fleet (one per GPU type, say) runs its own nightly into its own results
folder, under its own machine name (``--machine`` / ``$PAIRBENCH_MACHINE``; asv keeps its
results per machine name too). ``pairbench fleet SOURCE... --out DIR`` takes those results
folders (or run folders) and writes:

- ``DIR/report.md``, ``report.html``, ``table.csv``, ``table.parquet``: the newest finished run
  of each machine in one table with a ``machine`` column, grouped by machine;
- ``DIR/html/``: one asv site over every machine's asv results (``asv publish`` on a results
  folder holding ``asv/<machine>/`` of each source).

Nothing is compared across machines here: ``pairbench compare`` refuses runs of different
GPU models or drivers unless forced (:func:`suite.compare.comparability.machine_differences`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.errors import UsageError
from suite.results.names import ASV_DIR, HTML_DIR, RUN_META
from suite.results.run_dir import RunDir, machine_of
from suite.results.runs import list_runs


@dataclass(frozen=True)
class Source:
    """One machine of the fleet: its name, the run shown, and its results folder (if given)."""

    machine: str
    run: RunDir
    results_dir: Path | None


def _newest_finished(folder: Path) -> RunDir | None:
    for candidates in (list_runs(folder / "nightly"), list_runs(folder)):
        finished = [r for r in candidates if r.read_meta().get("status") == "finished"]
        if finished:
            return finished[-1]
    return None


def find_sources(paths: list[str | Path]) -> list[Source]:
    """A :class:`Source` per path: a run folder, or a results folder (its newest finished
    nightly run, else its newest finished run).

    Raises:
        UsageError: a path that is neither, or two sources with the same machine name.
    """
    sources: list[Source] = []
    for raw in paths:
        path = Path(raw)
        if (path / RUN_META).is_file():
            run, results_dir = RunDir(path), None
        elif path.is_dir():
            found = _newest_finished(path)
            if found is None:
                raise UsageError(f"{path}: no finished run in it (nor in {path / 'nightly'})")
            run, results_dir = found, path
        else:
            raise UsageError(f"{path}: not a run folder or a results folder")
        machine = machine_of(run.read_meta()) or run.run_id
        for other in sources:
            if other.machine == machine:
                raise UsageError(
                    f"{other.run.path} and {run.path} both come from machine {machine!r}: give each "
                    "machine its own name (--machine, $PAIRBENCH_MACHINE)"
                )
        sources.append(Source(machine, run, results_dir))
    if not sources:
        raise UsageError("name the results folders (or runs) of the machines")
    return sources


def _machine_line(source: Source) -> tuple[str, str]:
    meta = source.run.read_meta()
    prov = meta.get("provenance") or {}
    gpus = ", ".join(sorted({str(g.get("name")) for g in prov.get("gpus") or []})) or "no GPU"
    tf = (prov.get("tensorflow") or {}).get("version") or "?"
    commit = (meta.get("git_commit") or "")[:10] or "?"
    host = prov.get("hostname") or "?"
    driver = prov.get("driver_version") or "—"
    text = (
        f"run {source.run.run_id} ({meta.get('status', '?')}, finished {meta.get('finished_at') or '?'}), "
        f"{gpus}, driver {driver}, TensorFlow {tf}, pairbench {commit}, host {host}"
    )
    return f"machine {source.machine}", text


def _groups(group_by: str | None) -> list[str]:
    from suite.report.table import parse_group_by

    return ["machine", *(k for k in parse_group_by(group_by) if k != "machine")]


def fleet_frame(sources: list[Source], group_by: str | None = None) -> Any:
    """The report frame of every source, ``machine`` filled in, arranged by machine first.

    Raises:
        UsageError: an unknown group key.
    """
    import pandas as pd

    from suite.report.table import arrange, report_frame

    frames = []
    for source in sources:
        frame = report_frame(source.run)
        frame["machine"] = pd.array([source.machine] * len(frame), dtype="string")
        frames.append(frame)
    return arrange(pd.concat(frames, ignore_index=True), group_by=_groups(group_by))


def write_fleet_report(sources: list[Source], out: Path, group_by: str | None = None) -> dict[str, Path]:
    """Write the fleet's report files into ``out`` (see the module docstring).

    Raises:
        UsageError: an unknown group key.
        ResultsWriteError: ``out`` cannot be written.
    """
    from suite.report import summarize
    from suite.report.writer import write_report_files

    frame = fleet_frame(sources, group_by)
    return write_report_files(
        out,
        frame,
        title=f"pairbench fleet report — {len(sources)} machine(s)",
        summary=summarize(frame),
        provenance=[_machine_line(s) for s in sources],
        group_by=_groups(group_by),
        notes=["plots: see each machine's own report"],
    )


def combine_asv(sources: list[Source], out: Path) -> list[str]:
    """Copy the ``asv/<machine>/`` folders of each results folder into ``out/asv`` (with the
    newest ``benchmarks.json``); return the machines. Run folders given alone have no asv results.

    Raises:
        UsageError: two sources hold results of the same asv machine name.
    """
    machines: dict[str, Path] = {}
    newest_benchmarks: Path | None = None
    for source in sources:
        asv = source.results_dir / ASV_DIR if source.results_dir is not None else None
        if asv is None or not asv.is_dir():
            continue
        for folder in sorted(p for p in asv.iterdir() if p.is_dir() and (p / "machine.json").is_file()):
            if folder.name in machines:
                raise UsageError(
                    f"asv machine {folder.name!r} has results in {machines[folder.name]} and {asv}: "
                    "give each machine its own name"
                )
            machines[folder.name] = asv
            shutil.copytree(folder, out / ASV_DIR / folder.name, dirs_exist_ok=True)
        bench = asv / "benchmarks.json"
        if bench.is_file() and (
            newest_benchmarks is None or bench.stat().st_mtime > newest_benchmarks.stat().st_mtime
        ):
            newest_benchmarks = bench
    if newest_benchmarks is not None:
        shutil.copyfile(newest_benchmarks, out / ASV_DIR / "benchmarks.json")
    return sorted(machines)


def publish_asv(out: Path, project_dir: Path, timeout_s: float = 1800) -> Path:
    """``asv publish`` of ``out/asv`` into ``out/html`` with the project's ``asv.conf.json``,
    made to work offline (the nightly's publisher).

    Raises:
        UsageError: no ``asv.conf.json`` in ``project_dir``, or ``asv publish`` failed (its last lines).
    """
    from suite.asv.publish import asv_config, publish

    if not (project_dir / "asv.conf.json").is_file():
        raise UsageError(f"no asv.conf.json in {project_dir}: pass --project-dir (the pairbench checkout)")
    conf = asv_config(project_dir.resolve(), out)
    return publish(conf, out / HTML_DIR, out / "asv-publish.log", timeout_s)


def asv_machines(out: Path) -> list[str]:
    """The machines of a published asv site (its ``index.json``)."""
    index = out / HTML_DIR / "index.json"
    return (
        sorted(json.loads(index.read_text(encoding="utf-8")).get("machines", {})) if index.is_file() else []
    )
