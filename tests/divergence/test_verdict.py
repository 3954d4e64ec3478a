"""Verdict rules, the determinism note and recognition of op-determinism errors."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from suite.axes import PRECISIONS
from suite.divergence import (
    TOLERANCES,
    compare_outputs,
    decide_verdict,
    determinism_note,
)
from suite.errors import unsupported_from_error
from suite.verdicts import VERDICTS

ROOT = Path(__file__).resolve().parents[2]


def _metrics(a, b, precision: str | None = None):
    tol = None if precision is None else {k: TOLERANCES[precision][k] for k in ("rtol", "atol")}
    return compare_outputs({"y": np.asarray(a, np.float32)}, {"y": np.asarray(b, np.float32)}, tolerance=tol)


STABLE = {"runs": 3, "distinct": 1, "max_abs": 0.0, "max_ulp": 0}


def test_every_precision_has_a_tolerance_and_they_loosen():
    for precision in (*PRECISIONS, "float64"):
        assert {"rtol", "atol", "why"} <= set(TOLERANCES[precision])
    order = ["float64", "float32", "tf32", "mixed_float16", "mixed_bfloat16"]
    rtols = [TOLERANCES[p]["rtol"] for p in order]
    assert rtols == sorted(rtols)


def test_structural_wins():
    verdict, reason = decide_verdict(
        "float32", {"vs_pair": _metrics([1.0], [1.0])}, structural=["no bias in dense_1 (4,)"]
    )
    assert verdict == "structural-mismatch" and "no bias in dense_1" in reason


def test_nondeterministic_beats_agreement():
    rerun = {"runs": 3, "distinct": 2, "max_abs": 1e-7, "max_ulp": 1}
    verdict, reason = decide_verdict("float32", {"vs_pair": _metrics([1.0], [1.0]), "rerun": rerun})
    assert verdict == "nondeterministic"
    assert "2 distinct results in 3 reruns" in reason and "max_ulp 1" in reason


def test_identical_needs_every_reference_bitwise_equal():
    same = _metrics([1.0, 2.0], [1.0, 2.0])
    verdict, reason = decide_verdict("float32", {"vs_pair": same, "vs_eager": same, "rerun": STABLE})
    assert verdict == "identical" and "vs_pair" in reason and "vs_eager" in reason


def test_close_within_tolerance_and_diverged_beyond():
    one = np.float32(1.0)
    near = np.nextafter(one, np.float32(2))
    close = decide_verdict(
        "float32", {"vs_pair": _metrics([1.0], [1.0]), "vs_eager": _metrics([near], [one], "float32")}
    )
    assert close[0] == "close" and "vs_eager" in close[1]
    far = decide_verdict("float32", {"vs_eager": _metrics([1.01], [1.0], "float32"), "rerun": STABLE})
    assert far[0] == "diverged"
    assert "vs_eager" in far[1] and "max_abs 0.01" in far[1]


def test_mixed_precision_is_looser_than_float32():
    div = {"vs_eager": _metrics([1.002], [1.0], "mixed_bfloat16")}
    assert decide_verdict("mixed_bfloat16", div)[0] == "close"
    assert decide_verdict("float32", {"vs_eager": _metrics([1.002], [1.0], "float32")})[0] == "diverged"


def test_without_tol_ratio_the_aggregate_rule_applies():
    m = _metrics([1.0 + 1e-6, 1e-9], [1.0, 0.0])  # no tolerance given: no tol_ratio
    assert "tol_ratio" not in m
    assert decide_verdict("float32", {"vs_pair": m})[0] == "close"  # max_abs <= atol
    m = _metrics([100.5, 1e-3], [100.0, 0.0])
    assert decide_verdict("float32", {"vs_pair": m})[0] == "diverged"


def test_nan_against_number_diverges_even_after_json():
    m = _metrics([np.nan], [1.0], "float32")
    assert decide_verdict("float32", {"vs_pair": m})[0] == "diverged"
    m_json = {**m, "max_abs": None, "max_rel": None, "tol_ratio": None, "max_ulp": None}  # inf -> null
    assert decide_verdict("float32", {"vs_pair": m_json})[0] == "diverged"


def test_fp64_is_informative_only():
    far = _metrics([2.0], [1.0], "float32")
    verdict, reason = decide_verdict(
        "float32",
        {"vs_eager": _metrics([1.0], [1.0]), "vs_fp64": far},
        fp64_baselines={"eager": _metrics([3.0], [1.0])},
    )
    assert verdict == "identical"
    assert "vs float64: max_abs 1" in reason and "closer to float64 than eager" in reason


def test_reference_case_without_comparisons():
    verdict, reason = decide_verdict("float32", {"vs_pair": None, "vs_fp64": None, "rerun": STABLE})
    assert verdict == "identical" and "nothing to compare" in reason and "3 reruns" in reason


def test_unknown_precision_is_an_error():
    with pytest.raises(ValueError, match="float8"):
        decide_verdict("float8", {})


def test_verdicts_are_from_the_vocabulary():
    cases = [
        {"vs_pair": _metrics([1.0], [1.0])},
        {"vs_pair": _metrics([1.5], [1.0])},
        {"rerun": {"runs": 2, "distinct": 2, "max_abs": 1.0, "max_ulp": 3}},
    ]
    for div in cases:
        assert decide_verdict("float32", div)[0] in VERDICTS


def test_determinism_note():
    note = determinism_note(
        "nondeterministic",
        "identical",
        off_rerun={"runs": 3, "distinct": 3},
        on_rerun={"runs": 3, "distinct": 1},
    )
    assert note.startswith("nondeterministic with determinism off, stable with determinism on")
    assert "nondeterministic kernel" in note and "3/3" in note
    assert "no deterministic implementation" in determinism_note("nondeterministic", "unsupported")
    assert "even with determinism on" in determinism_note("nondeterministic", "nondeterministic")
    assert determinism_note("close", "close") == ""
    with pytest.raises(ValueError):
        determinism_note("fine", "close")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Random ops require a seed to be set when determinism is enabled. Please set a seed",
            "random op has no seed",
        ),
        (
            "{{function_node __wrapped__UnsortedSegmentSum}} Deterministic GPU implementation of "
            "unsorted segment reduction op not available. [Op:UnsortedSegmentSum]",
            "unsorted segment reduction (node UnsortedSegmentSum)",
        ),
        (
            "A deterministic GPU implementation of SparseTensorDenseMatmulOp is not currently available.",
            "SparseTensorDenseMatmulOp",
        ),
        ("Determinism is not yet supported for MaxPoolGradWithArgmax.", "MaxPoolGradWithArgmax"),
        (
            "Determinism is not yet supported in GPU implementation of Bincount.\n\t [[{{node Bincount}}]]",
            "Bincount (node Bincount)",
        ),
        ("Timestamp cannot be called when determinism is enabled [Op:Timestamp]", "Timestamp cannot run"),
        (
            "in user code:\n  ValueError: tf.nn.fractional_max_pool requires a non-zero seed to be "
            "passed in when determinism is enabled, but got seed=0.",
            "tf.nn.fractional_max_pool needs a non-zero seed",
        ),
        (
            "ScatterNd does not have a GPU implementation that guarantees determinism",
            "ScatterNd",
        ),
    ],
)
def test_unsupported_from_error_names_the_op(message, expected):
    reason = unsupported_from_error(RuntimeError(message))
    assert reason is not None and reason.startswith("op determinism: ")
    assert expected in reason and "\n" not in reason


def test_unsupported_from_error_generic_unimplemented():
    class UnimplementedError(Exception):
        pass

    reason = unsupported_from_error(UnimplementedError("Op Foo has no deterministic kernel on this device"))
    assert reason is not None and "Foo" in reason


@pytest.mark.parametrize(
    "message",
    [
        "OOM when allocating tensor with shape[1024,1024]",
        "Detected unsupported operations when trying to compile graph on XLA_GPU_JIT: FractionalMaxPool",
        "Incompatible shapes: [2,3] vs. [3,2]",
    ],
)
def test_unsupported_from_error_ignores_other_errors(message):
    assert unsupported_from_error(message) is None


@pytest.mark.slow
def test_real_determinism_errors_are_recognised_on_cpu():
    """With op determinism on (a fresh process): the chaos pair's unseeded op raises in every
    mode and is recognised; the chaos layer stays nondeterministic (not a TensorFlow op issue)."""
    script = """
import json, os
import numpy as np, keras, tensorflow as tf
tf.config.experimental.enable_op_determinism()
from suite.zoo import load_pairs_from, get_pair
from suite.zoo.weights import ensure_built
from suite.divergence import rerun_spread
from suite.errors import unsupported_from_error
load_pairs_from(os.environ["CHAOS"])
pair = get_pair("chaos"); hp = pair.hparams("tiny"); batch = pair.inputs(hp, 0)
keras.utils.set_random_seed(0)
out = {}
ref = pair.build("sequential", "tiny"); ensure_built(ref, batch.x)
out["chaos_distinct"] = rerun_spread([{"y": np.asarray(ref(batch.x))} for _ in range(3)])["distinct"]
for mode in ("eager", "function", "xla"):
    try:
        model = pair.build("fractional_pool", "tiny")
        call = model if mode == "eager" else tf.function(model, jit_compile=mode == "xla")
        call(batch.x)
        out[mode] = None
    except Exception as exc:
        out[mode] = unsupported_from_error(exc)
print("RESULT" + json.dumps(out))
"""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CHAOS": str(ROOT / "tests/pairs/chaos_pairs.py")}
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line is not None, proc.stderr[-2000:]
    import json

    out = json.loads(line[len("RESULT") :])
    assert out["chaos_distinct"] > 1
    for mode in ("eager", "function", "xla"):
        assert out[mode] is not None and "fractional_max_pool" in out[mode], (mode, out[mode])


def test_fmt_of_non_finite():
    from suite.divergence.verdict import fmt

    assert fmt(math.inf) == "inf" and fmt(None) == "n/a" and fmt(3) == "3"


def test_a_requested_comparison_that_could_not_be_made_is_incomparable_never_identical():
    same = _metrics([1.0], [1.0])
    why = "reference unavailable: the eager case failed: RuntimeError: boom"
    verdict, reason = decide_verdict(
        "float32", {"vs_pair": same, "rerun": STABLE}, unavailable={"vs_eager": why}
    )
    assert verdict == "incomparable"
    assert f"vs_eager: {why}" in reason and "compared: vs_pair bitwise equal" in reason


def test_nothing_compared_although_comparisons_apply_is_incomparable():
    verdict, reason = decide_verdict("float32", {"rerun": STABLE}, absent=["vs_pair", "vs_eager"])
    assert verdict == "incomparable" and "nothing compared: vs_pair, vs_eager not in this run" in reason
    # a reference absent from the run does not matter when another comparison was made
    same = _metrics([1.0], [1.0])
    assert decide_verdict("float32", {"vs_pair": same}, absent=["vs_eager"])[0] == "identical"


def test_a_difference_found_wins_over_a_missing_comparison():
    far = _metrics([1.5], [1.0], "float32")
    verdict, reason = decide_verdict(
        "float32", {"vs_pair": far}, unavailable={"vs_eager": "cannot compare: x"}
    )
    assert verdict == "diverged" and "vs_eager: cannot compare: x" in reason


def test_a_failed_float64_reference_never_changes_the_verdict():
    same = _metrics([1.0], [1.0])
    assert decide_verdict("float32", {"vs_pair": same}, unavailable={"vs_fp64": "failed"})[0] == "identical"


def test_one_rule_picks_the_comparison_that_explains_a_verdict():
    from suite.divergence import explaining_comparison

    one = np.float32(1.0)
    near = _metrics([np.nextafter(one, np.float32(2))], [one], "float32")
    far = _metrics([1.5], [1.0], "float32")
    same = _metrics([1.0], [1.0], "float32")
    assert explaining_comparison("nondeterministic", {"vs_pair": far}, "float32") == ("rerun", False)
    # diverged: the comparison beyond tolerance, judged with the tolerance (not the first that differs)
    div = {"vs_pair": near, "vs_eager": far}
    assert explaining_comparison("diverged", div, "float32") == ("vs_eager", True)
    assert explaining_comparison("close", {"vs_pair": same, "vs_cpu": near}, "float32") == ("vs_cpu", False)
    assert explaining_comparison("identical", {"vs_pair": same}, "float32") is None
