"""One group of cases inside the child: prepare, time (alternating), evaluate.

A group is one member of one pair in several modes. Each case is prepared (built, weights
copied, warmed up); the prepared cases are timed together by :mod:`suite.measure.timing_loop`;
then each is evaluated by :mod:`suite.run.evaluate`. A case that fails at any point becomes a
row with its reason; the other cases of the group go on. A run folder that cannot be
written (:class:`~suite.results.atomic.ResultsWriteError`) is not the case's fault: it stops the
worker, and the case runs again on resume.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from suite.case import Case
from suite.measure.execution import Prepared, prepare_case
from suite.measure.process import ProcessState
from suite.measure.timing_loop import alternate
from suite.results.atomic import ResultsWriteError
from suite.results.record import Record
from suite.results.run_dir import RunDir
from suite.run.evaluate import RunRecords, failure_record, finish
from suite.run.options import RunOptions

_OTHERS: dict[str, RunRecords] = {}


def _others(run: RunDir) -> RunRecords:
    """One reader of the run's records per worker process (read incrementally)."""
    key = str(run.path)
    if key not in _OTHERS:
        _OTHERS[key] = RunRecords(run)
    return _OTHERS[key]


def run_group(run: RunDir, options: RunOptions, group: list[Case], state: ProcessState) -> Iterator[Record]:
    """Run a group of cases (see the module docstring) and yield one record per case."""
    from suite.axes import FLOAT64
    from suite.machine.telemetry import NvmlSampler

    others = _others(run)
    prepared: dict[Case, Prepared] = {}
    for case in group:
        started = time.time()
        try:
            prepared[case] = prepare_case(case, seed=options.seed, steps=options.steps)
        except ResultsWriteError:
            raise
        except Exception as exc:
            record = failure_record(run, case, exc, state, started=started)
            others.remember(record)
            yield record
    plan = options.sampling_plan()
    repeats = options.repeats
    if group[0].precision == FLOAT64:  # a numerics reference: one rerun, its timing is not compared
        repeats, plan = 1, replace(plan, max_warmup_s=0.0)
    sampler = NvmlSampler.for_device(group[0].device)
    with sampler:
        results, failed = alternate(prepared, repeats, plan)
    telemetry = _telemetry(sampler, run, group, len(prepared))
    for case, prep in prepared.items():
        if case in failed:
            record = failure_record(run, case, failed[case], state, telemetry=telemetry)
        else:
            try:
                record = finish(run, options, case, prep, results[case], state, telemetry, others)
            except ResultsWriteError:  # the run folder is unwritable: the run stops, the case reruns
                raise
            except Exception as exc:  # a bug while evaluating one case must not lose the group
                traceback.print_exc()
                record = failure_record(
                    run, case, exc, state, telemetry=telemetry, context="while evaluating results"
                )
        others.remember(record)
        yield record


def _telemetry(sampler: Any, run: RunDir, group: list[Case], n_cases: int) -> dict[str, Any]:
    summary = dict(sampler.summary())
    if "reason" not in summary:
        csv = run.telemetry_csv(group[0].case_id)
        sampler.write_csv(csv)
        summary["csv"] = run.relative(csv)
        summary["scope"] = f"{n_cases} alternating case(s) of one group"
    return summary
