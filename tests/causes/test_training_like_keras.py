"""``train_step`` trains the way Keras' ``fit`` trains: regularizers and ``add_loss`` terms included.

pairbench's own training step used to minimise the main loss alone, so a regularizer present
in one member only was invisible. Now it adds ``model.losses`` as
``keras.Model.compute_loss`` does, records the terms (``extra["loss_terms"]``), and agrees
with ``fit`` on a regularized model with an ``add_loss`` term.
"""

from __future__ import annotations

import numpy as np
import pytest
from cause_checks import quick_check


def _model():
    import keras
    import tensorflow as tf

    class Penalised(keras.layers.Layer):
        def call(self, x):
            self.add_loss(0.01 * tf.reduce_sum(tf.square(x)))
            return x

    keras.utils.set_random_seed(3)
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.L2(0.05)),
            Penalised(),
            keras.layers.Dense(2, activity_regularizer=keras.regularizers.L1(0.01)),
        ]
    )


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    return rng.standard_normal((16, 5)).astype(np.float32), rng.standard_normal((16, 2)).astype(np.float32)


def _step(model, x, y, *, with_terms: bool):
    import keras
    import tensorflow as tf

    from suite.zoo.loss import total_loss

    optimizer = keras.optimizers.SGD(0.1)
    with tf.GradientTape() as tape:
        main = tf.reduce_mean(keras.losses.get("mean_squared_error")(y, model(x, training=True)))
        loss, n = total_loss(model, main) if with_terms else (main, 0)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    return n


def test_train_step_and_fit_agree_on_a_regularized_model_with_add_loss(data):
    import keras

    x, y = data
    fitted, stepped, bare = _model(), _model(), _model()
    for m in (stepped, bare):
        m.set_weights(fitted.get_weights())
    fitted.compile(optimizer=keras.optimizers.SGD(0.1), loss="mean_squared_error", jit_compile=False)
    fitted.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert _step(stepped, x, y, with_terms=True) == 3  # kernel L2, add_loss, activity L1
    _step(bare, x, y, with_terms=False)
    for a, b in zip(fitted.get_weights(), stepped.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)  # trains as fit trains
    assert any(
        not np.allclose(a, c, rtol=1e-4)
        for a, c in zip(fitted.get_weights(), bare.get_weights(), strict=True)
    )


def test_the_record_says_which_loss_terms_the_step_used(data):
    x, y = data
    frame = quick_check(_model, x=x, y=y, workloads=("train_step",), modes=("eager",), name="loss_terms")
    (terms,) = frame["extra.loss_terms"]
    assert terms[0].startswith("mean_squared_error")
    assert terms[1] == "L2(l2=0.05) on dense/kernel"
    assert terms[2] == "activity L1(l1=0.01) of dense_1"
    assert terms[3] == "1 add_loss term"
