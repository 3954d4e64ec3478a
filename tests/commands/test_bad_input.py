"""Every bad input is one line on stderr and exit code 2, never a traceback (issue 13).

Table-driven: each row prepares a damaged file, a bad option or a bad environment variable,
runs the command line's entry point (``suite.cli.main``, in this process: it returns the exit
code), and checks the exit code, that stderr is one line naming the problem, and that no
Python traceback was printed. A subprocess runs only where the process is the point: the
entry point as a command, a terminal's encoding, XLA's flags, a memory limit, doctor's probes.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PAIRS

from suite.case import Case
from suite.cli import main
from suite.results.record import Record
from suite.results.run_dir import RUN_SCHEMA_VERSION
from suite.results.runs import create_run
from suite.run.options import RunOptions

CASE = Case("mlp_seed", "sequential", "predict", "eager", "cpu", "float32", "off", "tiny")


def _good_run(results: Path) -> Path:
    """A small, valid run folder ``r`` that ``report`` and ``--resume`` accept."""
    run = create_run(results, "r")
    options = RunOptions()
    run.write_plan([CASE.to_dict()])
    run.write_meta(
        {
            "run_id": "r",
            "status": "interrupted",
            "selection": options.selection.to_dict(),
            "options": options.to_dict(),
            "invocations": [],
            "argv": ["pairbench", "run", "→ ünïcode"],
        }
    )
    run.append(
        Record(
            case=CASE,
            verdict="identical",
            reason="bitwise equal → no difference (ünïcode)",
            timing={"step_s_median": 0.001, "step_s": [0.001, 0.0011, 0.0009], "repeats": 3},
        )
    )
    return run.path


def _write(relpath: str, data: bytes | str, *, append: bool = False) -> Callable[[Path], None]:
    def setup(run: Path) -> None:
        path = run / relpath
        mode = ("a" if append else "w") + ("b" if isinstance(data, bytes) else "")
        with open(path, mode) as fh:
            fh.write(data)

    return setup


def _make_dir(relpath: str) -> Callable[[Path], None]:
    def setup(run: Path) -> None:
        path = run / relpath
        if path.exists():
            path.unlink()
        path.mkdir()

    return setup


def _nothing(run: Path) -> None:
    return None


def _kernels_csv(data: bytes) -> Callable[[Path], None]:
    """A traced case whose ``kernels/<case>.csv`` holds ``data`` (the trace itself is empty:
    ``trace --kernels`` reads the table first)."""

    def setup(run: Path) -> None:
        session = run / "traces" / CASE.case_id / "plugins" / "profile" / "2026_01_01_00_00_00"
        session.mkdir(parents=True)
        (session / "host.xplane.pb").write_bytes(b"")
        (run / "kernels").mkdir()
        (run / "kernels" / f"{CASE.case_id}.csv").write_bytes(data)

    return setup


KERNELS = ("trace", "r", "--kernels")
KERNEL_HEADER = b"name,op_name,count,total_us,mean_us,share\n"
REPORT = ("report", "r", "--no-plots")
RESUME = ("run", "--resume", "r", "--no-report")
VALID_RECORD = Record(case=CASE, verdict="identical").to_json()

#: (id, setup of the run folder, command, extra env, expected exit code, words in stderr)
CASES: list[tuple[str, Callable[[Path], None], tuple[str, ...], dict[str, str], int, list[str]]] = [
    (
        "records-corrupt",
        _write("records.jsonl", '{"case": {"pair": "ml\n', append=True),
        REPORT,
        {},
        2,
        ["records.jsonl:2", "not JSON"],
    ),
    (
        "records-binary",
        _write("records.jsonl", b"\x00\xff\xfe\x80garbage\n", append=True),
        REPORT,
        {},
        2,
        ["records.jsonl:2"],
    ),
    (
        "records-null",
        _write("records.jsonl", "null\n", append=True),
        REPORT,
        {},
        2,
        ["records.jsonl:2", "NoneType"],
    ),
    (
        "records-wrong-axis",
        _write("records.jsonl", '{"case": {"pair": 1}, "verdict": "x"}\n', append=True),
        REPORT,
        {},
        2,
        ["records.jsonl:2", "case axis"],
    ),
    (
        "records-wrong-field",
        _write("records.jsonl", VALID_RECORD.replace('"timing": {}', '"timing": "fast"') + "\n", append=True),
        REPORT,
        {},
        2,
        ["records.jsonl:2", "'timing'"],
    ),
    (
        "records-schema-version-string",
        _write(
            "records.jsonl",
            json.dumps({**json.loads(VALID_RECORD), "schema_version": "1"}) + "\n",
            append=True,
        ),
        REPORT,
        {},
        2,
        ["records.jsonl:2", "schema_version must be a whole number"],
    ),
    (
        "records-schema-version-future",
        _write(
            "records.jsonl",
            json.dumps({**json.loads(VALID_RECORD), "schema_version": 999}) + "\n",
            append=True,
        ),
        REPORT,
        {},
        2,
        ["records.jsonl:2", "schema_version 999 is newer"],
    ),
    (
        "records-case-id-traversal",
        _write(
            "records.jsonl", VALID_RECORD.replace('"pair": "mlp_seed"', '"pair": "../x"') + "\n", append=True
        ),
        REPORT,
        {},
        2,
        ["records.jsonl:2", "not a plain name"],
    ),
    ("records-is-a-dir", _make_dir("records.jsonl"), REPORT, {}, 2, ["records.jsonl is not a file"]),
    ("records-is-a-dir-resume", _make_dir("records.jsonl"), RESUME, {}, 2, ["records.jsonl is not a file"]),
    ("run-json-corrupt", _write("run.json", "{not json"), REPORT, {}, 2, ["run.json", "not valid JSON"]),
    (
        "run-json-binary",
        _write("run.json", b"\x89PNG\r\n\x1a\n\x00\xff"),
        REPORT,
        {},
        2,
        ["run.json", "binary"],
    ),
    ("run-json-null", _write("run.json", "null"), REPORT, {}, 2, ["run.json", "expected a JSON object"]),
    (
        "run-json-wrong-type",
        _write("run.json", '{"status": 5, "run_id": "r"}'),
        REPORT,
        {},
        2,
        ["run.json", "'status'"],
    ),
    ("run-json-is-a-dir", _make_dir("run.json"), REPORT, {}, 2, ["run.json is a directory"]),
    (
        "run-json-resume-corrupt",
        _write("run.json", "{not json"),
        RESUME,
        {},
        2,
        ["run.json", "not valid JSON"],
    ),
    (
        "run-json-resume-no-options",
        _write("run.json", '{"run_id": "r", "schema_version": 2}'),
        RESUME,
        {},
        2,
        ["no options recorded"],
    ),
    (
        "run-json-resume-bad-option",
        _write(
            "run.json", json.dumps({"schema_version": 2, "options": {**RunOptions().to_dict(), "seed": -4}})
        ),
        RESUME,
        {},
        2,
        ["--seed must be"],
    ),
    ("plan-corrupt", _write("plan.json", "[{"), RESUME, {}, 2, ["plan.json", "not valid JSON"]),
    ("plan-binary", _write("plan.json", b"\xff\xfe\x00"), RESUME, {}, 2, ["plan.json", "binary"]),
    ("plan-null", _write("plan.json", "null"), RESUME, {}, 2, ["plan.json", "expected a JSON list"]),
    ("plan-wrong-type", _write("plan.json", '[{"pair": 1}]'), RESUME, {}, 2, ["plan.json", "entry 0"]),
    ("plan-missing", lambda run: (run / "plan.json").unlink(), RESUME, {}, 2, ["no plan.json"]),
    (
        "plan-unknown-pair",
        _write("plan.json", json.dumps([{**CASE.to_dict(), "pair": "gone"}])),
        RESUME,
        {},
        2,
        ["unknown pair 'gone'"],
    ),
    ("list-pairs-empty", _nothing, ("list", "--pairs", ""), {}, 2, ["--pairs is empty"]),
    (
        "nightly-asv-args-unbalanced",
        _nothing,
        ("nightly", "--asv-args", "'unbalanced", "--no-doctor"),
        {},
        2,
        ["--asv-args", "not a shell-quoted string"],
    ),
    ("empty-pairs", _nothing, ("run", "--pairs", ""), {}, 2, ["--pairs is empty"]),
    ("empty-modes", _nothing, ("run", "--modes", ","), {}, 2, ["--modes is empty"]),
    ("timeout-nan", _nothing, ("run", "--timeout", "nan"), {}, 2, ["--timeout"]),
    ("timeout-inf", _nothing, ("run", "--timeout", "inf"), {}, 2, ["--timeout"]),
    ("timeout-negative", _nothing, ("run", "--timeout", "-1"), {}, 2, ["--timeout"]),
    ("seed-negative", _nothing, ("run", "--seed", "-1"), {}, 2, ["--seed must be"]),
    ("seed-huge", _nothing, ("run", "--seed", str(2**40)), {}, 2, ["--seed must be"]),
    ("repeats-zero", _nothing, ("run", "--repeats", "0"), {}, 2, ["--repeats must be at least 1"]),
    (
        "nightly-timeout-nan",
        _nothing,
        ("nightly", "--timeout", "nan", "--no-asv", "--no-doctor"),
        {},
        2,
        ["--timeout"],
    ),
    (
        "nightly-sample-time-negative",
        _nothing,
        ("nightly", "--min-sample-time", "-1", "--no-asv", "--no-doctor"),
        {},
        2,
        ["--min-sample-time"],
    ),
    pytest.param(
        _nothing,
        ("trace", "r", "--port", "-1"),
        {},
        2,
        ["--port"],
        id="port-negative",
    ),
    ("run-id-traversal", _nothing, ("run", "--run-id", "../../etc"), {}, 2, ["invalid run id"]),
    ("run-id-absolute", _nothing, ("run", "--run-id", "/tmp/pairbench-abs"), {}, 2, ["invalid run id"]),
    ("run-id-slash", _nothing, ("run", "--run-id", "a/b"), {}, 2, ["invalid run id"]),
    ("run-id-newline", _nothing, ("run", "--run-id", "a\nb"), {}, 2, ["invalid run id"]),
    ("run-id-dotdot", _nothing, ("run", "--run-id", ".."), {}, 2, ["invalid run id"]),
    ("resume-traversal", _nothing, ("run", "--resume", "../../etc"), {}, 2, ["no run"]),
    (
        "resume-with-option",
        _nothing,
        ("run", "--resume", "r", "--repeats", "9"),
        {},
        2,
        ["cannot be changed"],
    ),
    ("retry-without-resume", _nothing, ("run", "--retry-errors"), {}, 2, ["--retry-errors"]),
    (
        "deterministic-ops-banana",
        _nothing,
        ("run", "--pairs", "mlp_seed"),
        {"TF_DETERMINISTIC_OPS": "banana"},
        2,
        ["TF_DETERMINISTIC_OPS", "banana"],
    ),
    pytest.param(  # asks a TensorFlow worker process how many GPUs there are
        _nothing,
        ("overhead", "--device", "gpu:9", "--pairs", "mlp_seed"),
        {},
        2,
        ["no gpu:9"],
        id="overhead-missing-gpu",
        marks=pytest.mark.slow,
    ),
    ("overhead-bad-device", _nothing, ("overhead", "--device", "tpu"), {}, 2, ["unknown device"]),
    ("kernels-csv-empty", _kernels_csv(b""), KERNELS, {}, 2, [f"{CASE.case_id}.csv", "not a readable"]),
    (
        "kernels-csv-binary",
        _kernels_csv(b'\xff\xfe\x00"garbage\n\x80,"\n'),
        KERNELS,
        {},
        2,
        [f"{CASE.case_id}.csv"],
    ),
    (
        "kernels-csv-wrong-columns",
        _kernels_csv(b"a,b\n1,2\n"),
        KERNELS,
        {},
        2,
        ["not a kernels table", "missing columns"],
    ),
    (
        "kernels-csv-not-a-number",
        _kernels_csv(KERNEL_HEADER + b"gemm,MatMul,many,10.0,5.0,0.5\n"),
        KERNELS,
        {},
        2,
        [f"{CASE.case_id}.csv:2", "'count' is not a number"],
    ),
]


@pytest.fixture
def results(tmp_path) -> Path:
    folder = tmp_path / "results"
    _good_run(folder)
    return folder


def _argv(args, results: Path) -> list[str]:
    has_dir = any(a == "--results-dir" for a in args) or args[0] in ("overhead", "doctor", "list")
    return [*args, *([] if has_dir else ["--results-dir", str(results)])]


@dataclass
class Ran:
    """What a command gave: the fields of ``subprocess.CompletedProcess`` the checks read."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch, capfd, tmp_path):
    """``cli(args, results, env)``: the command line in this process, from ``tmp_path``, with
    ``env`` added to the environment; stdout and stderr captured at the file descriptors (what
    a terminal would show, TensorFlow's native logging included)."""

    def run(args, results: Path, env: dict[str, str] | None = None) -> Ran:
        monkeypatch.chdir(tmp_path)
        for name, value in {"TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}.items():
            monkeypatch.setenv(name, value)
        capfd.readouterr()
        try:
            code = main(_argv(args, results))
        except SystemExit as exc:  # argparse's errors exit (2) instead of returning
            code = exc.code
        out, err = capfd.readouterr()
        return Ran(code, out, err)

    return run


def _pairbench(
    args, results: Path, env: dict[str, str], cwd: Path, preexec=None
) -> subprocess.CompletedProcess:
    """The command line as a process (``python -m suite``)."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    return subprocess.run(
        [sys.executable, "-m", "suite", *_argv(args, results)],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=600,
        preexec_fn=preexec,
    )


def _assert_one_line(proc: Ran | subprocess.CompletedProcess, code: int, words: list[str]) -> None:
    err = proc.stderr.strip()
    assert proc.returncode == code, (proc.returncode, err[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, err[-3000:]
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize(
    ("setup", "args", "env", "code", "words"),
    [pytest.param(*c[1:], id=c[0]) if type(c) is tuple else c for c in CASES],
)
def test_bad_input_is_one_line_and_exit_2(cli, results, tmp_path, setup, args, env, code, words):
    setup(results / "r")
    proc = cli(args, results, env)
    _assert_one_line(proc, code, words)
    assert not (tmp_path / "etc").exists() and not Path("/tmp/pairbench-abs").exists()


@pytest.mark.parametrize(
    ("setup", "args", "words"),
    [
        pytest.param(CASES[0][1], CASES[0][2], CASES[0][5], id=CASES[0][0]),
        pytest.param(_nothing, ("run", "--timeout", "nan"), ["--timeout"], id="timeout-nan"),
        pytest.param(_nothing, ("trace", "r", "--port", "-1"), ["--port"], id="port-negative"),
    ],
)
def test_the_command_as_a_process_exits_2_with_one_line(results, tmp_path, setup, args, words):
    """The table's checks through ``python -m suite`` itself: a damaged file, a bad value and an
    argparse error give the process exit code 2 and one line, as ``main`` returns them."""
    setup(results / "r")
    _assert_one_line(_pairbench(args, results, {}, cwd=tmp_path), 2, words)


def test_a_results_dir_that_is_a_file_is_refused(cli, tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    for args in (("run", "--pairs", "mlp_seed"), ("report", "latest"), ("compare", "a", "b")):
        proc = cli(args, blocker)
        _assert_one_line(proc, 2, ["is a file"])


def test_a_pairs_file_that_calls_sys_exit_is_refused(cli, clean_registry, tmp_path):
    pairs = tmp_path / "exits.py"
    pairs.write_text("import sys\nsys.exit(3)\n")
    proc = cli(("list", "--pairs-from", str(pairs)), tmp_path)
    _assert_one_line(proc, 2, ["exits.py:2", "sys.exit(3)"])


def test_a_pair_named_like_a_path_is_refused(cli, clean_registry, tmp_path):
    pairs = tmp_path / "evil.py"
    source = (PAIRS / "fault_pairs.py").read_text().replace('name = "held"', 'name = "../../x"')
    pairs.write_text(source)
    proc = cli(("run", "--pairs-from", str(pairs)), tmp_path / "results")
    _assert_one_line(proc, 2, ["pair name '../../x'"])
    assert not (tmp_path / "x").exists()


def test_an_unknown_schema_version_is_a_warning_not_an_error(cli, results, tmp_path):
    meta = json.loads((results / "r" / "run.json").read_text())
    meta["schema_version"] = RUN_SCHEMA_VERSION + 97
    (results / "r" / "run.json").write_text(json.dumps(meta))
    proc = cli(REPORT, results)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [ln for ln in proc.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and f"schema_version {RUN_SCHEMA_VERSION + 97}" in warnings[0]


def test_an_ascii_terminal_never_crashes_on_unicode(results, tmp_path):
    proc = _pairbench(REPORT, results, {"PYTHONIOENCODING": "ascii"}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_bad_xla_flags_name_the_variable(tmp_path):
    proc = _pairbench(
        ("run", "--pairs", "mlp_seed"), tmp_path / "results", {"XLA_FLAGS": "--garbage"}, cwd=tmp_path
    )
    _assert_one_line(proc, 2, ["XLA_FLAGS", "--garbage"])
    doctor = _pairbench(("doctor", "--json"), tmp_path, {"XLA_FLAGS": "--garbage"}, cwd=tmp_path)
    assert doctor.returncode == 1
    report = json.loads(doctor.stdout)
    assert any("XLA_FLAGS" in p and "--garbage" in p for p in report["problems"]), report["problems"]


def test_doctor_names_a_bad_boolean_variable(tmp_path):
    doctor = _pairbench(("doctor", "--json"), tmp_path, {"TF_DETERMINISTIC_OPS": "banana"}, cwd=tmp_path)
    assert doctor.returncode == 1, doctor.stderr[-2000:]
    assert any("TF_DETERMINISTIC_OPS" in p for p in json.loads(doctor.stdout)["problems"])


@pytest.mark.slow
def test_a_memory_limit_that_breaks_tensorflow_is_one_line(tmp_path):
    def limit() -> None:  # enough for the parent, too little for TensorFlow's threads and libraries
        resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))

    proc = _pairbench(("run", "--pairs", "mlp_seed"), tmp_path / "results", {}, cwd=tmp_path, preexec=limit)
    _assert_one_line(proc, 2, ["TensorFlow could not start"])
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_report_md_escapes_user_strings(cli, tmp_path):
    shutil.rmtree(tmp_path, ignore_errors=True)
    tmp_path.mkdir()
    run = create_run(tmp_path, "r")
    odd = Case("a|b<i>", "sequential", "predict", "eager", "cpu", "float32", "off", "tiny")
    run.append(Record(case=odd, verdict="error", reason="pipe | and <script>x</script> and *stars*"))
    run.write_meta({"run_id": "r", "status": "finished"})
    proc = cli(("report", "r", "--no-plots"), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    md = (run.path / "report.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;" in md
    # outside code spans a pipe in a user string is escaped, so it cannot split a table row
    outside_code = "".join(md.split("`")[::2])
    assert "a|b" not in outside_code and "a\\|b" in outside_code
