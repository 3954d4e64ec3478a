"""Models written the way users write them (auto-numbered layers, nested blocks, raw variables).

Shared by ``tests/zoo/test_models.py``: none of these names a layer, so every pair among them is
matched by structure. Each builder returns a fresh model; ``FEATURES``-wide float inputs
unless said otherwise.
"""

from __future__ import annotations

from typing import Any

FEATURES = 10


def seed_sequential() -> Any:
    """The classic textbook model, as posted everywhere."""
    import tensorflow as tf

    return tf.keras.Sequential(
        [
            tf.keras.layers.Dense(64, activation="relu", input_shape=(FEATURES,)),
            tf.keras.layers.Dense(10, activation="softmax"),
        ]
    )


def seed_classes() -> tuple[type, type]:
    """``(MyModel, BrokenModel)``: the correct subclass and the one with raw variables."""
    import tensorflow as tf

    class MyModel(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.dense1 = tf.keras.layers.Dense(64, activation="relu")
            self.dense2 = tf.keras.layers.Dense(10, activation="softmax")

        def call(self, inputs):
            return self.dense2(self.dense1(inputs))

    class BrokenModel(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.w1 = tf.Variable(tf.random.normal([FEATURES, 64]))
            self.w2 = tf.Variable(tf.random.normal([64, 10]))

        def call(self, x):
            return tf.matmul(tf.matmul(x, self.w1), self.w2)

    return MyModel, BrokenModel


def conv_flat() -> Any:
    """Conv -> BatchNorm -> ReLU -> pool, twice, then a softmax head (flat Sequential)."""
    import keras

    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            L.Conv2D(8, 3, padding="same", use_bias=False),
            L.BatchNormalization(),
            L.ReLU(),
            L.MaxPooling2D(),
            L.Conv2D(16, 3, padding="same", use_bias=False),
            L.BatchNormalization(),
            L.ReLU(),
            L.GlobalAveragePooling2D(),
            L.Dense(5, activation="softmax"),
        ]
    )


def conv_nested() -> Any:
    """The same network as a subclass holding each block in a nested ``Sequential``."""
    import keras

    L = keras.layers

    def block(filters: int, pool: Any) -> Any:
        return keras.Sequential(
            [L.Conv2D(filters, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(), pool]
        )

    class ConvNet(keras.Model):
        def __init__(self):
            super().__init__()
            self.block1 = block(8, L.MaxPooling2D())
            self.block2 = block(16, L.GlobalAveragePooling2D())
            self.head = L.Dense(5, activation="softmax")

        def call(self, x, training=False):
            return self.head(self.block2(self.block1(x, training=training), training=training))

    return ConvNet()


def lstm_sequential() -> Any:
    import keras

    return keras.Sequential([keras.Input((6, 4)), keras.layers.LSTM(8), keras.layers.Dense(3)])


def lstm_subclass() -> Any:
    import keras

    class Recurrent(keras.Model):
        def __init__(self):
            super().__init__()
            self.rnn = keras.layers.LSTM(8)
            self.out = keras.layers.Dense(3)

        def call(self, x):
            return self.out(self.rnn(x))

    return Recurrent()


def embedding_functional() -> Any:
    import keras

    ids = keras.Input((7,), dtype="int32")
    h = keras.layers.Embedding(50, 6)(ids)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(ids, keras.layers.Dense(4, activation="softmax")(h))


def embedding_subclass() -> Any:
    import keras

    class Bag(keras.Model):
        def __init__(self):
            super().__init__()
            self.table = keras.layers.Embedding(50, 6)
            self.pool = keras.layers.GlobalAveragePooling1D()
            self.out = keras.layers.Dense(4, activation="softmax")

        def call(self, ids):
            return self.out(self.pool(self.table(ids)))

    return Bag()


def attention_functional() -> Any:
    """Self-attention, seeded dropout, residual, LayerNorm, feed-forward (Functional)."""
    import keras

    L = keras.layers
    x = keras.Input((5, 8))
    a = L.Dropout(0.2, seed=3)(L.MultiHeadAttention(2, 4)(x, x))
    h = L.LayerNormalization()(L.Add()([x, a]))
    f = L.Dense(8)(L.Dense(16, activation="gelu")(h))
    h = L.LayerNormalization()(h + L.Dropout(0.2, seed=4)(f))
    return keras.Model(x, L.Dense(3)(L.GlobalAveragePooling1D()(h)))


def attention_subclass() -> Any:
    import keras

    L = keras.layers

    class Encoder(keras.Model):
        def __init__(self):
            super().__init__()
            self.attn = L.MultiHeadAttention(2, 4)
            self.drop1 = L.Dropout(0.2, seed=3)
            self.norm1 = L.LayerNormalization()
            self.ff_in = L.Dense(16, activation="gelu")
            self.ff_out = L.Dense(8)
            self.drop2 = L.Dropout(0.2, seed=4)
            self.norm2 = L.LayerNormalization()
            self.pool = L.GlobalAveragePooling1D()
            self.out = L.Dense(3)

        def call(self, x, training=False):
            h = self.norm1(x + self.drop1(self.attn(x, x), training=training))
            f = self.drop2(self.ff_out(self.ff_in(h)), training=training)
            return self.out(self.pool(self.norm2(h + f)))

    return Encoder()


def shared_functional() -> Any:
    """One Dense applied twice (shared weights)."""
    import keras

    x = keras.Input((FEATURES,))
    shared = keras.layers.Dense(FEATURES, activation="tanh")
    return keras.Model(x, keras.layers.Dense(2)(shared(shared(x))))


def shared_subclass() -> Any:
    import keras

    class Twice(keras.Model):
        def __init__(self):
            super().__init__()
            self.step = keras.layers.Dense(FEATURES, activation="tanh")
            self.out = keras.layers.Dense(2)

        def call(self, x):
            return self.out(self.step(self.step(x)))

    return Twice()


def add_weight_block() -> Any:
    """A Keras-guide style block: ``Linear`` layers made with ``add_weight`` and ``ops.relu``."""
    import keras
    from keras import ops

    class Linear(keras.layers.Layer):
        def __init__(self, units):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    class Block(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.first = Linear(32)
            self.second = Linear(32)
            self.last = Linear(1)

        def call(self, inputs):
            return self.last(ops.relu(self.second(ops.relu(self.first(inputs)))))

    class Regressor(keras.Model):
        def __init__(self):
            super().__init__()
            self.block = Block()

        def call(self, x):
            return self.block(x)

    return Regressor()


def dense_stack() -> Any:
    """The same computation as :func:`add_weight_block` with plain Dense layers."""
    import keras

    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1),
        ]
    )


def raw_module() -> Any:
    """Raw ``tf.Module`` code with unnamed variables and no ``training`` argument."""
    import tensorflow as tf

    class Raw(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.random.normal([FEATURES, 32]))
            self.b = tf.Variable(tf.zeros([32]))
            self.w_out = tf.Variable(tf.random.normal([32, 1]))
            self.b_out = tf.Variable(tf.zeros([1]))

        def __call__(self, x):
            h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, self.w), self.b))
            return tf.nn.bias_add(tf.matmul(h, self.w_out), self.b_out)

    return Raw()


def two_layer_stack() -> Any:
    """Dense(32, relu) -> Dense(1): what :func:`raw_module` computes."""
    import keras

    return keras.Sequential(
        [keras.Input((FEATURES,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    )
