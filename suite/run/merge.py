"""``pairbench merge RUN...``: the shard runs of one matrix (``run --shard K/N``) as one run.

Shards are meant to be the same run cut in N: :func:`check_mergeable` refuses runs whose
options (all but ``shard``), pairbench version and commit, TensorFlow, Keras, Python, CUDA,
driver, GPU models or numerics environment differ, runs that are not shards of the same plan,
a shard given twice, cases in two runs, unfinished runs and missing shards (the last two
are accepted with ``partial``). The merged run is a normal run folder: ``plan.json`` and
``records.jsonl`` hold every shard's cases, the files the records point at are copied (worker
logs under ``logs/<shard run id>/``, with the records' ``worker_log`` updated), ``run.json``
keeps the common options (without ``shard``) and says where each part came from
(``merged_from``). Its report is written like any other.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from suite import __version__
from suite.case import Case
from suite.errors import UsageError
from suite.results.names import LOGS, STATE, TRACEBACKS, is_derived
from suite.results.record import Record
from suite.results.run_dir import RunDir, utc_now
from suite.results.runs import build_run, open_run, resume_command
from suite.results.validation import refuse_foreign_records
from suite.run.shard import plan_digest

#: provenance entries that must be equal in every shard (the machine may differ, not the software)
_SOFTWARE = ("tensorflow", "keras", "python", "pairbench", "driver_version", "cuda_runtime_version")
_ENV_IGNORED = {"CUDA_VISIBLE_DEVICES"}


@dataclass
class MergeResult:
    """What :func:`merge_runs` made.

    Attributes:
        run: the merged run folder.
        sources: the shard runs, in shard order.
        missing_shards: shard numbers not given (only with ``partial``).
        unfinished: runs that had not finished (only with ``partial``).
        cases: cases of the merged plan.
        records: records copied.
    """

    run: RunDir
    sources: list[RunDir]
    missing_shards: list[int] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    cases: int = 0
    records: int = 0


def _software(meta: dict[str, Any]) -> dict[str, Any]:
    prov = meta.get("provenance") or {}
    env = {k: v for k, v in (prov.get("env") or {}).items() if k not in _ENV_IGNORED}
    gpus = sorted(str(g.get("name")) for g in prov.get("gpus") or [])
    return {
        "pairbench version": meta.get("pairbench_version"),
        "git commit": meta.get("git_commit"),
        **{name: prov.get(name) for name in _SOFTWARE},
        "GPU models": gpus,
        "numerics environment": env,
    }


def _settings(meta: dict[str, Any]) -> dict[str, Any]:
    options = dict(meta.get("options") or {})
    options.pop("shard", None)
    return options


def _first_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            va, vb = json.dumps(a.get(key), sort_keys=True), json.dumps(b.get(key), sort_keys=True)
            return f"{key} ({va[:60]} vs {vb[:60]})"
    return None


def check_mergeable(runs: list[RunDir], metas: list[dict[str, Any]], *, partial: bool = False) -> MergeResult:
    """Refuse runs that are not the shards of one run (see the module docstring).

    Returns:
        A :class:`MergeResult` without ``run``'s files yet (``run`` is the first source), with
        the sources in shard order and what is missing.

    Raises:
        UsageError: one line naming the runs and what differs.
    """
    if not runs:
        raise UsageError("name the shard runs to merge")
    seen: dict[Path, str] = {}
    for run in runs:
        key = run.path.resolve()
        if key in seen:
            raise UsageError(f"run {run.run_id} is given twice")
        seen[key] = run.run_id
    shards: dict[int, RunDir] = {}
    first, first_meta = runs[0], metas[0]
    for run, meta in zip(runs, metas, strict=True):
        shard = meta.get("shard")
        if not isinstance(shard, dict):
            raise UsageError(
                f"run {run.run_id} is not a shard (started without --shard K/N): nothing to merge"
            )
        if run is not first:
            for what, get in (("settings", _settings), ("software", _software)):
                diff = _first_difference(get(first_meta), get(meta))
                if diff:
                    raise UsageError(
                        f"runs {first.run_id} and {run.run_id} differ in {what}: {diff}; "
                        "only shards of one run can be merged"
                    )
            for key in ("count", "plan_sha256"):
                if shard.get(key) != first_meta["shard"].get(key):
                    raise UsageError(
                        f"runs {first.run_id} and {run.run_id} are shards of different plans ({key} differs)"
                    )
        index = shard.get("index")
        if index in shards:
            raise UsageError(
                f"runs {shards[index].run_id} and {run.run_id} are both shard {index}/{shard['count']}"
            )
        shards[index] = run
    count = int(first_meta["shard"]["count"])
    missing = [k for k in range(1, count + 1) if k not in shards]
    unfinished = [
        run.run_id for run, meta in zip(runs, metas, strict=True) if meta.get("status") != "finished"
    ]
    if missing and not partial:
        shown = ", ".join(f"{k}/{count}" for k in missing)
        raise UsageError(f"shard(s) {shown} missing: merge every shard, or pass --partial")
    if unfinished and not partial:
        stopped = next(run for run in runs if run.run_id == unfinished[0])
        raise UsageError(
            f"run {unfinished[0]} has not finished: finish it ({resume_command(stopped)}) or pass --partial"
        )
    ordered = [shards[k] for k in sorted(shards)]
    return MergeResult(run=first, sources=ordered, missing_shards=missing, unfinished=unfinished)


def _plans(sources: list[RunDir]) -> list[dict[str, Any]]:
    owner: dict[str, str] = {}
    plan: list[dict[str, Any]] = []
    for run in sources:
        for item in run.read_plan():
            case_id = Case.from_dict(item).case_id
            if case_id in owner:
                raise UsageError(
                    f"case {case_id} is in runs {owner[case_id]} and {run.run_id}: the shards overlap"
                )
            owner[case_id] = run.run_id
            plan.append(item)
    return plan


def _copy_files(source: RunDir, target: RunDir) -> dict[str, str]:
    """Copy the files records point at; return ``{old relative path: new}`` for moved logs."""
    moved: dict[str, str] = {}
    for path in sorted(source.path.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(source.path)
        if rel.parts[0] in STATE or is_derived(rel.parts[0]) or rel.name.startswith("."):
            continue
        new = str(rel)
        if rel.parts[0] == LOGS and (len(rel.parts) < 2 or rel.parts[1] != TRACEBACKS):
            new = str(Path(LOGS, source.run_id, *rel.parts[1:]))
            moved[str(rel)] = new
        if (target.path / new).exists():
            raise UsageError(f"{new} exists in two shard runs: the shards overlap")
        target.write_with(new, lambda tmp, path=path: shutil.copyfile(path, tmp))
    return moved


def _with_moved_log(record: Record, moved: dict[str, str]) -> Record:
    log = record.extra.get("worker_log")
    if isinstance(log, str) and log in moved:
        return replace(record, extra={**record.extra, "worker_log": moved[log]})
    return record


def _merged_meta(
    run_id: str,
    result: MergeResult,
    by_id: dict[str, dict[str, Any]],
    plan: list[dict[str, Any]],
    argv: list[str] | None,
) -> dict[str, Any]:
    """``run.json`` of the merged run: the first shard's, with where each part came from."""
    first = by_id[result.sources[0].run_id]
    options = dict(first.get("options") or {})
    options["shard"] = None
    machines = sorted({str(by_id[r.run_id].get("machine") or "") for r in result.sources} - {""})
    return {
        **{k: v for k, v in first.items() if k not in ("shard", "invocations", "failure")},
        "run_id": run_id,
        "argv": list(argv or []),
        "options": options,
        "n_cases": len(plan),
        "pairs": {k: v for r in result.sources for k, v in (by_id[r.run_id].get("pairs") or {}).items()},
        "started_at": min(str(by_id[r.run_id].get("started_at") or "") for r in result.sources),
        "machine": "+".join(machines) if machines else first.get("machine"),
        "merged_from": [
            {
                "run_id": r.run_id,
                "path": str(r.path.resolve()),
                "shard": by_id[r.run_id]["shard"],
                "machine": by_id[r.run_id].get("machine"),
                "hostname": (by_id[r.run_id].get("provenance") or {}).get("hostname"),
                "status": by_id[r.run_id].get("status"),
                "started_at": by_id[r.run_id].get("started_at"),
                "finished_at": by_id[r.run_id].get("finished_at"),
            }
            for r in result.sources
        ],
        "merge": {
            "merged_at": utc_now(),
            "pairbench_version": __version__,
            "missing_shards": result.missing_shards,
            "unfinished": result.unfinished,
        },
        "invocations": [
            {**inv, "run_id": r.run_id}
            for r in result.sources
            for inv in by_id[r.run_id].get("invocations") or []
        ],
        "status": "finished",
    }


def _check_records(source: RunDir, meta: dict[str, Any], records: list[Record], *, partial: bool) -> None:
    """Refuse a shard whose records cannot be merged: none at all from a finished shard (an
    emptied or lost ``records.jsonl``), or records of cases its plan does not hold.

    Raises:
        UsageError: one line naming the shard run.
    """
    if not records and source.read_plan() and not (partial and meta.get("status") != "finished"):
        raise UsageError(
            f"run {source.run_id} has no records ({source.records_path.name} is empty or missing) "
            "although its plan has cases: nothing to merge from it"
        )
    refuse_foreign_records(source, (r.case_id for r in records), meta)


def merge_runs(
    refs: list[str],
    *,
    results_dir: Path | str,
    run_id: str | None = None,
    partial: bool = False,
    argv: list[str] | None = None,
) -> MergeResult:
    """Merge shard runs into a new run folder under ``results_dir``.

    Args:
        refs: run ids (under ``results_dir``) or run folders.
        results_dir: where the merged run goes (and where run ids are looked up).
        run_id: the merged run's id (default: the UTC time).
        partial: accept missing shards and unfinished runs (said so in ``run.json``).
        argv: the command line, recorded in ``run.json``.

    Raises:
        UsageError: see :func:`check_mergeable`; an unknown run; an existing ``run_id``.
    """
    runs = [open_run(ref, results_dir) for ref in refs]
    metas = [run.read_meta() for run in runs]
    result = check_mergeable(runs, metas, partial=partial)
    plan = _plans(result.sources)
    shard = metas[0]["shard"]
    if not result.missing_shards and plan_digest([Case.from_dict(c) for c in plan]) != shard.get(
        "plan_sha256"
    ):
        raise UsageError(
            f"the cases of the {len(result.sources)} shards are not the plan they were cut from "
            f"({len(plan)} cases, the plan had {shard.get('plan_cases')}): were they run with other pairs?"
        )
    by_id = {run.run_id: meta for run, meta in zip(runs, metas, strict=True)}
    with build_run(results_dir, run_id) as build:  # complete, or no folder at all
        target = build.run
        meta = _merged_meta(build.run_id, result, by_id, plan, argv)
        target.write_plan(plan)
        for source in result.sources:
            records = source.records()
            _check_records(source, by_id[source.run_id], records, partial=partial)
            moved = _copy_files(source, target)
            for record in records:
                target.append(_with_moved_log(record, moved))
                result.records += 1
        meta["finished_at"] = (
            max(str(by_id[r.run_id].get("finished_at") or "") for r in result.sources) or utc_now()
        )
        target.write_meta(meta)
    target = RunDir(build.final)
    result.run, result.cases = target, len(plan)
    return result
