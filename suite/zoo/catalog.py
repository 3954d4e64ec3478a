"""The catalog of pairs: built-in pair modules, installed plugins and user files, loaded once.

:func:`registered` and :func:`get_pair` are the lookups the rest of pairbench uses; they load
the built-in pairs and the plugins first.
"""

from __future__ import annotations

import importlib

from suite.errors import UsageError
from suite.zoo.base import _REGISTRY, Pair

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

    load_builtin_pairs()  # so a clash with a built-in name is reported against this file
    return load_file(path)


def registered() -> dict[str, type[Pair]]:
    """Name -> class of every registered pair (built-ins loaded first)."""
    load_builtin_pairs()
    return dict(sorted(_REGISTRY.items()))


def get_pair(name: str) -> Pair:
    """An instance of a registered pair.

    Raises:
        UsageError: unknown name, listing the valid ones.
    """
    reg = registered()
    if name not in reg:
        raise UsageError(f"unknown pair {name!r}; valid: {', '.join(reg)}")
    return reg[name]()
