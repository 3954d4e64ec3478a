"""The published asv site works offline (issue 15 b): CDN files served from installed packages.

The unit tests rewrite asv's own ``index.html``; the browser test publishes a real asv site (a toy
project, six commits, one regression), makes it offline with ``pairbench asv-offline`` and
opens it in headless Chromium with no network: the summary renders, a graph draws, the
regressions list shows, and the page's ``md5`` agrees with Python's.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from browser_client import render, skip_reason

from suite.asv.offline import ASSETS, VENDOR, asset_for, make_offline
from suite.cli import main
from suite.errors import UsageError

ASV_INDEX = Path(__import__("asv").__file__).parent / "www" / "index.html"
_EXTERNAL = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"https?://", re.I)


@pytest.fixture
def site(tmp_path):
    html = tmp_path / "html"
    html.mkdir()
    shutil.copyfile(ASV_INDEX, html / "index.html")
    return html


def test_every_cdn_file_of_asv_comes_from_a_package(site):
    original = (site / "index.html").read_text()
    urls = make_offline(site)
    assert len(urls) == len(_EXTERNAL.findall(original)) == 10
    text = (site / "index.html").read_text()
    assert not _EXTERNAL.search(text) and "integrity=" not in text
    for url in urls:
        asset = asset_for(url)
        local = site / VENDOR / asset.name
        assert f'"{VENDOR}/{asset.name}"' in text
        assert local.read_bytes() == asset.source().read_bytes() and local.stat().st_size > 500
    assert {a.distribution for a in ASSETS} == {"XStatic-jQuery", "js.jquery_flot", "js.bootstrap", None}
    assert make_offline(site) == []  # idempotent
    assert (site / "index.html").read_text() == text


def test_an_unknown_cdn_file_is_refused_and_nothing_changes(site):
    index = site / "index.html"
    index.write_text(
        index.read_text().replace("</head>", '<script src="https://cdn.example/new.js"></script></head>')
    )
    before = index.read_text()
    with pytest.raises(UsageError, match=re.escape("https://cdn.example/new.js")):
        make_offline(site)
    assert index.read_text() == before and not (site / VENDOR).exists()


def test_cli(site, tmp_path, capsys):
    assert main(["asv-offline", str(site)]) == 0
    assert "10 CDN files now served from vendor/" in capsys.readouterr().out
    assert main(["asv-offline", str(tmp_path / "nowhere")]) == 2
    assert "no published asv site" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ browser

BENCH = "bench_toy.track_loss"


def _git(path: Path, *args: str) -> str:
    run = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(run, check=True, capture_output=True, text=True).stdout.strip()


def _asv(path: Path, home: Path, *args: str) -> str:
    env = {**os.environ, "HOME": str(home), "ASV_PYTHONPATH": str(path)}
    proc = subprocess.run([sys.executable, "-m", "asv", *args], cwd=path, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A toy asv project, six commits (the fourth doubles a tracked value), published."""
    root = tmp_path_factory.mktemp("toy")
    home = tmp_path_factory.mktemp("home")
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "__init__.py").write_text("")
    (root / "asv.conf.json").write_text(
        '{"version": 1, "project": "toy", "repo": ".", "branches": ["main"], "environment_type": '
        '"virtualenv", "benchmark_dir": "benchmarks", "results_dir": "results", "html_dir": "html"}'
    )
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    _asv(root, home, "machine", "--yes", "--machine", "toy")
    # the value comes from a data file: asv drops results whose benchmark source changed
    (root / "benchmarks" / "bench_toy.py").write_text(
        "from pathlib import Path\n\n\ndef track_loss():\n"
        "    return float(Path(__file__).with_name('loss.txt').read_text())\n"
    )
    for value in (1.0, 1.0, 1.0, 2.0, 2.0, 2.0):
        (root / "benchmarks" / "loss.txt").write_text(f"{value}\n")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "--allow-empty", "-m", f"loss {value}")
        sha = _git(root, "rev-parse", "HEAD")
        _asv(root, home, "run", "-E", f"existing:{sys.executable}", "--set-commit-hash", sha,
             "--machine", "toy", "--quick")  # fmt: skip
    _asv(root, home, "publish")
    return root / "html"


def _serve(html: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


MD5_INPUTS = ("", "asv", "pairbench ü", "x" * 55, "y" * 56, "z" * 200)
PROBES = {
    "graphs": "document.querySelectorAll('canvas.flot-base').length",
    "regressions": "JSON.stringify(Array.from(document.querySelectorAll('tbody tr'), r => r.innerText))",
    "md5": f"JSON.stringify({json.dumps(list(MD5_INPUTS))}.map(md5))",
    "sortable": "typeof jQuery.fn.stupidtable === 'function' && typeof jQuery.fn.stupidsort === 'function'",
}


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
def test_published_site_works_with_the_network_off(published, tmp_path):
    html = tmp_path / "html"
    shutil.copytree(published, html)
    server, thread = _serve(html)
    base = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    try:
        # as asv publishes it, the page cannot load its libraries offline: asv sends it to error.html
        before = render(base, tmp_path / "before.png", settle_s=3.0, offline=True)
        assert before.external_requests and any("/error.html" in u for u in before.requests)
        assert any(
            "ERR_PROXY_CONNECTION_FAILED" in e or "ERR_NAME_NOT_RESOLVED" in e for e in before.console_errors
        )
        assert main(["asv-offline", str(html)]) == 0
        checks = {}
        for view in ("", BENCH, "regressions"):
            shot = tmp_path / f"{view or 'summary'}.png"
            checks[view] = render(f"{base}#{view}", shot, settle_s=3.0, offline=True, probes=PROBES)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    for view, check in checks.items():
        # asv redraws every graph on a window "resize" event, also while a graph's placeholder is
        # hidden, and flot (0.8.1 here, 0.8.3 on the CDN: the same check) refuses a 0-wide canvas
        errors = [e for e in check.console_errors if "Invalid dimensions for plot, width = 0" not in e]
        assert errors == [], (view, errors)
        assert all(u.startswith("http://127.0.0.1:") for u in check.requests), check.requests
        assert check.nonblank and "error.html" not in " ".join(check.requests)
    assert BENCH in checks[""].dom_text  # the summary lists the benchmark
    assert checks[BENCH].values["graphs"] >= 1  # flot drew the graph
    rows = json.loads(checks["regressions"].values["regressions"])
    assert any(BENCH in row and "2.00x" in row for row in rows), rows
    expected = [
        hashlib.md5(s.encode()).hexdigest() for s in ("", "asv", "pairbench ü", "x" * 55, "y" * 56, "z" * 200)
    ]
    assert json.loads(checks[""].values["md5"]) == expected
    assert checks["regressions"].values["sortable"] is True
