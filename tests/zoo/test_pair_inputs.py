"""A pair's inputs are checked once, before any case runs (issue 27).

``x`` and ``y`` of different lengths, ``x`` of strings or Python objects, an empty batch: one line
naming the pair and the problem, exit 2, before the probe starts a process and before a run
folder exists (not error rows, not ``identical`` on an empty batch). A pair file that ends the
process while it is imported (``os._exit``) is one line too.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from suite.cli import main
from suite.errors import UsageError
from suite.zoo.base import Batch
from suite.zoo.inputs import check_batch


@pytest.mark.parametrize(
    ("batch", "words"),
    [
        (Batch(np.zeros((4, 3), np.float32), np.zeros(3, np.int32)), "x has 4 rows but y has 3"),
        (Batch(np.array(["a", "b"]), None), "x holds strings"),
        (Batch(np.array([object(), object()]), None), "x holds Python objects"),
        (Batch(np.zeros((0, 3), np.float32), None), "x is empty (0 rows)"),
        (Batch(np.zeros((2, 3), np.float32), np.array(["l1", "l2"])), "y holds strings"),
        (Batch((np.zeros((2, 3)), np.zeros((3, 1))), None), "different numbers of rows"),
        (Batch(np.float32(1.0), None), "single number"),
        ((np.zeros((2, 3)), None), "not suite.zoo.Batch"),
    ],
)
def test_bad_batches_are_one_line_naming_the_pair(batch, words):
    with pytest.raises(UsageError, match="pair 'mine'") as info:
        check_batch("mine", batch)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_good_batches_pass():
    check_batch("mine", Batch(np.zeros((2, 3), np.float32), np.array([0, 1])))
    check_batch("mine", Batch({"a": np.zeros((2, 1)), "b": [[1, 2], [3, 4]]}, None))
    check_batch("mine", Batch([np.zeros((2, 3)), np.ones((2, 5), np.int32)], np.zeros((2, 1))))
    # a model that pools rows says so: its labels match its outputs, not the rows of x
    check_batch("mine", Batch(np.zeros((8, 3)), np.zeros(4)), labels_per_row=False)


PAIR_CLASS = """
import numpy as np
from suite.zoo import Batch, Pair, register_pair

@register_pair
class Bad(Pair):
    name = "{name}"
    sizes = {{"tiny": {{"batch": 2}}}}

    def inputs(self, hp, seed):
        return Batch({x}, {y})

    def sequential(self, hp):
        raise AssertionError("a member was built")
"""


@pytest.fixture(autouse=True)
def _registry_restored():
    """Pair files loaded here leave no pair registered for the tests after them."""
    from suite.zoo import base

    before = dict(base._REGISTRY)
    yield
    base._REGISTRY.clear()
    base._REGISTRY.update(before)


def _pairs_file(tmp_path: Path, name: str, x: str, y: str = "None") -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(PAIR_CLASS.format(name=name, x=x, y=y))
    return path


@pytest.mark.parametrize(
    ("x", "y", "words"),
    [
        ("np.zeros((2, 3), np.float32)", "np.zeros(5, np.int32)", "x has 2 rows but y has 5"),
        ("np.array(['a', 'b'])", "None", "x holds strings"),
        ("np.zeros((0, 3), np.float32)", "None", "x is empty"),
    ],
    ids=["x-y-lengths", "x-strings", "x-empty"],
)
def test_run_refuses_bad_inputs_before_anything_starts(tmp_path, capsys, monkeypatch, x, y, words):
    def no_probe():
        raise AssertionError("the probe started a process")

    monkeypatch.setattr("suite.run.executors.probe", no_probe)
    pairs = _pairs_file(tmp_path, f"bad_{len(words)}", x, y)
    results = tmp_path / "results"
    argv = ["run", "--pairs-from", str(pairs), "--pairs", pairs.stem, "--results-dir", str(results)]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"pair '{pairs.stem}'" in err and words in err, err
    assert not results.exists()


def test_register_models_refuses_x_and_y_of_different_lengths(tmp_path, capsys):
    pairs = tmp_path / "my_models.py"
    pairs.write_text(
        textwrap.dedent(
            """
            import keras
            import numpy as np
            from suite.zoo import register_models

            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
            register_models({"seq": model}, x=np.zeros((4, 3), np.float32), y=np.zeros(3, np.int32))
            """
        )
    )
    assert main(["list", "--pairs-from", str(pairs), "--no-params"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "my_models.py:7" in err and "x has 4 rows but y has 3" in err, err


def test_a_pair_file_that_calls_os_exit_is_one_line(tmp_path, capsys):
    pairs = tmp_path / "exits.py"
    pairs.write_text("import os\n\nos._exit(7)\n")
    assert main(["list", "--pairs-from", str(pairs), "--no-params"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"pairbench: error: {pairs}:3: pair file exited (code 7) while being imported (os._exit(7))"
    import os

    assert os._exit.__module__ == "posix"  # given back after the import
