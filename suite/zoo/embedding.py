"""``embedding``: token ids -> Embedding -> ``tf.math.unsorted_segment_sum`` -> Dense layers.

The ground-truth nondeterministic case: on a CUDA GPU the segment sum's forward pass and
the embedding's gradient (an ``IndexedSlices`` scatter-add with many duplicate, Zipf-
distributed token ids) use atomic adds, so without op determinism float32 results differ
between reruns; on CPU, or with ``enable_op_determinism()``, they are bitwise stable.

Layers: ``embed`` (vocab x embed_dim), ``pool`` (segment sum of each example's tokens:
segment id = example index), ``dense_0`` (hidden, relu), ``head`` (softmax). The input ``x``
is an int32 ``(batch, seq_len)`` array of token ids (never cast to a float dtype).
Members: ``sequential`` (reference, the pooling as a small custom layer), ``functional``,
``subclass`` (calls the segment sum inline), ``raw`` and the ``faulty`` control
(``dense_0`` without bias, head without softmax).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from suite.zoo.base import Batch, Pair, register_pair


def segment_sum_tokens(x: Any) -> Any:
    """Sum each example's token vectors with ``unsorted_segment_sum``: (B, T, D) -> (B, D)."""
    import tensorflow as tf

    shape = tf.shape(x)
    flat = tf.reshape(x, [-1, shape[2]])
    segment_ids = tf.repeat(tf.range(shape[0]), shape[1])
    return tf.math.unsorted_segment_sum(flat, segment_ids, num_segments=shape[0])


@functools.cache
def segment_sum_layer() -> type:
    """The ``SegmentSum`` Keras layer class (defined on first use, so importing needs no Keras)."""
    import keras

    class SegmentSum(keras.layers.Layer):
        """Keras layer around :func:`segment_sum_tokens`."""

        def call(self, x: Any) -> Any:
            return segment_sum_tokens(x)

        def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
            return (input_shape[0], input_shape[2])

    return SegmentSum


def _keras_layers(hp: dict[str, Any], *, faulty: bool = False) -> dict[str, Any]:
    import keras

    return {
        "embed": keras.layers.Embedding(hp["vocab"], hp["embed_dim"], name="embed"),
        "pool": segment_sum_layer()(name="pool"),
        "dense_0": keras.layers.Dense(hp["hidden"], activation="relu", use_bias=not faulty, name="dense_0"),
        "head": keras.layers.Dense(hp["classes"], activation=None if faulty else "softmax", name="head"),
    }


def _subclass(hp: dict[str, Any], name: str, *, faulty: bool = False) -> Any:
    import keras

    class EmbeddingSubclass(keras.Model):
        def __init__(self) -> None:
            super().__init__(name=name)
            layers = _keras_layers(hp, faulty=faulty)
            self.embed, self.dense_0, self.head = layers["embed"], layers["dense_0"], layers["head"]

        def call(self, x: Any, training: bool = False) -> Any:
            return self.head(self.dense_0(segment_sum_tokens(self.embed(x))))

    return EmbeddingSubclass()


@register_pair
class EmbeddingBag(Pair):
    """Bag of embeddings summed per example with a segment sum, then an MLP head."""

    name = "embedding"
    description = "Embedding -> unsorted_segment_sum per example -> Dense(relu) -> Dense(softmax)"
    sizes = {
        "tiny": {"batch": 8, "seq_len": 16, "vocab": 100, "embed_dim": 8, "hidden": 16, "classes": 4},
        "default": {
            "batch": 256,
            "seq_len": 64,
            "vocab": 20000,
            "embed_dim": 64,
            "hidden": 128,
            "classes": 10,
        },
        "large": {
            "batch": 2048,
            "seq_len": 256,
            "vocab": 1_000_000,
            "embed_dim": 256,
            "hidden": 1024,
            "classes": 100,
        },
    }

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Zipf-distributed int32 token ids (many duplicates) and integer class labels."""
        rng = np.random.default_rng(seed)
        ids = (rng.zipf(1.3, size=(hp["batch"], hp["seq_len"])) - 1) % hp["vocab"]
        y = rng.integers(0, hp["classes"], size=hp["batch"], dtype=np.int32)
        return Batch(ids.astype(np.int32), y)

    def sequential(self, hp: dict[str, Any]) -> Any:
        """The reference: ``keras.Sequential`` with the ``SegmentSum`` layer."""
        import keras

        inp = keras.Input((hp["seq_len"],), dtype="int32")
        return keras.Sequential([inp, *_keras_layers(hp).values()], name="embedding_sequential")

    def functional(self, hp: dict[str, Any]) -> Any:
        """The Functional API."""
        import keras

        x = h = keras.Input((hp["seq_len"],), dtype="int32")
        for layer in _keras_layers(hp).values():
            h = layer(h)
        return keras.Model(x, h, name="embedding_functional")

    def subclass(self, hp: dict[str, Any]) -> Any:
        """A subclassed ``keras.Model`` calling the segment sum inline."""
        return _subclass(hp, "embedding_subclass")

    def raw(self, hp: dict[str, Any]) -> Any:
        """``tf.Module``: gather from the table, cast, segment sum, raw Dense blocks."""
        import tensorflow as tf

        from suite.zoo._layers import make_variable, raw

        RawModule, Dense = raw("RawModule"), raw("Dense")

        class EmbeddingRaw(RawModule):
            def __init__(self) -> None:
                super().__init__("embedding_raw")
                self.embeddings = make_variable("embed/embeddings", (hp["vocab"], hp["embed_dim"]), "uniform")
                self.dense_0 = Dense("dense_0", hp["embed_dim"], hp["hidden"], "relu")
                self.head = Dense("head", hp["hidden"], hp["classes"], "softmax")
                self.layer_activations = {"dense_0": "relu", "head": "softmax"}

            def __call__(self, x: Any, training: bool = False) -> Any:
                ids = tf.convert_to_tensor(x)
                table = tf.convert_to_tensor(self.embeddings)  # Keras' Embedding does not autocast
                vectors = tf.cast(tf.gather(table, ids, axis=0), self.compute_dtype)
                return self.head(self.dense_0(segment_sum_tokens(vectors)))

        return EmbeddingRaw()

    def faulty(self, hp: dict[str, Any]) -> Any:
        """Control: ``dense_0`` without bias, ``head`` without softmax."""
        return _subclass(hp, "embedding_faulty", faulty=True)
