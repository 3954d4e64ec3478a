"""A run's records as a pandas DataFrame (one row per case, nested fields flattened with dots)."""

from __future__ import annotations

import json
from pathlib import Path

from suite.results import DEFAULT_RESULTS_DIR, RunDir, open_run


def load_frame(run: RunDir | str | Path, results_dir: Path = DEFAULT_RESULTS_DIR):
    """Load a run's records as a pandas DataFrame, one row per case.

    Nested fields are flattened with dots (``timing.step_s_median``,
    ``divergence.vs_pair.max_abs``); the case axes are top-level columns.
    """
    import pandas as pd

    rd = run if isinstance(run, RunDir) else open_run(run, results_dir)
    rows = []
    for rec in rd.records():
        row = json.loads(rec.to_json())
        case = row.pop("case")
        row.update(case)
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["case_id", "verdict"])
    frame = pd.json_normalize(rows, sep=".")
    frame.insert(0, "run_id", rd.run_id)
    return frame
