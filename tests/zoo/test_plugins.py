"""User-supplied pairs: ``--pairs-from FILE.py`` and the ``pairbench.pairs`` entry points."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pairtest import run_pair_test  # tests/helpers (conftest puts it on sys.path)

from suite.cli import main
from suite.errors import UsageError
from suite.zoo import load_pairs_from, plugins, registered

GOOD_PAIR = """
import numpy as np

from suite.zoo import Batch, Pair, register_pair


@register_pair
class UserLinear(Pair):
    name = "{name}"
    description = "a user's softmax regression"
    sizes = {{
        "tiny": {{"batch": 4, "features": 3, "classes": 2}},
        "default": {{"batch": 64, "features": 16, "classes": 4}},
        "large": {{"batch": 4096, "features": 256, "classes": 10}},
    }}

    def inputs(self, hp, seed):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((hp["batch"], hp["features"]), dtype=np.float32)
        return Batch(x, rng.integers(0, hp["classes"], size=hp["batch"], dtype=np.int32))

    def sequential(self, hp):
        import keras

        out = keras.layers.Dense(hp["classes"], activation="softmax", name="out")
        return keras.Sequential([keras.Input((hp["features"],)), out])

    def functional(self, hp):
        import keras

        x = keras.Input((hp["features"],))
        return keras.Model(x, keras.layers.Dense(hp["classes"], activation="softmax", name="out")(x))
"""


pytestmark = pytest.mark.usefixtures("clean_registry")  # conftest: what a test registers is removed


def _write(tmp_path: Path, text: str, name: str = "my_pairs.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_user_pair_is_listed_and_passes_the_contract(tmp_path, capsys):
    path = _write(tmp_path, GOOD_PAIR.format(name="user_linear"))
    code = main(["list", "--pairs-from", str(path), "--json", "--pairs", "user_linear"])
    assert code == 0, capsys.readouterr().err
    (entry,) = json.loads(capsys.readouterr().out)["pairs"]
    assert entry["name"] == "user_linear"
    assert entry["members"] == ["sequential", "functional"]
    assert entry["sizes"]["tiny"]["params"] == {"trainable": 8, "non_trainable": 0, "total": 8}
    assert entry["sizes"]["large"]["params"]["total"] == 256 * 10 + 10
    result = run_pair_test("user_linear")
    assert result.correct == ["sequential", "functional"]


def test_loading_the_same_file_twice_replaces_its_pairs(tmp_path):
    path = _write(tmp_path, GOOD_PAIR.format(name="user_twice"))
    assert load_pairs_from(str(path)) == ["user_twice"]
    first = registered()["user_twice"]
    assert load_pairs_from(str(path)) == ["user_twice"]
    assert registered()["user_twice"] is not first


def test_pairs_from_in_a_subprocess(tmp_path):
    path = _write(tmp_path, GOOD_PAIR.format(name="user_subprocess"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-m", "suite", "list", "--pairs-from", str(path), "--json", "--no-params"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    names = [e["name"] for e in json.loads(proc.stdout)["pairs"]]
    assert "user_subprocess" in names and "mlp_seed" in names


BROKEN = {
    "syntax": ("x = 1\ndef broken(:\n    pass\n", ":2: SyntaxError"),
    "import": ("import numpy\nimport no_such_module_for_pairbench\n", ":2: ModuleNotFoundError"),
    "runtime": ("a = 1\nb = a / 0\n", ":2: ZeroDivisionError"),
    "nothing": ("import numpy\n", "registers no pairs"),
    "no_sizes": (
        "from suite.zoo import Pair, register_pair\n\n"
        "@register_pair\nclass P(Pair):\n    name = 'p_no_sizes'\n",
        ":3: ",
    ),
    "no_inputs": (
        GOOD_PAIR.format(name="user_no_inputs").replace("def inputs(", "def not_inputs("),
        "defines no inputs",
    ),
    "builtin_clash": (GOOD_PAIR.format(name="mlp"), "already registered"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_malformed_file_is_one_line_exit_2(tmp_path, capsys, case):
    text, expected = BROKEN[case]
    path = _write(tmp_path, text, f"bad_{case}.py")
    before = set(registered())
    code = main(["list", "--pairs-from", str(path), "--no-params"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert f"bad_{case}.py" in err and expected in err, err
    assert set(registered()) == before  # nothing half-registered


def test_missing_file_is_one_line_exit_2(tmp_path, capsys):
    code = main(["list", "--pairs-from", str(tmp_path / "nope.py"), "--no-params"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "nope.py" in err


def _entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=plugins.ENTRY_POINT_GROUP)


def test_entry_point_plugin_registers_its_pairs(tmp_path, monkeypatch):
    _write(tmp_path, GOOD_PAIR.format(name="user_plugin"), "pairbench_test_plugin.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        plugins.importlib.metadata,
        "entry_points",
        lambda group: (
            [_entry_point("demo", "pairbench_test_plugin")] if group == plugins.ENTRY_POINT_GROUP else []
        ),
    )
    try:
        assert plugins.load_entry_points() == ["user_plugin"]
    finally:
        sys.modules.pop("pairbench_test_plugin", None)


def test_broken_entry_point_names_the_plugin(monkeypatch):
    monkeypatch.setattr(
        plugins.importlib.metadata,
        "entry_points",
        lambda group: [_entry_point("broken_demo", "no_such_module_for_pairbench.pairs")],
    )
    with pytest.raises(UsageError) as info:
        plugins.load_entry_points()
    message = str(info.value)
    assert "broken_demo" in message and "ModuleNotFoundError" in message and "\n" not in message
