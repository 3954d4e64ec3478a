"""What the asv benchmarks in ``benchmarks/`` call: their parameter grid, cached cases, track values.

asv runs every (benchmark, parameter combination) in a fresh process and calls ``setup`` again
before every timed sample, so a prepared case (models built, weights copied, warmed up) is
cached per process in a module-level dict keyed by its :class:`~suite.case.Case`. TensorFlow is
imported only when a case is prepared: importing the benchmark files (asv's discovery, ``asv
check``) stays fast. Every asv case runs at precision ``float32`` with op determinism ``off``
(:func:`suite.measure.process.configure_process` is called once per process).

The grid is the same on every machine (devices are always ``cpu`` and ``gpu:0``); what cannot
run here raises :class:`~suite.errors.CaseUnsupported` with a reason, which the benchmark files
turn into asv's "skipped". Cheap reasons (a member the pair lacks, a control member, no GPU
device nodes) are found without importing TensorFlow. Environment variables choose the grid:

- ``PAIRBENCH_ASV_GRID``: ``default`` or ``full``. Every asv case is a fresh process that
  imports TensorFlow and prepares the case (3.5-5 s on a 2-core CPU), so the full grid (every
  member, both workloads in the divergence benchmarks, host-memory benchmarks: 880 TensorFlow
  processes on a CPU machine, about an hour on 2 cores) is opt-in. The ``default`` grid is
  every pair and mode with one member, :data:`DEFAULT_MEMBERS` (the subclassed build, which
  ``vs_pair`` compares with the pair's reference member): step times, and the divergence of
  the ``train_step`` workload (its loss trajectory and weights carry the forward pass too) as
  ``vs_pair`` max ULP, ``vs_eager`` max ULP and rerun max abs; no ``peakmem_*``,
  ``track_compile_s`` or ``track_vs_pair_max_abs``: 84 TensorFlow processes;
- ``PAIRBENCH_ASV_SIZE``: ``tiny`` or ``default`` (default ``default``); it is also a parameter,
  so results of different sizes are never compared with each other;
- ``PAIRBENCH_ASV_PAIRS``: comma-separated pair names (default: every registered pair).
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from suite.axes import MEMBERS, MODES, check_names, is_gpu, parse_list
from suite.case import Case
from suite.errors import CaseUnsupported, StructuralMismatch, UsageError
from suite.verdicts import ERROR

if TYPE_CHECKING:
    from suite.measure.execution import Prepared

#: environment variable choosing the size preset of every asv case
ENV_SIZE = "PAIRBENCH_ASV_SIZE"
#: environment variable restricting the pairs (comma-separated)
ENV_PAIRS = "PAIRBENCH_ASV_PAIRS"
#: environment variable choosing the grid: ``default`` (small) or ``full``
ENV_GRID = "PAIRBENCH_ASV_GRID"
GRIDS: tuple[str, ...] = ("default", "full")
#: members of the ``default`` grid (when a selected pair has one of them)
DEFAULT_MEMBERS: tuple[str, ...] = ("subclass",)
#: workloads of the divergence benchmarks in the ``default`` grid
DEFAULT_DIVERGENCE_WORKLOADS: tuple[str, ...] = ("train_step",)
#: sizes asv may run (``large`` is for ``pairbench run`` on a GPU)
ASV_SIZES: tuple[str, ...] = ("tiny", "default")
DEFAULT_SIZE = "default"
#: the device axis, identical on every machine
DEVICES: tuple[str, ...] = ("cpu", "gpu:0")
#: workloads of the divergence benchmarks
DIVERGENCE_WORKLOADS: tuple[str, ...] = ("predict", "train_step")
PRECISION = "float32"
DETERMINISM = "off"
#: reruns of one case for the rerun spread
RERUNS = 3
#: benchmark kinds :func:`check_static` knows
KINDS: tuple[str, ...] = ("time", "device_memory", "vs_pair", "vs_eager", "rerun")
#: device files that exist when a CUDA GPU may be visible (Linux; ``/dev/dxg`` on WSL2)
GPU_DEVICE_GLOBS: tuple[str, ...] = ("/dev/nvidia[0-9]*", "/dev/dxg")


@dataclass(frozen=True)
class Grid:
    """The asv parameter values (each a list, as asv wants them)."""

    pairs: list[str]
    members: list[str]
    modes: list[str]
    devices: list[str]
    workloads: list[str]
    size: str
    full: bool = True


def grid(environ: Mapping[str, str] | None = None) -> Grid:
    """The parameter grid from the zoo registry and the ``PAIRBENCH_ASV_*`` variables.

    Args:
        environ: the environment to read (default ``os.environ``).

    Returns:
        Pairs (registry order), members (full grid: the union of those pairs' members, the
        standard flavors first, then extra members in first-seen order; default grid:
        :data:`DEFAULT_MEMBERS`, or the full list when no selected pair has one of them), all
        modes, both devices, the divergence workloads (default grid:
        :data:`DEFAULT_DIVERGENCE_WORKLOADS`), the size and whether the grid is full.

    Raises:
        UsageError: an unknown grid, size or pair name in the variables.
    """
    from suite.zoo import registered

    env = os.environ if environ is None else environ
    size = size_from_env(env)
    registry = registered()
    pairs = parse_list(env.get(ENV_PAIRS)) or list(registry)
    check_names(f"{ENV_PAIRS} pair", pairs, list(registry))
    members: list[str] = []
    for name in pairs:
        for member in registry[name]().members():
            if member not in members:
                members.append(member)
    seen = {m: i for i, m in enumerate(members)}
    members.sort(key=lambda m: (MEMBERS.index(m) if m in MEMBERS else len(MEMBERS), seen[m]))
    full = grid_from_env(env) == "full"
    if not full:
        members = [m for m in DEFAULT_MEMBERS if m in members] or members
    return Grid(
        pairs=pairs,
        members=members,
        modes=list(MODES),
        devices=list(DEVICES),
        workloads=list(DIVERGENCE_WORKLOADS if full else DEFAULT_DIVERGENCE_WORKLOADS),
        size=size,
        full=full,
    )


def grid_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``default`` or ``full`` from :data:`ENV_GRID` (default ``default``).

    Raises:
        UsageError: another value.
    """
    env = os.environ if environ is None else environ
    name = env.get(ENV_GRID, "").strip() or "default"
    if name not in GRIDS:
        raise UsageError(f"{ENV_GRID}={name!r} is not a grid; valid: {', '.join(GRIDS)}")
    return name


def case_for(pair: str, member: str, workload: str, mode: str, device: str, size: str) -> Case:
    """The :class:`Case` of one asv parameter combination (``float32``, determinism off)."""
    return Case(
        pair=pair,
        member=member,
        workload=workload,
        mode=mode,
        device=device,
        precision=PRECISION,
        determinism=DETERMINISM,
        size=size,
    )


def gpu_device_nodes() -> list[str]:
    """Device files through which a CUDA GPU could be visible (empty: TensorFlow sees none)."""
    return sorted(p for pattern in GPU_DEVICE_GLOBS for p in glob.glob(pattern))


def check_static(case: Case, kind: str) -> None:
    """Raise :class:`CaseUnsupported` for reasons known without TensorFlow.

    Args:
        case: the parameter combination.
        kind: ``time`` (time/peakmem/compile benchmarks), ``device_memory``, ``vs_pair``,
            ``vs_eager`` or ``rerun``.

    Raises:
        CaseUnsupported: the pair has no such member; a control member outside ``vs_pair``
            (controls are known-wrong builds: only their divergence from the reference means
            something); the reference member (``vs_pair``) or eager mode (``vs_eager``),
            which would be compared with themselves; ``device_memory`` on ``cpu``
            (TensorFlow tracks no CPU allocations); a GPU device on a machine without GPU
            device files.
        ValueError: an unknown ``kind`` (a bug in a benchmark file).
    """
    from suite.zoo import get_pair

    if kind not in KINDS:
        raise ValueError(f"unknown benchmark kind {kind!r}; valid: {', '.join(KINDS)}")
    pair = get_pair(case.pair)
    if case.member not in pair.members():
        raise CaseUnsupported(f"pair {case.pair!r} has no member {case.member!r}")
    if case.member in pair.controls and kind != "vs_pair":
        raise CaseUnsupported(
            f"{case.member!r} is a control member of {case.pair!r}: only vs_pair is tracked"
        )
    if kind == "vs_pair" and case.member == pair.reference:
        raise CaseUnsupported(f"{case.member!r} is the reference member of {case.pair!r}")
    if kind == "vs_eager" and case.mode == "eager":
        raise CaseUnsupported("eager is the reference mode of vs_eager")
    if kind == "device_memory" and not is_gpu(case.device):
        raise CaseUnsupported("TensorFlow tracks no peak memory on cpu (see peakmem_* for host memory)")
    if is_gpu(case.device) and not gpu_device_nodes():
        raise CaseUnsupported(f"no {case.device}: no GPU device files ({', '.join(GPU_DEVICE_GLOBS)})")


_CONFIGURED = False
#: prepared cases of this process (asv reruns ``setup`` before every sample); a failure is
#: cached as its exception so that it is not retried
_PREPARED: dict[Case, Any] = {}


def _configure() -> None:
    """Quiet TensorFlow's C++ logs and set float32 / determinism off, once per process."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from suite.measure.process import configure_process

    configure_process(PRECISION, DETERMINISM)
    _CONFIGURED = True


def prepared(case: Case) -> Prepared:
    """The case built, weights copied and warmed up; cached for the life of the process.

    Raises:
        CaseUnsupported: the case cannot run here (device, structural mismatch, an op XLA
            cannot compile...), with the reason.
        Exception: any other failure (out of memory, a bug) propagates: asv records it as failed.
    """
    if case not in _PREPARED:
        _configure()
        from suite.errors import classify_failure
        from suite.measure.execution import prepare_case

        try:
            _PREPARED[case] = prepare_case(case)
        except Exception as exc:
            verdict, reason = classify_failure(exc)
            if isinstance(exc, StructuralMismatch):
                reason = f"structural mismatch: {reason}"
            _PREPARED[case] = CaseUnsupported(reason) if verdict != ERROR else exc
    cached = _PREPARED[case]
    if isinstance(cached, BaseException):
        raise cached
    return cached


def clear_cache() -> None:
    """Forget every prepared case of this process (tests; the process state stays configured)."""
    _PREPARED.clear()


def compile_seconds(case: Case) -> float:
    """First-call (trace/compile) time of the case, seconds."""
    return float(prepared(case).compile_s)


def peak_device_bytes(case: Case) -> int:
    """Peak GPU memory TensorFlow's allocator saw for the case (preparation and one repeat).

    Raises:
        CaseUnsupported: the device is not a GPU.
    """
    prep = prepared(case)
    prep.repeat()
    peak = prep.peak_device_bytes()
    if peak is None:
        raise CaseUnsupported(f"TensorFlow tracks no peak memory on {case.device}")
    return int(peak)


def _compare_first_repeats(case: Case, reference: Case) -> dict[str, Any]:
    from suite.divergence import compare_outputs

    outputs = prepared(case).repeat().outputs
    ref_outputs = prepared(reference).repeat().outputs
    return compare_outputs(outputs, ref_outputs)


def vs_pair(case: Case) -> dict[str, Any]:
    """Metrics of the case's outputs against the pair's reference member (same mode, device,
    workload), first repeat of each, as the worker computes ``vs_pair``.

    Raises:
        CaseUnsupported: the case is the reference member, or either case cannot run here.
    """
    from suite.run.references import references_of
    from suite.zoo import get_pair

    refs = references_of(case, get_pair(case.pair).reference)
    if "vs_pair" not in refs:
        raise CaseUnsupported(f"{case.member!r} is the reference member of {case.pair!r}")
    return _compare_first_repeats(case, refs["vs_pair"])


def vs_eager(case: Case) -> dict[str, Any]:
    """Metrics of the case's outputs against the same case in eager mode.

    Raises:
        CaseUnsupported: the case is eager, or either case cannot run here.
    """
    from suite.run.references import references_of
    from suite.zoo import get_pair

    refs = references_of(case, get_pair(case.pair).reference)
    if "vs_eager" not in refs:
        raise CaseUnsupported("eager is the reference mode of vs_eager")
    return _compare_first_repeats(case, refs["vs_eager"])


def rerun(case: Case, reruns: int = RERUNS) -> dict[str, Any]:
    """Spread of ``reruns`` repeats of the same prepared case (each from the initial state).

    Returns:
        :func:`suite.divergence.rerun_spread`'s dict: ``runs``, ``distinct``, ``max_abs``, ``max_ulp``.
    """
    from suite.divergence import rerun_spread

    prep = prepared(case)
    return rerun_spread([prep.repeat().outputs for _ in range(reruns)])


def track_value(metrics: Mapping[str, Any], key: str) -> float:
    """One metric as the plain ``float`` asv's ``track_*`` must return (``inf`` stays ``inf``).

    Raises:
        KeyError: the metric is missing.
        ValueError: the metric is None or NaN: a number asv would show is not available.
    """
    value = metrics[key]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"metric {key!r} has no value ({value!r})")
    return float(value)


def size_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The size preset the asv grid uses (see :func:`grid`).

    Raises:
        UsageError: not one of :data:`ASV_SIZES`.
    """
    env = os.environ if environ is None else environ
    size = env.get(ENV_SIZE, "").strip() or DEFAULT_SIZE
    if size not in ASV_SIZES:
        raise UsageError(f"{ENV_SIZE}={size!r} is not an asv size; valid: {', '.join(ASV_SIZES)}")
    return size
