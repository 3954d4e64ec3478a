"""The child of a run: a worker process that runs one job and reports its records.

Started by the parent as ``python -m suite.run.child JOB.json``. Messages go to the parent as
JSON lines on the original stdout (see :mod:`suite.run.job`); the worker points its own
``sys.stdout`` and fd 1 at stderr first, so prints from user models and TensorFlow cannot
corrupt the channel. The child exits when its parent dies (``PR_SET_PDEATHSIG`` on Linux,
and a watchdog thread that notices a new parent pid), so a parent killed with ``kill -9``
leaves no worker running.

``python -m suite.run.child --probe`` prints one JSON object: visible GPUs and provenance.
It also compiles one tiny XLA function, so that a bad ``XLA_FLAGS`` fails here, named.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from suite.run.job import PARENT_PID_ENV, Job, message


class Channel:
    """The JSON-lines message channel to the parent (a private dup of the original stdout)."""

    def __init__(self) -> None:
        sys.stdout.flush()
        self._fd = os.dup(1)
        os.dup2(2, 1)  # anything printed from now on goes to stderr
        sys.stdout = sys.stderr
        self._fh = os.fdopen(self._fd, "w", buffering=1, encoding="utf-8")
        self._lock = threading.Lock()

    def send(self, event: str, **fields: Any) -> None:
        """Write one message line."""
        line = json.dumps(message(event, **fields), default=json_default)
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()


def json_default(obj: Any) -> Any:
    """JSON for numpy scalars/arrays and paths."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def die_with_parent() -> None:
    """Exit as soon as the parent process is gone (no orphan workers after ``kill -9``)."""
    expected = int(os.environ.get(PARENT_PID_ENV) or os.getppid())
    try:  # Linux: the kernel sends SIGKILL when the parent (thread) exits
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != expected:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != expected:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Run a job file (or ``--probe``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    die_with_parent()  # the probe too: a parent killed while it probes leaves no process behind
    if argv == ["--probe"]:
        return probe()
    job = Job.from_json(Path(argv[0]).read_text(encoding="utf-8"))
    channel = Channel()
    from suite.measure.process import configure_process
    from suite.results.atomic import ResultsWriteError
    from suite.results.run_dir import RunDir
    from suite.run.group import run_group
    from suite.zoo import load_pairs_from

    for pairs_file in job.options.pairs_from:
        load_pairs_from(pairs_file.path)
    state = configure_process(
        job.precision,
        job.determinism,
        intra_op_threads=job.options.intra_op_threads,
        inter_op_threads=job.options.inter_op_threads,
    )
    try:
        from suite.run.placement import describe_worker

        placement = describe_worker([c.device for c in job.cases])
    except Exception as exc:  # informative only: the cases still run
        placement = {"reason": f"{type(exc).__name__}: {exc}"[:200]}
    channel.send("hello", pid=os.getpid(), state=state.__dict__, placement=placement)
    run = RunDir(Path(job.run_dir))
    try:
        for group in job.groups:
            channel.send("start", case_ids=[c.case_id for c in group])
            for record in run_group(run, job.options, group, state):
                channel.send("record", record=json.loads(record.to_json()))
    except ResultsWriteError as exc:  # the run folder is unwritable: tell the parent, stop
        channel.send("fatal", reason=str(exc))
        return 3
    channel.send("done")
    return 0


def probe() -> int:
    """Print visible GPUs and provenance as one JSON line; compile a tiny XLA function."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    compiled = tf.function(lambda v: v * 2.0, jit_compile=True)
    compiled(tf.constant(1.0)).numpy()  # an unknown flag in XLA_FLAGS aborts here, named in stderr
    try:
        from suite.machine.provenance import collect

        provenance = collect()
    except Exception as exc:  # provenance is informative; the run goes on without it
        provenance = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps({"gpus": len(gpus), "provenance": provenance}, default=json_default))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
