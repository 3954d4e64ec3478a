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
process by :func:`suite.measure.process.configure_process`; the workloads themselves
(``predict``, ``train_step``, ``fit``) are built in :mod:`suite.measure.workloads`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from suite.axes import FLOAT64, gpu_index, is_gpu, tf_device
from suite.case import Case
from suite.errors import CaseUnsupported
from suite.machine.gc_control import paused_gc
from suite.measure.process import check_device_supported, sync_device
from suite.measure.rng_reset import RngReset
from suite.measure.timing import Calibration
from suite.measure.workloads import build_workload


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
        work = build_workload(common, pair, steps, seed)
        prepared = Prepared(
            **common,
            steps=work.steps,
            steps_per_unit=work.steps_per_unit,
            unit=work.unit,
            restore=work.restore,
            collect=work.collect,
            rng=work.rng,
            audit=members.audit,
        )
        keras.utils.set_random_seed(seed)
        start = time.perf_counter()
        prepared.unit()
        sync_device()
        prepared.compile_s = time.perf_counter() - start
        prepared.unit()  # a second untimed call: autotuning and lazy allocations settle
        sync_device()  # the warm-up proper is suite.measure.calibration.calibrate
    return prepared
