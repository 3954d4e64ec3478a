"""Members whose weights map but whose outputs have other shapes: a structural mismatch that
says the shapes, remembered per process, with the members' state left as it was."""

from __future__ import annotations

import numpy as np
import pytest

from suite.causes.cause import grouped
from suite.causes.structure import structural_causes
from suite.errors import StructuralMismatch
from suite.zoo.outputs import compare_leaves, output_leaves, shape_text


class _T:
    def __init__(self, *shape):
        self.shape = shape


def test_shapes_are_said_member_first_with_the_batch_axis_named():
    assert shape_text((16, 6, 3), 16) == "(batch, 6, 3)" and shape_text((4,), 16) == "(4,)"
    assert compare_leaves(output_leaves(_T(16, 6, 3)), output_leaves(_T(16, 3)), 16) == [
        "output shape (batch, 6, 3) vs (batch, 3)"
    ]
    nested = output_leaves(
        {
            "logits": _T(16, 2),
            "aux": [
                _T(
                    16,
                ),
                _T(16, 1),
            ],
        }
    )
    assert [p for p, _ in nested] == ["aux/0", "aux/1", "logits"]
    other = output_leaves(
        {
            "logits": _T(16, 3),
            "aux": [
                _T(
                    16,
                ),
                _T(16, 1),
            ],
        }
    )
    assert compare_leaves(nested, other, 16) == ["output shape of logits (batch, 2) vs (batch, 3)"]
    assert compare_leaves(output_leaves([_T(16, 3), _T(16, 3)]), output_leaves(_T(16, 3)), 16) == [
        "outputs 2 tensors (0 (batch, 3), 1 (batch, 3)) vs 1 tensor ((batch, 3))"
    ]
    assert compare_leaves(nested, nested, 16) == []


def test_output_messages_become_structure_causes():
    causes = structural_causes(
        ["output shape (batch, 6, 3) vs (batch, 3)", "outputs 2 tensors (0 (4,), 1 (4,)) vs 1 tensor ((4,))"],
        copied=True,
    )
    assert [c.attribute for c in causes] == ["output shape", "outputs"]
    assert {c.kind for c in causes} == {"structure"}
    assert grouped(causes) == [
        "output shape: (batch, 6, 3) vs (batch, 3)",
        "outputs: 2 tensors (0 (4,), 1 (4,)) vs 1 tensor ((4,))",
    ]


def _sequences_pair():
    import keras
    from keras import layers

    from suite.zoo.models import models_pair

    class ReturnsSequences(keras.Model):
        def __init__(self):
            super().__init__()
            self.lstm = layers.LSTM(4, return_sequences=True)
            self.drop = layers.Dropout(0.5)
            self.out = layers.Dense(2)

        def call(self, x):
            return self.out(self.drop(self.lstm(x), training=True))  # draws at inference too

    def sequential():
        return keras.Sequential([keras.Input((3, 2)), layers.LSTM(4), layers.Dropout(0.5), layers.Dense(2)])

    x = np.random.default_rng(0).standard_normal((5, 3, 2)).astype("float32")
    return models_pair({"seq": sequential, "sub": ReturnsSequences}, x=x, y=np.arange(5) % 2)()


def test_a_member_with_other_output_shapes_is_a_structural_mismatch_led_by_its_configuration(monkeypatch):
    from suite.causes.engine import mismatch_causes
    from suite.zoo import analysis_cache, outputs
    from suite.zoo.prepare import as_inputs, build_members

    analysis_cache.clear()
    calls = []
    real = outputs.output_differences

    def counting(reference, model, x):
        calls.append(1)
        before = [v.numpy().copy() for v in model.variables]
        found = real(reference, model, x)
        assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables, strict=True))
        return found

    monkeypatch.setattr(outputs, "output_differences", counting)
    pair = _sequences_pair()
    batch = pair.inputs(pair.hparams("default"), 0)
    errors = []
    for _ in range(2):
        with pytest.raises(StructuralMismatch) as info:
            build_members(pair, "sub", "default", batch, as_inputs(batch.x, "float32"), 0)
        errors.append(info.value)
    analysis_cache.clear()
    assert len(calls) == 1, "the second build should recall the output shapes"
    assert errors[0].differences[0] == "output shape (batch, 3, 2) vs (batch, 2)"
    assert errors[1].differences == errors[0].differences and errors[0].weight_map
    causes = mismatch_causes(*errors[0].models, errors[0].differences, weight_map=errors[0].weight_map)
    assert grouped(causes)[:2] == [
        "configuration of lstm: return_sequences True vs False",
        "output shape: (batch, 3, 2) vs (batch, 2)",
    ]
