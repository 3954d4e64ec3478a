"""Arguments several commands share, declared once."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from suite.results.names import DEFAULT_RESULTS_DIR

#: environment variable naming the results folder (the nightly's volume)
RESULTS_ENV = "PAIRBENCH_RESULTS"


def add_results_dir(parser: argparse.ArgumentParser, help: str = "where run folders are") -> None:
    """``--results-dir DIR`` (default: ``$PAIRBENCH_RESULTS``, else ``results``)."""
    default = Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS_DIR)
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=default,
        metavar="DIR",
        help=f"{help} (default: ${RESULTS_ENV}, else {DEFAULT_RESULTS_DIR})",
    )
