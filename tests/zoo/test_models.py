"""Your own models (issue 12): structural matching, the audit, plain-model pairs, the Python API,
models without weights, randomness at inference. Real TensorFlow, CPU."""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import byom_models as bm
import tensorflow as tf

from suite.errors import AmbiguousAlignment, StructuralMismatch, UsageError
from suite.zoo.align import match_variables
from suite.zoo.audit import audit
from suite.zoo.loss import infer_loss
from suite.zoo.weights import bitwise_equal, copy_weights, ensure_built

pytestmark = pytest.mark.usefixtures("clean_registry")  # conftest: what a test registers is removed


def _inputs(shape, seed=0, ints=None):
    rng = np.random.default_rng(seed)
    if ints:
        return tf.constant(rng.integers(0, ints, size=shape, dtype=np.int32))
    return tf.constant(rng.standard_normal(shape, dtype=np.float32))


def _built(*models, x):
    for model in models:
        ensure_built(model, x)
    return models


# -- 1. matching without names -----------------------------------------------------------------


def test_seed_subclass_takes_the_sequentials_weights_by_structure():
    x = _inputs((8, bm.FEATURES))
    MyModel, _ = bm.seed_classes()
    ref, member = _built(bm.seed_sequential(), MyModel(), x=x)
    alignment = copy_weights(ref, member, x=x)
    assert alignment.method == "structure"
    ref_keys = [k for _, k in alignment.mapping()]
    member_keys = [k for k, _ in alignment.mapping()]
    first, second = ref.layers[0].name, ref.layers[1].name
    assert ref_keys == [f"{first}/kernel", f"{first}/bias", f"{second}/kernel", f"{second}/bias"]
    assert (
        member_keys[0] == f"{member.dense1.name}/kernel" and member_keys[2] == f"{member.dense2.name}/kernel"
    )
    assert bitwise_equal(member(x).numpy(), ref(x).numpy())
    assert audit(ref, member, x) == []


ARCHITECTURES = {
    "conv+batchnorm, nested blocks": (bm.conv_flat, bm.conv_nested, (4, 12, 12, 3), None),
    "lstm": (bm.lstm_sequential, bm.lstm_subclass, (4, 6, 4), None),
    "embedding": (bm.embedding_functional, bm.embedding_subclass, (4, 7), 50),
    "attention+layernorm+dropout": (bm.attention_functional, bm.attention_subclass, (2, 5, 8), None),
    "shared layer": (bm.shared_functional, bm.shared_subclass, (4, bm.FEATURES), None),
    "add_weight layers in a block": (bm.dense_stack, bm.add_weight_block, (4, bm.FEATURES), None),
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_unnamed_members_pair_by_structure(name):
    """Flat vs nested, Functional vs subclass: same outputs after the copy, inference and training."""
    make_ref, make_member, shape, ints = ARCHITECTURES[name]
    x = _inputs(shape, ints=ints)
    ref, member = _built(make_ref(), make_member(), x=x)
    alignment = copy_weights(ref, member, x=x)
    assert alignment.method == "structure"
    assert len(alignment.pairs) == len(ref.variables)
    assert bitwise_equal(member(x, training=False).numpy(), ref(x, training=False).numpy())
    assert bitwise_equal(member(x, training=True).numpy(), ref(x, training=True).numpy())  # dropout, BN
    assert audit(ref, member, x) == []


def test_layers_created_in_another_order_than_called_pair_by_call_order():
    """Generated names follow creation order; weights must follow the forward pass."""
    import keras

    from suite.zoo.prepare import fresh_names

    class Reordered(keras.Model):
        def __init__(self):
            super().__init__()
            self.head = keras.layers.Dense(10, activation="softmax")  # created first: "dense"
            self.hidden = keras.layers.Dense(64, activation="relu")  # "dense_1"

        def call(self, x):
            return self.head(self.hidden(x))

    x = _inputs((8, bm.FEATURES))
    with fresh_names():  # as in a case: each member numbers its layers from "dense"
        ref = bm.seed_sequential()
    with fresh_names():
        member = Reordered()
    _built(ref, member, x=x)
    assert {v.path.split("/")[-2] for v in ref.variables} == {v.path.split("/")[-2] for v in member.variables}
    alignment = copy_weights(ref, member, x=x)
    assert alignment.method == "structure"
    assert ("dense_1/kernel", "dense/kernel") in alignment.renamed()
    assert bitwise_equal(member(x).numpy(), ref(x).numpy())


def test_a_member_tf_function_cannot_trace_is_ordered_by_an_eager_call():
    import keras

    class EagerOnly(keras.Model):
        def __init__(self):
            super().__init__()
            self.head = keras.layers.Dense(10, activation="softmax")  # created before it is used
            self.hidden = keras.layers.Dense(64, activation="relu")

        def call(self, x):
            h = self.hidden(x)
            if float(tf.reduce_max(h).numpy()) < 0:  # .numpy(): no graph can be traced
                h = -h
            return self.head(h)

    x = _inputs((8, bm.FEATURES))
    ref, member = _built(bm.seed_sequential(), EagerOnly(), x=x)
    alignment = copy_weights(ref, member, x=x)
    assert alignment.method == "structure" and alignment.member.source == "eager"
    assert alignment.pairs[0][0].var is member.hidden.kernel
    assert bitwise_equal(member(x).numpy(), ref(x).numpy())


def test_names_that_disagree_with_forward_order_stop_with_the_variables_named():
    import keras

    x = _inputs((4, 8))
    ref = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(8, name="first"), keras.layers.Dense(8, name="second")]
    )

    class Swapped(keras.Model):
        def __init__(self):
            super().__init__()
            self.a = keras.layers.Dense(8, name="third")
            self.b = keras.layers.Dense(8, name="second")

        def call(self, x):
            return self.a(self.b(x))  # "second" runs first

    member = Swapped()
    _built(ref, member, x=x)
    with pytest.raises(AmbiguousAlignment) as info:
        match_variables(ref, member, x)
    assert "second/kernel" in str(info.value) and "first/kernel" in str(info.value)


def test_unused_variables_of_one_shape_are_ambiguous():
    import keras

    class Spare(keras.Model):
        def __init__(self, names):
            super().__init__()
            self.out = keras.layers.Dense(2)
            self.spare = [self.add_weight(shape=(3,), name=n) for n in names]

        def call(self, x):
            return self.out(x)

    x = _inputs((4, 5))
    ref, member = _built(Spare(["p", "q"]), Spare(["r", "s"]), x=x)
    with pytest.raises(AmbiguousAlignment) as info:
        match_variables(ref, member, x)
    assert "never used in the forward pass" in str(info.value) and "(3,)" in str(info.value)


def test_float64_reference_pairs_with_its_own_donor_without_names(dtype_policy):
    from suite.zoo.models import models_pair
    from suite.zoo.prepare import as_inputs, build_members

    pair = models_pair({"seq": bm.seed_sequential}, x=_inputs((6, bm.FEATURES)).numpy())()
    batch = pair.inputs(pair.hparams("default"), 0)
    float32 = build_members(pair, "seq", "default", batch, as_inputs(batch.x, "float32"), 0)
    dtype_policy("float64")
    float64 = build_members(pair, "seq", "default", batch, as_inputs(batch.x, "float64"), 0, float64=True)
    for narrow, wide in zip(float32.reference.variables, float64.reference.variables, strict=True):
        assert wide.dtype == "float64"
        assert np.array_equal(wide.numpy(), narrow.numpy().astype(np.float64))


@pytest.fixture
def dtype_policy():
    import keras

    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy("float32")


# -- 2. an audit that names real causes --------------------------------------------------------


def test_broken_subclass_audit_names_untracked_variables_biases_and_activations():
    x = _inputs((8, bm.FEATURES))
    _, BrokenModel = bm.seed_classes()
    ref, broken = _built(bm.seed_sequential(), BrokenModel(), x=x)
    messages = audit(ref, broken, x)
    first, second = ref.layers[0].name, ref.layers[1].name
    for expected in (
        f"w1 ({bm.FEATURES}, 64) is a tf.Variable that Keras does not track: not trained, saved or counted",
        "w2 (64, 10) is a tf.Variable that Keras does not track",
        f"no bias after w1 (the reference adds {first}/bias (64,))",
        f"no bias after w2 (the reference adds {second}/bias (10,))",
        f"activation None vs relu after w1 (ops MatMul vs MatMul -> BiasAdd -> Relu in the reference's "
        f"{first})",
        "activation None vs softmax after w2",
        "trainable params 0 vs 1354",
    ):
        assert any(m.startswith(expected) for m in messages), (expected, messages)
    with pytest.raises(StructuralMismatch):
        copy_weights(ref, broken, x=x)


def test_raw_module_activations_are_read_from_its_graph():
    x = _inputs((4, bm.FEATURES))
    ref, raw = _built(bm.two_layer_stack(), bm.raw_module(), x=x)
    assert audit(ref, raw, x) == []  # unnamed raw variables, matched by structure, same ops
    copy_weights(ref, raw, x=x)
    assert bitwise_equal(raw(x).numpy(), ref(x).numpy())
    ref.layers[0].activation = tf.nn.sigmoid
    messages = audit(ref, raw, x)
    assert any(m.startswith("activation relu vs sigmoid after b (ops BiasAdd -> Relu vs") for m in messages)


def test_extra_layer_and_initialisers_are_named_when_weights_cannot_be_copied():
    import keras

    x = _inputs((4, bm.FEATURES))
    ref = keras.Sequential([keras.Input((bm.FEATURES,)), keras.layers.Dense(16), keras.layers.Dense(2)])
    member = keras.Sequential(
        [
            keras.Input((bm.FEATURES,)),
            keras.layers.Dense(16, kernel_initializer="he_normal"),
            keras.layers.Dense(16),
            keras.layers.Dense(2),
        ]
    )
    _built(ref, member, x=x)
    messages = audit(ref, member, x)
    assert any(m.startswith("extra layer") and "kernel (16, 16)" in m for m in messages), messages
    assert any(m.startswith("kernel initializer HeNormal vs GlorotUniform") for m in messages), messages


# -- 3. little or no boilerplate ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("y", "pred", "expected"),
    [
        (None, np.zeros((4, 3)), ("mean_squared_error", False)),
        (np.array([0, 2, 1, 0]), np.full((4, 3), 1 / 3), ("sparse_categorical_crossentropy", False)),
        (np.array([0, 2, 1, 0]), np.array([[2.0, -1.0, 0.5]] * 4), ("sparse_categorical_crossentropy", True)),
        (
            np.eye(3, dtype=np.float32)[[0, 2, 1, 0]],
            np.full((4, 3), 1 / 3),
            ("categorical_crossentropy", False),
        ),
        (np.array([[1], [0], [1], [0]]), np.full((4, 1), 0.5), ("binary_crossentropy", False)),
        (np.ones((4, 3), np.float32) * 0.3, np.zeros((4, 3)), ("mean_squared_error", False)),
    ],
)
def test_loss_is_inferred_from_the_labels(y, pred, expected):
    assert infer_loss(y, pred)[:2] == expected


def test_a_file_of_plain_models_registers_one_pair_and_loads_deterministically(tmp_path):
    from suite.zoo import load_pairs_from, registered

    path = tmp_path / "mine.py"
    path.write_text(
        textwrap.dedent(
            """
            import numpy as np
            import tensorflow as tf
            from suite.zoo import register_models

            model = tf.keras.Sequential([tf.keras.layers.Dense(3, input_shape=(4,))])
            x = np.random.rand(6, 4).astype("float32")
            register_models({"seq": model})
            """
        )
    )
    assert load_pairs_from(str(path)) == ["mine"]
    pair = registered()["mine"]()
    first = pair.inputs(pair.hparams("default"), 0)
    assert pair.members() == ("seq",) and pair.hparams("default") == {"batch": 32}
    assert pair.size_for("tiny") == pair.size_for("large") == "default"
    load_pairs_from(str(path))
    again = registered()["mine"]()
    assert bitwise_equal(first.x, again.inputs(again.hparams("default"), 0).x)  # seeded generated inputs
    module_x = [m for n, m in __import__("sys").modules.items() if n.startswith("pairbench_user_pairs_mine")]
    assert module_x and np.array_equal(module_x[0].x, np.random.RandomState(0).rand(6, 4).astype("float32"))


@pytest.mark.parametrize(
    ("members", "options", "message"),
    [
        ({"a": 3}, {"x": np.zeros((2, 2), np.float32)}, "member 'a' is a int"),
        ({"a": dict}, {"x": np.zeros((2, 2), np.float32)}, "is not a keras.Model"),
        ({"a b": bm.dense_stack}, {"x": np.zeros((2, 2), np.float32)}, "must be letters"),
        ({"a": bm.lstm_subclass}, {}, "declares no input shape"),
        ({"a": bm.dense_stack}, {"x": np.zeros((2, 2), np.float32), "reference": "b"}, "not a member"),
    ],
)
def test_bad_members_are_one_line_usage_errors(members, options, message):
    from suite.zoo.models import models_pair

    with pytest.raises(UsageError) as info:
        models_pair(members, **options)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_single_member_pair_of_any_size_expands_to_its_one_size():
    from suite.run.matrix import Selection, expand
    from suite.zoo import Batch, Pair, register_pair

    @register_pair
    class Solo(Pair):
        name = "solo_test"
        sizes = {"tiny": {"batch": 2}}

        def inputs(self, hp, seed):
            return Batch(np.zeros((2, 3), np.float32), None)

        def sequential(self, hp):
            import keras

            return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])

    cases = expand(Selection(pairs=("solo_test",), sizes=("tiny", "default", "large"), devices=("cpu",)), 0)
    assert {c.size for c in cases} == {"tiny"} and {c.member for c in cases} == {"sequential"}
    assert len(cases) == 3 * 3  # workloads x modes, once


def test_check_models_and_the_assertion_helper():
    import suite
    from suite.testing import assert_models_match

    x = _inputs((16, bm.FEATURES)).numpy()
    y = np.random.default_rng(1).integers(0, 10, 16)
    MyModel, BrokenModel = bm.seed_classes()
    frame = suite.check_models(bm.seed_sequential(), MyModel, x, y, workloads=("predict",), repeats=2)
    verdicts = {(r.member, r.mode, r.precision): r.verdict for r in frame.itertuples()}
    assert verdicts[("MyModel", "eager", "float32")] == "identical"
    assert verdicts[("MyModel", "function", "float32")] == "identical"
    assert verdicts[("MyModel", "xla", "float32")] in ("identical", "close")
    assert ("sequential", "eager", "float64") in verdicts  # the float64 reference ran (an instance, cloned)
    row = frame[(frame.member == "MyModel") & (frame["mode"] == "eager")].iloc[0]
    assert row["extra.weight_match"] == "structure" and len(row["extra.weight_map"]) == 4
    assert os.path.isdir(frame.attrs["run_dir"])
    with pytest.raises(AssertionError) as info:
        assert_models_match(bm.seed_sequential, BrokenModel, x, y, modes=("eager",), workloads=("predict",))
    assert "structural-mismatch" in str(info.value) and "does not track" in str(info.value)


# -- 4. models without weights -----------------------------------------------------------------


def test_model_without_weights_predicts_and_training_is_unsupported():
    import keras

    import suite

    def no_weights():
        return keras.Sequential([keras.Input((4,)), keras.layers.Activation("tanh")])

    frame = suite.check_models(
        no_weights, x=_inputs((3, 4)).numpy(), modes=("eager",), workloads=("predict", "train_step", "fit")
    )
    rows = {(r.workload, r.precision): r for r in frame.itertuples()}
    assert rows[("predict", "float32")].verdict == "identical"
    for workload in ("train_step", "fit"):
        assert rows[(workload, "float32")].verdict == "unsupported"
        assert rows[(workload, "float32")].reason == "no trainable variables"


# -- 5. randomness at inference ----------------------------------------------------------------


def _random_at_inference(kind):
    import keras

    class Noisy(keras.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.dropout = keras.layers.Dropout(0.5, seed=1)
            self.generator = tf.random.Generator.from_seed(7) if kind == "generator" else None

        def call(self, x):
            if kind == "stateful":
                return x + tf.random.normal(tf.shape(x))  # the global seed decides its draws
            if kind == "generator":
                return x + self.generator.normal(tf.shape(x))  # its own state, which nothing restores
            return self.dropout(x, training=True)  # Keras seed state: restored with the weights

    return lambda: keras.Sequential([keras.Input((6,)), keras.layers.Dense(6), Noisy(name="my_dropout")])


def _check_random(kind):
    import suite

    x = _inputs((4, 6)).numpy()
    frame = suite.check_models(
        _random_at_inference(kind), x=x, modes=("eager", "function"), workloads=("predict",), localise=False
    )
    return {row["mode"]: row for _, row in frame[frame.precision == "float32"].iterrows()}


def test_random_layer_at_inference_is_named_and_every_repeat_starts_from_one_state():
    rows = _check_random("keras")
    for row in rows.values():
        assert row["verdict"] == "identical", (row["case_id"], row["reason"])  # same draws in both modes
        assert row["divergence.rerun.distinct"] == 1 and row["divergence.rerun.runs"] == 3
        assert "layer my_dropout/dropout draws random numbers at inference" in row["notes"]
        assert "rng-at-inference" in row["flags"]
    rows = _check_random("stateful")
    assert rows["function"]["divergence.rerun.distinct"] == 1  # reseeded before every repeat
    assert rows["function"]["verdict"] == "diverged"  # other draws than eager: said, with the cause
    assert "layer my_dropout draws random numbers at inference" in rows["function"]["notes"]


def test_random_state_nothing_restores_is_incomparable_not_nondeterministic():
    rows = _check_random("generator")
    for row in rows.values():
        assert row["divergence.rerun.distinct"] > 1
        assert row["verdict"] == "incomparable", row["reason"]
        assert row["reason"].startswith("reruns differ because layer my_dropout draws random numbers")
        assert "not a nondeterministic kernel" in row["reason"]
