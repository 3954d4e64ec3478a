"""The model zoo: paired members with identical weights, audits and user-supplied pairs.

Public API: :class:`Pair`, :class:`Batch`, :func:`register_pair`, :func:`get_pair`,
:func:`registered`, :func:`load_pairs_from`, :func:`load_builtin_pairs`.
"""

from __future__ import annotations

import importlib

from suite.zoo.base import Batch, Pair, get_pair, register_pair, registered

#: modules of the built-in pairs (one per architecture)
BUILTIN_MODULES: tuple[str, ...] = (
    "suite.zoo.mlp_seed",
    "suite.zoo.mlp",
    "suite.zoo.cnn",
    "suite.zoo.lstm",
    "suite.zoo.transformer",
    "suite.zoo.embedding",
)

_loaded = False


def load_builtin_pairs() -> None:
    """Import the built-in pair modules and installed plugins (entry-point group
    ``pairbench.pairs``) once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in BUILTIN_MODULES:
        importlib.import_module(mod)
    from suite.zoo.plugins import load_entry_points

    load_entry_points()


def load_pairs_from(path: str) -> list[str]:
    """Import a user's file of ``@register_pair`` classes; return the names it registered.

    Raises:
        UsageError: one line naming the file and the problem.
    """
    from suite.zoo.plugins import load_file

    return load_file(path)


__all__ = [
    "Batch",
    "Pair",
    "get_pair",
    "load_builtin_pairs",
    "load_pairs_from",
    "register_pair",
    "registered",
]
