"""``check_models``: pairbench on your own models from Python (a notebook, a test suite).

::

    import suite

    frame = suite.check_models(my_sequential, MySubclass, x, y)
    frame[["member", "workload", "mode", "verdict", "reason"]]

The models run in this process, through the same steps as ``pairbench run`` (seeded builds,
weights matched and copied, warm-up, timed repeats, divergence, verdict, localisation), and
the records are written to a run folder (a temporary one unless ``results_dir`` is given)
and returned as a pandas DataFrame (:func:`suite.results.frame.load_frame`). The process's dtype
policy and TF32 setting are given back afterwards. Op determinism cannot be undone in a
process, so ``determinism="on"`` needs it already on (or use ``pairbench run --determinism
on --pairs-from FILE.py`` with :func:`suite.zoo.register_models`).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from suite.axes import MODES
from suite.errors import UsageError


@contextlib.contextmanager
def _registered(cls: type) -> Iterator[None]:
    """``cls`` registered for the duration (replacing a pair of the same name), then removed."""
    from suite.zoo import base, load_builtin_pairs

    load_builtin_pairs()
    before = base._REGISTRY.get(cls.name)
    if before is not None and before.__module__ != cls.__module__:
        raise UsageError(f"pair name {cls.name!r} is taken by {before.__module__}: pass another name=")
    base._REGISTRY[cls.name] = cls
    try:
        yield
    finally:
        base._REGISTRY.pop(cls.name, None)
        if before is not None:
            base._REGISTRY[cls.name] = before


@contextlib.contextmanager
def _process_state(precision: str, determinism: str) -> Iterator[Any]:
    """The job's numerics state in this process, the previous policy and TF32 given back after."""
    import keras
    import tensorflow as tf

    from suite.machine.provenance import determinism_enabled
    from suite.measure.process import configure_process

    if determinism == "on" and not determinism_enabled():
        raise UsageError(
            "determinism 'on' cannot be undone in this process: enable it before (tf.config."
            "experimental.enable_op_determinism()) or use pairbench run --determinism on --pairs-from FILE.py"
        )
    policy = keras.config.dtype_policy().name
    tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
    try:
        yield configure_process(precision, "off" if determinism_enabled() else determinism)
    finally:
        keras.config.set_dtype_policy(policy)
        tf.config.experimental.enable_tensor_float_32_execution(tf32)


def _members(a: Any, b: Any) -> Mapping[str, Any] | Sequence[Any]:
    if isinstance(a, Mapping):
        if b is not None:
            raise UsageError("give the members as a dict, or as a and b, not both")
        return a
    from suite.zoo.models import member_names

    try:
        named = member_names([a] if b is None else [a, b])
    except UsageError:  # two models of one class or name: call them a and b
        return {"a": a} if b is None else {"a": a, "b": b}
    return named


def check_models(
    a: Any,
    b: Any = None,
    x: Any = None,
    y: Any = None,
    *,
    inputs: Callable[..., Any] | None = None,
    loss: Any = "auto",
    workloads: Sequence[str] = ("predict", "train_step"),
    modes: Sequence[str] = MODES,
    devices: Sequence[str] = ("cpu",),
    precisions: Sequence[str] = ("float32",),
    determinism: str = "off",
    repeats: int | None = None,
    steps: int | None = None,
    seed: int | None = None,
    reference_fp64: bool | None = None,
    localise: bool | None = None,
    min_sample_s: float | None = None,
    max_warmup_s: float | None = None,
    name: str = "models",
    results_dir: str | Path | None = None,
    **pair_options: Any,
) -> Any:
    """Compare your models (or check one) in every mode, and return the records.

    Args:
        a: the reference: a model, a model class or a function building one; or a dict
            ``{name: model}`` of every member (the first is the reference).
        b: the model compared with ``a`` (None: ``a`` alone is checked across modes, against
            float64 and against its own reruns).
        x: the inputs (numpy arrays); None: ``inputs`` or generated from ``a``'s input shape.
        y: the labels (None: a seeded target and mean squared error).
        inputs: instead of ``x``/``y``: ``inputs()`` or ``inputs(seed)`` returning them.
        loss: a Keras loss, or ``"auto"`` to infer it from ``y``.
        workloads: of ``predict``, ``train_step``, ``fit``.
        modes: of ``eager``, ``function``, ``xla``.
        devices: ``cpu``, ``gpu:0``...
        precisions: of ``float32``, ``tf32``, ``mixed_float16``, ``mixed_bfloat16``.
        determinism: ``off``, or ``on`` when op determinism is already enabled in this process.
        repeats: timed repeats per case (also the reruns compared).
        steps: units per repeat (None: each workload's default).
        seed: seeds weights, inputs and dropout.
        reference_fp64: also run ``a`` in float64 (``vs_fp64``).
        localise: localise differing cases to a layer and a gradient.
        min_sample_s: the shortest timed sample (``pairbench run --min-sample-time``).
        max_warmup_s: the most warm-up per case (``--max-warmup``; 0 in a test that only
            wants the numbers).

        ``repeats``, ``steps``, ``seed``, ``reference_fp64``, ``localise``, ``min_sample_s`` and
        ``max_warmup_s`` left at None take ``pairbench run``'s defaults
        (:class:`suite.run.options.RunOptions`).
        name: the pair's name in the records.
        results_dir: where the run folder goes (None: a temporary folder).
        **pair_options: more of :func:`suite.zoo.models.models_pair` (``reference``,
            ``learning_rate``, ``train_steps``, ``batch``...).

    Returns:
        A pandas DataFrame, one row per case with every record field flattened with dots
        (:func:`suite.results.frame.records_frame`: ``verdict``, ``reason``, ``causes`` (a list
        of dicts), ``extra.weight_map``, ``divergence.vs_pair.max_abs``...), plus ``cause``: the
        top cause in words; ``frame.attrs["run_dir"]`` is the run folder.

    Raises:
        UsageError: bad models, inputs or options (one line).
    """
    from suite.results.frame import records_frame
    from suite.results.runs import create_run
    from suite.run.group import run_group
    from suite.run.matrix import Selection, expand, plan_jobs, validate
    from suite.run.options import RunOptions
    from suite.zoo.models import models_pair

    members = _members(a, b)
    cls = models_pair(members, x=x, y=y, inputs=inputs, name=name, loss=loss, module=__name__, **pair_options)
    selection = Selection(
        pairs=(cls.name,),
        workloads=tuple(workloads),
        modes=tuple(modes),
        devices=tuple(devices),
        precisions=tuple(precisions),
        determinism=(determinism,),
        sizes=("default",),
    )
    given = {"repeats": repeats, "steps": steps, "seed": seed, "localise": localise}
    given.update(reference_fp64=reference_fp64, min_sample_s=min_sample_s, max_warmup_s=max_warmup_s)
    options = RunOptions(selection=selection, **{k: v for k, v in given.items() if v is not None})
    folder = Path(results_dir) if results_dir is not None else Path(tempfile.mkdtemp(prefix="pairbench-"))
    folder.mkdir(parents=True, exist_ok=True)
    with _registered(cls):
        validate(selection)
        cases = expand(selection, n_gpus=0)
        run = create_run(folder)
        run.write_plan([c.to_dict() for c in cases])
        run.write_meta({"run_id": run.run_id, "options": options.to_dict(), "status": "running", "api": True})
        for job in plan_jobs(cases, with_fp64=options.reference_fp64):
            with _process_state(job.precision, job.determinism) as state:
                for group in job.groups:
                    for record in run_group(run, options, group, state):
                        run.append(record)
        run.write_meta({**run.read_meta(), "status": "finished"})
    frame = records_frame(run)
    frame["cause"] = [_top_cause(c) for c in frame.get("causes", [None] * len(frame))]
    frame.attrs["run_dir"] = str(run.path)
    return frame


def _top_cause(causes: Any) -> str | None:
    """The top cause of a record in words (None when it has none)."""
    from suite.causes.cause import describe

    return describe(causes[0]) if isinstance(causes, list) and causes else None
