"""The HTML report in a real headless Chromium (skipped when Chromium is not installed)."""

from __future__ import annotations

import re

import pytest
from browser_client import render, skip_reason
from fake_runs import NONDET_CASE_ID, make_run, standard_records

from suite.report import write_report
from suite.report.plots import PLOTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or ""),
]


def test_report_renders_cleanly(tmp_path):
    run = make_run(tmp_path / "results", standard_records(), run_id="r1")
    write_report(run)
    check = render(run.path / "report.html", tmp_path / "shot.png")
    assert check.console_errors == []
    assert check.external_requests == []
    assert check.nonblank and check.screenshot_path.stat().st_size > 0
    results = re.search(r'<table class="results">(.*?)</table>', check.dom_text, re.S)
    assert results is not None
    rows = re.findall(r"<tr class=\"v-([a-z-]+)\">", results.group(1))
    assert len(rows) == len(run.records())
    assert rows.count("nondeterministic") == 1 and rows.count("diverged") == 1
    assert NONDET_CASE_ID in check.dom_text  # findings
    assert len(check.images) == len(PLOTS) and check.images_loaded


def test_helper_sees_blank_pages_and_errors(tmp_path):
    """The checks above can fail: a blank page is blank, a broken page reports its errors."""
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    check = render(blank, tmp_path / "blank.png")
    assert not check.nonblank and check.console_errors == [] and check.images == []

    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!DOCTYPE html><html><body><h1>x</h1><img src="missing.png">'
        '<script>console.error("boom"); undefinedFn();</script></body></html>'
    )
    check = render(broken, tmp_path / "broken.png")
    text = "\n".join(check.console_errors)
    assert "console.error: boom" in text
    assert "undefinedFn is not defined" in text
    assert "missing.png" in text
    assert check.images and not check.images_loaded
