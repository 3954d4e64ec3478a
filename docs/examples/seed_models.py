# The classic question: "my Sequential and my subclassed model give different numbers: why?"
# Everything above the adapter is pasted as it was posted; pairbench needs only the last lines.
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.layers.Dense(64, activation='relu', input_shape=(10,)),
    tf.keras.layers.Dense(10, activation='softmax')
])


class MyModel(tf.keras.Model):
    def __init__(self):
        super(MyModel, self).__init__()
        self.dense1 = tf.keras.layers.Dense(64, activation='relu')
        self.dense2 = tf.keras.layers.Dense(10, activation='softmax')

    def call(self, inputs):
        x = self.dense1(inputs)
        return self.dense2(x)


class BrokenModel(tf.keras.Model):
    def __init__(self):
        super(BrokenModel, self).__init__()
        self.w1 = tf.Variable(tf.random.normal([10, 64]))
        self.w2 = tf.Variable(tf.random.normal([64, 10]))

    def call(self, x):
        x = tf.matmul(x, self.w1)
        return tf.matmul(x, self.w2)


# --- pairbench adapter (pairbench run --pairs-from docs/examples/seed_models.py) ---
import numpy as np

from suite.zoo import register_models

rng = np.random.default_rng(0)
x = rng.standard_normal((256, 10), dtype=np.float32)
y = rng.integers(0, 10, size=256)
register_models({"sequential": model, "subclass": MyModel, "broken": BrokenModel}, x=x, y=y)
