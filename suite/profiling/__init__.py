"""Profiler traces: capture a TensorBoard trace per case and read it back into kernel tables.

``capture_trace`` writes ``<logdir>/plugins/profile/<timestamp>/<host>.xplane.pb``;
``parse_xspace`` / ``summarise_trace_dir`` turn it into the record's ``profile`` field and
``kernels/<case_id>.csv``. See ``docs/profiling.md``.
"""

from __future__ import annotations

from suite.profiling.trace_capture import TraceCaptureError, capture_trace, effective_options
from suite.profiling.trace_summary import summarise_trace_dir
from suite.profiling.xplane import (
    HOST_OP_COLUMNS,
    KERNEL_COLUMNS,
    TraceParseError,
    TraceSummary,
    find_xplanes,
    parse_xspace,
)

__all__ = [
    "HOST_OP_COLUMNS",
    "KERNEL_COLUMNS",
    "TraceCaptureError",
    "TraceParseError",
    "TraceSummary",
    "capture_trace",
    "effective_options",
    "find_xplanes",
    "parse_xspace",
    "summarise_trace_dir",
]
