"""A toy asv project for the nightly and fleet tests (asv runs without TensorFlow)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def toy_project(path: Path, *, git: bool = True) -> Path:
    """A tiny asv project (one ``track_`` benchmark) at ``path``, committed to git unless ``git=False``."""
    (path / "benchmarks").mkdir(parents=True)
    (path / "benchmarks" / "__init__.py").write_text("")
    (path / "benchmarks" / "bench_toy.py").write_text("def track_answer():\n    return 42.0\n")
    (path / "asv.conf.json").write_text(
        '// a comment, as in the project\'s own config\n{"version": 1, "project": "toy", "repo": ".",'
        ' "branches": ["main"], "environment_type": "virtualenv", "benchmark_dir": "benchmarks",'
        ' "results_dir": ".asv/results", "html_dir": ".asv/html"}\n'
    )
    if git:
        run = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
        subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
        subprocess.run([*run, "add", "-A"], check=True)
        subprocess.run([*run, "commit", "-q", "-m", "toy"], check=True)
    return path
