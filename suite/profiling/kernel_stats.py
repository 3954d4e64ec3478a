"""Kernel and framework-op tables from the profile plugin's own converter (xprof), with a fallback.

TensorBoard's profile plugin turns an XSpace into its tools with
``xprof.convert.raw_to_tool_data.xspace_to_tool_data(files, tool, params)``. Compared with
pairbench's own reader (:mod:`suite.profiling.xplane`) on the H100 fixture, its
``kernel_stats`` tool lists the same kernels with the same occurrences and total times, and
adds what a CUPTI event alone does not give: theoretical occupancy, registers per thread,
shared memory, block and grid sizes, whether the op is Tensor Core eligible and whether the
kernel used Tensor Cores, and min/max durations. ``framework_op_stats`` adds each TensorFlow
op's self time on host and device. So the kernel table comes from the converter
(:func:`kernel_table`), and pairbench's reader is the tested fallback (no xprof installed, a
converter error, or a trace it returns nothing for). One difference, documented in
``docs/profiling.md``: the converter leaves the op of some XLA fusions empty (the Triton
softmax on the H100 fixture) where the HLO metadata in the trace names it; the table fills
those from pairbench's reader.

The converter writes cache files next to its input, so it converts copies in a temporary
folder; its native log lines are kept off the terminal.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from suite.profiling.xplane import KERNEL_COLUMNS, merge_kernels, parse_xspace

#: converter column id -> our column (the converter's extra facts keep explicit names and units)
KERNEL_STATS_COLUMNS: dict[str, str] = {
    "kernel_name": "name",
    "op_name": "op_name",
    "occurrences": "count",
    "total_duration_us": "total_us",
    "avg_duration_us": "mean_us",
    "min_duration_us": "min_us",
    "max_duration_us": "max_us",
    "occupancy_pct": "occupancy_pct",
    "is_kernel_using_tensor_core": "uses_tensor_core",
    "is_op_tensor_core_eligible": "tensor_core_eligible",
    "registers_per_thread": "registers_per_thread",
    "shmem_bytes": "shared_mem_bytes",
    "block_dim": "block_dim",
    "grid_dim": "grid_dim",
}
#: columns of the converter's kernel table, in order (:data:`KERNEL_COLUMNS` first)
CONVERTER_KERNEL_COLUMNS: tuple[str, ...] = (
    *KERNEL_COLUMNS,
    "min_us",
    "max_us",
    "occupancy_pct",
    "uses_tensor_core",
    "tensor_core_eligible",
    "registers_per_thread",
    "shared_mem_bytes",
    "block_dim",
    "grid_dim",
)
#: converter column id -> our column, for framework op stats
OP_STATS_COLUMNS: dict[str, str] = {
    "host_or_device": "where",
    "type": "op_type",
    "operation": "op_name",
    "occurrences": "count",
    "total_time": "total_us",
    "total_self_time": "self_us",
    "avg_self_time": "mean_self_us",
    "device_total_self_time_percent": "device_self_share",
    "host_total_self_time_percent": "host_self_share",
    "gpu_tensorcore_utilization": "tensor_core_utilization",
}


class ConverterUnavailable(Exception):
    """The profile plugin's converter is not installed or failed on this trace (one-line reason)."""


def convert(files: Sequence[Path], tool: str) -> list[dict[str, Any]]:
    """Run the profile plugin's converter for ``tool`` on copies of ``files``.

    Args:
        files: ``.xplane.pb`` files of one session (one per host).
        tool: ``kernel_stats`` or ``framework_op_stats``.

    Returns:
        One dict per row (column id -> value); several tables (framework op stats gives one
        with and one without IDLE time) come back as the rows of the first.

    Raises:
        ConverterUnavailable: xprof is missing, the converter raised, or its output is not JSON.
    """
    from suite.machine.tf_noise import quiet_native_stderr

    try:
        with quiet_native_stderr():
            from xprof.convert import raw_to_tool_data
    except ImportError as exc:
        raise ConverterUnavailable(f"the profile plugin's converter is not installed ({exc})") from None
    with tempfile.TemporaryDirectory(prefix="pairbench-xprof-") as tmp:
        copies = []
        for i, path in enumerate(files):
            copy = Path(tmp) / f"host{i}.xplane.pb"
            shutil.copyfile(path, copy)
            copies.append(str(copy))
        try:
            with quiet_native_stderr():
                data, _ = raw_to_tool_data.xspace_to_tool_data(copies, tool, {})
            tables = json.loads(data) if data else []
        except Exception as exc:
            raise ConverterUnavailable(f"{tool} converter failed: {type(exc).__name__}: {exc}") from None
    table = tables[0] if isinstance(tables, list) and tables else tables
    if not isinstance(table, dict) or "cols" not in table:
        return []
    ids = [c.get("id") for c in table["cols"]]
    return [
        {cid: (cell or {}).get("v") for cid, cell in zip(ids, row.get("c") or [], strict=False)}
        for row in table.get("rows") or []
    ]


def converter_kernels(files: Sequence[Path]) -> pd.DataFrame:
    """The converter's kernel table (:data:`CONVERTER_KERNEL_COLUMNS`), total time descending.

    Raises:
        ConverterUnavailable: see :func:`convert`.
    """
    rows = [
        {ours: row.get(theirs) for theirs, ours in KERNEL_STATS_COLUMNS.items()}
        for row in convert(files, "kernel_stats")
    ]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in CONVERTER_KERNEL_COLUMNS})
    frame = pd.DataFrame(rows)
    frame["op_name"] = frame["op_name"].fillna("").astype(str)
    frame["count"] = frame["count"].astype("int64")
    for col in ("total_us", "mean_us", "min_us", "max_us", "occupancy_pct"):
        frame[col] = frame[col].astype("float64")
    total = float(frame["total_us"].sum())
    frame["share"] = frame["total_us"] / total if total > 0 else float("nan")
    frame = frame.sort_values(["total_us", "name", "op_name"], ascending=[False, True, True], kind="stable")
    return frame.reset_index(drop=True)[list(CONVERTER_KERNEL_COLUMNS)]


def framework_ops(files: Sequence[Path]) -> pd.DataFrame:
    """The converter's framework op stats: per TF op, host or device, total and self time.

    ``IDLE`` rows are left out; shares are fractions (0–1) of host / device self time.

    Raises:
        ConverterUnavailable: see :func:`convert`.
    """
    rows = [
        {ours: row.get(theirs) for theirs, ours in OP_STATS_COLUMNS.items()}
        for row in convert(files, "framework_op_stats")
    ]
    frame = pd.DataFrame(rows, columns=list(OP_STATS_COLUMNS.values()))
    frame = frame[frame["op_type"] != "IDLE"].reset_index(drop=True)
    return frame.astype({"count": "int64"}) if len(frame) else frame


def kernel_table(files: Sequence[Path]) -> tuple[pd.DataFrame, str]:
    """The kernel table of one profiling session: the converter's, else pairbench's own reader.

    Args:
        files: the session's ``.xplane.pb`` files.

    Returns:
        ``(table, source)``: the table has at least :data:`KERNEL_COLUMNS` (the converter's
        also :data:`CONVERTER_KERNEL_COLUMNS`); ``source`` is ``"xprof kernel_stats"`` or
        ``"pairbench xplane reader (<why>)"``.

    Raises:
        TraceParseError: a file is missing, truncated or corrupt (checked before converting).
    """
    own = merge_kernels([parse_xspace(p).kernels for p in files])
    try:
        theirs = converter_kernels(files)
    except ConverterUnavailable as exc:
        return own, f"pairbench xplane reader ({exc})"
    if theirs.empty:
        why = "the converter found no kernels" if not own.empty else "no device kernels"
        return own, f"pairbench xplane reader ({why})"
    return fill_op_names(theirs, own), "xprof kernel_stats"


def fill_op_names(theirs: pd.DataFrame, own: pd.DataFrame) -> pd.DataFrame:
    """Fill the converter's empty op names from pairbench's reader (kernel name with one op there)."""
    ops = own.groupby("name")["op_name"].agg(lambda s: s.iloc[0] if s.nunique() == 1 else "")
    empty = theirs["op_name"] == ""
    if empty.any():
        theirs = theirs.copy()
        theirs.loc[empty, "op_name"] = theirs.loc[empty, "name"].map(ops).fillna("")
    return theirs
