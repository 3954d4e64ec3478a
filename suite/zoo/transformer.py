"""``transformer``: post-norm encoder blocks (self-attention, dropout, layer norm, feed-forward).

Block ``b``: ``mha_b`` (self-attention) -> ``drop_attn_b`` -> ``add_attn_b`` (residual) ->
``ln_attn_b`` -> ``ffn_in_b`` (relu) -> ``ffn_out_b`` -> ``drop_ffn_b`` -> ``add_ffn_b`` ->
``ln_ffn_b``; then ``pool`` (global average over time) and ``head`` (softmax).

Dropout must give identical masks in every member during training: each ``Dropout`` has
an explicit ``seed`` (``dropout_seed`` + its index), Keras 3 draws its masks from that
layer's ``SeedGenerator`` state (copied by ``copy_weights`` as
``<layer>/seed_generator_state``), and every member calls the dropouts in the same order.

A residual connection cannot be written in a ``keras.Sequential``, so the reference is the
Functional model; members: ``functional``, ``subclass`` and the ``faulty`` control (last
layer norm without scale/offset, feed-forward without relu).
"""

from __future__ import annotations

from typing import Any

from suite.zoo.base import Batch, Pair, normal_batch, register_pair


def _block_layers(hp: dict[str, Any], b: int, *, faulty: bool = False) -> dict[str, Any]:
    import keras

    L = keras.layers
    seed = hp["dropout_seed"] + 2 * b
    last = b == hp["blocks"] - 1
    plain_norm = faulty and last
    return {
        "mha": L.MultiHeadAttention(hp["heads"], hp["key_dim"], name=f"mha_{b}"),
        "drop_attn": L.Dropout(hp["dropout"], seed=seed, name=f"drop_attn_{b}"),
        "add_attn": L.Add(name=f"add_attn_{b}"),
        "ln_attn": L.LayerNormalization(epsilon=hp["ln_epsilon"], name=f"ln_attn_{b}"),
        "ffn_in": L.Dense(hp["d_ff"], activation=None if faulty else "relu", name=f"ffn_in_{b}"),
        "ffn_out": L.Dense(hp["d_model"], name=f"ffn_out_{b}"),
        "drop_ffn": L.Dropout(hp["dropout"], seed=seed + 1, name=f"drop_ffn_{b}"),
        "add_ffn": L.Add(name=f"add_ffn_{b}"),
        "ln_ffn": L.LayerNormalization(
            epsilon=hp["ln_epsilon"], center=not plain_norm, scale=not plain_norm, name=f"ln_ffn_{b}"
        ),
    }


def _head_layers(hp: dict[str, Any]) -> dict[str, Any]:
    import keras

    return {
        "pool": keras.layers.GlobalAveragePooling1D(name="pool"),
        "head": keras.layers.Dense(hp["classes"], activation="softmax", name="head"),
    }


def _encode(blocks: list[dict[str, Any]], head: dict[str, Any], x: Any, training: Any) -> Any:
    """The forward pass shared by every Keras member (same layers, same call order)."""
    for blk in blocks:
        attn = blk["drop_attn"](blk["mha"](x, x, training=training), training=training)
        x = blk["ln_attn"](blk["add_attn"]([x, attn]))
        ff = blk["drop_ffn"](blk["ffn_out"](blk["ffn_in"](x)), training=training)
        x = blk["ln_ffn"](blk["add_ffn"]([x, ff]))
    return head["head"](head["pool"](x))


def _subclass(hp: dict[str, Any], name: str, *, faulty: bool = False) -> Any:
    import keras

    class TransformerSubclass(keras.Model):
        def __init__(self) -> None:
            super().__init__(name=name)
            self.blocks = [_block_layers(hp, b, faulty=faulty) for b in range(hp["blocks"])]
            self.top = _head_layers(hp)

        def call(self, x: Any, training: bool = False) -> Any:
            return _encode(self.blocks, self.top, x, training)

    return TransformerSubclass()


@register_pair
class Transformer(Pair):
    """``blocks`` encoder blocks over ``seq_len x d_model`` float sequences."""

    name = "transformer"
    description = "encoder: [MHA -> dropout -> add & LayerNorm -> FFN -> dropout -> add & LayerNorm] x n"
    reference = "functional"
    sizes = {
        "tiny": {
            "batch": 4,
            "seq_len": 8,
            "d_model": 16,
            "heads": 2,
            "key_dim": 8,
            "d_ff": 32,
            "blocks": 1,
            "dropout": 0.1,
            "dropout_seed": 17,
            "ln_epsilon": 1e-6,
            "classes": 5,
        },
        "default": {
            "batch": 16,
            "seq_len": 64,
            "d_model": 64,
            "heads": 4,
            "key_dim": 16,
            "d_ff": 128,
            "blocks": 2,
            "dropout": 0.1,
            "dropout_seed": 17,
            "ln_epsilon": 1e-6,
            "classes": 10,
        },
        "large": {
            "batch": 32,
            "seq_len": 512,
            "d_model": 1024,
            "heads": 16,
            "key_dim": 64,
            "d_ff": 4096,
            "blocks": 4,
            "dropout": 0.1,
            "dropout_seed": 17,
            "ln_epsilon": 1e-6,
            "classes": 100,
        },
    }

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Standard-normal float32 sequences (already embedded) and integer class labels."""
        return normal_batch(hp, seed, "seq_len", "d_model")

    def functional(self, hp: dict[str, Any]) -> Any:
        """The reference: Functional API (residual connections need more than Sequential)."""
        import keras

        x = keras.Input((hp["seq_len"], hp["d_model"]))
        blocks = [_block_layers(hp, b) for b in range(hp["blocks"])]
        return keras.Model(x, _encode(blocks, _head_layers(hp), x, None), name="transformer_functional")

    def subclass(self, hp: dict[str, Any]) -> Any:
        """A subclassed ``keras.Model`` holding one dict of layers per block."""
        return _subclass(hp, "transformer_subclass")

    def faulty(self, hp: dict[str, Any]) -> Any:
        """Control: the last ``ln_ffn`` has no gamma/beta and ``ffn_in`` has no relu."""
        return _subclass(hp, "transformer_faulty", faulty=True)
