"""Workloads: one case's unit of work (``predict``, ``train_step``, ``fit``) as callables.

Each builder returns a :class:`Workload`: the ``unit`` wrapped in the case's mode (eager,
``tf.function``, XLA), the ``restore`` that puts weights, optimizer slots, BatchNorm
statistics and the random state back to where the first repeat started, and the ``collect``
that turns an output window's results into the numbers compared
(:mod:`suite.measure.execution` assembles them into a :class:`~suite.measure.execution.Prepared`).
``train_step`` trains the way Keras' ``fit`` does: regularization and ``add_loss`` terms are
added to the loss (and recorded as ``extra.loss_terms``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from suite.measure.rng_reset import RngReset

#: forward calls in the output window of the ``predict`` workload
PREDICT_STEPS = 10


@dataclass
class Workload:
    """A case's unit of work and how to restore and read it (see the module docstring).

    Attributes:
        unit: one unit (a forward call, one optimizer step, or one ``fit`` call of k steps).
        restore: puts every variable and the random state back to the initial state.
        collect: the output window's results as named arrays.
        rng: how ``restore`` resets the random state.
        steps: units in the output window of a repeat.
        steps_per_unit: optimizer steps (or forward calls) in one unit.
    """

    unit: Callable[[], Any]
    restore: Callable[[], None]
    collect: Callable[[list[Any]], dict[str, np.ndarray]]
    rng: RngReset
    steps: int
    steps_per_unit: int = 1


def build_workload(common: dict[str, Any], pair: Any, steps: int | None, seed: int) -> Workload:
    """The case's workload (``common["case"].workload``) built around ``common["model"]``.

    Args:
        common: what :func:`suite.measure.execution.prepare_case` built: ``case``, ``model``,
            ``x``, ``y``, ``loss``, ``extra`` (the record's extra, which training fills with
            ``loss_terms``).
        pair: the pair (learning rate, training steps).
        steps: units in the output window (None: the workload's default).
        seed: the random state every repeat starts from.
    """
    builder = {"predict": _predict, "train_step": _train_step, "fit": _fit}[common["case"].workload]
    return builder(common, pair, steps, seed)


def _wrap(fn: Callable[..., Any], mode: str) -> Callable[..., Any]:
    import tensorflow as tf

    if mode == "eager":
        return fn
    return tf.function(fn, jit_compile=(mode == "xla"), reduce_retracing=True)


def _predict(common: dict[str, Any], pair: Any, steps: int | None, seed: int) -> Workload:
    case, model, x = common["case"], common["model"], common["x"]

    def forward():
        return model(x, training=False)

    fn = _wrap(forward, case.mode)

    def collect(results: list[Any]) -> dict[str, np.ndarray]:
        return {"predictions": np.asarray(results[-1])}

    rng = RngReset(seed)
    return Workload(
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


def _train_step(common: dict[str, Any], pair: Any, steps: int | None, seed: int) -> Workload:
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

    return Workload(
        steps=steps or pair.train_steps,
        unit=_wrap(train_step, case.mode),
        restore=restore,
        collect=collect,
        rng=rng,
    )


def _fit(common: dict[str, Any], pair: Any, steps: int | None, seed: int) -> Workload:
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

    return Workload(
        steps=1,
        steps_per_unit=k,
        unit=fit_k,
        restore=restore,
        collect=collect,
        rng=rng,
    )
