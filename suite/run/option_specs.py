"""Every run option declared once: its flag, its help, and where its default is read.

A :class:`Spec` ties a :class:`~suite.run.options.RunOptions` field to its command-line flag.
``pairbench run`` and ``pairbench nightly`` build their arguments from :data:`SPECS`
(:func:`add_arguments`), read them back with :func:`overrides` and refuse them on
``--resume`` with :func:`given_flags`; help texts say the default as :class:`RunOptions` and
the presets (:data:`suite.run.matrix.PRESETS`) define it, never restated by hand. Adding an
option is one field in ``RunOptions`` and one :class:`Spec` here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import MISSING, dataclass, fields
from typing import Any

#: the matrix's axes: comma-separated filters, ``--pairs mlp,cnn``
AXES: tuple[str, ...] = (
    "pairs",
    "members",
    "workloads",
    "modes",
    "devices",
    "precisions",
    "determinism",
    "sizes",
)
#: what each axis filter takes (shown in ``--help``)
AXIS_HELP: dict[str, str] = {
    "pairs": "e.g. mlp,cnn (default: every registered pair)",
    "members": "e.g. sequential,subclass (default: all)",
    "workloads": "predict,train_step,fit",
    "modes": "eager,function,xla",
    "devices": "cpu,gpu:0,... (default: cpu and every visible GPU)",
    "precisions": "float32,tf32,mixed_float16,mixed_bfloat16",
    "determinism": "off,on",
    "sizes": "tiny,default,large",
}


@dataclass(frozen=True)
class Spec:
    """One run option on the command line.

    Attributes:
        field: the :class:`~suite.run.options.RunOptions` field it sets.
        flag: the option (``--repeats``).
        help: what it does, without its default (added from ``RunOptions`` and the presets).
        type: ``int``, ``float``, ``str``, or ``bool`` (a ``--x/--no-x`` switch).
        group: the ``--help`` section: ``measure``, ``timing`` or ``scale``.
        nightly: ``pairbench nightly`` offers it too (it changes the nightly's matrix).
        metavar: the value's name in ``--help``.
        choices: the values it accepts (checked by argparse).
        convert: turns the given string into the stored value (``--shard 1/4``).
        default_text: the default in words when it is not a plain value (``TensorFlow's``).
    """

    field: str
    flag: str
    help: str
    type: type = int
    group: str = "measure"
    nightly: bool = True
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    convert: Callable[[str], Any] | None = None
    default_text: str | None = None

    @property
    def dest(self) -> str:
        """The argparse attribute (``--min-sample-time`` -> ``min_sample_time``)."""
        return self.flag.lstrip("-").replace("-", "_")


def _shard(text: str) -> str:
    from suite.run.shard import parse_shard

    return str(parse_shard(text))


SPECS: tuple[Spec, ...] = (
    Spec("repeats", "--repeats", "repeats per case: timed samples = reruns compared"),
    Spec(
        "steps",
        "--steps",
        "units from the initial state whose outputs are compared",
        default_text="10 forward calls, the pair's train steps",
    ),
    Spec(
        "min_sample_s",
        "--min-sample-time",
        "shortest timed sample: units per sample are calibrated to it",
        type=float,
        group="timing",
        metavar="SECONDS",
    ),
    Spec(
        "max_warmup_s",
        "--max-warmup",
        "most warm-up per case; it stops earlier once the timing is stable",
        type=float,
        group="timing",
        metavar="SECONDS",
    ),
    Spec(
        "intra_op_threads",
        "--intra-op-threads",
        "TensorFlow intra-op threads in every worker",
        group="timing",
        metavar="N",
        default_text="TensorFlow's, one per core",
    ),
    Spec(
        "inter_op_threads",
        "--inter-op-threads",
        "TensorFlow inter-op threads in every worker",
        group="timing",
        metavar="N",
        default_text="TensorFlow's, one per core",
    ),
    Spec("seed", "--seed", "seed for weights, inputs and dropout", nightly=False),
    Spec("profile", "--profile", "capture a profiler trace per case after timing", type=bool),
    Spec("localise", "--localise", "localise diverged/nondeterministic cases to a layer", type=bool),
    Spec("reference_fp64", "--fp64", "run the float64 reference of each pair for vs_fp64", type=bool),
    Spec("timeout_s", "--timeout", "seconds per case before the worker is killed", type=float),
    Spec(
        "executor",
        "--executor",
        "local: a worker per GPU of this machine at once, CPU cases alone; "
        "serial: one worker at a time; ray: tasks on a Ray cluster (pairbench[ray])",
        type=str,
        group="scale",
        nightly=False,
        choices=("local", "serial", "ray"),
    ),
    Spec(
        "gpu_type",
        "--gpu-type",
        "with --executor ray: run GPU cases on this accelerator type (A100...)",
        type=str,
        group="scale",
        nightly=False,
        metavar="TYPE",
        default_text="any",
    ),
    Spec(
        "shard",
        "--shard",
        "run only shard K of N of the matrix (1/4 ... 4/4; join the runs with `pairbench merge`)",
        type=str,
        group="scale",
        nightly=False,
        metavar="K/N",
        convert=_shard,
        default_text="the whole matrix",
    ),
)
#: section titles of ``--help``
GROUPS: dict[str, str] = {
    "measure": "what is measured",
    "timing": "timing (see README: How a case is timed)",
    "scale": "where the cases run (docs/scale.md)",
}


def _default_of(field_name: str) -> Any:
    from suite.run.options import RunOptions

    for f in fields(RunOptions):
        if f.name == field_name:
            return f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
    raise KeyError(field_name)


def _shown(value: Any, spec: Spec) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return spec.default_text or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def default_text(spec: Spec) -> str:
    """``"default 3; --full 10"``: the default from ``RunOptions`` and what each preset sets."""
    from suite.run.matrix import PRESETS

    parts = [f"default {_shown(_default_of(spec.field), spec)}"]
    for preset, values in PRESETS.items():
        if spec.field in values:
            parts.append(f"--{preset} {_shown(values[spec.field], spec)}")
    return "; ".join(parts)


def add_axis_arguments(
    parser: argparse.ArgumentParser, title: str = "axis filters (comma-separated)"
) -> None:
    """``--pairs``, ``--members`` ... ``--sizes``."""
    group = parser.add_argument_group(title)
    for axis in AXES:
        group.add_argument(f"--{axis}", help=AXIS_HELP[axis])


def add_arguments(parser: argparse.ArgumentParser, *, nightly: bool = False) -> None:
    """Add every run option of :data:`SPECS` (with ``nightly``: those the nightly offers).

    Every option defaults to None ("not given"): the value comes from the preset, then from
    :class:`~suite.run.options.RunOptions`, in :func:`~suite.run.options.make_options`.
    """
    groups = {name: parser.add_argument_group(title) for name, title in GROUPS.items()}
    for spec in SPECS:
        if nightly and not spec.nightly:
            continue
        text = f"{spec.help} ({default_text(spec)})"
        target = groups[spec.group]
        if spec.type is bool:
            target.add_argument(spec.flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            target.add_argument(
                spec.flag,
                type=spec.type,
                metavar=spec.metavar,
                choices=spec.choices,
                default=None,
                help=text,
            )


def overrides(args: argparse.Namespace, specs: Iterable[Spec] = SPECS) -> dict[str, Any]:
    """``{field: value}`` of the run options given on the command line (None: not given).

    Raises:
        UsageError: a value its :attr:`Spec.convert` refuses (one line).
    """
    out: dict[str, Any] = {}
    for spec in specs:
        value = getattr(args, spec.dest, None)
        if value is not None and spec.convert is not None:
            value = spec.convert(value)
        out[spec.field] = value
    return out


def given_flags(args: argparse.Namespace) -> list[str]:
    """The run options and axis filters given on the command line, as flags (``--repeats``)."""
    flags = [f"--{axis}" for axis in AXES if getattr(args, axis, None) is not None]
    flags += [spec.flag for spec in SPECS if getattr(args, spec.dest, None) is not None]
    return flags


def axis_values(args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    """Explicit axis filters; an empty list (``--pairs ''``) is refused, never read as "all".

    Raises:
        UsageError: an axis filter that names nothing.
    """
    from suite.axes import parse_filter

    out = {}
    for axis in AXES:
        items = parse_filter(f"--{axis}", getattr(args, axis, None))
        if items is not None:
            out[axis] = tuple(items)
    return out
