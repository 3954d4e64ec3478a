"""Causes are shown wherever the verdict is: the typed frame, the report's problem lines,
``explain``, ``check_models``' frame and ``assert_models_match``'s failure message."""

from __future__ import annotations

from pathlib import Path

import pytest
from cause_checks import quick_check
from everyday_pairs import X, Y, bn_defaults, bn_torch_defaults

from suite.verdicts import DIVERGED

EPSILON = "configuration of batch_normalization: epsilon 0.001 vs 1e-05"


@pytest.fixture(scope="module")
def checked():
    return quick_check(
        bn_torch_defaults,
        bn_defaults,
        X,
        Y,
        workloads=("predict",),
        modes=("eager",),
        steps=None,
        name="surfaces",
    )


def _member(frame):
    rows = frame[frame["member"] == "bn_defaults"]
    assert len(rows) == 1
    return rows.iloc[0]


def test_check_models_frame_has_the_causes_and_the_top_one_in_words(checked):
    row = _member(checked)
    assert row["verdict"] == DIVERGED
    assert row["reason"].startswith(EPSILON)
    assert row["causes"][0]["kind"] == "configuration" and row["causes"][0]["member"] == "0.001"
    assert row["cause"].startswith(EPSILON)


def test_typed_frame_and_report_problem_lines_show_the_cause(checked):
    from suite.report.summary import summarize
    from suite.results.frame import load_frame, with_all_columns

    frame = load_frame(Path(checked.attrs["run_dir"]))
    row = frame[frame["member"] == "bn_defaults"].iloc[0]
    assert row["causes"].startswith(EPSILON) and row["cause_kind"] == "configuration"
    assert str(frame["causes"].dtype) == "string"
    summary = summarize(with_all_columns(frame))
    assert EPSILON in summary.highlight
    (finding,) = [f for f in summary.findings if "bn_defaults" in f.case_id]
    assert finding.text.startswith(EPSILON)


def test_explain_lists_each_cause_with_its_evidence(checked):
    from suite.commands.explain import cause_lines

    lines = cause_lines(_member(checked)["causes"])
    assert lines[0].startswith("causes (1, member vs reference")
    assert lines[1] == f"  1. [configuration, certain] {EPSILON}"
    assert lines[2].strip() == "evidence: BatchNormalization.get_config()"
    assert cause_lines([]) == []


def test_assert_models_match_fails_with_the_cause():
    from suite.testing import assert_models_match

    with pytest.raises(AssertionError) as info:
        assert_models_match(
            bn_torch_defaults,
            bn_defaults,
            X,
            Y,
            modes=("eager",),
            workloads=("predict",),
            repeats=1,
            reference_fp64=False,
            min_sample_s=0.001,
            max_warmup_s=0.0,
        )
    message = str(info.value)
    assert f"diverged: {EPSILON}" in message
    assert f"    cause: {EPSILON} (BatchNormalization.get_config())" in message
