"""``Dockerfile.gpu`` and ``docker/entrypoint.sh``: what can be checked without Docker.

The Dockerfile is parsed with ``dockerfile-parse``; every path it copies or installs from must
exist in the repository, every ``pairbench`` command line it and the entrypoint run must parse,
and the entrypoint script runs here for real against a temporary results folder.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_NIGHTLY_ARGS
from dockerfile_parse import DockerfileParser

from suite.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile.gpu"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
IGNORE = ROOT / "Dockerfile.gpu.dockerignore"


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO(DOCKERFILE.read_bytes()))


def instructions(parser: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def test_base_image_is_tensorflow_2_21_gpu(dockerfile):
    image = dockerfile.baseimage  # ARG defaults substituted
    assert re.fullmatch(r"tensorflow/tensorflow:2\.21\.\d+-gpu", image), image


def test_every_copied_path_exists(dockerfile):
    copies = instructions(dockerfile, "COPY") + instructions(dockerfile, "ADD")
    assert copies, "Dockerfile.gpu copies nothing"
    for value in copies:
        args = [a for a in shlex.split(value) if not a.startswith("--")]
        for source in args[:-1]:
            assert (ROOT / source).exists(), f"COPY source {source!r} is not in the repository"


def test_repository_files_run_by_the_build_exist(dockerfile):
    referenced = set()
    for run in instructions(dockerfile, "RUN"):
        for token in shlex.split(run):
            if "/" in token and not token.startswith(("/", "-", "$")) and "=" not in token:
                referenced.add(token)
    assert "docker/entrypoint.sh" in referenced
    for path in referenced:
        assert (ROOT / path).is_file(), f"RUN uses {path}, which is not in the repository"


def test_tensorflow_is_not_reinstalled(dockerfile):
    runs = " && ".join(instructions(dockerfile, "RUN"))
    installs = [c.strip() for c in runs.split("&&") if "pip install" in c]
    assert installs, "pairbench is never installed"
    for command in installs:
        assert "tensorflow" not in command, command
        assert "--no-deps" in command or "--constraint" in command or " -c " in command, command


def test_runs_as_a_non_root_user(dockerfile):
    users = instructions(dockerfile, "USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    runs = " ".join(instructions(dockerfile, "RUN"))
    assert "useradd" in runs and users[-1].split(":")[0] in runs


def test_entrypoint_results_volume_and_machine(dockerfile):
    (entry,) = instructions(dockerfile, "ENTRYPOINT")
    exe = json.loads(entry)  # exec form behind an init: docker stop's SIGTERM reaches pairbench
    assert exe == ["/usr/bin/tini", "--", "/usr/local/bin/pairbench-entrypoint"]
    assert f"docker/entrypoint.sh {exe[-1]}" in " ".join(instructions(dockerfile, "RUN"))
    assert "tini" in " ".join(instructions(dockerfile, "RUN"))  # the init is installed
    assert instructions(dockerfile, "STOPSIGNAL") == ["SIGTERM"]
    assert json.loads(instructions(dockerfile, "VOLUME")[0]) == ["/results"]
    assert dockerfile.envs["PAIRBENCH_RESULTS"] == "/results"
    assert "PAIRBENCH_MACHINE" not in dockerfile.envs  # one per machine, given at docker run


def test_build_context_keeps_git_and_drops_the_virtualenv():
    patterns = [ln.strip() for ln in IGNORE.read_text().splitlines() if ln.strip() and ln[0] != "#"]
    assert ".venv" in patterns and "results" in patterns
    assert not any(p.startswith(".git") for p in patterns)  # asv needs the history


def _parses(args: list[str]) -> None:
    """Parse a ``pairbench`` command line as the CLI would (``--version``/``--help`` exit 0)."""
    try:
        build_parser().parse_args(args)
    except SystemExit as exc:
        assert exc.code == 0, f"pairbench {shlex.join(args)} does not parse"


def test_pairbench_commands_of_the_image_parse(dockerfile, capsys):
    runs = " && ".join(instructions(dockerfile, "RUN"))
    build_cmds = [c.split()[1:] for c in (c.strip() for c in runs.split("&&")) if c.startswith("pairbench")]
    assert build_cmds
    for args in build_cmds:
        _parses(args)
    # the entrypoint's command lines, with the shell's variables replaced by stand-ins
    lines = re.findall(r"exec pairbench (.*?)(?: ;;)?$", ENTRYPOINT.read_text(), flags=re.M)
    nightly = [ln for ln in lines if ln.startswith("nightly")]
    assert len(nightly) == 1, lines
    args = shlex.split(re.sub(r'"\$\{?(\w+)\}?"', r"X_\1", nightly[0].replace('"$@"', "")))
    ns = build_parser().parse_args(args)
    assert ns.command == "nightly"
    assert str(ns.results_dir) == "X_results" and ns.machine == "X_PAIRBENCH_MACHINE"


def _entrypoint(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    full = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    full["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full.get('PATH', '')}"
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args], cwd=ROOT, env=full, capture_output=True, text=True, timeout=timeout
    )


def test_entrypoint_needs_a_machine_name(tmp_path):
    env = {"PAIRBENCH_RESULTS": str(tmp_path), "PAIRBENCH_MACHINE": ""}
    proc = _entrypoint(env=env)
    assert proc.returncode == 2
    assert "PAIRBENCH_MACHINE" in proc.stderr


def test_entrypoint_refuses_an_unusable_results_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = _entrypoint(env={"PAIRBENCH_RESULTS": str(blocker / "results"), "PAIRBENCH_MACHINE": "m"})
    assert proc.returncode == 1
    assert "not writable" in proc.stderr


def test_entrypoint_passes_other_commands_to_pairbench(tmp_path):
    proc = _entrypoint("doctor", "--help", env={"PAIRBENCH_RESULTS": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "usage: pairbench doctor" in proc.stdout


@pytest.mark.slow
def test_entrypoint_runs_a_nightly_into_the_results_folder(tmp_path):
    results = tmp_path / "results"
    home = tmp_path / "home"  # not created: the entrypoint falls back to a HOME in the volume
    env = {"PAIRBENCH_RESULTS": str(results), "PAIRBENCH_MACHINE": "ci-box", "HOME": str(home)}
    proc = _entrypoint(
        "--no-doctor",
        "--no-asv",
        *TINY_NIGHTLY_ARGS,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((results / "nightly" / "latest-summary.json").read_text())
    assert summary["machine"] == "ci-box"
    assert summary["status"] == "ok"
    assert Path(summary["run_dir"]).parent == results / "nightly"
    assert (Path(summary["run_dir"]) / "records.jsonl").is_file()
    assert (results / ".home").is_dir()
    assert summary["paragraph"] in proc.stdout
