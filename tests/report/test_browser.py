"""The HTML report in a real headless Chromium (skipped when Chromium is not installed).

At laptop width (1366 x 768) the first screen must answer "is anything wrong, and what is
fast?": problems (or "no problems"), the controls in one line, the verdict matrix and the
speed table, with no horizontal scroll; on a run with problems and on a clean run.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from browser_client import render, skip_reason
from fake_runs import NONDET_CASE_ID, make_large_run, make_run, metrics, rerun, standard_records

from suite.report import write_report
from suite.report.plots import PLOTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or ""),
]

LAPTOP = {"width": 1366, "height": 768}
_RECT = "JSON.stringify((e => e ? e.getBoundingClientRect() : null)(document.querySelector({!r})))"
PROBES = {
    "scroll": "JSON.stringify([document.documentElement.scrollWidth, document.documentElement.clientWidth])",
    "matrix": _RECT.format("table.matrix"),
    "speed": _RECT.format("table.speed"),
    "problems": _RECT.format(".problems, .ok"),
    "controls": _RECT.format("p.controls"),
    "marks": "document.querySelectorAll('table.matrix a.m').length",
    "targets": "Array.from(document.querySelectorAll('table.matrix a.m[href]'))"
    ".every(a => document.getElementById(decodeURIComponent(a.hash.slice(1))) !== null)",
}


def _first_screen(check) -> dict:
    values = {k: (json.loads(v) if isinstance(v, str) else v) for k, v in check.values.items()}
    scroll_width, client_width = values["scroll"]
    assert scroll_width <= client_width == LAPTOP["width"], "horizontal scroll at laptop width"
    for name in ("problems", "controls", "matrix", "speed"):
        rect = values[name]
        assert rect is not None, f"no {name} on the page"
        assert 0 <= rect["top"] < LAPTOP["height"], (
            f"{name} starts below the first screen ({rect['top']:.0f} px)"
        )
        assert rect["bottom"] <= LAPTOP["height"], f"{name} does not fit in the first screen"
    assert values["targets"] is True  # every mark links to its case's row
    return values


def test_first_screen_of_a_run_with_problems(tmp_path):
    run = make_run(tmp_path / "results", standard_records(), run_id="r1")
    write_report(run)
    check = render(run.path / "report.html", tmp_path / "shot.png", probes=PROBES, **LAPTOP)
    assert check.console_errors == [] and check.external_requests == []
    assert check.nonblank and check.screenshot_path.stat().st_size > 0
    values = _first_screen(check)
    assert values["marks"] == len(run.records())
    problems = re.search(r'<div class="problems">(.*?)</div>', check.dom_text, re.S)
    assert problems and NONDET_CASE_ID in problems.group(1) and "faulty" not in problems.group(1)
    assert "Controls behaved as expected" in check.dom_text
    rows = re.findall(r'<tr id="c-[^"]+" class="v-([a-z-]+)', check.dom_text)
    assert len(rows) == len(run.records()) and rows.count("nondeterministic") == 1
    assert len(check.images) == len(PLOTS) and check.images_loaded


def test_first_screen_of_a_clean_run(tmp_path):
    clean = []
    for rec in standard_records():
        if rec.verdict in ("identical", "close", "structural-mismatch"):
            div = {k: (metrics(0.0) if v else v) for k, v in (rec.divergence or {}).items() if k != "rerun"}
            clean.append(dataclasses.replace(rec, divergence={**div, "rerun": rerun()} if div else {}))
    run = make_run(tmp_path / "results", clean, run_id="clean")
    write_report(run)
    check = render(run.path / "report.html", tmp_path / "clean.png", probes=PROBES, **LAPTOP)
    assert check.console_errors == []
    _first_screen(check)
    assert "No problems" in check.dom_text
    # everything is bitwise stable and equal: those two plots would carry no information
    assert len(check.images) == 1 and check.images_loaded
    assert "rerun_spread: skipped, every rerun" in check.dom_text


def test_the_matrix_of_a_500_case_run_fits_one_screen(tmp_path):
    run = make_large_run(tmp_path, 500, n_pairs=6, run_id="five-hundred")
    write_report(run, plots=False)
    check = render(run.path / "report.html", tmp_path / "big.png", probes=PROBES, **LAPTOP)
    scroll_width, client_width = json.loads(check.values["scroll"])
    assert scroll_width <= client_width
    assert check.values["marks"] == 500
    assert json.loads(check.values["matrix"])["bottom"] <= LAPTOP["height"]
    assert json.loads(check.values["speed"])["top"] < LAPTOP["height"]


def test_helper_sees_blank_pages_and_errors(tmp_path):
    """The checks above can fail: a blank page is blank, a broken page reports its errors."""
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    check = render(blank, tmp_path / "blank.png")
    assert not check.nonblank and check.console_errors == [] and check.images == []

    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!DOCTYPE html><html><body><h1>x</h1><img src="missing.png">'
        '<div style="width:3000px">wide</div>'
        '<script>console.error("boom"); undefinedFn();</script></body></html>'
    )
    check = render(broken, tmp_path / "broken.png", probes=PROBES, **LAPTOP)
    text = "\n".join(check.console_errors)
    assert "console.error: boom" in text
    assert "undefinedFn is not defined" in text
    assert "missing.png" in text
    assert check.images and not check.images_loaded
    scroll_width, client_width = json.loads(check.values["scroll"])
    assert scroll_width > client_width  # the probe sees a horizontal scroll
