"""The run folder: the one module that knows and writes the files of a run.

``<results-dir>/<run-id>/`` holds:

- ``run.json``: the run's metadata and its options, whole (``RUN_SCHEMA_VERSION``);
- ``plan.json``: the cases of the matrix;
- ``records.jsonl``: one record per finished case, appended by the one writer (the parent
  process, holding ``.lock``);
- ``records.quarantine.jsonl``: lines that were not records (a torn last line after a crash,
  a damaged line), moved out by :meth:`RunDir.repair_records` with their line numbers;
- ``outputs/<case_id>.npz``: the numbers each case is compared by;
- ``logs/``: one log per worker process (never overwritten), job files, and
  ``logs/tracebacks/<case_id>.txt`` for every failed case;
- ``traces/<case_id>/``, ``kernels/<case_id>.csv``, ``telemetry/<case>.csv``: profiling;
- report files (``report.md``, ``report.html``, ``table.*``, ``plots/``), ``compare.json``,
  ``nightly-summary.*``.

Every path is handed out by :class:`RunDir` and checked to stay inside the run folder;
every file is written atomically (temporary file + rename) except ``records.jsonl``, which
is appended one whole line per ``write`` and fsynced: a reader never sees half a record, and
a write that fails (disk full) is truncated back so it cannot glue itself to the next record.

Schema history of ``run.json`` (``RUN_SCHEMA_VERSION``):
  1: no version field; options partly recorded.
  2: ``schema_version``; ``options`` is the whole :class:`suite.run.options.RunOptions`;
     ``invocations`` (one entry per start or resume); ``failure`` when ``status`` is ``failed``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from suite.errors import UsageError
from suite.results.atomic import ResultsWriteError, atomic_write, text_writer, write_error
from suite.results.names import (
    KERNELS,
    LOCK,
    LOGS,
    OUTPUTS,
    PLAN,
    QUARANTINE,
    RECORDS,
    RUN_META,
    TELEMETRY,
    TRACEBACKS,
    TRACES,
    safe_component,
)
from suite.results.record import Record

RUN_SCHEMA_VERSION = 2
#: spare bytes kept at the end of ``run.json`` (trailing spaces) for in-place updates
META_HEADROOM = 2048


class CorruptLineWarning(UserWarning):
    """A line of ``records.jsonl`` could not be parsed (the rest still loads)."""


class IncompleteLineWarning(CorruptLineWarning):
    """The last line of ``records.jsonl`` has no newline yet (a record being written, or a crash
    in the middle of one: ``--resume`` moves it into quarantine)."""


class SchemaWarning(UserWarning):
    """A file was written by a newer pairbench (unknown ``schema_version``)."""


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


#: ``run.json`` files already warned about as newer than this pairbench
_WARNED_NEWER: set[str] = set()


@dataclass(frozen=True)
class RunDir:
    """One run's folder; every file of a run is read and written through it."""

    path: Path

    # ------------------------------------------------------------------ paths
    @property
    def run_id(self) -> str:
        """The folder name."""
        return self.path.name

    @property
    def records_path(self) -> Path:
        """``records.jsonl``."""
        return self.path / RECORDS

    @property
    def meta_path(self) -> Path:
        """``run.json``."""
        return self.path / RUN_META

    @property
    def plan_path(self) -> Path:
        """``plan.json``."""
        return self.path / PLAN

    def sub(self, *parts: str) -> Path:
        """A path inside the run folder (parents created); refuses anything that leaves it."""
        for part in parts:
            for piece in Path(part).parts:
                if piece in ("..", "/") or "\n" in piece or "\0" in piece:
                    raise UsageError(f"path {'/'.join(parts)!r} would leave the run folder {self.path}")
        p = self.path.joinpath(*parts)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(p.parent, exc) from None
        return p

    def relative(self, path: Path | str) -> str:
        """``path`` relative to the run folder (as stored in records)."""
        return str(Path(path).resolve().relative_to(self.path.resolve()))

    def outputs_path(self, case_id: str) -> Path:
        """Where a case's numeric outputs are stored."""
        return self.path / OUTPUTS / f"{safe_component(case_id, 'case id')}.npz"

    def trace_dir(self, case_id: str) -> Path:
        """The TensorBoard logdir of a case's profiler trace."""
        return self.sub(TRACES, safe_component(case_id, "case id"))

    def kernels_csv(self, case_id: str) -> Path:
        """The kernel table of a case's trace."""
        return self.sub(KERNELS, f"{safe_component(case_id, 'case id')}.csv")

    def telemetry_csv(self, name: str) -> Path:
        """NVML samples of a group of cases."""
        return self.sub(TELEMETRY, f"{safe_component(name, 'telemetry name')}.csv")

    def traceback_path(self, case_id: str) -> Path:
        """Where the full traceback of a failed case goes."""
        return self.sub(LOGS, TRACEBACKS, f"{safe_component(case_id, 'case id')}.txt")

    def new_log(self, stem: str, suffix: str = ".log") -> Path:
        """A log file that does not exist yet (``stem.log``, ``stem-2.log``...): logs of earlier
        invocations (a resumed run) are never overwritten."""
        safe_component(stem, "log name")
        folder = self.sub(LOGS, "x").parent
        n = 1
        while True:
            path = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
            try:
                with open(path, "x", encoding="utf-8"):
                    return path
            except FileExistsError:
                n += 1
            except OSError as exc:
                raise write_error(path, exc) from None

    # ------------------------------------------------------------------ small files
    def write_text(self, relpath: str, text: str) -> Path:
        """Write a text file inside the run folder atomically; return its path."""
        path = self.sub(relpath)
        atomic_write(path, text_writer(text))
        return path

    def write_with(self, relpath: str, write: Callable[[Path], None]) -> Path:
        """Let ``write(tmp_path)`` create a file (a CSV, a PNG...), then move it into place."""
        path = self.sub(relpath)
        atomic_write(path, write)
        return path

    def write_traceback(self, case_id: str, text: str) -> str:
        """Store a failed case's full traceback; return its path relative to the run folder."""
        path = self.traceback_path(case_id)
        atomic_write(path, text_writer(text))
        return self.relative(path)

    def write_outputs(self, case_id: str, outputs: dict[str, Any]) -> str:
        """Store a case's outputs as ``.npz`` (bfloat16 as float32, exact); return the relative path."""
        import numpy as np

        path = self.outputs_path(case_id)
        safe = {
            k.replace("/", "|"): (v.astype(np.float32) if v.dtype.name == "bfloat16" else v)
            for k, v in outputs.items()
        }

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **safe)

        atomic_write(path, write)
        return self.relative(path)

    def read_outputs(self, case_id: str) -> dict[str, Any] | None:
        """A case's stored outputs, or None if it has none (not run, failed, or unreadable)."""
        import numpy as np

        path = self.outputs_path(case_id)
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                return {k.replace("|", "/"): data[k] for k in data.files}
        except (OSError, ValueError, EOFError):
            return None

    # ------------------------------------------------------------------ run.json, plan.json
    def write_meta(self, meta: dict[str, Any]) -> None:
        """Write ``run.json`` atomically (``schema_version`` added).

        The JSON is padded with trailing spaces to a multiple of 4 KiB with at least
        :data:`META_HEADROOM` bytes to spare: when the disk is full (or the folder cannot take
        a new file), the file is rewritten in place within the blocks it already has, so a
        run can still record that it failed and why.
        """
        meta = {**meta, "schema_version": RUN_SCHEMA_VERSION}
        text = json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n"
        size = len(text.encode("utf-8"))
        padded = -(-(size + META_HEADROOM) // 4096) * 4096
        text += " " * (padded - size - 1) + "\n"
        try:
            atomic_write(self.meta_path, text_writer(text))
        except ResultsWriteError:
            if not self._overwrite_in_place(self.meta_path, text):
                raise

    @staticmethod
    def _overwrite_in_place(path: Path, text: str) -> bool:
        data = text.encode("utf-8")
        try:
            st = path.stat()
            room = max(st.st_size, st.st_blocks * 512)
            if len(data) > room:
                return False
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, data + b" " * max(0, st.st_size - len(data)))
                os.fsync(fd)
            finally:
                os.close(fd)
            return True
        except OSError:
            return False

    def read_meta(self) -> dict[str, Any]:
        """``run.json`` as a dict (empty if missing).

        Raises:
            UsageError: the file is not a JSON object (corrupt, binary, ``null``, a list).
        """
        if not self.meta_path.exists():
            return {}
        meta = _read_json(self.meta_path, dict, "a JSON object")
        version = meta.get("schema_version", 1)
        if not isinstance(version, int) or isinstance(version, bool):
            raise UsageError(f"{self.meta_path}: schema_version must be an integer (got {version!r})")
        if version > RUN_SCHEMA_VERSION and str(self.meta_path) not in _WARNED_NEWER:
            _WARNED_NEWER.add(str(self.meta_path))  # once per run and process, however often it is read
            warnings.warn(
                f"{self.meta_path}: schema_version {version} is newer than this pairbench "
                f"understands ({RUN_SCHEMA_VERSION}); reading it anyway",
                SchemaWarning,
                stacklevel=2,
            )
        for key, kind in (("options", dict), ("selection", dict), ("invocations", list), ("status", str)):
            if key in meta and not isinstance(meta[key], kind):
                raise UsageError(f"{self.meta_path}: {key!r} must be {kind.__name__}, not {meta[key]!r:.40}")
        return meta

    def write_plan(self, cases: list[dict[str, Any]]) -> None:
        """Write ``plan.json`` (the case dicts of the matrix)."""
        self.write_text(PLAN, json.dumps(cases, indent=0) + "\n")

    def read_plan(self) -> list[dict[str, Any]]:
        """``plan.json``: a list of case dicts.

        Raises:
            UsageError: missing, corrupt, or not a list of case objects.
        """
        if not self.plan_path.exists():
            raise UsageError(f"run {self.run_id} has no plan.json: it cannot be resumed")
        plan = _read_json(self.plan_path, list, "a JSON list of cases")
        from suite.case import Case

        for i, item in enumerate(plan):
            if not isinstance(item, dict) or any(
                not isinstance(item.get(k), str) for k in Case.__dataclass_fields__
            ):
                raise UsageError(f"{self.plan_path}: entry {i} is not a case object ({item!r:.60})")
            try:
                Case.from_dict(item)
            except ValueError as exc:
                raise UsageError(f"{self.plan_path}: entry {i}: {exc}") from None
        return plan

    # ------------------------------------------------------------------ records.jsonl
    def check_records_file(self) -> None:
        """Raise a one-line :class:`UsageError` when ``records.jsonl`` exists but is not a file."""
        if self.records_path.exists() and not self.records_path.is_file():
            raise UsageError(f"{self.records_path} is not a file")

    def append(self, record: Record) -> None:
        """Append one record as one ``write`` of a whole line, then fsync.

        A write that fails part-way (disk full) is truncated back to where it started, so
        the file never holds half a record that the next record would be glued to.

        Raises:
            ResultsWriteError: the record could not be written (the run must stop).
        """
        self.check_records_file()
        data = (record.to_json() + "\n").encode("utf-8")
        path = self.records_path
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise write_error(path, exc) from None
        try:
            start = os.fstat(fd).st_size
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(errno.ENOSPC, "short write")
                os.fsync(fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise write_error(path, exc) from None
        finally:
            os.close(fd)

    def _lines(self) -> Iterator[tuple[int, str, bool]]:
        """``(line number, text, complete)`` for each line of ``records.jsonl``."""
        self.check_records_file()
        if not self.records_path.exists():
            return
        with open(self.records_path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                complete = raw.endswith(b"\n")
                yield lineno, raw.decode("utf-8", errors="replace"), complete

    def iter_records(self) -> Iterator[Record]:
        """Yield every parseable record; warn (:class:`CorruptLineWarning`) with the line number
        for each line that is not. An incomplete last line (a record being written, or a crash
        in the middle of one) is skipped with a warning too."""
        for lineno, line, complete in self._lines():
            if not line.strip():
                continue
            if not complete:
                warnings.warn(
                    f"{self.records_path}:{lineno}: incomplete last line skipped "
                    "(a run in progress, or a crash while writing)",
                    IncompleteLineWarning,
                    stacklevel=2,
                )
                continue
            try:
                yield parse_record(line)
            except ValueError as exc:
                warnings.warn(
                    f"{self.records_path}:{lineno}: corrupt record skipped ({exc})",
                    CorruptLineWarning,
                    stacklevel=2,
                )

    def recorded_case_ids(self) -> set[str]:
        """Case ids of the lines that are records, without a warning for those that are not
        (checks made before :meth:`repair_records` moves them aside)."""
        ids = set()
        for _, line, complete in self._lines():
            if complete and line.strip():
                try:
                    ids.add(parse_record(line).case_id)
                except ValueError:
                    continue
        return ids

    def records_after(self, offset: int) -> tuple[list[Record], int]:
        """The records of the complete lines from byte ``offset`` on, and the offset after them.

        For a reader that follows a run while the parent appends (a worker looking up its
        references): a line still being written is left for the next call; a line that is not
        a record is skipped silently (the run's own readers warn about it).
        """
        found: list[Record] = []
        if not self.records_path.is_file():
            return found, offset
        with open(self.records_path, "rb") as fh:
            fh.seek(offset)
            while line := fh.readline():
                if not line.endswith(b"\n"):
                    break
                offset = fh.tell()
                try:
                    found.append(parse_record(line.decode("utf-8")))
                except (ValueError, UnicodeDecodeError):
                    continue
        return found, offset

    def records(self) -> list[Record]:
        """All parseable records, last one wins when a case appears twice (a retried error)."""
        latest: dict[str, Record] = {}
        for rec in self.iter_records():
            latest[rec.case_id] = rec
        return list(latest.values())

    def repair_records(self) -> list[str]:
        """Move every line that is not a record into ``records.quarantine.jsonl`` (call it while
        holding the lock, before appending). Returns one message per moved line.

        The file is rewritten atomically with the good lines only, so a torn last line
        (a crash mid-write) can never swallow the next record.
        """
        bad: list[tuple[int, str, str]] = []
        good: list[str] = []
        for lineno, line, complete in self._lines():
            if not line.strip():
                continue
            try:
                if not complete:
                    raise ValueError("incomplete last line")
                parse_record(line)
                good.append(line if line.endswith("\n") else line + "\n")
            except ValueError as exc:
                bad.append((lineno, line.rstrip("\n"), str(exc)))
        if not bad:
            return []
        quarantine = self.path / QUARANTINE
        entries = "".join(
            json.dumps({"line": n, "reason": why, "text": text, "moved_at": utc_now()}) + "\n"
            for n, text, why in bad
        )
        try:
            with open(quarantine, "a", encoding="utf-8") as fh:
                fh.write(entries)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise write_error(quarantine, exc) from None

        def write(tmp: Path) -> None:
            tmp.write_text("".join(good), encoding="utf-8")

        atomic_write(self.records_path, write)
        return [f"{RECORDS}:{n}: {why}; moved to {QUARANTINE}" for n, _, why in bad]

    # ------------------------------------------------------------------ lock
    def is_locked(self) -> bool:
        """Whether a live pairbench process holds the run's lock (runs or resumes it now).

        A run whose ``run.json`` says ``running`` but whose lock is free was killed: its status
        was never updated. The test takes a shared lock for a moment, never creates a file.
        """
        try:
            fd = os.open(self.path / LOCK, os.O_RDONLY)
        except OSError:
            return False  # never locked (or unreadable: nothing to tell)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)  # also releases the shared lock
        return False

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's write lock: one process at a time runs or resumes a run.

        Raises:
            UsageError: another live process holds it (its pid is named).
        """
        path = self.path / LOCK
        try:
            fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise write_error(path, exc) from None
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "unknown"
                raise UsageError(
                    f"run {self.run_id} is in use by another pairbench process ({holder}); "
                    "wait for it to finish or stop it first"
                ) from None
            with contextlib.suppress(OSError):
                fh.seek(0)
                fh.truncate()
                fh.write(f"pid {os.getpid()} since {utc_now()}\n")
                fh.flush()
            yield
        finally:
            fh.close()


def machine_of(meta: dict[str, Any]) -> str | None:
    """The machine a run was measured on: the nightly's ``--machine``, else ``machine`` of
    ``run.json`` (``$PAIRBENCH_MACHINE`` or the host name when the run started), else the probed
    host name."""
    for value in (
        (meta.get("nightly") or {}).get("machine") if isinstance(meta.get("nightly"), dict) else None,
        meta.get("machine"),
        (meta.get("provenance") or {}).get("hostname") if isinstance(meta.get("provenance"), dict) else None,
    ):
        if isinstance(value, str) and value:
            return value
    return None


def _read_json(path: Path, kind: type, what: str) -> Any:
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not {what}")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not text (binary data); expected {what}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    if not isinstance(data, kind):
        raise UsageError(f"{path}: expected {what}, found {type(data).__name__}")
    return data


def parse_record(line: str) -> Record:
    """Parse one line of ``records.jsonl``.

    Raises:
        ValueError: not JSON, not an object, or fields of the wrong type (the message says which).
    """
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ValueError(f"not a record object but {type(data).__name__}")
    return Record.from_dict(data)
