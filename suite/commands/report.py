"""``pairbench report`` (not built yet)."""

from __future__ import annotations

import argparse

HELP = "report (not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options yet."""


def run(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    raise NotImplementedError("pairbench report")
