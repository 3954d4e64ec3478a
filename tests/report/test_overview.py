"""The first screen of a report: problems first, controls summarised, verdict matrix, speed table.

Also the plots' rules (drawn only when they carry information, bounded in size) and the caps
that keep a million-case report readable.
"""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from fake_runs import (
    MISMATCH_CASE_ID,
    NONDET_CASE_ID,
    case,
    make_large_run,
    make_record,
    make_run,
    metrics,
    rerun,
    standard_records,
)

from suite.report import summarize, write_report
from suite.report import writer as report_writer
from suite.report.overview import MAX_MARKS_PER_CELL, speed_table, verdict_matrix
from suite.report.plots import MAX_GROUPS, MAX_WIDTH_IN, divergence_figure, rerun_figure, throughput_figure
from suite.report.table import report_frame
from suite.results.frame import frame_from_records

LONG = "the softmax output differs from eager by more than the float32 tolerance " * 4


def _stable(rec):
    """``rec`` with bitwise-stable reruns and bitwise-equal divergences."""
    div = {k: (metrics(0.0) if v else v) for k, v in (rec.divergence or {}).items() if k != "rerun"}
    return dataclasses.replace(rec, divergence={**div, "rerun": rerun()})


def test_a_control_that_was_not_caught_is_the_first_problem(tmp_path):
    recs = standard_records()
    missed = dataclasses.replace(next(r for r in recs if r.case_id == MISMATCH_CASE_ID), verdict="identical")
    run = make_run(tmp_path, [*recs, missed])
    summary = summarize(report_frame(run))
    assert summary.findings[0].control and summary.findings[0].verdict == "identical"
    assert summary.controls.line.startswith("CONTROLS NOT CAUGHT")
    assert summary.highlight.startswith("1 control(s) not caught")
    write_report(run, plots=False)
    html = (run.path / "report.html").read_text()
    assert 'class="controls loud"' in html
    assert html.index("control not caught: identical") < html.index('id="matrix"')
    md = (run.path / "report.md").read_text()
    assert md.index("**control not caught**") < md.index("## Verdicts")


def test_flags_notes_and_incomparable_are_shown_wherever_the_verdict_is(tmp_path):
    recs = standard_records()
    odd = dataclasses.replace(
        recs[5],
        verdict="incomparable",
        reason="reference failed",
        flags=["non-finite"],
        notes=["3 NaN in output"],
    )
    flagged_close = dataclasses.replace(recs[2], flags=["non-finite"], notes=["1 Inf in a gradient"])
    run = make_run(tmp_path, [*recs, odd, flagged_close])
    summary = summarize(report_frame(run))
    found = {f.anchor: f for f in summary.findings}
    assert found[odd.case_id].verdict == "incomparable"
    assert "3 NaN in output" in found[odd.case_id].text and "flags: non-finite" in found[odd.case_id].text
    assert found[flagged_close.case_id].verdict == "close"  # a flag makes any verdict a finding
    assert "flagged (non-finite)" in summary.highlight
    console = _console()
    written = write_report(run, plots=False, console=console)
    html, md = written["report.html"].read_text(), written["report.md"].read_text()
    terminal = console.file.getvalue()
    for text in (html, terminal, md.replace("\\[", "[").replace("\\]", "]")):
        assert "incomparable [non-finite]" in text and "3 NaN in output" in text
    assert f'<tr id="c-{odd.case_id}" class="v-incomparable">' in html
    assert re.search(r'<a class="m flag" href="#c-' + re.escape(odd.case_id), html)


def _console():
    from rich.console import Console

    return Console(file=io.StringIO(), width=220, color_system=None)


def test_terminal_follows_the_report_order(tmp_path):
    run = make_run(tmp_path, standard_records())
    console = _console()
    write_report(run, plots=False, console=console)
    out = console.file.getvalue()
    marks = ["19 cases:", f"nondeterministic: {NONDET_CASE_ID}", "Controls behaved as expected"]
    marks += ["Verdicts (one", "Speed: step ms", "mlp.sequential.predict.eager.cpu"]
    positions = [out.index(m) for m in marks]
    assert positions == sorted(positions)


def test_long_reasons_are_folded(tmp_path):
    recs = standard_records()
    long = dataclasses.replace(recs[3], verdict="diverged", reason=LONG)
    run = make_run(tmp_path, [*recs, long])
    write_report(run, plots=False)
    html = (run.path / "report.html").read_text()
    folded = re.findall(r"<details><summary>([^<]*)</summary>([^<]*)</details>", html)
    assert any(full == LONG.replace("  ", "  ") and len(head) < 100 for head, full in folded)
    assert f"<td>{LONG}</td>" not in html


def test_matrix_has_one_mark_per_case_in_a_fixed_order():
    recs = standard_records()
    matrix = verdict_matrix(frame_from_records(recs, all_columns=True))
    marks = [m for cell in matrix.cells.values() for m in cell if m is not None]
    assert sorted(m.case_id for m in marks) == sorted(r.case_id for r in recs)
    assert matrix.sub_axes == ("device", "precision", "determinism")
    assert matrix.sub_keys[0] == ("cpu", "float32", "off") and not matrix.worst_only
    row = matrix.rows.index(("mlp", "faulty", True))
    col = matrix.columns.index(("predict", "eager"))
    assert [m.verdict if m else None for m in matrix.cells[(row, col)]] == [
        None, "structural-mismatch", None, None
    ]  # fmt: skip


def test_matrix_cells_show_the_worst_verdict_when_too_many_cases():
    recs = []
    for i, precision in enumerate(("float32", "tf32", "mixed_float16", "mixed_bfloat16")):
        for size in ("tiny", "default", "large"):
            verdict = "diverged" if (i, size) == (2, "large") else "identical"
            recs.append(make_record(case(precision=precision, size=size), verdict))
    assert len(recs) > MAX_MARKS_PER_CELL
    matrix = verdict_matrix(frame_from_records(recs, all_columns=True))
    assert matrix.worst_only
    (mark,) = matrix.cells[(0, 0)]
    assert mark.verdict == "diverged" and mark.count == 12 and "worst of 12 cases" in mark.title


def test_speed_table_gives_step_times_and_speedups_per_pair():
    modes, rows, total = speed_table(frame_from_records(standard_records(), all_columns=True))
    assert total == len(rows)
    assert modes == ["eager", "function", "xla"]
    key = {"workload": "predict", "device": "gpu:0", "precision": "float32", "determinism": "off"}
    mlp = next(r for r in rows if r.pair == "mlp" and r.key == key)
    eager, xla = mlp.step_ms["eager"], mlp.step_ms["xla"]
    assert eager[1] <= eager[0] <= eager[2]  # median inside its p10–p90 spread
    assert mlp.speedup["xla"] == pytest.approx(eager[0] / xla[0]) and mlp.speedup["xla"] > 2.5
    assert mlp.members == 4  # the faulty control is not timed and not counted
    assert all(r.pair != "lstm" for r in rows)  # never timed (error)


def test_plots_are_skipped_when_they_carry_no_information():
    stable = [_stable(r) for r in standard_records() if r.verdict != "nondeterministic"]
    frame = frame_from_records(stable, all_columns=True)
    assert "bitwise identical" in rerun_figure(frame)
    assert "bitwise equal" in divergence_figure(frame)
    assert not isinstance(throughput_figure(frame), str)


def test_divergence_labels_are_numbers_with_a_key(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    fig = divergence_figure(frame_from_records(standard_records(), all_columns=True))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts if t.get_text().strip().isdigit()]
    assert labels == ["1", "2"]  # the diverged and the nondeterministic case
    key = "\n".join(t.get_text() for t in fig.texts)
    assert "1: cnn.subclass.predict.xla" in key and f"2: {NONDET_CASE_ID}" in key


def test_throughput_plot_stays_readable_for_a_thousand_pairs(tmp_path):
    run = make_large_run(tmp_path, 3000, n_pairs=1002, run_id="wide")
    fig = throughput_figure(report_frame(run))
    width_px = fig.get_figwidth() * fig.dpi
    assert width_px <= MAX_WIDTH_IN * 100
    for ax in fig.axes:
        assert len(ax.get_xticks()) <= MAX_GROUPS
        assert "slowest" in ax.get_title()


def test_report_tables_are_capped_but_keep_every_problem(tmp_path, monkeypatch):
    run = make_large_run(tmp_path, 3000, n_pairs=30, run_id="capped")
    monkeypatch.setattr(report_writer, "MAX_TABLE_ROWS", 200)
    written = write_report(run, plots=False)
    html = written["report.html"].read_text()
    frame = report_frame(run)
    problems = frame[frame["verdict"].astype(str).isin(("diverged", "nondeterministic", "error"))]
    rows = re.findall(r'<tr id="c-([^"]+)"', html)
    assert set(problems["case_id"]) <= set(rows) and len(rows) <= max(200, len(problems))
    assert "cases shown (every problem case)" in html
    # the matrix links only to rows that are on the page
    assert set(re.findall(r'href="#c-([^"]+)"', html)) <= set(rows)


def test_float64_references_stay_out_of_the_first_screen():
    from suite.report.overview import overview

    recs = [*standard_records(), make_record(case(precision="float64"), "identical")]
    view = overview(frame_from_records(recs, all_columns=True))
    marks = [m for cell in view.matrix.cells.values() for m in cell if m is not None]
    assert len(marks) == len(recs) - 1 and "float64" not in {k for key in view.matrix.sub_keys for k in key}
    assert all(r.key.get("precision") != "float64" for r in view.speed)
