"""The worker process: runs a job (cases sharing process-global state) and reports records.

Started by the runner as ``python -m suite.worker JOB.json``. Messages to the runner are
JSON lines on the original stdout (the worker points its own ``sys.stdout`` and fd 1 at
stderr first, so prints from user models and TensorFlow cannot corrupt the channel):

- ``{"event": "hello", "pid", "state": {...}}``
- ``{"event": "start", "case_ids": [...]}`` before each group of alternating cases
- ``{"event": "record", "record": {...}}`` for each finished case
- ``{"event": "done"}``

``python -m suite.worker --probe`` prints one JSON object: visible GPUs and provenance.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from suite.case import Case
from suite.record import Record
from suite.results import RunDir


@dataclass(frozen=True)
class Job:
    """What one worker process runs.

    Attributes:
        run_dir: the run folder.
        precision, determinism: the process-global state of every case in the job.
        groups: lists of cases to alternate (same case but for the mode), in run order.
        repeats: timed repeats per case (also the rerun count).
        steps: units per repeat (None: per workload default).
        seed: seed for weights, inputs and dropout.
        profile: capture a profiler trace per case after timing.
        localise: localise diverged/nondeterministic cases.
        pairs_from: user pair files to load.
    """

    run_dir: str
    precision: str
    determinism: str
    groups: list[list[Case]]
    repeats: int = 3
    steps: int | None = None
    seed: int = 0
    profile: bool = False
    localise: bool = True
    pairs_from: tuple[str, ...] = ()

    def to_json(self) -> str:
        """Serialise for the worker's command line."""
        data = dict(self.__dict__)
        data["groups"] = [[c.to_dict() for c in g] for g in self.groups]
        data["pairs_from"] = list(self.pairs_from)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Job:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        data["groups"] = [[Case.from_dict(c) for c in g] for g in data["groups"]]
        data["pairs_from"] = tuple(data.get("pairs_from", ()))
        return cls(**data)


class Channel:
    """The JSON-lines message channel to the runner (a private dup of the original stdout)."""

    def __init__(self) -> None:
        sys.stdout.flush()
        self._fd = os.dup(1)
        os.dup2(2, 1)  # anything printed from now on goes to stderr
        sys.stdout = sys.stderr
        self._fh = os.fdopen(self._fd, "w", buffering=1, encoding="utf-8")

    def send(self, **message: Any) -> None:
        """Write one message line."""
        self._fh.write(json.dumps(message, default=_json_default) + "\n")
        self._fh.flush()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def _rss() -> dict[str, int | None]:
    """Current and peak resident set size of this process (Linux ``/proc``; None elsewhere)."""
    out: dict[str, int | None] = {"host_rss_bytes": None, "host_peak_rss_bytes": None}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["host_rss_bytes"] = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                out["host_peak_rss_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def main(argv: list[str] | None = None) -> int:
    """Run a job file (or ``--probe``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if argv == ["--probe"]:
        return _probe()
    job = Job.from_json(Path(argv[0]).read_text(encoding="utf-8"))
    channel = Channel()
    from suite.execution import configure_process
    from suite.zoo import load_pairs_from

    for path in job.pairs_from:
        load_pairs_from(path)
    state = configure_process(job.precision, job.determinism)
    channel.send(event="hello", pid=os.getpid(), state=state.__dict__)
    from suite.group import run_group

    for group in job.groups:
        channel.send(event="start", case_ids=[c.case_id for c in group])
        for record in run_group(job, group, state):
            channel.send(event="record", record=json.loads(record.to_json()))
    channel.send(event="done")
    return 0


def _probe() -> int:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    try:
        from suite.provenance import collect

        provenance = collect()
    except Exception as exc:  # provenance is informative; the run goes on without it
        provenance = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps({"gpus": len(gpus), "provenance": provenance}, default=_json_default))
    return 0


def run_dir_of(job: Job) -> RunDir:
    """The job's run folder."""
    return RunDir(Path(job.run_dir))


def failure_record(case: Case, verdict: str, reason: str, **extra: Any) -> Record:
    """A row for a case that could not run (or whose worker died)."""
    return Record(case=case, verdict=verdict, reason=reason, extra={"finished_at": time.time(), **extra})


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
