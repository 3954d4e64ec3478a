"""The built-in pairs, weight copy and structural audit (CPU, tiny sizes)."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pairtest import run_pair_test  # tests/helpers (conftest puts it on sys.path)

from suite.cli import main
from suite.errors import StructuralMismatch
from suite.zoo import get_pair, registered
from suite.zoo.audit import audit
from suite.zoo.weights import (
    bitwise_equal,
    copy_weights,
    ensure_built,
    parameter_counts,
    restore,
    snapshot,
    variables_by_path,
)

BUILTIN = ("cnn", "embedding", "lstm", "mlp", "mlp_seed", "transformer")


def _built(pair_name: str, member: str, size: str = "tiny", **hp_changes):
    pair = get_pair(pair_name)
    hp = {**pair.hparams(size), **hp_changes}
    model = getattr(pair, member)(hp)
    ensure_built(model, pair.inputs(hp, 0).x)
    return model


@pytest.fixture
def dtype_policy():
    """Set the global Keras dtype policy for one test and restore float32 afterwards."""
    import keras

    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy("float32")


def test_builtin_pairs_are_registered():
    reg = registered()
    assert set(BUILTIN) <= set(reg)
    for name in BUILTIN:
        pair = get_pair(name)
        assert "faulty" in pair.members(), name
        assert len([m for m in pair.members() if m not in pair.controls]) >= 2, name
        assert pair.members()[0] == pair.reference


@pytest.mark.parametrize("name", BUILTIN)
def test_pair_contract(name):
    result = run_pair_test(name, "tiny")
    assert result.control_differences["faulty"]


#: what each built-in control leaves out, derived from its hyper-parameters
EXPECTED_FAULTY = {
    "mlp_seed": lambda hp: [f"no bias in dense_0 ({hp['hidden']},)", "activation None vs relu in dense_0"],
    "mlp": lambda hp: [
        f"missing variable dense_2/kernel ({hp['width']}, {hp['width']})",
        "missing layer dense_2",
    ],
    "cnn": lambda hp: [f"missing variable bn_{len(hp['filters']) - 1}/moving_mean ({hp['filters'][-1]},)"],
    "lstm": lambda hp: [
        f"no bias in lstm_0/lstm_cell ({4 * hp['units']},)",
        "activation None vs softmax in head",
    ],
    "transformer": lambda hp: [
        f"missing variable ln_ffn_{hp['blocks'] - 1}/gamma ({hp['d_model']},)",
        "activation None vs relu in ffn_in_0",
    ],
    "embedding": lambda hp: [f"no bias in dense_0 ({hp['hidden']},)", "activation None vs softmax in head"],
}


@pytest.mark.parametrize("name", BUILTIN)
def test_faulty_control_is_named(name):
    pair = get_pair(name)
    hp = pair.hparams("tiny")
    ref, faulty = _built(name, pair.reference), _built(name, "faulty")
    messages = audit(ref, faulty)
    for expected in EXPECTED_FAULTY[name](hp):
        assert any(m.startswith(expected) for m in messages), (expected, messages)
    with pytest.raises(StructuralMismatch) as info:
        copy_weights(ref, faulty)
    assert info.value.differences and str(info.value)


@pytest.mark.parametrize("policy", ["float64", "mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", BUILTIN)
def test_pair_contract_under_dtype_policy(name, policy, dtype_policy):
    dtype_policy(policy)
    run_pair_test(name, "tiny", train_steps=1)
    pair = get_pair(name)
    variables = variables_by_path(_built(name, pair.reference))
    float_dtypes = {str(v.dtype) for k, v in variables.items() if "seed_generator" not in k}
    assert float_dtypes == {"float64" if policy == "float64" else "float32"}


@pytest.mark.parametrize("name", BUILTIN)
def test_keras_members_fit_to_identical_weights(name):
    run_pair_test(name, "tiny", train_steps=1, fit=True)


def test_variable_keys_ignore_model_names_and_flavors():
    keys = {
        m: list(variables_by_path(_built("cnn", m))) for m in ("sequential", "functional", "subclass", "raw")
    }
    assert set(keys["sequential"]) == {
        "conv_0/kernel",
        "bn_0/gamma",
        "bn_0/beta",
        "bn_0/moving_mean",
        "bn_0/moving_variance",
        "conv_1/kernel",
        "bn_1/gamma",
        "bn_1/beta",
        "bn_1/moving_mean",
        "bn_1/moving_variance",
        "head/kernel",
        "head/bias",
    }
    for member, found in keys.items():
        assert set(found) == set(keys["sequential"]), member


def test_seed_generator_state_is_keyed_by_layer():
    keys = [k for k in variables_by_path(_built("transformer", "subclass")) if "seed_generator" in k]
    assert keys == ["drop_attn_0/seed_generator_state", "drop_ffn_0/seed_generator_state"]


def test_ensure_built_creates_subclass_weights():
    import keras

    pair = get_pair("mlp_seed")
    model = pair.build("subclass", "tiny")
    assert not model.variables
    with warnings.catch_warnings():  # Keras warns that build() left state unbuilt: the point here
        warnings.simplefilter("ignore")
        model.build((None, pair.hparams("tiny")["features"]))
    assert not variables_by_path(model)  # build() alone creates no sublayer weights
    ensure_built(model, pair.inputs(pair.hparams("tiny"), 0).x)
    assert isinstance(model, keras.Model) and len(variables_by_path(model)) == 4


def test_copy_weights_reports_shape_difference():
    narrow = _built("mlp", "sequential", width=32)
    wide = _built("mlp", "sequential")
    with pytest.raises(StructuralMismatch) as info:
        copy_weights(wide, narrow)
    assert "shape of dense_0/kernel (32, 32) vs (32, 64)" in info.value.differences


def test_copy_weights_casts_only_when_allowed(dtype_policy):
    src = _built("mlp_seed", "sequential")
    dtype_policy("float64")
    dst = _built("mlp_seed", "raw")
    with pytest.raises(StructuralMismatch) as info:
        copy_weights(src, dst)
    assert "dtype of dense_0/kernel float64 vs float32" in info.value.differences
    copy_weights(src, dst, allow_cast=True)
    for key, var in variables_by_path(dst).items():
        source = variables_by_path(src)[key].numpy()
        assert var.numpy().dtype == np.float64 and np.array_equal(var.numpy(), source.astype(np.float64))


def test_bitwise_equal_sees_signed_zero_and_nan():
    assert not bitwise_equal(np.float32([0.0]), np.float32([-0.0]))
    assert bitwise_equal(np.float32([np.nan]), np.float32([np.nan]))
    assert not bitwise_equal(np.float32([1.0]), np.float64([1.0]))


def test_audit_names_extra_variables_and_raw_activations():
    ref, faulty = _built("mlp", "sequential"), _built("mlp", "faulty")
    messages = audit(faulty, ref)  # the other way round: the member has more
    assert "extra variable dense_2/kernel (64, 64)" in messages
    raw = _built("mlp", "raw")
    assert audit(ref, raw) == []
    raw.layer_activations["dense_0"] = None
    assert audit(ref, raw) == ["activation None vs relu in dense_0"]


def test_batchnorm_statistics_update_identically_in_raw_and_keras():
    ref, raw = _built("cnn", "sequential"), _built("cnn", "raw")
    copy_weights(ref, raw)
    initial = snapshot(ref)
    x = get_pair("cnn").inputs(get_pair("cnn").hparams("tiny"), 3).x
    for model in (ref, raw):
        model(x, training=True)
    after_ref, after_raw = snapshot(ref), snapshot(raw)
    assert not bitwise_equal(after_ref["bn_0/moving_mean"], initial["bn_0/moving_mean"])
    for key in ("bn_0/moving_mean", "bn_0/moving_variance", "bn_1/moving_variance"):
        assert bitwise_equal(after_raw[key], after_ref[key]), key
    assert bitwise_equal(after_ref["conv_0/kernel"], initial["conv_0/kernel"])


def test_dropout_masks_are_seeded_and_replayable():
    pair = get_pair("transformer")
    x = pair.inputs(pair.hparams("tiny"), 0).x
    model = _built("transformer", "functional")
    initial = snapshot(model)
    first = model(x, training=True).numpy()
    second = model(x, training=True).numpy()
    restore(model, initial)
    replay = model(x, training=True).numpy()
    inference = model(x, training=False).numpy()
    assert bitwise_equal(first, replay)
    assert not bitwise_equal(first, second)  # the seed state advanced between calls
    assert not bitwise_equal(first, inference)


def test_list_json_counts_match_real_builds(capsys):
    assert main(["list", "--json", "--sizes", "tiny,default"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)["pairs"]}
    assert set(BUILTIN) <= set(entries)
    for name in BUILTIN:
        pair, entry = get_pair(name), entries[name]
        assert entry["members"][0] == entry["reference"] == pair.reference
        assert entry["controls"] == ["faulty"]
        assert set(entry["sizes"]) == {"tiny", "default"}
        for size in ("tiny", "default"):
            assert entry["sizes"][size]["batch"] == pair.hparams(size)["batch"]
            real = parameter_counts(_built(name, pair.reference, size))
            assert entry["sizes"][size]["params"] == real, (name, size)


def test_list_table_marks_reference_and_controls(capsys):
    assert main(["list", "--pairs", "mlp_seed,lstm", "--sizes", "tiny", "--no-params"]) == 0
    out = capsys.readouterr().out
    assert "mlp_seed" in out and "lstm" in out and "cnn" not in out
    assert "sequential (ref)" in out and "faulty (control)" in out and "generic" in out


def test_list_rejects_unknown_size(capsys):
    assert main(["list", "--sizes", "huge", "--no-params"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "huge" in err
