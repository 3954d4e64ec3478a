# Two networks written the ways the Keras guides and the tf-keras model-components benchmark
# write them: every layer unnamed, one network three times (Functional, Sequential, subclass).
# Nothing is renamed; pairbench matches the variables by structure.
import keras
import numpy as np
from keras import layers


# --- a benchmark-style stack: a subclass with an initializer argument, a Functional builder
# --- and a Sequential built with .add() and input_shape=
class SubclassedStack(keras.Model):
    def __init__(self, initializer="glorot_uniform"):
        super().__init__()
        self.fc1 = layers.Dense(32, kernel_initializer=initializer, bias_initializer="zeros")
        self.fc2 = layers.Dense(64, kernel_initializer=initializer, bias_initializer="zeros")
        self.fc3 = layers.Dense(64, kernel_initializer=initializer, bias_initializer="zeros")
        self.fc4 = layers.Dense(10, kernel_initializer=initializer, bias_initializer="zeros")

    def call(self, x):
        x = self.fc1(x)
        x = self.fc2(x)
        x = self.fc3(x)
        return self.fc4(x)


def make_functional_stack(initializer="glorot_uniform"):
    model_input = keras.Input(shape=(12,))
    x = layers.Dense(32, kernel_initializer=initializer, bias_initializer="zeros")(model_input)
    x = layers.Dense(64, kernel_initializer=initializer, bias_initializer="zeros")(x)
    x = layers.Dense(64, kernel_initializer=initializer, bias_initializer="zeros")(x)
    x = layers.Dense(10, kernel_initializer=initializer, bias_initializer="zeros")(x)
    return keras.Model(inputs=model_input, outputs=x)


def make_sequential_stack(initializer="glorot_uniform"):
    model = keras.models.Sequential()
    model.add(layers.Dense(32, kernel_initializer=initializer, bias_initializer="zeros", input_shape=(12,)))
    model.add(layers.Dense(64, kernel_initializer=initializer, bias_initializer="zeros"))
    model.add(layers.Dense(64, kernel_initializer=initializer, bias_initializer="zeros"))
    model.add(layers.Dense(10, kernel_initializer=initializer, bias_initializer="zeros"))
    return model


# --- a guide-style classifier: Functional API, Sequential, and a subclass whose hidden
# --- layers live in a nested Sequential block
def get_functional_classifier():
    inputs = keras.Input(shape=(20,))
    x = layers.Dense(48, activation="relu")(inputs)
    x = layers.Dense(48, activation="relu")(x)
    outputs = layers.Dense(5, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="classifier")


def get_sequential_classifier():
    return keras.Sequential(
        [
            keras.Input(shape=(20,)),
            layers.Dense(48, activation="relu"),
            layers.Dense(48, activation="relu"),
            layers.Dense(5, activation="softmax"),
        ]
    )


class SubclassedClassifier(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.Sequential([layers.Dense(48, activation="relu"), layers.Dense(48, activation="relu")])
        self.classifier = layers.Dense(5, activation="softmax")

    def call(self, inputs):
        return self.classifier(self.hidden(inputs))


# --- pairbench adapter ---
from suite.zoo import register_models

rng = np.random.default_rng(0)
register_models(
    {"functional": make_functional_stack, "sequential": make_sequential_stack, "subclass": SubclassedStack},
    name="benchmark_stack",
    x=rng.uniform(-1, 1, size=(64, 12)).astype("float32"),
    y=rng.uniform(-1, 1, size=(64, 10)).astype("float32"),
)
register_models(
    {"functional": get_functional_classifier, "sequential": get_sequential_classifier, "subclass": SubclassedClassifier},
    name="guide_classifier",
    x=rng.standard_normal((64, 20)).astype("float32"),
    y=rng.integers(0, 5, size=64),
)
