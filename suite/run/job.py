"""What the parent and the child of a run share: the job and the messages between them.

The parent (:mod:`suite.run.parent`) writes a :class:`Job` to a file and starts
``python -m suite.run.child JOB.json``; the child answers with JSON lines on its stdout:

- ``{"event": "hello", "pid": int, "state": {...}, "placement": {...}}`` once the process state
  is set (``placement``: host, ``CUDA_VISIBLE_DEVICES``, the physical GPUs, see
  :mod:`suite.run.placement`);
- ``{"event": "start", "case_ids": [...]}`` before each group of alternating cases;
- ``{"event": "record", "record": {...}}`` for each finished case;
- ``{"event": "done"}`` at the end;
- ``{"event": "fatal", "reason": str}`` when the run folder cannot be written (the run stops).

A Ray task (:mod:`suite.run.ray_task`) adds ``{"event": "node", "placement": {...}}`` before
the child's messages and ``{"event": "exit", "code": int}`` after them.

Neither side imports the other: both import this module, :mod:`suite.case`,
:mod:`suite.results.record` and :mod:`suite.run.options`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from suite.case import Case
from suite.run.options import RunOptions

#: environment variable holding the parent's pid (the child exits when its parent is gone)
PARENT_PID_ENV = "PAIRBENCH_PARENT_PID"


@dataclass(frozen=True)
class Job:
    """What one worker process runs.

    Attributes:
        run_dir: the run folder.
        precision, determinism: the process-global state shared by every case of the job.
        groups: lists of cases to alternate (one member in several modes), in run order.
        options: the run's options (repeats, steps, seed, profile, localise, pair files...).
        name: the worker's name (its log file is ``logs/worker-<name>.log``).
    """

    run_dir: str
    precision: str
    determinism: str
    groups: list[list[Case]]
    options: RunOptions
    name: str = "worker"

    @property
    def cases(self) -> list[Case]:
        """Every case of the job, in run order."""
        return [c for g in self.groups for c in g]

    def to_json(self) -> str:
        """Serialise for the child's command line."""
        return json.dumps(
            {
                "run_dir": self.run_dir,
                "precision": self.precision,
                "determinism": self.determinism,
                "groups": [[c.to_dict() for c in g] for g in self.groups],
                "options": self.options.to_dict(),
                "name": self.name,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Job:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        return cls(
            run_dir=data["run_dir"],
            precision=data["precision"],
            determinism=data["determinism"],
            groups=[[Case.from_dict(c) for c in g] for g in data["groups"]],
            options=RunOptions.from_dict(data["options"]),
            name=data.get("name", "worker"),
        )


def message(event: str, **fields: Any) -> dict[str, Any]:
    """One protocol message."""
    return {"event": event, **fields}
