"""The options of a run: the one place where their defaults live.

A :class:`RunOptions` is everything that decides which cases run and how they are measured.
It is saved whole in ``run.json`` (``options``), and ``--resume`` reads it back from there,
never from today's defaults, so a resumed run measures exactly what the original did.
``pairbench run``, ``pairbench nightly`` and the Python API build it with
:func:`make_options`: defaults, then the preset, then what the user gave explicitly.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from suite.errors import UsageError
from suite.run.matrix import PRESETS, Selection, apply_preset
from suite.run.shard import parse_shard

#: seeds are passed to ``keras.utils.set_random_seed``, which needs a 32-bit unsigned value
MAX_SEED = 2**32 - 1
#: the longest per-case timeout accepted (a week): beyond it, a hung worker is never noticed
MAX_TIMEOUT_S = 7 * 24 * 3600.0
#: more repeats than this is a typo (every repeat is also a rerun kept in memory)
MAX_REPEATS = 10_000
#: the longest timed sample and warm-up accepted, seconds (beyond: a typo that stalls the run)
MAX_SAMPLE_S = 60.0
MAX_WARMUP_S = 600.0
#: more threads per TensorFlow pool than this is a typo
MAX_THREADS = 4096


@dataclass(frozen=True)
class PairsFile:
    """A ``--pairs-from`` file, with the hash of its content when the run started."""

    path: str
    sha256: str

    @classmethod
    def of(cls, path: str | Path) -> PairsFile:
        """Resolve ``path`` and hash its content.

        Raises:
            UsageError: the file cannot be read.
        """
        resolved = Path(path).expanduser().resolve()
        try:
            digest = hashlib.sha256(resolved.read_bytes()).hexdigest()
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the pairs file ({exc.strerror})") from None
        return cls(path=str(resolved), sha256=digest)

    def check_unchanged(self) -> None:
        """Raise a one-line :class:`UsageError` if the file is gone or its content changed."""
        current = Path(self.path)
        if not current.is_file():
            raise UsageError(f"pairs file {self.path} of this run is gone: it is needed to resume")
        if hashlib.sha256(current.read_bytes()).hexdigest() != self.sha256:
            raise UsageError(
                f"pairs file {self.path} changed since the run started: resuming would mix two "
                "versions of its pairs (start a new run instead)"
            )


@dataclass(frozen=True)
class RunOptions:
    """What a run measures and how (saved whole in ``run.json``).

    Attributes:
        selection: the axes of the matrix.
        repeats: timed repeats per case (also the number of reruns compared): each repeat
            restores the initial state, runs the output window, then takes one timed sample.
        steps: units in the output window of a repeat (the outputs compared); None = each
            workload's default (10 forward calls, the pair's train steps).
        min_sample_s: the shortest a timed sample may be: units per sample are calibrated to it.
        max_warmup_s: the most time the warm-up of one case may take (it stops earlier when the
            timing is stable).
        intra_op_threads, inter_op_threads: TensorFlow's thread pools in every worker (None:
            TensorFlow's default, one thread per core).
        seed: seed of weights, inputs and dropout.
        profile: capture a profiler trace per case after timing.
        localise: localise diverged/nondeterministic cases to a layer or op.
        timeout_s: seconds per case before its worker is killed.
        reference_fp64: run the float64 reference of each pair (``vs_fp64``).
        pairs_from: user pair files, with their content hash.
        preset: the preset the run started from (``quick``, ``full``), for the record.
        executor: where the cases run: ``local`` (a worker per GPU of this machine, CPU cases
            alone), ``serial`` (one worker at a time) or ``ray`` (a Ray cluster).
        shard: ``K/N``: this run holds shard K of N of the matrix (``pairbench merge`` joins them).
        gpu_type: with ``ray``: the accelerator type GPU cases run on (``A100``, ``H100``...).
    """

    selection: Selection = field(default_factory=Selection)
    repeats: int = 3
    steps: int | None = None
    min_sample_s: float = 0.05
    max_warmup_s: float = 1.0
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    seed: int = 0
    profile: bool = False
    localise: bool = True
    timeout_s: float = 600.0
    reference_fp64: bool = True
    pairs_from: tuple[PairsFile, ...] = ()
    preset: str | None = None
    # scale-out (issue 18): where the cases run and which share of the matrix
    executor: str = "local"
    shard: str | None = None
    gpu_type: str | None = None

    def __post_init__(self) -> None:
        check_options(self)

    def sampling_plan(self) -> Any:
        """The :class:`suite.measure.timing.SamplingPlan` of these options."""
        from suite.measure.timing import SamplingPlan

        return SamplingPlan(min_sample_s=self.min_sample_s, max_warmup_s=self.max_warmup_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what ``run.json`` stores under ``options``)."""
        data = asdict(self)
        data["selection"] = self.selection.to_dict()
        data["pairs_from"] = [asdict(p) for p in self.pairs_from]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunOptions:
        """Inverse of :meth:`to_dict`.

        Raises:
            UsageError: a field is missing, unknown or of the wrong type.
        """
        if not isinstance(data, dict):
            raise UsageError("run.json: 'options' is not an object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UsageError(
                f"run.json: unknown option(s) {', '.join(unknown)} (written by a newer pairbench?)"
            )
        values = dict(data)
        try:
            if "selection" in values:
                values["selection"] = Selection.from_dict(values["selection"])
            values["pairs_from"] = tuple(PairsFile(**p) for p in values.get("pairs_from", ()))
            return cls(**values)
        except (TypeError, AttributeError) as exc:
            raise UsageError(f"run.json: malformed options ({exc})") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_options(options: RunOptions) -> None:
    """Validate every option; raise a one-line :class:`UsageError` naming the bad one."""
    if not _is_int(options.repeats) or not 1 <= options.repeats <= MAX_REPEATS:
        raise UsageError(f"--repeats must be at least 1 and at most {MAX_REPEATS} (got {options.repeats!r})")
    if options.steps is not None and (not _is_int(options.steps) or not 1 <= options.steps <= MAX_REPEATS):
        raise UsageError(f"--steps must be at least 1 and at most {MAX_REPEATS} (got {options.steps!r})")
    _check_seconds("--min-sample-time", options.min_sample_s, MAX_SAMPLE_S, zero=False)
    _check_seconds("--max-warmup", options.max_warmup_s, MAX_WARMUP_S, zero=True)
    for flag, value in (
        ("--intra-op-threads", options.intra_op_threads),
        ("--inter-op-threads", options.inter_op_threads),
    ):
        if value is not None and (not _is_int(value) or not 1 <= value <= MAX_THREADS):
            raise UsageError(f"{flag} must be a number of threads from 1 to {MAX_THREADS} (got {value!r})")
    if not _is_int(options.seed) or not 0 <= options.seed <= MAX_SEED:
        raise UsageError(f"--seed must be an integer from 0 to {MAX_SEED} (got {options.seed!r})")
    _check_seconds("--timeout", options.timeout_s, MAX_TIMEOUT_S, zero=False)
    for name in ("profile", "localise", "reference_fp64"):
        if not isinstance(getattr(options, name), bool):
            raise UsageError(f"option {name} must be true or false (got {getattr(options, name)!r})")
    if options.preset is not None and options.preset not in PRESETS:
        raise UsageError(f"unknown preset {options.preset!r}; valid: {', '.join(PRESETS)}")
    if not isinstance(options.selection, Selection):
        raise UsageError("options.selection must be a Selection")
    check_scale_out(options)


#: values of ``--executor``
EXECUTORS = ("local", "serial", "ray")


def check_scale_out(options: RunOptions) -> None:
    """Validate ``executor``, ``shard`` and ``gpu_type`` (one-line :class:`UsageError`)."""
    if options.executor not in EXECUTORS:
        raise UsageError(f"unknown executor {options.executor!r}; valid: {', '.join(EXECUTORS)}")
    if options.shard is not None:
        parse_shard(options.shard)
    if options.gpu_type is not None:
        if options.executor != "ray":
            raise UsageError("--gpu-type picks a GPU type of a Ray cluster: it needs --executor ray")
        if not isinstance(options.gpu_type, str) or not options.gpu_type.strip() or ":" in options.gpu_type:
            raise UsageError(
                f"--gpu-type must be a Ray accelerator type such as A100 (got {options.gpu_type!r})"
            )


def _check_seconds(flag: str, value: Any, maximum: float, *, zero: bool) -> None:
    """A finite number of seconds in ``(0, maximum]`` (``[0, maximum]`` when ``zero``)."""
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not (value >= 0 if zero else value > 0)
        or value > maximum
    ):
        low = "[0" if zero else "(0"
        raise UsageError(f"{flag} must be a number of seconds in {low}, {maximum:g}] (got {value!r})")


def make_options(
    *,
    preset: str | None = None,
    axes: dict[str, tuple[str, ...]] | None = None,
    pairs_from: tuple[str, ...] | list[str] = (),
    **overrides: Any,
) -> RunOptions:
    """Build the options of a new run: defaults, then ``preset``, then explicit values.

    Args:
        preset: ``quick``, ``full`` or None.
        axes: explicit axis values (``{"pairs": ("mlp",), ...}``), replacing the preset's.
        pairs_from: user pair files (resolved and hashed here).
        **overrides: option values the user gave (``None`` means "not given").

    Raises:
        UsageError: an unknown option or a bad value.
    """
    selection, preset_values = apply_preset(Selection(), preset)
    if axes:
        selection = replace(selection, **axes)
    values: dict[str, Any] = {**preset_values}
    known = {f.name for f in fields(RunOptions)}
    for key, value in overrides.items():
        if key not in known:
            raise UsageError(f"unknown run option {key!r}")
        if value is not None:
            values[key] = value
    files = tuple(PairsFile.of(p) for p in pairs_from)
    return RunOptions(selection=selection, pairs_from=files, preset=preset, **values)


def options_from_meta(meta: dict[str, Any], run: Any = None) -> RunOptions:
    """The options a run was started with, read back from its ``run.json``.

    Runs written before ``run.json`` schema 2 stored only some options next to ``selection``;
    those are read, and the others take the defaults they had then (which are today's).

    Raises:
        UsageError: ``run.json`` has no usable options (not a pairbench run, or damaged).
    """
    where = f"{getattr(run, 'meta_path', 'run.json')}"
    options = meta.get("options")
    if not isinstance(options, dict):
        raise UsageError(f"{where}: no options recorded: this run cannot be resumed")
    if meta.get("schema_version", 1) >= 2:
        return RunOptions.from_dict(options)
    if not isinstance(meta.get("selection"), dict):
        raise UsageError(f"{where}: no selection recorded: this run cannot be resumed")
    legacy = {k: options[k] for k in ("repeats", "steps", "seed", "profile", "timeout_s") if k in options}
    try:
        files = tuple(PairsFile.of(p) for p in options.get("pairs_from", ()))
        return RunOptions(selection=Selection.from_dict(meta["selection"]), pairs_from=files, **legacy)
    except TypeError as exc:
        raise UsageError(f"{where}: malformed options ({exc})") from None
