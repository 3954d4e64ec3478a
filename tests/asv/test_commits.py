"""asv as a new user meets it: three commits, ``asv run`` on each, ``asv compare``, ``asv publish``.

A temporary git repository is made from a copy of the project's working tree (tracked and
untracked-but-not-ignored files), with three commits:

- A: the project as it is;
- B: the subclassed member of ``mlp_seed`` does extra, numerically neutral work (slower);
- C: that member's output is multiplied by ``1 + 1e-3`` (different numbers).

Each commit is measured with ``asv run -E existing:<this python> --set-commit-hash <sha>`` from
a checkout of that commit with ``ASV_PYTHONPATH`` pointing at it, so that both the benchmark
files (``benchmark_dir`` is read from the directory asv runs in) and the ``suite`` package are
the commit's own: asv's benchmark process drops ``PYTHONPATH`` entries from ``sys.path`` but
puts ``ASV_PYTHONPATH`` first, ahead of the editable install. Then ``asv compare A B`` must flag
the slowdown, ``asv compare B C`` the divergence, and ``asv publish`` must give a site that
headless Chromium renders with the benchmark names. asv's own ``virtualenv`` flow (a wheel per
commit, built and installed by this project's ``build_command``/``install_command``) is run on
A and B too, with TensorFlow lent to the environment instead of downloaded.

asv 0.6.6's ``index.html`` loads jQuery, flot, Bootstrap, blueimp-md5 and stupidtable from public
CDNs; the browser test makes the site offline as users do (``suite.asv.offline.make_offline``: the
libraries come from installed PyPI packages) and opens it with the browser's network off.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import pytest
from browser_client import render, skip_reason

from suite import __version__
from suite.asv.offline import make_offline

ROOT = Path(__file__).resolve().parents[2]
MACHINE = "newuser"
PARAMS = "'mlp_seed', 'subclass', 'eager', 'cpu'"
TIME = f"bench_pairs.Predict.time_predict({PARAMS}, 'tiny')"
VS_PAIR = f"bench_pairs.Divergence.track_vs_pair_max_abs({PARAMS}, 'predict', 'tiny')"
BENCHES = (
    r"^bench_pairs\.Predict\.time_predict\('mlp_seed', 'subclass', 'eager', 'cpu'",
    r"^bench_pairs\.Divergence\.track_vs_pair_max_abs\('mlp_seed', 'subclass', 'eager', 'cpu', 'predict'",
)
ANCHOR = "class MlpSeedSubclass"
CALL = "return self.dense_1(self.dense_0(x))"
#: B: 40 chained 256x256 matmuls per call (tens of ms on a 2-core CPU; the matrix stays all ones),
#: added as 0 * sum: the outputs stay bitwise the same
SLOW = (
    "import tensorflow as tf\n"
    "                w = tf.ones((256, 256))\n"
    "                for _ in range(40):\n"
    "                    w = tf.matmul(w, w) / 256.0\n"
    "                x = x + 0.0 * tf.reduce_sum(w)\n"
    f"                {CALL}"
)
#: C: the member's output drifts by a relative 1e-3
DRIFT = f"{CALL} * (1.0 + 1e-3)"


def _git(*args: str, cwd: Path) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t")
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _copy_project(dest: Path) -> None:
    """Tracked and untracked-but-not-ignored files of the working tree (what a commit would hold)."""
    listing = _git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT)
    for rel in filter(None, listing.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _edit_member(repo: Path, old: str, new: str) -> None:
    """Replace the first ``old`` after the subclassed member's class line in ``mlp_seed.py``."""
    path = repo / "suite" / "zoo" / "mlp_seed.py"
    text = path.read_text()
    start = text.index(ANCHOR)
    at = text.index(old, start)
    path.write_text(text[:at] + new + text[at + len(old) :])


def _commit(repo: Path, message: str) -> str:
    _git("add", "-A", cwd=repo)
    _git("commit", "-q", "-m", message, cwd=repo)
    return _git("rev-parse", "HEAD", cwd=repo)


def _asv(
    repo: Path,
    home: Path,
    *args: str,
    timeout: int = 600,
    checkout_on_path: bool = True,
    ok: tuple[int, ...] = (0,),
) -> str:
    """Run asv in ``repo``; ``checkout_on_path``: the ``existing`` flow's ``ASV_PYTHONPATH``."""
    env = dict(
        os.environ,
        HOME=str(home),
        PAIRBENCH_ASV_SIZE="tiny",
        PAIRBENCH_ASV_PAIRS="mlp_seed",
        PAIRBENCH_ASV_GRID="full",  # predict divergence is only in the full grid
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    env.pop("ASV_PYTHONPATH", None)
    if checkout_on_path:
        env["ASV_PYTHONPATH"] = str(repo)
    proc = subprocess.run(
        [sys.executable, "-m", "asv", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode in ok, f"asv {' '.join(args)} exited {proc.returncode}:\n{out[-4000:]}"
    return out


def _row(compare_output: str, benchmark: str) -> list[str]:
    """The cells of ``asv compare``'s row for one benchmark: mark, before, after, ratio, name."""
    for line in compare_output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[-1] == benchmark:
            return cells
    raise AssertionError(f"{benchmark} not in asv compare output:\n{compare_output}")


def _flagged(compare_output: str) -> list[str]:
    """Benchmarks ``asv compare`` marks as worse (``+``)."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in compare_output.splitlines()]
    return [cells[-1] for cells in rows if len(cells) == 5 and cells[0] == "+"]


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """The temporary repository with commits A, B, C, each measured by ``asv run``."""
    repo = tmp_path_factory.mktemp("clone")
    home = tmp_path_factory.mktemp("home")
    _copy_project(repo)
    _git("init", "-q", "-b", "main", cwd=repo)
    shas = {"A": _commit(repo, "A: as is")}
    _edit_member(repo, CALL, SLOW)
    shas["B"] = _commit(repo, "B: slower subclass member")
    _edit_member(repo, CALL, DRIFT)
    shas["C"] = _commit(repo, "C: subclass member drifts by 1e-3")
    _asv(repo, home, "machine", "--yes", "--machine", MACHINE)
    selection = [arg for regex in BENCHES for arg in ("--bench", regex)]
    for sha in shas.values():
        _git("checkout", "-q", sha, cwd=repo)
        _asv(repo, home, "run", "-E", f"existing:{sys.executable}", "--set-commit-hash", sha,
             "--machine", MACHINE, *selection)  # fmt: skip
    _git("checkout", "-q", "main", cwd=repo)
    return repo, home, shas


@pytest.mark.slow
def test_compare_flags_the_slowdown(history):
    repo, home, shas = history
    out = _asv(repo, home, "compare", shas["A"], shas["B"], "--machine", MACHINE, "--factor", "1.5")
    mark, _, _, ratio, _ = _row(out, TIME)
    assert mark == "+", out  # slower, statistically significant: asv's regression mark
    assert float(ratio) > 1.5
    assert _row(out, VS_PAIR)[0] == ""  # the extra work did not change the numbers: 0.0 -> 0.0
    assert _flagged(out) == [TIME]


def _pypi_unreachable() -> str | None:
    """Why the package index cannot be used (asv installs its runner into a new env), or None."""
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "pympler"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return None if probe.returncode == 0 else f"no package index: {probe.stderr.strip()[-200:]}"


@pytest.mark.slow
def test_virtualenv_flow_builds_and_installs_each_commit(history, tmp_path):
    """asv's default flow with this project's ``build_command``/``install_command``.

    asv creates the virtualenv once (its runner comes from the package index), then for each
    commit checks it out, builds a wheel with ``--no-deps --no-index`` and installs it with
    ``--no-deps``. TensorFlow is not downloaded here: the matrix is emptied in a config copy
    and a ``.pth`` file lends the env this interpreter's site-packages (after its own, so the
    commit's wheel is the ``suite`` that runs).
    """
    repo, home, shas = history
    reason = _pypi_unreachable()
    if reason:
        pytest.skip(reason)
    conf = json.loads(_strip_comments((repo / "asv.conf.json").read_text()))
    assert conf["environment_type"] == "virtualenv" and "--no-deps" in conf["install_command"][0]
    conf.update(  # asv resolves paths from the config file's directory
        matrix={},
        repo=str(repo),
        benchmark_dir=str(repo / "benchmarks"),
        env_dir=str(tmp_path / "env"),
        results_dir=str(tmp_path / "results"),
        html_dir=str(tmp_path / "html"),
    )
    config = tmp_path / "asv.conf.json"
    config.write_text(json.dumps(conf))
    # asv 0.6.6's `asv setup` exits 1 after success (its run() returns the environment list)
    _asv(repo, home, "setup", "--config", str(config), checkout_on_path=False, ok=(0, 1))
    sites = list((tmp_path / "env").glob("*/lib/python*/site-packages"))
    assert len(sites) == 1 and list(sites[0].glob("asv_runner*")), "asv setup made no environment"
    (sites[0] / "zz_lend_tensorflow.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    hashes = tmp_path / "hashes.txt"
    hashes.write_text(f"{shas['A']}\n{shas['B']}\n")
    out = _asv(repo, home, "run", f"HASHFILE:{hashes}", "--config", str(config), "--machine", MACHINE,
               "--bench", BENCHES[0], checkout_on_path=False)  # fmt: skip
    env_dir = sites[0].parents[2]
    for sha in (shas["A"], shas["B"]):  # one wheel per commit, built by build_command
        assert [w.name for w in (env_dir / "asv-build-cache" / sha).glob("*.whl")] == [
            f"pairbench-{__version__}-py3-none-any.whl"
        ], out
    assert json.loads((env_dir / "asv-install-status.json").read_text())["commit_hash"] == shas["B"]
    out = _asv(repo, home, "compare", shas["A"], shas["B"], "--config", str(config), "--machine", MACHINE,
               "--factor", "1.5", checkout_on_path=False)  # fmt: skip
    assert _flagged(out) == [TIME], out


def _strip_comments(text: str) -> str:
    """``asv.conf.json`` minus its ``//`` comment lines (asv itself reads JSONC)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


@pytest.mark.slow
def test_compare_flags_the_divergence(history):
    repo, home, shas = history
    out = _asv(repo, home, "compare", shas["B"], shas["C"], "--machine", MACHINE)
    mark, before, after, _, _ = _row(out, VS_PAIR)
    assert mark == "+", out  # a track_ value that grew is a regression (higher is worse)
    assert float(before) == 0.0  # B: bitwise equal to the Sequential reference
    assert 1e-6 < float(after) < 1e-2  # C: softmax outputs moved by a relative 1e-3
    assert VS_PAIR in _flagged(out)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
def test_publish_gives_a_site_a_browser_renders(history, tmp_path):
    repo, home, _ = history
    _asv(repo, home, "publish")
    html = repo / "results" / "html"
    assert (html / "index.html").is_file() and (html / "index.json").is_file()
    make_offline(html)  # what `pairbench asv-offline` and the nightly's publish step do
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        check = render(url, tmp_path / "asv.png", settle_s=3.0, timeout_s=90, offline=True)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    # Benign, and the only errors allowed: the summary page asks for the thumbnail graph of every
    # discovered benchmark, and those outside the subset run here have none (404).
    ran = ("bench_pairs.Predict.time_predict", "bench_pairs.Divergence.track_vs_pair_max_abs")
    summary_404 = re.compile(r"status of 404 .*/graphs/summary/([\w.]+)\.json")
    for error in check.console_errors:
        missing = summary_404.search(error)
        assert missing and missing.group(1) not in ran, error
    assert check.nonblank
    assert check.requests and all(u.startswith("http://127.0.0.1:") for u in check.requests)
    for name in ("bench_pairs.Predict.time_predict", "bench_pairs.Divergence.track_vs_pair_max_abs"):
        assert name in check.dom_text
    assert re.search(r"pairbench", check.dom_text)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
