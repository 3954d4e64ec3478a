"""Read TensorFlow profiler traces (XSpace protobufs) offline into kernel and host-op tables.

A trace file is ``<logdir>/plugins/profile/<YYYY_MM_DD_HH_MM_SS>/<host>.xplane.pb``. It is decoded
with TensorFlow's own ``XSpace`` message; no protobuf is decoded by hand.

* Device kernels come from the ``/device:GPU:N`` planes (CUPTI events on ``Stream #...`` lines;
  memcpy/memset events are not kernels). The op a kernel belongs to is taken from the XLA HLO
  module stored in the ``/host:metadata`` plane (``hlo_op`` -> instruction ``metadata.op_name``,
  as TensorBoard's kernel_stats tool does), else from the event's ``tf_op`` or ``name`` stat.
* Host ops come from the ``/host:CPU`` plane: TensorFlow graph ops (events named
  ``<op name>:<op type>``), eager ops (``EagerExecute`` with an ``eager_op`` stat) and XLA
  instructions run on the host (events with an ``hlo_op`` stat). Times are inclusive, so nested
  ops (a function call and the ops inside it) overlap.

Durations are microseconds (the file stores picoseconds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

KERNEL_COLUMNS: tuple[str, ...] = ("name", "op_name", "count", "total_us", "mean_us", "share")
HOST_OP_COLUMNS: tuple[str, ...] = ("name", "count", "total_us", "mean_us")

#: Lines added by TensorBoard's own preprocessing; raw TensorFlow files do not have them, and
#: counting them would count every kernel twice.
_DERIVED_LINES = frozenset(
    {
        "XLA Modules",
        "XLA Ops",
        "XLA TraceMe",
        "TensorFlow Ops",
        "TensorFlow Name Scope",
        "Framework Ops",
        "Framework Name Scope",
        "Steps",
        "Launch Stats",
        "Source code",
    }
)
_TF_OP_EVENT = re.compile(r"^[^\s:]+:[^\s:]+$")  # "<op name>:<op type>" as TensorFlow's executor names ops
_PS_PER_US = 1e6


class TraceParseError(Exception):
    """A trace file cannot be read as an XSpace protobuf (missing, truncated or corrupt).

    The message is one line naming the file.
    """


@dataclass(frozen=True)
class TraceSummary:
    """What one ``.xplane.pb`` file says.

    Attributes:
        path: the file.
        kernels: one row per (kernel, op): :data:`KERNEL_COLUMNS`, total device time descending;
            empty (same columns) when there is no device plane or no kernel event.
        host_ops: one row per host op: :data:`HOST_OP_COLUMNS`, total time descending.
        device_planes: names of the ``/device:...`` planes (present even if empty).
        hostnames: hosts the trace was taken on.
    """

    path: Path
    kernels: pd.DataFrame
    host_ops: pd.DataFrame
    device_planes: list[str] = field(default_factory=list)
    hostnames: list[str] = field(default_factory=list)


def load_xspace(path: Path) -> Any:
    """Read and validate one ``.xplane.pb`` file.

    Args:
        path: the file.

    Returns:
        The decoded ``tensorflow.tsl.profiler.protobuf.xplane_pb2.XSpace``.

    Raises:
        TraceParseError: if the file cannot be read or is not a complete XSpace.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TraceParseError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_xspace(data, path)


def decode_xspace(data: bytes, source: str | Path = "<bytes>") -> Any:
    """Decode serialized XSpace bytes, rejecting truncated or corrupt input.

    protobuf accepts a prefix that ends exactly on a field boundary, so a cut file can decode
    "successfully" with planes missing. TensorFlow writes ``hostnames`` (field 4) after every
    plane, so a complete file always has at least one hostname: one without is treated as cut.

    Args:
        data: the file's bytes.
        source: what to name in the error message.

    Returns:
        The decoded ``XSpace``.

    Raises:
        TraceParseError: ``<source>: not a valid XSpace protobuf (truncated or corrupt)``.
    """
    from google.protobuf.message import DecodeError
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    bad = f"{source}: not a valid XSpace protobuf (truncated or corrupt)"
    try:
        space.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        raise TraceParseError(bad) from None
    if not space.hostnames or not space.planes:
        raise TraceParseError(bad)
    return space


def parse_xspace(path: Path) -> TraceSummary:
    """Summarise one trace file into kernel and host-op tables.

    Args:
        path: a ``.xplane.pb`` file.

    Returns:
        A :class:`TraceSummary`.

    Raises:
        TraceParseError: if the file is missing, truncated or corrupt.
    """
    path = Path(path)
    space = load_xspace(path)
    hlo_ops = _hlo_op_names(space)
    kernel_rows: list[tuple[str, str, float]] = []
    host_rows: list[tuple[str, float]] = []
    device_planes: list[str] = []
    for plane in space.planes:
        if plane.name.startswith("/device:"):
            device_planes.append(plane.name)
            kernel_rows.extend(_kernel_events(plane, hlo_ops))
        elif plane.name.startswith("/host:CPU"):
            host_rows.extend(_host_op_events(plane))
    return TraceSummary(
        path=path,
        kernels=_kernel_table(kernel_rows),
        host_ops=_host_table(host_rows),
        device_planes=device_planes,
        hostnames=list(space.hostnames),
    )


def find_xplanes(trace_dir: Path) -> list[Path]:
    """All ``.xplane.pb`` files under a TensorBoard logdir, oldest session first.

    Args:
        trace_dir: a logdir (``results/<run>/traces/<case>``) or any folder above one.

    Returns:
        Paths sorted by (session folder, file name); empty if there are none.
    """
    trace_dir = Path(trace_dir)
    if not trace_dir.is_dir():
        return []
    return sorted(trace_dir.rglob("*.xplane.pb"), key=lambda p: (str(p.parent), p.name))


def latest_session(files: list[Path]) -> list[Path]:
    """The files of the most recent profiling session (``plugins/profile/<session>/``).

    Sessions are named by the profiler's timestamp (``YYYY_MM_DD_HH_MM_SS``) or, once
    pairbench names them after their case, by the case id (``<case>``, ``<case>-2``...): the
    newest is the one whose files were written last (ties: the last name).

    Args:
        files: output of :func:`find_xplanes` for one case's logdir.

    Returns:
        The files in the newest session folder (one per host); empty for no files.
    """
    if not files:
        return []
    written: dict[Path, float] = {}
    for p in files:
        written[p.parent] = max(written.get(p.parent, 0.0), p.stat().st_mtime)
    newest = max(written, key=lambda d: (written[d], d.name))
    return [p for p in files if p.parent == newest]


def _summed(tables: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame | None:
    """``count`` and ``total_us`` added up per ``keys`` over the non-empty tables (None: all empty)."""
    frames = [t for t in tables if not t.empty]
    if not frames:
        return None
    both = pd.concat(frames, ignore_index=True)
    return both.groupby(keys, as_index=False, sort=False)[["count", "total_us"]].sum()


def merge_kernels(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Add up kernel tables (e.g. one per host) and recompute the shares.

    Args:
        tables: frames with :data:`KERNEL_COLUMNS`.

    Returns:
        One frame with :data:`KERNEL_COLUMNS`, total time descending.
    """
    summed = _summed(tables, ["name", "op_name"])
    return _empty(KERNEL_COLUMNS) if summed is None else _finish_kernels(summed)


def merge_host_ops(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Add up host-op tables.

    Args:
        tables: frames with :data:`HOST_OP_COLUMNS`.

    Returns:
        One frame with :data:`HOST_OP_COLUMNS`, total time descending.
    """
    summed = _summed(tables, ["name"])
    return _empty(HOST_OP_COLUMNS) if summed is None else _finish_host(summed)


# -- internals -----------------------------------------------------------------------------------


def _stat_value(plane: Any, stat: Any) -> Any:
    kind = stat.WhichOneof("value")
    if kind is None:
        return None
    if kind == "ref_value":
        md = plane.stat_metadata.get(stat.ref_value)
        return md.name if md is not None else None
    return getattr(stat, kind)


def _event_stats(plane: Any, event: Any) -> dict[str, Any]:
    """Stats of an event, its metadata's stats first (the event's own win)."""
    out: dict[str, Any] = {}
    md = plane.event_metadata.get(event.metadata_id)
    for stats in ((md.stats if md is not None else ()), event.stats):
        for stat in stats:
            smd = plane.stat_metadata.get(stat.metadata_id)
            if smd is not None and smd.name:
                out[smd.name] = _stat_value(plane, stat)
    return out


def _event_name(plane: Any, event: Any) -> str:
    md = plane.event_metadata.get(event.metadata_id)
    if md is None:
        return "<unknown>"
    return md.name or md.display_name or "<unknown>"


def _hlo_op_names(space: Any) -> dict[tuple[str, str], str]:
    """(program id or module name, HLO instruction) -> TF op name, from the stored HLO modules."""
    try:
        from tensorflow.compiler.xla.service import hlo_pb2
    except ImportError:  # pragma: no cover - layout of TensorFlow's bundled XLA protos changed
        return {}
    from google.protobuf.message import DecodeError

    names: dict[tuple[str, str], str] = {}
    for plane in space.planes:
        if plane.name != "/host:metadata":
            continue
        for program_id, md in plane.event_metadata.items():
            for stat in md.stats:
                if stat.WhichOneof("value") != "bytes_value":
                    continue
                proto = hlo_pb2.HloProto()
                try:
                    proto.ParseFromString(stat.bytes_value)
                except DecodeError:
                    continue
                module = proto.hlo_module
                for comp in module.computations:
                    for inst in comp.instructions:
                        if inst.metadata.op_name:
                            names[(str(program_id), inst.name)] = inst.metadata.op_name
                            names[(module.name, inst.name)] = inst.metadata.op_name
    return names


def _op_name(stats: dict[str, Any], hlo_ops: dict[tuple[str, str], str]) -> str:
    """The TF op behind a kernel: HLO metadata, else ``tf_op`` (not a function call), else ``name``."""
    hlo_op = stats.get("hlo_op")
    if hlo_op:
        for key in (str(stats.get("program_id", "")), str(stats.get("hlo_module", ""))):
            if (key, hlo_op) in hlo_ops:
                return hlo_ops[(key, hlo_op)]
    tf_op = str(stats.get("tf_op") or "")
    op, _, op_type = tf_op.partition(":")
    if op and op != op_type:
        return op
    return str(stats.get("name") or op or "")


def _is_copy(name: str, stats: dict[str, Any]) -> bool:
    lowered = {k.lower() for k in stats}
    return "memcpy_details" in lowered or "memset_details" in lowered or name.startswith(("Memcpy", "Memset"))


def _kernel_events(plane: Any, hlo_ops: dict[tuple[str, str], str]) -> list[tuple[str, str, float]]:
    rows = []
    for line in plane.lines:
        if line.name in _DERIVED_LINES:
            continue
        for event in line.events:
            name = _event_name(plane, event)
            stats = _event_stats(plane, event)
            if _is_copy(name, stats):
                continue
            rows.append((name, _op_name(stats, hlo_ops), event.duration_ps / _PS_PER_US))
    return rows


def _host_op_name(name: str, stats: dict[str, Any]) -> str | None:
    if stats.get("hlo_op"):
        return name
    if name == "EagerExecute" and stats.get("eager_op") and not stats.get("is_func"):
        return str(stats["eager_op"])
    if _TF_OP_EVENT.match(name):
        return name
    return None


def _host_op_events(plane: Any) -> list[tuple[str, float]]:
    rows = []
    for line in plane.lines:
        if line.name in _DERIVED_LINES:
            continue
        for event in line.events:
            name = _event_name(plane, event)
            op = _host_op_name(name, _event_stats(plane, event))
            if op is not None:
                rows.append((op, event.duration_ps / _PS_PER_US))
    return rows


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    dtypes = {"name": "object", "op_name": "object", "count": "int64"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "float64")) for c in columns})


def _kernel_table(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    if not rows:
        return _empty(KERNEL_COLUMNS)
    events = pd.DataFrame(rows, columns=["name", "op_name", "dur_us"])
    grouped = events.groupby(["name", "op_name"], as_index=False, sort=False).agg(
        count=("dur_us", "size"), total_us=("dur_us", "sum")
    )
    return _finish_kernels(grouped)


def _host_table(rows: list[tuple[str, float]]) -> pd.DataFrame:
    if not rows:
        return _empty(HOST_OP_COLUMNS)
    events = pd.DataFrame(rows, columns=["name", "dur_us"])
    grouped = events.groupby("name", as_index=False, sort=False).agg(
        count=("dur_us", "size"), total_us=("dur_us", "sum")
    )
    return _finish_host(grouped)


def _finish_kernels(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"count": "int64", "total_us": "float64"})
    frame["mean_us"] = frame["total_us"] / frame["count"]
    device_total = float(frame["total_us"].sum())
    frame["share"] = frame["total_us"] / device_total if device_total > 0 else float("nan")
    frame = frame.sort_values(["total_us", "name", "op_name"], ascending=[False, True, True], kind="stable")
    return frame.reset_index(drop=True)[list(KERNEL_COLUMNS)]


def _finish_host(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"count": "int64", "total_us": "float64"})
    frame["mean_us"] = frame["total_us"] / frame["count"]
    frame = frame.sort_values(["total_us", "name"], ascending=[False, True], kind="stable")
    return frame.reset_index(drop=True)[list(HOST_OP_COLUMNS)]
