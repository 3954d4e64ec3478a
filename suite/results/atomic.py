"""Writing a file of a results folder atomically, and the one error a failed write becomes.

Every file of a run folder except ``records.jsonl`` is written through :func:`atomic_write`:
a temporary file in the same folder, fsynced, then renamed into place, so a reader sees the
old file or the new one, never half of one. A write that fails (disk full, read-only folder,
immutable file) is one line, :class:`ResultsWriteError`, naming the file and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from pathlib import Path


class ResultsWriteError(Exception):
    """Writing into the run folder failed (disk full, read-only, immutable): the run must stop.

    The message is one line naming the file and the cause.
    """


def write_error(path: Path, exc: OSError) -> ResultsWriteError:
    """A one-line :class:`ResultsWriteError` for a failed write."""
    cause = {
        errno.ENOSPC: "disk full",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted (immutable?)",
        errno.EFBIG: "file too large",
    }.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return ResultsWriteError(f"cannot write {path}: {cause}")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file in the same folder, then rename it into place.

    Args:
        path: the final file.
        write: called with the temporary path; it creates the file's whole content.

    Raises:
        ResultsWriteError: the folder is not writable or the disk is full (the old file, if
            any, is left untouched and the temporary file is removed).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise write_error(path, exc) from None


def text_writer(text: str) -> Callable[[Path], None]:
    """A writer for :func:`atomic_write` that writes ``text`` as UTF-8."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return write
