"""``run_pair_test``: one call that checks a pair's whole contract (à la Keras ``run_layer_test``).

Used by ``tests/test_zoo.py`` for every registered pair; call it on your own pair too::

    from tests.pairtest import run_pair_test
    run_pair_test("my_pair")

Checks, on CPU in eager mode, under the current global dtype policy:

1. ``inputs(hp, seed)``: same seed -> bitwise-identical arrays, another seed -> different
   arrays; float inputs are float32, labels are integers, the batch is ``hp["batch"]``.
2. every member builds, and the correct ones audit clean against the reference;
3. ``copy_weights`` from the reference succeeds and is bitwise;
4. inference outputs are bitwise equal across the correct members;
5. a training-mode forward pass gives bitwise-equal outputs *and* state (BatchNorm moving
   statistics, dropout seed state) across the correct members;
6. a short ``GradientTape`` + SGD training run gives bitwise-equal weights;
7. each control raises ``StructuralMismatch`` on ``copy_weights`` and its audit names the
   same differences;
8. optionally (``fit=True``) every Keras member runs ``compile`` + ``fit`` to the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from suite.errors import StructuralMismatch
from suite.zoo import get_pair
from suite.zoo.audit import audit
from suite.zoo.weights import (
    bitwise_equal,
    copy_weights,
    ensure_built,
    is_keras,
    restore,
    snapshot,
)


@dataclass
class PairTestResult:
    """What :func:`run_pair_test` found, for extra assertions by the caller.

    Attributes:
        members: every member name, reference first.
        correct: members expected to match the reference bitwise.
        control_differences: control member -> ``StructuralMismatch.differences``.
        control_audits: control member -> ``audit(ref, member)``.
    """

    members: tuple[str, ...]
    correct: list[str]
    control_differences: dict[str, list[str]] = field(default_factory=dict)
    control_audits: dict[str, list[str]] = field(default_factory=dict)


def _arrays(x: Any) -> list[np.ndarray]:
    import tensorflow as tf

    return [np.asarray(a) for a in tf.nest.flatten(x)]


def _assert_same_arrays(a: Any, b: Any, what: str) -> None:
    left, right = _arrays(a), _arrays(b)
    assert len(left) == len(right), f"{what}: different structure"
    for i, (u, v) in enumerate(zip(left, right, strict=True)):
        assert bitwise_equal(u, v), f"{what}: array {i} differs (max abs {_max_abs(u, v)})"


def _max_abs(u: np.ndarray, v: np.ndarray) -> float:
    if u.shape != v.shape:
        return float("nan")
    return float(np.max(np.abs(u.astype(np.float64) - v.astype(np.float64)), initial=0.0))


def _check_inputs(pair: Any, hp: dict[str, Any]) -> Any:
    batch = pair.inputs(hp, 0)
    again = pair.inputs(hp, 0)
    other = pair.inputs(hp, 1)
    _assert_same_arrays(batch.x, again.x, "inputs(seed=0) twice: x")
    _assert_same_arrays(batch.y, again.y, "inputs(seed=0) twice: y")
    xs, others = _arrays(batch.x), _arrays(other.x)
    assert any(not bitwise_equal(a, b) for a, b in zip(xs, others, strict=True)), (
        "seeds 0 and 1 give the same x"
    )
    for a in xs:
        assert a.shape[0] == hp["batch"], f"x batch {a.shape[0]} != hp['batch'] {hp['batch']}"
        assert a.dtype == np.float32 or np.issubdtype(a.dtype, np.integer), f"x dtype {a.dtype}"
    for a in _arrays(batch.y):
        assert a.shape[0] == hp["batch"]
        assert np.issubdtype(a.dtype, np.integer), f"labels must be integers, got {a.dtype}"
    return batch


def _train(pair: Any, model: Any, batch: Any, steps: int) -> None:
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.get(pair.loss)
    optimizer = keras.optimizers.SGD(pair.learning_rate)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(loss_fn(batch.y, model(batch.x, training=True)))
        variables = list(model.trainable_variables)
        grads = tape.gradient(loss, variables)
        assert all(g is not None for g in grads), "a trainable variable gets no gradient"
        optimizer.apply_gradients(zip(grads, variables, strict=True))


def _fit(pair: Any, model: Any, batch: Any) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(pair.learning_rate),
        loss=pair.loss,
        jit_compile=False,
    )
    size = len(_arrays(batch.y)[0])
    model.fit(batch.x, batch.y, batch_size=size, epochs=2, shuffle=False, verbose=0)


def run_pair_test(
    pair_name: str, size: str = "tiny", *, train_steps: int = 2, fit: bool = False
) -> PairTestResult:
    """Check a registered pair's contract on CPU; raise ``AssertionError`` on the first breach.

    Args:
        pair_name: a registered pair.
        size: size preset to build.
        train_steps: optimizer steps of the ``GradientTape`` check.
        fit: also run Keras ``compile``/``fit`` on every Keras member and compare weights.

    Returns:
        A :class:`PairTestResult` with the members and the controls' differences.
    """
    import tensorflow as tf

    pair = get_pair(pair_name)
    hp = pair.hparams(size)
    batch = _check_inputs(pair, hp)
    members = pair.members()
    assert members[0] == pair.reference
    result = PairTestResult(members, [m for m in members if m not in pair.controls])
    with tf.device("/CPU:0"):
        models = {m: pair.build(m, size) for m in members}
        for model in models.values():
            ensure_built(model, batch.x)
        ref = models[pair.reference]

        for member in members:
            if member in pair.controls:
                try:
                    copy_weights(ref, models[member])
                except StructuralMismatch as exc:
                    differences = exc.differences
                else:
                    raise AssertionError(f"control {member!r} took the reference's weights")
                result.control_differences[member] = differences
                result.control_audits[member] = audit(ref, models[member])
                assert differences, f"control {member!r}: empty differences"
                missing = [d for d in differences if d not in result.control_audits[member]]
                assert not missing, f"control {member!r}: audit does not name {missing}"
            else:
                assert audit(ref, models[member]) == [], f"{member}: {audit(ref, models[member])}"
                copy_weights(ref, models[member])

        initial = snapshot(ref)
        for member in result.correct:
            _assert_same_arrays(snapshot(models[member]), initial, f"{member}: weights after copy")

        expected = ref(batch.x, training=False)
        for member in result.correct[1:]:
            _assert_same_arrays(models[member](batch.x, training=False), expected, f"{member}: predict")
        _assert_same_arrays(snapshot(ref), initial, "inference changed the reference's state")

        outputs, states = {}, {}
        for member in result.correct:
            restore(models[member], initial)
            outputs[member] = models[member](batch.x, training=True)
            states[member] = snapshot(models[member])
        for member in result.correct[1:]:
            _assert_same_arrays(outputs[member], outputs[pair.reference], f"{member}: training forward")
            _assert_same_arrays(
                states[member], states[pair.reference], f"{member}: state after training forward"
            )

        trained = {}
        for member in result.correct:
            restore(models[member], initial)
            _train(pair, models[member], batch, train_steps)
            trained[member] = snapshot(models[member])
        assert not all(bitwise_equal(trained[pair.reference][k], initial[k]) for k in initial), (
            "training changed no weight"
        )
        for member in result.correct[1:]:
            _assert_same_arrays(trained[member], trained[pair.reference], f"{member}: weights after training")

        if fit:
            fitted = {}
            for member in (m for m in result.correct if is_keras(models[m])):
                restore(models[member], initial)
                _fit(pair, models[member], batch)
                fitted[member] = snapshot(models[member])
            first = next(iter(fitted))
            for member, weights in fitted.items():
                _assert_same_arrays(weights, fitted[first], f"{member}: weights after fit")
    return result
