"""User text never reaches a terminal, a report, a CSV or a printed command raw (issue 27).

One sanitiser (:mod:`suite.text`): escape sequences and control characters from an exception
message, a record or a file are dropped at the edges (progress line, terminal table, report.md,
report.html, error lines), table.csv cells a spreadsheet would run are neutralised, and every
command printed for the user to paste is quoted.
"""

from __future__ import annotations

import csv
import dataclasses
import shlex
from pathlib import Path

import pytest
from fake_runs import case, make_record, make_run

from suite.cli import main
from suite.errors import classify_failure
from suite.results.run_dir import RunDir
from suite.results.runs import resume_command
from suite.run.progress import PlainProgress
from suite.text import clean_line, clean_text, command, csv_cell

#: a retitle (OSC 0 ... BEL), a screen clear (CSI 2J), a colour, an 8-bit CSI, a bidi override
HOSTILE = "boom \x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m \x9b2J\u202eevil\x00 end"
FORMULA = "=cmd|' /C calc'!A0"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (HOSTILE, "boom red evil end"),
        ("a\x1bPdevice control\x1b\\b", "ab"),  # DCS string up to ST
        ("tab\tnew\nline\rcr", "tab new line cr"),
        ("plain ünïcode — ok", "plain ünïcode — ok"),
        ("ends in a bare escape \x1b", "ends in a bare escape "),
    ],
)
def test_clean_line_drops_escape_sequences_and_controls(text, line):
    assert clean_line(text) == line
    assert "\x1b" not in clean_text(text) and "\x07" not in clean_text(text)


def test_clean_text_keeps_lines_and_tabs():
    assert clean_text("a\tb\nc\x1b[2J\r\nd") == "a\tb\nc\nd"


def test_csv_cells_that_start_a_formula_are_quoted():
    assert [csv_cell(v) for v in ("=1+1", "+1", "-x", "@sum", "\tx", "\rx", "ok", "")] == [
        "'=1+1",
        "'+1",
        "'-x",
        "'@sum",
        "'\tx",
        "'\rx",
        "ok",
        "",
    ]


def test_printed_commands_paste_as_the_same_arguments(tmp_path):
    odd = tmp_path / "my results; rm -rf ~ $(id) 'q'"
    run = RunDir(odd / "r1")
    assert shlex.split(resume_command(run)) == [
        "pairbench",
        "run",
        "--resume",
        "r1",
        "--results-dir",
        str(odd),
    ]
    assert shlex.split(command("tensorboard", "--logdir", odd, "--port", "6006"))[2] == str(odd)


def test_an_exception_message_becomes_a_clean_one_line_reason():
    verdict, reason = classify_failure(ValueError(HOSTILE + "\nsecond line"))
    assert verdict == "error"
    assert reason == "ValueError: boom red evil end"


def test_the_progress_line_is_clean(capsys):
    record = make_record(case(), "error", reason=HOSTILE, base_step_s=None)
    progress = PlainProgress()
    progress.begin(total=1, done=0)
    progress.finished(record)
    progress.message(f"note {HOSTILE}")
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "boom red evil end" in out


@pytest.fixture
def hostile_run(tmp_path) -> RunDir:
    """A run whose record reasons hold escape sequences and a formula, on a machine named like one."""
    records = [
        make_record(case(member="sequential"), "error", reason=HOSTILE, base_step_s=None),
        make_record(case(member="functional"), "error", reason="-1 is not a shape", base_step_s=None),
        make_record(case(member="subclass")),
    ]
    records[2] = dataclasses.replace(records[2], timing={**records[2].timing, "compile_s": -0.25})
    run = make_run(tmp_path / "results", records, run_id="r")
    meta = run.read_meta()
    run.write_meta({**meta, "machine": FORMULA, "argv": ["pairbench", "run", "--results-dir", "a b;c"]})
    return run


def test_report_terminal_markdown_html_and_csv_are_clean(hostile_run, capsys):
    assert main(["report", "r", "--results-dir", str(hostile_run.path.parent), "--no-plots"]) == 0
    out, err = capsys.readouterr()
    files = [(hostile_run.path / name).read_text() for name in ("report.md", "report.html")]
    for text in (out, err, *files):
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "\u202e" not in text
    assert "boom red evil end" in (hostile_run.path / "report.md").read_text()
    assert "pairbench run --results-dir 'a b;c'" in (hostile_run.path / "report.md").read_text()
    with open(hostile_run.path / "table.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["machine"] for r in rows} == {"'" + FORMULA}
    reasons = {r["member"]: r["reason"] for r in rows}
    assert reasons["functional"] == "'-1 is not a shape" and reasons["sequential"] == "boom red evil end"
    assert {float(r["compile_ms"]) for r in rows if r["member"] == "subclass"} == {-250.0}  # still a number


def test_an_error_line_is_clean(tmp_path, capsys):
    assert main(["report", "no\x1b]0;x\x07such", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pairbench: error: ") and "\x1b" not in err and "\x07" not in err


def test_trace_prints_a_quoted_tensorboard_command(tmp_path, capsys):
    results = tmp_path / "results; echo pwned"
    run = make_run(results, [make_record(case())], run_id="r")
    session = run.path / "traces" / case().case_id / "plugins" / "profile" / "2026_01_01_00_00_00"
    session.mkdir(parents=True)
    (session / "host.xplane.pb").write_bytes(b"")
    assert main(["trace", "r", "--results-dir", str(results)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "tensorboard --logdir" in ln)
    assert shlex.split(line)[2] == str(Path(run.path / "traces").resolve())
