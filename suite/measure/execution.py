"""Execution: turn one case into callables that can be warmed up, timed and compared.

``prepare_case`` builds the member (and copies the reference's weights into it), places
inputs on the device, wraps the workload in the case's mode, and makes the first call, whose
time is the case's ``compile_s``. Then (see :mod:`suite.measure.timing` for the rules):

- :func:`suite.measure.calibration.calibrate` warms the case up until its timing is stable and
  calibrates the units per sample so that a sample lasts at least ``min_sample_s``
  (:attr:`Prepared.calibration`);
- ``Prepared.repeat()`` is one repeat, which is also one rerun: it restores the initial state
  (weights, optimizer slots, BatchNorm statistics, RNG state), runs the **output window**
  (``steps`` units from the initial state, whose outputs the divergence stage compares with
  other cases and with the other repeats), then takes one **timed sample** of the calibrated
  number of units, continuing from where the window left off. Restoring, the window and
  copying the outputs are untimed; the window also re-warms the case after another case ran
  (the alternation's switch cost) and after the restore (a restored weight is a new buffer:
  its first step is several times slower). The restore resets TensorFlow's global seed (and
  so clears its kernel caches, which slows every tf.function down for tens of calls) only
  for a case with stateful random kernels (:mod:`suite.measure.rng_reset`). The timed sample runs
  with the garbage collector paused and ends with a device sync. Outputs therefore never
  depend on the calibration.

The worker, ``pairbench overhead`` (through ``pairbench run``) and the asv benchmarks all use
this module, so they time exactly the same thing.

Process-global state (precision policy, TF32, op determinism) is set once per worker
process by :func:`configure_process`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from suite.axes import FLOAT64, gpu_index, is_gpu, tf_device
from suite.case import Case
from suite.errors import CaseUnsupported, one_line
from suite.machine.gc_control import paused_gc
from suite.measure.rng_reset import RngReset
from suite.measure.timing import Calibration

#: forward calls in the output window of the ``predict`` workload
PREDICT_STEPS = 10


@dataclass(frozen=True)
class ProcessState:
    """What :func:`configure_process` set, read back from TensorFlow."""

    precision: str
    determinism: str
    dtype_policy: str
    tf32_enabled: bool
    determinism_enabled: bool
    intra_op_threads: int = 0
    inter_op_threads: int = 0


def configure_process(
    precision: str,
    determinism: str,
    *,
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
) -> ProcessState:
    """Set the process-global state for a worker (call once, before building models).

    ``float32`` and the mixed policies run with TF32 off, so that ``float32`` means IEEE float32
    on Ampere+ GPUs; ``tf32`` turns it on. Determinism ``on`` calls
    ``tf.config.experimental.enable_op_determinism()`` (it cannot be turned off again).
    ``intra_op_threads`` / ``inter_op_threads`` size TensorFlow's thread pools (None: its
    default, one thread per core); the state read back has them (0 meaning the default).
    """
    import keras
    import tensorflow as tf

    from suite.machine.timing_settings import apply_threads

    apply_threads(intra_op_threads, inter_op_threads)
    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # already initialised
            tf.config.experimental.set_memory_growth(gpu, True)
    policy = {
        "float32": "float32",
        "tf32": "float32",
        FLOAT64: "float64",
        "mixed_float16": "mixed_float16",
        "mixed_bfloat16": "mixed_bfloat16",
    }[precision]
    keras.mixed_precision.set_global_policy(policy)
    tf.config.experimental.enable_tensor_float_32_execution(precision == "tf32")
    if determinism == "on":
        tf.config.experimental.enable_op_determinism()
    return ProcessState(
        precision=precision,
        determinism=determinism,
        dtype_policy=keras.mixed_precision.global_policy().name,
        tf32_enabled=bool(tf.config.experimental.tensor_float_32_execution_enabled()),
        determinism_enabled=_determinism_enabled(),
        intra_op_threads=int(tf.config.threading.get_intra_op_parallelism_threads()),
        inter_op_threads=int(tf.config.threading.get_inter_op_parallelism_threads()),
    )


def _determinism_enabled() -> bool:
    from suite.machine.provenance import determinism_enabled

    return bool(determinism_enabled())


def check_device_supported(case: Case) -> None:
    """Raise :class:`CaseUnsupported` when this machine cannot run the case's device/precision."""
    import tensorflow as tf

    if is_gpu(case.device):
        index = gpu_index(case.device)
        gpus = tf.config.list_logical_devices("GPU")
        if index is not None and index >= len(gpus):
            raise CaseUnsupported(f"no {case.device}: TensorFlow sees {len(gpus)} GPU(s)")
    elif case.precision == "tf32":
        raise CaseUnsupported(
            "tf32 only changes float32 matmuls on NVIDIA Ampere+ GPUs; on cpu it is float32"
        )
    if case.precision == "mixed_bfloat16":
        try:
            with tf.device(tf_device(case.device)):
                a = tf.ones((4, 4), tf.bfloat16)
                tf.linalg.matmul(a, a).numpy()
        except Exception as exc:  # the probe's own failure is the reason
            raise CaseUnsupported(f"bfloat16 matmul fails on {case.device}: {one_line(exc)}") from None


def sync_device() -> None:
    """Wait for every device to finish queued work (the end of a timed region)."""
    import tensorflow as tf

    tf.test.experimental.sync_devices()


@dataclass
class RepeatResult:
    """One repeat: a rerun's outputs and one timed sample.

    Attributes:
        seconds: wall time of the timed sample (``units`` units, device-synced).
        units: units in the timed sample (the calibrated count).
        outputs: numbers to compare, from the output window (``predictions``; or the ``loss``
            trajectory and ``weights/<path>`` after ``steps`` units from the initial state).
    """

    seconds: float
    units: int
    outputs: dict[str, np.ndarray]


@dataclass
class Prepared:
    """A case ready to be timed: see the module docstring.

    Attributes:
        case: the case.
        model: the member, weights copied from the reference.
        reference_model: the reference member (same weights), for localisation.
        batch_size: samples per unit.
        steps: units in the output window of a repeat (the outputs compared).
        compile_s: time of the first (tracing/compiling) call.
        audit: structural differences that did not prevent the weight copy (e.g. an activation).
        jit_compile: whether XLA compiles the step.
        steps_per_unit: optimizer steps (or forward calls) in one unit: ``k`` for ``fit``, else 1.
        loss: the loss ``train_step``/``fit`` minimise (the pair's, or inferred from the labels).
        notes: sentences about the member to show next to the verdict (untracked variables,
            random numbers drawn at inference).
        flags: machine-readable tags for the record (``rng-at-inference``...).
        extra: what the record keeps in ``extra`` (``weight_match``, ``weight_map``, ``loss``).
        rng_layers: layers of the member that draw random numbers at inference.
        calibration: what :func:`suite.measure.calibration.calibrate` found (None before: a sample is
            then ``steps`` units).
        rng: how ``restore`` resets the random state (:mod:`suite.measure.rng_reset`; decided per
            group by :func:`suite.measure.rng_reset.settle`).
    """

    case: Case
    model: Any
    reference_model: Any
    x: Any
    y: Any
    batch_size: int
    steps: int
    unit: Callable[[], Any]
    restore: Callable[[], None]
    collect: Callable[[list[Any]], dict[str, np.ndarray]]
    compile_s: float = float("nan")
    audit: list[str] = field(default_factory=list)
    jit_compile: bool = False
    steps_per_unit: int = 1
    loss: Any = None
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    rng_layers: list[str] = field(default_factory=list)
    calibration: Calibration | None = None
    rng: RngReset = field(default_factory=lambda: RngReset(0))

    @property
    def units_per_sample(self) -> int:
        """Units in one timed sample: the calibrated count, or ``steps`` before calibration."""
        return self.calibration.units_per_sample if self.calibration else self.steps

    def step(self) -> None:
        """One unit (forward call, or one optimizer step), device-synced: what asv times."""
        with _device(self.case):
            self.unit()
            sync_device()

    def time_units(self, units: int) -> float:
        """The timed region: ``units`` back-to-back units, then a device sync; garbage collected
        before it and the collector paused inside it.

        Returns:
            Wall seconds of the region.
        """
        with _device(self.case), paused_gc():
            start = time.perf_counter()
            for _ in range(units):
                self.unit()
            sync_device()
            return time.perf_counter() - start

    def repeat(self, units: int | None = None) -> RepeatResult:
        """One repeat (see the module docstring): restore, output window, one timed sample.

        Args:
            units: units in the timed sample (default :attr:`units_per_sample`).
        """
        with _device(self.case):
            self.restore()
            sync_device()
            results = [self.unit() for _ in range(self.steps)]
            sync_device()
            outputs = self.collect(results)
            del results
        n = self.units_per_sample if units is None else units
        return RepeatResult(seconds=self.time_units(n), units=n, outputs=outputs)

    def peak_device_bytes(self) -> int | None:
        """Peak memory TensorFlow's allocator saw on the case's GPU since preparation; None on CPU
        (TensorFlow does not track CPU allocations)."""
        index = gpu_index(self.case.device) if is_gpu(self.case.device) else None
        if index is None:
            return None
        import tensorflow as tf

        return int(tf.config.experimental.get_memory_info(f"GPU:{index}")["peak"])


def _device(case: Case):
    import tensorflow as tf

    return tf.device(tf_device(case.device))


def prepare_case(case: Case, *, seed: int = 0, steps: int | None = None) -> Prepared:
    """Build, copy weights, wrap the workload in the mode, and warm up (``compile_s``).

    Args:
        case: what to run.
        seed: seeds the reference's initial weights, dropout and inputs; every repeat starts
            from this seed's random state.
        steps: units per repeat (default: ``PREDICT_STEPS`` for predict, the pair's
            ``train_steps`` for training workloads).

    Raises:
        CaseUnsupported: the case cannot run here (device, precision, raw member with ``fit``,
            no trainable variables for ``train_step``/``fit``).
        StructuralMismatch: the member cannot take the reference's weights.
        AmbiguousAlignment: its variables match the reference's in more than one way.
    """
    import keras

    from suite.zoo import get_pair
    from suite.zoo.inputs import check_batch
    from suite.zoo.prepare import as_inputs, build_members

    check_device_supported(case)
    pair = get_pair(case.pair)
    hp = pair.hparams(case.size)
    batch = pair.inputs(hp, seed)
    check_batch(pair.name, batch, labels_per_row=pair.labels_per_row)  # as the run did before it started
    compute_dtype = keras.mixed_precision.global_policy().compute_dtype
    with _device(case):
        x = as_inputs(batch.x, compute_dtype)
        members = build_members(
            pair, case.member, case.size, batch, x, seed, float64=case.precision == FLOAT64
        )
        model = members.model
        if case.workload != "predict":
            members.require_trainable()
        if case.workload == "fit" and not isinstance(model, keras.Model):
            raise CaseUnsupported("fit needs a keras.Model; this member is a tf.Module")
        builder = {"predict": _predict, "train_step": _train_step, "fit": _fit}[case.workload]
        common = {
            "case": case,
            "model": model,
            "reference_model": members.reference,
            "x": x,
            "y": members.training.y,
            "batch_size": int(hp["batch"]),
            "jit_compile": case.mode == "xla",
            "loss": members.training.loss,
            "notes": members.notes,
            "flags": members.flags,
            "extra": members.extra(),
            "rng_layers": members.rng_layers,
        }
        prepared = builder(common, pair, steps, seed)
        prepared.audit = members.audit
        keras.utils.set_random_seed(seed)
        start = time.perf_counter()
        prepared.unit()
        sync_device()
        prepared.compile_s = time.perf_counter() - start
        prepared.unit()  # a second untimed call: autotuning and lazy allocations settle
        sync_device()  # the warm-up proper is suite.measure.calibration.calibrate
    return prepared


def _wrap(fn: Callable[..., Any], mode: str) -> Callable[..., Any]:
    import tensorflow as tf

    if mode == "eager":
        return fn
    return tf.function(fn, jit_compile=(mode == "xla"), reduce_retracing=True)


def _predict(common: dict[str, Any], pair: Any, steps: int | None, seed: int) -> Prepared:
    case, model, x = common["case"], common["model"], common["x"]

    def forward():
        return model(x, training=False)

    fn = _wrap(forward, case.mode)

    def collect(results: list[Any]) -> dict[str, np.ndarray]:
        return {"predictions": np.asarray(results[-1])}

    rng = RngReset(seed)
    return Prepared(
        **common,
        steps=steps or PREDICT_STEPS,
        unit=fn,
        restore=_state_snapshot(_state_variables(model), rng),
        collect=collect,
        rng=rng,
    )


def make_optimizer(pair: Any):
    """The optimizer of the training workloads: SGD at the pair's learning rate (loss-scaled
    under ``mixed_float16``); ``localise`` applies the same update."""
    import keras

    opt = keras.optimizers.SGD(learning_rate=pair.learning_rate)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def _state_snapshot(variables: list[Any], rng: RngReset) -> Callable[[], None]:
    """A callable restoring ``variables`` to their current values and the random state to
    ``rng.seed`` (Python, numpy, Keras' global seed, and TensorFlow's when the case needs it:
    :mod:`suite.measure.rng_reset`), so every repeat starts from the same state."""
    saved = [(v, v.numpy()) for v in variables]

    def restore() -> None:
        for var, value in saved:
            var.assign(value)
        rng.apply()

    return restore


def _state_variables(model: Any) -> list[Any]:
    """What inference may change: non-trainable variables (BatchNorm statistics, dropout seed
    state of a layer that draws random numbers at inference)."""
    return [v for v in model.variables if not v.trainable]


def _model_variables(model: Any) -> list[Any]:
    """Every variable of the model, incl. BatchNorm statistics and dropout seed-generator state
    (restoring those makes reruns draw identical dropout masks)."""
    return list(model.variables)


def _weights_out(model: Any, weight_map: list[list[str]] | None) -> dict[str, np.ndarray]:
    """Every variable's value, named after the reference's variable it took its weights from
    (so that a member and the reference are compared variable by variable)."""
    from suite.zoo.variables import inventory

    renamed = dict(map(tuple, weight_map or []))
    variables = {info.key: info.var for info in inventory(model)}  # untracked tf.Variables too
    return {f"weights/{renamed.get(path, path)}": np.asarray(v.numpy()) for path, v in variables.items()}


def _train_step(common: dict[str, Any], pair: Any, steps: int | None, seed: int) -> Prepared:
    case, model, x, y = common["case"], common["model"], common["x"], common["y"]
    import keras
    import tensorflow as tf

    from suite.zoo.loss import describe_loss_terms, total_loss

    loss_fn = keras.losses.get(common["loss"])
    optimizer = make_optimizer(pair)
    trainable = list(model.trainable_variables)
    optimizer.build(trainable)
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    extra = common["extra"]

    def train_step():
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            main = tf.reduce_mean(loss_fn(y, tf.cast(pred, tf.float32)))
            loss, n_extra = total_loss(model, main)  # regularizers and add_loss terms, as fit adds them
            target = optimizer.scale_loss(loss) if scaled else loss
        if "loss_terms" not in extra:  # once (when traced, or at the first eager call)
            extra["loss_terms"] = describe_loss_terms(model, extra.get("loss", str(common["loss"])), n_extra)
        if trainable:  # a member whose variables Keras does not track trains nothing, as fit would
            grads = tape.gradient(target, trainable)
            optimizer.apply_gradients(zip(grads, trainable, strict=True))
        return loss

    rng = RngReset(seed)
    restore = _state_snapshot(_model_variables(model) + list(optimizer.variables), rng)

    def collect(results: list[Any]) -> dict[str, np.ndarray]:
        out = {"loss": np.asarray([np.asarray(r) for r in results], dtype=np.float32)}
        out.update(_weights_out(model, common["extra"].get("weight_map")))
        return out

    return Prepared(
        **common,
        steps=steps or pair.train_steps,
        unit=_wrap(train_step, case.mode),
        restore=restore,
        collect=collect,
        rng=rng,
    )


def _fit(common: dict[str, Any], pair: Any, steps: int | None, seed: int) -> Prepared:
    """``model.fit`` for k steps per repeat; a unit here is one whole ``fit`` call of k steps."""
    case, model, x, y = common["case"], common["model"], common["x"], common["y"]
    import keras
    import tensorflow as tf

    from suite.zoo.loss import describe_loss_terms

    k = steps or pair.train_steps
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=pair.learning_rate),
        loss=common["loss"],
        jit_compile=case.mode == "xla",
        run_eagerly=case.mode == "eager",
    )
    dataset = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.optimizer.build(model.trainable_variables)
    rng = RngReset(seed)
    restore = _state_snapshot(_model_variables(model) + list(model.optimizer.variables), rng)

    def fit_k():
        history = model.fit(dataset, epochs=1, steps_per_epoch=k, verbose=0, shuffle=False)
        if "loss_terms" not in common["extra"]:  # Keras adds model.losses itself
            common["extra"]["loss_terms"] = describe_loss_terms(
                model, common["extra"].get("loss", str(common["loss"])), len(model.losses)
            )
        return history.history["loss"][-1]

    def collect(results: list[Any]) -> dict[str, np.ndarray]:
        out = {"loss": np.asarray(results, dtype=np.float32)}
        out.update(_weights_out(model, common["extra"].get("weight_map")))
        return out

    return Prepared(
        **common,
        steps=1,
        steps_per_unit=k,
        unit=fit_k,
        restore=restore,
        collect=collect,
        rng=rng,
    )
