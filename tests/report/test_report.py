"""Reports: the table, summary, exports, plots and ``pairbench report`` on synthesized runs."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from fake_runs import MISMATCH_CASE_ID, NONDET_CASE_ID, case, make_record, make_run, standard_records

from suite.cli import main
from suite.errors import UsageError
from suite.report import summarize, write_report
from suite.report.plots import PLOTS, write_plots
from suite.report.table import COLUMN_NAMES, arrange, report_frame
from suite.results.frame import frame_from_records, load_frame
from suite.verdicts import SEVERITY, VERDICTS

ERROR_CASE_ID = "lstm.raw.predict.xla.gpu0.float32.det-off.tiny"


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path / "results", standard_records(), run_id="r1")


def test_every_verdict_has_a_severity():
    assert set(SEVERITY) == set(VERDICTS)


def test_frame_has_one_row_per_case_with_units(run):
    records = {r.case_id: r for r in run.records()}
    frame = report_frame(run)
    assert list(frame.columns) == list(COLUMN_NAMES)
    assert frame.set_index("case_id").loc[MISMATCH_CASE_ID, "control"]
    assert not frame["control"].drop(frame.index[frame["case_id"] == MISMATCH_CASE_ID]).any()
    assert sorted(frame["case_id"]) == sorted(records)
    row = frame.set_index("case_id").loc[NONDET_CASE_ID]
    rec = records[NONDET_CASE_ID]
    assert row["step_ms_median"] == pytest.approx(rec.timing["step_s_median"] * 1e3)
    assert row["peak_mem_mib"] == pytest.approx(rec.memory["peak_device_bytes"] / 2**20)
    assert row["rerun_distinct"] == 3
    assert "embedding/embeddings" in row["first_divergence"]
    assert "UnsortedSegmentCustomKernel" in row["top_kernels"]
    # missing stays missing: the error case never timed, the reference member has no vs_pair
    err = frame.set_index("case_id").loc[ERROR_CASE_ID]
    assert math.isnan(err["step_ms_median"]) and math.isnan(err["samples_per_s"])
    ref = frame.set_index("case_id").loc["mlp.sequential.predict.eager.gpu0.float32.det-off.tiny"]
    assert math.isnan(ref["vs_pair_max_abs"]) and ref["vs_fp64_max_abs"] > 0


def test_last_record_of_a_case_wins(tmp_path):
    c = case()
    first = make_record(c, "error", reason="first try", base_step_s=None)
    second = make_record(c, "identical")
    frame = report_frame(make_run(tmp_path, [first, second]))
    assert len(frame) == 1 and frame["verdict"].iloc[0] == "identical"


def test_sort_and_group(run):
    frame = report_frame(run)
    by_verdict = arrange(frame, sort="verdict")
    assert by_verdict["verdict"].iloc[0] == "error"
    assert by_verdict["verdict"].iloc[-1] == "identical"
    by_step = arrange(frame, sort="step")
    steps = by_step["step_ms_median"].dropna().tolist()
    assert steps == sorted(steps, reverse=True)
    assert math.isnan(by_step["step_ms_median"].iloc[-1])  # never timed: last
    grouped = arrange(frame, group_by="device,pair", sort="divergence")
    keys = list(zip(grouped["device"], grouped["pair"], strict=True))
    assert keys == sorted(keys)
    top_gpu = grouped[(grouped["device"] == "gpu:0") & (grouped["pair"] == "cnn")]
    assert top_gpu["verdict"].iloc[0] == "diverged"
    with pytest.raises(UsageError, match="group-by"):
        arrange(frame, group_by="colour")
    with pytest.raises(UsageError, match="sort key"):
        arrange(frame, sort="speediness")


def test_summary_calls_out_problems_and_summarises_controls(run):
    summary = summarize(report_frame(run))
    assert summary.headline.startswith("19 cases: 10 identical, 4 close")
    assert "1 control case (1 structural-mismatch)" in summary.headline
    assert "1 nondeterministic case (first diverging: gradient of embedding/embeddings" in summary.highlight
    assert "top kernel: void tensorflow::UnsortedSegmentCustomKernel" in summary.highlight
    # the faulty control was caught: good news in one line, not a problem
    assert "structural-mismatch" not in summary.highlight
    assert summary.controls.line == "Controls behaved as expected (1 case): mlp.faulty structural-mismatch."
    assert [f.verdict for f in summary.findings] == ["nondeterministic", "diverged", "error"]
    assert summary.findings[0].case_id == NONDET_CASE_ID
    assert "rerun 3 distinct of 3" in summary.findings[0].text
    # unsupported is not a problem of the numbers: one line
    assert summary.not_run.startswith("1 case did not run here: op has no deterministic GPU")


def test_write_report_files(run):
    written = write_report(run, group_by="pair", sort="verdict")
    for name in ("report.md", "report.html", "table.csv", "table.parquet"):
        assert written[name] == run.path / name and written[name].stat().st_size > 0
    ids = {r.case_id for r in run.records()}

    csv = pd.read_csv(run.path / "table.csv")
    assert set(csv["case_id"]) == ids and len(csv) == len(ids)
    assert math.isnan(csv.set_index("case_id").loc[ERROR_CASE_ID, "step_ms_median"])
    assert ",," in (run.path / "table.csv").read_text()  # missing values are empty
    parquet = pd.read_parquet(run.path / "table.parquet")
    pd.testing.assert_frame_equal(parquet, load_frame(run))
    assert parquet["case_id"].tolist() == csv["case_id"].tolist()

    md = (run.path / "report.md").read_text()
    assert "> ⚠ 1 nondeterministic case" in md
    assert "⚠ **nondeterministic**" in md and "≠ **structural-mismatch**" in md
    assert "### pair = embedding" in md
    # same order as the HTML: problems, controls, verdict matrix, speed, results
    order = [md.index(h) for h in ("## Problems", "Controls behaved as expected", "## Verdicts", "## Speed",
                                   "## Results")]  # fmt: skip
    assert order == sorted(order)
    assert f"`{MISMATCH_CASE_ID}`" not in md.split("## Verdicts")[0]  # the control is not a problem
    assert "| GPUs | 0: NVIDIA H100 80GB HBM3" in md and "550.54.15" in md and "(0123456789ab)" in md
    assert "—" in md  # missing values in text outputs
    for name in PLOTS:
        assert f"](plots/{name}.png)" in md


def test_html_is_self_contained_and_highlights(run):
    write_report(run)
    html = (run.path / "report.html").read_text()
    assert "<script" not in html.lower()
    assert 'src="http' not in html and 'href="http' not in html and "@import" not in html
    assert html.count('<img src="data:image/png;base64,') == len(PLOTS)
    assert html.count('<tr class="v-nondeterministic">') == 1  # findings
    assert html.count(f'<tr id="c-{NONDET_CASE_ID}" class="v-nondeterministic">') == 1  # results
    assert f'<tr id="c-{MISMATCH_CASE_ID}" class="v-structural-mismatch ctl">' in html
    assert "tr.v-nondeterministic td { background" in html
    assert "NVIDIA H100 80GB HBM3" in html
    # one mark per case in the matrix, each linking to its row
    marks = re.findall(r'<a class="m[^"]*" href="#c-([^"]+)"', html)
    assert sorted(marks) == sorted(r.case_id for r in run.records())
    assert all(f'id="c-{m}"' in html for m in marks)


def test_plots_are_nonempty_pngs(tmp_path):
    run = make_run(tmp_path / "results", standard_records(), run_id="r1")
    from matplotlib.image import imread

    paths, notes = write_plots(report_frame(run), run.path / "plots")
    assert notes == [] and set(paths) == set(PLOTS)
    for path in paths.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = imread(str(path))
        assert min(pixels.shape[:2]) > 200 and float(np.std(pixels[..., :3])) > 0.01


def test_plots_skip_when_nothing_to_draw(tmp_path):
    failed = [
        make_record(case(pair, "raw"), "error", reason="boom", base_step_s=None) for pair in ("mlp", "cnn")
    ]
    for frame in (frame_from_records(failed, all_columns=True), frame_from_records([], all_columns=True)):
        paths, notes = write_plots(frame, tmp_path / "plots")
        assert paths == {}
        assert len(notes) == len(PLOTS) and all("skipped" in n for n in notes)
    assert not (tmp_path / "plots").exists() or not list((tmp_path / "plots").iterdir())


def test_report_of_empty_and_all_failed_runs(tmp_path):
    empty = make_run(tmp_path, [], run_id="empty")
    written = write_report(empty)
    assert "0 cases (the run has no records)" in (empty.path / "report.md").read_text()
    assert not any(k.startswith("plots/") for k in written)
    failed = make_run(tmp_path, [make_record(case(), "error", reason="OOM", base_step_s=None)], run_id="f")
    write_report(failed)
    html = (failed.path / "report.html").read_text()
    assert "throughput: skipped, no case has a throughput" in html


def test_cli_report(run, capsys):
    results = str(run.path.parent)
    assert main(["report", "latest", "--results-dir", results, "--no-plots", "--sort", "step"]) == 0
    out = capsys.readouterr().out
    assert "19 cases:" in out and "nondeterministic" in out and "table.parquet" in out
    assert not (run.path / "plots").exists()
    assert "plots not drawn (--no-plots)" in (run.path / "report.md").read_text()
    assert main(["report", "r1", "--results-dir", results, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "┃" not in out and "1 nondeterministic case" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "nope"],
        ["report", "r1", "--sort", "bogus"],
        ["report", "r1", "--group-by", "pair,colour"],
    ],
)
def test_cli_report_bad_input_exits_2(run, argv, capsys):
    assert main([*argv, "--results-dir", str(run.path.parent)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pairbench: error:") and err.count("\n") == 1


def test_docs_list_every_column_and_sort_key():
    from pathlib import Path

    from suite.report.table import SORT_KEYS

    docs = Path(__file__).resolve().parents[2] / "docs"
    report, columns = (docs / "report.md").read_text(), (docs / "columns.md").read_text()
    assert [name for name in SORT_KEYS if f"`{name}`" not in report] == []
    assert [name for name in COLUMN_NAMES if f"| `{name}` |" not in columns] == []
