"""TensorFlow's start-up noise on stderr: recognise it, and keep it off a one-line interface.

Importing TensorFlow prints absl and CUDA-probe lines straight to file descriptor 2
("WARNING: All log messages before absl::InitializeLog()...", "I0000 ... cudart_stub.cc...")
whatever ``TF_CPP_MIN_LOG_LEVEL`` says. pairbench promises one line for bad input, so the
places that import TensorFlow in the CLI process (user pair files, ``doctor``, ``overhead``,
``explain``) do it inside :func:`quiet_native_stderr`, which holds fd 2 while TensorFlow
starts and passes on every line that is not such noise.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

#: log lines that are TensorFlow's start-up noise, never the cause of a failure
NOISE = re.compile(
    r"^(WARNING: All log messages before absl|To enable the following instructions|"
    r"[IW]\d{4} \d\d:\d\d:\d\d|E\d{4} .*(cuInit|cuda_platform|cuda_dnn|cuda_fft|cuda_blas|cudart_stub)|"
    r"E\d{4} .*unified_profile_processor_factory.*No UnifiedProfileProcessor|"
    r"This TensorFlow binary is optimized|.*cpu_feature_guard|"
    r"@\s+0x[0-9a-f]+|\*\*\* Check failure stack trace)"
)


def is_noise(line: str) -> bool:
    """True for a line of TensorFlow's start-up chatter (see :data:`NOISE`)."""
    return bool(NOISE.match(line.strip()))


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Hold file descriptor 2 while TensorFlow starts; afterwards write back the lines that
    are not start-up noise (Python warnings, real errors). A no-op if fd 2 cannot be held."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode("utf-8", errors="replace")
            kept = [ln for ln in text.splitlines() if ln.strip() and not is_noise(ln)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


def quiet_tf_env() -> dict[str, str]:
    """This process's environment for a child process, with TensorFlow's C++ log noise turned
    down (unless the user chose a level)."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env
