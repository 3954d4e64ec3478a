"""Who measured: this machine's name in results, and the commit of a checkout."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

#: environment variable naming the machine in results and in asv (a fleet needs one per box)
MACHINE_ENV = "PAIRBENCH_MACHINE"
#: the pairbench checkout (when installed from one)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def machine_name(explicit: str | None = None) -> str:
    """``explicit`` if given, else ``$PAIRBENCH_MACHINE``, else the host name."""
    return explicit or os.environ.get(MACHINE_ENV) or socket.gethostname()


def git_commit(project_dir: Path | str = PROJECT_ROOT) -> str | None:
    """The HEAD commit of a git checkout (default: pairbench's own), or None when it is not one."""
    try:
        out = subprocess.run(
            ["git", "-C", str(project_dir), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None
