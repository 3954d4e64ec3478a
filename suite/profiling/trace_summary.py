"""The record's ``profile`` field for one case: its latest trace's kernels and host ops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from suite.profiling.kernel_stats import kernel_table
from suite.profiling.xplane import TraceParseError, find_xplanes, latest_session, merge_host_ops, parse_xspace
from suite.text import clean_line, csv_cell


def summarise_trace_dir(trace_dir: Path, kernels_csv: Path | None = None, top: int = 10) -> dict[str, Any]:
    """The record's ``profile`` field for one case's logdir.

    Uses the latest profiling session in ``trace_dir`` (several hosts are merged). The kernel
    table comes from the profile plugin's converter when it has one (occupancy, Tensor Core
    use...), else from pairbench's own reader (:func:`suite.profiling.kernel_stats.kernel_table`).
    Parse errors do not raise: they are reported in ``error`` with empty tables and
    ``device_kernels`` None.

    Args:
        trace_dir: the case's TensorBoard logdir.
        kernels_csv: where to write the full kernel table (:data:`~suite.profiling.xplane.KERNEL_COLUMNS`
            and the converter's extra columns; header only when there are no kernels); not written
            when None or when parsing failed.
        top: how many kernels and host ops to keep in the record.

    Returns:
        ``{"trace_dir", "xplane_files", "kernels_csv", "kernel_source", "top_kernels", "host_ops",
        "device_kernels", "device_planes", "error"}``; ``device_kernels`` is the number of kernel
        events (launches) on the device planes; ``kernel_source`` says where the table came from.
    """
    trace_dir = Path(trace_dir)
    result: dict[str, Any] = {
        "trace_dir": str(trace_dir),
        "xplane_files": [],
        "kernels_csv": None,
        "kernel_source": None,
        "top_kernels": [],
        "host_ops": [],
        "device_kernels": None,
        "device_planes": [],
        "error": None,
    }
    files = latest_session(find_xplanes(trace_dir))
    result["xplane_files"] = [str(p) for p in files]
    if not files:
        result["error"] = f"{trace_dir}: no .xplane.pb trace file"
        return result
    try:
        summaries = [parse_xspace(p) for p in files]
        kernels, result["kernel_source"] = kernel_table(files)
    except TraceParseError as exc:
        result["error"] = str(exc)
        return result
    host_ops = merge_host_ops([s.host_ops for s in summaries])
    if kernels_csv is not None:
        kernels_csv = Path(kernels_csv)
        kernels_csv.parent.mkdir(parents=True, exist_ok=True)
        csv_safe_frame(kernels).to_csv(kernels_csv, index=False)
        result["kernels_csv"] = str(kernels_csv)
    result["top_kernels"] = _records(kernels.head(top))
    result["host_ops"] = _records(host_ops.head(top))
    result["device_kernels"] = int(kernels["count"].sum())
    result["device_planes"] = sorted({p for s in summaries for p in s.device_planes})
    return result


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain-Python rows (ints, floats, bools, not numpy scalars) for JSON."""
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    return out


def csv_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell on one line, without control characters, and neutralised
    against formula injection (:func:`suite.text.csv_cell`): op and kernel names carry the
    user's layer names."""

    def cell(value: Any) -> Any:
        return csv_cell(clean_line(value)) if isinstance(value, str) else value

    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c]) or frame[c].dtype == object]
    return frame.assign(**{c: frame[c].map(cell) for c in text}) if text else frame
