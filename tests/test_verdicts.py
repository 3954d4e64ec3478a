"""The verdict vocabulary has one home (``suite.verdicts``) that every renderer reads."""

from __future__ import annotations

import ast

from conftest import ROOT

from suite import verdicts

#: verdict words that are not also ordinary English in code ("close", "error" are: a file's
#: ``close()``, a profile's ``"error"`` key), so any string literal equal to one is a verdict
DISTINCT_WORDS = set(verdicts.VERDICTS) - {verdicts.CLOSE, verdicts.ERROR}


def test_every_verdict_has_one_look_and_a_severity_order():
    assert set(verdicts.LOOKS) == set(verdicts.VERDICTS) == set(verdicts.SEVERITY)
    assert verdicts.severity_of("identical") < verdicts.severity_of("close") < verdicts.severity_of("error")
    assert verdicts.severity_of("a word nobody uses") > max(verdicts.SEVERITY.values())
    symbols = [look.symbol for look in verdicts.LOOKS.values()]
    assert len(set(symbols)) == len(symbols), "two verdicts share a matrix symbol"
    colours = [look.colour for look in verdicts.LOOKS.values()]
    assert len(set(colours)) == len(colours), "two verdicts share a colour"


def test_groups_only_hold_verdict_words():
    for group in (verdicts.PROBLEM, verdicts.NOT_RUN, verdicts.CONTROL_EXPECTED, verdicts.UNAVAILABLE):
        assert set(group) <= set(verdicts.VERDICTS)
    assert not set(verdicts.PROBLEM) & set(verdicts.AGREE)


def test_no_module_but_suite_verdicts_spells_a_verdict_word():
    offenders = []
    for path in sorted((ROOT / "suite").rglob("*.py")):
        if path.name == "verdicts.py" and path.parent.name == "suite":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in DISTINCT_WORDS:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert offenders == []


def test_the_progress_line_draws_a_verdict_as_the_terminal_table_does(monkeypatch):
    # the maps used to disagree: diverged was yellow in the progress line, bold red in the table
    from rich.console import Console

    from suite.case import Case
    from suite.results.record import Record
    from suite.run.progress import RichProgress

    case = Case("mlp", "subclass", "predict", "eager", "cpu", "float32", "off", "tiny")
    console = Console(record=True, force_terminal=True, width=200)
    monkeypatch.setattr("rich.console.Console", lambda *a, **k: console)
    progress = RichProgress()
    progress.begin(total=1, done=0)
    progress.finished(Record(case=case, verdict="diverged", reason="vs_pair: max_abs 1"))
    progress.end()
    styled = [seg for seg in console._record_buffer if seg.text == "diverged"]
    assert styled and str(styled[0].style) == verdicts.LOOKS["diverged"].row_style == "bold red"
