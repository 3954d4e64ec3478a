"""``report`` on a folder it cannot write is one line and an exit code, never a traceback (issue 27).

The run folder became read-only, or the disk filled up while the report was written: the
terminal report is still printed, then ``pairbench: error: cannot write ...: <cause>`` and exit
code 1. ``fleet --out`` naming a file is one line and exit 2.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_runs import make_run, standard_records

from suite.cli import main


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[str]:
    """``folder`` read-only for this process: a read-only bind mount as root, else no write bits.

    Yields the cause the error line must name.
    """
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")] if p.is_dir()}
        for path in modes:
            path.chmod(0o555)
        try:
            yield "permission denied"
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount a folder read-only here: {bind.stderr.decode().strip()}")
    try:
        ro = subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True)
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {ro.stderr.decode().strip()}")
        yield "read-only file system"
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _assert_one_error_line(capsys, cause: str) -> str:
    out, err = capsys.readouterr()
    err = err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("pairbench: error: cannot write "), err
    assert cause in err and "Traceback" not in err, err
    return out


def test_report_on_a_read_only_run_folder(tmp_path, capsys):
    run = make_run(tmp_path / "results", standard_records(), run_id="r")
    with _read_only(run.path) as cause:
        code = main(["report", "r", "--results-dir", str(run.path.parent)])
    assert code == 1
    out = _assert_one_error_line(capsys, cause)
    assert "19 cases" in out  # the terminal report came first
    assert not (run.path / "report.md").exists()


def test_report_on_a_full_disk(tmp_path, capsys):
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {mount.stderr.decode().strip()}")
    try:
        run = make_run(disk / "results", standard_records(), run_id="r")
        with open(disk / "filler", "wb", buffering=0) as fh, contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 65536)
        records = run.records_path.read_bytes()
        code = main(["report", "r", "--results-dir", str(run.path.parent), "--no-plots"])
        assert code == 1
        out = _assert_one_error_line(capsys, "disk full")
        assert "19 cases" in out
        assert run.records_path.read_bytes() == records
        assert not [p for p in run.path.rglob("*") if p.name.endswith(".tmp")]  # no half-written file
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
        shutil.rmtree(disk, ignore_errors=True)


def test_fleet_out_naming_a_file_is_one_line(tmp_path, capsys):
    run = make_run(tmp_path / "results", standard_records(), run_id="r")
    out = tmp_path / "report.txt"
    out.write_text("keep me")
    assert main(["fleet", str(run.path), "--out", str(out), "--no-asv"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"pairbench: error: --out {out} is a file, not a folder: name a folder for the report"
    assert out.read_text() == "keep me"
