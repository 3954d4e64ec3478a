"""``check_models`` refuses what would run nothing or run on bad inputs (issue 27): an empty axis
(``modes=()``) is not "no cases, an empty frame", and ``x``/``y`` of different lengths are one
line naming the pair before any case runs."""

from __future__ import annotations

import numpy as np
import pytest

from suite.api import check_models
from suite.errors import UsageError


@pytest.fixture(scope="module")
def model():
    import keras

    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


@pytest.mark.parametrize("axis", ["modes", "workloads", "devices", "precisions"])
def test_an_empty_axis_is_refused(model, tmp_path, axis):
    with pytest.raises(UsageError, match=f"{axis} is empty"):
        check_models(model, x=np.zeros((4, 3), np.float32), results_dir=tmp_path, **{axis: ()})
    assert not any(tmp_path.iterdir())


def test_x_and_y_of_different_lengths_are_refused(model, tmp_path):
    with pytest.raises(UsageError, match="pair 'models': x has 4 rows but y has 3"):
        check_models(model, x=np.zeros((4, 3), np.float32), y=np.zeros(3, np.int32), results_dir=tmp_path)
    assert not any(tmp_path.iterdir())
