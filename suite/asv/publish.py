"""Running asv for pairbench: a config pointing into a results folder, ``asv run`` and the one
publisher (``asv publish``, then the site made to work offline) used by ``nightly`` and ``fleet``."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from suite.errors import UsageError, output_tail
from suite.machine.tf_noise import quiet_tf_env
from suite.results.names import ASV_DIR, HTML_DIR

#: the generated asv configuration, in the results folder
ASV_CONFIG = "asv-nightly.conf.json"


def asv_config(project_dir: Path, results_dir: Path) -> Path:
    """Write ``<results_dir>/asv-nightly.conf.json``: the project's ``asv.conf.json`` with
    results in ``<results_dir>/asv``, the html in ``<results_dir>/html`` (the project's own
    layout when ``results_dir`` is its ``results/``) and every other path made absolute.

    Raises:
        OSError: the project's ``asv.conf.json`` cannot be read.
        ValueError: it is not valid JSON (with ``//`` comments).
    """
    from asv.util import load_json

    conf = load_json(str(project_dir / "asv.conf.json"), js_comments=True)
    repo = str(conf.get("repo", "."))
    if "://" not in repo and not repo.startswith("git@"):
        conf["repo"] = str((project_dir / repo).resolve())
    for key, default in (("benchmark_dir", "benchmarks"), ("env_dir", "env")):
        conf[key] = str((project_dir / conf.get(key, default)).resolve())
    results_dir = results_dir.resolve()
    conf.update(results_dir=str(results_dir / ASV_DIR), html_dir=str(results_dir / HTML_DIR))
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / ASV_CONFIG
    path.write_text(json.dumps(conf, indent=2) + "\n", encoding="utf-8")
    return path


def run_asv(args: list[str], log: Path, timeout_s: float) -> tuple[int, str]:
    """Run ``python -m asv ARGS`` with its output in ``log``; return (exit code, output tail)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "asv", *args]
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n")
        fh.flush()
        try:
            proc = subprocess.run(
                cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s, env=quiet_tf_env()
            )
            code = proc.returncode
        except subprocess.TimeoutExpired:
            fh.write(f"timed out after {timeout_s:.0f} s\n")
            code = 124
    return code, output_tail(log.read_text(encoding="utf-8", errors="replace"))


def asv_has_results(asv_results: Path, machine: str, commit: str) -> bool:
    """Whether ``<asv_results>/<machine>`` already holds results of ``commit``."""
    from asv.results import iter_results_for_machine_and_hash

    try:
        return any(True for _ in iter_results_for_machine_and_hash(str(asv_results), machine, commit))
    except OSError:
        return False


def publish(conf: Path, html: Path, log: Path, timeout_s: float = 1800) -> Path:
    """``asv publish`` with ``conf`` into ``html``, then make the site work offline.

    Nightly GPU boxes and the machines that read a fleet's site are often offline, so the
    site never depends on a CDN (:func:`suite.asv.offline.make_offline`).

    Returns:
        The site's ``index.html``.

    Raises:
        UsageError: ``asv publish`` failed (its last lines), or the site cannot be made offline.
    """
    from suite.asv.offline import make_offline

    code, last = run_asv(["publish", "--config", str(conf)], log, timeout_s)
    if code != 0:
        raise UsageError(f"asv publish exited {code}: {last}")
    try:
        make_offline(html)
    except UsageError as exc:
        raise UsageError(f"published, but not for offline use: {exc}") from None
    return html / "index.html"
