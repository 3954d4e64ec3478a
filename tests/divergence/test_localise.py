"""Localisation: capture layer outputs in every flavor and mode, find the first difference."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from suite.divergence import localise  # noqa: E402
from suite.divergence.layer_ops import layer_ops  # noqa: E402
from suite.divergence.layer_outputs import LayerCapture  # noqa: E402
from suite.zoo.weights import copy_weights, ensure_built, snapshot  # noqa: E402

CHAOS = Path(__file__).resolve().parents[1] / "pairs" / "chaos_pairs.py"
FEATURES, CLASSES = 6, 3


def _dense_layers():
    return [
        keras.layers.Dense(8, activation="relu", name="dense_0"),
        keras.layers.Dense(8, activation="tanh", name="dense_1"),
        keras.layers.Dense(CLASSES, activation="softmax", name="dense_2"),
    ]


def _sequential():
    return keras.Sequential([keras.Input((FEATURES,)), *_dense_layers()], name="seq")


def _functional():
    x = h = keras.Input((FEATURES,))
    for layer in _dense_layers():
        h = layer(h)
    return keras.Model(x, h, name="fun")


def _subclass():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.stack = _dense_layers()

        def call(self, x, training=False):
            for layer in self.stack:
                x = layer(x)
            return x

    return Sub()


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, 5).astype(np.int32)
    return x, y


def _built(factory, x, seed=0):
    keras.utils.set_random_seed(seed)
    model = factory()
    ensure_built(model, x)
    return model


@pytest.mark.parametrize("mode", ["eager", "function", "xla"])
@pytest.mark.parametrize("factory", [_sequential, _functional, _subclass], ids=["seq", "fun", "sub"])
def test_capture_records_every_layer_in_every_mode(factory, mode, batch):
    x, _ = batch
    model = _built(factory, x)
    cap = LayerCapture(model)

    def forward(inp):
        cap.start()
        y = model(inp)
        return y, cap.stop()

    fn = forward if mode == "eager" else tf.function(forward, jit_compile=mode == "xla")
    with cap:
        y, layers = fn(tf.constant(x))
    assert list(layers) == ["dense_0", "dense_1", "dense_2"]
    np.testing.assert_array_equal(np.asarray(layers["dense_2"][0]), np.asarray(y))
    assert all("call" not in layer.__dict__ for layer in cap.targets.values())  # unpatched


def test_capture_of_raw_modules(batch):
    """A tf.Module member: sub-modules are captured by name, then unpatched."""

    class Block(tf.Module):
        def __init__(self, name):
            super().__init__(name=name)
            self.w = tf.Variable(tf.ones((FEATURES, FEATURES)), name=f"{name}/kernel")

        def __call__(self, x):
            return tf.nn.relu(tf.matmul(x, self.w))

    class Raw(tf.Module):
        def __init__(self):
            super().__init__(name="raw")
            self.blocks = [Block("dense_0"), Block("dense_1")]

        def __call__(self, x, training=False):
            for b in self.blocks:
                x = b(x)
            return x

    model = Raw()
    cap = LayerCapture(model)
    with cap:
        cap.start()
        model(tf.constant(batch[0]))
        layers = cap.stop()
    assert list(layers) == ["dense_0", "dense_1"]
    assert "__call__" in Block.__dict__ and Block.__call__.__name__ == "__call__"


def test_capture_convention_of_flat_modules(batch):
    """A tf.Module without sub-modules reports its blocks through a ``capture`` attribute."""

    class Flat(tf.Module):
        def __init__(self):
            super().__init__(name="flat")
            self.capture = None
            self.w = tf.Variable(tf.ones((FEATURES, 2)), name="dense_0/kernel")

        def __call__(self, x, training=False):
            h = tf.matmul(x, self.w)
            if self.capture is not None:
                self.capture["dense_0"] = h
            out = tf.nn.softmax(h)
            if self.capture is not None:
                self.capture["dense_1"] = out
            return out

    model = Flat()
    cap = LayerCapture(model)

    @tf.function
    def forward(inp):
        cap.start()
        model(inp)
        return cap.stop()

    with cap:
        layers = forward(tf.constant(batch[0]))
    assert list(layers) == ["dense_0", "dense_1"] and model.capture is None
    x, y = batch
    result = localise([model], x, y % 2, "sparse_categorical_crossentropy", mode="function", reruns=2)
    assert result["forward"] is None and "all 2 layer outputs are bitwise stable" in result["note"]


def test_perturbed_last_layer_is_found_forward_and_backward(batch):
    x, y = batch
    ref = _built(_sequential, x, seed=0)
    cand = _built(_functional, x, seed=1)
    copy_weights(ref, cand)
    kernel = cand.get_layer("dense_2").kernel
    kernel.assign(kernel.numpy() * 1.01)
    result = localise([ref, cand], x, y, "sparse_categorical_crossentropy", mode="eager")
    assert result["against"] == "vs_pair"
    assert result["forward"]["layer"] == "dense_2"
    assert not result["forward"]["metrics"]["bitwise_equal"]
    assert result["forward"]["metrics"]["max_abs"] > 0
    assert {"MatMul", "BiasAdd", "Softmax"} <= set(result["forward"]["ops"])
    assert result["backward"]["variable"].startswith("dense_2/")
    assert "MatMul" in result["backward"]["ops"]


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_perturbed_middle_layer(mode, batch):
    """Forward finds the perturbed layer; backward (last layer first) finds the first gradient
    the difference reaches, the next layer's."""
    x, y = batch
    ref = _built(_sequential, x, seed=0)
    cand = _built(_subclass, x, seed=1)
    copy_weights(ref, cand)
    before = snapshot(cand)
    bias = cand.stack[1].bias
    bias.assign(bias.numpy() + 1e-3)
    perturbed = snapshot(cand)
    result = localise([ref, cand], x, y, "sparse_categorical_crossentropy", mode=mode, training=True)
    assert result["forward"]["layer"] == "dense_1"
    assert result["backward"]["variable"] == "dense_2/kernel"
    assert "dense_0 " not in result["note"]
    after = snapshot(cand)  # localise leaves the weights as it found them
    assert all(np.array_equal(after[k], perturbed[k]) for k in after)
    assert not np.array_equal(before["dense_1/bias"], after["dense_1/bias"])


def test_tolerance_hides_rounding_sized_differences(batch):
    x, y = batch
    ref = _built(_sequential, x, seed=0)
    cand = _built(_functional, x, seed=1)
    copy_weights(ref, cand)
    bias = cand.get_layer("dense_0").bias
    bias.assign(bias.numpy() + 1e-5)  # visible in float32, far below the tolerance
    strict = localise([ref, cand], x, y, "sparse_categorical_crossentropy")
    loose = localise(
        [ref, cand], x, y, "sparse_categorical_crossentropy", tolerance={"rtol": 1e-3, "atol": 1e-3}
    )
    assert strict["forward"]["layer"] == "dense_0"
    assert loose["forward"] is None and "first bitwise difference at dense_0" in loose["note"]


def test_identical_members_have_nothing_to_localise(batch):
    x, y = batch
    ref = _built(_sequential, x, seed=0)
    cand = _built(_subclass, x, seed=1)
    copy_weights(ref, cand)
    result = localise([ref, cand], x, y, "sparse_categorical_crossentropy", mode="function")
    assert result["forward"] is None and result["backward"] is None
    assert "all 3 layer outputs agree" in result["note"]


@pytest.fixture(scope="module")
def chaos_pair():
    from suite.zoo import base, get_pair, load_pairs_from, registered

    registered()  # built-ins first, so that restoring the registry afterwards keeps them
    before = dict(base._REGISTRY)
    load_pairs_from(str(CHAOS))
    yield get_pair("chaos")
    base._REGISTRY.clear()
    base._REGISTRY.update(before)


@pytest.mark.parametrize("mode", ["eager", "xla"])
def test_rerun_localises_the_chaos_layer(chaos_pair, mode):
    hp = chaos_pair.hparams("tiny")
    data = chaos_pair.inputs(hp, 0)
    keras.utils.set_random_seed(0)
    model = chaos_pair.build("subclass", "tiny")
    ensure_built(model, data.x)
    result = localise([model], data.x, data.y, chaos_pair.loss, mode=mode, reruns=3)
    assert result["against"] == "rerun"
    assert result["forward"]["layer"] == "chaos"
    assert result["forward"]["rerun"]["distinct"] > 1
    assert "Cumsum" in result["forward"]["ops"]
    assert result["backward"] is not None  # the varying output reaches the gradients


def test_xla_vs_eager_runs_and_reports_finite_numbers(batch):
    x, y = batch
    model = _built(_sequential, x)
    result = localise([model], x, y, "sparse_categorical_crossentropy", mode=("eager", "xla"))
    assert result["against"] == "vs_eager"
    for entry in (result["forward"], result["backward"]):
        if entry is not None:  # rounding differences, if any, are small and finite
            assert math.isfinite(entry["metrics"]["max_abs"]) and entry["metrics"]["max_abs"] < 1e-3
    assert "eager vs xla" in result["note"]


def test_bad_arguments(batch):
    x, y = batch
    model = _built(_sequential, x)
    with pytest.raises(ValueError, match="reruns >= 2"):
        localise([model], x, y, "mse", reruns=1)
    with pytest.raises(ValueError, match="unknown mode"):
        localise([model, model], x, y, "mse", mode="jit")
    with pytest.raises(ValueError, match="one or two models"):
        localise([], x, y, "mse")


def test_layer_ops_forward_and_backward(batch):
    layer = keras.layers.Dense(4, activation="relu", name="d")
    x = tf.constant(batch[0])
    layer(x)
    forward = layer_ops(layer, (x,), {})
    assert forward[:3] == ["MatMul", "BiasAdd", "Relu"]
    backward = layer_ops(layer, (x,), {}, backward=True)
    assert {"ReluGrad", "BiasAddGrad", "MatMul"} <= set(backward)
    assert "Relu" not in backward and "Sum" not in backward  # no forward or harness ops


# -- pairbench explain ---------------------------------------------------------------------


@pytest.fixture
def numerics_state():
    """Restore the process-global numerics that ``explain`` sets (policy, TF32)."""
    policy = keras.config.dtype_policy().name
    tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
    yield
    keras.config.set_dtype_policy(policy)
    tf.config.experimental.enable_tensor_float_32_execution(tf32)


def _chaos_run(tmp_path, verdict="nondeterministic", member="functional", mode="function"):
    from fake_runs import case, make_record, make_run, metrics, rerun

    c = case(pair="chaos", member=member, mode=mode, device="cpu")
    rec = make_record(c, verdict, divergence={"vs_pair": metrics(1e-6), "rerun": rerun(distinct=3)})
    return make_run(tmp_path, [rec], run_id="r1"), c.case_id


def test_explain_localises_a_nondeterministic_case(tmp_path, capsys, chaos_pair, numerics_state):
    import json

    from suite.cli import main

    _, case_id = _chaos_run(tmp_path)
    code = main(
        ["explain", "r1", case_id, "--results-dir", str(tmp_path), "--json", "--pairs-from", str(CHAOS)]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["case_id"] == case_id and out["localisation"]["against"] == "rerun"
    assert out["localisation"]["forward"]["layer"] == "chaos"
    code = main(
        [
            "explain",
            "r1",
            case_id,
            "--results-dir",
            str(tmp_path),
            "--against",
            "vs_pair",
            "--pairs-from",
            str(CHAOS),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "localisation against vs_pair" in printed and "chaos" in printed


def test_explain_rejects_unknown_cases_with_close_matches(tmp_path, capsys, chaos_pair):
    from suite.cli import main

    _, case_id = _chaos_run(tmp_path)
    code = main(["explain", "r1", case_id.replace("function", "functon"), "--results-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "close matches: " + case_id in err and len(err.strip().splitlines()) == 1
    code = main(["explain", "r1", case_id, "--results-dir", str(tmp_path), "--against", "vs_cpu"])
    assert code == 2 and "runs on the CPU" in capsys.readouterr().err


@pytest.mark.slow
def test_explain_honours_op_determinism(tmp_path):
    """A det-on case is rebuilt with op determinism on (in its own process): the unseeded op
    of the chaos pair then refuses to run, and explain says so in one line."""
    import os
    import subprocess
    import sys

    run, case_id = _chaos_run(tmp_path, member="fractional_pool", mode="eager")
    det_on = case_id.replace("det-off", "det-on")
    from fake_runs import case, make_record

    run.append(
        make_record(
            case(pair="chaos", member="fractional_pool", mode="eager", device="cpu", determinism="on")
        )
    )
    args = ["explain", "r1", det_on, "--results-dir", str(tmp_path), "--pairs-from", str(CHAOS)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-m", "suite", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("pairbench: error: ") and "op determinism: tf.nn.fractional_max_pool" in last
