"""Assertion helpers for your own test suites (the Keras ``run_layer_test`` idea, for model pairs).

- :func:`assert_models_match`: your two models (or one) agree in every mode; one call in a
  pytest test::

      from suite.testing import assert_models_match

      def test_my_subclass_matches_my_sequential():
          assert_models_match(build_sequential, MySubclass, x, y)

- :func:`run_pair_test`: a registered pair's whole contract on CPU in eager mode, under the
  current global dtype policy:

  1. ``inputs(hp, seed)``: same seed -> bitwise-identical arrays, another seed -> different
     arrays (unless the pair's inputs are fixed arrays); float inputs are float32, labels (if
     any) have ``hp["batch"]`` rows and are integers unless the loss is inferred;
  2. every member builds, and the correct ones audit clean against the reference;
  3. the reference's weights copy into every member (matched by name or by structure),
     bitwise;
  4. inference outputs are bitwise equal across the correct members;
  5. a training-mode forward pass gives bitwise-equal outputs *and* state (BatchNorm moving
     statistics, dropout seed state) across the correct members;
  6. a short ``GradientTape`` + SGD training run gives bitwise-equal weights;
  7. each control raises ``StructuralMismatch`` on the weight copy and its audit names the
     same differences;
  8. optionally (``fit=True``) every Keras member runs ``compile`` + ``fit`` to the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from suite.errors import StructuralMismatch
from suite.verdicts import AGREE, CLOSE, IDENTICAL
from suite.zoo import get_pair
from suite.zoo.audit import audit
from suite.zoo.loss import AUTO, resolve_training
from suite.zoo.weights import bitwise_equal, copy_weights, ensure_built, is_keras, variables_by_path

#: verdicts each expectation of :func:`assert_models_match` accepts
EXPECT: dict[str, tuple[str, ...]] = {
    IDENTICAL: (IDENTICAL,),
    CLOSE: AGREE,
}


def assert_models_match(
    a: Any,
    b: Any = None,
    x: Any = None,
    y: Any = None,
    *,
    expect: str = CLOSE,
    modes: Sequence[str] = ("eager", "function", "xla"),
    workloads: Sequence[str] = ("predict", "train_step"),
    **options: Any,
) -> Any:
    """Assert that ``b`` agrees with ``a`` (or ``a`` with itself) in every mode and workload.

    Runs :func:`suite.check_models` and fails with one line per case whose verdict is not
    expected (its verdict and reason, which starts with the top cause), then one line per
    cause with its evidence (``configuration of batch_normalization: epsilon 0.001 vs 1e-05``,
    ``layer hidden is called twice: its weights are shared``...).

    Args:
        a: the reference (a model, a model class or a function building one).
        b: the model compared with it (None: ``a`` alone, across modes and reruns).
        x: the inputs; y: the labels (see :func:`suite.check_models`).
        expect: ``"identical"`` (bitwise in every case) or ``"close"`` (within the
            precision's tolerance: XLA rounds differently).
        modes: modes to check.
        workloads: workloads to check.
        **options: more :func:`suite.check_models` options (``precisions``, ``loss``...).

    Returns:
        The records as a DataFrame, when every case is as expected.

    Raises:
        AssertionError: a case that is not as expected.
        ValueError: unknown ``expect``.
    """
    from suite.api import check_models

    if expect not in EXPECT:
        raise ValueError(f"expect must be one of {', '.join(EXPECT)}, not {expect!r}")
    options.setdefault("localise", False)
    frame = check_models(a, b, x, y, modes=modes, workloads=workloads, **options)
    bad = frame[~frame["verdict"].isin(EXPECT[expect])]
    if len(bad):
        from suite.causes.cause import describe

        lines = []
        for row in bad.to_dict("records"):
            lines.append(f"{row['case_id']}: {row['verdict']}: {row['reason']}")
            causes = row.get("causes")
            lines += [f"    cause: {describe(c)}" for c in (causes if isinstance(causes, list) else [])]
        raise AssertionError(f"{len(bad)} of {len(frame)} cases are not {expect}:\n" + "\n".join(lines))
    return frame


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
    if batch.y is not None:
        _assert_same_arrays(batch.y, again.y, "inputs(seed=0) twice: y")
    xs, others = _arrays(batch.x), _arrays(other.x)
    if not getattr(pair, "fixed_inputs", False):
        assert any(not bitwise_equal(a, b) for a, b in zip(xs, others, strict=True)), (
            "seeds 0 and 1 give the same x"
        )
    for a in xs:
        assert a.shape[0] == hp["batch"], f"x batch {a.shape[0]} != hp['batch'] {hp['batch']}"
        assert a.dtype == np.float32 or np.issubdtype(a.dtype, np.integer), f"x dtype {a.dtype}"
    for a in _arrays(batch.y) if batch.y is not None else []:
        assert a.shape[0] == hp["batch"]
        if pair.loss != AUTO:
            assert np.issubdtype(a.dtype, np.integer), f"labels must be integers, got {a.dtype}"
    return batch


def _train(model: Any, x: Any, training: Any, learning_rate: float, steps: int) -> None:
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.get(training.loss)
    optimizer = keras.optimizers.SGD(learning_rate)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(loss_fn(training.y, model(x, training=True)))
        variables = list(model.trainable_variables)
        grads = tape.gradient(loss, variables)
        assert all(g is not None for g in grads), "a trainable variable gets no gradient"
        optimizer.apply_gradients(zip(grads, variables, strict=True))


def _fit(model: Any, x: Any, training: Any, learning_rate: float) -> None:
    import keras

    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss=training.loss, jit_compile=False)
    size = len(_arrays(training.y)[0])
    model.fit(x, training.y, batch_size=size, epochs=2, shuffle=False, verbose=0)


class _Renamed:
    """A member's variables under the reference's keys (they are matched by structure, maybe)."""

    def __init__(self, model: Any, mapping: list[list[str]] | None = None) -> None:
        variables = variables_by_path(model)
        to_ref = dict(map(tuple, mapping or [[k, k] for k in variables]))
        self.variables = {to_ref[k]: v for k, v in variables.items()}

    def snapshot(self) -> dict[str, np.ndarray]:
        return {k: np.array(v.numpy()) for k, v in self.variables.items()}

    def restore(self, values: dict[str, np.ndarray]) -> None:
        assert set(values) == set(self.variables), "snapshot keys differ"
        for key, var in self.variables.items():
            var.assign(values[key])


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
        x = tf.nest.map_structure(tf.constant, batch.x)
        models = {m: pair.build(m, size) for m in members}
        for model in models.values():
            ensure_built(model, x)
        ref = models[pair.reference]
        training = resolve_training(pair.loss, batch.y, ref, x, 0)
        views = {pair.reference: _Renamed(ref)}

        for member in members[1:]:
            if member in pair.controls:
                try:
                    copy_weights(ref, models[member], x=x)
                except StructuralMismatch as exc:
                    differences = exc.differences
                else:
                    raise AssertionError(f"control {member!r} took the reference's weights")
                result.control_differences[member] = differences
                result.control_audits[member] = audit(ref, models[member], x)
                assert differences, f"control {member!r}: empty differences"
                missing = [d for d in differences if d not in result.control_audits[member]]
                assert not missing, f"control {member!r}: audit does not name {missing}"
            else:
                found = audit(ref, models[member], x)
                assert found == [], f"{member}: {found}"
                alignment = copy_weights(ref, models[member], x=x)
                views[member] = _Renamed(models[member], alignment.mapping())

        initial = views[pair.reference].snapshot()
        for member in result.correct:
            _assert_same_arrays(views[member].snapshot(), initial, f"{member}: weights after copy")

        expected = ref(x, training=False)
        for member in result.correct[1:]:
            _assert_same_arrays(models[member](x, training=False), expected, f"{member}: predict")
        _assert_same_arrays(
            views[pair.reference].snapshot(), initial, "inference changed the reference's state"
        )

        outputs, states = {}, {}
        for member in result.correct:
            views[member].restore(initial)
            outputs[member] = models[member](x, training=True)
            states[member] = views[member].snapshot()
        for member in result.correct[1:]:
            _assert_same_arrays(outputs[member], outputs[pair.reference], f"{member}: training forward")
            _assert_same_arrays(
                states[member], states[pair.reference], f"{member}: state after training forward"
            )

        trained = {}
        for member in result.correct:
            views[member].restore(initial)
            _train(models[member], x, training, pair.learning_rate, train_steps)
            trained[member] = views[member].snapshot()
        assert not all(bitwise_equal(trained[pair.reference][k], initial[k]) for k in initial), (
            "training changed no weight"
        )
        for member in result.correct[1:]:
            _assert_same_arrays(trained[member], trained[pair.reference], f"{member}: weights after training")

        if fit:
            fitted = {}
            for member in (m for m in result.correct if is_keras(models[m])):
                views[member].restore(initial)
                _fit(models[member], x, training, pair.learning_rate)
                fitted[member] = views[member].snapshot()
            first = next(iter(fitted))
            for member, weights in fitted.items():
                _assert_same_arrays(weights, fitted[first], f"{member}: weights after fit")
    return result
