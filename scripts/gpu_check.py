"""The whole GPU check of pairbench in one device call: see docs/gpu-check.md and
:mod:`suite.ops.gpu_check`. Run from the project root (``PYTHONPATH=.`` on the device)::

    python3 scripts/gpu_check.py --out "$OUT"
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, wherever it is run from

from suite.ops.gpu_check import main

raise SystemExit(main())
