"""The run pipeline: one owner for a run.

- :mod:`suite.run.options`: :class:`RunOptions`, the only place where run defaults live,
  saved whole in ``run.json``;
- :mod:`suite.run.lifecycle`: :func:`run_selection`, the one lifecycle of ``run``,
  ``--resume`` and ``nightly`` (lock, signals, failure, finish);
- :mod:`suite.run.parent` starts worker processes running :mod:`suite.run.child`; both share
  only :mod:`suite.run.job` (the job and the messages), cases, records and options;
- in the child, :mod:`suite.run.group` prepares a group of cases, :mod:`suite.measure.timing_loop`
  times them alternating, :mod:`suite.run.evaluate` decides verdicts, localises and profiles.

Every file of a run folder is read and written through :mod:`suite.results.run_dir`.
"""

from __future__ import annotations

from typing import Any

#: public name -> module; imported on first use, so the child process (``suite.run.child``)
#: never loads the parent's modules
_EXPORTS = {
    "Progress": "suite.run.lifecycle",
    "RunOutcome": "suite.run.lifecycle",
    "run_selection": "suite.run.lifecycle",
    "RunOptions": "suite.run.options",
    "make_options": "suite.run.options",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'suite.run' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
