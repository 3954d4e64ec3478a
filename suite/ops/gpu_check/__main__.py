"""``python -m suite.ops.gpu_check``: the GPU check (see :mod:`suite.ops.gpu_check`)."""

from __future__ import annotations

from suite.ops.gpu_check.cli import main

raise SystemExit(main())
