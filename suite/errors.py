"""Errors that the CLI turns into a one-line message and an exit code."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user (unknown name, malformed file, bad option value).

    The CLI prints ``pairbench: error: <message>`` and exits with code 2.
    """

    exit_code = 2


class CaseUnsupported(Exception):
    """A case cannot run on this machine or configuration (its row gets verdict ``unsupported``)."""


class StructuralMismatch(Exception):
    """A member cannot take the reference member's weights.

    Args:
        differences: human-readable differences, e.g. ``"no bias in dense_1 (64,)"``.
    """

    def __init__(self, differences: list[str]):
        self.differences = list(differences)
        super().__init__(" ; ".join(self.differences) or "structure differs")
