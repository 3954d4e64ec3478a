"""A run's records as a pandas DataFrame (one row per case, nested fields flattened with dots)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from suite.results import DEFAULT_RESULTS_DIR, RunDir, open_run, run_machine


def _flatten(data: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            _flatten(value, f"{name}.", out)
        else:
            out[name] = value


def _column(values: list[Any]) -> Any:
    """A column with the type its values have: whole numbers stay integers (nullable ``Int64``)
    even when some rows lack them, instead of becoming floats next to NaN."""
    import pandas as pd

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pd.array(values, dtype="Int64")
    return values


def load_frame(run: RunDir | str | Path, results_dir: Path | str = DEFAULT_RESULTS_DIR):
    """Load a run's records as a pandas DataFrame, one row per case.

    Nested fields are flattened with dots (``timing.step_s_median``,
    ``divergence.vs_pair.max_abs``); the case axes are top-level columns, after ``run_id`` and
    ``machine`` (see :func:`suite.results.machine_of`), so frames of several runs concatenate. Counts
    (``timing.repeats``, ``divergence.rerun.distinct``...) are nullable integers.

    Args:
        run: a :class:`RunDir`, a run id, ``latest`` or a run folder.
        results_dir: where run ids are looked up (a path or a string).
    """
    import pandas as pd

    rd = run if isinstance(run, RunDir) else open_run(str(run), Path(results_dir))
    rows: list[dict[str, Any]] = []
    for rec in rd.records():
        data = json.loads(rec.to_json())
        case = data.pop("case")
        row: dict[str, Any] = {}
        _flatten({**data, **case}, "", row)
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["run_id", "case_id", "verdict"])
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    frame = pd.DataFrame({name: _column([row.get(name) for row in rows]) for name in names})
    frame.insert(0, "run_id", rd.run_id)
    frame.insert(1, "machine", run_machine(rd))
    return frame
